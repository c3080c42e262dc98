"""Pipecat's OpenAIRealtimeSTTService with its base URL pointed at this server.

    python3 test/python/pipecat_realtime.py --url ws://127.0.0.1:2700 --pcm jfk.raw [--server-vad]

A minimal pipeline, [OpenAIRealtimeSTTService → collector], fed the clip as
InputAudioRawFrame chunks (16 kHz mono PCM16, 20 ms each, in real time), as a
transport would; Pipecat resamples to 24 kHz itself. Nothing differs from a
pipeline for OpenAI but `base_url`:

    stt = OpenAIRealtimeSTTService(api_key=KEY, base_url="ws://127.0.0.1:2700/v1/realtime")

By default Pipecat turns server VAD off (`turn_detection: null`) and commits
the buffer when its local VAD says the user stopped: the script pushes
VADUserStoppedSpeakingFrame after the clip. With --server-vad the service
asks for server VAD and the server ends the turns.

The last stdout line is a JSON summary {"finals": [...], "interims": [...]}
for test/clients/openai-realtime.test.ts.
"""

import argparse
import asyncio
import json
import sys

from pipecat.frames.frames import (
    EndFrame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.openai.stt import OpenAIRealtimeSTTService

RATE = 16000
CHUNK = RATE * 2 // 50  # 20 ms of PCM16


class Collector(FrameProcessor):
    def __init__(self) -> None:
        super().__init__()
        self.finals: list[str] = []
        self.interims: list[str] = []

    async def process_frame(self, frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            self.finals.append(frame.text)
            print(f"final   {frame.text}", file=sys.stderr, flush=True)
        elif isinstance(frame, InterimTranscriptionFrame):
            self.interims.append(frame.text)
        await self.push_frame(frame, direction)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="ws://host:port")
    ap.add_argument("--pcm", required=True, help="raw s16le 16 kHz mono")
    ap.add_argument("--key", default="unused-on-an-open-server")
    ap.add_argument("--server-vad", action="store_true")
    ap.add_argument("--last-word", default="country", help="wait for a final containing this word")
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    with open(a.pcm, "rb") as f:
        pcm = f.read() + bytes(RATE * 2)  # the clip, then 1 s of silence

    turn = {"type": "server_vad", "silence_duration_ms": 800} if a.server_vad else False
    stt = OpenAIRealtimeSTTService(api_key=a.key, base_url=f"{a.url}/v1/realtime", turn_detection=turn)
    collector = Collector()
    task = PipelineTask(Pipeline([stt, collector]), params=PipelineParams(audio_in_sample_rate=RATE), enable_rtvi=False)

    async def feed() -> None:
        loop = asyncio.get_running_loop()
        if not a.server_vad:
            await task.queue_frame(VADUserStartedSpeakingFrame())
        t0 = loop.time()
        for i, at in enumerate(range(0, len(pcm), CHUNK)):
            await task.queue_frame(InputAudioRawFrame(audio=pcm[at : at + CHUNK], sample_rate=RATE, num_channels=1))
            await asyncio.sleep(max(0.0, t0 + (i + 1) * 0.02 - loop.time()))
        if not a.server_vad:
            # What a local VAD says at the end of a turn: Pipecat commits the buffer.
            await task.queue_frame(VADUserStoppedSpeakingFrame(stop_secs=0.5))
        deadline = loop.time() + a.timeout
        while not any(a.last_word in t.lower() for t in collector.finals) and loop.time() < deadline:
            await asyncio.sleep(0.1)
        await task.queue_frame(EndFrame())

    runner = PipelineRunner(handle_sigint=False)
    await asyncio.gather(runner.run(task), feed())
    print(json.dumps({"finals": collector.finals, "interims": collector.interims}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
