/**
 * Word timings from per-token timings (the shim's cross-attention alignment):
 * tokens are grouped into words at leading spaces (Whisper's BPE marks a new
 * word with one), punctuation is attached to its neighbour word, and a word
 * whose duration is implausible for speech is clipped. Times stay inside the
 * utterance and are non-decreasing.
 */

export interface Word {
  /** The word as it appears in the text, leading space removed. */
  word: string;
  /** Seconds (the caller decides the origin: utterance or stream time). */
  start: number;
  end: number;
  /** Mean probability of the word's tokens. */
  probability: number;
}

/** Token texts that open a word; everything else continues the previous one. */
const OPENS_WORD = /^\s/;
/** Punctuation that belongs to the next word ("¿Qué", "(sic") or the previous one ("so,", "you."). */
const PREPEND = new Set([..."\"'“¿([{-"]);
const APPEND = new Set([..."\"'.。,，!！?？:：”)]}、"]);

/**
 * @param pieces  per token: its text and [start, end, probability] from the shim.
 * @param duration seconds of audio the times must stay within.
 * @param decode  turns a word's joined token texts into its text; tokens may
 *                carry raw bytes (one char per byte) because a character can
 *                be split across tokens.
 */
export function groupWords(
  pieces: { text: string; time: readonly [number, number, number] }[],
  duration: number,
  decode: (joined: string) => string = (x) => x,
): Word[] {
  const raw: { text: string; start: number; end: number; probs: number[] }[] = [];
  for (const p of pieces) {
    const [start, end, prob] = p.time;
    const last = raw[raw.length - 1];
    if (!last || OPENS_WORD.test(p.text)) raw.push({ text: p.text, start, end, probs: [prob] });
    else {
      last.text += p.text;
      last.end = end;
      last.probs.push(prob);
    }
  }
  for (const w of raw) w.text = decode(w.text);
  const merged = mergePunctuation(raw);
  const out: Word[] = [];
  const median = medianDuration(merged);
  // Whisper's alignment stretches a word over a following pause, most at
  // sentence ends; cap a word at twice the median (at most 1.4 s) as faster-whisper does.
  const maxDuration = Math.min(1.4, median * 2 || 1.4);
  let prevEnd = 0;
  for (const w of merged) {
    const text = w.text.trim();
    if (!text) continue;
    let start = clamp(w.start, prevEnd, duration);
    let end = clamp(w.end, start, duration);
    if (end - start > maxDuration) {
      // Pauses sit before the first word of a sentence and after its last one.
      if (out.length === 0) start = Math.max(start, end - maxDuration);
      else end = start + maxDuration;
    }
    out.push({ word: text, start: round3(start), end: round3(end), probability: round3(mean(w.probs)) });
    prevEnd = end;
  }
  return out;
}

function mergePunctuation<T extends { text: string; start: number; end: number; probs: number[] }>(words: T[]): T[] {
  const out: T[] = [];
  let carry: T | null = null;
  for (const w of words) {
    const bare = w.text.trim();
    const closing = bare.length > 0 && [...bare].every((c) => APPEND.has(c) && !PREPEND.has(c));
    const opening = bare.length > 0 && !closing && [...bare].every((c) => PREPEND.has(c) || APPEND.has(c));
    const prev = out[out.length - 1];
    if (closing && prev && !carry) {
      prev.text += bare;
      prev.end = Math.max(prev.end, w.end);
      prev.probs.push(...w.probs);
      continue;
    }
    if (carry) {
      w.text = " " + carry.text.trim() + w.text.trimStart();
      w.start = Math.min(w.start, carry.start);
      w.probs.unshift(...carry.probs);
      carry = null;
    }
    if (opening) carry = w;
    else out.push(w);
  }
  if (carry) out.push(carry);
  return out;
}

function medianDuration(words: { start: number; end: number }[]): number {
  const d = words.map((w) => w.end - w.start).filter((x) => x > 0).sort((a, b) => a - b);
  if (d.length === 0) return 0;
  return d[Math.floor(d.length / 2)]!;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const round3 = (x: number) => Math.round(x * 1000) / 1000;
