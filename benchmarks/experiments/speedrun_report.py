#!/usr/bin/python3
"""Records and report of the speedrun study (benchmarks/experiments/speedrun.sh, issue 23).

    speedrun_report.py record ...     one JSON line for one run (the engine's or PyTorch's), on stdout
    speedrun_report.py family FLAGS   exit 0 when the engine flags name a Leviathan-family stack
    speedrun_report.py report [--jsonl F] [--md F] [--png F] [--cpu all|MODEL]
                                      speedrun.md and speedrun.png from speedrun.jsonl

The report takes the lines of one CPU (by default the CPU of the file's last line; --cpu all takes
every line) and, for each (row, budget, seed), the latest line: a rerun replaces a run, and rows
run on different days combine. Mean ± sample standard deviation over seeds; a failed run (non-zero
exit, killed, no full-split score) is listed, never averaged.

The plot draws, per budget, each row's evaluations on 20 random batches (the run's metrics.jsonl:
elapsed_s since the process start, val_loss) as a line and its full-split val loss as a marker at the
end of training; for a row with several seeds, the lowest seed's curve.

Needs only the standard library, and matplotlib for the plot (Debian: python3-matplotlib).
"""

import argparse
import json
import math
import os
import re
import statistics
import sys

# issue 23's targets: the 10-minute goal, its stretch, the 2-minute goal, the margin over the peer,
# and how close the best Leviathan-family recipe must come to the overall best
TARGET_10M, STRETCH_10M, TARGET_2M, MARGIN, FAMILY_GAP = 1.50, 1.47, 1.70, 0.10, 0.02
DEFAULT_LAYERS = 4


def budget_label(seconds):
    s = int(round(seconds))
    if s % 3600 == 0:
        return f"{s // 3600}h"
    if s % 60 == 0:
        return f"{s // 60}m"
    return f"{s}s"


def read_jsonl(path):
    rows = []
    if not path or not os.path.exists(path):
        return rows
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def curve(metrics_path):
    """[[wall_s, step, val_loss], ...] from the eval rows of a metrics.jsonl (engine or PyTorch peer)."""
    out = []
    for row in read_jsonl(metrics_path):
        if "val_loss" in row and "elapsed_s" in row:
            out.append([round(row["elapsed_s"], 3), row["step"], round(row["val_loss"], 5)])
    return out


def mixers(flags):
    """The per-layer token mixers an engine flag string names (default: correlation in every layer)."""
    words = flags.split()
    value = {}
    for i, w in enumerate(words):
        if w.startswith("--") and "=" in w:
            k, v = w.split("=", 1)
            value[k] = v
        elif w.startswith("--") and i + 1 < len(words) and not words[i + 1].startswith("--"):
            value[w] = words[i + 1]
    layers = int(value.get("--n-layer", DEFAULT_LAYERS))
    kinds = [k.strip() for k in value.get("--attention", "correlation").split(",")]
    return kinds * layers if len(kinds) == 1 else kinds


def is_family(flags):
    """Correlation or involution in at least half the layers (issue 23's 'Leviathan family')."""
    kinds = mixers(flags)
    return 2 * sum(k in ("correlation", "involution") for k in kinds) >= len(kinds)


# ---------------------------------------------------------------------------------------------
# record: one run -> one JSON line

ENGINE_FINAL = re.compile(r"final: val loss ([0-9.]+|NaN), val bpc [0-9.NaN]+, train loss ([0-9.]+|NaN), ([0-9,]+) tokens/s, "
                          r"wall ([0-9.]+) s, peak RSS (?:([0-9]+) MiB|n/a)")
ENGINE_EVAL = re.compile(r"loss ([0-9.]+) nats, bpc ([0-9.]+) over ([0-9,]+) predictions")


