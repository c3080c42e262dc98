/**
 * Throughput defaults from measurement: the engine pool (the server's own
 * createWhisperEngine: workers, batching executor, ffi, CTranslate2) fed real
 * utterances, with every engine shape W workers × T threads that fills this
 * machine's cores, in one run, side by side.
 *
 * 1. Saturation: 48 utterances handed over at once (48 streams, one each),
 *    for each shape and batch size: utterances/s and audio seconds/s.
 * 2. Open loop: Poisson arrivals at 0.5× and 0.8× of the best saturation
 *    rate, for each shape and batch_wait_ms, at batch size 8: hand-off →
 *    result p50/p95 and the mean batch. Latency, not throughput, is what a
 *    batch wait costs below saturation.
 *
 *   bun run bench:throughput [--shapes 1x2,2x1] [--batch 1,4,8,16] [--waits 0,50,150] [--seconds 40] [--seed 7]
 *
 * Writes bench/results/throughput.json and prints the tables.
 */
import { mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createWhisperEngine, type WhisperEngine } from "../src/engine/whisper.ts";
import { admissibleRate, fitCost, maxThroughput, type CostSample } from "../src/capacity/model.ts";
import { toFloat } from "../test/support/audio.ts";
import { loadClips, percentile, rng } from "./lib/speech.ts";
import { arg } from "./lib/args.ts";

const CORES = os.cpus().length;
/** Every W × T = cores, unless given. */
const defaultShapes = Array.from({ length: CORES }, (_, i) => i + 1)
  .filter((w) => CORES % w === 0)
  .map((w) => `${w}x${CORES / w}`)
  .join(",");
const SHAPES = arg("shapes", defaultShapes)
  .split(",")
  .map((s) => s.split("x").map(Number) as [number, number]);
const BATCHES = arg("batch", "1,4,8,16").split(",").map(Number);
const WAITS = arg("waits", "0,50,150").split(",").map(Number);
const SECONDS = Number(arg("seconds", "40"));
const SEED = Number(arg("seed", "7"));
const SATURATION_N = 48;
const MODEL = path.resolve(import.meta.dir, "../models/tiny.en");

const clips = (await loadClips()).map((c) => toFloat(c.pcm));
const pick = (rand: () => number) => clips[Math.floor(rand() * clips.length)]!;

async function withEngine<T>(workers: number, threads: number, batchSize: number, batchWaitMs: number, run: (e: WhisperEngine) => Promise<T>): Promise<T> {
  const engine = await createWhisperEngine({
    modelPath: MODEL,
    device: "cpu",
    computeType: "int8",
    maxWorkers: workers,
    cpuThreads: threads,
    batchSize,
    batchWaitMs,
    language: "en",
  });
  try {
    // Warm-up: every worker runs once, one batch of each size fills its buffers.
    await Promise.all(Array.from({ length: workers * Math.min(batchSize, 4) }, (_, i) => engine.transcribe({ audio: clips[i % clips.length]!, streamKey: `warm-${i}` })));
    return await run(engine);
  } finally {
    await engine.close();
  }
}

/** Engine calls of each shape's saturation runs, as the server's capacity model sees them. */
const calls = new Map<string, CostSample[]>();

interface SaturationRow {
  shape: string;
  batch: number;
  uttPerS: number;
  audioPerS: number;
  meanBatch: number;
}

async function saturation(workers: number, threads: number, batch: number): Promise<SaturationRow> {
  const rand = rng(SEED);
  const audio = Array.from({ length: SATURATION_N }, () => pick(rand));
  return withEngine(workers, threads, batch, 0, async (engine) => {
    const t0 = performance.now();
    const rs = await Promise.all(audio.map((a, i) => engine.transcribe({ audio: a, streamKey: `s${i}` })));
    const wall = (performance.now() - t0) / 1000;
    const mine = calls.get(`${workers}×${threads}`) ?? [];
    // Every utterance of a batch reports the same call.
    for (const ms of new Set(rs.map((r) => r.engineMs))) mine.push({ batch: rs.find((r) => r.engineMs === ms)!.batchSize, seconds: ms / 1000 });
    calls.set(`${workers}×${threads}`, mine);
    const seconds = audio.reduce((s, a) => s + a.length / 16000, 0);
    return {
      shape: `${workers}×${threads}`,
      batch,
      uttPerS: SATURATION_N / wall,
      audioPerS: seconds / wall,
      meanBatch: rs.reduce((s, r) => s + r.batchSize, 0) / rs.length,
    };
  });
}

interface OpenLoopRow {
  shape: string;
  waitMs: number;
  rate: number;
  load: number;
  n: number;
  p50: number;
  p95: number;
  meanBatch: number;
}

