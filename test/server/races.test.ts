/**
 * Interleavings around a slow authorize hook, driven deterministically: the
 * hook blocks until the test lets it go, so each race happens every run.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Socket } from "socket.io-client";
import { client, collect, startServer, type Harness } from "../support/harness.ts";
import type { CleanupConfirmedPayload, ErrorPayload } from "../../src/transport/schemas.ts";

let h: Harness | null = null;
afterEach(async () => {
  await h?.stop();
  h = null;
});

/** An authorize hook that holds the first "send" check for `clientId` until released. */
function heldHook(clientId: string) {
  let release!: () => void;
  let entered!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const asked = new Promise<void>((r) => (entered = r));
  let first = true;
  const authorize = async (_s: unknown, id: string, action: string) => {
    if (id === clientId && action === "send" && first) {
      first = false;
      entered();
      await gate;
    }
    return true;
  };
  return { authorize, asked, release };
}

const chunk = () => new Int16Array(1600).buffer;
const connections = async (url: string) => ((await (await fetch(`${url}/health`)).json()) as { connections: number }).connections;

describe("races with a slow authorize hook", () => {
  test("a socket that disconnects while its first chunk is being authorized leaves no claim behind", async () => {
    const hook = heldHook("race-1");
    h = await startServer({}, { authorize: hook.authorize as never });
    const a = await client(h.url);
    a.emit("audio_data", { clientId: "race-1", audioData: chunk() });
    await hook.asked;
    a.disconnect();
    for (let i = 0; (await connections(h.url)) !== 0; i++) {
      if (i > 250) throw new Error("the server never saw the disconnect");
      await Bun.sleep(20);
    }
    hook.release();
    // Another connection may now stream as race-1: the dead socket claimed nothing.
    const b: Socket = await client(h.url);
    const errors = collect<ErrorPayload>(b, "error");
    b.emit("audio_data", { clientId: "race-1", audioData: chunk() });
    const ack = await b.emitWithAck("stream_options", { clientId: "race-1" }); // a round trip after the chunk
    expect(ack).toMatchObject({ ok: true });
    expect(errors).toEqual([]);
    b.disconnect();
  });

  test("cleanup_client waits for the socket's audio still being handled: no orphan stream is left", async () => {
    const hook = heldHook("race-2");
    h = await startServer({}, { authorize: hook.authorize as never });
    const a = await client(h.url);
    a.emit("audio_data", { clientId: "race-2", audioData: chunk() });
    await hook.asked;
    const confirmed = new Promise<CleanupConfirmedPayload>((r) => a.once("cleanup_confirmed", r));
    a.emit("cleanup_client", { clientId: "race-2" });
    // A round trip behind the cleanup: the server has taken the cleanup up before the hook lets the chunk go.
    await a.emitWithAck("subscribe_transcripts", { clientId: "elsewhere" });
    hook.release();
    // The chunk became a stream first, and the cleanup ended it.
    expect((await confirmed).cleanedSessions).toEqual(["race-2"]);
    // The clientId is free: another connection streams it without client_id_in_use.
    const b = await client(h.url);
    const errors = collect<ErrorPayload>(b, "error");
    b.emit("audio_data", { clientId: "race-2", audioData: chunk() });
    expect(await b.emitWithAck("stream_options", { clientId: "race-2" })).toMatchObject({ ok: true });
    expect(errors).toEqual([]);
    a.disconnect();
    b.disconnect();
  });

  test("subscriptions and kept options per connection are capped", async () => {
    h = await startServer({ limits: { max_subscriptions_per_socket: 3 } as never });
    const s = await client(h.url);
    for (const id of ["s1", "s2", "s3"]) expect(await s.emitWithAck("subscribe_transcripts", { clientId: id })).toEqual({ ok: true, clientId: id });
    expect(await s.emitWithAck("subscribe_transcripts", { clientId: "s4" })).toEqual({ ok: false, code: "max_subscriptions" });
    // Re-subscribing to one it has is not a new one.
    expect(await s.emitWithAck("subscribe_transcripts", { clientId: "s2" })).toEqual({ ok: true, clientId: "s2" });
    for (const id of ["o1", "o2", "o3"]) expect(await s.emitWithAck("stream_options", { clientId: id, interim_results: true })).toMatchObject({ ok: true });
    expect(await s.emitWithAck("stream_options", { clientId: "o4", interim_results: true })).toEqual({ ok: false, code: "max_subscriptions" });
    s.disconnect();
  });
});
