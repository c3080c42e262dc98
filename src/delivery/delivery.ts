import type { Server } from "socket.io";
import type { EngineResult } from "../engine/types.ts";
import type { Logger } from "../log.ts";
import type { Hypothesis } from "../session/agreement.ts";
import type { OpenUtterance, Utterance } from "../session/session.ts";
import type { SpeechStartedPayload, TranscriptionInterimPayload, TranscriptionPayload } from "../transport/schemas.ts";
import { rooms } from "../transport/rooms.ts";

export interface TranscriptionDetails extends TranscriptionPayload {
  engineMs: number;
  batchSize: number;
}

/** The original server's hook: `onTranscription(text, clientId, duration, details)`. */
export type OnTranscription = (text: string, clientId: string, duration: number, details: TranscriptionDetails) => void | Promise<void>;

/**
 * Sends a transcript to the clientId's room: the audio sender joined that room
 * too, so every socket gets it exactly once (the original also emitted to the
 * sender directly, which duplicated it).
 */
export class Delivery {
  delivered = 0;

  constructor(
    private readonly io: Server,
    private readonly log: Logger,
    private readonly onTranscription?: OnTranscription,
  ) {}

  /** Returns the payload, or null when the text is too short to be worth sending. */
  deliver(u: Utterance, r: EngineResult, seq: () => number): TranscriptionPayload | null {
    const text = r.text.trim();
    if (text.length <= 1) return null;
    const payload: TranscriptionPayload = {
      text,
      duration: round3(u.audio.length / 16000),
      client_id: u.clientId,
      ts: Date.now() / 1000,
      start: round3(u.start),
      end: round3(u.end),
      seq: seq(),
      language: r.language,
      avg_logprob: r.avgLogprob,
      no_speech_prob: r.noSpeechProb,
      final: !u.cut,
    };
    if (r.words) payload.words = r.words.map((w) => ({ ...w, start: round3(u.start + w.start), end: round3(u.start + w.end) }));
    if (u.fromFinalize) payload.from_finalize = true;
    this.io.to(rooms.transcripts(u.clientId)).emit("transcription", payload);
    this.delivered++;
    if (this.onTranscription) {
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
    return payload;
  }

  speechStarted(clientId: string, start: number): SpeechStartedPayload {
    const payload = { client_id: clientId, start: round3(start) };
    this.io.to(rooms.vadEvents(clientId)).emit("speech_started", payload);
    return payload;
  }
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
