/**
 * Who may stream on /v1/listen, decided at the handshake: scoped tokens'
 * clientIds, a clientId in use, admission control. And the clientId a
 * Deepgram stream gets is one Socket.IO monitors can subscribe to.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Socket } from "socket.io-client";
import { SHARED_AUDIO, concat, decodeToPcm16, normalizeText, silence } from "../support/audio.ts";
import { client, collect, startServer, waitFor, type Harness } from "../support/harness.ts";
import type { TranscriptionPayload } from "../../src/transport/schemas.ts";
import { finalsOf, sdkStream, sendRealtime, textOf, upgradeRequest } from "./support.ts";

setDefaultTimeout(180_000);

const SCOPED = "scoped-dg-key-0001";
const MONITOR = "monitor-key-00001";
const DEVICE = "one-device-key-room7";
let first: Int16Array;

beforeAll(async () => {
  // "And so my fellow Americans", then silence.
  first = concat((await decodeToPcm16(`${SHARED_AUDIO}/jfk.flac`)).subarray(0, Math.round(3.3 * 16000)), silence(1.2));
});

describe("scoped tokens and clientIds", () => {
  let h: Harness;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    h = await startServer({
      auth: { tokens: [{ token: SCOPED, clientIds: ["dg-*", "room-*"], can: ["send"] }, { token: DEVICE, clientIds: ["room-7"], can: ["send"] }, MONITOR] } as never,
    });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await h?.stop();
  });

  test("a scoped key streams as dg-<request id> or a client_id its globs allow; others are 403; a clientId in use is 409", async () => {
    const auth = { Authorization: `Token ${SCOPED}` };
    const own = await upgradeRequest(h.url, "/v1/listen?encoding=linear16", auth);
    expect(own.status).toBe(101);
    expect(own.headers["dg-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    const other = await upgradeRequest(h.url, "/v1/listen?encoding=linear16&client_id=other-1", auth);
    expect(other.status).toBe(403);
    expect(JSON.parse(other.body)).toMatchObject({ err_code: "forbidden", err_msg: 'this key may not stream as clientId "other-1"' });

    const s = await sdkStream(h.url, { client_id: "room-7", punctuate: "true" }, DEVICE);
    // Another principal (a plain key is shared, so it names nobody) cannot take it,
    // nor can a fleet key whose globs merely allow it (a sibling device's key).
    for (const key of [MONITOR, SCOPED]) {
      const taken = await upgradeRequest(h.url, "/v1/listen?encoding=linear16&client_id=room-7", { Authorization: `Token ${key}` });
      expect(taken.status).toBe(409);
      expect(JSON.parse(taken.body).err_code).toBe("client_id_in_use");
    }
    // The same per-device key on a new connection (an SDK re-dialling) takes the stream over:
    // the old connection is told so and closed with 1000, so it does not re-dial in turn.
    const again = await sdkStream(h.url, { client_id: "room-7", punctuate: "true" }, DEVICE);
    expect(await s.closed).toEqual({ code: 1000, reason: "stream taken over by another connection" });
    expect(s.messages.filter((m) => m.type === "Error").map((m) => (m as { code: string }).code)).toEqual(["stream_taken_over"]);
    again.socket.sendCloseStream({ type: "CloseStream" });
    expect((await again.closed).code).toBe(1000);
  });

  test("a Socket.IO monitor subscribed to the Deepgram stream's clientId gets the same transcript", async () => {
    const monitor = await client(h.url, { auth: { token: MONITOR } });
    sockets.push(monitor);
    expect(await monitor.emitWithAck("subscribe_transcripts", { clientId: "room-8" })).toMatchObject({ ok: true });
    const seen = collect<TranscriptionPayload>(monitor, "transcription");
    const s = await sdkStream(h.url, { client_id: "room-8", punctuate: "true" }, SCOPED);
    await sendRealtime((b) => s.socket.sendMedia(b), first);
    s.socket.sendCloseStream({ type: "CloseStream" });
    expect((await s.closed).code).toBe(1000);
    await waitFor(() => seen.length > 0, 30_000, "the monitor's transcript");
    expect(normalizeText(seen.map((t) => t.text).join(" "))).toBe("and so my fellow americans");
    expect(normalizeText(textOf(finalsOf(s.messages)))).toBe("and so my fellow americans");
    expect(seen.every((t) => t.client_id === "room-8")).toBe(true);
  });
});

describe("admission", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startServer({ capacity: { admission: true, max_streams: 1 } as never });
  });
  afterAll(async () => {
    await h?.stop();
  });

  test("a stream over capacity is refused at the handshake: 503, Retry-After, server_busy; once the first ends, the next is admitted", async () => {
    const s = await sdkStream(h.url, {});
    const busy = await upgradeRequest(h.url, "/v1/listen?encoding=linear16");
    expect(busy.status).toBe(503);
    expect(Number(busy.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    const body = JSON.parse(busy.body);
    expect(body.err_code).toBe("server_busy");
    expect(body.err_msg).toContain("capacity.max_streams (1)");
    s.socket.sendCloseStream({ type: "CloseStream" });
    expect((await s.closed).code).toBe(1000);
    // Capacity snapshots are cached for 200 ms: the freed slot shows within a few tries.
    let status = 0;
    for (let i = 0; i < 20 && status !== 101; i++) {
      status = (await upgradeRequest(h.url, "/v1/listen?encoding=linear16")).status;
      if (status !== 101) await Bun.sleep(50);
    }
    expect(status).toBe(101);
  });
});
