import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Server } from "socket.io";
import { FULL_ACCESS } from "../../src/auth/access.ts";
import { capacityFromConfig } from "../../src/capacity/capacity.ts";
import { resolveConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { Delivery } from "../../src/delivery/delivery.ts";
import type { EngineRequest, EngineResult, SpeechEngine } from "../../src/engine/types.ts";
import { createLogger } from "../../src/log.ts";
import { SessionManager } from "../../src/session/manager.ts";
import { SeqMemory } from "../../src/session/seq-memory.ts";
import { createStreamCore, type StreamHub } from "../../src/stream/core.ts";
import type { FinalEvent, SpeechStoppedEvent, StreamListener } from "../../src/stream/types.ts";
import { SileroVad } from "../../src/vad/silero.ts";
import { SHARED_AUDIO, concat, decodeToPcm16, silence, toFloat } from "../support/audio.ts";

/**
 * The stream core through its own API: real Silero and sessions, a scripted
 * engine (this is a unit test of the core, not of Whisper) whose first call is
 * the slowest, so ordering is really exercised.
 */

let vad: SileroVad;
let jfk: Float32Array;
// Not bound to any transport: room emits go nowhere, door listeners are what is checked.
const io = new Server();

beforeAll(async () => {
  vad = await SileroVad.load();
  // JFK: three utterances at silence_duration 0.8 ("And so my fellow Americans" / "Ask not" / "what your country ...").
  jfk = toFloat(concat(await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`), silence(1.5)));
});
afterAll(async () => {
  await vad.close();

});

function scriptedEngine(failFirst = false): SpeechEngine & { calls: EngineRequest[]; events: (["final" | "announce" | "withdraw", string, number])[] } {
  const calls: EngineRequest[] = [];
  const events: (["final" | "announce" | "withdraw", string, number])[] = [];
  return {
    calls,
    events,
    expectFinal: (key, ms) => void events.push([ms > 0 ? "announce" : "withdraw", key, ms]),
    info: { modelPath: "scripted", device: "cpu", computeType: "float32", multilingual: false, nMels: 80, workers: 1 },
    textOf: () => "",
    close: async () => {},
    async transcribe(r: EngineRequest): Promise<EngineResult> {
      const n = calls.push(r);
      events.push(["final", r.streamKey ?? "", 0]);
      await Bun.sleep(n === 1 ? 400 : 5); // the first result comes back last
      if (failFirst && n === 1) throw Object.assign(new Error("scripted failure"), { code: "engine_error" });
      return { text: `utterance ${n}`, tokens: [n], avgLogprob: -0.1, noSpeechProb: 0.01, language: "en", languageProbability: 1, engineMs: 5, batchSize: 1 };
    },
  };
}

function build(overrides: Partial<Config> = {}, failFirst = false) {
  const { config } = resolveConfig({ capacity: { admission: false } as Config["capacity"], ...overrides });
  const log = createLogger(false);
  const engine = scriptedEngine(failFirst);
  const delivery = new Delivery(io, log);
  const seqs = new SeqMemory(1024);
  let core: StreamHub | null = null;
  const capacity = capacityFromConfig(config, 1, (id, conn) => core?.ownerOf(id) === conn);
  const sessions = new SessionManager(config, vad, engine, {
    onResult: (s, u, r) => delivery.deliver(u, r, { take: () => seqs.take(s.clientId), peek: () => seqs.peek(s.clientId) }),
    onSpeechStopped: (s, u) => delivery.speechStopped(u, seqs.peek(s.clientId)),
    onError: (s, code, message) => delivery.error(s.clientId, core?.ownerOf(s.clientId), code, message),
  }, log);
  core = createStreamCore({ config, sessions, capacity, delivery, engine, log, isStopping: () => false });
  return { core, engine, sessions, capacity, stop: () => sessions.stop() };
}

function recorder() {
  const events: (["final", FinalEvent] | ["stopped", SpeechStoppedEvent] | ["error", string])[] = [];
  const listener: StreamListener = {
    final: (e) => events.push(["final", e]),
    speechStopped: (e) => events.push(["stopped", e]),
    error: (code) => events.push(["error", code]),
  };
  return { events, listener, finals: () => events.filter((e) => e[0] === "final").map((e) => (e[1] as FinalEvent).payload) };
}

const request = (clientId: string, connectionId: string, extra: object = {}) => ({ clientId, connectionId, door: "deepgram" as const, grant: FULL_ACCESS, ...extra });

describe("stream core", () => {
  test("results reach the listener in utterance order, each after its speech_stopped, although the engine answers out of order", async () => {
    const { core, engine, stop } = build();
    const rec = recorder();
    const opened = await core.open({ ...request("order", "c1"), listener: rec.listener });
    expect(opened.ok).toBe(true);
    if (!opened.ok) throw new Error("not opened");
    for (let i = 0; i < jfk.length; i += 1600) expect(opened.stream.push(jfk.slice(i, i + 1600)).ok).toBe(true);
    await opened.stream.close();
    expect(engine.calls.length).toBe(3);
    expect(rec.finals().map((p) => p.text)).toEqual(["utterance 1", "utterance 2", "utterance 3"]);
    expect(rec.finals().map((p) => p.seq)).toEqual([0, 1, 2]);
    // stopped(k) comes right before final(k), and their times agree.
    const kinds = rec.events.map((e) => e[0]);
    expect(kinds).toEqual(["stopped", "final", "stopped", "final", "stopped", "final"]);
    for (let k = 0; k < 6; k += 2) expect((rec.events[k]![1] as SpeechStoppedEvent).end).toBe((rec.events[k + 1]![1] as FinalEvent).payload.end);
    stop();
  });

  test("one owner: another connection is refused; the resume key moves the stream and tells the old owner", async () => {
    const { core, stop } = build();
    const a = recorder();
    const b = recorder();
    const first = await core.open({ ...request("own", "conn-a"), listener: a.listener });
    if (!first.ok) throw new Error("not opened");
    const stranger = await core.open({ ...request("own", "conn-b"), listener: b.listener });
    expect(stranger).toMatchObject({ ok: false, code: "client_id_in_use" });
    expect(core.ownerOf("own")).toBe("conn-a");
    const wrongKey = await core.open({ ...request("own", "conn-b", { resumeKey: "not-the-key" }), listener: b.listener });
    expect(wrongKey).toMatchObject({ ok: false, code: "client_id_in_use" });
    const resumed = await core.open({ ...request("own", "conn-b", { resumeKey: first.resumeKey }), listener: b.listener });
    expect(resumed).toMatchObject({ ok: true, previousOwner: "conn-a", resumeKey: first.resumeKey });
    expect(core.ownerOf("own")).toBe("conn-b");
    expect(a.events).toEqual([["error", "stream_taken_over"]]);
    // The old connection's handle no longer reaches the stream; its close frees nothing of b's.
    expect(core.streamOf("own", "conn-a")).toBeUndefined();
    await first.stream.close();
    expect(core.ownerOf("own")).toBe("conn-b");
    await core.releaseConnection("conn-b");
    expect(core.ownerOf("own")).toBeUndefined();
    stop();
  });

  test("after a resume, an error about an utterance the old connection sent goes to the new owner, not the old one", async () => {
    const { core, engine, stop } = build({}, true);
    const a = recorder();
    const b = recorder();
    const first = await core.open({ ...request("err-owner", "conn-a"), listener: a.listener });
    if (!first.ok) throw new Error("not opened");
    // "And so my fellow Americans" and the pause after it: one utterance, sent to the engine (which fails it in 400 ms).
    const upTo = Math.round(3.4 * 16000);
    for (let i = 0; i < upTo; i += 1600) expect(first.stream.push(jfk.slice(i, Math.min(i + 1600, upTo))).ok).toBe(true);
    for (let t = 0; engine.calls.length === 0 && t < 100; t++) await Bun.sleep(20);
    expect(engine.calls.length).toBe(1);
    const resumed = await core.open({ ...request("err-owner", "conn-b", { resumeKey: first.resumeKey }), listener: b.listener });
    expect(resumed.ok).toBe(true);
    for (let t = 0; b.events.length === 0 && t < 100; t++) await Bun.sleep(20);
    expect(b.events.filter((e) => e[0] === "error")).toEqual([["error", "engine_error"]]);
    // The old connection heard its utterance end (before the resume) and the takeover, nothing after.
    expect(a.events.map((e) => e[0])).toEqual(["stopped", "error"]);
    expect(a.events[1]).toEqual(["error", "stream_taken_over"]);
    await core.releaseConnection("conn-b");
    stop();
  });

  test("a scoped token identifies its sender: the same scoped token resumes, a plain shared token does not", async () => {
    const { core, stop } = build();
    const first = await core.open({ ...request("tok", "c1", { token: "scoped-token-1", scoped: true }) });
    expect(first.ok).toBe(true);
    expect(await core.open({ ...request("tok", "c2", { token: "scoped-token-1", scoped: true }) })).toMatchObject({ ok: true, previousOwner: "c1" });
    const plain = await core.open({ ...request("tok-plain", "c1", { token: "shared-token", scoped: false }) });
    expect(plain.ok).toBe(true);
    expect(await core.open({ ...request("tok-plain", "c2", { token: "shared-token", scoped: false }) })).toMatchObject({ ok: false, code: "client_id_in_use" });
    await core.releaseConnection("c1");
    await core.releaseConnection("c2");
    stop();
  });

  test("admission: a stream past max_streams is refused; an admitted stream whose session was ended is not asked again", async () => {
    const { core, stop } = build({ capacity: { admission: true, max_latency: 2, max_streams: 1, max_utilization: 0.65 } });
    const one = await core.open(request("adm-1", "c1"));
    if (!one.ok) throw new Error(`first stream refused: ${one.message}`);
    const two = await core.open(request("adm-2", "c2"));
    expect(two).toMatchObject({ ok: false, code: "server_busy" });
    expect(core.ownerOf("adm-2")).toBeUndefined(); // a refused stream keeps no claim
    // Someone ends adm-1's session (a monitor's cleanup, the idle reaper): its owner comes back.
    expect(await core.end("adm-1")).toBe(true);
    expect(core.streamOf("adm-1", "c1")).toBeUndefined();
    const again = await core.open(request("adm-1", "c1"));
    expect(again).toMatchObject({ ok: true, fresh: false });
    await core.releaseConnection("c1");
    stop();
  });

  test("a per-stream language the model lacks is refused before anything is claimed", async () => {
    const { core, stop } = build();
    expect(core.checkOptions({ language: "de" })).toContain("English-only");
    expect(core.checkOptions({ language: "en" })).toBeNull();
    expect(await core.open(request("lang", "c1", { options: { language: "de" } }))).toMatchObject({ ok: false, code: "invalid_payload" });
    expect(core.ownerOf("lang")).toBeUndefined();
    stop();
  });

  test("manual segmentation: silence does not end the utterance, finalize does; clear drops open speech untranscribed", async () => {
    const { core, engine, stop } = build();
    const rec = recorder();
    const opened = await core.open({ ...request("manual", "c1", { options: { segmentation: "manual" } }), listener: rec.listener });
    if (!opened.ok) throw new Error("not opened");
    for (let i = 0; i < jfk.length; i += 1600) opened.stream.push(jfk.slice(i, i + 1600));
    await opened.stream.settled();
    expect(engine.calls.length).toBe(0); // JFK's pauses are no boundary here
    expect(await opened.stream.finalize()).toBe(true);
    await opened.stream.settled();
    expect(rec.finals()).toHaveLength(1);
    expect(rec.finals()[0]!.from_finalize).toBe(true);
    expect(rec.finals()[0]!.end - rec.finals()[0]!.start).toBeGreaterThan(9); // the whole sentence
    // Open speech, then clear: nothing reaches the engine.
    for (let i = 0; i < 16000 * 3; i += 1600) opened.stream.push(jfk.slice(i, i + 1600));
    await opened.stream.clear();
    expect(await opened.stream.finalize()).toBe(false);
    await opened.stream.close();
    expect(engine.calls.length).toBe(1);
    stop();
  });

  test("while the VAD counts a stream's trailing silence the engine is told its final is coming; the announcement ends with the final, or is withdrawn when speech resumes", async () => {
    const { core, engine, stop } = build();
    const opened = await core.open({ ...request("announce", "c1"), listener: recorder().listener });
    if (!opened.ok) throw new Error("not opened");
    // Paced, so that the VAD scores chunk by chunk as it does live (a backlog
    // scored at once can close an utterance within one step, unannounced).
    for (let i = 0; i < jfk.length; i += 1600) {
      opened.stream.push(jfk.slice(i, i + 1600));
      await Bun.sleep(10);
    }
    await opened.stream.close();
    const ev = engine.events;
    expect(ev.filter((e) => e[0] === "final")).toHaveLength(3);
    // Each final was announced since the one before it, never further ahead
    // than silence_duration (0.8 s) plus the slack.
    let announced = false;
    let open = false;
    for (const [kind, key, ms] of ev) {
      expect(key).toBe("announce");
      if (kind === "announce") {
        expect(ms).toBeGreaterThan(0);
        expect(ms).toBeLessThanOrEqual(800 + 400);
        announced = open = true;
      } else if (kind === "withdraw") {
        expect(open).toBe(true); // only an announcement that stands is withdrawn
        open = false;
      } else {
        expect(announced).toBe(true);
        announced = open = false;
      }
    }
    expect(open).toBe(false); // nothing left standing once the stream closed

    // Manual segmentation: silence ends nothing, so nothing is announced.
    const manual = await core.open({ ...request("announce-manual", "c2", { options: { segmentation: "manual" } }), listener: recorder().listener });
    if (!manual.ok) throw new Error("not opened");
    for (let i = 0; i < jfk.length; i += 1600) manual.stream.push(jfk.slice(i, i + 1600));
    await manual.stream.finalize();
    await manual.stream.close();
    expect(ev.filter((e) => e[1] === "announce-manual").map((e) => e[0])).toEqual(["final"]);
    stop();
  });
});
