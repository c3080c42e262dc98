import { afterAll, beforeAll, expect, test } from "bun:test";
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";
import { JFK_TEXT, SHARED_AUDIO, decodeToRaw, wordErrorRate } from "../support/audio.ts";
import { startServer, type Harness } from "../support/harness.ts";

/**
 * The openai Node SDK's realtime client (OpenAIRealtimeWS, intent
 * "transcription") against the server with the real engine. The SDK always
 * dials wss://, so the server is put behind a TLS terminator, as the README
 * says to: here a minimal one (Bun.serve with a self-signed certificate made
 * by openssl) that relays the WebSocket to the server's plain port.
 */

let h: Harness;
let proxy: ReturnType<typeof Bun.serve>;
let certPem: string;

async function selfSigned(): Promise<{ cert: string; key: string }> {
  if (!Bun.which("openssl")) throw new Error("openssl not found: apt-get install -y openssl");
  const dir = `/tmp/stt-tls-${process.pid}`;
  const p = Bun.spawn(
    ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", `${dir}.key`, "-out", `${dir}.crt`],
    { stdout: "ignore", stderr: "pipe" },
  );
  if ((await p.exited) !== 0) throw new Error(`openssl failed: ${await new Response(p.stderr).text()}`);
  const out = { cert: await Bun.file(`${dir}.crt`).text(), key: await Bun.file(`${dir}.key`).text() };
  await Promise.all([Bun.file(`${dir}.crt`).delete(), Bun.file(`${dir}.key`).delete()]);
  return out;
}

/** wss://127.0.0.1:<port>/… → ws://<server>/…, frames relayed both ways, the Authorization header passed on. */
function tlsTerminator(tls: { cert: string; key: string }, upstream: string): ReturnType<typeof Bun.serve> {
  type Relay = { target: string; auth: string | null; up?: WebSocket; pending: (string | Buffer<ArrayBuffer>)[] };
  return Bun.serve<Relay>({
    hostname: "127.0.0.1",
    port: 0,
    tls,
    fetch(req, srv) {
      const url = new URL(req.url);
      const data: Relay = { target: upstream + url.pathname + url.search, auth: req.headers.get("authorization"), pending: [] };
      return srv.upgrade(req, { data }) ? undefined : new Response("upgrade failed", { status: 400 });
    },
    websocket: {
      open(ws) {
        const up = new WebSocket(ws.data.target, { headers: ws.data.auth ? { Authorization: ws.data.auth } : {} } as never);
        ws.data.up = up;
        up.onopen = () => {
          for (const m of ws.data.pending.splice(0)) up.send(m);
        };
        up.onmessage = (m) => ws.send(m.data as string);
        up.onclose = (e) => ws.close(e.code === 1005 ? 1000 : e.code, e.reason);
      },
      message(ws, m) {
        const up = ws.data.up!;
        const frame = typeof m === "string" ? m : (m as Buffer<ArrayBuffer>);
        if (up.readyState === WebSocket.OPEN) up.send(frame);
        else ws.data.pending.push(frame);
      },
      close(ws) {
        ws.data.up?.close();
      },
    },
  });
}

beforeAll(async () => {
  h = await startServer({ capacity: { admission: false, max_latency: 60 } as never });
  const tls = await selfSigned();
  certPem = tls.cert;
  proxy = tlsTerminator(tls, h.url.replace("http://", "ws://"));
});

afterAll(async () => {
  proxy?.stop(true);
  await h?.stop();
});

test("OpenAIRealtimeWS({ intent: 'transcription' }) behind TLS: session.created, session.updated, deltas and completed transcripts of jfk.flac", async () => {
  const client = new OpenAI({ apiKey: "unused", baseURL: `https://127.0.0.1:${proxy.port}/v1` });
  const rt = new OpenAIRealtimeWS({ intent: "transcription", options: { ca: certPem } }, client);
  expect(rt.url.protocol).toBe("wss:");
  expect(rt.url.pathname).toBe("/v1/realtime");
  const events: { type: string; [k: string]: unknown }[] = [];
  rt.on("event", (e) => events.push(e as never));
  const errors: unknown[] = [];
  rt.on("error", (e) => errors.push(e));
  const waitFor = async (pred: () => boolean, what: string) => {
    const t0 = Date.now();
    while (!pred()) {
      if (Date.now() - t0 > 60_000) throw new Error(`timed out waiting for ${what}: ${events.map((e) => e.type).join(", ")} ${errors.map(String).join("; ")}`);
      await Bun.sleep(20);
    }
  };
  const count = (type: string) => events.filter((e) => e.type === type).length;

  await waitFor(() => count("session.created") === 1, "session.created");
  rt.send({
    type: "session.update",
    session: { type: "transcription", audio: { input: { format: { type: "audio/pcm", rate: 24000 }, transcription: { model: "gpt-4o-transcribe", language: "en" }, turn_detection: { type: "server_vad", silence_duration_ms: 800 } } } },
  });
  await waitFor(() => count("session.updated") === 1, "session.updated");

  const pcm = await decodeToRaw(`${SHARED_AUDIO}/jfk.flac`, "s16le", 24000);
  const all = new Uint8Array(pcm.length + 2 * 24000 * 2);
  all.set(pcm);
  for (let i = 0; i < all.length; i += 4800) {
    rt.send({ type: "input_audio_buffer.append", audio: Buffer.from(all.subarray(i, i + 4800)).toString("base64") });
    await Bun.sleep(5);
  }
  // A round trip after the last append, then every committed item has its transcript.
  rt.send({ type: "session.update", session: { type: "transcription" } });
  await waitFor(
    () => count("session.updated") === 2 && count("input_audio_buffer.committed") > 0 && count("input_audio_buffer.committed") === count("conversation.item.input_audio_transcription.completed"),
    "every transcript",
  );
  rt.close();
  const transcripts = events.filter((e) => e.type === "conversation.item.input_audio_transcription.completed").map((e) => e.transcript as string);
  expect(wordErrorRate(JFK_TEXT, transcripts.join(" "))).toBe(0);
  // Append-only deltas: joined, they are the transcripts joined.
  expect(events.filter((e) => e.type === "conversation.item.input_audio_transcription.delta").map((e) => e.delta as string).join("")).toBe(transcripts.join(""));
  expect(errors).toEqual([]);
}, 120_000);
