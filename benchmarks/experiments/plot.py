"""Plots and tables from benchmarks/results/train-matrix.jsonl and each run's metrics.jsonl.

    /usr/bin/python3 benchmarks/experiments/plot.py [--runs DIR] [--long DIR...]   (needs python3-matplotlib)

Writes benchmarks/results/loss-curves.png (val loss vs step and vs training seconds, one line per
config, mean over the seeds whose run directory is present) and prints a markdown table of final val
loss (mean ± half-range over seeds), val bpc and tokens/s, plus the val loss at equal wall time.
For every mixture-of-experts config it also writes benchmarks/results/expert-loads.png: each
layer's share of routed tokens per expert over training (seed 1337, or the first seed present).
--runs DIR reads run directories from DIR instead of benchmarks/runs. --long DIR... plots longer
runs (e.g. the 10,000-step comparison) to benchmarks/results/long-runs.png, train and val loss
against step, and prints their final losses and train/val gap.
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


RUNS = os.path.join(ROOT, "benchmarks", "runs")


def metrics(run_dir):
    """The run's metrics.jsonl as a list of dicts (empty when the directory is gone)."""
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as m:
        return [json.loads(l) for l in m if l.strip()]


def load_runs():
    """The matrix's runs, the last line per (config, seed), with their val-loss curves."""
    last = collections.OrderedDict()
    with open(os.path.join(RESULTS, "train-matrix.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            last[(r["config"], r["seed"])] = r
    runs = []
    for r in last.values():
        r["dir"] = os.path.join(RUNS, os.path.basename(r["run"]))
        r["metrics"] = metrics(r["dir"])
        r["curve"] = [(e["step"], e.get("train_s", 0.0), e["val_loss"]) for e in r["metrics"] if "val_loss" in e]
        runs.append(r)
    return runs


def expert_loads(runs):
    """Heat maps of h.{l}.mlp.load.{e} over steps: one row per MoE config, one column per layer."""
    moe = collections.OrderedDict()
    for r in runs:
        if r["config"].endswith("-moe") and r["metrics"] and r["config"] not in moe:
            moe[r["config"]] = r
    if not moe:
        return
    layers = sorted({int(k.split(".")[1]) for r in moe.values() for e in r["metrics"] for k in e if ".mlp.load." in k})
    fig, axes = plt.subplots(len(moe), len(layers), figsize=(3.4 * len(layers), 3.0 * len(moe)), squeeze=False, constrained_layout=True)
    for row, (c, r) in enumerate(moe.items()):
        rows = [e for e in r["metrics"] if any(".mlp.load." in k for k in e)]
        steps = [e["step"] for e in rows]
        for col, l in enumerate(layers):
            experts = sorted(int(k.rsplit(".", 1)[1]) for k in rows[0] if k.startswith(f"h.{l}.mlp.load."))
            grid = [[e[f"h.{l}.mlp.load.{x}"] for e in rows] for x in experts]
            ax = axes[row][col]
            im = ax.imshow(grid, aspect="auto", origin="lower", cmap="viridis", vmin=0, vmax=2.5 / len(experts),
                           extent=(steps[0], steps[-1], -0.5, len(experts) - 0.5))
            ax.set_title(f"{c} s{r['seed']}, layer {l}", fontsize=9)
            ax.set_xlabel("step")
            ax.set_ylabel("expert")
            lo = min(min(g) for g in grid)
            hi = max(max(g) for g in grid)
            ax.text(0.02, 0.95, f"min {lo:.3f} max {hi:.3f}", transform=ax.transAxes, fontsize=7, color="white", va="top")
    fig.colorbar(im, ax=axes, shrink=0.8, label=f"share of routed tokens (uniform = {1 / len(experts):.3f})")
    out = os.path.join(RESULTS, "expert-loads.png")
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


def long_runs(dirs):
    """Train and val loss against step for longer runs; prints the final losses and the train/val gap."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    print("\n| run | steps | final val loss | train loss (eval batches) | gap val - train | best val loss (step) |")
    print("|---|---|---|---|---|---|")
    for d in dirs:
        m = metrics(d)
        ev = [e for e in m if "val_loss" in e]
        if not ev:
            continue
        name = os.path.basename(os.path.normpath(d))
        line, = ax.plot([e["step"] for e in ev], [e["val_loss"] for e in ev], label=f"{name} val")
        ax.plot([e["step"] for e in ev], [e["eval_train_loss"] for e in ev], ls="--", color=line.get_color(), label=f"{name} train")
        best = min(ev, key=lambda e: e["val_loss"])
        f = ev[-1]
        print(f"| {name} | {f['step']} | {f['val_loss']:.4f} | {f['eval_train_loss']:.4f} | {f['val_loss'] - f['eval_train_loss']:.4f} "
              f"| {best['val_loss']:.4f} ({best['step']}) |")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats)")
    ax.set_ylim(1.0, 2.6)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("longer runs: val (solid) and train (dashed) loss")
    fig.tight_layout()
    out = os.path.join(RESULTS, "long-runs.png")
    fig.savefig(out, dpi=110)
    print(f"\nwrote {out}")


def main():
    global RUNS
    args = sys.argv[1:]
    if "--runs" in args:
        RUNS = args[args.index("--runs") + 1]
    if "--long" in args:
        long_runs([a for a in args[args.index("--long") + 1:] if not a.startswith("--")])
        return
    runs = load_runs()
    expert_loads(runs)
    by = collections.OrderedDict()
    for r in runs:
        by.setdefault(r["config"], []).append(r)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for c, rs in by.items():
        rs = [r for r in rs if r["curve"]]
        if not rs:
            continue
        steps = [p[0] for p in rs[0]["curve"]]
        mean = [statistics.mean(r["curve"][i][2] for r in rs if len(r["curve"]) > i) for i in range(len(steps))]
        secs = [statistics.mean(r["curve"][i][1] for r in rs if len(r["curve"]) > i) for i in range(len(steps))]
        a1.plot(steps, mean, marker="o", ms=3, label=f"{c} ({len(rs)} seed{'s' if len(rs) > 1 else ''})")
        a2.plot(secs, mean, marker="o", ms=3, label=c)
    for a, xl in ((a1, "step"), (a2, "training seconds")):
        a.set_xlabel(xl)
        a.set_ylabel("val loss (nats)")
        a.set_ylim(1.7, 2.6)
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
    budget = min(r["curve"][-1][1] for r in runs if r["curve"] and r["curve"][-1][1] > 0)
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
