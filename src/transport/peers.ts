import type { Server as BunServer } from "bun";

/**
 * Socket.IO connections per client address (limits.max_connections_per_ip),
 * so that one host cannot take every connection of the node. The Bun engine
 * does not give sockets an address; it is read from the handshake request in
 * the engine's allowRequest and found again through that request.
 */
export class PeerAddresses {
  private readonly ofRequest = new WeakMap<Request, string>();
  private readonly counts = new Map<string, number>();

  remember(req: Request, server: BunServer<unknown>): void {
    const address = server.requestIP(req)?.address;
    if (address) this.ofRequest.set(req, address);
  }

  addressOf(req: unknown): string | undefined {
    return req instanceof Request ? this.ofRequest.get(req) : undefined;
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
