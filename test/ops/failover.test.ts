/**
 * A rolling restart that loses no words: two real server processes behind
 * Debian HAProxy, joined through a real redis-server. The TS client (with
 * replaySeconds) streams a clip through the balancer in real time; the node
 * serving it is stopped (SIGTERM) or killed (SIGKILL) in the middle of an
 * utterance. The client reconnects through HAProxy to the other node, resumes
 * its clientId, replays what was not acknowledged, and the finals of the whole
 * clip match the run without a restart: WER within 0.02, no stretch of audio
 * transcribed twice, seq 0, 1, 2, … without a gap or repeat.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { FailoverCluster, streamThrough, type FailoverRun } from "../../bench/lib/failover.ts";
import { buildStream, loadClips, rng } from "../../bench/lib/speech.ts";
import { SHARED_AUDIO, decodeToPcm16, normalizeText, wordErrorRate } from "../support/audio.ts";
import type { TranscriptionPayload } from "../../src/transport/schemas.ts";

const SEED = 1616;
const cluster = new FailoverCluster();
let jfk: Int16Array;
let long: Int16Array;

beforeAll(async () => {
  console.log(`failover: long stream seed ${SEED}`);
  jfk = await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`);
  long = buildStream(rng(SEED), await loadClips(), 45).stream;
  await cluster.start();
}, 240_000);

afterAll(() => cluster.close());

const textOf = (finals: TranscriptionPayload[]) => normalizeText(finals.map((f) => f.text).join(" "));

/** The middle of an utterance the reference heard about halfway through the clip. */
function midSentence(reference: TranscriptionPayload[]): number {
  const f = reference[Math.floor(reference.length / 2)]!;
  return (f.start + f.end) / 2;
}

function expectLossless(run: FailoverRun, reference: TranscriptionPayload[]): void {
  const ref = textOf(reference);
  const got = textOf(run.finals);
  console.log(`  killed ${run.killed}, reconnected after ${run.reconnectMs} ms\n  ref: ${ref}\n  got: ${got}`);
  expect(run.killed).not.toBeNull();
  expect(run.reconnectMs).not.toBeNull();
  expect(wordErrorRate(ref, got)).toBeLessThanOrEqual(0.02);
  // seq continues across the nodes: 0, 1, 2, … in arrival order.
  expect(run.finals.map((f) => f.seq)).toEqual(run.finals.map((_, i) => i));
  // No stretch of audio is transcribed twice: each final starts where the previous ended or later, on one clock.
  for (let i = 1; i < run.finals.length; i++) expect(run.finals[i]!.start).toBeGreaterThanOrEqual(run.finals[i - 1]!.end - 0.05);
}

describe("two nodes behind HAProxy, one of them goes away mid-sentence", () => {
  for (const clip of ["jfk", "long"] as const) {
    test(`${clip}: SIGTERM and SIGKILL of the serving node lose no words and double none`, async () => {
      const pcm = clip === "jfk" ? jfk : long;
      const reference = (await streamThrough(cluster, pcm, { clientId: `ref-${clip}-${Date.now()}` })).finals;
      expect(reference.length).toBeGreaterThan(1);
      if (clip === "jfk") expect(wordErrorRate("and so my fellow americans ask not what your country can do for you ask what you can do for your country", textOf(reference))).toBe(0);
      const killAt = midSentence(reference);
      for (const signal of ["SIGTERM", "SIGKILL"] as const) {
        console.log(`${clip}, ${signal} at ${killAt.toFixed(2)} s`);
        try {
          expectLossless(await streamThrough(cluster, pcm, { clientId: `${signal}-${clip}-${Date.now()}`, killAt, signal }), reference);
        } finally {
          // The next run needs two nodes again, whatever this one found.
          await cluster.heal();
        }
      }
    }, 420_000);
  }
});
