/**
 * One fixed piece of engine work, for comparing native memory policies as
 * whole processes (wall, user, system CPU) side by side: the server's own
 * createWhisperEngine (2 workers × 1 thread, batch 8, tiny.en int8) given
 * two waves of 10 utterances cut from jfk_16k.wav (2–11 s), with the engine
 * idle for 300 ms between waves, as a server between bursts.
 *
 *   bun run bench:engine-memory [--malloc trim|trim-now|small] [--waves 2] [--per-wave 10] [--gap-ms 300]
 *
 * --malloc picks the glibc policy of ffi/malloc.ts (trim = the default,
 * trim-now = the same but trimming at the engine's first idle moment,
 * small = the earlier fixed 1 MiB mmap threshold). --waves, --per-wave and
 * --gap-ms shape the work: live traffic is many small waves with short gaps. Process-level candidates
 * (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, LD_PRELOAD of another allocator)
 * go in the environment of the command. docs/benchmarks.md ("Engine memory")
 * has the table and the commands.
 */
import path from "node:path";
import { DEFAULT_MALLOC_TUNING, SMALL_MMAP_TUNING, TRIM_AT_ONCE_TUNING } from "../ffi/malloc.ts";
import { parseWav } from "../src/offline/decode.ts";
import { createWhisperEngine } from "../src/engine/whisper.ts";
import { SHARED_AUDIO } from "../test/support/audio.ts";
import { arg } from "./lib/args.ts";

const ROOT = path.resolve(import.meta.dir, "..");
const POLICIES = { trim: DEFAULT_MALLOC_TUNING, "trim-now": TRIM_AT_ONCE_TUNING, small: SMALL_MMAP_TUNING };
const policy = arg("malloc", "trim");
if (!(policy in POLICIES)) throw new Error(`--malloc must be one of ${Object.keys(POLICIES).join(", ")}, got ${policy}`);
const count = (name: string, fallback: number) => {
  const v = Number(arg(name, String(fallback)));
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a whole number, got ${arg(name, "")}`);
  return v;
};
const WAVES = Math.max(1, count("waves", 2));
const PER_WAVE = Math.max(1, count("per-wave", 10));
const GAP_MS = count("gap-ms", 300);
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
  nativeMemory: POLICIES[policy as keyof typeof POLICIES],
});
const t0 = performance.now();
let words = 0;
try {
  for (let w = 0; w < WAVES; w++) {
    const rs = await Promise.all(
      Array.from({ length: PER_WAVE }, (_, i) => engine.transcribe({ audio: clips[(w * PER_WAVE + i) % clips.length]!, streamKey: `s${i}` })),
    );
    words += rs.reduce((n, r) => n + r.text.split(/\s+/).filter(Boolean).length, 0);
    if (w + 1 < WAVES) await Bun.sleep(GAP_MS);
  }
} finally {
  await engine.close();
}
const s = (performance.now() - t0) / 1000;
const rss = process.memoryUsage().rss / 2 ** 20;
console.log(`[engine-memory] malloc=${policy} gap ${GAP_MS} ms ${WAVES * PER_WAVE} utterances in ${s.toFixed(2)} s (${((WAVES * PER_WAVE) / s).toFixed(2)}/s), ${words} words, rss ${rss.toFixed(0)} MB`);
