import type { Server as BunServer, ServerWebSocket, WebSocketHandler } from "bun";

/**
 * Plain-WebSocket front doors (Deepgram, OpenAI Realtime) share the one Bun
 * listener with Socket.IO. Bun has a single websocket handler per server, so
 * each upgraded socket carries the name of its door in `ws.data` and events are
 * routed on it; sockets without one belong to Socket.IO's engine.
 */

/** What a door keeps per connection, tagged with the door's name. */
export interface DoorSocketData<S = unknown> {
  door: string;
  state: S;
}

export type DoorSocket<S> = ServerWebSocket<DoorSocketData<S>>;

/** The handshake's answer: refuse with an HTTP response, or accept with the connection's state. */
export type Handshake<S> = Response | { state: S; headers?: Record<string, string> };

export interface WebSocketDoor<S> {
  name: string;
  /** Whether this door serves the request's path (and query, e.g. `intent=transcription`). */
  matches(url: URL): boolean;
  /** Auth and options, before the upgrade: a refusal is an HTTP status the client's SDK can report. */
  handshake(req: Request, url: URL): Handshake<S> | Promise<Handshake<S>>;
  open(ws: DoorSocket<S>): void;
  message(ws: DoorSocket<S>, message: string | Buffer): void;
  close(ws: DoorSocket<S>, code: number, reason: string): void;
  /** A WebSocket ping from the client (Bun answers it); doors with idle timers count it as activity. */
  ping?(ws: DoorSocket<S>): void;
}

/**
 * Answers an upgrade request for one of `doors`, or returns null when none
 * serves the path. A door's handshake refusal is returned as it is.
 */
export async function upgradeToDoor(doors: readonly WebSocketDoor<unknown>[], req: Request, server: BunServer<unknown>): Promise<Response | undefined | null> {
  const url = new URL(req.url);
  const door = doors.find((d) => d.matches(url));
  if (!door) return null;
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response(`${url.pathname} is a WebSocket endpoint: connect with ws:// (Upgrade: websocket)`, { status: 426, headers: { Upgrade: "websocket" } });
  }
  const answer = await door.handshake(req, url);
  if (answer instanceof Response) return answer;
  const data: DoorSocketData = { door: door.name, state: answer.state };
  if (!server.upgrade(req, { data, headers: answer.headers })) return new Response("WebSocket upgrade failed", { status: 400 });
  return undefined;
}

/** One websocket handler for Bun.serve: door sockets to their door, the rest to Socket.IO's engine. */
export function routeWebSockets(doors: readonly WebSocketDoor<unknown>[], engine: WebSocketHandler<unknown>): WebSocketHandler<unknown> {
  const byName = new Map(doors.map((d) => [d.name, d]));
  const doorOf = (ws: ServerWebSocket<unknown>) => {
    const data = ws.data as Partial<DoorSocketData> | undefined;
    return typeof data?.door === "string" ? byName.get(data.door) : undefined;
  };
  return {
    ...engine,
    open(ws) {
      const door = doorOf(ws);
      if (door) door.open(ws as DoorSocket<unknown>);
      else engine.open?.(ws);
    },
    message(ws, message) {
      const door = doorOf(ws);
      if (door) door.message(ws as DoorSocket<unknown>, message);
      else engine.message?.(ws, message);
    },
    close(ws, code, reason) {
      const door = doorOf(ws);
      if (door) door.close(ws as DoorSocket<unknown>, code, reason);
      else engine.close?.(ws, code, reason);
    },
    ping(ws, data) {
      const door = doorOf(ws);
      if (door) door.ping?.(ws as DoorSocket<unknown>);
      else engine.ping?.(ws, data);
    },
  };
}
