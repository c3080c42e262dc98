import { Server as SocketServer } from "socket.io";
import { resolveConfig } from "./config/load.ts";
import type { Config } from "./config/schema.ts";
import { Delivery, type OnTranscription } from "./delivery/delivery.ts";
import type { SpeechEngine } from "./engine/types.ts";
import { createLogger, type Logger } from "./log.ts";
import type { AuthorizeClientId, TransportCounters } from "./transport/socket-handlers.ts";
import { SileroVad } from "./vad/silero.ts";
import type { HttpContext } from "./http/context.ts";
import { TokenAuth } from "./auth/tokens.ts";
import { joinCluster } from "./cluster/redis.ts";
import { EngineWatch } from "./metrics/engine-watch.ts";
import type { ServerMetrics } from "./metrics/metrics.ts";
import { evaluateHealth, type HealthReport } from "./metrics/health.ts";
import { capacityFromConfig, type Capacity } from "./capacity/capacity.ts";
import { isLoopbackHost } from "./auth/access.ts";
import { PeerAddresses } from "./transport/peers.ts";
import { SeqMemory } from "./session/seq-memory.ts";
import { FileJobs } from "./http/file-jobs.ts";
import { startIdleReaper } from "./session/idle-reaper.ts";
import { languageProblem, openEngine } from "./app/engine.ts";
import { corsOriginFor, serveHttp } from "./app/http.ts";
import { createMetrics, statsOf, type ServerStats } from "./app/observe.ts";
import { noParts } from "./app/parts.ts";
import { createSessions } from "./app/sessions.ts";
import { attachSockets } from "./app/sockets.ts";
import { createStreamCore, type StreamHub } from "./stream/core.ts";
import type { WebSocketDoor } from "./doors/websocket.ts";
import { deepgramDoor } from "./doors/deepgram/index.ts";
import { realtimeDoor } from "./doors/openai/index.ts";
import { fluxDoor } from "./doors/flux/index.ts";
import type { DoorContext } from "./stream/types.ts";
import { lazySmartTurn } from "./turns/lazy.ts";
import { StreamClocks } from "./stream/clock.ts";
import { RedisStreamState } from "./cluster/streams.ts";

export { engineConfigFrom } from "./app/engine.ts";
export { originAllowed } from "./app/http.ts";
export type { ServerStats } from "./app/observe.ts";

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

/**
 * One STT node: the engine and VAD, sessions, the Socket.IO transport and the
 * HTTP routes on one port. The parts live in src/app; this composes them and
 * owns the order of start and stop.
 */
