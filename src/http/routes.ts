import type { Config } from "../config/schema.ts";
import type { SpeechEngine } from "../engine/types.ts";
import type { Logger } from "../log.ts";
import type { SessionManager } from "../session/manager.ts";
import type { TransportCounters } from "../transport/socket-handlers.ts";
import type { SileroVad } from "../vad/silero.ts";
import type { Server as SocketServer } from "socket.io";
import { bearerToken, type TokenAuth } from "../auth/tokens.ts";
import type { ServerMetrics } from "../metrics/metrics.ts";
import { healthHttpStatus, type HealthReport } from "../metrics/health.ts";
import { handleOpenAi } from "./openai.ts";
import { readyResponse, type Readiness } from "../capacity/ready.ts";
import { servePublic } from "./public.ts";

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
  /** Shared tokens: every endpoint but /health needs `Authorization: Bearer` when set. */
  auth?: TokenAuth;
  metrics?: ServerMetrics;
  health?: () => Promise<HealthReport>;
  /** GET /ready: whether this node admits new streams. */
  ready?: () => Readiness;
}

/**
 * For endpoints behind auth.tokens: null when the request may proceed, else
 * the 401 to send. /health is never behind it (load balancers, Docker).
 */
export function requireToken(req: Request, ctx: HttpContext): Response | null {
  if (!ctx.auth?.enabled) return null;
  const bad = ctx.auth.check(bearerToken(req.headers.get("authorization")));
  if (!bad) return null;
  ctx.metrics?.authFailed(`http_${bad}`);
  return Response.json(
    { error: { code: "unauthorized", message: bad === "missing_token" ? "this endpoint needs Authorization: Bearer <token>" : "the token was not accepted" } },
    { status: 401, headers: { "WWW-Authenticate": 'Bearer realm="stt"' } },
  );
}

/** Plain HTTP endpoints next to Socket.IO. Returns null for paths it does not serve. */
export async function handleHttp(req: Request, ctx: HttpContext): Promise<Response | null> {
  const url = new URL(req.url);
  if (url.pathname === "/health" && ctx.health) {
    const report = await ctx.health();
    return Response.json(report, { status: healthHttpStatus(report.status), headers: { "Cache-Control": "no-store" } });
  }
  if (url.pathname === "/ready" && ctx.ready) return readyResponse(ctx.ready());
  if (url.pathname === "/metrics" && ctx.metrics) {
    const denied = requireToken(req, ctx);
    if (denied) return denied;
    const { body, contentType } = await ctx.metrics.render();
    return new Response(body, { headers: { "Content-Type": contentType, "Cache-Control": "no-store" } });
  }
  if (url.pathname === "/health") {
    const ready = ctx.isReady();
    return Response.json(
      { status: ready ? "ok" : "starting", model: ctx.engine.info, sessions: ctx.sessions.size },
      { status: ready ? 200 : 503 },
    );
  }
  // Clients: OpenAI-compatible file transcription, and the browser page at /.
  const client = (await handleOpenAi(req, ctx)) ?? (await servePublic(req));
  if (client) return client;
  return null;
}
