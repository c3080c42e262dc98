/**
 * The node's own capacity: it measures the engine as it runs, follows the
 * load each admitted stream offers, predicts the final latency (model.ts),
 * and from that decides whether one more stream can be served within
 * `capacity.max_latency`. Streams already admitted are never turned away;
 * a new stream that does not fit is refused at its first audio.
 *
 * The cost the model extrapolates from is measured at the load the node has
 * seen; with more streams the rest of the node (VAD, sockets, longer decodes)
 * takes its share, which the engine's call times show only later. So, like a
 * load balancer's slow start, a node admits offered load (finals/s) up to
 * a step (latencies.ts: up to 1.5x, less as the p95 measured now nears the
 * promise) beyond the most it has lately served within the promise
 * (at least SLOW_START_FLOOR typical talkers): a burst of streams on a fresh
 * node is taken in steps, each proven by its finals, instead of all at once
 * on the warm-up's cost. Load, not stream count: a silent microphone costs
 * nothing.
 */
import type { EngineRequest, EngineResult, SpeechEngine } from "../engine/types.ts";
import {
  admissibleRate,
  fitCost,
  maxThroughput,
  predictP95,
  streamRate,
  type CostSample,
  type EngineCost,
  type ServiceShape,
} from "./model.ts";
import { Latencies } from "./latencies.ts";

export interface CapacityOptions {
  admission: boolean;
  /** Seconds: the promised p95 from an utterance's end (VAD cut) to its transcript. */
  maxLatency: number;
  /** Operator cap on admitted streams; 0 = none. */
  maxStreams: number;
  /** Share of the engine's throughput admission may plan for. */
  maxUtilization: number;
  shape: ServiceShape;
  /** Is this stream still open? (the session manager's view) */
  isActive(clientId: string, socketId: string): boolean;
  now?: () => number;
}

export interface Refusal {
  /** False for later chunks of a stream refused less than retryAfterMs ago: they are dropped without another error. */
  notify: boolean;
  retryAfterMs: number;
  message: string;
}

export interface CapacitySnapshot {
  admitting: boolean;
  /** Why new streams are refused; null while admitting. */
  reason: string | null;
  admittedStreams: number;
  /** Streams of the typical measured talker this node can hold within max_latency. */
  capacityStreams: number;
  /** Typical talkers the slow start lets in before the node has served more load within the promise. */
  rampStreams: number;
  /** Offered finals/s over the engine's most finals/s. */
  loadRatio: number;
  /** Speech seconds per wall second across admitted streams (from the VAD's cuts). */
  speechLoad: number;
  /** Predicted p95 seconds at the current load (model × correction). */
  predictedLatency: number;
  /** Learned factor on the model's p95: measured over predicted, 1 to latencies.ts MAX_CORRECTION. */
  correction: number;
  /** Measured p95 seconds (hand-off → result) over the last window; null with too few. */
  observedLatency: number | null;
  cost: EngineCost | null;
  /** Finals/s offered now, and the most that fits the promise. */
  offeredRate: number;
  admissibleRate: number;
}

interface Stream {
  socketId: string;
  admittedAt: number;
  /** [time ms, speech seconds] of each final handed to the engine, last RATE_WINDOW_MS. */
  finals: [number, number][];
}

/** Rates are taken over the last minute of each stream. */
const RATE_WINDOW_MS = 60_000;
/** Seconds over which a new stream's rate moves from the prior to its own. */
const TAU_S = 10;
/** A talker speaking with short pauses cuts an utterance every 4 s or so. */
const DEFAULT_PRIOR_RATE = 0.25;
const COST_SAMPLES = 64;
const SNAPSHOT_TTL_MS = 200;
/** Typical talkers a node admits before any of its finals has come back within the promise. */
export const SLOW_START_FLOOR = 4;

/** The stream a guard retry (a second decode of an utterance) is load of. */
const RETRY_OF: unique symbol = Symbol("capacity.retryOf");
type RetryRequest = EngineRequest & { [RETRY_OF]?: string };

/**
 * A guard's retry of `req`: decoded alone (no stream key, outside the
 * stream's ordering) but counted by the capacity as load of `req`'s stream.
 */
