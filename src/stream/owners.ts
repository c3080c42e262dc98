import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Which connection a clientId's audio belongs to: the one owner record of the
 * stream core (admission and delivery ask it, not the sessions). Connections
 * of every door are named alike ("<socket id>", "dg:<uuid>", "oa:<uuid>"). A claim outlives the session
 * (a cleanup_client from a monitor, an idle reap): it lasts as long as the
 * sending socket is connected, so nobody else can start streaming as that
 * clientId and be heard by its monitors. The owner gives it up by disconnecting
 * or by cleaning up its own clientId.
 *
 * A sender whose connection died reconnects on a new socket long before the
 * server notices the old one is gone (ping timeout); it takes its claim back
 * with the resume key it was given (`stream_started`) or, with scoped tokens,
 * by presenting the same token.
 *
 * With a shared store (Redis, `redis_url`) the claim is also recorded there,
 * so a sender whose node died or was drained can take its clientId back on any
 * other node with the same key. Only hashes of the key and token are shared.
 */

export interface Claimant {
  socketId: string;
  /** The handshake's `auth.resumeKey`, if any. */
  resumeKey?: string;
  /** The token the socket authenticated with, and whether it is a scoped (per-principal) one. */
  token?: string;
  scoped: boolean;
}

interface Claim {
  socketId: string;
  resumeKey: string;
  token?: string;
  scoped: boolean;
}

/** A claim as every node sees it: the owner connection and hashes of its secrets. */
export interface SharedClaim {
  owner: string;
  keyHash: string;
  /** Hash of the scoped token that made the claim, if it was one. */
  tokenHash?: string;
}

/** The cluster-wide claim records (src/cluster/claims.ts keeps them in Redis). */
export interface SharedClaims {
  /** The record and its raw form (for replace), or null when nobody holds the clientId. */
  get(clientId: string): Promise<{ claim: SharedClaim; raw: string } | null>;
  /** Records a claim when none exists; false when someone holds it. */
  create(clientId: string, claim: SharedClaim): Promise<boolean>;
  /** Replaces the record read as `raw`; false when it changed meanwhile. */
  replace(clientId: string, raw: string, claim: SharedClaim): Promise<boolean>;
  /** Deletes the record while `owner` still holds it. */
  drop(clientId: string, owner: string): Promise<void>;
  /** Keeps this node's live records from expiring. */
  refresh(clientIds: string[]): Promise<void>;
}

export type TakeResult =
  | { ok: true; resumeKey: string; fresh: boolean; previousOwner?: string }
  | { ok: false };

export const hashSecret = (s: string) => createHash("sha256").update(s).digest("base64url");

export class ClientIdOwners {
  private readonly byId = new Map<string, Claim>();
  private readonly bySocket = new Map<string, Set<string>>();

  constructor(private readonly shared?: SharedClaims) {}

  ownerOf(clientId: string): string | undefined {
    return this.byId.get(clientId)?.socketId;
  }

  countFor(socketId: string): number {
    return this.bySocket.get(socketId)?.size ?? 0;
  }

  /** Every clientId claimed on this node (the shared store's refresh). */
  claimed(): string[] {
    return [...this.byId.keys()];
  }

  async take(clientId: string, who: Claimant): Promise<TakeResult> {
    if (this.byId.has(clientId) || !this.shared) return this.takeLocal(clientId, who);
    // Redis away or slow: this node serves the stream alone (as the cluster's adapter does).
    const remote = await this.takeShared(clientId, who).catch(() => null);
    if (!remote) return this.takeLocal(clientId, who);
    // Another connection of this node may have claimed it while Redis answered.
    if (this.byId.has(clientId) || !remote.ok) return this.byId.has(clientId) ? this.takeLocal(clientId, who) : remote;
    this.byId.set(clientId, { socketId: who.socketId, resumeKey: remote.resumeKey, token: who.token, scoped: who.scoped });
    this.index(who.socketId, clientId);
    return remote;
  }

