/**
 * The product end to end: real Socket.IO clients, real Silero VAD, the real
 * CTranslate2 engine (the default config: tiny.en on CPU), real speech.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Socket } from "socket.io-client";
import { JFK_TEXT, SHARED_AUDIO, concat, decodeToPcm16, normalizeText, silence, wordErrorRate } from "../support/audio.ts";
import { client, collect, startServer, streamPcm, waitFor, type Harness } from "../support/harness.ts";
import type { TranscriptionPayload } from "../../src/transport/schemas.ts";
import { quiesce } from "../support/quiesce.ts";

setDefaultTimeout(180_000);

describe("end to end with the embedded model (tiny.en, float32: word for word on any x86 CPU)", () => {
  let h: Harness;
  const sockets: Socket[] = [];
  const callbacks: string[] = [];
  beforeAll(async () => {
    // Long enough silence_duration that JFK's pauses do not split the sentence.
    h = await startServer({ silence_duration: 0.8, capacity: { admission: true } as never }, { onTranscription: (text) => void callbacks.push(text) });
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await h.stop();
  });

  test("jfk.flac streamed in real time reaches the sender and a monitor once each, word for word", async () => {
    const sender = await client(h.url);
    const monitor = await client(h.url, { transports: ["polling"] });
    sockets.push(sender, monitor);
    await monitor.emitWithAck("subscribe_transcripts", { clientId: "jfk-e2e" });
    const atSender = collect<TranscriptionPayload>(sender, "transcription");
    const atMonitor = collect<TranscriptionPayload>(monitor, "transcription");
    const pcm = concat(await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`), silence(1.5));
    await streamPcm(sender, pcm, { clientId: "jfk-e2e", chunkMs: 100, realtime: true });
    await waitFor(() => atMonitor.length > 0 && atSender.length === atMonitor.length, 30000, "JFK transcript");
    await quiesce(h.url, [sender, monitor]);
    const text = (xs: TranscriptionPayload[]) => xs.map((p) => p.text).join(" ");
    expect(normalizeText(text(atSender))).toBe(JFK_TEXT);
    expect(wordErrorRate(JFK_TEXT, text(atMonitor))).toBe(0);
    expect(atSender.map((p) => p.seq)).toEqual(atMonitor.map((p) => p.seq));
    expect(new Set(atMonitor.map((p) => p.seq)).size).toBe(atMonitor.length);
    for (const p of atMonitor) {
      expect(p.language).toBe("en");
      expect(p.avg_logprob).toBeLessThan(0);
      expect(p.no_speech_prob).toBeGreaterThanOrEqual(0);
    }
    expect(normalizeText(callbacks.join(" "))).toBe(JFK_TEXT);
  });
});

describe("end to end with the CPU default compute type (int8)", () => {
  let h: Harness;
  afterAll(async () => {
    await h?.stop();
  });

  test("jfk.flac through the server with compute_type default: once each, within one misheard word", async () => {
    // int8 kernels differ per CPU instruction set (see EXACT_COMPUTE_TYPE); on
    // some hosts tiny.en int8 hears "so am I" for "so my" in the first utterance.
    h = await startServer({ compute_type: "default", silence_duration: 0.8, capacity: { admission: true } as never });
    const sender = await client(h.url);
    const monitor = await client(h.url);
    try {
      await monitor.emitWithAck("subscribe_transcripts", { clientId: "jfk-int8" });
      const atSender = collect<TranscriptionPayload>(sender, "transcription");
      const atMonitor = collect<TranscriptionPayload>(monitor, "transcription");
      const pcm = concat(await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`), silence(1.5));
      await streamPcm(sender, pcm, { clientId: "jfk-int8", chunkMs: 100 });
      await waitFor(() => atMonitor.length > 0 && atMonitor.at(-1)!.text.includes("country"), 30000, "JFK transcript");
      await quiesce(h.url, [sender, monitor]);
      const text = (xs: TranscriptionPayload[]) => xs.map((p) => p.text).join(" ");
      expect(atSender).toEqual(atMonitor);
      expect(wordErrorRate(JFK_TEXT, text(atSender))).toBeLessThanOrEqual(2 / 22);
    } finally {
      sender.disconnect();
      monitor.disconnect();
    }
  });
});

describe("end to end with the multilingual base model", () => {
  let h: Harness;
  beforeAll(async () => {
    if (!(await Bun.file("models/base/model.bin").exists())) {
      throw new Error("models/base missing: run `bash scripts/fetch-model.sh base` (scripts/test-setup.sh does)");
    }
    h = await startServer({ model_path: "models/base", language: null, silence_duration: 1.0, max_segment_duration: 25 });
  });
  afterAll(async () => {
    await h?.stop();
  });

  test("multilingual.mp3 yields an English part and a German part with their language codes", async () => {
    const s = await client(h.url);
    const got = collect<TranscriptionPayload>(s, "transcription");
    const pcm = concat(await decodeToPcm16(`${SHARED_AUDIO}/multilingual.mp3`), silence(2));
    await streamPcm(s, pcm, { clientId: "ml-e2e", chunkMs: 100 });
    await waitFor(() => got.some((p) => p.language === "de") && got.at(-1)!.end > pcm.length / 16000 - 4, 120000, "German transcript");
    await Bun.sleep(500);
    s.disconnect();
    const langs = got.map((p) => p.language);
    expect(langs[0]).toBe("en");
    expect(langs).toContain("de");
    // English first, then German: the language changes once.
    const firstDe = langs.indexOf("de");
    expect(langs.slice(0, firstDe).every((l) => l === "en")).toBe(true);
    const english = normalizeText(got.filter((p) => p.language === "en").map((p) => p.text).join(" "));
    const german = normalizeText(got.filter((p) => p.language === "de").map((p) => p.text).join(" "));
    expect(english).toContain("permission is hereby granted");
    expect(german).toMatch(/hiermit|erlaubnis|genehmigung|kostenlos/);
  });
});
