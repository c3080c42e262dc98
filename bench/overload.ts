/**
 * Overload benchmark: offered load stepped from 0.5× to 3× the capacity the
 * server itself measures, against the same server with admission on and with
 * admission off, in one run. Each client streams real speech in real time
 * (shared clips and espeak-ng sentences with 0.8–2 s pauses); a client that
 * gets server_busy stops, as a client told to go elsewhere would.
 *
 * Per step: admitted and refused streams, time from first audio to refusal,
 * final latency p50/p95/p99 of admitted streams (end of speech + silence
 * window → transcript at the client), goodput (finals/s of admitted streams),
 * lost utterances of admitted streams (no transcript 10 s after the stream
 * ended), event-loop lag of the server. Capacity is read from GET /ready
 * after a warm-up, so the steps follow whatever machine this runs on.
 *
 *   bun run bench:overload [--steps 0.5,1,1.5,2,3] [--seconds 45] [--max-latency 2] [--workers 0] [--threads 0] [--seed 7] [--modes on,off] [--arrive-over 3]
 *
 * Writes bench/results/overload.{json,png}.
 */
import { io as connect, type Socket } from "socket.io-client";
import { mkdirSync } from "node:fs";
import type { ErrorPayload, TranscriptionPayload } from "../src/transport/schemas.ts";
import { buildStream, loadClips, percentile, rng, type Clip } from "./lib/speech.ts";
import { ServerProcess } from "./lib/server-process.ts";
import { arg } from "./lib/args.ts";

const STEPS = arg("steps", "0.5,1,1.5,2,3").split(",").map(Number);
const SECONDS = Number(arg("seconds", "45"));
const MAX_LATENCY = Number(arg("max-latency", "2"));
const SEED = Number(arg("seed", "7"));
/** Seconds over which a step's streams arrive (the warm-up's too): 3 s is a burst whose first sentences end together. */
const ARRIVE_OVER = Number(arg("arrive-over", "3"));
/** "on,off" (default); "on" alone for a quick look at admission, without the goodput reference. */
const MODES = arg("modes", "on,off").split(",").map((m) => `admission ${m.trim()}` as "admission on" | "admission off");
const SILENCE = 0.5;
const PAD = 0.2;
const DRAIN_MS = 10_000;
const baseConfig = {
  host: "127.0.0.1",
  port: 0,
  enable_logging: false,
  silence_duration: SILENCE,
  speech_pad: PAD,
  // 0, 0: the server's automatic engine shape (src/engine/shape.ts), as shipped.
  cpu_threads: Number(arg("threads", "0")),
  max_workers: Number(arg("workers", "0")),
  limits: { max_sessions: 1000, max_queued_utterances: 64 },
};

// --- one real-time client --------------------------------------------------------------
interface ClientResult {
  refusedAfterMs: number | null;
  utterances: number;
  matched: number;
  /** [latency ms, utterance seconds] per final: the utterance's length says which set the tail. */
  timed: [number, number][];
  finals: number;
  errors: string[];
}

