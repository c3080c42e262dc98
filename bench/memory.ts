/**
 * Memory per idle session: RSS of the server process with 0, 100 and 1000
 * connected sockets that have each opened a session (sent 100 ms of silence)
 * and then stay idle.
 *
 *   bun run bench:memory [--counts 100,1000]
 */
import { io as connect, type Socket } from "socket.io-client";

const argv = process.argv.slice(2);
const i = argv.indexOf("--counts");
const COUNTS = (i >= 0 ? argv[i + 1]! : "100,1000").split(",").map(Number);

type Msg = { type: "ready"; port: number } | { type: "stats"; rss: number; server: { sessions: number } };
const inbox: ((m: Msg) => void)[] = [];
const ready = new Promise<number>((r) => inbox.push((m) => m.type === "ready" && r(m.port)));
const child = Bun.spawn(
  ["bun", "bench/lib/server-child.ts", JSON.stringify({ host: "127.0.0.1", port: 0, enable_logging: false, limits: { max_sessions: 5000 } })],
  { stdout: "inherit", stderr: "inherit", ipc: (m: Msg) => inbox.shift()?.(m) },
);
const url = `http://127.0.0.1:${await ready}`;
async function rss(): Promise<{ rss: number; sessions: number }> {
  // Let the collector run first: we want live memory, not garbage.
  await Bun.sleep(1500);
  const p = new Promise<Msg>((r) => inbox.push(r));
  child.send({ type: "stats" });
  const m = (await p) as Extract<Msg, { type: "stats" }>;
  return { rss: m.rss, sessions: m.server.sessions };
}

const sockets: Socket[] = [];
// Warm up: one session through the whole path, so lazily loaded code is in RSS already.
async function open(n: number) {
  const silence = new Int16Array(1600).buffer;
  for (let k = 0; k < n; k++) {
    const s = connect(url, { transports: ["websocket"], forceNew: true, reconnection: false });
    await new Promise<void>((r) => s.once("connect", () => r()));
    s.emit("audio_data", { clientId: `idle-${sockets.length}`, audioData: silence });
    sockets.push(s);
  }
}
await open(5);
const base = await rss();
const rows = [`| 5 (baseline) | ${base.sessions} | ${(base.rss / 2 ** 20).toFixed(1)} | – |`];
let prev = base;
for (const target of COUNTS) {
  await open(target - sockets.length);
  const now = await rss();
  const per = (now.rss - base.rss) / (now.sessions - base.sessions);
  rows.push(`| ${target} | ${now.sessions} | ${(now.rss / 2 ** 20).toFixed(1)} | ${(per / 1024).toFixed(1)} |`);
  prev = now;
}
void prev;
console.log("| connected sockets with a session | sessions | server RSS MiB | KiB per session above baseline |\n|---|---|---|---|\n" + rows.join("\n"));
for (const s of sockets) s.disconnect();
child.send({ type: "stop" });
await child.exited;