  private takeLocal(clientId: string, who: Claimant): TakeResult {
    const claim = this.byId.get(clientId);
    if (!claim) {
      const fresh: Claim = { socketId: who.socketId, resumeKey: newKey(), token: who.token, scoped: who.scoped };
      this.byId.set(clientId, fresh);
      this.index(who.socketId, clientId);
      void this.shared?.create(clientId, sharedOf(fresh)).catch(() => {});
      return { ok: true, resumeKey: fresh.resumeKey, fresh: true };
    }
    if (claim.socketId === who.socketId) return { ok: true, resumeKey: claim.resumeKey, fresh: false };
    const sameKey = who.resumeKey !== undefined && sameSecret(who.resumeKey, claim.resumeKey);
    // A plain string token is shared by every client, so only a scoped token identifies the sender.
    const sameScopedToken = claim.scoped && who.scoped && who.token !== undefined && claim.token === who.token;
    if (!sameKey && !sameScopedToken) return { ok: false };
    const previousOwner = claim.socketId;
    this.bySocket.get(previousOwner)?.delete(clientId);
    claim.socketId = who.socketId;
    this.index(who.socketId, clientId);
    void this.shared?.create(clientId, sharedOf(claim)).then((made) => made || this.shared?.get(clientId).then((r) => r && this.shared?.replace(clientId, r.raw, sharedOf(claim)))).catch(() => {});
    return { ok: true, resumeKey: claim.resumeKey, fresh: true, previousOwner };
  }

  /** No claim on this node: the shared record decides (another node's claim needs the key or scoped token). */
  private async takeShared(clientId: string, who: Claimant): Promise<TakeResult> {
    const shared = this.shared!;
    for (let attempt = 0; attempt < 3; attempt++) {
      const found = await shared.get(clientId);
      if (!found) {
        const resumeKey = newKey();
        if (await shared.create(clientId, sharedOf({ socketId: who.socketId, resumeKey, token: who.token, scoped: who.scoped }))) return { ok: true, resumeKey, fresh: true };
        continue;
      }
      const { claim, raw } = found;
      const sameKey = who.resumeKey !== undefined && sameSecret(hashSecret(who.resumeKey), claim.keyHash);
      const sameScopedToken = claim.tokenHash !== undefined && who.scoped && who.token !== undefined && sameSecret(hashSecret(who.token), claim.tokenHash);
      if (!sameKey && !sameScopedToken) return { ok: false };
      const resumeKey = sameKey ? who.resumeKey! : newKey();
      if (await shared.replace(clientId, raw, sharedOf({ socketId: who.socketId, resumeKey, token: who.token, scoped: who.scoped }))) {
        return { ok: true, resumeKey, fresh: true, previousOwner: claim.owner };
      }
    }
    return { ok: false };
  }

  /** Gives the claim up, only when `socketId` holds it. */
  release(clientId: string, socketId: string): void {
    if (this.byId.get(clientId)?.socketId !== socketId) return;
    this.byId.delete(clientId);
    this.bySocket.get(socketId)?.delete(clientId);
    void this.shared?.drop(clientId, socketId).catch(() => {});
  }

  /** The connection closed: every claim it holds is free again. */
  releaseConnection(socketId: string): string[] {
    const ids = [...(this.bySocket.get(socketId) ?? [])];
    for (const id of ids) {
      this.byId.delete(id);
      void this.shared?.drop(id, socketId).catch(() => {});
    }
    this.bySocket.delete(socketId);
    return ids;
  }

  private index(socketId: string, clientId: string): void {
    let set = this.bySocket.get(socketId);
    if (!set) this.bySocket.set(socketId, (set = new Set()));
    set.add(clientId);
  }
}

const newKey = () => randomBytes(18).toString("base64url");

function sharedOf(c: Claim): SharedClaim {
  return { owner: c.socketId, keyHash: hashSecret(c.resumeKey), ...(c.scoped && c.token !== undefined ? { tokenHash: hashSecret(c.token) } : {}) };
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
