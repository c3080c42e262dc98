/**
 * The worker VAD against the same scorer run in-process (SileroBatch, the
 * code the worker runs): on jfk the probabilities are bit-exact, for one
 * stream, for streams batched in one cycle, and for streams spread over two
 * workers; a stream's state survives between calls in its worker.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SileroBatch, type CycleJob } from "../../src/vad/batch.ts";
import { SILERO_MODEL_PATH, SileroVad, VAD_FRAME, newVadState } from "../../src/vad/silero.ts";
import { SHARED_AUDIO, decodeToPcm16, toFloat } from "../support/audio.ts";

let local: SileroBatch;
let vad: SileroVad;
let pool: SileroVad;
let jfk: Float32Array;
// 100 ms chunks become 3 or 4 whole frames; this is how a session feeds the VAD.
const CHUNKS = [3, 3, 4, 3, 3, 4];

beforeAll(async () => {
  [local, vad, pool] = await Promise.all([SileroBatch.load(SILERO_MODEL_PATH), SileroVad.load(SILERO_MODEL_PATH, 1, 1), SileroVad.load(SILERO_MODEL_PATH, 1, 2)]);
  jfk = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`));
});

afterAll(async () => {
  await Promise.all([local.close(), vad.close(), pool.close()]);
});

/** Chunk k of a stream starting at frame `lead` of jfk: whole frames, back to back. */
function chunks(lead: number): Float32Array[] {
  const out: Float32Array[] = [];
  let f = lead;
  for (let k = 0; (f + CHUNKS[k % CHUNKS.length]!) * VAD_FRAME <= jfk.length; k++) {
    const n = CHUNKS[k % CHUNKS.length]!;
    out.push(jfk.slice(f * VAD_FRAME, (f + n) * VAD_FRAME));
    f += n;
  }
  return out;
}

/** In-process: each step is one cycle holding every stream's chunk k. */
async function inProcess(streams: Float32Array[][], firstId: number): Promise<Float32Array[]> {
  const out = streams.map(() => [] as number[]);
  for (let k = 0; k < Math.max(...streams.map((s) => s.length)); k++) {
    const jobs: CycleJob[] = [];
    const who: number[] = [];
    const parts: Float32Array[] = [];
    let offset = 0;
    streams.forEach((s, i) => {
      if (k < s.length) {
        jobs.push({ id: firstId + i, offset, count: s[k]!.length / VAD_FRAME, faultAt: -1 });
        who.push(i);
        parts.push(s[k]!);
        offset += s[k]!.length;
      }
    });
    const samples = new Float32Array(offset);
    parts.reduce((at, p) => (samples.set(p, at), at + p.length), 0);
    const r = await local.cycle(samples, jobs);
    expect(r.errors.every((e) => e === null)).toBe(true);
    let off = 0;
    jobs.forEach((j, q) => {
      out[who[q]!]!.push(...r.probs.subarray(off, off + j.count));
      off += j.count;
    });
  }
  return out.map((p) => Float32Array.from(p));
}

/** Through the workers: every stream's chunk k is queued in the same tick, so they share a cycle. */
async function viaWorkers(v: SileroVad, streams: Float32Array[][]): Promise<Float32Array[]> {
  const states = streams.map(() => newVadState());
  const out = streams.map(() => [] as number[]);
  for (let k = 0; k < Math.max(...streams.map((s) => s.length)); k++) {
    const got = await Promise.all(streams.map((s, i) => (k < s.length ? v.score(states[i]!, s[k]!, `s${i}`) : Promise.resolve(new Float32Array(0)))));
    got.forEach((p, i) => out[i]!.push(...p));
  }
  return out.map((p) => Float32Array.from(p));
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe("worker VAD = in-process Silero", () => {
  test("one stream of jfk: bit-exact, and speech is found", async () => {
    const stream = chunks(0);
    const [want] = await inProcess([stream], 1);
    const [got] = await viaWorkers(vad, [stream]);
    expect(got!.length).toBe(stream.reduce((n, c) => n + c.length / VAD_FRAME, 0));
    expect(maxDiff(got!, want!)).toBe(0);
    // Not a vacuous match: jfk has speech and pauses.
    expect(Math.max(...got!)).toBeGreaterThan(0.9);
    expect(Math.min(...got!)).toBeLessThan(0.1);
  });

  test("three streams batched in one cycle per chunk: each bit-exact with the same batch in-process", async () => {
    const streams = [chunks(0), chunks(17), chunks(40)];
    const want = await inProcess(streams, 10);
    const calls = vad.inferenceCalls;
    const got = await viaWorkers(vad, streams);
    got.forEach((g, i) => expect(maxDiff(g, want[i]!)).toBe(0));
    // Batched: one call per frame step, not one per frame and stream.
    expect(vad.inferenceCalls - calls).toBe(streams[0]!.reduce((n, c) => n + c.length / VAD_FRAME, 0));
  });

  test("two workers: streams spread over both keep their own state and match the in-process scores", async () => {
    expect(pool.workers).toBe(2);
    const streams = [chunks(0), chunks(17)];
    // One stream per worker: each is scored alone, as each is in-process here.
    const want = [(await inProcess([streams[0]!], 20))[0]!, (await inProcess([streams[1]!], 21))[0]!];
    const got = await viaWorkers(pool, streams);
    got.forEach((g, i) => expect(maxDiff(g, want[i]!)).toBe(0));
  });

  test("frames as one array or as separate frames score the same", async () => {
    const whole = jfk.slice(0, 40 * VAD_FRAME);
    const split = Array.from({ length: 40 }, (_, i) => whole.slice(i * VAD_FRAME, (i + 1) * VAD_FRAME));
    const a = await vad.score(newVadState(), whole);
    const b = await vad.score(newVadState(), split);
    expect(a.length).toBe(40);
    expect(maxDiff(a, b)).toBe(0);
    // The caller's array is copied, not transferred away.
    expect(whole.length).toBe(40 * VAD_FRAME);
  });

  test("a partial frame is refused with a clear error", async () => {
    await expect(vad.score(newVadState(), new Float32Array(VAD_FRAME + 3))).rejects.toThrow(/whole 512-sample frames/);
  });
});
