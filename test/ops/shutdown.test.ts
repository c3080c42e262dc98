/**
 * Graceful shutdown of the real CLI process: SIGTERM while a client is
 * mid-sentence. The open speech is flushed as a final utterance, transcribed
 * by the real engine and delivered to the subscribers before the process
 * exits with code 0, within shutdown_grace_seconds.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Socket } from "socket.io-client";
import { concat, silence, speak, normalizeText } from "../support/audio.ts";
import { client, collect, streamPcm } from "../support/harness.ts";
import type { ErrorPayload, TranscriptionPayload } from "../../src/transport/schemas.ts";
import { connectOrError, freePort } from "./support.ts";

const ROOT = resolve(import.meta.dir, "../..");
const dir = mkdtempSync(join(tmpdir(), "stt-shutdown-"));
const sockets: Socket[] = [];

afterAll(() => {
  for (const s of sockets) s.close();
  rmSync(dir, { recursive: true, force: true });
});

test(
  "SIGTERM mid-sentence: the subscriber gets that sentence's transcript before the process exits 0",
  async () => {
    const port = freePort();
    const grace = 10;
    const configPath = join(dir, "stt.json");
    writeFileSync(
      configPath,
      JSON.stringify({ host: "127.0.0.1", port, model_path: join(ROOT, "models/tiny.en"), shutdown_grace_seconds: grace }),
    );
    const proc = Bun.spawn(["bun", "run", "src/cli.ts", "--config", configPath], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const output = (async () => (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text()))();
    let exitedAt = 0;
    const exited = proc.exited.then((code) => {
      exitedAt = performance.now();
      return code;
    });
    const url = `http://127.0.0.1:${port}`;
    const t = Date.now();
    while (!(await fetch(`${url}/health`).then((r) => r.ok).catch(() => false))) {
      if (exitedAt > 0 || Date.now() - t > 60_000) {
        proc.kill("SIGKILL");
        throw new Error(`server did not become healthy:\n${await output}`);
      }
      await Bun.sleep(100);
    }

    const id = "speaker-cut-off";
    const ws = await client(url);
    const poll = await client(url, { transports: ["polling"] });
    const sender = await client(url);
    sockets.push(ws, poll, sender);
    for (const m of [ws, poll]) expect(await m.emitWithAck("subscribe_transcripts", { clientId: id })).toEqual({ ok: true, clientId: id });
    const received: { at: number; p: TranscriptionPayload }[][] = [[], []];
    ws.on("transcription", (p: TranscriptionPayload) => received[0]!.push({ at: performance.now(), p }));
    poll.on("transcription", (p: TranscriptionPayload) => received[1]!.push({ at: performance.now(), p }));
    const senderErrors = collect<ErrorPayload>(sender, "error");

    // A long sentence streamed in real time; SIGTERM lands in its middle.
    const speech = concat(silence(0.3), await speak("The quick brown fox jumps over the lazy dog while the operator restarts the server in the middle of this sentence"));
    const streaming = streamPcm(sender, speech, { clientId: id, realtime: true, chunkMs: 100 });
    await Bun.sleep(3300);
    const t0 = performance.now();
    proc.kill("SIGTERM");
    // New connections are refused while it drains.
    const late = await connectOrError(url).then(
      (s) => (s.close(), "connected"),
      (e: Error) => e.message,
    );
    const code = await exited;
    await streaming;
    const log = await output;

    expect(code).toBe(0);
    expect((exitedAt - t0) / 1000).toBeLessThan(grace);
    for (const got of received) {
      expect(got.length).toBeGreaterThanOrEqual(1);
      for (const g of got) expect(g.at).toBeLessThan(exitedAt);
      const text = normalizeText(got.map((g) => g.p.text).join(" "));
      expect(text).toContain("quick"); // the words spoken before SIGTERM
      expect(text).not.toContain("sentence"); // and it really was cut off mid-sentence
      expect(got.at(-1)!.p.final).toBe(true);
    }
    expect(received[0]!.map((g) => g.p.text)).toEqual(received[1]!.map((g) => g.p.text));
    expect(late === "connected").toBe(false);
    // Chunks sent after shutdown began were answered, not silently dropped.
    // (SIGTERM lands about 3 s into a 7 s sentence streamed in real time, and the
    // flush alone takes longer than one 100 ms chunk, so there always are some.)
    expect(senderErrors.length).toBeGreaterThan(0);
    expect(new Set(senderErrors.map((e) => e.code))).toEqual(new Set(["shutting_down"]));
    expect(log).toContain("SIGTERM");
    expect(log).toContain("shutdown complete");
  },
  90_000,
);

