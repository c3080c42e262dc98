/**
 * A real two-node deployment on loopback for failover tests and bench:failover:
 * a Debian redis-server, two `bun run src/cli.ts` processes joined through it,
 * and Debian HAProxy in front (config generated here: sticky cookie for
 * long-polling, /ready as the health check, redispatch when a node is gone).
 * The TS client streams a clip through HAProxy in real time while the node
 * serving it is stopped (SIGTERM) or killed (SIGKILL).
 */
import type { Subprocess } from "bun";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { RedisProcess, freePort } from "../../test/ops/support.ts";
import { EXACT_COMPUTE_TYPE } from "../../test/support/harness.ts";
import { connect, type TranscriptionPayload } from "../../src/client/index.ts";

const ROOT = resolve(import.meta.dir, "../..");

export class NodeProcess {
  proc: Subprocess | null = null;
  readonly logs: string[] = [];
  readonly port = freePort();

  constructor(
    readonly name: string,
    private readonly configPath: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.proc = Bun.spawn(["bun", "run", "src/cli.ts", "--config", this.configPath], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env } });
    for (const stream of [this.proc.stdout, this.proc.stderr] as ReadableStream<Uint8Array>[]) void this.pump(stream);
    const t0 = Date.now();
    while (!(await fetch(`${this.url}/ready`).then((r) => r.ok).catch(() => false))) {
      if (this.proc.exitCode !== null) throw new Error(`node ${this.name} exited with ${this.proc.exitCode} at start:\n${this.logs.slice(-20).join("\n")}`);
      if (Date.now() - t0 > 120_000) throw new Error(`node ${this.name} not ready after 120 s:\n${this.logs.slice(-20).join("\n")}`);
      await Bun.sleep(100);
    }
  }

  /** Live sessions on this node (its /health). */
  async sessions(): Promise<number> {
    const h = (await fetch(`${this.url}/health`).then((r) => r.json()).catch(() => null)) as { sessions?: number } | null;
    return h?.sessions ?? 0;
  }

  async stop(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    if (!this.proc) return;
    this.proc.kill(signal);
    await this.proc.exited;
    this.proc = null;
  }

  private async pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of stream) this.logs.push(...dec.decode(chunk).split("\n").filter(Boolean));
  }
}

/** The HAProxy config the tests and docs/operations.md use. */
export function haproxyConfig(port: number, nodes: { name: string; port: number }[]): string {
  return [
    "global",
    "  maxconn 1024",
    "defaults",
    "  mode http",
    "  timeout connect 2s",
    "  timeout client 60s",
    "  timeout server 60s",
    // A WebSocket lives as long as its stream.
    "  timeout tunnel 1h",
    // A connection to a node that just died goes to another one.
    "  option redispatch",
    "  retries 3",
    "frontend stt",
    `  bind 127.0.0.1:${port}`,
    "  default_backend stt_nodes",
    "backend stt_nodes",
    "  balance leastconn",
    // Long-polling needs every request of a Socket.IO session on one node; WebSockets do not care.
    "  cookie stt_node insert indirect nocache",
    "  option httpchk",
    // HTTP/1.1 with a Host header: the server builds a URL from it.
    "  http-check send meth GET uri /ready ver HTTP/1.1 hdr Host stt",
    "  http-check expect status 200",
    // /ready answers 503 from the first moment of a drain: the node takes no new streams.
    "  default-server inter 500ms fall 1 rise 2",
    ...nodes.map((n) => `  server ${n.name} 127.0.0.1:${n.port} check cookie ${n.name}`),
    "",
  ].join("\n");
}

export class FailoverCluster {
  readonly redis = new RedisProcess();
  readonly nodes: NodeProcess[];
  private haproxy: Subprocess | null = null;
  readonly port = freePort();
  private readonly dir = mkdtempSync(join(tmpdir(), "stt-failover-"));

