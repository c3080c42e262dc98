import type { DoorSocket } from "../websocket.ts";
import type { DoorEvents, StreamOptions, FinalEvent, LiveStream, SpeechStoppedEvent, StreamListener } from "../../stream/types.ts";
import type { Logger } from "../../log.ts";
import type { SpeechStartedPayload, TranscriptionInterimPayload } from "../../transport/schemas.ts";
import { AudioDecoder } from "./audio.ts";
import { configureFailure, configureSuccess, errorMessage, metadataMessage, type DgMessage, type DgMeta, type ErrorVariant } from "./messages.ts";
import type { DeepgramParams } from "./query.ts";
import { ResultMapper } from "./results.ts";
import { keytermsOf } from "./options.ts";

/**
 * One Deepgram connection: client frames → calls on its live stream, the
 * stream's events → Deepgram messages. States: open → closing (CloseStream:
 * drain, last finals, Metadata, close 1000) → closed. The stream is opened at
 * the handshake (so refusals are HTTP statuses); events that arrive before the
 * socket is attached wait in `early`.
 */

/** Deepgram's NET-0001 close, word for word: clients and their logs match on it. */
export const IDLE_CLOSE = { code: 1011, reason: "Deepgram did not receive audio data or a text message within the timeout window. See https://dpgr.am/net0001" } as const;
export const IDLE_TIMEOUT_MS = 10_000;
/** RFC 6455 "message too big". */
const TOO_BIG = 1009;
/** A control message inside a binary frame (Vocode sends CloseStream that way) is short JSON. */
const MAX_BINARY_CONTROL = 1024;
/** Deepgram caps keyterms at 500 tokens; words are the nearest thing this server counts. */
const MAX_KEYTERM_WORDS = 500;

export interface ConnectionDeps {
  params: DeepgramParams;
  meta: DgMeta;
  clientId: string;
  maxFrameBytes: number;
  events: DoorEvents;
  log: Logger;
  /** The core's option check (keyterm limits for Configure). */
  checkOptions?: (o: Partial<StreamOptions>) => string | null;
  idleTimeoutMs?: number;
}

type Phase = "open" | "closing" | "closed";

export class DeepgramConnection {
  readonly mapper: ResultMapper;
  private readonly decoder: AudioDecoder;
  private readonly hash = new Bun.CryptoHasher("sha256");
  private readonly created = new Date();
  private stream: LiveStream | null = null;
  private ws: DoorSocket<DeepgramConnection> | null = null;
  private early: DgMessage[] = [];
  private phase: Phase = "open";
  private lastActivity = performance.now();
  private idleTimer: ReturnType<typeof setInterval> | null = null;
  /** The stream's keyterms (query `keyterm`, then Configure); stored for the turn-taking work, not yet used. */
  keyterms: string[];
  /** Finalize and CloseStream run one after another, in the order the client sent them. */
  private ops: Promise<void> = Promise.resolve();

  constructor(private readonly d: ConnectionDeps) {
    const p = d.params;
    this.decoder = new AudioDecoder(p.encoding, p.sampleRate, d.maxFrameBytes);
    this.keyterms = [...p.keyterms];
    this.mapper = new ResultMapper({
      meta: d.meta,
      punctuate: p.punctuate,
      endpointing: p.endpointing !== false,
      interimResults: p.interimResults,
      vadEvents: p.vadEvents,
      utteranceEnd: p.utteranceEndMs === null ? null : p.utteranceEndMs / 1000,
      language: p.language,
    });
  }

  /** What the core calls; every event becomes zero or more Deepgram messages. */
  readonly listener: StreamListener = {
    final: (e: FinalEvent) => this.send(this.mapper.final(e, this.audioSeconds)),
    interim: (e: TranscriptionInterimPayload) => this.send(this.mapper.interim(e)),
    speechStarted: (e: SpeechStartedPayload) => this.send(this.mapper.speechStarted(e)),
    speechStopped: (e: SpeechStoppedEvent) => this.mapper.speechStopped(e),
    error: (code: string, message: string) => this.fail(code, message),
  };

  get requestId(): string {
    return this.d.meta.request_id;
  }

  private get audioSeconds(): number {
    return this.stream?.audioSeconds ?? 0;
  }

  /** The stream the handshake opened for this connection. */
  bind(stream: LiveStream): void {
    this.stream = stream;
  }

