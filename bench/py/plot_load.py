"""Plots bench/results/load.json: latency and throughput against N, one line per server mode."""
import json
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

src, out = sys.argv[1], sys.argv[2]
rows = json.load(open(src))["rows"]
modes = defaultdict(list)
for r in rows:
    modes[r.get("mode", "batched")].append(r)
fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
for name, rs in modes.items():
    n = [r["clients"] for r in rs]
    a.plot(n, [r["latencyMs"]["p50"] for r in rs], marker="o", label=f"{name} p50")
    a.plot(n, [r["latencyMs"]["p95"] for r in rs], marker="s", linestyle="--", label=f"{name} p95")
    b.plot(n, [r["transcriptsPerSecond"] for r in rs], marker="o", label=name)
for ax in (a, b):
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent real-time streams")
    ax.grid(alpha=0.3)
    ax.legend()
a.set_ylabel("end of speech → transcript, minus silence window (ms)")
a.set_title("Latency")
b.set_ylabel("transcripts per second")
b.set_title("Throughput")
fig.tight_layout()
fig.savefig(out, dpi=110)
