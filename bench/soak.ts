/**
 * Soak: N clients (default 50) stream short spoken sentences in real time
 * against a server process with the real engine for several minutes, and
 * reconnect at random — between sentences, and sometimes in the middle of
 * one. A monitor socket subscribed to every clientId is the witness:
 *
 *   - no lost utterance: every sentence sent yields a transcript; a sentence
 *     with any chunk refused (an `error` answering its audio) is lost too, as
 *     a real speaker's words would be. Clients reconnect the documented way,
 *     with the resume key from `stream_started`,
 *   - exactly once: no sentence yields two (no duplicate delivery),
 *   - accuracy: the transcripts of whole sentences, against the sentence
 *     text, have a mean WER of at most 0.15 (tiny.en on these voices: about
 *     0.08) and at most 2 % of them a WER over 0.5 (what a transcript of some
 *     other audio, or of half the sentence, scores),
 *   - memory: server RSS growth after warm-up stays under 5 %. Under load RSS
 *     swings by a few hundred MB with the engine's batches and the backlog, so
 *     growth is measured at two quiet checkpoints: at the end of the warm-up
 *     every client finishes its sentence and pauses until all transcripts are
 *     in, the server idles 5 s, and its RSS is sampled (median of 3); the same
 *     again at the end. Under-load RSS (samples every 2 s) is reported too.
 *
 *   bun run soak [--duration 300] [--clients 50] [--seed 1] [--out bench/results/soak.json]
 *
 * Exits 1 when an utterance was lost or duplicated, the WER bounds are missed,
 * or RSS grew 5 % or more.
 */
import { parseArgs } from "node:util";
import { io as connect, type Socket } from "socket.io-client";
import { concat, silence, speak, wordErrorRate } from "../test/support/audio.ts";
import type { TranscriptionPayload, ErrorPayload } from "../src/transport/schemas.ts";
import { percentile, rng } from "./lib/speech.ts";

const { values: args } = parseArgs({
  options: {
    duration: { type: "string", default: "300" },
    clients: { type: "string", default: "50" },
    seed: { type: "string", default: "1" },
    warmup: { type: "string", default: "0.25" },
    out: { type: "string", default: "bench/results/soak.json" },
  },
});
const DURATION_S = Number(args.duration);
const CLIENTS = Number(args.clients);
const WARMUP_S = Math.max(20, DURATION_S * Number(args.warmup));
const random = rng(Number(args.seed));
const MAX_MEAN_WER = 0.15;
const GARBLED_WER = 0.5;
const MAX_GARBLED_SHARE = 0.02;

// Comma-free sentences, so each one is a single utterance for the VAD.
const SENTENCES = [
  "Please turn on the lights in the kitchen",
  "The meeting has been moved to Thursday afternoon",
  "Set a timer for twelve minutes",
  "How far is the nearest train station from here",
  "I would like to book a table for four people tonight",
  "The package should arrive before the end of the week",
  "Send a message to the team saying I will be late",
  "Our quarterly numbers look better than we expected",
];
const VOICES = ["en-us", "en-gb"];

// --- server process ----------------------------------------------------------------
type ChildMsg = { type: "ready"; port: number } | { type: "stats"; rss: number; cpuMs: number; server: { sessions: number; utterances: number } };
const inbox: ((m: ChildMsg) => void)[] = [];
const child = Bun.spawn(["bun", "bench/lib/server-child.ts", JSON.stringify({ host: "127.0.0.1", port: 0, enable_logging: false, capacity: { admission: false } })], {
  stdout: "inherit",
  stderr: "inherit",
  ipc: (m: ChildMsg) => inbox.shift()?.(m),
});
const port = await new Promise<number>((resolve) => inbox.push((m) => m.type === "ready" && resolve(m.port)));
const url = `http://127.0.0.1:${port}`;
async function serverStats(gc = false) {
  const p = new Promise<ChildMsg>((r) => inbox.push(r));
  child.send({ type: "stats", gc });
  return (await p) as Extract<ChildMsg, { type: "stats" }>;
}

