import { healthHttpStatus } from "../metrics/health.ts";
import { requireToken, type HttpContext } from "./context.ts";
import { handleOpenAi } from "./openai.ts";
import { readyResponse } from "../capacity/ready.ts";
import { servePublic } from "./public.ts";

// Kept here for importers from before the context moved (it broke an import cycle with openai.ts).
export { requireToken, type HttpContext } from "./context.ts";

/** Plain HTTP endpoints next to Socket.IO. Returns null for paths it does not serve. */
export async function handleHttp(req: Request, ctx: HttpContext): Promise<Response | null> {
  const url = new URL(req.url);
  if (url.pathname === "/health" && ctx.health) {
    const report = await ctx.health();
    return Response.json(report, { status: healthHttpStatus(report.status), headers: { "Cache-Control": "no-store" } });
  }
  if (url.pathname === "/ready" && ctx.ready) return readyResponse(ctx.ready());
  if (url.pathname === "/metrics" && ctx.metrics) {
    const denied = requireToken(req, ctx);
    if (denied) return denied;
    const { body, contentType } = await ctx.metrics.render();
    return new Response(body, { headers: { "Content-Type": contentType, "Cache-Control": "no-store" } });
  }
  if (url.pathname === "/health") {
    const ready = ctx.isReady();
    return Response.json(
      { status: ready ? "ok" : "starting", model: ctx.engine.info, sessions: ctx.sessions.size },
      { status: ready ? 200 : 503 },
    );
  }
  // Clients: OpenAI-compatible file transcription, and the browser page at /.
  const client = (await handleOpenAi(req, ctx)) ?? (await servePublic(req));
  if (client) return client;
  return null;
}
