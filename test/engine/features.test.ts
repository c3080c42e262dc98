import { describe, expect, test } from "bun:test";
import path from "node:path";
import * as native from "../../ffi/sttwhisper.ts";

const FIX = path.resolve(import.meta.dir, "../fixtures/features");

interface Meta {
  audio: string;
  samples: number;
  padding: number;
  features: Record<string, { file: string; shape: [number, number] }>;
}

async function f32(name: string): Promise<Float32Array> {
  return new Float32Array(await Bun.file(path.join(FIX, name)).arrayBuffer());
}

describe("native log-mel vs faster-whisper 1.2.1 FeatureExtractor", async () => {
  const meta = (await Bun.file(path.join(FIX, "meta.json")).json()) as Meta;
  const audio = await f32(meta.audio);

  for (const nMels of [80, 128]) {
    test(`${nMels} bins: same shape, max abs diff <= 1e-4`, async () => {
      const ref = meta.features[String(nMels)]!;
      const expected = await f32(ref.file);
      const got = native.logMel(audio, nMels, meta.padding);
      expect([nMels, got.frames]).toEqual(ref.shape);
      expect(got.data.length).toBe(expected.length);
      let maxDiff = 0;
      for (let i = 0; i < expected.length; i++) maxDiff = Math.max(maxDiff, Math.abs(expected[i]! - got.data[i]!));
      expect(maxDiff).toBeLessThanOrEqual(1e-4);
    });
  }

  test("frame count is (samples + padding) / 160", () => {
    for (const n of [1, 159, 160, 161, 16000, 48123]) {
      expect(native.logMel(new Float32Array(n).fill(0.01), 80, 160).frames).toBe(Math.floor((n + 160) / 160));
    }
  });

  test("tiny inputs (shorter than the reflect padding) and silence give finite features", () => {
    for (const n of [1, 2, 40, 41, 399]) {
      const { data } = native.logMel(Float32Array.from({ length: n }, (_, i) => Math.sin(i)), 80, 160);
      expect(data.every(Number.isFinite)).toBe(true);
    }
    const { data } = native.logMel(new Float32Array(16000), 80, 160);
    expect(data.every((v) => v === data[0])).toBe(true); // all zero → log10(1e-10) floor → (−10+4)/4
    expect(data[0]).toBeCloseTo(-1.5, 6);
  });

  test("bad input is an error, not a crash", () => {
    expect(() => native.logMel(new Float32Array(0), 80)).toThrow(expect.objectContaining({ code: "invalid_audio" }));
    expect(() => native.logMel(new Float32Array([0, NaN, 0]), 80)).toThrow(expect.objectContaining({ code: "invalid_audio" }));
    expect(() => native.logMel(new Float32Array(100), 64)).toThrow(expect.objectContaining({ code: "invalid_argument" }));
  });
});
