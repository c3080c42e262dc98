import type { FinalEvent, SpeechStoppedEvent } from "../../stream/types.ts";
import type { SpeechStartedPayload, TranscriptionInterimPayload, WordPayload } from "../../transport/schemas.ts";
import { CHANNEL, secs, speechStarted, utteranceEnd, type DgMessage, type DgMeta, type DgResults, type DgWord } from "./messages.ts";

/**
 * The stream core's events → Deepgram Results, on the audio clock.
 *
 * Deepgram results tile the audio: an `is_final` result covers [cursor, end]
 * and is never revised; the next one starts where it ended. Our interims carry
 * a committed prefix (`stable_text`, only grows, the final starts with it), so
 * each newly committed run of words goes out once as an `is_final` result and
 * the rest of the hypothesis as one `is_final:false` result over a start that
 * stays put. The utterance's final sends the words not yet final, with
 * `speech_final` when silence ended it. Over silence, empty finals keep the
 * clock moving (Vocode's time-based endpointing adds up their durations).
 */

export interface MapperOptions {
  meta: DgMeta;
  /** punctuate / smart_format: transcripts as the model wrote them; else lower case without punctuation. */
  punctuate: boolean;
  /** False with `endpointing=false`: speech_final is never set. */
  endpointing: boolean;
  interimResults: boolean;
  vadEvents: boolean;
  /** Seconds; null = no UtteranceEnd messages. */
  utteranceEnd: number | null;
  /** The stream's language, for `languages` on interims (finals carry the decoded one). */
  language: string | null;
}

/** Over silence, an empty final every this many seconds of audio... */
export const SILENCE_FINAL_EVERY = 2;
/** ...ending this far behind the newest audio, so a VAD onset still being confirmed is not covered. */
export const SILENCE_LAG = 1;

interface Word {
  text: string;
  start: number;
  end: number;
  probability: number;
}

export class ResultMapper {
  /** End of the audio covered by is_final results (audio seconds). */
  private cursor = 0;
  /** The open utterance (seq) and how many of its words went out as is_final. */
  private seq = -1;
  private sent = 0;
  private wordsInUtterance = false;
  /**
   * Speech onsets arrive straight from the VAD, speechStopped and finals in
   * the stream's result order, so an onset may come before the previous
   * utterance's stop. Speech is open while the newest onset is not before the
   * newest stop's end.
   */
  private lastSpeechStart = -1;
  private lastStopEnd = 0;
  /** Utterances the VAD closed (cut parts included) whose final has not come yet. */
  private pending = 0;
  /** Finalize requests not yet answered with a from_finalize result. */
  private finalizeRequests = 0;
  private lastWordEnd: number | null = null;
  /** An UtteranceEnd may still be owed for lastWordEnd. */
  private utteranceEndDue = false;

  constructor(private readonly o: MapperOptions) {}

  /** No speech open and no final outstanding. */
  get idle(): boolean {
    return this.lastSpeechStart < this.lastStopEnd && this.pending === 0;
  }

  get finalizing(): boolean {
    return this.finalizeRequests > 0;
  }

  speechStarted(e: SpeechStartedPayload): DgMessage[] {
    this.lastSpeechStart = Math.max(this.lastSpeechStart, e.start);
    // A gap that was long enough is reported before the speech that ends it.
    const out = this.checkUtteranceEnd(e.start);
    if (this.o.vadEvents) out.push(speechStarted(e.start));
    return out;
  }

  speechStopped(e: SpeechStoppedEvent): void {
    this.pending++;
    // After a cut the speaker goes on: the next part is still open.
    if (e.endedBy !== "cut") this.lastStopEnd = Math.max(this.lastStopEnd, e.end);
  }

  interim(e: TranscriptionInterimPayload): DgMessage[] {
    this.enter(e.seq);
    const words = wordsOf(e.text, e.words, Math.max(this.cursor, e.start), e.end, this.sent);
    const stable = Math.min(countWords(e.stable_text), words.length);
    const out: DgMessage[] = [];
    if (stable > this.sent) {
      const run = words.slice(this.sent, stable);
      out.push(this.finalOver(run, run.at(-1)!.end, { speechFinal: false, fromFinalize: false }));
      this.sent = stable;
    }
    const tail = words.slice(stable);
    if (this.o.interimResults && tail.length > 0) out.push(this.results(tail, this.cursor, Math.max(e.end, this.cursor, tail.at(-1)!.end), false, false, false));
    return out;
  }

  /** An utterance will have no final (engine_error, queue_full): stop waiting for it. */
  lost(): void {
    this.pending = Math.max(0, this.pending - 1);
  }

  /** Called before the door asks the core to finalize: the next finalize-ended final answers it. */
  finalizeRequested(): void {
    this.finalizeRequests++;
  }

  final(e: FinalEvent, audioSeconds: number): DgMessage[] {
    const p = e.payload;
    this.enter(p.seq);
    const words = e.empty ? [] : wordsOf(p.text, p.words, p.start, p.end);
    const rest = words.slice(this.sent);
    const fromFinalize = e.endedBy === "finalize" && this.finalizeRequests > 0;
    if (fromFinalize) this.finalizeRequests--;
    const end = Math.max(p.end, rest.at(-1)?.end ?? 0);
    const out: DgMessage[] = [this.finalOver(rest, end, { speechFinal: this.o.endpointing && e.endedBy === "silence", fromFinalize, language: p.language })];
    this.pending = Math.max(0, this.pending - 1);
    if (this.wordsInUtterance) this.utteranceEndDue = true;
    this.seq = -1;
    this.sent = 0;
    this.wordsInUtterance = false;
    out.push(...this.checkUtteranceEnd(this.lastSpeechStart > (this.lastWordEnd ?? Infinity) ? this.lastSpeechStart : null, audioSeconds));
    return out;
  }

