import { createHash, timingSafeEqual } from "node:crypto";
import { FULL_ACCESS, grantOf, tokenOf, type Grant, type TokenEntry } from "./access.ts";

/**
 * Shared-token authentication (config `auth.tokens`). An empty list means the
 * server is open. Tokens are compared through their SHA-256 digests with a
 * constant-time comparison, so neither the length nor the content of a token
 * leaks through timing.
 */
export class TokenAuth {
  private readonly digests: Buffer[];
  private readonly grants: Grant[];

  constructor(tokens: readonly TokenEntry[]) {
    this.digests = tokens.map((t) => digest(tokenOf(t)));
    this.grants = tokens.map(grantOf);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** Returns null when the token is accepted, else the reason it was not. */
  check(token: unknown): null | "missing_token" | "invalid_token" {
    if (!this.enabled) return null;
    if (typeof token !== "string" || token.length === 0) return "missing_token";
    return this.find(token) >= 0 ? null : "invalid_token";
  }

  /** What the token may do: everything on an open server, null for a token that is not accepted. */
  grantFor(token: unknown): Grant | null {
    if (!this.enabled) return FULL_ACCESS;
    if (typeof token !== "string" || token.length === 0) return null;
    const i = this.find(token);
    return i >= 0 ? this.grants[i]! : null;
  }

  /** Index of the token's entry or -1; every digest is compared so timing does not tell which matched. */
  private find(token: string): number {
    if (token.length > 4096) return -1;
    const d = digest(token);
    let found = -1;
    this.digests.forEach((known, i) => {
      if (timingSafeEqual(known, d) && found < 0) found = i;
    });
    return found;
  }
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/** `Authorization: Bearer <token>` → token, else undefined. */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/**
 * The token a Socket.IO client presented, in order of preference: the
 * handshake `auth.token` (socket.io-client's `auth` option), the `token`
 * query parameter (old clients that cannot set `auth`), then an
 * `Authorization: Bearer` header (clients that can set extra headers).
 */
export function handshakeToken(handshake: {
  auth?: Record<string, unknown>;
  query?: Record<string, unknown>;
  headers?: Record<string, unknown>;
}): string | undefined {
  const fromAuth = handshake.auth?.token;
  if (typeof fromAuth === "string" && fromAuth) return fromAuth;
  const q = handshake.query?.token;
  if (typeof q === "string" && q) return q;
  if (Array.isArray(q) && typeof q[0] === "string") return q[0];
  const h = handshake.headers?.authorization;
  return bearerToken(typeof h === "string" ? h : undefined);
}

export const AUTH_MESSAGES = {
  missing_token: "unauthorized: this server requires a token (socket.io auth: { token }, or ?token= in the URL)",
  invalid_token: "unauthorized: the token was not accepted",
} as const;
