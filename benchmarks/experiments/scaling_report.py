#!/usr/bin/python3
"""Records and report of the scaling measurement (benchmarks/experiments/scaling.sh).

    scaling_report.py record ...      one JSON line for one run (the engine's or PyTorch's), on stdout
    scaling_report.py long ...        one JSON line for one long-context check, on stdout
    scaling_report.py report [--jsonl F] [--md F] [--png F] [--run ID]
                                      benchmarks/results/scaling.md and scaling.png from scaling.jsonl
                                      (the records of the latest run id, unless --run names one)

Model FLOPs per training token, the same formula for both implementations (benchmarks/results/
training.md's count: a multiply-add is 2 FLOPs, the backward twice the forward):

    flops/token = 6 * (12 * L * C^2 + C * V) + 6 * L * N * C * (T + 1)

12·L·C² is the weight count of the linear layers (qkv 3C², proj C², fc 4C², fc-proj 4C² per layer),
C·V the tied output head; the second term is attention over the causal pairs, on average (T + 1)/2
keys per query, 2·D·N FLOPs for the scores and 2·D·N for the weighted values per pair and head,
with N the lag count (1 for dot). V = 65 (Tiny Shakespeare). Biases, LayerNorm, GELU, softmax and
the optimizer are left out. MFU = flops/token × tokens/s ÷ (threads × one core's fp32 peak).

Needs only the standard library, and matplotlib for the plot (Debian's /usr/bin/python3 has it).
"""

import argparse
import json
import math
import os
import re
import statistics
import sys

VOCAB = 65


def flops_per_token(n_layer, n_embd, block_size, lags, vocab=VOCAB):
    """Model FLOPs per training token (forward + backward): the formula in the module docstring."""
    dense = 6 * (12 * n_layer * n_embd ** 2 + n_embd * vocab)
    return dense + attention_flops_per_token(n_layer, n_embd, block_size, lags)


def attention_flops_per_token(n_layer, n_embd, block_size, lags):
    """The attention term of flops_per_token: 6·L·N·C·(T + 1)."""
    return 6 * n_layer * lags * n_embd * (block_size + 1)


def engine_rates(metrics_path, warmup, tokens_per_step):
    """(steady tokens/s, median per-step tokens/s) over the steps after `warmup`, from metrics.jsonl.

    The engine writes, per logged step s, the running tokens_per_s = s·tokens_per_step / train_s(s)
    (training time only, evaluations excluded), so train_s(s) = s·tokens_per_step / tokens_per_s(s)
    and the steps after the warm-up took train_s(S) - train_s(W). Needs --log-interval 1.
    """
    rate = {}
    with open(metrics_path) as f:
        for line in f:
            row = json.loads(line)
            if "train_loss" in row and row.get("tokens_per_s", 0) > 0:
                rate[row["step"]] = row["tokens_per_s"]
    if not rate:
        return None, None
    last = max(rate)
    if last <= warmup or (warmup > 0 and warmup not in rate):
        return None, None
    train_s = {s: s * tokens_per_step / r for s, r in rate.items()}
    timed = train_s[last] - (train_s[warmup] if warmup > 0 else 0.0)
    steady = (last - warmup) * tokens_per_step / timed if timed > 0 else None
    per_step = []
    for s in range(warmup + 1, last + 1):
        before = 0.0 if s == 1 else train_s.get(s - 1)
        if s in train_s and before is not None and train_s[s] > before:
            per_step.append(tokens_per_step / (train_s[s] - before))
    return steady, (statistics.median(per_step) if per_step else None)


def status_of(rc, elapsed, timeout, stderr_path):
    """ok, timeout, out of memory, or failed (rc N): from the exit code, the wall time and stderr."""
    if rc == 0:
        return "ok", None
    tail = ""
    if stderr_path and os.path.exists(stderr_path):
        with open(stderr_path, errors="replace") as f:
            lines = [l.strip() for l in f if l.strip()]
        tail = lines[-1] if lines else ""
        text = "\n".join(lines[-40:])
        if re.search(r"out of memory|can't allocate memory|MemoryError|OutOfMemoryError|not enough memory", text, re.I):
            return "out of memory", tail
    if rc in (124, 137) and elapsed >= timeout - 1:
        return f"timeout after {timeout:.0f} s", tail
    if rc == 137:
        return "killed (SIGKILL: likely out of memory)", tail
    return f"failed (rc {rc})", tail


