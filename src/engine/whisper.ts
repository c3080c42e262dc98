/**
 * The Whisper engine: a pool of Bun workers sharing one natively loaded
 * CTranslate2 model, with cross-client dynamic batching (see pool.ts) and
 * faster-whisper-compatible decoding (see docs/engine.md).
 */
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { tuneNativeMalloc } from "../../ffi/malloc.ts";
import { cudaDeviceCount, MAX_LENGTH, MAX_SAMPLES, type ModelDescription, type NativeResult } from "../../ffi/sttwhisper.ts";
import { BatchPool, type Executor, type PoolStats } from "./pool.ts";
import type { DecodeOptions, ItemOutcome, WireError, WorkerRequest, WorkerResponse } from "./protocol.ts";
import { engineShape } from "./shape.ts";
import { BpeTokenizer } from "./tokenizer.ts";
import { groupWords } from "./words.ts";
import type { EngineInfo, EngineRequest, EngineResult, EngineStats, SpeechEngine } from "./types.ts";

export type { PoolStats } from "./pool.ts";

export interface WhisperEngineConfig {
  /** Directory of a CTranslate2 Whisper model (model.bin, config.json, tokenizer.json, ...). */
  modelPath: string;
  device: "auto" | "cpu" | "cuda";
  /** "default" = int8 on CPU, float16 on CUDA; or any CTranslate2 compute type. */
  computeType: string;
  deviceIndex: number;
  /** CPU threads per model replica; 0 = cores / workers. */
  cpuThreads: number;
  /** Workers = concurrent engine calls = CTranslate2 replicas; 0 = automatic (shape.ts). */
  maxWorkers: number;
  /** Default language (ISO 639-1); null = detect per utterance (multilingual models). */
  language: string | null;
  task: "transcribe" | "translate";
  beamSize: number;
  maxNewTokens: number;
  /** Text placed after <|startofprev|> for every utterance; null = none. */
  initialPrompt: string | null;
  /** Most utterances per engine call (default 8). */
  batchSize: number;
  /** How long a partial batch may wait for more (default 0: only what is queued). */
  batchWaitMs: number;
  /** Waiting utterances per stream before "queue_full" (default 8). */
  maxQueuePerStream: number;
  /** Most of the executors' time interim requests may take (default 0.5). */
  interimShare: number;
  /** Interims on a window trimmed to their audio + 3 s ("trimmed") or Whisper's 30 s ("full"). */
  interimWindow: "trimmed" | "full";
}

export const DEFAULT_WHISPER_CONFIG: Omit<WhisperEngineConfig, "modelPath"> = {
  device: "auto",
  computeType: "default",
  deviceIndex: 0,
  cpuThreads: 0,
  maxWorkers: 0,
  language: null,
  task: "transcribe",
  beamSize: 1,
  maxNewTokens: 200,
  initialPrompt: null,
  batchSize: 8,
  batchWaitMs: 0,
  maxQueuePerStream: 8,
  interimShare: 0.5,
  interimWindow: "full",
};

/** An engine error: `code` is a shim status name ("invalid_audio", "no_cuda", ...) or "queue_full". */
export class EngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "EngineError";
  }
}

export interface WhisperEngine extends SpeechEngine {
  stats(): EngineStats;
  /** Batching figures with percentiles. */
  poolStats(): PoolStats;
  /** What each worker saw when it loaded the model (same handle = shared model). */
  readonly workerModels: ReadonlyArray<{ handle: number; refcount: number; constructed: number }>;
  /** Drops waiting interim requests (load shedding); returns how many. */
  shedInterims(): number;
  /** Token ids used to suppress (faster-whisper's list) and the encoded initial prompt. */
  readonly suppressIds: readonly number[];
  readonly promptIds: readonly number[];
  /** Workers replaced after they died, since start. */
  workerRestarts(): number;
  /** For tests: terminates worker `i` as if it had died. */
  killWorkerForTest(i: number): void;
}

function fromWire(e: WireError): EngineError {
  return new EngineError(e.code, e.message);
}

function validateAudio(audio: unknown): void {
  if (!(audio instanceof Float32Array)) throw new EngineError("invalid_audio", "audio must be a Float32Array of 16 kHz mono samples");
  if (audio.length === 0) throw new EngineError("invalid_audio", "audio is empty (0 samples)");
  if (audio.length > MAX_SAMPLES) throw new EngineError("invalid_audio", `audio too long: at most ${MAX_SAMPLES} samples (10 min at 16 kHz)`);
  for (let i = 0; i < audio.length; i++) {
    if (!Number.isFinite(audio[i]!)) throw new EngineError("invalid_audio", `sample ${i} is NaN or infinite (audio must be finite floats in [-1, 1])`);
  }
}

