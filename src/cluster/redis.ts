import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import type { Server } from "socket.io";
import type { Logger } from "../log.ts";

export interface ClusterState {
  /** Both Redis connections (publish and subscribe) are up. */
  up: boolean;
  /** Why not, while down. */
  reason: string | null;
  /** Epoch ms of the last change. */
  since: number;
}

export interface RedisCluster {
  state(): ClusterState;
  /** One command on the publish connection (stream state: src/cluster/streams.ts). */
  command(args: string[]): Promise<unknown>;
  close(): Promise<void>;
}

/** Milliseconds between reconnect attempts: quick at first, then every 2 s. */
const backoff = (retries: number) => Math.min(100 + retries * 200, 2000);

/**
 * Joins this node to the others through Redis pub/sub
 * (@socket.io/redis-adapter over node-redis). A transcript emitted to a
 * clientId's room on any node reaches the room's sockets on every node, once
 * per socket: each node delivers only to its own sockets.
 *
 * An outage is not fatal: this node keeps serving its own clients, reports
 * `degraded` in /health, logs the outage, and the clients reconnect on their
 * own (commands issued meanwhile wait in node-redis' offline queue, bounded).
 */
export async function joinCluster(io: Server, url: string, log: Logger, connectTimeoutMs = 5000): Promise<RedisCluster> {
  const safeUrl = redactUrl(url);
  const options = {
    url,
    pingInterval: 5000,
    commandsQueueMaxLength: 10_000,
    socket: { reconnectStrategy: backoff, connectTimeout: connectTimeoutMs },
  };
  const pub = createClient(options);
  const sub = pub.duplicate();
  const conn = { pub: { up: false, error: "connecting" as string | null }, sub: { up: false, error: "connecting" as string | null } };
  let state: ClusterState = { up: false, reason: "connecting", since: Date.now() };
  let closing = false;

  const update = () => {
    const up = conn.pub.up && conn.sub.up;
    const reason = up ? null : (conn.pub.error ?? conn.sub.error ?? "disconnected");
    if (up === state.up && (up || reason === state.reason)) return;
    const wasUp = state.up;
    state = { up, reason, since: Date.now() };
    if (closing) return;
    if (up) log.info("redis: connected; node joined the cluster", { redis: safeUrl });
    else if (wasUp) log.error("redis: connection lost; transcripts reach this node's sockets only until it is back", { redis: safeUrl, reason });
  };

  for (const [name, client] of [["pub", pub], ["sub", sub]] as const) {
    const c = conn[name];
    client.on("ready", () => {
      c.up = true;
      c.error = null;
      update();
    });
    client.on("end", () => {
      c.up = false;
      c.error ??= "connection closed";
      update();
    });
    client.on("reconnecting", () => {
      c.up = false;
      c.error ??= "reconnecting";
      update();
    });
    // node-redis throws on an 'error' without a listener; every error here is
    // a connection problem it retries on its own.
    client.on("error", (err: Error & { code?: string }) => {
      const msg = err.code ? `${err.code}: ${err.message}` : err.message || String(err);
      c.up = false;
      if (c.error !== msg) {
        c.error = msg;
        if (!closing) log.once(`redis:${name}:${msg}`, `redis ${name} connection error`, { redis: safeUrl, error: msg });
      }
      update();
    });
  }

  // Start even when Redis is not reachable yet: the node works alone until it is.
  const connected = Promise.all([pub.connect(), sub.connect()]);
  connected.catch(() => {});
  const timeout = Bun.sleep(connectTimeoutMs).then(() => "timeout" as const);
  if ((await Promise.race([connected, timeout])) === "timeout") {
    log.error("redis: not reachable at start-up; serving this node's clients alone until it is", { redis: safeUrl, reason: state.reason });
  }
  io.adapter(createAdapter(pub, sub, { key: "stt" }));

  return {
    state: () => state,
    command: (args) => pub.sendCommand(args),
    async close() {
      closing = true;
      await Promise.allSettled([pub.close?.() ?? pub.quit(), sub.close?.() ?? sub.quit()]);
      pub.destroy?.();
      sub.destroy?.();
    },
  };
}

/** redis://user:secret@host → redis://user:***@host, for logs and health. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable redis_url)";
  }
}