export function retryRequest(req: EngineRequest, temperature: number): EngineRequest {
  const r: RetryRequest = { ...req, temperature, streamKey: undefined };
  if (req.streamKey) r[RETRY_OF] = req.streamKey;
  return r;
}

export class Capacity {
  private readonly streams = new Map<string, Stream>();
  private readonly refused = new Map<string, number>(); // socketId\0clientId → refused until (ms)
  private readonly costs: CostSample[] = [];
  private readonly recentCallMs: number[] = [];
  private readonly latencies: Latencies;
  private readonly lifetimes: number[] = []; // ms, recent ended streams
  private cached: { at: number; snap: CapacitySnapshot } | null = null;
  /** Finals handed to the engine and not yet answered. */
  private inFlight = 0;
  private readonly now: () => number;
  admittedTotal = 0;
  refusedTotal = 0;
  interimsShed = 0;
  retriesCounted = 0;

  constructor(private readonly opts: CapacityOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.latencies = new Latencies(opts.maxLatency);
  }

  /** Wraps the engine the sessions use, so every final is counted and timed. */
  wrap(inner: SpeechEngine): SpeechEngine {
    const self = this;
    return {
      get info() {
        return inner.info;
      },
      ...(inner.stats ? { stats: () => inner.stats!() } : {}),
      ...(inner.waitingFinals ? { waitingFinals: () => inner.waitingFinals!() } : {}),
      ...(inner.withdrawInterim ? { withdrawInterim: (key: string) => inner.withdrawInterim!(key) } : {}),
      ...(inner.expectFinal ? { expectFinal: (key: string, ms: number) => inner.expectFinal!(key, ms) } : {}),
      close: () => inner.close(),
      textOf: (tokens) => inner.textOf(tokens),
      async transcribe(req: EngineRequest): Promise<EngineResult> {
        // Interims are best-effort extra work: neither offered load nor the finals' cost.
        if (req.priority === "interim") return inner.transcribe(req);
        // A guard retry is one more engine call of its stream: load like a final.
        const retryOf = (req as RetryRequest)[RETRY_OF];
        if (retryOf) self.retriesCounted++;
        const key = req.streamKey ?? retryOf;
        if (key) self.finalSubmitted(key, req.audio.length / 16000);
        // What the model alone (uncorrected) expects for this utterance: the correction learns from it.
        const snap = self.snapshot(false);
        const predicted = snap.predictedLatency / snap.correction;
        const t0 = self.now();
        self.inFlight++;
        try {
          const r = await inner.transcribe(req);
          self.observe(r, (self.now() - t0) / 1000, predicted);
          return r;
        } finally {
          self.inFlight--;
        }
      },
    };
  }

  /**
   * Times one engine call before traffic arrives, so the first burst of
   * streams meets a model that already knows the engine's cost.
   */
  async calibrate(engine: SpeechEngine): Promise<void> {
    const audio = new Float32Array(16000 * 2);
    let x = 12345;
    for (let i = 0; i < audio.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      audio[i] = ((x / 2 ** 32) * 2 - 1) * 0.01;
    }
    const r = await engine.transcribe({ audio, language: null, streamKey: "__capacity_calibration__" });
    this.observe(r, null, 0);
  }

  /** The hook at a new stream's first audio: null admits it, else the refusal to send. */
  admit(clientId: string, socketId: string): Refusal | null {
    const now = this.now();
    const key = `${socketId}\u0000${clientId}`;
    const until = this.refused.get(key);
    const snap = this.snapshot(until === undefined || now >= until);
    if (!snap.admitting && this.opts.admission) {
      // Later chunks of a refused stream: dropped without another error until retry_after_ms.
      if (until !== undefined && now < until) return { notify: false, retryAfterMs: Math.ceil(until - now), message: "" };
      const retryAfterMs = this.retryAfterMs(snap);
      this.refused.delete(key); // re-inserted at the end: the map stays in refusal order
      this.refused.set(key, now + retryAfterMs);
      this.pruneRefusals(now);
      this.refusedTotal++;
      return { notify: true, retryAfterMs, message: `server_busy: ${snap.reason}; retry in ${(retryAfterMs / 1000).toFixed(1)} s or use another node` };
    }
    this.refused.delete(key);
    this.streams.set(clientId, { socketId, admittedAt: now, finals: [] });
    this.admittedTotal++;
    this.cached = null;
    return null;
  }

