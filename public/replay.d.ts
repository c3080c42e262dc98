/** Types for public/replay.js (plain JS so the browser page needs no build step). */
export declare class ReplayBuffer {
  /** Samples kept (not yet acknowledged, plus the pre-roll). */
  samples: number;
  /** Samples dropped unacknowledged because the buffer was full. */
  dropped: number;
  /** Stream sample up to which the server made the audio durable. */
  durable: number;
  readonly oldest: number;
  constructor(limit: number, keep?: number);
  add(at: number, pcm: Int16Array): void;
  acknowledge(until: number): void;
  resumePoint(maxPreroll: number): { resumeFrom: number; preroll: number; startAt: number };
  from(at: number): Int16Array;
  reset(): void;
}
