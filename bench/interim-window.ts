/**
 * Interim encoder window: the same prefixes of jfk.flac decoded on Whisper's
 * full 30 s window and on the trimmed one (the audio + 3 s of silence,
 * STT_FLAG_SHORT_WINDOW), through the shim directly, tiny.en int8, 2 threads.
 * Prints time and text side by side (docs/engine.md).
 *
 *   bun run bench:interim-window [--compute-type int8] [--repeat 3]
 */
import path from "node:path";
import * as native from "../ffi/sttwhisper.ts";
import { SHARED_AUDIO, decodeToPcm16, toFloat } from "../test/support/audio.ts";
import { arg } from "./lib/args.ts";

const REPEAT = Number(arg("repeat", "3"));
const model = native.load({
  modelDir: path.resolve(import.meta.dir, "../models/tiny.en"),
  device: "cpu",
  computeType: arg("compute-type", "int8"),
  deviceIndex: 0,
  intraThreads: 2,
  interThreads: 1,
});
const jfk = toFloat(await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`));
native.transcribe(model, [jfk]); // warm-up

console.log("| audio | full 30 s window | trimmed (audio + 3 s) |\n|---|---|---|");
for (const seconds of [1.5, 3, 5, 7, 9, 11]) {
  const audio = jfk.subarray(0, Math.round(seconds * 16000));
  const cells: string[] = [];
  for (const shortWindow of [false, true]) {
    const ms: number[] = [];
    let text = "";
    for (let k = 0; k < REPEAT; k++) {
      const t0 = performance.now();
      // The engine's interim token budget: 6 per second of audio + 8.
      text = native.transcribe(model, [audio], { shortWindow, maxNewTokens: Math.ceil(seconds * 6) + 8 }).results[0]!.text;
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    cells.push(`${Math.round(ms[Math.floor(ms.length / 2)]!)} ms "${text}"`);
  }
  console.log(`| ${seconds} s | ${cells.join(" | ")} |`);
}
native.release(model);
