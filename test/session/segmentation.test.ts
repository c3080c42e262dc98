import { beforeAll, describe, expect, test } from "bun:test";
import { Session, type Utterance } from "../../src/session/session.ts";
import { Segmenter } from "../../src/session/segmenter.ts";
import { SileroVad } from "../../src/vad/silero.ts";
import { SHARED_AUDIO, concat, decodeToPcm16, silence, speak, toFloat } from "../support/audio.ts";
import { rng } from "../../bench/lib/speech.ts";

let vad: SileroVad;
beforeAll(async () => {
  vad = await SileroVad.load();
});

const opts = {
  sampleRate: 16000,
  threshold: 0.5,
  silenceDuration: 0.5,
  minSpeechDuration: 0.25,
  speechPad: 0.2,
  maxSegmentDuration: 25,
  maxBufferedSamples: 16000 * 120,
};

/** Streams PCM through a real session (real Silero) in 100 ms chunks. */
async function segment(pcm: Int16Array, o = opts): Promise<Utterance[]> {
  const out: Utterance[] = [];
  const s = new Session("t", "sock", vad, o, {
    onUtterance: (u) => out.push(u),
    onVadError: (e) => {
      throw e;
    },
  });
  const f = toFloat(pcm);
  for (let i = 0; i < f.length; i += 1600) {
    expect(s.push(f.slice(i, i + 1600))).toBe(true);
    if (i % 16000 === 0) await Bun.sleep(0);
  }
  await s.close();
  return out;
}

describe("segmentation with Silero VAD", () => {
  test("silence and low noise give no utterance", async () => {
    const seed = Number(process.env.NOISE_SEED ?? 20240917);
    console.log(`noise seed ${seed} (set NOISE_SEED to replay)`);
    const random = rng(seed);
    const noise = new Int16Array(16000 * 5).map(() => Math.round((random() - 0.5) * 60));
    expect(await segment(concat(silence(5), noise))).toHaveLength(0);
  });

  test("one sentence between silences gives one padded segment", async () => {
    const speech = await speak("The quick brown fox jumps over the lazy dog.");
    const lead = 1.5;
    const segs = await segment(concat(silence(lead), speech, silence(2)));
    expect(segs).toHaveLength(1);
    const [u] = segs as [Utterance];
    // Padding: the segment starts before the onset and ends after the offset (within pad + a frame).
    expect(u.start).toBeLessThan(lead);
    expect(u.start).toBeGreaterThan(lead - 0.2 - 0.1);
    const speechEnd = lead + speech.length / 16000;
    expect(u.end).toBeGreaterThan(speechEnd - 0.35);
    expect(u.end).toBeLessThanOrEqual(speechEnd + 0.5);
    expect(u.audio.length).toBe(Math.round((u.end - u.start) * 16000));
    expect(u.cut).toBe(false);
  });

  test("real speech (jfk.flac) splits at its pauses and keeps every word region", async () => {
    const pcm = await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`);
    const segs = await segment(concat(pcm, silence(1)));
    expect(segs.length).toBeGreaterThanOrEqual(1);
    // Segments are ordered and non-overlapping.
    for (let i = 1; i < segs.length; i++) expect(segs[i]!.start).toBeGreaterThanOrEqual(segs[i - 1]!.end);
    const covered = segs.reduce((n, s) => n + (s.end - s.start), 0);
    expect(covered).toBeGreaterThan(6); // JFK speaks for ~8 of the 11 s
  });

  test("45 s of speech without a pause is cut into parts that cover all of it", async () => {
    // Keep reading even across espeak's sentence gaps: silence_duration longer than any gap.
    const sentences = [
      "Streaming speech recognition must never throw away what a person said",
      "even when they talk for a very long time without stopping to breathe",
      "so the server cuts long speech at its quietest point and transcribes every part in order",
    ];
    const parts: Int16Array[] = [];
    let total = 0;
    while (total < 45 * 16000) {
      const s = await speak(sentences[parts.length % sentences.length]!, "en-us", 175);
      parts.push(s);
      total += s.length;
    }
    const pcm = concat(silence(0.5), ...parts, silence(2));
    const segs = await segment(pcm, { ...opts, silenceDuration: 1.5, maxSegmentDuration: 10 });
    expect(segs.length).toBeGreaterThanOrEqual(4);
    for (const s of segs) expect(s.end - s.start).toBeLessThanOrEqual(10 + 0.2 + 0.05);
    // Contiguous: each part starts where the previous ended, so nothing is lost.
    for (let i = 1; i < segs.length; i++) expect(segs[i]!.start).toBeCloseTo(segs[i - 1]!.end, 3);
    expect(segs[0]!.start).toBeLessThan(0.6);
    expect(segs.at(-1)!.end).toBeGreaterThan(0.5 + total / 16000 - 0.5);
    expect(segs.slice(0, -1).every((s) => s.cut)).toBe(true);
    expect(segs.at(-1)!.cut).toBe(false);
  });
});

describe("Segmenter state machine (synthetic probabilities)", () => {
  const f = 512;
  const mk = () =>
    new Segmenter({ sampleRate: 16000, frameSize: f, threshold: 0.5, silenceDuration: 0.256, minSpeechDuration: 0.1, speechPad: 0.064, maxSegmentDuration: 2 });
  const feed = (s: Segmenter, probs: number[]) => probs.flatMap((p) => s.push(p));

  test("short blips below min_speech_duration are dropped", () => {
    const s = mk();
    expect(feed(s, [0, 0, 0.9, 0.9, 0, 0, 0, 0, 0, 0, 0, 0])).toHaveLength(0);
  });

  test("hysteresis: probabilities between the thresholds do not end speech", () => {
    const s = mk();
    const segs = feed(s, [0.9, 0.9, 0.9, 0.9, ...new Array(20).fill(0.4), 0.9, ...new Array(12).fill(0)]);
    expect(segs).toHaveLength(1);
    expect(segs[0]!.start).toBe(0);
    expect(segs[0]!.end).toBe(25 * f + 0.064 * 16000);
  });

  test("flush closes open speech", () => {
    const s = mk();
    expect(feed(s, [0, 0.9, 0.9, 0.9, 0.9])).toHaveLength(0);
    const segs = s.flush();
    expect(segs).toHaveLength(1);
    expect(segs[0]!.end).toBe(5 * f);
  });
});
