/**
 * Utterance segmentation over per-frame speech probabilities: a small state
 * machine with hysteresis, no audio inside. Positions are in samples of
 * stream time, so the caller can slice its own buffer.
 */

export interface SegmenterOptions {
  sampleRate: number;
  frameSize: number;
  /** Probability that opens (or continues) speech. */
  threshold: number;
  /** Trailing silence (s) that closes an utterance. */
  silenceDuration: number;
  /** Utterances shorter than this (s, unpadded) are dropped. */
  minSpeechDuration: number;
  /** Padding (s) added before and after speech. */
  speechPad: number;
  /** Longest utterance (s, unpadded); longer speech is cut and every part kept. */
  maxSegmentDuration: number;
  /**
   * Turn mode (end-of-turn model): trailing silence (s) at which `signal`
   * reports a pause, so the caller can ask the model and close the utterance
   * early with endTurn(). silenceDuration then acts as the fallback timeout.
   * Unset or 0: no signals, segmentation exactly as without it.
   */
  pauseDuration?: number;
  /** Turn mode: while the silence goes on, signal the pause again every this many seconds (unset or 0: once). */
  pauseRepeat?: number;
}

/** What the last frame changed in turn mode (see SegmenterOptions.pauseDuration). */
export type SegmenterSignal =
  /** Trailing silence reached pauseDuration (or another pauseRepeat): ask whether the turn is over. */
  | { kind: "pause"; speechEnd: number; at: number }
  /** Speech came back after a signalled pause, inside the same utterance. */
  | { kind: "resume"; at: number };

export interface Segment {
  /** First sample (inclusive) in stream time, padding included. */
  start: number;
  /** Last sample (exclusive) in stream time, padding included. */
  end: number;
  /** True when the utterance was cut because it hit max_segment_duration. */
  cut: boolean;
}

/** What a stream may change while it runs (from its next frame on). */
export type SegmenterTuning = Partial<Pick<SegmenterOptions, "threshold" | "silenceDuration" | "speechPad" | "pauseDuration" | "pauseRepeat">> & {
  /** Only flush() ends an utterance (and max_segment_duration cuts it); silence keeps it open. */
  manual?: boolean;
};

export class Segmenter {
  private negThreshold = 0;
  private minSilence = 0;
  private readonly minSpeech: number;
  private pad = 0;
  private readonly maxLen: number;
  /** Cut point is searched in the last part of an over-long utterance. */
  private readonly cutWindow: number;
  private manual = false;

  private pos = 0; // samples consumed
  private speechStart = -1; // unpadded start of the open utterance, -1 when idle
  private silenceStart = -1; // start of trailing silence inside an open utterance
  private lastEmittedEnd = 0; // padded segments never overlap
  private probs: number[] = []; // per-frame probabilities of the open utterance
  private energies: number[] = []; // per-frame RMS of the open utterance
  private pauseAt = 0; // samples of silence for the first pause signal; 0 = turn mode off
  private pauseEvery = 0; // samples between repeated pause signals; 0 = once
  private nextPause = 0; // silence length (samples) of the next pause signal in this silence run
  private paused = false; // a pause was signalled and speech has not come back
  private lastSignal: SegmenterSignal | null = null;

  private o: SegmenterOptions;

  constructor(options: SegmenterOptions) {
    this.o = { ...options };
    const s = (sec: number) => Math.round(sec * options.sampleRate);
    this.minSpeech = s(options.minSpeechDuration);
    this.maxLen = s(options.maxSegmentDuration);
    this.cutWindow = Math.min(s(5), Math.floor(this.maxLen / 2));
    this.tune({});
  }