export function createSttServer(configInput: Partial<Config> | Config = {}, options: SttServerOptions = {}): SttServer {
  const { config } = resolveConfig(configInput);
  const log = options.logger ?? createLogger(config.enable_logging);
  const auth = new TokenAuth(config.auth.tokens);
  const corsOrigin = corsOriginFor(config, auth.enabled);
  const io = new SocketServer({ cors: { origin: corsOrigin }, connectTimeout: 10_000 });
  const counters: TransportCounters = { errors: new Map(), audioSeconds: 0, refusedPayloads: 0 };
  const parts = noParts();
  const peers = new PeerAddresses();
  // Enough to cover every live clientId several times over; older ones restart at 0.
  let streamState: RedisStreamState | null = null;
  const seqs = new SeqMemory(Math.max(1024, 4 * config.limits.max_sessions), (clientId, next) => streamState?.saveSeq(clientId, next));
  const clocks = new StreamClocks();
  let stopRefresh: (() => void) | null = null;
  const metrics = createMetrics(io, counters, parts, !!config.redis_url);
  const fileJobs = new FileJobs();
  let http: ReturnType<typeof Bun.serve> | null = null;
  let ownsEngine = false;
  let ready = false;
  let stopping = false;
  let stopReaper: (() => void) | null = null;
  let core: StreamHub | null = null;
  // Loaded by the first stream that asks for turn_detection "model".
  const turnDetector = lazySmartTurn(config.turn.model_path);

  async function start() {
    warnAboutExposure(config, auth, log);
    const vad = (parts.vad = options.vad ?? (await SileroVad.load()));
    const opened = await openEngine(config, options.engine);
    ownsEngine = opened.owned;
    const engine = (parts.engine = opened.engine);
    const problem = languageProblem(config.language, engine.info);
    if (problem) {
      if (ownsEngine) await engine.close();
      if (!options.vad) await vad.close();
      parts.engine = parts.vad = null;
      throw new Error(`config: ${problem}`);
    }
    const watch = (parts.watch = new EngineWatch(engine, {
      onResult: (totalMs, r) => metrics.observeUtterance(totalMs, r.engineMs, r.batchSize),
      onInterim: (totalMs) => metrics.observeInterim(totalMs),
    }));
    const delivery = (parts.delivery = new Delivery(io, log, options.onTranscription));
    // A stream counts as admitted while its owner holds the clientId (the core's owner record), even between sessions.
    const capacity = (parts.capacity = capacityFromConfig(config, engine.info.workers, (id, connectionId) => core?.ownerOf(id) === connectionId));
    await capacity.calibrate(watch).catch((err) => log.warn("capacity: engine calibration failed; capacity is learned from traffic", { error: String(err) }));
    const sessions = (parts.sessions = createSessions({ config, vad, engine: capacity.wrap(watch), capacity, delivery, seqs, io, counters, log, turnDetector, clocks, ownerOf: (id) => core?.ownerOf(id) }));
    // Joined before the core exists: claims and seq live in Redis from the first stream on.
    if (config.redis_url) {
      const cluster = (parts.cluster = await joinCluster(io, config.redis_url, log));
      streamState = new RedisStreamState(cluster.command, config.resume_ttl_seconds);
    }
    const state = streamState;
    const shared = state ? { claims: state, loadSeq: async (id: string) => { const n = await state.loadSeq(id); if (n !== null) seqs.seed(id, n); } } : undefined;
    core = createStreamCore({ config, sessions, capacity, delivery, engine, log, turnModel: turnDetector, isStopping: () => stopping, clocks, shared });
    if (state) {
      const hub = core;
      const timer = setInterval(() => void state.refresh(hub.owners.claimed()).catch(() => {}), (config.resume_ttl_seconds * 1000) / 3);
      timer.unref?.();
      stopRefresh = () => clearInterval(timer);
    }
    stopReaper = startIdleReaper(sessions, config.limits.idle_session_seconds, (clientId, socketId) =>
      log.info("idle session ended", { clientId, socket: socketId, idleSeconds: config.limits.idle_session_seconds }),
    );
    const transport = attachSockets({ config, io, corsOrigin, peers, core, auth, authorize: options.authorize, metrics, counters, log, isStopping: () => stopping });
    const doorContext: DoorContext = { core, config, auth, log, events: metrics.doors };
    const doors = [deepgramDoor(doorContext), fluxDoor(doorContext), realtimeDoor(doorContext)] as WebSocketDoor<unknown>[];
    const context: HttpContext = {
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
      fileJobs,
      ready: () => (ready ? capacity.ready() : { ready: false, reason: stopping ? "shutting down" : "starting", snapshot: capacity.snapshot() }),
    };
    http = serveHttp(config, transport, context, log, doors);
    ready = true;
    const url = `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${http.port}`;
    log.info("stt server listening", { host: config.host, port: http.port, url, model: config.model_path, device: engine.info.device, computeType: engine.info.computeType });
    return { url, port: http.port! };
  }

  async function stop() {
    if (stopping) return;
    stopping = true; // new connections and new sessions are refused from here on
    ready = false;
    const { sessions } = parts;
    const finish = async () => {
      // Senders with unacknowledged audio replay it on another node: their open speech is not cut here.
      await core?.handOff();
      await sessions?.flushAll();
      await sessions?.drain();
    };
    const graceMs = config.shutdown_grace_seconds * 1000;
    // Streams and file jobs finish side by side within the grace period; file
    // jobs still running then are answered (503 shutting_down), not cut.
    await Promise.race([Promise.all([finish(), fileJobs.drain(graceMs)]), Bun.sleep(graceMs)]);
    await fileJobs.abortAll(1000);
    sessions?.stop();
    stopReaper?.();
    stopRefresh?.();
    io.disconnectSockets(true);
    // The transport is attached at the end of start(); a start that failed before it has none to close.
    if (http) await new Promise<void>((r) => io.close(() => r()));
    // Answers being written (the file jobs' 503s) get a moment before connections are cut.
    if (http) await Promise.race([http.stop(false), Bun.sleep(1000)]);
    http?.stop(true);
    await parts.cluster?.close();
    if (ownsEngine) await parts.engine?.close();
    await turnDetector.close();
    if (!options.vad) await parts.vad?.close();
  }

  function health(): Promise<HealthReport> {
    return evaluateHealth({
      started: ready,
      stopping,
      engine: parts.watch,
      cluster: parts.cluster?.state() ?? null,
      sessions: parts.sessions?.size ?? 0,
      connections: io.of("/").sockets.size,
      model: parts.engine?.info ?? null,
    });
  }

  return { config, io, start, stop, stats: () => statsOf(parts, counters), health, metrics, capacity: () => parts.capacity };
}

function warnAboutExposure(config: Config, auth: TokenAuth, log: Logger): void {
  if (auth.enabled && config.cors.origin === "*") {
    log.warn('auth.tokens is set but cors.origin is "*": any web page may connect and try tokens; list your origins in cors.origin');
  }
  if (!auth.enabled && !isLoopbackHost(config.host)) {
    log.warn(`listening on ${config.host} without auth.tokens: anyone who can reach the port may stream, subscribe to any clientId and clean it up; set auth.tokens (scoped ones limit clients to their clientIds)`);
  }
}
