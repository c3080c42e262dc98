/**
 * The main thread's side of an upload: it only moves the request body's
 * chunks to the job's worker (transferred, not copied) under flow control and
 * waits for answers, so no work in proportion to the upload's size runs on the
 * event loop. The worker writes the file to a private temporary directory that
 * close() removes.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FromUploadWorker, ToUploadWorker, UploadRefusal } from "./upload-protocol.ts";

export type { UploadRefusal } from "./upload-protocol.ts";

export interface UploadLimits {
  /** Largest body, multipart included. */
  maxBytes: number;
  maxSeconds: number;
  /** ffmpeg is killed after this long. */
  timeoutMs: number;
}

/** Bytes posted to the worker and not yet written by it, past which reading the body pauses. */
const IN_FLIGHT_BYTES = 4 * 1024 * 1024;

export class AbortedUpload extends Error {
  override name = "AbortedUpload";
}

export class Upload {
  private readonly worker: Worker;
  private readonly waiters = new Set<(m: FromUploadWorker | null) => void>();
  private refusal: UploadRefusal | null = null;
  private unacked = 0;
  private closed = false;
  private failure: string | null = null;

  private constructor(
    private readonly dir: string,
    private readonly signal: AbortSignal,
  ) {
    this.worker = new Worker(new URL("./upload-worker.ts", import.meta.url).href);
    this.worker.addEventListener("message", (ev: MessageEvent<FromUploadWorker>) => {
      const m = ev.data;
      if (m.type === "ack") this.unacked -= m.bytes;
      if (m.type === "refused") this.refusal = m.refusal;
      for (const w of [...this.waiters]) w(m);
    });
    this.worker.addEventListener("error", (ev) => {
      this.failure = (ev as ErrorEvent).message ?? "upload worker failed";
      for (const w of [...this.waiters]) w(null);
    });
    signal.addEventListener("abort", () => {
      for (const w of [...this.waiters]) w(null);
    });
  }

  /**
   * Reads the request's multipart body into a new upload. Resolves with the
   * upload and its text fields, or with the refusal to answer (file too large,
   * audio too long by its header, malformed body). Rejects with AbortedUpload
   * once `signal` aborts.
   */
  static async receive(
    req: Request,
    boundary: string,
    limits: UploadLimits,
    signal: AbortSignal,
  ): Promise<{ upload: Upload; fields: [string, string][]; file: { name: string; bytes: number } | null } | { refusal: UploadRefusal; upload: Upload }> {
    const dir = await mkdtemp(join(tmpdir(), "stt-upload-"));
    const upload = new Upload(dir, signal);
    try {
      upload.send({ type: "start", boundary, path: join(dir, "input"), maxSeconds: limits.maxSeconds, timeoutMs: limits.timeoutMs });
      const refusal = await upload.pump(req, limits.maxBytes);
      if (refusal) return { refusal, upload };
      upload.send({ type: "end" });
      const m = await upload.next((x) => x.type === "received" || x.type === "refused");
      if (m.type === "refused") return { refusal: m.refusal, upload };
      if (m.type !== "received") throw new Error("unexpected upload worker answer");
      return { upload, fields: m.fields, file: m.file };
    } catch (e) {
      await upload.close();
      throw e;
    }
  }

  /** Decodes the received file to 16 kHz mono in the worker. */
  async decode(): Promise<{ samples: Float32Array } | { refusal: UploadRefusal }> {
    this.send({ type: "decode" });
    const m = await this.next((x) => x.type === "audio" || x.type === "refused");
    if (m.type === "refused") return { refusal: m.refusal };
    if (m.type !== "audio") throw new Error("unexpected upload worker answer");
    return { samples: m.samples };
  }

  /** Ends the worker (and any ffmpeg it runs) and removes the temporary file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.worker.terminate();
    await rm(this.dir, { recursive: true, force: true }).catch(() => {});
  }

  private send(m: ToUploadWorker, transfer: Transferable[] = []): void {
    this.worker.postMessage(m, transfer);
  }

  /** Moves the body to the worker; stops early (the rest unread) on a refusal. */
  private async pump(req: Request, maxBytes: number): Promise<UploadRefusal | null> {
    const declared = Number(req.headers.get("content-length") ?? NaN);
    if (declared > maxBytes) return tooLarge(maxBytes);
    if (!req.body) return null;
    const reader = req.body.getReader();
    let total = 0;
    try {
      for (;;) {
        if (this.refusal) return this.refusal;
        while (this.unacked > IN_FLIGHT_BYTES && !this.refusal) await this.next((x) => x.type === "ack" || x.type === "refused");
        if (this.signal.aborted) throw new AbortedUpload("aborted");
        const { done, value } = await reader.read();
        if (done) return this.refusal;
        total += value.byteLength;
        if (total > maxBytes) return tooLarge(maxBytes);
        this.unacked += value.byteLength;
        // A chunk that owns its whole buffer is handed over; one that shares it is copied (small).
        const own = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength;
        const bytes = own ? value : value.slice();
        this.send({ type: "chunk", bytes }, [bytes.buffer as ArrayBuffer]);
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  /** The next worker message that matches; rejects when the job is aborted or the worker fails. */
  private next(match: (m: FromUploadWorker) => boolean): Promise<FromUploadWorker> {
    return new Promise((resolve, reject) => {
      const check = (m: FromUploadWorker | null) => {
        if (m && !match(m)) return;
        this.waiters.delete(check);
        if (m) resolve(m);
        else if (this.signal.aborted) reject(new AbortedUpload("aborted"));
        else reject(new Error(`upload worker failed: ${this.failure}`));
      };
      if (this.signal.aborted) return reject(new AbortedUpload("aborted"));
      if (this.failure) return reject(new Error(`upload worker failed: ${this.failure}`));
      this.waiters.add(check);
    });
  }
}

function tooLarge(maxBytes: number): UploadRefusal {
  return { status: 413, code: "file_too_large", message: `uploads are limited to ${maxBytes} bytes (max_upload_bytes)`, param: "file" };
}
