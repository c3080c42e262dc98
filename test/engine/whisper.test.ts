/** createWhisperEngine end to end: workers, shared model, batching across streams, errors. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import { createWhisperEngine, type WhisperEngine } from "../../src/engine/whisper.ts";
import { JFK_TEXT, SHARED_AUDIO, decodeToPcm16, normalizeText, speak, toFloat } from "../support/audio.ts";

const TINY = path.resolve(import.meta.dir, "../../models/tiny.en");

let engine: WhisperEngine;
let jfk: Float32Array;
let sentences: Float32Array[];

beforeAll(async () => {
  engine = await createWhisperEngine({ modelPath: TINY, device: "cpu", maxWorkers: 2, cpuThreads: 1, batchSize: 8 });
  jfk = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/jfk_16k.wav`));
  sentences = [
    toFloat(await speak("Please turn on the lights in the kitchen.")),
    toFloat(await speak("The meeting has been moved to Thursday afternoon.", "en-gb")),
    toFloat(await speak("Set a timer for twelve minutes.")),
  ];
});
afterAll(async () => {
  await engine?.close();
});

describe("whisper engine", () => {
  test("info and two workers sharing one model", () => {
    expect(engine.info).toMatchObject({ modelPath: TINY, device: "cpu", multilingual: false, nMels: 80, workers: 2 });
    expect(engine.info.computeType).toStartWith("int8");
    const [a, b] = engine.workerModels;
    expect(a!.handle).toBe(b!.handle);
    expect(b!.refcount).toBe(a!.refcount + 1);
    expect(b!.constructed).toBe(a!.constructed); // the second worker's load built nothing
  });

  test("tiny.en transcribes jfk", async () => {
    const r = await engine.transcribe({ audio: jfk, streamKey: "jfk" });
    expect(normalizeText(r.text)).toBe(JFK_TEXT);
    expect(r).toMatchObject({ language: "en", languageProbability: 1, batchSize: 1 });
    expect(r.engineMs).toBeGreaterThan(0);
    expect(r.tokens.length).toBeGreaterThan(10);
  });

  test("utterances from several streams are batched; each gets its own text, same as alone, in order", async () => {
    const alone = [];
    for (const s of sentences) alone.push(await engine.transcribe({ audio: s, streamKey: "solo" }));
    const before = engine.stats().batches;
    // 2 workers: the first two go out alone, the rest wait and share a batch.
    const reqs = [jfk, ...sentences, ...sentences].map((audio, i) => engine.transcribe({ audio, streamKey: `s${i % 4}` }));
    const out = await Promise.all(reqs);
    expect(normalizeText(out[0]!.text)).toBe(JFK_TEXT);
    for (let i = 0; i < 3; i++) {
      expect(out[1 + i]!.tokens).toEqual(alone[i]!.tokens);
      expect(out[4 + i]!.tokens).toEqual(alone[i]!.tokens);
    }
    expect(normalizeText(out[1]!.text)).toContain("kitchen");
    expect(Math.max(...out.map((r) => r.batchSize))).toBeGreaterThan(1);
    const st = engine.stats();
    expect(st.batches - before).toBeLessThan(7);
    expect(st.utterances).toBeGreaterThanOrEqual(10);
    expect(Object.keys(st.batchSizes).length).toBeGreaterThan(1);
  });

  test("a per-request prompt conditions only its own utterance, also inside a shared batch", async () => {
    const hot = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/hotwords.mp3`));
    const alonePrompted = await engine.transcribe({ audio: hot, prompt: "ComfyUI" });
    const alonePlain = await engine.transcribe({ audio: hot });
    expect(alonePrompted.text).toContain("ComfyUI");
    expect(alonePlain.text).not.toContain("ComfyUI");
    // Keep both workers busy so the rest queue up and are dispatched together.
    const busy = [engine.transcribe({ audio: jfk, streamKey: "b1" }), engine.transcribe({ audio: jfk, streamKey: "b2" })];
    const mixed = await Promise.all([
      engine.transcribe({ audio: hot, prompt: "ComfyUI", streamKey: "p1" }),
      engine.transcribe({ audio: hot, streamKey: "p2" }),
      engine.transcribe({ audio: hot, prompt: null, streamKey: "p3" }),
      ...busy,
    ]);
    expect(mixed[0]!.tokens).toEqual(alonePrompted.tokens);
    expect(mixed[1]!.tokens).toEqual(alonePlain.tokens);
    expect(mixed[2]!.tokens).toEqual(alonePlain.tokens);
  });

  test("per-stream order and queue_full", async () => {
    const small = await createWhisperEngine({ modelPath: TINY, device: "cpu", maxWorkers: 1, cpuThreads: 1, batchSize: 2, maxQueuePerStream: 2 });
    try {
      const done: number[] = [];
      const ps = [0, 1, 2].map((i) => small.transcribe({ audio: sentences[i]!, streamKey: "one" }).then((r) => (done.push(i), r)));
      const refused = small.transcribe({ audio: jfk, streamKey: "one" });
      await expect(refused).rejects.toMatchObject({ code: "queue_full" });
      const rs = await Promise.all(ps);
      expect(done).toEqual([0, 1, 2]);
      expect(normalizeText(rs[2]!.text)).toContain("timer");
      expect(small.poolStats().rejected).toBe(1);
    } finally {
      await small.close();
    }
  });

  test("bad requests are rejected with a code and do not disturb others", async () => {
    const nan = sentences[0]!.slice();
    nan[100] = NaN;
    const bad = engine.transcribe({ audio: nan, streamKey: "bad" });
    const empty = engine.transcribe({ audio: new Float32Array(0), streamKey: "bad" });
    const good = engine.transcribe({ audio: sentences[2]!, streamKey: "good" });
    await expect(bad).rejects.toMatchObject({ code: "invalid_audio" });
    await expect(empty).rejects.toMatchObject({ code: "invalid_audio" });
    expect(normalizeText((await good).text)).toContain("timer");
    // English-only models ignore the language they are given.
    const e = await createWhisperEngine({ modelPath: path.resolve(import.meta.dir, "../../models/tiny.en"), device: "cpu", cpuThreads: 1 });
    try {
      const r = await e.transcribe({ audio: sentences[0]!, language: "de" }); // English-only: language ignored
      expect(r.language).toBe("en");
    } finally {
      await e.close();
    }
  });

  test("model errors surface as codes from createWhisperEngine", async () => {
    await expect(createWhisperEngine({ modelPath: "/nonexistent/model", device: "cpu" })).rejects.toMatchObject({ code: "model_not_found" });
    await expect(createWhisperEngine({ modelPath: TINY, device: "cpu", computeType: "int3" })).rejects.toMatchObject({ code: "invalid_argument" });
  });

  test("initialPrompt is encoded and placed after <|startofprev|>", async () => {
    const e = await createWhisperEngine({ modelPath: TINY, device: "cpu", cpuThreads: 1, initialPrompt: "Kennedy speech." });
    try {
      expect(e.promptIds).toEqual([10401, 4046, 13]) // tokenizers: encode(" Kennedy speech.");
      const r = await e.transcribe({ audio: jfk });
      expect(normalizeText(r.text)).toBe(JFK_TEXT);
    } finally {
      await e.close();
    }
  });
});
