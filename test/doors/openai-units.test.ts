import { describe, expect, test } from "bun:test";
import { decodeG711, g711Sample } from "../../src/audio/g711.ts";
import { InputAudio } from "../../src/doors/openai/audio.ts";
import { applyBeta, applyGa, initialConfig, renderBeta, renderGa, streamOptionsOf } from "../../src/doors/openai/config.ts";
import type { OutEvent } from "../../src/doors/openai/events.ts";
import { Items } from "../../src/doors/openai/items.ts";
import type { FinalEvent } from "../../src/stream/types.ts";
import { SHARED_AUDIO, decodeToRaw } from "../support/audio.ts";

/** The Realtime door's pure parts: audio formats, session config, the item state machine. */

describe("G.711", () => {
  test("ITU values at the ends and centre of both laws", () => {
    expect([0x00, 0x7f, 0xff, 0x80].map((b) => g711Sample(b, "mulaw"))).toEqual([-32124, 0, 0, 32124]);
    expect([0xd5, 0x55, 0x2a, 0xaa].map((b) => g711Sample(b, "alaw"))).toEqual([8, -8, -32256, 32256]);
  });

  test("sample for sample what ffmpeg's G.711 decoders give, on jfk.flac encoded by ffmpeg", async () => {
    for (const law of ["mulaw", "alaw"] as const) {
      const bytes = await decodeToRaw(`${SHARED_AUDIO}/jfk.flac`, law, 8000);
      const wav = `/tmp/stt-g711-${process.pid}.${law}`;
      await Bun.write(wav, bytes);
      const p = Bun.spawn(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", law, "-ar", "8000", "-ac", "1", "-i", wav, "-f", "s16le", "-"], { stdout: "pipe" });
      const ref = new Int16Array(await new Response(p.stdout).arrayBuffer());
      expect(await p.exited).toBe(0);
      await Bun.file(wav).delete();
      const mine = decodeG711(bytes, law);
      expect(ref.length).toBe(bytes.length);
      let differ = 0;
      for (let i = 0; i < ref.length; i++) if (Math.round(mine[i]! * 32768) !== ref[i]) differ++;
      expect(differ).toBe(0);
    }
  });

  test("every code decodes to a distinct level except μ-law's two zeros; decodeG711 scales to [-1, 1]", () => {
    for (const law of ["mulaw", "alaw"] as const) {
      const all = Array.from({ length: 256 }, (_, b) => g711Sample(b, law));
      expect(new Set(all).size).toBe(law === "mulaw" ? 255 : 256);
      const f = decodeG711(Uint8Array.from({ length: 256 }, (_, b) => b), law);
      expect(Array.from(f)).toEqual(all.map((v) => v / 32768));
    }
  });
});

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

describe("InputAudio", () => {
  test("24 kHz PCM16 comes out at 16 kHz, seamless across appends", () => {
    const a = new InputAudio({ type: "audio/pcm", rate: 24000 }, 10);
    const tone = new Int16Array(24000);
    for (let i = 0; i < tone.length; i++) tone[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 24000));
    let n = 0;
    for (let i = 0; i < tone.length; i += 480) {
      const r = a.decode(b64(new Uint8Array(tone.buffer, i * 2, 960)));
      if (!r.ok) throw new Error(r.message);
      n += r.samples.length;
    }
    n += a.flush().length;
    expect(n).toBe(16000);
  });

  test("16 kHz (the extension) passes through; G.711 is 8 kHz, upsampled", () => {
    const pcm = new InputAudio({ type: "audio/pcm", rate: 16000 }, 10);
    const r = pcm.decode(b64(new Uint8Array(new Int16Array([0, 16384, -16384]).buffer)));
    expect(r.ok && Array.from(r.samples)).toEqual([0, 0.5, -0.5]);
    const mu = new InputAudio({ type: "audio/pcmu" }, 10);
    const m = mu.decode(b64(new Uint8Array(800).fill(0xff)));
    expect(m.ok && m.samples.length + mu.flush().length).toBe(1600);
  });

  test("not base64, an odd byte count, too long a chunk: refused with their codes", () => {
    const a = new InputAudio({ type: "audio/pcm", rate: 24000 }, 1);
    expect(a.decode("not base64!")).toMatchObject({ ok: false, code: "invalid_audio" });
    expect(a.decode("AAA")).toMatchObject({ ok: false, code: "invalid_audio" });
    expect(a.decode(b64(new Uint8Array(3)))).toMatchObject({ ok: false, code: "odd_byte_length" });
    expect(a.decode(b64(new Uint8Array(2 * 24000 + 2)))).toMatchObject({ ok: false, code: "chunk_too_long" });
    expect(a.decode(b64(new Uint8Array(2 * 24000)))).toMatchObject({ ok: true });
  });
});

