/**
 * The engine seam: everything above this line (sessions, segmenter, delivery)
 * sees speech recognition only through these types.
 */

/** One utterance to transcribe: 16 kHz mono float samples in [-1, 1]. */
export interface EngineRequest {
  audio: Float32Array;
  /** ISO 639-1 code; null lets a multilingual model detect it. Ignored by English-only models. */
  language?: string | null;
  /**
   * Text that conditions decoding (names, vocabulary, previous sentence), as
   * Whisper's prompt. undefined uses the configured initial_prompt; null or ""
   * decodes without one. Utterances with different prompts never share an
   * engine call.
   */
  prompt?: string | null;
  /** Stable key of the stream the utterance came from (fairness and ordering). */
  streamKey?: string;
  /**
   * Text tokens the decoder must start with (faster-whisper's `prefix`): the
   * words a live utterance already committed, so they are never retracted.
   */
  prefix?: readonly number[];
  /** Per-word timings through cross-attention alignment (EngineResult.words). */
  wordTimestamps?: boolean;
  /**
   * "final" (default) results are queued in order and never dropped.
   * "interim" requests are best-effort: dispatched only while no final waits,
   * at most one per stream (a newer one supersedes the waiting one, which
   * rejects with code "superseded"), decoded on a trimmed encoder window.
   */
  priority?: "final" | "interim";
  /** 0 (default) decodes deterministically; > 0 samples (hallucination fallback). */
  temperature?: number;
}

export interface WordTiming {
  word: string;
  /** Seconds from the utterance's first sample. */
  start: number;
  end: number;
  probability: number;
}

export interface EngineResult {
  text: string;
  /** Generated token ids, prompt and end-of-text excluded. */
  tokens: number[];
  avgLogprob: number;
  noSpeechProb: number;
  /** Language used for decoding (given or detected); "en" for English-only models. */
  language: string;
  /** Probability of the detected language; 1 when the language was given. */
  languageProbability: number;
  /** Milliseconds spent in the engine call that produced this result. */
  engineMs: number;
  /** How many utterances shared the engine call. */
  batchSize: number;
  /** Only when word timestamps were asked for. */
  words?: WordTiming[];
  /**
   * Only when word timestamps were asked for: the aligned end (seconds from
   * the utterance's first sample) of each token in `tokens`, same length.
   */
  tokenEnds?: number[];
  /** Only when word timestamps were asked for: each token's probability, same length as `tokens`. */
  tokenProbs?: number[];
}

export interface SpeechEngine {
  /** Resolves with the transcript of one utterance; batching happens behind this call. */
  transcribe(request: EngineRequest): Promise<EngineResult>;
  /** Static facts about the loaded model. */
  readonly info: EngineInfo;
  /** Drops the stream's interim request still waiting for the engine (it rejects as superseded). */
  withdrawInterim?(streamKey: string): void;
  /**
   * The stream's final is due within `withinMs` (its speech ended; the VAD is
   * counting the silence); <= 0 withdraws that. Lets the engine keep an
   * executor free for it instead of starting an interim there.
   */
  expectFinal?(streamKey: string, withinMs: number): void;
  /** Final requests waiting for the engine now; cheap enough to ask per interim. */
  waitingFinals?(): number;
  /** Text of token ids as the engine decodes them (for committed prefixes). */
  textOf(tokens: readonly number[]): string;
  close(): Promise<void>;
  /** Batching and queue figures since start (for metrics and benchmarks). */
  stats?(): EngineStats;
}

export interface EngineStats {
  /** Utterances waiting for a worker now. */
  queueDepth: number;
  /** Engine calls made, and utterances they carried. */
  batches: number;
  utterances: number;
  /** batchSizes[k] = number of engine calls that carried k utterances. */
  batchSizes: Record<number, number>;
  /** Milliseconds each utterance waited in the queue (recent window). */
  queueWaitMs: number[];
  /** Milliseconds each engine call took (recent window). */
  engineMs: number[];
}

export interface EngineInfo {
  modelPath: string;
  device: "cpu" | "cuda";
  computeType: string;
  multilingual: boolean;
  nMels: number;
  workers: number;
}
