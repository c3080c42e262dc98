/**
 * Live-results benchmark: N = 1, 2, 4 Socket.IO clients stream real speech in
 * real time (jfk.flac and espeak-ng sentences, seeded pauses) to a server in
 * its own process, once with interim results and once without, in one run.
 * Then a silence_duration sweep (one stream, interims on) measures what the
 * end-of-utterance silence costs in latency and buys in accuracy.
 *
 * Per run: speech onset → first interim; stable-word latency (when a word
 * first appears in stable_text, or in the final if no interim committed it,
 * minus when its audio ended, from the final's word timings); interim updates
 * per second of speech and the longest gap between updates; flicker (share of
 * not-yet-stable interim words that the final changed); final latency from the
 * end of speech; engine busy share; WER of the finals. Writes
 * bench/results/live.json.
 *
 * The interim encoder window (config interim_window) is compared too: the
 * default for every row, then the other one for one stream.
 *
 *   bun run bench:live [--clients 1,2,4] [--seconds 40] [--silence 0.8] [--sweep 0.5,0.8,1.0] [--compute-type default] [--interim-window full|trimmed] [--other-window 0] [--interval 0.4]
 */
import { io as connect } from "socket.io-client";
import { mkdirSync, writeFileSync } from "node:fs";
import type { TranscriptionInterimPayload, TranscriptionPayload } from "../src/transport/schemas.ts";
import { JFK_TEXT, normalizeText, speak, wordErrorRate, decodeToPcm16, SHARED_AUDIO } from "../test/support/audio.ts";
import { SENTENCES, percentile, rng } from "./lib/speech.ts";
import { ServerProcess } from "./lib/server-process.ts";
import { arg } from "./lib/args.ts";

const CLIENTS = arg("clients", "1,2,4").split(",").map(Number);
const SECONDS = Number(arg("seconds", "40"));
const SILENCE = Number(arg("silence", "0.8"));
const SWEEP = arg("sweep", "0.5,0.8,1.0").split(",").filter(Boolean).map(Number);
const COMPUTE = arg("compute-type", "default");
const SEED = Number(arg("seed", "7"));
const WINDOW = arg("interim-window", "full");
/** Client-side interim_interval (s); "" keeps the server's default. */
const INTERVAL = arg("interval", "");
const PAD = 0.2;

