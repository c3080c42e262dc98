/** The TypeScript byte-level BPE encoder against known ids and faster-whisper's suppress list. */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import path from "node:path";
import { BpeTokenizer } from "../../src/engine/tokenizer.ts";

const MODELS = path.resolve(import.meta.dir, "../../models");
const TEXT = " Hello world, it's 2024! Grüße — ♪♪ \n\n  done";
// Ids from the Hugging Face tokenizers library (what faster-whisper uses) for TEXT.
const EXPECTED: Record<string, number[]> = {
  "tiny.en": [18435, 995, 11, 340, 338, 48609, 0, 1902, 9116, 39683, 68, 851, 20724, 103, 17992, 103, 220, 628, 220, 1760],
  base: [2425, 1002, 11, 309, 311, 45237, 0, 38908, 11451, 3466, 9061, 220, 198, 198, 220, 1096],
};

describe("BPE tokenizer", () => {
  for (const name of ["tiny.en", "base"]) {
    const dir = path.join(MODELS, name);
    test.skipIf(!existsSync(path.join(dir, "tokenizer.json")))(`${name}: encode matches tokenizers`, () => {
      expect(BpeTokenizer.fromModelDir(dir).encode(TEXT)).toEqual(EXPECTED[name]!);
    });
    test.skipIf(!existsSync(path.join(dir, "tokenizer.json")))(`${name}: suppress list = faster-whisper's = config.json suppress_ids`, async () => {
      const tok = BpeTokenizer.fromModelDir(dir);
      const cfg = (await Bun.file(path.join(dir, "config.json")).json()) as { suppress_ids: number[] };
      expect(tok.suppressTokens()).toEqual(cfg.suppress_ids);
    });
  }
});
