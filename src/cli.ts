import { ConfigError, loadConfig } from "./config/load.ts";
import { createLogger } from "./log.ts";
import { createSttServer } from "./server.ts";

const bootLog = createLogger(true);
let resolved;
try {
  resolved = await loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    bootLog.error(err.message);
    process.exit(2);
  }
  throw err;
}
for (const note of resolved.notes) bootLog.warn(note);

const server = createSttServer(resolved.config);
try {
  await server.start();
} catch (err) {
  bootLog.error(`start-up failed: ${(err as Error).message}`);
  process.exit(1);
}

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, async () => {
    if (stopping) process.exit(130); // a second signal: stop waiting
    stopping = true;
    const grace = resolved.config.shutdown_grace_seconds;
    bootLog.info(`${signal}: refusing new connections, finishing captured utterances (up to ${grace} s), then exiting`);
    // stop() is bounded by the grace period itself; this is the backstop in
    // case closing sockets or the engine hangs.
    setTimeout(() => {
      bootLog.error(`shutdown took longer than shutdown_grace_seconds (${grace} s) + 5 s: exiting now`);
      process.exit(1);
    }, (grace + 5) * 1000).unref();
    try {
      await server.stop();
    } catch (err) {
      bootLog.error(`shutdown failed: ${(err as Error).message}`);
      process.exit(1);
    }
    bootLog.info("shutdown complete");
    process.exit(0);
  });
}
