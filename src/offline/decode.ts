import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Resampler } from "../../public/resampler.js";

/**
 * Audio files → 16 kHz mono float samples. WAV (PCM 8/16/24/32-bit, float
 * 32/64, WAVE_FORMAT_EXTENSIBLE) is parsed here; anything else goes through
 * ffmpeg (stdin → stdout, or the path itself for files on disk).
 */

export const TARGET_RATE = 16000;

export class AudioDecodeError extends Error {
  override name = "AudioDecodeError";
}

/**
 * Bounds for untrusted input (the HTTP endpoint). ffmpeg only ever reads a
 * pipe or the file it was given (never a URL a playlist points to), and only
 * through the demuxers of ordinary audio containers.
 */
export interface DecodeLimits {
  /** ffmpeg is killed after this long. */
  timeoutMs?: number;
  /** Longer audio is refused (ffmpeg stops decoding just past it). */
  maxSeconds?: number;
}

/** Demuxers ffmpeg may use; a name matches a demuxer listing it (e.g. "mov" is mov,mp4,m4a,3gp). */
export const INPUT_FORMATS = "wav,w64,mp3,flac,ogg,matroska,webm,mov,aac,amr,aiff,caf,au";
const FFMPEG_INPUT_GUARDS = ["-protocol_whitelist", "file,pipe", "-format_whitelist", INPUT_FORMATS];

/** True when the bytes start like a RIFF/WAVE file. */
export function isWav(bytes: Uint8Array): boolean {
  return bytes.length >= 12 && ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 4) === "WAVE";
}

/** Decodes an audio file held in memory. */
export async function decodeAudio(bytes: Uint8Array, limits: DecodeLimits = {}): Promise<Float32Array> {
  if (bytes.length === 0) throw new AudioDecodeError("the audio file is empty");
  if (isWav(bytes)) {
    const wav = parseWav(bytes);
    if (wav) return checkDuration(toTarget(wav.channels, wav.sampleRate), limits);
    // A WAV codec we do not parse (ADPCM, µ-law...): ffmpeg knows it.
  }
  return checkDuration(await ffmpegDecode(bytes, undefined, limits), limits);
}

export class AudioTooLongError extends AudioDecodeError {
  override name = "AudioTooLongError";
}

function checkDuration(samples: Float32Array, limits: DecodeLimits): Float32Array {
  if (limits.maxSeconds !== undefined && samples.length > limits.maxSeconds * TARGET_RATE) {
    throw new AudioTooLongError(`the audio is longer than ${limits.maxSeconds} s (max_file_seconds)`);
  }
  return samples;
}

/**
 * Where a WAV file's samples are and how they are laid out, from its first
 * bytes only: "more" when the header needs more bytes, null when the bytes
 * are not a RIFF/WAVE file. `pcm` is false for codecs only ffmpeg decodes.
 */
export type WavLayout =
  | "more"
  | null
  | { pcm: boolean; format: number; channels: number; rate: number; bits: number; byteRate: number; dataOffset: number; dataSize: number | null };

export function wavLayout(head: Uint8Array): WavLayout {
  if (head.length < 12) return "RIFF".startsWith(ascii(head, 0, Math.min(4, head.length))) ? "more" : null;
  if (!isWav(head)) return null;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let pos = 12;
  let fmt: { format: number; channels: number; rate: number; bits: number; byteRate: number } | null = null;
  while (pos + 8 <= head.length) {
    const id = ascii(head, pos, 4);
    const size = view.getUint32(pos + 4, true);
    const body = pos + 8;
    if (id === "fmt ") {
      if (size < 16) throw new AudioDecodeError("WAV fmt chunk is truncated");
      if (body + Math.min(size, 26) > head.length) return "more";
      let format = view.getUint16(body, true);
      if (format === 0xfffe && size >= 26) format = view.getUint16(body + 24, true);
      fmt = { format, channels: view.getUint16(body + 2, true), rate: view.getUint32(body + 4, true), byteRate: view.getUint32(body + 8, true), bits: view.getUint16(body + 14, true) };
    } else if (id === "data") {
      if (!fmt) throw new AudioDecodeError("WAV data chunk comes before its fmt chunk");
      const { format, channels, rate, bits } = fmt;
      if (channels < 1 || channels > 64 || rate < 1000 || rate > 768_000) throw new AudioDecodeError(`WAV has ${channels} channels at ${rate} Hz`);
      const pcm = (format === 1 && [8, 16, 24, 32].includes(bits)) || (format === 3 && (bits === 32 || bits === 64));
      // For the codecs decoded here the rate follows from the layout; the header's own byte rate is only trusted for the others.
      const byteRate = pcm ? rate * channels * (bits / 8) : fmt.byteRate;
      return { pcm, ...fmt, byteRate, dataOffset: body, dataSize: size === 0 || size === 0xffffffff ? null : size };
    }
    pos = body + size + (size & 1);
    if (pos > 1 << 20) throw new AudioDecodeError("WAV header chunks before the data are larger than 1 MiB");
  }
  return "more";
}

