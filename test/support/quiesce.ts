import { expect } from "bun:test";
import type { Socket } from "socket.io-client";
import { metric, scrape } from "../ops/support.ts";
import { waitForAsync } from "./harness.ts";

/**
 * Replaces "sleep, then check nothing else arrived": a round trip through the
 * server after which nothing can still be in flight. First the server must
 * have nothing left to deliver — every utterance the VAD cut has been
 * answered by the engine (or refused), nothing waits for or runs on an
 * engine worker — on two scrapes in a row. Then one acked event per socket:
 * Socket.IO keeps a socket's packets in order, so whatever the server sent
 * that socket before has arrived once the ack has. (`finalize` of a clientId
 * nobody streams changes nothing and also waits for the socket's own audio
 * still being handled.)
 */
export async function quiesce(urls: string | string[], sockets: Socket[], timeoutMs = 60_000): Promise<void> {
  const nodes = Array.isArray(urls) ? urls : [urls];
  let quietInARow = 0;
  let last = "";
  await waitForAsync(
    async () => {
      const all = await Promise.all(nodes.map(idle)).catch(() => null);
      last = all?.map((a) => a.why).join("; ") ?? "scrape failed";
      quietInARow = all?.every((a) => a.quiet) ? quietInARow + 1 : 0;
      return quietInARow >= 2;
    },
    timeoutMs,
    "the server to have nothing in flight",
    100,
  ).catch((e: Error) => {
    throw new Error(`${e.message} (${last})`);
  });
  await roundTrip(sockets);
}

async function idle(url: string): Promise<{ quiet: boolean; why: string }> {
  const text = await scrape(url);
  const cut = metric(text, "stt_utterances_total") ?? 0;
  const answered = metric(text, "stt_utterance_latency_seconds_count") ?? 0;
  const failed = (metric(text, "stt_engine_request_failures_total") ?? 0) - (metric(text, "stt_engine_request_failures_total", { reason: "superseded" }) ?? 0);
  const queued = metric(text, "stt_engine_queue_depth") ?? 0;
  const busy = metric(text, "stt_engine_workers", { state: "busy" }) ?? 0;
  return { quiet: answered + failed >= cut && queued === 0 && busy === 0, why: `cut ${cut}, answered ${answered}, failed ${failed}, queued ${queued}, busy ${busy}` };
}

/**
 * The socket half of quiesce(): one acked event per socket, after the server
 * has handled everything each socket sent before it (its audio included), so
 * any answer to those (an `error`) has arrived once the ack has.
 */
export async function roundTrip(sockets: Socket[]): Promise<void> {
  for (const s of sockets) {
    expect(await s.timeout(10_000).emitWithAck("finalize", { clientId: "__quiesce__" })).toEqual({ ok: true, clientId: "__quiesce__", finalized: false });
  }
}
