/**
 * The Whisper engine: a pool of Bun workers sharing one natively loaded
 * CTranslate2 model, with cross-client dynamic batching (see pool.ts) and
 * faster-whisper-compatible decoding (see docs/engine.md).
 */
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { DEFAULT_MALLOC_TUNING, tuneNativeMalloc, type MallocTuning } from "../../ffi/malloc.ts";
import { cudaDeviceCount, type ModelDescription } from "../../ffi/sttwhisper.ts";
import { EngineError, validateAudio } from "./errors.ts";
import { slotExecutor, type ExecutorContext, type Item } from "./executor.ts";
import { BatchPool, type PoolStats } from "./pool.ts";
import { promptEncoder } from "./prompts.ts";
import { engineShape } from "./shape.ts";
import { BpeTokenizer } from "./tokenizer.ts";
import type { EngineInfo, EngineRequest, EngineResult, EngineStats, SpeechEngine } from "./types.ts";
import { WorkerSet } from "./workers.ts";

export { EngineError } from "./errors.ts";
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
  /** glibc malloc policy for the native engine (ffi/malloc.ts); process-wide, the first engine's wins. */
  nativeMemory: MallocTuning;
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
  nativeMemory: DEFAULT_MALLOC_TUNING,
};

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
  const { workers: count, threads: intraThreads } = engineShape({ workers: c.maxWorkers, threads: c.cpuThreads, cuda, cores });
  if (c.beamSize < 1) throw new EngineError("invalid_argument", "beamSize must be >= 1");
  if (c.maxNewTokens < 1) throw new EngineError("invalid_argument", "maxNewTokens must be >= 1");

  // Suppress list and prompt need the tokenizer; without tokenizer.json fall back to
  // the model's config.json suppress_ids (equal for the OpenAI checkpoints) and no prompt.
  const tokenizer = existsSync(path.join(modelPath, "tokenizer.json")) ? BpeTokenizer.fromModelDir(modelPath) : null;
  const suppressIds = tokenizer ? tokenizer.suppressTokens() : [];
  const encodePrompt = promptEncoder(tokenizer, modelPath);
  const configuredPrompt = encodePrompt(c.initialPrompt);

  // Before the workers and CTranslate2's threads exist: see ffi/malloc.ts.
  const memory = tuneNativeMalloc(c.nativeMemory);
  const workers = await WorkerSet.start(count, {
    modelDir: modelPath,
    device: c.device,
    computeType: c.computeType,
    deviceIndex: c.deviceIndex,
    intraThreads,
    interThreads: count,
  });
  // Loading leaves freed conversion buffers in the heap (no block is mapped on its own).
  if (memory.trimWhenIdle) workers.idle(0);
  const desc: ModelDescription = workers.ready[0]!.description;
  const ctx: ExecutorContext = {
    workers,
    decode: {
      task: c.task,
      beamSize: Math.floor(c.beamSize),
      maxNewTokens: Math.floor(c.maxNewTokens),
      promptIds: null, // per call, from its items
      suppressIds: suppressIds.length ? suppressIds : null,
      temperature: 0,
      wordTimestamps: false,
      shortWindow: false,
    },
    sotLength: desc.multilingual ? 3 : 1,
    shortInterimWindow: c.interimWindow === "trimmed",
    pieces: tokenizer?.tokenBytes(),
  };
  const pool = new BatchPool<Item, EngineResult>(
    Array.from({ length: count }, (_, slot) => slotExecutor(ctx, slot)),
    {
      batchSize: Math.max(1, Math.floor(c.batchSize)),
      batchWaitMs: Math.max(0, c.batchWaitMs),
      maxQueuePerStream: Math.max(1, Math.floor(c.maxQueuePerStream)),
      interimShare: c.interimShare,
      // Free native memory goes back to the OS only once no worker has had
      // anything to do for a while, never between the batches of a busy
      // engine (malloc_trim covers the whole process, so one worker does it).
      onIdle: memory.trimWhenIdle ? (slot) => workers.idle(slot) : undefined,
      idleDelayMs: memory.trimAfterIdleMs ?? 0,
    },
  );

  const info: EngineInfo = {
    modelPath,
    device: desc.device,
    computeType: desc.compute_type,
    multilingual: desc.multilingual,
    nMels: desc.n_mels,
    workers: count,
  };
  let closed = false;

  return {
    info,
    suppressIds,
    promptIds: configuredPrompt ?? [],
    workerModels: workers.ready.map((r) => ({ handle: r.handle, refcount: r.description.refcount, constructed: r.constructed })),
    textOf: (ids) => (tokenizer ? tokenizer.decode(ids) : ""),
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
    withdrawInterim: (key) => void pool.withdrawInterim(key),
    expectFinal: (key, ms) => pool.expectFinal(key, ms),
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
    workerRestarts: () => workers.restartCount,
    killWorkerForTest: (i) => workers.kill(i),
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await pool.close();
      await workers.close();
    },
  };
}

/** Longest forced prefix (tokens): the shim takes up to half of Whisper's 448. */
const MAX_PREFIX = 200;
