/**
 * The server under benchmark in its own process (bench/lib/server-child.ts),
 * so load generators do not share its CPU or event loop. `stats()` asks it for
 * its figures since the previous call: CPU time, RSS, event-loop lag samples,
 * the server's own stats and the engine time of each delivered transcript.
 */
import type { ServerStats } from "../../src/server.ts";

export interface ChildStats {
  type: "stats";
  cpuMs: number;
  rss: number;
  lag: number[];
  server: ServerStats;
  /** Engine milliseconds of each transcript, by "clientId:seq". */
  engineMsBySeq: Record<string, number>;
}

export class ServerProcess {
  private readonly inbox: ((m: { type: string; port?: number }) => void)[] = [];
  private proc: import("bun").Subprocess | null = null;
  url = "";

  /** `root`: the checkout whose server runs (another one's, to compare with it side by side). */
  constructor(private readonly root = ".") {}

  async start(config: object): Promise<string> {
    const ready = new Promise<number>((r) => this.inbox.push((m) => r(m.port!)));
    this.proc = Bun.spawn(["bun", "bench/lib/server-child.ts", JSON.stringify(config)], {
      cwd: this.root,
      stdout: "inherit",
      stderr: "inherit",
      ipc: (m) => this.inbox.shift()?.(m),
    });
    // A config the server refuses ends the child before "ready": say so instead of waiting forever.
    const died = this.proc.exited.then((code) => {
      throw new Error(`the server exited (code ${code}) before it was ready; its error is above`);
    });
    this.url = `http://127.0.0.1:${await Promise.race([ready, died])}`;
    return this.url;
  }

  /** The server's process id (its main thread's id too), for /proc figures. */
  get pid(): number {
    return this.proc!.pid;
  }

  get running(): boolean {
    return this.proc !== null;
  }

  async stats(): Promise<ChildStats> {
    const p = new Promise<ChildStats>((r) => this.inbox.push(r as never));
    this.proc!.send({ type: "stats" });
    return p;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    p.send({ type: "stop" });
    await p.exited;
    this.proc = null;
  }

  /** Ends the server at once, without draining (what it would still do is not being measured). */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    p.kill(9);
    await p.exited;
    this.proc = null;
  }

  /** GET /ready: whether the node admits new streams, and its capacity figures. */
  async ready(): Promise<{ status: number; body: { capacity_streams: number | null; admitted_streams: number } }> {
    const res = await fetch(`${this.url}/ready`);
    return { status: res.status, body: (await res.json()) as never };
  }
}
