"""Plots bench/results/overload.json: admitted latency and goodput against offered load, admission on vs off."""
import json
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

src, out = sys.argv[1], sys.argv[2]
data = json.load(open(src))
modes = defaultdict(list)
for r in data["rows"]:
    modes[r["mode"]].append(r)
fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
for name, rs in modes.items():
    x = [r["offered"] for r in rs]
    a.plot(x, [r["latencyMs"]["p50"] / 1000 for r in rs], marker="o", label=f"{name} p50")
    a.plot(x, [r["latencyMs"]["p95"] / 1000 for r in rs], marker="s", linestyle="--", label=f"{name} p95")
    b.plot(x, [r["goodput"] for r in rs], marker="o", label=name)
a.axhline(data["maxLatency"], color="grey", linewidth=0.8, linestyle=":", label="max_latency")
a.set_yscale("log")
a.set_ylabel("final latency of admitted streams (s)")
a.set_title("Latency")
b.set_ylabel("finals per second (admitted streams)")
b.set_title("Goodput")
for ax in (a, b):
    ax.set_xlabel(f"offered load (× measured capacity, {data['capacity']} streams)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(out, dpi=110)