// --- material --------------------------------------------------------------------------
const clips: { text: string; pcm: Int16Array }[] = [];
for (let i = 0; i < SENTENCES.length; i++) {
  clips.push({ text: SENTENCES[i]!, pcm: concat(silence(0.2), await speak(SENTENCES[i]!, VOICES[i % VOICES.length]!, 160)) });
}
const TAIL = silence(1.0);

// --- the witness -------------------------------------------------------------------
interface Pending {
  clip: number;
  sentAt: number;
  cut: boolean;
  transcripts: TranscriptionPayload[];
}
const open = new Map<string, Pending>(); // clientId → sentence being waited for
const stats = {
  sent: 0,
  cutMidSentence: 0,
  delivered: 0,
  lost: 0,
  duplicated: 0,
  stray: 0,
  reconnects: 0,
  refused: 0,
  refusedCodes: new Map<string, number>(),
  latencies: [] as number[],
  wer: [] as number[],
  errors: new Map<string, number>(),
};
const monitor = connect(url, { transports: ["websocket"], forceNew: true });
await new Promise<void>((r) => monitor.once("connect", () => r()));
const ids = Array.from({ length: CLIENTS }, (_, i) => `soak-${i}`);
for (const id of ids) await monitor.emitWithAck("subscribe_transcripts", { clientId: id });
// Exactly-once at the utterance level: the same payload (clientId, stream
// times, production time) must never reach the monitor twice.
const seen = new Set<string>();
let monitorTranscripts = 0;
let duplicatePayloads = 0;
monitor.on("transcription", (p: TranscriptionPayload) => {
  monitorTranscripts++;
  const key = `${p.client_id}|${p.start}|${p.end}|${p.ts}`;
  if (seen.has(key)) duplicatePayloads++;
  seen.add(key);
  const w = open.get(p.client_id);
  // A transcript arriving after its sentence's window: the VAD split that
  // sentence and the later part came late (counted, not a loss or duplicate).
  if (!w) return void stats.stray++;
  w.transcripts.push(p);
});

// --- one client ------------------------------------------------------------------------
const resumeKeys = new Map<string, string>(); // clientId → key from stream_started
function newSocket(id: string): Promise<Socket> {
  const resumeKey = resumeKeys.get(id);
  const s = connect(url, {
    transports: random() < 0.8 ? ["websocket"] : ["polling", "websocket"],
    forceNew: true,
    reconnection: false,
    auth: { resumable: true, ...(resumeKey ? { resumeKey } : {}) },
  });
  s.on("error", (e: ErrorPayload) => stats.errors.set(e.code, (stats.errors.get(e.code) ?? 0) + 1));
  s.on("stream_started", (p: { clientId: string; resumeKey: string }) => resumeKeys.set(p.clientId, p.resumeKey));
  return new Promise((resolve, reject) => {
    s.once("connect", () => resolve(s));
    s.once("connect_error", reject);
  });
}