/** Seconds of audio a WAV layout declares for `dataBytes` bytes of samples (null when it cannot tell). */
export function wavSeconds(layout: Exclude<WavLayout, "more" | null>, dataBytes: number): number | null {
  return layout.byteRate > 0 ? dataBytes / layout.byteRate : null;
}

/**
 * Decodes the samples of a PCM or float WAV file on disk to 16 kHz mono, a
 * chunk at a time: memory holds the output and one chunk, never the file.
 */
export async function decodeWavFile(path: string, layout: Exclude<WavLayout, "more" | null>, limits: DecodeLimits = {}): Promise<Float32Array> {
  const file = Bun.file(path);
  const end = layout.dataSize === null ? file.size : Math.min(file.size, layout.dataOffset + layout.dataSize);
  const { channels: nch, bits, rate } = layout;
  const frameBytes = (bits / 8) * nch;
  const float = layout.format === 3;
  const resampler = rate === TARGET_RATE ? null : new Resampler(rate, TARGET_RATE);
  const out: Float32Array[] = [];
  let total = 0;
  const max = limits.maxSeconds !== undefined ? limits.maxSeconds * TARGET_RATE : Infinity;
  const emit = (x: Float32Array) => {
    total += x.length;
    if (total > max) throw new AudioTooLongError(`the audio is longer than ${limits.maxSeconds} s (max_file_seconds)`);
    if (x.length > 0) out.push(x);
  };
  let carry = new Uint8Array(0);
  for await (const piece of file.slice(layout.dataOffset, end).stream()) {
    const bytes = carry.length ? concatBytes(carry, piece) : piece;
    const frames = Math.floor(bytes.length / frameBytes);
    const view = new DataView(bytes.buffer, bytes.byteOffset, frames * frameBytes);
    const mono = new Float32Array(frames);
    for (let i = 0; i < frames; i++) {
      let sum = 0;
      for (let c = 0; c < nch; c++) sum += sampleAt(view, i * frameBytes + c * (bits / 8), bits, float);
      mono[i] = sum / nch;
    }
    carry = bytes.slice(frames * frameBytes);
    emit(resampler ? resampler.process(mono) : mono);
  }
  if (resampler) emit(resampler.flush());
  const samples = new Float32Array(total);
  let at = 0;
  for (const x of out) {
    samples.set(x, at);
    at += x.length;
  }
  return samples;
}

