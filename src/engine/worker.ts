/**
 * Engine worker (a Bun Worker thread): owns one reference to the shared native
 * model and runs the blocking FFI calls so the server's event loop never waits
 * on inference. All workers of the process get the same native model (the shim
 * caches by model key with a refcount).
 */
import { heapTrimmer } from "../../ffi/malloc.ts";
import * as native from "../../ffi/sttwhisper.ts";
import type { WorkerRequest, WorkerResponse, WireError } from "./protocol.ts";

declare const self: Worker;

let model: native.ModelHandle | null = null;
const trim = heapTrimmer();

function wire(e: unknown): WireError {
  if (e instanceof native.SttError) return { code: e.code, status: e.status, message: e.message };
  const err = e as Error;
  return { code: "internal", status: 9, message: String(err?.message ?? e) };
}

function reply(msg: WorkerResponse): void {
  self.postMessage(msg);
}

self.onmessage = (ev: MessageEvent<WorkerRequest>) => {
  const msg = ev.data;
  switch (msg.type) {
    case "init": {
      try {
        model = native.load(msg.load);
        const d = native.describe(model);
        reply({ type: "ready", description: d, handle: Number(model), constructed: native.modelsConstructed() });
      } catch (e) {
        reply({ type: "init_error", error: wire(e) });
      }
      return;
    }
    case "run": {
      if (!model) {
        reply({ type: "run_error", id: msg.id, error: { code: "bad_handle", status: 6, message: "worker has no model" } });
        return;
      }
      const t0 = performance.now();
      try {
        const out = native.transcribe(model, msg.audios, { ...msg.options, languages: msg.languages, prefixes: msg.prefixes });
        reply({ type: "result", id: msg.id, results: out.results.map((r) => ({ ok: true as const, result: r })), ms: performance.now() - t0 });
      } catch (e) {
        if (msg.audios.length === 1) {
          reply({ type: "result", id: msg.id, results: [{ ok: false, error: wire(e) }], ms: performance.now() - t0 });
          return;
        }
        // One bad item must not fail the others of the batch: retry each alone.
        const results = msg.audios.map((a, i) => {
          try {
            const r = native.transcribe(model!, [a], { ...msg.options, languages: [msg.languages[i] ?? null], prefixes: [msg.prefixes[i] ?? null] }).results[0]!;
            return { ok: true as const, result: r };
          } catch (err) {
            return { ok: false as const, error: wire(err) };
          }
        });
        reply({ type: "result", id: msg.id, results, ms: performance.now() - t0 });
      }
      return;
    }
    case "idle": {
      // Only sent when the pool has nothing for this worker (ffi/malloc.ts: trimWhenIdle).
      trim?.();
      return;
    }
    case "close": {
      try {
        if (model) native.release(model);
      } catch {
        // already released
      }
      model = null;
      reply({ type: "closed" });
      return;
    }
  }
};
