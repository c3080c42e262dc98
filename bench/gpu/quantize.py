#!/usr/bin/env python3
"""Re-quantizes a CTranslate2 model.bin to int8_float16 (numpy only).

A float16 tiny.en (75 MB) does not fit the GPU machine's 64 MiB carry limit;
int8_float16 weights do. This follows CTranslate2's own converter
(ModelSpec._quantize): every variable named ".../weight" (linear, conv,
embeddings) becomes int8 with one float32 scale per output row
(".../weight_scale" = 127 / max|row|); other float variables become float16;
scalars, integers and aliases are kept. The file format is CTranslate2's
(binary version 6, specs/model_spec.py _serialize).

  python3 bench/gpu/quantize.py SRC_MODEL_DIR DST_MODEL_DIR
"""
import os
import shutil
import struct
import sys

import numpy as np

DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


def read_string(f):
    (n,) = struct.unpack("H", f.read(2))
    return f.read(n)[:-1].decode("utf-8")


def write_string(f, s):
    b = s.encode("utf-8")
    f.write(struct.pack("H", len(b) + 1))
    f.write(b)
    f.write(b"\0")


def read_model(path):
    with open(path, "rb") as f:
        (version,) = struct.unpack("I", f.read(4))
        if version != 6:
            sys.exit(f"quantize.py: {path} has binary version {version}; this script reads version 6")
        name = read_string(f)
        (revision,) = struct.unpack("I", f.read(4))
        (count,) = struct.unpack("I", f.read(4))
        variables = []
        for _ in range(count):
            vname = read_string(f)
            (rank,) = struct.unpack("B", f.read(1))
            shape = struct.unpack("I" * rank, f.read(4 * rank)) if rank else ()
            (type_id,) = struct.unpack("B", f.read(1))
            (nbytes,) = struct.unpack("I", f.read(4))
            dtype = DTYPES[type_id]
            if dtype == "bfloat16":
                sys.exit("quantize.py: bfloat16 variables are not handled")
            value = np.frombuffer(f.read(nbytes), dtype=dtype).reshape(shape)
            variables.append((vname, value))
        (n_alias,) = struct.unpack("I", f.read(4))
        aliases = [(read_string(f), read_string(f)) for _ in range(n_alias)]
    return name, revision, variables, aliases


def quantize(variables):
    names = {n for n, _ in variables}
    out = []
    for name, value in variables:
        if name.endswith("/weight") and value.ndim >= 2 and value.dtype.kind == "f" and name + "_scale" not in names:
            v = value.astype(np.float32)
            rows = v.reshape(v.shape[0], -1)
            amax = np.amax(np.abs(rows), axis=1)
            amax[amax == 0] = 127.0
            amax = np.maximum(amax, np.float32(127) / np.finfo(np.float32).max)
            scale = (np.float32(127.0) / amax).astype(np.float32)
            q = np.rint(rows * scale[:, None]).astype(np.int8).reshape(v.shape)
            out.append((name, q))
            out.append((name + "_scale", scale))
        elif value.dtype.kind == "f" and value.ndim > 0:
            out.append((name, value.astype(np.float16)))
        else:
            out.append((name, value))
    return out


def write_model(path, name, revision, variables, aliases):
    with open(path, "wb") as f:
        f.write(struct.pack("I", 6))
        write_string(f, name)
        f.write(struct.pack("I", revision))
        f.write(struct.pack("I", len(variables)))
        for vname, value in variables:
            write_string(f, vname)
            f.write(struct.pack("B", value.ndim))
            for d in value.shape:
                f.write(struct.pack("I", d))
            f.write(struct.pack("B", DTYPES.index(str(value.dtype))))
            data = np.ascontiguousarray(value).tobytes()
            f.write(struct.pack("I", len(data)))
            f.write(data)
        f.write(struct.pack("I", len(aliases)))
        for alias, target in aliases:
            write_string(f, alias)
            write_string(f, target)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    name, revision, variables, aliases = read_model(os.path.join(src, "model.bin"))
    write_model(os.path.join(dst, "model.bin"), name, revision, quantize(variables), aliases)
    # CTranslate2 needs the config and a vocabulary; the tokenizer is for prompts only.
    for f in ("config.json", "vocabulary.txt", "vocabulary.json", "preprocessor_config.json"):
        if os.path.exists(os.path.join(src, f)):
            shutil.copy(os.path.join(src, f), os.path.join(dst, f))
    size = os.path.getsize(os.path.join(dst, "model.bin"))
    print(f"[quantize] {src} -> {dst}: model.bin {size / 2**20:.1f} MiB (int8_float16)")


if __name__ == "__main__":
    main()
