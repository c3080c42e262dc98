/**
 * Two nodes joined through a real Redis (Debian redis-server on a free
 * loopback port): audio goes to node A, monitors sit on A and on B, and each
 * monitor receives each transcript exactly once — also after a Redis outage,
 * which node A reports in /health and in its log.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket } from "socket.io-client";
import { concat, silence, speak, normalizeText } from "../support/audio.ts";
import { collect, streamPcm, waitFor, type Harness } from "../support/harness.ts";
import type { TranscriptionPayload } from "../../src/transport/schemas.ts";
import { TwoNodes, metric, scrape } from "./support.ts";
import { quiesce } from "../support/quiesce.ts";

// Only A transcribes; monitors sit on both.
const nodes = new TwoNodes();
const redis = nodes.redis;
let a: Harness;
let b: Harness;
let sentence: Int16Array;

async function health(h: Harness): Promise<{ status: string; reasons: string[]; redis: { up: boolean; reason: string | null } | null }> {
  return (await (await fetch(`${h.url}/health`)).json()) as never;
}

const sock = (h: Harness) => nodes.sock(h);

beforeAll(async () => {
  ({ a, b } = await nodes.start());
  sentence = concat(silence(0.3), await speak("Every monitor should receive this transcript exactly once"), silence(1.2));
});

afterAll(() => nodes.close());

/** Streams one sentence to A and returns what each monitor received for it. */
async function roundTrip(id: string, monitors: Socket[], sender: Socket): Promise<TranscriptionPayload[][]> {
  const got = monitors.map((m) => collect<TranscriptionPayload>(m, "transcription"));
  await streamPcm(sender, sentence, { clientId: id });
  await waitFor(() => got.every((g) => g.length > 0), 30_000, "transcripts on every monitor");
  await quiesce([a.url, b.url], [...monitors, sender]);
  for (const m of monitors) m.off("transcription");
  return got;
}

describe("two nodes through Redis", () => {
  test("a monitor on node B receives transcripts of audio sent to node A exactly once", async () => {
    expect((await health(a)).status).toBe("ok");
    expect((await health(b)).redis?.up).toBe(true);
    const id = "cluster-speaker";
    const sender = await sock(a);
    const onA = await sock(a);
    const onB = await sock(b);
    const onB2 = await sock(b);
    for (const m of [onA, onB, onB2]) expect(await m.emitWithAck("subscribe_transcripts", { clientId: id })).toEqual({ ok: true, clientId: id });
    const [fromSender, fromA, fromB, fromB2] = await roundTrip(id, [sender, onA, onB, onB2], sender);
    expect(fromA!.length).toBe(1);
    expect(normalizeText(fromA![0]!.text)).toContain("exactly once");
    for (const g of [fromSender, fromB, fromB2]) expect(g).toEqual(fromA!);
    expect(metric(await scrape(a.url), "stt_redis_up")).toBe(1);
  });

  test("Redis outage: node A reports it (health + log), and after Redis is back no transcript is lost", async () => {
    const id = "cluster-outage";
    const sender = await sock(a);
    const onA = await sock(a);
    const onB = await sock(b);
    for (const m of [onA, onB]) await m.emitWithAck("subscribe_transcripts", { clientId: id });

    await redis.stop();
    await waitFor(() => a.logs.some((l) => l.includes("redis: connection lost")), 15_000, "outage logged");
    let h = await health(a);
    for (let i = 0; i < 50 && h.status !== "degraded"; i++) {
      await Bun.sleep(100);
      h = await health(a);
    }
    expect(h.status).toBe("degraded");
    expect(h.redis?.up).toBe(false);
    expect(h.reasons.join(" ")).toContain("redis down");
    expect((await fetch(`${a.url}/health`)).status).toBe(200); // still serving its own clients
    expect(metric(await scrape(a.url), "stt_redis_up")).toBe(0);

    // Node A keeps serving its own sockets during the outage.
    const during = collect<TranscriptionPayload>(onA, "transcription");
    await streamPcm(sender, sentence, { clientId: id });
    await waitFor(() => during.length > 0, 30_000, "local delivery during the outage");
    onA.off("transcription");

    await redis.start();
    await waitFor(() => a.logs.some((l) => l.includes("redis: connected")), 20_000, "reconnect logged");
    for (const node of [a, b]) {
      let s = await health(node);
      for (let i = 0; i < 100 && s.status !== "ok"; i++) {
        await Bun.sleep(100);
        s = await health(node);
      }
      expect(s.status).toBe("ok");
    }
    // The adapter's subscription is restored before the next transcript is produced.
    await Bun.sleep(300);
    const after = await roundTrip(id, [sender, onA, onB], sender);
    const fresh = after.map((g) => g.filter((p) => p.start > during.at(-1)!.end));
    expect(fresh[1]!.length).toBe(1);
    expect(normalizeText(fresh[1]![0]!.text)).toContain("every monitor");
    expect(fresh[2]).toEqual(fresh[1]!);
    expect(fresh[0]).toEqual(fresh[1]!);
  });
});
