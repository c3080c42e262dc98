import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TokenAuth } from "../../src/auth/tokens.ts";
import { resolveConfig } from "../../src/config/load.ts";
import { realtimeDoor } from "../../src/doors/openai/index.ts";
import { routeWebSockets, upgradeToDoor, type WebSocketDoor } from "../../src/doors/websocket.ts";
import { createLogger } from "../../src/log.ts";
import { connectRealtime } from "../support/realtime.ts";
import type { DoorContext, LiveStream, OpenRefusal, StreamCore, StreamListener, StreamOptions, StreamRequest } from "../../src/stream/types.ts";

/**
 * Unit test of the Realtime door alone over a real socket (Bun's WebSocket
 * client), with a scripted stream core in place of the real one: the
 * handshake (paths, auth, subprotocols, refusals), what the door asks of the
 * core, and the events it answers with. test/clients/openai-realtime.test.ts
 * runs the real core, engine and the openai SDK.
 */

interface Opened {
  req: StreamRequest;
  pushed: number;
  options: Partial<StreamOptions>[];
  finalized: number;
  cleared: number;
  closed: boolean;
  listener: StreamListener;
}

function scriptedCore() {
  const opened: Opened[] = [];
  let admit: OpenRefusal | null = null;
  let openRefusal: OpenRefusal | null = null;
  const core: StreamCore = {
    async open(req) {
      if (openRefusal) return openRefusal;
      const o: Opened = { req, pushed: 0, options: [req.options ?? {}], finalized: 0, cleared: 0, closed: false, listener: req.listener! };
      opened.push(o);
      let seq = 0;
      const stream: LiveStream = {
        clientId: req.clientId,
        connectionId: req.connectionId,
        options: {} as StreamOptions,
        audioSeconds: 0,
        push: (s) => {
          o.pushed += s.length;
          return { ok: true };
        },
        finalize: async () => {
          o.finalized++;
          // The scripted utterance: every commit with audio closes one, said as "Hello there."
          if (o.pushed === 0) return false;
          o.pushed = 0;
          const n = seq++;
          o.listener.final({
            payload: { text: "Hello there.", duration: 1.5, client_id: req.clientId, ts: 0, start: 0, end: 1.5, seq: n, language: "en", avg_logprob: -0.1, no_speech_prob: 0, final: true },
            empty: false,
            endedBy: "finalize",
          });
          return true;
        },
        clear: async () => {
          o.cleared++;
        },
        setOptions: (opts) => {
          o.options.push(opts);
          return {} as StreamOptions;
        },
        settled: async () => {},
        close: async () => {
          o.closed = true;
        },
      };
      return { ok: true, stream, resumeKey: "k", fresh: true };
    },
    wouldAdmit: () => admit,
    checkOptions: (o) => ((o as Record<string, unknown>).language === "xx" ? 'language "xx": this model does not know it' : null),
    stopping: () => false,
  };
  return {
    core,
    opened,
    setAdmit: (r: OpenRefusal | null) => (admit = r),
    setOpenRefusal: (r: OpenRefusal | null) => (openRefusal = r),
  };
}

const counters: string[] = [];
const scripted = scriptedCore();
let server: ReturnType<typeof Bun.serve>;
let base: string;

beforeAll(() => {
  const { config } = resolveConfig({ limits: { max_events_per_second: 50 } as never, auth: { tokens: ["plain-token-1", { token: "scoped-token-1", clientIds: ["agent-*"], can: ["send"] }] } as never });
  const ctx: DoorContext = {
    core: scripted.core,
    config,
    auth: new TokenAuth(config.auth.tokens),
    log: createLogger(false),
    events: {
      streamOpened: (d) => counters.push(`${d}:opened`),
      refused: (d, c) => counters.push(`${d}:refused:${c}`),
      error: (d, c) => counters.push(`${d}:error:${c}`),
    },
  };
  const doors = [realtimeDoor(ctx)] as WebSocketDoor<unknown>[];
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    websocket: routeWebSockets(doors, { message() {} }) as never,
    async fetch(req, srv) {
      return (await upgradeToDoor(doors, req, srv as never)) ?? new Response("not found", { status: 404 });
    },
  });
  base = `ws://127.0.0.1:${server.port}`;
});

afterAll(() => server?.stop(true));

const connect = (path: string, opts: { headers?: Record<string, string>; protocols?: string[] } = {}) => connectRealtime(base + path, opts);

const auth = { headers: { Authorization: "Bearer plain-token-1" } };
const b64 = (n: number) => Buffer.from(new Uint8Array(n)).toString("base64");

