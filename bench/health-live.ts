/**
 * /health under live load: N Socket.IO clients (default 4) stream jfk.flac in
 * real time with interim results on, to a server in its own process, while
 * this process polls /health every 100 ms. Reports every poll's status and
 * latency, the interims delivered, and the engine requests the server counted
 * as superseded (which must never flip /health).
 *
 *   bun run bench:health-live [--clients 4] [--model models/tiny.en] [--loops 2]
 * Writes bench/results/health-live.json.
 */
import { io as connect, type Socket } from "socket.io-client";
import { mkdirSync, writeFileSync } from "node:fs";
import { SHARED_AUDIO, concat, decodeToPcm16, silence } from "../test/support/audio.ts";
import { metric } from "../test/ops/support.ts";
import { percentile } from "./lib/speech.ts";
import { ServerProcess } from "./lib/server-process.ts";
import { arg } from "./lib/args.ts";

const CLIENTS = Number(arg("clients", "4"));
const MODEL = arg("model", "models/tiny.en");
const LOOPS = Number(arg("loops", "2"));

const server = new ServerProcess();
await server.start({ host: "127.0.0.1", port: 0, enable_logging: false, model_path: MODEL, capacity: { admission: false } });
const url = server.url;
const jfk = await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`);
const clip = concat(...Array.from({ length: LOOPS }, () => concat(jfk, silence(1.5))));

const sockets: Socket[] = [];
let interims = 0;
let finals = 0;
for (let i = 0; i < CLIENTS; i++) {
  const s = connect(url, { transports: ["websocket"], forceNew: true, reconnection: false, auth: { interim_results: true } });
  await new Promise<void>((resolve, reject) => (s.once("connect", () => resolve()), s.once("connect_error", reject)));
  s.on("transcription_interim", () => interims++);
  s.on("transcription", () => finals++);
  sockets.push(s);
}

const polls: { status: number; ms: number }[] = [];
let streaming = true;
const poller = (async () => {
  while (streaming) {
    const t0 = performance.now();
    const res = await fetch(`${url}/health`);
    await res.arrayBuffer();
    polls.push({ status: res.status, ms: performance.now() - t0 });
    await Bun.sleep(100);
  }
})();
const step = 1600; // 100 ms
await Promise.all(
  sockets.map(async (s, i) => {
    await Bun.sleep(i * 250); // staggered, so utterances do not all end together
    for (let k = 0; k < clip.length; k += step) {
      s.emit("audio_data", { clientId: `health-live-${i}`, audioData: clip.slice(k, k + step).buffer });
      await Bun.sleep(100);
    }
  }),
);
await Bun.sleep(3000); // the last finals
streaming = false;
await poller;
const text = await (await fetch(`${url}/metrics`)).text();
for (const s of sockets) s.close();
await server.stop();

const ms = polls.map((p) => p.ms);
const result = {
  model: MODEL,
  clients: CLIENTS,
  audioSecondsPerClient: clip.length / 16000,
  polls: polls.length,
  non200: polls.filter((p) => p.status !== 200).length,
  healthMs: { p50: round(percentile(ms, 50)), p99: round(percentile(ms, 99)), max: round(Math.max(...ms)) },
  interimsDelivered: interims,
  finalsDelivered: finals,
  supersededCounted: metric(text, "stt_engine_request_failures_total", { reason: "superseded" }) ?? 0,
  interimLatencyCount: metric(text, "stt_interim_latency_seconds_count") ?? 0,
};
console.log(JSON.stringify(result, null, 2));
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/health-live.json", JSON.stringify({ at: new Date().toISOString(), ...result }, null, 2));

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