function sampleAt(view: DataView, p: number, bits: number, float: boolean): number {
  if (float) return bits === 32 ? view.getFloat32(p, true) : view.getFloat64(p, true);
  if (bits === 16) return view.getInt16(p, true) / 32768;
  if (bits === 8) return (view.getUint8(p) - 128) / 128;
  if (bits === 24) return (view.getUint8(p) | (view.getUint8(p + 1) << 8) | (view.getInt8(p + 2) << 16)) / 8388608;
  return view.getInt32(p, true) / 2147483648;
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Seconds of audio in a file on disk by ffprobe's reading of its container (null when it cannot tell). */
export async function probeSeconds(path: string, timeoutMs = 10_000): Promise<number | null> {
  if (!Bun.which("ffprobe")) return null;
  const proc = Bun.spawn(["ffprobe", "-v", "error", ...FFMPEG_INPUT_GUARDS, "-show_entries", "format=duration", "-of", "csv=p=0", path], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "ignore",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [out] = await Promise.all([new Response(proc.stdout).text(), proc.exited]).finally(() => clearTimeout(timer));
  const seconds = Number.parseFloat(out.trim());
  return Number.isFinite(seconds) ? seconds : null;
}

/** Decodes a file on disk with ffmpeg under the endpoint's limits (duration cap, timeout). */
export async function decodeWithFfmpeg(path: string, limits: DecodeLimits): Promise<Float32Array> {
  return checkDuration(await ffmpegDecode(null, path, limits), limits);
}

/** Decodes an audio file on disk (ffmpeg reads it directly, so seekable containers work). */
export async function decodeAudioFile(path: string): Promise<Float32Array> {
  const file = Bun.file(path);
  if (!(await file.exists())) throw new AudioDecodeError(`no such file: ${path}`);
  const head = new Uint8Array(await file.slice(0, 12).arrayBuffer());
  if (isWav(head)) {
    const wav = parseWav(new Uint8Array(await file.arrayBuffer()));
    if (wav) return toTarget(wav.channels, wav.sampleRate);
  }
  return ffmpegDecode(null, path);
}

interface Wav {
  sampleRate: number;
  channels: Float32Array[];
}

/** Parses a PCM or float WAV; null when the codec is not one of those. Throws on a broken file. */
export function parseWav(bytes: Uint8Array): Wav | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 12;
  let fmt: { format: number; channels: number; rate: number; bits: number; align: number } | null = null;
  while (pos + 8 <= bytes.length) {
    const id = ascii(bytes, pos, 4);
    let size = view.getUint32(pos + 4, true);
    const body = pos + 8;
    if (id === "fmt ") {
      if (size < 16 || body + 16 > bytes.length) throw new AudioDecodeError("WAV fmt chunk is truncated");
      let format = view.getUint16(body, true);
      if (format === 0xfffe && size >= 26) format = view.getUint16(body + 24, true); // EXTENSIBLE: sub-format GUID's first two bytes
      fmt = {
        format,
        channels: view.getUint16(body + 2, true),
        rate: view.getUint32(body + 4, true),
        align: view.getUint16(body + 12, true),
        bits: view.getUint16(body + 14, true),
      };
    } else if (id === "data") {
      if (!fmt) throw new AudioDecodeError("WAV data chunk comes before its fmt chunk");
      // Streamed WAVs (ffmpeg to a pipe) carry 0 or 0xFFFFFFFF as the size: take the rest.
      if (size === 0 || size === 0xffffffff || body + size > bytes.length) size = bytes.length - body;
      return decodeWavData(view, body, size, fmt);
    }
    pos = body + size + (size & 1);
  }
  throw new AudioDecodeError(fmt ? "WAV file has no data chunk" : "WAV file has no fmt chunk");
}

function decodeWavData(
  view: DataView,
  offset: number,
  size: number,
  fmt: { format: number; channels: number; rate: number; bits: number; align: number },
): Wav | null {
  const { format, channels: nch, rate, bits } = fmt;
  if (nch < 1 || nch > 64 || rate < 1000 || rate > 768_000) throw new AudioDecodeError(`WAV has ${nch} channels at ${rate} Hz`);
  const pcm = format === 1 && [8, 16, 24, 32].includes(bits);
  const float = format === 3 && (bits === 32 || bits === 64);
  if (!pcm && !float) return null;
  const bytesPer = bits / 8;
  const frameBytes = bytesPer * nch;
  const frames = Math.floor(size / frameBytes);
  const channels = Array.from({ length: nch }, () => new Float32Array(frames));
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < nch; c++) {
      const p = offset + i * frameBytes + c * bytesPer;
      let v: number;
      if (float) v = bits === 32 ? view.getFloat32(p, true) : view.getFloat64(p, true);
      else if (bits === 16) v = view.getInt16(p, true) / 32768;
      else if (bits === 8) v = (view.getUint8(p) - 128) / 128;
      else if (bits === 24) v = ((view.getUint8(p) | (view.getUint8(p + 1) << 8) | (view.getInt8(p + 2) << 16)) / 8388608);
      else v = view.getInt32(p, true) / 2147483648;
      channels[c]![i] = v;
    }
  }
  return { sampleRate: rate, channels };
}

