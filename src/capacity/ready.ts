import type { CapacitySnapshot } from "./capacity.ts";

export interface Readiness {
  ready: boolean;
  reason: string | null;
  snapshot: CapacitySnapshot;
}

/**
 * GET /ready for load balancers: 200 while this node admits new streams, 503
 * with the reason while it does not. Open like /health (no token), so a
 * balancer needs no credentials; the body carries load figures only.
 */
export function readyResponse(r: Readiness): Response {
  const s = r.snapshot;
  const num = (x: number | null) => (x === null || !Number.isFinite(x) ? null : Math.round(x * 1000) / 1000);
  return Response.json(
    {
      status: r.ready ? "ready" : "not_ready",
      reason: r.reason,
      admitted_streams: s.admittedStreams,
      capacity_streams: s.capacityStreams >= Number.MAX_SAFE_INTEGER ? null : s.capacityStreams,
      ramp_streams: s.rampStreams,
      load_ratio: num(s.loadRatio),
      predicted_latency_s: num(s.predictedLatency),
      observed_latency_s: num(s.observedLatency),
      latency_correction: num(s.correction),
      engine_cost: s.cost ? { call_s: num(s.cost.a), utterance_s: num(s.cost.b), scv: num(s.cost.scv ?? 0) } : null,
    },
    { status: r.ready ? 200 : 503, headers: { "Cache-Control": "no-store" } },
  );
}
