"""Reference transcriptions with faster-whisper 1.2.1 for bench/parity.ts and bench/engine.ts.

Usage: python3 bench/py/fw_transcribe.py MANIFEST.json
MANIFEST: {"model": dir, "threads": n, "compute_type": "int8", "max_new_tokens": 200,
           "beam_size": 1, "repeat": 1,
           "items": [{"name":..., "file": f32 path (16 kHz mono float32), "language": "en"|null}]}
Prints JSON: {"items": [{"name", "tokens", "text", "language", "language_probability",
              "avg_logprob", "no_speech_prob", "ms": [per repeat]}], "load_ms"}.
Decoding settings mirror the engine: beam 1, temperature 0 only, without_timestamps,
condition_on_previous_text False, no VAD, no no-speech skipping.
"""
import json, sys, time

try:
    import numpy as np
    from faster_whisper import WhisperModel
except ImportError:
    sys.exit("faster-whisper is not installed: run scripts/test-setup.sh")

m = json.load(open(sys.argv[1]))
t0 = time.perf_counter()
model = WhisperModel(m["model"], device="cpu", compute_type=m.get("compute_type", "int8"),
                     cpu_threads=m.get("threads", 0), num_workers=1)
load_ms = (time.perf_counter() - t0) * 1000
out = []
for it in m["items"]:
    audio = np.fromfile(it["file"], dtype=np.float32)
    times = []
    for _ in range(max(1, m.get("repeat", 1))):
        t = time.perf_counter()
        segments, info = model.transcribe(
            audio, language=it.get("language"), task=m.get("task", "transcribe"),
            beam_size=m.get("beam_size", 1), temperature=0.0, without_timestamps=True,
            condition_on_previous_text=False, vad_filter=False,
            max_new_tokens=m.get("max_new_tokens", 200),
            no_speech_threshold=None, log_prob_threshold=None, compression_ratio_threshold=None,
        )
        segments = list(segments)
        times.append((time.perf_counter() - t) * 1000)
    tokens = [t for s in segments for t in s.tokens]
    out.append({
        "name": it["name"], "tokens": tokens, "text": "".join(s.text for s in segments).strip(),
        "language": info.language, "language_probability": info.language_probability,
        "avg_logprob": segments[0].avg_logprob if segments else 0.0,
        "no_speech_prob": segments[0].no_speech_prob if segments else 1.0, "ms": times,
    })
print(json.dumps({"items": out, "load_ms": load_ms}))
