/** A shim result as the engine's EngineResult: text, tokens, scores and words. */
import type { NativeResult } from "../../ffi/sttwhisper.ts";
import type { EngineResult } from "./types.ts";
import { groupWords } from "./words.ts";

export function toResult(r: NativeResult, ms: number, batchSize: number, seconds: number, pieces: Uint8Array[] | undefined): EngineResult {
  const words =
    r.token_times && pieces
      ? groupWords(
          r.tokens.filter((t) => t < pieces.length).map((t, i) => ({ text: latin(pieces[t]), time: r.token_times![i]! })),
          seconds,
          utf8,
        )
      : undefined;
  const times = r.token_times;
  const perToken = times && times.length === r.tokens.length ? times : undefined;
  return {
    words,
    tokenEnds: perToken?.map((t) => Math.min(seconds, t[1])),
    tokenProbs: perToken?.map((t) => t[2]),
    text: r.text,
    tokens: r.tokens,
    avgLogprob: r.avg_logprob,
    noSpeechProb: r.no_speech_prob,
    language: r.language || "en",
    languageProbability: r.language_probability,
    engineMs: ms,
    batchSize,
  };
}

/**
 * A token's text for word grouping. Bytes of a character split across tokens
 * decode on their own to U+FFFD, so the word text is rebuilt from bytes: each
 * word keeps the raw bytes of its tokens and is decoded once whole.
 */
function latin(bytes: Uint8Array | undefined): string {
  return bytes ? String.fromCharCode(...bytes) : "";
}

function utf8(latinText: string): string {
  return new TextDecoder().decode(Uint8Array.from(latinText, (c) => c.charCodeAt(0)));
}
