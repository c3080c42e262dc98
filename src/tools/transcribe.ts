/**
 * bun run transcribe <file> [--format text|json|srt|vtt] [--model models/tiny.en] [--language en] [--word-timestamps]
 *
 * Transcribes an audio file in-process (no server): decode (WAV in TS, other
 * formats through ffmpeg) → Silero VAD + segmenter → Whisper, exactly as the
 * live server cuts and transcribes a stream. Transcript on stdout, progress on
 * stderr.
 */
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, resolveConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { createWhisperEngine } from "../engine/whisper.ts";
import { engineConfigFrom } from "../server.ts";
import { SileroVad } from "../vad/silero.ts";
import { AudioDecodeError, decodeAudioFile } from "../offline/decode.ts";
import { toSrt, toTimedText, toVerboseJson, toVtt } from "../offline/format.ts";
import { transcribeSamples } from "../offline/transcribe.ts";

const FORMATS = ["text", "json", "srt", "vtt"] as const;
type Format = (typeof FORMATS)[number];

const USAGE = `usage: bun run transcribe <file> [options]

  --format text|json|srt|vtt   output (default text: one line per utterance with times)
  --model <path|name>          CTranslate2 Whisper model folder, or a name under models/ (default: config's model_path)
  --language <code>            ISO 639-1 language (multilingual models; default: detect)
  --compute-type <type>        CTranslate2 compute type (default: int8 on CPU, float16 on CUDA)
  --word-timestamps            word timings: "words" in json, captions cut at words in srt/vtt
  --config <path>              server configuration file to take VAD/engine settings from
  --quiet                      no progress on stderr
`;

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        format: { type: "string", short: "f", default: "text" },
        model: { type: "string", short: "m" },
        language: { type: "string", short: "l" },
        "compute-type": { type: "string" },
        "word-timestamps": { type: "boolean", default: false },
        config: { type: "string", short: "c" },
        quiet: { type: "boolean", short: "q", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(USAGE);
    return 2;
  }
  const format = values.format as Format;
  if (!FORMATS.includes(format)) {
    process.stderr.write(`unknown --format "${values.format}" (one of ${FORMATS.join(", ")})\n`);
    return 2;
  }
  const file = positionals[0]!;
  const quiet = values.quiet;

  let config: Config;
  try {
    // The server's configuration (file, STT_CONFIG) unless --config names another.
    const base = (await loadConfig(values.config ? ["--config", values.config] : [])).config;
    const overrides: Partial<Config> = { enable_logging: false };
    if (values.model) overrides.model_path = resolveModel(values.model);
    if (values.language) overrides.language = values.language;
    if (values["compute-type"]) overrides.compute_type = values["compute-type"];
    config = resolveConfig({ ...base, ...overrides }).config;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }

  const t0 = performance.now();
  let audio: Float32Array;
  try {
    audio = await decodeAudioFile(file);
  } catch (err) {
    if (err instanceof AudioDecodeError) {
      process.stderr.write(`${file}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const total = audio.length / config.sample_rate;
  const [vad, engine] = await Promise.all([SileroVad.load(), createWhisperEngine(engineConfigFrom(config))]);
  const progress = makeProgress(quiet, total);
  try {
    const result = await transcribeSamples(audio, { config, vad, engine }, {
      onProgress: progress.update,
      wordTimestamps: values["word-timestamps"],
      // Text goes out as it comes, so a long file shows results early.
      onSegment: format === "text" ? (s) => process.stdout.write(toTimedText([s])) : undefined,
    });
    progress.done();
    if (format === "json") process.stdout.write(JSON.stringify({ file, model: config.model_path, ...toVerboseJson(result, { words: values["word-timestamps"] }) }, null, 2) + "\n");
    else if (format === "srt") process.stdout.write(toSrt(result.segments));
    else if (format === "vtt") process.stdout.write(toVtt(result.segments));
    if (!quiet) {
      const secs = (performance.now() - t0) / 1000;
      process.stderr.write(
        `${result.segments.length} utterance(s), ${total.toFixed(1)} s of audio in ${secs.toFixed(1)} s (${(total / secs).toFixed(1)}x real time)\n`,
      );
    }
    return 0;
  } finally {
    await engine.close();
    await vad.close();
  }
}

/** `tiny.en` → models/tiny.en when that folder exists; anything else is a path. */
function resolveModel(m: string): string {
  if (!m.includes("/") && existsSync(`models/${m}`)) return `models/${m}`;
  return m;
}

function makeProgress(quiet: boolean, total: number) {
  let last = 0;
  const tty = process.stderr.isTTY;
  let shown = false;
  return {
    update(p: { scannedSeconds: number; segmentsDone: number; segmentsFound: number }) {
      // Only worth showing for long runs; at most twice a second (a line per 10 % when not a terminal).
      if (quiet || total < 30) return;
      const now = performance.now();
      if (now - last < (tty ? 500 : 5000)) return;
      last = now;
      shown = true;
      const line = `scanned ${fmt(p.scannedSeconds)} / ${fmt(total)} (${Math.round((100 * p.scannedSeconds) / total)}%), transcribed ${p.segmentsDone}/${p.segmentsFound} utterances`;
      process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
    },
    done() {
      if (shown && tty) process.stderr.write("\n");
    },
  };
}

function fmt(s: number): string {
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
}

process.exit(await main(process.argv.slice(2)));
