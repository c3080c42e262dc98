import type { Server } from "socket.io";
import type { EngineResult } from "../engine/types.ts";
import type { Logger } from "../log.ts";
import type { Hypothesis } from "../session/agreement.ts";
import type { OpenUtterance, Utterance } from "../session/session.ts";
import type { StreamListener } from "../stream/types.ts";
import { finalText, round3 } from "../stream/finals.ts";
import type { SpeechStartedPayload, TranscriptionInterimPayload, TranscriptionPayload } from "../transport/schemas.ts";
import { rooms } from "../transport/rooms.ts";

export interface TranscriptionDetails extends TranscriptionPayload {
  engineMs: number;
  batchSize: number;
}

/** The original server's hook: `onTranscription(text, clientId, duration, details)`. */
export type OnTranscription = (text: string, clientId: string, duration: number, details: TranscriptionDetails) => void | Promise<void>;

/**
 * Where a stream's results go, in the order the session manager hands them
 * over: the clientId's Socket.IO room (the Socket.IO sender joined it, so
 * sender and monitors each get a transcript exactly once), the listener of the
 * connection that streams it through another door, and the embedder's
 * callback. Room payloads are the seed protocol's; empty finals go only to a
 * listener (Deepgram and OpenAI answer every closed utterance).
 */
export class Delivery {
  delivered = 0;
  private readonly listeners = new Map<string, StreamListener>();

  constructor(
    private readonly io: Server,
    private readonly log: Logger,
    private readonly onTranscription?: OnTranscription,
  ) {}

  /** Results of `clientId` also go to `listener` (a door's own connection) until detached. */
  attach(clientId: string, listener: StreamListener): void {
    this.listeners.set(clientId, listener);
  }

  detach(clientId: string, listener?: StreamListener): void {
    if (!listener || this.listeners.get(clientId) === listener) this.listeners.delete(clientId);
  }

  listenerOf(clientId: string): StreamListener | undefined {
    return this.listeners.get(clientId);
  }

  /**
   * A closed utterance's result (null: the guards dropped it). Texts of one
   * character or less take no seq and reach no room (as the original server).
   */
  deliver(u: Utterance, r: EngineResult | null, seq: { take(): number; peek(): number }): TranscriptionPayload | null {
    const { text, empty, words } = finalText(r, u.start);
    const payload: TranscriptionPayload = {
      text,
      duration: round3(u.audio.length / 16000),
      client_id: u.clientId,
      ts: Date.now() / 1000,
      start: round3(u.start),
      end: round3(u.end),
      seq: empty ? seq.peek() : seq.take(),
      language: r?.language ?? "",
      avg_logprob: r?.avgLogprob ?? 0,
      no_speech_prob: r?.noSpeechProb ?? 1,
      final: !u.cut,
    };
    if (words) payload.words = words;
    if (u.fromFinalize) payload.from_finalize = true;
    if (u.endOfTurn) payload.end_of_turn = { probability: u.endOfTurn.probability === null ? null : round3(u.endOfTurn.probability), trigger: u.endOfTurn.trigger };
    this.listeners.get(u.clientId)?.final({ payload, empty, endedBy: u.endedBy });
    if (empty) return null;
    this.io.to(rooms.transcripts(u.clientId)).emit("transcription", payload);
    this.delivered++;
    if (this.onTranscription && r) {
      const details = { ...payload, engineMs: r.engineMs, batchSize: r.batchSize };
      try {
        Promise.resolve(this.onTranscription(text, u.clientId, payload.duration, details)).catch((err) =>
          this.log.error("onTranscription callback failed", { error: String(err) }),
        );
      } catch (err) {
        this.log.error("onTranscription callback failed", { error: String(err) });
      }
    }
    return payload;
  }

  /** A hypothesis of the open utterance, to the sockets that asked for interims. */
  interim(u: OpenUtterance, h: Hypothesis, clientId: string, seq: number): TranscriptionInterimPayload {
    const payload: TranscriptionInterimPayload = {
      client_id: clientId,
      seq,
      text: h.text,
      stable_text: h.stableText,
      start: round3(u.start),
      end: round3(u.end),
      ts: Date.now() / 1000,
    };
    this.io.to(rooms.interims(clientId)).emit("transcription_interim", payload);
    this.listeners.get(clientId)?.interim?.(payload);
    return payload;
  }

  speechStarted(clientId: string, start: number): SpeechStartedPayload {
    const payload = { client_id: clientId, start: round3(start) };
    this.io.to(rooms.vadEvents(clientId)).emit("speech_started", payload);
    this.listeners.get(clientId)?.speechStarted?.(payload);
    return payload;
  }

  /**
   * Turn events go to the stream's sender only (the connection that asked for
   * turn_detection "model"): monitors that never asked see no new event type.
   */
  turnEager(clientId: string, owner: string | undefined, seq: number, probability: number, text: string): void {
    const payload = { client_id: clientId, seq, text, probability: round3(probability) };
    const listener = this.listeners.get(clientId);
    if (listener) listener.turnEager?.(payload);
    else if (owner) this.io.to(owner).emit("turn_eager", payload);
  }

  turnResumed(clientId: string, owner: string | undefined, seq: number): void {
    const payload = { client_id: clientId, seq };
    const listener = this.listeners.get(clientId);
    if (listener) listener.turnResumed?.(payload);
    else if (owner) this.io.to(owner).emit("turn_resumed", payload);
  }

  /** Only doors with a listener hear it (the seed protocol has no such event). */
  speechStopped(u: Utterance, seq: number): void {
    this.listeners.get(u.clientId)?.speechStopped?.({ client_id: u.clientId, seq, start: round3(u.start), end: round3(u.end), endedBy: u.endedBy });
  }

  /** An error about a stream, to the connection that owns it now (not the one that owned it when the audio came). */
  error(clientId: string, ownerConnectionId: string | undefined, code: string, message: string): void {
    const listener = this.listeners.get(clientId);
    if (listener) return listener.error(code, message);
    if (ownerConnectionId) this.io.to(ownerConnectionId).emit("error", { event: "transcription", code, message });
  }
}
