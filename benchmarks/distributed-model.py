#!/usr/bin/env python3
"""Measured numbers and the cost model of data-parallel training (benchmarks/distributed.sh).

  distributed-model.py row --config NAME --ranks R --threads T --metrics FILE --log FILE --args "..."
      prints one JSON row of measured numbers from a run's metrics.jsonl and config.json: the steady
      rate between the two progress rows (half-way and last, so start-up and JIT are excluded) and,
      with several ranks, the step-time breakdown (compute, communication, idle) per step.
  distributed-model.py report --results FILE.jsonl --md distributed.md [--command TEXT] [--quick]
      writes the "steps" and "costmodel" sections of distributed.md (between their markers; the rest
      of the file is kept) from those rows.

The cost model (ring allreduce over N machines, one rank each):
  t_comm(N) = 2(N-1)·alpha + 2(N-1)/N · bytes / bandwidth,   bytes = 4 · parameters (float32 gradients)
  t_compute = b · t_row (b rows per rank; t_row measured: compute per step / rows per rank, 2 ranks x 1 thread)
Network figures (alpha, bandwidth) are ASSUMED typical values, not measured here; only the compute
time per row, the parameter count and the loopback breakdown are measured.
"""
import argparse
import json
import math
import os
import re
import sys
import time

# name, latency alpha (s), effective bandwidth (bytes/s): assumed, typical published figures
# (TCP over Ethernet at ~90% of line rate; InfiniBand verbs), not measured on this machine
NETWORKS = [
    ("10 GbE (TCP)", 25e-6, 10e9 / 8 * 0.9),
    ("25 GbE (TCP)", 20e-6, 25e9 / 8 * 0.9),
    ("100 GbE (TCP)", 15e-6, 100e9 / 8 * 0.9),
    ("InfiniBand EDR 100 Gb/s", 1.5e-6, 100e9 / 8 * 0.95),
    ("InfiniBand HDR 200 Gb/s", 1.5e-6, 200e9 / 8 * 0.95),
]
MACHINES = [2, 4, 8, 16, 32, 64]
MODEL_SIZES = [1e5, 1e6, 1e7, 1e8, 1e9]


def ring_seconds(n, nbytes, alpha, bandwidth):
    return 2 * (n - 1) * alpha + 2 * (n - 1) / n * nbytes / bandwidth