  attach(ws: DoorSocket<DeepgramConnection>): void {
    this.ws = ws;
    const early = this.early;
    this.early = [];
    this.send(early);
    const timeout = this.d.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    this.lastActivity = performance.now();
    // One coarse check instead of a timer reset per audio frame.
    this.idleTimer = setInterval(() => {
      if (this.phase === "open" && performance.now() - this.lastActivity >= timeout) this.idle();
    }, Math.min(500, timeout / 4));
  }

  /** A WebSocket ping: the client is there (Deepgram counts pings against the idle timeout), no audio time passes. */
  activity(): void {
    this.lastActivity = performance.now();
  }

  message(m: string | Buffer): void {
    if (this.phase !== "open") return;
    this.lastActivity = performance.now();
    if (typeof m === "string") return this.control(m);
    if (m.byteLength === 0) return this.closeStream(); // the legacy close signal
    if (m.byteLength <= MAX_BINARY_CONTROL && startsLikeControl(m)) return this.control(m.toString("utf8"));
    this.audio(m);
  }

  /** The socket closed (by either side). An unfinished stream still delivers to monitors, then gives its clientId up. */
  closed(code: number, reason: string): void {
    const was = this.phase;
    this.phase = "closed";
    this.stopTimer();
    this.d.log.forget(`deepgram:${this.requestId}:`);
    if (was === "open") {
      this.d.log.info("deepgram stream disconnected", { requestId: this.requestId, clientId: this.d.clientId, code, reason: reason.slice(0, 120) });
      void this.stream?.close().catch(() => {});
    }
  }

  /** A handshake that never became a socket: give the stream up. */
  abandon(): void {
    if (this.ws || this.phase === "closed") return;
    this.phase = "closed";
    void this.stream?.close().catch(() => {});
  }