const deadline = performance.now() + DURATION_S * 1000;
let paused = false; // the warm-up checkpoint: no new sentence while set
async function runClient(id: string): Promise<void> {
  let s = await newSocket(id);
  await Bun.sleep(random() * 4000); // stagger
  while (performance.now() < deadline) {
    while (paused) await Bun.sleep(100);
    const k = Math.floor(random() * clips.length);
    const clip = clips[k]!;
    const cut = random() < 0.06; // hang up in the middle of this sentence
    const audio = cut ? clip.pcm.slice(0, Math.floor(clip.pcm.length * (0.6 + random() * 0.2))) : concat(clip.pcm, TAIL);
    const w: Pending = { clip: k, sentAt: 0, cut, transcripts: [] };
    open.set(id, w);
    let refused = false;
    const onErr = (e: ErrorPayload) => {
      if (e.event === "audio_data") {
        refused = true;
        stats.refusedCodes.set(e.code, (stats.refusedCodes.get(e.code) ?? 0) + 1);
      }
    };
    s.on("error", onErr);
    const speechEnd = Math.min(audio.length, clip.pcm.length);
    let speechEndAt = 0;
    for (let i = 0; i < audio.length; i += 1600) {
      s.emit("audio_data", { clientId: id, audioData: audio.slice(i, i + 1600).buffer });
      if (!speechEndAt && i + 1600 >= speechEnd) speechEndAt = Date.now();
      await Bun.sleep(100);
    }
    w.sentAt = performance.now();
    stats.sent++;
    if (refused) stats.refused++;
    if (cut) {
      stats.cutMidSentence++;
      stats.reconnects++;
      s.close();
    }
    // Wait for the transcript (the flush after a hang-up, or the trailing silence).
    const t0 = performance.now();
    // Refused audio may yield no transcript at all: no need to wait long for one.
    while (w.transcripts.length === 0 && performance.now() - t0 < (refused ? 5000 : 120_000)) await Bun.sleep(50);
    await Bun.sleep(1500); // a duplicate would arrive by now
    s.off("error", onErr); // errors answering late chunks count too
    open.delete(id);
    // Refused audio is lost speech, whatever came back for the rest of the sentence.
    if (w.transcripts.length === 0 || refused) stats.lost++;
    else {
      stats.delivered++;
      if (w.transcripts.length > 1) stats.duplicated++;
      // From the last chunk of speech sent to the transcript (includes silence_duration and the VAD's end-of-speech wait).
      stats.latencies.push(w.transcripts[0]!.ts * 1000 - speechEndAt);
      if (!cut) stats.wer.push(wordErrorRate(clip.text, w.transcripts.map((t) => t.text).join(" ")));
    }
    if (cut) s = await newSocket(id);
    else if (random() < 0.15) {
      // Reconnect between sentences.
      stats.reconnects++;
      s.close();
      await Bun.sleep(200 + random() * 800);
      s = await newSocket(id);
    } else await Bun.sleep(random() * 3000);
  }
  s.close();
}

// --- run --------------------------------------------------------------------------------
const t0 = performance.now();
const rss: { t: number; mb: number }[] = [];
const sampler = setInterval(async () => {
  const st = await serverStats();
  rss.push({ t: (performance.now() - t0) / 1000, mb: st.rss / 1024 / 1024 });
}, 2000);
const progress = setInterval(() => {
  const last = rss.at(-1);
  console.log(
    `[soak] ${((performance.now() - t0) / 1000).toFixed(0)} s: sent ${stats.sent}, delivered ${stats.delivered}, lost ${stats.lost}, duplicated ${stats.duplicated}, reconnects ${stats.reconnects}, server RSS ${last?.mb.toFixed(0) ?? "?"} MB`,
  );
}, 30_000);
/**
 * RSS of the idle server: wait for every transcript, idle 5 s, then median of
 * 3 samples each taken after a full JS collection, so garbage the collector
 * has not got to yet is not counted as growth; what is still referenced is.
 */
async function quietRss(): Promise<number> {
  while (open.size > 0) await Bun.sleep(100);
  // Late parts of split sentences may still be queued: wait until none arrives for 3 s.
  for (let last = -1, t = performance.now(); performance.now() - t < 120_000; ) {
    if (last === monitorTranscripts) break;
    last = monitorTranscripts;
    await Bun.sleep(3000);
  }
  await Bun.sleep(5000);
  const xs: number[] = [];
  for (let i = 0; i < 3; i++) {
    xs.push((await serverStats(true)).rss / 1024 / 1024);
    await Bun.sleep(1000);
  }
  return percentile(xs, 50);
}
let warmQuietMb = NaN;
const checkpoint = (async () => {
  await Bun.sleep(WARMUP_S * 1000);
  paused = true;
  warmQuietMb = await quietRss();
  console.log(`[soak] warm-up checkpoint: idle server RSS ${warmQuietMb.toFixed(1)} MB`);
  paused = false;
})();
console.log(`[soak] ${CLIENTS} clients for ${DURATION_S} s against ${url} (warm-up ${WARMUP_S.toFixed(0)} s)`);
await Promise.all(ids.map((id) => runClient(id)));
await checkpoint;
const endQuietMb = await quietRss();
console.log(`[soak] end checkpoint: idle server RSS ${endQuietMb.toFixed(1)} MB`);
clearInterval(sampler);
clearInterval(progress);
const metricsText = await (await fetch(`${url}/metrics`)).text();
const final = await serverStats();
monitor.close();
child.send({ type: "stop" });
await child.exited;

