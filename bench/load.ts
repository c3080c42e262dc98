/**
 * Load benchmark: N Socket.IO clients each stream real speech in real time
 * (20–100 ms chunks, natural pauses, different material per client) to a
 * server running in its own process. For every utterance it measures, at the
 * client, end of speech → transcript, minus the configured silence window
 * (the part the server could not skip). The same sweep runs twice in one
 * run: with cross-client batching (batch_size, default 8) and as a
 * one-utterance-at-a-time server (batch_size 1), so their throughput and
 * latency compare side by side. Prints a table, writes
 * bench/results/load.json and bench/results/load.png.
 *
 *   bun run bench:load [--clients 1,2,4,8,16,32] [--seconds 40] [--batch-size 8] [--no-baseline] [--url http://host:port]
 */
import { io as connect, type Socket } from "socket.io-client";
import { mkdirSync } from "node:fs";
import type { TranscriptionPayload } from "../src/transport/schemas.ts";
import { buildStream, loadClips, percentile, rng, type Clip } from "./lib/speech.ts";
import { ServerProcess, type ChildStats } from "./lib/server-process.ts";
import { arg, flag } from "./lib/args.ts";

const CLIENTS = arg("clients", "1,2,4,8,16,32").split(",").map(Number);
const SECONDS = Number(arg("seconds", "40"));
const TARGET = flag("url") ? arg("url", "") : null;
const THREADS = Number(arg("threads", "2"));
const SILENCE = 0.5;
const PAD = 0.2;
const BATCH = Number(arg("batch-size", "8"));
const MODES: { name: string; batch_size: number }[] = [{ name: "batched", batch_size: BATCH }];
if (!flag("no-baseline") && BATCH !== 1 && !TARGET) MODES.push({ name: "one-at-a-time", batch_size: 1 });
const SERVER_CONFIG = {
  host: "127.0.0.1",
  port: 0,
  enable_logging: false,
  silence_duration: SILENCE,
  speech_pad: PAD,
  cpu_threads: THREADS,
  batch_size: BATCH,
  max_workers: Number(arg("workers", "1")),
  limits: { max_sessions: 1000, max_queued_utterances: 64 },
  // This bench measures the engine past capacity; bench/overload.ts measures admission.
  capacity: { admission: false },
};

interface Sent {
  clip: string;
  start: number; // stream samples
  end: number;
}
interface ClientResult {
  latencies: number[];
  /** [utterance index, latency ms] for each transcript matched to an utterance. */
  byUtterance: [number, number][];
  /** Latency ms of each transcript by "clientId:seq". */
  bySeq: Map<string, number>;
  utterances: Sent[];
  matched: Set<number>;
  transcripts: number;
  errors: string[];
}

// --- the server under test: bench/lib/server-process.ts ---------------------------------
const server = new ServerProcess();
const startChild = (config: typeof SERVER_CONFIG) => server.start(config);
const stopChild = () => server.stop();
const childStats = async (): Promise<ChildStats | null> => (server.running ? server.stats() : null);

// --- engine-only floor: faster-whisper one utterance at a time ----------------------
async function engineFloor(clips: Clip[]): Promise<{ meanMs: number; perClip: Record<string, number> }> {
  const dir = `/tmp/stt-bench-${process.pid}`;
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const c of clips) {
    const f = new Float32Array(c.pcm.length);
    for (let i = 0; i < f.length; i++) f[i] = c.pcm[i]! / 32768;
    const path = `${dir}/${c.name}.f32`;
    await Bun.write(path, f);
    files.push(path);
  }
  const p = Bun.spawn(["python3", "bench/py/fw_floor.py", "models/tiny.en", String(THREADS), ...files], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  if ((await p.exited) !== 0) throw new Error(`faster-whisper floor failed (run scripts/test-setup.sh): ${await new Response(p.stderr).text()}`);
  const { ms } = JSON.parse(out) as { ms: number[] };
  const perClip: Record<string, number> = {};
  clips.forEach((c, i) => (perClip[c.name] = ms[i]!));
  return { meanMs: ms.reduce((a, b) => a + b, 0) / ms.length, perClip };
}

