import { Counter, type Registry } from "prom-client";
import type { SessionManager } from "../session/manager.ts";

/**
 * Live-result figures on GET /metrics: what happened to interim requests and
 * how often the hallucination guards retried or dropped a result (live and
 * file transcriptions share the counters), and VAD failures. Read at scrape time.
 */
export function registerLiveMetrics(registry: Registry, get: () => SessionManager | null): void {
  const registers = [registry];
  new Counter({
    name: "stt_interims_total",
    help: "Interim hypotheses by outcome: requested, emitted, shed (engine behind or capacity), superseded, stale (utterance closed first), dropped (guards).",
    labelNames: ["outcome"],
    registers,
    collect() {
      this.reset();
      const m = get();
      if (!m) return;
      for (const [outcome, n] of Object.entries(m.interims)) if (n > 0) this.labels(outcome).inc(n);
    },
  });
  new Counter({
    name: "stt_guard_drops_total",
    help: "Results dropped by the hallucination guards, by reason (no_speech, repetition).",
    labelNames: ["reason"],
    registers,
    collect() {
      this.reset();
      for (const [reason, n] of get()?.guardCounters.dropped ?? []) if (n > 0) this.labels(reason).inc(n);
    },
  });
  new Counter({
    name: "stt_vad_failures_total",
    help: "Chunks of a stream whose VAD scoring failed; their frames were counted as silence (other streams unaffected).",
    registers,
    collect() {
      this.reset();
      const n = get()?.vadFailures ?? 0;
      if (n > 0) this.inc(n);
    },
  });
  new Counter({
    name: "stt_guard_retries_total",
    help: "Re-decodes at a fallback temperature of a repetitive result.",
    registers,
    collect() {
      this.reset();
      const n = get()?.guardCounters.retries ?? 0;
      if (n > 0) this.inc(n);
    },
  });
}
