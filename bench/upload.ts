/**
 * Upload benchmark: what POST /v1/audio/transcriptions costs the server per
 * MiB uploaded, and whether /health keeps answering meanwhile. The server
 * runs in its own process (bench/lib/server-process.ts); while each upload is
 * in flight this process polls /health every 20 ms (latency of every poll)
 * and samples the server's RSS and event-loop lag.
 *
 * Cases: the 60 MiB WAV that declares 8-bit mono at 1 kHz (17 h: refused 413
 * from its header), then WAVs of quiet noise at 16 kHz 16-bit mono of
 * growing size (decoded, resampled, scanned by the VAD; nothing to transcribe),
 * and one 8 kHz 8-bit "call recording" (resampled to 16 kHz).
 *
 *   bun run bench:upload [--sizes 4,16,32] [--call 8] [--seed 7]
 * Writes bench/results/upload.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { ServerProcess } from "./lib/server-process.ts";
import { percentile, rng } from "./lib/speech.ts";
import { arg } from "./lib/args.ts";

const MiB = 1024 * 1024;
const SIZES = arg("sizes", "4,16,32").split(",").map(Number);
const SEED = Number(arg("seed", "7"));
const CALL_MIB = Number(arg("call", "8"));

function wav(bytes: number, rate: number, bits: 8 | 16, fill: (i: number) => number): Uint8Array {
  const out = new Uint8Array(44 + bytes);
  const v = new DataView(out.buffer);
  const text = (s: string, at: number) => out.set(new TextEncoder().encode(s), at);
  text("RIFF", 0);
  v.setUint32(4, 36 + bytes, true);
  text("WAVEfmt ", 8);
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true);
  v.setUint16(22, 1, true);
  v.setUint32(24, rate, true);
  v.setUint32(28, (rate * bits) / 8, true);
  v.setUint16(32, bits / 8, true);
  v.setUint16(34, bits, true);
  text("data", 36);
  v.setUint32(40, bytes, true);
  if (bits === 8) for (let i = 0; i < bytes; i++) out[44 + i] = 128 + fill(i);
  else for (let i = 0; i < bytes / 2; i++) v.setInt16(44 + 2 * i, fill(i), true);
  return out;
}

interface Row {
  name: string;
  mib: number;
  audioSeconds: number;
  status: number;
  code: string | null;
  ms: number;
  msPerMiB: number;
  rssBaseMiB: number;
  rssPeakDeltaMiB: number;
  rssPeakDeltaPerMiB: number;
  loopLagMaxMs: number;
  health: { polls: number; non200: number; p50: number; p99: number; max: number };
}

const server = new ServerProcess();
await server.start({ host: "127.0.0.1", port: 0, enable_logging: false, max_workers: 1, capacity: { admission: false } });
const url = server.url;

async function run(name: string, file: Uint8Array, audioSeconds: number): Promise<Row> {
  await server.stats(); // resets the lag window
  const base = (await server.stats()).rss;
  let peak = base;
  let lagMax = 0;
  const latencies: number[] = [];
  let non200 = 0;
  let busy = true;
  const poll = (async () => {
    while (busy) {
      const t0 = performance.now();
      const res = await fetch(`${url}/health`);
      await res.arrayBuffer();
      latencies.push(performance.now() - t0);
      if (res.status !== 200) non200++;
      await Bun.sleep(20);
    }
  })();
  const sample = (async () => {
    while (busy) {
      const s = await server.stats();
      peak = Math.max(peak, s.rss);
      lagMax = Math.max(lagMax, ...s.lag, 0);
      await Bun.sleep(50);
    }
  })();
  const form = new FormData();
  form.set("model", "whisper-1");
  form.set("file", new File([file as Uint8Array<ArrayBuffer>], `${name}.wav`));
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/audio/transcriptions`, { method: "POST", body: form });
  const body = (await res.json()) as { error?: { code: string } };
  const ms = performance.now() - t0;
  busy = false;
  await Promise.all([poll, sample]);
  const s = await server.stats();
  peak = Math.max(peak, s.rss);
  lagMax = Math.max(lagMax, ...s.lag, 0);
  const mib = file.length / MiB;
  const sorted = [...latencies].sort((a, b) => a - b);
  const row: Row = {
    name,
    mib: round(mib),
    audioSeconds: round(audioSeconds),
    status: res.status,
    code: body.error?.code ?? null,
    ms: round(ms),
    msPerMiB: round(ms / mib),
    rssBaseMiB: round(base / MiB),
    rssPeakDeltaMiB: round((peak - base) / MiB),
    rssPeakDeltaPerMiB: round((peak - base) / MiB / mib),
    loopLagMaxMs: round(lagMax),
    health: { polls: latencies.length, non200, p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), max: round(sorted.at(-1) ?? NaN) },
  };
  console.log(JSON.stringify(row));
  return row;
}

const rows: Row[] = [];
try {
  rows.push(await run("bomb-60MiB-8bit-1kHz", wav(60 * MiB, 1000, 8, () => 0), (60 * MiB) / 1000));
  const random = rng(SEED);
  for (const size of SIZES) {
    const bytes = size * MiB;
    rows.push(await run(`noise-${size}MiB-16kHz`, wav(bytes, 16000, 16, () => Math.round((random() - 0.5) * 40)), bytes / 2 / 16000));
  }
  const call = CALL_MIB * MiB; // 8 kHz 8-bit: 2.2 minutes per MiB
  rows.push(await run(`call-${CALL_MIB}MiB-8kHz-8bit`, wav(call, 8000, 8, () => Math.round((random() - 0.5) * 4)), call / 8000));
} finally {
  await server.stop();
}
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/upload.json", JSON.stringify({ seed: SEED, at: new Date().toISOString(), rows }, null, 2));

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
