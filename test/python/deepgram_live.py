"""Deepgram's official Python SDK (deepgram-sdk) against this server's /v1/listen.

    python3 test/python/deepgram_live.py --url ws://127.0.0.1:2700 --audio jfk.mulaw \
        --encoding mulaw --sample-rate 8000 --key KEY

The only change from code written for Deepgram's service is the environment:

    from deepgram import AsyncDeepgramClient, DeepgramClientEnvironment
    env = DeepgramClientEnvironment(base="http://127.0.0.1:2700", production="ws://127.0.0.1:2700",
                                    agent="ws://127.0.0.1:2700", agent_rest="http://127.0.0.1:2700")
    client = AsyncDeepgramClient(api_key=KEY, environment=env)
    async with client.listen.v1.connect(model="nova-3", encoding="mulaw", sample_rate="8000",
                                        interim_results="true", punctuate="true") as socket:
        ...

Streams the raw audio file and 1.5 s of silence in real time (100 ms frames),
then sends Finalize a second later, waits for the from_finalize answer, sends
a Configure with new keyterms and waits for its answer, sends CloseStream and
reads until the server closes. The last stdout line is a JSON
summary {"messages": [...], "close_code", "finalize_sent_at"} for
test/doors/deepgram-python.test.ts; human-readable lines go to stderr.
"""

import argparse
import asyncio
import json
import sys
import time

from deepgram import AsyncDeepgramClient, DeepgramClientEnvironment
from deepgram.core.events import EventType
from deepgram.listen.v1 import ListenV1Configure


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def plain(message) -> dict:
    if isinstance(message, bytes):
        return {"type": "bytes", "length": len(message)}
    if hasattr(message, "model_dump"):
        return message.model_dump(mode="json", exclude_none=True)
    return dict(message)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="ws://host:port")
    ap.add_argument("--audio", required=True, help="raw audio file in --encoding at --sample-rate")
    ap.add_argument("--encoding", default="linear16")
    ap.add_argument("--sample-rate", type=int, default=16000)
    ap.add_argument("--key", default="unused-on-an-open-server")
    ap.add_argument("--timeout", type=float, default=90)
    a = ap.parse_args()

    bytes_per_second = a.sample_rate * (2 if a.encoding == "linear16" else 1)
    with open(a.audio, "rb") as f:
        # The clip, then 1.5 s of silence as a microphone would send (μ-law silence is 0xFF).
        audio = f.read() + (b"\x00\x00" if a.encoding == "linear16" else b"\xff" if a.encoding == "mulaw" else b"\xd5") * (bytes_per_second * 3 // 2 // (2 if a.encoding == "linear16" else 1))
    frame = bytes_per_second // 10

    http = a.url.replace("ws://", "http://", 1)
    env = DeepgramClientEnvironment(base=http, production=a.url, agent=a.url, agent_rest=http)
    client = AsyncDeepgramClient(api_key=a.key, environment=env)

    messages = []
    finalized = asyncio.Event()
    configured = asyncio.Event()
    out = {"messages": messages, "close_code": None, "finalize_sent_at": None}

    async def on_message(message) -> None:
        m = plain(message)
        messages.append(m)
        if m.get("type") == "Results":
            alt = m["channel"]["alternatives"][0]
            say(f"{'final  ' if m.get('is_final') else 'interim'} {m['start']:6.2f}+{m['duration']:.2f} {alt['transcript']}")
            if m.get("from_finalize"):
                finalized.set()
        else:
            say(f"{m.get('type')}: {json.dumps(m)[:160]}")
            if m.get("type") in ("ConfigureSuccess", "ConfigureFailure"):
                configured.set()

    async with client.listen.v1.connect(
        model="nova-3",
        encoding=a.encoding,
        sample_rate=str(a.sample_rate),
        channels="1",
        interim_results="true",
        punctuate="true",
        vad_events="true",
        utterance_end_ms="1000",
        language="en-US",
    ) as socket:
        socket.on(EventType.MESSAGE, on_message)
        listening = asyncio.create_task(socket.start_listening())
        t0 = time.monotonic()
        for i, at in enumerate(range(0, len(audio), frame)):
            await socket.send_media(audio[at : at + frame])
            # Real time: frame i is due at i * 100 ms.
            await asyncio.sleep(max(0.0, t0 + (i + 1) * 0.1 - time.monotonic()))
        await socket.send_keep_alive()
        await asyncio.sleep(1.0)
        out["finalize_sent_at"] = len(messages)
        await socket.send_finalize()
        await asyncio.wait_for(finalized.wait(), a.timeout)
        await socket.send_configure(ListenV1Configure(keyterms=["Kennedy", "fellow Americans"]))
        await asyncio.wait_for(configured.wait(), a.timeout)
        await socket.send_close_stream()
        await asyncio.wait_for(listening, a.timeout)
        out["close_code"] = socket._websocket.close_code
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