const defaults = { model: "tiny.en", language: null, vad_threshold: 0.5, speech_pad: 0.2, silence_duration: 0.8 };

describe("session config", () => {
  test("GA session.update: only present fields change, mapped onto the stream's options", () => {
    const c0 = initialConfig(defaults);
    expect(streamOptionsOf(c0)).toEqual({ interim_results: true, vad_events: true, language: null, prompt: null, vad_threshold: 0.5, speech_pad: 0.2, silence_duration: 0.8, segmentation: "vad", turn_detection: "silence", eot_threshold: 0.7, eot_timeout: 4, eager_eot_threshold: null });
    const r = applyGa(c0, {
      type: "transcription",
      audio: { input: { transcription: { model: "gpt-4o-transcribe", language: "en" }, turn_detection: { type: "server_vad", silence_duration_ms: 500, prefix_padding_ms: 300 } } },
    });
    if (!r.ok) throw new Error(r.message);
    expect(streamOptionsOf(r.config)).toMatchObject({ language: "en", silence_duration: 0.5, speech_pad: 0.3, vad_threshold: 0.5 });
    expect(renderGa(r.config, "session_x")).toMatchObject({
      id: "session_x",
      type: "transcription",
      audio: {
        input: {
          format: { type: "audio/pcm", rate: 24000 },
          transcription: { model: "gpt-4o-transcribe", language: "en", prompt: null },
          turn_detection: { type: "server_vad", threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 500 },
        },
      },
    });
    expect(c0.vad.silence_duration_ms).toBe(800); // the old config is not touched
  });

  test("semantic_vad: the turn model, eagerness picks its threshold and timeout; null is manual; switching back restores server_vad's values", () => {
    let c = initialConfig(defaults);
    const step = (s: unknown) => {
      const r = applyGa(c, s);
      if (!r.ok) throw new Error(r.message);
      return (c = r.config);
    };
    step({ audio: { input: { turn_detection: { type: "server_vad", silence_duration_ms: 350 } } } });
    expect(streamOptionsOf(step({ audio: { input: { turn_detection: { type: "semantic_vad", eagerness: "high" } } } }))).toMatchObject({ turn_detection: "model", eot_threshold: 0.5, eot_timeout: 2 });
    expect(streamOptionsOf(step({ audio: { input: { turn_detection: { type: "semantic_vad", eagerness: "low" } } } }))).toMatchObject({ turn_detection: "model", eot_threshold: 0.9, eot_timeout: 8 });
    expect(streamOptionsOf(step({ audio: { input: { turn_detection: { type: "semantic_vad", eagerness: "medium" } } } }))).toMatchObject({ turn_detection: "model", eot_threshold: 0.7, eot_timeout: 4 });
    expect(streamOptionsOf(step({ audio: { input: { turn_detection: null } } }))).toMatchObject({ segmentation: "manual", vad_events: false });
    expect(renderGa(c, "s").audio).toMatchObject({ input: { turn_detection: null } });
    expect(streamOptionsOf(step({ audio: { input: { turn_detection: { type: "server_vad" } } } }))).toMatchObject({ segmentation: "vad", silence_duration: 0.35, turn_detection: "silence" });
  });

  test("formats: pcm 24 kHz, 16 kHz (extension), pcmu, pcma; other rates refused", () => {
    const c = initialConfig(defaults);
    const fmt = (f: unknown) => applyGa(c, { audio: { input: { format: f } } });
    expect(fmt({ type: "audio/pcm", rate: 16000 })).toMatchObject({ ok: true, config: { format: { type: "audio/pcm", rate: 16000 } } });
    expect(fmt({ type: "audio/pcmu" })).toMatchObject({ ok: true, config: { format: { type: "audio/pcmu" } } });
    expect(fmt({ type: "audio/pcma" })).toMatchObject({ ok: true, config: { format: { type: "audio/pcma" } } });
    expect(fmt({ type: "audio/pcm", rate: 44100 })).toMatchObject({ ok: false, param: "session.audio.input.format.rate" });
    expect(fmt({ type: "audio/opus" })).toMatchObject({ ok: false, param: "session.audio.input.format.type" });
  });

  test("bad values name their param and change nothing", () => {
    const c = initialConfig(defaults);
    const cases: [unknown, string][] = [
      [{ type: "realtime" }, "session.type"],
      [{ audio: { input: { turn_detection: { type: "server_vad", threshold: 2 } } } }, "session.audio.input.turn_detection.threshold"],
      [{ audio: { input: { turn_detection: { type: "server_vad", silence_duration_ms: "long" } } } }, "session.audio.input.turn_detection.silence_duration_ms"],
      [{ audio: { input: { turn_detection: { type: "semantic_vad", eagerness: "eager" } } } }, "session.audio.input.turn_detection.eagerness"],
      [{ audio: { input: { turn_detection: { type: "push_to_talk" } } } }, "session.audio.input.turn_detection.type"],
      [{ audio: { input: { transcription: { language: "English" } } } }, "session.audio.input.transcription.language"],
      [{ audio: { input: { transcription: { prompt: 7 } } } }, "session.audio.input.transcription.prompt"],
      [{ audio: { input: { noise_reduction: { type: "loud" } } } }, "session.audio.input.noise_reduction"],
      ["not an object", "session"],
    ];
    for (const [session, param] of cases) {
      const r = applyGa(c, session);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.param).toStartWith(param);
        expect(r.message.length).toBeGreaterThan(10);
      }
    }
    expect(c).toEqual(initialConfig(defaults));
  });

  test("beta transcription_session.update maps to the same config and renders in the beta shape", () => {
    const r = applyBeta(initialConfig(defaults), {
      input_audio_format: "g711_ulaw",
      input_audio_transcription: { model: "whisper-1", language: "en", prompt: "names" },
      turn_detection: { type: "server_vad", threshold: 0.6, prefix_padding_ms: 100, silence_duration_ms: 400 },
      input_audio_noise_reduction: { type: "far_field" },
    });
    if (!r.ok) throw new Error(r.message);
    expect(streamOptionsOf(r.config)).toMatchObject({ language: "en", vad_threshold: 0.6, speech_pad: 0.1, silence_duration: 0.4 });
    expect(renderBeta(r.config, "session_b")).toMatchObject({
      input_audio_format: "g711_ulaw",
      input_audio_transcription: { model: "whisper-1", language: "en", prompt: "names" },
      turn_detection: { type: "server_vad", threshold: 0.6, prefix_padding_ms: 100, silence_duration_ms: 400 },
      input_audio_noise_reduction: { type: "far_field" },
    });
    expect(applyBeta(r.config, { input_audio_format: "mp3" })).toMatchObject({ ok: false, param: "session.input_audio_format" });
    expect(applyBeta(r.config, { turn_detection: null })).toMatchObject({ ok: true, config: { turn: null } });
  });
});

