/**
 * A dead engine worker is replaced and the batch it held runs again on the
 * replacement; when the replacement dies too, the job fails with an error
 * instead of waiting forever. Real engine (tiny.en), workers killed with
 * Worker.terminate() through the engine's test hook.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import path from "node:path";
import { createWhisperEngine, type WhisperEngine } from "../../src/engine/whisper.ts";
import { SHARED_AUDIO, decodeToPcm16, toFloat } from "../support/audio.ts";
import { waitFor } from "../support/harness.ts";

// Loading the model and a reference transcript on a shared 2-core machine can pass bun's 5 s default.
setDefaultTimeout(60_000);

const TINY = path.resolve(import.meta.dir, "../../models/tiny.en");
let engine: WhisperEngine;
let jfk: Float32Array;
let reference: string;

beforeAll(async () => {
  engine = await createWhisperEngine({ modelPath: TINY, device: "cpu", computeType: "float32", maxWorkers: 1, batchSize: 4 });
  jfk = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/jfk_16k.wav`));
  reference = (await engine.transcribe({ audio: jfk, streamKey: "ref" })).text;
});

afterAll(async () => {
  await engine?.close();
});

/** Resolves once the pool has handed a batch to the (only) worker. */
const busy = () => waitFor(() => engine.poolStats().busyExecutors === 1, 5000, "a busy worker");

describe("engine worker lifecycle", () => {
  test("a worker killed mid-job is replaced and the job is answered from the replacement", async () => {
    const job = engine.transcribe({ audio: jfk, streamKey: "a" });
    await busy();
    engine.killWorkerForTest(0);
    const r = await job;
    expect(r.text).toBe(reference);
    expect(engine.workerRestarts()).toBe(1);
    // The new worker serves later jobs too.
    expect((await engine.transcribe({ audio: jfk, streamKey: "b" })).text).toBe(reference);
  }, 60_000);

  test("a job whose retry dies too fails with engine_error (never lost silently); the engine recovers", async () => {
    const before = engine.workerRestarts();
    const job = engine.transcribe({ audio: jfk, streamKey: "c" });
    const outcome = job.then(
      () => null,
      (e: Error & { code?: string }) => e,
    );
    await busy();
    engine.killWorkerForTest(0);
    await waitFor(() => engine.workerRestarts() === before + 1, 30_000, "first replacement");
    engine.killWorkerForTest(0); // the retry was just handed to the replacement
    const err = await outcome;
    expect(err?.code).toBe("engine_error");
    expect(err?.message).toContain("engine worker exited");
    // A later job gets a fresh worker.
    expect((await engine.transcribe({ audio: jfk, streamKey: "d" })).text).toBe(reference);
    expect(engine.workerRestarts()).toBe(before + 2);
  }, 60_000);
});
