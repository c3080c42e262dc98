/**
 * Fuzz: thousands of malformed events (random payload types and sizes, bad
 * encodings, truncated binary, huge strings, deep objects, unknown events,
 * floods) against a running server with the real engine, while a real client
 * streams jfk.flac. Checks, round after round:
 *   - the real client's transcript stays correct (WER against JFK_TEXT),
 *   - every malformed event was answered by exactly one `error` event
 *     (its own code, or rate_limited during a flood),
 *   - protocol-level garbage on raw WebSockets only closes those connections,
 *   - RSS settles (no growth from one round to the next once warm).
 * A second test fuzzes POST /v1/audio/transcriptions: malformed multipart,
 * garbage and truncated media, bomb-like files; every answer is a 200 or a
 * 4xx in OpenAI's error shape, never a 500 or a stack trace.
 * Deterministic: the seed is fixed, printed, and can be changed with FUZZ_SEED.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Socket } from "socket.io-client";
import { SHARED_AUDIO, JFK_TEXT, concat, decodeToPcm16, silence, wordErrorRate } from "../support/audio.ts";
import { client, collect, startServer, streamPcm, waitFor, type Harness } from "../support/harness.ts";
import type { ErrorPayload, TranscriptionPayload } from "../../src/transport/schemas.ts";
import { metric, rssMb, scrape } from "./support.ts";
import { rng } from "../support/random.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 500490741);
const ROUNDS = 4;
const FUZZERS = 5;
const EVENTS_PER_FUZZER = 320;
const FLOODERS = 2;
const FLOOD_EVENTS = 900;

let h: Harness;
let jfk: Int16Array;
const sockets: Socket[] = [];

beforeAll(async () => {
  // max_file_seconds below the hour-long bomb of the HTTP fuzz, so it is refused rather than transcribed.
  h = await startServer({ limits: { max_file_seconds: 600 } as never });
  jfk = concat(await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`), silence(1.2));
});

afterAll(async () => {
  for (const s of sockets) s.close();
  await h.stop();
});

type Rng = ReturnType<typeof rng>;

const EVENTS = ["audio_data", "subscribe_transcripts", "unsubscribe_transcripts", "cleanup_client", "client_disconnected"] as const;

/** Nested objects/arrays, at least one level deep (never a bare string that could be a valid clientId). */
function deep(depth: number, r: Rng): unknown {
  let v: unknown = r.pick([1, "x", null, true]);
  for (let i = 0; i <= depth; i++) v = r.next() < 0.5 ? { a: v } : [v];
  return v;
}

function weirdString(r: Rng): string {
  const kinds = [
    () => "",
    () => " ",
    () => "has space",
    () => "tab\there",
    () => "\u0000nul",
    () => "\uD800lone-surrogate",
    () => "\uFEFFbom",
    () => "émoji-🎤",
    () => "x".repeat(129 + r.int(5000)),
    () => "y".repeat(200_000 + r.int(600_000)), // huge
  ];
  // Huge strings are rare so a round stays short.
  const k = r.next() < 0.01 ? kinds.length - 1 : r.int(kinds.length - 1);
  return kinds[k]!();
}

function badClientId(r: Rng): unknown {
  return r.pick([() => weirdString(r), () => r.int(1e6), () => null, () => [], () => ({ id: "x" }), () => true, () => deep(r.int(50), r)])();
}

/** Binary or not, but never a valid PCM16 chunk. */
function badAudio(r: Rng): unknown {
  const odd = () => new Uint8Array(1 + 2 * r.int(4000)); // truncated sample
  return r.pick([
    odd,
    () => new ArrayBuffer(0),
    () => new Uint8Array(1_100_000), // above max_payload_bytes, below the transport limit
    () => weirdString(r),
    () => Array.from({ length: r.int(100) }, () => r.int(65536)),
    () => ({ type: "Buffer", data: [1, 2, 3] }),
    () => r.int(100),
    () => null,
    () => deep(20 + r.int(500), r),
    () => new Float32Array(1).fill(NaN).buffer.slice(0, 3),
  ])();
}

/** One malformed event: [name, payload, withAck]. Never valid, so each must draw exactly one error. */
function badEvent(r: Rng): [string, unknown, boolean] {
  const roll = r.next();
  if (roll < 0.08) return [r.pick(["", "x", "audio", "AUDIO_DATA", "transcription", "\u0000", "é".repeat(40), "a".repeat(300)]), r.next(), false];
  const event = r.pick(EVENTS);
  const ack = event !== "audio_data" && r.next() < 0.3;
  if (event === "audio_data") {
    if (r.next() < 0.15) return [event, badAudio(r), false]; // legacy binary form, malformed
    if (r.next() < 0.3) return [event, { clientId: badClientId(r), audioData: new Int16Array(160).buffer }, false];
    if (r.next() < 0.2) return [event, r.pick([() => 42, () => "str", () => null, () => [1, 2], () => deep(r.int(1500), r), () => ({})])(), false];
    return [event, { clientId: `fuzz-${r.int(20)}`, audioData: badAudio(r) }, false];
  }
  return [event, r.pick([() => ({ clientId: badClientId(r) }), () => badClientId(r), () => deep(r.int(1500), r), () => ({ clientid: "x" })])(), ack];
}

