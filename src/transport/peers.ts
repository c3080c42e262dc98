import type { Server as BunServer } from "bun";

/**
 * Socket.IO connections per client address (limits.max_connections_per_ip),
 * so that one host cannot take every connection of the node. The Bun engine
 * does not give sockets an address, and Bun no longer knows a request's
 * address once it is upgraded to a WebSocket: the address is read while the
 * engine vets the request (allowRequest) and moved to the connection when the
 * engine announces it.
 */
export class PeerAddresses {
  private readonly ofRequest = new WeakMap<Request, string>();
  private readonly ofConnection = new WeakMap<object, string>();
  private readonly counts = new Map<string, number>();

  vet(req: Request, server: BunServer<unknown>): void {
    const address = server.requestIP(req)?.address;
    if (address) this.ofRequest.set(req, address);
  }

  connected(connection: object, req: Request): void {
    const address = this.ofRequest.get(req);
    if (address) this.ofConnection.set(connection, address);
  }

  addressOf(connection: object): string | undefined {
    return this.ofConnection.get(connection);
  }

  connections(address: string): number {
    return this.counts.get(address) ?? 0;
  }

  add(address: string): void {
    this.counts.set(address, this.connections(address) + 1);
  }

  remove(address: string): void {
    const n = this.connections(address) - 1;
    if (n > 0) this.counts.set(address, n);
    else this.counts.delete(address);
  }
}
