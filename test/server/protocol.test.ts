import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket } from "socket.io-client";
import { SHARED_AUDIO, concat, decodeToPcm16, silence, speak } from "../support/audio.ts";
import { client, collect, startServer, streamPcm, waitFor, type Harness } from "../support/harness.ts";
import { RecordingEngine } from "../support/test-engine.ts";
import type { CleanupConfirmedPayload, ErrorPayload, TranscriptionPayload } from "../../src/transport/schemas.ts";
import { quiesce, roundTrip } from "../support/quiesce.ts";

let h: Harness;
let engine: RecordingEngine;
let sentence: Int16Array; // one short utterance followed by enough silence to close it
let jfk: Int16Array;
const callbacks: { text: string; clientId: string; duration: number }[] = [];
const sockets: Socket[] = [];

async function sock(opts?: Parameters<typeof client>[1]): Promise<Socket> {
  const s = await client(h.url, opts);
  sockets.push(s);
  return s;
}

beforeAll(async () => {
  engine = new RecordingEngine();
  h = await startServer(
    { limits: { max_payload_bytes: 64 * 1024, max_events_per_second: 400 } as never },
    {
      engine,
      onTranscription: (text, clientId, duration) => {
        callbacks.push({ text, clientId, duration });
        if (clientId === "throwing-callback") throw new Error("callback bug");
      },
    },
  );
  sentence = concat(silence(0.3), await speak("Hello there, this is a test sentence."), silence(1.2));
  jfk = await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`);
});

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await h.stop();
});

describe("protocol", () => {
  test("connect emits connection_status", async () => {
    const s = client(h.url);
    // Listen before the handshake completes: the server emits right on connect.
    const got = await new Promise<unknown>((resolve) => {
      void s.then((c) => c.once("connection_status", resolve));
    });
    expect(got).toEqual({ status: "connected" });
    sockets.push(await s);
  });

  test("object form: sender and two monitors each get every transcript exactly once", async () => {
    const id = "room-jfk";
    const sender = await sock();
    const m1 = await sock();
    const m2 = await sock({ transports: ["polling"] });
    const acks = await Promise.all([m1, m2].map((m) => m.emitWithAck("subscribe_transcripts", { clientId: id })));
    expect(acks).toEqual([{ ok: true, clientId: id }, { ok: true, clientId: id }]);
    const got = [sender, m1, m2].map((s) => collect<TranscriptionPayload>(s, "transcription"));
    await streamPcm(sender, concat(jfk, silence(1.5)), { clientId: id });
    await waitFor(() => got.every((g) => g.length > 0) && engine.requests.length > 0, 30000, "transcripts");
    await quiesce(h.url, [sender, m1, m2]);
    const n = got[0]!.length;
    for (const g of got) {
      expect(g.length).toBe(n);
      expect(g.map((p) => p.seq)).toEqual([...Array(n).keys()]);
    }
    const p = got[1]![0]!;
    expect(p.client_id).toBe(id);
    expect(p.text).toMatch(/^utterance of [\d.]+ seconds$/);
    expect(p.duration).toBeGreaterThan(0.3);
    expect(Math.abs(p.ts - Date.now() / 1000)).toBeLessThan(60);
    expect(p.end).toBeGreaterThan(p.start);
    expect(p.duration).toBeCloseTo(p.end - p.start, 2);
    expect(Object.keys(p).sort()).toEqual(
      ["avg_logprob", "client_id", "duration", "end", "final", "language", "no_speech_prob", "seq", "start", "text", "ts"].sort(),
    );
    expect(callbacks.filter((c) => c.clientId === id)).toHaveLength(n);
  });

  test("legacy form: binary alone streams as client-<first 8 chars of socket id>", async () => {
    const s = await sock();
    const got = collect<TranscriptionPayload>(s, "transcription");
    await streamPcm(s, sentence, { legacy: true });
    await waitFor(() => got.length > 0, 20000, "legacy transcript");
    expect(got[0]!.client_id).toBe("client-" + s.id!.slice(0, 8));
  });

  test("all binary kinds are accepted (ArrayBuffer, Uint8Array, Int16Array)", async () => {
    const s = await sock();
    const errors = collect<ErrorPayload>(s, "error");
    const got = collect<TranscriptionPayload>(s, "transcription");
    const step = 1600;
    for (let i = 0, k = 0; i < sentence.length; i += step, k++) {
      const c = sentence.slice(i, i + step);
      const audioData = k % 3 === 0 ? c.buffer : k % 3 === 1 ? new Uint8Array(c.buffer) : c;
      s.emit("audio_data", { clientId: "kinds", audioData });
    }
    await waitFor(() => got.length > 0, 20000, "transcript");
    expect(errors).toEqual([]);
  });

  test("a second socket sending for a clientId in use is refused; the first stream is untouched", async () => {
    const a = await sock();
    const b = await sock();
    const gotA = collect<TranscriptionPayload>(a, "transcription");
    const errB = collect<ErrorPayload>(b, "error");
    a.emit("audio_data", { clientId: "owned", audioData: sentence.slice(0, 1600).buffer });
    await Bun.sleep(100);
    b.emit("audio_data", { clientId: "owned", audioData: sentence.slice(0, 1600).buffer });
    await waitFor(() => errB.length > 0, 5000, "refusal");
    expect(errB[0]).toMatchObject({ event: "audio_data", code: "client_id_in_use" });
    await streamPcm(a, sentence.slice(1600), { clientId: "owned" });
    await waitFor(() => gotA.length > 0, 20000, "owner transcript");
    expect(gotA).toHaveLength(1);
  });

  test("cleanup_client replies cleanup_confirmed and frees the clientId", async () => {
    const a = await sock();
    a.emit("audio_data", { clientId: "tidy", audioData: silence(0.2).buffer });
    await Bun.sleep(100);
    const reply = new Promise<CleanupConfirmedPayload>((r) => a.once("cleanup_confirmed", r));
    a.emit("cleanup_client", { clientId: "tidy" });
    const c = await reply;
    expect(c.clientId).toBe("tidy");
    expect(c.cleanedSessions).toEqual(["tidy"]);
    expect(typeof c.timestamp).toBe("number");
    expect(Number.isInteger(c.timestamp)).toBe(false);
    // Now another socket may take it.
    const b = await sock();
    const errs = collect<ErrorPayload>(b, "error");
    b.emit("audio_data", { clientId: "tidy", audioData: silence(0.2).buffer });
    await roundTrip([b]);
    expect(errs).toEqual([]);
    const again = new Promise<CleanupConfirmedPayload>((r) => a.once("cleanup_confirmed", r));
    a.emit("cleanup_client", { clientId: "nobody" });
    expect((await again).cleanedSessions).toEqual([]);
  });

  test("client_disconnected drops the session", async () => {
    const a = await sock();
    a.emit("audio_data", { clientId: "gone", audioData: silence(0.2).buffer });
    await Bun.sleep(100);
    a.emit("client_disconnected", { clientId: "gone" });
    await Bun.sleep(100);
    const b = await sock();
    const errs = collect<ErrorPayload>(b, "error");
    b.emit("audio_data", { clientId: "gone", audioData: silence(0.2).buffer });
    await roundTrip([b]);
    expect(errs).toEqual([]);
  });

  test("speech captured when the sender disconnects is still delivered to monitors", async () => {
    const id = "drop-mid-sentence";
    const sender = await sock();
    const mon = await sock();
    await mon.emitWithAck("subscribe_transcripts", { clientId: id });
    const got = collect<TranscriptionPayload>(mon, "transcription");
    const speech = await speak("I am going to hang up in the middle of this sentence right now");
    await streamPcm(sender, concat(silence(0.3), speech), { clientId: id }); // no trailing silence
    await Bun.sleep(300);
    sender.disconnect();
    await waitFor(() => got.length > 0, 20000, "flushed transcript");
    expect(got.at(-1)!.final).toBe(true);
    expect(got.reduce((n, p) => n + p.duration, 0)).toBeGreaterThan(speech.length / 16000 - 0.5);
  });

  test("stalls: a 0.8 s gap in arrival does not split speech; audio that stops for stall_timeout is closed", async () => {
    const id = "stall";
    const s = await sock();
    const got = collect<TranscriptionPayload>(s, "transcription");
    const speech = await speak("This sentence arrives in two bursts because the network hiccups in the middle of it");
    const half = Math.floor(speech.length / 2 / 1600) * 1600;
    await streamPcm(s, concat(silence(0.3), speech.slice(0, half)), { clientId: id });
    await Bun.sleep(800); // jitter, longer than silence_duration (0.5 s), shorter than stall_timeout (1.5 s)
    await streamPcm(s, speech.slice(half), { clientId: id }); // no trailing silence: only the stall check can close it
    const sentAt = Date.now();
    await waitFor(() => got.length > 0, 20000, "stalled utterance");
    expect(Date.now() - sentAt).toBeGreaterThan(1000);
    expect(got).toHaveLength(1);
    expect(got[0]!.duration).toBeGreaterThan(speech.length / 16000 - 0.3);
  });

  test("unsubscribe_transcripts stops delivery to that monitor", async () => {
    const id = "unsub";
    const sender = await sock();
    const mon = await sock();
    await mon.emitWithAck("subscribe_transcripts", { clientId: id });
    expect(await mon.emitWithAck("unsubscribe_transcripts", { clientId: id })).toEqual({ ok: true, clientId: id });
    const got = collect<TranscriptionPayload>(mon, "transcription");
    const mine = collect<TranscriptionPayload>(sender, "transcription");
    await streamPcm(sender, sentence, { clientId: id });
    await waitFor(() => mine.length > 0, 20000, "sender transcript");
    await quiesce(h.url, [sender, mon]);
    expect(got).toEqual([]);
  });

  test("an onTranscription callback that throws does not break delivery", async () => {
    const s = await sock();
    const got = collect<TranscriptionPayload>(s, "transcription");
    await streamPcm(s, concat(sentence, sentence), { clientId: "throwing-callback" });
    await waitFor(() => got.length >= 2, 20000, "two transcripts");
    expect(h.logs.some((l) => l.includes("onTranscription callback failed"))).toBe(true);
  });
});

describe("bad input", () => {
  const cases: [string, string, unknown, string][] = [
    ["string audio", "audio_data", { clientId: "bad", audioData: "hello" }, "invalid_audio"],
    ["number payload", "audio_data", 42, "invalid_payload"],
    ["missing clientId", "audio_data", { audioData: new ArrayBuffer(4) }, "invalid_payload"],
    ["clientId of wrong type", "audio_data", { clientId: 7, audioData: new ArrayBuffer(4) }, "invalid_payload"],
    ["huge clientId", "audio_data", { clientId: "x".repeat(5000), audioData: new ArrayBuffer(4) }, "invalid_payload"],
    ["odd byte count", "audio_data", { clientId: "bad", audioData: new Uint8Array(3) }, "odd_byte_length"],
    ["empty audio", "audio_data", { clientId: "bad", audioData: new ArrayBuffer(0) }, "empty_audio"],
    ["array of numbers as audio", "audio_data", { clientId: "bad", audioData: [1, 2, 3] }, "invalid_audio"],
    ["oversized chunk", "audio_data", { clientId: "bad", audioData: new ArrayBuffer(100 * 1024) }, "payload_too_large"],
    ["subscribe without clientId", "subscribe_transcripts", {}, "invalid_payload"],
    ["subscribe with null", "subscribe_transcripts", null, "invalid_payload"],
    ["cleanup with number clientId", "cleanup_client", { clientId: 1 }, "invalid_payload"],
    ["client_disconnected with array", "client_disconnected", [], "invalid_payload"],
  ];

  test.each(cases)("%s → error event", async (_name, event, payload, code) => {
    const s = await sock();
    const errs = collect<ErrorPayload>(s, "error");
    s.emit(event, payload);
    await waitFor(() => errs.length > 0, 5000, `error for ${event}`);
    expect(errs[0]).toMatchObject({ event, code });
    expect(errs[0]!.message.length).toBeGreaterThan(5);
  });

  test("the server logs a repeated bad input once per socket and kind", async () => {
    const s = await sock();
    const errs = collect<ErrorPayload>(s, "error");
    const before = h.logs.filter((l) => l.includes(s.id!)).length;
    for (let i = 0; i < 50; i++) s.emit("audio_data", { clientId: "flood", audioData: new Uint8Array(3) });
    await waitFor(() => errs.length === 50, 5000, "50 errors");
    expect(h.logs.filter((l) => l.includes(s.id!)).length - before).toBe(1);
  });

  test("a stream keeps working while another socket sends garbage", async () => {
    const good = await sock();
    const bad = await sock();
    const got = collect<TranscriptionPayload>(good, "transcription");
    const junk = (async () => {
      for (let i = 0; i < 200; i++) {
        bad.emit("audio_data", i % 2 ? { clientId: "junk", audioData: new Uint8Array(7) } : { nope: true });
        if (i % 20 === 0) await Bun.sleep(1);
      }
    })();
    await streamPcm(good, sentence, { clientId: "steady" });
    await junk;
    await waitFor(() => got.length > 0, 20000, "transcript");
    expect(got).toHaveLength(1);
    expect(got[0]!.client_id).toBe("steady");
  });
});
