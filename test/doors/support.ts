import { DeepgramClient } from "@deepgram/sdk";
import { request } from "node:http";
import { randomBytes } from "node:crypto";
import type { DgMessage, DgResults } from "../../src/doors/deepgram/messages.ts";

/** Helpers shared by the Deepgram door's end-to-end tests. */

export const DG_KEY = "dg-test-key-0123456789";

export function wsUrl(httpUrl: string): string {
  return httpUrl.replace(/^http/, "ws");
}

export interface SdkStream {
  socket: Awaited<ReturnType<DeepgramClient["listen"]["v1"]["connect"]>>;
  messages: DgMessage[];
  closed: Promise<{ code: number; reason: string }>;
}

/** Opens a live stream with @deepgram/sdk exactly as an application would, base URL aside (the README snippet). */
export async function sdkStream(url: string, query: Record<string, string>, key = DG_KEY): Promise<SdkStream> {
  const client = new DeepgramClient({ apiKey: key, baseUrl: wsUrl(url) });
  const socket = await client.listen.v1.connect({
    model: "nova-3",
    encoding: "linear16",
    sample_rate: 16000,
    ...query,
    Authorization: `Token ${key}`,
    // A test wants to see a close, not the SDK's re-dial.
    reconnectAttempts: 0,
  } as never);
  const messages: DgMessage[] = [];
  socket.on("message", (m) => void messages.push(m as unknown as DgMessage));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on("close", (e) => resolve({ code: e.code, reason: e.reason })));
  socket.connect();
  await socket.waitForOpen();
  return { socket, messages, closed };
}

/** Sends PCM16 in 100 ms frames, paced like a microphone. */
export async function sendRealtime(send: (b: Uint8Array) => void, pcm: Int16Array, from = 0, to = pcm.length): Promise<void> {
  const step = 1600;
  const t0 = performance.now();
  for (let i = from, k = 1; i < to; i += step, k++) {
    const chunk = pcm.slice(i, Math.min(i + step, to));
    send(new Uint8Array(chunk.buffer));
    const due = t0 + k * 100 - performance.now();
    if (due > 0) await Bun.sleep(due);
  }
}

export const resultsOf = (ms: DgMessage[]) => ms.filter((m): m is DgResults => m.type === "Results");
export const finalsOf = (ms: DgMessage[]) => resultsOf(ms).filter((r) => r.is_final);
export const textOf = (rs: DgResults[]) =>
  rs
    .map((r) => r.channel.alternatives[0]!.transcript)
    .filter(Boolean)
    .join(" ");

/** Every field every client indexes, on every Results. */
export function expectComplete(r: DgResults, requestId: string): void {
  const alt = r.channel.alternatives[0]!;
  const ok =
    r.type === "Results" &&
    JSON.stringify(r.channel_index) === "[0,1]" &&
    typeof r.start === "number" &&
    typeof r.duration === "number" &&
    r.duration >= 0 &&
    typeof r.is_final === "boolean" &&
    typeof r.speech_final === "boolean" &&
    typeof r.from_finalize === "boolean" &&
    typeof alt.transcript === "string" &&
    alt.confidence > 0 &&
    alt.confidence <= 1 &&
    Array.isArray(alt.words) &&
    alt.words.every((w) => typeof w.word === "string" && w.start <= w.end && w.confidence > 0 && typeof w.punctuated_word === "string") &&
    r.metadata.request_id === requestId &&
    typeof r.metadata.model_info.name === "string" &&
    typeof r.metadata.model_uuid === "string";
  if (!ok) throw new Error(`incomplete Results: ${JSON.stringify(r)}`);
}

export interface Handshake {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A WebSocket upgrade request by hand, to read the HTTP answer of a refused
 * handshake (a WebSocket client only reports that it failed).
 */
export function upgradeRequest(url: string, path: string, headers: Record<string, string> = {}): Promise<Handshake> {
  const u = new URL(path, url);
  return new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      headers: { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": randomBytes(16).toString("base64"), ...headers },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: "" });
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}
