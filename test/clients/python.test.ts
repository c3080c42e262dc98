import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { JFK_TEXT, SHARED_AUDIO, decodeToPcm16, wordErrorRate } from "../support/audio.ts";
import { startServer, type Harness } from "../support/harness.ts";
import type { TranscriptionPayload } from "../../src/transport/schemas.ts";

/** Real python-socketio clients (sender + monitor) against the server with the real engine. */

const SCRIPT = resolve(import.meta.dir, "../python/stream_and_monitor.py");
let h: Harness;
let pcmPath: string;

interface PyResult {
  client_id: string;
  ack: unknown;
  sender: TranscriptionPayload[];
  monitor: TranscriptionPayload[];
  errors: unknown[];
}

async function runPython(args: string[]): Promise<PyResult> {
  const p = Bun.spawn(["python3", SCRIPT, "--url", h.url, "--pcm", pcmPath, ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`python exited ${code}: ${err}`);
  return JSON.parse(out.trim().split("\n").at(-1)!) as PyResult;
}

function expectJfkOnce(r: PyResult, clientId: string): void {
  expect(r.errors).toEqual([]);
  expect(r.ack).toEqual({ ok: true, clientId });
  for (const got of [r.sender, r.monitor]) {
    expect(got.length).toBeGreaterThan(0);
    expect(got.every((t) => t.client_id === clientId)).toBe(true);
    // Exactly once: seq 0..n-1, no repeats, no gaps.
    expect(got.map((t) => t.seq)).toEqual([...got.keys()]);
    expect(wordErrorRate(JFK_TEXT, got.map((t) => t.text).join(" "))).toBe(0);
  }
  expect(r.monitor).toEqual(r.sender);
}

beforeAll(async () => {
  if (!Bun.which("python3")) throw new Error("python3 not found (scripts/test-setup.sh installs python-socketio)");
  const check = Bun.spawnSync(["python3", "-c", "import socketio, aiohttp"]);
  if (check.exitCode !== 0) throw new Error('python-socketio missing: pip install "python-socketio==5.*" "aiohttp==3.*" (scripts/test-setup.sh)');
  pcmPath = `/tmp/stt-py-jfk-${process.pid}.raw`;
  await Bun.write(pcmPath, await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`));
  h = await startServer();
});

afterAll(async () => {
  await h?.stop();
  await Bun.file(pcmPath).delete().catch(() => {});
});

describe("python-socketio clients", () => {
  test("{clientId, audioData: bytes}: sender and a subscribed monitor each get the JFK transcript exactly once", async () => {
    const r = await runPython(["--client-id", "py-jfk"]);
    expectJfkOnce(r, "py-jfk");
  }, 60_000);

  test("legacy form (bytes alone): clientId is client-<sid[:8]>, both get it exactly once", async () => {
    const r = await runPython(["--legacy"]);
    expect(r.client_id).toMatch(/^client-.{8}$/);
    expectJfkOnce(r, r.client_id);
  }, 60_000);
});
