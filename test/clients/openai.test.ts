import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createReadStream } from "node:fs";
import OpenAI, { toFile } from "openai";
import { JFK_TEXT, SHARED_AUDIO, wordErrorRate, cueText } from "../support/audio.ts";
import { startServer, type Harness } from "../support/harness.ts";

/** POST /v1/audio/transcriptions through OpenAI's own SDK, with the real engine. */

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


describe("POST /v1/audio/transcriptions (openai SDK)", () => {
  test("verbose_json with word granularity: ordered words that join to the text", async () => {
    const file = await toFile(Bun.file(`${SHARED_AUDIO}/jfk_16k.wav`).arrayBuffer(), "jfk.wav", { type: "audio/wav" });
    const v = await client.audio.transcriptions.create({
      file,
      model: "whisper-1",
      response_format: "verbose_json",
      timestamp_granularities: ["word"],
    });
    const words = v.words!;
    expect(words.length).toBeGreaterThan(15);
    expect(wordErrorRate(JFK_TEXT, words.map((w) => w.word).join(" "))).toBe(0);
    for (const w of words) {
      expect(w.end).toBeGreaterThanOrEqual(w.start);
      expect(w.end).toBeLessThanOrEqual(v.duration + 1e-6);
    }
    for (let i = 1; i < words.length; i++) expect(words[i]!.start).toBeGreaterThanOrEqual(words[i - 1]!.start);
    // Word granularity alone leaves the segments out, as OpenAI does.
    expect(v.segments).toBeUndefined();
    const bad = await fetch(h.url + "/v1/audio/transcriptions", {
      method: "POST",
      body: (() => {
        const f = new FormData();
        f.set("file", new Blob([new Uint8Array(44)]), "x.wav");
        f.set("model", "whisper-1");
        f.append("timestamp_granularities[]", "word");
        return f;
      })(),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { param: string } }).error.param).toBe("timestamp_granularities");
  });

  test("json (default) from a FLAC stream", async () => {
    const r = await client.audio.transcriptions.create({ file: createReadStream(JFK), model: "whisper-1" });
    expect(wordErrorRate(JFK_TEXT, r.text)).toBe(0);
  });

  test("text, srt, vtt, verbose_json from a 16 kHz WAV (parsed in TS)", async () => {
    const file = () => toFile(Bun.file(`${SHARED_AUDIO}/jfk_16k.wav`).arrayBuffer(), "jfk.wav", { type: "audio/wav" });
    const text = await client.audio.transcriptions.create({ file: await file(), model: "whisper-1", response_format: "text" });
    expect(typeof text).toBe("string");
    expect(wordErrorRate(JFK_TEXT, text as unknown as string)).toBe(0);

    const srt = (await client.audio.transcriptions.create({ file: await file(), model: "whisper-1", response_format: "srt" })) as unknown as string;
    expect(srt).toMatch(/^1\n00:00:0\d,\d{3} --> 00:00:\d\d,\d{3}\n/);
    expect(wordErrorRate(JFK_TEXT, cueText(srt))).toBe(0);

    const vtt = (await client.audio.transcriptions.create({ file: await file(), model: "whisper-1", response_format: "vtt" })) as unknown as string;
    expect(vtt).toStartWith("WEBVTT\n\n00:00:0");
    expect(wordErrorRate(JFK_TEXT, cueText(vtt))).toBe(0);

    const v = await client.audio.transcriptions.create({
      file: await file(),
      model: "gpt-4o-transcribe",
      response_format: "verbose_json",
      language: "en",
      prompt: "JFK inaugural address",
      temperature: 0,
    });
    expect(wordErrorRate(JFK_TEXT, v.text)).toBe(0);
    expect(v.language).toBe("english");
    expect(v.duration).toBeCloseTo(11, 0);
    const segs = v.segments!;
    expect(segs.length).toBeGreaterThan(0);
    expect(wordErrorRate(JFK_TEXT, segs.map((s) => s.text).join(" "))).toBe(0);
    for (const [i, s] of segs.entries()) {
      expect(s.id).toBe(i);
      expect(s.end).toBeGreaterThan(s.start);
      if (i > 0) expect(s.start).toBeGreaterThanOrEqual(segs[i - 1]!.end);
    }
  }, 30_000);

  test("prompt conditions the transcript (hotwords.mp3: \"ComfyUI\")", async () => {
    const file = () => createReadStream(`${SHARED_AUDIO}/hotwords.mp3`);
    const plain = await client.audio.transcriptions.create({ file: file(), model: "whisper-1" });
    const prompted = await client.audio.transcriptions.create({ file: file(), model: "whisper-1", prompt: "ComfyUI" });
    // Without the prompt tiny.en spells the name as it hears it ("comfy eye").
    expect(plain.text).not.toContain("ComfyUI");
    expect(prompted.text).toContain("ComfyUI");
  }, 30_000);

  test("clear 400s: no file, undecodable audio, bad response_format", async () => {
    const noFile = new FormData();
    noFile.set("model", "whisper-1");
    let r = await fetch(`${h.url}/v1/audio/transcriptions`, { method: "POST", body: noFile });
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ error: { code: "missing_file", param: "file", type: "invalid_request_error" } });

    const err = await client.audio.transcriptions
      .create({ file: await toFile(new TextEncoder().encode("this is not audio at all"), "notes.mp3"), model: "whisper-1" })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(/notes\.mp3: could not decode the audio/);

    const badFormat = new FormData();
    badFormat.set("file", new Blob([await Bun.file(`${SHARED_AUDIO}/jfk_16k.wav`).arrayBuffer()]), "jfk.wav");
    badFormat.set("response_format", "mp3");
    r = await fetch(`${h.url}/v1/audio/transcriptions`, { method: "POST", body: badFormat });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { param: string } }).error.param).toBe("response_format");

    r = await fetch(`${h.url}/v1/audio/transcriptions`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    expect(r.status).toBe(400);
    expect((await fetch(`${h.url}/v1/audio/transcriptions`)).status).toBe(405);
  });

  test("/metrics counts the file requests above by status, and their audio", async () => {
    const text = await (await fetch(`${h.url}/metrics`)).text();
    const value = (line: string) => Number(text.split("\n").find((l) => l.startsWith(line + " "))?.slice(line.length + 1) ?? NaN);
    // jfk.flac once, jfk_16k.wav five times, hotwords.mp3 twice: 8 answered 200.
    expect(value('stt_file_requests_total{status="200"}')).toBe(8);
    expect(value('stt_file_requests_total{status="400"}')).toBe(5);
    expect(value('stt_file_requests_total{status="405"}')).toBe(1);
    expect(value("stt_file_audio_seconds_total")).toBeGreaterThan(6 * 11);
    // Files are not streams: the stream counter stays at zero.
    expect(value("stt_audio_seconds_total")).toBe(0);
  });
});
