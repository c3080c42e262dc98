/** Messages between the file endpoint (main thread) and its upload worker (src/offline/upload-worker.ts). */

/** A refusal in the endpoint's terms: HTTP status, error code, message, the form field at fault. */
export interface UploadRefusal {
  status: number;
  code: string;
  message: string;
  param: string | null;
}

export type ToUploadWorker =
  | { type: "start"; boundary: string; path: string; maxSeconds: number; timeoutMs: number }
  | { type: "chunk"; bytes: Uint8Array }
  | { type: "end" }
  | { type: "decode" };

export type FromUploadWorker =
  /** The worker has taken `bytes` more bytes off the main thread's hands (flow control). */
  | { type: "ack"; bytes: number }
  /** The upload is refused; nothing more will be read or decoded. */
  | { type: "refused"; refusal: UploadRefusal }
  /** The whole body is in: the text fields, and the file part's name and size (null when there was none). */
  | { type: "received"; fields: [string, string][]; file: { name: string; bytes: number } | null }
  | { type: "audio"; samples: Float32Array };