async function openLoop(workers: number, threads: number, waitMs: number, rate: number, load: number): Promise<OpenLoopRow> {
  // Arrivals and clips from their own seeded streams: every shape gets the same arrivals.
  const gaps = rng(SEED + Math.round(rate * 1000));
  const clipsRand = rng(SEED + 1);
  return withEngine(workers, threads, 8, waitMs, async (engine) => {
    const pending: Promise<{ ms: number; batch: number }>[] = [];
    const t0 = performance.now();
    let at = 0;
    for (let i = 0; ; i++) {
      at += (-Math.log(1 - gaps()) / rate) * 1000; // exponential gaps: Poisson arrivals
      if (at > SECONDS * 1000) break;
      const wait = t0 + at - performance.now();
      if (wait > 0) await Bun.sleep(wait);
      const sent = performance.now();
      pending.push(engine.transcribe({ audio: pick(clipsRand), streamKey: `o${i % 64}` }).then((r) => ({ ms: performance.now() - sent, batch: r.batchSize })));
    }
    const done = await Promise.all(pending);
    const ms = done.map((d) => d.ms);
    return {
      shape: `${workers}×${threads}`,
      waitMs,
      rate,
      load,
      n: done.length,
      p50: percentile(ms, 50),
      p95: percentile(ms, 95),
      meanBatch: done.reduce((s, d) => s + d.batch, 0) / done.length,
    };
  });
}

console.error(`[throughput] ${CORES} cores (${os.cpus()[0]?.model ?? "?"}), tiny.en int8, shapes ${SHAPES.map((s) => s.join("×")).join(", ")}, seed ${SEED}`);
const sat: SaturationRow[] = [];
for (const [w, t] of SHAPES)
  for (const b of BATCHES) {
    const r = await saturation(w, t, b);
    sat.push(r);
    console.error(`[throughput] saturation ${r.shape} batch ${b}: ${r.uttPerS.toFixed(2)} utt/s`);
  }
const best = Math.max(...sat.map((r) => r.uttPerS));
const open: OpenLoopRow[] = [];
for (const load of [0.5, 0.8])
  for (const [w, t] of SHAPES)
    for (const wait of WAITS) {
      const r = await openLoop(w, t, wait, load * best, load);
      open.push(r);
      console.error(`[throughput] open loop ${r.shape} wait ${wait} ms at ${r.rate.toFixed(2)}/s: p95 ${r.p95.toFixed(0)} ms`);
    }

const f = (x: number, d = 0) => x.toFixed(d);
console.log(`\n${CORES} cores (${os.cpus()[0]?.model ?? "?"}), tiny.en int8, seed ${SEED}\n`);
console.log("Saturation (48 utterances at once):\n");
console.log("| workers × threads | batch size | utterances/s | audio s/s | mean batch |");
console.log("|---|---|---|---|---|");
for (const r of sat) console.log(`| ${r.shape} | ${r.batch} | ${f(r.uttPerS, 2)} | ${f(r.audioPerS, 1)} | ${f(r.meanBatch, 1)} |`);
console.log("\nWhat the server's capacity model (src/capacity/model.ts) makes of each shape's calls, batch_size 8, max_latency 2 s, max_utilization 0.85:\n");
console.log("| workers × threads | fixed s per call (a) | s per utterance (b) | one-utterance call ms | most utterances/s | admissible utterances/s | streams at 0.25 utt/s |");
console.log("|---|---|---|---|---|---|---|");
const model: Record<string, unknown>[] = [];
for (const [w, t] of SHAPES) {
  const cost = fitCost(calls.get(`${w}×${t}`) ?? []);
  if (!cost) continue;
  const shape = { workers: w, maxBatch: 8 };
  const adm = admissibleRate(cost, shape, 2, 0.85);
  model.push({ shape: `${w}×${t}`, ...cost, maxThroughput: maxThroughput(cost, shape), admissible: adm });
  console.log(`| ${w}×${t} | ${f(cost.a, 3)} | ${f(cost.b, 3)} | ${f((cost.a + cost.b) * 1000)} | ${f(maxThroughput(cost, shape), 2)} | ${f(adm, 2)} | ${Math.floor(adm / 0.25)} |`);
}
console.log(`\nOpen loop (Poisson arrivals, ${SECONDS} s, batch size 8; load is of the best saturation rate, ${f(best, 2)} utt/s):\n`);
console.log("| load | workers × threads | batch_wait_ms | utterances | p50 ms | p95 ms | mean batch |");
console.log("|---|---|---|---|---|---|---|");
for (const r of open) console.log(`| ${r.load}× (${f(r.rate, 2)}/s) | ${r.shape} | ${r.waitMs} | ${r.n} | ${f(r.p50)} | ${f(r.p95)} | ${f(r.meanBatch, 1)} |`);
mkdirSync("bench/results", { recursive: true });
await Bun.write("bench/results/throughput.json", JSON.stringify({ cores: CORES, cpu: os.cpus()[0]?.model, seed: SEED, saturation: sat, model, openLoop: open }, null, 2));
process.exit(0);
