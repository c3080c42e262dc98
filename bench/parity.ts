/**
 * bun run parity — token-level parity of this engine with faster-whisper 1.2.1.
 *
 * The same float32 utterances (jfk, hotwords, the English and German halves of
 * multilingual.mp3, espeak-ng sentences) go to faster-whisper (python, same model
 * folder, int8, beam 1, temperature 0 only, without_timestamps,
 * condition_on_previous_text=False, no VAD, same max_new_tokens) and to this
 * engine (alone, then all at once so they are batched). Prints how many give
 * identical token ids and, for any that differ, where and by how much.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createWhisperEngine } from "../src/engine/whisper.ts";
import type { EngineResult } from "../src/engine/types.ts";
import { SHARED_AUDIO, decodeToPcm16, speak, toFloat } from "../test/support/audio.ts";

const ROOT = path.resolve(import.meta.dir, "..");
const THREADS = Number(process.env.PARITY_THREADS ?? 2);
const MAX_NEW_TOKENS = 200;
const COMPUTE_TYPES = (process.env.PARITY_COMPUTE ?? "int8,float32").split(",").map((x) => x.trim()).filter(Boolean);

interface Item {
  name: string;
  audio: Float32Array;
  language: string | null;
}
interface FwItem {
  name: string;
  tokens: number[];
  text: string;
  language: string;
  language_probability: number;
  avg_logprob: number;
  no_speech_prob: number;
  ms: number[];
}

async function utterances(): Promise<{ english: Item[]; multilingual: Item[] }> {
  const jfk = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`));
  const hot = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/hotwords.mp3`));
  const ml = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/multilingual.mp3`));
  const en = ml.slice(0, 30 * 16000); // 2 s pause at 29–31 s separates the two languages
  const de = ml.slice(30 * 16000);
  const said = [
    ["Please turn on the lights in the kitchen.", "en-us", 160],
    ["The meeting has been moved to Thursday afternoon.", "en-gb", 150],
    ["Remind me to call my sister at six o'clock.", "en-us+f3", 170],
    ["Our quarterly numbers look better than we expected.", "en-gb+m3", 155],
  ] as const;
  const espeak: Item[] = [];
  for (const [i, [text, voice, speed]] of said.entries()) espeak.push({ name: `espeak-${i}`, audio: toFloat(await speak(text, voice, speed)), language: null });
  const english: Item[] = [
    { name: "jfk", audio: jfk, language: null },
    { name: "hotwords", audio: hot, language: null },
    { name: "multilingual-en", audio: en, language: null },
    ...espeak,
  ];
  const multilingual: Item[] = [
    { name: "jfk", audio: jfk, language: null },
    { name: "hotwords", audio: hot, language: null },
    { name: "multilingual-en", audio: en, language: null },
    { name: "multilingual-de", audio: de, language: null },
    { name: "multilingual-de(given)", audio: de, language: "de" },
    ...espeak.slice(0, 2),
  ];
  return { english, multilingual };
}

async function fasterWhisper(model: string, items: Item[], dir: string, computeType: string): Promise<{ items: FwItem[] }> {
  const manifest = {
    model,
    threads: THREADS,
    compute_type: computeType,
    max_new_tokens: MAX_NEW_TOKENS,
    beam_size: 1,
    items: items.map((it, i) => {
      const file = path.join(dir, `${i}.f32`);
      writeFileSync(file, new Uint8Array(it.audio.buffer, it.audio.byteOffset, it.audio.byteLength));
      return { name: it.name, file, language: it.language };
    }),
  };
  const mf = path.join(dir, "manifest.json");
  writeFileSync(mf, JSON.stringify(manifest));
  const p = Bun.spawn(["python3", path.join(ROOT, "bench/py/fw_transcribe.py"), mf], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`faster-whisper reference failed (${code}): ${err.trim() || out}\n(run scripts/test-setup.sh)`);
  return JSON.parse(out) as { items: FwItem[] };
}

function firstDiff(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

async function runModel(modelDir: string, items: Item[], dir: string, computeType: string): Promise<{ same: number; sameBatched: number; total: number; lines: string[] }> {
  const lines: string[] = [];
  const ref = await fasterWhisper(modelDir, items, dir, computeType);
  const engine = await createWhisperEngine({ modelPath: modelDir, device: "cpu", computeType, cpuThreads: THREADS, maxWorkers: 1, beamSize: 1, maxNewTokens: MAX_NEW_TOKENS, batchSize: 16 });
  try {
    const alone: EngineResult[] = [];
    for (const it of items) alone.push(await engine.transcribe({ audio: it.audio, language: it.language, streamKey: "alone" }));
    const batched = await Promise.all(items.map((it, i) => engine.transcribe({ audio: it.audio, language: it.language, streamKey: `s${i}` })));
    let same = 0;
    let sameBatched = 0;
    items.forEach((it, i) => {
      const fw = ref.items[i]!;
      const a = alone[i]!;
      const b = batched[i]!;
      const d = firstDiff(fw.tokens, a.tokens);
      const db = firstDiff(fw.tokens, b.tokens);
      if (d < 0) same++;
      if (db < 0) sameBatched++;
      const lang = `${a.language}${a.language === fw.language ? "" : `≠fw:${fw.language}`}`;
      lines.push(
        `  ${d < 0 ? "same" : "DIFF"} ${db < 0 ? "same" : "DIFF"}  ${it.name.padEnd(24)} ${String(a.tokens.length).padStart(3)} tok  lang ${lang.padEnd(6)} ` +
          `avg_logprob ${a.avgLogprob.toFixed(4)} (fw ${fw.avg_logprob.toFixed(4)})  no_speech ${a.noSpeechProb.toFixed(4)} (fw ${fw.no_speech_prob.toFixed(4)})  batch ${b.batchSize}`,
      );
      for (const [label, dd, r] of [["alone", d, a], ["batched", db, b]] as const) {
        if (dd < 0) continue;
        lines.push(`      ${label}: first difference at token ${dd}: engine ${JSON.stringify(r.tokens.slice(dd, dd + 5))} vs faster-whisper ${JSON.stringify(fw.tokens.slice(dd, dd + 5))}`);
        lines.push(`        engine: ${r.text}`);
        lines.push(`        fw:     ${fw.text}`);
      }
    });
    return { same, sameBatched, total: items.length, lines };
  } finally {
    await engine.close();
  }
}

const dir = mkdtempSync(path.join(tmpdir(), "stt-parity-"));
try {
  const { english, multilingual } = await utterances();
  const models: [string, Item[]][] = [[path.join(ROOT, "models/tiny.en"), english]];
  const base = path.join(ROOT, "models/base");
  if (existsSync(path.join(base, "model.bin"))) models.push([base, multilingual]);
  else console.log("(models/base missing — run scripts/test-setup.sh for the multilingual part)");
  const summary: string[] = [];
  for (const ct of COMPUTE_TYPES) {
    let same = 0;
    let sameB = 0;
    let total = 0;
    console.log(`\n== ${ct}: parity vs faster-whisper 1.2.1, beam 1, temperature 0, without_timestamps, max_new_tokens ${MAX_NEW_TOKENS}, ${THREADS} threads`);
    console.log("  alone batched");
    for (const [m, items] of models) {
      console.log(`${path.basename(m)}:`);
      const r = await runModel(m, items, dir, ct);
      for (const l of r.lines) console.log(l);
      same += r.same;
      sameB += r.sameBatched;
      total += r.total;
    }
    summary.push(`${ct}: identical token ids ${same}/${total} alone, ${sameB}/${total} batched`);
    if (ct.startsWith("float32") && (same < total || sameB < total)) process.exitCode = 1;
  }
  console.log("\n" + summary.join("\n"));
  console.log(
    "\nWhy int8 can differ: the log-mel features match numpy's float32 pipeline to ~2e-7 but not bit for bit " +
      "(pocketfft float32 FFT, OpenBLAS sgemm summation order and numpy's SIMD float32 log10 all round differently), " +
      "and int8 inference re-quantizes activations dynamically, so a 1-ulp input change can flip a rounding step and, at a " +
      "near-tie between two tokens, greedy decoding (checked: faster-whisper's own numpy features through CTranslate2 with this " +
      "prompt and these options give faster-whisper's tokens, ours give ours). float32 inference, which has no quantization step, shows the decoding recipe itself is the same.",
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
