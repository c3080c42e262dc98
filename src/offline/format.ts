import { compressionRatio } from "../session/guards.ts";
import type { OfflineResult, OfflineSegment } from "./transcribe.ts";

/** Output formats shared by the CLI and the OpenAI-compatible endpoint. */

/** `00:01:02,345` (SRT) or `00:01:02.345` (WebVTT). */
export function timestamp(seconds: number, sep: "," | "." = "."): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(h)}:${pad(m)}:${pad(s)}${sep}${pad(ms % 1000, 3)}`;
}

export function toSrt(segments: OfflineSegment[]): string {
  return cues(segments).map((s, i) => `${i + 1}\n${timestamp(s.start, ",")} --> ${timestamp(s.end, ",")}\n${s.text}\n`).join("\n");
}

export function toVtt(segments: OfflineSegment[]): string {
  return "WEBVTT\n\n" + cues(segments).map((s) => `${timestamp(s.start)} --> ${timestamp(s.end)}\n${s.text}\n`).join("\n");
}

/** Longest caption line, in characters (broadcast captions use 32-42). */
const MAX_CUE_CHARS = 42;

/**
 * Caption cues. With word timings a segment becomes cues of at most
 * MAX_CUE_CHARS, broken after sentence punctuation when possible, each timed
 * by its own words (so a cue is not shown during the pause before it); without
 * them, one cue per segment.
 */
export function cues(segments: OfflineSegment[]): { start: number; end: number; text: string }[] {
  const out: { start: number; end: number; text: string }[] = [];
  for (const s of segments) {
    if (!s.words || s.words.length === 0) {
      out.push({ start: s.start, end: s.end, text: s.text });
      continue;
    }
    let cur: { start: number; end: number; words: string[] } | null = null;
    for (const w of s.words) {
      const text = cur ? [...cur.words, w.word].join(" ") : w.word;
      if (cur && text.length > MAX_CUE_CHARS) {
        out.push({ start: cur.start, end: cur.end, text: cur.words.join(" ") });
        cur = null;
      }
      if (!cur) cur = { start: w.start, end: w.end, words: [] };
      cur.words.push(w.word);
      cur.end = w.end;
      if (/[.!?。！？]$/.test(w.word)) {
        out.push({ start: cur.start, end: cur.end, text: cur.words.join(" ") });
        cur = null;
      }
    }
    if (cur) out.push({ start: cur.start, end: cur.end, text: cur.words.join(" ") });
  }
  return out;
}

/** One line per utterance with its times: `[00:00:00.320 --> 00:00:10.880] text`. */
export function toTimedText(segments: OfflineSegment[]): string {
  return segments.map((s) => `[${timestamp(s.start)} --> ${timestamp(s.end)}] ${s.text}`).join("\n") + (segments.length ? "\n" : "");
}

const LANGUAGE_NAMES: Record<string, string> = {
  en: "english", de: "german", fr: "french", es: "spanish", it: "italian", pt: "portuguese", nl: "dutch", ru: "russian",
  zh: "chinese", ja: "japanese", ko: "korean", ar: "arabic", hi: "hindi", pl: "polish", tr: "turkish", uk: "ukrainian",
  sv: "swedish", cs: "czech", el: "greek", fi: "finnish", da: "danish", no: "norwegian", he: "hebrew", ro: "romanian",
  hu: "hungarian", id: "indonesian", vi: "vietnamese", th: "thai", ca: "catalan", fa: "persian",
};

/**
 * OpenAI's `verbose_json` shape (language as a lower-case English name, as
 * OpenAI sends it); `words` (file seconds) when word granularity was asked for.
 */
export function toVerboseJson(r: OfflineResult, want: { words?: boolean; segments?: boolean } = {}) {
  const words = want.words ? r.segments.flatMap((s) => (s.words ?? []).map((w) => ({ word: w.word, start: w.start, end: w.end }))) : undefined;
  return {
    task: "transcribe",
    language: LANGUAGE_NAMES[r.language] ?? r.language,
    duration: r.duration,
    text: r.text,
    ...(words ? { words } : {}),
    segments: want.segments === false ? undefined : r.segments.map((s) => ({
      id: s.id,
      seek: Math.round(s.start * 100),
      start: s.start,
      end: s.end,
      text: s.text,
      tokens: s.tokens,
      temperature: 0,
      avg_logprob: s.avgLogprob,
      compression_ratio: Math.round(compressionRatio(s.text) * 1000) / 1000,
      no_speech_prob: s.noSpeechProb,
    })),
  };
}
