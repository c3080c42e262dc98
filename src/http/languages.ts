import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { EngineInfo } from "../engine/types.ts";

/**
 * Language codes the loaded model knows, for checking `language` at the edge
 * rather than failing inside the engine. An English-only model knows "en";
 * a multilingual one every `<|xx|>` token in its vocabulary. null when the
 * vocabulary cannot be read (an injected engine): then only the syntax is checked.
 */
const cache = new Map<string, Set<string> | null>();

export function modelLanguages(info: Pick<EngineInfo, "modelPath" | "multilingual">): Set<string> | null {
  if (!info.multilingual) return new Set(["en"]);
  if (!cache.has(info.modelPath)) cache.set(info.modelPath, readLanguages(info.modelPath));
  return cache.get(info.modelPath)!;
}

function readLanguages(dir: string): Set<string> | null {
  let tokens: string[];
  try {
    if (existsSync(join(dir, "vocabulary.json"))) tokens = JSON.parse(readFileSync(join(dir, "vocabulary.json"), "utf8")) as string[];
    else if (existsSync(join(dir, "vocabulary.txt"))) tokens = readFileSync(join(dir, "vocabulary.txt"), "utf8").split("\n");
    else return null;
  } catch {
    return null;
  }
  const out = new Set<string>();
  for (const t of tokens) {
    const m = /^<\|([a-z]{2,3})\|>$/.exec(t);
    if (m) out.add(m[1]!);
  }
  return out.size > 0 ? out : null;
}
