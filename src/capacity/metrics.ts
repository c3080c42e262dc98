import { Counter, Gauge, type Registry } from "prom-client";
import type { Capacity } from "./capacity.ts";

/**
 * Capacity figures on GET /metrics. Everything is read from the Capacity at
 * scrape time; `get` returns null before the server has started.
 */
export function registerCapacityMetrics(registry: Registry, get: () => Capacity | null): void {
  const registers = [registry];
  const gauge = (name: string, help: string, read: (c: Capacity) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const c = get();
        if (c) this.set(read(c));
      },
    });
  const counter = (name: string, help: string, read: (c: Capacity) => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        const v = get() ? read(get()!) : 0;
        if (v > 0) this.inc(v);
      },
    });
  const finite = (x: number) => (Number.isFinite(x) ? x : 1e9);

  gauge("stt_capacity_streams", "Estimated streams of the typical measured talker this node serves within capacity.max_latency.", (c) =>
    Math.min(c.snapshot().capacityStreams, 1e9),
  );
  gauge("stt_capacity_load_ratio", "Offered finals per second over the most the engine finishes (1 = saturated).", (c) => c.snapshot().loadRatio);
  gauge("stt_capacity_speech_load", "Speech seconds per wall second across admitted streams (VAD cuts).", (c) => c.snapshot().speechLoad);
  gauge("stt_capacity_predicted_latency_seconds", "Predicted p95 of an utterance's hand-off to its transcript at the current load.", (c) =>
    finite(c.snapshot().predictedLatency),
  );
  gauge("stt_capacity_observed_latency_seconds", "Measured p95 of hand-off to transcript over the last 10 s (0 with too few utterances).", (c) =>
    c.snapshot().observedLatency ?? 0,
  );
  gauge("stt_capacity_admitted_streams", "Streams admitted and open now.", (c) => c.snapshot().admittedStreams);
  gauge("stt_capacity_ready", "1 while this node admits new streams (GET /ready is 200), else 0.", (c) => (c.ready().ready ? 1 : 0));
  gauge("stt_capacity_engine_call_seconds", "Measured engine cost: fixed seconds per call (a in a + b·batch).", (c) => c.snapshot().cost?.a ?? 0);
  gauge("stt_capacity_engine_utterance_seconds", "Measured engine cost: seconds per utterance in a call (b in a + b·batch).", (c) => c.snapshot().cost?.b ?? 0);
  gauge("stt_capacity_engine_call_scv", "Measured spread of engine call times around a + b·batch (squared coefficient of variation).", (c) => c.snapshot().cost?.scv ?? 0);
  gauge("stt_capacity_latency_correction", "Learned factor on the model's p95 (measured over predicted, 1 to 2).", (c) => c.snapshot().correction);
  counter("stt_capacity_guard_retries_total", "Guard retries (temperature fallback) counted as load of their stream.", (c) => c.retriesCounted);
  counter("stt_capacity_streams_admitted_total", "Streams admitted at their first audio.", (c) => c.admittedTotal);
  counter("stt_capacity_streams_refused_total", "Streams refused with server_busy (once per refusal, not per dropped chunk).", (c) => c.refusedTotal);
  counter("stt_capacity_interims_shed_total", "Interim results skipped because finals needed the engine.", (c) => c.interimsShed);
}