  /**
   * For the interim path: true while the offered finals alone need all the
   * engine can give within the promise, so interims are skipped first.
   */
  shedInterims(): boolean {
    // Past the admission limit there is still headroom (max_utilization); interims
    // go when the engine itself cannot keep up with the finals offered, or when
    // finals already miss the promise. The engine pool also holds interims back
    // while finals wait and past interim_engine_share.
    const s = this.snapshot(false);
    return s.loadRatio >= 1 || (s.observedLatency ?? 0) > this.opts.maxLatency;
  }

  /** Counts one interim that was not transcribed because of load. */
  interimShed(): void {
    this.interimsShed++;
  }

  /** Ready for load balancers: this node admits one more stream now. */
  ready(): { ready: boolean; reason: string | null; snapshot: CapacitySnapshot } {
    const snap = this.snapshot(false);
    const ready = snap.admitting || !this.opts.admission;
    return { ready, reason: ready ? null : snap.reason, snapshot: snap };
  }

  snapshot(fresh = false): CapacitySnapshot {
    const now = this.now();
    if (!fresh && this.cached && now - this.cached.at < SNAPSHOT_TTL_MS) return this.cached.snap;
    this.prune(now);
    const cost = fitCost(this.costs);
    const prior = this.priorRate(now);
    let offered = 0;
    let speech = 0;
    // A stream has had no chance to show its own rate before its first
    // utterance could be in: for one typical utterance interval it counts as
    // the prior. Without this grace, streams arriving together look quieter
    // than they are by the time the last of them asks (a bench step admitted
    // 9 streams against a capacity of 7 that way).
    const graceMs = 1000 / prior;
    for (const s of this.streams.values()) {
      const age = Math.max(0, now - s.admittedAt - graceMs) / 1000;
      offered += streamRate(s.finals.length, age, prior, TAU_S, RATE_WINDOW_MS / 1000);
      for (const [, sec] of s.finals) speech += sec / Math.max(Math.min(age, RATE_WINDOW_MS / 1000), TAU_S);
    }
    const { shape, maxLatency, maxUtilization, maxStreams } = this.opts;
    const observed = this.latencies.p95(now);
    const correction = this.latencies.learnCorrection(now, observed);
    const limit = cost ? admissibleRate(cost, shape, maxLatency / correction, maxUtilization) : Infinity;
    const predict = (lambda: number) => (cost ? correction * predictP95(cost, shape, lambda) : Infinity);
    const n = this.streams.size;
    const provenRate = this.latencies.provenRate(now);
    const ramp = Math.max(SLOW_START_FLOOR * prior, this.latencies.rampRate(now));
    let reason: string | null = null;
    // An idle node always takes one stream: refusing it would serve nobody,
    // however slow the engine is against max_latency.
    if (n > 0) {
      if (maxStreams > 0 && n >= maxStreams) reason = `capacity.max_streams (${maxStreams}) streams admitted`;
      else if (observed !== null && observed > maxLatency)
        reason = `measured final latency p95 ${observed.toFixed(2)} s is above capacity.max_latency ${maxLatency} s`;
      else if (offered + prior > ramp + 1e-9)
        reason = `slow start: ${n} streams admitted; more once this node has served more than ${fmt(provenRate)} finals/s within capacity.max_latency (offered now ${fmt(offered)})`;
      else if (offered + prior > limit)
        reason = `one more stream would push the predicted final latency p95 to ${fmt(predict(offered + prior))} s (capacity.max_latency ${maxLatency} s, ${n} streams admitted)`;
    }
    let capacityStreams = Number.isFinite(limit) ? Math.max(1, Math.floor(limit / prior)) : Number.MAX_SAFE_INTEGER;
    if (maxStreams > 0) capacityStreams = Math.min(capacityStreams, maxStreams);
    const snap: CapacitySnapshot = {
      admitting: reason === null,
      reason,
      admittedStreams: n,
      capacityStreams,
      rampStreams: Math.floor(ramp / prior + 1e-9),
      loadRatio: cost ? offered / maxThroughput(cost, shape) : 0,
      speechLoad: speech,
      predictedLatency: cost ? predict(offered) : 0,
      correction,
      observedLatency: observed,
      cost,
      offeredRate: offered,
      admissibleRate: limit,
    };
    this.cached = { at: now, snap };
    return snap;
  }

