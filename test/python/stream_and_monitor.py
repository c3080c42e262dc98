"""A python-socketio sender and a python-socketio monitor for one clientId.

The sender streams 16 kHz mono PCM16 (raw s16le file) in 100 ms chunks,
followed by 1 s of silence, either as {clientId, audioData: bytes} or, with
--legacy, as the bytes alone (the server then names the stream
"client-" + the first 8 characters of the sender's sid). The monitor
subscribes to that clientId before any audio is sent. Both record every
`transcription` they receive; the result is printed as one JSON object:
{"client_id", "ack", "sender": [...], "monitor": [...], "errors": [...]}.

Used by test/clients/python.test.ts.
"""

import argparse
import asyncio
import json
import sys
import time

import socketio

CHUNK_BYTES = 3200  # 100 ms at 16 kHz, 2 bytes per sample


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--pcm", required=True, help="raw s16le 16 kHz mono file")
    ap.add_argument("--client-id", default="py-sender")
    ap.add_argument("--legacy", action="store_true", help="send the bytes alone (legacy form)")
    ap.add_argument("--token", default=None)
    ap.add_argument("--idle", type=float, default=2.5, help="stop once nothing arrived for this long")
    ap.add_argument("--until-end", type=float, default=None, help="first wait for a transcript ending at or after this stream second")
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()

    with open(a.pcm, "rb") as f:
        pcm = f.read() + bytes(32000)  # + 1 s of silence so the last utterance closes

    got = {"sender": [], "monitor": [], "errors": []}
    last = {"t": time.monotonic()}
    auth = {"token": a.token} if a.token else None

    def recorder(name):
        def on_transcription(data):
            got[name].append(data)
            last["t"] = time.monotonic()

        return on_transcription

    sender = socketio.AsyncClient(reconnection=False)
    monitor = socketio.AsyncClient(reconnection=False)
    sender.on("transcription", recorder("sender"))
    monitor.on("transcription", recorder("monitor"))
    for name, c in (("sender", sender), ("monitor", monitor)):
        c.on("error", lambda data, name=name: got["errors"].append({"who": name, **(data or {})}))

    await sender.connect(a.url, transports=["websocket"], auth=auth)
    await monitor.connect(a.url, transports=["websocket"], auth=auth)
    client_id = ("client-" + sender.get_sid()[:8]) if a.legacy else a.client_id
    ack = await monitor.call("subscribe_transcripts", {"clientId": client_id}, timeout=10)

    for i in range(0, len(pcm), CHUNK_BYTES):
        chunk = pcm[i : i + CHUNK_BYTES]
        if a.legacy:
            await sender.emit("audio_data", chunk)
        else:
            await sender.emit("audio_data", {"clientId": client_id, "audioData": chunk})
        await asyncio.sleep(0.01)  # well under the server's per-socket event limit
    sent_at = time.monotonic()
    last["t"] = sent_at

    def complete(name):
        return any(t["end"] >= a.until_end for t in got[name]) if a.until_end is not None else bool(got[name])

    # Wait for the transcripts, then a little longer: a duplicate would show up.
    while time.monotonic() - sent_at < a.timeout:
        quiet = time.monotonic() - last["t"]
        if complete("sender") and complete("monitor") and quiet >= a.idle:
            break
        await asyncio.sleep(0.05)

    await sender.disconnect()
    await monitor.disconnect()
    print(json.dumps({"client_id": client_id, "ack": ack, **got}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
