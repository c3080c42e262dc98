/** Multilingual base model: language detection on the English and German halves of multilingual.mp3. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import path from "node:path";
import * as native from "../../ffi/sttwhisper.ts";
import { createWhisperEngine, type WhisperEngine } from "../../src/engine/whisper.ts";
import { SHARED_AUDIO, decodeToPcm16, normalizeText, toFloat } from "../support/audio.ts";

const BASE = path.resolve(import.meta.dir, "../../models/base");
if (!existsSync(path.join(BASE, "model.bin"))) throw new Error(`multilingual model missing in ${BASE}: run scripts/test-setup.sh`);

// The clip is an English paragraph, a 2 s pause (29.0–31.0 s, ffmpeg silencedetect), then German.
const SPLIT_S = 30;

let engine: WhisperEngine;
let english: Float32Array;
let german: Float32Array;

beforeAll(async () => {
  engine = await createWhisperEngine({ modelPath: BASE, device: "cpu", maxWorkers: 1 });
  const all = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/multilingual.mp3`));
  english = all.slice(0, SPLIT_S * 16000);
  german = all.slice(SPLIT_S * 16000);
});
afterAll(async () => {
  await engine?.close();
});

describe("multilingual base model", () => {
  test("detects en then de, and transcribes each in its language (one batch)", async () => {
    expect(engine.info).toMatchObject({ multilingual: true, nMels: 80 });
    const [en, de] = await Promise.all([
      engine.transcribe({ audio: english, language: null, streamKey: "en" }),
      engine.transcribe({ audio: german, language: null, streamKey: "de" }),
    ]);
    expect(en!.language).toBe("en");
    expect(de!.language).toBe("de");
    expect(en!.languageProbability).toBeGreaterThan(0.9);
    expect(de!.languageProbability).toBeGreaterThan(0.9);
    expect(normalizeText(en!.text)).toContain("permission is hereby granted");
    expect(normalizeText(de!.text)).toContain("software");
    expect(de!.text).toMatch(/die|der|und/);
  });

  test("a given language is used as is, with probability 1", async () => {
    const r = await engine.transcribe({ audio: german.subarray(0, 8 * 16000), language: "de" });
    expect(r).toMatchObject({ language: "de", languageProbability: 1 });
  });

  test("an unknown language code fails only its own request", async () => {
    const bad = engine.transcribe({ audio: german.subarray(0, 16000 * 3), language: "xx", streamKey: "a" });
    const good = engine.transcribe({ audio: english.subarray(0, 16000 * 6), language: "en", streamKey: "b" });
    await expect(bad).rejects.toMatchObject({ code: "invalid_argument", message: expect.stringContaining('unknown language "xx"') });
    expect((await good).language).toBe("en");
  });

  test("an item that names no language is detected on its decode's encoder output: one encoder run, the same answer as a language given", () => {
    const model = native.load({ modelDir: BASE, device: "cpu", computeType: "float32", deviceIndex: 0, intraThreads: 2, interThreads: 1 });
    try {
      const de = german.subarray(0, 8 * 16000);
      const en = english.subarray(0, 6 * 16000);
      const detected = native.transcribe(model, [de, en]);
      expect(detected.encodes).toBe(1);
      expect(detected.results.map((r) => r.language)).toEqual(["de", "en"]);
      for (const r of detected.results) expect(r.language_probability).toBeGreaterThan(0.9);
      // The decode is the one a given language gets, token for token.
      const given = native.transcribe(model, [de, en], { languages: ["de", "en"] });
      expect(given.encodes).toBe(1);
      expect(detected.results.map((r) => r.tokens)).toEqual(given.results.map((r) => r.tokens));
      // Detection agrees with the stand-alone call (a full window of its own).
      expect(native.detectLanguage(model, [de, en]).map((d) => d.language)).toEqual(["de", "en"]);
      // With word timings the same one run serves detection, decode and alignment.
      const words = native.transcribe(model, [de], { wordTimestamps: true });
      expect(words.encodes).toBe(1);
      expect(words.results[0]!.language).toBe("de");
      expect(words.results[0]!.token_times!.length).toBeGreaterThan(0);
      // A trimmed interim window is too short to detect on: that item gets a full window of its own first.
      const trimmed = native.transcribe(model, [de], { shortWindow: true });
      expect(trimmed.encodes).toBe(2);
      expect(trimmed.results[0]!.language).toBe("de");
      // A language given for one item: only the other is detected, in the same run.
      const mixed = native.transcribe(model, [de, en], { languages: [null, "en"] });
      expect(mixed.encodes).toBe(1);
      expect(mixed.results.map((r) => r.language)).toEqual(["de", "en"]);
      expect(mixed.results[1]!.language_probability).toBe(1);
    } finally {
      native.release(model);
    }
  });

  test("translate task gives English text for German speech", async () => {
    const t = await createWhisperEngine({ modelPath: BASE, device: "cpu", task: "translate" });
    try {
      const r = await t.transcribe({ audio: german.subarray(0, 12 * 16000), language: "de" });
      expect(normalizeText(r.text)).toMatch(/software|permission|free/);
    } finally {
      await t.close();
    }
  });
});
