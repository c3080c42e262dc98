"""Live results from python-socketio: interims while speaking, then the final.

    python3 test/python/live_interims.py --url http://localhost:2700 --pcm speech.raw

Streams 16 kHz mono PCM16 (raw s16le) in real time, 100 ms chunks, asking for
interims in the handshake: `connect(url, auth={"interim_results": True})`.
Each `transcription_interim` is printed as its committed prefix (stable_text,
never retracted within the utterance) and the words after it that may still
change; each `transcription` (final) replaces the interims of its seq. At the
end of the clip `finalize` closes the open utterance at once instead of
waiting for trailing silence.

With --plain the client asks for nothing and ends with 1 s of silence
instead of finalize: it is an unchanged client of the original protocol.

Human-readable lines go to stderr; the last stdout line is a JSON summary
{"client_id", "events": [[name, payload], ...], "finalize_ack"} used by
test/clients/python.test.ts.
"""

import argparse
import asyncio
import json
import sys
import time

import socketio

CHUNK_BYTES = 3200  # 100 ms at 16 kHz, 2 bytes per sample


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--pcm", required=True, help="raw s16le 16 kHz mono file")
    ap.add_argument("--client-id", default="py-live")
    ap.add_argument("--plain", action="store_true", help="ask for no live results (original protocol only)")
    ap.add_argument("--token", default=None)
    ap.add_argument("--idle", type=float, default=1.5, help="then stop once nothing arrived for this long")
    ap.add_argument("--until-end", type=float, default=None, help="(--plain) wait for a final ending at or after this stream second")
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()

    with open(a.pcm, "rb") as f:
        pcm = f.read()
    if a.plain:
        pcm += bytes(32000)  # 1 s of silence closes the last utterance

    auth = {} if a.plain else {"interim_results": True}
    if a.token:
        auth["token"] = a.token

    events = []
    last = {"t": time.monotonic()}
    sio = socketio.AsyncClient(reconnection=False)

    # Catch-all: records every event, so the test sees any event type a client did not ask for.
    @sio.on("*")
    def on_any(event, data=None):
        events.append([event, data])
        last["t"] = time.monotonic()
        if event == "transcription_interim":
            stable = data["stable_text"]
            say(f"interim #{data['seq']} [{stable}]{data['text'][len(stable):] if data['text'].startswith(stable) else ' ' + data['text']}")
        elif event == "transcription":
            extra = " (finalize)" if data.get("from_finalize") else ""
            say(f"final   #{data['seq']} {data['start']:.2f}-{data['end']:.2f} s{extra}: {data['text']}")
        elif event == "error":
            say(f"error: {data}")

    await sio.connect(a.url, transports=["websocket"], auth=auth or None)
    t0 = time.monotonic()
    for k, i in enumerate(range(0, len(pcm), CHUNK_BYTES)):
        await sio.emit("audio_data", {"clientId": a.client_id, "audioData": pcm[i : i + CHUNK_BYTES]})
        # Paced against the start, like a microphone, without drift.
        await asyncio.sleep(max(0.0, t0 + (k + 1) * 0.1 - time.monotonic()))

    ack = None
    if not a.plain:
        # Audio emitted before this call is included; the final follows at once.
        ack = await sio.call("finalize", {"clientId": a.client_id}, timeout=30)
    def complete():
        # The finalized utterance's final comes last; else wait for the clip's end.
        finals = [p for e, p in events if e == "transcription"]
        if ack and ack.get("finalized"):
            return any(f.get("from_finalize") for f in finals)
        if a.until_end is not None:
            return any(f["end"] >= a.until_end for f in finals)
        return bool(finals)

    sent_at = last["t"] = time.monotonic()
    while time.monotonic() - sent_at < a.timeout:
        if complete() and time.monotonic() - last["t"] >= a.idle:
            break
        await asyncio.sleep(0.05)

    await sio.disconnect()
    print(json.dumps({"client_id": a.client_id, "events": events, "finalize_ack": ack}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
