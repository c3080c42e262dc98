/**
 * Unit tests of the Deepgram door's pure stages: query parsing, audio
 * decoding, and the mapping of stream events to Deepgram Results. The
 * end-to-end tests (deepgram-sdk.test.ts and friends) run real clients.
 */
import { describe, expect, test } from "bun:test";
import { AudioDecoder } from "../../src/doors/deepgram/audio.ts";
import { parseQuery } from "../../src/doors/deepgram/query.ts";
import { ENDPOINTING_FLOOR_S, ENDPOINTING_OFF_S, silenceFor, streamOptionsFor } from "../../src/doors/deepgram/options.ts";
import { bareWord, ResultMapper, SILENCE_FINAL_EVERY, SILENCE_LAG, type MapperOptions } from "../../src/doors/deepgram/results.ts";
import type { DgMessage, DgResults } from "../../src/doors/deepgram/messages.ts";
import { credentialsOf } from "../../src/doors/deepgram/handshake.ts";
import type { FinalEvent } from "../../src/stream/types.ts";
import type { TranscriptionPayload, WordPayload } from "../../src/transport/schemas.ts";

const q = (s: string) => parseQuery(new URLSearchParams(s));

describe("query parsing", () => {
  test("what Pipecat sends: strings for booleans, encoding/channels/sample_rate always", () => {
    const r = q("model=nova-3-general&language=en&interim_results=true&punctuate=true&profanity_filter=true&smart_format=false&encoding=linear16&channels=1&multichannel=false&sample_rate=24000");
    if (!r.ok) throw new Error(r.message);
    expect(r.params).toMatchObject({ encoding: "linear16", sampleRate: 24000, interimResults: true, punctuate: true, language: "en", model: "nova-3-general", endpointing: null, vadEvents: false, utteranceEndMs: null });
  });

  test("repeated keys form lists; unknown keys are ignored; BCP-47 tags map to their language", () => {
    const r = q("encoding=mulaw&keyterm=Kennedy&keyterm=Americans&keywords=country:2&no_delay=true&filler_words=true&foo=bar&language=en-US");
    if (!r.ok) throw new Error(r.message);
    expect(r.params.keyterms).toEqual(["Kennedy", "Americans"]);
    expect(r.params.keywords).toEqual(["country:2"]);
    expect(r.params.language).toBe("en");
    expect(r.params.languageTag).toBe("en-US");
    // μ-law without sample_rate: telephony's 8 kHz.
    expect(r.params.sampleRate).toBe(8000);
  });

  test("language=multi means detect (the server's setting); endpointing ms, false and utterance_end_ms parse", () => {
    const r = q("encoding=linear16&sample_rate=16000&language=multi&endpointing=false&utterance_end_ms=1000&vad_events=true&smart_format=true");
    if (!r.ok) throw new Error(r.message);
    expect(r.params).toMatchObject({ language: null, endpointing: false, utteranceEndMs: 1000, vadEvents: true, punctuate: true });
    const ms = q("encoding=linear16&endpointing=300");
    expect(ms.ok && ms.params.endpointing).toBe(300);
  });

  const bad: [string, RegExp][] = [
    ["encoding=linear16&interim_results=yes", /interim_results="yes": expected true or false/],
    ["encoding=opus", /encoding="opus": expected one of linear16, mulaw, alaw/],
    ["encoding=linear16&channels=2", /channels="2": expected 1 \(this server transcribes mono/],
    ["encoding=linear16&sample_rate=16k", /sample_rate="16k": expected an integer sample rate/],
    ["encoding=linear16&sample_rate=1000000", /sample_rate="1000000"/],
    ["encoding=linear16&endpointing=soon", /endpointing="soon": expected milliseconds/],
    ["encoding=linear16&utterance_end_ms=0", /utterance_end_ms="0": expected an integer number of milliseconds, 1 to 60000/],
    ["encoding=linear16&language=english!", /language="english!": expected a BCP-47 language tag/],
    ["encoding=linear16&client_id=has space", /client_id="has space"/],
    ["sample_rate=16000", /encoding is required/],
  ];
  for (const [query, message] of bad) {
    test(`refused with a clear message: ${query}`, () => {
      const r = q(query);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message).toMatch(message);
    });
  }
});

