import type { Config } from "../config/schema.ts";
import type { EngineInfo, SpeechEngine } from "../engine/types.ts";
import { modelLanguages } from "../http/languages.ts";
import type { PoolStats } from "../engine/pool.ts";

/** The engine the server runs on; `owned` when the server built it and so closes it on stop. */
export async function openEngine(config: Config, given?: SpeechEngine): Promise<{ engine: SpeechEngine; owned: boolean }> {
  if (given) return { engine: given, owned: false };
  // Loaded lazily: embedders passing their own engine never load the native library.
  const { createWhisperEngine } = await import("../engine/whisper.ts");
  return { engine: await createWhisperEngine(engineConfigFrom(config)), owned: true };
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
    interimWindow: c.interim_window,
  };
}

/** Executor figures of a worker-pool engine, when it is one. */
export function poolStatsOf(engine: SpeechEngine | null): PoolStats | null {
  return (engine as { poolStats?: () => PoolStats } | null)?.poolStats?.() ?? null;
}

/**
 * Why the configured `language` cannot be used with the loaded model (an
 * English-only model asked for "de", a code the vocabulary lacks), or null.
 * Checked at start: otherwise every utterance would fail, or be decoded in
 * the wrong language, long after the operator has walked away.
 */
export function languageProblem(language: string | null, info: EngineInfo): string | null {
  if (language === null) return null;
  const code = language.toLowerCase();
  const known = modelLanguages(info);
  if (!known || known.has(code)) return null;
  return info.multilingual
    ? `language "${language}" is not one the model at ${info.modelPath} knows; use an ISO 639-1 code from its vocabulary or null to detect`
    : `language "${language}" cannot be used: the model at ${info.modelPath} is English-only; set language to "en" or null, or use a multilingual model`;
}
