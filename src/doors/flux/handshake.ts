import type { DoorContext } from "../../stream/types.ts";
import type { Handshake } from "../websocket.ts";
import { ATTACH_TIMEOUT_MS, admitRequest, refusal } from "../deepgram/handshake.ts";
import { fluxStreamOptions } from "./options.ts";
import { parseFluxQuery } from "./query.ts";
import { FluxConnection } from "./socket.ts";

/**
 * Flux's handshake: the same auth, origin and admission as /v1/listen (a
 * refusal is an HTTP status with Deepgram's error body), then Flux's query
 * and a stream with turn_detection "model".
 */
export async function fluxHandshake(ctx: DoorContext, req: Request, url: URL): Promise<Handshake<FluxConnection>> {
  const admitted = admitRequest(ctx, req);
  if (admitted instanceof Response) return admitted;
  const { requestId, grant, token, protocol, refuse } = admitted;
  const parsed = parseFluxQuery(url.searchParams);
  if (!parsed.ok) return refuse(400, "invalid_query", parsed.message);
  const params = parsed.params;
  const clientId = params.clientId ?? `flux-${requestId}`;
  if (!grant.allows(clientId, "send")) return refuse(403, "forbidden", `this key may not stream as clientId ${JSON.stringify(clientId)}`);
  const options = fluxStreamOptions(params);
  const invalid = ctx.core.checkOptions(options);
  if (invalid) return refuse(400, "invalid_query", invalid);
  const busy = ctx.core.wouldAdmit();
  if (busy) return refusal(busy, refuse);

  const connection = new FluxConnection({
    params,
    requestId,
    clientId,
    maxFrameBytes: ctx.config.limits.max_payload_bytes,
    core: ctx.core,
    events: ctx.events,
    log: ctx.log,
  });
  const opened = await ctx.core.open({
    clientId,
    connectionId: `flux:${requestId}`,
    // The core counts doors as deepgram/openai/socketio; Flux is Deepgram's protocol family.
    door: "flux",
    grant,
    token,
    scoped: grant.device === clientId,
    options,
    listener: connection.listener,
  });
  if (!opened.ok) return refusal(opened, refuse);
  connection.bind(opened.stream);
  ctx.events.streamOpened("flux");
  ctx.log.info("flux stream opened", {
    requestId,
    clientId,
    encoding: params.encoding,
    sampleRate: params.sampleRate,
    model: params.model,
    eotThreshold: params.eotThreshold,
    eagerEotThreshold: params.eagerEotThreshold,
    eotTimeoutMs: params.eotTimeoutMs,
    keyterms: params.keyterms.length,
  });
  setTimeout(() => connection.abandon(), ATTACH_TIMEOUT_MS).unref?.();
  const headers: Record<string, string> = { "dg-request-id": requestId };
  if (protocol) headers["Sec-WebSocket-Protocol"] = protocol;
  return { state: connection, headers };
}
