import type { Logger } from "../log.ts";
import type { OfflineResult, OfflineSegment } from "../offline/transcribe.ts";

/**
 * `stream=true` on POST /v1/audio/transcriptions: server-sent events in
 * OpenAI's shapes, `transcript.text.delta` per utterance as soon as it is
 * transcribed (in order), then one `transcript.text.done` whose text is the
 * deltas joined. The stream ends there (no `[DONE]` line; the SDKs stop at
 * the end of the body either way). A failure after the first byte is an
 * `{"error": …}` event, which the SDKs raise as an API error.
 */

export type Transcribe = (onSegment: (s: OfflineSegment) => void, signal: AbortSignal) => Promise<OfflineResult>;

/** Whisper's encoder sees 50 frames per second of audio: the `input_tokens` of `usage`. */
const AUDIO_TOKENS_PER_SECOND = 50;

export function transcriptionEvents(transcribe: Transcribe, log: Logger): { response: Response; finished: Promise<void> } {
  const abort = new AbortController();
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      const write = (data: unknown) => {
        if (!abort.signal.aborted) controller.enqueue(encoder.encode(`data: ${JSON.stringify(data)}\n\n`));
      };
      let sent = "";
      try {
        const result = await transcribe((s) => {
          const delta = sent === "" ? s.text : ` ${s.text}`;
          sent += delta;
          write({ type: "transcript.text.delta", delta });
        }, abort.signal);
        const input = Math.ceil(result.duration * AUDIO_TOKENS_PER_SECOND);
        const output = result.segments.reduce((n, s) => n + s.tokens.length, 0);
        write({
          type: "transcript.text.done",
          text: result.text,
          usage: { type: "tokens", input_tokens: input, output_tokens: output, total_tokens: input + output, input_token_details: { audio_tokens: input, text_tokens: 0 } },
        });
      } catch (err) {
        if (!abort.signal.aborted) {
          // The engine's message stays in the log: it may name paths and internals.
          log.error("file transcription failed", { error: String(err) });
          write({ error: { message: "transcription failed; the server log has the details", type: "server_error", param: null, code: "engine_error" } });
        }
      } finally {
        if (!abort.signal.aborted) controller.close();
        finish();
      }
    },
    cancel() {
      // The client went away: the rest of the file is not transcribed.
      abort.abort();
    },
  });
  const response = new Response(body, { headers: { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", "X-Accel-Buffering": "no" } });
  return { response, finished };
}
