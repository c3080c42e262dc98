/** /health and /metrics after a known stream, with the real engine (models/tiny.en). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket } from "socket.io-client";
import { SHARED_AUDIO, JFK_TEXT, concat, decodeToPcm16, silence, speak, wordErrorRate } from "../support/audio.ts";
import { client, collect, startServer, streamPcm, waitFor, type Harness } from "../support/harness.ts";
import type { ErrorPayload, TranscriptionPayload } from "../../src/transport/schemas.ts";
import os from "node:os";
import { cudaDeviceCount } from "../../ffi/sttwhisper.ts";
import { engineShape } from "../../src/engine/shape.ts";
import { metric, scrape } from "./support.ts";

let h: Harness;
let jfk: Int16Array;
const sockets: Socket[] = [];

beforeAll(async () => {
  h = await startServer({});
  jfk = await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`);
});

afterAll(async () => {
  for (const s of sockets) s.close();
  await h.stop();
});

describe("health and metrics", () => {
  test("fresh server: /health ok with the engine answering, counters at zero", async () => {
    const res = await fetch(`${h.url}/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; engine: { ok: boolean }; model: { modelPath: string }; redis: unknown };
    expect(body.status).toBe("ok");
    expect(body.engine.ok).toBe(true);
    expect(body.model.modelPath).toContain("tiny.en");
    expect(body.redis).toBeNull();
    const text = await scrape(h.url);
    expect(metric(text, "stt_audio_seconds_total")).toBe(0);
    expect(metric(text, "stt_utterances_total")).toBe(0);
    expect(metric(text, "stt_redis_up")).toBeUndefined();
    expect(metric(text, "process_resident_memory_bytes")).toBeGreaterThan(1e6);
    // The automatic shape (max_workers 0) on this machine, every worker idle.
    const auto = engineShape({ workers: 0, threads: 0, cuda: cudaDeviceCount() > 0, cores: os.cpus().length });
    expect(metric(text, "stt_engine_workers", { state: "idle" })).toBe(auto.workers);
    expect(metric(text, "stt_engine_workers", { state: "busy" })).toBe(0);
  });

  test("after jfk.flac: audio seconds, utterances, transcripts, latency, batches, errors", async () => {
    const s = await client(h.url);
    sockets.push(s);
    const got = collect<TranscriptionPayload>(s, "transcription");
    const errors = collect<ErrorPayload>(s, "error");
    const clip = concat(jfk, silence(1.5));
    await streamPcm(s, clip, { clientId: "metrics-jfk" });
    await waitFor(() => got.length > 0 && got.at(-1)!.end > 10, 60_000, "jfk transcripts");
    expect(wordErrorRate(JFK_TEXT, got.map((g) => g.text).join(" "))).toBeLessThan(0.15);

    s.emit("audio_data", { clientId: "metrics-jfk", audioData: new Uint8Array(3) });
    s.emit("subscribe_transcripts", 42);
    await waitFor(() => errors.length >= 2, 5000, "two errors");

    const text = await scrape(h.url);
    expect(metric(text, "stt_audio_seconds_total")).toBeCloseTo(clip.length / 16000, 2);
    expect(metric(text, "stt_utterances_total")).toBeGreaterThanOrEqual(got.length);
    expect(metric(text, "stt_transcripts_total")).toBe(got.length);
    expect(metric(text, "stt_connected_sockets")).toBe(1);
    expect(metric(text, "stt_active_sessions")).toBe(1);
    expect(metric(text, "stt_errors_total", { code: "odd_byte_length" })).toBe(1);
    expect(metric(text, "stt_errors_total", { code: "invalid_payload" })).toBe(1);
    expect(metric(text, "stt_refused_payloads_total")).toBe(1);
    // Every transcribed utterance was timed; the engine reports its batches.
    const timed = metric(text, "stt_engine_latency_seconds_count")!;
    expect(timed).toBeGreaterThanOrEqual(got.length);
    expect(metric(text, "stt_engine_latency_seconds_sum")).toBeGreaterThan(0);
    expect(metric(text, "stt_utterance_latency_seconds_count")).toBe(timed);
    expect(metric(text, "stt_engine_queue_wait_seconds_count")).toBe(timed);
    expect(metric(text, "stt_engine_batch_size_count")).toBe(timed);
    expect(metric(text, "stt_engine_batches_total")).toBeGreaterThanOrEqual(1);
    expect(metric(text, "stt_engine_queue_depth")).toBe(0);
    expect(metric(text, "stt_engine_finals_behind_interims_total")).toBe(0); // no interims asked for
    expect(text).toContain("# TYPE stt_engine_latency_seconds histogram");

    // Cleanup ends the session: confirmed by the server, and the gauge follows.
    const confirmed = new Promise<{ clientId: string; cleanedSessions: string[] }>((r) => s.once("cleanup_confirmed", r));
    s.emit("cleanup_client", { clientId: "metrics-jfk" });
    expect((await confirmed).cleanedSessions).toEqual(["metrics-jfk"]);
    expect(metric(await scrape(h.url), "stt_active_sessions")).toBe(0);
  });

  test("max_queued_utterances: utterances beyond the per-client queue get queue_full naming the limit", async () => {
    const q = await startServer({ limits: { max_queued_utterances: 1 } as never, max_workers: 1, batch_size: 1 });
    try {
      const s = await client(q.url);
      sockets.push(s);
      const errors = collect<ErrorPayload>(s, "error");
      const phrase = concat(await speak("Testing the queue limit of this server now"), silence(0.8));
      const burst = concat(...Array.from({ length: 10 }, () => phrase));
      await streamPcm(s, burst, { clientId: "impatient", chunkMs: 500 });
      await waitFor(() => errors.some((e) => e.code === "queue_full"), 60_000, "queue_full");
      const e = errors.find((x) => x.code === "queue_full")!;
      expect(e.event).toBe("transcription");
      expect(e.message).toContain("max_queued_utterances");
      const text = await scrape(q.url);
      expect(metric(text, "stt_errors_total", { code: "queue_full" })).toBeGreaterThanOrEqual(1);
    } finally {
      await q.stop();
    }
  });

  test("/health reports stopping (503) once shutdown begins", async () => {
    const q = await startServer({ shutdown_grace_seconds: 2 });
    const res0 = await fetch(`${q.url}/health`);
    expect(res0.status).toBe(200);
    // Open speech (JFK's first 2 s, no trailing silence) keeps the port open
    // while shutdown flushes and transcribes it, so /health is always reachable.
    const speaker = await client(q.url);
    const speech = (await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`)).subarray(0, 32000);
    await streamPcm(speaker, speech, { clientId: "stopping-probe" });
    await Bun.sleep(300);
    const stopping = q.stop();
    const res = await fetch(`${q.url}/health`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { status: string }).status).toBe("stopping");
    await stopping;
    speaker.close();
  }, 30_000);
});
