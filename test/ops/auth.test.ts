import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket } from "socket.io-client";
import { startServer, collect, type Harness } from "../support/harness.ts";
import type { ErrorPayload } from "../../src/transport/schemas.ts";
import { TokenAuth, bearerToken, handshakeToken } from "../../src/auth/tokens.ts";
import { originAllowed } from "../../src/server.ts";
import { connectOrError, metric, scrape } from "./support.ts";
import { roundTrip } from "../support/quiesce.ts";

const TOKEN = "s3cret-token-for-tests";
const OTHER = "another-valid-token";
let h: Harness;
const sockets: Socket[] = [];

beforeAll(async () => {
  // Real engine. The authorize hook: a socket authenticated with OTHER may only
  // touch clientIds that start with "other-".
  h = await startServer(
    { auth: { tokens: [TOKEN, OTHER] } },
    { authorize: (socket, clientId) => socket.data.token !== OTHER || clientId.startsWith("other-") },
  );
});

afterAll(async () => {
  for (const s of sockets) s.close();
  await h.stop();
});

async function ok(opts: Parameters<typeof connectOrError>[1]): Promise<Socket> {
  const s = await connectOrError(h.url, opts);
  sockets.push(s);
  return s;
}

describe("token auth (socket.io handshake)", () => {
  test("no token: connect_error with a clear reason", async () => {
    const err = await connectOrError(h.url).then(
      () => null,
      (e: Error & { data?: { code: string } }) => e,
    );
    expect(err).not.toBeNull();
    expect(err!.message).toStartWith("unauthorized");
    expect(err!.message).toContain("token");
    expect(err!.data?.code).toBe("missing_token");
  });

  test("wrong token: refused, over websocket and polling", async () => {
    for (const transports of [["websocket"], ["polling"]] as const) {
      const err = await connectOrError(h.url, { auth: { token: "wrong-token-123" }, transports: [...transports] }).then(
        () => null,
        (e: Error & { data?: { code: string } }) => e,
      );
      expect(err?.message).toBe("unauthorized: the token was not accepted");
      expect(err?.data?.code).toBe("invalid_token");
    }
  });

  test("right token in auth, and in ?token= for old clients", async () => {
    const a = await ok({ auth: { token: TOKEN } });
    const b = await ok({ query: { token: TOKEN }, transports: ["polling"] });
    expect(a.connected && b.connected).toBe(true);
    // They can use the protocol.
    expect(await a.emitWithAck("subscribe_transcripts", { clientId: "anything" })).toEqual({ ok: true, clientId: "anything" });
  });

  test("refusals are counted in /metrics", async () => {
    const text = await scrape(h.url, TOKEN);
    expect(metric(text, "stt_connections_refused_total", { reason: "missing_token" })).toBeGreaterThanOrEqual(1);
    expect(metric(text, "stt_connections_refused_total", { reason: "invalid_token" })).toBeGreaterThanOrEqual(2);
  });
});

describe("authorize hook", () => {
  test("a client not allowed a clientId cannot subscribe to it or send for it", async () => {
    const s = await ok({ auth: { token: OTHER } });
    const errors = collect<ErrorPayload>(s, "error");
    expect(await s.emitWithAck("subscribe_transcripts", { clientId: "someone-else" })).toEqual({ ok: false, code: "forbidden" });
    expect(await s.emitWithAck("subscribe_transcripts", { clientId: "other-mine" })).toEqual({ ok: true, clientId: "other-mine" });
    s.emit("audio_data", { clientId: "someone-else", audioData: new Int16Array(1600).buffer });
    await roundTrip([s]);
    expect(errors.map((e) => [e.event, e.code])).toEqual([
      ["subscribe_transcripts", "forbidden"],
      ["audio_data", "forbidden"],
    ]);
  });
});

describe("HTTP endpoints", () => {
  test("/health stays open, /metrics needs Authorization: Bearer", async () => {
    const health = await fetch(`${h.url}/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe("ok");
    const none = await fetch(`${h.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    const wrong = await fetch(`${h.url}/metrics`, { headers: { Authorization: "Bearer nope-nope-nope" } });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${h.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(right.status).toBe(200);
    expect(await right.text()).toContain("stt_connected_sockets");
  });

  test("with tokens and no cors.origin, cross-origin polling gets no CORS grant", async () => {
    const res = await fetch(`${h.url}/socket.io/?EIO=4&transport=polling&token=${TOKEN}`, { headers: { Origin: "https://evil.example" } });
    expect(res.status).toBe(403);
    expect(res.headers.get("access-control-allow-origin")).not.toBe("*");
    const same = await fetch(`${h.url}/socket.io/?EIO=4&transport=polling&token=${TOKEN}`, { headers: { Origin: h.url } });
    expect(same.status).toBe(200);
  });
});

describe("token helpers (unit)", () => {
  test("TokenAuth and token extraction", () => {
    const open = new TokenAuth([]);
    expect(open.check(undefined)).toBeNull();
    const a = new TokenAuth([TOKEN]);
    expect(a.check(undefined)).toBe("missing_token");
    expect(a.check("")).toBe("missing_token");
    expect(a.check(TOKEN + "x")).toBe("invalid_token");
    expect(a.check(42)).toBe("missing_token");
    expect(a.check(TOKEN)).toBeNull();
    expect(bearerToken("Bearer abc")).toBe("abc");
    expect(bearerToken("bearer   abc ")).toBe("abc");
    expect(bearerToken("Basic abc")).toBeUndefined();
    expect(handshakeToken({ auth: { token: "x1" }, query: { token: "x2" } })).toBe("x1");
    expect(handshakeToken({ auth: {}, query: { token: "x2" } })).toBe("x2");
    expect(handshakeToken({ headers: { authorization: "Bearer x3" } })).toBe("x3");
    expect(originAllowed("*", "https://a.example", "h:1")).toBe(true);
    expect(originAllowed([], null, "h:1")).toBe(true);
    expect(originAllowed([], "https://a.example", "h:1")).toBe(false);
    expect(originAllowed([], "http://h:1", "h:1")).toBe(true);
    expect(originAllowed(["https://a.example"], "https://a.example", "h:1")).toBe(true);
  });
});
