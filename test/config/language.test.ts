/**
 * The configured `language` is checked against the loaded model at start: an
 * English-only model cannot be told to decode German, and start-up says so
 * instead of failing (or mis-transcribing) every utterance later. Real engine.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { resolve } from "node:path";
import { createSttServer } from "../../src/server.ts";
import { createLogger } from "../../src/log.ts";

setDefaultTimeout(120_000);
const TINY = resolve(import.meta.dir, "../../models/tiny.en");
const quiet = { logger: createLogger(false) };

describe("language checked against the model at start", () => {
  test('an English-only model with language "de": start fails naming the key, the value and the fix', async () => {
    const server = createSttServer({ host: "127.0.0.1", port: 0, model_path: TINY, language: "de" }, quiet);
    const err = await server.start().then(
      () => null,
      (e: Error) => e,
    );
    expect(err).not.toBeNull();
    expect(err!.message).toContain('language "de"');
    expect(err!.message).toContain("English-only");
    expect(err!.message).toContain('"en" or null');
    await server.stop();
  });

  test('the same model with language "EN" starts', async () => {
    const server = createSttServer({ host: "127.0.0.1", port: 0, model_path: TINY, language: "EN" }, quiet);
    const { url } = await server.start();
    expect((await fetch(`${url}/health`)).status).toBe(200);
    await server.stop();
  });
});
