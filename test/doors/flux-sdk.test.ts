/**
 * Deepgram Flux `/v2/listen` driven by Deepgram's own JS SDK (@deepgram/sdk,
 * `listen.v2`) on a real server: real Silero, real CTranslate2 (float32, so
 * the transcript is word for word), the real Smart Turn v3.2 model; JFK
 * streamed in real time (the model's verdict on a pause must come back while
 * the pause lasts).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { DeepgramClient } from "@deepgram/sdk";
import { JFK_TEXT, SHARED_AUDIO, concat, decodeToPcm16, normalizeText, silence } from "../support/audio.ts";
import { startServer, waitFor, type Harness } from "../support/harness.ts";
import type { Sequenced, FluxTurnInfo } from "../../src/doors/flux/messages.ts";
import { IDLE_CLOSE } from "../../src/doors/deepgram/socket.ts";
import { DG_KEY, sendRealtime, upgradeRequest, wsUrl } from "./support.ts";

setDefaultTimeout(180_000);

let h: Harness;
let jfk: Int16Array;

beforeAll(async () => {
  jfk = await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`);
  // stall_timeout past every pause here: only the model or eot_timeout end a turn.
  h = await startServer({ auth: { tokens: [DG_KEY] } as never, stall_timeout: 20 });
});
afterAll(async () => {
  await h?.stop();
});

interface FluxStream {
  socket: Awaited<ReturnType<DeepgramClient["listen"]["v2"]["connect"]>>;
  messages: Sequenced[];
  closed: Promise<{ code: number; reason: string }>;
}

/** A Flux stream opened as the README shows it (the base URL is the only change from Deepgram's cloud). */
async function fluxStream(query: Record<string, string | number> = {}): Promise<FluxStream> {
  const client = new DeepgramClient({ apiKey: DG_KEY, baseUrl: wsUrl(h.url) });
  const socket = await client.listen.v2.connect({
    model: "flux-general-en",
    encoding: "linear16",
    sample_rate: 16000,
    ...query,
    Authorization: `Token ${DG_KEY}`,
    reconnectAttempts: 0,
  } as never);
  const messages: Sequenced[] = [];
  socket.on("message", (m) => void messages.push(m as unknown as Sequenced));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on("close", (e) => resolve({ code: e.code, reason: e.reason })));
  socket.connect();
  await socket.waitForOpen();
  return { socket, messages, closed };
}

const turnInfos = (ms: Sequenced[]) => ms.filter((m): m is FluxTurnInfo & { sequence_id: number } => m.type === "TurnInfo");
const eventsOf = (ms: Sequenced[]) => turnInfos(ms).map((m) => m.event);

