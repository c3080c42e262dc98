import { describe, expect, test } from "bun:test";
import { transcriptionEvents, type Transcribe } from "../../src/http/transcription-sse.ts";
import { createLogger } from "../../src/log.ts";
import type { OfflineResult, OfflineSegment } from "../../src/offline/transcribe.ts";

/**
 * Unit test of the SSE writer alone, with a scripted transcription in place of
 * the file pipeline (test/clients/openai-sse.test.ts runs the real one through
 * the SDK): a delta is on the wire while later utterances are still being
 * transcribed, a client that leaves stops the job, a failure is an error event.
 */

const seg = (id: number, text: string): OfflineSegment => ({
  id,
  start: id,
  end: id + 1,
  text,
  tokens: [1, 2, 3],
  avgLogprob: -0.1,
  noSpeechProb: 0.01,
  language: "en",
  final: true,
});

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

async function readEvent(reader: ReadableStreamDefaultReader<Uint8Array>, buffered: { text: string }): Promise<Record<string, unknown> | null> {
  const decoder = new TextDecoder();
  for (;;) {
    const end = buffered.text.indexOf("\n\n");
    if (end >= 0) {
      const line = buffered.text.slice(0, end);
      buffered.text = buffered.text.slice(end + 2);
      expect(line.startsWith("data: ")).toBe(true);
      return JSON.parse(line.slice(6)) as Record<string, unknown>;
    }
    const { done, value } = await reader.read();
    if (done) return null;
    buffered.text += decoder.decode(value, { stream: true });
  }
}

const logs: string[] = [];
const log = createLogger(true, (l) => logs.push(l));

describe("transcriptionEvents", () => {
  test("each utterance's delta is readable before the next is transcribed; done carries the joined text and usage", async () => {
    const second = gate();
    const transcribe: Transcribe = async (onSegment) => {
      onSegment(seg(0, "And so my fellow Americans,"));
      await second.opened;
      onSegment(seg(1, "ask not."));
      return { duration: 2.5, language: "en", text: "And so my fellow Americans, ask not.", segments: [seg(0, "And so my fellow Americans,"), seg(1, "ask not.")] } satisfies OfflineResult;
    };
    const { response, finished } = transcriptionEvents(transcribe, log);
    expect(response.headers.get("content-type")).toStartWith("text/event-stream");
    const reader = response.body!.getReader();
    const buf = { text: "" };
    expect(await readEvent(reader, buf)).toEqual({ type: "transcript.text.delta", delta: "And so my fellow Americans," });
    second.open();
    expect(await readEvent(reader, buf)).toEqual({ type: "transcript.text.delta", delta: " ask not." });
    expect(await readEvent(reader, buf)).toEqual({
      type: "transcript.text.done",
      text: "And so my fellow Americans, ask not.",
      usage: { type: "tokens", input_tokens: 125, output_tokens: 6, total_tokens: 131, input_token_details: { audio_tokens: 125, text_tokens: 0 } },
    });
    expect(await readEvent(reader, buf)).toBeNull();
    await finished;
  });

  test("a client that goes away aborts the transcription", async () => {
    const started = gate();
    let signal: AbortSignal | null = null;
    const transcribe: Transcribe = (onSegment, s) => {
      signal = s;
      onSegment(seg(0, "first"));
      started.open();
      return new Promise((_, reject) => s.addEventListener("abort", () => reject(new Error("aborted"))));
    };
    const { response, finished } = transcriptionEvents(transcribe, log);
    const reader = response.body!.getReader();
    await started.opened;
    expect(await readEvent(reader, { text: "" })).toEqual({ type: "transcript.text.delta", delta: "first" });
    await reader.cancel();
    await finished;
    expect(signal!.aborted).toBe(true);
  });

  test("a failure after the first event is an error event in OpenAI's shape, without the engine's message", async () => {
    logs.length = 0;
    const transcribe: Transcribe = async (onSegment) => {
      onSegment(seg(0, "first"));
      throw new Error("ctranslate2: /models/secret/path exploded");
    };
    const { response, finished } = transcriptionEvents(transcribe, log);
    const text = await response.text();
    await finished;
    const events = text.split("\n\n").filter(Boolean).map((l) => JSON.parse(l.slice(6)) as Record<string, unknown>);
    expect(events).toEqual([
      { type: "transcript.text.delta", delta: "first" },
      { error: { message: "transcription failed; the server log has the details", type: "server_error", param: null, code: "engine_error" } },
    ]);
    expect(text).not.toContain("secret");
    expect(logs.some((l) => l.includes("secret/path"))).toBe(true);
  });
});
