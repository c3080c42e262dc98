import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";

/**
 * The browser page (public/): index.html at `/`, its scripts beside it, and
 * the socket.io client bundle from node_modules at /socket.io.min.js and
 * /socket.io.esm.min.js (the Bun engine binding does not serve
 * /socket.io/socket.io.js). Plain files, no build step.
 */

const PUBLIC_DIR = resolve(import.meta.dir, "../../public");
const SOCKET_IO_DIST = join(dirname(createRequire(import.meta.url).resolve("socket.io-client/package.json")), "dist");

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  map: "application/json",
  svg: "image/svg+xml",
  ico: "image/x-icon",
};

const HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  // The page talks to its own origin only (HTTP and websocket).
  "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
  "Cache-Control": "no-cache",
};

export async function servePublic(req: Request): Promise<Response | null> {
  if (req.method !== "GET" && req.method !== "HEAD") return null;
  const path = new URL(req.url).pathname;
  let file: string | null = null;
  if (path === "/" || path === "/index.html") file = join(PUBLIC_DIR, "index.html");
  else if (/^\/socket\.io(\.esm)?\.min\.js(\.map)?$/.test(path)) file = join(SOCKET_IO_DIST, path.slice(1));
  // Files directly in public/: a name, an extension we know, nothing else (no "..", no sub-folders).
  else if (/^\/[A-Za-z0-9][A-Za-z0-9_-]*\.(js|css|svg|ico)$/.test(path)) file = join(PUBLIC_DIR, path.slice(1));
  if (!file) return null;
  const f = Bun.file(file);
  if (!(await f.exists())) return null;
  const ext = file.slice(file.lastIndexOf(".") + 1);
  return new Response(req.method === "HEAD" ? null : f, { headers: { "Content-Type": TYPES[ext] ?? "application/octet-stream", ...HEADERS } });
}