  /**
   * Changes thresholds from the next frame on; an open utterance keeps its
   * start (a new pauseDuration applies from the next silence). Throws, and
   * changes nothing, when pauseDuration would not be shorter than silenceDuration.
   */
  tune(t: SegmenterTuning): void {
    const { manual, ...rest } = t;
    const o = { ...this.o, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) };
    const s = (sec: number) => Math.round(sec * o.sampleRate);
    const pauseAt = o.pauseDuration ? Math.max(o.frameSize, s(o.pauseDuration)) : 0;
    if (pauseAt > 0 && pauseAt >= s(o.silenceDuration)) {
      throw new Error(`pauseDuration (${o.pauseDuration} s) must be shorter than silenceDuration (${o.silenceDuration} s), the fallback timeout`);
    }
    this.o = o;
    if (manual !== undefined) this.manual = manual;
    this.negThreshold = Math.max(0.01, o.threshold - 0.15);
    this.minSilence = s(o.silenceDuration);
    this.pad = Math.min(s(o.speechPad), this.minSilence);
    this.pauseAt = pauseAt;
    this.pauseEvery = o.pauseRepeat ? Math.max(o.frameSize, s(o.pauseRepeat)) : 0;
  }

  /** Turn mode: the pause or resume the last push() saw, else null. */
  get signal(): SegmenterSignal | null {
    return this.lastSignal;
  }

  /**
   * Turn mode: the caller decided the turn is over during a pause: closes the
   * open utterance where its trailing silence began (plus padding), as a
   * silence close would. Returns nothing when speech has resumed since (the
   * decision is stale) or nothing is open.
   */
  endTurn(): Segment[] {
    const out: Segment[] = [];
    if (this.speechStart >= 0 && this.silenceStart >= 0 && this.paused) this.close(this.silenceStart, out);
    return out;
  }

  /**
   * Forgets the open utterance without emitting it (a client's "clear"):
   * its audio is never transcribed, and the next speech starts fresh.
   */
  discard(): void {
    this.speechStart = -1;
    this.silenceStart = -1;
    this.paused = false;
    this.probs = [];
    this.energies = [];
    this.lastEmittedEnd = this.pos;
  }

  get inSpeech(): boolean {
    return this.speechStart >= 0;
  }

  /** Samples consumed so far (stream time of the next frame). */
  get position(): number {
    return this.pos;
  }

  /** Samples of silence the open utterance ends in so far (0 while speech goes on or when idle). */
  get trailingSilence(): number {
    return this.speechStart >= 0 && this.silenceStart >= 0 ? this.pos - this.silenceStart : 0;
  }

  /** First sample of speech (no padding) of the open utterance; -1 when idle. */
  get speechOnset(): number {
    return this.speechStart;
  }

  /** First sample (padding included) of the open utterance; -1 when idle. */
  get openStart(): number {
    return this.speechStart >= 0 ? Math.max(this.lastEmittedEnd, this.speechStart - this.pad) : -1;
  }

  /** Earliest sample the caller must still keep in its buffer. */
  get keepFrom(): number {
    const open = this.speechStart >= 0 ? this.speechStart : this.pos;
    return Math.max(this.lastEmittedEnd, open - this.pad);
  }

  /** Feeds one frame; returns the segments it completed (usually none). */
  push(prob: number, rms = 0): Segment[] {
    const frameStart = this.pos;
    this.pos += this.o.frameSize;
    this.lastSignal = null;
    const out: Segment[] = [];

    if (this.speechStart < 0) {
      if (prob >= this.o.threshold) {
        this.speechStart = frameStart;
        this.silenceStart = -1;
        this.probs = [prob];
        this.energies = [rms];
      }
      return out;
    }

    this.probs.push(prob);
    this.energies.push(rms);
    if (prob >= this.o.threshold) {
      this.silenceStart = -1;
      if (this.paused) this.lastSignal = { kind: "resume", at: this.pos };
      this.paused = false;
    } else if (prob < this.negThreshold && this.silenceStart < 0) {
      this.silenceStart = frameStart;
      this.nextPause = this.pauseAt;
    }

    if (!this.manual && this.silenceStart >= 0 && this.pos - this.silenceStart >= this.minSilence) {
      this.close(this.silenceStart, out);
    } else if (this.pos - this.speechStart >= this.maxLen) {
      this.cut(out);
    } else if (this.pauseAt > 0 && this.silenceStart >= 0 && this.nextPause > 0 && this.pos - this.silenceStart >= this.nextPause) {
      this.paused = true;
      this.lastSignal = { kind: "pause", speechEnd: this.silenceStart, at: this.pos };
      this.nextPause = this.pauseEvery > 0 ? this.nextPause + this.pauseEvery : 0;
    }
    return out;
  }

  /** End of stream: closes open speech as a final utterance. */
  flush(): Segment[] {
    const out: Segment[] = [];
    if (this.speechStart >= 0) this.close(this.silenceStart >= 0 ? this.silenceStart : this.pos, out);
    return out;
  }

  private close(speechEnd: number, out: Segment[]): void {
    const start = this.speechStart;
    this.speechStart = -1;
    this.silenceStart = -1;
    this.paused = false;
    this.probs = [];
    this.energies = [];
    if (speechEnd - start < this.minSpeech) return;
    const seg = {
      start: Math.max(this.lastEmittedEnd, start - this.pad),
      end: Math.min(this.pos, speechEnd + this.pad),
      cut: false,
    };
    this.lastEmittedEnd = seg.end;
    out.push(seg);
  }

  /**
   * Over-long speech: cut at the quietest frame (lowest speech probability,
   * then lowest energy) in the last few seconds before the limit, so a word is
   * rarely split; the remainder stays open as the next part. Parts are
   * contiguous, so together they cover all of the speech.
   */
  private cut(out: Segment[]): void {
    const f = this.o.frameSize;
    const n = this.probs.length;
    const from = Math.max(1, n - Math.floor(this.cutWindow / f));
    let best = n - 1;
    for (let i = from; i < n; i++) {
      const a = this.probs[i]! * 4 + this.energies[i]!;
      const b = this.probs[best]! * 4 + this.energies[best]!;
      if (a < b) best = i;
    }
    const cutAt = this.speechStart + best * f + (f >> 1);
    out.push({ start: Math.max(this.lastEmittedEnd, this.speechStart - this.pad), end: cutAt, cut: true });
    this.lastEmittedEnd = cutAt;
    this.speechStart = cutAt;
    this.probs = this.probs.slice(best);
    this.energies = this.energies.slice(best);
  }
}
