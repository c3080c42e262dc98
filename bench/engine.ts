/**
 * bun run bench:engine — per-utterance engine time for 2, 5, 10 and 20 s utterances
 * next to faster-whisper's (same model, int8, same thread count, in the same run),
 * plus event-loop lag in the Bun main thread while the engine is busy.
 * Writes the table into docs/benchmarks.md (section "Engine").
 */
import { existsSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createWhisperEngine } from "../src/engine/whisper.ts";
import { SHARED_AUDIO, decodeToPcm16, toFloat } from "../test/support/audio.ts";
import { loopLagSampler, percentile } from "./lib/speech.ts";

const ROOT = path.resolve(import.meta.dir, "..");
const MODEL = path.join(ROOT, "models/tiny.en");
const THREADS = Number(process.env.BENCH_THREADS ?? os.cpus().length);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 5);
const LENGTHS = [2, 5, 10, 20];

// Real speech: the English paragraph of multilingual.mp3 (continuous, 29 s).
const speech = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/multilingual.mp3`)).slice(0, 29 * 16000);
const clips = LENGTHS.map((s) => ({ seconds: s, audio: speech.slice(0, s * 16000) }));

const median = (xs: number[]) => percentile(xs, 50);

// --- faster-whisper -------------------------------------------------------
const dir = mkdtempSync(path.join(os.tmpdir(), "stt-bench-"));
let fw: { items: { name: string; ms: number[] }[] };
try {
  const items = clips.map((c) => {
    const file = path.join(dir, `${c.seconds}.f32`);
    writeFileSync(file, new Uint8Array(c.audio.buffer, c.audio.byteOffset, c.audio.byteLength));
    return { name: `${c.seconds}s`, file, language: "en" };
  });
  const mf = path.join(dir, "manifest.json");
  writeFileSync(mf, JSON.stringify({ model: MODEL, threads: THREADS, compute_type: "int8", max_new_tokens: 200, beam_size: 1, repeat: REPEAT + 1, items }));
  const p = Bun.spawn(["python3", path.join(ROOT, "bench/py/fw_transcribe.py"), mf], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`faster-whisper failed: ${err.trim()} (run scripts/test-setup.sh)`);
  fw = JSON.parse(out);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// --- this engine ------------------------------------------------------------
const engine = await createWhisperEngine({ modelPath: MODEL, device: "cpu", computeType: "int8", cpuThreads: THREADS, maxWorkers: 1, language: "en" });
const rows: { seconds: number; ours: number; theirs: number }[] = [];
const lag = loopLagSampler(10);
const lags: number[] = [];
try {
  for (const [i, c] of clips.entries()) {
    await engine.transcribe({ audio: c.audio }); // warm-up
    lag.take();
    const ms: number[] = [];
    for (let r = 0; r < REPEAT; r++) {
      const t0 = performance.now();
      await engine.transcribe({ audio: c.audio });
      ms.push(performance.now() - t0);
    }
    lags.push(...lag.take());
    rows.push({ seconds: c.seconds, ours: median(ms), theirs: median(fw.items[i]!.ms.slice(1)) });
  }
} finally {
  lag.stop();
  await engine.close();
}

const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const lines = [
  "## Engine",
  "",
  `Command: \`bun run bench:engine\` (BENCH_THREADS=${THREADS}, BENCH_REPEAT=${REPEAT}). Machine: ${os.cpus().length} cores (${cpu}), CPU only, ` +
    `model tiny.en, compute type int8, beam 1, ${THREADS} CPU threads for both; median of ${REPEAT} runs after a warm-up, ` +
    "real speech (the English paragraph of multilingual.mp3) cut to each length. Engine time is measured from the Bun main thread " +
    "(worker round trip included); faster-whisper's is WhisperModel.transcribe() in Python on the same float32 array.",
  "",
  "| utterance | this engine (ms) | faster-whisper (ms) | ratio engine / faster-whisper |",
  "| ---: | ---: | ---: | ---: |",
  ...rows.map((r) => `| ${r.seconds} s | ${r.ours.toFixed(0)} | ${r.theirs.toFixed(0)} | ${(r.ours / r.theirs).toFixed(2)} |`),
  "",
  `Event-loop lag in the Bun main thread while the engine was busy (10 ms setInterval drift, ${lags.length} samples): ` +
    `p50 ${percentile(lags, 50).toFixed(2)} ms, p99 ${percentile(lags, 99).toFixed(2)} ms, max ${Math.max(...lags).toFixed(2)} ms.`,
  "",
];
const table = lines.join("\n");
console.log(table);

const doc = path.join(ROOT, "docs/benchmarks.md");
let text = existsSync(doc) ? readFileSync(doc, "utf8") : "# Benchmarks\n\n";
const re = /## Engine\n[\s\S]*?(?=\n## |$)/;
text = re.test(text) ? text.replace(re, table) : text.trimEnd() + "\n\n" + table;
writeFileSync(doc, text.endsWith("\n") ? text : text + "\n");
console.log(`written to ${path.relative(ROOT, doc)}`);
