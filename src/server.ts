import { Server as Engine } from "@socket.io/bun-engine";
import { Server as SocketServer } from "socket.io";
import { resolveConfig } from "./config/load.ts";
import type { Config } from "./config/schema.ts";
import { Delivery, type OnTranscription } from "./delivery/delivery.ts";
import type { EngineStats, SpeechEngine } from "./engine/types.ts";
import { createLogger, type Logger } from "./log.ts";
import { SessionManager, type InterimCounters } from "./session/manager.ts";
import { bindSocketHandlers, type AuthorizeClientId, type TransportCounters } from "./transport/socket-handlers.ts";
import { SileroVad } from "./vad/silero.ts";
import { handleHttp, type HttpContext } from "./http/routes.ts";
import { TokenAuth } from "./auth/tokens.ts";
import { joinCluster, type RedisCluster } from "./cluster/redis.ts";
import { EngineWatch } from "./metrics/engine-watch.ts";
import { ServerMetrics } from "./metrics/metrics.ts";
import { registerLiveMetrics } from "./metrics/live.ts";
import { evaluateHealth, type HealthReport } from "./metrics/health.ts";
import { capacityFromConfig, type Capacity } from "./capacity/capacity.ts";
import { registerCapacityMetrics } from "./capacity/metrics.ts";
import { isLoopbackHost } from "./auth/access.ts";
import { PeerAddresses } from "./transport/peers.ts";
import { SeqMemory } from "./session/seq-memory.ts";
import { startIdleReaper } from "./session/idle-reaper.ts";

export interface SttServerOptions {
  /** The original server's callback, called once per delivered transcript. */
  onTranscription?: OnTranscription;
  /** Decides which clientIds a socket may send for or subscribe to. */
  authorize?: AuthorizeClientId;
  logger?: Logger;
  /**
   * An already-built engine (embedders sharing one between servers, tests).
   * Not reachable from the config file: `bun run start` always builds the
   * CTranslate2 engine from model_path.
   */
  engine?: SpeechEngine;
  /** An already-loaded Silero VAD (tests inject faults through its hook); the server then leaves it open on stop. */
  vad?: SileroVad;
}

export interface SttServer {
  readonly config: Config;
  readonly io: SocketServer;
  /** Resolves once the model and VAD are loaded and the port is bound. */
  start(): Promise<{ url: string; port: number }>;
  /** Stops accepting, finishes captured utterances (bounded by shutdown_grace_seconds), then closes. */
  stop(): Promise<void>;
  /** Point-in-time figures for benchmarks and health. */
  stats(): ServerStats;
  /** What GET /health answers (readiness, engine liveness, Redis). */
  health(): Promise<HealthReport>;
  /** Prometheus registry behind GET /metrics. */
  readonly metrics: ServerMetrics;
  /** Admission and load figures (GET /ready); null before start(). */
  capacity(): Capacity | null;
}

export interface ServerStats {
  sessions: number;
  utterances: number;
  audioSeconds: number;
  vadFrames: number;
  vadCalls: number;
  engine: EngineStats | null;
  /** Interim outcomes and guard counts (live results). */
  interims: InterimCounters | null;
  guards: { dropped: Record<string, number>; retries: number } | null;
  /** Milliseconds the engine's executors were busy (finals and interims), when it reports it. */
  engineBusyMs: number | null;
}

