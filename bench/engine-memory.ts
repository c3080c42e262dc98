/**
 * One fixed piece of engine work, for comparing native memory policies as
 * whole processes (wall, user, system CPU) side by side: the server's own
 * createWhisperEngine (2 workers × 1 thread, batch 8, tiny.en int8) given
 * two waves of 10 utterances cut from jfk_16k.wav (2–11 s), with the engine
 * idle for 300 ms between waves, as a server between bursts.
 *
 *   bun run bench:engine-memory [--malloc trim|small]
 *
 * --malloc picks the glibc policy of ffi/malloc.ts (trim = the default,
 * small = the earlier fixed 1 MiB mmap threshold). Process-level candidates
 * (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, LD_PRELOAD of another allocator)
 * go in the environment of the command. docs/benchmarks.md ("Engine memory")
 * has the table and the commands.
 */
import path from "node:path";
import { DEFAULT_MALLOC_TUNING, SMALL_MMAP_TUNING } from "../ffi/malloc.ts";
import { parseWav } from "../src/offline/decode.ts";
import { createWhisperEngine } from "../src/engine/whisper.ts";
import { SHARED_AUDIO } from "../test/support/audio.ts";
import { arg } from "./lib/args.ts";

const ROOT = path.resolve(import.meta.dir, "..");
const policy = arg("malloc", "trim");
if (policy !== "trim" && policy !== "small") throw new Error(`--malloc must be trim or small, got ${policy}`);
const WAVES = 2;
const PER_WAVE = 10;
const SECONDS = [2, 4, 6, 8, 11];

const wav = parseWav(new Uint8Array(await Bun.file(`${SHARED_AUDIO}/jfk_16k.wav`).arrayBuffer()));
if (!wav || wav.sampleRate !== 16000) throw new Error("jfk_16k.wav must be a 16 kHz WAV");
const jfk = wav.channels[0]!;
const clips = SECONDS.map((s) => jfk.slice(0, Math.min(jfk.length, s * 16000)));

const engine = await createWhisperEngine({
  modelPath: path.join(ROOT, "models/tiny.en"),
  device: "cpu",
  computeType: "int8",
  maxWorkers: 2,
  cpuThreads: 1,
  batchSize: 8,
  language: "en",
  nativeMemory: policy === "trim" ? DEFAULT_MALLOC_TUNING : SMALL_MMAP_TUNING,
});
const t0 = performance.now();
let words = 0;
try {
  for (let w = 0; w < WAVES; w++) {
    const rs = await Promise.all(
      Array.from({ length: PER_WAVE }, (_, i) => engine.transcribe({ audio: clips[(w * PER_WAVE + i) % clips.length]!, streamKey: `s${i}` })),
    );
    words += rs.reduce((n, r) => n + r.text.split(/\s+/).filter(Boolean).length, 0);
    if (w + 1 < WAVES) await Bun.sleep(300);
  }
} finally {
  await engine.close();
}
const s = (performance.now() - t0) / 1000;
const rss = process.memoryUsage().rss / 2 ** 20;
console.log(`[engine-memory] malloc=${policy} ${WAVES * PER_WAVE} utterances in ${s.toFixed(2)} s (${((WAVES * PER_WAVE) / s).toFixed(2)}/s), ${words} words, rss ${rss.toFixed(0)} MB`);
