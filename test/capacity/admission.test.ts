/**
 * Admission control with the real engine (tiny.en) and real Socket.IO
 * clients. The node's capacity is made tiny (capacity.max_latency far below
 * one engine call), so it holds exactly the one stream an idle node always
 * takes: the next stream is refused at its first audio, the admitted one
 * keeps every final, /ready and /metrics say so, and once the admitted
 * stream leaves, the refused client's retry is admitted.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Socket } from "socket.io-client";
import { concat, normalizeText, silence, speak } from "../support/audio.ts";
import { client, collect, startServer, streamPcm, waitFor, type Harness } from "../support/harness.ts";
import type { ErrorPayload, TranscriptionPayload } from "../../src/transport/schemas.ts";
import { metric, scrape } from "../ops/support.ts";
import { quiesce } from "../support/quiesce.ts";

setDefaultTimeout(180_000);

let h: Harness;
let admitted: Socket;
let refused: Socket;
const sockets: Socket[] = [];
let first: Int16Array;
let second: Int16Array;
let third: Int16Array;

async function sock(): Promise<Socket> {
  const s = await client(h.url);
  sockets.push(s);
  return s;
}

async function ready(): Promise<{ status: number; body: { status: string; reason: string | null; admitted_streams: number } }> {
  const res = await fetch(`${h.url}/ready`);
  return { status: res.status, body: (await res.json()) as never };
}

beforeAll(async () => {
  h = await startServer({ capacity: { max_latency: 0.001 } as never });
  first = concat(silence(0.3), await speak("The meeting has been moved to Thursday afternoon"), silence(1.2));
  second = concat(await speak("Please turn on the lights in the kitchen"), silence(1.2));
  third = concat(silence(0.3), await speak("Set a timer for twelve minutes"), silence(1.2));
});

afterAll(async () => {
  for (const s of sockets) s.close();
  await h.stop();
});

describe("admission control", () => {
  test("full node: the next stream gets server_busy and is not served; the admitted stream gets every final; monitors still join", async () => {
    expect((await ready()).status).toBe(200);
    admitted = await sock();
    const got = collect<TranscriptionPayload>(admitted, "transcription");
    const admittedErrors = collect<ErrorPayload>(admitted, "error");
    await streamPcm(admitted, first, { clientId: "cap-admitted" });
    await waitFor(() => got.length >= 1, 60_000, "first final of the admitted stream");

    const r = await ready();
    expect(r.status).toBe(503);
    expect(r.body.status).toBe("not_ready");
    expect(r.body.admitted_streams).toBe(1);
    expect(r.body.reason).toContain("max_latency");

    refused = await sock();
    const refusedErrors = collect<ErrorPayload>(refused, "error");
    const refusedGot = collect<TranscriptionPayload>(refused, "transcription");
    // A monitor of the admitted stream is never refused for load.
    const monitor = await sock();
    expect(await monitor.emitWithAck("subscribe_transcripts", { clientId: "cap-admitted" })).toEqual({ ok: true, clientId: "cap-admitted" });
    const monitored = collect<TranscriptionPayload>(monitor, "transcription");

    // The refused client keeps streaming a whole sentence while the admitted one speaks again.
    await Promise.all([
      streamPcm(refused, third, { clientId: "cap-refused" }),
      streamPcm(admitted, second, { clientId: "cap-admitted" }),
    ]);
    await waitFor(() => got.length >= 2, 60_000, "second final of the admitted stream");
    await quiesce(h.url, [admitted, refused, monitor]);

    expect(refusedErrors.length).toBe(1); // one error per refusal, not one per dropped chunk
    const e = refusedErrors[0]!;
    expect(e.code).toBe("server_busy");
    expect(e.event).toBe("audio_data");
    expect(e.retry_after_ms).toBeGreaterThanOrEqual(1000);
    expect(e.message).toContain("server_busy");
    expect(refusedGot).toEqual([]);

    expect(admittedErrors).toEqual([]);
    const texts = got.map((g) => normalizeText(g.text));
    expect(texts.length).toBe(2);
    expect(texts[0]).toContain("thursday afternoon");
    expect(texts[1]).toContain("kitchen");
    expect(got.map((g) => g.seq)).toEqual([0, 1]);
    expect(monitored.map((g) => g.seq)).toEqual([1]);

    const m = await scrape(h.url);
    expect(metric(m, "stt_capacity_streams_refused_total")).toBe(1);
    expect(metric(m, "stt_capacity_streams_admitted_total")).toBe(1);
    expect(metric(m, "stt_capacity_admitted_streams")).toBe(1);
    expect(metric(m, "stt_capacity_ready")).toBe(0);
    expect(metric(m, "stt_errors_total", { code: "server_busy" })).toBe(1);
    expect(metric(m, "stt_capacity_engine_utterance_seconds")).toBeGreaterThan(0);
    expect(metric(m, "stt_capacity_predicted_latency_seconds")).toBeGreaterThan(0.001);
    expect(metric(m, "stt_capacity_streams")).toBe(1);
  });

  test("when the admitted stream leaves, /ready is 200 again and the refused client's retry is admitted", async () => {
    admitted.emit("cleanup_client", { clientId: "cap-admitted" });
    let r = await ready();
    for (let i = 0; i < 100 && r.status !== 200; i++) {
      await Bun.sleep(100);
      r = await ready();
    }
    expect(r.status).toBe(200);
    expect(r.body.status).toBe("ready");
    expect(r.body.reason).toBeNull();

    const got = collect<TranscriptionPayload>(refused, "transcription");
    const errors = collect<ErrorPayload>(refused, "error");
    await streamPcm(refused, third, { clientId: "cap-refused" });
    await waitFor(() => got.length >= 1, 60_000, "the retried stream's final");
    expect(normalizeText(got[0]!.text)).toContain("set a timer");
    expect(errors).toEqual([]);
    const m = await scrape(h.url);
    expect(metric(m, "stt_capacity_streams_admitted_total")).toBe(2);
    expect(metric(m, "stt_capacity_streams_refused_total")).toBe(1);
  });
});
