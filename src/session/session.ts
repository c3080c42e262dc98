import { StreamBuffer } from "../audio/buffer.ts";
import type { Config } from "../config/schema.ts";
import { VAD_FRAME, newVadState, type SileroVad, type VadStreamState } from "../vad/silero.ts";
import { LocalAgreement } from "./agreement.ts";
import { Segmenter, type Segment, type SegmenterOptions, type SegmenterTuning } from "./segmenter.ts";
import type { EndReason } from "../stream/types.ts";
import type { EndOfTurn } from "../turns/decide.ts";
import type { ClosedBy, TurnTaking } from "./turn-taking.ts";

/** A finished utterance, ready for the engine. */
export interface Utterance {
  clientId: string;
  audio: Float32Array;
  /** Stream time in seconds. */
  start: number;
  end: number;
  /** The utterance was cut at max_segment_duration; more of it follows. */
  cut: boolean;
  /** Tokens already committed by interims: the final is forced to start with them. */
  prefix: readonly number[];
  /** Closed by the client's `finalize`, not by silence. */
  fromFinalize: boolean;
  /** What closed it. */
  endedBy: EndReason;
  /** Streams with turn_detection "model": why the turn ended (absent for a cut part and in silence mode). */
  endOfTurn?: EndOfTurn;
}

/** The speech a stream is in the middle of (for interim hypotheses). */
export interface OpenUtterance {
  /** Changes with every utterance, so late interim results can be recognized. */
  id: number;
  audio: Float32Array;
  start: number;
  end: number;
  agreement: LocalAgreement;
}

export interface SessionOptions extends Omit<SegmenterOptions, "frameSize"> {
  maxBufferedSamples: number;
}

/** Segmentation settings from the config; `bufferSeconds` bounds what a session may hold. */
export function sessionOptionsFrom(config: Config, bufferSeconds = config.limits.max_buffered_seconds): SessionOptions {
  return {
    sampleRate: config.sample_rate,
    threshold: config.vad_threshold,
    silenceDuration: config.silence_duration,
    minSpeechDuration: config.min_speech_duration,
    speechPad: config.speech_pad,
    maxSegmentDuration: config.max_segment_duration,
    maxBufferedSamples: Math.round(bufferSeconds * config.sample_rate),
  };
}

export interface SessionHooks {
  onUtterance(u: Utterance): void;
  /** A chunk's frames could not be scored; they were counted as silence. */
  onVadError(err: unknown): void;
  /** The VAD opened speech at `start` (stream seconds). */
  onSpeechStart?(start: number): void;
  /** Frames were scored and speech is still open. */
  onSpeechProgress?(): void;
}

/**
 * One clientId's audio stream: buffer → streaming VAD → segmenter. Audio is
 * accepted synchronously; VAD runs in a single pump per session so frames are
 * scored in order while the event loop stays free.
 */
export class Session {
  readonly buffer = new StreamBuffer();
  private readonly vadState: VadStreamState = newVadState();
  private readonly segmenter: Segmenter;
  private queuedTo = 0; // stream time up to which frames were sent to VAD
  private pump: Promise<void> | null = null;
  private closed = false;
  private utteranceId = 0;
  private agreement: LocalAgreement;
  /** End-of-turn decisions (turn_detection "model"); null: utterances end on silence alone. */
  private turns: TurnTaking | null = null;
  /** What is closing utterances right now, when it is not the VAD's silence. */
  private closing: EndReason | null = null;
  lastAudioAt = Date.now();
  /** Per-clientId transcript sequence number (delivery order). */
  seq = 0;

  constructor(
    readonly clientId: string,
    readonly ownerSocketId: string,
    private readonly vad: SileroVad,
    private readonly opts: SessionOptions,
    private readonly hooks: SessionHooks,
    private readonly textOf: (tokens: readonly number[]) => string = () => "",
  ) {
    this.segmenter = new Segmenter({ ...opts, frameSize: VAD_FRAME });
    this.agreement = new LocalAgreement(textOf);
  }

  /** Changes whenever an utterance (or a part of a cut one) is closed. */
  get currentUtteranceId(): number {
    return this.utteranceId;
  }

  /** Seconds of open speech scored so far (0 outside speech); no copy, unlike openUtterance(). */
  get openSeconds(): number {
    const from = this.segmenter.openStart;
    return from < 0 || from >= this.queuedTo ? 0 : (this.queuedTo - from) / this.opts.sampleRate;
  }

  /** Seconds of silence the open utterance ends in so far (its speech may be over). */
  get trailingSilenceSeconds(): number {
    return this.segmenter.trailingSilence / this.opts.sampleRate;
  }

  /** The open utterance's audio so far (a copy), or null outside speech. */
  openUtterance(): OpenUtterance | null {
    const from = this.segmenter.openStart;
    if (from < 0 || from >= this.queuedTo) return null;
    const sr = this.opts.sampleRate;
    return { id: this.utteranceId, audio: this.buffer.slice(from, this.queuedTo), start: from / sr, end: this.queuedTo / sr, agreement: this.agreement };
  }

  get bufferedSeconds(): number {
    return this.buffer.bufferedSamples / this.opts.sampleRate;
  }

  get inSpeech(): boolean {
    return this.segmenter.inSpeech;
  }

