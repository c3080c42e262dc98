/**
 * End of turn by the Smart Turn model over the Socket.IO door, with the real
 * engine (float32), real Silero and the real Smart Turn v3.2 model.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Socket } from "socket.io-client";
import { JFK_TEXT, SHARED_AUDIO, concat, decodeToPcm16, normalizeText, silence, speak } from "../support/audio.ts";
import { client, startServer, streamPcm, waitFor, type Harness } from "../support/harness.ts";
import type { TranscriptionPayload } from "../../src/transport/schemas.ts";

setDefaultTimeout(120_000);

function record(s: Socket): { event: string; payload: Record<string, unknown> }[] {
  const out: { event: string; payload: Record<string, unknown> }[] = [];
  s.onAny((event: string, payload: Record<string, unknown>) => out.push({ event, payload }));
  return out;
}
const finalsOf = (events: { event: string; payload: unknown }[]) => events.filter((e) => e.event === "transcription").map((e) => e.payload as TranscriptionPayload);

let h: Harness;
let jfk: Int16Array;
beforeAll(async () => {
  // stall_timeout well past every pause here: only the VAD, the model or eot_timeout end a turn.
  h = await startServer({ stall_timeout: 20 });
  jfk = concat(await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`), silence(3));
});
afterAll(async () => {
  await h?.stop();
});

describe("turn_detection: model (Smart Turn v3.2)", () => {
  test("JFK's sentence is one or two turns, not three; the model ends one at a pause and says so", async () => {
    const s = await client(h.url, { auth: { turn_detection: "model" } });
    const events = record(s);
    // In real time: a pause's score must come back while the pause lasts (faster than
    // real time, eot_timeout's worth of silence may have passed before the model answers).
    await streamPcm(s, jfk, { clientId: "turn-jfk", realtime: true });
    // A round trip after the last chunk: every utterance closed by then has its final chained.
    await s.emitWithAck("finalize", { clientId: "turn-jfk" });
    await waitFor(() => normalizeText(finalsOf(events).map((f) => f.text).join(" ")).split(" ").length >= 20, 60_000, "the whole sentence");
    const finals = finalsOf(events);
    console.log(finals.map((f) => `${f.seq} ${JSON.stringify(f.end_of_turn)} ${f.text}`).join("\n"));
    expect(finals.length).toBeGreaterThanOrEqual(1);
    expect(finals.length).toBeLessThanOrEqual(2);
    expect(normalizeText(finals.map((f) => f.text).join(" "))).toBe(JFK_TEXT);
    expect(finals.map((f) => f.end_of_turn?.trigger)).toContain("model");
    for (const f of finals) expect(f.end_of_turn!.probability).toBeGreaterThan(0);
    s.disconnect();
  });

  test("a short complete question ends at its pause, long before eot_timeout of silence", async () => {
    const question = await speak("How are you today?", "en-gb", 160);
    const s = await client(h.url, { auth: { turn_detection: "model", eot_timeout: 5 } });
    const events = record(s);
    // 1 s of silence after the question, then no more audio: silence alone (5 s) cannot end it, nor the stall timer (20 s).
    await streamPcm(s, concat(silence(0.5), question, silence(1)), { clientId: "turn-q", realtime: true });
    await waitFor(() => finalsOf(events).length > 0, 15_000, "the question's final");
    const f = finalsOf(events)[0]!;
    expect(normalizeText(f.text)).toBe("how are you today");
    expect(f.end_of_turn).toMatchObject({ trigger: "model" });
    expect(f.end_of_turn!.probability!).toBeGreaterThanOrEqual(0.7);
    s.disconnect();
  });

  test("eager end of turn and turn_resumed, in order, on a sentence that goes on after a pause", async () => {
    // At the pause after "Americans," Smart Turn leans to complete (about 0.93) but not past
    // eot_threshold 0.99, so the turn stays open: turn_eager, then turn_resumed when he goes on.
    const s = await client(h.url, { auth: { turn_detection: "model", eot_threshold: 0.99, eager_eot_threshold: 0.5, eot_timeout: 2.5 } });
    const events = record(s);
    // In real time: the model's answer for a pause must come back while the pause lasts.
    await streamPcm(s, jfk, { clientId: "turn-eager", realtime: true });
    await s.emitWithAck("finalize", { clientId: "turn-eager" });
    await waitFor(() => finalsOf(events).length > 0 && normalizeText(finalsOf(events).map((f) => f.text).join(" ")).split(" ").length >= 20, 60_000, "the sentence");
    const order = events.filter((e) => ["turn_eager", "turn_resumed", "transcription"].includes(e.event));
    console.log(order.map((e) => `${e.event} ${JSON.stringify(e.payload).slice(0, 120)}`).join("\n"));
    const first = order.findIndex((e) => e.event === "turn_eager");
    expect(first).toBeGreaterThanOrEqual(0);
    expect(order[first + 1]?.event).toBe("turn_resumed");
    expect(order[first]!.payload.seq).toBe(order[first + 1]!.payload.seq);
    expect(order[first]!.payload.probability as number).toBeGreaterThanOrEqual(0.5);
    // The final of that turn comes after, with the same seq, and holds the words before and after the pause.
    const final = order.slice(first + 2).find((e) => e.event === "transcription")!;
    expect(final.payload.seq).toBe(order[first]!.payload.seq);
    expect(normalizeText(String(final.payload.text))).toContain("americans ask not");
    s.disconnect();
  });

  test("bad turn settings get a clear error naming the setting; good ones are acknowledged", async () => {
    const bad = await client(h.url, { auth: { turn_detection: "model", eot_threshold: 2 } });
    const errors: { code: string; message: string }[] = [];
    bad.on("error", (e) => errors.push(e));
    await bad.emitWithAck("stream_options", { clientId: "x" }); // a round trip: the connect error came first
    expect(errors[0]).toMatchObject({ code: "invalid_payload" });
    expect(errors[0]!.message).toContain("eot_threshold");
    const ack = await bad.emitWithAck("stream_options", { clientId: "turn-bad", turn_detection: "model", eot_threshold: 0.6, eager_eot_threshold: 0.8 });
    expect(ack).toMatchObject({ ok: false, code: "invalid_payload" });
    expect(errors.at(-1)!.message).toContain("eager_eot_threshold");
    const ok = await bad.emitWithAck("stream_options", { clientId: "turn-bad", turn_detection: "model", eot_threshold: 0.8 });
    expect(ok).toMatchObject({ ok: true, options: { turn_detection: "model", eot_threshold: 0.8 } });
    bad.disconnect();
  });
});
