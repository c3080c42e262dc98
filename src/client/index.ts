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
 * Live results: connect with `interimResults: true` (and `wordTimestamps`,
 * `vadEvents`) and listen to "interim" / "speechStarted"; `finalize()` closes
 * the open utterance at once (push-to-talk release, end of a turn).
 *
 * Resampling: band-limited (Kaiser-windowed sinc, linear phase, cutoff at
 * 0.95 × 8 kHz, 16 zero crossings), with history kept across sendAudio calls
 * so chunk boundaries are seamless. See public/resampler.js, which the browser
 * page's AudioWorklet uses too.
 */
import { io, type Socket } from "socket.io-client";
import { Resampler, floatToPcm16 } from "../../public/resampler.js";
import { REPLAY_CHUNK_SAMPLES, SenderReplay } from "./failover.ts";
import {
  fromWireOptions,
  RequestError,
  SAMPLE_RATE,
  SubscribeError,
  toWireOptions,
  type Ack,
  type ClientEvents,
  type ConnectOptions,
  type ConnectionState,
  type EffectiveStreamOptions,
  type SubscribeOptions,
  type StreamOptions,
  type WireStreamOptions,
  type TranscriptionPayload,
  type TranscriptionInterimPayload,
  type SpeechStartedPayload,
  type ErrorPayload,
  type CleanupConfirmedPayload,
} from "./options.ts";

export * from "./options.ts";

function handshakeAuth(opts: ConnectOptions): Record<string, unknown> {
  return { ...(opts.token !== undefined ? { token: opts.token } : {}), ...toWireOptions(opts) };
}

type Listener<K extends keyof ClientEvents> = ClientEvents[K];

export class SttClient {
  readonly socket: Socket;
  readonly clientId: string;
  private state: ConnectionState = "connecting";
  private readonly listeners: { [K in keyof ClientEvents]: Set<Listener<K>> } = {
    transcription: new Set(),
    interim: new Set(),
    speechStarted: new Set(),
    error: new Set(),
    connection: new Set(),
    cleanup: new Set(),
  };
  private resampler: Resampler | null = null;
  /** Monitor subscriptions and their wire payloads, renewed after a reconnect. */
  private readonly subscriptions = new Map<string, { clientId: string; interim_results?: boolean; vad_events?: boolean }>();
  /** Options set with setStreamOptions, per clientId: the server keeps them per connection. */
  private readonly streamOptions = new Map<string, WireStreamOptions>();
  private readonly maxChunk: number;
  private sentSamples = 0;
  /** From the server's stream_started: lets a reconnect take the clientId back at once. */
  private resumeKey: string | undefined;
  /** Unacknowledged audio, kept for a replay after a reconnect (replaySeconds > 0). */
  private readonly replay: SenderReplay | null;

