/** BatchPool with fake executors: batching, round-robin fairness, per-stream FIFO, queue_full. */
import { describe, expect, test } from "bun:test";
import { BatchPool, type Executor } from "../../src/engine/pool.ts";

type Req = { id: string; ms?: number; fail?: boolean };

function recorder(delayMs = 5) {
  const batches: string[][] = [];
  const exec: Executor<Req, string> = async (batch) => {
    batches.push(batch.map((r) => r.id));
    await Bun.sleep(Math.max(delayMs, ...batch.map((r) => r.ms ?? 0)));
    return batch.map((r) => (r.fail ? { ok: false as const, error: new Error(`bad ${r.id}`) } : { ok: true as const, value: `done ${r.id}` }));
  };
  return { batches, exec };
}

describe("BatchPool", () => {
  test("requests queued while the executor is busy go into one batch, each gets its own result", async () => {
    const { batches, exec } = recorder(20);
    const pool = new BatchPool([exec], { batchSize: 8, batchWaitMs: 0, maxQueuePerStream: 8 });
    const first = pool.submit({ id: "a0" }, "a");
    const rest = ["b0", "c0", "d0"].map((id) => pool.submit({ id }, id[0]));
    expect(await first).toBe("done a0");
    expect(await Promise.all(rest)).toEqual(["done b0", "done c0", "done d0"]);
    expect(batches).toEqual([["a0"], ["b0", "c0", "d0"]]);
    const s = pool.getStats();
    expect(s.batchSizeHistogram).toEqual({ 1: 1, 3: 1 });
    expect(s).toMatchObject({ batches: 2, dispatched: 4, completed: 4, queueDepth: 0, inFlight: 0 });
    await pool.close();
  });

  test("with two executors, the first to free up takes its share of the backlog, not all of it", async () => {
    const a = recorder(40);
    const b = recorder(70);
    const pool = new BatchPool([a.exec, b.exec], { batchSize: 8, batchWaitMs: 0, maxQueuePerStream: 8 });
    const first = [pool.submit({ id: "s0" }, "s0"), pool.submit({ id: "s1" }, "s1")];
    // Six finals of six streams queue while both executors are busy.
    const queued = ["q0", "q1", "q2", "q3", "q4", "q5"].map((id) => pool.submit({ id }, id));
    await Promise.all([...first, ...queued]);
    expect(a.batches[0]).toEqual(["s0"]);
    expect(b.batches[0]).toEqual(["s1"]);
    // The quick executor frees first with six waiting: it takes three (6 / 2), the other the rest as it frees.
    expect(a.batches[1]).toEqual(["q0", "q1", "q2"]);
    expect(b.batches[1]).toEqual(["q3", "q4"]);
    expect([...a.batches, ...b.batches].flat().sort()).toEqual(["q0", "q1", "q2", "q3", "q4", "q5", "s0", "s1"]);
    expect(Math.max(...[...a.batches, ...b.batches].map((x) => x.length))).toBe(3);
    await pool.close();
  });

  test("onIdle is called only when the whole pool goes idle, never between queued batches or while another executor works", async () => {
    const { batches, exec } = recorder(10);
    const idle: number[] = [];
    const pool = new BatchPool([exec], { batchSize: 1, batchWaitMs: 0, maxQueuePerStream: 8, onIdle: (slot) => idle.push(slot) });
    const done = ["a0", "a1", "a2"].map((id) => pool.submit({ id }, "a"));
    await done[1]; // the second batch finished while the third still waited
    expect(idle).toEqual([]);
    await Promise.all(done);
    // The third batch's finish is the first moment nothing waits: one call. A
    // submit/await round trip after it settles anything still in flight.
    await pool.submit({ id: "b0" }, "b");
    expect(batches).toEqual([["a0"], ["a1"], ["a2"], ["b0"]]);
    expect(idle).toEqual([0, 0]);
    await pool.close();

    // Two executors: the quick one finishing while the slow one works is not idle.
    const quick = recorder(1);
    const slow = recorder(60);
    const both: number[] = [];
    const two = new BatchPool([slow.exec, quick.exec], { batchSize: 1, batchWaitMs: 0, maxQueuePerStream: 8, onIdle: (slot) => both.push(slot) });
    const long = two.submit({ id: "s" }, "s");
    await two.submit({ id: "q" }, "q");
    expect(both).toEqual([]);
    await long;
    expect(both).toEqual([0]);
    await two.close();

    // idleDelayMs: a batch starting within the delay means the engine was never idle.
    const delayed: number[] = [];
    const late = new BatchPool([recorder(5).exec], { batchSize: 1, batchWaitMs: 0, maxQueuePerStream: 8, idleDelayMs: 80, onIdle: (slot) => delayed.push(slot) });
    await late.submit({ id: "d0" }, "d");
    await Bun.sleep(30);
    await late.submit({ id: "d1" }, "d");
    await Bun.sleep(30);
    expect(delayed).toEqual([]);
    await Bun.sleep(100);
    expect(delayed).toEqual([0]);
    await late.close();
  });

  test("batches are formed round-robin across streams and respect batchSize", async () => {
    const { batches, exec } = recorder(10);
    const pool = new BatchPool([exec], { batchSize: 4, batchWaitMs: 0, maxQueuePerStream: 8 });
    const all: Promise<string>[] = [pool.submit({ id: "x" }, "x")]; // occupies the executor
    for (let i = 0; i < 6; i++) all.push(pool.submit({ id: `a${i}` }, "a"));
    all.push(pool.submit({ id: "b0" }, "b"), pool.submit({ id: "c0" }, "c"), pool.submit({ id: "c1" }, "c"));
    await Promise.all(all);
    expect(batches[0]).toEqual(["x"]);
    expect(batches[1]).toEqual(["a0", "b0", "c0", "a1"]);
    expect(batches[2]).toEqual(["c1", "a2", "a3", "a4"]);
    expect(batches[3]).toEqual(["a5"]);
    await pool.close();
  });

  test("per-stream promises settle in submission order even when batches finish out of order", async () => {
    const { exec } = recorder(1);
    const pool = new BatchPool([exec, exec], { batchSize: 1, batchWaitMs: 0, maxQueuePerStream: 8 });
    const order: string[] = [];
    const slow = pool.submit({ id: "s0", ms: 60 }, "s").then((v) => order.push(v));
    const fast = pool.submit({ id: "s1", ms: 1 }, "s").then((v) => order.push(v));
    await Promise.all([slow, fast]);
    expect(order).toEqual(["done s0", "done s1"]);
    await pool.close();
  });

  test("a full stream is refused with code queue_full; other streams are not affected", async () => {
    const { exec } = recorder(30);
    const pool = new BatchPool([exec], { batchSize: 2, batchWaitMs: 0, maxQueuePerStream: 2 });
    const busy = pool.submit({ id: "busy" }, "z");
    const ok = [pool.submit({ id: "q0" }, "q"), pool.submit({ id: "q1" }, "q")];
    const refused = pool.submit({ id: "q2" }, "q");
    await expect(refused).rejects.toMatchObject({ code: "queue_full" });
    expect(await pool.submit({ id: "r0" }, "r")).toBe("done r0");
    expect(await Promise.all([busy, ...ok])).toEqual(["done busy", "done q0", "done q1"]);
    expect(pool.getStats().rejected).toBe(1);
    await pool.close();
  });

  test("batchWaitMs lets a partial batch wait for more", async () => {
    const { batches, exec } = recorder(1);
    const pool = new BatchPool([exec], { batchSize: 3, batchWaitMs: 40, maxQueuePerStream: 8 });
    const p = [pool.submit({ id: "a" }, "a")];
    await Bun.sleep(10);
    p.push(pool.submit({ id: "b" }, "b"));
    await Promise.all(p);
    expect(batches).toEqual([["a", "b"]]);
    const q = pool.submit({ id: "c" }, "c");
    const t0 = performance.now();
    await q;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(30);
    await pool.close();
  });

  test("one failed item rejects only its own promise; close rejects waiting requests", async () => {
    const { exec } = recorder(20);
    const pool = new BatchPool([exec], { batchSize: 4, batchWaitMs: 0, maxQueuePerStream: 8 });
    const first = pool.submit({ id: "a" }, "a");
    const bad = pool.submit({ id: "b", fail: true }, "b");
    const good = pool.submit({ id: "c" }, "c");
    expect(await first).toBe("done a");
    await expect(bad).rejects.toThrow("bad b");
    expect(await good).toBe("done c");
    const busy = pool.submit({ id: "d", ms: 30 }, "d");
    const waiting = pool.submit({ id: "e" }, "e").catch((e: unknown) => e);
    await pool.close();
    expect(await busy).toBe("done d");
    expect(await waiting).toMatchObject({ code: "engine_closed" });
    await expect(pool.submit({ id: "f" })).rejects.toMatchObject({ code: "engine_closed" });
  });

  test("interims: one waiting per stream (a newer one supersedes), dispatched only while no final waits, never batched with finals", async () => {
    const { batches, exec } = recorder(15);
    const pool = new BatchPool([exec], { batchSize: 8, batchWaitMs: 0, maxQueuePerStream: 8 });
    const busy = pool.submit({ id: "f0" }, "a"); // occupies the executor
    const old = pool.submit({ id: "i1" }, "a", "interim").catch((e: { code?: string }) => e.code);
    const newer = pool.submit({ id: "i2" }, "a", "interim");
    const other = pool.submit({ id: "j1" }, "b", "interim");
    const final = pool.submit({ id: "f1" }, "b");
    expect(await old).toBe("superseded");
    expect(await Promise.all([busy, final, newer, other])).toEqual(["done f0", "done f1", "done i2", "done j1"]);
    // The waiting final went first; the interims went together after it.
    expect(batches).toEqual([["f0"], ["f1"], ["i2", "j1"]]);
    const s = pool.getStats();
    // f1 waited behind a final, not behind an interim.
    expect(s.interims).toEqual({ dispatched: 2, superseded: 1, waiting: 0, finalsBehind: 0 });
    // Batching figures describe finals only.
    expect(s).toMatchObject({ batches: 2, dispatched: 2 });
    expect(pool.shedInterims()).toBe(0);
    await pool.close();
  });

  test("shedInterims drops every waiting interim; close rejects the rest", async () => {
    const { exec } = recorder(15);
    const pool = new BatchPool([exec], { batchSize: 8, batchWaitMs: 0, maxQueuePerStream: 8 });
    const busy = pool.submit({ id: "f0" }, "a");
    const waiting = ["x", "y"].map((k) => pool.submit({ id: k }, k, "interim").catch((e: { code?: string }) => e.code));
    expect(pool.shedInterims()).toBe(2);
    expect(await Promise.all(waiting)).toEqual(["superseded", "superseded"]);
    const late = pool.submit({ id: "z" }, "z", "interim").catch((e: { code?: string }) => e.code);
    await pool.close();
    expect(await late).toBe("engine_closed");
    expect(await busy).toBe("done f0");
  });

  test("interims keep to their share of the executors' time; newer ones replace those held back", async () => {
    const { batches, exec } = recorder(50);
    const pool = new BatchPool([exec], { batchSize: 8, batchWaitMs: 0, maxQueuePerStream: 8, interimShare: 0.25 });
    const outcomes: string[] = [];
    for (let i = 0; i < 60; i++) {
      void pool.submit({ id: `i${i}` }, "s", "interim").then(
        () => outcomes.push("done"),
        (e: { code?: string }) => outcomes.push(e.code ?? "?"),
      );
      await Bun.sleep(20);
    }
    // One batch may start just under the limit and overshoot it by its own length.
    expect(pool.interimLoad()).toBeLessThanOrEqual(0.25 + 50 / 4000 + 0.01);
    expect(outcomes.filter((o) => o === "superseded").length).toBeGreaterThan(0);
    expect(batches.length).toBeLessThan(60);
    // A final is never held back by the share.
    expect(await pool.submit({ id: "f" }, "s")).toBe("done f");
    await pool.close();
  });

  test("with two executors an interim never takes the last idle one, so a final arriving meanwhile starts at once", async () => {
    const a = recorder(80);
    const b = recorder(80);
    const pool = new BatchPool([a.exec, b.exec], { batchSize: 8, batchWaitMs: 0, maxQueuePerStream: 8 });
    const i1 = pool.submit({ id: "i1" }, "s1", "interim");
    const i2 = pool.submit({ id: "i2" }, "s2", "interim");
    await Bun.sleep(5);
    // One interim runs; the other waits although an executor is idle.
    expect(pool.getStats().interims).toMatchObject({ dispatched: 1, waiting: 1 });
    const f = pool.submit({ id: "f" }, "s3");
    await Bun.sleep(5);
    // The final took the spare executor at once, beside the running interim.
    expect([...a.batches, ...b.batches]).toEqual([["i1"], ["f"]]);
    expect(await Promise.all([i1, i2, f])).toEqual(["done i1", "done i2", "done f"]);
    await pool.close();

    // One executor: nothing to spare, interims use it while nothing else waits.
    const one = recorder(5);
    const single = new BatchPool([one.exec], { batchSize: 8, batchWaitMs: 0, maxQueuePerStream: 8 });
    expect(await single.submit({ id: "i" }, "s", "interim")).toBe("done i");
    await single.close();
  });

  test("withdrawInterim drops a stream's waiting interim (rejected as superseded), leaving other streams' alone", async () => {
    const { batches, exec } = recorder(20);
    const pool = new BatchPool([exec], { batchSize: 8, batchWaitMs: 0, maxQueuePerStream: 8 });
    const busy = pool.submit({ id: "f0" }, "a");
    const mine = pool.submit({ id: "i-a" }, "a", "interim").catch((e: { code?: string }) => e.code);
    const theirs = pool.submit({ id: "i-b" }, "b", "interim");
    expect(pool.withdrawInterim("a")).toBe(true);
    expect(pool.withdrawInterim("a")).toBe(false);
    expect(await mine).toBe("superseded");
    expect(await Promise.all([busy, theirs])).toEqual(["done f0", "done i-b"]);
    expect(batches).toEqual([["f0"], ["i-b"]]);
    await pool.close();
  });

  test("an announced final keeps an executor free: interims wait, the final starts at once, and interims resume after it or when the announcement lapses", async () => {
    const a = recorder(40);
    const b = recorder(40);
    const c = recorder(40);
    const pool = new BatchPool([a.exec, b.exec, c.exec], { batchSize: 8, batchWaitMs: 0, maxQueuePerStream: 8 });
    const ran = () => [...a.batches, ...b.batches, ...c.batches];
    // Three executors, one final announced: one for it, one spare, so an interim
    // may still take the third.
    pool.expectFinal("s1", 1000);
    const i2 = pool.submit({ id: "i2" }, "s2", "interim");
    await Bun.sleep(5);
    expect(ran()).toEqual([["i2"]]);
    // A second announcement: the two idle executors are both spoken for.
    pool.expectFinal("s4", 1000);
    const i3 = pool.submit({ id: "i3" }, "s3", "interim");
    // Held from the moment it was submitted, and still held after the pool's
    // 100 ms re-check has run (the interims' poll is the only way it could start).
    expect(pool.getStats().interims.waiting).toBe(1);
    await Bun.sleep(150);
    expect(ran()).toEqual([["i2"]]);
    expect(pool.getStats()).toMatchObject({ expectedFinals: 2, interims: { waiting: 1 } });
    // The announced final arrives and starts at once; its announcement ends with it.
    const f1 = pool.submit({ id: "f1" }, "s1");
    await Bun.sleep(5);
    expect(ran()).toEqual([["i2"], ["f1"]]);
    expect(pool.getStats().expectedFinals).toBe(1);
    // Withdrawing the other announcement frees an executor for the waiting interim.
    pool.expectFinal("s4", 0);
    expect(await Promise.all([i2, i3, f1])).toEqual(["done i2", "done i3", "done f1"]);
    expect(ran()).toEqual([["i2"], ["f1"], ["i3"]]);
    expect(pool.getStats().interims.finalsBehind).toBe(0);
    // An announcement nobody follows up lapses on its own.
    pool.expectFinal("s5", 50);
    pool.expectFinal("s6", 50);
    const i7 = pool.submit({ id: "i7" }, "s7", "interim");
    await Bun.sleep(20);
    expect(ran().length).toBe(3);
    expect(await i7).toBe("done i7");
    expect(pool.getStats().expectedFinals).toBe(0);
    await pool.close();

    // One executor: announcements hold nothing (there, a final waits out one short batched call).
    const one = recorder(5);
    const single = new BatchPool([one.exec], { batchSize: 8, batchWaitMs: 0, maxQueuePerStream: 8 });
    single.expectFinal("s1", 1000);
    const lone = single.submit({ id: "i" }, "s2", "interim");
    await Bun.sleep(1);
    // ...and the final that then arrives waits behind it, which the stats count.
    const late = single.submit({ id: "f" }, "s1");
    expect(await Promise.all([lone, late])).toEqual(["done i", "done f"]);
    expect(single.getStats().interims.finalsBehind).toBe(1);
    await single.close();
  });
});
