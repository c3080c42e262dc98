/**
 * Debian's Chromium (no browser download) with its microphone faked by a WAV
 * of jfk.flac, for the page tests.
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { SHARED_AUDIO } from "./audio.ts";

// Normalized: Chromium plays silence for a fake-capture path with ".." in it.
export const ARTIFACTS = resolve(import.meta.dir, "../artifacts");
const CHROMIUM = "/usr/bin/chromium";

/**
 * jfk.flac at 48 kHz mono (the page's worklet resamples) with `padSeconds` of
 * trailing silence, so the last utterance closes before Chromium loops the file.
 */
export function fakeMicWav(padSeconds: number): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  const wav = `${ARTIFACTS}/jfk-fake-mic-${padSeconds}s.wav`;
  const ff = Bun.spawnSync(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", `${SHARED_AUDIO}/jfk.flac`, "-af", `apad=pad_dur=${padSeconds}`, "-ar", "48000", "-ac", "1", "-c:a", "pcm_s16le", wav]);
  if (ff.exitCode !== 0) throw new Error(`ffmpeg: ${ff.stderr.toString()}`);
  return wav;
}

export async function launchWithFakeMic(wav: string): Promise<Browser> {
  if (!(await Bun.file(CHROMIUM).exists())) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (scripts/test-setup.sh does)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-audio-capture=${wav}`,
      "--autoplay-policy=no-user-gesture-required",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

export interface Row {
  seq: number;
  clientId: string;
  text: string;
}

/** Final transcript rows of the page (interim rows are the open utterance, not a transcript yet). */
export async function transcriptRows(page: Page): Promise<Row[]> {
  return page.$$eval("#transcripts li:not(.interim)", (lis) =>
    lis.map((li) => ({
      seq: Number((li as HTMLElement).dataset.seq),
      clientId: (li as HTMLElement).dataset.clientId ?? "",
      text: li.querySelector(".text")?.textContent ?? "",
    })),
  );
}
