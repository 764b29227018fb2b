#!/usr/bin/python3
"""Train the PyTorch Leviathan on Tiny Shakespeare with the char-Shakespeare recipe.

    /usr/bin/python3 benchmarks/pytorch/train.py --attention correlation --lags 4 --threads 2
    /usr/bin/python3 benchmarks/pytorch/train.py --attention involution --window 16 --threads 2
    /usr/bin/python3 benchmarks/pytorch/train.py --attention correlation --mlp moe --experts 8 --top-k 2
    /usr/bin/python3 benchmarks/pytorch/train.py --attention dot --mlp swiglu --dropout 0.1
    /usr/bin/python3 benchmarks/pytorch/train.py --attention involution,involution,dot,dot
    /usr/bin/python3 benchmarks/pytorch/train.py --attention dot --time 10m --metrics run/metrics.jsonl
    /usr/bin/python3 benchmarks/pytorch/train.py --selftest

Prints the effective config, one line per evaluation, and a final JSON line with steps,
losses, bpc, training tokens/s (eval time excluded), peak RSS and wall time (from the process start).
--time DURATION mirrors the engine's `train --time`: a wall-clock budget counted from the
process start (interpreter start-up, imports and data loading included); the throughput measured
over the second half of the learning-rate warmup fixes the step count so that training, its
evaluations included, ends near the budget, and the cosine decays over those steps. The final
full evaluation of the val split scores the model after that (train_wall_s and full_eval_s in the
final line tell the two apart). --metrics FILE writes one JSON row per evaluation with the
engine's metrics.jsonl names (step, lr, eval_train_loss, val_loss, val_bpc, tokens_per_s,
train_s, elapsed_s).
--write-checkpoint PATH writes the trained model as a leviathan-1 safetensors file
(--steps 0 writes the freshly initialised model). The model and its flags live in
leviathan_torch.py; this script is the recipe's loop.
"""

import argparse
import json
import math
import os
import re
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import leviathan_torch as lt  # noqa: E402  (sizes OpenBLAS from --threads; exits clearly when torch is missing)
from leviathan_torch import torch  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=lt.DEFAULT_DATA, help="text file (default: %(default)s)")
    lt.add_model_arguments(p)
    g = p.add_argument_group("training")
    g.add_argument("--batch-size", type=int, default=12)
    g.add_argument("--steps", type=int, default=None, help="optimizer steps to run (default 2000)")
    g.add_argument("--time", metavar="DURATION", default=None,
                   help="a wall-clock budget instead of --steps (90s, 10m, 1h30m), counted from the process start: "
                        "the steps that fit are fixed after the warmup and the cosine decays over them")
    g.add_argument("--untimed-steps", type=int, default=0,
                   help="leave the first K steps (warm-up) out of tokens_per_s and train_time_s")
    g.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    g.add_argument("--min-lr", type=float, default=1e-4, help="learning rate at the end of the cosine")
    g.add_argument("--warmup-steps", type=int, default=100)
    g.add_argument("--decay-steps", type=int, default=None,
                   help="step at which the cosine reaches --min-lr (default 2000; with --time, the steps fixed)")
    g.add_argument("--beta1", type=float, default=0.9)
    g.add_argument("--beta2", type=float, default=0.99)
    g.add_argument("--eps", type=float, default=1e-8)
    g.add_argument("--weight-decay", type=float, default=0.1, help="on 2-D weights only")
    g.add_argument("--grad-clip", type=float, default=1.0, help="global gradient norm; 0 disables")
    g.add_argument("--eval-interval", type=int, default=250)
    g.add_argument("--eval-batches", type=int, default=20, help="random batches of each split per eval")
    g.add_argument("--no-full-eval", action="store_true",
                   help="skip the final full evaluation of the val split with the spec's windowing")
    g.add_argument("--seed", type=int, default=1337)
    g.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads (default: the CPUs this process may use)")
    g.add_argument("--write-checkpoint", metavar="PATH", help="write the model as leviathan-1 safetensors")
    g.add_argument("--metrics", metavar="FILE", help="append one JSON row per evaluation (the engine's metrics.jsonl names)")
    p.add_argument("--selftest", action="store_true", help="check the model against the spec and exit (selftest.py)")
    args = p.parse_args(argv)
    if args.time is not None:
        if args.steps is not None:
            p.error("--time and --steps exclude each other: give the run a step count or a time budget, not both")
        try:
            args.time_budget = parse_duration(args.time)
        except ValueError as e:
            p.error(str(e))
        if args.warmup_steps < BUDGET_WARMUP:
            p.error(f"--time fixes the step count during the learning-rate warmup: use --warmup-steps >= {BUDGET_WARMUP}, "
                    f"got {args.warmup_steps}")
    else:
        args.time_budget = 0.0
        args.steps = 2000 if args.steps is None else args.steps
        args.decay_steps = 2000 if args.decay_steps is None else args.decay_steps
    return args


