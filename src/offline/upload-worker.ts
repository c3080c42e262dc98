/**
 * Upload worker (a Bun Worker, one per file job): everything an upload costs
 * in proportion to its size happens here, off the server's event loop. The
 * body arrives in chunks; the multipart stream is parsed as it comes, text
 * fields are kept (bounded), the file part is written to disk and its WAV
 * header, when it has one, tells the duration before any decoding, so a file
 * over max_file_seconds is refused as soon as its header is in. Decoding and
 * resampling (WAV here, a chunk at a time; anything else with ffmpeg after
 * ffprobe's duration) also run here.
 */
import { AudioDecodeError, AudioTooLongError, decodeWavFile, decodeWithFfmpeg, probeSeconds, wavLayout, wavSeconds, type WavLayout } from "./decode.ts";
import { MultipartError, MultipartParser } from "./multipart.ts";
import type { FromUploadWorker, ToUploadWorker, UploadRefusal } from "./upload-protocol.ts";

declare const self: Worker;

const MAX_FIELD_BYTES = 64 * 1024;
const MAX_PARTS = 64;
/** Bytes of the file part kept for reading its header. */
const HEAD_BYTES = 64 * 1024;

type Layout = Exclude<WavLayout, "more" | null>;

interface Job {
  path: string;
  maxSeconds: number;
  timeoutMs: number;
  parser: MultipartParser;
  fields: [string, string][];
  fieldBytes: number;
  parts: number;
  /** The part being read now. */
  current: { kind: "field"; name: string; chunks: Uint8Array[] } | { kind: "file" } | { kind: "skip" } | null;
  file: { name: string; bytes: number; sink: ReturnType<ReturnType<typeof Bun.file>["writer"]>; head: Uint8Array; layout: WavLayout } | null;
  refused: boolean;
}

let job: Job | null = null;

function post(m: FromUploadWorker, transfer: Transferable[] = []): void {
  self.postMessage(m, transfer);
}

function refuse(status: number, code: string, message: string, param: string | null = "file"): never {
  throw Object.assign(new Error(message), { refusal: { status, code, message, param } satisfies UploadRefusal });
}

function tooLong(j: Job): never {
  refuse(413, "audio_too_long", `${j.file?.name ?? "file"}: the audio is longer than ${j.maxSeconds} s (max_file_seconds)`);
}

function start(m: Extract<ToUploadWorker, { type: "start" }>): Job {
  const j: Job = { path: m.path, maxSeconds: m.maxSeconds, timeoutMs: m.timeoutMs, fields: [], fieldBytes: 0, parts: 0, current: null, file: null, refused: false, parser: null as never };
  j.parser = new MultipartParser(m.boundary, {
    part(h) {
      if (++j.parts > MAX_PARTS) refuse(400, "invalid_request", `a request may have at most ${MAX_PARTS} form fields`, null);
      if (h.filename !== null && h.name === "file" && !j.file) {
        j.file = { name: h.filename.slice(0, 200) || "file", bytes: 0, sink: Bun.file(j.path).writer(), head: new Uint8Array(0), layout: "more" };
        j.current = { kind: "file" };
      } else if (h.filename === null) j.current = { kind: "field", name: h.name, chunks: [] };
      else j.current = { kind: "skip" }; // another file field: not ours to keep
    },
    data(bytes) {
      const c = j.current;
      if (c?.kind === "file") fileData(j, bytes);
      else if (c?.kind === "field") {
        j.fieldBytes += bytes.length;
        if (j.fieldBytes > MAX_FIELD_BYTES) refuse(400, "invalid_request", `form fields other than the file are limited to ${MAX_FIELD_BYTES} bytes in all`, null);
        c.chunks.push(bytes);
      }
    },
    partEnd() {
      const c = j.current;
      if (c?.kind === "field") j.fields.push([c.name, Buffer.concat(c.chunks).toString("utf8")]);
      j.current = null;
    },
  });
  return j;
}

function fileData(j: Job, bytes: Uint8Array): void {
  const f = j.file!;
  f.sink.write(bytes);
  f.bytes += bytes.length;
  if (f.layout === "more" && f.head.length < HEAD_BYTES) {
    const head = new Uint8Array(Math.min(HEAD_BYTES, f.head.length + bytes.length));
    head.set(f.head);
    head.set(bytes.subarray(0, head.length - f.head.length), f.head.length);
    f.head = head;
    try {
      f.layout = wavLayout(head);
    } catch (e) {
      refuse(400, "invalid_audio", `${f.name}: ${(e as Error).message}`);
    }
    if (f.layout === "more" && head.length >= HEAD_BYTES) f.layout = null; // not a header we can read: ffmpeg decides
  }
  const layout = f.layout;
  if (layout && layout !== "more") {
    // The declared size first, then what has arrived (a streamed WAV declares none).
    const declared = layout.dataSize === null ? null : wavSeconds(layout, layout.dataSize);
    const arrived = wavSeconds(layout, Math.max(0, f.bytes - layout.dataOffset));
    if ((declared !== null && declared > j.maxSeconds) || (arrived !== null && arrived > j.maxSeconds + 1)) tooLong(j);
  }
}

async function decode(j: Job): Promise<Float32Array> {
  const f = j.file!;
  const limits = { maxSeconds: j.maxSeconds, timeoutMs: j.timeoutMs };
  if (f.layout && f.layout !== "more" && f.layout.pcm) return decodeWavFile(j.path, f.layout as Layout, limits);
  const seconds = await probeSeconds(j.path);
  if (seconds !== null && seconds > j.maxSeconds) tooLong(j);
  return decodeWithFfmpeg(j.path, limits);
}

function refusalOf(e: unknown, j: Job): UploadRefusal {
  const r = (e as { refusal?: UploadRefusal }).refusal;
  if (r) return r;
  const name = j.file?.name ?? "file";
  if (e instanceof AudioTooLongError) return { status: 413, code: "audio_too_long", message: `${name}: ${e.message}`, param: "file" };
  if (e instanceof AudioDecodeError) return { status: 400, code: "invalid_audio", message: `${name}: ${e.message}`, param: "file" };
  if (e instanceof MultipartError) return { status: 400, code: "invalid_request", message: `could not parse the multipart/form-data body: ${e.message}`, param: null };
  return { status: 500, code: "internal_error", message: "the upload could not be read", param: null };
}

// Messages are handled one after another (the chain), so a chunk is never written while the one before is still being flushed.
let chain: Promise<void> = Promise.resolve();
self.onmessage = (ev: MessageEvent<ToUploadWorker>) => {
  const m = ev.data;
  chain = chain.then(() => handle(m));
};

async function handle(m: ToUploadWorker): Promise<void> {
  if (m.type === "start") {
    job = start(m);
    return;
  }
  const j = job;
  if (!j || j.refused) return;
  try {
    if (m.type === "chunk") {
      j.parser.push(m.bytes);
      await j.file?.sink.flush();
      post({ type: "ack", bytes: m.bytes.byteLength });
    } else if (m.type === "end") {
      j.parser.end();
      await j.file?.sink.end();
      post({ type: "received", fields: j.fields, file: j.file ? { name: j.file.name, bytes: j.file.bytes } : null });
    } else if (m.type === "decode") {
      const samples = await decode(j);
      post({ type: "audio", samples }, [samples.buffer]);
    }
  } catch (e) {
    j.refused = true;
    await Promise.resolve(j.file?.sink.end()).catch(() => {});
    post({ type: "refused", refusal: refusalOf(e, j) });
  }
}
