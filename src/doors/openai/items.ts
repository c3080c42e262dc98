import type { FinalEvent, SpeechStoppedEvent } from "../../stream/types.ts";
import type { SpeechStartedPayload, TranscriptionInterimPayload } from "../../transport/schemas.ts";
import * as ev from "./events.ts";

/**
 * The core's utterances as OpenAI conversation items. One utterance (a core
 * seq) is one item: speech_started → deltas → speech_stopped → committed →
 * completed. Deltas are append-only: they carry only growth of the interim's
 * stable prefix, and the final's remainder past it, so that the deltas of an
 * item joined are exactly its `completed.transcript`.
 *
 * speech_started carries no seq (the utterance has none yet), and the core's
 * seq-bearing events (interims, speech_stopped, the final) come in utterance
 * order behind earlier results, so the next utterance may be announced before
 * the previous one's first seq arrives. An announced item is therefore bound by
 * time: to the utterance whose audio [start, end) holds its speech onset. One
 * that no utterance claims was dropped by the core (shorter than
 * min_speech_duration) and is closed empty. A manual commit creates an item
 * with no onset, bound to the next seq heard.
 */

interface Item {
  id: string;
  seq: number | null;
  /** Stream seconds where the VAD heard its speech begin (speech_started); null for a commit's item. */
  onset: number | null;
  /** Text already sent as deltas. */
  sent: string;
  committed: boolean;
  stopped: boolean;
}

export interface ItemSink {
  emit(e: ev.OutEvent): void;
  /** A final that does not start with the deltas already sent (a broken core promise); counted, not hidden. */
  mismatch(itemId: string): void;
}

export class Items {
  private readonly open: Item[] = [];
  private lastCommitted: string | null = null;
  private count = 0;
  /** `turn_detection: null`: no speech_* events, items end on commit. */
  manual = false;
  /** Seconds of session audio before the core's current stream began (its clock starts at 0 when reopened). */
  private offset = 0;

  constructor(
    private readonly prefix: string,
    private readonly sink: ItemSink,
  ) {}

  /** Items waiting for their transcript (tests, close). */
  get pending(): number {
    return this.open.filter((i) => i.committed).length;
  }

  /** `pad`: the stream's speech_pad (s); OpenAI's audio_start_ms includes the prefix padding. */
  speechStarted(e: SpeechStartedPayload, pad = 0): void {
    if (this.manual) return;
    const item = this.create(e.start);
    this.sink.emit(ev.speechStarted(item.id, this.ms(e.start - pad)));
  }

  interim(p: TranscriptionInterimPayload): void {
    const item = this.bind(p.seq, p.start, p.end);
    if (p.stable_text.length > item.sent.length && p.stable_text.startsWith(item.sent)) {
      this.sink.emit(ev.delta(item.id, p.stable_text.slice(item.sent.length)));
      item.sent = p.stable_text;
    }
  }

  speechStopped(e: SpeechStoppedEvent): void {
    if (this.manual) return;
    const item = this.bind(e.seq, e.start, e.end);
    // A client commit during speech already ended this item: OpenAI then sends no speech_stopped.
    if (item.committed) return;
    this.stop(item, e.end);
    this.commit(item);
  }

  final(e: FinalEvent): void {
    const p = e.payload;
    const item = this.bind(p.seq, p.start, p.end);
    if (!item.committed) {
      if (!this.manual) this.stop(item, p.end);
      this.commit(item);
    }
    const text = p.text;
    if (text.startsWith(item.sent)) {
      if (text.length > item.sent.length) this.sink.emit(ev.delta(item.id, text.slice(item.sent.length)));
    } else {
      this.sink.mismatch(item.id);
    }
    this.sink.emit(ev.completed(item.id, text, Math.round(p.duration * 1000) / 1000));
    this.remove(item);
  }

