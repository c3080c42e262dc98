import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { ClientId } from "../../transport/schemas.ts";

/**
 * Deepgram `/v1/listen` query parameters. Every value arrives as a string
 * (booleans as "true"/"false"), lists as repeated keys; keys this server does
 * not know are ignored, as Deepgram's own SDKs send many. A value this server
 * cannot honour is refused at the handshake (HTTP 400) rather than by a close
 * frame, because the JS SDK re-dials after any close other than 1000.
 */

const Bool = Type.Union([Type.Literal("true"), Type.Literal("false")], { description: "true or false" });
/** A non-negative integer as a string; its range is checked after the shape (rangeError). */
const Int = (description: string) => Type.String({ pattern: "^[0-9]{1,7}$", description });

export const ENCODINGS = ["linear16", "mulaw", "alaw"] as const;
export type Encoding = (typeof ENCODINGS)[number];

const LIMITS = {
  sample_rate: [4000, 192_000],
  utterance_end_ms: [1, 60_000],
  endpointing: [0, 60_000],
} as const;

const fields = {
  encoding: Type.Union(
    ENCODINGS.map((e) => Type.Literal(e)),
    { description: `one of ${ENCODINGS.join(", ")} (raw audio only: containerized and compressed audio are not decoded on this endpoint)` },
  ),
  sample_rate: Int(`an integer sample rate in Hz, ${LIMITS.sample_rate[0]} to ${LIMITS.sample_rate[1]}`),
  channels: Type.Literal("1", { description: "1 (this server transcribes mono audio only)" }),
  multichannel: Bool,
  interim_results: Bool,
  punctuate: Bool,
  smart_format: Bool,
  vad_events: Bool,
  endpointing: Type.Union([Type.Literal("false"), Type.Literal("true"), Int("milliseconds")], {
    description: `milliseconds of silence (an integer, ${LIMITS.endpointing[0]} to ${LIMITS.endpointing[1]}), true or false`,
  }),
  utterance_end_ms: Int(`an integer number of milliseconds, ${LIMITS.utterance_end_ms[0]} to ${LIMITS.utterance_end_ms[1]}`),
  language: Type.String({ pattern: "^(multi|[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*)$", description: 'a BCP-47 language tag such as "en" or "en-US", or "multi"' }),
  model: Type.String({ maxLength: 128, description: "a model name (accepted and ignored: this server runs the model it was started with)" }),
  client_id: Type.String({ ...ClientId, description: "1 to 128 printable ASCII characters without spaces (this server's clientId)" }),
  keyterm: Type.Array(Type.String({ maxLength: 256, description: "a term of at most 256 characters" }), { maxItems: 500 }),
  keywords: Type.Array(Type.String({ maxLength: 256, description: "a term of at most 256 characters" }), { maxItems: 500 }),
} satisfies Record<string, TSchema>;

const QuerySchema = Type.Partial(Type.Object(fields));
type RawQuery = Static<typeof QuerySchema>;

/** Keys whose repetitions form a list (`keyterm=a&keyterm=b`). */
const LIST_KEYS = new Set(["keyterm", "keywords"]);

export interface DeepgramParams {
  encoding: Encoding;
  sampleRate: number;
  interimResults: boolean;
  /** ms of silence before `speech_final`; false = endpointing off; null = not given (the server's silence window). */
  endpointing: number | false | null;
  utteranceEndMs: number | null;
  vadEvents: boolean;
  /** `punctuate` or `smart_format`: punctuated, cased transcripts. */
  punctuate: boolean;
  /** The tag as the client sent it (echoed nowhere, kept for logs). */
  languageTag: string | null;
  /** Our language code: the tag's primary subtag; null for "multi" or none (the server's setting). */
  language: string | null;
  keyterms: string[];
  keywords: string[];
  model: string | null;
  clientId: string | null;
}

export type ParseResult = { ok: true; params: DeepgramParams } | { ok: false; message: string };

/** Sample rate assumed when `encoding` comes without one (Deepgram requires it; these are the rates those encodings are used at). */
const DEFAULT_RATE: Record<Encoding, number> = { linear16: 16000, mulaw: 8000, alaw: 8000 };

export function parseQuery(search: URLSearchParams): ParseResult {
  const raw: Record<string, string | string[]> = {};
  for (const key of Object.keys(fields)) {
    const all = search.getAll(key);
    if (all.length === 0) continue;
    // A scalar given twice keeps its last value, as most query parsers do.
    raw[key] = LIST_KEYS.has(key) ? all : all.at(-1)!;
  }
  const error = Value.Errors(QuerySchema, raw).First();
  if (error) return { ok: false, message: describe(error.path, raw) };
  const q = raw as RawQuery;
  const range = rangeError(q);
  if (range) return { ok: false, message: range };
  if (!q.encoding) {
    return { ok: false, message: `encoding is required: raw audio as ${ENCODINGS.join(", ")} (with sample_rate); containerized audio is not decoded on this endpoint` };
  }
  const language = q.language === undefined || q.language === "multi" ? null : q.language.split("-")[0]!.toLowerCase();
  return {
    ok: true,
    params: {
      encoding: q.encoding,
      sampleRate: q.sample_rate ? Number(q.sample_rate) : DEFAULT_RATE[q.encoding],
      interimResults: q.interim_results === "true",
      endpointing: q.endpointing === undefined || q.endpointing === "true" ? null : q.endpointing === "false" ? false : Number(q.endpointing),
      utteranceEndMs: q.utterance_end_ms ? Number(q.utterance_end_ms) : null,
      vadEvents: q.vad_events === "true",
      punctuate: q.punctuate === "true" || q.smart_format === "true",
      languageTag: q.language ?? null,
      language,
      keyterms: q.keyterm ?? [],
      keywords: q.keywords ?? [],
      model: q.model ?? null,
      clientId: q.client_id ?? null,
    },
  };
}

function describe(path: string, raw: Record<string, string | string[]>): string {
  const key = path.split("/")[1] ?? "";
  const schema = (fields as Record<string, TSchema>)[key];
  const value = raw[key];
  const expected = (schema?.description ?? (schema as { items?: TSchema } | undefined)?.items?.description) || "a valid value";
  const shown = Array.isArray(value) ? `(${value.length} values)` : JSON.stringify(value);
  return `invalid query parameter ${key}=${shown}: expected ${expected}`;
}

function rangeError(q: RawQuery): string | null {
  for (const key of ["sample_rate", "utterance_end_ms", "endpointing"] as const) {
    const v = q[key];
    if (v === undefined || !/^[0-9]+$/.test(v)) continue;
    const [min, max] = LIMITS[key];
    const n = Number(v);
    if (n < min || n > max) return `invalid query parameter ${key}=${JSON.stringify(v)}: expected ${fields[key].description}`;
  }
  return null;
}
