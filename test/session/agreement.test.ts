/** LocalAgreement-2 on token hypotheses: what gets committed, and that it never shrinks. */
import { describe, expect, test } from "bun:test";
import { LocalAgreement } from "../../src/session/agreement.ts";

// Token ids stand for words; 100+ continue the previous word (no leading space).
const VOCAB: Record<number, string> = { 1: " And", 2: " so", 3: " my", 4: " fellow", 5: " Americans", 6: " ask", 7: " not", 8: " asked", 9: " like", 100: ".", 101: "s" };
const textOf = (ids: readonly number[]) => ids.map((i) => VOCAB[i] ?? "?").join("");
/** Token probabilities of a hypothesis Whisper is sure of. */
const sure = (n: number) => Array<number>(n).fill(0.9);

describe("LocalAgreement", () => {
  test("a word is committed once two hypotheses agree on it and on the whole word after it", () => {
    const a = new LocalAgreement(textOf);
    expect(a.update([1, 2, 3])).toEqual({ text: "And so my", stableText: "" });
    // Both agree on "And so my" (the next token opens a word in one and ends the other): "my" is held back.
    expect(a.update([1, 2, 3, 4])).toEqual({ text: "And so my fellow", stableText: "And so" });
    // "fellow" vs "fellows": "fellow" is not a whole agreed word yet, so "my" is still the edge.
    expect(a.update([1, 2, 3, 4, 101]).stableText).toBe("And so");
    expect(a.update([1, 2, 3, 4, 101, 5]).stableText).toBe("And so my");
    expect(a.update([1, 2, 3, 4, 101, 5, 6]).stableText).toBe("And so my fellows");
    expect(a.committed).toEqual([1, 2, 3, 4, 101]);
  });

  test("a word two partial hypotheses agree on at the edge is not committed until a later word agrees too", () => {
    const a = new LocalAgreement(textOf);
    a.update([6, 7, 9]); // "ask not like" (the start of "what")
    expect(a.update([6, 7, 9, 3]).stableText).toBe("ask not"); // "like" agreed too, but it is the edge: held back
    expect(a.update([6, 7, 2, 3]).stableText).toBe("ask not"); // the audio went on: it was not "like"
    expect(a.committed).toEqual([6, 7]);
  });

  test("punctuation keeps a word open; disagreement past the committed prefix commits nothing more", () => {
    const a = new LocalAgreement(textOf);
    a.update([1, 2, 5, 100]);
    expect(a.update([1, 2, 5, 6]).stableText).toBe("And");
    expect(a.update([1, 2, 5, 8, 7]).stableText).toBe("And so");
    expect(a.update([1, 2, 5, 6, 7]).stableText).toBe("And so");
  });

  test("the committed text only grows, and a hypothesis that does not start with it changes nothing", () => {
    const a = new LocalAgreement(textOf);
    a.update([1, 2, 3]);
    a.update([1, 2, 3, 4]);
    const before = a.committed;
    expect(a.update([6, 7])).toEqual({ text: "And so", stableText: "And so" });
    expect(a.committed).toEqual(before);
    let last = "";
    for (const h of [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 100]]) {
      const s = a.update(h).stableText;
      expect(s.startsWith(last)).toBe(true);
      last = s;
    }
    expect(last).toBe("And so my fellow Americans");
  });

  test("with token timings, agreed words are committed up to the last one ending COMMIT_MARGIN before the audio edge, with no word held back", () => {
    const a = new LocalAgreement(textOf);
    // "And so my fellow": ends 0.4, 0.7, 1.0, 1.5 s; audio edge 1.6 s.
    a.update([1, 2, 3, 4], { ends: [0.4, 0.7, 1.0, 1.5], probs: sure(4), edge: 1.6 });
    // All four agreed (one hypothesis ends where the other goes on); "fellow" ends 0.2 s before the edge: not yet.
    expect(a.update([1, 2, 3, 4, 5], { ends: [0.4, 0.7, 1.0, 1.5, 1.7], probs: sure(5), edge: 1.7 }).stableText).toBe("And so my");
    // Edge moved on: "fellow" (1.5) is now 0.7 s behind it and agreed: committed; "Americans" ends 0.2 s before it: not.
    expect(a.update([1, 2, 3, 4, 5, 6], { ends: [0.4, 0.7, 1.0, 1.5, 2.2, 2.3], probs: sure(6), edge: 2.4 }).stableText).toBe("And so my fellow");
    expect(a.committed).toEqual([1, 2, 3, 4]);
  });

  test("with timings, a word's trailing punctuation token counts: the word ends where its last token does", () => {
    const a = new LocalAgreement(textOf);
    a.update([1, 2, 5, 100, 6], { ends: [0.3, 0.6, 1.0, 1.9, 2.0], probs: sure(5), edge: 2.1 });
    // "Americans." ends at 1.9 (its "." token), inside the margin: only "And so".
    expect(a.update([1, 2, 5, 100, 6, 7], { ends: [0.3, 0.6, 1.0, 1.9, 2.0, 2.1], probs: sure(6), edge: 2.15 }).stableText).toBe("And so");
  });

  test("timings of another length than the tokens are ignored (the held-back rule applies)", () => {
    const a = new LocalAgreement(textOf);
    a.update([1, 2, 3], { ends: [0.1], probs: sure(1), edge: 5 });
    expect(a.update([1, 2, 3, 4], { ends: [0.1], probs: sure(1), edge: 5 }).stableText).toBe("And so");
  });

  test("with timings, a word below MIN_COMMIT_PROBABILITY is left to the final, and every word after it too", () => {
    const a = new LocalAgreement(textOf);
    // "like so my fellow" for "what so my fellow": agreed twice, long before the edge, but "like" at 0.3.
    const probs = [0.3, 0.95, 0.95, 0.95];
    a.update([9, 2, 3, 4], { ends: [0.4, 0.7, 1.0, 1.3], probs, edge: 3 });
    expect(a.update([9, 2, 3, 4], { ends: [0.4, 0.7, 1.0, 1.3], probs, edge: 3.6 }).stableText).toBe("");
    // Once the audio after it makes Whisper sure, it is committed with the rest.
    // A word's probability is the mean of its tokens ("fellow" + "s": 0.9 and 0.2 = 0.55).
    a.update([1, 2, 3, 4, 101], { ends: [0.4, 0.7, 1.0, 1.3, 1.4], probs: [0.8, 0.95, 0.95, 0.9, 0.2], edge: 4.2 });
    expect(a.update([1, 2, 3, 4, 101, 5], { ends: [0.4, 0.7, 1.0, 1.3, 1.4, 2], probs: [0.8, 0.95, 0.95, 0.9, 0.2, 0.9], edge: 4.8 }).stableText).toBe("And so my fellows");
    // A word at 0.45 (mean of 0.9 and 0.0) stops the commit before it.
    const b = new LocalAgreement(textOf);
    b.update([1, 4, 101, 5], { ends: [0.4, 0.8, 0.9, 1.5], probs: [0.9, 0.9, 0.0, 0.9], edge: 3 });
    expect(b.update([1, 4, 101, 5, 6], { ends: [0.4, 0.8, 0.9, 1.5, 2], probs: [0.9, 0.9, 0.0, 0.9, 0.9], edge: 3 }).stableText).toBe("And");
  });

  test("an unsure word is committed once CONFIRMATIONS hypotheses in a row agree on it, each with CONFIRMED_CONTEXT s of audio after it", () => {
    // tiny.en on "What your country ...": the right first word at 0.3 in every hypothesis.
    const probs = (n: number) => [0.3, ...sure(n - 1)];
    const a = new LocalAgreement(textOf);
    a.update([9, 2, 3], { ends: [0.6, 0.9, 1.2], probs: probs(3), edge: 1.8 });
    // Two agree: the old rule, nothing committed.
    expect(a.update([9, 2, 3, 4], { ends: [0.6, 0.9, 1.2, 1.9], probs: probs(4), edge: 2.4 }).stableText).toBe("");
    // The third in a row: "like" and the sure words after it.
    expect(a.update([9, 2, 3, 4, 5], { ends: [0.6, 0.9, 1.2, 1.9, 2.6], probs: probs(5), edge: 3.0 }).stableText).toBe("like so my fellow");

    // A hypothesis in between that says something else breaks the run.
    const b = new LocalAgreement(textOf);
    b.update([9, 2, 3], { ends: [0.6, 0.9, 1.2], probs: probs(3), edge: 1.8 });
    b.update([1, 2, 3], { ends: [0.6, 0.9, 1.2], probs: probs(3), edge: 2.4 });
    expect(b.update([9, 2, 3, 4], { ends: [0.6, 0.9, 1.2, 1.9], probs: probs(4), edge: 3.0 }).stableText).toBe("");
    expect(b.update([9, 2, 3, 4], { ends: [0.6, 0.9, 1.2, 1.9], probs: probs(4), edge: 3.6 }).stableText).toBe("");

    // Three in a row, but the first heard only 0.6 s after the word: not yet.
    const c = new LocalAgreement(textOf);
    c.update([9, 2], { ends: [0.6, 0.9], probs: probs(2), edge: 1.2 });
    c.update([9, 2, 3], { ends: [0.6, 0.9, 1.2], probs: probs(3), edge: 1.8 });
    expect(c.update([9, 2, 3, 4], { ends: [0.6, 0.9, 1.2, 1.9], probs: probs(4), edge: 2.4 }).stableText).toBe("");

    // Below MIN_CONFIRMED_PROBABILITY no run of hypotheses commits it.
    const d = new LocalAgreement(textOf);
    const low = (n: number) => [0.1, ...sure(n - 1)];
    for (const edge of [1.8, 2.4, 3.0, 3.6]) d.update([9, 2, 3], { ends: [0.6, 0.9, 1.2], probs: low(3), edge });
    expect(d.committed).toEqual([]);
  });
});