  /** An utterance could not be transcribed: the oldest committed item fails. Returns false when none waits. */
  failed(code: string, message: string): boolean {
    const item = this.open.find((i) => i.committed);
    if (!item) return false;
    this.sink.emit(ev.failed(item.id, code, message));
    this.remove(item);
    return true;
  }

  /**
   * `input_audio_buffer.commit`: ends the newest item still open (or a new
   * one when the speech had no event yet) and announces it. The caller then
   * finalizes the stream and calls `settle` once that is done.
   */
  commitNow(): string {
    const item = [...this.open].reverse().find((i) => !i.committed) ?? this.create();
    this.commit(item);
    return item.id;
  }

  /** After a commit's finalize: an item no final was bound to had no speech, so its transcript is empty. */
  settle(itemId: string): void {
    const item = this.open.find((i) => i.id === itemId);
    if (!item || item.seq !== null) return;
    this.sink.emit(ev.completed(item.id, "", 0));
    this.remove(item);
  }

  /** Stream seconds of the core's current stream → seconds of the session's audio. */
  sessionSeconds(streamSeconds: number): number {
    return streamSeconds + this.offset;
  }

  /**
   * The core's stream was opened again (its session had ended) after every
   * result of the old one was delivered: announced items nothing claimed are
   * closed, and times continue from `offset` seconds of session audio.
   */
  restart(offset: number): void {
    for (const item of this.open.filter((i) => i.seq === null && i.onset !== null)) this.closeEmpty(item);
    this.offset = offset;
  }

  /** `input_audio_buffer.clear`: items not yet committed are forgotten with their audio. */
  clear(): void {
    for (let i = this.open.length - 1; i >= 0; i--) if (!this.open[i]!.committed) this.open.splice(i, 1);
  }

  private ms(streamSeconds: number): number {
    return ev.ms(streamSeconds + this.offset);
  }

  private create(onset: number | null = null): Item {
    const item: Item = { id: `${this.prefix}${++this.count}`, seq: null, onset, sent: "", committed: false, stopped: false };
    this.open.push(item);
    return item;
  }

  /**
   * The item of the utterance `seq` ([start, end) in stream seconds): the one
   * bound to it; else the announced one whose onset it holds (the latest, if a
   * dropped blip was announced just before); else the oldest commit's item;
   * else a new one.
   */
  private bind(seq: number, start: number, end: number): Item {
    const known = this.open.find((i) => i.seq === seq);
    if (known) return known;
    const announced = this.open.filter((i) => i.seq === null && i.onset !== null);
    // Onsets are rounded to ms like the times they are compared with; an onset at `end` is the next utterance's.
    const holds = announced.filter((i) => i.onset! >= start - 0.002 && i.onset! < end - 0.0005);
    let item = holds.at(-1) ?? this.open.find((i) => i.seq === null && i.onset === null);
    const before = item?.onset ?? start - 0.002;
    for (const stale of announced) if (stale !== item && stale.onset! < before) this.closeEmpty(stale);
    if (!item) {
      item = this.create();
      if (!this.manual) this.sink.emit(ev.speechStarted(item.id, this.ms(start)));
    }
    item.seq = seq;
    return item;
  }

  /** An announced utterance the core dropped: closed with an empty transcript, so speech events stay paired. */
  private closeEmpty(item: Item): void {
    this.stop(item, item.onset ?? 0);
    if (!item.committed) this.commit(item);
    this.sink.emit(ev.completed(item.id, "", 0));
    this.remove(item);
  }

  private stop(item: Item, end: number): void {
    if (item.stopped) return;
    item.stopped = true;
    this.sink.emit(ev.speechStopped(item.id, this.ms(end)));
  }

  private commit(item: Item): void {
    item.committed = true;
    this.sink.emit(ev.committed(item.id, this.lastCommitted));
    this.lastCommitted = item.id;
  }

  private remove(item: Item): void {
    const i = this.open.indexOf(item);
    if (i >= 0) this.open.splice(i, 1);
  }
}
