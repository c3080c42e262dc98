/**
 * What a token may do (config `auth.tokens`). A plain string token may do
 * everything on every clientId, as before scoped tokens existed; an object
 * entry `{token, clientIds, can}` only the actions in `can`, and only on
 * clientIds matching one of its globs.
 */

export type Action = "send" | "subscribe" | "cleanup";
export const ACTIONS: readonly Action[] = ["send", "subscribe", "cleanup"];

export interface ScopedToken {
  token: string;
  clientIds: string[];
  can: Action[];
}
export type TokenEntry = string | ScopedToken;

export interface Grant {
  /** True for a plain string token (or an open server): no scope applies. */
  readonly all: boolean;
  /**
   * The one clientId a per-device token names (no wildcard), else null. Only
   * such a token identifies its sender: a fleet token ("mic-*") is shared by
   * siblings, so for it the resume key, not the token, is the identity.
   */
  readonly device: string | null;
  allows(clientId: string, action: Action): boolean;
}

export const FULL_ACCESS: Grant = { all: true, device: null, allows: () => true };

export function grantOf(entry: TokenEntry): Grant {
  if (typeof entry === "string") return FULL_ACCESS;
  const patterns = entry.clientIds.map(globToRegExp);
  const can = new Set(entry.can);
  const one = entry.clientIds.length === 1 && !/[*?]/.test(entry.clientIds[0]!) ? entry.clientIds[0]! : null;
  return {
    all: false,
    device: one,
    allows: (clientId, action) => can.has(action) && patterns.some((p) => p.test(clientId)),
  };
}

export function tokenOf(entry: TokenEntry): string {
  return typeof entry === "string" ? entry : entry.token;
}

/** `*` matches any run of characters (also none), `?` one character; everything else is literal. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (const ch of glob) {
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else re += ch.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "s");
}

/** Hosts that only this machine can reach; anything else exposes an open server. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}
