/**
 * Scale bench of the main thread: N Socket.IO clients stream real speech with
 * pauses (bench/lib/speech.ts buildStream: jfk, hotwords and espeak
 * sentences, 0.8–2.0 s pauses) in real time, 100 ms chunks, their phases
 * spread over the chunk period, to a server in its own process (admission
 * off). What is measured is the server's main thread, over a window after
 * every stream is connected and warm:
 *   - event-loop lag (how late a 10 ms timer fires there: bench/lib/server-child.ts), p50/p99/max;
 *   - main-thread CPU per stream-second, read from /proc/<pid>/task/<pid>/stat
 *     (the main thread's id is the process id), next to the CPU of every other
 *     thread of the process (VAD workers, engine workers, GC);
 *   - stream-seconds = frames the VAD scored in the window (so a server that
 *     falls behind shows it), and the streams one main thread could carry.
 * The engine is as it comes (tiny.en, one worker); silence_duration 10 s and
 * max_segment_duration 28 s keep utterances open for the whole window, so
 * finals do not compete for this 2-core machine's CPU with the thread under
 * test (they are decoded after the window, or never).
 *
 * `--base DIR` runs the same sweep against another checkout (e.g. a worktree
 * of main) too, alternating base and this tree at each N, in one run.
 *
 *   bun run bench:scale [--streams 64,128,256] [--seconds 20] [--base /path/to/main-checkout]
 *
 * Writes bench/results/scale.json.
 */
import { io as connect, type Socket } from "socket.io-client";
import { mkdirSync, readFileSync, readdirSync } from "node:fs";
import { arg, flag } from "./lib/args.ts";
import { ServerProcess } from "./lib/server-process.ts";
import { buildStream, loadClips, percentile, rng, type Clip } from "./lib/speech.ts";

const STREAMS = arg("streams", "64,128,256").split(",").map(Number);
const SECONDS = Number(arg("seconds", "20"));
const WARMUP_S = 3;
const CHUNK_MS = 100;
const STEP = (CHUNK_MS * 16000) / 1000;
const BASE = flag("base") ? arg("base", "") : null;
const CORES = 16;
const SERVER_CONFIG = {
  host: "127.0.0.1",
  port: 0,
  enable_logging: false,
  silence_duration: 10,
  max_segment_duration: 28,
  cpu_threads: 1,
  max_workers: 1,
  limits: { max_sessions: 2000, max_connections_per_ip: 10_000, max_buffered_seconds: 60 },
  capacity: { admission: false },
};

/** CPU seconds of one thread (or the whole process when `tid` is absent), from /proc. */
function cpuSeconds(pid: number, tid?: number): number {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces): utime is the 14th field, stime the 15th.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
}

function threadCount(pid: number): number {
  return readdirSync(`/proc/${pid}/task`).length;
}

interface Client {
  socket: Socket;
  clientId: string;
  stream: Int16Array;
  /** Offset of this client's chunks within the chunk period, ms. */
  phase: number;
  errors: string[];
}

