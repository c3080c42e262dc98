import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createReadStream } from "node:fs";
import { resolve } from "node:path";
import OpenAI from "openai";
import { JFK_TEXT, SHARED_AUDIO, wordErrorRate } from "../support/audio.ts";
import { startServer, type Harness } from "../support/harness.ts";

/** `stream: true` on POST /v1/audio/transcriptions through OpenAI's own Node SDK, with the real engine. */

const JFK = `${SHARED_AUDIO}/jfk.flac`;
let h: Harness;
let client: OpenAI;

beforeAll(async () => {
  h = await startServer();
  client = new OpenAI({ baseURL: h.url + "/v1", apiKey: "x", maxRetries: 0 });
});

afterAll(async () => {
  await h?.stop();
});

describe("POST /v1/audio/transcriptions stream=true (openai SDK)", () => {
  test("transcript.text.delta events, then one transcript.text.done whose text is the deltas joined and the non-streamed text", async () => {
    const stream = await client.audio.transcriptions.create({ file: createReadStream(JFK), model: "gpt-4o-transcribe", stream: true });
    const events: OpenAI.Audio.TranscriptionStreamEvent[] = [];
    for await (const e of stream) events.push(e);
    const deltas = events.filter((e) => e.type === "transcript.text.delta");
    const done = events.filter((e) => e.type === "transcript.text.done");
    // JFK's sentence is several utterances: one delta each, as each is transcribed.
    expect(deltas.length).toBeGreaterThan(1);
    expect(done.length).toBe(1);
    expect(events.at(-1)).toBe(done[0]!);
    expect(done[0]!.text).toBe(deltas.map((d) => d.delta).join(""));
    expect(wordErrorRate(JFK_TEXT, done[0]!.text)).toBe(0);
    const usage = done[0]!.usage!;
    expect(usage.type).toBe("tokens");
    expect(usage.input_tokens).toBe(Math.ceil(11 * 50));
    expect(usage.output_tokens).toBeGreaterThan(10);
    expect(usage.total_tokens).toBe(usage.input_tokens + usage.output_tokens);

    const plain = await client.audio.transcriptions.create({ file: createReadStream(JFK), model: "gpt-4o-transcribe" });
    expect(done[0]!.text).toBe(plain.text);
  }, 60_000);

  test("stream=true with a format that has no event form is a 400 in OpenAI's shape; the endpoint goes on", async () => {
    const err = await client.audio.transcriptions
      .create({ file: createReadStream(JFK), model: "whisper-1", stream: true, response_format: "srt" } as never)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const e = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(e.param).toBe("response_format");
    expect(e.message).toMatch(/stream=true/);
    const text = (await client.audio.transcriptions.create({ file: createReadStream(JFK), model: "whisper-1", response_format: "text", stream: true } as never)) as unknown as AsyncIterable<OpenAI.Audio.TranscriptionStreamEvent>;
    let last: OpenAI.Audio.TranscriptionStreamEvent | undefined;
    for await (const ev of text) last = ev;
    expect(last?.type).toBe("transcript.text.done");
    expect(wordErrorRate(JFK_TEXT, (last as OpenAI.Audio.TranscriptionTextDoneEvent).text)).toBe(0);
  }, 60_000);

  test("the openai Python SDK's stream (test/python/transcribe_stream.py): the same events", async () => {
    if (!Bun.which("python3")) throw new Error("python3 not found (scripts/test-setup.sh installs the openai SDK)");
    const p = Bun.spawn(["python3", resolve(import.meta.dir, "../python/transcribe_stream.py"), "--url", h.url, "--file", JFK], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`python exited ${code} (pip install "openai==3.51.0", scripts/test-setup.sh): ${err}`);
    const events = (JSON.parse(out.trim().split("\n").at(-1)!) as { events: { type: string; delta?: string; text?: string }[] }).events;
    const deltas = events.filter((e) => e.type === "transcript.text.delta");
    expect(deltas.length).toBeGreaterThan(1);
    expect(events.at(-1)!.type).toBe("transcript.text.done");
    expect(events.at(-1)!.text).toBe(deltas.map((d) => d.delta).join(""));
    expect(wordErrorRate(JFK_TEXT, events.at(-1)!.text!)).toBe(0);
  }, 60_000);

  test("/metrics counts streamed requests with their audio", async () => {
    const text = await (await fetch(`${h.url}/metrics`)).text();
    const value = (line: string) => Number(text.split("\n").find((l) => l.startsWith(line + " "))?.slice(line.length + 1) ?? NaN);
    // Three streamed and one plain answered 200; the srt one 400.
    expect(value('stt_file_requests_total{status="200"}')).toBe(4);
    expect(value('stt_file_requests_total{status="400"}')).toBe(1);
    expect(value("stt_file_audio_seconds_total")).toBeGreaterThan(4 * 10.9);
  });
});