describe("stream options", () => {
  test("endpointing → silence window: floor, off, and the server's default when absent", () => {
    expect(silenceFor(null)).toBeNull();
    expect(silenceFor(10)).toBe(ENDPOINTING_FLOOR_S);
    expect(silenceFor(1200)).toBe(1.2);
    expect(silenceFor(false)).toBe(ENDPOINTING_OFF_S);
    expect(silenceFor(600_00)).toBe(10);
  });

  test("word timestamps and VAD events are always on inside; interims follow interim_results", () => {
    const r = q("encoding=linear16&interim_results=false&language=de&endpointing=800");
    if (!r.ok) throw new Error(r.message);
    expect(streamOptionsFor(r.params)).toEqual({ interim_results: false, word_timestamps: true, vad_events: true, segmentation: "vad", language: "de", silence_duration: 0.8 } as never);
  });
});

describe("credentials", () => {
  const req = (headers: Record<string, string>) => new Request("http://x/v1/listen", { headers });
  test("Authorization: Token, token, Bearer", () => {
    expect(credentialsOf(req({ authorization: "Token abc123" }))).toEqual({ token: "abc123" });
    expect(credentialsOf(req({ authorization: "token abc123" }))).toEqual({ token: "abc123" });
    expect(credentialsOf(req({ authorization: "Bearer jwt.x.y" }))).toEqual({ token: "jwt.x.y" });
    expect(credentialsOf(req({ authorization: "Basic abc" }))).toEqual({});
  });
  test("subprotocol pair token, <key> (also beside the JS SDK's session-id pair); the scheme is echoed", () => {
    expect(credentialsOf(req({ "sec-websocket-protocol": "token, abc123" }))).toEqual({ token: "abc123", protocol: "token" });
    expect(credentialsOf(req({ "sec-websocket-protocol": "x-deepgram-session-id, 9f1c, token, k2" }))).toEqual({ token: "k2", protocol: "token" });
    expect(credentialsOf(req({ "sec-websocket-protocol": "token" }))).toEqual({});
  });
});

async function ffmpeg(args: string[], input?: Uint8Array): Promise<Uint8Array> {
  if (!Bun.which("ffmpeg")) throw new Error('ffmpeg not found: "apt-get install -y ffmpeg" (scripts/test-setup.sh does)');
  const p = Bun.spawn(["ffmpeg", "-nostdin", "-loglevel", "error", ...args], { stdin: input ? new Blob([input.slice()]) : "ignore", stdout: "pipe", stderr: "pipe" });
  const out = new Uint8Array(await new Response(p.stdout).arrayBuffer());
  if ((await p.exited) !== 0) throw new Error(`ffmpeg ${args.join(" ")} failed: ${await new Response(p.stderr).text()}`);
  return out;
}