def row(a):
    rows = [json.loads(l) for l in open(a.metrics) if '"train_loss"' in l]
    if not rows:
        sys.exit("distributed-model.py: no step rows in " + a.metrics)
    cfg = json.load(open(os.path.join(os.path.dirname(a.metrics), "config.json")))
    tokens_per_step = cfg["batch_size"] * cfg["block_size"] * cfg["accum"]
    params = None
    for line in open(a.log, errors="replace"):
        m = re.search(r"^model: .*: ([\d,]+) parameters", line)
        if m:
            params = int(m.group(1).replace(",", ""))

    def train_seconds(r):                      # the reporter's cumulative training seconds at that row
        return r["step"] * tokens_per_step / r["tokens_per_s"] if r["tokens_per_s"] > 0 else 0.0

    last = rows[-1]
    first = rows[-2] if len(rows) > 1 else {"step": 0, "tokens_per_s": 0, "compute_s": 0, "comm_s": 0, "idle_s": 0}
    steps = last["step"] - first["step"]
    step_s = (train_seconds(last) - train_seconds(first)) / steps
    out = {
        "config": a.config, "ranks": a.ranks, "threads": a.threads, "args": a.args, "parameters": params,
        "batch_size": cfg["batch_size"], "block_size": cfg["block_size"], "accum": cfg["accum"],
        "steps_timed": steps, "from_step": first["step"], "step_s": step_s, "tokens_per_s": tokens_per_step / step_s,
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    if a.ranks > 1:
        for k in ("compute_s", "comm_s", "idle_s"):
            out[k.replace("_s", "_s_per_step")] = (last[k] - first.get(k, 0)) / steps
    else:
        out["compute_s_per_step"], out["comm_s_per_step"], out["idle_s_per_step"] = step_s, 0.0, 0.0
    print(json.dumps(out))


def replace_section(md, name, body):
    begin = "<!-- %s:begin (written by benchmarks/distributed-model.py; edits here are overwritten) -->" % name
    end = "<!-- %s:end -->" % name
    text = open(md).read() if os.path.exists(md) else ""
    section = begin + "\n" + body.rstrip() + "\n" + end
    pattern = re.compile(re.escape("<!-- %s:begin" % name) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    open(md, "w").write(text)


def ms(s):
    return "%.2f" % (s * 1e3)


def report(a):
    rows = [json.loads(l) for l in open(a.results) if l.strip()]
    quick = " **(quick run: a tiny model and a few steps, only to prove the script runs; these numbers mean nothing)**" if a.quick else ""
    s = ["## Step time: 1 process x 2 threads against 2 ranks x 1 thread", "",
         "Measured %s with `%s`%s on %d CPUs. Steady rate between the half-way and the last progress row"
         " (start-up and JIT excluded); evaluation excluded. Breakdown on rank 0: idle = waiting in a barrier"
         " for the other rank before each allreduce, communication = the allreduces (gradients and the loss)."
         % (rows[0]["measured"] if rows else "-", a.command.strip(), quick, os.cpu_count()), "",
         "| config | parameters | layout | tokens/s | step ms | compute ms | comm ms | idle ms | vs 1 process |",
         "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    base = {r["config"]: r for r in rows if r["ranks"] == 1}
    for r in rows:
        ratio = r["tokens_per_s"] / base[r["config"]]["tokens_per_s"] if r["config"] in base else float("nan")
        s.append("| %s | %s | %d x %d | %.0f | %s | %s | %s | %s | %.2fx |" % (
            r["config"], "{:,}".format(r["parameters"]) if r["parameters"] else "?", r["ranks"], r["threads"], r["tokens_per_s"],
            ms(r["step_s"]), ms(r["compute_s_per_step"]), ms(r["comm_s_per_step"]), ms(r["idle_s_per_step"]), ratio))
    s += ["", "Target of issue 14: 2 ranks x 1 thread >= 0.9x the tokens/s of 1 process x 2 threads at the default config."]
    replace_section(a.md, "steps", "\n".join(s))

    c = ["## Cost model: 2 to 64 machines", "",
         "Ring allreduce of the float32 gradients, one rank per machine: t_comm(N) = 2(N-1)·alpha + 2(N-1)/N · 4P / bandwidth.",
         "**Measured**: the parameter count P and the compute time per row t_row (compute per step / rows per rank, from the"
         " 2 ranks x 1 thread run above%s). **Assumed** (typical figures, not measured here): each machine computes as fast"
         " as one measured rank (one core; a machine with k cores computes up to k times faster, which multiplies every"
         " communication fraction below by about k), and these networks:" % quick, "",
         "| network | alpha (assumed) | bandwidth (assumed) |", "|---|---:|---:|"]
    for name, alpha, bw in NETWORKS:
        c.append("| %s | %.1f us | %.2f GB/s |" % (name, alpha * 1e6, bw / 1e9))
    for r in rows:
        if r["ranks"] < 2 or not r["parameters"]:
            continue
        rows_per_rank = r["batch_size"] * r["accum"] // r["ranks"]
        t_row = r["compute_s_per_step"] / rows_per_rank
        nbytes = 4 * r["parameters"]
        c += ["", "### %s config: P = %s, T = %d, t_row = %s ms (measured)" % (r["config"], "{:,}".format(r["parameters"]),
              r["block_size"], ms(t_row)), "",
              "Communication per step, its share of a step at %d rows per rank, and the rows per rank at which it stays"
              " under 10%% of the step (comm <= compute / 9):" % rows_per_rank, "",
              "| network | " + " | ".join("N=%d" % n for n in MACHINES) + " |", "|---|" + "---:|" * len(MACHINES)]
        for name, alpha, bw in NETWORKS:
            cells = []
            for n in MACHINES:
                t = ring_seconds(n, nbytes, alpha, bw)
                share = t / (t + rows_per_rank * t_row)
                need = max(1, math.ceil(9 * t / t_row))
                cells.append("%s ms, %.0f%%, b>=%d" % (ms(t), 100 * share, need))
            c.append("| %s | %s |" % (name, " | ".join(cells)))
        # model sizes: compute assumed proportional to P at the measured rate per parameter-token
        per_param_row = t_row / r["parameters"]
        c += ["", "Model size against efficiency (speedup / N) at N = 64 and %d rows per rank, compute scaled"
              " linearly in P from the measured rate (attention's share ignored):" % rows_per_rank, "",
              "| network | " + " | ".join("P=%.0e" % p for p in MODEL_SIZES) + " |", "|---|" + "---:|" * len(MODEL_SIZES)]
        for name, alpha, bw in NETWORKS:
            cells = []
            for p in MODEL_SIZES:
                tc = rows_per_rank * per_param_row * p
                t = ring_seconds(64, 4 * p, alpha, bw)
                cells.append("%.0f%%" % (100 * tc / (tc + t)))
            c.append("| %s | %s |" % (name, " | ".join(cells)))
        c += ["", "Data parallelism stops paying where the efficiency falls towards 1/N (N machines no faster than one):"
              " for small models the latency term 2(N-1)·alpha dominates; for large ones both compute and traffic grow"
              " with P, so the share settles at 8(N-1)/N / bandwidth against b·T·(compute per parameter-token)."]
    replace_section(a.md, "costmodel", "\n".join(c))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("row")
    r.add_argument("--config", required=True)
    r.add_argument("--ranks", type=int, required=True)
    r.add_argument("--threads", type=int, required=True)
    r.add_argument("--metrics", required=True)
    r.add_argument("--log", required=True)
    r.add_argument("--args", default="")
    q = sub.add_parser("report")
    q.add_argument("--results", required=True)
    q.add_argument("--md", required=True)
    q.add_argument("--command", default="benchmarks/distributed.sh")
    q.add_argument("--quick", action="store_true")
    a = p.parse_args()
    row(a) if a.cmd == "row" else report(a)


if __name__ == "__main__":
    main()