def record(a):
    r = {"row": a.row, "impl": a.impl, "flags": a.flags, "command": a.command, "budget": a.budget,
         "budget_s": a.budget_s, "seed": a.seed, "rc": a.rc, "eval_rc": a.eval_rc, "wall_s": round(a.wall, 2),
         "cpu": a.cpu, "vcpus": a.vcpus, "date": a.date, "commit": a.commit, "run": a.run}
    if a.smoke:
        r["smoke"] = True
    status = "ok"
    if a.impl == "leviathan":
        m = ENGINE_FINAL.search(open(a.out, encoding="utf-8", errors="replace").read()) if os.path.exists(a.out) else None
        cfg_path = os.path.join(a.dir, "config.json")
        if os.path.exists(cfg_path):
            with open(cfg_path, encoding="utf-8") as f:
                r["steps"] = json.load(f).get("steps")
        if m:
            r.update(val_loss_sampled=float(m.group(1)), train_loss=float(m.group(2)),
                     tokens_per_s=float(m.group(3).replace(",", "")), peak_rss_mib=int(m.group(5)) if m.group(5) else None)
        r["train_wall_s"] = r["wall_s"]                        # the budget governs the whole train process
        r["threads"] = a.threads
        e = ENGINE_EVAL.search(open(a.eval_out, encoding="utf-8", errors="replace").read()) if a.eval_out and os.path.exists(a.eval_out) else None
        if e:
            r.update(val_loss=float(e.group(1)), val_bpc=float(e.group(2)), val_predictions=int(e.group(3).replace(",", "")))
        if a.eval_wall is not None:
            r["eval_wall_s"] = round(a.eval_wall, 2)
    else:
        res = {}
        if os.path.exists(a.out):
            for line in open(a.out, encoding="utf-8", errors="replace"):
                if line.startswith("{"):
                    res = json.loads(line)
        if res:
            r.update(steps=res.get("steps"), val_loss_sampled=res.get("val_loss"), train_loss=res.get("train_loss"),
                     tokens_per_s=res.get("tokens_per_s"), peak_rss_mib=round(res.get("peak_rss_mib", 0)),
                     threads=res.get("threads"))
            if "val_loss_full" in res:
                r.update(val_loss=res["val_loss_full"], val_bpc=res["val_bpc_full"], val_predictions=res["val_predictions"],
                         eval_wall_s=round(res["full_eval_s"], 2))
                # the process ran the full evaluation after training: the budget governs what came before it
                r["train_wall_s"] = round(a.wall - res["full_eval_s"], 2)
        if a.thread_calibration:
            r["thread_calibration"] = json.loads(a.thread_calibration)
    r["curve"] = curve(a.metrics)
    if a.rc in (124, 137):
        status = "killed"
    elif a.rc != 0 or a.eval_rc != 0 or "val_loss" not in r or not math.isfinite(r["val_loss"]):
        status = "failed"
    r["status"] = status
    if status != "ok":
        r["error"] = tail(a.err)
    print(json.dumps(r))


def tail(path, n=3):
    if not path or not os.path.exists(path):
        return ""
    lines = [l.rstrip() for l in open(path, encoding="utf-8", errors="replace") if l.strip()]
    return " | ".join(lines[-n:])[-600:]


# ---------------------------------------------------------------------------------------------
# report

def select(rows, cpu):
    if not all(r.get("smoke") for r in rows):
        rows = [r for r in rows if not r.get("smoke")]            # smoke lines never mix with results
    if not rows:
        return [], None
    if cpu is None:
        cpu = rows[-1]["cpu"]
    if cpu != "all":
        rows = [r for r in rows if r["cpu"] == cpu]
    latest = {}
    for r in rows:                                             # later lines replace earlier ones
        latest[(r["row"], r["budget_s"], r["seed"])] = r
    return list(latest.values()), cpu


class Stat:
    """A row at one budget: its runs over seeds."""

    def __init__(self, runs):
        self.runs = sorted(runs, key=lambda r: r["seed"])
        self.ok = [r for r in self.runs if r["status"] == "ok"]
        self.failed = [r for r in self.runs if r["status"] != "ok"]
        vals = [r["val_loss"] for r in self.ok]
        self.n = len(vals)
        self.mean = statistics.fmean(vals) if vals else None
        self.std = statistics.stdev(vals) if len(vals) > 1 else None
        self.impl = self.runs[0]["impl"]
        self.flags = self.runs[0]["flags"]

    def loss(self):
        if self.mean is None:
            return "failed" if self.failed else "—"
        return f"{self.mean:.4f} ± {self.std:.4f}" if self.std is not None else f"{self.mean:.4f}"

    def avg(self, key, fmt):
        v = [r[key] for r in self.ok if r.get(key) is not None]
        return format(statistics.fmean(v), fmt) if v else "—"

    def most(self, key, fmt):
        v = [r[key] for r in self.ok if r.get(key) is not None]
        return format(max(v), fmt) if v else "—"


def stats(rows):
    by = {}
    for r in rows:
        by.setdefault((r["budget_s"], r["row"]), []).append(r)
    return {k: Stat(v) for k, v in by.items()}


