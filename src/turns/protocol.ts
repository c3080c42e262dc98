/** Messages between the turn detector (main thread) and its worker. */

export type TurnWorkerRequest =
  | { type: "init"; modelPath: string; threads: number }
  | { type: "run"; audios: Float32Array[] }
  | { type: "close" };

/** One turn's outcome: its P(complete), or why it could not be scored. */
export type TurnOutcome = { ok: true; probability: number } | { ok: false; message: string };

export type TurnWorkerResponse =
  | { type: "ready" }
  | { type: "init_error"; message: string }
  | { type: "result"; outcomes: TurnOutcome[]; featureMs: number; modelMs: number }
  | { type: "closed" };
