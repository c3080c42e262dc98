import { bearerToken } from "../../auth/tokens.ts";
import { TokenBucket } from "../../transport/rate.ts";
import type { DoorContext, OpenRefusal } from "../../stream/types.ts";
import type { WebSocketDoor } from "../websocket.ts";
import { InputAudio } from "./audio.ts";
import { initialConfig } from "./config.ts";
import { onClose, onMessage, openSession, type RealtimeState } from "./socket.ts";

/**
 * OpenAI Realtime API, transcription sessions: `GET /v1/realtime?intent=transcription`
 * upgraded to a WebSocket (also `/realtime`, for a base URL without /v1;
 * `?model=` is tolerated). What the openai SDKs dial with
 * `websocket_base_url="ws://host:port/v1"`. Auth: `Authorization: Bearer`,
 * or the browser's `openai-insecure-api-key.<key>` subprotocol beside
 * `realtime` (echoed). `?client_id=` (this server's extension) names the
 * stream for scoped tokens; otherwise it is `realtime-<session>`.
 */

const PATHS = new Set(["/v1/realtime", "/realtime"]);
const KEY_PROTOCOL = "openai-insecure-api-key.";

export type { RealtimeState } from "./socket.ts";

export function realtimeDoor(ctx: DoorContext): WebSocketDoor<RealtimeState> {
  return {
    name: "openai",
    matches: (url) => PATHS.has(url.pathname),
    handshake(req, url) {
      const intent = url.searchParams.get("intent");
      if (intent !== null && intent !== "transcription") {
        return refuse(ctx, 400, "invalid_intent", `this server serves transcription sessions only: connect with ?intent=transcription (got intent=${intent.slice(0, 40)})`);
      }
      const protocols = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim()).filter(Boolean);
      const fromProtocol = protocols.find((p) => p.startsWith(KEY_PROTOCOL))?.slice(KEY_PROTOCOL.length);
      const token = bearerToken(req.headers.get("authorization")) ?? fromProtocol;
      const grant = ctx.auth.grantFor(token);
      if (!grant) {
        return refuse(ctx, 401, "invalid_api_key", token ? "the API key was not accepted" : "this server needs an API key: Authorization: Bearer <key>");
      }
      const id = `session_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;
      const clientId = url.searchParams.get("client_id") ?? `realtime-${id.slice(8)}`;
      if (!/^[\x21-\x7e]{1,128}$/.test(clientId)) return refuse(ctx, 400, "invalid_client_id", "client_id: 1 to 128 printable ASCII characters");
      if (!grant.allows(clientId, "send")) {
        return refuse(ctx, 403, "forbidden", `this key may not stream as "${clientId}"; pass ?client_id= with a clientId its scope allows`);
      }
      if (ctx.core.stopping()) return refuse(ctx, 503, "shutting_down", "the server is shutting down");
      const busy = ctx.core.wouldAdmit();
      if (busy) return refusal(ctx, busy);

      const c = ctx.config;
      const config = initialConfig({
        model: c.model_path.split("/").filter(Boolean).at(-1) ?? "whisper",
        language: c.streams.language ?? c.language,
        vad_threshold: c.streams.vad_threshold ?? c.vad_threshold,
        speech_pad: c.streams.speech_pad ?? c.speech_pad,
        silence_duration: c.streams.silence_duration ?? c.silence_duration,
      });
      const state: RealtimeState = {
        id,
        clientId,
        connectionId: `oa:${crypto.randomUUID()}`,
        grant,
        token,
        scoped: grant.device === clientId,
        beta: /realtime=v1/i.test(req.headers.get("openai-beta") ?? ""),
        config,
        audio: new InputAudio(config.format, ctx.config.limits.max_chunk_seconds),
        items: null,
        stream: null,
        fresh: false,
        queue: [],
        closed: false,
        pushed: 0,
        committedTo: 0,
        sent: 0,
        bucket: new TokenBucket(c.limits.max_events_per_second, 2 * c.limits.max_events_per_second),
      };
      // A browser that offered subprotocols fails the handshake unless one is echoed.
      const headers: Record<string, string> = protocols.includes("realtime") ? { "Sec-WebSocket-Protocol": "realtime" } : {};
      return { state, headers };
    },
    open: (ws) => openSession(ctx, ws),
    message: (ws, message) => onMessage(ctx, ws, message),
    close: (ws) => onClose(ws),
  };
}

/** OpenAI's HTTP error shape, which the SDKs report with the status. */
function refuse(ctx: DoorContext, status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
  ctx.events.refused("openai", code);
  const type = status >= 500 ? "server_error" : "invalid_request_error";
  return Response.json({ error: { message, type, param: null, code } }, { status, headers });
}

function refusal(ctx: DoorContext, r: OpenRefusal): Response {
  const busy = r.code === "server_busy" || r.code === "max_sessions";
  const headers: Record<string, string> = r.retryAfterMs ? { "Retry-After": String(Math.ceil(r.retryAfterMs / 1000)) } : {};
  return refuse(ctx, busy ? 503 : r.code === "forbidden" ? 403 : 400, r.code, r.message, headers);
}
