import type { Subprocess } from "bun";
import { io as connect, type Socket } from "socket.io-client";
import type { Config } from "../../src/config/schema.ts";
import { resolveConfig } from "../../src/config/load.ts";
import { createWhisperEngine, type WhisperEngine } from "../../src/engine/whisper.ts";
import { engineConfigFrom } from "../../src/server.ts";
import { client, startServer, type Harness } from "../support/harness.ts";

/** A TCP port that was free a moment ago (bound and released on loopback). */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** Connects and resolves with the socket, or rejects with the connect_error. */
export function connectOrError(url: string, opts: Parameters<typeof connect>[1] = {}): Promise<Socket> {
  const s = connect(url, { transports: ["websocket"], forceNew: true, reconnection: false, ...opts });
  return new Promise((resolve, reject) => {
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => {
      s.close();
      reject(e);
    });
  });
}

/** A Debian redis-server on a free loopback port, no persistence. */
export class RedisProcess {
  proc: Subprocess | null = null;
  constructor(readonly port: number = freePort()) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!Bun.which("redis-server")) throw new Error("redis-server not found: apt-get install -y redis-server (scripts/test-setup.sh does)");
    this.proc = Bun.spawn(
      ["redis-server", "--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
      { stdout: "ignore", stderr: "ignore" },
    );
    const t0 = Date.now();
    while ((await this.cli("PING").catch(() => "")) !== "PONG") {
      if (Date.now() - t0 > 10_000) throw new Error(`redis-server did not start on port ${this.port}`);
      await Bun.sleep(50);
    }
  }

  async stop(): Promise<void> {
    if (!this.proc) return;
    this.proc.kill("SIGKILL");
    await this.proc.exited;
    this.proc = null;
  }

  /** One command through redis-cli, trimmed output. */
  async cli(...args: string[]): Promise<string> {
    const p = Bun.spawn(["redis-cli", "-h", "127.0.0.1", "-p", String(this.port), ...args], { stdout: "pipe", stderr: "pipe" });
    const out = await new Response(p.stdout).text();
    if ((await p.exited) !== 0) throw new Error(`redis-cli ${args.join(" ")} failed`);
    return out.trim();
  }
}

/** Reads one sample from Prometheus text: `name{labels}` summed over matching series. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let found: number | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const lbl = m[2] ?? "";
    if (!Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) continue;
    found = (found ?? 0) + Number(m[3]);
  }
  return found;
}

export async function scrape(url: string, token?: string): Promise<string> {
  const res = await fetch(`${url}/metrics`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

export function rssMb(): number {
  return process.memoryUsage().rss / 1024 / 1024;
}

/**
 * Two in-process nodes joined through one real Redis, sharing one real engine
 * (loading tiny.en twice would only cost time). `sock` connects a client
 * that `close` disconnects; `close` then stops the nodes, the engine and Redis.
 */
export class TwoNodes {
  readonly redis = new RedisProcess();
  a!: Harness;
  b!: Harness;
  private engine: WhisperEngine | null = null;
  private readonly sockets: Socket[] = [];

  async start(configA: Partial<Config> = {}, configB: Partial<Config> = {}): Promise<this> {
    await this.redis.start();
    this.engine = await createWhisperEngine(engineConfigFrom(resolveConfig({}).config));
    this.a = await startServer({ ...configA, redis_url: this.redis.url }, { engine: this.engine });
    this.b = await startServer({ ...configB, redis_url: this.redis.url }, { engine: this.engine });
    return this;
  }

  async sock(h: Harness): Promise<Socket> {
    const s = await client(h.url);
    this.sockets.push(s);
    return s;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.close();
    await this.a?.stop();
    await this.b?.stop();
    await this.engine?.close();
    await this.redis.stop();
  }
}
