/** Multilingual base model: language detection on the English and German halves of multilingual.mp3. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import path from "node:path";
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
