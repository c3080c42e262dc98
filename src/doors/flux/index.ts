import type { DoorContext } from "../../stream/types.ts";
import type { WebSocketDoor } from "../websocket.ts";
import { fluxHandshake } from "./handshake.ts";
import type { FluxConnection } from "./socket.ts";

/**
 * Deepgram Flux-compatible turn-based transcription: `GET /v2/listen` over
 * WebSocket (README "Turn detection"). Turns are ended by the Smart Turn
 * model through the stream core's turn_detection "model".
 */
export const FLUX_PATHS: readonly string[] = ["/v2/listen"];

export function fluxDoor(ctx: DoorContext): WebSocketDoor<FluxConnection> {
  return {
    name: "flux",
    matches: (url) => FLUX_PATHS.includes(url.pathname.replace(/\/+$/, "") || "/"),
    handshake: (req, url) => fluxHandshake(ctx, req, url),
    open: (ws) => ws.data.state.attach(ws),
    message: (ws, message) => ws.data.state.message(message),
    close: (ws, code, reason) => ws.data.state.closed(code, reason),
    ping: (ws) => ws.data.state.activity(),
  };
}
