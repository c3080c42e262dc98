import type { Config } from "../config/schema.ts";
import type { SpeechEngine } from "../engine/types.ts";
import type { Logger } from "../log.ts";
import type { SessionManager } from "../session/manager.ts";
import type { TransportCounters } from "../transport/socket-handlers.ts";
import type { SileroVad } from "../vad/silero.ts";
import type { Server as SocketServer } from "socket.io";

/** What HTTP handlers may read; built once the server has started. */
export interface HttpContext {
  config: Config;
  io: SocketServer;
  engine: SpeechEngine;
  vad: SileroVad;
  sessions: SessionManager;
  counters: TransportCounters;
  log: Logger;
  isReady(): boolean;
}

/** Plain HTTP endpoints next to Socket.IO. Returns null for paths it does not serve. */
export async function handleHttp(req: Request, ctx: HttpContext): Promise<Response | null> {
  const url = new URL(req.url);
  if (url.pathname === "/health") {
    const ready = ctx.isReady();
    return Response.json(
      { status: ready ? "ok" : "starting", model: ctx.engine.info, sessions: ctx.sessions.size },
      { status: ready ? 200 : 503 },
    );
  }
  return null;
}