async function runClient(url: string, id: string, rand: () => number, clips: Clip[], startDelayMs: number): Promise<ClientResult> {
  const { stream, utterances } = buildStream(rand, clips, SECONDS);
  const chunkMs = [20, 40, 60, 100][Math.floor(rand() * 4)]!;
  const step = (chunkMs * 16000) / 1000;
  await Bun.sleep(startDelayMs);
  const socket: Socket = connect(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  await new Promise<void>((r, j) => {
    socket.once("connect", () => r());
    socket.once("connect_error", j);
  });
  const res: ClientResult = { refusedAfterMs: null, utterances: utterances.length, matched: 0, timed: [], finals: 0, errors: [] };
  const matched = new Set<number>();
  const sentAt: number[] = [];
  let firstAudioAt = 0;
  socket.on("error", (e: ErrorPayload) => {
    if (e.code === "server_busy" && res.refusedAfterMs === null) res.refusedAfterMs = performance.now() - firstAudioAt;
    else res.errors.push(e.code);
  });
  socket.on("transcription", (p: TranscriptionPayload) => {
    const now = performance.now();
    res.finals++;
    const target = Math.round((p.end - PAD + SILENCE) * 16000);
    const k = Math.min(sentAt.length - 1, Math.max(0, Math.ceil(target / step) - 1));
    if (sentAt[k] !== undefined) res.timed.push([now - sentAt[k]!, p.duration]);
    const end = p.end * 16000;
    const u = utterances.findIndex((x, i) => end >= x.start && end <= (utterances[i + 1]?.start ?? Infinity));
    if (u >= 0) matched.add(u);
  });
  const t0 = performance.now();
  firstAudioAt = t0;
  for (let k = 0; k * step < stream.length && res.refusedAfterMs === null; k++) {
    const wait = t0 + k * chunkMs - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    socket.emit("audio_data", { clientId: id, audioData: stream.slice(k * step, (k + 1) * step).buffer });
    sentAt[k] = performance.now();
  }
  if (res.refusedAfterMs === null) {
    const until = performance.now() + DRAIN_MS;
    while (matched.size < utterances.length && performance.now() < until) await Bun.sleep(100);
  }
  res.matched = matched.size;
  socket.disconnect();
  return res;
}

// --- steps --------------------------------------------------------------------------------
async function runStep(child: ServerProcess, n: number, clips: Clip[], label: string) {
  const rand = rng(SEED * 1000 + n);
  await child.stats(); // resets the lag window
  const before = await nodeCounters(child);
  const t0 = performance.now();
  // Streams arrive over the first ARRIVE_OVER seconds, not in lockstep.
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) => runClient(child.url, `${label}-${n}-${i}`, rng(Math.floor(rand() * 2 ** 31)), clips, rand() * ARRIVE_OVER * 1000)),
  );
  const wall = (performance.now() - t0) / 1000;
  const s = await child.stats();
  // The node's own view at the step's end (engine cost, its spread, the learned correction): why it admitted what it did.
  const node = (await child.ready()).body;
  const admitted = results.filter((r) => r.refusedAfterMs === null);
  const refused = results.filter((r) => r.refusedAfterMs !== null);
  const lat = admitted.flatMap((r) => r.timed.map(([ms]) => ms));
  const lost = admitted.reduce((a, r) => a + (r.utterances - r.matched), 0);
  const slowest = admitted
    .flatMap((r) => r.timed)
    .sort((a, b) => b[0] - a[0])
    .slice(0, 5)
    .map(([ms, sec]) => ({ ms: Math.round(ms), utteranceS: Math.round(sec * 10) / 10 }));
  return {
    streams: n,
    admitted: admitted.length,
    refused: refused.length,
    timeToRefusalMs: { p50: percentile(refused.map((r) => r.refusedAfterMs!), 50), max: Math.max(0, ...refused.map((r) => r.refusedAfterMs!)) },
    latencyMs: { p50: percentile(lat, 50), p95: percentile(lat, 95), p99: percentile(lat, 99) },
    goodput: admitted.reduce((a, r) => a + r.finals, 0) / wall,
    utterances: admitted.reduce((a, r) => a + r.utterances, 0),
    lost,
    loopLagMs: { p50: percentile(s.lag, 50), p99: percentile(s.lag, 99) },
    otherErrors: results.flatMap((r) => r.errors),
    // What set the tail: the slowest finals with their utterance's length, and the guard's second decodes.
    slowest,
    // The node's own view of the same finals (all streams' finals of the step, from its histograms):
    // hand-off to result (queue wait + engine call) and the engine call alone, p95 to a bucket bound.
    ...(await nodeCounters(child).then((after) => ({
      guardRetries: after.retries - before.retries,
      serverP95S: {
        handoffToResult: histP95(after.hist, before.hist, "stt_utterance_latency_seconds"),
        engineCall: histP95(after.hist, before.hist, "stt_engine_latency_seconds"),
      },
    }))),
    node,
  };
}

type Buckets = Map<string, [number, number][]>;

/** One read of /metrics: the guard's retries and the two latency histograms. */
async function nodeCounters(child: ServerProcess): Promise<{ retries: number; hist: Buckets }> {
  const text = await (await fetch(`${child.url}/metrics`)).text();
  const out: Buckets = new Map();
  for (const m of text.matchAll(/^(stt_(?:utterance|engine)_latency_seconds)_bucket\{le="([^"]+)"\} (\S+)$/gm)) {
    const list = out.get(m[1]!) ?? [];
    list.push([m[2] === "+Inf" ? Infinity : Number(m[2]), Number(m[3])]);
    out.set(m[1]!, list);
  }
  return { retries: Number(/^stt_guard_retries_total (\S+)$/m.exec(text)?.[1] ?? 0), hist: out };
}

/** Smallest bucket bound holding 95 % of what the histogram gained between two reads; null if nothing. */
function histP95(after: Buckets, before: Buckets, name: string): number | null {
  const a = after.get(name) ?? [];
  const b = new Map(before.get(name) ?? []);
  const total = (a.at(-1)?.[1] ?? 0) - (b.get(Infinity) ?? 0);
  if (total <= 0) return null;
  for (const [le, n] of a) if (n - (b.get(le) ?? 0) >= 0.95 * total) return le;
  return null;
}

