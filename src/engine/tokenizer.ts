/**
 * Byte-level BPE (GPT-2 / Whisper) encoder over a model's tokenizer.json, enough
 * to (a) encode an initial prompt and (b) compute faster-whisper's suppress list
 * (Tokenizer.non_speech_tokens + the task/sot/no-speech specials). Decoding is
 * done natively by the shim.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

interface TokenizerJson {
  model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
  added_tokens: { id: number; content: string }[];
}

// GPT-2 pre-tokenizer split (tokenizers' ByteLevel use_regex=true).
const SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const UTF8 = new TextDecoder();

function bytesToUnicode(): string[] {
  const table: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : 256 + n++);
  }
  return table;
}

export class BpeTokenizer {
  private readonly vocab: Map<string, number>;
  private readonly ranks: Map<string, number>;
  private readonly special: Map<string, number>;
  private readonly byteChars = bytesToUnicode();
  private readonly cache = new Map<string, number[]>();
  private bytesById: Uint8Array[] | null = null;

  constructor(json: TokenizerJson) {
    this.vocab = new Map(Object.entries(json.model.vocab));
    this.ranks = new Map();
    json.model.merges.forEach((m, i) => {
      const [a, b] = typeof m === "string" ? (m.split(" ") as [string, string]) : m;
      this.ranks.set(`${a} ${b}`, i);
    });
    this.special = new Map(json.added_tokens.map((t) => [t.content, t.id]));
  }

  static fromModelDir(dir: string): BpeTokenizer {
    return new BpeTokenizer(JSON.parse(readFileSync(path.join(dir, "tokenizer.json"), "utf8")) as TokenizerJson);
  }

  /**
   * Bytes of each text token (ids below <|endoftext|>), for decoding token
   * ids back to text exactly as the shim does (byte-level BPE, UTF-8).
   */
  tokenBytes(): Uint8Array[] {
    if (this.bytesById) return this.bytesById;
    const eot = this.specialId("<|endoftext|>") ?? this.vocab.size;
    const charToByte = new Map(this.byteChars.map((c, b) => [c, b]));
    const out: Uint8Array[] = new Array(eot);
    for (const [tok, id] of this.vocab) {
      if (id >= eot) continue;
      const bytes = Array.from(tok, (c) => charToByte.get(c) ?? 0x3f);
      out[id] = Uint8Array.from(bytes);
    }
    this.bytesById = out;
    return out;
  }

  /** Text of token ids (ids at or above <|endoftext|> are skipped); invalid UTF-8 becomes U+FFFD. */
  decode(ids: readonly number[]): string {
    const table = this.tokenBytes();
    const parts: number[] = [];
    for (const id of ids) {
      const b = table[id];
      if (b) for (const x of b) parts.push(x);
    }
    return UTF8.decode(Uint8Array.from(parts));
  }

  /** Id of a special token such as "<|startoftranscript|>", or undefined. */
  specialId(content: string): number | undefined {
    return this.special.get(content) ?? this.vocab.get(content);
  }

  /** Encodes plain text (no special-token parsing), like tokenizer.encode(text, add_special_tokens=False). */
  encode(text: string): number[] {
    const out: number[] = [];
    const enc = new TextEncoder();
    for (const m of text.matchAll(SPLIT)) {
      const piece = m[0];
      let ids = this.cache.get(piece);
      if (!ids) {
        const chars = Array.from(enc.encode(piece), (b) => this.byteChars[b]!);
        ids = this.bpe(chars).map((t) => {
          const id = this.vocab.get(t);
          if (id === undefined) throw new Error(`BPE produced unknown token ${JSON.stringify(t)}`);
          return id;
        });
        if (this.cache.size < 10000) this.cache.set(piece, ids);
      }
      out.push(...ids);
    }
    return out;
  }

  private bpe(symbols: string[]): string[] {
    let word = symbols;
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const a = word[best]!;
      const b = word[best + 1]!;
      const merged: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i < word.length - 1 && word[i] === a && word[i + 1] === b) {
          merged.push(a + b);
          i++;
        } else {
          merged.push(word[i]!);
        }
      }
      word = merged;
    }
    return word;
  }

  /** faster-whisper 1.2.1 Tokenizer.non_speech_tokens. */
  nonSpeechTokens(): number[] {
    const symbols = [...'"#()*+/:;<=>@[\\]^_`{|}~「」『』'];
    symbols.push(..."<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split(" "));
    const misc = new Set([..."♩♪♫♬♭♮♯"]);
    const result = new Set<number>([this.encode(" -")[0]!, this.encode(" '")[0]!]);
    for (const symbol of [...symbols, ...misc]) {
      for (const tokens of [this.encode(symbol), this.encode(" " + symbol)]) {
        if (tokens.length === 1 || misc.has(symbol)) result.add(tokens[0]!);
      }
    }
    return [...result].sort((a, b) => a - b);
  }

  /** faster-whisper get_suppressed_tokens(tokenizer, [-1]). */
  suppressTokens(): number[] {
    const ids = new Set(this.nonSpeechTokens());
    for (const s of ["<|transcribe|>", "<|translate|>", "<|startoftranscript|>", "<|startofprev|>", "<|startoflm|>"]) {
      const id = this.specialId(s);
      if (id !== undefined) ids.add(id);
    }
    const noSpeech = this.specialId("<|nospeech|>") ?? this.specialId("<|nocaptions|>");
    if (noSpeech !== undefined) ids.add(noSpeech);
    return [...ids].sort((a, b) => a - b);
  }
}
