import type { SharedClaim, SharedClaims } from "../stream/owners.ts";

/** One Redis command (node-redis' sendCommand on the cluster's publish connection). */
export type RedisCommand = (args: string[]) => Promise<unknown>;

/** A clientId's seq outlives its claim: monitors compare it across reconnects for a day. */
const SEQ_TTL_SECONDS = 86_400;
/** Past this, Redis counts as absent for this stream: the node serves it alone rather than stalling its audio. */
const ANSWER_MS = 1000;

const claimKey = (clientId: string) => `stt:claim:${clientId}`;
const seqKey = (clientId: string) => `stt:seq:${clientId}`;

// Compare-and-set and compare-and-delete, so a node only ever changes a record it read or owns.
const REPLACE = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0";
const DROP = "local v = redis.call('GET', KEYS[1]) if v and cjson.decode(v).owner == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end return 0";

function answered<T>(p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`redis did not answer within ${ANSWER_MS} ms`)), ANSWER_MS)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * The stream state every node must see (`redis_url`): who holds a clientId
 * and the hash of its resume key (`stt:claim:<id>`, expiring `ttlSeconds`
 * after its node last refreshed it, so a node killed outright does not lock
 * the clientId for good), and the next seq (`stt:seq:<id>`).
 */
export class RedisStreamState implements SharedClaims {
  private readonly ttlMs: number;

  constructor(
    private readonly send: RedisCommand,
    ttlSeconds: number,
  ) {
    this.ttlMs = Math.round(ttlSeconds * 1000);
  }

  async get(clientId: string): Promise<{ claim: SharedClaim; raw: string } | null> {
    const raw = await answered(this.send(["GET", claimKey(clientId)]));
    if (typeof raw !== "string") return null;
    return { claim: JSON.parse(raw) as SharedClaim, raw };
  }

  async create(clientId: string, claim: SharedClaim): Promise<boolean> {
    return (await answered(this.send(["SET", claimKey(clientId), JSON.stringify(claim), "PX", String(this.ttlMs), "NX"]))) === "OK";
  }

  async replace(clientId: string, raw: string, claim: SharedClaim): Promise<boolean> {
    return Number(await answered(this.send(["EVAL", REPLACE, "1", claimKey(clientId), raw, JSON.stringify(claim), String(this.ttlMs)]))) === 1;
  }

  async drop(clientId: string, owner: string): Promise<void> {
    await answered(this.send(["EVAL", DROP, "1", claimKey(clientId), owner]));
  }

  async refresh(clientIds: string[]): Promise<void> {
    await Promise.all(clientIds.map((id) => this.send(["PEXPIRE", claimKey(id), String(this.ttlMs)])));
  }

  /** The next seq another node counted for this clientId, or null (never seen, expired, Redis away). */
  async loadSeq(clientId: string): Promise<number | null> {
    const v = await answered(this.send(["GET", seqKey(clientId)])).catch(() => null);
    const n = typeof v === "string" ? Number(v) : NaN;
    return Number.isInteger(n) && n >= 0 ? n : null;
  }

  /** Written before the transcript carrying `next - 1` is emitted (same tick, same order as commands). */
  saveSeq(clientId: string, next: number): void {
    this.send(["SET", seqKey(clientId), String(next), "EX", String(SEQ_TTL_SECONDS)]).catch(() => {});
  }
}
