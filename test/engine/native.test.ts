/** The C shim through bun:ffi: transcripts, model sharing, and bad input that must not crash. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as native from "../../ffi/sttwhisper.ts";
import { JFK_TEXT, SHARED_AUDIO, decodeToPcm16, normalizeText, toFloat } from "../support/audio.ts";

const TINY = path.resolve(import.meta.dir, "../../models/tiny.en");
const load = (over: Partial<native.LoadOptions> = {}) =>
  native.load({ modelDir: TINY, device: "cpu", computeType: "default", deviceIndex: 0, intraThreads: 2, interThreads: 1, ...over });

let model: native.ModelHandle;
let jfk: Float32Array;

beforeAll(async () => {
  model = load();
  jfk = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/jfk_16k.wav`));
});
afterAll(() => native.release(model));

describe("shim: transcription", () => {
  test("tiny.en transcribes jfk", () => {
    const { results } = native.transcribe(model, [jfk], { beamSize: 1, maxNewTokens: 200 });
    const r = results[0]!;
    expect(normalizeText(r.text)).toBe(JFK_TEXT);
    expect(r.language).toBe("en");
    expect(r.tokens.length).toBeGreaterThan(10);
    expect(r.tokens.every((t) => t < 50256)).toBe(true);
    expect(r.avg_logprob).toBeLessThan(0);
    expect(r.avg_logprob).toBeGreaterThan(-1);
    expect(r.no_speech_prob).toBeGreaterThanOrEqual(0);
    expect(r.no_speech_prob).toBeLessThan(0.5);
    expect(r.windows).toBe(1);
  });

  test("a batch returns each utterance's own result, in order, the same as alone", () => {
    const parts = [jfk.subarray(0, 5 * 16000), jfk, jfk.subarray(5 * 16000)];
    const alone = parts.map((p) => native.transcribe(model, [p]).results[0]!);
    const batch = native.transcribe(model, parts).results;
    expect(batch.length).toBe(3);
    for (let i = 0; i < 3; i++) {
      expect(batch[i]!.tokens).toEqual(alone[i]!.tokens);
      expect(batch[i]!.text).toBe(alone[i]!.text);
    }
    expect(new Set(batch.map((r) => r.text)).size).toBe(3);
  });

  test("audio under one feature frame gives an empty result; silence gives little text", () => {
    const r = native.transcribe(model, [new Float32Array(100)]).results[0]!;
    expect(r).toMatchObject({ tokens: [], text: "", windows: 0 });
    const s = native.transcribe(model, [new Float32Array(16000)]).results[0]!;
    expect(s.no_speech_prob).toBeGreaterThan(0.5);
  });

  test("audio over 30 s is decoded window by window", () => {
    const long = new Float32Array(jfk.length * 3 + 16000 * 2);
    long.set(jfk, 0);
    long.set(jfk, jfk.length + 16000);
    long.set(jfk, 2 * jfk.length + 32000);
    const r = native.transcribe(model, [long]).results[0]!;
    expect(r.windows).toBe(2);
    expect(normalizeText(r.text).split("country").length - 1).toBeGreaterThanOrEqual(5);
  });

  test("the length cap is per utterance: 8 × 90 s (720 s in one call) decodes", () => {
    // 90 s each: jfk repeated, 3 windows per utterance. The cap (600 s) is
    // meant per utterance; the batch as a whole holds more.
    const long = new Float32Array(90 * 16000);
    for (let o = 0; o < long.length; o += jfk.length) long.set(jfk.subarray(0, Math.min(jfk.length, long.length - o)), o);
    const batch = Array.from({ length: 8 }, () => long);
    expect(batch.reduce((n, a) => n + a.length, 0)).toBeGreaterThan(native.MAX_SAMPLES);
    const { results } = native.transcribe(model, batch, { maxNewTokens: 8 });
    expect(results.length).toBe(8);
    for (const r of results) {
      expect(r.windows).toBe(3);
      expect(normalizeText(r.text)).toStartWith("and so my fellow americans");
    }
  });

  test("an English-only model answers language detection with en", () => {
    expect(native.detectLanguage(model, [jfk])[0]).toMatchObject({ language: "en", probability: 1 });
  });
});

describe("shim: one model per process", () => {
  test("loading the same model again returns the same handle with a higher refcount", () => {
    const before = native.modelsConstructed();
    const again = load({ intraThreads: 1 });
    expect(Number(again)).toBe(Number(model));
    expect(native.modelInfo(model).refcount).toBe(2);
    expect(native.modelsConstructed()).toBe(before);
    native.release(again);
    expect(native.modelInfo(model).refcount).toBe(1);
    expect(native.modelInfo(model)).toMatchObject({ multilingual: false, nMels: 80, cuda: false });
  });

  test("describe reports the effective compute type and ids", () => {
    const d = native.describe(model);
    expect(d.compute_type).toStartWith("int8");
    expect(d).toMatchObject({ device: "cpu", eot: 50256, sot: 50257, no_timestamps: 50362 });
  });
});

describe("shim: bad input never crashes", () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(native.SttError);
      return { code: (e as native.SttError).code, message: (e as Error).message };
    }
    throw new Error("expected an error");
  };

  test("empty, huge, NaN and Inf audio", () => {
    expect(code(() => native.transcribe(model, [new Float32Array(0)])).code).toBe("invalid_audio");
    expect(code(() => native.transcribe(model, [new Float32Array(native.MAX_SAMPLES + 1)])).code).toBe("invalid_audio");
    // One over-long utterance among short ones is named.
    expect(code(() => native.transcribe(model, [jfk, new Float32Array(native.MAX_SAMPLES + 1)])).message).toContain("utterance 1 too long");
    const nan = jfk.slice(0, 16000);
    nan[1234] = NaN;
    const e = code(() => native.transcribe(model, [jfk.subarray(0, 16000), nan]));
    expect(e).toEqual({ code: "invalid_audio", message: expect.stringContaining("utterance 1 sample 1234") });
    expect(code(() => native.transcribe(model, [new Float32Array([0, Infinity])])).code).toBe("invalid_audio");
    expect(code(() => native.detectLanguage(model, [new Float32Array([-Infinity])])).code).toBe("invalid_audio");
  });

  test("bad options", () => {
    expect(code(() => native.transcribe(model, [jfk], { beamSize: 0 })).code).toBe("invalid_argument");
    expect(code(() => native.transcribe(model, [jfk], { maxNewTokens: 1000 })).code).toBe("invalid_argument");
    expect(code(() => native.transcribe(model, [jfk], { maxNewTokens: 0 })).code).toBe("invalid_argument");
    expect(code(() => native.transcribe(model, [jfk], { promptIds: [-5] })).code).toBe("invalid_argument");
    expect(code(() => native.transcribe(model, [jfk], { languages: ["en", "de"] })).code).toBe("invalid_argument");
    expect(code(() => native.transcribe(model, [])).code).toBe("invalid_argument");
  });

  test("the CUDA device count is what device auto decides by", () => {
    const n = native.cudaDeviceCount();
    expect(Number.isInteger(n) && n >= 0).toBe(true);
    const auto = load({ device: "auto" });
    try {
      expect(native.modelInfo(auto).cuda).toBe(n > 0);
    } finally {
      native.release(auto);
    }
  });

  test("missing model directory", () => {
    expect(code(() => load({ modelDir: "/nonexistent/model" }))).toEqual({
      code: "model_not_found",
      message: expect.stringContaining("/nonexistent/model"),
    });
  });

  test("corrupt (truncated) model.bin", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "stt-corrupt-"));
    try {
      for (const f of ["config.json", "vocabulary.txt", "tokenizer.json", "preprocessor_config.json"]) copyFileSync(path.join(TINY, f), path.join(dir, f));
      const bin = readFileSync(path.join(TINY, "model.bin"));
      writeFileSync(path.join(dir, "model.bin"), bin.subarray(0, Math.floor(bin.length / 3)));
      expect(code(() => load({ modelDir: dir })).code).toBe("model_load");
      writeFileSync(path.join(dir, "model.bin"), Buffer.from("not a model at all"));
      expect(code(() => load({ modelDir: dir })).code).toBe("model_load");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("device cuda: the clear no_cuda error without a GPU, a working model on one", () => {
    const gpus = native.cudaDeviceCount();
    if (process.env.STT_REQUIRE_CUDA === "1" && gpus === 0) {
      throw new Error("STT_REQUIRE_CUDA=1 but no CUDA device is visible: check nvidia-smi and that native/ was built with CUDA (scripts/setup.sh)");
    }
    console.log(`CUDA devices: ${gpus} (set STT_REQUIRE_CUDA=1 to fail when there are none)`);
    // The same checks run everywhere; what they expect follows from the device count.
    const onCuda = (() => {
      let h: native.ModelHandle | null = null;
      try {
        h = load({ device: "cuda" });
        const text = native.transcribe(h, [jfk]).results[0]!.text;
        return { cuda: native.modelInfo(h).cuda, transcript: normalizeText(text) };
      } catch (e) {
        return code(() => {
          throw e;
        });
      } finally {
        if (h !== null) native.release(h);
      }
    })();
    expect(onCuda).toEqual(gpus > 0 ? { cuda: true, transcript: JFK_TEXT } : { code: "no_cuda", message: 'no CUDA device: set device to "cpu" (or "auto")' });
    const auto = load({ device: "auto" });
    try {
      // auto is the cached CPU model here without a GPU, a CUDA one with.
      expect({ shared: Number(auto) === Number(model), cuda: native.modelInfo(auto).cuda }).toEqual({ shared: gpus === 0, cuda: gpus > 0 });
    } finally {
      native.release(auto);
    }
  });

  test("unknown device / compute type, bad thread counts", () => {
    expect(code(() => load({ device: "tpu" as "cpu" })).code).toBe("invalid_argument");
    expect(code(() => load({ computeType: "int3" })).code).toBe("invalid_argument");
    expect(code(() => load({ interThreads: 0 })).code).toBe("invalid_argument");
  });

  test("released or bogus handles", () => {
    const extra = load();
    native.release(extra);
    const bogus = 12345 as unknown as native.ModelHandle;
    expect(code(() => native.transcribe(bogus, [jfk])).code).toBe("bad_handle");
    expect(code(() => native.release(bogus)).code).toBe("bad_handle");
    expect(native.modelInfo(model).refcount).toBe(1);
  });
});

describe("native malloc tuning", () => {
  test("no mmap'd blocks, a high trim threshold and two arenas are set through mallopt (glibc); the trimmer works", async () => {
    const { heapTrimmer, tuneNativeMalloc, DEFAULT_MALLOC_TUNING } = await import("../../ffi/malloc.ts");
    for (const v of ["MALLOC_MMAP_THRESHOLD_", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX"]) expect(process.env[v]).toBeUndefined();
    expect(DEFAULT_MALLOC_TUNING).toMatchObject({ mmapMax: 0, trimWhenIdle: true });
    expect(tuneNativeMalloc()).toEqual(DEFAULT_MALLOC_TUNING);
    const trim = heapTrimmer();
    expect(trim).not.toBeNull();
    expect(typeof trim!()).toBe("boolean");
  });
});
