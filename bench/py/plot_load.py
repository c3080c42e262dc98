"""Plots bench/results/load.json: latency percentiles and throughput against N."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

src, out = sys.argv[1], sys.argv[2]
rows = json.load(open(src))["rows"]
n = [r["clients"] for r in rows]
fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
for key, label in (("p50", "p50"), ("p95", "p95"), ("p99", "p99")):
    a.plot(n, [r["latencyMs"][key] for r in rows], marker="o", label=label)
a.set_xscale("log", base=2)
a.set_xlabel("concurrent real-time streams")
a.set_ylabel("end of speech → transcript, minus silence window (ms)")
a.set_title("Latency")
a.grid(alpha=0.3)
a.legend()
b.plot(n, [r["transcriptsPerSecond"] for r in rows], marker="o", color="tab:green")
b.set_xscale("log", base=2)
b.set_xlabel("concurrent real-time streams")
b.set_ylabel("transcripts per second")
b.set_title("Throughput")
b.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(out, dpi=110)
