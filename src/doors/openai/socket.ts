import type { Grant } from "../../auth/access.ts";
import type { DoorContext, LiveStream, OpenRefusal, StreamListener } from "../../stream/types.ts";
import type { TokenBucket } from "../../transport/rate.ts";
import type { DoorSocket } from "../websocket.ts";
import { InputAudio, TARGET_RATE } from "./audio.ts";
import { applyBeta, applyGa, OPTION_PARAMS, renderBeta, renderGa, streamOptionsOf, type RealtimeStreamOptions, type SessionConfig } from "./config.ts";
import * as ev from "./events.ts";
import { Items } from "./items.ts";

/**
 * One Realtime transcription connection: client events → calls on its live
 * stream, the stream's events → server events (through Items). Every bad
 * event is answered with an `error` event and the session goes on, as
 * OpenAI's ("most errors are recoverable and the session will stay open").
 */

export interface RealtimeState {
  /** session_… (also the prefix of its event and item ids). */
  id: string;
  clientId: string;
  connectionId: string;
  grant: Grant;
  token?: string;
  scoped?: boolean;
  /** Dialled with `OpenAI-Beta: realtime=v1`: the beta session shape in transcription_session.* events. */
  beta: boolean;
  config: SessionConfig;
  audio: InputAudio;
  items: Items | null;
  stream: LiveStream | null;
  /** The stream was (re)opened and has taken no audio yet: a refused push is then really a full buffer. */
  fresh: boolean;
  /** Client events (and decoded audio) that arrived while the stream was being opened, handled in order once it is. */
  queue: (string | Buffer | Float32Array)[];
  closed: boolean;
  /** 16 kHz samples pushed to the core over the whole session (across reopened streams). */
  pushed: number;
  /** Where (in `pushed` samples) the last commit, clear or end of speech left the buffer: the empty-commit check. */
  committedTo: number;
  sent: number;
  /** limits.max_events_per_second, as on Socket.IO connections: a flood costs O(1) per event. */
  bucket: TokenBucket;
}

type Socket = DoorSocket<RealtimeState>;

/** OpenAI refuses a commit of less than 100 ms of audio. */
const MIN_COMMIT_SAMPLES = 1600;
/** Events held while the stream opens (it takes one admission check); more is a client that does not wait. */
const MAX_QUEUED = 256;

const KNOWN = ["session.update", "transcription_session.update", "input_audio_buffer.append", "input_audio_buffer.commit", "input_audio_buffer.clear"];

export function send(ws: Socket, e: ev.OutEvent): void {
  const s = ws.data.state;
  const { type, ...fields } = e;
  ws.send(JSON.stringify({ type, event_id: `event_${s.id.slice(8)}_${++s.sent}`, ...fields }));
}

function sendError(ctx: DoorContext, ws: Socket, e: ev.RealtimeError): void {
  ctx.events.error("openai", e.code);
  send(ws, ev.error(e));
}

function sessionObject(s: RealtimeState): Record<string, unknown> {
  return s.beta ? renderBeta(s.config, s.id) : renderGa(s.config, s.id);
}

export function openSession(ctx: DoorContext, ws: Socket): void {
  const s = ws.data.state;
  send(ws, s.beta ? { type: "transcription_session.created", session: sessionObject(s) } : ev.sessionCreated(sessionObject(s)));
  s.items = new Items(`item_${s.id.slice(8)}_`, {
    emit: (e) => send(ws, e),
    mismatch: (itemId) => {
      ctx.events.error("openai", "delta_mismatch");
      ctx.log.once("openai:delta_mismatch", "openai realtime: a final did not start with the deltas already sent", { itemId });
    },
  });
  s.items.manual = s.config.turn === null;
  attach(ctx, ws, () => ctx.events.streamOpened("openai"));
}

