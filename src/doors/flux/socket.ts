import type { DoorSocket } from "../websocket.ts";
import type { DoorEvents, FinalEvent, LiveStream, StreamCore, StreamListener } from "../../stream/types.ts";
import type { Logger } from "../../log.ts";
import { AudioDecoder } from "../deepgram/audio.ts";
import { IDLE_CLOSE, IDLE_TIMEOUT_MS } from "../deepgram/socket.ts";
import { fluxError, type FluxMessage, type Sequenced } from "./messages.ts";
import { thresholdsOf, thresholdUpdate } from "./options.ts";
import type { FluxParams } from "./query.ts";
import { TurnTracker } from "./turns.ts";

/**
 * One Flux connection: audio frames and Configure / ForceEndTurn /
 * CloseStream → calls on its live stream; the stream's events → TurnInfo.
 * Phases: open → closing (CloseStream: drain, close 1000) → closed. As on
 * /v1/listen, the stream is opened at the handshake and messages produced
 * before the socket is attached wait in `early`.
 */

/** RFC 6455 "message too big". */
const TOO_BIG = 1009;

export interface FluxDeps {
  params: FluxParams;
  requestId: string;
  clientId: string;
  maxFrameBytes: number;
  core: StreamCore;
  events: DoorEvents;
  log: Logger;
  idleTimeoutMs?: number;
}

type Phase = "open" | "closing" | "closed";

export class FluxConnection {
  private readonly decoder: AudioDecoder;
  private readonly turns: TurnTracker;
  private stream: LiveStream | null = null;
  private ws: DoorSocket<FluxConnection> | null = null;
  private early: Sequenced[] = [];
  private sequence = 0;
  private phase: Phase = "open";
  private lastActivity = performance.now();
  private idleTimer: ReturnType<typeof setInterval> | null = null;
  /** A ForceEndTurn is being served: the final it closes is a "manual" EndOfTurn. */
  private forcing = false;
  /** Query `keyterm`, then Configure's (the stream's `keyterms` option); reported in ConfigureSuccess. */
  keyterms: string[];
  /** ForceEndTurn and CloseStream run one after another, in the order the client sent them. */
  private ops: Promise<void> = Promise.resolve();

  constructor(private readonly d: FluxDeps) {
    this.decoder = new AudioDecoder(d.params.encoding, d.params.sampleRate, d.maxFrameBytes);
    this.turns = new TurnTracker(d.requestId);
    this.keyterms = [...d.params.keyterms];
    this.send([{ type: "Connected", request_id: d.requestId }]);
  }

  readonly listener: StreamListener = {
    final: (e) => this.final(e),
    interim: (e) => this.send(this.turns.interim(e)),
    speechStarted: (e) => this.send(this.turns.speechStarted(e.start)),
    turnEager: (e) => this.send(this.turns.eager(e)),
    turnResumed: () => this.send(this.turns.resumed()),
    error: (code, message) => this.fail(code, message),
  };

  get turnIndex(): number {
    return this.turns.index;
  }

  bind(stream: LiveStream): void {
    this.stream = stream;
  }

  attach(ws: DoorSocket<FluxConnection>): void {
    this.ws = ws;
    const early = this.early;
    this.early = [];
    for (const m of early) ws.send(JSON.stringify(m));
    const timeout = this.d.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    this.lastActivity = performance.now();
    this.idleTimer = setInterval(() => {
      if (this.phase === "open" && performance.now() - this.lastActivity >= timeout) this.fatal("idle_timeout", "", IDLE_CLOSE.code, IDLE_CLOSE.reason);
    }, Math.min(500, timeout / 4));
  }

  activity(): void {
    this.lastActivity = performance.now();
  }

  message(m: string | Buffer): void {
    if (this.phase !== "open") return;
    this.lastActivity = performance.now();
    if (typeof m === "string") return this.control(m);
    if (m.byteLength > 0) this.audio(m);
  }

  closed(code: number, reason: string): void {
    const was = this.phase;
    this.phase = "closed";
    this.stopTimer();
    this.d.log.forget(`flux:${this.d.requestId}:`);
    if (was === "open") {
      this.d.log.info("flux stream disconnected", { requestId: this.d.requestId, clientId: this.d.clientId, code, reason: reason.slice(0, 120) });
      void this.stream?.close().catch(() => {});
    }
  }

  abandon(): void {
    if (this.ws || this.phase === "closed") return;
    this.phase = "closed";
    void this.stream?.close().catch(() => {});
  }

  private final(e: FinalEvent): void {
    // CloseStream's flush: Flux sends no EndOfTurn for the turn a CloseStream cuts.
    if (this.phase !== "open" && !this.forcing && e.payload.end_of_turn?.trigger === "finalize") return this.turns.drop();
    this.send(this.turns.final(e, this.forcing));
  }

