/**
 * Protocol test: every limit answers the sender with an `error` event that
 * names the limit. The engine is the RecordingEngine stand-in (the limits sit
 * in front of the engine); max_queued_utterances is checked with the real
 * engine in metrics.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket } from "socket.io-client";
import { client, collect, startServer, waitFor, type Harness } from "../support/harness.ts";
import { RecordingEngine } from "../support/test-engine.ts";
import type { ErrorPayload } from "../../src/transport/schemas.ts";
import { connectOrError } from "./support.ts";

let h: Harness;
const sockets: Socket[] = [];

async function sock(): Promise<Socket> {
  const s = await client(h.url);
  sockets.push(s);
  return s;
}

beforeAll(async () => {
  h = await startServer(
    {
      limits: {
        max_payload_bytes: 64 * 1024,
        max_chunk_seconds: 1,
        max_buffered_seconds: 5,
        max_sessions: 2,
        max_subscribers_per_room: 1,
        max_events_per_second: 20,
        max_queued_utterances: 8,
        max_connections: 12,
        // Covered in sessions.test.ts; high here so they never answer first.
        max_connections_per_ip: 1000,
        max_sessions_per_socket: 16,
        idle_session_seconds: 60,
      } as never,
    },
    { engine: new RecordingEngine() },
  );
});

afterAll(async () => {
  for (const s of sockets) s.close();
  await h.stop();
});

const pcm = (seconds: number) => new Int16Array(Math.round(seconds * 16000)).buffer;

async function firstError(s: Socket, send: () => void): Promise<ErrorPayload> {
  const errors = collect<ErrorPayload>(s, "error");
  send();
  await waitFor(() => errors.length > 0, 5000, "error event");
  return errors[0]!;
}

describe("limits answer the sender with an error naming the limit", () => {
  test("max_payload_bytes", async () => {
    const s = await sock();
    const e = await firstError(s, () => s.emit("audio_data", { clientId: "big", audioData: new ArrayBuffer(80 * 1024) }));
    expect(e).toMatchObject({ event: "audio_data", code: "payload_too_large" });
    expect(e.message).toContain("max_payload_bytes");
  });

  test("max_chunk_seconds", async () => {
    const s = await sock();
    const e = await firstError(s, () => s.emit("audio_data", { clientId: "long", audioData: pcm(1.5) }));
    expect(e).toMatchObject({ event: "audio_data", code: "chunk_too_long" });
    expect(e.message).toContain("max_chunk_seconds");
  });

  test("max_buffered_seconds", async () => {
    // Chunks arrive faster than the VAD can take them (one event loop turn).
    const s = await sock();
    const e = await firstError(s, () => {
      for (let i = 0; i < 8; i++) s.emit("audio_data", { clientId: "hoard", audioData: pcm(0.99) });
    });
    expect(e).toMatchObject({ event: "audio_data", code: "buffer_full" });
    expect(e.message).toContain("max_buffered_seconds");
    // The next test starts from no sessions: the server confirms this one is gone.
    const confirmed = new Promise<{ cleanedSessions: string[] }>((r) => s.once("cleanup_confirmed", r));
    s.emit("cleanup_client", { clientId: "hoard" });
    expect((await confirmed).cleanedSessions).toEqual(["hoard"]);
  });

  test("max_sessions", async () => {
    const s = await sock();
    const e = await firstError(s, () => {
      for (const id of ["s1", "s2", "s3"]) s.emit("audio_data", { clientId: id, audioData: pcm(0.1) });
    });
    expect(e).toMatchObject({ event: "audio_data", code: "max_sessions" });
    expect(e.message).toContain("max_sessions");
    const cleaned: string[] = [];
    s.on("cleanup_confirmed", (c: { cleanedSessions: string[] }) => cleaned.push(...c.cleanedSessions));
    for (const id of ["s1", "s2"]) s.emit("cleanup_client", { clientId: id });
    await waitFor(() => cleaned.length === 2, 5000, "both cleanups confirmed");
    expect(cleaned.sort()).toEqual(["s1", "s2"]);
  });

  test("max_subscribers_per_room", async () => {
    const a = await sock();
    const b = await sock();
    expect(await a.emitWithAck("subscribe_transcripts", { clientId: "popular" })).toEqual({ ok: true, clientId: "popular" });
    const e = await firstError(b, () => b.emit("subscribe_transcripts", { clientId: "popular" }));
    expect(e).toMatchObject({ event: "subscribe_transcripts", code: "max_subscribers" });
    expect(e.message).toContain("max_subscribers_per_room");
  });

  test("max_events_per_second: a flood is answered with rate_limited, then the socket recovers", async () => {
    const s = await sock();
    const errors = collect<ErrorPayload>(s, "error");
    for (let i = 0; i < 100; i++) s.emit("unsubscribe_transcripts", { clientId: "x" });
    await waitFor(() => errors.length >= 55, 5000, "rate_limited errors");
    expect(errors.every((e) => e.code === "rate_limited" && e.message.includes("max_events_per_second"))).toBe(true);
    await Bun.sleep(1500);
    expect(await s.emitWithAck("unsubscribe_transcripts", { clientId: "x" })).toEqual({ ok: true, clientId: "x" });
  });

  test("max_connections: refused at connect with the limit's name", async () => {
    const extra: Socket[] = [];
    let refused: Error | null = null;
    for (let i = 0; i < 20 && !refused; i++) {
      try {
        extra.push(await connectOrError(h.url));
      } catch (e) {
        refused = e as Error;
      }
    }
    expect(refused?.message).toContain("max_connections");
    for (const s of extra) s.close();
    await Bun.sleep(200);
    // A slot frees up once someone leaves.
    const again = await connectOrError(h.url);
    again.close();
  });

  test("an unknown event name gets an error; a reserved one closes only that connection", async () => {
    const s = await sock();
    const errors = collect<ErrorPayload>(s, "error");
    s.emit("no_such_event", 1);
    await waitFor(() => errors.length >= 1, 5000, "error");
    expect(errors[0]).toMatchObject({ event: "no_such_event", code: "unknown_event" });
    expect(s.connected).toBe(true);
    // socket.io-client will not emit reserved names; write the packet itself.
    // The server's parser rejects it as a protocol violation and drops the connection.
    const other = await sock();
    const closed = new Promise<string>((r) => s.once("disconnect", r));
    (s.io.engine as unknown as { send(d: string): void }).send('2["disconnect","x"]');
    expect(await closed).toBe("transport close");
    expect(await other.emitWithAck("unsubscribe_transcripts", { clientId: "y" })).toEqual({ ok: true, clientId: "y" });
  });
});