def cmd_record(a):
    lags = a.lags if a.attention == "correlation" else 1
    tokens_per_step = a.batch_size * a.block_size
    fpt = flops_per_token(a.n_layer, a.n_embd, a.block_size, lags)
    status, error = status_of(a.rc, a.elapsed, a.timeout, a.stderr)
    rec = {
        "section": "sweep", "run": a.run, "date": a.date, "machine": a.machine, "smoke": a.smoke,
        "impl": a.impl, "sweeps": a.sweeps.split(","), "attention": a.attention, "lags": lags,
        "n_layer": a.n_layer, "n_head": a.n_head, "n_embd": a.n_embd, "block_size": a.block_size,
        "batch_size": a.batch_size, "tokens_per_step": tokens_per_step, "threads": a.threads,
        "warmup_steps": a.warmup, "timed_steps": a.steps, "status": status,
        "tokens_per_s": None, "peak_rss_mib": round(a.rss_kib / 1024, 1) if a.rss_kib else None,
        "flops_per_token": fpt, "attention_flops_share": attention_flops_per_token(a.n_layer, a.n_embd, a.block_size, lags) / fpt,
        "peak_gflops_per_core": a.peak, "mfu": None, "wall_s": round(a.elapsed, 1), "flags": a.flags,
    }
    if error and status != "ok":
        rec["error"] = error[-300:]
    if a.impl == "leviathan":
        if a.metrics and os.path.exists(a.metrics):
            steady, median = engine_rates(a.metrics, a.warmup, tokens_per_step)
            rec["tokens_per_s"] = steady
            rec["tokens_per_s_median_step"] = median
        m = re.search(r"([0-9,]+) tokens/s", a.final or "")
        if m:
            rec["tokens_per_s_incl_warmup"] = float(m.group(1).replace(",", ""))
        m = re.search(r"peak RSS ([0-9]+) MiB", a.final or "")
        if m:
            rec["peak_rss_mib_self"] = float(m.group(1))
        if a.estimate:
            rec["offheap_estimate_mib"] = round(json.loads(a.estimate)["total"] / 2 ** 20, 1)
    else:
        try:
            res = json.loads(a.result) if a.result else None
        except json.JSONDecodeError:
            res = None
        if res:
            rec["tokens_per_s"] = res.get("tokens_per_s")
            rec["peak_rss_mib_self"] = res.get("peak_rss_mib")
            rec["params"] = res.get("params")
        elif status == "ok":
            rec["status"] = "failed (no result line)"
    if rec["tokens_per_s"] is not None and a.peak:
        rec["mfu"] = fpt * rec["tokens_per_s"] / (a.threads * a.peak * 1e9)
    if rec["status"] == "ok" and rec["tokens_per_s"] is None:
        rec["status"] = "failed (no throughput)"
    print(f"{a.impl:9s} {a.attention:11s} L{a.n_layer} H{a.n_head} C{a.n_embd} T{a.block_size} B{a.batch_size}: "
          f"{rec['status']}, {fmt_int(rec['tokens_per_s'])} tokens/s, peak RSS {fmt_int(rec['peak_rss_mib'])} MiB, "
          f"MFU {fmt_pct(rec['mfu'])}, {rec['wall_s']} s", file=sys.stderr, flush=True)
    print(json.dumps(rec))


