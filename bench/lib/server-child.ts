/**
 * The server under benchmark, in its own process so the load generator does
 * not share its CPU or event loop. Answers IPC requests for its own figures:
 * CPU time, RSS, event-loop lag samples and engine batching statistics.
 *
 *   spawned by bench/load.ts with: bun bench/lib/server-child.ts '<config json>'
 */
import { createSttServer } from "../../src/server.ts";
import { loopLagSampler } from "./speech.ts";

const config = JSON.parse(process.argv[2] ?? "{}");
// Engine milliseconds of each delivered transcript ("clientId:seq"), so the load
// generator can subtract the engine's own time from what its clients measured.
let engineMsBySeq: Record<string, number> = {};
const server = createSttServer(config, {
  onTranscription: (_text, clientId, _duration, details) => void (engineMsBySeq[`${clientId}:${details.seq}`] = details.engineMs),
});
const { port } = await server.start();
const lag = loopLagSampler(10);
let cpu0 = process.cpuUsage();

process.on("message", (msg: { type: string; gc?: boolean }) => {
  if (msg.type === "stats") {
    if (msg.gc) Bun.gc(true);
    const cpu = process.cpuUsage(cpu0);
    cpu0 = process.cpuUsage();
    process.send!({
      type: "stats",
      cpuMs: (cpu.user + cpu.system) / 1000,
      rss: process.memoryUsage().rss,
      lag: lag.take(),
      server: server.stats(),
      engineMsBySeq,
    });
    engineMsBySeq = {};
  } else if (msg.type === "stop") {
    lag.stop();
    void server.stop().then(() => process.exit(0));
  }
});
process.send!({ type: "ready", port });