async function openClient(url: string, id: number, clips: Clip[], seconds: number, n: number): Promise<Client> {
  const { stream } = buildStream(rng(5000 + id), clips, seconds);
  const socket = connect(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  await new Promise<void>((r, j) => {
    socket.once("connect", () => r());
    socket.once("connect_error", j);
  });
  const c: Client = { socket, clientId: `scale-${id}`, stream, phase: (id * CHUNK_MS) / n, errors: [] };
  socket.on("error", (e: { code: string }) => c.errors.push(e.code));
  return c;
}

/** Streams every client in real time for `seconds`; measures the server in the window after the warm-up. */
async function runStep(label: string, root: string, n: number, clips: Clip[]) {
  const server = new ServerProcess(root);
  const url = await server.start(SERVER_CONFIG);
  const total = SECONDS + WARMUP_S;
  const clients: Client[] = [];
  for (let i = 0; i < n; i += 16) {
    clients.push(...(await Promise.all(Array.from({ length: Math.min(16, n - i) }, (_, k) => openClient(url, i + k, clips, total + 1, n)))));
  }
  const chunks = Math.floor((total * 1000) / CHUNK_MS);
  const late: number[] = []; // how late the load generator sent each chunk, ms
  let window: { t: number; main: number; proc: number; frames: number } | null = null;
  const sample = async () => {
    const s = await server.stats(); // also resets the child's lag window
    return { t: performance.now(), main: cpuSeconds(server.pid, server.pid), proc: cpuSeconds(server.pid), frames: s.server.vadFrames, stats: s };
  };
  const t0 = performance.now() + 50;
  // One timeline for all clients: chunk k of client c is due at t0 + k·100 ms + phase(c).
  const order = [...clients].sort((a, b) => a.phase - b.phase);
  for (let k = 0; k < chunks; k++) {
    if (k === (WARMUP_S * 1000) / CHUNK_MS) window = await sample();
    for (const c of order) {
      const due = t0 + k * CHUNK_MS + c.phase;
      const wait = due - performance.now();
      if (wait > 1) await Bun.sleep(wait);
      late.push(Math.max(0, performance.now() - due));
      c.socket.emit("audio_data", { clientId: c.clientId, audioData: c.stream.slice(k * STEP, (k + 1) * STEP).buffer });
    }
  }
  const end = await sample();
  const threads = threadCount(server.pid);
  for (const c of clients) c.socket.disconnect();
  const errors = clients.flatMap((c) => c.errors);
  // The engine would now decode every open utterance: not part of what is measured.
  await server.kill();

  const w = window!;
  const wall = (end.t - w.t) / 1000;
  const streamSeconds = ((end.frames - w.frames) * 512) / 16000;
  const mainCpu = end.main - w.main;
  const procCpu = end.proc - w.proc;
  const lag = end.stats.lag;
  const mainMsPerStreamS = (mainCpu * 1000) / streamSeconds;
  const otherMsPerStreamS = ((procCpu - mainCpu) * 1000) / streamSeconds;
  const row = {
    server: label,
    streams: n,
    windowS: round(wall, 1),
    streamSeconds: round(streamSeconds, 0),
    realTimeShare: round(streamSeconds / (n * wall), 3),
    lagMs: { p50: round(percentile(lag, 50), 1), p99: round(percentile(lag, 99), 1), max: round(Math.max(...lag), 1), samples: lag.length },
    mainCpuShare: round(mainCpu / wall, 3),
    mainCpuMsPerStreamS: round(mainMsPerStreamS, 2),
    otherThreadsCpuMsPerStreamS: round(otherMsPerStreamS, 2),
    threads,
    // One main thread at 100 % of a core; the other 15 cores of a 16-core node run the VAD workers (and, on CPU, the engine).
    streamsPerMainThread: Math.floor(1000 / mainMsPerStreamS),
    vadBoundOn15Cores: Math.floor(((CORES - 1) * 1000) / Math.max(otherMsPerStreamS, 1e-9)),
    generatorLateMs: { p50: round(percentile(late, 50), 1), p99: round(percentile(late, 99), 1) },
    clientErrors: errors.length,
  };
  console.error(`[scale] ${JSON.stringify(row)}`);
  return row;
}

function round(x: number, d: number): number {
  const m = 10 ** d;
  return Math.round(x * m) / m;
}

const clips = await loadClips();
const servers: [string, string][] = BASE ? [["base", BASE], ["this", "."]] : [["this", "."]];
const rows: Awaited<ReturnType<typeof runStep>>[] = [];
for (const n of STREAMS) for (const [label, root] of servers) rows.push(await runStep(label, root, n, clips));

const machine = `${navigator.hardwareConcurrency} cores, ${readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU"}`;
console.log(`\nmachine: ${machine}; ${SECONDS} s window after ${WARMUP_S} s warm-up, ${CHUNK_MS} ms chunks\n`);
console.log("| server | streams | real-time share | lag p50 / p99 / max ms | main-thread CPU | main ms per stream-s | other threads ms per stream-s | streams per main thread | generator late p99 ms |");
console.log("|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  const l = r.lagMs;
  console.log(
    `| ${r.server} | ${r.streams} | ${r.realTimeShare} | ${l.p50} / ${l.p99} / ${l.max} | ${Math.round(r.mainCpuShare * 100)} % | ${r.mainCpuMsPerStreamS} | ${r.otherThreadsCpuMsPerStreamS} | ${r.streamsPerMainThread} | ${r.generatorLateMs.p99} |`,
  );
}
mkdirSync("bench/results", { recursive: true });
await Bun.write("bench/results/scale.json", JSON.stringify({ machine, seconds: SECONDS, chunkMs: CHUNK_MS, config: SERVER_CONFIG, rows }, null, 2));
