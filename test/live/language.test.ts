/** A language per stream: checked against the model, and used for that stream's utterances only. */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { SHARED_AUDIO, concat, decodeToPcm16, silence } from "../support/audio.ts";
import { client, collect, startServer, streamPcm, type Harness } from "../support/harness.ts";
import type { ErrorPayload, TranscriptionPayload } from "../../src/transport/schemas.ts";

setDefaultTimeout(120_000);
const servers: Harness[] = [];
afterAll(async () => {
  for (const h of servers) await h.stop();
});

describe("language per stream", () => {
  test("an English-only model refuses another language, in the handshake and in stream_options", async () => {
    const h = await startServer();
    servers.push(h);
    const s = await client(h.url, { auth: { language: "de" } });
    const errors = collect<ErrorPayload>(s, "error");
    expect(await s.emitWithAck("stream_options", { clientId: "lang-x", language: "fr" })).toEqual({ ok: false, code: "invalid_payload" });
    expect(errors.map((e) => [e.event, e.code])).toEqual([
      ["connect", "invalid_payload"],
      ["stream_options", "invalid_payload"],
    ]);
    expect(errors[0]!.message).toContain("English-only");
    expect(await s.emitWithAck("stream_options", { clientId: "lang-x", language: "en" })).toMatchObject({ ok: true, options: { language: "en" } });
    s.disconnect();
  });

  test("on a multilingual model, two streams of the same German speech decode in the language each asked for", async () => {
    const h = await startServer({ model_path: "models/base" });
    servers.push(h);
    const all = await decodeToPcm16(`${SHARED_AUDIO}/multilingual.mp3`);
    const german = concat(all.slice(16000 * 31, 16000 * 40), silence(1.5));
    const run = async (language: string, clientId: string) => {
      const s = await client(h.url, { auth: { language } });
      const finals = collect<TranscriptionPayload>(s, "transcription");
      await streamPcm(s, german, { clientId });
      const done = new Promise((r) => s.once("cleanup_confirmed", r));
      s.emit("cleanup_client", { clientId });
      await done;
      s.disconnect();
      return finals;
    };
    const [de, en] = await Promise.all([run("de", "lang-de"), run("en", "lang-en")]);
    console.log(`de: ${de.map((f) => f.text).join(" ")}\nen: ${en.map((f) => f.text).join(" ")}`);
    expect(de.length).toBeGreaterThan(0);
    expect(en.length).toBeGreaterThan(0);
    expect(new Set(de.map((f) => f.language))).toEqual(new Set(["de"]));
    expect(new Set(en.map((f) => f.language))).toEqual(new Set(["en"]));
  });
});
