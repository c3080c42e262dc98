"""Generates test/fixtures/features/*: faster-whisper 1.2.1 FeatureExtractor output
for the first 2.5 s of jfk_16k.wav at 80 and 128 mel bins (as transcribe() calls it:
padding=160). Run once: python3 bench/py/make_feature_fixtures.py"""
import json, os, sys, wave
import numpy as np
try:
    from faster_whisper.feature_extractor import FeatureExtractor
except ImportError:
    sys.exit("faster-whisper is not installed: run scripts/test-setup.sh")

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out_dir = os.path.join(root, "test", "fixtures", "features")
wav = os.path.join(root, "..", "shared", "audio", "jfk_16k.wav")
with wave.open(wav) as w:
    assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
    pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
audio = (pcm[: int(2.5 * 16000)].astype(np.float32) / 32768.0).astype(np.float32)
os.makedirs(out_dir, exist_ok=True)
audio.tofile(os.path.join(out_dir, "jfk_2.5s.f32"))
meta = {"audio": "jfk_2.5s.f32", "samples": int(audio.shape[0]), "padding": 160, "features": {}}
for n_mels in (80, 128):
    feats = FeatureExtractor(feature_size=n_mels)(audio, padding=160).astype(np.float32)
    name = f"jfk_2.5s_mel{n_mels}.f32"
    feats.tofile(os.path.join(out_dir, name))
    meta["features"][str(n_mels)] = {"file": name, "shape": list(feats.shape)}
with open(os.path.join(out_dir, "meta.json"), "w") as f:
    json.dump(meta, f, indent=2)
print(json.dumps(meta))
