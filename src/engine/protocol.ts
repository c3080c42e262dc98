/** Messages between the engine pool (main thread) and its workers. */
import type { LoadOptions, ModelDescription, NativeResult } from "../../ffi/sttwhisper.ts";

export interface WireError {
  code: string;
  status: number;
  message: string;
}

export interface DecodeOptions {
  task: "transcribe" | "translate";
  beamSize: number;
  maxNewTokens: number;
  promptIds: readonly number[] | null;
  suppressIds: number[] | null;
  temperature: number;
  wordTimestamps: boolean;
  shortWindow: boolean;
}

export type WorkerRequest =
  | { type: "init"; load: LoadOptions }
  | {
      type: "run";
      id: number;
      audios: Float32Array[];
      languages: (string | null)[];
      prefixes: (readonly number[] | null)[];
      options: DecodeOptions;
    }
  | { type: "idle" }
  | { type: "close" };

export type ItemOutcome = { ok: true; result: NativeResult } | { ok: false; error: WireError };

export type WorkerResponse =
  | { type: "ready"; description: ModelDescription; handle: number; constructed: number }
  | { type: "init_error"; error: WireError }
  | { type: "result"; id: number; results: ItemOutcome[]; ms: number }
  | { type: "run_error"; id: number; error: WireError }
  | { type: "closed" };
