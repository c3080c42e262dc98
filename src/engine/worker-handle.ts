/** The main thread's side of one engine worker: requests by id, death noticed. */
import { EngineError, fromWire } from "./errors.ts";
import type { DecodeOptions, ItemOutcome, WorkerRequest, WorkerResponse } from "./protocol.ts";

export class WorkerHandle {
  private readonly pending = new Map<number, (outcomes: ItemOutcome[], ms: number) => void>();
  private nextId = 0;
  private closedResolve: (() => void) | null = null;
  private dead: string | null = null;
  private closing = false;

  constructor(readonly worker: Worker) {
    worker.addEventListener("message", (ev: MessageEvent<WorkerResponse>) => {
      const m = ev.data;
      if (m.type === "result") {
        this.pending.get(m.id)?.(m.results, m.ms);
        this.pending.delete(m.id);
      } else if (m.type === "run_error") {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.([{ ok: false, error: m.error }], 0);
      } else if (m.type === "closed") {
        this.closedResolve?.();
      }
    });
    worker.addEventListener("error", (ev) => this.fail(`engine worker crashed: ${(ev as ErrorEvent).message ?? "unknown error"}`));
    // A worker that ends without being asked to (terminated, exited) answers nothing more.
    worker.addEventListener("close", () => {
      if (!this.closing && !this.dead) this.fail("engine worker exited");
    });
  }

  static spawn(): WorkerHandle {
    return new WorkerHandle(new Worker(new URL("./worker.ts", import.meta.url).href));
  }

  get alive(): boolean {
    return this.dead === null;
  }

  private fail(message: string): void {
    this.dead = message;
    for (const [, p] of this.pending) p([{ ok: false, error: { code: "engine_error", status: 9, message } }], 0);
    this.pending.clear();
  }

  init(load: WorkerRequest & { type: "init" }): Promise<Extract<WorkerResponse, { type: "ready" }>> {
    return new Promise((resolve, reject) => {
      const onMsg = (ev: MessageEvent<WorkerResponse>) => {
        const m = ev.data;
        if (m.type === "ready") {
          this.worker.removeEventListener("message", onMsg);
          resolve(m);
        } else if (m.type === "init_error") {
          this.worker.removeEventListener("message", onMsg);
          reject(fromWire(m.error));
        }
      };
      this.worker.addEventListener("message", onMsg);
      this.worker.addEventListener("error", (ev) => reject(new EngineError("engine_error", `engine worker failed to start: ${(ev as ErrorEvent).message}`)), { once: true });
      this.worker.postMessage(load);
    });
  }

  run(
    audios: Float32Array[],
    languages: (string | null)[],
    prefixes: (readonly number[] | null)[],
    options: DecodeOptions,
  ): Promise<{ outcomes: ItemOutcome[]; ms: number }> {
    if (this.dead) return Promise.reject(new EngineError("engine_error", this.dead));
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, (outcomes, ms) => resolve({ outcomes, ms }));
      const msg: WorkerRequest = { type: "run", id, audios, languages, prefixes, options };
      this.worker.postMessage(msg);
    });
  }

  /** The pool has nothing for this worker now: it may trim the native heap. */
  idle(): void {
    if (!this.dead && !this.closing) this.worker.postMessage({ type: "idle" } satisfies WorkerRequest);
  }

  async close(): Promise<void> {
    this.closing = true;
    if (!this.dead) {
      const closed = new Promise<void>((r) => (this.closedResolve = r));
      this.worker.postMessage({ type: "close" } satisfies WorkerRequest);
      await Promise.race([closed, Bun.sleep(5000)]);
    }
    this.worker.terminate();
  }
}
