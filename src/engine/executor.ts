/**
 * One pool executor per worker slot: a batch of engine items becomes one
 * shim call per (prompt, decoding options), since one CTranslate2 call takes
 * one prompt and one set of options. Live finals all share the configured
 * prompt and options and stay in a single call.
 */
import { MAX_LENGTH } from "../../ffi/sttwhisper.ts";
import { fromWire } from "./errors.ts";
import type { Executor } from "./pool.ts";
import type { DecodeOptions } from "./protocol.ts";
import { toResult } from "./result.ts";
import type { EngineResult } from "./types.ts";
import type { WorkerSet } from "./workers.ts";

export interface Item {
  audio: Float32Array;
  language: string | null;
  promptIds: readonly number[] | null;
  prefix: readonly number[] | null;
  wordTimestamps: boolean;
  interim: boolean;
  temperature: number;
}

export interface ExecutorContext {
  workers: WorkerSet;
  /** Options every call starts from (prompt, budget, flags set per call). */
  decode: DecodeOptions;
  /** <|sot|> (+ language and task on multilingual models). */
  sotLength: number;
  shortInterimWindow: boolean;
  /** Token id -> bytes, for word timings; absent without tokenizer.json. */
  pieces: Uint8Array[] | undefined;
}

/** Items of a batch by prompt (array identity), then by decoding options. */
function groupBatch(batch: Item[]): Map<readonly number[] | null, Map<string, number[]>> {
  const groups = new Map<readonly number[] | null, Map<string, number[]>>();
  batch.forEach((b, i) => {
    const byOptions = groups.get(b.promptIds) ?? new Map<string, number[]>();
    groups.set(b.promptIds, byOptions);
    const key = `${b.wordTimestamps}|${b.interim}|${b.temperature}`;
    byOptions.set(key, [...(byOptions.get(key) ?? []), i]);
  });
  return groups;
}

/** Decoding options of one call over `items`, which share prompt and options. */
function callOptions(ctx: ExecutorContext, prompt: readonly number[] | null, items: Item[]): DecodeOptions {
  const first = items[0]!;
  const promptLength = (prompt && prompt.length > 0 ? prompt.length + 1 : 0) + ctx.sotLength + 1;
  const longestPrefix = Math.max(0, ...items.map((b) => b.prefix?.length ?? 0));
  // Interims get a token budget in proportion to their audio (about 4 tokens
  // per second of speech is generous), so a looping hypothesis stops early
  // instead of burning the engine.
  const seconds = Math.max(...items.map((b) => b.audio.length)) / 16000;
  const budget = first.interim ? Math.min(ctx.decode.maxNewTokens, Math.ceil(seconds * 6) + 8) : ctx.decode.maxNewTokens;
  return {
    ...ctx.decode,
    promptIds: prompt,
    maxNewTokens: Math.max(1, Math.min(budget, MAX_LENGTH - promptLength - longestPrefix)),
    temperature: first.temperature,
    wordTimestamps: first.wordTimestamps,
    shortWindow: first.interim && ctx.shortInterimWindow,
  };
}

export function slotExecutor(ctx: ExecutorContext, slot: number): Executor<Item, EngineResult> {
  return async (batch) => {
    const out: Awaited<ReturnType<Executor<Item, EngineResult>>> = new Array(batch.length);
    for (const [prompt, byOptions] of groupBatch(batch)) {
      for (const idx of byOptions.values()) {
        const items = idx.map((i) => batch[i]!);
        const { outcomes, ms } = await ctx.workers.run(
          slot,
          items.map((b) => b.audio),
          items.map((b) => b.language),
          items.map((b) => b.prefix),
          callOptions(ctx, prompt, items),
        );
        outcomes.forEach((o, k) => {
          const item = items[k]!;
          out[idx[k]!] = o.ok
            ? { ok: true as const, value: toResult(o.result, ms, items.length, item.audio.length / 16000, ctx.pieces) }
            : { ok: false as const, error: fromWire(o.error) };
        });
      }
    }
    return out;
  };
}
