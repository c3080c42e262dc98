/**
 * The one-command GPU check (bench/gpu/) on a machine without CUDA: run.sh
 * stops at its first missing piece with a message naming it, and the
 * int8_float16 tiny.en that bench/gpu/quantize.py makes for the GPU machine
 * (float16 does not fit its 64 MiB carry limit) loads and transcribes jfk
 * word for word here, through the same shim.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as native from "../../ffi/sttwhisper.ts";
import { JFK_TEXT, SHARED_AUDIO, decodeToPcm16, normalizeText, toFloat } from "../support/audio.ts";

const ROOT = path.resolve(import.meta.dir, "../..");
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "stt-gpu-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("bench/gpu", () => {
  test("run.sh without a CUDA compiler exits 2 naming nvcc and what it is for", () => {
    // PATH without any CUDA, CUDA_HOME pointing nowhere: the first missing piece is nvcc.
    const p = Bun.spawnSync(["bash", "bench/gpu/run.sh"], {
      cwd: ROOT,
      env: { PATH: "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", CUDA_HOME: path.join(dir, "no-cuda"), OUT: dir, STT_GPU_WORK: path.join(dir, "work") },
      stdout: "pipe",
      stderr: "pipe",
    });
    const err = p.stderr.toString();
    expect(p.exitCode).toBe(2);
    expect(err).toContain("missing nvcc (the CUDA compiler)");
    expect(err).toContain("CUDA toolkit");
    expect(err.split("\n").filter(Boolean).length).toBe(1); // one clear line, no trace
  });

  test("quantize.py makes an int8_float16 tiny.en under half the float16 size that transcribes jfk exactly", async () => {
    const out = path.join(dir, "tiny.en-int8_float16");
    const q = Bun.spawnSync(["python3", "bench/gpu/quantize.py", "models/tiny.en", out], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if (q.exitCode !== 0) throw new Error(`quantize.py failed (numpy installed? python3 -m pip install numpy): ${q.stderr.toString()}`);
    const size = statSync(path.join(out, "model.bin")).size;
    expect(size).toBeLessThan(statSync(path.join(ROOT, "models/tiny.en/model.bin")).size / 1.9);
    const model = native.load({ modelDir: out, device: "cpu", computeType: "int8", deviceIndex: 0, intraThreads: 2, interThreads: 1 });
    try {
      const jfk = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/jfk_16k.wav`));
      expect(normalizeText(native.transcribe(model, [jfk]).results[0]!.text)).toBe(JFK_TEXT);
    } finally {
      native.release(model);
    }
  }, 120_000);
});
