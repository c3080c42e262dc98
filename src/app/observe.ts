import type { Server as SocketServer } from "socket.io";
import { registerCapacityMetrics } from "../capacity/metrics.ts";
import type { EngineStats } from "../engine/types.ts";
import { registerLiveMetrics } from "../metrics/live.ts";
import { ServerMetrics } from "../metrics/metrics.ts";
import type { InterimCounters } from "../session/manager.ts";
import type { TransportCounters } from "../transport/socket-handlers.ts";
import { poolStatsOf } from "./engine.ts";
import type { Parts } from "./parts.ts";

export interface ServerStats {
  sessions: number;
  utterances: number;
  audioSeconds: number;
  vadFrames: number;
  vadCalls: number;
  engine: EngineStats | null;
  /** Interim outcomes and guard counts (live results). */
  interims: InterimCounters | null;
  guards: { dropped: Record<string, number>; retries: number } | null;
  /** Milliseconds the engine's executors were busy (finals and interims), when it reports it. */
  engineBusyMs: number | null;
  /** Executors (workers) that busy time is spread over. */
  engineWorkers: number | null;
  /** Finals that found every executor busy while an interim held one. */
  finalsBehindInterims: number | null;
}

/** The Prometheus registry behind GET /metrics; every figure is read from `parts` at scrape time. */
export function createMetrics(io: SocketServer, counters: TransportCounters, parts: Parts, cluster: boolean): ServerMetrics {
  const metrics = new ServerMetrics(
    {
      connectedSockets: () => io.of("/").sockets.size,
      activeSessions: () => parts.sessions?.size ?? 0,
      audioSeconds: () => counters.audioSeconds,
      utterances: () => parts.sessions?.utterances ?? 0,
      delivered: () => parts.delivery?.delivered ?? 0,
      errors: () => counters.errors,
      refusedPayloads: () => counters.refusedPayloads,
      engineStats: () => parts.engine?.stats?.() ?? null,
      redisUp: () => (parts.cluster ? parts.cluster.state().up : null),
      workers: () => {
        const pool = poolStatsOf(parts.engine);
        return pool ? { total: pool.executors, busy: pool.busyExecutors } : null;
      },
      engineFailures: () => parts.watch?.failures() ?? new Map(),
      finalsBehindInterims: () => poolStatsOf(parts.engine)?.interims.finalsBehind ?? 0,
    },
    { cluster },
  );
  registerCapacityMetrics(metrics.registry, () => parts.capacity);
  registerLiveMetrics(metrics.registry, () => parts.sessions);
  return metrics;
}

/** Point-in-time figures for benchmarks and health. */
export function statsOf(parts: Parts, counters: TransportCounters): ServerStats {
  const { sessions, vad, engine } = parts;
  return {
    sessions: sessions?.size ?? 0,
    utterances: sessions?.utterances ?? 0,
    audioSeconds: counters.audioSeconds,
    vadFrames: vad?.framesScored ?? 0,
    vadCalls: vad?.inferenceCalls ?? 0,
    engine: engine?.stats?.() ?? null,
    interims: sessions ? { ...sessions.interims } : null,
    guards: sessions ? { dropped: Object.fromEntries(sessions.guardCounters.dropped), retries: sessions.guardCounters.retries } : null,
    engineBusyMs: poolStatsOf(engine)?.busyMs ?? null,
    engineWorkers: poolStatsOf(engine)?.executors ?? null,
    finalsBehindInterims: poolStatsOf(engine)?.interims.finalsBehind ?? null,
  };
}
