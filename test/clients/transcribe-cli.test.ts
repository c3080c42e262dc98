import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { JFK_TEXT, SHARED_AUDIO, wordErrorRate, cueText } from "../support/audio.ts";
import { EXACT_COMPUTE_TYPE } from "../support/harness.ts";

/** `bun run transcribe`: decode + Silero VAD + real engine in-process, no server. */

const ROOT = resolve(import.meta.dir, "../..");
const JFK = `${SHARED_AUDIO}/jfk.flac`;


describe("bun run transcribe", () => {
  const run = async (...args: string[]) => {
    const p = Bun.spawn(["bun", "run", "src/tools/transcribe.ts", "--compute-type", EXACT_COMPUTE_TYPE, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { out, err, code };
  };

  test("jfk.flac in text, json, srt and vtt", async () => {
    // One after the other: each run uses every core.
    const [text, json, srt, vtt] = [await run(JFK, "--format", "text"), await run(JFK, "--format", "json"), await run(JFK, "--format", "srt"), await run(JFK, "--format", "vtt")];
    for (const r of [text, json, srt, vtt]) expect(r.code).toBe(0);

    const lines = text.out.trim().split("\n");
    for (const l of lines) expect(l).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}\] \S/);
    expect(wordErrorRate(JFK_TEXT, lines.map((l) => l.replace(/^\[[^\]]*\] /, "")).join(" "))).toBe(0);
    expect(text.err).toMatch(/utterance\(s\), 11\.0 s of audio/);

    const j = JSON.parse(json.out) as { text: string; duration: number; segments: { start: number; end: number; text: string }[] };
    expect(wordErrorRate(JFK_TEXT, j.text)).toBe(0);
    expect(j.duration).toBeCloseTo(11, 0);
    expect(j.segments.length).toBe(lines.length);

    expect(wordErrorRate(JFK_TEXT, cueText(srt.out))).toBe(0);
    expect(srt.out).toContain(" --> ");
    expect(vtt.out).toStartWith("WEBVTT");
    expect(wordErrorRate(JFK_TEXT, cueText(vtt.out))).toBe(0);
  }, 60_000);

  test("--word-timestamps: words in json, captions cut at words (timed by them) in srt", async () => {
    const json = await run(JFK, "--format", "json", "--word-timestamps");
    const srt = await run(JFK, "--format", "srt", "--word-timestamps");
    expect(json.code).toBe(0);
    expect(srt.code).toBe(0);
    const j = JSON.parse(json.out) as { text: string; words: { word: string; start: number; end: number }[]; segments: { start: number; end: number }[] };
    expect(wordErrorRate(JFK_TEXT, j.words.map((w) => w.word).join(" "))).toBe(0);
    for (let i = 1; i < j.words.length; i++) expect(j.words[i]!.start).toBeGreaterThanOrEqual(j.words[i - 1]!.end - 1e-9);
    expect(wordErrorRate(JFK_TEXT, cueText(srt.out))).toBe(0);
    // Each cue starts at its first word and ends at its last, not at the padded segment edges.
    const starts = [...srt.out.matchAll(/(\d\d):(\d\d):(\d\d),(\d{3}) -->/g)].map((m) => +m[1]! * 3600 + +m[2]! * 60 + +m[3]! + +m[4]! / 1000);
    const firstWordOfSegments = j.segments.map((s) => j.words.find((w) => w.start >= s.start - 1e-9)!.start);
    for (const t of firstWordOfSegments) expect(starts.some((s) => Math.abs(s - t) < 0.002)).toBe(true);
  }, 60_000);

  test("usage errors and unreadable files exit non-zero with a message", async () => {
    const bad = await run(JFK, "--format", "docx");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('unknown --format "docx"');
    const missing = await run("/nonexistent.wav");
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("no such file");
  });
});