def best(st, budget, engine_only=True, family=None, min_seeds=1):
    cands = [(s.mean, row) for (b, row), s in st.items()
             if b == budget and s.mean is not None and s.n >= min_seeds
             and (not engine_only or s.impl == "leviathan") and (family is None or is_family(s.flags) == family)]
    return min(cands) if cands else None


def targets(st):
    """[(target, verdict, detail)] for issue 23's targets."""
    out = []
    b10 = best(st, 600, min_seeds=3)
    any10 = best(st, 600)
    if b10:
        mean, row = b10
        verdict = "met" if mean <= TARGET_10M else "missed"
        stretch = "met" if mean <= STRETCH_10M else "missed"
        out.append((f"val ≤ {TARGET_10M:.2f} in 10 min (mean of 3 seeds)", verdict, f"`{row}`: {mean:.4f} over {st[(600, row)].n} seeds"))
        out.append((f"stretch: val ≤ {STRETCH_10M:.2f} in 10 min", stretch, f"`{row}`: {mean:.4f}"))
    else:
        detail = f"best at 10 min: `{any10[1]}` {any10[0]:.4f} with {st[(600, any10[1])].n} seed(s)" if any10 else "no 10-minute run"
        out.append((f"val ≤ {TARGET_10M:.2f} in 10 min (mean of 3 seeds)", "not measured", detail + "; no row has 3 seeds at 10 min"))
        out.append((f"stretch: val ≤ {STRETCH_10M:.2f} in 10 min", "not measured", "as above"))
    b2 = best(st, 120)
    out.append((f"val ≤ {TARGET_2M:.2f} in 2 min", ("met" if b2[0] <= TARGET_2M else "missed") if b2 else "not measured",
                f"`{b2[1]}`: {b2[0]:.4f}" if b2 else "no 2-minute engine run"))
    for budget in (120, 600):
        b = best(st, budget)
        peer = st.get((budget, "pytorch"))
        name = f"engine's best beats the PyTorch peer by ≥ {MARGIN:.2f} nats at {budget_label(budget)}"
        if b and peer and peer.mean is not None:
            gap = peer.mean - b[0]
            out.append((name, "met" if gap >= MARGIN else "missed", f"`{b[1]}` {b[0]:.4f} vs pytorch {peer.mean:.4f}: {gap:+.4f}"))
        else:
            out.append((name, "not measured", "needs an engine row and the pytorch row at this budget"))
    fam, overall = best(st, 600, family=True), best(st, 600)
    name = f"best Leviathan-family recipe within {FAMILY_GAP:.2f} of the overall best at 10 min"
    if fam and overall:
        gap = fam[0] - overall[0]
        out.append((name, "met" if gap <= FAMILY_GAP else "missed",
                    f"family `{fam[1]}` {fam[0]:.4f}, overall `{overall[1]}` {overall[0]:.4f}: {gap:+.4f}"))
    else:
        out.append((name, "not measured", "needs 10-minute runs of family and overall rows"))
    return out


OVER_SLACK, OVER_SLACK_S = 0.02, 3.0


def over(r):
    """Whether a run's training outlasted its budget beyond the slack (start-up jitter, the last step)."""
    return r.get("train_wall_s", 0) > r["budget_s"] * (1 + OVER_SLACK) + OVER_SLACK_S


def shown(flags):
    return f"`{flags}`" if flags else "(the defaults)"


