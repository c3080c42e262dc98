"""LiveKit Agents' Deepgram plugin (livekit-plugins-deepgram) against this server, without a LiveKit server.

    python3 test/python/livekit_deepgram.py --url http://127.0.0.1:2700 --pcm jfk.raw

The plugin's streaming STT used on its own, as an agent's pipeline uses it:
audio frames in, speech events out. Only `base_url` differs from an agent
talking to Deepgram's service:

    stt = deepgram.STT(base_url="http://127.0.0.1:2700/v1/listen", api_key=KEY, http_session=session)
    stream = stt.stream()

The plugin's defaults are what it sends to Deepgram (interim_results, punctuate,
no_delay, endpointing=25, filler_words, vad_events, 16 kHz linear16). At the end
the script calls flush() (the plugin sends Finalize) and end_input()
(CloseStream). The last stdout line is a JSON summary {"finals", "interims",
"events"} for test/doors/deepgram-python.test.ts.
"""

import argparse
import asyncio
import json
import sys

import aiohttp
from livekit import rtc
from livekit.agents import stt as agents_stt
from livekit.plugins import deepgram

RATE = 16000
SAMPLES = RATE // 50  # 20 ms frames


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="http://host:port")
    ap.add_argument("--pcm", required=True, help="raw s16le 16 kHz mono")
    ap.add_argument("--key", default="unused-on-an-open-server")
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    with open(a.pcm, "rb") as f:
        pcm = f.read() + bytes(RATE * 2)  # the clip, then 1 s of silence

    finals: list[str] = []
    interims: list[str] = []
    events: list[str] = []
    async with aiohttp.ClientSession() as session:
        stt = deepgram.STT(base_url=f"{a.url}/v1/listen", api_key=a.key, http_session=session)
        stream = stt.stream()

        async def feed() -> None:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            step = SAMPLES * 2
            for i, at in enumerate(range(0, len(pcm), step)):
                chunk = pcm[at : at + step]
                stream.push_frame(rtc.AudioFrame(data=chunk, sample_rate=RATE, num_channels=1, samples_per_channel=len(chunk) // 2))
                await asyncio.sleep(max(0.0, t0 + (i + 1) * 0.02 - loop.time()))
            stream.flush()
            stream.end_input()

        async def read() -> None:
            async for ev in stream:
                events.append(ev.type.value if hasattr(ev.type, "value") else str(ev.type))
                if ev.type == agents_stt.SpeechEventType.FINAL_TRANSCRIPT and ev.alternatives and ev.alternatives[0].text:
                    finals.append(ev.alternatives[0].text)
                    print(f"final   {ev.alternatives[0].text}", file=sys.stderr, flush=True)
                elif ev.type == agents_stt.SpeechEventType.INTERIM_TRANSCRIPT and ev.alternatives:
                    interims.append(ev.alternatives[0].text)

        await asyncio.wait_for(asyncio.gather(feed(), read()), a.timeout)
        await stream.aclose()
    print(json.dumps({"finals": finals, "interims": interims, "events": events}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
