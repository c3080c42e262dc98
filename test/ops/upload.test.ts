/**
 * Uploads never hold up the event loop: a 60 MiB WAV declaring 8-bit mono at
 * 1 kHz (17 hours by its header) is refused with 413 audio_too_long from its
 * header while /health keeps answering; a client that closes its request
 * aborts its job; SIGTERM lets a short file job finish within
 * shutdown_grace_seconds and answers a long one with 503 shutting_down.
 * Real engine (tiny.en), real server (the SIGTERM case: the CLI process).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { JFK_TEXT, SHARED_AUDIO, concat, decodeToPcm16, normalizeText, wordErrorRate } from "../support/audio.ts";
import { startServer, waitForAsync, type Harness } from "../support/harness.ts";
import { freePort, metric, scrape } from "./support.ts";

setDefaultTimeout(180_000);

const ROOT = resolve(import.meta.dir, "../..");
const MiB = 1024 * 1024;
let h: Harness;
let jfk: Int16Array;

/** A RIFF/WAVE header for `dataBytes` bytes of PCM, then the samples. */
function wav(pcm: Uint8Array, rate: number, bits: number): Uint8Array {
  const out = new Uint8Array(44 + pcm.length);
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode("RIFF"), 0);
  v.setUint32(4, 36 + pcm.length, true);
  out.set(new TextEncoder().encode("WAVEfmt "), 8);
  v.setUint32(16, 16, true);
  v.setUint16(20, 1, true);
  v.setUint16(22, 1, true);
  v.setUint32(24, rate, true);
  v.setUint32(28, (rate * bits) / 8, true);
  v.setUint16(32, bits / 8, true);
  v.setUint16(34, bits, true);
  out.set(new TextEncoder().encode("data"), 36);
  v.setUint32(40, pcm.length, true);
  out.set(pcm, 44);
  return out;
}

function form(file: Uint8Array, name: string): FormData {
  const f = new FormData();
  f.set("model", "whisper-1");
  f.set("file", new File([file as Uint8Array<ArrayBuffer>], name));
  return f;
}

/** jfk.flac `times` times over, as a 16 kHz 16-bit WAV. */
function jfkTimes(times: number): Uint8Array {
  const pcm = concat(...Array.from({ length: times }, () => jfk));
  return wav(new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength), 16000, 16);
}