  private finalSubmitted(clientId: string, seconds: number): void {
    const s = this.streams.get(clientId);
    if (s) s.finals.push([this.now(), seconds]);
  }

  private observe(r: EngineResult, latencySeconds: number | null, predicted: number): void {
    // Every utterance of a batch reports the same call; count the call once.
    if (!this.recentCallMs.includes(r.engineMs)) {
      this.recentCallMs.push(r.engineMs);
      if (this.recentCallMs.length > 16) this.recentCallMs.shift();
      this.costs.push({ batch: Math.max(1, r.batchSize), seconds: r.engineMs / 1000 });
      if (this.costs.length > COST_SAMPLES) this.costs.shift();
    }
    // Proof for the slow start: this much load was offered and a final still came back in time.
    if (latencySeconds !== null) this.latencies.add(this.now(), latencySeconds, predicted, () => this.snapshot(false).offeredRate);
    this.cached = null;
  }

  private prune(now: number): void {
    for (const [id, s] of this.streams) {
      if (!this.opts.isActive(id, s.socketId)) {
        this.streams.delete(id);
        this.lifetimes.push(now - s.admittedAt);
        if (this.lifetimes.length > 32) this.lifetimes.shift();
        continue;
      }
      while (s.finals.length > 0 && now - s.finals[0]![0] > RATE_WINDOW_MS) s.finals.shift();
    }
    // A node with nothing admitted and nothing in the engine has no backlog.
    this.latencies.prune(now, this.streams.size === 0 && this.inFlight === 0);
  }

  /** The typical talker: mean rate of streams old enough to have their own, else the default. */
  private priorRate(now: number): number {
    let sum = 0;
    let n = 0;
    for (const s of this.streams.values()) {
      const age = Math.min(now - s.admittedAt, RATE_WINDOW_MS) / 1000;
      // Silent streams are left out: they say nothing about how a talker talks.
      if (age >= 3 * TAU_S && s.finals.length > 0) {
        sum += s.finals.length / age;
        n++;
      }
    }
    return n > 0 ? Math.max(0.05, sum / n) : DEFAULT_PRIOR_RATE;
  }

  /** About when one admitted stream will have ended: mean stream lifetime over the streams open now. */
  private retryAfterMs(snap: CapacitySnapshot): number {
    // Before any stream has ended, a guess of a short conversation turn.
    const life = this.lifetimes.length > 0 ? this.lifetimes.reduce((a, b) => a + b, 0) / this.lifetimes.length : 5000;
    const n = Math.max(1, snap.admittedStreams);
    const drain = (snap.observedLatency ?? 0) * 1000;
    return Math.round(Math.min(60_000, Math.max(1000, life / n, drain)));
  }

  /** Refusals remembered now (streams whose later chunks are dropped without another error). */
  get refusalsHeld(): number {
    return this.refused.size;
  }

  /**
   * The map is in refusal order, so expired entries are dropped from its front
   * (amortized O(1) per refusal, never a full scan). Past MAX_REFUSALS the
   * oldest go too: that only costs such a stream one more server_busy error.
   */
  private pruneRefusals(now: number): void {
    for (const [k, until] of this.refused) {
      if (until > now && this.refused.size <= MAX_REFUSALS) break;
      this.refused.delete(k);
    }
  }
}

/** Refused streams remembered at most (per node). */
const MAX_REFUSALS = 4096;

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(2) : "unbounded (queue grows)";
}

/** The Capacity for a server's config and engine. */
export function capacityFromConfig(
  c: { capacity: { admission: boolean; max_latency: number; max_streams: number; max_utilization: number }; batch_size: number },
  workers: number,
  isActive: CapacityOptions["isActive"],
): Capacity {
  return new Capacity({
    admission: c.capacity.admission,
    maxLatency: c.capacity.max_latency,
    maxStreams: c.capacity.max_streams,
    maxUtilization: c.capacity.max_utilization,
    shape: { workers: Math.max(1, workers), maxBatch: Math.max(1, c.batch_size) },
    isActive,
  });
}