def cmd_long(a):
    rec = {"section": "long-context", "run": a.run, "date": a.date, "machine": a.machine, "smoke": a.smoke,
           "variant": a.variant, "flags": a.flags, "n_layer": a.n_layer, "n_head": a.n_head, "n_embd": a.n_embd,
           "block_size": a.block_size, "threads": a.threads,
           "train": status_of(a.train_rc, 0, 1e9, a.train_stderr)[0],
           "sample": status_of(a.sample_rc, 0, 1e9, a.sample_stderr)[0],
           "sample_chars": a.sample_chars, "prompt_chars": a.prompt_chars,
           "train_peak_rss_mib": round(a.train_rss_kib / 1024, 1) if a.train_rss_kib else None,
           "sample_peak_rss_mib": round(a.sample_rss_kib / 1024, 1) if a.sample_rss_kib else None,
           "short_block_size": a.short_block_size,
           "short_train_peak_rss_mib": round(a.short_rss_kib / 1024, 1) if a.short_rss_kib else None}
    m = re.search(r"val loss ([0-9.]+|NaN)", a.final or "")
    rec["val_loss"] = float(m.group(1)) if m and m.group(1) != "NaN" else None
    for name, text in (("estimate", a.estimate), ("short_estimate", a.short_estimate)):
        if text:
            rec[name] = {k: round(v / 2 ** 20, 2) for k, v in json.loads(text).items()}   # MiB
    print(f"long-context {a.variant} T{a.block_size}: train {rec['train']} (peak RSS {fmt_int(rec['train_peak_rss_mib'])} MiB), "
          f"sample {rec['sample']} ({a.sample_chars} new characters after {a.prompt_chars}, peak RSS "
          f"{fmt_int(rec['sample_peak_rss_mib'])} MiB)", file=sys.stderr, flush=True)
    print(json.dumps(rec))


# ------------------------------------------------------------------------------------------------
# report

def fmt_int(x):
    return "—" if x is None else f"{x:,.0f}"


def fmt_pct(x):
    return "—" if x is None else (f"{100 * x:.1f}%" if x >= 0.001 else f"{100 * x:.2g}%")


def steps(r):
    """'warm-up + timed' steps of a record."""
    return "—" if r is None else f"{r['warmup_steps']}+{r['timed_steps']}"


def load(path, run):
    recs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    recs = [r for r in recs if r.get("section") in ("sweep", "long-context")]
    if not recs:
        sys.exit(f"error: no scaling records in {path}")
    runs = sorted({r["run"] for r in recs})
    if run:
        if run not in runs:
            sys.exit(f"error: run {run} not in {path} (runs: {', '.join(runs)})")
        return [run], [r for r in recs if r["run"] == run]
    # the latest run of each section (run ids are UTC times): a --sweeps run and a --long-context run combine
    latest = {sec: max(r["run"] for r in recs if r["section"] == sec) for sec in {r["section"] for r in recs}}
    return sorted(set(latest.values())), [r for r in recs if r["run"] == latest[r["section"]]]


def point_key(r):
    return (r["attention"], r["n_layer"], r["n_head"], r["n_embd"], r["block_size"], r["batch_size"])


def pairs(recs, sweep):
    """[(engine record, pytorch record)] of one sweep, by attention then the swept size."""
    by = {}
    for r in recs:
        if r["section"] == "sweep" and sweep in r["sweeps"]:
            by.setdefault(point_key(r), {})[r["impl"]] = r
    order = (lambda k: (k[0], k[4])) if sweep == "block" else (lambda k: (k[0], k[3]))
    return [(by[k].get("leviathan"), by[k].get("pytorch")) for k in sorted(by, key=order)]


def verdict(e, p):
    """(ratio, throughput target met, RSS target met, text)."""
    ok = lambda r: r is not None and r["status"] == "ok"
    if not ok(e):
        return None, None, None, "engine " + (e["status"] if e else "not run")
    if not ok(p):
        return None, None, None, "PyTorch " + (p["status"] if p else "not run") + ": no comparison"
    ratio = e["tokens_per_s"] / p["tokens_per_s"]
    fast = ratio >= 2.0
    small = e["peak_rss_mib"] is not None and p["peak_rss_mib"] is not None and e["peak_rss_mib"] <= p["peak_rss_mib"]
    parts = ["yes" if fast and small else "no"]
    if not fast:
        parts.append(f"speed {ratio:.2f}x < 2x")
    if not small:
        parts.append("RSS above PyTorch's")
    return ratio, fast, small, (": ".join(parts[:1] + ([", ".join(parts[1:])] if len(parts) > 1 else [])))


