/**
 * Speech material for the benchmarks: real clips from ../shared/audio plus
 * espeak-ng sentences in several voices and speeds, so no two clients stream
 * the same audio in lockstep.
 */
import { SHARED_AUDIO, decodeToPcm16, speak } from "../../test/support/audio.ts";

export interface Clip {
  name: string;
  pcm: Int16Array;
}

export const SENTENCES = [
  "Please turn on the lights in the kitchen.",
  "What is the weather going to be like tomorrow morning?",
  "Remind me to call my sister at six o'clock.",
  "The meeting has been moved to Thursday afternoon.",
  "Can you play some quiet music while I read?",
  "Our quarterly numbers look better than we expected.",
  "Set a timer for twelve minutes, please.",
  "How far is the nearest train station from here?",
  "I would like to book a table for four people tonight.",
  "The package should arrive before the end of the week.",
  "Send a message to the team saying I will be late.",
  "Translate good morning into French.",
];
const VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb+m3"];

export async function loadClips(): Promise<Clip[]> {
  const clips: Clip[] = [
    { name: "jfk", pcm: await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`) },
    { name: "hotwords", pcm: await decodeToPcm16(`${SHARED_AUDIO}/hotwords.mp3`) },
  ];
  for (let i = 0; i < SENTENCES.length; i++) {
    clips.push({ name: `espeak-${i}`, pcm: await speak(SENTENCES[i]!, VOICES[i % VOICES.length]!, 150 + (i % 4) * 15) });
  }
  return clips;
}

/**
 * One client's stream: leading silence (0.2–1.2 s), then clips in a seeded
 * order with 0.8–2.0 s pauses, until `seconds`. `utterances` are where each
 * clip lies, in samples.
 */
export function buildStream(rand: () => number, clips: Clip[], seconds: number) {
  const parts: Int16Array[] = [new Int16Array(Math.round((0.2 + rand()) * 16000))];
  const utterances: { clip: string; start: number; end: number }[] = [];
  let pos = parts[0]!.length;
  while (pos < seconds * 16000) {
    const clip = clips[Math.floor(rand() * clips.length)]!;
    utterances.push({ clip: clip.name, start: pos, end: pos + clip.pcm.length });
    parts.push(clip.pcm);
    pos += clip.pcm.length;
    const pause = new Int16Array(Math.round((0.8 + rand() * 1.2) * 16000));
    parts.push(pause);
    pos += pause.length;
  }
  const stream = new Int16Array(pos);
  let o = 0;
  for (const p of parts) {
    stream.set(p, o);
    o += p.length;
  }
  return { stream, utterances };
}

/** Deterministic PRNG so runs are comparable. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Samples event-loop delay: how late a 10 ms timer fires. */
export function loopLagSampler(intervalMs = 10) {
  const lags: number[] = [];
  let last = performance.now();
  const t = setInterval(() => {
    const now = performance.now();
    lags.push(Math.max(0, now - last - intervalMs));
    last = now;
  }, intervalMs);
  return {
    take(): number[] {
      return lags.splice(0, lags.length);
    },
    stop() {
      clearInterval(t);
    },
  };
}
