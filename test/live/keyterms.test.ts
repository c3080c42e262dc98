/**
 * Per-stream keyterms and prompt over the Socket.IO door, real engine
 * (float32): they condition the stream's utterances, change mid-stream from
 * the next utterance, never surface where there was no speech, and are limited.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Socket } from "socket.io-client";
import { SHARED_AUDIO, concat, decodeToPcm16, silence, speak } from "../support/audio.ts";
import { client, collect, startServer, streamPcm, waitFor, type Harness } from "../support/harness.ts";
import { rng } from "../support/random.ts";
import type { TranscriptionPayload } from "../../src/transport/schemas.ts";

setDefaultTimeout(120_000);

let h: Harness;
let hotwords: Int16Array;
beforeAll(async () => {
  h = await startServer({ stall_timeout: 20 });
  hotwords = concat(await decodeToPcm16(`${SHARED_AUDIO}/hotwords.mp3`), silence(1.5));
});
afterAll(async () => {
  await h?.stop();
});

/** Streams, then cleans up: cleanup_confirmed comes once every final of the stream was delivered. */
async function transcribe(s: Socket, clientId: string, pcm: Int16Array, realtime = false): Promise<TranscriptionPayload[]> {
  const finals = collect<TranscriptionPayload>(s, "transcription");
  await streamPcm(s, pcm, { clientId, realtime });
  const done = new Promise((r) => s.once("cleanup_confirmed", r));
  s.emit("cleanup_client", { clientId });
  await done;
  return finals.filter((f) => f.client_id === clientId);
}

describe("keyterms and prompt per stream", () => {
  test('keyterms ["ComfyUI"] give "ComfyUI" on hotwords.mp3; the same stream without them does not', async () => {
    const plain = await client(h.url);
    // With interims on: the final is forced to start with their committed prefix, and the keyterms must survive next to it.
    const withTerms = await client(h.url, { auth: { keyterms: ["ComfyUI"], interim_results: true, interim_interval: 0.3 } });
    const interims = collect<{ stable_text: string }>(withTerms, "transcription_interim");
    const [a, b] = await Promise.all([transcribe(plain, "kt-plain", hotwords), transcribe(withTerms, "kt-terms", hotwords, true)]);
    expect(interims.length).toBeGreaterThan(0);
    const plainText = a.map((f) => f.text).join(" ");
    const termsText = b.map((f) => f.text).join(" ");
    console.log(`without: ${plainText}\nwith:    ${termsText}`);
    expect(plainText).not.toContain("ComfyUI");
    expect(termsText).toContain("ComfyUI");
    plain.disconnect();
    withTerms.disconnect();
  });

  test("stream_options changes keyterms mid-stream, from the next utterance on", async () => {
    const s = await client(h.url);
    const finals = collect<TranscriptionPayload>(s, "transcription");
    await streamPcm(s, hotwords, { clientId: "kt-mid" });
    await waitFor(() => finals.length > 0, 30_000, "the first pass");
    const ack = await s.emitWithAck("stream_options", { clientId: "kt-mid", keyterms: ["ComfyUI"] });
    expect(ack).toMatchObject({ ok: true, options: { keyterms: ["ComfyUI"] } });
    const before = finals.length;
    const second = await transcribe(s, "kt-mid", hotwords);
    const firstText = finals.slice(0, before).map((f) => f.text).join(" ");
    const secondText = second.map((f) => f.text).join(" ");
    expect(firstText).toContain("comfy");
    expect(firstText).not.toContain("ComfyUI");
    expect(secondText).toContain("ComfyUI");
    s.disconnect();
  });

  test("keyterms never appear where there was no speech to hear them in (silence, noise, an unrelated sentence)", async () => {
    const seed = 1802;
    console.log(`noise seed ${seed}`);
    const r = rng(seed);
    const noise = Int16Array.from({ length: 16000 * 4 }, () => Math.round((r.next() * 2 - 1) * 3000));
    const sentence = await speak("The meeting has been moved to Thursday afternoon.", "en-us", 160);
    const s = await client(h.url, { auth: { keyterms: ["ComfyUI", "Kubernetes"], prompt: "Glossary: ComfyUI nodes, Kubernetes pods." } });
    const finals = await transcribe(s, "kt-noise", concat(silence(3), noise, silence(2), sentence, silence(1.5)));
    const text = finals.map((f) => f.text).join(" ");
    console.log(`noise stream: ${JSON.stringify(text)}`);
    expect(text.toLowerCase()).toContain("thursday"); // the speech was heard
    expect(text).not.toMatch(/comfy|kubernetes|glossary/i);
    s.disconnect();
  });

  test("too many or too long keyterms, or an over-long prompt, get a clear error", async () => {
    const s = await client(h.url);
    const errors = collect<{ code: string; message: string }>(s, "error");
    const many = Array.from({ length: 51 }, (_, i) => `term${i}`);
    expect(await s.emitWithAck("stream_options", { clientId: "kt-bad", keyterms: many })).toMatchObject({ ok: false, code: "invalid_payload" });
    expect(errors.at(-1)!.message).toContain("keyterms");
    expect(await s.emitWithAck("stream_options", { clientId: "kt-bad", keyterms: ["x".repeat(65)] })).toMatchObject({ ok: false, code: "invalid_payload" });
    expect(await s.emitWithAck("stream_options", { clientId: "kt-bad", prompt: "p".repeat(1001) })).toMatchObject({ ok: false, code: "invalid_payload" });
    expect(errors.at(-1)!.message).toContain("prompt");
    expect(errors).toHaveLength(3);
    s.disconnect();
  });
});
