import { randomBytes, timingSafeEqual } from "node:crypto";

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

export type TakeResult =
  | { ok: true; resumeKey: string; fresh: boolean; previousOwner?: string }
  | { ok: false };

export class ClientIdOwners {
  private readonly byId = new Map<string, Claim>();
  private readonly bySocket = new Map<string, Set<string>>();

  ownerOf(clientId: string): string | undefined {
    return this.byId.get(clientId)?.socketId;
  }

  countFor(socketId: string): number {
    return this.bySocket.get(socketId)?.size ?? 0;
  }

  take(clientId: string, who: Claimant): TakeResult {
    const claim = this.byId.get(clientId);
    if (!claim) {
      const fresh: Claim = { socketId: who.socketId, resumeKey: randomBytes(18).toString("base64url"), token: who.token, scoped: who.scoped };
      this.byId.set(clientId, fresh);
      this.index(who.socketId, clientId);
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
    return { ok: true, resumeKey: claim.resumeKey, fresh: true, previousOwner };
  }

  /** Gives the claim up, only when `socketId` holds it. */
  release(clientId: string, socketId: string): void {
    if (this.byId.get(clientId)?.socketId !== socketId) return;
    this.byId.delete(clientId);
    this.bySocket.get(socketId)?.delete(clientId);
  }

  /** The connection closed: every claim it holds is free again. */
  releaseConnection(socketId: string): string[] {
    const ids = [...(this.bySocket.get(socketId) ?? [])];
    for (const id of ids) this.byId.delete(id);
    this.bySocket.delete(socketId);
    return ids;
  }

  private index(socketId: string, clientId: string): void {
    let set = this.bySocket.get(socketId);
    if (!set) this.bySocket.set(socketId, (set = new Set()));
    set.add(clientId);
  }
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
