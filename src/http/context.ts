import type { Config } from "../config/schema.ts";
import type { SpeechEngine } from "../engine/types.ts";
import type { Logger } from "../log.ts";
import type { SessionManager } from "../session/manager.ts";
import type { TransportCounters } from "../transport/socket-handlers.ts";
import type { SileroVad } from "../vad/silero.ts";
import type { Server as SocketServer } from "socket.io";
import { bearerToken, type TokenAuth } from "../auth/tokens.ts";
import type { ServerMetrics } from "../metrics/metrics.ts";
import type { HealthReport } from "../metrics/health.ts";
import type { Readiness } from "../capacity/ready.ts";
import type { FileJobs } from "./file-jobs.ts";

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
  /** File jobs in progress (shutdown drains them, then answers the rest). */
  fileJobs?: FileJobs;
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
