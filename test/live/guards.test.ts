/** Hallucination guards: faster-whisper's rules, the retry at higher temperatures, and the counts. */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import path from "node:path";
import { resolveConfig } from "../../src/config/load.ts";
import { createWhisperEngine, type WhisperEngine } from "../../src/engine/whisper.ts";
import type { EngineRequest, EngineResult, SpeechEngine } from "../../src/engine/types.ts";
import { compressionRatio, judge, newGuardCounters, transcribeGuarded } from "../../src/session/guards.ts";

setDefaultTimeout(120_000);

const G = resolveConfig({}).config.guards;

/** A scripted engine for the guard logic alone (this file's unit tests only). */
class Scripted implements SpeechEngine {
  readonly requests: EngineRequest[] = [];
  readonly info = { modelPath: "(test)", device: "cpu" as const, computeType: "none", multilingual: false, nMels: 80, workers: 1 };
  constructor(private readonly texts: string[]) {}
  async transcribe(req: EngineRequest): Promise<EngineResult> {
    this.requests.push(req);
    const text = this.texts[Math.min(this.requests.length - 1, this.texts.length - 1)]!;
    return { text, tokens: [1, 2, 3], avgLogprob: -0.2, noSpeechProb: 0.1, language: "en", languageProbability: 1, engineMs: 1, batchSize: 1 };
  }
  textOf(tokens: readonly number[]): string {
    return tokens.map((t) => ` t${t}`).join("");
  }
  async close(): Promise<void> {}
}

const LOOP = "ask not to ".repeat(20).trim();

describe("guards (rules)", () => {
  test("defaults are faster-whisper's", () => {
    expect(G).toEqual({ no_speech_threshold: 0.6, log_prob_threshold: -1, compression_ratio_threshold: 2.4, temperature_fallback: [0.2, 0.4, 0.6, 0.8, 1] });

  });

  test("no speech needs both a high no_speech_prob and a low avg_logprob", () => {
    const r = (noSpeechProb: number, avgLogprob: number, text = "hello there") =>
      ({ text, tokens: [], avgLogprob, noSpeechProb, language: "en", languageProbability: 1, engineMs: 0, batchSize: 1 }) as EngineResult;
    expect(judge(r(0.9, -1.3), G)).toBe("no_speech");
    expect(judge(r(0.9, -0.5), G)).toBeNull();
    expect(judge(r(0.3, -1.3), G)).toBeNull();
    expect(compressionRatio(LOOP)).toBeGreaterThan(2.4);
    expect(compressionRatio("And so my fellow Americans, ask not what your country can do for you.")).toBeLessThan(2.4);
    expect(judge(r(0.1, -0.2, LOOP), G)).toBe("repetition");
  });

  test("a repetition is retried alone at each fallback temperature, then dropped and counted", async () => {
    const engine = new Scripted([LOOP]);
    const counters = newGuardCounters();
    const g = await transcribeGuarded(engine, { audio: new Float32Array(16000), streamKey: "s" }, G, counters);
    expect(g.ok).toBe(false);
    expect(engine.requests.map((r) => r.temperature ?? 0)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(engine.requests.slice(1).every((r) => r.streamKey === undefined)).toBe(true);
    expect(counters.retries).toBe(5);
    expect(counters.dropped.get("repetition")).toBe(1);
  });

  test("a retry that stops repeating is kept", async () => {
    const engine = new Scripted([LOOP, LOOP, "ask not what your country can do"]);
    const counters = newGuardCounters();
    const g = await transcribeGuarded(engine, { audio: new Float32Array(16000) }, G, counters);
    expect(g).toMatchObject({ ok: true, result: { text: "ask not what your country can do" } });
    expect(counters.retries).toBe(2);
    expect(counters.dropped.size).toBe(0);
  });

  test("committed words are never dropped: a lasting repetition is cut back to them", async () => {
    const engine = new Scripted([LOOP]);
    const g = await transcribeGuarded(engine, { audio: new Float32Array(16000), prefix: [7, 8] }, G, newGuardCounters());
    expect(g).toMatchObject({ ok: true, result: { text: "t7 t8", tokens: [7, 8] } });
  });
});

describe("guards with the real engine (tiny.en float32)", () => {
  let engine: WhisperEngine;
  beforeAll(async () => {
    engine = await createWhisperEngine({ modelPath: path.resolve(import.meta.dir, "../../models/tiny.en"), computeType: "float32" });
  });
  afterAll(() => engine.close());

  test("noise that Whisper hears as \"you\" is dropped as no speech and counted", async () => {
    const seed = 42;
    console.log(`noise seed ${seed}`);
    let x = seed;
    const rnd = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
    const noise = new Float32Array(16000 * 3).map(() => (rnd() * 2 - 1) * 0.05);
    const raw = await engine.transcribe({ audio: noise });
    expect(raw.text.trim().length).toBeGreaterThan(0); // Whisper does hallucinate here ...
    const counters = newGuardCounters();
    const g = await transcribeGuarded(engine, { audio: noise }, G, counters);
    expect(g.ok).toBe(false); // ... and the guard catches it
    expect(counters.dropped.get("no_speech")).toBe(1);
  });
});
