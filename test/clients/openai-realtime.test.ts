import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { JFK_TEXT, SHARED_AUDIO, decodeToRaw, wordErrorRate } from "../support/audio.ts";
import { startServer, type Harness } from "../support/harness.ts";
import type { RealtimeEvent } from "../support/realtime.ts";

/**
 * OpenAI Realtime transcription through the openai Python SDK's own realtime
 * client (test/python/realtime_transcribe.py), against the server with the
 * real engine and VAD, jfk.flac streamed at 24 kHz in real time.
 */

const SCRIPT = resolve(import.meta.dir, "../python/realtime_transcribe.py");
const PIPECAT = resolve(import.meta.dir, "../python/pipecat_realtime.py");
const DELTA = "conversation.item.input_audio_transcription.delta";
const COMPLETED = "conversation.item.input_audio_transcription.completed";
let h: Harness;
let pcmPath: string;
let pcm16Path: string;

async function lastJsonLine<T>(cmd: string[]): Promise<T> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`python exited ${code}: ${err}`);
  return JSON.parse(out.trim().split("\n").at(-1)!) as T;
}

async function runPython(args: string[]): Promise<RealtimeEvent[]> {
  return (await lastJsonLine<{ events: RealtimeEvent[] }>(["python3", SCRIPT, "--url", h.url, "--pcm", pcmPath, ...args])).events;
}

function runPipecat(args: string[]): Promise<{ finals: string[]; interims: string[] }> {
  return lastJsonLine(["python3", PIPECAT, "--url", h.url.replace("http://", "ws://"), "--pcm", pcm16Path, ...args]);
}

/** Each item's events in arrival order. */
function byItem(events: RealtimeEvent[]): Map<string, RealtimeEvent[]> {
  const items = new Map<string, RealtimeEvent[]>();
  for (const e of events) if (typeof e.item_id === "string") items.set(e.item_id, [...(items.get(e.item_id) ?? []), e]);
  return items;
}

/** The deltas of every item joined are exactly its completed transcript. */
function expectAppendOnly(events: RealtimeEvent[]): void {
  for (const [id, evs] of byItem(events)) {
    const done = evs.filter((e) => e.type === COMPLETED);
    expect(done.length).toBe(1);
    expect(evs.at(-1)).toBe(done[0]!);
    const joined = evs.filter((e) => e.type === DELTA).map((e) => e.delta as string).join("");
    if (joined !== done[0]!.transcript) throw new Error(`${id}: deltas joined ${JSON.stringify(joined)} ≠ transcript ${JSON.stringify(done[0]!.transcript)}`);
    expect(done[0]!).toMatchObject({ content_index: 0, usage: { type: "duration" } });
  }
}

beforeAll(async () => {
  if (!Bun.which("python3")) throw new Error("python3 not found (scripts/test-setup.sh installs the openai SDK)");
  const check = Bun.spawnSync(["python3", "-c", "import openai, websockets, pipecat.services.openai.stt"]);
  if (check.exitCode !== 0) throw new Error('the openai Python SDK or Pipecat is missing: pip install "openai[realtime]==3.51.0" "pipecat-ai==1.14.0" (scripts/test-setup.sh)');
  pcmPath = `/tmp/stt-rt-jfk24-${process.pid}.raw`;
  pcm16Path = `/tmp/stt-rt-jfk16-${process.pid}.raw`;
  await Bun.write(pcmPath, await decodeToRaw(`${SHARED_AUDIO}/jfk.flac`, "s16le", 24000));
  await Bun.write(pcm16Path, await decodeToRaw(`${SHARED_AUDIO}/jfk.flac`, "s16le", 16000));
  // This file tests the client protocol, not load shedding or admission (test/capacity does).
  h = await startServer({ capacity: { admission: false, max_latency: 60 } as never });
});

afterAll(async () => {
  await h?.stop();
  await Bun.file(pcmPath).delete().catch(() => {});
  await Bun.file(pcm16Path).delete().catch(() => {});
});

