"""Engine-only floor for the load benchmark: faster-whisper transcribes each
utterance one at a time (same model folder, same thread count, beam 1,
temperature 0, no timestamps, no previous-text conditioning, no VAD).

usage: python3 fw_floor.py MODEL_DIR THREADS FILE.f32 [FILE.f32 ...]
prints one JSON object: {"ms": [per-file milliseconds], "texts": [...]}
"""
import json
import sys
import time

import numpy as np
from faster_whisper import WhisperModel

model_dir, threads, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=threads, num_workers=1)
opts = dict(beam_size=1, temperature=0.0, without_timestamps=True, condition_on_previous_text=False, vad_filter=False)

warm = np.fromfile(files[0], dtype=np.float32)
list(model.transcribe(warm, **opts)[0])

ms, texts = [], []
for f in files:
    audio = np.fromfile(f, dtype=np.float32)
    t0 = time.perf_counter()
    segments, _ = model.transcribe(audio, language="en" if not model.model.is_multilingual else None, **opts)
    text = "".join(s.text for s in segments)
    ms.append((time.perf_counter() - t0) * 1000)
    texts.append(text.strip())
print(json.dumps({"ms": ms, "texts": texts}))
