import type { Config } from "../config/schema.ts";
import type { EngineResult, SpeechEngine } from "../engine/types.ts";
import { Segmenter, type Segment } from "../session/segmenter.ts";
import { VAD_FRAME, newVadState, type SileroVad } from "../vad/silero.ts";

/**
 * File transcription without a socket: the same Silero VAD and segmenter the
 * live server uses cut the audio into utterances, and each utterance goes to
 * the engine exactly as a streamed one would. Shared by `bun run transcribe`
 * and POST /v1/audio/transcriptions.
 */

export interface OfflineSegment {
  id: number;
  /** Seconds from the start of the file (padding included, as streamed transcripts). */
  start: number;
  end: number;
  text: string;
  tokens: number[];
  avgLogprob: number;
  noSpeechProb: number;
  language: string;
  /** False when the utterance was cut at max_segment_duration and continues in the next one. */
  final: boolean;
}

export interface OfflineResult {
  /** Seconds of audio. */
  duration: number;
  language: string;
  text: string;
  segments: OfflineSegment[];
}

export interface OfflineOptions {
  /** ISO 639-1 code; undefined uses the config's language (null = detect). */
  language?: string | null;
  /** Prompt for every utterance of the file; undefined uses the config's initial_prompt. */
  prompt?: string | null;
  /** Called as VAD advances and as utterances come back (seconds of audio). */
  onProgress?: (p: { scannedSeconds: number; totalSeconds: number; segmentsDone: number; segmentsFound: number }) => void;
  /** Called once per transcribed utterance, in order, as soon as it is known. */
  onSegment?: (s: OfflineSegment) => void;
  signal?: AbortSignal;
}

export interface OfflineDeps {
  config: Config;
  vad: SileroVad;
  engine: SpeechEngine;
}

/** Frames handed to the VAD per call: large enough to amortize, small enough for progress. */
const FRAMES_PER_CALL = 256;
let requests = 0;

export async function transcribeSamples(audio: Float32Array, deps: OfflineDeps, opts: OfflineOptions = {}): Promise<OfflineResult> {
  const { config, vad, engine } = deps;
  const sr = config.sample_rate;
  const totalSeconds = audio.length / sr;
  const streamKey = `offline-${process.pid}-${++requests}`;
  const language = opts.language === undefined ? config.language : opts.language;
  const segmenter = new Segmenter({
    sampleRate: sr,
    frameSize: VAD_FRAME,
    threshold: config.vad_threshold,
    silenceDuration: config.silence_duration,
    minSpeechDuration: config.min_speech_duration,
    speechPad: config.speech_pad,
    maxSegmentDuration: config.max_segment_duration,
  });
  const state = newVadState();

  // Utterances go to the engine while VAD keeps scanning; a small window of
  // outstanding requests stays under the engine's per-stream queue limit.
  const window = Math.max(1, Math.min(4, config.limits.max_queued_utterances));
  const found: Segment[] = [];
  const pending: Promise<EngineResult>[] = [];
  // undefined: still at the engine; null: transcribed to nothing worth emitting.
  const results: (OfflineSegment | null | undefined)[] = [];
  let next = 0; // next result to hand to onSegment
  let done = 0;
  let scanned = 0;
  const progress = () =>
    opts.onProgress?.({ scannedSeconds: scanned / sr, totalSeconds, segmentsDone: done, segmentsFound: found.length });

  const settle = async (i: number) => {
    const seg = found[i]!;
    const r = await pending[i]!;
    const text = r.text.trim();
    done++;
    // As the live server: texts of one character or less are not emitted.
    results[i] =
      text.length > 1
        ? {
            id: 0,
            start: round(seg.start / sr),
            end: round(seg.end / sr),
            text,
            tokens: r.tokens,
            avgLogprob: r.avgLogprob,
            noSpeechProb: r.noSpeechProb,
            language: r.language,
            final: !seg.cut,
          }
        : null;
    while (next < results.length && results[next] !== undefined) {
      const s = results[next++];
      if (s) opts.onSegment?.(s);
    }
    progress();
  };
  const settling: Promise<void>[] = [];
  const outstanding = new Set<Promise<void>>();
  const submit = async (segs: Segment[]) => {
    for (const seg of segs) {
      while (outstanding.size >= window) await Promise.race(outstanding);
      const i = found.length;
      found.push(seg);
      results.push(undefined);
      pending.push(engine.transcribe({ audio: audio.slice(seg.start, seg.end), language, prompt: opts.prompt, streamKey }));
      const p: Promise<void> = settle(i).finally(() => outstanding.delete(p));
      p.catch(() => {}); // surfaced by the final Promise.all
      outstanding.add(p);
      settling.push(p);
    }
  };

  const frameCount = Math.floor(audio.length / VAD_FRAME);
  for (let f = 0; f < frameCount; f += FRAMES_PER_CALL) {
    if (opts.signal?.aborted) throw new Error("aborted");
    const n = Math.min(FRAMES_PER_CALL, frameCount - f);
    const frames: Float32Array[] = [];
    const rms: number[] = [];
    for (let k = 0; k < n; k++) {
      const from = (f + k) * VAD_FRAME;
      const frame = audio.subarray(from, from + VAD_FRAME);
      frames.push(frame);
      rms.push(rootMeanSquare(frame));
    }
    const probs = await vad.score(state, frames);
    scanned = (f + n) * VAD_FRAME;
    for (let k = 0; k < n; k++) await submit(segmenter.push(probs[k]!, rms[k]!));
    progress();
  }
  await submit(segmenter.flush());
  await Promise.all(settling);

  const segments = results.filter((s): s is OfflineSegment => s !== null && s !== undefined);
  segments.forEach((s, i) => (s.id = i));
  return {
    duration: round(totalSeconds),
    language: segments[0]?.language ?? language ?? (engine.info.multilingual ? "" : "en"),
    text: segments.map((s) => s.text).join(" "),
    segments,
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function rootMeanSquare(frame: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < frame.length; i++) sum += frame[i]! * frame[i]!;
  return Math.sqrt(sum / frame.length);
}