class WorkerHandle {
  private readonly pending = new Map<number, (outcomes: ItemOutcome[], ms: number) => void>();
  private nextId = 0;
  private closedResolve: (() => void) | null = null;
  private dead: string | null = null;
  private closing = false;

  constructor(readonly worker: Worker) {
    worker.addEventListener("message", (ev: MessageEvent<WorkerResponse>) => {
      const m = ev.data;
      if (m.type === "result") {
        this.pending.get(m.id)?.(m.results, m.ms);
        this.pending.delete(m.id);
      } else if (m.type === "run_error") {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.([{ ok: false, error: m.error }], 0);
      } else if (m.type === "closed") {
        this.closedResolve?.();
      }
    });
    worker.addEventListener("error", (ev) => this.fail(`engine worker crashed: ${(ev as ErrorEvent).message ?? "unknown error"}`));
    // A worker that ends without being asked to (terminated, exited) answers nothing more.
    worker.addEventListener("close", () => {
      if (!this.closing && !this.dead) this.fail("engine worker exited");
    });
  }

  get alive(): boolean {
    return this.dead === null;
  }

  private fail(message: string): void {
    this.dead = message;
    for (const [, p] of this.pending) p([{ ok: false, error: { code: "engine_error", status: 9, message } }], 0);
    this.pending.clear();
  }

  init(load: WorkerRequest & { type: "init" }): Promise<Extract<WorkerResponse, { type: "ready" }>> {
    return new Promise((resolve, reject) => {
      const onMsg = (ev: MessageEvent<WorkerResponse>) => {
        const m = ev.data;
        if (m.type === "ready") {
          this.worker.removeEventListener("message", onMsg);
          resolve(m);
        } else if (m.type === "init_error") {
          this.worker.removeEventListener("message", onMsg);
          reject(fromWire(m.error));
        }
      };
      this.worker.addEventListener("message", onMsg);
      this.worker.addEventListener("error", (ev) => reject(new EngineError("engine_error", `engine worker failed to start: ${(ev as ErrorEvent).message}`)), { once: true });
      this.worker.postMessage(load);
    });
  }

  run(
    audios: Float32Array[],
    languages: (string | null)[],
    prefixes: (readonly number[] | null)[],
    options: DecodeOptions,
  ): Promise<{ outcomes: ItemOutcome[]; ms: number }> {
    if (this.dead) return Promise.reject(new EngineError("engine_error", this.dead));
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, (outcomes, ms) => resolve({ outcomes, ms }));
      const msg: WorkerRequest = { type: "run", id, audios, languages, prefixes, options };
      this.worker.postMessage(msg);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    if (!this.dead) {
      const closed = new Promise<void>((r) => (this.closedResolve = r));
      this.worker.postMessage({ type: "close" } satisfies WorkerRequest);
      await Promise.race([closed, Bun.sleep(5000)]);
    }
    this.worker.terminate();
  }
}

/**
 * Loads the model once (shared by all workers) and returns a SpeechEngine.
 * Rejects with an EngineError (code "model_not_found", "model_load", "no_cuda",
 * "invalid_argument", "library_missing", ...) when the model cannot be used.
 */