# as in the engine (train/TrainConfig.java, train/TrainingLoop.java): the least warmup a budget needs, and
# the seconds kept for the end of a run beyond its last evaluation
BUDGET_WARMUP = 10
END_SECONDS = 2.0
_DURATION = re.compile(r"((\d+(\.\d+)?)([hms]))+")
_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")


def parse_duration(text):
    """Seconds in a duration such as 90s, 10m, 1h or 1h30m (the engine's --time grammar)."""
    t = text.strip().lower()
    if not _DURATION.fullmatch(t):
        raise ValueError(f"--time must be a duration such as 90s, 10m, 1h or 1h30m, got {text!r}")
    seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in _PART.findall(t))
    if not seconds > 0:
        raise ValueError(f"--time must be longer than 0, got {text!r}")
    return seconds


def budget_steps(budget, elapsed, done, seconds_per_step, eval_batches, eval_interval):
    """The total step count that fits a time budget, as the engine fixes it (TrainingLoop.fixSteps).

    After `done` steps and `elapsed` seconds since the process start, at `seconds_per_step`: an
    evaluation (2·eval_batches forward passes of a batch, each about a third of a step) every
    eval_interval steps and one more at the end, and END_SECONDS for the end of the run.
    """
    eval_seconds = 2.0 * eval_batches * seconds_per_step / 3.0
    left = budget - elapsed - eval_seconds - END_SECONDS
    return done + max(0, math.floor(left / (seconds_per_step + eval_seconds / eval_interval)))


