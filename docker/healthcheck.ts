/**
 * Docker HEALTHCHECK: GET /health on this container's port (read from the same
 * configuration the server reads). Exit 0 for "ok" and "degraded" (200), 1
 * otherwise, so Docker marks the container unhealthy only when this node
 * itself cannot serve (model not loaded, engine not answering).
 */
import { loadConfig } from "../src/config/load.ts";

const { config } = await loadConfig([], process.env);
const url = `http://127.0.0.1:${config.port}/health`;
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(8000) });
  const body = (await res.json()) as { status: string; reasons?: string[] };
  console.log(`${res.status} ${body.status}${body.reasons?.length ? ": " + body.reasons.join("; ") : ""}`);
  process.exit(res.status === 200 ? 0 : 1);
} catch (err) {
  console.log(`${url}: ${(err as Error).message}`);
  process.exit(1);
}
