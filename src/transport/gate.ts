import type { Server } from "socket.io";
import { AUTH_MESSAGES, handshakeToken } from "../auth/tokens.ts";
import type { TransportDeps } from "./socket-handlers.ts";

/** Reasons a connection is refused (the client's connect_error message starts with the reason). */
export type RefusalReason = "missing_token" | "invalid_token" | "max_connections" | "max_connections_per_ip" | "shutting_down";

/**
 * Connection gate: shutdown, then credentials, then the connection limits.
 * A refusal reaches the client as connect_error with `message` (and `data.code`).
 */
export function gateConnections(io: Server, deps: TransportDeps): void {
  const limits = deps.config.limits;
  io.use((socket, next) => {
    const refuse = (reason: RefusalReason, message: string) => {
      deps.onRefused?.(reason);
      const err = new Error(message) as Error & { data?: unknown };
      err.data = { code: reason, message };
      next(err);
      // Do not let a refused client hold its transport open until connectTimeout.
      setTimeout(() => {
        if (socket.client.conn.readyState === "open" && !io.of("/").sockets.has(socket.id)) socket.client.conn.close();
      }, 1000).unref?.();
    };
    if (deps.isStopping?.()) return refuse("shutting_down", "shutting_down: the server is shutting down; connect to another node");
    if (deps.auth?.enabled) {
      const token = handshakeToken(socket.handshake as never);
      const bad = deps.auth.check(token);
      if (bad) return refuse(bad, AUTH_MESSAGES[bad]);
      socket.data.token = token;
      socket.data.grant = deps.auth.grantFor(token);
    }
    if (io.of("/").sockets.size >= limits.max_connections) {
      return refuse("max_connections", `max_connections: this node is at max_connections (${limits.max_connections}); try again later`);
    }
    const address = deps.peers?.addressOf(socket.client.conn);
    if (address !== undefined && deps.peers!.connections(address) >= limits.max_connections_per_ip) {
      return refuse("max_connections_per_ip", `max_connections_per_ip: ${limits.max_connections_per_ip} connections from this address already; close some first`);
    }
    // Counted once the socket is connected (the "connection" handler), so a
    // socket that dies before that leaves no count behind.
    if (address !== undefined) socket.data.pendingAddress = address;
    next();
  });
}
