import type { DoorContext } from "../../stream/types.ts";
import type { WebSocketDoor } from "../websocket.ts";
import { deepgramHandshake } from "./handshake.ts";
import type { DeepgramConnection } from "./socket.ts";

/**
 * Deepgram-compatible live transcription: `GET /v1/listen` (and `/listen`)
 * over WebSocket, the subset of Deepgram's v1 protocol that the official SDKs
 * and voice-agent frameworks rely on (README "Deepgram-compatible /v1/listen").
 * A thin translator onto the stream core.
 */
export type DeepgramState = DeepgramConnection;

export const DEEPGRAM_PATHS: readonly string[] = ["/v1/listen", "/listen"];

export function deepgramDoor(ctx: DoorContext): WebSocketDoor<DeepgramState> {
  return {
    name: "deepgram",
    matches: (url) => DEEPGRAM_PATHS.includes(url.pathname.replace(/\/+$/, "") || "/"),
    handshake: (req, url) => deepgramHandshake(ctx, req, url),
    open: (ws) => ws.data.state.attach(ws),
    message: (ws, message) => ws.data.state.message(message),
    close: (ws, code, reason) => ws.data.state.closed(code, reason),
    ping: (ws) => ws.data.state.activity(),
  };
}
