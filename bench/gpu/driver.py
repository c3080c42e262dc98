#!/usr/bin/env python3
"""GPU checks and throughput through the shim's C ABI (native/include/sttwhisper.h),
for a machine without Bun: Python's ctypes calls what the Bun workers call.

Checks (each one passes or fails; none is skipped when STT_REQUIRE_CUDA=1):
  abi            stt_abi_version() is the ABI this driver is written for
  cuda_devices   stt_cuda_device_count() >= 1
  load_cuda      the model loads on device "cuda" and describes itself as cuda
  jfk            jfk_16k.wav transcribes word for word
  batch          a batch of 4 gives each utterance the text it gets alone
  long_batch     8 x 90 s in one call (over the old per-call cap) decodes
  word_times     word timings on the GPU: one per text token, ordered, inside the audio
  bad_input      NaN audio and a released handle are errors, not crashes
Then throughput: batch sizes (default 1..32) of 11 s utterances, a warm-up
call and timed calls per size: utterances/s, audio s/s, ms per call.
Writes one JSON file (--out) and exits 1 when any check failed.
"""
import argparse
import ctypes
import json
import os
import platform
import re
import sys
import time
import wave

import numpy as np

ABI_VERSION = 2
JFK_TEXT = "and so my fellow americans ask not what your country can do for you ask what you can do for your country"
STATUS = {0: "ok", 1: "invalid_argument", 2: "invalid_audio", 3: "model_not_found", 4: "model_load", 5: "no_cuda", 6: "bad_handle", 7: "inference", 8: "out_of_memory", 9: "internal"}


class Shim:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        L = self.lib
        L.stt_abi_version.restype = ctypes.c_int32
        L.stt_version.restype = ctypes.c_char_p
        L.stt_cuda_device_count.restype = ctypes.c_int32
        L.stt_last_error.restype = ctypes.c_char_p
        L.stt_free.argtypes = [ctypes.c_void_p]
        L.stt_load.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.POINTER(ctypes.c_void_p)]
        L.stt_release.argtypes = [ctypes.c_void_p]
        L.stt_model_describe.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
        L.stt_transcribe.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32,
            ctypes.c_int32, ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.c_float, ctypes.c_int32, ctypes.POINTER(ctypes.c_void_p),
        ]

    def check(self, status):
        if status != 0:
            raise RuntimeError(f"{STATUS.get(status, status)}: {self.lib.stt_last_error().decode()}")

    def take_json(self, cell):
        try:
            return json.loads(ctypes.string_at(cell.value).decode())
        finally:
            self.lib.stt_free(cell.value)

    def load(self, model_dir, device, compute_type):
        h = ctypes.c_void_p()
        self.check(self.lib.stt_load(model_dir.encode(), device.encode(), compute_type.encode(), 0, 0, 1, ctypes.byref(h)))
        return h

    def describe(self, h):
        cell = ctypes.c_void_p()
        self.check(self.lib.stt_model_describe(h, ctypes.byref(cell)))
        return self.take_json(cell)

    def transcribe(self, h, audios, max_new_tokens=200, flags=0):
        samples = np.ascontiguousarray(np.concatenate(audios).astype(np.float32))
        lengths = np.array([len(a) for a in audios], dtype=np.int64)
        cell = ctypes.c_void_p()
        self.check(self.lib.stt_transcribe(
            h, samples.ctypes.data, lengths.ctypes.data, len(audios), None, 0, 1, max_new_tokens,
            None, 0, None, 0, None, None, 0.0, flags, ctypes.byref(cell)))
        return self.take_json(cell)


def normalize(s):
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", s.lower()).split())


