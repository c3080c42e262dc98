/**
 * Deepgram's official JS SDK (@deepgram/sdk, pinned in package.json) against
 * /v1/listen on a real server: real Silero, real CTranslate2 (float32, so the
 * transcript is word for word), jfk.flac streamed in real time.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { JFK_TEXT, SHARED_AUDIO, concat, decodeToPcm16, normalizeText, silence, wordErrorRate } from "../support/audio.ts";
import { startServer, waitFor, type Harness } from "../support/harness.ts";
import type { DgMetadata, DgResults, DgSpeechStarted, DgUtteranceEnd } from "../../src/doors/deepgram/messages.ts";
import { DG_KEY, expectComplete, finalsOf, resultsOf, sdkStream, sendRealtime, textOf } from "./support.ts";

setDefaultTimeout(180_000);

let h: Harness;
let jfk: Int16Array;

beforeAll(async () => {
  jfk = await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`);
  h = await startServer({ auth: { tokens: [DG_KEY] } as never });
});
afterAll(async () => {
  await h?.stop();
});

/** Consecutive is_final results tile the audio: each starts where the previous one ended. */
function expectTiled(finals: DgResults[]): void {
  for (let i = 1; i < finals.length; i++) {
    const prev = finals[i - 1]!;
    expect(Math.abs(finals[i]!.start - (prev.start + prev.duration))).toBeLessThan(0.0015);
  }
}