  /** A Finalize with nothing left to flush: one empty from_finalize final up to the newest audio. */
  answerFinalize(audioSeconds: number): DgMessage[] {
    if (this.finalizeRequests === 0) return [];
    this.finalizeRequests--;
    return [this.finalOver([], Math.max(audioSeconds, this.cursor), { speechFinal: false, fromFinalize: true })];
  }

  /** The audio clock moved: empty finals over silence, a due UtteranceEnd. */
  tick(audioSeconds: number): DgMessage[] {
    const out = this.checkUtteranceEnd(null, audioSeconds);
    if (this.idle && audioSeconds - SILENCE_LAG - this.cursor >= SILENCE_FINAL_EVERY) {
      out.push(this.finalOver([], audioSeconds - SILENCE_LAG, { speechFinal: false, fromFinalize: false }));
    }
    return out;
  }

  /** End of the stream: a last empty final so the results cover all the audio. */
  close(audioSeconds: number): DgMessage[] {
    return audioSeconds - this.cursor > 0.001 ? [this.finalOver([], audioSeconds, { speechFinal: false, fromFinalize: false })] : [];
  }

  private enter(seq: number): void {
    if (seq === this.seq) return;
    this.seq = seq;
    this.sent = 0;
    this.wordsInUtterance = false;
  }

  /** An is_final result over [cursor, end]; moves the cursor. */
  private finalOver(words: Word[], end: number, f: { speechFinal: boolean; fromFinalize: boolean; language?: string }): DgResults {
    const start = this.cursor;
    const to = Math.max(end, start);
    const r = this.results(words, start, to, true, f.speechFinal, f.fromFinalize, f.language);
    this.cursor = to;
    if (words.length > 0) {
      this.lastWordEnd = words.at(-1)!.end;
      this.wordsInUtterance = true;
      this.utteranceEndDue = false; // owed again once this utterance ends
    }
    return r;
  }

  /**
   * UtteranceEnd once per gap of utterance_end_ms after the last final word,
   * judged on the audio clock: owed only once that word's utterance has
   * ended, sent when the audio (or the next speech's start) reaches the gap.
   */
  private checkUtteranceEnd(nextSpeech: number | null, audioSeconds = 0): DgMessage[] {
    const gap = this.o.utteranceEnd;
    const w = this.lastWordEnd;
    if (gap === null || w === null || !this.utteranceEndDue) return [];
    if (nextSpeech !== null && nextSpeech > w) {
      this.utteranceEndDue = false;
      return nextSpeech - w >= gap ? [utteranceEnd(w)] : [];
    }
    if (this.idle && audioSeconds >= w + gap) {
      this.utteranceEndDue = false;
      return [utteranceEnd(w)];
    }
    return [];
  }

  private results(words: Word[], start: number, end: number, isFinal: boolean, speechFinal: boolean, fromFinalize: boolean, language?: string): DgResults {
    const dg: DgWord[] = words.map((w) => {
      const bare = bareWord(w.text);
      // Inside the result's window: a word the alignment put a little before it (its
      // utterance's earlier words went final with estimated times) starts at the window.
      const from = Math.min(Math.max(w.start, start), end);
      const to = Math.min(Math.max(w.end, from), end);
      return { word: bare, start: secs(from), end: secs(to), confidence: round(w.probability), punctuated_word: this.o.punctuate ? w.text : bare };
    });
    const lang = language ?? this.o.language;
    return {
      type: "Results",
      channel_index: [...CHANNEL],
      // From the rounded ends, so start + duration is exactly the rounded end (results tile to the ms).
      duration: secs(secs(end) - secs(start)),
      start: secs(start),
      is_final: isFinal,
      speech_final: speechFinal,
      from_finalize: fromFinalize,
      channel: {
        alternatives: [{ transcript: dg.map((w) => w.punctuated_word).join(" "), confidence: confidenceOf(dg), words: dg, ...(lang ? { languages: [lang] } : {}) }],
      },
      metadata: this.o.meta,
    };
  }
}

/**
 * Confidence of a result: the mean of its words' probabilities, kept
 * strictly positive (Vocode drops results whose confidence is not > 0). An
 * empty result asserts that nothing was said and carries 1.
 */
export function confidenceOf(words: readonly { confidence: number }[]): number {
  if (words.length === 0) return 1;
  const mean = words.reduce((s, w) => s + w.confidence, 0) / words.length;
  return round(Math.min(1, Math.max(0.001, mean)));
}

/** "Americans," → "americans"; inner apostrophes and hyphens stay ("don't", "well-known"). */
export function bareWord(text: string): string {
  return text
    .toLowerCase()
    .replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "")
    .replace(/[^\p{L}\p{N}'’\-.]/gu, "");
}

export function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

/**
 * Words of a hypothesis: the engine's timings when present. Else (interims
 * carry no timings yet) the words from index `skip` on, those not final yet,
 * are spread evenly over [start, end], with an unknown probability of 0.5;
 * the ones before keep zero-length times at `start` and are not sent again.
 */
export function wordsOf(text: string, timed: readonly WordPayload[] | undefined, start: number, end: number, skip = 0): Word[] {
  if (timed && timed.length > 0) return timed.map((w) => ({ text: w.word.trim(), start: w.start, end: w.end, probability: w.probability }));
  const parts = text.split(/\s+/).filter(Boolean);
  const n = parts.length - skip;
  const step = n > 0 ? Math.max(0, end - start) / n : 0;
  return parts.map((t, i) => {
    const k = Math.max(0, i - skip);
    return i < skip ? { text: t, start, end: start, probability: 0.5 } : { text: t, start: start + k * step, end: start + (k + 1) * step, probability: 0.5 };
  });
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