function describe(p: unknown): string {
  if (p instanceof ArrayBuffer || ArrayBuffer.isView(p)) return `binary(${(p as ArrayBuffer).byteLength})`;
  try {
    return (JSON.stringify(p) ?? String(p)).slice(0, 80).replace(/\s/g, "_");
  } catch (e) {
    return `unstringifiable(${(e as Error).message.slice(0, 40)})`;
  }
}

/** Sends `n` malformed events (paced below the rate limit) and waits for their errors. */
async function fuzzer(r: Rng, n: number, paceMs: number): Promise<{ sent: number; errors: ErrorPayload[]; names: string[] }> {
  const names: string[] = [];
  const s = await client(h.url);
  const errors = collect<ErrorPayload>(s, "error");
  let disconnected: string | null = null;
  s.on("disconnect", (why) => (disconnected = why));
  for (let i = 0; i < n; i++) {
    const [event, payload, ack] = badEvent(r);
    names.push(event.slice(0, 64) + (process.env.FUZZ_DEBUG ? " " + describe(payload) : ""));
    if (ack) s.emit(event, payload, () => {});
    else s.emit(event, payload);
    if (paceMs > 0 && i % 4 === 0) await Bun.sleep(paceMs);
  }
  await waitFor(() => errors.length >= n || disconnected !== null, 20_000, `errors for ${n} events`).catch(() => {});
  await Bun.sleep(100);
  const dropped: string | null = disconnected;
  s.close();
  if (dropped) throw new Error(`fuzzer socket was disconnected (${dropped}) after ${errors.length}/${n} errors`);
  return { sent: n, errors, names };
}

/** Floods far above max_events_per_second: every event must still be answered. */
async function flooder(r: Rng, n: number) {
  return fuzzer(r, n, 0);
}

/** Protocol-level garbage on raw WebSockets: the server must drop only those connections. */
async function rawGarbage(r: Rng, url: string): Promise<{ opened: number; closed: number }> {
  const wsUrl = url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket";
  const frames: (() => string | Uint8Array<ArrayBuffer>)[] = [
    () => "40", // connect, then garbage
    () => '42["audio_data"',
    () => '451-["audio_data",{"_placeholder":true,"num":0}]',
    () => "4" + "9".repeat(r.int(30)),
    () => '42[{"not":"a name"}]',
    () => "2probe-but-wrong",
    () => "\u0000\u0001\u0002",
    () => new Uint8Array(Array.from({ length: 1 + r.int(64) }, () => r.int(256))),
    () => "x".repeat(5_000_000), // above the transport's maxHttpBufferSize
  ];
  let opened = 0;
  let closed = 0;
  await Promise.all(
    Array.from({ length: 12 }, async (_, k) => {
      const ws = new WebSocket(wsUrl);
      const done = new Promise<void>((resolve) => {
        ws.onclose = () => {
          closed++;
          resolve();
        };
        ws.onerror = () => {};
      });
      await new Promise<void>((resolve) => {
        ws.onopen = () => resolve();
        setTimeout(resolve, 3000);
      });
      if (ws.readyState !== WebSocket.OPEN) return;
      opened++;
      ws.send("40");
      for (let i = 0; i < 5; i++) {
        const f = k === 0 && i === 0 ? frames.at(-1)! : frames[r.int(frames.length - 1)]!;
        try {
          ws.send(f());
        } catch {
          break;
        }
      }
      // Whatever the server did, end it: a connection the server kept is closed by us.
      await Promise.race([done, Bun.sleep(1500)]);
      if (ws.readyState === WebSocket.OPEN) ws.close();
      await Promise.race([done, Bun.sleep(1000)]);
    }),
  );
  return { opened, closed };
}

