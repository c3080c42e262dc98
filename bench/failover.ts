/**
 * bench:failover — words lost and doubled when the node serving a stream is
 * stopped (SIGTERM) or killed (SIGKILL) mid-utterance, N times each, and the
 * reconnect gap. Two `bun run src/cli.ts` nodes behind Debian HAProxy, joined
 * through redis-server (bench/lib/failover.ts); the TS client replays what was
 * not acknowledged. Each run is compared word by word with a run of the same
 * audio without a restart.
 *
 *   flock /tmp/bench.lock bun run bench:failover [--n 3] [--seconds 30] [--seed 1616]
 */
import { FailoverCluster, streamThrough } from "./lib/failover.ts";
import { buildStream, loadClips, rng } from "./lib/speech.ts";
import { normalizeText } from "../test/support/audio.ts";
import { arg } from "./lib/args.ts";
import type { TranscriptionPayload } from "../src/transport/schemas.ts";

const n = Number(arg("n", "3"));
const seconds = Number(arg("seconds", "30"));
const seed = Number(arg("seed", "1616"));

/** Word-level alignment counts: deletions (lost), insertions (doubled or made up), substitutions. */
function align(ref: string[], hyp: string[]): { lost: number; extra: number; changed: number } {
  const d = Array.from({ length: ref.length + 1 }, (_, i) => Array.from({ length: hyp.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= ref.length; i++) {
    for (let j = 1; j <= hyp.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
  }
  let i = ref.length;
  let j = hyp.length;
  const out = { lost: 0, extra: 0, changed: 0 };
  while (i > 0 || j > 0) {
    if (i > 0 && j > 0 && d[i]![j] === d[i - 1]![j - 1]! + (ref[i - 1] === hyp[j - 1] ? 0 : 1)) {
      if (ref[i - 1] !== hyp[j - 1]) out.changed++;
      i--, j--;
    } else if (i > 0 && d[i]![j] === d[i - 1]![j]! + 1) (out.lost++, i--);
    else (out.extra++, j--);
  }
  return out;
}

const words = (fs: TranscriptionPayload[]) => normalizeText(fs.map((f) => f.text).join(" ")).split(" ").filter(Boolean);

const { stream } = buildStream(rng(seed), await loadClips(), seconds);
const cluster = new FailoverCluster();
await cluster.start();
try {
  const reference = (await streamThrough(cluster, stream, { clientId: `bench-ref-${Date.now()}` })).finals;
  const refWords = words(reference);
  console.log(`reference: ${reference.length} finals, ${refWords.length} words, ${(stream.length / 16000).toFixed(1)} s of audio (seed ${seed})`);
  const rows: string[] = [];
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    const totals = { lost: 0, extra: 0, changed: 0, seqBad: 0, gaps: [] as number[] };
    for (let k = 0; k < n; k++) {
      // A different utterance each time, cut in its middle.
      const f = reference[1 + (k % Math.max(1, reference.length - 2))]!;
      const killAt = (f.start + f.end) / 2;
      const run = await streamThrough(cluster, stream, { clientId: `bench-${signal}-${k}-${Date.now()}`, killAt, signal });
      const a = align(refWords, words(run.finals));
      const seqOk = run.finals.every((x, i) => x.seq === i);
      totals.lost += a.lost;
      totals.extra += a.extra;
      totals.changed += a.changed;
      totals.seqBad += seqOk ? 0 : 1;
      if (run.reconnectMs !== null) totals.gaps.push(run.reconnectMs);
      console.log(`${signal} #${k + 1} at ${killAt.toFixed(2)} s (node ${run.killed}): lost ${a.lost}, extra ${a.extra}, changed ${a.changed}, seq ${seqOk ? "0..n" : "BROKEN"}, reconnected after ${run.reconnectMs} ms`);
      await cluster.heal();
    }
    const gaps = totals.gaps.sort((x, y) => x - y);
    rows.push(`| ${signal} | ${n} | ${n * refWords.length} | ${totals.lost} | ${totals.extra} | ${totals.changed} | ${totals.seqBad} | ${gaps[0] ?? "-"}–${gaps.at(-1) ?? "-"} |`);
  }
  console.log("\n| signal | restarts | words sent | lost | doubled/extra | changed | seq broken | reconnect gap (ms) |\n|---|---|---|---|---|---|---|---|");
  for (const r of rows) console.log(r);
} finally {
  await cluster.close();
}
