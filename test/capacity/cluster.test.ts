/**
 * Two nodes joined through a real Redis: node A is capped at one stream
 * (capacity.max_streams), node B is not. A's second stream is refused with
 * server_busy and A reports not ready, while B is ready and admits that
 * stream; its transcript still reaches a monitor on A through Redis.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { concat, normalizeText, silence, speak } from "../support/audio.ts";
import { collect, streamPcm, waitFor, type Harness } from "../support/harness.ts";
import type { ErrorPayload, TranscriptionPayload } from "../../src/transport/schemas.ts";
import { TwoNodes, metric, scrape } from "../ops/support.ts";

setDefaultTimeout(180_000);

const nodes = new TwoNodes();
let a: Harness;
let b: Harness;
let sentenceA: Int16Array;
let sentenceB: Int16Array;

const sock = (h: Harness) => nodes.sock(h);

async function ready(h: Harness): Promise<{ status: number; reason: string | null }> {
  const res = await fetch(`${h.url}/ready`);
  return { status: res.status, reason: ((await res.json()) as { reason: string | null }).reason };
}

beforeAll(async () => {
  ({ a, b } = await nodes.start({ capacity: { max_streams: 1 } as never }));
  sentenceA = concat(silence(0.3), await speak("Our quarterly numbers look better than we expected"), silence(1.2));
  sentenceB = concat(silence(0.3), await speak("How far is the nearest train station from here"), silence(1.2));
});

afterAll(() => nodes.close());

describe("two nodes, one at capacity", () => {
  test("the full node refuses and reports not ready; the other is ready and admits", async () => {
    expect((await ready(a)).status).toBe(200);
    expect((await ready(b)).status).toBe(200);

    const first = await sock(a);
    const firstGot = collect<TranscriptionPayload>(first, "transcription");
    await streamPcm(first, sentenceA, { clientId: "node-a-1" });
    await waitFor(() => firstGot.length >= 1, 60_000, "node A's first stream transcript");
    expect(normalizeText(firstGot[0]!.text)).toContain("quarterly numbers");

    const onA = await sock(a);
    const errorsA = collect<ErrorPayload>(onA, "error");
    await streamPcm(onA, sentenceB.slice(0, 16000), { clientId: "moving" });
    await waitFor(() => errorsA.length >= 1, 10_000, "server_busy from node A");
    expect(errorsA[0]!.code).toBe("server_busy");
    expect(errorsA[0]!.retry_after_ms).toBeGreaterThan(0);
    const notReady = await ready(a);
    expect(notReady.status).toBe(503);
    expect(notReady.reason).toContain("max_streams");
    expect(metric(await scrape(a.url), "stt_capacity_streams_refused_total")).toBe(1);

    // What a load balancer does with /ready: send the stream to the node that is ready.
    expect((await ready(b)).status).toBe(200);
    const monitorOnA = await sock(a);
    await monitorOnA.emitWithAck("subscribe_transcripts", { clientId: "moving" });
    const monitored = collect<TranscriptionPayload>(monitorOnA, "transcription");
    const onB = await sock(b);
    const gotB = collect<TranscriptionPayload>(onB, "transcription");
    const errorsB = collect<ErrorPayload>(onB, "error");
    await streamPcm(onB, sentenceB, { clientId: "moving" });
    await waitFor(() => gotB.length >= 1 && monitored.length >= 1, 60_000, "node B's transcript, on B and on A's monitor");
    expect(errorsB).toEqual([]);
    expect(normalizeText(gotB[0]!.text)).toContain("train station");
    expect(monitored[0]!.text).toBe(gotB[0]!.text);
    expect(metric(await scrape(b.url), "stt_capacity_streams_admitted_total")).toBe(1);

    // Node A's admitted stream leaves: A is ready again.
    first.emit("cleanup_client", { clientId: "node-a-1" });
    let r = await ready(a);
    for (let i = 0; i < 100 && r.status !== 200; i++) {
      await Bun.sleep(100);
      r = await ready(a);
    }
    expect(r.status).toBe(200);
  });
});
