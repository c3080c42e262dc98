/**
 * Socket.IO room names. Every socket is also in a room named after its own
 * id, where its private `error` events go; clientId rooms live in their own
 * namespace so that subscribing to another socket's id never joins that
 * private room (socket ids never contain ":"). Interims and VAD events go to
 * rooms of their own that only sockets which asked for them join.
 */
export const rooms = {
  transcripts: (clientId: string) => `cid:${clientId}`,
  interims: (clientId: string) => `interim:${clientId}`,
  vadEvents: (clientId: string) => `vad:${clientId}`,
};
