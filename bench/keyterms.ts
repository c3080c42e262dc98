/**
 * bench:keyterms: does a stream's `keyterms` option make Whisper write the
 * terms, and does it ever make them up? Recall of the terms on hotwords.mp3
 * and on espeak-ng sentences with rare names, with and without keyterms, and
 * the terms' appearances in the output of noise and silence (target 0).
 *
 *   bun run bench:keyterms [--seed 18]
 */
import { io as connect, type Socket } from "socket.io-client";
import { SHARED_AUDIO, concat, decodeToPcm16, silence, speak } from "../test/support/audio.ts";
import { arg } from "./lib/args.ts";
import { rng } from "./lib/speech.ts";
import { createSttServer } from "../src/server.ts";

interface Case {
  name: string;
  pcm: Int16Array;
  /** Terms that are really said (recall counts these). */
  said: string[];
}

const SENTENCES: [string, string[]][] = [
  ["Please send the invoice to Siobhan at Quarkly before Friday.", ["Siobhan", "Quarkly"]],
  ["Our new product Zyntrix integrates with Kubernetes out of the box.", ["Zyntrix", "Kubernetes"]],
  ["Doctor Nguyen prescribed Xarelto for the patient last week.", ["Nguyen", "Xarelto"]],
  ["The Tzatziki Labs team shipped version two of Pyrrho yesterday.", ["Tzatziki", "Pyrrho"]],
];
const VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb+m3"];

const seed = Number(arg("seed", "18"));
console.log(`bench:keyterms seed ${seed}`);
const r = rng(seed);
const cases: Case[] = [{ name: "hotwords.mp3", pcm: await decodeToPcm16(`${SHARED_AUDIO}/hotwords.mp3`), said: ["ComfyUI"] }];
for (let i = 0; i < SENTENCES.length; i++) {
  for (const voice of VOICES.slice(0, 2)) cases.push({ name: `espeak ${i} ${voice}`, pcm: await speak(SENTENCES[i]![0], voice, 150), said: SENTENCES[i]![1] });
}
const noise = Int16Array.from({ length: 16000 * 6 }, () => Math.round((r() * 2 - 1) * 4000));
const empties: Case[] = [
  { name: "silence 6 s", pcm: silence(6), said: [] },
  { name: `white noise 6 s (seed ${seed})`, pcm: noise, said: [] },
];
const allTerms = ["ComfyUI", ...SENTENCES.flatMap(([, t]) => t)];

const server = createSttServer({ host: "127.0.0.1", port: 0, enable_logging: false, compute_type: "float32", capacity: { admission: false } as never });
const { url } = await server.start();

async function transcribe(pcm: Int16Array, keyterms: string[] | null, clientId: string): Promise<string> {
  const s: Socket = connect(url, { transports: ["websocket"], forceNew: true, reconnection: false, auth: keyterms ? { keyterms } : {} });
  await new Promise<void>((res, rej) => (s.once("connect", () => res()), s.once("connect_error", rej)));
  const texts: string[] = [];
  s.on("transcription", (p: { text: string }) => texts.push(p.text));
  const all = concat(silence(0.5), pcm, silence(1.5));
  for (let i = 0; i < all.length; i += 1600) {
    s.emit("audio_data", { clientId, audioData: all.slice(i, i + 1600).buffer });
    await Bun.sleep(3);
  }
  const done = new Promise((res) => s.once("cleanup_confirmed", res));
  s.emit("cleanup_client", { clientId });
  await done;
  s.disconnect();
  return texts.join(" ");
}

const rows: string[] = [];
let n = 0;
for (const mode of ["without", "with"] as const) {
  let hits = 0;
  let total = 0;
  for (const c of cases) {
    const text = await transcribe(c.pcm, mode === "with" ? c.said : null, `kt-${n++}`);
    const found = c.said.filter((t) => text.includes(t));
    hits += found.length;
    total += c.said.length;
    console.log(`${mode.padEnd(7)} ${c.name.padEnd(22)} ${found.length}/${c.said.length}  ${text}`);
  }
  rows.push(`| ${mode} keyterms | ${hits}/${total} (${((100 * hits) / total).toFixed(0)} %) |`);
}
let madeUp = 0;
for (const c of empties) {
  const text = await transcribe(c.pcm, allTerms, `kt-${n++}`);
  const found = allTerms.filter((t) => text.toLowerCase().includes(t.toLowerCase()));
  madeUp += found.length;
  console.log(`noise   ${c.name.padEnd(22)} terms in output: ${found.length}  ${JSON.stringify(text)}`);
}
await server.stop();
console.log(`\n| stream | term recall |\n|---|---|\n${rows.join("\n")}\n\nkeyterms in the output of silence and noise (all ${allTerms.length} terms given): ${madeUp} (target 0)`);
