/**
 * Prompt text to token ids. Each distinct text is encoded once and the same
 * array object is handed out again: a file's utterances share one encoding,
 * and the batch executor groups items by array identity.
 */
import path from "node:path";
import { MAX_LENGTH } from "../../ffi/sttwhisper.ts";
import { EngineError } from "./errors.ts";
import type { BpeTokenizer } from "./tokenizer.ts";

/** Per-request prompts must not grow the cache without bound. */
const MAX_CACHED = 256;

export type PromptEncoder = (text: string | null | undefined) => readonly number[] | null;

export function promptEncoder(tokenizer: BpeTokenizer | null, modelPath: string): PromptEncoder {
  const encoded = new Map<string, readonly number[] | null>();
  return (text) => {
    const key = text?.trim() ?? "";
    if (!key) return null;
    let ids = encoded.get(key);
    if (ids === undefined) {
      if (!tokenizer) throw new EngineError("invalid_argument", `a prompt needs ${path.join(modelPath, "tokenizer.json")}`);
      if (encoded.size >= MAX_CACHED) encoded.clear();
      ids = tokenizer.encode(" " + key).slice(-(MAX_LENGTH / 2 - 1));
      encoded.set(key, ids);
    }
    return ids;
  };
}
