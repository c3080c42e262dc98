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
    bootLog.info(`${signal}: finishing captured utterances, then exiting`);
    await server.stop();
    process.exit(0);
  });
}
