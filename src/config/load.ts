import { Value } from "@sinclair/typebox/value";
import { turnSettingsError } from "../turns/settings.ts";
import { ConfigSchema, type Config } from "./schema.ts";

export const DEFAULT_CONFIG_PATH = "data/configuration/stt.server.settings.json";

/**
 * Every environment variable the server, its tools and the native binding
 * read. Nothing else is taken from the environment: settings belong in the
 * config file. (test/config checks the code reads no variable missing here.)
 */
export const ENVIRONMENT: Readonly<Record<string, string>> = {
  STT_CONFIG: "Path of the config file when --config is not given (default data/configuration/stt.server.settings.json).",
  STT_WHISPER_LIB: "Path of the native library libsttwhisper.so (default native/build/libsttwhisper.so beside the checkout).",
  MALLOC_MMAP_THRESHOLD_: "glibc's own setting; when set, the server leaves its mmap-threshold tuning of the native heap to it.",
  MALLOC_ARENA_MAX: "glibc's own setting; when set, the server leaves its arena-count tuning of the native heap to it.",
  MALLOC_MMAP_MAX_: "glibc's own setting; when set, the server leaves its cap on mmap'd blocks of the native heap to it.",
  MALLOC_TRIM_THRESHOLD_: "glibc's own setting; when set, the server leaves its trim-threshold tuning of the native heap to it.",
  STT_URL: "bun run stream (src/tools/stream.ts): the server to stream to, when --url is not given.",
  STT_TOKEN: "bun run stream (src/tools/stream.ts): the bearer token, when --token is not given.",
};

export class ConfigError extends Error {
  override name = "ConfigError";
}

export interface ResolvedConfig {
  config: Config;
  /** Human-readable notes for the start-up log (missing file, unknown keys). */
  notes: string[];
}

/** Validates a partial config object and fills in defaults. Throws ConfigError naming the key. */
export function resolveConfig(input: unknown): ResolvedConfig {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new ConfigError("configuration must be a JSON object");
  }
  const notes: string[] = [];
  const known = new Set(Object.keys(ConfigSchema.properties));
  for (const key of Object.keys(input)) {
    if (!known.has(key)) notes.push(`unknown configuration key "${key}" ignored`);
  }
  const withDefaults = Value.Default(ConfigSchema, structuredClone(input));
  const first = Value.Errors(ConfigSchema, withDefaults).First();
  if (first) {
    const key = first.path.replace(/^\//, "").replaceAll("/", ".") || "(root)";
    throw new ConfigError(`configuration key "${key}": ${first.message} (got ${JSON.stringify(first.value)})`);
  }
  const config = withDefaults as Config;
  const turn = turnSettingsError(config.turn);
  if (turn) throw new ConfigError(`configuration key "turn": ${turn}`);
  for (const key of Object.keys(config)) if (!known.has(key)) delete (config as Record<string, unknown>)[key];
  return { config, notes };
}

/**
 * Reads the config file: the path comes from --config, then STT_CONFIG, then
 * the default location. A missing default file means defaults; a missing file
 * that was asked for explicitly is an error.
 */
export async function loadConfig(argv: string[] = process.argv.slice(2), env = process.env): Promise<ResolvedConfig> {
  const flag = argv.findIndex((a) => a === "--config" || a.startsWith("--config="));
  let path: string | undefined;
  if (flag >= 0) {
    const arg = argv[flag]!;
    path = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[flag + 1];
    if (!path) throw new ConfigError("--config needs a file path");
  }
  const explicit = path ?? env.STT_CONFIG;
  const file = Bun.file(explicit ?? DEFAULT_CONFIG_PATH);
  if (!(await file.exists())) {
    if (explicit) throw new ConfigError(`configuration file not found: ${explicit}`);
    const resolved = resolveConfig({});
    resolved.notes.unshift(`no configuration file at ${DEFAULT_CONFIG_PATH}: using defaults`);
    return resolved;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await file.text());
  } catch (err) {
    throw new ConfigError(`configuration file ${file.name} is not valid JSON: ${(err as Error).message}`);
  }
  return resolveConfig(parsed);
}
