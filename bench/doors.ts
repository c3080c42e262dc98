/**
 * bench:doors: the same real-time streams through each front door of one
 * server, in one run: Socket.IO (the seed protocol), Deepgram /v1/listen and
 * OpenAI Realtime. Per door and stream count: final latency p50/p95 (from the
 * moment the utterance's last sample, padding included, was sent to its final
 * arriving) and interim cadence (gap between a stream's interim updates).
 *
 *   bun run bench:doors [--clients 1,4] [--seconds 30] [--seed 7]
 */
import { io as connect } from "socket.io-client";
import { arg } from "./lib/args.ts";
import { ServerProcess } from "./lib/server-process.ts";
import { buildStream, loadClips, percentile, rng } from "./lib/speech.ts";

type Door = "socketio" | "deepgram" | "openai";
const DOORS: Door[] = ["socketio", "deepgram", "openai"];
const CHUNK_MS = 100;
const CHUNK = (16000 * CHUNK_MS) / 1000;

interface StreamFigures {
  latencies: number[];
  interimGaps: number[];
  finals: number;
}

/** What a door client must do: send a chunk, report finals (with their stream end time) and interims. */
interface DoorClient {
  send(chunk: Int16Array): void;
  finish(): Promise<void>;
}

type Report = { final(endSeconds: number): void; interim(): void };

async function socketioClient(url: string, id: string, r: Report): Promise<DoorClient> {
  const s = connect(url, { transports: ["websocket"], forceNew: true, reconnection: false, auth: { interim_results: true, word_timestamps: true } });
  await new Promise<void>((res, rej) => (s.once("connect", () => res()), s.once("connect_error", rej)));
  s.on("transcription", (p: { end: number }) => r.final(p.end));
  s.on("transcription_interim", () => r.interim());
  return {
    send: (chunk) => s.emit("audio_data", { clientId: id, audioData: chunk.slice().buffer }),
    finish: async () => {
      await s.emitWithAck("finalize", { clientId: id });
      await Bun.sleep(3000);
      s.disconnect();
    },
  };
}

async function wsOpen(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  await new Promise<void>((res, rej) => ((ws.onopen = () => res()), (ws.onerror = () => rej(new Error(`cannot connect to ${url}`)))));
  return ws;
}

async function deepgramClient(url: string, id: string, r: Report): Promise<DoorClient> {
  const ws = await wsOpen(`${url.replace("http", "ws")}/v1/listen?encoding=linear16&sample_rate=16000&channels=1&interim_results=true&punctuate=true&client_id=${id}`);
  ws.onmessage = (m) => {
    const msg = JSON.parse(String(m.data));
    if (msg.type !== "Results") return;
    if (!msg.is_final) r.interim();
    else if (msg.speech_final) r.final(msg.start + msg.duration);
  };
  const closed = new Promise<void>((res) => (ws.onclose = () => res()));
  return {
    send: (chunk) => ws.send(chunk.slice()),
    finish: async () => {
      ws.send(JSON.stringify({ type: "CloseStream" }));
      await Promise.race([closed, Bun.sleep(10_000)]);
    },
  };
}

async function openaiClient(url: string, _id: string, r: Report): Promise<DoorClient> {
  const ws = await wsOpen(`${url.replace("http", "ws")}/v1/realtime?intent=transcription`);
  const ends = new Map<string, number>();
  ws.onmessage = (m) => {
    const msg = JSON.parse(String(m.data));
    if (msg.type === "input_audio_buffer.speech_stopped") ends.set(msg.item_id, msg.audio_end_ms / 1000);
    else if (msg.type === "conversation.item.input_audio_transcription.delta") r.interim();
    else if (msg.type === "conversation.item.input_audio_transcription.completed" && ends.has(msg.item_id)) r.final(ends.get(msg.item_id)!);
  };
  ws.send(JSON.stringify({ type: "session.update", session: { type: "transcription", audio: { input: { format: { type: "audio/pcm", rate: 16000 }, turn_detection: { type: "server_vad" } } } } }));
  return {
    send: (chunk) => ws.send(JSON.stringify({ type: "input_audio_buffer.append", audio: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("base64") })),
    finish: async () => {
      await Bun.sleep(3000);
      ws.close();
    },
  };
}

const CLIENTS: Record<Door, (url: string, id: string, r: Report) => Promise<DoorClient>> = { socketio: socketioClient, deepgram: deepgramClient, openai: openaiClient };

/** Streams `pcm` in real time; a final's latency is its arrival minus when its last sample was sent. */
async function runStream(door: Door, url: string, id: string, pcm: Int16Array): Promise<StreamFigures> {
  const f: StreamFigures = { latencies: [], interimGaps: [], finals: 0 };
  let t0 = 0;
  let lastInterim = 0;
  const client = await CLIENTS[door](url, id, {
    final(end) {
      f.finals++;
      f.latencies.push(performance.now() - (t0 + end * 1000));
    },
    interim() {
      const now = performance.now();
      if (lastInterim > 0) f.interimGaps.push(now - lastInterim);
      lastInterim = now;
    },
  });
  t0 = performance.now();
  for (let i = 0, k = 0; i < pcm.length; i += CHUNK, k++) {
    client.send(pcm.subarray(i, i + CHUNK));
    // Paced against the start, so a slow event loop does not stretch the stream.
    const due = t0 + (k + 1) * CHUNK_MS - performance.now();
    if (due > 0) await Bun.sleep(due);
  }
  await client.finish();
  return f;
}

const counts = arg("clients", "1,4").split(",").map(Number);
const seconds = Number(arg("seconds", "30"));
const seed = Number(arg("seed", "7"));
console.log(`bench:doors seed ${seed}, ${seconds} s per stream, clients ${counts.join(",")}`);
const clips = await loadClips();
const server = new ServerProcess();
const url = await server.start({ host: "127.0.0.1", port: 0, enable_logging: false, capacity: { admission: false } });
const rows: string[] = [];
try {
  for (const n of counts) {
    // Every door gets the same streams (same seed), one door after the other.
    const streams = Array.from({ length: n }, (_, i) => buildStream(rng(seed * 100 + i), clips, seconds).stream);
    for (const door of DOORS) {
      const figures = await Promise.all(streams.map((pcm, i) => runStream(door, url, `bench-${door}-${n}-${i}`, pcm)));
      const lat = figures.flatMap((f) => f.latencies);
      const gaps = figures.flatMap((f) => f.interimGaps);
      const row = `| ${door} | ${n} | ${lat.length} | ${percentile(lat, 50).toFixed(0)} | ${percentile(lat, 95).toFixed(0)} | ${percentile(gaps, 50).toFixed(0)} | ${percentile(gaps, 95).toFixed(0)} |`;
      console.log(row);
      rows.push(row);
    }
  }
} finally {
  await server.stop();
}
console.log("\n| door | streams | finals | final p50 ms | final p95 ms | interim gap p50 ms | interim gap p95 ms |\n|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
