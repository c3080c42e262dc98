/**
 * TypeScript client for the speech-to-text server. Runs in Bun, Node and
 * browsers: it uses socket.io-client and plain typed arrays only.
 *
 *   import { connect } from "bun-whisper-stt/client";
 *   const stt = await connect({ url: "http://localhost:2700", clientId: "mic-1" });
 *   stt.on("transcription", (t) => console.log(t.start, t.text));
 *   stt.sendAudio(float32Samples, 48000); // resampled to 16 kHz PCM16
 *   ...
 *   await stt.cleanup(); // closes open speech; its transcript still arrives
 *   stt.close();
 *
 * Resampling: band-limited (Kaiser-windowed sinc, linear phase, cutoff at
 * 0.95 × 8 kHz, 16 zero crossings), with history kept across sendAudio calls
 * so chunk boundaries are seamless. See public/resampler.js, which the browser
 * page's AudioWorklet uses too.
 */
import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import { Resampler, floatToPcm16 } from "../../public/resampler.js";
import type { CleanupConfirmedPayload, ErrorPayload, TranscriptionPayload } from "../transport/schemas.ts";

export type { CleanupConfirmedPayload, ErrorPayload, TranscriptionPayload };

export const SAMPLE_RATE = 16000;

export interface ConnectOptions {
  /** Server URL, e.g. "http://localhost:2700". */
  url: string;
  /** Stream id for sendAudio; the server puts transcripts in this room. Default: "ts-" and 128 random bits (hard to guess, so nobody else subscribes by accident or on purpose). */
  clientId?: string;
  /** Shared token when the server has auth.tokens (sent as the handshake's auth.token). */
  token?: string;
  /** Default ["websocket"]; add "polling" where websockets are blocked. */
  transports?: ("websocket" | "polling" | "webtransport")[];
  /** Reconnect automatically (default true); transcripts resume after reconnect (subscriptions are renewed). */
  reconnection?: boolean;
  /** Milliseconds to wait for the first connection (default 10 s). */
  timeoutMs?: number;
  /** Longest audio_data chunk in seconds (default 0.5); larger sendAudio calls are split. */
  maxChunkSeconds?: number;
  /** Extra socket.io-client options. */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
}

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "disconnected";

export interface ClientEvents {
  transcription: (t: TranscriptionPayload) => void;
  /** Errors the server reports (`error` events) and transport failures (code "connect_error"). */
  error: (e: ErrorPayload) => void;
  connection: (state: ConnectionState, detail?: string) => void;
  cleanup: (c: CleanupConfirmedPayload) => void;
}

export class SubscribeError extends Error {
  override name = "SubscribeError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Listener<K extends keyof ClientEvents> = ClientEvents[K];

export class SttClient {
  readonly socket: Socket;
  readonly clientId: string;
  private state: ConnectionState = "connecting";
  private readonly listeners: { [K in keyof ClientEvents]: Set<Listener<K>> } = {
    transcription: new Set(),
    error: new Set(),
    connection: new Set(),
    cleanup: new Set(),
  };
  private resampler: Resampler | null = null;
  private readonly subscriptions = new Set<string>();
  private readonly maxChunk: number;
  private sentSamples = 0;
  /** From the server's stream_started: lets a reconnect take the clientId back at once. */
  private resumeKey: string | undefined;

  constructor(opts: ConnectOptions) {
    this.clientId = opts.clientId ?? `ts-${randomHex(16)}`;
    this.maxChunk = Math.max(160, Math.round((opts.maxChunkSeconds ?? 0.5) * SAMPLE_RATE));
    this.socket = io(opts.url, {
      transports: opts.transports ?? ["websocket"],
      reconnection: opts.reconnection ?? true,
      forceNew: true,
      // A function so that every reconnect sends the current resume key.
      auth: (cb) => cb({ resumable: true, ...(opts.token !== undefined ? { token: opts.token } : {}), ...(this.resumeKey ? { resumeKey: this.resumeKey } : {}) }),
      ...opts.socketOptions,
    });
    const s = this.socket;
    s.on("connect", () => {
      // Rooms are per socket: renew monitor subscriptions after a reconnect.
      for (const id of this.subscriptions) s.emit("subscribe_transcripts", { clientId: id });
      this.setState("connected");
    });
    s.on("disconnect", (reason) => this.setState(s.active ? "reconnecting" : "disconnected", reason));
    s.on("connect_error", (err) => {
      this.setState(s.active ? "reconnecting" : "disconnected", err.message);
      this.fire("error", { event: "connect", code: "connect_error", message: err.message });
    });
    s.on("transcription", (t: TranscriptionPayload) => this.fire("transcription", t));
    s.on("error", (e: ErrorPayload) => this.fire("error", e));
    s.on("cleanup_confirmed", (c: CleanupConfirmedPayload) => this.fire("cleanup", c));
    s.on("stream_started", (p: { clientId?: unknown; resumeKey?: unknown }) => {
      if (p?.clientId === this.clientId && typeof p.resumeKey === "string") this.resumeKey = p.resumeKey;
    });
  }

  get connectionState(): ConnectionState {
    return this.state;
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** Seconds of 16 kHz audio sent so far (stream time of the next sample). */
  get sentSeconds(): number {
    return this.sentSamples / SAMPLE_RATE;
  }

  on<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): () => void {
    this.listeners[event].add(listener as never);
    return () => this.off(event, listener);
  }

