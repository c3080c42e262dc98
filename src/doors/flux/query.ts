import { ClientId } from "../../transport/schemas.ts";
import { ENCODINGS, type Encoding } from "../deepgram/query.ts";

/**
 * Deepgram Flux `/v2/listen` query parameters. Values arrive as strings,
 * lists as repeated keys (`keyterm=a&keyterm=b`); keys this server does not
 * use (profanity_filter, numerals, redact, mip_opt_out, tag, …) are accepted
 * and ignored, as on /v1/listen. A value this server cannot honour is an HTTP
 * 400 at the handshake: the SDK re-dials after any close other than 1000.
 */

/** Flux's documented ranges (developers.deepgram.com/docs/flux/configuration). */
export const FLUX_LIMITS = {
  eot_threshold: [0.5, 1],
  eager_eot_threshold: [0.3, 0.9],
  eot_timeout_ms: [500, 60_000],
  sample_rate: [4000, 192_000],
} as const;
export const DEFAULT_EOT_TIMEOUT_MS = 5000;
export const DEFAULT_EOT_THRESHOLD = 0.7;
/** Flux encodings this server does not decode: named so the refusal can say so. */
const UNSUPPORTED_ENCODINGS = new Set(["linear32", "opus", "ogg-opus", "flac", "speex", "amr-nb", "amr-wb", "g729"]);

export interface FluxParams {
  model: string | null;
  encoding: Encoding;
  sampleRate: number;
  eotThreshold: number;
  /** null: no EagerEndOfTurn / TurnResumed. */
  eagerEotThreshold: number | null;
  eotTimeoutMs: number;
  keyterms: string[];
  languageHints: string[];
  clientId: string | null;
}

export type FluxParse = { ok: true; params: FluxParams } | { ok: false; message: string };

const DEFAULT_RATE: Record<Encoding, number> = { linear16: 16000, mulaw: 8000, alaw: 8000 };

export function parseFluxQuery(q: URLSearchParams): FluxParse {
  const last = (k: string) => q.getAll(k).at(-1);
  const encoding = last("encoding") ?? "linear16";
  if (!(ENCODINGS as readonly string[]).includes(encoding)) {
    const why = UNSUPPORTED_ENCODINGS.has(encoding) ? `is a Flux encoding this server does not decode` : `is not a Flux encoding`;
    return { ok: false, message: `invalid query parameter encoding=${JSON.stringify(encoding.slice(0, 32))}: ${why}; send raw ${ENCODINGS.join(", ")} audio` };
  }
  const enc = encoding as Encoding;
  const rate = intParam(last("sample_rate"), "sample_rate", FLUX_LIMITS.sample_rate);
  if (typeof rate === "string") return { ok: false, message: rate };
  const eot = numParam(last("eot_threshold"), "eot_threshold", FLUX_LIMITS.eot_threshold);
  if (typeof eot === "string") return { ok: false, message: eot };
  const eager = numParam(last("eager_eot_threshold"), "eager_eot_threshold", FLUX_LIMITS.eager_eot_threshold);
  if (typeof eager === "string") return { ok: false, message: eager };
  const timeout = intParam(last("eot_timeout_ms"), "eot_timeout_ms", FLUX_LIMITS.eot_timeout_ms);
  if (typeof timeout === "string") return { ok: false, message: timeout };
  const eotThreshold = eot ?? DEFAULT_EOT_THRESHOLD;
  if (eager !== null && eager > eotThreshold) {
    return { ok: false, message: `eager_eot_threshold=${eager} is above eot_threshold=${eotThreshold}: the eager event must come before the end of turn` };
  }
  // Their limits are the stream core's (checkOptions), as for every door.
  const keyterms = q.getAll("keyterm").map((t) => t.trim()).filter(Boolean);
  const model = last("model") ?? null;
  if (model !== null && model.length > 128) return { ok: false, message: "invalid query parameter model: at most 128 characters" };
  const clientId = last("client_id") ?? null;
  if (clientId !== null && (clientId.length > 128 || !new RegExp(ClientId.pattern!).test(clientId))) {
    return { ok: false, message: "invalid query parameter client_id: 1 to 128 printable ASCII characters without spaces" };
  }
  const languageHints = q.getAll("language_hint");
  if (languageHints.some((l) => !/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(l))) {
    return { ok: false, message: 'invalid query parameter language_hint: a BCP-47 language tag such as "en" or "es"' };
  }
  return {
    ok: true,
    params: {
      model,
      encoding: enc,
      sampleRate: rate ?? DEFAULT_RATE[enc],
      eotThreshold,
      eagerEotThreshold: eager,
      eotTimeoutMs: timeout ?? DEFAULT_EOT_TIMEOUT_MS,
      keyterms,
      languageHints,
      clientId,
    },
  };
}

/** A number in [min, max]; null when absent; a message when not. */
export function numParam(v: string | number | undefined | null, key: string, [min, max]: readonly [number, number]): number | null | string {
  if (v === undefined || v === null) return null;
  const n = typeof v === "number" ? v : /^\s*[0-9]*\.?[0-9]+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < min || n > max) return `invalid ${key}=${JSON.stringify(String(v).slice(0, 32))}: expected a number from ${min} to ${max}`;
  return n;
}

function intParam(v: string | undefined, key: string, range: readonly [number, number]): number | null | string {
  const n = numParam(v, key, range);
  if (typeof n === "number" && !Number.isInteger(n)) return `invalid ${key}=${JSON.stringify(v)}: expected an integer from ${range[0]} to ${range[1]}`;
  return n;
}
