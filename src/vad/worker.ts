/**
 * A VAD worker: owns one SileroBatch (onnxruntime session + the recurrent
 * state of the streams routed here) and scores one cycle at a time, so the
 * main thread only routes frames. The probabilities go back in one
 * transferred buffer.
 */
import { SileroBatch } from "./batch.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";

declare const self: Worker;

function serve(): void {
  let batch: SileroBatch | null = null;
  const reply = (m: FromWorker, transfer: Transferable[] = []) => self.postMessage(m, transfer);
  const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

  async function handle(m: ToWorker): Promise<void> {
    switch (m.type) {
      case "init":
        try {
          batch = await SileroBatch.load(m.modelPath, m.threads);
          reply({ type: "ready" });
        } catch (err) {
          reply({ type: "init_failed", message: messageOf(err) });
        }
        return;
      case "cycle":
        try {
          const r = await batch!.cycle(m.samples, m.jobs);
          reply({ type: "done", cycle: m.cycle, samples: m.samples, ...r }, [r.probs.buffer, m.samples.buffer]);
        } catch (err) {
          reply({ type: "cycle_failed", cycle: m.cycle, samples: m.samples, message: messageOf(err) }, [m.samples.buffer]);
        }
        return;
      case "free":
        for (const id of m.ids) batch?.free(id);
        return;
      case "close":
        await batch?.close();
        batch = null;
        reply({ type: "closed" });
        return;
    }
  }

  // One message at a time: a "free" must not land in the middle of a cycle
  // that still scores that stream.
  let chain = Promise.resolve();
  self.onmessage = (e: MessageEvent<ToWorker>) => {
    chain = chain.then(() => handle(e.data));
  };
}

serve();
