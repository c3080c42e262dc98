/**
 * A streaming multipart/form-data parser: bytes go in as they arrive, parts
 * come out as header + data slices, so an upload never has to be held whole.
 * Only the unconsumed tail (at most one delimiter, or one part's headers) is
 * kept between pushes.
 */

export interface PartHeader {
  name: string;
  /** Set for file parts (`filename="..."`), null for plain fields. */
  filename: string | null;
}

export interface MultipartSink {
  part(h: PartHeader): void;
  data(bytes: Uint8Array): void;
  partEnd(): void;
}

export class MultipartError extends Error {
  override name = "MultipartError";
}

const MAX_HEADER_BYTES = 16 * 1024;
const CRLF = Buffer.from("\r\n");
const HEADERS_END = Buffer.from("\r\n\r\n");

/** The boundary of a multipart/form-data Content-Type, or null. */
export function boundaryOf(contentType: string): string | null {
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]!) : null;
}

export class MultipartParser {
  private readonly delimiter: Buffer;
  private buf: Buffer = Buffer.from(CRLF); // lets the first boundary match like the others
  private state: "preamble" | "after" | "headers" | "body" | "done" = "preamble";

  constructor(
    boundary: string,
    private readonly sink: MultipartSink,
  ) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`);
  }

  get done(): boolean {
    return this.state === "done";
  }

  push(chunk: Uint8Array): void {
    if (this.state === "done") return; // the epilogue is ignored
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (;;) {
      if (this.state === "preamble" || this.state === "body") {
        const at = this.buf.indexOf(this.delimiter);
        if (at < 0) {
          // Everything but a tail that could be the start of the delimiter is data.
          const keep = Math.min(this.buf.length, this.delimiter.length - 1);
          if (this.state === "body" && this.buf.length > keep) this.sink.data(this.buf.subarray(0, this.buf.length - keep));
          this.buf = Buffer.from(this.buf.subarray(this.buf.length - keep));
          return;
        }
        if (this.state === "body") {
          if (at > 0) this.sink.data(this.buf.subarray(0, at));
          this.sink.partEnd();
        }
        this.buf = this.buf.subarray(at + this.delimiter.length);
        this.state = "after";
      } else if (this.state === "after") {
        if (this.buf.length < 2) return;
        const next = this.buf.toString("latin1", 0, 2);
        if (next === "--") {
          this.state = "done";
          this.buf = Buffer.alloc(0);
          return;
        }
        if (next !== "\r\n") throw new MultipartError("malformed multipart boundary line");
        this.buf = this.buf.subarray(2);
        this.state = "headers";
      } else if (this.state === "headers") {
        const at = this.buf.indexOf(HEADERS_END);
        if (at < 0) {
          if (this.buf.length > MAX_HEADER_BYTES) throw new MultipartError("multipart part headers are too large");
          return;
        }
        this.sink.part(parseHeaders(this.buf.toString("utf8", 0, at)));
        this.buf = this.buf.subarray(at + HEADERS_END.length);
        this.state = "body";
      } else return;
    }
  }

  /** The body is complete; throws when it stopped before the closing boundary. */
  end(): void {
    if (this.state !== "done") throw new MultipartError("the multipart body ended before its closing boundary");
  }
}

function parseHeaders(text: string): PartHeader {
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon < 0 || line.slice(0, colon).trim().toLowerCase() !== "content-disposition") continue;
    const value = line.slice(colon + 1);
    const name = /(?:^|;)\s*name="([^"]*)"/i.exec(value)?.[1];
    if (name === undefined) break;
    const filename = /(?:^|;)\s*filename="([^"]*)"/i.exec(value)?.[1] ?? null;
    return { name, filename };
  }
  throw new MultipartError("a multipart part has no Content-Disposition name");
}
