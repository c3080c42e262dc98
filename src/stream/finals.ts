import type { EngineResult, WordTiming } from "../engine/types.ts";

/**
 * What a closed utterance's result says, for every path that hands finals
 * out (live streams through any door, files): the text as sent and word times
 * moved from the utterance's clock to the stream's (or file's).
 */
export interface FinalText {
  text: string;
  /** Nothing worth sending: dropped by the guards, or one character or less (as the original server). */
  empty: boolean;
  words?: WordTiming[];
}

export function finalText(r: EngineResult | null, utteranceStart: number): FinalText {
  const text = r?.text.trim() ?? "";
  if (text.length <= 1) return { text: "", empty: true };
  const words = r?.words?.map((w) => ({ ...w, start: round3(utteranceStart + w.start), end: round3(utteranceStart + w.end) }));
  return { text, empty: false, ...(words ? { words } : {}) };
}

export const round3 = (x: number) => Math.round(x * 1000) / 1000;