  constructor(config: Record<string, unknown> = {}) {
    this.nodes = ["a", "b"].map((name) => {
      const path = join(this.dir, `${name}.json`);
      const node = new NodeProcess(name, path);
      const full = { host: "127.0.0.1", port: node.port, compute_type: EXACT_COMPUTE_TYPE, redis_url: this.redis.url, capacity: { admission: false }, shutdown_grace_seconds: 10, ...config };
      writeFileSync(path, JSON.stringify(full, null, 2));
      return node;
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!Bun.which("haproxy")) throw new Error("haproxy not found: apt-get install -y haproxy (scripts/test-setup.sh does)");
    await this.redis.start();
    await Promise.all(this.nodes.map((n) => n.start()));
    const cfg = join(this.dir, "haproxy.cfg");
    writeFileSync(cfg, haproxyConfig(this.port, this.nodes));
    this.haproxy = Bun.spawn(["haproxy", "-db", "-f", cfg], { stdout: "ignore", stderr: "pipe" });
    const t0 = Date.now();
    while (!(await fetch(`${this.url}/ready`).then((r) => r.ok).catch(() => false))) {
      if (this.haproxy.exitCode !== null) throw new Error(`haproxy exited with ${this.haproxy.exitCode}: ${await new Response(this.haproxy.stderr as ReadableStream).text()}`);
      if (Date.now() - t0 > 10_000) throw new Error("haproxy did not answer /ready within 10 s");
      await Bun.sleep(50);
    }
  }

  /** The node that holds the stream now. */
  async serving(): Promise<NodeProcess> {
    for (let i = 0; i < 100; i++) {
      for (const n of this.nodes) if (n.proc && (await n.sessions()) > 0) return n;
      await Bun.sleep(50);
    }
    throw new Error("no node holds a session");
  }

  /** Brings stopped nodes back (the next run needs two). */
  async heal(): Promise<void> {
    await Promise.all(this.nodes.filter((n) => !n.proc).map((n) => n.start()));
    // HAProxy's check needs `rise 2` passes before it sends traffic there again.
    await Bun.sleep(1500);
  }

  async close(): Promise<void> {
    this.haproxy?.kill("SIGKILL");
    await this.haproxy?.exited;
    await Promise.all(this.nodes.map((n) => n.stop("SIGKILL")));
    await this.redis.stop();
  }
}

export interface FailoverRun {
  finals: TranscriptionPayload[];
  /** Milliseconds from the signal to the client being connected again. */
  reconnectMs: number | null;
  /** Which node served the stream before the signal. */
  killed: string | null;
}

/**
 * Streams `pcm` through the balancer in real time (100 ms chunks) with the
 * replaying client; at `killAt` stream seconds the serving node gets `signal`.
 * Resolves once the final of the last audio arrived (a finalize round trip
 * after the last chunk, so nothing can still be on its way).
 */
export async function streamThrough(cluster: FailoverCluster, pcm: Int16Array, opts: { clientId: string; killAt?: number; signal?: "SIGTERM" | "SIGKILL" }): Promise<FailoverRun> {
  const stt = await connect({ url: cluster.url, clientId: opts.clientId, replaySeconds: 30, socketOptions: { reconnectionDelay: 100, reconnectionDelayMax: 500 } });
  const finals: TranscriptionPayload[] = [];
  stt.on("transcription", (t) => t.client_id === opts.clientId && finals.push(t));
  if (process.env.FAILOVER_DEBUG) stt.socket.on("audio_ack", (a: unknown) => console.log("ack", JSON.stringify(a), "sent", stt.sentSeconds.toFixed(2)));
  if (process.env.FAILOVER_DEBUG) stt.on("connection", (s, d) => console.log("conn", s, d, "sent", stt.sentSeconds.toFixed(2)));
  let killedAt = 0;
  let reconnectMs: number | null = null;
  let killed: string | null = null;
  stt.on("connection", (state) => {
    if (state === "connected" && killedAt > 0 && reconnectMs === null) reconnectMs = Date.now() - killedAt;
  });
  const step = 1600;
  const t0 = performance.now();
  let kill: Promise<void> | null = null;
  for (let i = 0; i < pcm.length; i += step) {
    stt.sendAudio(pcm.subarray(i, i + step));
    if (opts.killAt !== undefined && kill === null && (i + step) / 16000 >= opts.killAt) {
      const node = await cluster.serving();
      killed = node.name;
      killedAt = Date.now();
      kill = node.stop(opts.signal ?? "SIGTERM");
    }
    const due = t0 + ((i + step) / 16000) * 1000;
    await Bun.sleep(Math.max(0, due - performance.now()));
  }
  await kill;
  // Trailing silence, then cleanup: it answers once the last final was delivered, so nothing is still on its way.
  stt.sendAudio(new Int16Array(16000));
  const t1 = Date.now();
  while (!stt.connected) {
    if (Date.now() - t1 > 30_000) throw new Error("client did not reconnect within 30 s");
    await Bun.sleep(50);
  }
  await stt.cleanup(opts.clientId, 60_000);
  stt.close();
  return { finals, reconnectMs, killed };
}
