"""How much of a Whisper engine call is the encoder, and how both scale with batch size.

Whisper pads every utterance to a 30 s window, so the encoder's work per
utterance does not depend on how long the utterance is; batching can only
amortize what is not encoder. Run on the server's machine to see what batching
can buy there:

    python3 bench/py/encoder_share.py models/tiny.en [threads] [compute_type]
"""
import sys
import time

import ctranslate2
import numpy as np
from faster_whisper.audio import decode_audio
from faster_whisper.feature_extractor import FeatureExtractor

model_dir = sys.argv[1] if len(sys.argv) > 1 else "models/tiny.en"
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
compute_type = sys.argv[3] if len(sys.argv) > 3 else "int8"

audio = decode_audio("../shared/audio/jfk.flac")[: 16000 * 3]  # 3 s: a typical short utterance
features = FeatureExtractor(80)(audio, padding=160)[:, :-1]
window = np.zeros((80, 3000), np.float32)
window[:, : features.shape[1]] = features
model = ctranslate2.models.Whisper(model_dir, device="cpu", compute_type=compute_type, intra_threads=threads)
sot, notimestamps = 50257, 50362  # English-only ids; the bench uses tiny.en
if model.is_multilingual:
    raise SystemExit("use an English-only model (tiny.en): the prompt here has no language token")


def timed(fn, repeat=3):
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat * 1000


print(f"{model_dir}, {compute_type}, {threads} threads, 3 s of jfk.flac padded to the 30 s window\n")
print("| batch | encode ms (per utterance) | encode + decode ms (per utterance) | encoder share |")
print("|---:|---:|---:|---:|")
per_utt = {}
for batch in (1, 2, 4, 8):
    x = ctranslate2.StorageView.from_array(np.stack([window] * batch))
    enc = timed(lambda: model.encode(x))
    full = timed(lambda: model.generate(x, [[sot, notimestamps]] * batch, beam_size=1))
    per_utt[batch] = full / batch
    print(f"| {batch} | {enc:.0f} ({enc / batch:.0f}) | {full:.0f} ({full / batch:.0f}) | {enc / full:.0%} |")
print(f"\nthroughput gain of batch 8 over one at a time: {per_utt[1] / per_utt[8]:.2f}x")