  private control(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return this.reject("UNPARSABLE_CLIENT_MESSAGE", "text frames carry JSON control messages (Configure, ForceEndTurn, CloseStream); send audio as binary frames");
    }
    const type = typeof msg === "object" && msg !== null ? (msg as { type?: unknown }).type : undefined;
    switch (type) {
      case "CloseStream":
        return this.closeStream();
      case "Configure":
        return this.configure(msg as Record<string, unknown>);
      case "ForceEndTurn":
        return this.forceEndTurn();
      default:
        return this.reject("UNPARSABLE_CLIENT_MESSAGE", `unknown message type ${JSON.stringify(type ?? null).slice(0, 64)}: expected Configure, ForceEndTurn or CloseStream (KeepAlive and Finalize are /v1/listen messages)`);
    }
  }

  /**
   * Configure: thresholds take effect from the next audio (the open turn is
   * judged by them from its next pause); keyterms replace the stream's.
   */
  private configure(msg: Record<string, unknown>): void {
    const stream = this.stream;
    if (!stream) return;
    const failure = (description: string) => {
      this.d.events.error("flux", "configure_failure");
      this.send([{ type: "ConfigureFailure", request_id: this.d.requestId, description }]);
    };
    const update = thresholdUpdate(msg.thresholds);
    if (!update.ok) return failure(update.message);
    const k = msg.keyterms;
    if (k !== undefined && !(Array.isArray(k) && k.every((t) => typeof t === "string"))) return failure("Configure.keyterms must be an array of strings");
    const keyterms = (k as string[] | undefined)?.map((t) => t.trim()).filter(Boolean);
    // Keyterms feed Whisper's prompt from the next utterance on (the core's `keyterms` option).
    const change = keyterms ? { ...update.options, keyterms } : update.options;
    const invalid = this.d.core.checkOptions({ ...stream.options, ...change });
    if (invalid) return failure(invalid);
    const effective = stream.setOptions(change);
    if (keyterms) this.keyterms = keyterms;
    this.send([{ type: "ConfigureSuccess", request_id: this.d.requestId, thresholds: thresholdsOf(effective), keyterms: this.keyterms }]);
  }

  /** Ends the open turn now (Flux's ForceEndTurn): its EndOfTurn carries trigger "manual". */
  private forceEndTurn(): void {
    const stream = this.stream;
    if (!stream) return;
    this.enqueue(async () => {
      this.forcing = true;
      try {
        await stream.finalize();
        await stream.settled();
      } finally {
        this.forcing = false;
      }
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
        // Drain: turns the model already ended reach the client; then the stream is given up.
        await stream.finalize();
        await stream.settled();
        await stream.close();
      }
      this.phase = "closed";
      this.ws?.close(1000, "");
    });
  }

  private audio(frame: Buffer): void {
    const stream = this.stream;
    if (!stream) return;
    const decoded = this.decoder.decode(new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength));
    if (!decoded.ok) {
      if (decoded.code === "payload_too_large") return this.fatal(decoded.code, decoded.message, TOO_BIG);
      return this.reject("INVALID_AUDIO", decoded.message);
    }
    if (decoded.samples.length === 0) return;
    const pushed = stream.push(decoded.samples);
    if (!pushed.ok) this.reject("BUFFER_FULL", pushed.message);
  }

  /** A bad client message: an Error; the stream goes on. */
  private reject(code: string, description: string): void {
    this.d.events.error("flux", code.toLowerCase());
    this.d.log.once(`flux:${this.d.requestId}:${code}`, "flux: bad client input", { requestId: this.d.requestId, clientId: this.d.clientId, code, description });
    this.send([fluxError(code, description)]);
  }

  private fatal(code: string, message: string, closeCode: number, reason = message): void {
    if (this.phase === "closed") return;
    this.d.events.error("flux", code);
    if (message) this.send([fluxError(code.toUpperCase(), message)]);
    this.phase = "closed";
    this.stopTimer();
    void this.stream?.close().catch(() => {});
    this.ws?.close(closeCode, Buffer.from(reason).subarray(0, 123).toString("utf8"));
  }

  /** The core could not transcribe an utterance, or the stream was taken over (then close 1000: the SDK re-dials after any other code). */
  private fail(code: string, message: string): void {
    this.d.events.error("flux", code);
    this.send([fluxError(code.toUpperCase(), message)]);
    if (code !== "stream_taken_over" || this.phase === "closed") return;
    this.phase = "closed";
    this.stopTimer();
    this.ws?.close(1000, "stream taken over by another connection");
  }

  private send(messages: FluxMessage[]): void {
    for (const m of messages) {
      if (this.ws && this.ws.readyState !== 1) return;
      const sequenced: Sequenced = { ...m, sequence_id: this.sequence++ };
      if (this.ws) this.ws.send(JSON.stringify(sequenced));
      else this.early.push(sequenced);
    }
  }

  private enqueue(op: () => Promise<void>): void {
    this.ops = this.ops.then(op).catch((err) => {
      this.d.log.error("flux: stream operation failed", { requestId: this.d.requestId, error: String(err) });
      this.fatal("internal_error", "the stream failed on this server", 1011, "internal error");
    });
  }

  private stopTimer(): void {
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = null;
  }
}