/** Down-mixes to mono and resamples to 16 kHz. */
function toTarget(channels: Float32Array[], rate: number): Float32Array {
  let mono = channels[0]!;
  if (channels.length > 1) {
    mono = new Float32Array(mono.length);
    for (const ch of channels) for (let i = 0; i < ch.length; i++) mono[i]! += ch[i]! / channels.length;
  }
  if (rate === TARGET_RATE) return mono;
  const r = new Resampler(rate, TARGET_RATE);
  const a = r.process(mono);
  const b = r.flush();
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

async function ffmpegDecode(bytes: Uint8Array | null, path?: string, limits: DecodeLimits = {}): Promise<Float32Array> {
  if (!Bun.which("ffmpeg")) {
    throw new AudioDecodeError("only WAV can be decoded without ffmpeg; install ffmpeg (apt-get install ffmpeg) for other formats");
  }
  const input = path ?? "pipe:0";
  // A little past the limit, so that audio longer than it is recognised as such.
  const cap = limits.maxSeconds !== undefined ? ["-t", String(limits.maxSeconds + 1)] : [];
  const proc = Bun.spawn(
    ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", ...FFMPEG_INPUT_GUARDS, "-i", input, "-vn", ...cap, "-f", "s16le", "-acodec", "pcm_s16le", "-ac", "1", "-ar", String(TARGET_RATE), "pipe:1"],
    { stdin: bytes ? "pipe" : "ignore", stdout: "pipe", stderr: "pipe" },
  );
  let timedOut = false;
  const timer =
    limits.timeoutMs !== undefined
      ? setTimeout(() => {
          timedOut = true;
          proc.kill("SIGKILL");
        }, limits.timeoutMs)
      : null;
  const stdin = proc.stdin;
  if (bytes && stdin) {
    // Write without awaiting the reader side first: ffmpeg may start emitting before it has all input.
    void (async () => {
      try {
        stdin.write(bytes);
        await stdin.end();
      } catch {
        // ffmpeg closed its input early (undecodable data); its exit code tells.
      }
    })();
  }
  const [out, err, code] = await Promise.all([new Response(proc.stdout).arrayBuffer(), new Response(proc.stderr).text(), proc.exited]).finally(
    () => timer && clearTimeout(timer),
  );
  if (timedOut) throw new AudioDecodeError(`decoding took longer than ${limits.timeoutMs! / 1000} s and was stopped`);
  if (code !== 0 || out.byteLength < 2) {
    // Containers whose index sits at the end (MP4/M4A with a trailing moov) cannot be read from a pipe.
    if (bytes && !path && /moov atom not found|seek|Invalid data/i.test(err)) return viaTempFile(bytes, limits);
    // ffmpeg names its input; a temporary path is nobody's business but ours.
    const why = err.replaceAll(input, "input").trim().split("\n").slice(-2).join("; ") || `ffmpeg exited with ${code} and no audio`;
    throw new AudioDecodeError(`could not decode the audio: ${why}`);
  }
  const pcm = new Int16Array(out, 0, out.byteLength >> 1);
  const f = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) f[i] = pcm[i]! / 32768;
  return f;
}

async function viaTempFile(bytes: Uint8Array, limits: DecodeLimits): Promise<Float32Array> {
  // A directory of our own (0700) and a file only we can read: uploads are other people's audio.
  const dir = await mkdtemp(join(tmpdir(), "stt-upload-"));
  try {
    const file = join(dir, "input");
    await writeFile(file, bytes, { mode: 0o600 });
    return await ffmpegDecode(null, file, limits);
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

function ascii(b: Uint8Array, at: number, n: number): string {
  return String.fromCharCode(...b.subarray(at, at + n));
}