def table(recs, sweep):
    head = ("| attention | T | B·T | tokens/s engine | tokens/s PyTorch | ratio | RSS engine (MiB) | RSS PyTorch (MiB) "
            "| MFU engine | MFU PyTorch | attention share of flops | steps engine / PyTorch | target met? |")
    if sweep == "width":
        head = head.replace("| T | B·T |", "| n_embd | n_layer | n_head |")
    lines = [head, "|" + "|".join(["---"] * (head.count("|") - 1)) + "|"]
    rows = []
    for e, p in pairs(recs, sweep):
        r = e or p
        ratio, fast, small, text = verdict(e, p)
        size = (f"{r['block_size']} | {r['tokens_per_step']}" if sweep == "block"
                else f"{r['n_embd']} | {r['n_layer']} | {r['n_head']}")
        att = r["attention"] + (f" ({r['lags']} lags)" if r["attention"] == "correlation" else "")
        # figures of a run that did not finish are left out (its RSS is only what it reached before it stopped)
        cell = lambda x, key: (fmt_int(x.get(key)) if x and x["status"] == "ok" else
                               ((x["status"] if x else "not run") if key == "tokens_per_s" else "—"))
        lines.append(f"| {att} | {size} | {cell(e, 'tokens_per_s')} | {cell(p, 'tokens_per_s')} | "
                     f"{'—' if ratio is None else f'{ratio:.2f}x'} | {cell(e, 'peak_rss_mib')} | "
                     f"{cell(p, 'peak_rss_mib')} | {fmt_pct(e and e.get('mfu'))} | {fmt_pct(p and p.get('mfu'))} | "
                     f"{fmt_pct(r['attention_flops_share'])} | {steps(e)} / {steps(p)} | {text} |")
        rows.append((r, e, p, ratio, fast, small))
    return lines, rows


def shortfalls(rows, sweep):
    """Sentences naming the points that miss a target, with the figures that bear on why."""
    out = []
    label = (lambda r: f"{r['attention']} T={r['block_size']}") if sweep == "block" else \
        (lambda r: f"{r['attention']} n_embd={r['n_embd']}")
    slow = [(r, ratio) for r, e, p, ratio, fast, small in rows if fast is False]
    big = [(r, e, p) for r, e, p, ratio, fast, small in rows if small is False]
    missing = [(r, e, p) for r, e, p, ratio, fast, small in rows if ratio is None]
    if slow:
        out.append("- Below 2x PyTorch's tokens/s: " + "; ".join(
            f"{label(r)} ({ratio:.2f}x, attention {fmt_pct(r['attention_flops_share'])} of the model flops)" for r, ratio in slow) + ".")
    if big:
        out.append("- Peak RSS above PyTorch's: " + "; ".join(
            f"{label(r)} (engine {fmt_int(e['peak_rss_mib'])} MiB"
            + (f", of which the off-heap estimate {fmt_int(e.get('offheap_estimate_mib'))} MiB" if e.get("offheap_estimate_mib") else "")
            + f"; PyTorch {fmt_int(p['peak_rss_mib'])} MiB)" for r, e, p in big) + ". "
            "The rest of the engine's RSS is the JVM (heap up to the launcher's -Xmx1g, code cache, metaspace) and "
            "per-thread kernel scratch on the heap.")
    if missing:
        out.append("- Not compared: " + "; ".join(
            f"{label(r)} ({'engine ' + e['status'] if not e or e['status'] != 'ok' else 'PyTorch ' + (p['status'] if p else 'not run')})"
            for r, e, p in missing) + ".")
    return out or ["- Both targets met at every measured point."]