beforeAll(async () => {
  h = await startServer({ max_workers: 1 });
  jfk = await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`);
});

afterAll(async () => {
  await h?.stop();
});

describe("uploads off the event loop", () => {
  test("a 60 MiB WAV declaring 8-bit mono 1 kHz: 413 audio_too_long from its header; /health answers 200 throughout", async () => {
    const body = form(wav(new Uint8Array(60 * MiB).fill(128), 1000, 8), "long.wav");
    const polls: { status: number; ms: number }[] = [];
    let sent = 0;
    let uploading = true;
    const poller = (async () => {
      while (uploading) {
        sent++;
        const t0 = performance.now();
        const res = await fetch(`${h.url}/health`);
        await res.arrayBuffer();
        polls.push({ status: res.status, ms: performance.now() - t0 });
        await Bun.sleep(10);
      }
    })();
    const t0 = performance.now();
    const res = await fetch(`${h.url}/v1/audio/transcriptions`, { method: "POST", body });
    const answer = (await res.json()) as { error: { code: string; message: string } };
    const uploadMs = performance.now() - t0;
    uploading = false;
    await poller;
    const ms = polls.map((p) => p.ms).sort((a, b) => a - b);
    console.log(`60 MiB upload answered in ${uploadMs.toFixed(0)} ms; /health polls ${polls.length}, latency p50 ${ms[ms.length >> 1]?.toFixed(1)} ms, max ${ms.at(-1)?.toFixed(1)} ms`);
    expect(res.status).toBe(413);
    expect(answer.error.code).toBe("audio_too_long");
    expect(answer.error.message).toContain("long.wav");
    expect(polls.length).toBe(sent);
    expect(polls.length).toBeGreaterThan(0);
    expect(polls.every((p) => p.status === 200)).toBe(true);
  });

  test("a client that closes its request aborts its job (counted as 499, the engine is left to others)", async () => {
    const before = metric(await scrape(h.url), "stt_file_requests_total", { status: "499" }) ?? 0;
    const ac = new AbortController();
    const long = jfkTimes(60); // 11 minutes of speech: minutes of work for this engine
    const req = fetch(`${h.url}/v1/audio/transcriptions`, { method: "POST", body: form(long, "long.wav"), signal: ac.signal }).then(
      () => "answered",
      (e: Error) => e.name,
    );
    // Abort once the job's first utterance is through the engine: the job is mid-transcription.
    const first = metric(await scrape(h.url), "stt_utterance_latency_seconds_count") ?? 0;
    await waitForAsync(async () => (metric(await scrape(h.url), "stt_utterance_latency_seconds_count") ?? 0) > first, 120_000, "the job's first utterance");
    ac.abort();
    expect(await req).toBe("AbortError");
    const aborted = async () => metric(await scrape(h.url), "stt_file_requests_total", { status: "499" }) ?? 0;
    await waitForAsync(async () => (await aborted()) > before, 30_000, "the aborted job to end");
    expect(await aborted()).toBe(before + 1);
    expect(metric(await scrape(h.url), "stt_file_requests_total", { status: "200" }) ?? 0).toBe(0);
  });
});

describe("SIGTERM with file jobs in flight", () => {
  const dir = mkdtempSync(join(tmpdir(), "stt-upload-shutdown-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("a short job finishes within the grace period; a long one is answered 503 shutting_down; exit 0", async () => {
    const port = freePort();
    const grace = 20; // the short job shares the engine with the long one on a loaded machine
    const configPath = join(dir, "stt.json");
    writeFileSync(configPath, JSON.stringify({ host: "127.0.0.1", port, model_path: join(ROOT, "models/tiny.en"), shutdown_grace_seconds: grace }));
    const proc = Bun.spawn(["bun", "run", "src/cli.ts", "--config", configPath], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const output = (async () => (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text()))();
    const url = `http://127.0.0.1:${port}`;
    const t = Date.now();
    while (!(await fetch(`${url}/health`).then((r) => r.ok).catch(() => false))) {
      if (proc.exitCode !== null || Date.now() - t > 90_000) {
        proc.kill("SIGKILL");
        throw new Error(`server did not become healthy:\n${await output}`);
      }
      await Bun.sleep(100);
    }
    type Answer = { status: number; body: { text?: string; error?: { code: string } } };
    const post = (file: Uint8Array): Promise<Answer> =>
      fetch(`${url}/v1/audio/transcriptions`, { method: "POST", body: form(file, "clip.wav") }).then(
        async (r) => ({ status: r.status, body: (await r.json()) as { text?: string; error?: { code: string } } }),
        (e: Error) => ({ status: 0, body: { error: { code: `connection: ${e.message}` } } }),
      );
    const long = post(jfkTimes(110)); // 20 minutes: cannot finish within the grace period
    const short = post(jfkTimes(1));
    // SIGTERM once both jobs have had utterances through the engine.
    await waitForAsync(async () => (metric(await scrape(url), "stt_utterance_latency_seconds_count") ?? 0) >= 2, 120_000, "both jobs under way", 200);
    proc.kill("SIGTERM");
    const [a, b] = await Promise.all([long, short]);
    const code = await proc.exited;
    const log = await output;
    expect(b.status).toBe(200);
    expect(wordErrorRate(JFK_TEXT, normalizeText(b.body.text ?? ""))).toBeLessThan(0.15);
    expect(a.status).toBe(503);
    expect(a.body.error?.code).toBe("shutting_down");
    expect(code).toBe(0);
    expect(log).toContain("shutdown complete");
  });
});