describe("audio decoding", () => {
  for (const [encoding, codec] of [
    ["mulaw", "pcm_mulaw"],
    ["alaw", "pcm_alaw"],
  ] as const) {
    test(`${encoding} decodes exactly as ffmpeg's G.711 decoder (every byte value)`, async () => {
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      const reference = new Int16Array((await ffmpeg(["-f", codec.slice(4), "-ar", "16000", "-ac", "1", "-i", "-", "-f", "s16le", "-"], all)).slice().buffer);
      const d = new AudioDecoder(encoding, 16000, 1 << 20);
      const r = d.decode(all);
      if (!r.ok) throw new Error(r.message);
      expect(Array.from(r.samples, (s) => Math.round(s * 32768))).toEqual(Array.from(reference));
    });
  }

  test("8 kHz linear16 is resampled to 16 kHz; frames of any size convert like the whole stream", async () => {
    // A 440 Hz tone, 1 s at 8 kHz, made by ffmpeg.
    const pcm = await ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:duration=1", "-f", "s16le", "-"]);
    const whole = new AudioDecoder("linear16", 8000, 1 << 20);
    const a = whole.decode(pcm);
    if (!a.ok) throw new Error(a.message);
    const parts: Float32Array[] = [];
    const chunked = new AudioDecoder("linear16", 8000, 1 << 20);
    for (let i = 0; i < pcm.length; i += 322) {
      const r = chunked.decode(pcm.subarray(i, i + 322));
      if (!r.ok) throw new Error(r.message);
      parts.push(r.samples);
    }
    const b = Float32Array.from(parts.flatMap((p) => Array.from(p)));
    const tailA = whole.flush();
    expect(a.samples.length + tailA.length).toBe(16000);
    expect(b.length).toBe(a.samples.length);
    let maxDiff = 0;
    for (let i = 0; i < b.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.samples[i]! - b[i]!));
    expect(maxDiff).toBeLessThan(1e-6);
    // The tone survives: zero crossings ≈ 2 × 440 per second.
    let crossings = 0;
    for (let i = 1; i < a.samples.length; i++) if (a.samples[i - 1]! < 0 !== a.samples[i]! < 0) crossings++;
    expect(Math.abs(crossings - 880)).toBeLessThan(10);
    expect(whole.inputSamples).toBe(8000);
  });

  test("odd byte counts (linear16) and oversized frames are refused with their codes", () => {
    const d = new AudioDecoder("linear16", 16000, 1000);
    const odd = d.decode(new Uint8Array(101));
    expect(odd).toMatchObject({ ok: false, code: "odd_byte_length" });
    expect(!odd.ok && odd.message).toContain("even number of bytes");
    expect(d.decode(new Uint8Array(1002))).toMatchObject({ ok: false, code: "payload_too_large" });
    // μ-law has one byte per sample: any count is fine.
    expect(new AudioDecoder("mulaw", 8000, 1000).decode(new Uint8Array(101)).ok).toBe(true);
  });
});

const META = { request_id: "req-1", model_info: { name: "tiny.en", version: "whisper-ctranslate2", arch: "whisper" }, model_uuid: "u" };
const OPTS: MapperOptions = { meta: META, punctuate: true, endpointing: true, interimResults: true, vadEvents: true, utteranceEnd: 1, language: "en" };

function w(word: string, start: number, end: number, probability = 0.9): WordPayload {
  return { word, start, end, probability };
}
function interim(seq: number, stable: string, text: string, start: number, end: number, words?: WordPayload[]) {
  return { client_id: "c", seq, text, stable_text: stable, start, end, ts: 0, words };
}
function final(seq: number, text: string, start: number, end: number, words: WordPayload[], endedBy: FinalEvent["endedBy"] = "silence", empty = false): FinalEvent {
  const payload: TranscriptionPayload = { text, duration: end - start, client_id: "c", ts: 0, start, end, seq, language: "en", avg_logprob: -0.2, no_speech_prob: 0.01, final: true, words };
  return { payload, empty, endedBy };
}
const results = (ms: DgMessage[]) => ms.filter((m): m is DgResults => m.type === "Results");
const transcript = (r: DgResults) => r.channel.alternatives[0]!.transcript;

