import { io as connect, type Socket } from "socket.io-client";
import { createSttServer, type SttServerOptions } from "../../src/server.ts";
import type { Config } from "../../src/config/schema.ts";
import { createLogger } from "../../src/log.ts";

export interface Harness {
  url: string;
  stop(): Promise<void>;
  logs: string[];
}

/**
 * Compute type for servers whose transcripts are checked word for word.
 * CTranslate2's int8 CPU kernels differ by instruction set (AVX2, AVX-512,
 * VNNI) and tiny.en int8 sits on a knife edge for some clips: on an AVX2-only
 * EPYC it hears "And so am I" in JFK's first utterance where an AVX-512 host and
 * faster-whisper float32 hear "And so my". float32 gives the same words on every
 * x86 host; the int8 default is covered by test/e2e (within one word) and by
 * the engine's parity bench.
 */
export const EXACT_COMPUTE_TYPE = "float32";

export async function startServer(config: Partial<Config> = {}, options: SttServerOptions = {}): Promise<Harness> {
  const logs: string[] = [];
  const server = createSttServer(
    // Admission control judges this machine's measured speed, which swings
    // with whatever else the suite runs; tests about other things must not
    // be refused for load (test/capacity and test/e2e turn it on).
    { host: "127.0.0.1", port: 0, compute_type: EXACT_COMPUTE_TYPE, capacity: { admission: false } as Config["capacity"], ...config },
    { logger: createLogger(true, (l) => logs.push(l)), ...options },
  );
  const { url } = await server.start();
  return { url, logs, stop: () => server.stop() };
}

export async function client(url: string, opts: { transports?: ("websocket" | "polling")[]; auth?: Record<string, unknown> } = {}): Promise<Socket> {
  const s = connect(url, { transports: opts.transports ?? ["websocket"], forceNew: true, reconnection: false, auth: opts.auth });
  await new Promise<void>((resolve, reject) => {
    s.once("connect", () => resolve());
    s.once("connect_error", (e) => reject(e));
  });
  return s;
}

/** Sends PCM16 in chunks of `chunkMs`; `realtime` paces them like a microphone. */
export async function streamPcm(
  s: Socket,
  pcm: Int16Array,
  opts: { clientId?: string; chunkMs?: number; realtime?: boolean; legacy?: boolean } = {},
): Promise<void> {
  const step = Math.round(((opts.chunkMs ?? 100) * 16000) / 1000);
  for (let i = 0; i < pcm.length; i += step) {
    const chunk = pcm.slice(i, i + step);
    if (opts.legacy) s.emit("audio_data", chunk.buffer);
    else s.emit("audio_data", { clientId: opts.clientId, audioData: chunk.buffer });
    if (opts.realtime) await Bun.sleep(opts.chunkMs ?? 100);
    else await Bun.sleep(4); // faster than real time, within the default per-socket event rate
  }
}

/** Collects every `event` payload a socket receives. */
export function collect<T = unknown>(s: Socket, event: string): T[] {
  const out: T[] = [];
  s.on(event, (p: T) => out.push(p));
  return out;
}

export async function waitFor(cond: () => boolean, timeoutMs = 30000, what = "condition"): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** waitFor for a condition that needs a round trip (a scrape): one check at a time, `everyMs` apart. */
export async function waitForAsync(cond: () => Promise<boolean>, timeoutMs = 30000, what = "condition", everyMs = 50): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}
