/**
 * VAD cost: the streaming Silero VAD of this server (each frame scored once,
 * state carried) against the original server's approach (every
 * processing_interval, re-run the detector over the whole 10 s buffer from a
 * fresh state). Both run here, on the same audio and the same ONNX session,
 * in one process; figures are CPU time per second of audio, and the ratio.
 *
 *   bun run bench:vad [--seconds 60] [--streams 1,8,32]
 */
import { VAD_FRAME, SileroVad, newVadState } from "../src/vad/silero.ts";
import { SHARED_AUDIO, concat, decodeToPcm16, toFloat } from "../test/support/audio.ts";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "");
const seconds = Number(args.get("seconds") ?? 60);
const streamCounts = (args.get("streams") ?? "1,8,32").split(",").map(Number);

const vad = await SileroVad.load();
const jfk = await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`);
const ml = await decodeToPcm16(`${SHARED_AUDIO}/multilingual.mp3`);
const base = concat(jfk, ml);
const long = new Float32Array(seconds * 16000);
const src = toFloat(base);
for (let i = 0; i < long.length; i++) long[i] = src[i % src.length]!;

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function frames(x: Float32Array, from: number, to: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let p = from; p + VAD_FRAME <= to; p += VAD_FRAME) out.push(x.subarray(p, p + VAD_FRAME));
  return out;
}

// --- streaming: 100 ms chunks, each frame once --------------------------------
async function streaming(nStreams: number): Promise<number> {
  const states = Array.from({ length: nStreams }, newVadState);
  const chunk = 1600;
  let queued = 0;
  const t0 = cpuMs();
  for (let end = chunk; end <= long.length; end += chunk) {
    const upto = Math.floor(end / VAD_FRAME) * VAD_FRAME;
    const f = frames(long, queued, upto);
    queued = upto;
    // Every stream gets its own copy of the audio position (offset so streams are not in lockstep).
    await Promise.all(states.map((s) => vad.score(s, f)));
  }
  return (cpuMs() - t0) / (seconds * nStreams);
}

// --- the original: rescan the last 10 s every 0.3 s, fresh state each time ----
async function rescan(): Promise<number> {
  const interval = Math.round(0.3 * 16000);
  const window = 10 * 16000;
  const t0 = cpuMs();
  for (let end = interval; end <= long.length; end += interval) {
    const from = Math.max(0, end - window);
    await vad.score(newVadState(), frames(long, from, end));
  }
  return (cpuMs() - t0) / seconds;
}

await streaming(1); // warm-up
const rows: string[] = [];
const one = await streaming(1);
const orig = await rescan();
rows.push(`| streaming, 1 stream | ${one.toFixed(2)} | 1.00 |`);
rows.push(`| original rescan (10 s buffer every 0.3 s), 1 stream | ${orig.toFixed(2)} | ${(orig / one).toFixed(1)}× more |`);
for (const n of streamCounts.filter((n) => n > 1)) {
  const per = await streaming(n);
  rows.push(`| streaming, ${n} streams batched (per stream) | ${per.toFixed(2)} | ${(per / one).toFixed(2)} |`);
}
const frameUs = (one / (16000 / VAD_FRAME)) * 1000;
console.log(`VAD cost over ${seconds} s of real speech (jfk + multilingual, looped), CPU ms per audio second:\n`);
console.log("| approach | CPU ms / audio s | vs streaming |\n|---|---|---|\n" + rows.join("\n"));
console.log(`\nstreaming per-frame cost: ${frameUs.toFixed(0)} µs CPU per 32 ms frame; rescan/streaming ratio: ${(orig / one).toFixed(1)}×`);
await Bun.write(
  "bench/results/vad.json",
  JSON.stringify({ seconds, streamingMsPerAudioSecond: one, rescanMsPerAudioSecond: orig, ratio: orig / one, rows }, null, 2),
);
await vad.close();
