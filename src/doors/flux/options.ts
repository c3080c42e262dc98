import type { StreamOptions } from "../../stream/types.ts";
import type { FluxThresholds } from "./messages.ts";
import { FLUX_LIMITS, numParam, type FluxParams } from "./query.ts";

/**
 * Flux parameters ↔ the stream core's per-stream options. A Flux stream is
 * always turn-based: Smart Turn ends turns ("model"), with interims (Update)
 * and word timings (TurnInfo words) on.
 */
export function fluxStreamOptions(p: FluxParams): Partial<StreamOptions> {
  const o: Partial<StreamOptions> = {
    interim_results: true,
    word_timestamps: true,
    // StartOfTurn comes from the VAD's speech onset.
    vad_events: true,
    segmentation: "vad",
    turn_detection: "model",
    eot_threshold: p.eotThreshold,
    eager_eot_threshold: p.eagerEotThreshold,
    eot_timeout: p.eotTimeoutMs / 1000,
  };
  if (p.keyterms.length > 0) o.keyterms = [...p.keyterms];
  // One hint pins the language; several leave detection to the model (among them, as Flux's multi model does).
  if (p.languageHints.length === 1) o.language = p.languageHints[0]!.split("-")[0]!.toLowerCase();
  return o;
}

/** The thresholds in force, as ConfigureSuccess reports them. */
export function thresholdsOf(o: StreamOptions): FluxThresholds {
  const t: FluxThresholds = { eot_threshold: o.eot_threshold ?? 0.7, eot_timeout_ms: Math.round((o.eot_timeout ?? 5) * 1000) };
  if (o.eager_eot_threshold != null) t.eager_eot_threshold = o.eager_eot_threshold;
  return t;
}

export type ThresholdUpdate = { ok: true; options: Partial<StreamOptions> } | { ok: false; message: string };

/**
 * Configure's `thresholds`: each key present replaces the current value
 * (eager_eot_threshold null turns eager events off); absent keys stay.
 */
export function thresholdUpdate(raw: unknown): ThresholdUpdate {
  if (raw === undefined || raw === null) return { ok: true, options: {} };
  if (typeof raw !== "object" || Array.isArray(raw)) return { ok: false, message: "Configure.thresholds must be an object" };
  const r = raw as Record<string, unknown>;
  const o: Partial<StreamOptions> = {};
  for (const key of ["eot_threshold", "eager_eot_threshold", "eot_timeout_ms"] as const) {
    const v = r[key];
    if (v === undefined || (v === null && key === "eager_eot_threshold")) {
      if (v === null) o.eager_eot_threshold = null;
      continue;
    }
    if (typeof v !== "number") return { ok: false, message: `Configure.thresholds.${key} must be a number` };
    const n = numParam(v, `thresholds.${key}`, FLUX_LIMITS[key]);
    if (typeof n === "string") return { ok: false, message: n };
    if (key === "eot_timeout_ms") o.eot_timeout = n! / 1000;
    else o[key] = n!;
  }
  return { ok: true, options: o };
}
