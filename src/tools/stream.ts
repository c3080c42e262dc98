/**
 * bun run stream <file> [--url http://127.0.0.1:2700] [--clientId id] [--realtime] [--chunk-ms 100]
 *
 * Plays an audio file to a running server the way a microphone client would
 * (16 kHz PCM16 chunks of --chunk-ms; paced in real time with --realtime,
 * else fast: a chunk every 8 ms, under the server's per-socket event limit) and prints every transcript that
 * comes back with its latency: from the moment the utterance's last audio
 * sample (its `end`) was sent to the moment the transcript arrived. That
 * includes the VAD's wait for trailing silence (silence_duration minus
 * speech_pad) and the engine time.
 */
import { parseArgs } from "node:util";
import { connect, type SttClient, type TranscriptionPayload } from "../client/index.ts";
import { AudioDecodeError, decodeAudioFile } from "../offline/decode.ts";
import { floatToPcm16 } from "../../public/resampler.js";

const USAGE = `usage: bun run stream <file> [options]

  --url <url>            server (default http://127.0.0.1:2700, or STT_URL)
  --clientId <id>        stream id (default stream-<random>)
  --token <token>        shared token when the server has auth.tokens (or STT_TOKEN)
  --realtime             pace chunks like a live microphone (default: fast, about 120 chunks/s)
  --chunk-ms <ms>        chunk length (default 100)
  --tail-silence <s>     silence appended so the last utterance closes (default 1)
  --idle-ms <ms>         after the end, stop once no transcript came for this long (default 3000)
  --json                 one JSON object per transcript (payload + latency_ms) instead of text
  --quiet                no progress on stderr
`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: "string", default: process.env.STT_URL ?? "http://127.0.0.1:2700" },
        clientId: { type: "string" },
        token: { type: "string", default: process.env.STT_TOKEN },
        realtime: { type: "boolean", default: false },
        "chunk-ms": { type: "string", default: "100" },
        "tail-silence": { type: "string", default: "1" },
        "idle-ms": { type: "string", default: "3000" },
        json: { type: "boolean", default: false },
        quiet: { type: "boolean", short: "q", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values: o, positionals } = parsed;
  if (o.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const chunkMs = Number(o["chunk-ms"]);
  const tail = Number(o["tail-silence"]);
  const idleMs = Number(o["idle-ms"]);
  if (positionals.length !== 1 || !(chunkMs >= 10 && chunkMs <= 5000) || !(tail >= 0) || !(idleMs >= 0)) {
    process.stderr.write(USAGE);
    return 2;
  }
  const file = positionals[0]!;
  let audio: Float32Array;
  try {
    audio = await decodeAudioFile(file);
  } catch (err) {
    if (err instanceof AudioDecodeError) {
      process.stderr.write(`${file}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const pcm = new Int16Array(audio.length + Math.round(tail * 16000));
  pcm.set(floatToPcm16(audio));
  const total = pcm.length / 16000;

  let stt: SttClient;
  try {
    stt = await connect({ url: o.url, clientId: o.clientId ?? `stream-${crypto.randomUUID()}`, token: o.token });
  } catch (err) {
    process.stderr.write(`cannot connect to ${o.url}: ${(err as Error).message}\n`);
    return 1;
  }
  const log = (s: string) => {
    if (!o.quiet) process.stderr.write(s + "\n");
  };
  log(`streaming ${file} (${total.toFixed(1)} s) to ${o.url} as "${stt.clientId}"${o.realtime ? ", real time" : ""}`);

  // sentAt[k]: wall clock (ms) when chunk k left; chunk k covers samples [k*step, (k+1)*step).
  const step = Math.round((chunkMs * 16000) / 1000);
  const sentAt: number[] = [];
  const latencies: number[] = [];
  let lastTranscriptAt = performance.now();
  let errors = 0;
  stt.on("transcription", (t: TranscriptionPayload) => {
    const now = performance.now();
    lastTranscriptAt = now;
    const k = Math.min(sentAt.length - 1, Math.max(0, Math.ceil((t.end * 16000) / step) - 1));
    const latency = sentAt[k] !== undefined ? Math.round(now - sentAt[k]!) : NaN;
    latencies.push(latency);
    if (o.json) process.stdout.write(JSON.stringify({ ...t, latency_ms: latency }) + "\n");
    else process.stdout.write(`[${clock(t.start)} --> ${clock(t.end)}] (${latency} ms) ${t.text}\n`);
  });
  stt.on("error", (e) => {
    errors++;
    process.stderr.write(`server error on ${e.event}: ${e.code}: ${e.message}\n`);
  });
  stt.on("connection", (state, detail) => {
    if (state === "reconnecting" || (state === "disconnected" && detail !== "io client disconnect" && detail !== "closed")) {
      log(`connection ${state}${detail ? `: ${detail}` : ""}`);
    }
  });

  const t0 = performance.now();
  let lastProgress = t0;
  for (let k = 0, i = 0; i < pcm.length; k++, i += step) {
    if (o.realtime) {
      // Pace against the start time, not the previous chunk: no drift.
      const due = t0 + k * chunkMs;
      const wait = due - performance.now();
      if (wait > 0) await Bun.sleep(wait);
    } else {
      // "Fast" still stays under the server's per-socket event limit (max_events_per_second).
      await Bun.sleep(8);
    }
    sentAt.push(performance.now());
    stt.sendAudio(pcm.subarray(i, i + step));
    const now = performance.now();
    if (now - lastProgress > 5000) {
      lastProgress = now;
      log(`sent ${clock(i / 16000)} / ${clock(total)}, ${latencies.length} transcript(s)`);
    }
  }
  // End of stream: open speech is closed and transcribed; then wait for stragglers.
  await stt.cleanup().catch((err) => log(String(err)));
  const endAt = performance.now();
  lastTranscriptAt = Math.max(lastTranscriptAt, endAt);
  while (performance.now() - lastTranscriptAt < idleMs && performance.now() - endAt < 120_000) await Bun.sleep(50);
  stt.close();

  const ok = latencies.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const pct = (p: number) => ok[Math.min(ok.length - 1, Math.floor((p / 100) * ok.length))];
  log(
    `${latencies.length} transcript(s) for ${total.toFixed(1)} s of audio in ${((endAt - t0) / 1000).toFixed(1)} s` +
      (ok.length ? `; latency median ${pct(50)} ms, p95 ${pct(95)} ms, max ${ok[ok.length - 1]} ms` : ""),
  );
  return errors > 0 ? 1 : 0;
}

function clock(s: number): string {
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, "0")}:${(s - m * 60).toFixed(2).padStart(5, "0")}`;
}

process.exit(await main(process.argv.slice(2)));