function final(seq: number, text: string, start = 0, end = 1): FinalEvent {
  return {
    payload: { text, duration: end - start, client_id: "c", ts: 0, start, end, seq, language: "en", avg_logprob: -0.1, no_speech_prob: 0.01, final: true },
    empty: text.length <= 1,
    endedBy: "silence",
  };
}
const interim = (seq: number, stable: string, text = stable, start = 0, end = 1) => ({ client_id: "c", seq, text, stable_text: stable, start, end, ts: 0 });

function tracker() {
  const out: OutEvent[] = [];
  const mismatches: string[] = [];
  const items = new Items("item_t", { emit: (e) => out.push(e), mismatch: (id) => mismatches.push(id) });
  return { items, out, mismatches, types: () => out.map((e) => e.type.replace(/^(input_audio_buffer|conversation\.item\.input_audio_transcription)\./, "")) };
}

describe("Items", () => {
  test("server VAD: started → append-only deltas from the stable prefix → stopped → committed → remainder → completed", () => {
    const t = tracker();
    t.items.speechStarted({ client_id: "c", start: 1.25 });
    t.items.interim(interim(0, "", "And so", 1.05, 1.9));
    t.items.interim(interim(0, "And so my", "And so my fellow", 1.05, 2.5));
    t.items.interim(interim(0, "And so my", "And so my fellow Americans", 1.05, 3.1));
    t.items.interim(interim(0, "And so my fellow Americans,", "And so my fellow Americans,", 1.05, 3.4));
    t.items.speechStopped({ client_id: "c", seq: 0, start: 1.05, end: 3.5, endedBy: "silence" });
    t.items.final(final(0, "And so my fellow Americans, ask not.", 1.25, 3.5));
    expect(t.types()).toEqual(["speech_started", "delta", "delta", "speech_stopped", "committed", "delta", "completed"]);
    const deltas = t.out.filter((e) => e.type.endsWith(".delta")).map((e) => e.delta);
    expect(deltas).toEqual(["And so my", " fellow Americans,", " ask not."]);
    const done = t.out.at(-1)!;
    expect(done).toMatchObject({ item_id: "item_t1", content_index: 0, transcript: deltas.join(""), usage: { type: "duration", seconds: 2.25 } });
    expect(t.out[0]).toMatchObject({ audio_start_ms: 1250, item_id: "item_t1" });
    expect(t.out[3]).toMatchObject({ audio_end_ms: 3500, item_id: "item_t1" });
    expect(t.out[4]).toMatchObject({ item_id: "item_t1", previous_item_id: null });
    expect(t.items.pending).toBe(0);
  });

  test("the next utterance starts before the previous final: ids stay with their utterances; previous_item_id chains", () => {
    const t = tracker();
    t.items.speechStarted({ client_id: "c", start: 0.2 });
    t.items.speechStarted({ client_id: "c", start: 2.2 });
    // The first utterance's events come only now, behind an earlier result: they still find its item.
    t.items.speechStopped({ client_id: "c", seq: 0, start: 0, end: 1, endedBy: "silence" });
    t.items.final(final(0, "One."));
    t.items.interim(interim(1, "Two", "Two", 2, 2.8));
    t.items.speechStopped({ client_id: "c", seq: 1, start: 2, end: 3, endedBy: "silence" });
    t.items.final(final(1, "Two.", 2, 3));
    const byItem = (id: string) => t.out.filter((e) => e.item_id === id).map((e) => e.type.split(".").at(-1));
    expect(byItem("item_t1")).toEqual(["speech_started", "speech_stopped", "committed", "delta", "completed"]);
    expect(byItem("item_t2")).toEqual(["speech_started", "delta", "speech_stopped", "committed", "delta", "completed"]);
    expect(t.out.filter((e) => e.type.endsWith("committed")).map((e) => e.previous_item_id)).toEqual([null, "item_t1"]);
  });

  test("an announced utterance the core dropped (too short) is closed empty when a later one is heard", () => {
    const t = tracker();
    t.items.speechStarted({ client_id: "c", start: 0.5 });
    t.items.speechStarted({ client_id: "c", start: 2.2 });
    t.items.final(final(0, "Hello.", 2, 3));
    const byItem = (id: string) => t.out.filter((e) => e.item_id === id).map((e) => e.type.split(".").at(-1));
    expect(byItem("item_t1")).toEqual(["speech_started", "speech_stopped", "committed", "completed"]);
    expect(t.out.find((e) => e.item_id === "item_t1" && e.type.endsWith("completed"))).toMatchObject({ transcript: "" });
    expect(byItem("item_t2")).toEqual(["speech_started", "speech_stopped", "committed", "delta", "completed"]);
    // A blip announced just before an utterance, inside its padding: the utterance takes the later onset.
    t.items.speechStarted({ client_id: "c", start: 4.0 });
    t.items.speechStarted({ client_id: "c", start: 4.1 });
    t.items.interim(interim(1, "Yes", "Yes", 3.9, 4.5));
    expect(byItem("item_t3")).toEqual(["speech_started", "speech_stopped", "committed", "completed"]);
    expect(byItem("item_t4")).toEqual(["speech_started", "delta"]);
  });

  test("manual: no speech events; commit announces the item, its final completes it; a commit with no speech completes empty", () => {
    const t = tracker();
    t.items.manual = true;
    t.items.speechStarted({ client_id: "c", start: 0 });
    t.items.interim(interim(0, "Ask not"));
    const id = t.items.commitNow();
    t.items.speechStopped({ client_id: "c", seq: 0, start: 0, end: 1, endedBy: "finalize" });
    t.items.final(final(0, "Ask not what your country can do."));
    t.items.settle(id);
    const silent = t.items.commitNow();
    t.items.settle(silent);
    expect(t.types()).toEqual(["delta", "committed", "delta", "completed", "committed", "completed"]);
    expect(t.out[3]).toMatchObject({ item_id: id, transcript: "Ask not what your country can do." });
    expect(t.out[5]).toMatchObject({ item_id: silent, transcript: "" });
    expect(t.out[4]).toMatchObject({ previous_item_id: id });
  });

  test("a final that contradicts sent deltas is reported, a failure fails the oldest committed item, clear forgets uncommitted items", () => {
    const t = tracker();
    t.items.interim(interim(0, "Hello there"));
    t.items.final(final(0, "Yellow there"));
    expect(t.mismatches).toEqual(["item_t1"]);
    t.items.speechStarted({ client_id: "c", start: 5.1 });
    t.items.speechStopped({ client_id: "c", seq: 1, start: 5, end: 6, endedBy: "silence" });
    expect(t.items.failed("engine_error", "transcription failed")).toBe(true);
    expect(t.out.at(-1)).toMatchObject({ type: "conversation.item.input_audio_transcription.failed", item_id: "item_t2", error: { code: "engine_error" } });
    expect(t.items.failed("engine_error", "again")).toBe(false);
    t.items.speechStarted({ client_id: "c", start: 8 });
    t.items.clear();
    t.items.final(final(2, "After.", 9, 10));
    expect(t.out.at(-1)).toMatchObject({ item_id: "item_t4", transcript: "After." });
  });
});
