/**
 * End of turn: silence-only segmentation against the Smart Turn model, on
 * turns whose truth is known. Every turn is one sentence: complete ones, and
 * ones with a pause of 0.3–1.5 s inside (espeak-ng SSML breaks, so the voice
 * keeps its mid-sentence intonation), plus JFK's sentence with its three
 * natural pauses. Each turn streams offline at stream time (Silero VAD →
 * segmenter → model, bench/lib/turn-sim.ts). Reported per configuration:
 *   - latency: from the sentence's last sound to the decision that ended it
 *     (stream time; model answers count with their measured call time);
 *   - false cuts: turns ended before their last word.
 * Then the model's cost per call, per batch size and per stream-second.
 *
 *   flock /tmp/bench.lock bun run bench:turns [--eot-timeout 2] [--voices 3] [--seed 7]
 */
import { SileroVad, VAD_FRAME, newVadState } from "../src/vad/silero.ts";
import { SmartTurnDetector } from "../src/turns/detector.ts";
import { SHARED_AUDIO, decodeToPcm16, speak, speakSsml, toFloat } from "../test/support/audio.ts";
import { arg } from "./lib/args.ts";
import { SENTENCES, percentile, rng } from "./lib/speech.ts";
import { SR, simulate, type Scored, type SimMode } from "./lib/turn-sim.ts";

const eotTimeout = Number(arg("eot-timeout", "2"));
const nVoices = Number(arg("voices", "3"));
const seed = Number(arg("seed", "7"));
const VOICES = ["en-us", "en-gb+m3", "en-us+f3", "en-gb"].slice(0, nVoices);
console.log(`bench:turns seed=${seed} eot_timeout=${eotTimeout}s voices=${VOICES.join(",")}`);

/** whole: a complete sentence; bare / filler: a pause inside it, after nothing or after "uh"; jfk: real speech, 3 pauses. */
type Kind = "whole" | "bare" | "filler" | "jfk";
const KINDS: Kind[] = ["whole", "bare", "filler", "jfk"];

interface Turn {
  name: string;
  kind: Kind;
  audio: Float32Array;
  /** Sample after the sentence's last sound. */
  speechEnd: number;
}

/** End of the last 10 ms window louder than 5% of the loudest (about −26 dB). */
function lastSound(a: Float32Array): number {
  const w = 160;
  const rms: number[] = [];
  for (let i = 0; i + w <= a.length; i += w) {
    let s = 0;
    for (let j = 0; j < w; j++) s += a[i + j]! ** 2;
    rms.push(Math.sqrt(s / w));
  }
  const floor = Math.max(...rms) * 0.05;
  for (let k = rms.length - 1; k >= 0; k--) if (rms[k]! > floor) return (k + 1) * w;
  return 0;
}

function framed(pcm: Int16Array): Turn["audio"] {
  const lead = Math.round(0.5 * SR);
  const tail = Math.round((eotTimeout + 1) * SR);
  const a = new Float32Array(lead + pcm.length + tail);
  a.set(toFloat(pcm), lead);
  return a;
}

async function material(): Promise<Turn[]> {
  const rand = rng(seed);
  const turns: Turn[] = [];
  const jfk = framed(await decodeToPcm16(`${SHARED_AUDIO}/jfk_16k.wav`));
  turns.push({ name: "jfk", kind: "jfk", audio: jfk, speechEnd: lastSound(jfk) });
  for (const [i, s] of SENTENCES.entries()) {
    for (const [v, voice] of VOICES.entries()) {
      const speed = 145 + ((i + v) % 4) * 10;
      const whole = framed(await speak(s, voice, speed));
      turns.push({ name: `s${i}/${voice}`, kind: "whole", audio: whole, speechEnd: lastSound(whole) });
      const words = s.split(" ");
      const at = Math.max(2, Math.round(words.length * (0.4 + 0.3 * rand())));
      for (const kind of ["bare", "filler"] as const) {
        const pause = Math.round((0.3 + 1.2 * rand()) * 1000);
        const filler = kind === "filler" ? ` <prosody rate="slow">uh</prosody>` : "";
        const ssml = `<speak>${words.slice(0, at).join(" ")}${filler} <break time="${pause}ms"/> ${words.slice(at).join(" ")}</speak>`;
        const cut = framed(await speakSsml(ssml, voice, speed));
        turns.push({ name: `s${i}/${voice} ${kind} ${pause} ms`, kind, audio: cut, speechEnd: lastSound(cut) });
      }
    }
  }
  return turns;
}

const turns = await material();
const vad = await SileroVad.load();
const probs = await Promise.all(
  turns.map((t) => {
    const frames: Float32Array[] = [];
    for (let i = 0; i + VAD_FRAME <= t.audio.length; i += VAD_FRAME) frames.push(t.audio.subarray(i, i + VAD_FRAME));
    return vad.score(newVadState(), frames, t.name);
  }),
);
const streamSeconds = turns.reduce((n, t) => n + t.audio.length / SR, 0);
const count = (k: Kind) => turns.filter((t) => t.kind === k).length;
console.log(`${turns.length} turns (${KINDS.map((k) => `${count(k)} ${k}`).join(", ")}), ${streamSeconds.toFixed(0)} s of stream`);