def markdown(rows, cpu, jsonl, png):
    st = stats(rows)
    budgets = sorted({b for b, _ in st})
    L = ["# Speedrun: the best model in a wall-clock budget", ""]
    L.append("Written by `benchmarks/experiments/speedrun_report.py` from "
             f"`{os.path.basename(jsonl)}` beside this file; do not edit by hand. "
             "How to run: [docs/speedrun.md](../../docs/speedrun.md).")
    L.append("")
    if not rows:
        L.append("No runs recorded yet.")
        return "\n".join(L) + "\n"
    if any(r.get("smoke") for r in rows):
        L += ["**Smoke run: checks the harness end to end on a busy machine. These numbers are not results.**", ""]
    dates = sorted({r["date"] for r in rows})
    commits = sorted({r["commit"] for r in rows})
    L += ["## Protocol", "",
          "- One run at a time on the machine below. The budget counts from the process start: JVM or Python "
          "start-up, JIT warm-up and data loading are inside it. The engine runs `train --time BUDGET`, which "
          "measures its speed over the second half of the learning-rate warmup and fixes the step count that "
          "fits (evaluations included); the PyTorch peer (`benchmarks/pytorch/train.py --time BUDGET`) does the same.",
          "- The score is the val loss on the **full validation split** with the spec's windowing (non-overlapping "
          "windows of block_size + 1 tokens, every prediction counted): `leviathan eval --split val` for the engine, "
          "`evaluate_windows` at the end of `train.py` for the peer. Scoring runs after training and is outside "
          "the budget for every row; wall (s) is the training process as the script timed it (for the peer less "
          "its in-process full evaluation).",
          "- `pytorch`: nanoGPT's CPU recipe (dot attention, 4 layers, n_embd 128, block 64, batch 12, lr 1e-3 → 1e-4, "
          "warmup 100, dropout 0) run by the PyTorch peer with its step count fitted to the budget, at the thread "
          "count that was faster in a calibration (1 vs 2 threads, recorded per run), `GOMP_SPINCOUNT=0`.",
          "- `default`: the engine's default recipe (the same recipe with correlation, 4 lags); `dot`: the same with dot "
          "attention; the other rows come from `benchmarks/experiments/speedrun-configs.txt`.",
          "- val loss is the mean ± sample standard deviation over seeds (n = seeds that finished).",
          "",
          f"CPU: {cpu} ({rows[-1]['vcpus']} vCPUs). Dates: {', '.join(dates)}. Commits: {', '.join(commits)}.", ""]
    for b in budgets:
        L += [f"## Budget {budget_label(b)}", "",
              "| row | val loss (full split) | seeds | steps | tokens/s | wall (s) | flags |",
              "|---|---|---|---|---|---|---|"]
        here = sorted(((row, s) for (bb, row), s in st.items() if bb == b),
                      key=lambda x: (x[1].mean is None, x[1].mean if x[1].mean is not None else 0, x[0]))
        for row, s in here:
            seeds = f"{s.n}" + (f" (+{len(s.failed)} failed)" if s.failed else "")
            wall = s.most('train_wall_s', '.1f')
            if any(over(r) for r in s.ok):
                wall += " **over**"
            L.append(f"| {row} | {s.loss()} | {seeds} | {s.avg('steps', ',.0f')} | {s.avg('tokens_per_s', ',.0f')} | "
                     f"{wall} | {shown(s.flags)} |")
        if any(over(r) for _, st_ in here for r in st_.ok):
            L += ["", f"**over**: a run's training outlasted the budget by more than {OVER_SLACK_S:.0f} s or "
                      f"{OVER_SLACK:.0%} (a warmup slower than the budget, or a loaded machine): its row broke the protocol."]
        peer = next((s for (bb, row), s in st.items() if bb == b and row == "pytorch"), None)
        if peer and peer.ok:
            cal = peer.ok[0].get("thread_calibration")
            if cal:
                L += ["", "PyTorch thread calibration (tokens/s): " + ", ".join(f"{k} thread(s) {v:,.0f}" for k, v in cal.items())
                      + f"; ran with {peer.ok[0].get('threads')}."]
        L.append("")
    L += ["## Every configuration tried", "",
          "Mean full-split val loss per budget (seeds in brackets); sorted by the 10-minute column where there is one.", ""]
    names = sorted({row for _, row in st})
    key_budget = 600 if 600 in budgets else budgets[-1]
    def order(row):
        s = st.get((key_budget, row))
        return (s is None or s.mean is None, s.mean if s and s.mean is not None else 0, row)
    L.append("| row | family | " + " | ".join(budget_label(b) for b in budgets) + " | flags |")
    L.append("|---|---|" + "---|" * len(budgets) + "---|")
    for row in sorted(names, key=order):
        any_s = next(s for (b, r), s in st.items() if r == row)
        fam = "—" if any_s.impl == "pytorch" else ("yes" if is_family(any_s.flags) else "no")
        cells = []
        for b in budgets:
            s = st.get((b, row))
            cells.append("" if s is None else (f"{s.mean:.4f} ({s.n})" if s.mean is not None else "failed"))
        L.append(f"| {row} | {fam} | " + " | ".join(cells) + f" | {shown(any_s.flags)} |")
    L += ["", "Family: correlation or involution in at least half the layers.", "",
          "## Issue 23's targets", "", "| target | verdict | detail |", "|---|---|---|"]
    for name, verdict, detail in targets(st):
        L.append(f"| {name} | **{verdict}** | {detail} |")
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        L += ["", "## Failed runs", ""]
        for r in failed:
            L.append(f"- {r['row']} at {r['budget']}, seed {r['seed']}: {r['status']} (rc {r['rc']}, eval rc {r.get('eval_rc')}): "
                     f"{r.get('error', '')}")
    if png:
        L += ["", "## Val loss against wall-clock time", "",
              f"![val loss against wall-clock minutes]({os.path.basename(png)})", "",
              "Lines: evaluations on 20 random batches of each split during training (the run of the lowest seed); "
              "markers: the full-split val loss of that run at the end of its training."]
    return "\n".join(L) + "\n"


