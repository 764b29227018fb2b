#!/usr/bin/python3
"""Train the PyTorch Leviathan on Tiny Shakespeare with the char-Shakespeare recipe.

    /usr/bin/python3 benchmarks/pytorch/train.py --attention correlation --lags 4 --threads 2
    /usr/bin/python3 benchmarks/pytorch/train.py --attention involution --window 16 --threads 2
    /usr/bin/python3 benchmarks/pytorch/train.py --attention correlation --mlp moe --experts 8 --top-k 2
    /usr/bin/python3 benchmarks/pytorch/train.py --attention dot --mlp swiglu --dropout 0.1
    /usr/bin/python3 benchmarks/pytorch/train.py --attention involution,involution,dot,dot
    /usr/bin/python3 benchmarks/pytorch/train.py --selftest

Prints the effective config, one line per evaluation, and a final JSON line with steps,
losses, bpc, training tokens/s (eval time excluded), peak RSS and wall time.
--write-checkpoint PATH writes the trained model as a leviathan-1 safetensors file
(--steps 0 writes the freshly initialised model). The model and its flags live in
leviathan_torch.py; this script is the recipe's loop.
"""

import argparse
import json
import math
import os
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
    g.add_argument("--steps", type=int, default=2000, help="optimizer steps to run")
    g.add_argument("--untimed-steps", type=int, default=0,
                   help="leave the first K steps (warm-up) out of tokens_per_s and train_time_s")
    g.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    g.add_argument("--min-lr", type=float, default=1e-4, help="learning rate at the end of the cosine")
    g.add_argument("--warmup-steps", type=int, default=100)
    g.add_argument("--decay-steps", type=int, default=2000, help="step at which the cosine reaches --min-lr")
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
    p.add_argument("--selftest", action="store_true", help="check the model against the spec and exit (selftest.py)")
    return p.parse_args(argv)


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
    wall_start = time.perf_counter()
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
        print(f"step {step:5d} | train {losses['train']:.4f} | val {losses['val']:.4f} "
              f"(bpc {losses['val'] / math.log(2):.4f}) | last batch {last}{aux_text()} | "
              f"lr {learning_rate(step, args):.2e} | {rate} tok/s", flush=True)
        return losses

    def aux_text():
        return "" if not moe or math.isnan(aux_value) else f" | aux {aux_value:.4f}"

    train_time, tokens, loss_value, aux_value, losses = 0.0, 0, float("nan"), float("nan"), None
    load_history = []
    model.train()                                   # dropout (if any) acts in these steps only
    for step in range(args.steps + 1):
        if step % args.eval_interval == 0 or step == args.steps:
            losses = evaluate(step, loss_value)
        if step == args.steps:
            break
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
    }
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
        loss, count, _ = lt.evaluate_windows(model, splits["val"])
        result.update(val_loss_full=loss, val_bpc_full=loss / math.log(2), val_predictions=count)
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