/** Opens the connection's stream (again: the idle reaper may have ended its session) and drains the queue. */
function attach(ctx: DoorContext, ws: Socket, opened: () => void): void {
  const s = ws.data.state;
  s.stream = null;
  void ctx.core
    .open({
      clientId: s.clientId,
      connectionId: s.connectionId,
      door: "openai",
      grant: s.grant,
      token: s.token,
      scoped: s.scoped,
      options: streamOptionsOf(s.config),
      listener: listener(ctx, ws),
    })
    .then((r) => {
      if (!r.ok) return refuse(ctx, ws, r);
      if (s.closed) return void r.stream.close();
      opened();
      s.stream = r.stream;
      s.fresh = true;
      const pending = s.queue.splice(0);
      while (pending.length > 0) {
        // A push may have started another reopen: the rest waits for it, in order.
        if (!s.stream) {
          s.queue.push(...pending);
          break;
        }
        const m = pending.shift()!;
        if (m instanceof Float32Array) push(ctx, ws, m, null);
        else handle(ctx, ws, m);
      }
    })
    .catch((err: unknown) => {
      ctx.log.error("openai realtime: opening the stream failed", { error: String(err) });
      refuse(ctx, ws, { ok: false, code: "server_busy", message: "the stream could not be opened; try again" });
    });
}

export function onMessage(ctx: DoorContext, ws: Socket, message: string | Buffer): void {
  const s = ws.data.state;
  if (s.closed) return;
  if (!s.bucket.take()) {
    return sendError(ctx, ws, { type: "invalid_request_error", code: "rate_limited", message: `more than ${ctx.config.limits.max_events_per_second} events/s (limits.max_events_per_second); send audio in fewer, larger appends` });
  }
  if (s.stream) return handle(ctx, ws, message);
  if (s.queue.length >= MAX_QUEUED) return sendError(ctx, ws, { type: "invalid_request_error", code: "rate_limited", message: "wait for session.created before sending more events" });
  s.queue.push(message);
}

export function onClose(ws: Socket): void {
  const s = ws.data.state;
  s.closed = true;
  s.queue.length = 0;
  // The open speech is still transcribed by the core (its final goes nowhere): the clientId is given up.
  void s.stream?.close();
}

function refuse(ctx: DoorContext, ws: Socket, r: OpenRefusal): void {
  ctx.events.refused("openai", r.code);
  const busy = r.code === "server_busy" || r.code === "max_sessions" || r.code === "shutting_down";
  send(ws, ev.error({ type: busy ? "server_error" : "invalid_request_error", code: r.code, message: r.message }));
  // 1013 "try again later" for load, 1008 "policy violation" for a refused identity.
  ws.close(busy ? 1013 : 1008, r.code);
}

function listener(ctx: DoorContext, ws: Socket): StreamListener {
  const items = () => ws.data.state.items!;
  return {
    speechStarted: (e) => items().speechStarted(e, ws.data.state.config.vad.prefix_padding_ms / 1000),
    interim: (e) => items().interim(e),
    speechStopped: (e) => {
      const s = ws.data.state;
      s.committedTo = Math.max(s.committedTo, Math.round(items().sessionSeconds(e.end) * TARGET_RATE));
      items().speechStopped(e);
    },
    final: (e) => items().final(e),
    error: (code, message) => {
      ctx.events.error("openai", code);
      if (code === "stream_taken_over") {
        // Another connection resumed this clientId (?client_id= reused): this session is over.
        send(ws, ev.error({ type: "invalid_request_error", code, message }));
        return ws.close(1008, code);
      }
      // Results come in utterance order, so the one that failed is the oldest committed item.
      if (!items().failed(code, message)) send(ws, ev.error({ type: "server_error", code, message }));
    },
  };
}

