/** Token timings → words: grouping at leading spaces, punctuation, clamping. */
import { describe, expect, test } from "bun:test";
import { groupWords } from "../../src/engine/words.ts";

const t = (text: string, start: number, end: number, p = 0.9) => ({ text, time: [start, end, p] as const });

describe("groupWords", () => {
  test("tokens join into words at leading spaces; times span the word's tokens; probability is their mean", () => {
    const w = groupWords([t(" And", 0.1, 0.3), t(" Amer", 0.3, 0.5, 0.8), t("icans", 0.5, 0.9, 0.6), t(".", 0.9, 1.0, 1)], 2);
    expect(w).toEqual([
      { word: "And", start: 0.1, end: 0.3, probability: 0.9 },
      { word: "Americans.", start: 0.3, end: 1.0, probability: 0.8 },
    ]);
  });

  test("standalone punctuation attaches to its neighbour: closing to the previous word, opening to the next", () => {
    const w = groupWords([t(" he", 0, 0.2), t(" said", 0.2, 0.4), t(" ,", 0.4, 0.45), t(" (", 0.5, 0.5), t("sic", 0.5, 0.7), t(" ¿", 0.8, 0.8), t(" Qué", 0.8, 1)], 2);
    expect(w.map((x) => x.word)).toEqual(["he", "said,", "(sic", "¿Qué"]);
  });

  test("times are clamped to the audio, never go backwards, and an over-long word is cut to twice the median", () => {
    const w = groupWords([t(" a", 0.5, 0.7), t(" b", 0.6, 0.8), t(" c", 0.8, 1.0), t(" d", 1.0, 4.5)], 3);
    expect(w[1]!.start).toBeGreaterThanOrEqual(w[0]!.end);
    for (const x of w) expect(x.end).toBeLessThanOrEqual(3);
    expect(w[3]!.end - w[3]!.start).toBeLessThanOrEqual(0.4 + 1e-9);
  });

  test("a word's bytes are decoded once whole (a character split across tokens)", () => {
    // "é" is C3 A9 in UTF-8; as byte-chars the two tokens carry one byte each.
    const latin = (bytes: number[]) => String.fromCharCode(...bytes);
    const utf8 = (s: string) => new TextDecoder().decode(Uint8Array.from(s, (c) => c.charCodeAt(0)));
    const w = groupWords([t(latin([0x20, 0x63, 0x61, 0x66, 0xc3]), 0, 0.3), t(latin([0xa9]), 0.3, 0.4)], 1, utf8);
    expect(w.map((x) => x.word)).toEqual(["café"]);
  });
});
