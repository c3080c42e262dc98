import { basename } from "node:path";
import { corsOriginFor, originAllowed } from "../../app/http.ts";
import type { Grant } from "../../auth/access.ts";
import type { DoorContext, OpenRefusal } from "../../stream/types.ts";
import type { Handshake } from "../websocket.ts";
import { modelUuid, type DgMeta } from "./messages.ts";
import { streamOptionsFor } from "./options.ts";
import { parseQuery } from "./query.ts";
import { DeepgramConnection } from "./socket.ts";

/**
 * Everything decided before the upgrade, so a refusal is an HTTP status the
 * SDKs report (the Python SDK turns 401 into "invalid credentials"; the JS SDK
 * would re-dial a refusal sent as a close frame): auth, origin, the query, the
 * stream's options, admission, and the stream itself.
 */

/** A handshake that does not become a socket within this long gives its stream back. */
export const ATTACH_TIMEOUT_MS = 10_000;

/**
 * The key from `Authorization: Token|Bearer <key>` or the browser form
 * `Sec-WebSocket-Protocol: token, <key>` (the offered scheme is echoed back,
 * as a subprotocol answer must be one of the offered values).
 */
export function credentialsOf(req: Request): { token?: string; protocol?: string } {
  const header = req.headers.get("authorization");
  const m = header ? /^(?:token|bearer)\s+(\S+)\s*$/i.exec(header) : null;
  if (m) return { token: m[1] };
  const offered = (req.headers.get("sec-websocket-protocol") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const i = offered.findIndex((p) => /^(token|bearer)$/i.test(p));
  if (i >= 0 && offered[i + 1]) return { token: offered[i + 1], protocol: offered[i] };
  return {};
}

export function modelMeta(ctx: DoorContext, requestId: string): DgMeta {
  const name = basename(ctx.config.model_path);
  return { request_id: requestId, model_info: { name, version: "whisper-ctranslate2", arch: "whisper" }, model_uuid: modelUuid(name) };
}

/** What every Deepgram-shaped door (v1 and Flux v2) decides first: shutdown, origin, credentials. */
export interface Admitted {
  requestId: string;
  grant: Grant;
  token?: string;
  /** The subprotocol to echo (browser auth). */
  protocol?: string;
  refuse: Refuse;
}

export function admitRequest(ctx: DoorContext, req: Request): Admitted | Response {
  const requestId = crypto.randomUUID();
  const refuse: Refuse = (status, code, message, headers = {}) => {
    ctx.events.refused("deepgram", code);
    ctx.log.once(`deepgram:refused:${code}`, "deepgram: connection refused", { status, code, message });
    // Deepgram's HTTP error body; the request id is in the header too.
    return Response.json({ err_code: code, err_msg: message, request_id: requestId }, { status, headers: { "dg-request-id": requestId, ...headers } });
  };
  if (ctx.core.stopping()) return refuse(503, "shutting_down", "the server is shutting down; connect to another node", { "Retry-After": "5" });
  if (!originAllowed(corsOriginFor(ctx.config, ctx.auth.enabled), req.headers.get("origin"), req.headers.get("host"))) {
    return refuse(403, "origin_not_allowed", "this page's origin may not connect (config cors.origin)");
  }
  const { token, protocol } = credentialsOf(req);
  const grant = ctx.auth.grantFor(token);
  if (!grant) {
    const message = token ? "the API key was not accepted" : "this server requires a key: Authorization: Token <key>, or the Sec-WebSocket-Protocol pair token, <key>";
    return refuse(401, token ? "invalid_token" : "missing_token", message);
  }
  return { requestId, grant, token, protocol, refuse };
}

export async function deepgramHandshake(ctx: DoorContext, req: Request, url: URL): Promise<Handshake<DeepgramConnection>> {
  const admitted = admitRequest(ctx, req);
  if (admitted instanceof Response) return admitted;
  const { requestId, grant, token, protocol, refuse } = admitted;
  const parsed = parseQuery(url.searchParams);
  if (!parsed.ok) return refuse(400, "invalid_query", parsed.message);
  const params = parsed.params;
  const clientId = params.clientId ?? `dg-${requestId}`;
  if (!grant.allows(clientId, "send")) return refuse(403, "forbidden", `this key may not stream as clientId ${JSON.stringify(clientId)}`);
  const options = streamOptionsFor(params);
  const invalid = ctx.core.checkOptions(options);
  if (invalid) return refuse(400, "invalid_query", invalid);
  const busy = ctx.core.wouldAdmit();
  if (busy) return refusal(busy, refuse);

  const connection = new DeepgramConnection({
    params,
    meta: modelMeta(ctx, requestId),
    clientId,
    maxFrameBytes: ctx.config.limits.max_payload_bytes,
    events: ctx.events,
    log: ctx.log,
    checkOptions: (o) => ctx.core.checkOptions(o),
  });
  const opened = await ctx.core.open({
    clientId,
    connectionId: `dg:${requestId}`,
    door: "deepgram",
    grant,
    token,
    scoped: grant.device === clientId,
    options,
    listener: connection.listener,
  });
  if (!opened.ok) return refusal(opened, refuse);
  connection.bind(opened.stream);
  ctx.events.streamOpened("deepgram");
  ctx.log.info("deepgram stream opened", {
    requestId,
    clientId,
    encoding: params.encoding,
    sampleRate: params.sampleRate,
    model: params.model,
    language: params.languageTag,
    keyterms: params.keyterms.length + params.keywords.length,
  });
  setTimeout(() => connection.abandon(), ATTACH_TIMEOUT_MS).unref?.();
  const headers: Record<string, string> = { "dg-request-id": requestId };
  if (protocol) headers["Sec-WebSocket-Protocol"] = protocol;
  return { state: connection, headers };
}

export type Refuse = (status: number, code: string, message: string, headers?: Record<string, string>) => Response;

export function refusal(r: OpenRefusal, refuse: Refuse): Response {
  const retry = r.retryAfterMs !== undefined ? { "Retry-After": String(Math.max(1, Math.ceil(r.retryAfterMs / 1000))) } : undefined;
  switch (r.code) {
    case "forbidden":
      return refuse(403, r.code, r.message);
    case "client_id_in_use":
      return refuse(409, r.code, r.message);
    case "invalid_payload":
      return refuse(400, r.code, r.message);
    default:
      // server_busy, max_sessions, shutting_down: try again later (or elsewhere).
      return refuse(503, r.code, r.message, retry ?? { "Retry-After": "1" });
  }
}