test(
  "fuzz: malformed events are answered and never disturb a real stream; RSS settles",
  async () => {
    console.log(`fuzz seed ${SEED} (set FUZZ_SEED to replay)`);
    const r = rng(SEED);
    const good = await client(h.url);
    sockets.push(good);
    const goodErrors = collect<ErrorPayload>(good, "error");
    const rss: number[] = [];
    let totalSent = 0;
    let totalErrors = 0;
    const codes = new Map<string, number>();

    for (let round = 0; round < ROUNDS; round++) {
      const transcripts = collect<TranscriptionPayload>(good, "transcription");
      const id = `fuzz-good-${round}`;
      // The real client: jfk.flac at twice real time, in 100 ms chunks.
      const stream = (async () => {
        const step = 1600;
        for (let i = 0; i < jfk.length; i += step) {
          good.emit("audio_data", { clientId: id, audioData: jfk.slice(i, i + step).buffer });
          await Bun.sleep(50);
        }
      })();
      const results = await Promise.all([
        ...Array.from({ length: FUZZERS }, () => fuzzer(rng(r.int(2 ** 31)), EVENTS_PER_FUZZER, 12)),
        ...Array.from({ length: FLOODERS }, () => flooder(rng(r.int(2 ** 31)), FLOOD_EVENTS)),
      ]);
      const raw = await rawGarbage(r, h.url);
      await stream;
      await waitFor(() => transcripts.length > 0 && transcripts.at(-1)!.end > 10, 30_000, `round ${round} transcript`);
      good.off("transcription");
      good.emit("cleanup_client", { clientId: id });

      for (const { sent, errors, names } of results) {
        if (errors.length !== sent) {
          const count = (xs: string[]) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>());
          console.log("unanswered:", count(names.map((x) => x.split(" ")[0]!)), count(errors.map((e) => e.event)));
          if (process.env.FUZZ_DEBUG) {
            console.log(names.filter((x) => x.startsWith("cleanup_client")).join("\n"));
            console.log(errors.filter((e) => e.event === "cleanup_client").map((e) => e.code + " " + e.message.slice(0, 100)).join("\n"));
          }
        }
        // Exactly one error per malformed event.
        expect(errors.length).toBe(sent);
        for (const e of errors) {
          codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
          expect(typeof e.message).toBe("string");
        }
        totalSent += sent;
        totalErrors += errors.length;
      }
      // Flooders ran far above max_events_per_second.
      expect(results.slice(FUZZERS).some((x) => x.errors.some((e) => e.code === "rate_limited"))).toBe(true);
      expect(raw.closed).toBe(raw.opened);

      const text = transcripts.map((t) => t.text).join(" ");
      const wer = wordErrorRate(JFK_TEXT, text);
      expect(wer).toBeLessThan(0.15);
      expect(goodErrors).toEqual([]);

      await Bun.sleep(300);
      Bun.gc(true);
      await Bun.sleep(200);
      rss.push(rssMb());
      console.log(
        `round ${round}: ${results.reduce((n, x) => n + x.sent, 0)} bad events answered, raw ws ${raw.closed}/${raw.opened} closed, WER ${wer.toFixed(3)}, RSS ${rss.at(-1)!.toFixed(0)} MB`,
      );
    }

    console.log(`fuzz: ${totalSent} malformed events, ${totalErrors} errors; by code ${JSON.stringify(Object.fromEntries(codes))}`);
    expect(totalSent).toBeGreaterThan(8000);
    expect(codes.get("rate_limited")).toBeGreaterThan(0);
    for (const c of ["invalid_payload", "invalid_audio", "odd_byte_length", "payload_too_large", "unknown_event", "empty_audio"]) {
      expect(codes.get(c) ?? 0).toBeGreaterThan(0);
    }
    // RSS settles: after the warm-up round, later rounds add little.
    const warm = rss[1]!;
    const growth = (Math.max(...rss.slice(2)) - warm) / warm;
    console.log(`RSS after rounds (MB): ${rss.map((x) => x.toFixed(0)).join(", ")}; growth after warm-up ${(growth * 100).toFixed(1)}%`);
    expect(growth).toBeLessThan(0.1);

    // The server is intact: health ok, and the counters saw it all.
    expect((await fetch(`${h.url}/health`)).status).toBe(200);
    const m = await scrape(h.url);
    expect(metric(m, "stt_errors_total")).toBeGreaterThanOrEqual(totalErrors);
    expect(metric(m, "stt_active_sessions")).toBe(0);
  },
  120_000,
);

const HTTP_REQUESTS = 240;