  private control(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return this.reject("SchemaError", "invalid_message", "text frames carry JSON control messages (KeepAlive, Finalize, CloseStream, Configure); send audio as binary frames", text);
    }
    const type = typeof msg === "object" && msg !== null ? (msg as { type?: unknown }).type : undefined;
    switch (type) {
      case "KeepAlive":
        return; // activity was noted
      case "Finalize":
        return this.finalize();
      case "CloseStream":
        return this.closeStream();
      case "Configure":
        return this.configure(msg as { keyterms?: unknown; features?: unknown }, text);
      default:
        return this.reject("SchemaError", "unknown_message", `unknown message type ${JSON.stringify(type ?? null).slice(0, 64)}: expected KeepAlive, Finalize, CloseStream or Configure`, text);
    }
  }

  /**
   * Mid-stream Configure (the current SDKs' ListenV1Configure): `keyterms`
   * replaces the stream's keyterms from its next utterance on (as the
   * `keyterm` query key); `features` are accepted and ignored.
   */
  private configure(msg: { keyterms?: unknown; features?: unknown }, text: string): void {
    const k = msg.keyterms;
    if (k !== undefined && k !== null && !(Array.isArray(k) && k.every((t) => typeof t === "string" && t.length <= 256))) {
      return this.reject("SchemaError", "invalid_message", "Configure.keyterms must be an array of strings (at most 256 characters each), or null", text);
    }
    if (Array.isArray(k)) {
      if (k.join(" ").split(/\s+/).filter(Boolean).length > MAX_KEYTERM_WORDS) {
        this.d.events.error("deepgram", "CONFIGURE_KEYTERM_LIMIT_EXCEEDED");
        return this.send([configureFailure(this.requestId, "CONFIGURE_KEYTERM_LIMIT_EXCEEDED", `keyterms are limited to ${MAX_KEYTERM_WORDS} words`)]);
      }
      const terms = keytermsOf(k as string[]);
      const bad = this.d.checkOptions?.({ keyterms: terms });
      if (bad) {
        this.d.events.error("deepgram", "CONFIGURE_KEYTERM_LIMIT_EXCEEDED");
        return this.send([configureFailure(this.requestId, "CONFIGURE_KEYTERM_LIMIT_EXCEEDED", bad)]);
      }
      this.keyterms = k as string[];
      // From the stream's next utterance on.
      this.stream?.setOptions({ keyterms: terms });
      return this.send([configureSuccess(this.requestId, this.keyterms)]);
    }
    this.send([configureSuccess(this.requestId)]);
  }

  private audio(frame: Buffer): void {
    const stream = this.stream;
    if (!stream) return;
    const bytes = new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength);
    const decoded = this.decoder.decode(bytes);
    if (!decoded.ok) {
      if (decoded.code === "payload_too_large") return this.fatal(decoded.code, decoded.message, TOO_BIG);
      return this.reject("DataError", decoded.code, decoded.message);
    }
    this.hash.update(bytes);
    if (decoded.samples.length > 0) {
      const pushed = stream.push(decoded.samples);
      if (!pushed.ok) return this.reject("DataError", pushed.code, pushed.message);
    }
    this.send(this.mapper.tick(stream.audioSeconds));
  }

  private finalize(): void {
    const stream = this.stream;
    if (!stream) return;
    this.mapper.finalizeRequested();
    this.enqueue(async () => {
      await stream.finalize();
      // Results of audio the VAD had already closed come first; then, if the
      // flush had nothing to close, the answer is one empty from_finalize final.
      await stream.settled();
      this.send(this.mapper.answerFinalize(stream.audioSeconds));
    });
  }

  private closeStream(): void {
    if (this.phase !== "open") return;
    this.phase = "closing";
    this.stopTimer();
    const stream = this.stream;
    this.enqueue(async () => {
      if (stream) {
        const tail = this.decoder.flush();
        if (tail.length > 0) stream.push(tail);
        // Drain first: the core's close() gives the clientId up as soon as the
        // open speech is dispatched, before its final (and finals still in the
        // engine) reach this connection.
        await stream.finalize();
        await stream.settled();
        await stream.close();
        this.send(this.mapper.close(stream.audioSeconds));
      }
      this.send([metadataMessage(this.d.meta, { sha256: this.hash.digest("hex"), created: this.created, duration: this.decoder.inputSamples / this.d.params.sampleRate })]);
      this.phase = "closed";
      this.ws?.close(1000, "");
    });
  }

  private idle(): void {
    this.d.events.error("deepgram", "idle_timeout");
    this.fatal("idle_timeout", "", IDLE_CLOSE.code, IDLE_CLOSE.reason);
  }

  /** A bad frame: an Error message; the stream goes on. */
  private reject(variant: ErrorVariant, code: string, description: string, original?: string): void {
    this.d.events.error("deepgram", code);
    this.d.log.once(`deepgram:${this.requestId}:${code}`, "deepgram: bad client input", { requestId: this.requestId, clientId: this.d.clientId, code, description });
    this.send([errorMessage(variant, code, description, original)]);
  }

  /** The stream cannot go on: Error message (when there is one), close frame, stream released. */
  private fatal(code: string, message: string, closeCode: number, reason = message): void {
    if (this.phase === "closed") return;
    if (code !== "idle_timeout") this.d.events.error("deepgram", code);
    if (message) this.send([errorMessage(code === "payload_too_large" ? "DataError" : "ServerError", code, message)]);
    this.phase = "closed";
    this.stopTimer();
    void this.stream?.close().catch(() => {});
    // A close reason is at most 123 bytes.
    this.ws?.close(closeCode, Buffer.from(reason).subarray(0, 123).toString("utf8"));
  }

  /** The core could not transcribe an utterance, or the stream was taken over. */
  private fail(code: string, message: string): void {
    if (code === "stream_taken_over") return this.takenOver(message);
    this.d.events.error("deepgram", code);
    if (code === "engine_error" || code === "queue_full") this.mapper.lost();
    this.send([errorMessage("ServerError", code, message)]);
  }

  /**
   * The same principal (scoped key) opened the clientId on a new connection,
   * e.g. an SDK that re-dialled: this one ends with 1000, since any other code
   * would make the JS SDK re-dial and take the stream back.
   */
  private takenOver(message: string): void {
    if (this.phase === "closed") return;
    this.d.events.error("deepgram", "stream_taken_over");
    this.send([errorMessage("ServerError", "stream_taken_over", message)]);
    this.phase = "closed";
    this.stopTimer();
    this.ws?.close(1000, "stream taken over by another connection");
  }

  private send(messages: DgMessage[]): void {
    if (messages.length === 0) return;
    if (!this.ws) {
      this.early.push(...messages);
      return;
    }
    if (this.ws.readyState !== 1) return;
    for (const m of messages) this.ws.send(JSON.stringify(m));
  }

  private enqueue(op: () => Promise<void>): void {
    this.ops = this.ops.then(op).catch((err) => {
      this.d.log.error("deepgram: stream operation failed", { requestId: this.requestId, error: String(err) });
      this.fatal("internal_error", "the stream failed on this server", 1011, "internal error");
    });
  }

  private stopTimer(): void {
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = null;
  }
}

/** `{"type":` after optional whitespace: JSON, not audio (16-bit audio starting with these bytes is vanishingly unlikely). */
function startsLikeControl(b: Buffer): boolean {
  let i = 0;
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09)) i++;
  return b[i] === 0x7b && b.subarray(i, i + 16).toString("latin1").replace(/\s/g, "").startsWith('{"type"');
}
