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
import type { TurnDetector } from "../turns/detector.ts";
import type { StreamClocks } from "../stream/clock.ts";

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
  /** Smart Turn for streams with turn_detection "model". */
  turnDetector?: TurnDetector;
  /** The connection that owns a clientId now (the stream core's owner record). */
  ownerOf(clientId: string): string | undefined;
  /** Each session's offset on its stream's clock and its durable audio (audio_ack). */
  clocks: StreamClocks;
}

/** A session's times moved onto its stream's clock (a resumed stream's session starts at resume_from). */
const shifted = <T extends { start: number; end: number }>(x: T, offset: number): T => (offset === 0 ? x : { ...x, start: x.start + offset, end: x.end + offset });

/** The session manager, its results going out through delivery and its errors to the sender's socket. */
export function createSessions(w: SessionWiring): SessionManager {
  const { config, capacity: cap, delivery, seqs, clocks } = w;
  return new SessionManager(
    config,
    w.vad,
    w.engine,
    {
      onResult: (session, u, r) => {
        // Superseded by a resume that replays this audio: delivering it would say it twice.
        if (clocks.silenced(session, u.start)) return clocks.answered(session, null);
        delivery.deliver(shifted(u, clocks.offset(session)), r, { take: () => seqs.take(session.clientId), peek: () => seqs.peek(session.clientId) });
        clocks.answered(session, u.end);
      },
      onInterim: (session, u, h) => {
        if (!clocks.silenced(session, u.start)) delivery.interim(shifted(u, clocks.offset(session)), h, session.clientId, seqs.peek(session.clientId));
      },
      onSpeechStarted: (session, start) => {
        if (!clocks.silenced(session, start)) delivery.speechStarted(session.clientId, start + clocks.offset(session));
      },
      onSpeechStopped: (session, u) => {
        clocks.closed(session);
        if (!clocks.silenced(session, u.start)) delivery.speechStopped(shifted(u, clocks.offset(session)), seqs.peek(session.clientId));
      },
      onTurnEager: (session, p, text) => delivery.turnEager(session.clientId, w.ownerOf(session.clientId), seqs.peek(session.clientId), p, text),
      onTurnResumed: (session) => delivery.turnResumed(session.clientId, w.ownerOf(session.clientId), seqs.peek(session.clientId)),
      shedInterims: () => cap.shedInterims() && (cap.interimShed(), true),
      onError: (session, code, message) => {
        clocks.answered(session, null);
        w.counters.errors.set(code, (w.counters.errors.get(code) ?? 0) + 1);
        const limit = code === "queue_full" ? ` (max_queued_utterances is ${config.limits.max_queued_utterances})` : "";
        // After a resume the old connection is gone: the owner now hears about it.
        delivery.error(session.clientId, w.ownerOf(session.clientId) ?? session.ownerSocketId, code, message + limit);
      },
    },
    w.log,
    w.turnDetector,
  );
}