// --- one client ------------------------------------------------------------------------
async function runClient(url: string, id: number, clips: Clip[], seconds: number): Promise<ClientResult> {
  const rand = rng(1000 + id);
  const chunkMs = [20, 40, 60, 100][Math.floor(rand() * 4)]!;
  const step = (chunkMs * 16000) / 1000;
  const { stream, utterances } = buildStream(rand, clips, seconds);

  const socket: Socket = connect(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  await new Promise<void>((r, j) => {
    socket.once("connect", () => r());
    socket.once("connect_error", j);
  });
  const clientId = `load-${id}`;
  const sentAt: number[] = []; // wall time when chunk k (ending at (k+1)*step) was sent
  const res: ClientResult = { latencies: [], byUtterance: [], bySeq: new Map(), utterances, matched: new Set(), transcripts: 0, errors: [] };
  socket.on("error", (e: { code: string }) => res.errors.push(e.code));
  socket.on("transcription", (p: TranscriptionPayload) => {
    const now = performance.now();
    res.transcripts++;
    // The server could close the utterance once speech end + silence window had been sent.
    const target = Math.round((p.end - PAD + SILENCE) * 16000);
    const k = Math.min(sentAt.length - 1, Math.max(0, Math.ceil(target / step) - 1));
    const latency = sentAt[k] !== undefined ? now - sentAt[k]! : NaN;
    if (!Number.isNaN(latency)) {
      res.latencies.push(latency);
      res.bySeq.set(`${p.client_id}:${p.seq}`, latency);
    }
    const endSample = p.end * 16000;
    const u = utterances.findIndex((x, i) => endSample >= x.start && endSample <= (utterances[i + 1]?.start ?? Infinity));
    if (u >= 0) {
      res.matched.add(u);
      if (!Number.isNaN(latency)) res.byUtterance.push([u, latency]);
    }
  });

  const t0 = performance.now();
  for (let k = 0; k * step < stream.length; k++) {
    const due = t0 + k * chunkMs;
    const wait = due - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    socket.emit("audio_data", { clientId, audioData: stream.slice(k * step, (k + 1) * step).buffer });
    sentAt[k] = performance.now();
  }
  await Bun.sleep(4000); // let the last transcripts arrive
  socket.disconnect();
  return res;
}

// --- main ------------------------------------------------------------------------------------
const clips = await loadClips();
console.error(`[load] ${clips.length} clips; measuring the faster-whisper floor (${THREADS} threads)…`);
const floor = await engineFloor(clips);
console.error(`[load] floor: ${floor.meanMs.toFixed(0)} ms per utterance`);
async function sweep(mode: { name: string; batch_size: number }): Promise<Record<string, unknown>[]> {
  const url = TARGET ?? (await startChild({ ...SERVER_CONFIG, batch_size: mode.batch_size }));
  const rows: Record<string, unknown>[] = [];
  let prevEngine = (await childStats())?.server.engine ?? null;
  for (const n of CLIENTS) {
    const before = await childStats(); // resets the child's CPU and lag windows; audio seconds are cumulative
    const audioBefore = before?.server.audioSeconds ?? 0;
    // Few streams give few utterances per second: run them longer so p95 means something.
    const seconds = Math.max(SECONDS, Math.round((3 * SECONDS) / n));
    console.error(`[load] ${mode.name}: ${n} clients × ${seconds} s…`);
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: n }, (_, i) => runClient(url, i + n * 100, clips, seconds)));
    const wall = (performance.now() - t0) / 1000;
    const s = await childStats();
    const lat = results.flatMap((r) => r.latencies);
    const sent = results.reduce((a, r) => a + r.utterances.length, 0);
    const matched = results.reduce((a, r) => a + r.matched.size, 0);
    const transcripts = results.reduce((a, r) => a + r.transcripts, 0);
    // Engine counters are cumulative: take this step's share.
    const cur = s?.server.engine ?? null;
    const eng = cur && {
      batches: cur.batches - (prevEngine?.batches ?? 0),
      utterances: cur.utterances - (prevEngine?.utterances ?? 0),
      batchSizes: Object.fromEntries(
        Object.entries(cur.batchSizes)
          .map(([k, v]) => [k, v - (prevEngine?.batchSizes[Number(k)] ?? 0)])
          .filter(([, v]) => (v as number) > 0),
      ) as Record<number, number>,
      engineMs: cur.engineMs.slice(-(cur.batches - (prevEngine?.batches ?? 0)) || cur.engineMs.length),
      queueWaitMs: cur.queueWaitMs.slice(-(cur.utterances - (prevEngine?.utterances ?? 0)) || cur.queueWaitMs.length),
    };
    prevEngine = cur;
    const batchHist = eng?.batchSizes ?? {};
    const meanBatch = eng && eng.batches > 0 ? eng.utterances / eng.batches : NaN;
    // Overhead above the floor: utterances that came back as exactly one transcript,
    // latency minus faster-whisper's time for that same clip alone.
    const overhead: number[] = [];
    for (const r of results) {
      const count = new Map<number, number>();
      for (const [u] of r.byUtterance) count.set(u, (count.get(u) ?? 0) + 1);
      for (const [u, ms] of r.byUtterance) if (count.get(u) === 1) overhead.push(ms - floor.perClip[r.utterances[u]!.clip]!);
    }
    // What the server adds besides the engine call itself: client latency minus
    // that utterance's engine milliseconds (queue wait, VAD, sockets, batching).
    const nonEngine: number[] = [];
    for (const r of results)
      for (const [key, ms] of r.bySeq) {
        const e = s?.engineMsBySeq[key];
        if (e !== undefined) nonEngine.push(ms - e);
      }
    const row = {
      mode: mode.name,
      batchSize: mode.batch_size,
      clients: n,
      utterancesSent: sent,
      utterancesTranscribed: matched,
      transcripts,
      transcriptsPerSecond: transcripts / wall,
      latencyMs: { p50: percentile(lat, 50), p95: percentile(lat, 95), p99: percentile(lat, 99) },
      nonEngineMs: { p50: percentile(nonEngine, 50), p95: percentile(nonEngine, 95), n: nonEngine.length },
      overheadAboveFloorMs: { p50: percentile(overhead, 50), p95: percentile(overhead, 95), n: overhead.length },
      engineMsMean: eng && eng.engineMs.length ? eng.engineMs.reduce((a, b) => a + b, 0) / eng.engineMs.length : NaN,
      engineMsPerUtterance: eng && eng.utterances ? eng.engineMs.reduce((a, b) => a + b, 0) / eng.utterances : NaN,
      meanBatch,
      batchSizes: batchHist,
      queueWaitMs: { p50: percentile(eng?.queueWaitMs ?? [], 50), p95: percentile(eng?.queueWaitMs ?? [], 95) },
      serverCpuMsPerAudioSecond: s ? s.cpuMs / (s.server.audioSeconds - audioBefore || 1) : NaN,
      rssMiB: s ? s.rss / 2 ** 20 : NaN,
      loopLagMs: { p50: percentile(s?.lag ?? [], 50), p99: percentile(s?.lag ?? [], 99) },
      errors: results.flatMap((r) => r.errors),
    };
    rows.push(row);
    console.error(`[load] ${n}: p95 ${row.latencyMs.p95.toFixed(0)} ms, ${row.transcriptsPerSecond.toFixed(2)} transcripts/s`);
    if (row.latencyMs.p95 > 2000) break;
  }
  await stopChild();
  return rows;
}

