/**
 * Session limits: idle sessions are reaped, a connection streams at most
 * max_sessions_per_socket clientIds, an address holds at most
 * max_connections_per_ip connections, and seq keeps counting per clientId
 * across sessions. A protocol test: the engine is the RecordingEngine
 * stand-in (these limits sit in front of the engine; access.test.ts checks
 * seq across sessions with the real engine).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";

// Real engine on a shared 2-core machine: transcripts may take longer than bun's 5 s default.
setDefaultTimeout(60_000);
import type { Socket } from "socket.io-client";
import { concat, silence, speak } from "../support/audio.ts";
import { collect, startServer, streamPcm, waitFor, type Harness } from "../support/harness.ts";
import { RecordingEngine } from "../support/test-engine.ts";
import type { ErrorPayload, TranscriptionPayload } from "../../src/transport/schemas.ts";
import { SeqMemory } from "../../src/session/seq-memory.ts";
import { connectOrError } from "./support.ts";
import { roundTrip } from "../support/quiesce.ts";

let h: Harness;
let sentence: Int16Array;
let open: Socket[] = [];

async function sock(): Promise<Socket> {
  const s = await connectOrError(h.url);
  open.push(s);
  return s;
}

async function sessionsNow(): Promise<number> {
  return ((await (await fetch(`${h.url}/health`)).json()) as { sessions: number }).sessions;
}

beforeAll(async () => {
  h = await startServer(
    { limits: { idle_session_seconds: 1, max_sessions_per_socket: 2, max_connections_per_ip: 4 } as never },
    { engine: new RecordingEngine() },
  );
  sentence = concat(silence(0.3), await speak("Hello there, this is a test sentence."), silence(1.2));
});

afterEach(async () => {
  for (const s of open) s.close();
  open = [];
  await Bun.sleep(200); // the server sees the disconnects before the next test counts connections
});

afterAll(() => h.stop());

describe("session limits", () => {
  test("a session without audio for idle_session_seconds is ended; the sender goes on with seq continuing", async () => {
    const s = await sock();
    const got = collect<TranscriptionPayload>(s, "transcription");
    const errors = collect<ErrorPayload>(s, "error");
    await streamPcm(s, sentence, { clientId: "idle-1" });
    await waitFor(() => got.length >= 1, 10_000, "first transcript");
    expect(await sessionsNow()).toBe(1);
    await waitFor(() => h.logs.some((l) => l.includes("idle session ended") && l.includes("idle-1")), 5000, "reap");
    expect(await sessionsNow()).toBe(0);
    await streamPcm(s, sentence, { clientId: "idle-1" });
    await waitFor(() => got.length >= 2, 10_000, "second transcript");
    expect(got.map((t) => t.seq)).toEqual([0, 1]);
    expect(errors).toEqual([]);
  });

  test("seq continues after the sender's own cleanup_client", async () => {
    const s = await sock();
    const got = collect<TranscriptionPayload>(s, "transcription");
    await streamPcm(s, sentence, { clientId: "seq-1" });
    await waitFor(() => got.length >= 1, 10_000, "first transcript");
    const confirmed = new Promise((r) => s.once("cleanup_confirmed", r));
    s.emit("cleanup_client", { clientId: "seq-1" });
    await confirmed;
    // A new connection streaming the same (now free) clientId continues the count too.
    const t = await sock();
    const got2 = collect<TranscriptionPayload>(t, "transcription");
    await streamPcm(t, sentence, { clientId: "seq-1" });
    await waitFor(() => got2.length >= 1, 10_000, "second transcript");
    expect(got2.map((x) => x.seq)).toEqual([1]);
    // The first connection stays subscribed to the room it streamed to (as before).
    expect(got.map((x) => x.seq)).toEqual([0, 1]);
  });

  test("max_sessions_per_socket: a third clientId on one connection is refused, naming the limit", async () => {
    const s = await sock();
    const errors = collect<ErrorPayload>(s, "error");
    for (const id of ["ps-1", "ps-2", "ps-3"]) s.emit("audio_data", { clientId: id, audioData: new Int16Array(1600).buffer });
    await waitFor(() => errors.length >= 1, 5000, "refusal");
    await roundTrip([s]);
    expect(errors.map((e) => [e.event, e.code])).toEqual([["audio_data", "max_sessions"]]);
    expect(errors[0]!.message).toContain("max_sessions_per_socket");
    expect(await sessionsNow()).toBe(2);
    // Another connection is not affected by this one's count.
    const t = await sock();
    const tErrors = collect<ErrorPayload>(t, "error");
    t.emit("audio_data", { clientId: "ps-3", audioData: new Int16Array(1600).buffer });
    await roundTrip([t]);
    expect(await sessionsNow()).toBe(3);
    expect(tErrors).toEqual([]);
  });

  test("max_connections_per_ip: the fifth connection from one address is refused until one closes", async () => {
    for (let i = 0; i < 4; i++) await sock();
    const refused = await connectOrError(h.url).then(
      (s) => {
        open.push(s);
        return null;
      },
      (e: Error & { data?: { code: string } }) => e,
    );
    expect(refused?.message).toStartWith("max_connections_per_ip");
    expect(refused?.data?.code).toBe("max_connections_per_ip");
    open.pop()!.close();
    await Bun.sleep(200);
    await sock();
    expect(open.length).toBe(4);
  });
});

describe("SeqMemory (unit)", () => {
  test("counts per clientId and forgets the least recently used beyond its capacity", () => {
    const m = new SeqMemory(2);
    expect([m.take("a"), m.take("a"), m.take("b"), m.take("a")]).toEqual([0, 1, 0, 2]);
    m.take("c"); // "b" is the oldest now and goes
    expect(m.size).toBe(2);
    expect([m.take("a"), m.take("b")]).toEqual([3, 0]);
  });
});