describe("handshake", () => {
  test("401 in OpenAI's shape without a key or with a wrong one; 400 for another intent; 404 elsewhere", async () => {
    const http = base.replace("ws://", "http://");
    const up = { Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13" };
    let r = await fetch(`${http}/v1/realtime?intent=transcription`, { headers: up });
    expect(r.status).toBe(401);
    expect(await r.json()).toEqual({ error: { message: expect.stringContaining("Bearer"), type: "invalid_request_error", param: null, code: "invalid_api_key" } });
    r = await fetch(`${http}/v1/realtime?intent=transcription`, { headers: { ...up, Authorization: "Bearer nope-nope-nope" } });
    expect(r.status).toBe(401);
    r = await fetch(`${http}/v1/realtime?intent=conversation`, { headers: { ...up, Authorization: "Bearer plain-token-1" } });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe("invalid_intent");
    expect((await fetch(`${http}/v1/realtimez`, { headers: up })).status).toBe(404);
  });

  test("the browser form: realtime + openai-insecure-api-key.<key> subprotocols, `realtime` echoed; /realtime and ?model= too", async () => {
    const c = await connect("/realtime?intent=transcription&model=whisper-1", { protocols: ["realtime", "openai-insecure-api-key.plain-token-1"] });
    expect(c.ws.protocol).toBe("realtime");
    const created = await c.next("session.created");
    expect(created.session).toMatchObject({ type: "transcription", object: "realtime.transcription_session", audio: { input: { format: { type: "audio/pcm", rate: 24000 } } } });
    expect(created.event_id).toMatch(/^event_/);
    c.ws.close();
  });

  test("a scoped key streams only as a clientId its scope allows (?client_id=)", async () => {
    const http = base.replace("ws://", "http://");
    const up = { Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13", Authorization: "Bearer scoped-token-1" };
    const r = await fetch(`${http}/v1/realtime?intent=transcription`, { headers: up });
    expect(r.status).toBe(403);
    const c = await connect("/v1/realtime?intent=transcription&client_id=agent-7", { headers: { Authorization: "Bearer scoped-token-1" } });
    await c.next("session.created");
    c.send({ type: "session.update", session: { type: "transcription" } });
    await c.next("session.updated");
    const o = scripted.opened.at(-1)!;
    // "agent-*" is a fleet token shared by siblings: it limits the clientId but does not identify the sender (scoped: false).
    expect(o.req).toMatchObject({ clientId: "agent-7", door: "openai", scoped: false, token: "scoped-token-1" });
    expect(o.req.connectionId).toStartWith("oa:");
    c.ws.close();
  });

  test("a server at capacity refuses at the handshake (503, Retry-After); a refusal at open is an error event and close 1013", async () => {
    const http = base.replace("ws://", "http://");
    const up = { Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13", Authorization: "Bearer plain-token-1" };
    scripted.setAdmit({ ok: false, code: "server_busy", message: "busy", retryAfterMs: 2500 });
    const r = await fetch(`${http}/v1/realtime?intent=transcription`, { headers: up });
    scripted.setAdmit(null);
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("3");
    scripted.setOpenRefusal({ ok: false, code: "server_busy", message: "busy now" });
    const c = await connect("/v1/realtime?intent=transcription", auth);
    scripted.setOpenRefusal(null);
    await c.next("session.created");
    expect((await c.next("error")).error).toMatchObject({ type: "server_error", code: "server_busy" });
    expect((await c.closed).code).toBe(1013);
  });
});

describe("session", () => {
  test("the stream opens with interims on and server VAD; session.update maps onto setOptions; the beta shape answers in kind", async () => {
    const c = await connect("/v1/realtime?intent=transcription", auth);
    await c.next("session.created");
    c.send({ type: "session.update", session: { type: "transcription", audio: { input: { transcription: { language: "en" }, turn_detection: { type: "server_vad", silence_duration_ms: 500 } } } } });
    const updated = await c.next("session.updated");
    expect(updated.session.audio.input).toMatchObject({ transcription: { language: "en" }, turn_detection: { type: "server_vad", silence_duration_ms: 500 } });
    const o = scripted.opened.at(-1)!;
    expect(o.options[0]).toMatchObject({ interim_results: true, vad_events: true, segmentation: "vad" });
    expect(o.options.at(-1)).toMatchObject({ language: "en", silence_duration: 0.5, segmentation: "vad" });
    c.send({ type: "transcription_session.update", session: { input_audio_format: "g711_alaw", turn_detection: null } });
    const beta = await c.next("transcription_session.updated");
    expect(beta.session).toMatchObject({ input_audio_format: "g711_alaw", turn_detection: null });
    expect(o.options.at(-1)).toMatchObject({ segmentation: "manual", vad_events: false });
    c.ws.close();
    await c.closed;
    await Bun.sleep(10);
    expect(o.closed).toBe(true);
  });

  test("OpenAI-Beta: realtime=v1 gets transcription_session.created in the beta shape", async () => {
    const c = await connect("/v1/realtime?intent=transcription", { headers: { ...auth.headers, "OpenAI-Beta": "realtime=v1" } });
    const created = await c.next("transcription_session.created");
    expect(created.session).toMatchObject({ input_audio_format: "pcm16", turn_detection: { type: "server_vad" } });
    c.ws.close();
  });

  test("manual commit: committed, then the transcript; an empty commit is input_audio_buffer_commit_empty; clear answers cleared", async () => {
    const c = await connect("/v1/realtime?intent=transcription", auth);
    await c.next("session.created");
    c.send({ type: "session.update", session: { audio: { input: { turn_detection: null } } } });
    await c.next("session.updated");
    c.send({ type: "input_audio_buffer.append", audio: b64(4800) }); // 100 ms at 24 kHz
    c.send({ type: "input_audio_buffer.commit" });
    const committed = await c.next("input_audio_buffer.committed");
    const itemId = String(committed.item_id);
    const done = await c.next("conversation.item.input_audio_transcription.completed");
    expect(itemId).toMatch(/^item_/);
    expect(committed.previous_item_id).toBeNull();
    expect(done).toMatchObject({ item_id: itemId, content_index: 0, transcript: "Hello there.", usage: { type: "duration", seconds: 1.5 } });
    const deltas = c.events.filter((e) => e.type.endsWith(".delta") && e.item_id === itemId).map((e) => e.delta);
    expect(deltas.join("")).toBe(done.transcript);
    c.send({ type: "input_audio_buffer.append", audio: b64(960) }); // 20 ms
    c.send({ type: "input_audio_buffer.commit", event_id: "c2" });
    const err = await c.next("error");
    expect(err.error).toMatchObject({ type: "invalid_request_error", code: "input_audio_buffer_commit_empty", event_id: "c2" });
    c.send({ type: "input_audio_buffer.clear" });
    await c.next("input_audio_buffer.cleared");
    expect(scripted.opened.at(-1)!.cleared).toBe(1);
    c.ws.close();
  });

  test("bad events are error events in OpenAI's shape and the session goes on", async () => {
    const c = await connect("/v1/realtime?intent=transcription", auth);
    await c.next("session.created");
    const bad: [unknown, string, string | null][] = [
      ["{not json", "invalid_json", null],
      [[1, 2], "invalid_json", null],
      [{ type: "response.create" }, "invalid_value", "type"],
      [{ nope: 1 }, "invalid_value", "type"],
      [{ type: "input_audio_buffer.append" }, "missing_required_parameter", "audio"],
      [{ type: "input_audio_buffer.append", audio: "%%%not base64%%%" }, "invalid_audio", "audio"],
      [{ type: "input_audio_buffer.append", audio: b64(3) }, "odd_byte_length", "audio"],
      [{ type: "session.update", session: { audio: { input: { format: { type: "audio/pcm", rate: 44100 } } } } }, "invalid_value", "session.audio.input.format.rate"],
      [{ type: "session.update", session: { audio: { input: { transcription: { language: "xx" } } } } }, "invalid_value", "session.audio.input.transcription.language"],
      [{ type: "session.update", session: { type: "realtime" } }, "invalid_value", "session.type"],
      ["x".repeat(1_048_577), "payload_too_large", null],
    ];
    for (const [event, code, param] of bad) {
      c.send(event);
      const e = await c.next("error");
      expect(e.error).toMatchObject({ code, param });
      expect(["invalid_request_error", "server_error"]).toContain(e.error.type);
    }
    c.ws.send(new Uint8Array([1, 2, 3, 4]));
    expect((await c.next("error")).error.code).toBe("invalid_event");
    c.send({ type: "session.update", session: { type: "transcription" } });
    const ok = await c.next("session.updated");
    // Nothing the bad events asked for was applied.
    expect(ok.session.audio.input).toMatchObject({ format: { type: "audio/pcm", rate: 24000 }, transcription: { language: null } });
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    expect(counters.filter((x) => x.startsWith("openai:error:")).length).toBeGreaterThanOrEqual(bad.length + 1);
    c.ws.close();
  });

  test("a flood past limits.max_events_per_second is answered rate_limited, and the session goes on", async () => {
    const c = await connect("/v1/realtime?intent=transcription", auth);
    await c.next("session.created");
    for (let i = 0; i < 150; i++) c.send({ type: "input_audio_buffer.append", audio: b64(480) });
    const limited = await c.next("error");
    expect(limited.error).toMatchObject({ type: "invalid_request_error", code: "rate_limited" });
    await Bun.sleep(300);
    c.send({ type: "session.update", session: { type: "transcription" } });
    await c.next("session.updated");
    const n = c.events.filter((e) => e.type === "error").length;
    // A burst of 2 s worth (100) passed; most of the other 50 were refused.
    expect(n).toBeGreaterThan(30);
    expect(n).toBeLessThanOrEqual(50);
    c.ws.close();
  });
});
