import type { Server as SocketServer } from "socket.io";
import type { Capacity } from "../capacity/capacity.ts";
import type { Config } from "../config/schema.ts";
import type { Delivery } from "../delivery/delivery.ts";
import type { SpeechEngine } from "../engine/types.ts";
import type { Logger } from "../log.ts";
import { SessionManager } from "../session/manager.ts";
import type { SeqMemory } from "../session/seq-memory.ts";
import type { TransportCounters } from "../transport/socket-handlers.ts";
import type { SileroVad } from "../vad/silero.ts";

export interface SessionWiring {
  config: Config;
  vad: SileroVad;
  /** The engine as sessions see it: behind capacity accounting. */
  engine: SpeechEngine;
  capacity: Capacity;
  delivery: Delivery;
  seqs: SeqMemory;
  io: SocketServer;
  counters: TransportCounters;
  log: Logger;
}

/** The session manager, its results going out through delivery and its errors to the sender's socket. */
export function createSessions(w: SessionWiring): SessionManager {
  const { config, capacity: cap, delivery, seqs } = w;
  return new SessionManager(
    config,
    w.vad,
    w.engine,
    {
      onResult: (session, u, r) => delivery.deliver(u, r, () => seqs.take(session.clientId)),
      onInterim: (session, u, h) => delivery.interim(u, h, session.clientId, seqs.peek(session.clientId)),
      onSpeechStarted: (session, start) => delivery.speechStarted(session.clientId, start),
      shedInterims: () => cap.shedInterims() && (cap.interimShed(), true),
      onError: (socketId, code, message) => {
        w.counters.errors.set(code, (w.counters.errors.get(code) ?? 0) + 1);
        const limit = code === "queue_full" ? ` (max_queued_utterances is ${config.limits.max_queued_utterances})` : "";
        w.io.to(socketId).emit("error", { event: "transcription", code, message: message + limit });
      },
    },
    w.log,
  );
}
