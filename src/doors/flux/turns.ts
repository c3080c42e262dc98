import type { FinalEvent } from "../../stream/types.ts";
import type { TranscriptionInterimPayload, TurnEagerPayload } from "../../transport/schemas.ts";
import { secs } from "../deepgram/messages.ts";
import { wordsOf } from "../deepgram/results.ts";
import type { FluxTurnInfo, FluxWord, TurnEvent } from "./messages.ts";

/**
 * The stream's events → Flux TurnInfo messages, under Flux's state rules
 * (docs/flux/state): StartOfTurn opens a turn; Update as the transcript
 * grows; EagerEndOfTurn (never empty) when the model leans to "complete";
 * TurnResumed only after an EagerEndOfTurn; EndOfTurn's transcript equals the
 * preceding EagerEndOfTurn's unless a TurnResumed came between, so a final
 * whose text differs from the eager one is preceded by a TurnResumed;
 * turn_index goes up after each EndOfTurn.
 *
 * One turn of the stream core is one utterance (one seq), except when
 * max_segment_duration cut it (`final: false`): those parts are carried and
 * the turn goes on.
 */

type Trigger = NonNullable<FluxTurnInfo["trigger"]>;

interface OpenTurn {
  start: number;
  end: number;
  /** Text and words of the parts max_segment_duration already closed. */
  carried: string;
  carriedWords: FluxWord[];
  /** The newest hypothesis of the part under way. */
  text: string;
  words: FluxWord[];
  probability: number;
  /** The EagerEndOfTurn transcript not yet followed by TurnResumed. */
  eager: string | null;
  /**
   * The model leaned to "complete" before any text of the turn had reached
   * the door (interims lag under load): P(complete) of an EagerEndOfTurn owed
   * at the first Update with text, unless speech resumes first.
   */
  owedEager: number | null;
}

export class TurnTracker {
  private turnIndex = 0;
  private turn: OpenTurn | null = null;

  constructor(private readonly requestId: string) {}

  get index(): number {
    return this.turnIndex;
  }

  speechStarted(start: number): FluxTurnInfo[] {
    if (this.turn) return [];
    return [this.open(start)];
  }

  interim(e: TranscriptionInterimPayload): FluxTurnInfo[] {
    const out = this.turn ? [] : [this.open(e.start)];
    const t = this.turn!;
    t.text = e.text.trim();
    t.words = fluxWords(e.text, e.words, e.start, e.end);
    t.end = Math.max(t.end, e.end);
    out.push(this.info("Update"));
    if (t.owedEager !== null && t.eager === null && join(t.carried, t.text)) {
      t.probability = t.owedEager;
      t.owedEager = null;
      t.eager = join(t.carried, t.text);
      out.push(this.info("EagerEndOfTurn"));
    }
    return out;
  }

  eager(e: TurnEagerPayload): FluxTurnInfo[] {
    const t = this.turn;
    if (!t) return [];
    t.probability = e.probability;
    const transcript = join(t.carried, e.text.trim());
    // Flux never sends an empty EagerEndOfTurn: it waits for the turn's first words.
    if (!transcript) {
      t.owedEager = e.probability;
      return [];
    }
    if (e.text.trim() !== t.text) {
      t.text = e.text.trim();
      t.words = fluxWords(e.text, undefined, t.start, t.end);
    }
    t.eager = transcript;
    return [this.info("EagerEndOfTurn")];
  }

  resumed(): FluxTurnInfo[] {
    const t = this.turn;
    if (t) t.owedEager = null;
    if (!t || t.eager === null) return [];
    t.eager = null;
    return [this.info("TurnResumed")];
  }

  /**
   * The utterance's final. `forced`: it was closed by ForceEndTurn.
   * Returns nothing for a final the door should not report (see `drop`).
   */
  final(e: FinalEvent, forced: boolean): FluxTurnInfo[] {
    const p = e.payload;
    const text = e.empty ? "" : p.text.trim();
    const words = e.empty ? [] : fluxWords(p.text, p.words, p.start, p.end);
    const out = this.turn ? [] : [this.open(p.start)];
    const t = this.turn!;
    t.end = Math.max(t.end, p.end);
    if (p.end_of_turn?.probability != null) t.probability = p.end_of_turn.probability;
    if (!p.final) {
      // max_segment_duration closed a part; the person is still talking.
      t.carried = join(t.carried, text);
      t.carriedWords = [...t.carriedWords, ...words];
      t.text = "";
      t.words = [];
      out.push(this.info("Update"));
      return out;
    }
    t.text = text;
    t.words = words;
    if (t.eager !== null && t.eager !== join(t.carried, text)) out.push(...this.resumed());
    out.push({ ...this.info("EndOfTurn"), trigger: triggerOf(p.end_of_turn?.trigger, forced) });
    this.turn = null;
    this.turnIndex++;
    return out;
  }

  /** Forgets the open turn without a message (CloseStream: Flux sends no EndOfTurn for it). */
  drop(): void {
    this.turn = null;
  }

  private open(start: number): FluxTurnInfo {
    this.turn = { start, end: start, carried: "", carriedWords: [], text: "", words: [], probability: 0, eager: null, owedEager: null };
    return this.info("StartOfTurn");
  }

  private info(event: TurnEvent): FluxTurnInfo {
    const t = this.turn!;
    return {
      type: "TurnInfo",
      request_id: this.requestId,
      event,
      turn_index: this.turnIndex,
      audio_window_start: secs(t.start),
      audio_window_end: secs(t.end),
      transcript: join(t.carried, t.text),
      words: [...t.carriedWords, ...t.words],
      end_of_turn_confidence: round(t.probability),
    };
  }
}

function triggerOf(t: string | undefined, forced: boolean): Trigger {
  if (forced || t === "finalize") return "manual";
  // eot_timeout's silence, the stall timer, max_segment_duration: no verdict of the model, time ran out.
  return t === "model" || t === undefined ? "model" : "timeout";
}

function fluxWords(text: string, timed: TranscriptionInterimPayload["words"], start: number, end: number): FluxWord[] {
  return wordsOf(text, timed, start, end).map((w) => ({ word: w.text, confidence: round(w.probability), start: secs(w.start), end: secs(w.end) }));
}

function join(a: string, b: string): string {
  return a && b ? `${a} ${b}` : a || b;
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
