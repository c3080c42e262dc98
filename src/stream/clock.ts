/**
 * Where each live session sits on its stream's clock, and what of its audio is
 * durable. A stream that moved (another node, a new connection) starts a new
 * session whose audio begins at the sender's `resume_from`: every time it
 * reports is shifted by that offset, so `start`/`end` stay on one clock.
 *
 * Durable audio (`audio_ack {clientId, until}`, opt-in): everything up to the
 * end of the last utterance whose final was delivered, or, while the stream
 * idles in silence with nothing closed still waiting, up to the audio scored
 * so far less a margin that a speech onset in the last frames could still
 * reach back into (speech_pad and the VAD's minimum speech). The sender may
 * drop what is acknowledged and replays the rest after a reconnect.
 */

export interface StreamClock {
  /** Stream seconds of this session's first sample. */
  readonly offset: number;
  /** Where audio_ack goes (the sender's connection); absent when it did not ask. */
  readonly ack?: (until: number) => void;
  /** The last `until` sent (stream seconds). */
  acked: number;
  /** Utterances closed (their final is on its way) and answered (final delivered or failed). */
  closed: number;
  answered: number;
  /** Seconds of session audio at the last idle check. */
  idleCheckedAt: number;
  /** Draining node: the sender replays this stream elsewhere, so its new audio is dropped unacknowledged. */
  handingOff: boolean;
  /** The sender resumed on a new connection and replays from its last acknowledgement: this session's results are not delivered. */
  superseded: boolean;
  /** Session seconds of pre-roll (warm-up audio, never transcribed); 0 when none. */
  readonly prerollSeconds: number;
  /** While the pre-roll comes in and is discarded: samples of it still due, and the audio held back behind it. */
  warmup: { left: number; held: Float32Array[]; discarding: boolean } | null;
}

/** The idle acknowledgement is re-checked after this much new audio. */
const IDLE_CHECK_SECONDS = 1;

export class StreamClocks {
  private readonly bySession = new WeakMap<object, StreamClock>();

  start(session: object, offset: number, ack?: (until: number) => void, preroll = 0, sampleRate = 16000): StreamClock {
    const left = Math.round(preroll * sampleRate);
    const clock: StreamClock = {
      offset: offset - preroll,
      ack,
      acked: offset,
      closed: 0,
      answered: 0,
      idleCheckedAt: preroll,
      handingOff: false,
      superseded: false,
      prerollSeconds: preroll,
      warmup: left > 0 ? { left, held: [], discarding: false } : null,
    };
    this.bySession.set(session, clock);
    return clock;
  }

  of(session: object): StreamClock | undefined {
    return this.bySession.get(session);
  }

  offset(session: object): number {
    return this.bySession.get(session)?.offset ?? 0;
  }

  /** Results of this session that must not be delivered: superseded, or of the pre-roll (before resume_from). */
  silenced(session: object, localStart: number): boolean {
    const c = this.bySession.get(session);
    // The discard lands on a VAD frame boundary, up to a frame before the pre-roll's end.
    return !!c && (c.superseded || (c.prerollSeconds > 0 && localStart < c.prerollSeconds - 0.05));
  }

  /** An utterance closed: until its final is out, nothing after its start is durable. */
  closed(session: object): void {
    const c = this.bySession.get(session);
    if (c) c.closed++;
  }

  /** Its final was delivered (or it failed: then the next final acknowledges past it). */
  answered(session: object, endLocal: number | null): void {
    const c = this.bySession.get(session);
    if (!c) return;
    c.answered++;
    if (endLocal !== null) this.acknowledge(c, c.offset + endLocal);
  }

  /** Whether an idle check is due after this much session audio (and marks it started). */
  idleDue(session: object, audioSeconds: number): boolean {
    const c = this.bySession.get(session);
    if (!c?.ack || c.handingOff || audioSeconds - c.idleCheckedAt < IDLE_CHECK_SECONDS) return false;
    c.idleCheckedAt = audioSeconds;
    return true;
  }

  /**
   * After the audio up to `scoredSeconds` went through the VAD and every
   * utterance closed in it was answered: acknowledge up to there less `margin`
   * when no speech is open.
   */
  idle(session: object, scoredSeconds: number, inSpeech: boolean, margin: number): void {
    const c = this.bySession.get(session);
    if (!c || c.handingOff) return;
    if (inSpeech || c.answered < c.closed) return;
    this.acknowledge(c, c.offset + Math.max(0, scoredSeconds - margin));
  }

  private acknowledge(c: StreamClock, until: number): void {
    if (!c.ack) return;
    const rounded = Math.round(until * 1000) / 1000;
    if (rounded <= c.acked) return;
    c.acked = rounded;
    c.ack(rounded);
  }
}
