import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { JFK_TEXT, SHARED_AUDIO, decodeToPcm16, wordErrorRate } from "../support/audio.ts";
import { startServer, type Harness } from "../support/harness.ts";
import type { TranscriptionInterimPayload, TranscriptionPayload } from "../../src/transport/schemas.ts";

/** Real python-socketio clients (sender + monitor) against the server with the real engine. */

const SCRIPT = resolve(import.meta.dir, "../python/stream_and_monitor.py");
const LIVE_SCRIPT = resolve(import.meta.dir, "../python/live_interims.py");
let h: Harness;
let live: Harness;
let pcmPath: string;

interface PyResult {
  client_id: string;
  ack: unknown;
  sender: TranscriptionPayload[];
  monitor: TranscriptionPayload[];
  errors: unknown[];
}

async function runPython(args: string[]): Promise<PyResult> {
  // Waits for JFK's last utterance (it ends near 10.8 s), not for a quiet spell:
  // on a shared slow core one engine call can take seconds.
  const p = Bun.spawn(["python3", SCRIPT, "--url", h.url, "--pcm", pcmPath, "--until-end", "10.5", ...args], { stdout: "pipe", stderr: "pipe" });
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
  // The live server: a 1.5 s silence window keeps JFK's sentences long enough
  // for interims to come back before they close on a slow shared core; this
  // file tests the client, not load shedding or admission (test/capacity does).
  [h, live] = await Promise.all([startServer(), startServer({ silence_duration: 1.5, capacity: { admission: false, max_latency: 60 } as never })]);
});

afterAll(async () => {
  await Promise.all([h?.stop(), live?.stop()]);
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

interface LiveResult {
  client_id: string;
  events: [string, unknown][];
  finalize_ack: unknown;
}

async function runLive(args: string[]): Promise<LiveResult> {
  const p = Bun.spawn(["python3", LIVE_SCRIPT, "--url", live.url, "--pcm", pcmPath, "--until-end", "10.5", ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`python exited ${code}: ${err}`);
  return JSON.parse(out.trim().split("\n").at(-1)!) as LiveResult;
}

const of = <T>(r: LiveResult, event: string) => r.events.filter(([e]) => e === event).map(([, p]) => p as T);

describe("python-socketio live results (jfk.flac in real time)", () => {
  test('auth={"interim_results": True}: interims before the final, the final starts with their stable text, finalize closes the last one', async () => {
    const r = await runLive(["--client-id", "py-live"]);
    const interims = of<TranscriptionInterimPayload>(r, "transcription_interim");
    const finals = of<TranscriptionPayload>(r, "transcription");
    // speech_started (vad_events) and stream_started (resumable) were not asked for.
    expect(new Set(r.events.map(([e]) => e))).toEqual(new Set(["connection_status", "transcription_interim", "transcription"]));
    expect(r.finalize_ack).toEqual({ ok: true, clientId: "py-live", finalized: true });
    if (interims.length === 0) {
      const counters = (await (await fetch(`${live.url}/metrics`)).text()).split("\n").filter((l) => /^stt_(interims_total|capacity_interims_shed_total)/.test(l));
      throw new Error(`no interim: ${counters.join("; ")}`);
    }
    expect(finals.at(-1)!.from_finalize).toBe(true);
    expect(finals.map((f) => f.seq)).toEqual([...finals.keys()]);
    expect(wordErrorRate(JFK_TEXT, finals.map((f) => f.text).join(" "))).toBeLessThanOrEqual(0.1);
    for (const f of finals) {
      const mine = interims.filter((i) => i.seq === f.seq);
      // (an utterance with no interim has an empty stable prefix)
      expect(f.text.startsWith(mine.at(-1)?.stable_text ?? "")).toBe(true);
      // Every interim of this utterance arrived before its final.
      const finalAt = r.events.findIndex(([, p]) => p === f);
      expect(r.events.findLastIndex(([e, p]) => e === "transcription_interim" && (p as TranscriptionInterimPayload).seq === f.seq)).toBeLessThan(finalAt);
    }
    // Each interim belongs to an utterance whose final came.
    expect(interims.every((i) => finals.some((f) => f.seq === i.seq))).toBe(true);
  }, 90_000);

  test("a plain python-socketio client (no options) receives no new event type and no new field", async () => {
    const r = await runLive(["--client-id", "py-plain", "--plain"]);
    expect(new Set(r.events.map(([e]) => e))).toEqual(new Set(["connection_status", "transcription"]));
    const finals = of<TranscriptionPayload>(r, "transcription");
    expect(wordErrorRate(JFK_TEXT, finals.map((f) => f.text).join(" "))).toBeLessThanOrEqual(0.1);
    for (const f of finals) expect("words" in f || "from_finalize" in f).toBe(false);
  }, 90_000);
});