export function createSttServer(configInput: Partial<Config> | Config = {}, options: SttServerOptions = {}): SttServer {
  const { config } = resolveConfig(configInput);
  const log = options.logger ?? createLogger(config.enable_logging);
  const auth = new TokenAuth(config.auth.tokens);
  // CORS: explicit origins win; by default "*" for an open server and
  // same-origin only ([] = no foreign origin) once tokens are required.
  const corsOrigin: string | string[] = config.cors.origin ?? (auth.enabled ? [] : "*");
  const io = new SocketServer({ cors: { origin: corsOrigin }, connectTimeout: 10_000 });
  const counters: TransportCounters = { errors: new Map(), audioSeconds: 0, refusedPayloads: 0 };

  let http: ReturnType<typeof Bun.serve> | null = null;
  let engine: SpeechEngine | null = null;
  let vad: SileroVad | null = null;
  let sessions: SessionManager | null = null;
  let ownsEngine = false;
  let ready = false;
  let stopping = false;
  let delivery: Delivery | null = null;
  let watch: EngineWatch | null = null;
  let cluster: RedisCluster | null = null;
  let capacity: Capacity | null = null;
  let stopReaper: (() => void) | null = null;
  const peers = new PeerAddresses();
  // Enough to cover every live clientId several times over; older ones restart at 0.
  const seqs = new SeqMemory(Math.max(1024, 4 * config.limits.max_sessions));
  const metrics = new ServerMetrics({
    connectedSockets: () => io.of("/").sockets.size,
    activeSessions: () => sessions?.size ?? 0,
    audioSeconds: () => counters.audioSeconds,
    utterances: () => sessions?.utterances ?? 0,
    delivered: () => delivery?.delivered ?? 0,
    errors: () => counters.errors,
    refusedPayloads: () => counters.refusedPayloads,
    engineStats: () => engine?.stats?.() ?? null,
    redisUp: () => (cluster ? cluster.state().up : null),
    workers: () => {
      const pool = (engine as { poolStats?: () => { executors: number; busyExecutors: number } } | null)?.poolStats?.();
      return pool ? { total: pool.executors, busy: pool.busyExecutors } : null;
    },
  }, { cluster: !!config.redis_url });
  registerCapacityMetrics(metrics.registry, () => capacity);
  registerLiveMetrics(metrics.registry, () => sessions);

  async function start() {
    if (auth.enabled && config.cors.origin === "*") {
      log.warn('auth.tokens is set but cors.origin is "*": any web page may connect and try tokens; list your origins in cors.origin');
    }
    if (!auth.enabled && !isLoopbackHost(config.host)) {
      log.warn(`listening on ${config.host} without auth.tokens: anyone who can reach the port may stream, subscribe to any clientId and clean it up; set auth.tokens (scoped ones limit clients to their clientIds)`);
    }
    vad = options.vad ?? (await SileroVad.load());
    let eng: SpeechEngine;
    if (options.engine) eng = options.engine;
    else {
      const { createWhisperEngine } = await import("./engine/whisper.ts");
      eng = await createWhisperEngine(engineConfigFrom(config));
      ownsEngine = true;
    }
    engine = eng;
    watch = new EngineWatch(eng, { onResult: (totalMs, r) => metrics.observeUtterance(totalMs, r.engineMs, r.batchSize) });
    const deliver = new Delivery(io, log, options.onTranscription);
    delivery = deliver;
    const cap = capacityFromConfig(config, eng.info.workers, (id, socketId) => sessions?.get(id)?.ownerSocketId === socketId);
    capacity = cap;
    await cap.calibrate(watch).catch((err) => log.warn("capacity: engine calibration failed; capacity is learned from traffic", { error: String(err) }));
    sessions = new SessionManager(config, vad, cap.wrap(watch), {
      onResult: (session, u, r) => deliver.deliver(u, r, () => seqs.take(session.clientId)),
      onInterim: (session, u, h) => deliver.interim(u, h, session.clientId, seqs.peek(session.clientId)),
      onSpeechStarted: (session, start) => deliver.speechStarted(session.clientId, start),
      shedInterims: () => cap.shedInterims() && (cap.interimShed(), true),
      onError: (socketId, code, message) => {
        counters.errors.set(code, (counters.errors.get(code) ?? 0) + 1);
        const limit = code === "queue_full" ? ` (max_queued_utterances is ${config.limits.max_queued_utterances})` : "";
        io.to(socketId).emit("error", { event: "transcription", code, message: message + limit });
      },
    }, log);
    stopReaper = startIdleReaper(sessions, config.limits.idle_session_seconds, (clientId, socketId) =>
      log.info("idle session ended", { clientId, socket: socketId, idleSeconds: config.limits.idle_session_seconds }),
    );
    if (config.redis_url) cluster = await joinCluster(io, config.redis_url, log);

    const transport = new Engine({
      path: "/socket.io/",
      // The transport limit sits above the app limit so an oversized chunk
      // gets an `error` event instead of a dropped connection.
      maxHttpBufferSize: config.limits.max_payload_bytes * 4 + 64 * 1024,
      cors: { origin: corsOrigin },
      // CORS does not cover WebSocket: browsers send Origin, so check it here too.
      allowRequest: async (req, server) => {
        if (!originAllowed(corsOrigin, req.headers.get("origin"), req.headers.get("host"))) throw "origin not allowed (cors.origin)";
        peers.vet(req, server);
      },
    });
    transport.on("connection", (conn: object, req: Request) => peers.connected(conn, req));
    io.bind(transport);
    bindSocketHandlers({
      io,
      config,
      sessions,
      log,
      counters,
      authorize: options.authorize,
      auth,
      isStopping: () => stopping,
      admit: (clientId, socketId) => cap.admit(clientId, socketId),
      peers,
      onRefused: (reason) => {
        metrics.connectionRefused(reason);
        if (reason === "missing_token" || reason === "invalid_token") metrics.authFailed(reason);
      },
    });

    const httpContext: HttpContext = {
      config,
      io,
      // File jobs through the watch too: their answers count as engine liveness, a stall shows in /health.
      engine: watch,
      vad,
      sessions,
      counters,
      log,
      isReady: () => ready,
      auth,
      metrics,
      health,
      ready: () => (ready ? cap.ready() : { ready: false, reason: stopping ? "shutting down" : "starting", snapshot: cap.snapshot() }),
    };
    const handler = transport.handler();
    http = Bun.serve({
      hostname: config.host,
      port: config.port,
      idleTimeout: handler.idleTimeout,
      // Above max_upload_bytes so that the file endpoint answers an oversized upload itself (413 in OpenAI's shape).
      maxRequestBodySize: Math.max(handler.maxRequestBodySize, config.limits.max_upload_bytes + 1024 * 1024),
      websocket: handler.websocket,
      async fetch(req, server) {
        if (new URL(req.url).pathname.startsWith("/socket.io/")) return transport.handleRequest(req, server);
        return (await handleHttp(req, httpContext)) ?? new Response("not found", { status: 404 });
      },
      // Whatever a handler throws is logged here; the client gets no message, path or stack.
      error(err) {
        log.error("http handler failed", { error: String(err), stack: err.stack });
        return Response.json({ error: { message: "internal server error", type: "server_error", param: null, code: "internal_error" } }, { status: 500 });
      },
    });
    ready = true;
    const url = `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${http.port}`;
    log.info("stt server listening", { host: config.host, port: http.port, url, model: config.model_path, device: eng.info.device, computeType: eng.info.computeType });
    return { url, port: http.port! };
  }

  async function stop() {
    if (stopping) return;
    stopping = true; // new connections and new sessions are refused from here on
    ready = false;
    const graceMs = config.shutdown_grace_seconds * 1000;
    const finish = async () => {
      await sessions?.flushAll();
      await sessions?.drain();
    };
    await Promise.race([finish(), Bun.sleep(graceMs)]);
    sessions?.stop();
    stopReaper?.();
    io.disconnectSockets(true);
    await new Promise<void>((r) => io.close(() => r()));
    http?.stop(true);
    await cluster?.close();
    if (ownsEngine) await engine?.close();
    if (!options.vad) await vad?.close();
  }

  function health(): Promise<HealthReport> {
    return evaluateHealth({
      started: ready,
      stopping,
      engine: watch,
      cluster: cluster?.state() ?? null,
      sessions: sessions?.size ?? 0,
      connections: io.of("/").sockets.size,
      model: engine?.info ?? null,
    });
  }

  function stats(): ServerStats {
    return {
      sessions: sessions?.size ?? 0,
      utterances: sessions?.utterances ?? 0,
      audioSeconds: counters.audioSeconds,
      vadFrames: vad?.framesScored ?? 0,
      vadCalls: vad?.inferenceCalls ?? 0,
      engine: engine?.stats?.() ?? null,
      interims: sessions ? { ...sessions.interims } : null,
      guards: sessions ? { dropped: Object.fromEntries(sessions.guardCounters.dropped), retries: sessions.guardCounters.retries } : null,
      engineBusyMs: (engine as { poolStats?: () => { busyMs: number } } | null)?.poolStats?.().busyMs ?? null,
    };
  }

  return { config, io, start, stop, stats, health, metrics, capacity: () => capacity };
}

/** Non-browser clients send no Origin; a page of this very host is always allowed. */
export function originAllowed(allowed: string | string[], origin: string | null, host: string | null): boolean {
  if (!origin || allowed === "*") return true;
  const list = Array.isArray(allowed) ? allowed : [allowed];
  if (list.includes("*") || list.includes(origin)) return true;
  try {
    return host !== null && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** Maps the server's snake_case keys onto the engine's options. */
export function engineConfigFrom(c: Config) {
  return {
    modelPath: c.model_path,
    device: c.device,
    computeType: c.compute_type,
    deviceIndex: c.device_index,
    cpuThreads: c.cpu_threads,
    maxWorkers: c.max_workers,
    language: c.language,
    task: c.task,
    beamSize: c.beam_size,
    maxNewTokens: c.max_new_tokens,
    initialPrompt: c.initial_prompt,
    batchSize: c.batch_size,
    batchWaitMs: c.batch_wait_ms,
    maxQueuePerStream: c.limits.max_queued_utterances,
    interimShare: c.interim_engine_share,
  };
}