def long_table(recs):
    lc = [r for r in recs if r["section"] == "long-context"]
    if not lc:
        return []
    lines = ["| variant | train (2 steps) | val loss | sample (prompt + new chars) | peak RSS train | peak RSS sample | "
             "off-heap estimate T (of which activations + grads) | peak RSS train at short T | Δ RSS | Δ estimate |",
             "|" + "|".join(["---"] * 10) + "|"]
    gaps = []
    for r in lc:
        est, short = r.get("estimate"), r.get("short_estimate")
        act = est and est["activations"] + est["activation_grads"]
        d_rss = (r["train_peak_rss_mib"] - r["short_train_peak_rss_mib"]
                 if r.get("train_peak_rss_mib") and r.get("short_train_peak_rss_mib") else None)
        d_est = est["total"] - short["total"] if est and short else None
        loss = "—" if r.get("val_loss") is None else f"{r['val_loss']:.3f}"
        estimate = "—" if not est else f"{est['total']:.0f} MiB ({act:.0f})"
        lines.append(f"| {r['variant']} (T={r['block_size']}) | {r['train']} | {loss} | {r['sample']} "
                     f"({r['prompt_chars']} + {r['sample_chars']}) | {fmt_int(r.get('train_peak_rss_mib'))} MiB | "
                     f"{fmt_int(r.get('sample_peak_rss_mib'))} MiB | {estimate} | "
                     f"{fmt_int(r.get('short_train_peak_rss_mib'))} MiB (T={r['short_block_size']}) | "
                     f"{'—' if d_rss is None else f'{d_rss:+.0f} MiB'} | {'—' if d_est is None else f'{d_est:+.0f} MiB'} |")
        if d_rss is not None and d_est is not None:
            gaps.append((r, d_rss - d_est))
    if gaps:
        r = gaps[0][0]
        heap = 11 * r["block_size"] * (r["n_embd"] // r["n_head"]) * r["threads"] * r["n_layer"] * 4 / 2 ** 20 \
            if "n_embd" in r else None
        lines += ["", "Measured growth of the peak RSS from the short to the long block size minus the estimate's growth: "
                  + ", ".join(f"{g['variant']} {d:+.0f} MiB" for g, d in gaps) + "."
                  + (f" The estimate leaves out the heap, where the correlation kernels keep about 11·T·D floats of "
                     f"scratch per thread and layer ({heap:.0f} MiB at T = {r['block_size']}, {r['threads']} threads), "
                     "and the JVM's own growth." if heap else "")]
    return lines


def sweep_title(recs, sweep):
    """'block_size 64 → 2048 (n_layer 4, n_head 4, n_embd 128)' or 'n_embd 64 → 768 (n_layer 4–12, block 64, batch 12)'."""
    rs = [r for r in recs if r["section"] == "sweep" and sweep in r["sweeps"]]
    if not rs:
        return f"{sweep} sweep: no records"
    span = lambda key: (f"{min(r[key] for r in rs)}" if min(r[key] for r in rs) == max(r[key] for r in rs)
                        else f"{min(r[key] for r in rs)}–{max(r[key] for r in rs)}")
    if sweep == "block":
        return (f"block_size {min(r['block_size'] for r in rs)} → {max(r['block_size'] for r in rs)} "
                f"(n_layer {span('n_layer')}, n_head {span('n_head')}, n_embd {span('n_embd')}, B·T {span('tokens_per_step')})")
    return (f"n_embd {min(r['n_embd'] for r in rs)} → {max(r['n_embd'] for r in rs)} "
            f"(n_layer {span('n_layer')}, n_head {span('n_head')}, block {span('block_size')}, batch {span('batch_size')})")


def plot(recs, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.ticker
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    style = {("leviathan", "dot"): ("tab:blue", "-", "o"), ("leviathan", "correlation"): ("tab:red", "-", "o"),
             ("pytorch", "dot"): ("tab:blue", "--", "s"), ("pytorch", "correlation"): ("tab:red", "--", "s")}
    name = {"leviathan": "engine", "pytorch": "PyTorch"}
    for row, (sweep, xkey) in enumerate((("block", "block_size"), ("width", "n_embd"))):
        xlabel = sweep_title(recs, sweep)
        xs = sorted({r[xkey] for r in recs if r["section"] == "sweep" and sweep in r["sweeps"]})
        for col, (ykey, ylabel, logy) in enumerate((("tokens_per_s", "training tokens/s", True),
                                                    ("mfu", "model-flops utilisation", False),
                                                    ("peak_rss_mib", "peak RSS (MiB)", True))):
            ax = axes[row][col]
            for (impl, att), (color, ls, marker) in style.items():
                pts = sorted((r[xkey], r[ykey]) for r in recs if r["section"] == "sweep" and sweep in r["sweeps"]
                             and r["impl"] == impl and r["attention"] == att and r["status"] == "ok" and r.get(ykey) is not None)
                if pts:
                    ax.plot([x for x, _ in pts], [y * (100 if ykey == "mfu" else 1) for _, y in pts], color=color,
                            linestyle=ls, marker=marker, label=f"{name[impl]} {att}")
            ax.set_xscale("log", base=2)
            ax.set_xticks(xs)
            ax.set_xticklabels([str(x) for x in xs])
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            if logy:
                ax.set_yscale("log")
                ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1, 2, 5)))
                ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
                ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(ylabel + (" (%)" if ykey == "mfu" else ""))
            ax.grid(True, which="both", alpha=0.3)
            if row == 0 and col == 0:
                ax.legend(fontsize=8)
    fig.suptitle("Leviathan engine vs PyTorch peer: training throughput, MFU and peak RSS")
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def cmd_report(a):
    runs, recs = load(a.jsonl, a.run)
    sweep = [r for r in recs if r["section"] == "sweep"]
    first = (sweep or recs)[0]
    eng = next((r for r in sweep if r["impl"] == "leviathan"), None)
    tor = next((r for r in sweep if r["impl"] == "pytorch"), None)
    out = ["# Scaling: throughput, MFU and memory as block_size and n_embd grow", "",
           f"Written by `benchmarks/experiments/scaling_report.py report` from the records of run "
           f"{' and '.join(f'`{r}`' for r in runs)} in "
           f"`{os.path.relpath(a.jsonl, os.path.dirname(os.path.abspath(a.md)))}` "
           f"(`benchmarks/experiments/scaling.sh{' --smoke' if first.get('smoke') else ''}`)."
           + (" **Smoke run: 2 steps and tiny sizes; the figures only show that the pipeline works.**" if first.get("smoke") else ""),
           "", f"Machine: {first['machine']}. Date {first['date']}.", ""]
    if sweep:
        peak = first.get("peak_gflops_per_core")
        out += ["## Method", "",
                f"- Engine: `./leviathan train` with {eng['threads'] if eng else '?'} kernel threads, "
                f"{eng['warmup_steps'] if eng else '?'} warm-up steps then {eng['timed_steps'] if eng else '?'} timed steps "
                "(fewer at the largest points, see `timed_steps` in the JSON); tokens/s is the training time of the "
                "timed steps only, from the run's metrics.jsonl (`--log-interval 1`), evaluations excluded.",
                f"- PyTorch peer: `benchmarks/pytorch/train.py` under Debian's PyTorch, {tor['threads'] if tor else '?'} "
                f"thread(s), `GOMP_SPINCOUNT=0`, {tor['warmup_steps'] if tor else '?'} warm-up steps left out of tokens/s "
                f"(`--untimed-steps`), then {tor['timed_steps'] if tor else '?'} timed steps; a point that runs past the "
                "timeout or out of memory is recorded as such.",
                "- Batch of the block sweep: B = max(1, 768 / T), so a step holds 768 tokens up to T = 256 (equal work per "
                "step across T) and T tokens from T = 512 on (B = 1); the width sweep runs 12 × 64. Both implementations "
                "run the same B and T at each point (column B·T).",
                "- Peak RSS: `/usr/bin/time -f %M` around the process (the launcher execs the JVM).",
                "- Model FLOPs per training token, the same for both: `6·(12·L·C² + C·V) + 6·L·N·C·(T+1)` "
                "(linear layers and the tied head, then attention over the causal pairs, N lags, 1 for dot; "
                "the count of benchmarks/results/training.md). PyTorch computes the full T×T(×N) score matrix and "
                "masks it, so it does more arithmetic than the model count at large T.",
                f"- MFU = flops/token × tokens/s ÷ (threads × {peak if peak else '?'} GFLOP/s), one core's fp32 peak from "
                "`benchmarks/peak.sh` (the larger of the FMA-loop and sgemm rows). Two vCPUs may share one core's FMA "
                "units, which makes the engine's 2-thread MFU an underestimate.",
                "- Targets (issue): engine >= 2x PyTorch's tokens/s and <= PyTorch's peak RSS at every point.", ""]
        for sweep_name in ("block", "width"):
            lines, rows = table(recs, sweep_name)
            out += ["## " + sweep_title(recs, sweep_name), ""] + lines + ["", "Where a target is missed:", ""] \
                + shortfalls(rows, sweep_name) + [""]
        out += [f"![throughput, MFU and peak RSS]({os.path.basename(a.png)})", ""]
    lt = long_table(recs)
    if lt:
        out += ["## Long contexts train and sample", "",
                "Each variant trains 2 steps at the long block size (batch 1, n_layer 4, n_head 4, n_embd 128), then "
                "`./leviathan sample` continues a prompt from the dataset long enough that the context passes "
                "block_size (the window then slides). The same model trains 2 steps at a short block size for the "
                "Δ columns. The off-heap estimate is the engine's own `model.MemoryEstimate` (parameters, gradients, "
                "AdamW moments, activations and their gradients from `model.Workspace`'s layout, GEMM-path scratch; "
                "for correlation/dot with the dense MLP, activations are `4·B·T·(16C + H + 4)` bytes per layer plus "
                "`4·B·T·(2C + 2V + 3)`, doubled for training); Δ RSS vs Δ estimate checks that formula's growth in T "
                "against the measured peak. Not in the estimate: the JVM, its heap (the direct correlation kernel's "
                "per-thread scratch lives there), the dataset.", ""] + lt + [""]
    with open(a.md, "w") as f:
        f.write("\n".join(out))
    if sweep:
        plot(recs, a.png)
    print(f"wrote {a.md}" + (f" and {a.png}" if sweep else ""))


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    results = os.path.join(os.path.dirname(here), "results")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("record", help="one JSON line for one sweep run")
    for k in ("impl", "sweeps", "attention", "run", "date", "machine", "flags"):
        r.add_argument("--" + k, required=True)
    for k in ("lags", "n-layer", "n-head", "n-embd", "block-size", "batch-size", "threads", "warmup", "steps", "rc"):
        r.add_argument("--" + k, type=int, required=True)
    r.add_argument("--elapsed", type=float, required=True)
    r.add_argument("--timeout", type=float, required=True)
    r.add_argument("--rss-kib", type=int, default=0)
    r.add_argument("--peak", type=float, default=None, help="one core's fp32 peak, GFLOP/s")
    r.add_argument("--stderr")
    r.add_argument("--metrics", help="engine: the run's metrics.jsonl")
    r.add_argument("--final", help="engine: its 'final:' line")
    r.add_argument("--estimate", help="engine: MemoryFigures' JSON line")
    r.add_argument("--result", help="PyTorch: its final JSON line")
    r.add_argument("--smoke", action="store_true")

    l = sub.add_parser("long", help="one JSON line for one long-context check")
    for k in ("variant", "run", "date", "machine", "flags"):
        l.add_argument("--" + k, required=True)
    for k in ("n-layer", "n-head", "n-embd", "block-size", "short-block-size", "threads", "train-rc", "sample-rc",
              "sample-chars", "prompt-chars"):
        l.add_argument("--" + k, type=int, required=True)
    for k in ("train-rss-kib", "sample-rss-kib", "short-rss-kib"):
        l.add_argument("--" + k, type=int, default=0)
    for k in ("train-stderr", "sample-stderr", "final", "estimate", "short-estimate"):
        l.add_argument("--" + k)
    l.add_argument("--smoke", action="store_true")

    g = sub.add_parser("report", help="write scaling.md and scaling.png")
    g.add_argument("--jsonl", default=os.path.join(results, "scaling.jsonl"))
    g.add_argument("--md", default=os.path.join(results, "scaling.md"))
    g.add_argument("--png", default=os.path.join(results, "scaling.png"))
    g.add_argument("--run", help="run id (default: the latest in the file)")

    f = sub.add_parser("flops", help="print model FLOPs per training token")
    for k in ("n-layer", "n-embd", "block-size", "lags"):
        f.add_argument("--" + k, type=int, required=True)

    a = p.parse_args(argv)
    if a.cmd == "record":
        cmd_record(a)
    elif a.cmd == "long":
        cmd_long(a)
    elif a.cmd == "report":
        cmd_report(a)
    else:
        print(flops_per_token(a.n_layer, a.n_embd, a.block_size, a.lags))


if __name__ == "__main__":
    main()
