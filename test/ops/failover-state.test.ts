/**
 * The pieces of failover, each on its own: claims and seq in a real
 * redis-server shared by two owner records (two nodes), and the sender's
 * replay buffer.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createClient } from "redis";
import { RedisStreamState } from "../../src/cluster/streams.ts";
import { ClientIdOwners } from "../../src/stream/owners.ts";
import { SeqMemory } from "../../src/session/seq-memory.ts";
import { ReplayBuffer } from "../../public/replay.js";
import { RedisProcess } from "./support.ts";

const redis = new RedisProcess();
let client: ReturnType<typeof createClient>;
let state: RedisStreamState;

beforeAll(async () => {
  await redis.start();
  client = createClient({ url: redis.url });
  await client.connect();
  state = new RedisStreamState((args) => client.sendCommand(args), 30);
});

afterAll(async () => {
  await client.quit();
  await redis.stop();
});

describe("claims in Redis, two nodes", () => {
  test("another node refuses a live clientId without the key, resumes it with the key; the old node cannot free the new claim", async () => {
    const nodeA = new ClientIdOwners(state);
    const nodeB = new ClientIdOwners(state);
    const first = await nodeA.take("mic-1", { socketId: "sockA", scoped: false });
    expect(first).toMatchObject({ ok: true, fresh: true });
    const key = (first as { resumeKey: string }).resumeKey;
    // Only a hash is shared.
    expect(await redis.cli("GET", "stt:claim:mic-1")).not.toContain(key);
    expect(await nodeB.take("mic-1", { socketId: "sockB", scoped: false })).toEqual({ ok: false });
    expect(await nodeB.take("mic-1", { socketId: "sockB", scoped: false, resumeKey: "wrong-key-of-same-length!" })).toEqual({ ok: false });
    expect(await nodeB.take("mic-1", { socketId: "sockB", scoped: false, resumeKey: key })).toEqual({ ok: true, resumeKey: key, fresh: true, previousOwner: "sockA" });
    expect(nodeB.ownerOf("mic-1")).toBe("sockB");
    // Node A notices its socket gone late: its release must not delete B's claim.
    nodeA.releaseConnection("sockA");
    await Bun.sleep(0);
    expect(JSON.parse(await redis.cli("GET", "stt:claim:mic-1")).owner).toBe("sockB");
    // A stranger on a third node is still refused.
    expect(await new ClientIdOwners(state).take("mic-1", { socketId: "sockC", scoped: false })).toEqual({ ok: false });
    nodeB.releaseConnection("sockB");
    const t0 = Date.now();
    while ((await redis.cli("EXISTS", "stt:claim:mic-1")) !== "0") {
      if (Date.now() - t0 > 2000) throw new Error("claim not dropped");
      await Bun.sleep(10);
    }
    expect(await new ClientIdOwners(state).take("mic-1", { socketId: "sockC", scoped: false })).toMatchObject({ ok: true, fresh: true });
  });

  test("a scoped token takes its clientId back on another node; the claim expires resume_ttl_seconds after its last refresh", async () => {
    const nodeA = new ClientIdOwners(state);
    expect(await nodeA.take("dev-7", { socketId: "s1", scoped: true, token: "scoped-token-7" })).toMatchObject({ ok: true });
    const nodeB = new ClientIdOwners(state);
    expect(await nodeB.take("dev-7", { socketId: "s2", scoped: true, token: "scoped-token-8" })).toEqual({ ok: false });
    expect(await nodeB.take("dev-7", { socketId: "s2", scoped: true, token: "scoped-token-7" })).toMatchObject({ ok: true, previousOwner: "s1" });
    const ttl = Number(await redis.cli("PTTL", "stt:claim:dev-7"));
    expect(ttl).toBeGreaterThan(25_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
  });

  test("seq written through on one node continues on the other", async () => {
    const a = new SeqMemory(16, (id, next) => state.saveSeq(id, next));
    expect([a.take("s"), a.take("s"), a.take("s")]).toEqual([0, 1, 2]);
    // A round trip on the same connection: the SETs before it have been applied.
    await client.ping();
    const b = new SeqMemory(16, (id, next) => state.saveSeq(id, next));
    b.seed("s", (await state.loadSeq("s"))!);
    expect(b.take("s")).toBe(3);
    expect(await state.loadSeq("never-seen")).toBeNull();
  });
});

describe("replay buffer", () => {
  const pcm = (n: number, v: number) => new Int16Array(n).fill(v);

  test("keeps what is not acknowledged plus the pre-roll, replays from a sample", () => {
    const r = new ReplayBuffer(16000, 100);
    r.add(0, pcm(400, 1));
    r.add(400, pcm(400, 2));
    r.add(800, pcm(400, 3));
    r.acknowledge(850);
    // Chunks ending at or before 850 - 100 are gone; the one holding the pre-roll stays.
    expect(r.oldest).toBe(400);
    expect(r.resumePoint(100)).toEqual({ resumeFrom: 850, preroll: 100, startAt: 750 });
    const from = r.from(750);
    expect(from.length).toBe(450);
    expect([from[0], from[49], from[50], from[449]]).toEqual([2, 2, 3, 3]);
    r.acknowledge(10); // never goes back
    expect(r.durable).toBe(850);
  });

  test("bounded: the oldest unacknowledged audio goes first and is counted", () => {
    const r = new ReplayBuffer(1000);
    for (let i = 0; i < 5; i++) r.add(i * 400, pcm(400, i));
    expect(r.samples).toBe(800);
    expect(r.dropped).toBe(1200);
    expect(r.durable).toBe(1200);
    expect(r.from(0)[0]).toBe(3);
  });
});
