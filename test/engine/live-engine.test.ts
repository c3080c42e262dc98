/** The engine's live-result features with the real model (tiny.en float32): prefix, word timings, interims. */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import path from "node:path";
import { createWhisperEngine, type WhisperEngine } from "../../src/engine/whisper.ts";
import { JFK_TEXT, SHARED_AUDIO, decodeToPcm16, normalizeText, toFloat } from "../support/audio.ts";

setDefaultTimeout(120_000);
const TINY = path.resolve(import.meta.dir, "../../models/tiny.en");

let engine: WhisperEngine;
let jfk: Float32Array;
beforeAll(async () => {
  // One executor: the ordering test below needs a final to hold it while interims wait.
  engine = await createWhisperEngine({ modelPath: TINY, computeType: "float32", maxWorkers: 1 });
  jfk = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/jfk_16k.wav`));
});
afterAll(() => engine.close());

describe("engine: live-result features", () => {
  test("word timings: ordered, inside the audio, joined they are the text", async () => {
    const r = await engine.transcribe({ audio: jfk, wordTimestamps: true });
    expect(normalizeText(r.text)).toBe(JFK_TEXT);
    const words = r.words!;
    expect(words.map((w) => w.word).join(" ")).toBe(r.text);
    const duration = jfk.length / 16000;
    let prevEnd = 0;
    for (const w of words) {
      expect(w.start).toBeGreaterThanOrEqual(prevEnd - 1e-9);
      expect(w.end).toBeGreaterThanOrEqual(w.start);
      expect(w.end).toBeLessThanOrEqual(duration);
      expect(w.probability).toBeGreaterThan(0);
      expect(w.probability).toBeLessThanOrEqual(1);
      prevEnd = w.end;
    }
    // "country." is the last word and JFK says it near the end of the clip.
    expect(words.at(-1)!.word).toBe("country.");
    expect(words.at(-1)!.end).toBeGreaterThan(duration - 1.5);
    // Without the flag there are no words and the text is the same.
    const plain = await engine.transcribe({ audio: jfk });
    expect(plain.words).toBeUndefined();
    expect(plain.tokens).toEqual(r.tokens);
  });

  test("a forced prefix starts the result, even one the audio does not support", async () => {
    const base = await engine.transcribe({ audio: jfk });
    const prefix = base.tokens.slice(0, 5);
    const forced = await engine.transcribe({ audio: jfk, prefix });
    expect(forced.tokens.slice(0, 5)).toEqual(prefix);
    expect(forced.text.startsWith(engine.textOf(prefix).trim())).toBe(true);
    expect(normalizeText(forced.text)).toBe(JFK_TEXT);
    // A prefix is obeyed, not checked: committed words are never retracted.
    const odd = [...base.tokens.slice(0, 3)];
    odd.push(...(await engine.transcribe({ audio: jfk.subarray(0, 16000 * 7) })).tokens.slice(-1));
    const r = await engine.transcribe({ audio: jfk, prefix: odd });
    expect(r.tokens.slice(0, odd.length)).toEqual(odd);
  });

  test("interims go after waiting finals, and a newer one supersedes a waiting one", async () => {
    const half = jfk.subarray(0, 16000 * 5);
    const order: string[] = [];
    const note = (name: string) => (r: unknown) => {
      order.push(name);
      return r;
    };
    const running = engine.transcribe({ audio: jfk, streamKey: "s" }).then(note("final-0"));
    const stale = engine.transcribe({ audio: half.subarray(0, 16000 * 3), streamKey: "s", priority: "interim" }).catch((e: { code?: string }) => e.code);
    const interim = engine.transcribe({ audio: half, streamKey: "s", priority: "interim" }).then(note("interim"));
    const final = engine.transcribe({ audio: half, streamKey: "t" }).then(note("final-1"));
    expect(await stale).toBe("superseded");
    const [i, f] = await Promise.all([interim, final, running]);
    expect(order).toEqual(["final-0", "final-1", "interim"]);
    expect(normalizeText((i as { text: string }).text)).toContain("fellow americans");
    expect(normalizeText((f as { text: string }).text)).toContain("fellow americans");
    expect(engine.poolStats().interims.superseded).toBeGreaterThanOrEqual(1);
  });

  test("the trimmed interim window (speech + 3 s) decodes the same phrase as the full one, without looping", async () => {
    const trimmed = await createWhisperEngine({ modelPath: TINY, computeType: "float32", interimWindow: "trimmed" });
    try {
      const seven = jfk.subarray(0, 16000 * 7);
      const full = await engine.transcribe({ audio: seven, priority: "interim" });
      const short = await trimmed.transcribe({ audio: seven, priority: "interim" });
      expect(normalizeText(short.text)).toBe(normalizeText(full.text));
      expect(normalizeText(short.text)).toContain("ask not what your country");
    } finally {
      await trimmed.close();
    }
  });
});
