/**
 * Turn worker (a Bun Worker thread): computes Smart Turn features through the
 * native shim and runs the ONNX model, so neither blocks the server's event
 * loop. The turns of a batch go through one onnxruntime call (the model's
 * batch dimension is dynamic).
 */
import * as ort from "onnxruntime-node";
import { TURN_FRAMES, TURN_MELS, turnFeatures } from "./features.ts";
import type { TurnOutcome, TurnWorkerRequest, TurnWorkerResponse } from "./protocol.ts";

declare const self: Worker;

let session: ort.InferenceSession | null = null;

function reply(msg: TurnWorkerResponse): void {
  self.postMessage(msg);
}

const message = (e: unknown) => String((e as Error)?.message ?? e);

async function run(audios: Float32Array[]): Promise<{ outcomes: TurnOutcome[]; featureMs: number; modelMs: number }> {
  const t0 = performance.now();
  const outcomes: TurnOutcome[] = audios.map(() => ({ ok: false, message: "not scored" }));
  const rows: number[] = [];
  const size = TURN_MELS * TURN_FRAMES;
  const batch = new Float32Array(audios.length * size);
  audios.forEach((a, i) => {
    try {
      batch.set(turnFeatures(a), rows.length * size);
      rows.push(i);
    } catch (e) {
      outcomes[i] = { ok: false, message: message(e) };
    }
  });
  const t1 = performance.now();
  if (rows.length > 0) {
    const input = new ort.Tensor("float32", batch.subarray(0, rows.length * size), [rows.length, TURN_MELS, TURN_FRAMES]);
    const out = await session!.run({ input_features: input });
    // The head ends in a sigmoid inside the graph: this is already P(complete).
    const probs = out.logits!.data as Float32Array;
    rows.forEach((i, r) => (outcomes[i] = { ok: true, probability: probs[r]! }));
  }
  return { outcomes, featureMs: t1 - t0, modelMs: performance.now() - t1 };
}

self.onmessage = async (ev: MessageEvent<TurnWorkerRequest>) => {
  const msg = ev.data;
  switch (msg.type) {
    case "init":
      try {
        session = await ort.InferenceSession.create(msg.modelPath, {
          intraOpNumThreads: msg.threads,
          interOpNumThreads: 1,
          executionMode: "sequential",
          executionProviders: ["cpu"],
          graphOptimizationLevel: "all",
        });
        reply({ type: "ready" });
      } catch (e) {
        reply({ type: "init_error", message: message(e) });
      }
      return;
    case "run":
      try {
        reply({ type: "result", ...(await run(msg.audios)) });
      } catch (e) {
        const m = message(e);
        reply({ type: "result", outcomes: msg.audios.map(() => ({ ok: false, message: m })), featureMs: 0, modelMs: 0 });
      }
      return;
    case "close":
      await session?.release().catch(() => {});
      session = null;
      reply({ type: "closed" });
      return;
  }
};