const median = (xs: number[]) => percentile(xs, 50);
const afterWarm = rss.filter((r) => r.t >= WARMUP_S).map((r) => r.mb);
const third = Math.max(1, Math.floor(afterWarm.length / 3));
const warmMb = median(afterWarm.slice(0, third));
const endMb = median(afterWarm.slice(-third));
const growth = (endQuietMb - warmQuietMb) / warmQuietMb;
const meanWer = stats.wer.reduce((a, b) => a + b, 0) / stats.wer.length; // NaN with none scored: fails below
const garbledShare = stats.wer.filter((w) => w > GARBLED_WER).length / stats.wer.length;
const result = {
  date: new Date().toISOString(),
  clients: CLIENTS,
  durationS: DURATION_S,
  warmupS: WARMUP_S,
  sent: stats.sent,
  cutMidSentence: stats.cutMidSentence,
  delivered: stats.delivered,
  lost: stats.lost,
  duplicated: stats.duplicated,
  strayTranscripts: stats.stray,
  reconnects: stats.reconnects,
  /** Sentences with refused audio (counted as lost), and the refusals by code. */
  refusedSentences: stats.refused,
  refusedChunks: Object.fromEntries(stats.refusedCodes),
  errors: Object.fromEntries(stats.errors),
  latencyMs: { p50: median(stats.latencies), p95: percentile(stats.latencies, 95), max: Math.max(...stats.latencies) },
  meanWer,
  werScored: stats.wer.length,
  garbledShare,
  rssMb: {
    first: rss[0]?.mb,
    idleAfterWarmup: warmQuietMb,
    idleAtEnd: endQuietMb,
    growthAfterWarmupPct: growth * 100,
    underLoad: { medianFirstThirdAfterWarmup: warmMb, medianLastThird: endMb, min: Math.min(...afterWarm), max: Math.max(...afterWarm) },
  },
  serverUtterances: final.server.utterances,
  serverTranscripts: Number(/^stt_transcripts_total (\d+)/m.exec(metricsText)?.[1] ?? NaN),
  monitorTranscripts,
  duplicatePayloads,
  engineErrors: /stt_errors_total\{code="(engine_error|queue_full)"\} (\d+)/.exec(metricsText)?.[0] ?? "none",
  rssSamples: rss.map((r) => [Math.round(r.t), Math.round(r.mb)]),
};
await Bun.write(args.out!, JSON.stringify(result, null, 2));
console.log(JSON.stringify({ ...result, rssSamples: undefined }, null, 2));
const serverTranscripts = result.serverTranscripts;
const accurate = meanWer <= MAX_MEAN_WER && garbledShare <= MAX_GARBLED_SHARE;
const ok = stats.lost === 0 && stats.duplicated === 0 && duplicatePayloads === 0 && monitorTranscripts === serverTranscripts && accurate && growth < 0.05;
console.log(
  `[soak] ${ok ? "PASS" : "FAIL"}: ${stats.sent} sentences, lost ${stats.lost}, duplicated ${stats.duplicated}; ` +
    `${serverTranscripts} transcripts produced, ${monitorTranscripts} received by the monitor (${duplicatePayloads} duplicate payloads); ` +
    `mean WER ${meanWer.toFixed(3)} (max ${MAX_MEAN_WER}), ${(garbledShare * 100).toFixed(1)} % over ${GARBLED_WER} (max ${MAX_GARBLED_SHARE * 100} %); ` +
    `RSS growth after warm-up ${(growth * 100).toFixed(2)} %`,
);
process.exit(ok ? 0 : 1);
