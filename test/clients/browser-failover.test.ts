/**
 * The page's failover: the microphone page streams JFK (Chromium's fake mic)
 * through Debian HAProxy to one of two real server processes joined by a real
 * redis-server; the node serving it is killed (SIGKILL) mid-sentence. The page
 * reconnects through the balancer to the other node, resumes its clientId and
 * replays the audio the server had not acknowledged (public/replay.js), so the
 * sentence comes out whole, once, with seq from 0 without a gap.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { FailoverCluster } from "../../bench/lib/failover.ts";
import { JFK_TEXT, normalizeText, wordErrorRate } from "../support/audio.ts";
import { quiesce } from "../support/quiesce.ts";
import { ARTIFACTS, fakeMicWav, launchWithFakeMic, transcriptRows, type Row } from "../support/chromium.ts";

const ID = "browser-failover";
// A 5 s silence window keeps JFK's sentence one utterance through Chromium's
// audio processing (test/clients/browser.test.ts says why), so the kill lands
// inside an utterance no final has acknowledged yet: only the replay can save it.
const cluster = new FailoverCluster({ silence_duration: 5 });
let browser: Browser;

beforeAll(async () => {
  [browser] = await Promise.all([launchWithFakeMic(fakeMicWav(12)), cluster.start()]);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await cluster.close();
});

const joined = (r: Row[]) => r.map((x) => x.text).join(" ");

test("SIGKILL of the serving node mid-sentence: the page replays what was not acknowledged, and the sentence comes out whole, once", async () => {
  const errors: string[] = [];
  const page = await browser.newPage();
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${cluster.url}/?clientId=${ID}&noiseSuppression=0`);
  await page.getByRole("button", { name: "Start" }).click();
  await page.getByText(`Streaming as ${ID}`).waitFor({ timeout: 10_000 });
  const started = Date.now();

  // "…ask not what your country" is being said about 5 s in.
  await Bun.sleep(5000);
  const node = await cluster.serving();
  expect(await transcriptRows(page)).toEqual([]); // nothing final yet: the sentence is still open
  await node.stop("SIGKILL");
  const killedAt = Date.now();
  // "Streaming as" since Start; "Connected as" only comes with the reconnect.
  await page.getByText(`Connected as ${ID}`).waitFor({ timeout: 20_000 });
  console.log(`killed node ${node.name} ${((killedAt - started) / 1000).toFixed(1)} s into the stream; page reconnected after ${Date.now() - killedAt} ms`);

  let got: Row[] = [];
  for (const t0 = Date.now(); Date.now() - t0 < 60_000; await Bun.sleep(200)) {
    got = await transcriptRows(page);
    if (normalizeText(joined(got)).endsWith("do for your country")) break;
  }
  // Nothing can still be on its way: the surviving node has answered every utterance it cut.
  await quiesce(cluster.nodes.filter((n) => n.proc).map((n) => n.url), []);
  got = await transcriptRows(page);
  await page.screenshot({ path: `${ARTIFACTS}/browser-failover.png`, fullPage: true });
  console.log("page:", JSON.stringify(got));
  const text = normalizeText(joined(got));
  // The words before the kill reached the surviving node only through the replay.
  expect(text).toStartWith("and so my fellow americans");
  expect(wordErrorRate(JFK_TEXT, text)).toBeLessThanOrEqual(0.05);
  // Nothing transcribed twice, seq from 0 without a gap, all for this clientId.
  expect(text.split("and so my fellow").length).toBe(2);
  expect(got.map((r) => r.seq)).toEqual(got.map((_, i) => i));
  expect(got.every((r) => r.clientId === ID)).toBe(true);
  expect(errors).toEqual([]);
  await page.getByRole("button", { name: "Stop" }).click();
  await page.close();
}, 180_000);