describe("openai Python SDK realtime client, intent=transcription", () => {
  test("server_vad: speech_started → deltas → speech_stopped → committed → completed per item; deltas join to the transcript; word-exact", async () => {
    const events = await runPython([]);
    expect(events[0]!.type).toBe("session.created");
    expect(events[1]).toMatchObject({ type: "session.updated", session: { type: "transcription", audio: { input: { turn_detection: { type: "server_vad", silence_duration_ms: 800 } } } } });
    const items = byItem(events);
    expect(items.size).toBeGreaterThan(0);
    let previous: string | null = null;
    let deltasBeforeCommit = 0;
    for (const [id, evs] of items) {
      const kinds = evs.map((e) => e.type);
      expect(kinds[0]).toBe("input_audio_buffer.speech_started");
      const stopped = kinds.indexOf("input_audio_buffer.speech_stopped");
      const committed = kinds.indexOf("input_audio_buffer.committed");
      expect(stopped).toBeGreaterThan(0);
      expect(committed).toBe(stopped + 1);
      expect(evs[committed]!.previous_item_id).toBe(previous);
      previous = id;
      expect(evs[stopped]!.audio_end_ms).toBeGreaterThan(evs[0]!.audio_start_ms);
      deltasBeforeCommit += kinds.slice(0, committed).filter((k) => k === DELTA).length;
    }
    // Interims reached the client as deltas while the person was still speaking.
    expect(deltasBeforeCommit).toBeGreaterThan(0);
    expectAppendOnly(events);
    const text = events.filter((e) => e.type === COMPLETED).map((e) => e.transcript as string).join(" ");
    expect(wordErrorRate(JFK_TEXT, text)).toBe(0);
    expect(events.filter((e) => e.type === "error")).toEqual([]);
  }, 120_000);

  test("semantic_vad (the turn model): completed items hold the whole sentence word for word, in fewer items than server_vad", async () => {
    // Side by side on the same server: server_vad's 0.8 s silence, then semantic_vad "medium"
    // (eot_threshold 0.7, eot_timeout 4 s; 4.5 s of trailing silence so the timeout could end the last turn too).
    const silenceItems = (await runPython([])).filter((e) => e.type === COMPLETED);
    const events = await runPython(["--semantic", "medium", "--tail-s", "4.5"]);
    expect(events[1]).toMatchObject({ type: "session.updated", session: { audio: { input: { turn_detection: { type: "semantic_vad", eagerness: "medium" } } } } });
    const items = events.filter((e) => e.type === COMPLETED);
    console.log(`server_vad: ${silenceItems.map((e) => JSON.stringify(e.transcript)).join(" | ")}\nsemantic_vad: ${items.map((e) => JSON.stringify(e.transcript)).join(" | ")}`);
    expect(wordErrorRate(JFK_TEXT, items.map((e) => e.transcript as string).join(" "))).toBe(0);
    expect(items.length).toBeGreaterThanOrEqual(1);
    expect(items.length).toBeLessThan(silenceItems.length);
    expectAppendOnly(events);
    expect(events.filter((e) => e.type === "error")).toEqual([]);
  }, 180_000);

  test("turn_detection None: no speech events, the client's commit ends the item; an empty commit is input_audio_buffer_commit_empty and the session goes on", async () => {
    const events = await runPython(["--manual"]);
    const kinds = events.map((e) => e.type);
    expect(kinds.filter((k) => k.startsWith("input_audio_buffer.speech"))).toEqual([]);
    expect(events[1]).toMatchObject({ type: "session.updated", session: { audio: { input: { turn_detection: null } } } });
    expect(kinds.filter((k) => k === "input_audio_buffer.committed").length).toBe(1);
    expectAppendOnly(events);
    const done = events.filter((e) => e.type === COMPLETED);
    expect(done.length).toBe(1);
    expect(wordErrorRate(JFK_TEXT, done[0]!.transcript)).toBe(0);
    expect(done[0]!.usage.seconds).toBeGreaterThan(10);
    const errors = events.filter((e) => e.type === "error");
    expect(errors.length).toBe(1);
    expect(errors[0]!.error).toMatchObject({ type: "invalid_request_error", code: "input_audio_buffer_commit_empty", event_id: "empty-commit" });
    // The error came after the transcript and the session answered the update after it.
    expect(kinds.indexOf("error")).toBeGreaterThan(kinds.indexOf(COMPLETED));
    expect(kinds.at(-1)).toBe("session.updated");
  }, 120_000);
});

describe("Pipecat OpenAIRealtimeSTTService with only base_url changed", () => {
  test("Pipecat's default (server VAD off, its local VAD commits): the sentence in one TranscriptionFrame", async () => {
    const r = await runPipecat([]);
    expect(r.finals.length).toBe(1);
    expect(wordErrorRate(JFK_TEXT, r.finals[0]!)).toBe(0);
  }, 120_000);

  test("server VAD: InterimTranscriptionFrames from the deltas, TranscriptionFrames that carry the sentence", async () => {
    const r = await runPipecat(["--server-vad"]);
    expect(r.finals.length).toBeGreaterThan(0);
    expect(wordErrorRate(JFK_TEXT, r.finals.join(" "))).toBe(0);
    // Pipecat turns each delta into an interim frame; joined they are the finals' text.
    expect(r.interims.length).toBeGreaterThan(0);
    expect(r.interims.join("")).toBe(r.finals.join(""));
  }, 120_000);
});