const rows: Record<string, unknown>[] = [];
for (const mode of MODES) rows.push(...(await sweep(mode)));

const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : "–");
console.log(`\nfaster-whisper floor (one at a time, same model and threads): ${f(floor.meanMs)} ms per utterance\n`);
console.log("| mode | N | sent | transcribed | transcripts/s | p50 ms | p95 ms | p99 ms | over floor p50/p95 ms | non-engine p50/p95 ms | mean batch | engine ms/utt (÷ floor) | queue wait p95 ms | server CPU ms/audio s | RSS MiB | loop lag p50/p99 ms |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows as any[]) {
  console.log(
    `| ${r.mode} | ${r.clients} | ${r.utterancesSent} | ${r.utterancesTranscribed} | ${f(r.transcriptsPerSecond, 2)} | ${f(r.latencyMs.p50)} | ${f(r.latencyMs.p95)} | ${f(r.latencyMs.p99)} | ${f(r.overheadAboveFloorMs.p50)}/${f(r.overheadAboveFloorMs.p95)} | ${f(r.nonEngineMs.p50)}/${f(r.nonEngineMs.p95)} | ${f(r.meanBatch, 2)} | ${f(r.engineMsPerUtterance)} (${f(r.engineMsPerUtterance / floor.meanMs, 2)}) | ${f(r.queueWaitMs.p95)} | ${f(r.serverCpuMsPerAudioSecond)} | ${f(r.rssMiB)} | ${f(r.loopLagMs.p50, 1)}/${f(r.loopLagMs.p99, 1)} |`,
  );
}
mkdirSync("bench/results", { recursive: true });
await Bun.write("bench/results/load.json", JSON.stringify({ config: SERVER_CONFIG, modes: MODES, seconds: SECONDS, floor, rows }, null, 2));
const plot = Bun.spawn(["python3", "bench/py/plot_load.py", "bench/results/load.json", "bench/results/load.png"], { stderr: "pipe" });
if ((await plot.exited) !== 0) console.error(`[load] no plot (pip install matplotlib): ${await new Response(plot.stderr).text()}`);
else console.error("[load] wrote bench/results/load.json and bench/results/load.png");
process.exit(0);
