/**
 * Exactly-once delivery with the real engine (tiny.en float32) under
 * cross-client batching: several senders stream at once, so their utterances
 * share engine calls, and each sender has a monitor. Every transcript must
 * reach its sender and its monitor exactly once, carry its own stream's words,
 * and reach no other socket. (test/server/protocol.test.ts checks the same
 * with a test engine; batching is where results could be crossed.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket } from "socket.io-client";
import type { TranscriptionPayload } from "../../src/transport/schemas.ts";
import { JFK_TEXT, SHARED_AUDIO, concat, decodeToPcm16, normalizeText, silence, speak, wordErrorRate } from "../support/audio.ts";
import { client, collect, startServer, streamPcm, waitFor, type Harness } from "../support/harness.ts";
import { metric, scrape } from "../ops/support.ts";
import { quiesce } from "../support/quiesce.ts";

// Comma-free sentences, one utterance each, no two alike: a transcript
// delivered to the wrong stream cannot pass for the right one.
const SENTENCES = [
  ["Please turn on the lights in the kitchen", "Can you play some quiet music while I read"],
  ["The meeting has been moved to Thursday afternoon", "Our quarterly numbers look better than we expected"],
  ["How far is the nearest train station from here", "What is the weather going to be like tomorrow morning"],
];
// Synthetic voices: tiny.en may miss a word (e.g. "end on the week"); jfk is word-exact.
const MAX_OWN_WER = 0.2;
const MIN_OTHER_WER = 0.6;

let h: Harness;
const sockets: Socket[] = [];
const senders: { id: string; pcm: Int16Array; text: string }[] = [];

beforeAll(async () => {
  h = await startServer({});
  const jfk = await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`);
  senders.push({ id: "once-jfk", pcm: concat(jfk, silence(1.5)), text: JFK_TEXT });
  for (const [i, pair] of SENTENCES.entries()) {
    const [a, b] = await Promise.all(pair.map((t) => speak(t)));
    senders.push({ id: `once-${i}`, pcm: concat(silence(0.3), a!, silence(1.0), b!, silence(1.5)), text: normalizeText(pair.join(" ")) });
  }
});

afterAll(async () => {
  for (const s of sockets) s.close();
  await h.stop();
});

/** Size > 1 engine calls so far. */
async function multiBatches(): Promise<number> {
  const text = await scrape(h.url);
  let n = 0;
  for (let size = 2; size <= 64; size++) n += metric(text, "stt_engine_batches_total", { size: String(size) }) ?? 0;
  return n;
}

describe("exactly once, real engine, batched", () => {
  test("concurrent senders, each with a monitor: every transcript reaches its sender and monitor once, nobody else", async () => {
    const connect = async () => {
      const s = await client(h.url);
      sockets.push(s);
      return s;
    };
    const pairs = await Promise.all(senders.map(async () => ({ sender: await connect(), monitor: await connect() })));
    const bystander = await connect();
    for (const [i, p] of pairs.entries()) {
      expect(await p.monitor.emitWithAck("subscribe_transcripts", { clientId: senders[i]!.id })).toEqual({ ok: true, clientId: senders[i]!.id });
    }
    const got = pairs.map((p) => ({ sender: collect<TranscriptionPayload>(p.sender, "transcription"), monitor: collect<TranscriptionPayload>(p.monitor, "transcription") }));
    const strays = collect<TranscriptionPayload>(bystander, "transcription");
    const before = await scrape(h.url);
    const batchedBefore = await multiBatches();

    await Promise.all(pairs.map((p, i) => streamPcm(p.sender, senders[i]!.pcm, { clientId: senders[i]!.id })));
    const words = (ps: TranscriptionPayload[]) => normalizeText(ps.map((p) => p.text).join(" "));
    // jfk (sender 0, real speech) word for word; the espeak streams within MAX_OWN_WER.
    const maxOwnWer = (i: number) => (i === 0 ? 0 : MAX_OWN_WER);
    const done = (ps: TranscriptionPayload[], i: number) => wordErrorRate(senders[i]!.text, words(ps)) <= maxOwnWer(i);
    await waitFor(() => got.every((g, i) => done(g.sender, i)), 120_000, "every sender's transcripts");
    await quiesce(h.url, [...pairs.flatMap((p) => [p.sender, p.monitor]), bystander]);

    let total = 0;
    for (const [i, g] of got.entries()) {
      const { id, text } = senders[i]!;
      expect(wordErrorRate(text, words(g.sender))).toBeLessThanOrEqual(maxOwnWer(i));
      for (const other of senders.filter((_, j) => j !== i)) expect(wordErrorRate(other.text, words(g.sender))).toBeGreaterThan(MIN_OTHER_WER);
      expect(g.sender.every((p) => p.client_id === id)).toBe(true);
      expect(g.sender.map((p) => p.seq)).toEqual([...g.sender.keys()]);
      // The monitor's copy is the very same payloads, once each.
      expect(g.monitor).toEqual(g.sender);
      total += g.sender.length;
    }
    expect(strays).toEqual([]);
    const after = await scrape(h.url);
    // The server produced exactly what the senders got: no transcript went anywhere else, none was dropped.
    expect(metric(after, "stt_transcripts_total")! - metric(before, "stt_transcripts_total")!).toBe(total);
    expect(metric(after, "stt_utterances_total")! - metric(before, "stt_utterances_total")!).toBe(total);
    expect(total).toBeGreaterThanOrEqual(senders.length * 2);
    // Utterances of different senders shared engine calls.
    expect((await multiBatches()) - batchedBefore).toBeGreaterThan(0);
  });
});
