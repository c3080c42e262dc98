/** InterimLane alone: supersede, the keep-an-executor rule for announced finals, lapse, share. */
import { describe, expect, test } from "bun:test";
import { InterimLane } from "../../src/engine/interim-lane.ts";

const noop = () => {};

/** Offers an interim whose rejection (superseded, closed) the test does not wait for. */
function offer(lane: InterimLane<string, string>, req: string, key: string): Promise<string> {
  const p = lane.offer(req, key);
  p.catch(noop);
  return p;
}

describe("InterimLane", () => {
  test("a newer interim of a stream supersedes the waiting one; other streams keep theirs", async () => {
    const lane = new InterimLane<string, string>(2, 0.5, noop);
    const a1 = offer(lane, "a1", "a");
    offer(lane, "b1", "b");
    offer(lane, "a2", "a");
    await expect(a1).rejects.toMatchObject({ code: "superseded" });
    expect(lane.waitingCount).toBe(2);
    // Oldest stream first: b's interim has waited longer than a's replacement.
    expect(lane.take(8, 0).map((j) => j.req)).toEqual(["b1", "a2"]);
    expect(lane.counts).toEqual({ dispatched: 2, superseded: 1 });
    expect(lane.runningCount).toBe(1);
    lane.close();
  });

  test("with two or more executors an interim leaves one idle executor per announced final, plus one", () => {
    const lane = new InterimLane<string, string>(4, 0.5, noop);
    offer(lane, "a1", "a");
    expect(lane.mayStart(2, 0)).toBe(true);
    expect(lane.mayStart(1, 0)).toBe(false); // never the last idle executor
    expect(lane.mayStart(4, 1)).toBe(false); // a final waits: finals first
    lane.expect("b", 5000);
    lane.expect("c", 5000);
    expect(lane.dueFinals()).toBe(2);
    expect(lane.mayStart(3, 0)).toBe(false);
    expect(lane.mayStart(4, 0)).toBe(true);
    expect(lane.expect("b", 0)).toBe(true); // withdrawn: the owner reschedules
    expect(lane.expect("b", 0)).toBe(false); // nothing left to withdraw
    lane.finalArrived("c");
    expect(lane.dueFinals()).toBe(0);
    expect(lane.mayStart(2, 0)).toBe(true);
    lane.close();
  });

  test("one executor holds nothing back for announcements (a final waits out one short call there)", () => {
    const lane = new InterimLane<string, string>(1, 0.5, noop);
    offer(lane, "a1", "a");
    lane.expect("b", 5000);
    expect(lane.mayStart(1, 0)).toBe(true);
    lane.close();
  });

  test("an announcement lapses by itself", async () => {
    const lane = new InterimLane<string, string>(2, 0.5, noop);
    lane.expect("a", 30);
    expect(lane.dueFinals()).toBe(1);
    await Bun.sleep(40);
    expect(lane.dueFinals()).toBe(0);
    lane.close();
  });

  test("past their share of executor time interims are held, and the owner is woken to look again", async () => {
    let woken = 0;
    const lane = new InterimLane<string, string>(2, 0.5, () => woken++);
    const first = lane.offer("a1", "a");
    const [job] = lane.take(1, 0);
    job!.outcome = { ok: true, value: "hyp" };
    // 4.5 s of one executor's time out of 2 executors x 4 s window: above half.
    lane.finished(0, 4500, [job!]);
    expect(await first).toBe("hyp");
    expect(lane.load()).toBeGreaterThan(0.5);
    offer(lane, "a2", "a");
    expect(lane.mayStart(2, 0)).toBe(false);
    lane.holdIfWaiting(2, 0);
    await Bun.sleep(150);
    expect(woken).toBe(1);
    lane.close();
  });

  test("close rejects waiting interims as engine_closed", async () => {
    const lane = new InterimLane<string, string>(2, 0.5, noop);
    const p = lane.offer("a1", "a");
    lane.close();
    await expect(p).rejects.toMatchObject({ code: "engine_closed" });
    expect(lane.mayStart(2, 0)).toBe(false);
  });
});