const detector = await SmartTurnDetector.load();
// Answers are cached by audio span: configurations that pause at the same
// points share the call (and its measured time).
const cache = new Map<string, Scored>();
const callMs: number[] = [];
const scorer = (k: number) => async (audio: Float32Array, from: number, to: number): Promise<Scored> => {
  const key = `${k}:${from}:${to}`;
  let r = cache.get(key);
  if (!r) {
    const t0 = performance.now();
    const probability = await detector.score("bench", audio);
    r = { probability, ms: performance.now() - t0 };
    callMs.push(r.ms);
    cache.set(key, r);
  }
  return r;
};

interface Row {
  config: string;
  /** Latency (ms) from each turn's last sound to the decision that ended it, over every turn. */
  p50: number;
  p95: number;
  /** Share of whole sentences whose end the model (not the fallback) decided. */
  byModel: number;
  /** Turns ended before their last word, per kind (jfk: pauses cut, of 3). */
  cuts: Record<Kind, number>;
  calls: number;
}

async function run(config: string, mode: SimMode): Promise<Row> {
  const lat: number[] = [];
  const cuts: Record<Kind, number> = { whole: 0, bare: 0, filler: 0, jfk: 0 };
  let byModel = 0;
  let calls = 0;
  for (const [k, t] of turns.entries()) {
    const score = scorer(k);
    const counted = async (a: Float32Array, f: number, to: number) => (calls++, score(a, f, to));
    const ds = await simulate(t.audio, probs[k]!, mode, counted);
    // Each stream holds one sentence: every close but the last ended the turn inside it.
    cuts[t.kind] += t.kind === "jfk" ? Math.max(0, ds.length - 1) : ds.length > 1 ? 1 : 0;
    const last = ds.at(-1);
    lat.push(last ? ((last.at - t.speechEnd) / SR) * 1000 : Infinity);
    if (t.kind === "whole" && last?.trigger === "model") byModel++;
  }
  for (const kind of KINDS) cuts[kind] /= kind === "jfk" ? 3 : count(kind);
  return { config, p50: percentile(lat, 50), p95: percentile(lat, 95), byModel: byModel / count("whole"), cuts, calls };
}

const rows: Row[] = [];
for (const s of [0.3, 0.5, 0.8]) rows.push(await run(`silence ${s} s`, { kind: "silence", silence: s }));
const model = (minPause: number, eot: number, repeat?: number): SimMode => ({
  kind: "model",
  minPause,
  repeat,
  eotTimeout,
  policy: { eotThreshold: eot, eagerThreshold: null },
});
for (const minPause of [0.1, 0.15, 0.2, 0.3]) for (const eot of [0.5, 0.7, 0.9]) rows.push(await run(`model, pause ${minPause} s, eot ${eot}`, model(minPause, eot)));
for (const eot of [0.7, 0.9]) rows.push(await run(`model, pause 0.15 s + every 0.3 s, eot ${eot}`, model(0.15, eot, 0.3)));

const f = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "never");
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
console.log(`\n| configuration | end latency p50 (ms) | p95 (ms) | whole sentences ended by the model | false cuts: bare pause | "uh" + pause | JFK's 3 pauses | whole sentences | model calls |`);
console.log(`|---|---|---|---|---|---|---|---|---|`);
for (const r of rows)
  console.log(`| ${r.config} | ${f(r.p50)} | ${f(r.p95)} | ${pct(r.byModel)} | ${pct(r.cuts.bare)} | ${pct(r.cuts.filler)} | ${pct(r.cuts.jfk)} | ${pct(r.cuts.whole)} | ${r.calls} |`);

// --- cost ----------------------------------------------------------------------
const st = detector.stats;
console.log(`\nmodel calls: ${callMs.length} distinct; wall per call p50 ${percentile(callMs, 50).toFixed(1)} ms, p95 ${percentile(callMs, 95).toFixed(1)} ms`);
console.log(`in the worker per turn: features ${(st.featureMs / st.scored).toFixed(1)} ms + model ${(st.modelMs / st.scored).toFixed(1)} ms`);
// N streams pausing at the same moment: one batched run against one run each.
const window = turns[0]!.audio.subarray(0, 8 * SR);
for (const maxBatch of [8, 1]) {
  const d = await SmartTurnDetector.load({ maxBatch });
  await d.score("warm", window);
  for (const n of [1, 2, 4, 8]) {
    const waits: number[] = [];
    const t0 = performance.now();
    for (let rep = 0; rep < 5; rep++) {
      const s0 = performance.now();
      await Promise.all(Array.from({ length: n }, (_, i) => d.score(`c${i}`, window).then(() => waits.push(performance.now() - s0))));
    }
    const wall = (performance.now() - t0) / 5;
    const mean = waits.reduce((a, x) => a + x, 0) / waits.length;
    console.log(`maxBatch ${maxBatch}, ${n} streams at once: ${(wall / n).toFixed(1)} ms per turn, mean wait for an answer ${mean.toFixed(0)} ms`);
  }
  await d.close();
}
const def = rows.find((r) => r.config === "model, pause 0.2 s, eot 0.7")!;
const perCall = (st.featureMs + st.modelMs) / st.scored;
console.log(`per stream-second (pause 0.2 s, this material): ${((def.calls * perCall) / streamSeconds).toFixed(1)} ms of one core per second of stream (${(def.calls / streamSeconds).toFixed(2)} calls/s)`);
await detector.close();
await vad.close();
