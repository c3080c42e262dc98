/**
 * Bad input on /v1/listen, with a real server and engine: refused handshakes
 * (HTTP 400/401), unknown message types, text where audio belongs, odd byte
 * counts, seeded random frames, an oversized frame, a 10 s silence from the
 * client; and the close signals other clients send (CloseStream in a binary
 * frame, the legacy empty frame). Each gets Deepgram's shape (an Error message, or the close code the
 * reference names) while a second stream, @deepgram/sdk sending jfk.flac in
 * real time on the same server, keeps its word-exact transcript.
 * Deterministic: the seed is fixed, printed, and can be changed with FUZZ_SEED.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { JFK_TEXT, SHARED_AUDIO, concat, decodeToPcm16, normalizeText, silence } from "../support/audio.ts";
import { startServer, waitFor, type Harness } from "../support/harness.ts";
import { rng } from "../support/random.ts";
import type { DgError, DgMessage } from "../../src/doors/deepgram/messages.ts";
import { IDLE_CLOSE } from "../../src/doors/deepgram/socket.ts";
import { metric, scrape } from "../ops/support.ts";
import { DG_KEY, finalsOf, resultsOf, sdkStream, sendRealtime, textOf, upgradeRequest, wsUrl } from "./support.ts";

setDefaultTimeout(180_000);

const SEED = Number(process.env.FUZZ_SEED ?? 151515);
const RANDOM_FRAMES = 300;
let h: Harness;
let jfk: Int16Array;

beforeAll(async () => {
  jfk = await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`);
  h = await startServer({ auth: { tokens: [DG_KEY] } as never });
});
afterAll(async () => {
  await h?.stop();
});

interface Raw {
  ws: WebSocket;
  messages: DgMessage[];
  closed: Promise<{ code: number; reason: string }>;
}

/** A plain WebSocket (Bun's), authenticated the browser way: the token subprotocol. */
async function raw(query = "encoding=linear16&sample_rate=16000"): Promise<Raw> {
  const ws = new WebSocket(`${wsUrl(h.url)}/v1/listen?${query}`, ["token", DG_KEY]);
  ws.binaryType = "arraybuffer";
  const messages: DgMessage[] = [];
  ws.onmessage = (e) => void messages.push(JSON.parse(String(e.data)) as DgMessage);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (ws.onclose = (e) => resolve({ code: e.code, reason: e.reason })));
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("raw WebSocket failed to open"));
  });
  expect(ws.protocol).toBe("token");
  return { ws, messages, closed };
}

const errorsOf = (ms: DgMessage[]) => ms.filter((m): m is DgError => m.type === "Error");

/** A Finalize round trip: once its from_finalize answer is back, every reply to earlier frames is too. */
async function roundTrip(r: Raw): Promise<void> {
  const before = resultsOf(r.messages).filter((m) => m.from_finalize).length;
  r.ws.send(JSON.stringify({ type: "Finalize" }));
  await waitFor(() => resultsOf(r.messages).filter((m) => m.from_finalize).length > before, 60_000, "the Finalize answer");
}

