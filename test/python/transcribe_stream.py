"""POST /v1/audio/transcriptions with stream=True through the openai Python SDK.

    python3 test/python/transcribe_stream.py --url http://127.0.0.1:2700 --file jfk.flac

Prints each transcript.text.delta to stderr as it arrives; the last stdout line
is a JSON summary {"events": [...]} for test/clients/openai-sse.test.ts.
"""

import argparse
import json
import sys

from openai import OpenAI


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--file", required=True)
    ap.add_argument("--api-key", default="unused")
    a = ap.parse_args()

    client = OpenAI(api_key=a.api_key, base_url=a.url + "/v1", max_retries=0)
    events = []
    with open(a.file, "rb") as f:
        stream = client.audio.transcriptions.create(file=f, model="gpt-4o-transcribe", stream=True)
        for event in stream:
            events.append(event.model_dump(mode="json", exclude_unset=True))
            if event.type == "transcript.text.delta":
                print(event.delta, end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(json.dumps({"events": events}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
