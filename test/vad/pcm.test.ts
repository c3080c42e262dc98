/**
 * decodePcm16, the first step of the VAD's input: the in-place int16 read
 * (aligned chunks) and the DataView read (a Buffer slice at an odd offset)
 * give the same samples; malformed chunks are refused whole.
 */
import { describe, expect, test } from "bun:test";
import { decodePcm16 } from "../../src/audio/pcm.ts";
import { rng } from "../../bench/lib/speech.ts";

describe("decodePcm16", () => {
  test("aligned and odd-offset chunks decode to the same samples, little-endian, /32768", () => {
    const seed = 4242;
    console.log(`decodePcm16 random test seed ${seed}`);
    const rand = rng(seed);
    const pcm = Int16Array.from({ length: 1601 }, () => Math.round((rand() - 0.5) * 65535));
    pcm[0] = -32768;
    pcm[1] = 32767;
    const aligned = decodePcm16(Buffer.from(pcm.buffer), 16000);
    const shifted = new Uint8Array(pcm.byteLength + 1);
    shifted.set(new Uint8Array(pcm.buffer), 1);
    const odd = decodePcm16(Buffer.from(shifted.buffer).subarray(1), 16000);
    expect(aligned.ok && odd.ok).toBe(true);
    const a = (aligned as { samples: Float32Array }).samples;
    const b = (odd as { samples: Float32Array }).samples;
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(a[0]).toBe(-1);
    expect(a[1]).toBe(32767 / 32768);
    expect(Array.from(a)).toEqual(Array.from(pcm, (x) => Math.fround(x / 32768)));
  });

  test("refuses what is not whole PCM16", () => {
    expect(decodePcm16("x", 10)).toMatchObject({ ok: false, code: "invalid_audio" });
    expect(decodePcm16(new Uint8Array(0), 10)).toMatchObject({ ok: false, code: "empty_audio" });
    expect(decodePcm16(new Uint8Array(3), 10)).toMatchObject({ ok: false, code: "odd_byte_length" });
    expect(decodePcm16(new Uint8Array(22), 10)).toMatchObject({ ok: false, code: "chunk_too_long" });
  });
});