  constructor(opts: ConnectOptions) {
    this.clientId = opts.clientId ?? `ts-${randomHex(16)}`;
    this.maxChunk = Math.max(160, Math.round((opts.maxChunkSeconds ?? 0.5) * SAMPLE_RATE));
    this.replay = (opts.replaySeconds ?? 0) > 0 ? new SenderReplay(opts.replaySeconds!) : null;
    this.socket = io(opts.url, {
      transports: opts.transports ?? ["websocket"],
      reconnection: opts.reconnection ?? true,
      forceNew: true,
      // A function so that every reconnect sends the current resume key (and the options again).
      auth: (cb) => cb({ resumable: true, ...handshakeAuth(opts), ...(this.resumeKey ? { resumeKey: this.resumeKey } : {}), ...this.replay?.auth(this.sentSamples) }),
      ...opts.socketOptions,
    });
    const s = this.socket;
    s.on("connect", () => {
      // Rooms and stream_options are per connection: renew them after a reconnect
      // (emitted before any audio of the new connection, so they apply to it).
      for (const [clientId, o] of this.streamOptions) s.emit("stream_options", { clientId, ...o });
      for (const sub of this.subscriptions.values()) s.emit("subscribe_transcripts", sub);
      const again = this.replay?.connected();
      if (again) this.emitChunks(again, REPLAY_CHUNK_SAMPLES);
      this.setState("connected");
    });
    s.on("audio_ack", (a: { clientId?: unknown; until?: unknown }) => {
      if (a?.clientId === this.clientId && typeof a.until === "number") this.replay?.acknowledge(a.until);
    });
    s.on("disconnect", (reason) => {
      // A draining node disconnects us itself ("io server disconnect"), which socket.io-client
      // does not retry: with replay on, the stream goes on through another node.
      if (this.replay && reason === "io server disconnect") {
        setTimeout(() => this.state !== "disconnected" && s.connect(), 200);
        return this.setState("reconnecting", reason);
      }
      this.setState(s.active ? "reconnecting" : "disconnected", reason);
    });
    s.on("connect_error", (err) => {
      // A draining node refuses in its middleware, which socket.io-client does not retry on its own:
      // with replay on, try again (the balancer sends us to another node).
      if (this.replay && !s.active && /shutting_down|server_busy|max_connections/.test(err.message)) {
        setTimeout(() => this.state !== "disconnected" && s.connect(), 500);
        return this.setState("reconnecting", err.message);
      }
      this.setState(s.active ? "reconnecting" : "disconnected", err.message);
      this.fire("error", { event: "connect", code: "connect_error", message: err.message });
    });
    s.on("transcription", (t: TranscriptionPayload) => {
      // Our own final makes its audio durable, whichever node delivered it.
      if (t.client_id === this.clientId) this.replay?.acknowledge(t.end);
      this.fire("transcription", t);
    });
    s.on("transcription_interim", (i: TranscriptionInterimPayload) => this.fire("interim", i));
    s.on("speech_started", (e: SpeechStartedPayload) => this.fire("speechStarted", e));
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

  /** Seconds of audio kept for a replay (not yet acknowledged), and seconds dropped because the buffer was full. */
  get unacknowledged(): { seconds: number; droppedSeconds: number } {
    return this.replay?.unacknowledged ?? { seconds: 0, droppedSeconds: 0 };
  }

  private emitPcm(pcm: Int16Array): void {
    if (this.replay) {
      this.replay.keep(this.sentSamples, pcm);
      this.sentSamples += pcm.length;
      // While disconnected the audio is only kept: the reconnect replays it in order.
      if (this.socket.connected) this.emitChunks(pcm);
      return;
    }
    this.emitChunks(pcm);
    this.sentSamples += pcm.length;
  }

  private emitChunks(pcm: Int16Array, size = this.maxChunk): void {
    for (let i = 0; i < pcm.length; i += size) {
      const part = pcm.subarray(i, i + size);
      // Copy into an exact-size buffer: a view's .buffer may hold more than the chunk.
      const audioData = part.byteOffset === 0 && part.byteLength === part.buffer.byteLength ? part.buffer : part.slice().buffer;
      this.socket.emit("audio_data", { clientId: this.clientId, audioData });
    }
  }

  /**
   * Receives transcripts of another clientId (monitor); with `interimResults`
   * its interims too. Resolves with the server's ack. A number as the second
   * argument is the timeout (the earlier signature).
   */
  async subscribe(clientId: string, opts: SubscribeOptions | number = {}): Promise<void> {
    const o = typeof opts === "number" ? { timeoutMs: opts } : opts;
    const payload = { clientId, ...(o.interimResults ? { interim_results: true } : {}), ...(o.vadEvents ? { vad_events: true } : {}) };
    const ack = (await this.socket.timeout(o.timeoutMs ?? 5000).emitWithAck("subscribe_transcripts", payload)) as Ack;
    if (!ack?.ok) throw new SubscribeError(ack?.code ?? "unknown", `subscribe_transcripts "${clientId}" refused: ${ack?.code}`);
    this.subscriptions.set(clientId, payload);
  }

  /**
   * Changes the live-result options of a stream of this connection (default:
   * this.clientId), before or during streaming. Resolves with the options the
   * server now applies; a refusal rejects with a RequestError carrying its code.
   */
  async setStreamOptions(options: StreamOptions, clientId = this.clientId, timeoutMs = 5000): Promise<EffectiveStreamOptions> {
    const wire = toWireOptions(options);
    const ack = (await this.socket.timeout(timeoutMs).emitWithAck("stream_options", { clientId, ...wire })) as Ack & {
      options?: Required<WireStreamOptions>;
    };
    if (!ack?.ok || !ack.options) throw new RequestError(ack?.code ?? "unknown", `stream_options for "${clientId}" refused: ${ack?.code}`);
    this.streamOptions.set(clientId, { ...this.streamOptions.get(clientId), ...wire });
    return fromWireOptions(ack.options);
  }

  /**
   * Closes the open utterance of a stream of this connection now (end of a
   * turn, push-to-talk release) instead of waiting for silence. Audio sent
   * before the call is included. `finalized` is false when nothing was open;
   * when true, its transcription (with `from_finalize: true`) follows at once.
   */
  async finalize(clientId = this.clientId, timeoutMs = 10_000): Promise<{ finalized: boolean }> {
    const ack = (await this.socket.timeout(timeoutMs).emitWithAck("finalize", { clientId })) as Ack & { finalized?: boolean };
    if (!ack?.ok) throw new RequestError(ack?.code ?? "unknown", `finalize "${clientId}" refused: ${ack?.code}`);
    return { finalized: ack.finalized === true };
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
        this.replay?.reset();
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
