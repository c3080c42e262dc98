import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Segmenter } from "../../src/session/segmenter.ts";
import { SmartTurnDetector } from "../../src/turns/detector.ts";
import { SileroVad, VAD_FRAME, newVadState } from "../../src/vad/silero.ts";
import { SHARED_AUDIO, concat, decodeToPcm16, silence, speak, speakSsml, toFloat } from "../support/audio.ts";

/**
 * The real model (Smart Turn v3.2 int8, scripts/fetch-smart-turn.sh) on real
 * speech, at the pauses the real VAD and the segmenter's turn hook find.
 * Pipecat's own wrapper gives on jfk_16k.wav: 0.96 after "Americans,", 0.015
 * after "ask not", 0.83 at the end (issue 18); matching those proves the
 * features are the ones the model was trained on.
 */

let detector: SmartTurnDetector;
let vad: SileroVad;
beforeAll(async () => {
  detector = await SmartTurnDetector.load();
  vad = await SileroVad.load();
});
afterAll(async () => {
  await detector.close();
  await vad.close();
});

interface Pause {
  /** Where speech stopped, seconds. */
  speechEnd: number;
  probability: number;
}

/** Streams audio through Silero and a turn-mode segmenter; scores the turn so far at every pause signal. */
async function pausesOf(audio: Float32Array): Promise<Pause[]> {
  const frames: Float32Array[] = [];
  for (let i = 0; i + VAD_FRAME <= audio.length; i += VAD_FRAME) frames.push(audio.subarray(i, i + VAD_FRAME));
  const probs = await vad.score(newVadState(), frames);
  const seg = new Segmenter({
    sampleRate: 16000,
    frameSize: VAD_FRAME,
    threshold: 0.5,
    silenceDuration: 3,
    minSpeechDuration: 0.25,
    speechPad: 0.2,
    maxSegmentDuration: 25,
    pauseDuration: 0.2,
  });
  const out: Pause[] = [];
  for (const p of probs) {
    seg.push(p);
    const sig = seg.signal;
    if (sig?.kind === "pause") {
      out.push({ speechEnd: sig.speechEnd / 16000, probability: await detector.score("t", audio.subarray(seg.openStart, sig.at)) });
    }
  }
  return out;
}

describe("Smart Turn v3.2 on real speech", () => {
  test("JFK: complete after 'Americans,' and at the end, incomplete after 'ask not' and 'for you,'", async () => {
    const jfk = toFloat(concat(await decodeToPcm16(`${SHARED_AUDIO}/jfk_16k.wav`), silence(1)));
    const pauses = await pausesOf(jfk);
    console.log(pauses.map((p) => `${p.speechEnd.toFixed(2)} s: ${p.probability.toFixed(3)}`).join(", "));
    const at = (from: number, to: number) => pauses.filter((p) => p.speechEnd >= from && p.speechEnd < to);
    const americans = at(2.0, 2.6);
    const askNot = at(3.5, 4.6);
    const forYou = at(6.9, 7.8);
    const end = at(10, 11);
    expect(americans).toHaveLength(1);
    expect(askNot.length).toBeGreaterThanOrEqual(1);
    expect(forYou).toHaveLength(1);
    expect(end).toHaveLength(1);
    expect(pauses).toHaveLength(americans.length + askNot.length + forYou.length + end.length);
    expect(americans[0]!.probability).toBeGreaterThan(0.88); // Pipecat: 0.96
    for (const p of askNot) expect(p.probability).toBeLessThan(0.06); // Pipecat: 0.015
    expect(forYou[0]!.probability).toBeLessThan(0.06);
    expect(end[0]!.probability).toBeGreaterThan(0.75); // Pipecat: 0.83
    // At eot_threshold 0.7 the sentence is two turns, not the four pauses silence would make.
    expect(pauses.filter((p) => p.probability >= 0.7)).toHaveLength(2);
  });

  // espeak-ng's flat prosody leaves many synthetic sentences ambiguous to a
  // model trained on people (bench:turns measures that); this question in
  // this voice scores 0.85-0.94 wherever the pause is cut within ±64 ms on
  // CPUs with AVX-512, and 0.79 on one with AVX2 only (the int8 model's
  // kernels differ), so the test asks what a stream depends on: at or above
  // the default turn.eot_threshold (0.7), the turn ends at this pause.
  test("a short complete question scores high; a sentence trailing off into 'uh' and a pause scores low there", async () => {
    const question = toFloat(concat(silence(0.5), await speak("How are you today?", "en-gb"), silence(1)));
    const [done] = await pausesOf(question);
    expect(done!.probability).toBeGreaterThanOrEqual(0.7);
    const hesitant = toFloat(concat(silence(0.5), await speakSsml('<speak>I would like to book a flight to <prosody rate="slow">uh</prosody> <break time="1s"/> Boston.</speak>', "en-gb"), silence(1)));
    const pauses = await pausesOf(hesitant);
    console.log(`complete ${done!.probability.toFixed(3)}; hesitant ${pauses.map((p) => p.probability.toFixed(3)).join(", ")}`);
    expect(pauses.length).toBeGreaterThanOrEqual(2);
    expect(pauses[0]!.probability).toBeLessThan(0.3);
  });
});

describe("SmartTurnDetector", () => {
  test("with maxBatch > 1, streams pausing at once share a model run and get the same answers as alone", async () => {
    const batched = await SmartTurnDetector.load({ maxBatch: 8 });
    const jfk = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/jfk_16k.wav`));
    const cuts = [2.45, 4.55, 7.45, 11].map((s) => jfk.subarray(0, Math.round(s * 16000)));
    const alone: number[] = [];
    for (const c of cuts) alone.push(await batched.score("solo", c));
    const runs = batched.stats.runs;
    const together = await Promise.all(cuts.map((c, i) => batched.score(`s${i}`, c)));
    await batched.close();
    // The first goes at once; the three that wait for it go in one run.
    expect(batched.stats.runs - runs).toBe(2);
    together.forEach((p, i) => expect(p).toBeCloseTo(alone[i]!, 4));
  });

  test("by default (maxBatch 1) waiting streams are scored one run each, in order", async () => {
    const jfk = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/jfk_16k.wav`));
    const runs = detector.stats.runs;
    const order: number[] = [];
    await Promise.all([0, 1, 2].map((i) => detector.score(`o${i}`, jfk.subarray(0, 32000 * (i + 1))).then(() => order.push(i))));
    expect(detector.stats.runs - runs).toBe(3);
    expect(order).toEqual([0, 1, 2]);
  });

  test("a stream asking again before its request reached the model gets the newer audio's answer twice", async () => {
    const jfk = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/jfk_16k.wav`));
    const complete = jfk.subarray(0, Math.round(2.45 * 16000));
    const incomplete = jfk.subarray(0, Math.round(4.55 * 16000));
    const busy = detector.score("other", jfk); // occupies the worker
    const older = detector.score("same", complete);
    const newer = detector.score("same", incomplete);
    const [a, b] = await Promise.all([older, newer, busy]);
    expect(a).toBe(b!);
    expect(b!).toBeCloseTo(await detector.score("check", incomplete), 5);
    expect(b!).toBeLessThan(0.1);
  });

  test("a missing model file is a clear error naming the script that installs it", async () => {
    await expect(SmartTurnDetector.load({ modelPath: "/nonexistent/smart-turn.onnx" })).rejects.toThrow(/fetch-smart-turn\.sh/);
  });

  test("a closed detector refuses work", async () => {
    const d = await SmartTurnDetector.load();
    await d.close();
    await expect(d.score("x", new Float32Array(16000))).rejects.toThrow(/closed/);
  });
});
