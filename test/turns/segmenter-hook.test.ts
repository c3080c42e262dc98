import { describe, expect, test } from "bun:test";
import { Segmenter, type Segment, type SegmenterOptions, type SegmenterSignal } from "../../src/session/segmenter.ts";

/** Turn-mode hook of the segmenter (pause / resume signals, endTurn), on synthetic VAD probabilities. */

const f = 512;
const base: SegmenterOptions = { sampleRate: 16000, frameSize: f, threshold: 0.5, silenceDuration: 0.8, minSpeechDuration: 0.1, speechPad: 0.064, maxSegmentDuration: 4 };
const frames = (sec: number) => Math.round((sec * 16000) / f);
const speech = (sec: number) => new Array<number>(frames(sec)).fill(0.9);
const quiet = (sec: number) => new Array<number>(frames(sec)).fill(0.05);

function run(s: Segmenter, probs: number[]) {
  const segments: Segment[] = [];
  const signals: SegmenterSignal[] = [];
  for (const p of probs) {
    segments.push(...s.push(p));
    if (s.signal) signals.push(s.signal);
  }
  return { segments, signals };
}

/** Seeded PRNG (mulberry32). */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs of speech and silence of random lengths, with noisy probabilities. */
function randomProbs(seed: number, n: number): number[] {
  const r = rng(seed);
  const out: number[] = [];
  while (out.length < n) {
    const talking = r() < 0.5;
    const len = 1 + Math.floor(r() * 60);
    for (let i = 0; i < len; i++) out.push(talking ? 0.45 + 0.55 * r() : 0.4 * r());
  }
  return out;
}

describe("Segmenter turn hook", () => {
  test("without pauseDuration nothing is signalled", () => {
    const seed = 1234;
    console.log(`seed ${seed}`);
    const s = new Segmenter(base);
    const { segments, signals } = run(s, randomProbs(seed, 5000));
    expect(segments.length).toBeGreaterThan(5);
    expect(signals).toHaveLength(0);
  });

  test("turn mode with no endTurn() call segments exactly as silence mode at the same silenceDuration", () => {
    for (const seed of [1, 2, 3]) {
      console.log(`seed ${seed}`);
      const probs = randomProbs(seed, 6000);
      const plain = run(new Segmenter(base), probs);
      const turn = run(new Segmenter({ ...base, pauseDuration: 0.2, pauseRepeat: 0.25 }), probs);
      expect(plain.segments.length).toBeGreaterThan(5);
      expect(turn.segments).toEqual(plain.segments);
      expect(turn.signals.some((x) => x.kind === "pause")).toBe(true);
    }
  });

  test("a pause is signalled once, when the silence reaches pauseDuration, with where speech ended", () => {
    const s = new Segmenter({ ...base, pauseDuration: 0.2 });
    const probs = [...quiet(0.2), ...speech(1), ...quiet(0.6)];
    const out: { i: number; sig: SegmenterSignal }[] = [];
    probs.forEach((p, i) => {
      s.push(p);
      if (s.signal) out.push({ i, sig: s.signal });
    });
    expect(out).toHaveLength(1);
    const silenceStart = (frames(0.2) + frames(1)) * f;
    // Signalled on the first frame that completes 0.2 s (3200 samples) of silence: the 7th.
    const pauseFrames = Math.ceil(3200 / f);
    expect(out[0]!.sig).toEqual({ kind: "pause", speechEnd: silenceStart, at: silenceStart + pauseFrames * f });
    expect(out[0]!.i + 1).toBe(frames(0.2) + frames(1) + pauseFrames);
  });

  test("pauseRepeat signals the same silence again at each interval", () => {
    const s = new Segmenter({ ...base, pauseDuration: 0.2, pauseRepeat: 0.2 });
    const { signals } = run(s, [...speech(1), ...quiet(0.7)]);
    const at = signals.map((x) => (x.kind === "pause" ? (x.at - x.speechEnd) / 16000 : -1));
    expect(at).toHaveLength(3); // 0.2, 0.4, 0.6 s into the silence (0.8 s closes the utterance)
    at.forEach((sec, i) => expect(sec).toBeCloseTo(0.2 * (i + 1), 1));
  });

  test("speech after a signalled pause is a resume; a gap shorter than the pause signals nothing", () => {
    const s = new Segmenter({ ...base, pauseDuration: 0.2 });
    const short = run(s, [...speech(0.5), ...quiet(0.1), ...speech(0.5)]);
    expect(short.signals).toHaveLength(0);
    const long = run(s, [...quiet(0.3), ...speech(0.5)]);
    expect(long.signals.map((x) => x.kind)).toEqual(["pause", "resume"]);
    expect(long.segments).toHaveLength(0);
  });

  test("endTurn() in a pause closes the utterance where the silence began, padded", () => {
    const s = new Segmenter({ ...base, pauseDuration: 0.2 });
    run(s, [...quiet(0.5), ...speech(1), ...quiet(0.3)]);
    const speechStart = frames(0.5) * f;
    const speechEnd = speechStart + frames(1) * f;
    const segs = s.endTurn();
    expect(segs).toEqual([{ start: speechStart - 0.064 * 16000, end: speechEnd + 0.064 * 16000, cut: false }]);
    expect(s.inSpeech).toBe(false);
    // Nothing left to close, and the silence that follows closes nothing more.
    expect(s.endTurn()).toEqual([]);
    expect(run(s, quiet(1)).segments).toEqual([]);
  });

  test("endTurn() after speech resumed, or before any pause, closes nothing", () => {
    const s = new Segmenter({ ...base, pauseDuration: 0.2 });
    run(s, [...speech(1), ...quiet(0.3), ...speech(0.3)]);
    expect(s.endTurn()).toEqual([]);
    expect(s.inSpeech).toBe(true);
    run(s, quiet(0.1)); // silent, but not yet for pauseDuration
    expect(s.endTurn()).toEqual([]);
    expect(s.inSpeech).toBe(true);
    // The fallback still ends it: silenceDuration of silence.
    const { segments } = run(s, quiet(0.8));
    expect(segments).toHaveLength(1);
    expect(segments[0]!.start).toBe(0);
  });

  test("pauseDuration must be shorter than the fallback silenceDuration", () => {
    expect(() => new Segmenter({ ...base, pauseDuration: 0.8 })).toThrow(/pauseDuration/);
  });
});

describe("Segmenter turn hook, tuned mid-stream", () => {
  test("tune() switches turn mode on from the next silence, and off with pauseDuration 0", () => {
    const s = new Segmenter(base);
    expect(run(s, [...speech(0.5), ...quiet(0.3), ...speech(0.5)]).signals).toHaveLength(0);
    s.tune({ pauseDuration: 0.2 });
    expect(run(s, [...quiet(0.3), ...speech(0.3)]).signals.map((x) => x.kind)).toEqual(["pause", "resume"]);
    s.tune({ pauseDuration: 0 });
    const { signals, segments } = run(s, quiet(1));
    expect(signals).toHaveLength(0);
    expect(segments).toHaveLength(1);
  });

  test("a tuning that puts the pause at or past the fallback is refused and changes nothing", () => {
    const s = new Segmenter({ ...base, pauseDuration: 0.2 });
    expect(() => s.tune({ silenceDuration: 0.1 })).toThrow(/pauseDuration/);
    // Still 0.8 s of fallback and a pause at 0.2 s.
    const { signals, segments } = run(s, [...speech(0.5), ...quiet(0.5)]);
    expect(signals.map((x) => x.kind)).toEqual(["pause"]);
    expect(segments).toHaveLength(0);
  });
});
