import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { EngineStats } from "../engine/types.ts";
import type { Door, DoorEvents } from "../stream/types.ts";

/**
 * What the scrape reads from the running server. Figures that already exist as
 * plain numbers (sessions, counters kept by the transport) are pulled at
 * scrape time; per-event figures (latencies, batch sizes) are pushed through
 * the `observe*` methods.
 */
export interface MetricsSource {
  connectedSockets(): number;
  activeSessions(): number;
  audioSeconds(): number;
  utterances(): number;
  delivered(): number;
  errors(): ReadonlyMap<string, number>;
  refusedPayloads(): number;
  engineStats(): EngineStats | null;
  /** null when no Redis is configured. */
  redisUp(): boolean | null;
  /** Worker pool occupancy, when the engine reports it. */
  workers?(): { total: number; busy: number } | null;
  /** Engine requests that were rejected, by reason (from the engine watch). */
  engineFailures?(): ReadonlyMap<string, number>;
  /** Finals that found every engine worker busy while one ran an interim. */
  finalsBehindInterims?(): number;
}

const LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20];
const BATCH_BUCKETS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64];

/**
 * One prom-client registry per server (several servers may share a process,
 * as in tests and embedders), exposed as Prometheus text on GET /metrics.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly engineLatency: Histogram;
  private readonly utteranceLatency: Histogram;
  private readonly queueWait: Histogram;
  private readonly batchSize: Histogram;
  private readonly interimLatency: Histogram;
  private readonly authFailures: Counter<"reason">;
  private readonly connectionsRefused: Counter<"reason">;
  private readonly fileRequests: Counter<"status">;
  private readonly fileAudio: Counter;
  /** Per front door: streams opened, refusals and errors by code (stt_door_*). */
  readonly doors: DoorEvents;

  constructor(source: MetricsSource, opts: { defaultMetrics?: boolean; cluster?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: "stt_connected_sockets",
      help: "Socket.IO connections open now.",
      registers,
      collect() {
        this.set(source.connectedSockets());
      },
    });
    new Gauge({
      name: "stt_active_sessions",
      help: "Audio sessions (clientIds streaming) open now.",
      registers,
      collect() {
        this.set(source.activeSessions());
      },
    });
    pulledCounter("stt_audio_seconds_total", "Seconds of audio accepted from clients.", registers, () => source.audioSeconds());
    pulledCounter("stt_utterances_total", "Utterances cut by the VAD and handed to the engine.", registers, () => source.utterances());
    pulledCounter("stt_transcripts_total", "Transcripts delivered (one per utterance with text).", registers, () => source.delivered());
    pulledCounter(
      "stt_engine_finals_behind_interims_total",
      "Finals that found every engine worker busy while one ran an interim: what interims cost finals in queueing.",
      registers,
      () => source.finalsBehindInterims?.() ?? 0,
    );
    pulledCounter(
      "stt_refused_payloads_total",
      "Events dropped or refused by a limit (rate, size, chunk length, buffer).",
      registers,
      () => source.refusedPayloads(),
    );
    new Counter({
      name: "stt_errors_total",
      help: "`error` events sent to clients, by code.",
      labelNames: ["code"],
      registers,
      collect() {
        this.reset();
        for (const [code, n] of source.errors()) this.labels(code).inc(n);
      },
    });
    new Gauge({
      name: "stt_engine_queue_depth",
      help: "Utterances waiting for an engine worker.",
      registers,
      collect() {
        this.set(source.engineStats()?.queueDepth ?? 0);
      },
    });
    new Counter({
      name: "stt_engine_batches_total",
      help: "Engine calls, by how many utterances they carried (from the engine pool).",
      labelNames: ["size"],
      registers,
      collect() {
        this.reset();
        const s = source.engineStats();
        if (s) for (const [size, n] of Object.entries(s.batchSizes)) this.labels(size).inc(n);
      },
    });
    if (opts.cluster) {
      new Gauge({
        name: "stt_redis_up",
        help: "1 when the Redis adapter is connected, 0 during an outage (only with redis_url).",
        registers,
        collect() {
          this.set(source.redisUp() ? 1 : 0);
        },
      });
    }
    new Gauge({
      name: "stt_engine_workers",
      help: "Engine workers, by state (busy = running a batch now).",
      labelNames: ["state"],
      registers,
      collect() {
        this.reset();
        const w = source.workers?.();
        if (!w) return;
        this.labels("busy").set(w.busy);
        this.labels("idle").set(Math.max(0, w.total - w.busy));
      },
    });

    new Counter({
      name: "stt_engine_request_failures_total",
      help: "Engine requests that failed, by reason: request-level (superseded, queue_full, invalid_audio, invalid_argument) or engine-level (engine_error, ...). Only a stalled or dead engine flips /health.",
      labelNames: ["reason"],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of source.engineFailures?.() ?? []) this.labels(reason).inc(n);
      },
    });

    this.engineLatency = new Histogram({
      name: "stt_engine_latency_seconds",
      help: "Time of the engine call that transcribed an utterance (shared by the utterances of one batch).",
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.utteranceLatency = new Histogram({
      name: "stt_utterance_latency_seconds",
      help: "From an utterance's hand-off to the engine until its result: queue wait plus engine call.",
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.queueWait = new Histogram({
      name: "stt_engine_queue_wait_seconds",
      help: "Time an utterance waited for an engine worker.",
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.batchSize = new Histogram({
      name: "stt_engine_batch_size",
      help: "Size of the batch each utterance was transcribed in.",
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.interimLatency = new Histogram({
      name: "stt_interim_latency_seconds",
      help: "From an interim request's hand-off to the engine until its result (kept out of the final-utterance histograms).",
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.authFailures = new Counter({
      name: "stt_auth_failures_total",
      help: "Refused credentials (Socket.IO handshakes and HTTP requests), by reason.",
      labelNames: ["reason"],
      registers,
    });
    this.connectionsRefused = new Counter({
      name: "stt_connections_refused_total",
      help: "Socket.IO connections refused, by reason (unauthorized, max_connections, shutting_down).",
      labelNames: ["reason"],
      registers,
    });
    this.fileRequests = new Counter({
      name: "stt_file_requests_total",
      help: "POST /v1/audio/transcriptions requests, by HTTP status.",
      labelNames: ["status"],
      registers,
    });
    this.fileAudio = new Counter({
      name: "stt_file_audio_seconds_total",
      help: "Seconds of audio transcribed through POST /v1/audio/transcriptions (not in stt_audio_seconds_total, which counts streams).",
      registers,
    });
    const streams = new Counter({ name: "stt_door_streams_total", help: "Streams opened, by front door (socketio, deepgram, flux, openai).", labelNames: ["door"], registers });
    const refused = new Counter({ name: "stt_door_refusals_total", help: "Streams or connections refused by a front door, by door and code.", labelNames: ["door", "code"], registers });
    const errors = new Counter({ name: "stt_door_errors_total", help: "Errors sent to clients by a front door, by door and code.", labelNames: ["door", "code"], registers });
    this.doors = {
      streamOpened: (door: Door) => streams.labels(door).inc(),
      refused: (door: Door, code: string) => refused.labels(door, code).inc(),
      error: (door: Door, code: string) => errors.labels(door, code).inc(),
    };
  }

  /** One answered file request; `audioSeconds` for the ones that were transcribed. */
  fileRequest(status: number, audioSeconds = 0): void {
    this.fileRequests.labels(String(status)).inc();
    if (audioSeconds > 0) this.fileAudio.inc(audioSeconds);
  }

  /** One transcribed final utterance: `totalMs` from hand-off to result, `engineMs` inside the engine call. */
  observeUtterance(totalMs: number, engineMs: number, batchSize: number): void {
    this.utteranceLatency.observe(totalMs / 1000);
    this.engineLatency.observe(engineMs / 1000);
    this.queueWait.observe(Math.max(0, totalMs - engineMs) / 1000);
    this.batchSize.observe(batchSize);
  }

  /** One answered interim request. */
  observeInterim(totalMs: number): void {
    this.interimLatency.observe(totalMs / 1000);
  }

  authFailed(reason: string): void {
    this.authFailures.labels(reason).inc();
  }

  connectionRefused(reason: string): void {
    this.connectionsRefused.labels(reason).inc();
  }

  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}

/** A monotonically growing figure kept elsewhere, exposed as a Prometheus counter. */
function pulledCounter(name: string, help: string, registers: Registry[], read: () => number): Counter {
  return new Counter({
    name,
    help,
    registers,
    collect() {
      this.reset();
      const v = read();
      if (v > 0) this.inc(v);
    },
  });
}