describe("Flux /v2/listen with @deepgram/sdk", () => {
  test("JFK in real time: Connected, StartOfTurn, Updates, one or two EndOfTurns holding the sentence word for word; CloseStream → close 1000", async () => {
    const s = await fluxStream();
    await sendRealtime((b) => s.socket.sendMedia(b), concat(jfk, silence(2)));
    await waitFor(() => eventsOf(s.messages).includes("EndOfTurn"), 30_000, "EndOfTurn");
    s.socket.sendCloseStream({ type: "CloseStream" });
    expect((await s.closed).code).toBe(1000);

    console.log(turnInfos(s.messages).map((m) => `${m.sequence_id} ${m.event} #${m.turn_index} p=${m.end_of_turn_confidence} ${m.trigger ?? ""} ${m.transcript}`).join("\n"));
    expect(s.messages[0]).toMatchObject({ type: "Connected", sequence_id: 0 });
    const requestId = (s.messages[0] as { request_id: string }).request_id;
    // sequence_id counts every server message from 0.
    expect(s.messages.map((m) => m.sequence_id)).toEqual(s.messages.map((_, i) => i));
    const infos = turnInfos(s.messages);
    expect(infos.every((m) => m.request_id === requestId)).toBe(true);
    expect(infos[0]!.event).toBe("StartOfTurn");
    expect(infos[0]!.turn_index).toBe(0);
    expect(infos.filter((m) => m.event === "Update").length).toBeGreaterThan(2);
    const ends = infos.filter((m) => m.event === "EndOfTurn");
    // With the model JFK's sentence is one turn or two (Smart Turn gives about 0.93 at the pause after
    // "Americans," over eot_threshold 0.7), never silence's three; together word for word.
    expect(ends.length).toBeGreaterThanOrEqual(1);
    expect(ends.length).toBeLessThanOrEqual(2);
    expect(normalizeText(ends.map((e) => e.transcript).join(" "))).toBe(JFK_TEXT);
    expect(normalizeText(ends.flatMap((e) => e.words.map((w) => w.word)).join(" "))).toBe(JFK_TEXT);
    expect(ends.map((e) => e.turn_index)).toEqual(ends.map((_, i) => i));
    expect(ends.map((e) => e.trigger)).toContain("model");
    for (const end of ends) {
      for (const w of end.words) expect(w.start <= w.end && w.confidence > 0 && w.confidence <= 1).toBe(true);
      expect(end.audio_window_start).toBeLessThan(end.words[0]!.end);
      expect(end.audio_window_end).toBeGreaterThanOrEqual(end.words.at(-1)!.end - 0.001);
      if (end.trigger === "model") expect(end.end_of_turn_confidence).toBeGreaterThanOrEqual(0.7);
    }
    // Each turn: StartOfTurn first, then Updates (and nothing else here), then its EndOfTurn; turn_index on every message.
    let from = 0;
    for (const end of ends) {
      const turn = infos.slice(from, infos.indexOf(end) + 1);
      expect(turn[0]!.event).toBe("StartOfTurn");
      expect(turn.slice(1, -1).every((m) => m.event === "Update")).toBe(true);
      expect(turn.every((m) => m.turn_index === end.turn_index)).toBe(true);
      from = infos.indexOf(end) + 1;
    }
  });

  test("eot_threshold 0.99 with eager_eot_threshold 0.5: EagerEndOfTurn at the pause, TurnResumed before the EndOfTurn of the turn that went on", async () => {
    const s = await fluxStream({ eot_threshold: 0.99, eager_eot_threshold: 0.5, eot_timeout_ms: 6000 });
    // JFK's pause after "Americans," (about 2.2-3.3 s) lengthened by 3 s (still under eot_timeout),
    // so the model's answer (about 0.93) comes back inside the pause even on a loaded CPU.
    const cut = Math.round(2.8 * 16000);
    await sendRealtime((b) => s.socket.sendMedia(b), concat(jfk.subarray(0, cut), silence(3), jfk.subarray(cut), silence(7)));
    await waitFor(() => eventsOf(s.messages).includes("EndOfTurn"), 30_000, "EndOfTurn");
    s.socket.sendCloseStream({ type: "CloseStream" });
    expect((await s.closed).code).toBe(1000);

    const infos = turnInfos(s.messages);
    console.log(infos.map((m) => `${m.event} #${m.turn_index} p=${m.end_of_turn_confidence} ${m.trigger ?? ""} ${m.transcript}`).join("\n"));
    const eager = infos.findIndex((m) => m.event === "EagerEndOfTurn");
    expect(eager).toBeGreaterThan(0);
    expect(infos[eager]!.transcript.length).toBeGreaterThan(0);
    expect(infos[eager]!.end_of_turn_confidence).toBeGreaterThanOrEqual(0.5);
    // TurnResumed follows the eager event (Updates may come between), before any EndOfTurn, same turn.
    const next = infos.slice(eager + 1).find((m) => m.event !== "Update")!;
    expect(next.event).toBe("TurnResumed");
    expect(next.turn_index).toBe(infos[eager]!.turn_index);
    // The turn went on past the pause: its EndOfTurn holds the words before and after it.
    const end = infos.find((m, i) => i > eager && m.event === "EndOfTurn")!;
    // TurnResumed came when he went on, seconds of audio before the turn's end, not with its final.
    expect(next.audio_window_end).toBeLessThan(end.audio_window_end - 2);
    expect(end.turn_index).toBe(infos[eager]!.turn_index);
    expect(normalizeText(end.transcript)).toContain("americans ask not");
    // Flux's rule: an EndOfTurn right after an EagerEndOfTurn has the same transcript; else a TurnResumed came between.
    for (let i = 0; i < infos.length; i++) {
      if (infos[i]!.event !== "EndOfTurn") continue;
      const before = infos.slice(0, i).filter((m) => m.event === "EagerEndOfTurn" || m.event === "TurnResumed" || m.event === "StartOfTurn").at(-1);
      if (before?.event === "EagerEndOfTurn") expect(infos[i]!.transcript).toBe(before.transcript);
    }
  });

  test("Configure → ConfigureSuccess with the thresholds in force; a bad Configure → ConfigureFailure; ForceEndTurn ends the turn with trigger manual", async () => {
    const s = await fluxStream({ keyterm: "ComfyUI" });
    s.socket.sendConfigure({ type: "Configure", thresholds: { eot_threshold: 0.8, eot_timeout_ms: 3000 }, keyterms: ["Kennedy"] });
    await waitFor(() => s.messages.some((m) => m.type === "ConfigureSuccess"), 5000, "ConfigureSuccess");
    expect(s.messages.find((m) => m.type === "ConfigureSuccess")).toMatchObject({ thresholds: { eot_threshold: 0.8, eot_timeout_ms: 3000 }, keyterms: ["Kennedy"] });
    s.socket.sendConfigure({ type: "Configure", thresholds: { eot_threshold: 0.2 } });
    await waitFor(() => s.messages.some((m) => m.type === "ConfigureFailure"), 5000, "ConfigureFailure");
    expect((s.messages.find((m) => m.type === "ConfigureFailure") as { description: string }).description).toContain("eot_threshold");
    // JFK up to 2.4 s, just after "Americans" (it ends at 2.26 s) and before min_pause (0.2 s) of
    // silence could let the model end the turn itself; then ForceEndTurn while he would still be talking.
    await sendRealtime((b) => s.socket.sendMedia(b), jfk, 0, Math.round(16000 * 2.4));
    s.socket.sendForceEndTurn({ type: "ForceEndTurn" });
    await waitFor(() => eventsOf(s.messages).includes("EndOfTurn"), 30_000, "EndOfTurn");
    const end = turnInfos(s.messages).find((m) => m.event === "EndOfTurn")!;
    expect(end.trigger).toBe("manual");
    expect(normalizeText(end.transcript)).toContain("my fellow americans");
    s.socket.sendCloseStream({ type: "CloseStream" });
    expect((await s.closed).code).toBe(1000);
  });

  test("bad input: bad thresholds and encodings are 400 at the handshake; an unknown message is an Error and the stream goes on; a second stream is unharmed; a quiet one is closed after 10 s", async () => {
    const auth = { Authorization: `Token ${DG_KEY}` };
    for (const [query, needle] of [
      ["eot_threshold=0.2", "eot_threshold"],
      ["eot_threshold=abc", "eot_threshold"],
      ["eager_eot_threshold=0.95", "eager_eot_threshold"],
      ["eot_timeout_ms=100", "eot_timeout_ms"],
      ["encoding=opus", "opus"],
      ["encoding=linear32", "linear32"],
      [`keyterm=${"x".repeat(65)}`, "keyterms"],
    ] as const) {
      const r = await upgradeRequest(h.url, `/v2/listen?model=flux-general-en&${query}`, auth);
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body)).toMatchObject({ err_code: "invalid_query" });
      expect(JSON.parse(r.body).err_msg).toContain(needle);
    }
    expect((await upgradeRequest(h.url, "/v2/listen?model=flux-general-en")).status).toBe(401);

    const a = await fluxStream();
    const b = await fluxStream();
    // c goes quiet: after 10 s without audio or a message it is closed as /v1/listen closes (1011, NET-0001).
    const c = await fluxStream();
    a.socket.socket.send(JSON.stringify({ type: "KeepAlive" }));
    a.socket.socket.send("not json");
    await waitFor(() => a.messages.filter((m) => m.type === "Error").length === 2, 5000, "two Errors");
    const errors = a.messages.filter((m) => m.type === "Error") as { code: string; description: string }[];
    expect(errors[0]).toMatchObject({ code: "UNPARSABLE_CLIENT_MESSAGE" });
    expect(errors[0]!.description).toContain("KeepAlive");
    expect(errors[1]!.description).not.toContain(" at "); // no stack trace
    // Both streams still work: b transcribes, and a answers a Configure after its errors.
    // a keeps sending (silence: the 10 s idle timer would close it) while b sends speech.
    await Promise.all([sendRealtime((m) => a.socket.sendMedia(m), silence(jfk.length / 16000 + 2)), sendRealtime((m) => b.socket.sendMedia(m), concat(jfk, silence(2)))]);
    a.socket.sendConfigure({ type: "Configure", thresholds: { eot_threshold: 0.75 } });
    const bText = () => normalizeText(turnInfos(b.messages).filter((m) => m.event === "EndOfTurn").map((m) => m.transcript).join(" "));
    await waitFor(() => bText().split(" ").length >= 20, 30_000, "b's turns");
    expect(bText()).toBe(JFK_TEXT);
    await waitFor(() => a.messages.some((m) => m.type === "ConfigureSuccess"), 5000, "a's ConfigureSuccess");
    expect(a.messages.at(-1)).toMatchObject({ type: "ConfigureSuccess", thresholds: { eot_threshold: 0.75 } });
    expect(b.messages.some((m) => m.type === "Error")).toBe(false);
    a.socket.sendCloseStream({ type: "CloseStream" });
    b.socket.sendCloseStream({ type: "CloseStream" });
    expect((await a.closed).code).toBe(1000);
    expect((await b.closed).code).toBe(1000);
    expect(await c.closed).toEqual({ code: IDLE_CLOSE.code, reason: IDLE_CLOSE.reason });
    expect(c.messages.map((m) => m.type)).toEqual(["Connected"]);
  });
});