/** Until the streams are gone and the engine's backlog (admission off) has drained, so steps do not overlap. */
async function settle(child: ServerProcess): Promise<void> {
  const until = performance.now() + 120_000;
  const queued = async () => Number(/^stt_engine_queue_depth (\S+)$/m.exec(await (await fetch(`${child.url}/metrics`)).text())?.[1] ?? 0);
  while (performance.now() < until && ((await child.ready()).body.admitted_streams > 0 || (await queued()) > 0)) await Bun.sleep(250);
  await Bun.sleep(2000);
}

const clips = await loadClips();
console.error(`[overload] seed ${SEED}, ${clips.length} clips, ${SECONDS} s per step, steps ${STEPS.join(",")}× capacity`);

// Warm-up with admission on: the server learns its engine cost from real traffic, then says its capacity.
const on = new ServerProcess();
await on.start({ ...baseConfig, capacity: { admission: true, max_latency: MAX_LATENCY } });
await runStep(on, 3, clips, "warmup");
await settle(on);
const capacity = Math.max(1, (await on.ready()).body.capacity_streams ?? 1);
console.error(`[overload] measured capacity: ${capacity} streams`);

if (!MODES.includes("admission on")) await on.stop();
const rows: Record<string, unknown>[] = [];
for (const mode of MODES) {
  const child = mode === "admission on" ? on : new ServerProcess();
  if (mode === "admission off") await child.start({ ...baseConfig, capacity: { admission: false, max_latency: MAX_LATENCY } });
  for (const x of STEPS) {
    const n = Math.max(1, Math.round(x * capacity));
    console.error(`[overload] ${mode}: ${x}× = ${n} streams…`);
    const r = await runStep(child, n, clips, mode === "admission on" ? "on" : "off");
    rows.push({ mode, offered: x, ...r });
    console.error(`[overload]   admitted ${r.admitted}, refused ${r.refused}, p95 ${r.latencyMs.p95.toFixed(0)} ms, ${r.goodput.toFixed(2)} finals/s, lost ${r.lost}; guard retries ${r.guardRetries}; node p95 hand-off→result ≤ ${r.serverP95S.handoffToResult} s, engine call ≤ ${r.serverP95S.engineCall} s; slowest ${r.slowest.map((x) => `${x.ms} ms (${x.utteranceS} s)`).join(", ")}; node ${JSON.stringify(r.node)}`);
    await settle(child);
  }
  await child.stop();
}

// Two peaks: the most a node that keeps its promise delivered (admission on),
// and the most the engine pushed through at any latency (either mode).
const peakOn = Math.max(...rows.filter((r) => r.mode === "admission on").map((r) => r.goodput as number));
const peak = Math.max(...rows.map((r) => r.goodput as number));
const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : "–");
console.log(`\nmeasured capacity ${capacity} streams, max_latency ${MAX_LATENCY} s, ${SECONDS} s per step, seed ${SEED}\n`);
console.log("| mode | offered (× capacity) | streams | admitted | refused | time to refusal p50/max ms | p50 ms | p95 ms | p99 ms | goodput finals/s | % of peak, admission on | % of peak, any | lost (of utterances) | loop lag p50/p99 ms |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows as any[]) {
  console.log(
    `| ${r.mode} | ${r.offered} | ${r.streams} | ${r.admitted} | ${r.refused} | ${r.refused ? `${f(r.timeToRefusalMs.p50)}/${f(r.timeToRefusalMs.max)}` : "–"} | ${f(r.latencyMs.p50)} | ${f(r.latencyMs.p95)} | ${f(r.latencyMs.p99)} | ${f(r.goodput, 2)} | ${r.mode === "admission on" ? `${f((100 * r.goodput) / peakOn)} %` : "–"} | ${f((100 * r.goodput) / peak)} % | ${r.lost} (of ${r.utterances}) | ${f(r.loopLagMs.p50, 1)}/${f(r.loopLagMs.p99, 1)} |`,
  );
}
mkdirSync("bench/results", { recursive: true });
await Bun.write("bench/results/overload.json", JSON.stringify({ capacity, maxLatency: MAX_LATENCY, seconds: SECONDS, seed: SEED, steps: STEPS, rows }, null, 2));
const plot = Bun.spawn(["python3", "bench/py/plot_overload.py", "bench/results/overload.json", "bench/results/overload.png"], { stderr: "pipe" });
if ((await plot.exited) !== 0) console.error(`[overload] no plot (pip install matplotlib): ${await new Response(plot.stderr).text()}`);
else console.error("[overload] wrote bench/results/overload.json and bench/results/overload.png");
process.exit(0);
