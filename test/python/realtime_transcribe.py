"""OpenAI Realtime transcription through the openai Python SDK's own realtime client.

    python3 test/python/realtime_transcribe.py --url http://127.0.0.1:2700 --pcm speech_24k.raw [--manual]

Connects with `AsyncOpenAI(base_url=URL/v1, websocket_base_url=ws://…/v1)` and
`client.realtime.connect(extra_query={"intent": "transcription"})`, waits for
`session.created`, configures the session with `session.update`, and streams
24 kHz mono PCM16 (raw s16le) base64-encoded in real time, 100 ms per append.

Server VAD (default), or --semantic EAGERNESS (semantic_vad): ends with
--tail-s seconds of silence (2) so the last utterance closes, and stops once
every committed item has its transcript.

--manual: `turn_detection: None`; after the clip it commits the buffer itself
(one item: the whole clip), then commits again at once, which must be refused
with `input_audio_buffer_commit_empty`, and checks the session still answers
a `session.update`.

Human-readable lines go to stderr; the last stdout line is a JSON summary
{"events": [event, ...]} (every server event as sent) used by
test/clients/openai-realtime.test.ts.
"""

import argparse
import asyncio
import base64
import json
import sys

from openai import AsyncOpenAI

CHUNK_BYTES = 4800  # 100 ms at 24 kHz, 2 bytes per sample


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="the server's http:// base URL")
    ap.add_argument("--pcm", required=True, help="raw s16le 24 kHz mono file")
    ap.add_argument("--manual", action="store_true", help="turn_detection None: commit by hand")
    ap.add_argument("--api-key", default="unused")
    ap.add_argument("--language", default="en")
    ap.add_argument("--silence-ms", type=int, default=800)
    ap.add_argument("--semantic", choices=["low", "medium", "high", "auto"], help="semantic_vad with this eagerness")
    ap.add_argument("--tail-s", type=float, default=2, help="seconds of silence after the clip")
    ap.add_argument("--timeout", type=float, default=90)
    a = ap.parse_args()

    with open(a.pcm, "rb") as f:
        pcm = f.read()
    ws_base = a.url.replace("http://", "ws://", 1) + "/v1"
    client = AsyncOpenAI(api_key=a.api_key, base_url=a.url + "/v1", websocket_base_url=ws_base)

    turn_detection = (
        None
        if a.manual
        else {"type": "semantic_vad", "eagerness": a.semantic}
        if a.semantic
        else {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 200, "silence_duration_ms": a.silence_ms}
    )
    events: list[dict] = []

    async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
        # Events arrive in order; `wait_for` reads until one matches and keeps all of them.
        async def wait_for(pred, what: str) -> dict:
            async def loop() -> dict:
                while True:
                    e = (await conn.recv()).model_dump(mode="json", exclude_unset=True)
                    events.append(e)
                    if e["type"] == "conversation.item.input_audio_transcription.delta":
                        say(f"  delta {e['item_id']}: {e['delta']!r}")
                    elif e["type"] == "conversation.item.input_audio_transcription.completed":
                        say(f"completed {e['item_id']}: {e['transcript']!r}")
                    else:
                        say(f"{e['type']}")
                    if pred(e):
                        return e
            try:
                return await asyncio.wait_for(loop(), a.timeout)
            except asyncio.TimeoutError:
                raise SystemExit(f"timed out waiting for {what}; got {[e['type'] for e in events]}")

        await wait_for(lambda e: e["type"] == "session.created", "session.created")
        await conn.session.update(
            session={
                "type": "transcription",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "transcription": {"model": "gpt-4o-transcribe", "language": a.language},
                        "turn_detection": turn_detection,
                    }
                },
            }
        )
        await wait_for(lambda e: e["type"] == "session.updated", "session.updated")

        async def send_audio() -> None:
            data = pcm + (b"" if a.manual else bytes(2 * round(24000 * a.tail_s)))  # silence that ends the last utterance
            for i in range(0, len(data), CHUNK_BYTES):
                await conn.input_audio_buffer.append(audio=base64.b64encode(data[i : i + CHUNK_BYTES]).decode())
                await asyncio.sleep(0.1)
            if a.manual:
                await conn.input_audio_buffer.commit()
            else:
                # A round trip after the last append: its session.updated is read after every event before it.
                await conn.session.update(session={"type": "transcription"})

        sender = asyncio.create_task(send_audio())
        count = lambda kind: sum(1 for e in events if e["type"] == kind)

        if a.manual:
            await wait_for(lambda e: e["type"] == "conversation.item.input_audio_transcription.completed", "completed")
            await sender
            await conn.input_audio_buffer.commit(event_id="empty-commit")
            await wait_for(lambda e: e["type"] == "error", "the empty commit's error")
            # The session is still open and answering.
            await conn.session.update(session={"type": "transcription", "audio": {"input": {"transcription": {"language": a.language}}}})
            await wait_for(lambda e: e["type"] == "session.updated" and count("session.updated") == 2, "session.updated after the error")
        else:
            # Done when the round trip came back, every committed item has its transcript and no speech is open.
            def settled(_e: dict) -> bool:
                committed = count("input_audio_buffer.committed")
                done = count("conversation.item.input_audio_transcription.completed") + count("conversation.item.input_audio_transcription.failed")
                return (
                    count("session.updated") == 2
                    and committed > 0
                    and committed == done
                    and count("input_audio_buffer.speech_started") == count("input_audio_buffer.speech_stopped")
                )

            await wait_for(settled, "every transcript")
            await sender

    print(json.dumps({"events": events}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