function handle(ctx: DoorContext, ws: Socket, message: string | Buffer): void {
  const s = ws.data.state;
  const max = ctx.config.limits.max_payload_bytes;
  if (typeof message !== "string") {
    return sendError(ctx, ws, { type: "invalid_request_error", code: "invalid_event", message: "send JSON text events; audio goes base64-encoded in input_audio_buffer.append" });
  }
  if (message.length > max) {
    return sendError(ctx, ws, { type: "invalid_request_error", code: "payload_too_large", message: `events are limited to ${max} bytes (limits.max_payload_bytes); send audio in smaller appends` });
  }
  let event: unknown;
  try {
    event = JSON.parse(message);
  } catch {
    return sendError(ctx, ws, { type: "invalid_request_error", code: "invalid_json", message: "the event is not valid JSON" });
  }
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    return sendError(ctx, ws, { type: "invalid_request_error", code: "invalid_json", message: "an event is a JSON object with a `type`" });
  }
  const e = event as Record<string, unknown>;
  const eventId = typeof e.event_id === "string" ? e.event_id.slice(0, 128) : null;
  const bad = (code: string, message: string, param: string | null = null) => sendError(ctx, ws, { type: "invalid_request_error", code, message, param, event_id: eventId });
  switch (e.type) {
    case "session.update":
    case "transcription_session.update": {
      const beta = e.type === "transcription_session.update";
      const patched = (beta ? applyBeta : applyGa)(s.config, e.session);
      if (!patched.ok) return bad("invalid_value", patched.message, patched.param);
      const refused = checkOptions(ctx, streamOptionsOf(s.config), streamOptionsOf(patched.config));
      if (refused) return bad("invalid_value", refused.message, refused.param);
      s.config = patched.config;
      s.audio.setFormat(s.config.format);
      s.items!.manual = s.config.turn === null;
      s.stream!.setOptions(streamOptionsOf(s.config));
      const session = beta ? renderBeta(s.config, s.id) : renderGa(s.config, s.id);
      return send(ws, beta ? ev.transcriptionSessionUpdated(session) : ev.sessionUpdated(session));
    }
    case "input_audio_buffer.append": {
      if (typeof e.audio !== "string") return bad("missing_required_parameter", "input_audio_buffer.append needs `audio`: base64-encoded audio", "audio");
      const r = s.audio.decode(e.audio);
      if (!r.ok) return bad(r.code, r.message, "audio");
      return push(ctx, ws, r.samples, eventId);
    }
    case "input_audio_buffer.commit":
      return commit(ctx, ws, eventId);
    case "input_audio_buffer.clear":
      s.audio.reset();
      s.committedTo = s.pushed;
      s.items!.clear();
      void s.stream!.clear().then(() => send(ws, ev.cleared()));
      return;
    default: {
      const what = typeof e.type === "string" ? `"${e.type.slice(0, 80)}"` : "missing";
      return bad("invalid_value", `unknown event type ${what}; a transcription session takes ${KNOWN.join(", ")}`, "type");
    }
  }
}

function push(ctx: DoorContext, ws: Socket, samples: Float32Array, eventId: string | null): void {
  const s = ws.data.state;
  if (samples.length === 0) return;
  if (!s.stream) return void s.queue.push(samples);
  const r = s.stream.push(samples);
  if (r.ok) {
    s.fresh = false;
    s.pushed += samples.length;
    return;
  }
  if (s.fresh) return sendError(ctx, ws, { type: "server_error", code: r.code, message: r.message, event_id: eventId });
  // The session behind the stream was ended (idle_session_seconds) while the connection stayed:
  // the connection still owns the clientId, so the core opens it again without a new admission,
  // once the old one's results are all out (the new stream's clock starts at 0).
  const old = s.stream;
  s.stream = null;
  s.queue.unshift(samples);
  void old
    .settled()
    .catch(() => {})
    .then(() => {
      s.items!.restart(s.pushed / TARGET_RATE);
      attach(ctx, ws, () => {});
    });
}

function commit(ctx: DoorContext, ws: Socket, eventId: string | null): void {
  const s = ws.data.state;
  // The few samples the resampler holds belong to this item.
  push(ctx, ws, s.audio.flush(), eventId);
  // That push found the session ended and is reopening it: the commit follows its audio.
  if (!s.stream) return void s.queue.push(JSON.stringify({ type: "input_audio_buffer.commit", event_id: eventId ?? undefined }));
  const uncommitted = s.pushed - s.committedTo;
  if (uncommitted < MIN_COMMIT_SAMPLES) {
    const had = (Math.max(0, uncommitted) / 16).toFixed(2);
    return sendError(ctx, ws, {
      type: "invalid_request_error",
      code: "input_audio_buffer_commit_empty",
      message: `Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has ${had}ms of audio.`,
      event_id: eventId,
    });
  }
  s.committedTo = s.pushed;
  const itemId = s.items!.commitNow();
  const stream = s.stream;
  // The item's final (if it had speech) is delivered by the time settled() resolves.
  void stream
    .finalize()
    .then(() => stream.settled())
    .then(() => s.items?.settle(itemId))
    .catch((err: unknown) => ctx.log.error("openai realtime: commit failed", { error: String(err) }));
}

/** The core's check of the options that change; the param named is the field the refused option came from. */
function checkOptions(ctx: DoorContext, before: RealtimeStreamOptions, after: RealtimeStreamOptions): { param: string; message: string } | null {
  for (const key of Object.keys(after) as (keyof RealtimeStreamOptions)[]) {
    if (after[key] === before[key]) continue;
    const message = ctx.core.checkOptions({ [key]: after[key] });
    if (message) return { param: OPTION_PARAMS[key], message };
  }
  return null;
}
