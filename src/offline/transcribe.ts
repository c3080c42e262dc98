import type { Config } from "../config/schema.ts";
import type { SpeechEngine, WordTiming } from "../engine/types.ts";
import { newGuardCounters, transcribeGuarded, type GuardCounters } from "../session/guards.ts";
import { Session, sessionOptionsFrom, type Utterance } from "../session/session.ts";
import { VAD_FRAME, type SileroVad } from "../vad/silero.ts";
import { finalText, round3 } from "../stream/finals.ts";
import { Ordered } from "../stream/ordered.ts";

/**
 * File transcription without a socket, through the live pipeline itself: the
 * file is pushed into a Session (buffer → Silero VAD → segmenter) in chunks,
 * and each utterance it closes goes through the same guarded engine call as a
 * streamed one. Shared by `bun run transcribe` and POST /v1/audio/transcriptions.
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
  /** Seconds from the start of the file; only with wordTimestamps. */
  words?: WordTiming[];
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
  /** Word timings on every segment. */
  wordTimestamps?: boolean;
}

export interface OfflineDeps {
  config: Config;
  vad: SileroVad;
  engine: SpeechEngine;
  /** Where dropped (hallucinated) results are counted; the server passes its own. */
  guardCounters?: GuardCounters;
}

/** Frames pushed per step: large enough to amortize VAD calls, small enough for progress. */
const FRAMES_PER_CALL = 256;
let requests = 0;

export async function transcribeSamples(audio: Float32Array, deps: OfflineDeps, opts: OfflineOptions = {}): Promise<OfflineResult> {
  const { config, vad, engine } = deps;
  const sr = config.sample_rate;
  const totalSeconds = audio.length / sr;
  const streamKey = `offline-${process.pid}-${++requests}`;
  const language = opts.language === undefined ? config.language : opts.language;
  const counters = deps.guardCounters ?? newGuardCounters();
  const step = FRAMES_PER_CALL * VAD_FRAME;

  // Utterances go to the engine while VAD keeps scanning; a small window of
  // outstanding requests stays under the engine's per-stream queue limit.
  const window = Math.max(1, Math.min(4, config.limits.max_queued_utterances));
  const found: Utterance[] = [];
  const segments: OfflineSegment[] = [];
  const outstanding = new Set<Promise<unknown>>();
  // Results are handed over in utterance order (as a live stream's), whatever order the engine answers in.
  let failure: unknown = null;
  const order = new Ordered((err) => (failure ??= err));
  let done = 0;
  let scanned = 0;
  let vadError: unknown = null;
  const progress = () =>
    opts.onProgress?.({ scannedSeconds: scanned / sr, totalSeconds, segmentsDone: done, segmentsFound: found.length });

  const submit = (u: Utterance) => {
    found.push(u);
    const pending = transcribeGuarded(
      engine,
      { audio: u.audio, language, prompt: opts.prompt, streamKey, wordTimestamps: opts.wordTimestamps },
      config.guards,
      counters,
    );
    const counted = pending.finally(() => {
      done++;
      outstanding.delete(counted);
      progress();
    });
    counted.catch(() => {}); // surfaced through the ordered step below
    outstanding.add(counted);
    void order.then(async () => {
      const g = await pending;
      const f = finalText(g.ok ? g.result : null, u.start);
      if (f.empty) return;
      const segment: OfflineSegment = {
        id: segments.length,
        start: round3(u.start),
        end: round3(u.end),
        text: f.text,
        tokens: g.result.tokens,
        avgLogprob: g.result.avgLogprob,
        noSpeechProb: g.result.noSpeechProb,
        language: g.result.language,
        final: !u.cut,
        ...(f.words ? { words: f.words } : {}),
      };
      segments.push(segment);
      opts.onSegment?.(segment);
    });
  };

  const session = new Session(streamKey, "offline", vad, sessionOptionsFrom(config, config.max_segment_duration + 10 + step / sr), {
    onUtterance: submit,
    onVadError: (err) => (vadError ??= err),
  });
  for (let from = 0; from < audio.length; from += step) {
    if (opts.signal?.aborted) throw new Error("aborted");
    while (outstanding.size >= window) await Promise.race(outstanding);
    session.push(audio.subarray(from, Math.min(audio.length, from + step)));
    await session.settled();
    if (vadError) throw vadError;
    scanned = Math.min(audio.length, from + step);
    progress();
  }
  await session.close();
  await order.settled();
  if (failure) throw failure;

  return {
    duration: round3(totalSeconds),
    language: segments[0]?.language ?? language ?? (engine.info.multilingual ? "" : "en"),
    text: segments.map((s) => s.text).join(" "),
    segments,
  };
}

