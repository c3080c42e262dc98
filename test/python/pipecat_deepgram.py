"""Pipecat's DeepgramSTTService with its base URL pointed at this server.

    python3 test/python/pipecat_deepgram.py --url ws://127.0.0.1:2700 --pcm jfk.raw

A minimal pipeline, [DeepgramSTTService → collector], fed the clip as
InputAudioRawFrame chunks (16 kHz mono PCM16, 20 ms each, in real time), as a
transport would. Nothing differs from a pipeline for Deepgram's service but
`base_url`:

    stt = DeepgramSTTService(api_key=KEY, base_url="ws://127.0.0.1:2700")

After the clip and 0.1 s of silence the script pushes VADUserStoppedSpeakingFrame,
on which Pipecat sends Finalize, as it does at every pause of a real call. The
last stdout line is a JSON summary {"finals": [...], "interims": [...],
"from_finalize": [...]} for test/doors/deepgram-python.test.ts.
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
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.deepgram.stt import DeepgramSTTService

RATE = 16000
CHUNK = RATE * 2 // 50  # 20 ms of PCM16


class Collector(FrameProcessor):
    def __init__(self) -> None:
        super().__init__()
        self.finals: list[str] = []
        self.interims: list[str] = []
        self.from_finalize: list[bool] = []

    async def process_frame(self, frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            self.finals.append(frame.text)
            self.from_finalize.append(bool(getattr(frame.result, "from_finalize", False)))
            print(f"final   {frame.text}", file=sys.stderr, flush=True)
        elif isinstance(frame, InterimTranscriptionFrame):
            self.interims.append(frame.text)
        await self.push_frame(frame, direction)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="ws://host:port")
    ap.add_argument("--pcm", required=True, help="raw s16le 16 kHz mono")
    ap.add_argument("--key", default="unused-on-an-open-server")
    ap.add_argument("--last-words", default="for your country", help="wait until the finals so far contain these words")
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    with open(a.pcm, "rb") as f:
        # The clip and 0.1 s of silence: the user stops, and the local VAD says so
        # before the server's silence window (0.8 s) could end the sentence.
        pcm = f.read() + bytes(RATE * 2 // 10)

    stt = DeepgramSTTService(api_key=a.key, base_url=a.url)
    collector = Collector()
    task = PipelineTask(Pipeline([stt, collector]), params=PipelineParams(audio_in_sample_rate=RATE), enable_rtvi=False)

    async def feed() -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i, at in enumerate(range(0, len(pcm), CHUNK)):
            await task.queue_frame(InputAudioRawFrame(audio=pcm[at : at + CHUNK], sample_rate=RATE, num_channels=1))
            await asyncio.sleep(max(0.0, t0 + (i + 1) * 0.02 - loop.time()))
        # What a local VAD says at the end of a turn: Pipecat answers it with Finalize.
        await task.queue_frame(VADUserStoppedSpeakingFrame(stop_secs=0.5))
        deadline = loop.time() + a.timeout
        while a.last_words not in " ".join(collector.finals).lower() and loop.time() < deadline:
            await asyncio.sleep(0.1)
        await task.queue_frame(EndFrame())

    runner = PipelineRunner(handle_sigint=False)
    await asyncio.gather(runner.run(task), feed())
    print(json.dumps({"finals": collector.finals, "interims": collector.interims, "from_finalize": collector.from_finalize}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
