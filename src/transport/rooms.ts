/**
 * The Socket.IO room of a clientId's transcripts. Every socket is also in a
 * room named after its own id, where its private `error` events go; clientId
 * rooms live in their own namespace so that subscribing to another socket's
 * id never joins that private room. Socket ids never contain ":".
 */
export function clientRoom(clientId: string): string {
  return `cid:${clientId}`;
}
