/**
 * StreamBuffer, the VAD pump's input: dropping moves an offset, compaction and
 * growth keep stream-time addressing exact. Checked against a plain array
 * model over a fixed-seed random sequence of appends and drops.
 */
import { describe, expect, test } from "bun:test";
import { StreamBuffer } from "../../src/audio/buffer.ts";
import { rng } from "../../bench/lib/speech.ts";

describe("StreamBuffer", () => {
  test("random appends and drops read back exactly what a plain model holds", () => {
    const seed = 1717;
    console.log(`StreamBuffer random test seed ${seed}`);
    const rand = rng(seed);
    const b = new StreamBuffer();
    const model: number[] = []; // model[i] = sample at stream time base + i
    let base = 0;
    let t = 0;
    for (let step = 0; step < 4000; step++) {
      if (rand() < 0.6) {
        // Mostly chunk-sized, now and then a long burst that forces growth.
        const n = rand() < 0.02 ? 40_000 + Math.floor(rand() * 20_000) : 1 + Math.floor(rand() * 2000);
        const chunk = Float32Array.from({ length: n }, () => ++t);
        b.append(chunk);
        model.push(...chunk);
      } else {
        const to = base + Math.floor(rand() * (model.length + 1));
        b.dropBefore(to);
        model.splice(0, to - base);
        base = to;
      }
      expect(b.start).toBe(base);
      expect(b.end).toBe(base + model.length);
      if (model.length > 0) {
        const from = base + Math.floor(rand() * model.length);
        const to = from + Math.floor(rand() * (base + model.length - from + 1));
        expect(Array.from(b.slice(from, to))).toEqual(model.slice(from - base, to - base));
        expect(Array.from(b.view(from, to))).toEqual(model.slice(from - base, to - base));
      }
    }
  });

  test("slice clamps to what is held and copies; view does not", () => {
    const b = new StreamBuffer();
    b.append(Float32Array.from([1, 2, 3, 4, 5]));
    b.dropBefore(2);
    expect(Array.from(b.slice(0, 100))).toEqual([3, 4, 5]);
    const copy = b.slice(2, 4);
    const view = b.view(2, 4);
    view[0] = 9;
    expect(copy[0]).toBe(3);
    expect(b.slice(2, 3)[0]).toBe(9);
  });

  test("memory is given back after a long utterance is dropped", () => {
    const b = new StreamBuffer();
    b.append(new Float32Array(16000 * 30));
    b.dropBefore(16000 * 30 - 100);
    expect(b.bufferedSamples).toBe(100);
    // The held array shrank: a new append of 8000 samples fits without the old 480k.
    const heldBytes = (b as unknown as { data: Float32Array }).data.length;
    expect(heldBytes).toBeLessThanOrEqual(8192);
  });
});