describe("results mapping", () => {
  const words = [w("And", 0.3, 0.5), w("so,", 0.5, 0.8), w("my", 0.9, 1.1), w("fellow", 1.1, 1.4), w("Americans,", 1.4, 2.0)];

  test("the stable prefix becomes is_final once per word range, the tail one interim; the final sends only the rest", () => {
    const m = new ResultMapper(OPTS);
    const out: DgMessage[] = [];
    out.push(...m.speechStarted({ client_id: "c", start: 0.2 }));
    out.push(...m.interim(interim(0, "", "And so", 0.2, 0.9, words.slice(0, 2))));
    out.push(...m.interim(interim(0, "And so,", "And so, my fellow", 0.2, 1.5, words.slice(0, 4))));
    out.push(...m.interim(interim(0, "And so,", "And so, my fellow", 0.2, 1.6, words.slice(0, 4))));
    m.speechStopped({ client_id: "c", seq: 0, start: 0.2, end: 2.1, endedBy: "silence" });
    out.push(...m.final(final(0, "And so, my fellow Americans,", 0.2, 2.1, words), 2.9));
    expect(out[0]).toEqual({ type: "SpeechStarted", channel: [0, 1], timestamp: 0.2 });
    const r = results(out);
    expect(r.map((x) => [x.is_final, transcript(x), x.start, x.duration])).toEqual([
      [false, "And so,", 0, 0.9],
      [true, "And so,", 0, 0.8],
      [false, "my fellow", 0.8, 0.7],
      [false, "my fellow", 0.8, 0.8],
      [true, "my fellow Americans,", 0.8, 1.3],
    ]);
    // Every word went out in exactly one is_final result.
    expect(r.filter((x) => x.is_final).flatMap((x) => x.channel.alternatives[0]!.words.map((y) => y.word))).toEqual(["and", "so", "my", "fellow", "americans"]);
    expect(r.at(-1)).toMatchObject({ speech_final: true, from_finalize: false, channel_index: [0, 1], metadata: META });
    expect(r.at(-1)!.channel.alternatives[0]!.words[2]).toEqual({ word: "americans", start: 1.4, end: 2, confidence: 0.9, punctuated_word: "Americans," });
    for (const x of r) expect(x.channel.alternatives[0]!.confidence).toBeGreaterThan(0);
  });

  test("without punctuate: transcripts in bare lower-case words; without interim_results: finals only", () => {
    const m = new ResultMapper({ ...OPTS, punctuate: false, interimResults: false });
    const out = [...m.interim(interim(0, "And so,", "And so, my", 0.2, 1.2, words.slice(0, 3))), ...m.final(final(0, "And so, my fellow Americans,", 0.2, 2.1, words), 2.2)];
    expect(results(out).map((x) => [x.is_final, transcript(x)])).toEqual([
      [true, "and so"],
      [true, "my fellow americans"],
    ]);
  });

  test("Finalize: the final it closes answers it; with nothing open, one empty from_finalize final; exactly one per request", () => {
    const m = new ResultMapper(OPTS);
    m.finalizeRequested();
    const a = results(m.final(final(0, "And so, my", 0.2, 1.2, words.slice(0, 3), "finalize"), 1.3));
    expect(a.map((x) => [x.from_finalize, x.speech_final, transcript(x)])).toEqual([[true, false, "And so, my"]]);
    expect(m.answerFinalize(1.3)).toEqual([]);
    m.finalizeRequested();
    const b = results(m.answerFinalize(2.0));
    expect(b.map((x) => [x.is_final, x.from_finalize, transcript(x), x.start, x.duration])).toEqual([[true, true, "", 1.2, 0.8]]);
    expect(m.answerFinalize(2.5)).toEqual([]);
  });

  test("UtteranceEnd once per gap of utterance_end_ms after the last final word, on the audio clock", () => {
    const m = new ResultMapper(OPTS);
    m.speechStarted({ client_id: "c", start: 0.2 });
    m.speechStopped({ client_id: "c", seq: 0, start: 0.2, end: 2.3, endedBy: "silence" });
    const f = m.final(final(0, "And so, my fellow Americans,", 0.2, 2.3, words), 2.5);
    expect(f.some((x) => x.type === "UtteranceEnd")).toBe(false);
    expect(m.tick(2.9).some((x) => x.type === "UtteranceEnd")).toBe(false);
    expect(m.tick(3.0)).toContainEqual({ type: "UtteranceEnd", channel: [0, 1], last_word_end: 2 });
    expect(m.tick(5.0).some((x) => x.type === "UtteranceEnd")).toBe(false);
    // Speech 0.5 s after the next final word: no gap, no UtteranceEnd.
    m.speechStarted({ client_id: "c", start: 5.5 });
    m.final(final(1, "ask", 5.5, 6.2, [w("ask", 5.6, 6.0)]), 6.2);
    const soon = m.speechStarted({ client_id: "c", start: 6.5 });
    expect(soon.map((x) => x.type)).toEqual(["SpeechStarted"]);
    expect(m.tick(9).some((x) => x.type === "UtteranceEnd")).toBe(false);
  });

  test("a final that arrives after the next speech began still owes an UtteranceEnd when that speech began past the gap", () => {
    const m = new ResultMapper(OPTS);
    m.speechStarted({ client_id: "c", start: 0.2 });
    m.speechStopped({ client_id: "c", seq: 0, start: 0.2, end: 2.3, endedBy: "silence" });
    m.speechStarted({ client_id: "c", start: 3.4 });
    const f = m.final(final(0, "And so, my fellow Americans,", 0.2, 2.3, words), 3.6);
    expect(f.map((x) => x.type)).toEqual(["Results", "UtteranceEnd"]);
  });

  test("silence: empty finals keep the clock moving while no speech is open", () => {
    const m = new ResultMapper(OPTS);
    expect(m.tick(SILENCE_LAG + SILENCE_FINAL_EVERY - 0.1)).toEqual([]);
    const e = results(m.tick(SILENCE_LAG + SILENCE_FINAL_EVERY));
    expect(e.map((x) => [x.is_final, transcript(x), x.start, x.duration, x.channel.alternatives[0]!.confidence])).toEqual([[true, "", 0, SILENCE_FINAL_EVERY, 1]]);
    m.speechStarted({ client_id: "c", start: 3.2 });
    expect(m.tick(10)).toEqual([]);
  });

  test("an onset that comes before the previous utterance's stop and final keeps speech open: no empty final over it", () => {
    const m = new ResultMapper(OPTS);
    m.speechStarted({ client_id: "c", start: 0.2 });
    m.speechStarted({ client_id: "c", start: 2.5 }); // the next sentence, heard before the first one's final
    m.speechStopped({ client_id: "c", seq: 0, start: 0.2, end: 2.3, endedBy: "silence" });
    m.final(final(0, "And so, my fellow Americans,", 0.2, 2.3, words), 2.9);
    expect(m.idle).toBe(false);
    expect(results(m.tick(9))).toEqual([]);
    m.speechStopped({ client_id: "c", seq: 1, start: 2.5, end: 9.5, endedBy: "silence" });
    m.final(final(1, "ask", 2.5, 9.5, [w("ask", 2.6, 3.0)]), 9.6);
    expect(m.idle).toBe(true);
  });

  test("interims without word timings: only words not yet final are spread, over [cursor, end], inside their results", () => {
    const m = new ResultMapper(OPTS);
    const a = results(m.interim(interim(0, "And so", "And so my", 0.2, 1.0)));
    const b = results(m.interim(interim(0, "And so my fellow", "And so my fellow Americans", 0.2, 2.0)));
    const windows = [...a, ...b].map((r) => [r.start, r.start + r.duration]);
    for (const [i, r] of [...a, ...b].entries()) for (const x of r.channel.alternatives[0]!.words) expect(x.start >= windows[i]![0]! && x.end <= windows[i]![1]! + 1e-9).toBe(true);
    expect(b[0]!.start).toBeCloseTo(a[0]!.start + a[0]!.duration, 6);
    expect(b.map((r) => transcript(r))).toEqual(["my fellow", "Americans"]);
  });

  test("bare words: lower case, edge punctuation off, inner apostrophes kept", () => {
    expect(["Americans,", "“Ask", "don't", "U.S.", "well-known.", "¿Qué?"].map(bareWord)).toEqual(["americans", "ask", "don't", "u.s", "well-known", "qué"]);
  });
});
