/**
 * Limits of POST /v1/audio/transcriptions against untrusted uploads: body cap
 * with and without Content-Length, language checked against the model,
 * max_file_seconds, the ffmpeg timeout, and no internals in any answer. Real
 * engine (tiny.en, English only); the timeout case uses a second server with
 * the stand-in engine, since it never reaches the engine.
 */
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";

// Real engine on a shared 2-core machine: transcripts may take longer than bun's 5 s default.
setDefaultTimeout(60_000);
import { SHARED_AUDIO } from "../support/audio.ts";
import { startServer, type Harness } from "../support/harness.ts";
import { RecordingEngine } from "../support/test-engine.ts";
import { decodeAudio } from "../../src/offline/decode.ts";

const MiB = 1024 * 1024;
let h: Harness;
let slow: Harness;
let jfk: Uint8Array;
/** One hour of silence, FLAC at 8 kHz: ~650 KB that decode to 115 MB of PCM (bomb-like). */
let longSilence: Uint8Array;

async function post(base: string, form: FormData | ReadableStream<Uint8Array>, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/v1/audio/transcriptions`, { method: "POST", body: form, headers });
  const text = await res.text();
  // Never a stack trace, a source path or an engine internal in an answer.
  expect(text).not.toMatch(/\bat .+:\d+:\d+|\.ts\b|node_modules|\/tmp\//);
  return { status: res.status, body: JSON.parse(text) as { error?: { code: string; message: string; param: string | null }; text?: string } };
}

function form(file: Uint8Array, name: string, fields: Record<string, string> = {}): FormData {
  const f = new FormData();
  f.set("file", new File([file as Uint8Array<ArrayBuffer>], name));
  f.set("model", "whisper-1");
  for (const [k, v] of Object.entries(fields)) f.set(k, v);
  return f;
}

beforeAll(async () => {
  h = await startServer({ limits: { max_upload_bytes: 1 * MiB, max_file_seconds: 20 } as never });
  slow = await startServer({ limits: { file_decode_timeout_seconds: 0.05, max_file_seconds: 7200 } as never }, { engine: new RecordingEngine() });
  jfk = new Uint8Array(await Bun.file(`${SHARED_AUDIO}/jfk_16k.wav`).arrayBuffer());
  const p = Bun.spawn(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "3600", "-c:a", "flac", "-f", "flac", "pipe:1"], {
    stdout: "pipe",
  });
  longSilence = new Uint8Array(await new Response(p.stdout).arrayBuffer());
  expect(await p.exited).toBe(0);
});

afterAll(async () => {
  await Promise.all([h.stop(), slow.stop()]);
});

describe("file endpoint limits", () => {
  test("a chunked body over max_upload_bytes gets 413, as does a declared one", async () => {
    const chunk = new Uint8Array(64 * 1024).fill(0x41);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 32 * MiB) return c.close();
        sent += chunk.length;
        c.enqueue(chunk);
      },
    });
    const chunked = await post(h.url, stream, { "content-type": "multipart/form-data; boundary=xyz" });
    expect(chunked.status).toBe(413);
    expect(chunked.body.error).toMatchObject({ code: "file_too_large", param: "file" });
    expect(chunked.body.error!.message).toContain("max_upload_bytes");
    // Stopped reading once over the cap (the rest was never pulled; a few MiB
    // may sit in the loopback's socket buffers by then, so the stream is far longer).
    expect(sent).toBeLessThan(32 * MiB);

    const declared = await post(h.url, form(new Uint8Array(2 * MiB), "big.wav"));
    expect(declared.status).toBe(413);
    expect(declared.body.error!.code).toBe("file_too_large");
  });

  test("a language the model does not know is a 400 before any decoding", async () => {
    for (const language of ["de", "zz"]) {
      const r = await post(h.url, form(jfk, "jfk.wav", { language }));
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ code: "invalid_value", param: "language" });
      expect(r.body.error!.message).toContain('only knows "en"');
    }
    const ok = await post(h.url, form(jfk, "jfk.wav", { language: "en" }));
    expect(ok.status).toBe(200);
    expect(ok.body.text).toContain("fellow Americans");
  }, 30_000);

  test("audio longer than max_file_seconds is refused (413) without decoding it all", async () => {
    const t0 = performance.now();
    const r = await post(h.url, form(longSilence, "silence.flac"));
    expect(r.status).toBe(413);
    expect(r.body.error).toMatchObject({ code: "audio_too_long", param: "file" });
    expect(r.body.error!.message).toContain("max_file_seconds");
    // ffmpeg stops just past the limit: far less than decoding the whole hour (~1.5 s here).
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  test("a decode past file_decode_timeout_seconds is killed and answered with a 400", async () => {
    const r = await post(slow.url, form(longSilence, "silence.flac"));
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: "invalid_audio", param: "file" });
    expect(r.body.error!.message).toContain("took longer than 0.05 s");
  });

  test("decodeAudio kills ffmpeg on timeout (no child left behind)", async () => {
    const t0 = performance.now();
    const err = await decodeAudio(longSilence, { timeoutMs: 100 }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toContain("took longer than 0.1 s");
    expect(performance.now() - t0).toBeLessThan(1000);
    const children = Bun.spawnSync(["pgrep", "-P", String(process.pid), "ffmpeg"]);
    expect(children.stdout.toString().trim()).toBe("");
  });

  test("input outside the format allow-list is refused: a playlist pointing at a URL", async () => {
    const playlist = new TextEncoder().encode("#EXTM3U\n#EXTINF:1,\nhttp://127.0.0.1:9/a.mp3\n");
    const r = await post(h.url, form(playlist, "list.m3u8"));
    expect(r.status).toBe(400);
    expect(r.body.error!.code).toBe("invalid_audio");
  });
});