describe("@deepgram/sdk live transcription", () => {
  test("jfk.flac in real time: interims, word-exact finals with words, SpeechStarted, UtteranceEnd; CloseStream → last finals, Metadata, close 1000", async () => {
    const s = await sdkStream(h.url, { interim_results: "true", punctuate: "true", vad_events: "true", utterance_end_ms: "1000" });
    await sendRealtime((b) => s.socket.sendMedia(b), concat(jfk, silence(1.5)));
    s.socket.sendCloseStream({ type: "CloseStream" });
    const closed = await s.closed;
    expect(closed.code).toBe(1000);

    const results = resultsOf(s.messages);
    const requestId = results[0]!.metadata.request_id;
    for (const r of results) expectComplete(r, requestId);
    const finals = finalsOf(s.messages);
    expect(normalizeText(textOf(finals))).toBe(JFK_TEXT);
    // Interims came, and each word went out in exactly one final.
    expect(results.filter((r) => !r.is_final && r.channel.alternatives[0]!.transcript).length).toBeGreaterThan(0);
    const finalWords = finals.flatMap((r) => r.channel.alternatives[0]!.words);
    expect(finalWords.map((w) => w.word).join(" ")).toBe(JFK_TEXT);
    expect(finalWords.every((w) => w.punctuated_word.toLowerCase().replace(/[^a-z']/g, "") === w.word)).toBe(true);
    expect(finalWords.some((w) => w.punctuated_word !== w.word)).toBe(true); // punctuate=true: cased, punctuated
    expectTiled(finals);
    // Times are on the audio clock: inside the 12.5 s sent, words inside their result.
    for (const r of finals) for (const w of r.channel.alternatives[0]!.words) expect(w.start >= r.start && w.end <= r.start + r.duration + 0.001).toBe(true);
    expect(finals.at(-1)!.start + finals.at(-1)!.duration).toBeLessThanOrEqual(jfk.length / 16000 + 1.5 + 0.01);
    // Silence ended JFK's sentences: speech_final.
    expect(finals.some((r) => r.speech_final && r.channel.alternatives[0]!.transcript)).toBe(true);

    const started = s.messages.filter((m): m is DgSpeechStarted => m.type === "SpeechStarted");
    expect(started.length).toBeGreaterThan(0);
    // Silero's onset (unpadded) falls inside the first word (whose start is the padded utterance start).
    expect(started[0]!.timestamp).toBeLessThan(finalWords[0]!.end);
    expect(started[0]!.channel).toEqual([0, 1]);
    const ends = s.messages.filter((m): m is DgUtteranceEnd => m.type === "UtteranceEnd");
    expect(ends.length).toBeGreaterThan(0);
    // Each UtteranceEnd names a final word's end, and comes after that word's result.
    for (const e of ends) {
      const at = s.messages.indexOf(e);
      expect(finals.some((r) => s.messages.indexOf(r) < at && r.channel.alternatives[0]!.words.at(-1)?.end === e.last_word_end)).toBe(true);
    }
    expect(new Set(ends.map((e) => e.last_word_end)).size).toBe(ends.length);

    const meta = s.messages.at(-1) as DgMetadata;
    expect(meta.type).toBe("Metadata");
    expect(meta.request_id).toBe(requestId);
    expect(meta.channels).toBe(1);
    expect(meta.duration).toBeCloseTo(jfk.length / 16000 + 1.5, 1);
    expect(meta.sha256).toBe(new Bun.CryptoHasher("sha256").update(new Uint8Array(concat(jfk, silence(1.5)).buffer)).digest("hex"));
  });

  test("Finalize mid-sentence: exactly one from_finalize final, and the stream goes on", async () => {
    const s = await sdkStream(h.url, { interim_results: "true", punctuate: "true" });
    const cut = Math.round(1.6 * 16000); // inside "And so my fellow Americans"
    await sendRealtime((b) => s.socket.sendMedia(b), jfk, 0, cut);
    const before = s.messages.length;
    s.socket.sendFinalize({ type: "Finalize" });
    await waitFor(() => resultsOf(s.messages).some((r) => r.from_finalize), 60_000, "the from_finalize answer");
    const answer = resultsOf(s.messages).find((r) => r.from_finalize)!;
    expect(s.messages.indexOf(answer)).toBeGreaterThanOrEqual(before);
    expect(answer.is_final).toBe(true);
    expect(answer.start + answer.duration).toBeLessThanOrEqual(cut / 16000 + 0.01);
    await sendRealtime((b) => s.socket.sendMedia(b), concat(jfk.subarray(cut), silence(1.5)));
    s.socket.sendCloseStream({ type: "CloseStream" });
    expect((await s.closed).code).toBe(1000);
    const finals = finalsOf(s.messages);
    expect(finals.filter((r) => r.from_finalize)).toHaveLength(1);
    expectTiled(finals);
    // The rest of the clip was transcribed after the flush (a word may be cut at the Finalize).
    const after = finals.filter((r) => s.messages.indexOf(r) > s.messages.indexOf(answer));
    expect(normalizeText(textOf(after))).toContain("ask what you can do for your country");
    expect(wordErrorRate(JFK_TEXT, textOf(finals))).toBeLessThanOrEqual(0.15);
  });

  test("KeepAlive every 3 s holds the stream open over a 12 s pause in the audio (the audio clock does not count it); CloseStream drains the last sentence", async () => {
    const s = await sdkStream(h.url, { interim_results: "false", punctuate: "true" });
    const part = Math.round(3.4 * 16000); // "And so my fellow Americans" and its pause
    await sendRealtime((b) => s.socket.sendMedia(b), jfk, 0, part);
    let closedEarly = false;
    void s.closed.then(() => (closedEarly = true));
    for (let t = 0; t < 12; t += 3) {
      s.socket.sendKeepAlive({ type: "KeepAlive" });
      await Bun.sleep(3000);
    }
    expect(closedEarly).toBe(false);
    // No trailing silence: CloseStream itself ends the last sentence, whose final still comes before Metadata.
    await sendRealtime((b) => s.socket.sendMedia(b), jfk.subarray(part));
    const sentAt = s.messages.length;
    s.socket.sendCloseStream({ type: "CloseStream" });
    expect((await s.closed).code).toBe(1000);
    const finals = finalsOf(s.messages);
    expect(normalizeText(textOf(finals))).toBe(JFK_TEXT);
    expect(textOf(finals.filter((r) => s.messages.indexOf(r) >= sentAt))).toContain("country");
    // No interims were asked for.
    expect(resultsOf(s.messages).every((r) => r.is_final)).toBe(true);
    const end = finals.at(-1)!.start + finals.at(-1)!.duration;
    expect(end).toBeLessThanOrEqual(jfk.length / 16000 + 0.01);
    expect((s.messages.at(-1) as DgMetadata).duration).toBeCloseTo(jfk.length / 16000, 1);
  });
});
