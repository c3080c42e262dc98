import type { Config } from "../config/schema.ts";
import type { SpeechEngine } from "../engine/types.ts";
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
