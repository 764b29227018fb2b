"""Plots and tables from benchmarks/results/train-matrix.jsonl and each run's metrics.jsonl.

    /usr/bin/python3 benchmarks/experiments/plot.py     (needs Debian's python3-matplotlib)

Writes benchmarks/results/loss-curves.png (val loss vs step and vs training seconds, one line per
config, mean over seeds) and prints a markdown table of final val loss (mean ± half-range over
seeds), val bpc and tokens/s, plus the val loss at equal wall time.
"""

import collections
import json
import os
import statistics
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("error: matplotlib is missing: apt-get install -y python3-matplotlib, then run with /usr/bin/python3")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def load_runs():
    runs = []
    with open(os.path.join(RESULTS, "train-matrix.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            metrics = os.path.join(ROOT, "benchmarks", r["run"], "metrics.jsonl")
            r["curve"] = []
            if os.path.exists(metrics):
                with open(metrics) as m:
                    for l in m:
                        e = json.loads(l)
                        if "val_loss" in e:
                            r["curve"].append((e["step"], e.get("train_s", 0.0), e["val_loss"]))
            runs.append(r)
    return runs


def main():
    runs = load_runs()
    by = collections.OrderedDict()
    for r in runs:
        by.setdefault(r["config"], []).append(r)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for c, rs in by.items():
        steps = [p[0] for p in rs[0]["curve"]]
        mean = [statistics.mean(r["curve"][i][2] for r in rs if len(r["curve"]) > i) for i in range(len(steps))]
        secs = [statistics.mean(r["curve"][i][1] for r in rs if len(r["curve"]) > i) for i in range(len(steps))]
        a1.plot(steps, mean, marker="o", ms=3, label=f"{c} ({len(rs)} seeds)")
        a2.plot(secs, mean, marker="o", ms=3, label=c)
    for a, xl in ((a1, "step"), (a2, "training seconds")):
        a.set_xlabel(xl)
        a.set_ylabel("val loss (nats)")
        a.set_ylim(1.85, 2.6)
        a.grid(alpha=0.3)
        a.legend()
    a1.set_title("Tiny Shakespeare, default recipe")
    a2.set_title("same runs against wall time")
    fig.tight_layout()
    out = os.path.join(RESULTS, "loss-curves.png")
    fig.savefig(out, dpi=110)
    print(f"wrote {out}\n")
    print("| config | seeds | final val loss (mean ± half-range) | val bpc | tokens/s | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for c, rs in by.items():
        v = [r["val_loss"] for r in rs]
        half = (max(v) - min(v)) / 2
        print(f"| {c} | {len(rs)} | {statistics.mean(v):.4f} ± {half:.4f} | {statistics.mean(r['val_bpc'] for r in rs):.4f} "
              f"| {statistics.mean(r['tokens_per_s'] for r in rs):,.0f} | {max(r['peak_rss_mib'] for r in rs):.0f} |")
    # val loss at equal wall time: the shortest total training time over configs
    budget = min(r["curve"][-1][1] for r in runs if r["curve"])
    print(f"\nval loss after {budget:.0f} s of training (the fastest config's total), interpolated per run:\n")
    print("| config | val loss at equal time |")
    print("|---|---|")
    for c, rs in by.items():
        vals = []
        for r in rs:
            pts = r["curve"]
            for (s0, t0, l0), (s1, t1, l1) in zip(pts, pts[1:]):
                if t0 <= budget <= t1:
                    vals.append(l0 + (l1 - l0) * (budget - t0) / max(1e-9, t1 - t0))
                    break
        if vals:
            print(f"| {c} | {statistics.mean(vals):.4f} |")


if __name__ == "__main__":
    main()