def read_wav(path):
    with wave.open(path) as w:
        if w.getframerate() != 16000 or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise SystemExit(f"{path}: expected 16 kHz mono 16-bit PCM")
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--audio", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--batches", default="1,2,4,8,16,32")
    ap.add_argument("--compute-type", default="int8_float16")
    ap.add_argument("--repeat", type=int, default=3)
    # cpu: the same run against a CPU build, to try this driver where there is no GPU.
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = ap.parse_args()
    require_cuda = os.environ.get("STT_REQUIRE_CUDA") == "1"
    shim = Shim(args.lib)
    jfk = read_wav(args.audio)
    checks = []
    result = {
        "machine": platform.node(),
        "library": shim.lib.stt_version().decode(),
        "model": os.path.abspath(args.model),
        "compute_type": args.compute_type,
        "device": args.device,
        "require_cuda": require_cuda,
        "checks": checks,
        "throughput": [],
    }

    def check(name, fn):
        t0 = time.perf_counter()
        try:
            detail = fn()
            checks.append({"name": name, "ok": True, "ms": round((time.perf_counter() - t0) * 1000, 1), "detail": detail})
            print(f"[driver] PASS {name}: {detail}")
            return True
        except Exception as e:  # a failed check is recorded, the run goes on where it can
            checks.append({"name": name, "ok": False, "ms": round((time.perf_counter() - t0) * 1000, 1), "error": str(e)})
            print(f"[driver] FAIL {name}: {e}")
            return False

    def expect(cond, msg):
        if not cond:
            raise AssertionError(msg)

    def abi():
        v = shim.lib.stt_abi_version()
        expect(v == ABI_VERSION, f"library ABI {v}, driver expects {ABI_VERSION}")
        return v

    check("abi", abi)
    devices = shim.lib.stt_cuda_device_count()
    result["cuda_devices"] = devices

    def cuda_devices():
        expect(devices >= 1, "no CUDA device visible to CTranslate2 (driver, GPU, or a CPU-only build)")
        return devices

    if args.device == "cuda" and not check("cuda_devices", cuda_devices) and not require_cuda:
        # Without STT_REQUIRE_CUDA the remaining checks cannot run: say so, fail nothing more.
        print("[driver] no CUDA device and STT_REQUIRE_CUDA is not 1: stopping after the device check")
        write(args.out, result)
        return 1

    state = {}

    def load_cuda():
        h = shim.load(args.model, args.device, args.compute_type)
        d = shim.describe(h)
        expect(d["device"] == args.device, f"described as {d['device']}")
        state["h"] = h
        return {"compute_type": d["compute_type"], "device": d["device"]}

    if not check(f"load_{args.device}", load_cuda):
        write(args.out, result)
        return 1
    h = state["h"]

    def jfk_check():
        r = shim.transcribe(h, [jfk])["results"][0]
        expect(normalize(r["text"]) == JFK_TEXT, f"got {r['text']!r}")
        return r["text"]

    def batch():
        parts = [jfk[: 5 * 16000], jfk, jfk[5 * 16000 :], jfk[: 8 * 16000]]
        alone = [normalize(shim.transcribe(h, [p])["results"][0]["text"]) for p in parts]
        together = [normalize(r["text"]) for r in shim.transcribe(h, parts)["results"]]
        expect(alone == together, f"alone {alone} vs batch {together}")
        return len(parts)

    def long_batch():
        long = np.resize(jfk, 90 * 16000)
        rs = shim.transcribe(h, [long] * 8, max_new_tokens=8)["results"]
        expect(len(rs) == 8 and all(r["windows"] == 3 for r in rs), f"windows {[r['windows'] for r in rs]}")
        return "8 x 90 s"

    def word_times():
        r = shim.transcribe(h, [jfk], flags=1)["results"][0]
        times = r.get("token_times") or []
        text_tokens = [t for t in r["tokens"] if t < 50256]
        expect(len(times) == len(text_tokens) and len(times) > 10, f"{len(times)} times for {len(text_tokens)} tokens")
        starts = [t[0] for t in times]
        expect(starts == sorted(starts), "token starts not ordered")
        expect(0 <= starts[0] and times[-1][1] <= len(jfk) / 16000 + 0.01, f"times outside the audio: {times[0]} .. {times[-1]}")
        return f"{len(times)} tokens, last ends {times[-1][1]:.2f} s"

    def bad_input():
        bad = jfk[:16000].copy()
        bad[100] = np.nan
        try:
            shim.transcribe(h, [bad])
            raise AssertionError("NaN audio was accepted")
        except RuntimeError as e:
            expect(str(e).startswith("invalid_audio"), str(e))
        h2 = shim.load(args.model, args.device, args.compute_type)
        shim.check(shim.lib.stt_release(h2))  # refcount back to one: h stays live
        return "invalid_audio on NaN"

    for name, fn in [("jfk", jfk_check), ("batch", batch), ("long_batch", long_batch), ("word_times", word_times), ("bad_input", bad_input)]:
        check(name, fn)

    clip = jfk  # 11 s of speech per utterance
    for bs in [int(x) for x in args.batches.split(",")]:
        audios = [clip] * bs
        shim.transcribe(h, audios)  # warm-up: allocations and kernels of this size
        ms = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            rs = shim.transcribe(h, audios)["results"]
            ms.append((time.perf_counter() - t0) * 1000)
        ok = all(normalize(r["text"]) == JFK_TEXT for r in rs)
        med = sorted(ms)[len(ms) // 2]
        row = {"batch": bs, "ms_per_call_median": round(med, 1), "ms_per_call": [round(x, 1) for x in ms],
               "utterances_per_s": round(bs / (med / 1000), 2), "audio_s_per_s": round(bs * len(clip) / 16000 / (med / 1000), 1),
               "texts_exact": ok}
        result["throughput"].append(row)
        print(f"[driver] batch {bs:>2}: {row['ms_per_call_median']:>8.1f} ms/call, {row['utterances_per_s']:>7.2f} utt/s, {row['audio_s_per_s']:>7.1f} audio s/s, exact {ok}")
    shim.check(shim.lib.stt_release(h))
    write(args.out, result)
    failed = [c["name"] for c in checks if not c["ok"]]
    print(f"[driver] {len(checks) - len(failed)}/{len(checks)} checks passed" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def write(path, result):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