  /** Returns false (and keeps nothing) when the session would exceed its buffer limit. */
  push(samples: Float32Array): boolean {
    if (this.closed) return false;
    if (this.buffer.bufferedSamples + samples.length > this.opts.maxBufferedSamples) return false;
    this.buffer.append(samples);
    this.lastAudioAt = Date.now();
    if (!this.pump) {
      // Cleared in a microtask, never before the assignment, even when run() has nothing to do.
      this.pump = this.run()
        .catch((err) => this.hooks.onVadError(err))
        .finally(() => {
        this.pump = null;
      });
    }
    return true;
  }

  /** Closes open speech now (stream stalled, or ending); waits for pending VAD work first. */
  async flush(reason: EndReason = "stall"): Promise<void> {
    while (this.pump) await this.pump;
    this.closeWith(reason);
  }

  /** Changes segmentation from the next frame on (per-stream options). */
  tune(t: SegmenterTuning): void {
    this.segmenter.tune(t);
  }

  /** Switches end-of-turn decisions on (a TurnTaking) or off (null). */
  useTurns(t: TurnTaking | null): void {
    this.turns = t;
  }

  /** The open turn's newest hypothesis text (interims), for turn_eager. */
  get openText(): string {
    return this.segmenter.inSpeech ? this.agreement.latestText : "";
  }

  /** The model judged the turn complete during a pause: close it now (nothing, if speech came back). */
  endTurn(): void {
    if (this.closed) return;
    this.closing = "turn";
    try {
      this.emit(this.segmenter.endTurn());
    } finally {
      this.closing = null;
    }
  }

  /** Drops the open speech untranscribed (after the audio already sent was scored). */
  async clear(): Promise<void> {
    while (this.pump) await this.pump;
    this.segmenter.discard();
    this.utteranceId++;
    this.agreement = new LocalAgreement(this.textOf);
    this.buffer.dropBefore(Math.min(this.segmenter.keepFrom, this.queuedTo));
  }

  /**
   * The client says the turn is over: closes open speech now, after the audio
   * it already sent has been scored. Resolves true when an utterance was closed.
   */
  async finalize(): Promise<boolean> {
    while (this.pump) await this.pump;
    return this.closeWith("finalize") > 0;
  }

  /** Resolves when every chunk pushed so far has been through the VAD. */
  async settled(): Promise<void> {
    while (this.pump) await this.pump;
  }

  /** Final flush; afterwards the session accepts nothing. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush("close");
  }

  private closeWith(reason: EndReason): number {
    this.closing = reason;
    try {
      const segments = this.segmenter.flush();
      this.emit(segments);
      return segments.length;
    } finally {
      this.closing = null;
    }
  }

  private async run(): Promise<void> {
    for (;;) {
      const available = Math.floor((this.buffer.end - this.queuedTo) / VAD_FRAME);
      if (available === 0) break;
      const from = this.queuedTo;
      // One view of the new frames, no per-frame slices: score() copies it
      // (once, into the buffer it hands the VAD worker) before it returns.
      const view = this.buffer.view(from, from + available * VAD_FRAME);
      const rms = frameRms(view, available);
      this.queuedTo += available * VAD_FRAME;
      const probs = await this.vad.score(this.vadState, view, this.clientId).catch((err: unknown) => {
        // These frames are already behind queuedTo: the segmenter must still
        // count them, or every later utterance is cut from shifted audio.
        this.hooks.onVadError(err);
        return new Float32Array(available);
      });
      for (let i = 0; i < probs.length; i++) {
        const wasInSpeech = this.segmenter.inSpeech;
        this.emit(this.segmenter.push(probs[i]!, rms[i]!));
        const signal = this.turns ? this.segmenter.signal : null;
        if (signal) this.turns!.signal(signal, () => this.buffer.slice(this.segmenter.openStart, this.segmenter.position));
        if (!wasInSpeech && this.segmenter.inSpeech) this.hooks.onSpeechStart?.(this.segmenter.speechOnset / this.opts.sampleRate);
      }
      this.buffer.dropBefore(Math.min(this.segmenter.keepFrom, this.queuedTo));
      if (this.segmenter.inSpeech) this.hooks.onSpeechProgress?.();
    }
  }

  private emit(segments: Segment[]): void {
    const sr = this.opts.sampleRate;
    for (const s of segments) {
      const prefix = this.agreement.committed;
      // Each utterance (and each part of a cut one) starts a fresh agreement.
      this.utteranceId++;
      this.agreement = new LocalAgreement(this.textOf);
      const by: ClosedBy = s.cut ? "max_duration" : this.closing === "finalize" ? "finalize" : this.closing === "turn" ? "model" : "silence";
      const endOfTurn = this.turns?.closed(by, "timeout") ?? undefined;
      this.hooks.onUtterance({
        ...(endOfTurn ? { endOfTurn } : {}),
        clientId: this.clientId,
        audio: this.buffer.slice(s.start, s.end),
        start: s.start / sr,
        end: s.end / sr,
        cut: s.cut,
        prefix,
        fromFinalize: this.closing === "finalize",
        endedBy: s.cut ? "cut" : (this.closing ?? "silence"),
      });
    }
    if (segments.length > 0) this.buffer.dropBefore(Math.min(this.segmenter.keepFrom, this.queuedTo));
  }
}

/** Root mean square of each whole frame in `samples`. */
function frameRms(samples: Float32Array, frames: number): number[] {
  const out: number[] = [];
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let i = f * VAD_FRAME; i < (f + 1) * VAD_FRAME; i++) sum += samples[i]! * samples[i]!;
    out.push(Math.sqrt(sum / VAD_FRAME));
  }
  return out;
}