def plot(rows, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    st = stats(rows)
    budgets = sorted({b for b, _ in st})
    names = sorted({row for _, row in st})
    colors = {row: plt.get_cmap("tab20")((2 * i) % 20 + (i // 10) % 2) for i, row in enumerate(names)}  # strong hues first
    fig, axes = plt.subplots(1, len(budgets), figsize=(6 * len(budgets), 5), squeeze=False)
    for ax, b in zip(axes[0], budgets):
        lows = []
        for row in names:
            s = st.get((b, row))
            if not s or not s.ok:
                continue
            r = s.ok[0]
            pts = [(w / 60, v) for w, _, v in r.get("curve", [])]
            style = "--" if s.impl == "pytorch" else "-"
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=colors[row], lw=1.2, label=row)
            ax.plot([r["train_wall_s"] / 60], [r["val_loss"]], "o", color=colors[row], ms=5,
                    label=None if pts else row)
            lows.append(min([r["val_loss"]] + [p[1] for p in pts]))
        ax.axvline(b / 60, color="grey", lw=0.8, ls=":")
        ax.set_xlim(left=0)
        if lows:
            ax.set_ylim(min(lows) - 0.05, min(lows) + 1.2)
        ax.set_title(f"budget {budget_label(b)}")
        ax.set_xlabel("wall-clock minutes from the process start")
        ax.set_ylabel("val loss (nats)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def report(a):
    rows, cpu = select(read_jsonl(a.jsonl), a.cpu)
    with open(a.md, "w", encoding="utf-8") as f:
        f.write(markdown(rows, cpu, a.jsonl, a.png if rows else None))
    if rows and a.png:
        plot(rows, a.png)
    print(f"wrote {a.md}" + (f" and {a.png}" if rows and a.png else ""))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record", help="one JSON line for one run")
    r.add_argument("--row", required=True)
    r.add_argument("--impl", choices=("leviathan", "pytorch"), required=True)
    r.add_argument("--flags", required=True, help="the row's flags (engine flags, or the peer's)")
    r.add_argument("--command", required=True, help="the whole command line")
    r.add_argument("--budget", required=True)
    r.add_argument("--budget-s", type=float, required=True)
    r.add_argument("--seed", type=int, required=True)
    r.add_argument("--rc", type=int, required=True)
    r.add_argument("--eval-rc", type=int, default=0)
    r.add_argument("--wall", type=float, required=True, help="seconds the script timed around the training process")
    r.add_argument("--eval-wall", type=float, default=None)
    r.add_argument("--out", required=True, help="the training process's stdout")
    r.add_argument("--err", required=True, help="its stderr")
    r.add_argument("--eval-out", default=None, help="engine: the eval command's stdout")
    r.add_argument("--dir", default="", help="engine: the run directory")
    r.add_argument("--metrics", required=True)
    r.add_argument("--threads", type=int, default=0)
    r.add_argument("--thread-calibration", default=None, help="PyTorch: JSON {threads: tokens/s}")
    r.add_argument("--cpu", required=True)
    r.add_argument("--vcpus", type=int, required=True)
    r.add_argument("--date", required=True)
    r.add_argument("--commit", required=True)
    r.add_argument("--run", required=True)
    r.add_argument("--smoke", action="store_true")
    f = sub.add_parser("family", help="exit 0 when FLAGS name a Leviathan-family stack")
    f.add_argument("flags")
    g = sub.add_parser("report", help="write speedrun.md and speedrun.png")
    here = os.path.dirname(os.path.abspath(__file__))
    results = os.path.join(here, "..", "results")
    g.add_argument("--jsonl", default=os.path.join(results, "speedrun.jsonl"))
    g.add_argument("--md", default=os.path.join(results, "speedrun.md"))
    g.add_argument("--png", default=os.path.join(results, "speedrun.png"))
    g.add_argument("--cpu", default=None, help="the CPU model whose lines to take, or 'all' (default: the last line's)")
    a = p.parse_args()
    if a.cmd == "record":
        record(a)
    elif a.cmd == "family":
        sys.exit(0 if is_family(a.flags) else 1)
    else:
        report(a)


if __name__ == "__main__":
    main()
