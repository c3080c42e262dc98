import { afterAll, beforeAll, expect, test } from "bun:test";
import { startServer, type Harness } from "../support/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startServer();
});
afterAll(async () => {
  await h?.stop();
});

/** Raw HTTP over TCP: what a load balancer's default HTTP/1.0 check sends (no Host header). */
async function raw(request: string): Promise<string> {
  let got = "";
  let done!: () => void;
  const closed = new Promise<void>((r) => (done = r));
  const sock = await Bun.connect({ hostname: "127.0.0.1", port: Number(new URL(h.url).port), socket: { data: (_s, d) => void (got += String(d)), close: () => done() } });
  sock.write(request);
  await Promise.race([closed, Bun.sleep(2000)]);
  sock.end();
  return got;
}

test("a request without a Host header gets a 400, and nothing is logged as a failure", async () => {
  const answer = await raw("GET /ready HTTP/1.0\r\n\r\n");
  expect(answer.split("\r\n")[0]).toBe("HTTP/1.1 400 Bad Request");
  expect(answer).toContain("no Host header");
  expect(h.logs.filter((l) => l.includes("http handler failed"))).toEqual([]);
  // HTTP/1.1 with Host still works.
  expect((await raw(`GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)).split("\r\n")[0]).toMatch(/^HTTP\/1\.1 (200|503)/);
});