/** One malformed or hostile upload; returns its kind and the fetch arguments. */
function hostileUpload(r: Rng, media: { wav: Uint8Array; mp3: Uint8Array; bomb: Uint8Array }): { kind: string; body: BodyInit; type: string } {
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => r.int(256));
  const join = (...parts: (string | Uint8Array)[]) => {
    const bs = parts.map((p) => (typeof p === "string" ? new TextEncoder().encode(p) : p));
    const out = new Uint8Array(bs.reduce((n, b) => n + b.length, 0));
    let at = 0;
    for (const b of bs) out.set(b, (at += b.length) - b.length);
    return out;
  };
  const part = (file: Uint8Array, boundary = "b0undary", name = "file") =>
    join(`--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="x.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`, file, `\r\n--${boundary}--\r\n`);
  const mp = "multipart/form-data; boundary=b0undary";
  const magic = ["RIFF\x00\x00\x00\x00WAVEfmt ", "fLaC", "ID3\x04\x00", "OggS\x00\x02", "\x1aE\xdf\xa3", "\x00\x00\x00\x20ftypM4A ", "#EXTM3U\nhttp://127.0.0.1:9/x.mp3\n", "ffconcat version 1.0\nfile /etc/passwd\n"];
  switch (r.int(9)) {
    case 0: // boundary in the header does not match the body
      return { kind: "multipart_wrong_boundary", body: part(bytes(200), "other"), type: mp };
    case 1: // truncated multipart
      return { kind: "multipart_truncated", body: part(media.wav).subarray(0, 20 + r.int(300)), type: mp };
    case 2: // random bytes under a multipart content type
      return { kind: "multipart_garbage", body: bytes(1 + r.int(4000)), type: r.pick([mp, "multipart/form-data", "multipart/form-data; boundary="]) };
    case 3: // the file field under another name, or control characters in names
      return { kind: "multipart_odd_names", body: part(bytes(100), "b0undary", r.pick(["fi\u0000le", "files", "", "\u202efile"])), type: mp };
    case 4: // a known magic number followed by garbage
      return { kind: "media_magic_garbage", body: part(join(r.pick(magic), bytes(r.int(5000)))), type: mp };
    case 5: // a real file cut short
      return { kind: "media_truncated", body: part((r.next() < 0.5 ? media.wav : media.mp3).subarray(0, 44 + r.int(2000))), type: mp };
    case 6: { // a WAV header that lies: huge sizes, absurd rates and channel counts
      const h = media.wav.slice(0, 44);
      const v = new DataView(h.buffer);
      v.setUint16(22, r.pick([0, 1, 65, 65535]), true);
      v.setUint32(24, r.pick([0, 1, 999, 768_001, 0xffffffff]), true);
      v.setUint32(40, r.pick([0, 0xffffffff, 0x7fffffff]), true);
      return { kind: "media_lying_wav", body: part(join(h, bytes(r.int(3000)))), type: mp };
    }
    case 7: // bomb-like: a small file that decodes to an hour
      return { kind: "media_bomb", body: part(media.bomb), type: mp };
    default: // plain garbage media
      return { kind: "media_garbage", body: part(bytes(r.int(20_000))), type: mp };
  }
}

test(
  "fuzz: hostile uploads to the file endpoint get a 4xx in OpenAI's shape, never a 500 or internals",
  async () => {
    console.log(`http fuzz seed ${SEED} (set FUZZ_SEED to replay)`);
    const r = rng(SEED ^ 0x5eed);
    const wav = new Uint8Array(await Bun.file(`${SHARED_AUDIO}/jfk_16k.wav`).arrayBuffer());
    const mp3 = new Uint8Array(await Bun.file(`${SHARED_AUDIO}/hotwords.mp3`).arrayBuffer());
    const gen = Bun.spawn(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "3600", "-c:a", "flac", "-f", "flac", "pipe:1"], { stdout: "pipe" });
    const bomb = new Uint8Array(await new Response(gen.stdout).arrayBuffer());
    expect(await gen.exited).toBe(0);
    const counts = new Map<string, number>();
    const bad: string[] = [];
    for (let i = 0; i < HTTP_REQUESTS; i++) {
      const u = hostileUpload(r, { wav, mp3, bomb });
      const res = await fetch(`${h.url}/v1/audio/transcriptions`, { method: "POST", body: u.body, headers: { "content-type": u.type } });
      const text = await res.text();
      const key = `${u.kind} ${res.status}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      let code: unknown = null;
      try {
        code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
      } catch {}
      const shaped = res.status === 200 || typeof code === "string";
      if (![200, 400, 413].includes(res.status) || !shaped || /\bat .+:\d+:\d+|\.ts\b|node_modules|\/tmp\//.test(text)) bad.push(`${key}: ${text.slice(0, 200)}`);
    }
    console.log(`http fuzz: ${HTTP_REQUESTS} requests; by kind and status ${JSON.stringify(Object.fromEntries([...counts].sort()))}`);
    expect(bad).toEqual([]);
    // The hostile kinds all came up, and the bomb was refused for its length.
    expect([...counts.keys()].filter((k) => k.startsWith("media_bomb")).sort()).toEqual(["media_bomb 413"]);
    expect(new Set([...counts.keys()].map((k) => k.split(" ")[0])).size).toBe(9);
    expect((await fetch(`${h.url}/health`)).status).toBe(200);
  },
  180_000,
);
