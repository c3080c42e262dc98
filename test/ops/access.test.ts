/**
 * Who may do what with a clientId: scoped tokens from the config, the sender's
 * hold on its clientId on an open server, clientId rooms apart from socket
 * rooms, and resuming a stream on a new connection. Real engine, real clients.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";

// Real engine on a shared 2-core machine: transcripts may take longer than bun's 5 s default.
setDefaultTimeout(60_000);
import type { Socket } from "socket.io-client";
import { concat, normalizeText, silence, speak } from "../support/audio.ts";
import { collect, startServer, streamPcm, waitFor, type Harness } from "../support/harness.ts";
import { RecordingEngine } from "../support/test-engine.ts";
import type { CleanupConfirmedPayload, ErrorPayload, TranscriptionPayload } from "../../src/transport/schemas.ts";
import { globToRegExp, isLoopbackHost } from "../../src/auth/access.ts";
import { connectOrError } from "./support.ts";
import { quiesce, roundTrip } from "../support/quiesce.ts";

const FULL = "full-access-token";
const SCOPED_A = "scoped-to-a-token";
const WATCHER = "subscribe-only-token";
const DEVICE = "one-device-token-a-mic";

let scoped: Harness; // auth.tokens set
let open: Harness; // no tokens
let first: Int16Array;
let second: Int16Array;
let stranger: Int16Array;
const sockets: Socket[] = [];

async function sock(h: Harness, opts: Parameters<typeof connectOrError>[1] = {}): Promise<Socket> {
  const s = await connectOrError(h.url, opts);
  sockets.push(s);
  return s;
}

const words = (ts: TranscriptionPayload[]) => normalizeText(ts.map((t) => t.text).join(" "));
const codes = (es: ErrorPayload[]) => es.map((e) => [e.event, e.code]);

beforeAll(async () => {
  // Admission off: on a loaded test machine it may refuse a stream (server_busy), which is not what these tests are about.
  scoped = await startServer({
    capacity: { admission: false } as never,
    auth: {
      tokens: [
        FULL,
        { token: SCOPED_A, clientIds: ["a-*"], can: ["send", "subscribe", "cleanup"] },
        { token: WATCHER, clientIds: ["*"], can: ["subscribe"] },
        { token: DEVICE, clientIds: ["a-mic"], can: ["send"] },
      ],
    },
  });
  open = await startServer({ capacity: { admission: false } as never });
  const tail = silence(1.2);
  first = concat(silence(0.3), await speak("Please turn on the lights in the kitchen."), tail);
  second = concat(silence(0.3), await speak("Please open the window."), tail);
  stranger = concat(silence(0.3), await speak("I am a stranger with a banana."), tail);
});

afterAll(async () => {
  for (const s of sockets) s.close();
  await Promise.all([scoped.stop(), open.stop()]);
});

describe("scoped tokens", () => {
  test("a token for a-* cannot subscribe to, clean up or send as b-1; a string token can", async () => {
    const owner = await sock(scoped, { auth: { token: FULL } });
    const a = await sock(scoped, { auth: { token: SCOPED_A } });
    const aErrors = collect<ErrorPayload>(a, "error");
    const ownerGot = collect<TranscriptionPayload>(owner, "transcription");

    // b-1 is live, streamed by a full-access socket.
    await streamPcm(owner, first, { clientId: "b-1" });
    expect(await a.emitWithAck("subscribe_transcripts", { clientId: "b-1" })).toEqual({ ok: false, code: "forbidden" });
    expect(await a.emitWithAck("subscribe_transcripts", { clientId: "a-7" })).toEqual({ ok: true, clientId: "a-7" });
    a.emit("cleanup_client", { clientId: "b-1" });
    a.emit("audio_data", { clientId: "b-1", audioData: new Int16Array(1600).buffer });
    await waitFor(() => aErrors.length >= 3, 5000, "three refusals");
    expect(codes(aErrors)).toEqual([
      ["subscribe_transcripts", "forbidden"],
      ["cleanup_client", "forbidden"],
      ["audio_data", "forbidden"],
    ]);
    expect(aErrors.every((e) => e.message.includes('"b-1"'))).toBe(true);
    // The refused cleanup did not end b-1: its transcript still comes.
    await waitFor(() => ownerGot.length >= 1, 30_000, "b-1 transcript");
    expect(words(ownerGot)).toBe("please turn on the lights in the kitchen");

    // A subscribe-only token cannot send, even where it may subscribe.
    const w = await sock(scoped, { auth: { token: WATCHER } });
    const wErrors = collect<ErrorPayload>(w, "error");
    expect(await w.emitWithAck("subscribe_transcripts", { clientId: "b-1" })).toEqual({ ok: true, clientId: "b-1" });
    w.emit("audio_data", { clientId: "w-1", audioData: new Int16Array(1600).buffer });
    await waitFor(() => wErrors.length >= 1, 5000, "refusal");
    expect(codes(wErrors)).toEqual([["audio_data", "forbidden"]]);

    // A plain string token keeps today's meaning: everything, on any clientId.
    const full = await sock(scoped, { auth: { token: FULL } });
    expect(await full.emitWithAck("subscribe_transcripts", { clientId: "b-1" })).toEqual({ ok: true, clientId: "b-1" });
    const confirmed = new Promise<CleanupConfirmedPayload>((r) => full.once("cleanup_confirmed", r));
    full.emit("cleanup_client", { clientId: "b-1" });
    expect((await confirmed).cleanedSessions).toEqual(["b-1"]);
  });

  test("a per-device token's sender on a new connection takes its clientId back; a fleet token's sibling cannot", async () => {
    const old = await sock(scoped, { auth: { token: DEVICE } });
    const monitor = await sock(scoped, { auth: { token: FULL } });
    await monitor.emitWithAck("subscribe_transcripts", { clientId: "a-mic" });
    const heard = collect<TranscriptionPayload>(monitor, "transcription");
    await streamPcm(old, first, { clientId: "a-mic" });
    await waitFor(() => heard.length >= 1, 30_000, "first transcript");
    // `old` is still connected (as a half-open connection would be until its ping timeout).
    // A sibling holding the fleet token a-* may stream a-* clientIds, but not take this live one.
    const sibling = await sock(scoped, { auth: { token: SCOPED_A } });
    const siblingErrors = collect<ErrorPayload>(sibling, "error");
    sibling.emit("audio_data", { clientId: "a-mic", audioData: new Int16Array(1600).buffer });
    await waitFor(() => siblingErrors.length >= 1, 5000, "the sibling's refusal");
    expect(codes(siblingErrors)).toEqual([["audio_data", "client_id_in_use"]]);
    const again = await sock(scoped, { auth: { token: DEVICE } });
    const errors = collect<ErrorPayload>(again, "error");
    await streamPcm(again, second, { clientId: "a-mic" });
    await waitFor(() => heard.length >= 2, 30_000, "second transcript");
    expect(errors).toEqual([]);
    expect(heard.map((t) => [normalizeText(t.text), t.seq])).toEqual([
      ["please turn on the lights in the kitchen", 0],
      ["please open the window", 1],
    ]);
  });
});

describe("open server: a sender keeps its clientId while connected", () => {
  test("a stranger's cleanup_client does not let it stream as that clientId", async () => {
    const sender = await sock(open);
    const monitor = await sock(open);
    const intruder = await sock(open);
    await monitor.emitWithAck("subscribe_transcripts", { clientId: "mic-x" });
    const heard = collect<TranscriptionPayload>(monitor, "transcription");
    const intruderErrors = collect<ErrorPayload>(intruder, "error");

    await streamPcm(sender, first, { clientId: "mic-x" });
    await waitFor(() => heard.length >= 1, 30_000, "first transcript");
    // Monitors may still end the session (the server is open)...
    const confirmed = new Promise<CleanupConfirmedPayload>((r) => intruder.once("cleanup_confirmed", r));
    intruder.emit("cleanup_client", { clientId: "mic-x" });
    expect((await confirmed).cleanedSessions).toEqual(["mic-x"]);
    // ...but the clientId stays the sender's.
    await streamPcm(intruder, stranger, { clientId: "mic-x" });
    await waitFor(() => intruderErrors.length >= 1, 5000, "refusal");
    expect(intruderErrors[0]).toMatchObject({ event: "audio_data", code: "client_id_in_use" });
    expect(new Set(intruderErrors.map((e) => e.code))).toEqual(new Set(["client_id_in_use"]));

    await streamPcm(sender, second, { clientId: "mic-x" });
    await waitFor(() => heard.length >= 2, 30_000, "second transcript");
    await quiesce(open.url, [sender, monitor, intruder]);
    expect(heard.map((t) => [normalizeText(t.text), t.seq])).toEqual([
      ["please turn on the lights in the kitchen", 0],
      ["please open the window", 1],
    ]);
  });

  test("the resume key from stream_started moves the stream to a new connection; nobody else's audio gets in", async () => {
    // stream_started is opt-in: only a client that says it can resume gets a key.
    const old = await sock(open, { auth: { resumable: true } });
    const started = new Promise<{ clientId: string; resumeKey: string }>((r) => old.once("stream_started", r));
    const monitor = await sock(open);
    await monitor.emitWithAck("subscribe_transcripts", { clientId: "mic-r" });
    const heard = collect<TranscriptionPayload>(monitor, "transcription");
    const oldHeard = collect<TranscriptionPayload>(old, "transcription");
    await streamPcm(old, first, { clientId: "mic-r" });
    const { clientId, resumeKey } = await started;
    expect(clientId).toBe("mic-r");
    expect(resumeKey).toMatch(/^[\w-]{24}$/);
    await waitFor(() => heard.length >= 1, 30_000, "first transcript");

    const guesser = await sock(open, { auth: { resumeKey: "x".repeat(24) } });
    const guesserErrors = collect<ErrorPayload>(guesser, "error");
    guesser.emit("audio_data", { clientId: "mic-r", audioData: new Int16Array(1600).buffer });
    await waitFor(() => guesserErrors.length >= 1, 5000, "refusal");
    expect(codes(guesserErrors)).toEqual([["audio_data", "client_id_in_use"]]);

    const resumed = await sock(open, { auth: { resumeKey } });
    const errors = collect<ErrorPayload>(resumed, "error");
    const resumedHeard = collect<TranscriptionPayload>(resumed, "transcription");
    await streamPcm(resumed, second, { clientId: "mic-r" });
    await waitFor(() => heard.length >= 2, 30_000, "second transcript");
    await quiesce(open.url, [resumed, old, monitor]);
    expect(errors).toEqual([]);
    expect(heard.map((t) => [normalizeText(t.text), t.seq])).toEqual([
      ["please turn on the lights in the kitchen", 0],
      ["please open the window", 1],
    ]);
    expect(resumedHeard.map((t) => t.seq)).toEqual([1]);
    // The old connection left the room when the stream moved.
    expect(oldHeard.map((t) => t.seq)).toEqual([0]);
  });

  test("subscribing to another socket's id does not reach that socket's private errors", async () => {
    const victim = await sock(open);
    const spy = await sock(open);
    expect(await spy.emitWithAck("subscribe_transcripts", { clientId: victim.id })).toEqual({ ok: true, clientId: victim.id });
    const spied = collect<ErrorPayload>(spy, "error");
    const own = collect<ErrorPayload>(victim, "error");
    victim.emit("audio_data", { clientId: "v-1", audioData: new Uint8Array(3) });
    await waitFor(() => own.length >= 1, 5000, "victim's error");
    await roundTrip([victim, spy]);
    expect(own[0]).toMatchObject({ event: "audio_data", code: "odd_byte_length" });
    expect(spied).toEqual([]);
  });
});

describe("start-up", () => {
  test("warns once when it listens beyond loopback without tokens", async () => {
    const wide = await startServer({ host: "0.0.0.0" }, { engine: new RecordingEngine() });
    const local = await startServer({ host: "127.0.0.1" }, { engine: new RecordingEngine() });
    const guarded = await startServer({ host: "0.0.0.0", auth: { tokens: [FULL] } }, { engine: new RecordingEngine() });
    await Promise.all([wide.stop(), local.stop(), guarded.stop()]);
    const warned = (h: Harness) => h.logs.filter((l) => l.includes("without auth.tokens")).length;
    expect([warned(wide), warned(local), warned(guarded)]).toEqual([1, 0, 0]);
  });

  test("globs and loopback hosts (unit)", () => {
    expect(["a-1", "a-", "b-1", "xa-1"].map((id) => globToRegExp("a-*").test(id))).toEqual([true, true, false, false]);
    expect(globToRegExp("room.?").test("room.1")).toBe(true);
    expect(globToRegExp("room.?").test("roomx1")).toBe(false);
    expect(["127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0", "10.0.0.2", "::"].map(isLoopbackHost)).toEqual([true, true, true, true, false, false, false]);
  });
});