export async function createWhisperEngine(config: Partial<WhisperEngineConfig> & { modelPath: string }): Promise<WhisperEngine> {
  const c: WhisperEngineConfig = { ...DEFAULT_WHISPER_CONFIG, ...config };
  const modelPath = path.resolve(c.modelPath);
  const cores = typeof navigator !== "undefined" && navigator.hardwareConcurrency ? navigator.hardwareConcurrency : os.cpus().length;
  // The CUDA question only matters for the automatic shape; asking it loads the library.
  const cuda = c.maxWorkers <= 0 && (c.device === "cuda" || (c.device === "auto" && cudaDeviceCount() > 0));
  const { workers, threads: intraThreads } = engineShape({ workers: c.maxWorkers, threads: c.cpuThreads, cuda, cores });
  if (c.beamSize < 1) throw new EngineError("invalid_argument", "beamSize must be >= 1");
  if (c.maxNewTokens < 1) throw new EngineError("invalid_argument", "maxNewTokens must be >= 1");

  // Suppress list and prompt need the tokenizer; without tokenizer.json fall back to
  // the model's config.json suppress_ids (equal for the OpenAI checkpoints) and no prompt.
  let tokenizer: BpeTokenizer | null = null;
  if (existsSync(path.join(modelPath, "tokenizer.json"))) tokenizer = BpeTokenizer.fromModelDir(modelPath);
  const suppressIds = tokenizer ? tokenizer.suppressTokens() : [];
  // Prompts are encoded once per distinct text and the same array object is
  // handed out again: a file's utterances share one encoding, and the batch
  // executor groups items by array identity.
  const encoded = new Map<string, readonly number[] | null>();
  const encodePrompt = (text: string | null | undefined): readonly number[] | null => {
    const key = text?.trim() ?? "";
    if (!key) return null;
    let ids = encoded.get(key);
    if (ids === undefined) {
      if (!tokenizer) throw new EngineError("invalid_argument", `a prompt needs ${path.join(modelPath, "tokenizer.json")}`);
      if (encoded.size >= 256) encoded.clear(); // per-request prompts must not grow this without bound
      ids = tokenizer.encode(" " + key).slice(-(MAX_LENGTH / 2 - 1));
      encoded.set(key, ids);
    }
    return ids;
  };
  const configuredPrompt = encodePrompt(c.initialPrompt);
  const promptIds = configuredPrompt ?? [];

  // Before the workers and CTranslate2's threads exist: see ffi/malloc.ts.
  tuneNativeMalloc();
  const handles: WorkerHandle[] = [];
  const ready: Extract<WorkerResponse, { type: "ready" }>[] = [];
  const load = { modelDir: modelPath, device: c.device, computeType: c.computeType, deviceIndex: c.deviceIndex, intraThreads, interThreads: workers };
  try {
    for (let i = 0; i < workers; i++) {
      const h = new WorkerHandle(new Worker(new URL("./worker.ts", import.meta.url).href));
      handles.push(h);
      // Sequential: the first load constructs the model, the others share it.
      ready.push(await h.init({ type: "init", load }));
    }
  } catch (e) {
    await Promise.all(handles.map((h) => h.close().catch(() => {})));
    if (e instanceof EngineError) throw e;
    throw new EngineError("engine_error", (e as Error).message);
  }
  const desc: ModelDescription = ready[0]!.description;
  const decode: DecodeOptions = {
    task: c.task,
    beamSize: Math.floor(c.beamSize),
    maxNewTokens: Math.floor(c.maxNewTokens),
    promptIds: null, // per batch, from its items
    suppressIds: suppressIds.length ? suppressIds : null,
    temperature: 0,
    wordTimestamps: false,
    shortWindow: false,
  };
  const pieces = tokenizer?.tokenBytes();
  const textOf = (ids: readonly number[]) => (tokenizer ? tokenizer.decode(ids) : "");
  const sotLength = desc.multilingual ? 3 : 1;

  type Item = {
    audio: Float32Array;
    language: string | null;
    promptIds: readonly number[] | null;
    prefix: readonly number[] | null;
    wordTimestamps: boolean;
    interim: boolean;
    temperature: number;
  };
  // One CTranslate2 call takes one prompt and one set of decoding options, so
  // a batch is split by them; live finals all share the configured prompt and
  // options and stay in a single call.
  // A dead worker is replaced by a new one (the model is shared, so this is
  // quick) and the batch it held runs once more there; if that fails too, its
  // items fail, each reaching its own sender as engine_error.
  let restarts = 0;
  const replacing = new Map<number, Promise<WorkerHandle>>();
  const replace = (slot: number): Promise<WorkerHandle> => {
    let p = replacing.get(slot);
    if (!p) {
      p = (async () => {
        const h = new WorkerHandle(new Worker(new URL("./worker.ts", import.meta.url).href));
        try {
          await h.init({ type: "init", load });
        } catch (e) {
          await h.close().catch(() => {});
          throw e;
        }
        handles[slot] = h;
        restarts++;
        return h;
      })().finally(() => replacing.delete(slot));
      replacing.set(slot, p);
    }
    return p;
  };
  const runOn = async (slot: number, ...args: Parameters<WorkerHandle["run"]>) => {
    const h = handles[slot]!;
    if (h.alive) {
      const r = await h.run(...args);
      if (h.alive) return r;
    }
    if (closed) throw new EngineError("engine_error", "the engine is closed");
    return (await replace(slot)).run(...args);
  };
  const executors: Executor<Item, EngineResult>[] = handles.map((_, slot) => async (batch) => {
    const groups = new Map<readonly number[] | null, Map<string, number[]>>();
    batch.forEach((b, i) => {
      const byOptions = groups.get(b.promptIds) ?? new Map<string, number[]>();
      groups.set(b.promptIds, byOptions);
      const key = `${b.wordTimestamps}|${b.interim}|${b.temperature}`;
      byOptions.set(key, [...(byOptions.get(key) ?? []), i]);
    });
    const out: Awaited<ReturnType<Executor<Item, EngineResult>>> = new Array(batch.length);
    for (const [prompt, byOptions] of groups) {
      for (const idx of byOptions.values()) {
        const items = idx.map((i) => batch[i]!);
        const first = items[0]!;
        const promptLength = (prompt && prompt.length > 0 ? prompt.length + 1 : 0) + sotLength + 1;
        const longestPrefix = Math.max(0, ...items.map((b) => b.prefix?.length ?? 0));
        // Interims get a token budget in proportion to their audio (about 4
        // tokens per second of speech is generous), so a looping hypothesis
        // stops early instead of burning the engine.
        const seconds = Math.max(...items.map((b) => b.audio.length)) / 16000;
        const budget = first.interim ? Math.min(decode.maxNewTokens, Math.ceil(seconds * 6) + 8) : decode.maxNewTokens;
        const { outcomes, ms } = await runOn(
          slot,
          items.map((b) => b.audio),
          items.map((b) => b.language),
          items.map((b) => b.prefix),
          {
            ...decode,
            promptIds: prompt,
            maxNewTokens: Math.max(1, Math.min(budget, MAX_LENGTH - promptLength - longestPrefix)),
            temperature: first.temperature,
            wordTimestamps: first.wordTimestamps,
            shortWindow: first.interim && c.interimWindow === "trimmed",
          },
        );
        outcomes.forEach((o, k) => {
          const item = items[k]!;
          out[idx[k]!] = o.ok
            ? { ok: true as const, value: toResult(o.result, ms, items.length, item.audio.length / 16000, pieces) }
            : { ok: false as const, error: fromWire(o.error) };
        });
      }
    }
    return out;
  });
  const pool = new BatchPool<Item, EngineResult>(executors, {
    batchSize: Math.max(1, Math.floor(c.batchSize)),
    batchWaitMs: Math.max(0, c.batchWaitMs),
    maxQueuePerStream: Math.max(1, Math.floor(c.maxQueuePerStream)),
    interimShare: c.interimShare,
  });

  const info: EngineInfo = {
    modelPath,
    device: desc.device,
    computeType: desc.compute_type,
    multilingual: desc.multilingual,
    nMels: desc.n_mels,
    workers,
  };
  let closed = false;

  return {
    info,
    suppressIds,
    promptIds,
    workerModels: ready.map((r) => ({ handle: r.handle, refcount: r.description.refcount, constructed: r.constructed })),
    textOf,
    async transcribe(req: EngineRequest): Promise<EngineResult> {
      validateAudio(req.audio);
      const language = req.language === undefined ? c.language : req.language;
      const prompt = req.prompt === undefined ? configuredPrompt : encodePrompt(req.prompt);
      const interim = req.priority === "interim";
      const temperature = req.temperature ?? 0;
      if (!(temperature >= 0 && temperature <= 2)) throw new EngineError("invalid_argument", "temperature must be in [0, 2]");
      const item: Item = {
        audio: req.audio,
        language: language ? language.toLowerCase() : null,
        promptIds: prompt,
        prefix: req.prefix && req.prefix.length > 0 ? req.prefix.slice(-MAX_PREFIX) : null,
        wordTimestamps: !!req.wordTimestamps,
        interim,
        temperature,
      };
      return pool.submit(item, req.streamKey, interim ? "interim" : "final");
    },
    shedInterims: () => pool.shedInterims(),
    waitingFinals: () => pool.waitingFinals,
    stats(): EngineStats {
      const s = pool.getStats();
      const r = pool.recent();
      return {
        queueDepth: s.queueDepth,
        batches: s.batches,
        utterances: s.dispatched,
        batchSizes: s.batchSizeHistogram,
        queueWaitMs: r.queueWaitMs,
        engineMs: r.batchMs,
      };
    },
    poolStats: () => pool.getStats(),
    workerRestarts: () => restarts,
    killWorkerForTest: (i) => handles[i]?.worker.terminate(),
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await pool.close();
      await Promise.all(handles.map((h) => h.close()));
    },
  };
}