def process_age():
    """Seconds since this process started: Linux's /proc/self/stat start time, else since this module loaded."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start = int(fields[19]) / os.sysconf("SC_CLK_TCK")        # field 22: start time after boot, in clock ticks
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - start
        if 0 <= age < 86400:
            return age
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    return time.perf_counter() - _LOADED


_LOADED = time.perf_counter()


def learning_rate(step, args):
    """Linear warmup over warmup_steps (step counts from 0), then cosine from lr to min_lr at decay_steps."""
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    if step >= args.decay_steps:
        return args.min_lr
    ratio = (step - args.warmup_steps) / max(1, args.decay_steps - args.warmup_steps)
    return args.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (args.lr - args.min_lr)


def get_batch(ids, batch_size, block_size, generator):
    """batch_size random windows of block_size+1 tokens: inputs and next-token targets."""
    starts = torch.randint(len(ids) - block_size, (batch_size,), generator=generator)
    windows = torch.stack([ids[s:s + block_size + 1] for s in starts.tolist()])
    return windows[:, :-1], windows[:, 1:]


@torch.no_grad()
def estimate_losses(model, splits, args, generator):
    model.eval()
    out = {}
    for name, ids in splits.items():
        total = 0.0
        for _ in range(args.eval_batches):
            x, y = get_batch(ids, args.batch_size, args.block_size, generator)
            total += model(x, y)[1].item()
        out[name] = total / args.eval_batches
    model.train()
    return out


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # ru_maxrss is KiB on Linux


def train(args):
    wall_start = time.perf_counter() - process_age()       # the run's clock counts from the process start
    threads = lt.set_threads(args.threads)
    torch.manual_seed(args.seed)

    try:
        train_text, val_text = lt.split_text(lt.read_text(args.data))
        tokenizer = lt.CharTokenizer.from_text(train_text)
        splits = {"train": tokenizer.encode(train_text), "val": tokenizer.encode(val_text)}
        model = lt.model_from_args(args, len(tokenizer.vocab))
    except ValueError as e:
        sys.exit(f"error: {e}")
    mc = model.config                               # the effective model (lags, widths, normalised attention)
    moe = mc["mlp"] == "moe"
    n_params = sum(p.numel() for p in model.parameters())
    active_params = model.active_parameters()       # moe: the (E - k) experts a token skips left out
    optimizer = lt.make_optimizer(model, args.lr, args.weight_decay, (args.beta1, args.beta2), args.eps)
    data_gen = torch.Generator().manual_seed(args.seed)
    eval_gen = torch.Generator().manual_seed(args.seed + 1)

    config = {k: v for k, v in vars(args).items() if k not in ("selftest",)}
    config.update(attention=mc["attention"], lags=mc["lags"], expert_hidden=mc.get("expert_hidden"),
                  mlp_hidden=mc.get("mlp_hidden"), threads=threads, vocab_size=len(tokenizer.vocab),
                  params=n_params, active_params=active_params, torch=torch.__version__,
                  OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS"),
                  GOMP_SPINCOUNT=os.environ.get("GOMP_SPINCOUNT"))
    print("config " + json.dumps(config), flush=True)

    def evaluate(step, train_loss):
        losses = estimate_losses(model, splits, args, eval_gen)
        last = "-" if math.isnan(train_loss) else f"{train_loss:.4f}"
        rate = f"{tokens / train_time:.0f}" if train_time else "-"
        wall = time.perf_counter() - wall_start
        print(f"step {step:5d} | train {losses['train']:.4f} | val {losses['val']:.4f} "
              f"(bpc {losses['val'] / math.log(2):.4f}) | last batch {last}{aux_text()} | "
              f"lr {learning_rate(step, args):.2e} | {rate} tok/s | {wall:.1f} s", flush=True)
        if args.metrics:
            with open(args.metrics, "a", encoding="utf-8") as f:
                f.write(json.dumps({"step": step, "lr": learning_rate(step, args), "eval_train_loss": losses["train"],
                                    "val_loss": losses["val"], "val_bpc": losses["val"] / math.log(2),
                                    "tokens_per_s": tokens / train_time if train_time else 0.0,
                                    "train_s": train_time, "elapsed_s": wall}) + "\n")
        return losses

    def aux_text():
        return "" if not moe or math.isnan(aux_value) else f" | aux {aux_value:.4f}"

    train_time, tokens, loss_value, aux_value, losses = 0.0, 0, float("nan"), float("nan"), None
    load_history = []
    model.train()                                   # dropout (if any) acts in these steps only
    budgeted = args.time_budget > 0
    total = math.inf if budgeted else args.steps
    measure_to = args.warmup_steps                  # a budget: steps measured over the warmup's second half
    measure_from, measure_start = measure_to // 2, 0.0
    step = 0
    while True:
        if budgeted and step == measure_to:         # before this step's evaluation: the cosine needs the total
            per_step = (time.perf_counter() - measure_start) / (measure_to - measure_from)
            elapsed = time.perf_counter() - wall_start
            total = budget_steps(args.time_budget, elapsed, step, per_step, args.eval_batches, args.eval_interval)
            args.steps = total
            if args.decay_steps is None:
                args.decay_steps = total
            print(f"time budget {args.time}: {total} steps ({per_step:.3f} s a step over steps {measure_from + 1}-{measure_to}, "
                  f"{2.0 * args.eval_batches * per_step / 3.0:.1f} s an evaluation, {elapsed:.0f} s used)", flush=True)
        if step % args.eval_interval == 0 or step == total:
            losses = evaluate(step, loss_value)
        if step == total:
            break
        if budgeted and step == measure_from:
            measure_start = time.perf_counter()
        t0 = time.perf_counter()
        lr = learning_rate(step, args)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(splits["train"], args.batch_size, args.block_size, data_gen)
        loss, _ = lt.train_step(model, optimizer, x, y, args.grad_clip)
        loss_value = loss.item()
        if moe:
            aux_value = float(model.aux_loss())
            if step % args.eval_interval == 0:
                load_history.append({"step": step, "load": model.expert_load()})
        if step >= args.untimed_steps:
            train_time += time.perf_counter() - t0
            tokens += args.batch_size * args.block_size
        step += 1

    result = {
        "attention": mc["attention"],
        "lags": mc["lags"],
        "mlp": mc["mlp"],
        "params": n_params,
        "active_params": active_params,
        "steps": args.steps,
        "threads": threads,
        "train_loss": losses["train"],
        "val_loss": losses["val"],
        "val_bpc": losses["val"] / math.log(2),
        "tokens_per_s": tokens / train_time if train_time else None,
        "train_time_s": train_time,
        "timed_steps": max(0, args.steps - args.untimed_steps),
        "train_wall_s": time.perf_counter() - wall_start,
    }
    if budgeted:
        result.update(time_budget_s=args.time_budget, decay_steps=args.decay_steps)
    if "window" in mc:                              # any involution layer
        result["window"] = mc["window"]
    if args.dropout > 0:
        result["dropout"] = args.dropout
    if moe:
        result.update(experts=mc["n_expert"], top_k=mc["top_k"], expert_hidden=mc["expert_hidden"],
                      moe_balance=args.moe_balance, moe_z=args.moe_z, last_aux_loss=aux_value,
                      expert_load=load_history)
    if mc["mlp"] == "swiglu":
        result["mlp_hidden"] = mc["mlp_hidden"]
    if not args.no_full_eval:
        t0 = time.perf_counter()
        loss, count, _ = lt.evaluate_windows(model, splits["val"])
        result.update(val_loss_full=loss, val_bpc_full=loss / math.log(2), val_predictions=count,
                      full_eval_s=time.perf_counter() - t0)
    if args.write_checkpoint:
        lt.save_checkpoint(args.write_checkpoint, model, tokenizer.vocab)
        result["checkpoint"] = args.write_checkpoint
    result.update(peak_rss_mib=peak_rss_mib(), wall_s=time.perf_counter() - wall_start)
    print(json.dumps(result), flush=True)


def main():
    args = parse_args()
    if args.selftest:
        import selftest
        sys.exit(selftest.selftest())
    train(args)


if __name__ == "__main__":
    main()