interface Clip {
  name: string;
  pcm: Int16Array;
  text: string;
}
// The speech.ts sentences without "Set a timer" and the ones after "book a table".
const LIVE_SENTENCES = [0, 1, 2, 3, 4, 5, 7, 8].map((i) => SENTENCES[i]!);
async function loadClips(): Promise<Clip[]> {
  const clips: Clip[] = [{ name: "jfk", pcm: await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`), text: JFK_TEXT }];
  const voices = ["en-us", "en-gb", "en-us+f3", "en-gb+m3"];
  for (let i = 0; i < LIVE_SENTENCES.length; i++) {
    clips.push({ name: `espeak-${i}`, pcm: await speak(LIVE_SENTENCES[i]!, voices[i % voices.length]!, 150 + (i % 3) * 15), text: LIVE_SENTENCES[i]! });
  }
  return clips;
}

// --- server in its own process: bench/lib/server-process.ts -----------------------------
const server = new ServerProcess();

// --- one client --------------------------------------------------------------------------
interface Interim extends TranscriptionInterimPayload {
  at: number;
}
interface Final extends TranscriptionPayload {
  at: number;
}
interface ClientLog {
  /** Wall ms at which stream sample 0 was sent; chunks are paced to the wall clock from it. */
  t0: number;
  interims: Interim[];
  finals: Final[];
  speechStarts: { start: number; at: number }[];
  reference: string[];
}

async function runClient(url: string, id: string, clips: Clip[], seconds: number, seed: number, interims: boolean): Promise<ClientLog> {
  const r = rng(seed);
  const s = connect(url, { transports: ["websocket"], forceNew: true, reconnection: false, auth: { interim_results: interims, word_timestamps: true, vad_events: true, ...(INTERVAL ? { interim_interval: Number(INTERVAL) } : {}) } });
  await new Promise<void>((res, rej) => (s.once("connect", () => res()), s.once("connect_error", rej)));
  const log: ClientLog = { t0: 0, interims: [], finals: [], speechStarts: [], reference: [] };
  s.on("transcription_interim", (p: TranscriptionInterimPayload) => log.interims.push({ ...p, at: performance.now() }));
  s.on("transcription", (p: TranscriptionPayload) => log.finals.push({ ...p, at: performance.now() }));
  s.on("speech_started", (p: { start: number }) => log.speechStarts.push({ start: p.start, at: performance.now() }));
  // The stream: clips in a seeded order with 1-2 s pauses, until `seconds`.
  const parts: Int16Array[] = [new Int16Array(Math.round(16000 * r()))];
  let total = parts[0]!.length;
  while (total < seconds * 16000) {
    const clip = clips[Math.floor(r() * clips.length)]!;
    log.reference.push(clip.text);
    const pause = new Int16Array(Math.round(16000 * (1 + r())));
    parts.push(clip.pcm, pause);
    total += clip.pcm.length + pause.length;
  }
  parts.push(new Int16Array(16000 * 2));
  const pcm = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) pcm.set(p, off), (off += p.length);
  const step = 1600;
  log.t0 = performance.now();
  for (let i = 0; i < pcm.length; i += step) {
    s.emit("audio_data", { clientId: id, audioData: pcm.slice(i, i + step).buffer });
    const due = log.t0 + ((i + step) / 16000) * 1000;
    await Bun.sleep(Math.max(0, due - performance.now()));
  }
  const until = performance.now() + 8000;
  while (performance.now() < until && log.finals.length < log.reference.length) await Bun.sleep(50);
  await Bun.sleep(300);
  s.disconnect();
  return log;
}

// --- figures -----------------------------------------------------------------------------
const words = (t: string) => t.split(/\s+/).filter(Boolean);

function analyse(logs: ClientLog[]) {
  const onset: number[] = [];
  const stable: number[] = [];
  const finalLatency: number[] = [];
  const rates: number[] = [];
  const gaps: number[] = [];
  const speakingGaps: number[] = [];
  const endGaps: number[] = [];
  const slow: { word: string; ms: number; via: "interim" | "final"; beforeEndS: number; final: string }[] = [];
  let unstable = 0;
  let changed = 0;
  let wer = 0;
  for (const log of logs) {
    const wall = (streamSec: number) => log.t0 + streamSec * 1000;
    for (const f of log.finals) {
      const mine = log.interims.filter((i) => i.seq === f.seq && i.at <= f.at);
      const speechEnd = f.final ? f.end - PAD : f.end;
      finalLatency.push(f.at - wall(speechEnd));
      const started = log.speechStarts.filter((s) => s.start <= f.start + PAD + 0.05 && s.start >= f.start - 0.05).at(-1);
      if (mine.length > 0 && started) onset.push(mine[0]!.at - wall(started.start));
      // Updates while speaking: interims and then the final, from the speech onset.
      const times = [started ? wall(started.start) : wall(f.start), ...mine.map((i) => i.at), f.at];
      for (let k = 1; k < times.length; k++) gaps.push(times[k]! - times[k - 1]!);
      // The same gaps split: while the person speaks (onset and interims), and
      // the last one, across the trailing silence to the final, where the
      // server sends no interim on purpose (the speaker has stopped).
      for (let k = 1; k < times.length - 1; k++) speakingGaps.push(times[k]! - times[k - 1]!);
      if (times.length >= 2) endGaps.push(times[times.length - 1]! - times[times.length - 2]!);
      const speechSeconds = Math.max(0.5, speechEnd - f.start - PAD);
      rates.push(mine.length / speechSeconds);
      // Stable-word latency: first moment each final word was committed.
      const fw = f.words ?? [];
      fw.forEach((w, k) => {
        const first = mine.find((i) => words(i.stable_text).length > k);
        const ms = (first ? first.at : f.at) - wall(w.end);
        stable.push(ms);
        slow.push({ word: w.word.trim(), ms: Math.round(ms), via: first ? "interim" : "final", beforeEndS: Math.round((speechEnd - w.end) * 100) / 100, final: f.text });
      });
      // Flicker: interim words past the stable prefix that the final changed.
      const finalWords = words(normalizeText(f.text));
      for (const i of mine) {
        const all = words(normalizeText(i.text));
        for (let k = words(i.stable_text).length; k < all.length; k++) {
          unstable++;
          if (finalWords[k] !== all[k]) changed++;
        }
      }
    }
    wer += wordErrorRate(log.reference.join(" "), log.finals.map((f) => f.text).join(" "));
  }
  const p = (xs: number[], q: number) => Math.round(percentile(xs, q));
  return {
    utterances: logs.reduce((n, l) => n + l.finals.length, 0),
    onsetToFirstInterimMs: { p50: p(onset, 50), p95: p(onset, 95) },
    stableWordLatencyMs: { p50: p(stable, 50), p95: p(stable, 95) },
    interimsPerSecond: Math.round((rates.reduce((a, b) => a + b, 0) / Math.max(1, rates.length)) * 100) / 100,
    updateGapMs: { p50: p(gaps, 50), p95: p(gaps, 95) },
    speakingGapMs: { p50: p(speakingGaps, 50), p95: p(speakingGaps, 95) },
    endGapMs: { p50: p(endGaps, 50), p95: p(endGaps, 95) },
    // The words that waited longest, to see what holds the commit back.
    slowestWords: slow.sort((a, b) => b.ms - a.ms).slice(0, 20),
    flicker: unstable ? Math.round((changed / unstable) * 1000) / 1000 : 0,
    finalLatencyMs: { p50: p(finalLatency, 50), p95: p(finalLatency, 95) },
    wer: Math.round((wer / logs.length) * 1000) / 1000,
  };
}

async function run(clips: Clip[], n: number, interims: boolean, silence: number, window = WINDOW) {
  const url = await server.start({
    host: "127.0.0.1",
    port: 0,
    enable_logging: false,
    compute_type: COMPUTE,
    interim_window: window,
    silence_duration: silence,
    speech_pad: PAD,
    limits: { max_queued_utterances: 64 },
    capacity: { admission: false }, // measure the engine's own behaviour; bench:overload measures admission
  });
  await server.stats(); // reset the child's counters window
  const t0 = performance.now();
  const logs = await Promise.all(Array.from({ length: n }, (_, k) => runClient(url, `live-${n}-${k}`, clips, SECONDS, SEED * 100 + k, interims)));
  const wallMs = performance.now() - t0;
  const st = await server.stats();
  await server.stop();
  // Share of the executors' time: with two workers, both busy all along is 1.
  const busy = (st.server.engineBusyMs ?? 0) / wallMs / Math.max(1, st.server.engineWorkers ?? 1);
  const transcripts = logs.map((l) => ({ reference: l.reference.join(" "), finals: l.finals.map((f) => f.text).join(" | ") }));
  // How long finals waited for an executor: what interims cost them in queueing (the rest is CPU).
  const waits = st.server.engine?.queueWaitMs ?? [];
  const finalWaitMs = { p95: Math.round(percentile(waits, 95)), max: Math.round(Math.max(0, ...waits)), behindInterims: st.server.finalsBehindInterims ?? 0 };
  return { clients: n, interims, window, silence, ...analyse(logs), finalWaitMs, engineBusyShare: Math.round(busy * 1000) / 1000, server: st.server.interims, guards: st.server.guards, transcripts };
}

const clips = await loadClips();
console.log(`bench:live: ${SECONDS} s per run, seed ${SEED}, compute_type ${COMPUTE}, silence_duration ${SILENCE}, interim_window ${WINDOW}, interim_interval ${INTERVAL || "server default"}`);
const results = [];
const row = (r: Awaited<ReturnType<typeof run>>) =>
  [
    r.clients,
    r.interims ? `on (${r.window})` : "off",
    r.silence,
    r.utterances,
    `${r.onsetToFirstInterimMs.p50}/${r.onsetToFirstInterimMs.p95}`,
    `${r.stableWordLatencyMs.p50}/${r.stableWordLatencyMs.p95}`,
    r.interimsPerSecond,
    `${r.updateGapMs.p50}/${r.updateGapMs.p95}`,
    `${r.speakingGapMs.p50}/${r.speakingGapMs.p95}`,
    r.flicker,
    `${r.finalLatencyMs.p50}/${r.finalLatencyMs.p95}`,
    `${r.finalWaitMs.p95}/${r.finalWaitMs.max} (${r.finalWaitMs.behindInterims} behind an interim)`,
    r.engineBusyShare,
    r.wer,
  ].join(" | ");
console.log("N | interims | silence | utts | onset→1st interim p50/p95 ms | stable word p50/p95 ms | interims/s | update gap p50/p95 ms | of which while speaking | flicker | final p50/p95 ms | final's queue wait p95/max ms | engine busy | WER");
for (const n of CLIENTS) {
  for (const interims of [true, false]) {
    const r = await run(clips, n, interims, SILENCE);
    results.push(r);
    console.log(row(r));
  }
}
// The other interim window, one stream, for the accuracy/latency trade-off (--other-window 0 skips it).
if (arg("other-window", "1") !== "0") {
  const other = WINDOW === "full" ? "trimmed" : "full";
  const r = await run(clips, 1, true, SILENCE, other);
  results.push(r);
  console.log(row(r));
}
for (const silence of SWEEP) {
  const r = await run(clips, 1, true, silence);
  results.push({ ...r, sweep: true });
  console.log(row(r) + "  (silence sweep)");
}
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/live.json", JSON.stringify({ seconds: SECONDS, seed: SEED, computeType: COMPUTE, results }, null, 2));
console.log("wrote bench/results/live.json");