/** Longest forced prefix (tokens): the shim takes up to half of Whisper's 448. */
const MAX_PREFIX = 200;

function toResult(r: NativeResult, ms: number, batchSize: number, seconds: number, pieces: Uint8Array[] | undefined): EngineResult {
  const words =
    r.token_times && pieces
      ? groupWords(
          r.tokens.filter((t) => t < pieces.length).map((t, i) => ({ text: latin(pieces[t]), time: r.token_times![i]! })),
          seconds,
          utf8,
        )
      : undefined;
  return {
    words,
    text: r.text,
    tokens: r.tokens,
    avgLogprob: r.avg_logprob,
    noSpeechProb: r.no_speech_prob,
    language: r.language || "en",
    languageProbability: r.language_probability,
    engineMs: ms,
    batchSize,
  };
}

/**
 * A token's text for word grouping. Bytes of a character split across tokens
 * decode on their own to U+FFFD, so the word text is rebuilt from bytes: each
 * word keeps the raw bytes of its tokens and is decoded once whole.
 */
function latin(bytes: Uint8Array | undefined): string {
  return bytes ? String.fromCharCode(...bytes) : "";
}

function utf8(latinText: string): string {
  return new TextDecoder().decode(Uint8Array.from(latinText, (c) => c.charCodeAt(0)));
}
