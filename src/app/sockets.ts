import { Server as Engine } from "@socket.io/bun-engine";
import type { Server as SocketServer } from "socket.io";
import type { TokenAuth } from "../auth/tokens.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import type { ServerMetrics } from "../metrics/metrics.ts";
import type { StreamHub } from "../stream/core.ts";
import { bindSocketHandlers, type AuthorizeClientId, type TransportCounters } from "../transport/socket-handlers.ts";
import type { PeerAddresses } from "../transport/peers.ts";
import { originAllowed } from "./http.ts";

export interface SocketWiring {
  config: Config;
  io: SocketServer;
  corsOrigin: string | string[];
  peers: PeerAddresses;
  core: StreamHub;
  auth: TokenAuth;
  authorize?: AuthorizeClientId;
  metrics: ServerMetrics;
  counters: TransportCounters;
  log: Logger;
  isStopping(): boolean;
}

/** The Socket.IO transport, bound to `io`, with the app's event handlers; HTTP hands it /socket.io/. */
export function attachSockets(w: SocketWiring): Engine {
  const { config, corsOrigin, peers } = w;
  const transport = new Engine({
    path: "/socket.io/",
    // The transport limit sits above the app limit so an oversized chunk
    // gets an `error` event instead of a dropped connection.
    maxHttpBufferSize: config.limits.max_payload_bytes * 4 + 64 * 1024,
    cors: { origin: corsOrigin },
    // CORS does not cover WebSocket: browsers send Origin, so check it here too.
    allowRequest: async (req, server) => {
      if (!originAllowed(corsOrigin, req.headers.get("origin"), req.headers.get("host"))) throw "origin not allowed (cors.origin)";
      peers.vet(req, server);
    },
  });
  transport.on("connection", (conn: object, req: Request) => peers.connected(conn, req));
  w.io.bind(transport);
  bindSocketHandlers({
    io: w.io,
    config,
    core: w.core,
    log: w.log,
    counters: w.counters,
    authorize: w.authorize,
    auth: w.auth,
    isStopping: w.isStopping,
    peers,
    events: w.metrics.doors,
    onRefused: (reason) => {
      w.metrics.connectionRefused(reason);
      if (reason === "missing_token" || reason === "invalid_token") w.metrics.authFailed(reason);
    },
  });
  return transport;
}