  off<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): void {
    this.listeners[event].delete(listener as never);
  }

  /** Resolves once connected (rejects with the server's refusal, e.g. "invalid_token: …"). */
  waitConnected(timeoutMs = 10_000): Promise<void> {
    if (this.socket.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`not connected after ${timeoutMs} ms`)), timeoutMs);
      const ok = () => done();
      const bad = (err: Error) => {
        // With reconnection on, a refused token would retry forever: give up now.
        if (!this.socket.active || /token|forbidden|shutting_down/.test(err.message)) done(err);
      };
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.socket.off("connect", ok);
        this.socket.off("connect_error", bad);
        if (err) reject(err);
        else resolve();
      };
      this.socket.on("connect", ok);
      this.socket.on("connect_error", bad);
    });
  }

  /**
   * Streams audio for this.clientId. Int16Array is PCM16, Float32Array is in
   * [-1, 1]; anything not at 16 kHz is resampled (state carries across calls,
   * so pass one stream at one rate; a new rate starts a new resampler).
   * Returns the number of 16 kHz samples sent.
   */
  sendAudio(samples: Int16Array | Float32Array, sampleRate = SAMPLE_RATE): number {
    let pcm: Int16Array;
    if (sampleRate === SAMPLE_RATE && samples instanceof Int16Array) {
      pcm = samples;
    } else {
      const f = samples instanceof Float32Array ? samples : int16ToFloat(samples);
      if (sampleRate === SAMPLE_RATE) pcm = floatToPcm16(f);
      else {
        if (!this.resampler || this.resampler.inRate !== sampleRate) this.resampler = new Resampler(sampleRate, SAMPLE_RATE);
        pcm = floatToPcm16(this.resampler.process(f));
      }
    }
    this.emitPcm(pcm);
    return pcm.length;
  }

  /** End of a resampled stream: sends what the resampler still holds (a few ms). */
  flushAudio(): number {
    if (!this.resampler) return 0;
    const pcm = floatToPcm16(this.resampler.flush());
    this.emitPcm(pcm);
    return pcm.length;
  }

  private emitPcm(pcm: Int16Array): void {
    for (let i = 0; i < pcm.length; i += this.maxChunk) {
      const part = pcm.subarray(i, i + this.maxChunk);
      // Copy into an exact-size buffer: a view's .buffer may hold more than the chunk.
      const audioData = part.byteOffset === 0 && part.byteLength === part.buffer.byteLength ? part.buffer : part.slice().buffer;
      this.socket.emit("audio_data", { clientId: this.clientId, audioData });
      this.sentSamples += part.length;
    }
  }

  /** Receives transcripts of another clientId (monitor). Resolves with the server's ack. */
  async subscribe(clientId: string, timeoutMs = 5000): Promise<void> {
    const ack = (await this.socket.timeout(timeoutMs).emitWithAck("subscribe_transcripts", { clientId })) as {
      ok: boolean;
      code?: string;
    };
    if (!ack?.ok) throw new SubscribeError(ack?.code ?? "unknown", `subscribe_transcripts "${clientId}" refused: ${ack?.code}`);
    this.subscriptions.add(clientId);
  }

  async unsubscribe(clientId: string, timeoutMs = 5000): Promise<void> {
    this.subscriptions.delete(clientId);
    await this.socket.timeout(timeoutMs).emitWithAck("unsubscribe_transcripts", { clientId });
  }

  /**
   * Ends this clientId's session on the server (open speech is still
   * transcribed and delivered) and resolves with the confirmation.
   */
  cleanup(clientId = this.clientId, timeoutMs = 10_000): Promise<CleanupConfirmedPayload> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no cleanup_confirmed for "${clientId}" after ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on("cleanup", (c) => {
        if (c.clientId !== clientId) return;
        clearTimeout(timer);
        off();
        resolve(c);
      });
      this.socket.emit("cleanup_client", { clientId });
      if (clientId === this.clientId) {
        this.resampler?.reset();
        this.sentSamples = 0;
      }
    });
  }

  /** Disconnects (the server ends this socket's sessions, flushing open speech). */
  close(): void {
    this.socket.disconnect();
    this.setState("disconnected", "closed");
  }

  private setState(state: ConnectionState, detail?: string): void {
    if (state === this.state && state !== "reconnecting") return;
    this.state = state;
    this.fire("connection", state, detail);
  }

  private fire<K extends keyof ClientEvents>(event: K, ...args: Parameters<ClientEvents[K]>): void {
    for (const l of this.listeners[event]) {
      try {
        (l as (...a: unknown[]) => void)(...args);
      } catch (err) {
        // A listener's bug must not stop delivery to the others.
        console.error(`stt client: a "${event}" listener threw`, err);
      }
    }
  }
}

/** Creates a client and resolves once it is connected. */
export async function connect(opts: ConnectOptions): Promise<SttClient> {
  const c = new SttClient(opts);
  try {
    await c.waitConnected(opts.timeoutMs ?? 10_000);
  } catch (err) {
    c.close();
    throw err;
  }
  return c;
}

function int16ToFloat(pcm: Int16Array): Float32Array {
  const out = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = pcm[i]! / 32768;
  return out;
}

function randomHex(bytes: number): string {
  const b = globalThis.crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
