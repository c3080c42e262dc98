import { ReplayBuffer } from "../../public/replay.js";

const SAMPLE_RATE = 16000;
/** Acknowledged audio replayed ahead of the unacknowledged, for the VAD only: 6 of its 512-sample frames, within the silence a final ends with. */
const PREROLL_SAMPLES = 512 * 6;
/** A replay goes in 2 s events: few enough to stay far below the server's max_pending_chunks, within max_chunk_seconds (10). */
export const REPLAY_CHUNK_SAMPLES = 2 * SAMPLE_RATE;

/**
 * The sender's side of failover (docs/operations.md, "Failover"): keeps the
 * audio the server has not acknowledged, says in each handshake where the
 * stream resumes, and hands back what to replay once connected again.
 */
export class SenderReplay {
  private readonly buffer: ReplayBuffer;
  /** Where the replay of the connection being made starts (stream samples), as its handshake told the server. */
  private resumeAt = 0;
  private everConnected = false;

  constructor(seconds: number) {
    this.buffer = new ReplayBuffer(Math.round(seconds * SAMPLE_RATE), PREROLL_SAMPLES);
  }

  /** Handshake fields: ask for audio_ack; after audio was sent, where it resumes and the VAD pre-roll before it. */
  auth(sentSamples: number): Record<string, unknown> {
    const p = this.buffer.resumePoint(PREROLL_SAMPLES);
    this.resumeAt = p.startAt;
    return { audio_ack: true, ...(sentSamples > 0 ? { resume_from: p.resumeFrom / SAMPLE_RATE, preroll: p.preroll / SAMPLE_RATE } : {}) };
  }

  /** Connected: the audio to send again first (null on the first connection). */
  connected(): Int16Array | null {
    const again = this.everConnected ? this.buffer.from(this.resumeAt) : null;
    this.everConnected = true;
    return again;
  }

  keep(at: number, pcm: Int16Array): void {
    this.buffer.add(at, pcm);
  }

  /** audio_ack's `until`, or the `end` of one of our finals (stream seconds). */
  acknowledge(seconds: number): void {
    this.buffer.acknowledge(Math.round(seconds * SAMPLE_RATE));
  }

  get unacknowledged(): { seconds: number; droppedSeconds: number } {
    return { seconds: this.buffer.samples / SAMPLE_RATE, droppedSeconds: this.buffer.dropped / SAMPLE_RATE };
  }

  reset(): void {
    this.buffer.reset();
  }
}
