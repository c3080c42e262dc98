import type { ClusterState } from "../cluster/redis.ts";
import type { EngineInfo } from "../engine/types.ts";
import type { EngineHealth, EngineWatch } from "./engine-watch.ts";

/**
 * GET /health:
 *   ok        200  model loaded, engine workers answer, Redis (if configured) up
 *   degraded  200  serving, but Redis is down: transcripts reach this node's sockets only
 *   starting  503  model still loading
 *   stopping  503  SIGTERM received: finishing captured speech, take this node out
 *   unhealthy 503  the engine does not answer
 */
export type HealthStatus = "ok" | "degraded" | "starting" | "stopping" | "unhealthy";

export interface HealthReport {
  status: HealthStatus;
  /** Why the status is not "ok". */
  reasons: string[];
  model: EngineInfo | null;
  engine: EngineHealth | null;
  redis: { up: boolean; reason: string | null; since: string } | null;
  sessions: number;
  connections: number;
}

export interface HealthInputs {
  started: boolean;
  stopping: boolean;
  engine: EngineWatch | null;
  cluster: ClusterState | null;
  sessions: number;
  connections: number;
  model: EngineInfo | null;
}

export async function evaluateHealth(i: HealthInputs): Promise<HealthReport> {
  const reasons: string[] = [];
  let status: HealthStatus = "ok";
  let engine: EngineHealth | null = null;
  if (i.stopping) {
    status = "stopping";
    reasons.push("shutting down");
  } else if (!i.started || !i.engine) {
    status = "starting";
    reasons.push("model loading");
  } else {
    engine = await i.engine.health();
    if (!engine.ok) {
      status = "unhealthy";
      reasons.push(engine.reason ?? "engine not answering");
    }
  }
  const redis = i.cluster ? { up: i.cluster.up, reason: i.cluster.reason, since: new Date(i.cluster.since).toISOString() } : null;
  if (redis && !redis.up) {
    reasons.push(`redis down: ${redis.reason ?? "disconnected"}`);
    if (status === "ok") status = "degraded";
  }
  return { status, reasons, model: i.model, engine, redis, sessions: i.sessions, connections: i.connections };
}

export function healthHttpStatus(s: HealthStatus): number {
  return s === "ok" || s === "degraded" ? 200 : 503;
}
