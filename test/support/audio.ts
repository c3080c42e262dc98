import { resolve } from "node:path";

/** The shared speech clips: ../shared/audio beside the checkout, or STT_SHARED_AUDIO. */
export const SHARED_AUDIO = process.env.STT_SHARED_AUDIO ?? resolve(import.meta.dir, "../../../shared/audio");

export const JFK_TEXT = "and so my fellow americans ask not what your country can do for you ask what you can do for your country";

function need(cmd: string, pkg: string): void {
  if (!Bun.which(cmd)) throw new Error(`${cmd} not found: install it with "apt-get install -y ${pkg}" (scripts/test-setup.sh does)`);
}

/** Decodes any audio file to 16 kHz mono PCM16 with ffmpeg. */
export async function decodeToPcm16(path: string): Promise<Int16Array> {
  const bytes = await decodeToRaw(path, "s16le", 16000);
  return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
}

/** Decodes any audio file to raw mono samples with ffmpeg: s16le, or G.711 (mulaw, alaw) bytes, at `rate`. */
export async function decodeToRaw(path: string, format: "s16le" | "mulaw" | "alaw", rate: number): Promise<Uint8Array> {
  need("ffmpeg", "ffmpeg");
  if (!(await Bun.file(path).exists())) throw new Error(`audio clip missing: ${path} (expected ../shared/audio beside the repo, or set STT_SHARED_AUDIO)`);
  const p = Bun.spawn(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", path, "-f", format, "-ac", "1", "-ar", String(rate), "-"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const buf = await new Response(p.stdout).arrayBuffer();
  if ((await p.exited) !== 0) throw new Error(`ffmpeg failed on ${path}: ${await new Response(p.stderr).text()}`);
  return new Uint8Array(buf);
}

/** Speech synthesized with espeak-ng, 16 kHz mono PCM16. */
export function speak(text: string, voice = "en-us", speed = 160): Promise<Int16Array> {
  return espeak([text], voice, speed);
}

/** Speech from SSML (espeak-ng -m), e.g. with <break time="700ms"/> inside a sentence; 16 kHz mono PCM16. */
export function speakSsml(ssml: string, voice = "en-us", speed = 160): Promise<Int16Array> {
  return espeak(["-m", ssml], voice, speed);
}

async function espeak(input: string[], voice: string, speed: number): Promise<Int16Array> {
  need("espeak-ng", "espeak-ng");
  const tmp = `/tmp/stt-espeak-${process.pid}-${Math.random().toString(36).slice(2)}.wav`;
  const p = Bun.spawn(["espeak-ng", "-v", voice, "-s", String(speed), "-w", tmp, ...input], { stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`espeak-ng failed: ${await new Response(p.stderr).text()}`);
  try {
    return await decodeToPcm16(tmp);
  } finally {
    await Bun.file(tmp).delete();
  }
}

export function silence(seconds: number): Int16Array {
  return new Int16Array(Math.round(seconds * 16000));
}

export function concat(...parts: Int16Array[]): Int16Array;
export function concat(...parts: Float32Array[]): Float32Array;
export function concat(...parts: (Int16Array | Float32Array)[]): Int16Array | Float32Array {
  const n = parts.reduce((n, p) => n + p.length, 0);
  const out = parts[0] instanceof Float32Array ? new Float32Array(n) : new Int16Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function toFloat(pcm: Int16Array): Float32Array {
  const out = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = pcm[i]! / 32768;
  return out;
}

/** Lower-case, punctuation stripped, single spaces: for word-exact comparisons. */
export function normalizeText(s: string): string {
  return s.toLowerCase().replace(/[^\p{L}\p{N}\s']/gu, " ").replace(/'/g, "").replace(/\s+/g, " ").trim();
}

/** Word error rate of `hyp` against `ref` after normalization. */
export function wordErrorRate(ref: string, hyp: string): number {
  const r = normalizeText(ref).split(" ").filter(Boolean);
  const h = normalizeText(hyp).split(" ").filter(Boolean);
  const d = Array.from({ length: r.length + 1 }, (_, i) => [i, ...new Array<number>(h.length).fill(0)]);
  for (let j = 1; j <= h.length; j++) d[0]![j] = j;
  for (let i = 1; i <= r.length; i++)
    for (let j = 1; j <= h.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (r[i - 1] === h[j - 1] ? 0 : 1));
  return r.length === 0 ? h.length : d[r.length]![h.length]! / r.length;
}

/** The text of SRT/VTT cues: every line that is not a cue number, a time range or the header. */
export function cueText(s: string): string {
  return s
    .split("\n")
    .filter((l) => l && !/^\d+$/.test(l) && !l.includes("-->") && l !== "WEBVTT")
    .join(" ");
}