test("bad input gets Deepgram-shaped errors and closes; a concurrent JFK stream is unharmed", async () => {
  console.log(`deepgram bad-input seed ${SEED} (FUZZ_SEED to change)`);
  const good = await sdkStream(h.url, { interim_results: "true", punctuate: "true" });
  const goodDone = sendRealtime((b) => good.socket.sendMedia(b), concat(jfk, silence(1.5))).then(() => good.socket.sendCloseStream({ type: "CloseStream" }));

  // The client that goes quiet: 10 s without audio or text → 1011 with Deepgram's NET-0001 reason.
  const quiet = await raw();
  const quietAt = performance.now();

  // Handshake refusals: HTTP answers, not sockets.
  const refused: [string, Record<string, string>, number, RegExp][] = [
    ["/v1/listen?encoding=linear16&endpointing=maybe", { Authorization: `Token ${DG_KEY}` }, 400, /endpointing="maybe": expected milliseconds/],
    ["/v1/listen?encoding=flac", { Authorization: `Token ${DG_KEY}` }, 400, /encoding="flac": expected one of linear16, mulaw, alaw/],
    ["/v1/listen?encoding=linear16&channels=2", { Authorization: `bearer ${DG_KEY}` }, 400, /channels="2"/],
    ["/listen?encoding=linear16&language=xx", { Authorization: `Token ${DG_KEY}` }, 400, /xx/],
    ["/v1/listen?encoding=linear16", { Authorization: "Token not-the-key-at-all" }, 401, /not accepted/],
    ["/v1/listen?encoding=linear16", {}, 401, /requires a key/],
  ];
  for (const [path, headers, status, message] of refused) {
    const r = await upgradeRequest(h.url, path, headers);
    expect([path, r.status]).toEqual([path, status]);
    expect(JSON.parse(r.body).err_msg).toMatch(message);
  }

  // Frame errors: an Error message each, and the stream goes on.
  const bad = await raw();
  bad.ws.send(JSON.stringify({ type: "Transcribe" }));
  bad.ws.send("UklGRiQAAABXQVZF"); // base64 audio as text
  bad.ws.send(new Uint8Array(3201));
  bad.ws.send(JSON.stringify({ type: "Configure", keyterms: "Kennedy" }));
  bad.ws.send(JSON.stringify({ type: "Configure", keyterms: Array.from({ length: 600 }, (_, i) => `term${i}`) }));
  await roundTrip(bad);
  expect(errorsOf(bad.messages).map((e) => [e.variant, e.code])).toEqual([
    ["SchemaError", "unknown_message"],
    ["SchemaError", "invalid_message"],
    ["DataError", "odd_byte_length"],
    ["SchemaError", "invalid_message"],
  ]);
  expect(bad.messages.filter((m) => m.type === "ConfigureFailure").map((m) => (m as { code: string }).code)).toEqual(["CONFIGURE_KEYTERM_LIMIT_EXCEEDED"]);
  expect(errorsOf(bad.messages)[1]!.message).toBe("UklGRiQAAABXQVZF");

  // Seeded random frames: garbage text, JSON of unknown types, binary of random length.
  const r = rng(SEED);
  let expectedErrors = errorsOf(bad.messages).length;
  for (let i = 0; i < RANDOM_FRAMES; i++) {
    const kind = r.int(3);
    if (kind === 0) {
      bad.ws.send(new TextDecoder().decode(r.bytes(1 + r.int(200))).replace(/^\s*[{[]/, "x"));
      expectedErrors++;
    } else if (kind === 1) {
      bad.ws.send(JSON.stringify({ type: `T${r.int(1e6)}`, data: r.int(10) }));
      expectedErrors++;
    } else {
      const n = 1 + r.int(640);
      const b = r.bytes(n);
      b[0] = 0; // never '{', so never read as a control message
      bad.ws.send(b);
      if (n % 2 === 1) expectedErrors++;
    }
  }
  await roundTrip(bad);
  expect(errorsOf(bad.messages).length).toBe(expectedErrors);
  expect(errorsOf(bad.messages).every((e) => e.description.length > 0 && !/\bat .*\.ts:\d+/.test(e.description))).toBe(true);
  bad.ws.send(JSON.stringify({ type: "CloseStream" }));
  expect((await bad.closed).code).toBe(1000);
  expect(bad.messages.at(-1)!.type).toBe("Metadata");

  // CloseStream as JSON in a binary frame (Vocode) and the legacy empty binary frame: both drain and close 1000.
  for (const end of [new TextEncoder().encode(JSON.stringify({ type: "CloseStream" })), new Uint8Array(0)]) {
    const c = await raw("encoding=alaw&sample_rate=8000");
    c.ws.send(r.bytes(800)); // 100 ms of A-law noise
    c.ws.send(end);
    expect((await c.closed).code).toBe(1000);
    expect(c.messages.at(-1)).toMatchObject({ type: "Metadata", duration: 0.1, channels: 1 });
    expect(errorsOf(c.messages)).toEqual([]);
  }

  // An oversized frame (over limits.max_payload_bytes): an Error, then close 1009.
  const big = await raw();
  big.ws.send(new Uint8Array(1_200_000));
  const bigClose = await big.closed;
  expect(bigClose.code).toBe(1009);
  expect(errorsOf(big.messages).map((e) => e.code)).toEqual(["payload_too_large"]);

  const quietClose = await quiet.closed;
  expect(quietClose).toEqual({ code: IDLE_CLOSE.code, reason: IDLE_CLOSE.reason });
  expect(performance.now() - quietAt).toBeGreaterThanOrEqual(9_500);

  await goodDone;
  expect((await good.closed).code).toBe(1000);
  expect(normalizeText(textOf(finalsOf(good.messages)))).toBe(JFK_TEXT);
  expect(errorsOf(good.messages)).toEqual([]);

  // Per-door counters: refusals and errors by code, streams opened (good, quiet, bad, big).
  const m = await scrape(h.url, DG_KEY);
  const door = { door: "deepgram" };
  expect(metric(m, "stt_door_streams_total", door)).toBe(6);
  expect(metric(m, "stt_door_refusals_total", { ...door, code: "invalid_query" })).toBe(4);
  expect(metric(m, "stt_door_refusals_total", { ...door, code: "invalid_token" })).toBe(1);
  expect(metric(m, "stt_door_refusals_total", { ...door, code: "missing_token" })).toBe(1);
  expect(metric(m, "stt_door_errors_total", { ...door, code: "idle_timeout" })).toBe(1);
  expect(metric(m, "stt_door_errors_total", { ...door, code: "payload_too_large" })).toBe(1);
  // Every Error sent, the ConfigureFailure, the idle close and the oversized frame.
  expect(metric(m, "stt_door_errors_total", door)).toBe(expectedErrors + 3);
});
