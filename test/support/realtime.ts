/**
 * A raw OpenAI Realtime connection over Bun's WebSocket client, for the tests
 * that send what an SDK would refuse to (bad events) or that need the wire
 * as it is (subprotocols, beta shapes). Events are kept in arrival order.
 */

export type RealtimeEvent = { type: string } & Record<string, any>;

export interface RealtimeConn {
  ws: WebSocket;
  events: RealtimeEvent[];
  /** The next not-yet-read event of `type` (earlier ones of other types are passed over, not lost: `events` has them). */
  next(type: string, timeoutMs?: number): Promise<RealtimeEvent>;
  send(e: unknown): void;
  /** Sends 16-bit PCM (or any bytes) as one input_audio_buffer.append. */
  append(bytes: Uint8Array): void;
  closed: Promise<{ code: number; reason: string }>;
}

export async function connectRealtime(url: string, opts: { headers?: Record<string, string>; protocols?: string[] } = {}): Promise<RealtimeConn> {
  const ws = new WebSocket(url, { headers: opts.headers, protocols: opts.protocols } as never);
  const events: RealtimeEvent[] = [];
  let wake: (() => void) | null = null;
  ws.onmessage = (m) => {
    events.push(JSON.parse(String(m.data)) as RealtimeEvent);
    wake?.();
  };
  const closed = new Promise<{ code: number; reason: string }>((r) => (ws.onclose = (e) => r({ code: e.code, reason: e.reason })));
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`websocket to ${url} failed`));
  });
  let read = 0;
  const next = async (type: string, timeoutMs = 10_000): Promise<RealtimeEvent> => {
    const t0 = Date.now();
    for (;;) {
      while (read < events.length) {
        const e = events[read++]!;
        if (e.type === type) return e;
      }
      if (Date.now() - t0 > timeoutMs) throw new Error(`no ${type} within ${timeoutMs} ms; got ${events.map((e) => e.type).join(", ")}`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 100);
      });
    }
  };
  const send = (e: unknown) => ws.send(typeof e === "string" ? e : JSON.stringify(e));
  const append = (bytes: Uint8Array) => send({ type: "input_audio_buffer.append", audio: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64") });
  return { ws, events, next, send, append, closed };
}
