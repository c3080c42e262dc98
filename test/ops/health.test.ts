/**
 * /health is engine liveness only. Request-level outcomes — superseded
 * interims, bad audio, a bad argument, a prompt on a model without
 * tokenizer.json — are counted in /metrics by reason and leave /health at 200;
 * interims stay out of the final-latency histograms. A stalled or a dead
 * engine still flips it. Real engine (tiny.en), real EngineWatch.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createWhisperEngine, type WhisperEngine } from "../../src/engine/whisper.ts";
import { EngineWatch } from "../../src/metrics/engine-watch.ts";
import { evaluateHealth } from "../../src/metrics/health.ts";
import { ServerMetrics } from "../../src/metrics/metrics.ts";
import { SHARED_AUDIO, decodeToPcm16, toFloat } from "../support/audio.ts";
import { startServer, waitFor } from "../support/harness.ts";
import { metric, scrape } from "./support.ts";

setDefaultTimeout(120_000);

const TINY = resolve(import.meta.dir, "../../models/tiny.en");
let engine: WhisperEngine;
let watch: EngineWatch;
let metrics: ServerMetrics;
let jfk: Float32Array;

function metricsOf(w: EngineWatch): ServerMetrics {
  return new ServerMetrics(
    {
      connectedSockets: () => 0,
      activeSessions: () => 0,
      audioSeconds: () => 0,
      utterances: () => 0,
      delivered: () => 0,
      errors: () => new Map(),
      refusedPayloads: () => 0,
      engineStats: () => null,
      redisUp: () => null,
      engineFailures: () => w.failures(),
    },
    { defaultMetrics: false },
  );
}

const healthOf = (w: EngineWatch) =>
  evaluateHealth({ started: true, stopping: false, engine: w, cluster: null, sessions: 0, connections: 0, model: w.info });

beforeAll(async () => {
  engine = await createWhisperEngine({ modelPath: TINY, device: "cpu", computeType: "float32", maxWorkers: 1, batchSize: 1 });
  watch = new EngineWatch(engine, {
    onResult: (ms, r) => metrics.observeUtterance(ms, r.engineMs, r.batchSize),
    onInterim: (ms) => metrics.observeInterim(ms),
  });
  metrics = metricsOf(watch);
  jfk = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/jfk_16k.wav`));
});

afterAll(async () => {
  await engine?.close();
});

describe("engine watch: liveness only", () => {
  test("superseded interims, bad audio and a bad argument are counted by reason; health stays ok; interims not in final latency", async () => {
    // The only worker is busy with a final, so the first interim waits and the second replaces it.
    const final = watch.transcribe({ audio: jfk, streamKey: "talker" });
    await waitFor(() => engine.poolStats().busyExecutors === 1, 10_000, "the final on the worker");
    const first = watch.transcribe({ audio: jfk.subarray(0, 32000), streamKey: "live", priority: "interim" }).then(
      () => "answered",
      (e: { code?: string }) => e.code,
    );
    const second = watch.transcribe({ audio: jfk.subarray(0, 48000), streamKey: "live", priority: "interim" });
    expect(await first).toBe("superseded");
    const bad = new Float32Array(1600);
    bad[7] = NaN;
    await expect(watch.transcribe({ audio: bad, streamKey: "bad" })).rejects.toMatchObject({ code: "invalid_audio" });
    await expect(watch.transcribe({ audio: jfk, streamKey: "bad", temperature: 9 })).rejects.toMatchObject({ code: "invalid_argument" });
    await final;
    await second;

    const report = await healthOf(watch);
    expect(report.status).toBe("ok");
    expect(report.reasons).toEqual([]);
    const text = await metrics.render().then((m) => m.body);
    expect(metric(text, "stt_engine_request_failures_total", { reason: "superseded" })).toBe(1);
    expect(metric(text, "stt_engine_request_failures_total", { reason: "invalid_audio" })).toBe(1);
    expect(metric(text, "stt_engine_request_failures_total", { reason: "invalid_argument" })).toBe(1);
    // One final in the final histograms, the one answered interim in its own.
    expect(metric(text, "stt_utterance_latency_seconds_count")).toBe(1);
    expect(metric(text, "stt_engine_latency_seconds_count")).toBe(1);
    expect(metric(text, "stt_interim_latency_seconds_count")).toBe(1);
  });

  test("a stalled engine (requests in flight, no answer for stall_ms) is unhealthy", async () => {
    const stalled = new EngineWatch(engine, { stallMs: 100 });
    expect((await healthOf(stalled)).status).toBe("ok"); // probes first: the engine answers
    const jobs = [0, 1, 2].map(() => stalled.transcribe({ audio: jfk, streamKey: "slow" }));
    let settled = false;
    const all = Promise.all(jobs).finally(() => (settled = true));
    let unhealthy: string | null = null;
    while (!settled && unhealthy === null) {
      const r = await healthOf(stalled);
      if (r.status === "unhealthy") unhealthy = r.reasons.join("; ");
      else await Bun.sleep(20);
    }
    expect(unhealthy).toContain("has not answered");
    await all;
  });

  test("a dead engine is unhealthy: the probe fails", async () => {
    const dead = await createWhisperEngine({ modelPath: TINY, device: "cpu", computeType: "float32", maxWorkers: 1 });
    const w = new EngineWatch(dead);
    expect((await healthOf(w)).status).toBe("ok");
    await dead.close();
    await expect(w.transcribe({ audio: jfk, streamKey: "late" })).rejects.toMatchObject({ code: "engine_closed" });
    const report = await healthOf(w);
    expect(report.status).toBe("unhealthy");
    expect(report.reasons.join(" ")).toContain("engine probe failed");
    expect(w.failures().get("engine_closed")).toBe(1);
  });
});

describe("over HTTP", () => {
  let dir = "";
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  test("a prompt on a model without tokenizer.json: a 400 to the sender, counted in /metrics, /health stays 200", async () => {
    dir = mkdtempSync(join(tmpdir(), "stt-no-tokenizer-"));
    for (const f of ["model.bin", "config.json", "vocabulary.txt", "preprocessor_config.json"]) symlinkSync(join(TINY, f), join(dir, f));
    const h = await startServer({ model_path: dir, max_workers: 1 });
    try {
      expect((await fetch(`${h.url}/health`)).status).toBe(200);
      const form = new FormData();
      form.set("file", new File([await Bun.file(`${SHARED_AUDIO}/jfk_16k.wav`).arrayBuffer()], "jfk.wav"));
      form.set("model", "whisper-1");
      form.set("prompt", "Kennedy");
      const res = await fetch(`${h.url}/v1/audio/transcriptions`, { method: "POST", body: form });
      const body = (await res.json()) as { error: { code: string; message: string; param: string } };
      expect(res.status).toBe(400);
      expect(body.error.param).toBe("prompt");
      expect(body.error.message).toContain("tokenizer.json");
      expect(body.error.message).not.toContain(dir);
      const health = await fetch(`${h.url}/health`);
      expect(health.status).toBe(200);
      expect(((await health.json()) as { status: string }).status).toBe("ok");
      expect(metric(await scrape(h.url), "stt_engine_request_failures_total", { reason: "invalid_argument" })).toBeGreaterThanOrEqual(1);
    } finally {
      await h.stop();
    }
  });
});
