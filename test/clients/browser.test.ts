import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { JFK_TEXT, normalizeText, wordErrorRate } from "../support/audio.ts";
import { ARTIFACTS, fakeMicWav, launchWithFakeMic, transcriptRows as rows, type Row } from "../support/chromium.ts";
import { startServer, type Harness } from "../support/harness.ts";

/**
 * The page at / in Debian's Chromium (no browser download), its microphone
 * faked with a WAV of jfk.flac: one page streams, a second one monitors the
 * same client id. Real engine (tiny.en on CPU).
 */

const ID = "browser-jfk";

let h: Harness;
let browser: Browser;

const joined = (r: Row[]) => r.map((x) => x.text).join(" ");

beforeAll(async () => {
  // 8 s of trailing silence so the last utterance closes (5 s, below) before Chromium loops the file.
  const wav = fakeMicWav(8);
  [h, browser] = await Promise.all([
    // A 5 s silence window keeps JFK's sentence one utterance. Its pauses are
    // 0.8–1.2 s, and up to 2 s after Chromium's echo canceller gates the quiet
    // between words (a CI run with a 2 s window was cut after "Americans"); cut
    // there, the short "Ask not" at the start of a part is at the mercy of
    // tiny.en: some runs drop it or hear "If". This test is about the page's
    // capture → worklet → socket path, not that model edge.
    // Interims are shed while predicted final latency exceeds capacity.max_latency;
    // with Chromium on the same slow shared cores one float32 engine call can take
    // seconds, and the page is tested here, not shedding (test/capacity is).
    startServer({ silence_duration: 5, capacity: { admission: false, max_latency: 60 } as never }),
    launchWithFakeMic(wav),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await h?.stop();
});

test("static files: page, worklet, socket.io bundle", async () => {
  for (const [path, type] of [
    ["/", "text/html"],
    ["/app.js", "text/javascript"],
    ["/pcm-worklet.js", "text/javascript"],
    ["/resampler.js", "text/javascript"],
    ["/style.css", "text/css"],
    ["/socket.io.esm.min.js", "text/javascript"],
    ["/socket.io.min.js", "text/javascript"],
  ] as const) {
    const r = await fetch(h.url + path);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toStartWith(type);
  }
  for (const path of ["/../package.json", "/resampler.d.ts", "/%2e%2e/package.json", "/nope.js"]) {
    expect((await fetch(h.url + path)).status).toBe(404);
  }
});

test("microphone page shows the JFK sentence; a monitor page shows it too, exactly once", async () => {
  const errors: string[] = [];
  const monitor = await browser.newPage();
  const mic = await browser.newPage({ viewport: { width: 900, height: 720 } });
  for (const p of [monitor, mic]) p.on("pageerror", (e) => errors.push(String(e)));

  await monitor.goto(`${h.url}/?monitor=${ID}`);
  await monitor.getByText(`Monitoring ${ID}`).waitFor({ timeout: 10_000 });

  // Chromium's noise suppressor (the page's default) takes this 1961
  // recording's tape hiss for noise and, in most runs, "Ask" and the "s" of
  // "Americans" with it, so tiny.en cannot be held to an exact transcript;
  // the exact run streams unsuppressed audio (the page's checkbox), and the
  // defaults are checked on their own below.
  await mic.goto(`${h.url}/?clientId=${ID}&noiseSuppression=0`);
  await mic.getByRole("button", { name: "Start" }).click();
  await mic.getByText(`Streaming as ${ID}`).waitFor({ timeout: 10_000 });

  // The whole sentence: 11 s of speech played in real time, then the last transcript.
  const t0 = Date.now();
  let micRows: Row[] = [];
  // The meter while the sentence plays; the page starts it at 0 and the clip ends in 8 s of digital silence.
  const levels: number[] = [];
  while (Date.now() - t0 < 45_000) {
    micRows = await rows(mic);
    levels.push(Number(await mic.locator("#level").getAttribute("value")));
    if (normalizeText(joined(micRows)).endsWith("do for your country")) break;
    await Bun.sleep(200);
  }
  // The last transcript closes 5 s into the silent tail (silence_duration): the meter has fallen back.
  const silentLevel = Number(await mic.locator("#level").getAttribute("value"));
  await mic.screenshot({ path: `${ARTIFACTS}/browser.png`, fullPage: true });
  await mic.getByRole("button", { name: "Stop" }).click();
  if (wordErrorRate(JFK_TEXT, joined(micRows)) !== 0) {
    await mic.screenshot({ path: `${ARTIFACTS}/browser-failed.png`, fullPage: true });
    console.error("mic page:", JSON.stringify(micRows), await mic.locator("#alert").textContent(), errors, h.logs.slice(-20));
  }
  expect(wordErrorRate(JFK_TEXT, joined(micRows))).toBe(0);
  expect(micRows.every((r) => r.clientId === ID)).toBe(true);

  // The monitor got the same transcripts, each once.
  await Bun.sleep(1500); // a duplicate would have arrived by now
  const monRows = await rows(monitor);
  expect(wordErrorRate(JFK_TEXT, joined(monRows))).toBe(0);
  expect(monRows.map((r) => r.seq)).toEqual(micRows.map((r) => r.seq));
  expect(new Set(monRows.map((r) => r.seq)).size).toBe(monRows.length);
  expect(monRows.map((r) => r.text)).toEqual(micRows.map((r) => r.text));

  // The meter rose with the speech above anything the silence reached.
  const loudest = Math.max(...levels);
  console.log(`input level: loudest ${loudest.toFixed(3)} while speaking, ${silentLevel.toFixed(3)} in the silence after`);
  expect(loudest).toBeGreaterThan(0.1);
  expect(loudest).toBeGreaterThan(silentLevel + 0.1);
  // After Stop the page ends the session and lets go of the connection.
  await mic.getByText("Not connected").waitFor({ timeout: 15_000 });
  expect(errors).toEqual([]);
}, 90_000);

test("default microphone constraints: echo cancellation and noise suppression on, AGC off", async () => {
  const page = await browser.newPage();
  // Record what the page asks getUserMedia for.
  await page.addInitScript(() => {
    const md = navigator.mediaDevices;
    const real = md.getUserMedia.bind(md);
    md.getUserMedia = (c?: MediaStreamConstraints) => {
      (window as unknown as { gum: unknown }).gum = c;
      return real(c);
    };
  });
  await page.goto(`${h.url}/?clientId=browser-defaults`);
  await page.getByRole("button", { name: "Start" }).click();
  await page.getByText("Streaming as browser-defaults").waitFor({ timeout: 10_000 });
  const asked = await page.evaluate(() => (window as unknown as { gum: { audio: Record<string, unknown> } }).gum.audio);
  expect(asked).toMatchObject({ echoCancellation: true, noiseSuppression: true, autoGainControl: false });
  // Audio flows: the level meter moves within a few seconds of speech.
  await page.waitForFunction(() => Number((document.getElementById("level") as HTMLMeterElement).value) > 0.3, null, { timeout: 10_000 });
  await page.keyboard.press("Escape"); // keyboard: Escape stops
  await page.getByText("Not connected").waitFor({ timeout: 15_000 });
  await page.close();
}, 40_000);

interface SeenInterim {
  seq: number;
  stable: string;
  text: string;
}

/** Records every state of every interim row, so a test sees them however briefly they lived. */
function recordInterims(): void {
  const seen: SeenInterim[] = [];
  (window as unknown as { interimsSeen: SeenInterim[] }).interimsSeen = seen;
  new MutationObserver(() => {
    for (const li of document.querySelectorAll<HTMLElement>("#transcripts li.interim")) {
      const rec = { seq: Number(li.dataset.seq), stable: li.querySelector(".stable")?.textContent ?? "", text: li.querySelector(".text")?.textContent ?? "" };
      const last = seen.at(-1);
      if (!last || last.seq !== rec.seq || last.text !== rec.text || last.stable !== rec.stable) seen.push(rec);
    }
  }).observe(document, { subtree: true, childList: true, characterData: true });
}

const interimsSeen = (page: Page) => page.evaluate(() => (window as unknown as { interimsSeen: SeenInterim[] }).interimsSeen);

/** The interim rows on the page now: seq, stable part, whole text, and whether the unstable part is styled apart. */
const interimRowsNow = (page: Page) =>
  page.$$eval("#transcripts li.interim", (lis) =>
    lis.map((li) => {
      const unstable = li.querySelector(".unstable");
      return {
        seq: Number((li as HTMLElement).dataset.seq),
        stable: li.querySelector(".stable")?.textContent ?? "",
        text: li.querySelector(".text")?.textContent ?? "",
        italic: unstable ? getComputedStyle(unstable).fontStyle === "italic" : false,
      };
    }),
  );

test("interim results (?interim=1&words=1): a greyed live row while speaking, replaced by the final of its seq; a monitor shows interims too; screenshot", async () => {
  const id = "browser-live";
  const errors: string[] = [];
  const monitor = await browser.newPage();
  const mic = await browser.newPage({ viewport: { width: 900, height: 720 } });
  for (const p of [monitor, mic]) {
    p.on("pageerror", (e) => errors.push(String(e)));
    await p.addInitScript(recordInterims);
  }
  // Monitor mode asks for interims by default.
  await monitor.goto(`${h.url}/?monitor=${id}`);
  await monitor.getByText(`Monitoring ${id}`).waitFor({ timeout: 10_000 });
  expect(await monitor.locator("#interim-results").isChecked()).toBe(true);

  await mic.goto(`${h.url}/?clientId=${id}&noiseSuppression=0&interim=1&words=1`);
  expect(await mic.locator("#interim-results").isChecked()).toBe(true);
  expect(await mic.locator("#word-timestamps").isChecked()).toBe(true);
  await mic.getByRole("button", { name: "Start" }).click();
  await mic.getByText(`Streaming as ${id}`).waitFor({ timeout: 10_000 });

  // The screenshot must show an interim row: the row is checked before and
  // after the shot, so it was there during it (a final may replace it between
  // tries, then the next interim is taken).
  const shot = `${ARTIFACTS}/browser-interim.png`;
  let atShot: Awaited<ReturnType<typeof interimRowsNow>>[number] | undefined;
  for (let attempt = 0; attempt < 5 && !atShot; attempt++) {
    await mic.waitForFunction(() => [...document.querySelectorAll("#transcripts li.interim .text")].some((t) => t.textContent!.trim().length > 0), null, {
      timeout: 45_000,
    });
    const before = await interimRowsNow(mic);
    await mic.screenshot({ path: shot, fullPage: true });
    const after = await interimRowsNow(mic);
    atShot = before.find((b) => b.text.trim() && after.some((a) => a.seq === b.seq));
  }
  expect(atShot).toBeDefined();
  const seq = atShot!.seq;
  // The words that may still change are set apart (italic) from the committed prefix.
  expect(atShot!.italic).toBe(true);
  // No final of that seq is on the page while its interim row is.
  expect((await rows(mic)).some((r) => r.seq === seq)).toBe(false);

  const png = new Uint8Array(await Bun.file(shot).arrayBuffer());
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(png.length).toBeGreaterThan(20_000);
  const ihdr = new DataView(png.buffer, 16, 8);
  expect(ihdr.getUint32(0)).toBe(900);
  expect(ihdr.getUint32(4)).toBeGreaterThanOrEqual(720);

  // Then the final of that seq takes the row's place.
  await mic.locator(`#transcripts li:not(.interim)[data-seq="${seq}"]`).waitFor({ timeout: 45_000 });
  expect(await mic.locator(`#transcripts li[data-seq="${seq}"]`).count()).toBe(1);
  const final = (await rows(mic)).find((r) => r.seq === seq)!;
  const mine = (await interimsSeen(mic)).filter((i) => i.seq === seq);
  expect(mine.length).toBeGreaterThanOrEqual(1);
  // The committed prefix is never taken back: the final starts with the last one shown.
  expect(final.text.startsWith(mine.at(-1)!.stable)).toBe(true);
  // Word timings: one span per word, its stream time in the title, in order.
  const titles = await mic.$$eval(`#transcripts li[data-seq="${seq}"] .word`, (ws) => ws.map((w) => (w as HTMLElement).title));
  expect(titles.length).toBeGreaterThanOrEqual(3);
  const starts = titles.map((t) => Number(/^(\d+\.\d\d)–\d+\.\d\d s, p \d\.\d\d$/.exec(t)?.[1]));
  expect(starts.every((x) => Number.isFinite(x))).toBe(true);
  expect(starts).toEqual([...starts].sort((a, b) => a - b));

  // The monitor asked for interims: it showed some for the same seq, then the same final.
  await monitor.locator(`#transcripts li:not(.interim)[data-seq="${seq}"]`).waitFor({ timeout: 15_000 });
  expect((await interimsSeen(monitor)).some((i) => i.seq === seq && i.text.trim().length > 0)).toBe(true);
  expect((await rows(monitor)).find((r) => r.seq === seq)!.text).toBe(final.text);

  await mic.getByRole("button", { name: "Stop" }).click();
  await mic.getByText("Not connected").waitFor({ timeout: 15_000 });
  // No interim row outlives the stream.
  expect(await mic.locator("#transcripts li.interim").count()).toBe(0);
  expect(errors).toEqual([]);
  await Promise.all([mic.close(), monitor.close()]);
}, 150_000);
