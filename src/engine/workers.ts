/**
 * The engine's workers as numbered slots. All share one native model (the
 * shim caches it), so a dead worker is replaced quickly: its slot gets a new
 * worker and the call it held runs once more there; if that fails too, the
 * call's items fail, each reaching its own sender as engine_error.
 */
import type { LoadOptions } from "../../ffi/sttwhisper.ts";
import { EngineError } from "./errors.ts";
import type { WorkerResponse } from "./protocol.ts";
import { WorkerHandle } from "./worker-handle.ts";

export type Ready = Extract<WorkerResponse, { type: "ready" }>;

export class WorkerSet {
  private restarts = 0;
  private closed = false;
  private readonly replacing = new Map<number, Promise<WorkerHandle>>();

  private constructor(
    private readonly handles: WorkerHandle[],
    private readonly load: LoadOptions,
    /** What each worker saw when it loaded the model. */
    readonly ready: readonly Ready[],
  ) {}

  /** Starts `count` workers one after another: the first load constructs the model, the others share it. */
  static async start(count: number, load: LoadOptions): Promise<WorkerSet> {
    const handles: WorkerHandle[] = [];
    const ready: Ready[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const h = WorkerHandle.spawn();
        handles.push(h);
        ready.push(await h.init({ type: "init", load }));
      }
    } catch (e) {
      await Promise.all(handles.map((h) => h.close().catch(() => {})));
      if (e instanceof EngineError) throw e;
      throw new EngineError("engine_error", (e as Error).message);
    }
    return new WorkerSet(handles, load, ready);
  }

  get size(): number {
    return this.handles.length;
  }

  /** Workers replaced after they died, since start. */
  get restartCount(): number {
    return this.restarts;
  }

  private replace(slot: number): Promise<WorkerHandle> {
    let p = this.replacing.get(slot);
    if (!p) {
      p = (async () => {
        const h = WorkerHandle.spawn();
        try {
          await h.init({ type: "init", load: this.load });
        } catch (e) {
          await h.close().catch(() => {});
          throw e;
        }
        this.handles[slot] = h;
        this.restarts++;
        return h;
      })().finally(() => this.replacing.delete(slot));
      this.replacing.set(slot, p);
    }
    return p;
  }

  async run(slot: number, ...args: Parameters<WorkerHandle["run"]>): ReturnType<WorkerHandle["run"]> {
    const h = this.handles[slot]!;
    if (h.alive) {
      const r = await h.run(...args);
      if (h.alive) return r;
    }
    if (this.closed) throw new EngineError("engine_error", "the engine is closed");
    return (await this.replace(slot)).run(...args);
  }

  idle(slot: number): void {
    this.handles[slot]?.idle();
  }

  /** For tests: terminates worker `slot` as if it had died. */
  kill(slot: number): void {
    this.handles[slot]?.worker.terminate();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.handles.map((h) => h.close()));
  }
}
