import { deflateSync } from "node:zlib";
import type { GuardConfig } from "../config/schema.ts";
import type { EngineRequest, EngineResult, SpeechEngine } from "../engine/types.ts";
import { retryRequest } from "../capacity/capacity.ts";

/**
 * Hallucination guards, applied to every result (live finals, interims, files)
 * with faster-whisper's rules: a result Whisper itself rates as no speech is
 * dropped; a repetitive one (high compression ratio) is decoded again alone at
 * rising temperatures and dropped if it stays repetitive.
 */

export type DropReason = "no_speech" | "repetition";

export interface GuardCounters {
  dropped: Map<DropReason, number>;
  retries: number;
}

export function newGuardCounters(): GuardCounters {
  return { dropped: new Map(), retries: 0 };
}

/** faster-whisper's get_compression_ratio: UTF-8 bytes over zlib-compressed bytes. */
export function compressionRatio(text: string): number {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length === 0) return 0;
  return bytes.length / deflateSync(bytes).length;
}

export function judge(r: EngineResult, g: GuardConfig): DropReason | null {
  if (r.noSpeechProb > g.no_speech_threshold && r.avgLogprob < g.log_prob_threshold) return "no_speech";
  if (compressionRatio(r.text) > g.compression_ratio_threshold) return "repetition";
  return null;
}

export type Guarded = { ok: true; result: EngineResult } | { ok: false; reason: DropReason; result: EngineResult };

/**
 * Transcribes with the guards. Words a live utterance already committed
 * (request.prefix) were promised to clients: such a result is never dropped
 * for no speech, and a repetition that survives every retry is cut back to
 * the committed words.
 */
export async function transcribeGuarded(engine: SpeechEngine, req: EngineRequest, g: GuardConfig, counters: GuardCounters): Promise<Guarded> {
  let r = await engine.transcribe(req);
  let reason = judge(r, g);
  const committed = req.prefix && req.prefix.length > 0 ? req.prefix : null;
  if (reason === "no_speech" && committed) reason = null;
  for (const temperature of g.temperature_fallback) {
    if (reason !== "repetition") break;
    counters.retries++;
    // No stream key: the retry runs alone, outside the stream's ordering; the
    // capacity still counts it as load of its stream.
    r = await engine.transcribe(retryRequest(req, temperature));
    reason = judge(r, g);
    if (reason === "no_speech" && committed) reason = null;
  }
  if (reason === null) return { ok: true, result: r };
  if (committed) {
    const text = engine.textOf(committed).trim();
    const words = r.words?.slice(0, countWords(text));
    return { ok: true, result: { ...r, text, tokens: [...committed], words } };
  }
  counters.dropped.set(reason, (counters.dropped.get(reason) ?? 0) + 1);
  return { ok: false, reason, result: r };
}

function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}
