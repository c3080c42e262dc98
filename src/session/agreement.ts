/**
 * LocalAgreement-2 over token hypotheses of one open utterance (as
 * whisper_streaming), one word more careful: a word is committed once two
 * consecutive hypotheses agree on it and on the whole word after it. Committed tokens are forced
 * as the decoder prefix of every later hypothesis and of the final, so the
 * committed text only grows and the final starts with it.
 *
 * With token timings (the engine's cross-attention alignment), a word is also
 * committed only once its aligned end lies COMMIT_MARGIN before the edge of
 * the audio the hypothesis saw (a word still being spoken is the one partial
 * hypotheses agree on wrongly), and only while every word up to it has a
 * probability of at least MIN_COMMIT_PROBABILITY: tiny.en agrees with itself
 * on "Like your country" for "What your country" after a pause, but at 0.2-0.4
 * on "Like", where it is sure (> 0.9) of the words it gets right. A word below
 * it is left to the final, and so is everything after it, since the committed
 * text is a prefix. Without timings the last agreed word is held back instead,
 * which costs a whole word of latency.
 *
 * Unsure is not always wrong: tiny.en says the right "What" of "What your
 * country" at 0.26-0.48 in every hypothesis once it hears the words after it,
 * and under the rule above that one word held the whole 5 s utterance back
 * until its final (the p95 of stable-word latency in bench:live). So an unsure
 * word (at least MIN_CONFIRMED_PROBABILITY) is committed once CONFIRMATIONS
 * consecutive hypotheses agree on it and everything before it, each with at
 * least CONFIRMED_CONTEXT seconds of audio after the word: the wrong "Like"
 * came and went within two hypotheses.
 */

/** Seconds a committed word must end before the audio edge (alignment is good to ~0.1-0.2 s). */
export const COMMIT_MARGIN = 0.3;
/** Least mean token probability of a word that may be committed. */
export const MIN_COMMIT_PROBABILITY = 0.5;
/** Hypotheses in a row that must agree on a word below MIN_COMMIT_PROBABILITY. */
export const CONFIRMATIONS = 3;
/** Seconds of audio each of them must have heard after that word. */
export const CONFIRMED_CONTEXT = 1.0;
/** Below this an unsure word is never committed by confirmation. */
export const MIN_CONFIRMED_PROBABILITY = 0.2;

/** Per token of a hypothesis: its aligned end and probability; `edge` is the audio's length (seconds from the utterance start). */
export interface TokenTiming {
  ends: readonly number[];
  probs: readonly number[];
  edge: number;
}

/** Longest committed prefix (tokens): the shim accepts up to half of Whisper's 448. */
export const MAX_COMMITTED = 200;

export interface Hypothesis {
  /** Whole hypothesis text (committed part included). */
  text: string;
  /** Text of the committed tokens. */
  stableText: string;
}

export class LocalAgreement {
  private committedTokens: number[] = [];
  /** The newest hypotheses (tokens, timings when aligned), oldest first, at most CONFIRMATIONS. */
  private history: { tokens: readonly number[]; timing: TokenTiming | undefined }[] = [];

  /** @param textOf decodes token ids the way the engine does. */
  constructor(private readonly textOf: (tokens: readonly number[]) => string) {}

  get committed(): readonly number[] {
    return this.committedTokens;
  }

  /** The newest hypothesis's text (committed part included); "" before the first. */
  get latestText(): string {
    const last = this.history.at(-1);
    return last ? this.textOf(last.tokens).trim() : "";
  }

  /**
   * Takes the next hypothesis (its tokens begin with the committed ones) and returns what to show.
   * @param timing the hypothesis's token timings (ignored unless there is one per token).
   */
  update(tokens: readonly number[], timing?: TokenTiming): Hypothesis {
    const aligned = timing && timing.ends.length === tokens.length && timing.probs.length === tokens.length ? timing : undefined;
    const c = this.committedTokens.length;
    if (!startsWith(tokens, this.committedTokens)) {
      // Not decoded from the current prefix (a stale or guarded result): show nothing new.
      return { text: this.stable(), stableText: this.stable() };
    }
    const prev = this.history.at(-1)?.tokens;
    this.history.push({ tokens, timing: aligned });
    if (this.history.length > CONFIRMATIONS) this.history.shift();
    if (prev && startsWith(prev, this.committedTokens)) {
      let common = c;
      while (common < tokens.length && common < prev.length && tokens[common] === prev[common]) common++;
      // Commit up to a word boundary both hypotheses agree on: the next token
      // opens a word (or one hypothesis ends there while the other goes on).
      for (let j = Math.min(common, MAX_COMMITTED); j > c; j--) {
        const aEnds = j === tokens.length;
        const bEnds = j === prev.length;
        if (aEnds && bEnds) continue; // the speaker may still be inside this word
        if ((aEnds || this.opensWord(tokens[j]!)) && (bEnds || this.opensWord(prev[j]!))) {
          // At the edge of the audio two partial hypotheses often agree on a
          // wrong word ("like" for the start of "what"). With timings, step
          // back to the last word that ended well before the edge; without,
          // hold the last agreed word back until a later one is agreed too.
          let k = aligned ? j : j - 1;
          for (;;) {
            while (k > c && k < tokens.length && !this.opensWord(tokens[k]!)) k--;
            if (k <= c || !aligned || aligned.ends[k - 1]! <= aligned.edge - COMMIT_MARGIN) break;
            k--;
          }
          if (aligned) k = this.sureUpTo(tokens, c, k, aligned.probs, common);
          if (k > c) this.committedTokens = tokens.slice(0, k);
          break;
        }
      }
    }
    return { text: this.textOf(tokens).trim(), stableText: this.stable() };
  }

  /**
   * The end of the longest run of words from `from` (a word start) to `to`
   * whose every word is probable enough, or unsure but confirmed.
   */
  private sureUpTo(tokens: readonly number[], from: number, to: number, probs: readonly number[], agreed: number): number {
    let i = from;
    while (i < to) {
      let e = i + 1;
      while (e < to && !this.opensWord(tokens[e]!)) e++;
      let sum = 0;
      for (let t = i; t < e; t++) sum += probs[t]!;
      const p = sum / (e - i);
      if (p < MIN_COMMIT_PROBABILITY && !(p >= MIN_CONFIRMED_PROBABILITY && this.confirmed(tokens, e, agreed))) return i;
      i = e;
    }
    return to;
  }

  /**
   * Whether the last CONFIRMATIONS hypotheses (this one included) all start
   * with tokens[0, end) and each heard CONFIRMED_CONTEXT seconds after it.
   * `agreed` tokens are already known to match the previous hypothesis.
   */
  private confirmed(tokens: readonly number[], end: number, agreed: number): boolean {
    if (this.history.length < CONFIRMATIONS || end > agreed) return false;
    const word = tokens.slice(0, end);
    return this.history.every(
      ({ tokens: t, timing }) =>
        timing !== undefined && startsWith(t, word) && (t.length === end || this.opensWord(t[end]!)) && timing.ends[end - 1]! <= timing.edge - CONFIRMED_CONTEXT,
    );
  }

  private stable(): string {
    return this.textOf(this.committedTokens).trim();
  }

  private opensWord(token: number): boolean {
    return /^\s/.test(this.textOf([token]));
  }
}

function startsWith(a: readonly number[], prefix: readonly number[]): boolean {
  if (a.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (a[i] !== prefix[i]) return false;
  return true;
}
