/**
 * The file jobs (POST /v1/audio/transcriptions) of one server, so that
 * shutdown can let them finish within the grace period and answer the rest
 * instead of cutting their connections. Each job's signal aborts when its
 * client goes away or when shutdown gives up on it.
 */
export interface FileJob {
  readonly signal: AbortSignal;
  /** True when the job was aborted by shutdown (answer 503), not by its client. */
  readonly stoppedByShutdown: boolean;
  end(): void;
}

export class FileJobs {
  private readonly running = new Set<AbortController>();
  private readonly idleWaiters: (() => void)[] = [];
  private stopping = false;

  get size(): number {
    return this.running.size;
  }

  begin(clientSignal: AbortSignal): FileJob {
    const controller = new AbortController();
    const onClientGone = () => controller.abort(new Error("client closed the request"));
    if (clientSignal.aborted) onClientGone();
    else clientSignal.addEventListener("abort", onClientGone, { once: true });
    this.running.add(controller);
    let byShutdown = false;
    controller.signal.addEventListener("abort", () => (byShutdown = this.stopping && !clientSignal.aborted), { once: true });
    return {
      signal: controller.signal,
      get stoppedByShutdown() {
        return byShutdown;
      },
      end: () => {
        clientSignal.removeEventListener("abort", onClientGone);
        if (!this.running.delete(controller)) return;
        if (this.running.size === 0) for (const w of this.idleWaiters.splice(0)) w();
      },
    };
  }

  /** Resolves when no job runs, or after `ms`. */
  async drain(ms: number): Promise<void> {
    if (this.running.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([new Promise<void>((r) => this.idleWaiters.push(r)), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  }

  /** Aborts every job still running (each answers 503) and waits up to `ms` for their answers. */
  async abortAll(ms: number): Promise<void> {
    this.stopping = true;
    for (const c of this.running) c.abort(new Error("shutting down"));
    await this.drain(ms);
  }
}
