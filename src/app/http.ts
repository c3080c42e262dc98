import type { Server as Engine } from "@socket.io/bun-engine";
import type { Config } from "../config/schema.ts";
import type { HttpContext } from "../http/context.ts";
import { handleHttp } from "../http/routes.ts";
import { routeWebSockets, upgradeToDoor, type WebSocketDoor } from "../doors/websocket.ts";
import type { Logger } from "../log.ts";

/** The one listening port: /socket.io/ goes to the transport, everything else to the HTTP routes. */
export function serveHttp(config: Config, transport: Engine, context: HttpContext, log: Logger, doors: readonly WebSocketDoor<unknown>[] = []): ReturnType<typeof Bun.serve> {
  const handler = transport.handler();
  return Bun.serve({
    hostname: config.host,
    port: config.port,
    idleTimeout: handler.idleTimeout,
    // Above max_upload_bytes so that the file endpoint answers an oversized upload itself (413 in OpenAI's shape).
    maxRequestBodySize: Math.max(handler.maxRequestBodySize, config.limits.max_upload_bytes + 1024 * 1024),
    websocket: routeWebSockets(doors, handler.websocket as never) as never,
    async fetch(req, server) {
      // An HTTP/1.0 request without Host (HAProxy's default health check) has no parsable URL.
      if (!URL.canParse(req.url)) return new Response("bad request: no Host header (send HTTP/1.1 with Host)", { status: 400 });
      if (new URL(req.url).pathname.startsWith("/socket.io/")) return transport.handleRequest(req, server);
      const upgraded = await upgradeToDoor(doors, req, server as never);
      if (upgraded !== null) return upgraded;
      return (await handleHttp(req, context)) ?? new Response("not found", { status: 404 });
    },
    // Whatever a handler throws is logged here; the client gets no message, path or stack.
    error(err) {
      log.error("http handler failed", { error: String(err), stack: err.stack });
      return Response.json({ error: { message: "internal server error", type: "server_error", param: null, code: "internal_error" } }, { status: 500 });
    },
  });
}

/** CORS: explicit origins win; by default "*" for an open server and same-origin only ([] = no foreign origin) once tokens are required. */
export function corsOriginFor(config: Config, tokensRequired: boolean): string | string[] {
  return config.cors.origin ?? (tokensRequired ? [] : "*");
}

/** Non-browser clients send no Origin; a page of this very host is always allowed. */
export function originAllowed(allowed: string | string[], origin: string | null, host: string | null): boolean {
  if (!origin || allowed === "*") return true;
  const list = Array.isArray(allowed) ? allowed : [allowed];
  if (list.includes("*") || list.includes(origin)) return true;
  try {
    return host !== null && new URL(origin).host === host;
  } catch {
    return false;
  }
}
