#!/usr/bin/python3
"""Train the PyTorch Leviathan on Tiny Shakespeare with the char-Shakespeare recipe.

    /usr/bin/python3 benchmarks/pytorch/train.py --attention correlation --lags 4 --threads 2
    /usr/bin/python3 benchmarks/pytorch/train.py --attention involution --window 16 --threads 2
    /usr/bin/python3 benchmarks/pytorch/train.py --attention correlation --mlp moe --experts 8 --top-k 2
    /usr/bin/python3 benchmarks/pytorch/train.py --selftest

Prints the effective config, one line per evaluation, and a final JSON line with steps,
losses, bpc, training tokens/s (eval time excluded), peak RSS and wall time.
--write-checkpoint PATH writes the trained model as a leviathan-1 safetensors file
(--steps 0 writes the freshly initialised model).
"""

import argparse
import json
import math
import os
import resource
import sys
import time


def _threads_from_argv():
    """--threads, read before torch loads: OpenBLAS sizes its own thread pool once, at load time."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--threads", type=int, default=None)
    return pre.parse_known_args()[0].threads or len(os.sched_getaffinity(0))


# torch.set_num_threads sizes only torch's OpenMP pool; without this, OpenBLAS (Debian's
# libopenblas0-pthread) runs every GEMM on all cores, even with --threads 1.
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(_threads_from_argv()))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import leviathan_torch as lt  # noqa: E402  (exits with a clear message when torch is missing)
from leviathan_torch import torch, F  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DATA = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "data", "tinyshakespeare.txt"))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DEFAULT_DATA, help="text file (default: %(default)s)")
    p.add_argument("--attention", choices=("correlation", "dot", "involution"), default="correlation")
    p.add_argument("--lags", type=int, default=4, help="lag count N (forced to 1 for dot and involution)")
    p.add_argument("--window", type=int, default=16, help="involution window K, 1 <= K <= block size")
    p.add_argument("--mlp", choices=("dense", "moe"), default="dense")
    p.add_argument("--experts", type=int, default=8, help="moe: expert count E")
    p.add_argument("--top-k", type=int, default=2, help="moe: experts per token k")
    p.add_argument("--expert-hidden", type=int, default=None,
                   help="moe: expert hidden width F (default 4C/k, rounded down: the dense MLP's active flops)")
    p.add_argument("--moe-balance", type=float, default=0.01, help="moe: load-balance loss weight alpha")
    p.add_argument("--moe-z", type=float, default=0.001, help="moe: router z-loss weight beta")
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--steps", type=int, default=2000, help="optimizer steps to run")
    p.add_argument("--untimed-steps", type=int, default=0,
                   help="leave the first K steps (warm-up) out of tokens_per_s and train_time_s")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument("--min-lr", type=float, default=1e-4, help="learning rate at the end of the cosine")
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--decay-steps", type=int, default=2000, help="step at which the cosine reaches --min-lr")
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.99)
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--weight-decay", type=float, default=0.1, help="on 2-D weights only")
    p.add_argument("--grad-clip", type=float, default=1.0, help="global gradient norm; 0 disables")
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--eval-batches", type=int, default=20, help="random batches of each split per eval")
    p.add_argument("--no-full-eval", action="store_true",
                   help="skip the final full evaluation of the val split with the spec's windowing")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads (default: the CPUs this process may use)")
    p.add_argument("--write-checkpoint", metavar="PATH", help="write the model as leviathan-1 safetensors")
    p.add_argument("--selftest", action="store_true", help="check the model against the spec and exit")
    args = p.parse_args(argv)
    if args.attention in ("dot", "involution"):
        args.lags = 1
    if args.mlp == "moe" and args.expert_hidden is None:
        args.expert_hidden = max(1, 4 * args.n_embd // args.top_k)
    return args


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
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)

    if not os.path.exists(args.data):
        sys.exit(f"error: data file {args.data} not found; pass --data PATH (Tiny Shakespeare)")
    with open(args.data, encoding="utf-8") as f:
        text = f.read()
    train_text, val_text = lt.split_text(text)
    tokenizer = lt.CharTokenizer.from_text(train_text)
    splits = {"train": tokenizer.encode(train_text), "val": tokenizer.encode(val_text)}

    try:
        model = lt.Leviathan(len(tokenizer.vocab), attention=args.attention, lags=args.lags, n_layer=args.n_layer,
                             n_head=args.n_head, n_embd=args.n_embd, block_size=args.block_size, window=args.window,
                             mlp=args.mlp, n_expert=args.experts, top_k=args.top_k,
                             expert_hidden=args.expert_hidden, moe_balance=args.moe_balance, moe_z=args.moe_z)
    except ValueError as e:
        sys.exit(f"error: {e}")
    n_params = sum(p.numel() for p in model.parameters())
    if args.mlp == "moe":   # active per token: everything but the (E - k) experts a token skips, per layer
        per_expert = 2 * args.n_embd * args.expert_hidden + args.expert_hidden + args.n_embd
        active_params = n_params - args.n_layer * (args.experts - args.top_k) * per_expert
    else:
        active_params = n_params
    optimizer = torch.optim.AdamW(model.decay_groups(args.weight_decay), lr=args.lr,
                                  betas=(args.beta1, args.beta2), eps=args.eps)
    data_gen = torch.Generator().manual_seed(args.seed)
    eval_gen = torch.Generator().manual_seed(args.seed + 1)

    config = {k: v for k, v in vars(args).items() if k not in ("selftest",)}
    config.update(threads=threads, vocab_size=len(tokenizer.vocab), params=n_params, active_params=active_params,
                  torch=torch.__version__,
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
        return "" if args.mlp != "moe" or math.isnan(aux_value) else f" | aux {aux_value:.4f}"

    train_time, tokens, loss_value, aux_value, losses = 0.0, 0, float("nan"), float("nan"), None
    load_history = []
    model.train()
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
        _, loss = model(x, y)
        aux = model.aux_loss()                      # 0 for a dense model; the objective is loss + aux
        optimizer.zero_grad(set_to_none=True)
        (loss + aux).backward()
        model.fill_missing_grads()                  # an expert no token chose still gets weight decay
        if args.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        loss_value = loss.item()
        if args.mlp == "moe":
            aux_value = float(aux)
            if step % args.eval_interval == 0:
                load_history.append({"step": step, "load": model.expert_load()})
        if step >= args.untimed_steps:
            train_time += time.perf_counter() - t0
            tokens += args.batch_size * args.block_size

    result = {
        "attention": args.attention,
        "lags": args.lags,
        "mlp": args.mlp,
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
    if args.attention == "involution":
        result["window"] = args.window
    if args.mlp == "moe":
        result.update(experts=args.experts, top_k=args.top_k, expert_hidden=args.expert_hidden,
                      moe_balance=args.moe_balance, moe_z=args.moe_z, last_aux_loss=aux_value,
                      expert_load=load_history)
    if not args.no_full_eval:
        loss, count, _ = lt.evaluate_windows(model, splits["val"])
        result.update(val_loss_full=loss, val_bpc_full=loss / math.log(2), val_predictions=count)
    if args.write_checkpoint:
        lt.save_checkpoint(args.write_checkpoint, model, tokenizer.vocab)
        result["checkpoint"] = args.write_checkpoint
    result.update(peak_rss_mib=peak_rss_mib(), wall_s=time.perf_counter() - wall_start)
    print(json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------
# Self-test: the properties LEVIATHAN.md asks every implementation to keep

def naive_correlation(q, k, v, b):
    """Loops straight from the spec, one head: q, k, v (T, D), b (N,) -> o (T, D)."""
    T, D = q.shape
    L = lt.lag_set(b.numel())
    o = torch.zeros_like(q)
    for i in range(T):
        s = torch.stack([torch.stack([q[i] @ torch.roll(k[j], -t) / math.sqrt(D) + b[n] for n, t in enumerate(L)])
                         for j in range(i + 1)])  # (i+1, N); torch.roll(x, -t)[d] = x[(d+t) mod D]
        p = torch.softmax(s.flatten(), 0).view(i + 1, len(L))
        for j in range(i + 1):
            for n, t in enumerate(L):
                o[i] = o[i] + p[j, n] * torch.roll(v[j], -t)
    return o


def spec_backward(q, k, v, b, g_o):
    """The backward formulas of LEVIATHAN.md, one head, written out: returns g_q, g_k, g_v, g_b."""
    T, D = q.shape
    L = lt.lag_set(b.numel())
    N = len(L)
    S = lambda x, t: torch.roll(x, -t)  # noqa: E731  (S_t x)[d] = x[(d+t) mod D]
    g_q, g_k, g_v, g_b = (torch.zeros_like(z) for z in (q, k, v, b))
    for i in range(T):
        s = torch.tensor([[q[i] @ S(k[j], t) / math.sqrt(D) + b[n] for n, t in enumerate(L)] for j in range(i + 1)],
                         dtype=q.dtype)
        p = torch.softmax(s.flatten(), 0).view(i + 1, N)
        g_p = torch.tensor([[g_o[i] @ S(v[j], t) for t in L] for j in range(i + 1)], dtype=q.dtype)
        g_s = p * (g_p - (p * g_p).sum())
        for j in range(i + 1):
            for n, t in enumerate(L):
                g_v[j] += p[j, n] * S(g_o[i], -t)
                g_q[i] += g_s[j, n] * S(k[j], t) / math.sqrt(D)
                g_k[j] += g_s[j, n] * S(q[i], -t) / math.sqrt(D)
                g_b[n] += g_s[j, n]
    return g_q, g_k, g_v, g_b


def selftest():
    import tempfile

    torch.manual_seed(0)
    failures = []

    def check(name, a, b, tol):
        err = (a - b).abs().max().item()
        ok = err <= tol
        print(f"{'ok  ' if ok else 'FAIL'} {name}: max |diff| = {err:.3g} (tol {tol:g})")
        if not ok:
            failures.append(name)

    dt = torch.float64
    B, H, T, D = 2, 3, 7, 8

    # 1. N = 1 is causal scaled dot-product attention, whatever the lag bias.
    att = lt.CorrelationAttention(H * D, H, 1).to(dt)
    with torch.no_grad():
        att.lag_bias.normal_()
    q, k, v = (torch.randn(B, H, T, D, dtype=dt) for _ in range(3))
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(D)
    scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).tril().logical_not(), float("-inf"))
    check("N=1 correlation == causal attention", att.correlate(q, k, v), torch.softmax(scores, -1) @ v, 1e-12)

    # 2. Vectorised correlation == the spec's loops, for several N (odd, even, N = D).
    for N in (2, 3, 4, 5, D):
        att = lt.CorrelationAttention(H * D, H, N).to(dt)
        with torch.no_grad():
            att.lag_bias.normal_()
        fast = att.correlate(q, k, v)
        slow = torch.stack([torch.stack([naive_correlation(q[b_, h], k[b_, h], v[b_, h], att.lag_bias[h].detach())
                                         for h in range(H)]) for b_ in range(B)])
        check(f"correlation N={N} == spec loops", fast, slow, 1e-12)

    # 3. Autograd == the spec's backward formulas (N = 4, one sequence).
    att = lt.CorrelationAttention(H * D, H, 4).to(dt)
    with torch.no_grad():
        att.lag_bias.normal_()
    qg, kg, vg = (z[:1].clone().requires_grad_() for z in (q, k, v))
    g_o = torch.randn(1, H, T, D, dtype=dt)
    (att.correlate(qg, kg, vg) * g_o).sum().backward()
    for h in range(H):
        gq, gk, gv, gb = spec_backward(q[0, h], k[0, h], v[0, h], att.lag_bias[h].detach(), g_o[0, h])
        for name, auto, spec in (("q", qg.grad[0, h], gq), ("k", kg.grad[0, h], gk), ("v", vg.grad[0, h], gv),
                                 ("lag_bias", att.lag_bias.grad[h], gb)):
            check(f"grad {name} head {h} == spec backward", auto, spec, 1e-10)

    # 4. The FFT form of the scores and outputs matches the direct one (N = D: all shifts).
    qi, kj, vj = q[0, 0, 3], k[0, 0, 1], v[0, 0, 1]
    direct = torch.stack([qi @ torch.roll(kj, -t) for t in range(D)])
    via_fft = torch.fft.ifft(torch.fft.fft(qi).conj() * torch.fft.fft(kj)).real
    check("FFT scores == direct scores", via_fft, direct, 1e-12)
    pij = torch.rand(D, dtype=dt)
    direct = sum(pij[t] * torch.roll(vj, -t) for t in range(D))
    via_fft = torch.fft.ifft(torch.fft.fft(pij).conj() * torch.fft.fft(vj)).real
    check("FFT outputs == direct outputs", via_fft, direct, 1e-12)

    # 5. Whole model: correlation with N = 1 equals dot with the same weights; no output sees the future.
    V = 11
    dot = lt.Leviathan(V, "dot", 1, n_layer=2, n_head=2, n_embd=16, block_size=9).to(dt)
    cor = lt.Leviathan(V, "correlation", 1, n_layer=2, n_head=2, n_embd=16, block_size=9).to(dt)
    state = dict(dot.state_dict())
    for l in range(2):
        state[f"h.{l}.attn.lag_bias"] = torch.randn(2, 1, dtype=dt)
    cor.load_state_dict(state)
    idx = torch.randint(V, (3, 9))
    check("model: correlation N=1 == dot", cor(idx)[0], dot(idx)[0], 1e-10)
    model = lt.Leviathan(V, "correlation", 4, n_layer=2, n_head=2, n_embd=16, block_size=9).to(dt)
    with torch.no_grad():
        for l in range(2):
            model.h[l].attn.lag_bias.normal_()
    changed = idx.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % V
    check("model: logits at i < 5 ignore tokens >= 5", model(changed)[0][:, :5], model(idx)[0][:, :5], 1e-12)

    # 6. Parameter names, weight-decay groups and a checkpoint round trip.
    names = list(model.state_dict())
    per_layer = ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.lag_bias",
                 "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight",
                 "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"]
    want = ["wte", "wpe", "ln_f.weight", "ln_f.bias"] + [f"h.{l}.{n}" for l in range(2) for n in per_layer]
    if sorted(names) != sorted(want) or len(names) != len(want):
        failures.append("parameter names")
        print(f"FAIL parameter names: {sorted(set(names) ^ set(want))}")
    elif any("lag_bias" in n for n in dot.state_dict()):
        failures.append("dot has no lag_bias")
        print("FAIL attention='dot' must have no lag_bias")
    else:
        print("ok   parameter names are the checkpoint names (no lag_bias for dot)")
    decay, no_decay = model.decay_groups(0.1)
    decayed = {n for n, p in model.named_parameters() if any(p is d for d in decay["params"])}
    want_decay = {n for n in names if n in ("wte", "wpe") or n.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight"))}
    if decayed != want_decay:
        failures.append("weight decay groups")
        print(f"FAIL weight decay groups: {sorted(decayed ^ want_decay)}")
    else:
        print("ok   weight decay on wte, wpe and linear weights only")
    model = model.float()
    vocab = "".join(sorted(set("\n !\"\\abcdeéxyz")))[:V]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tiny.safetensors")
        lt.save_checkpoint(path, model, vocab)
        loaded, tok, meta = lt.load_checkpoint(path)
        if tok.vocab != vocab or meta["format"] != "leviathan-1" or meta["lags"] != "4":
            failures.append("checkpoint metadata")
            print(f"FAIL checkpoint metadata: {meta}")
        check("checkpoint round trip logits", loaded(idx)[0], model(idx)[0], 0.0)
        try:
            import safetensors.torch as st  # cross-check with the reference reader when it is present
            ref = st.load_file(path)
            check("safetensors package reads our file", torch.stack([ref[n].flatten().sum() for n in names]),
                  torch.stack([model.state_dict()[n].flatten().sum() for n in names]), 0.0)
        except ImportError:
            print("skip safetensors package not installed (own reader only)")

    # 7. Evaluation windowing: non-overlapping windows of T+1, remainder ignored.
    ids = torch.randint(V, (3 * 10 + 4,))
    loss, count, n_windows = lt.evaluate_windows(model, ids, block=9)
    w = ids[:30].view(3, 10)
    ref = F.cross_entropy(model(w[:, :9])[0].reshape(-1, V), w[:, 1:].reshape(-1))
    if (count, n_windows) != (27, 3):
        failures.append("windowing counts")
    check("evaluation windowing", torch.tensor(loss), ref.detach().double(), 1e-5)

    # 8. Involution: the vectorised window == the spec's loops; no output sees a later token.
    inv = lt.InvolutionAttention(16, 2, 3).to(dt)
    w, v = torch.randn(2, 6, 2, 3, dtype=dt), torch.randn(2, 6, 2, 8, dtype=dt)
    slow = torch.zeros(2, 6, 2, 8, dtype=dt)
    for b_ in range(2):
        for i in range(6):
            n = min(3, i + 1)
            for h in range(2):
                p = torch.softmax(w[b_, i, h, :n], 0)
                for k_ in range(n):
                    slow[b_, i, h] += p[k_] * v[b_, i - k_, h]
    check("involution == the spec's loops", inv.involve(w, v), slow, 1e-12)
    model = lt.Leviathan(V, "involution", 1, n_layer=2, n_head=2, n_embd=16, block_size=9, window=4).to(dt)
    check("involution model: logits at i < 5 ignore tokens >= 5", model(changed)[0][:, :5], model(idx)[0][:, :5], 1e-12)

    # 9. MoE: == a per-token loop; E = 1 == the dense MLP; ties go to the lower index; the auxiliary
    #    gradient w.r.t. the router logits == the closed forms the Java kernels use.
    moe = lt.MoeMlp(16, 4, 2, 8, balance=0.3, z_loss=0.05).to(dt)
    x = torch.randn(2, 5, 16, dtype=dt)
    y = moe(x)
    slow = torch.zeros(10, 16, dtype=dt)
    for i, m in enumerate(x.reshape(10, 16)):
        z = moe.router(m)
        order = sorted(range(4), key=lambda e: (-z[e].item(), e))[:2]
        g = torch.softmax(z[order], 0)
        for j, e in enumerate(order):
            slow[i] += g[j] * moe.experts[e](m)
    check("moe == per-token loop", y.reshape(10, 16), slow, 1e-12)
    if moe.route(torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])).tolist() != [[1, 2], [0, 1]]:
        failures.append("moe ties")
        print("FAIL moe top-k ties must go to the lower expert index")
    else:
        print("ok   moe top-k ties go to the lower expert index")
    one = lt.MoeMlp(16, 1, 1, 24).to(dt)
    dense = lt.Mlp(16, 24).to(dt)
    dense.load_state_dict({n.removeprefix("experts.0."): p for n, p in one.state_dict().items() if n.startswith("experts")})
    check("moe E=1 == dense MLP", one(x), dense(x), 0.0)
    z = torch.randn(10, 4, dtype=dt, requires_grad=True)
    n_, E_, k_ = 10, 4, 2
    chosen = moe.route(z)
    f = torch.bincount(chosen.reshape(-1), minlength=E_).to(dt) / (k_ * n_)
    pi = torch.softmax(z, -1)
    lse = torch.logsumexp(z, -1)
    (0.3 * E_ * (f * pi.mean(0)).sum() + 0.05 * lse.pow(2).mean()).backward()
    closed = (0.3 * E_ / n_) * pi * (f - (pi * f).sum(-1, keepdim=True)) + (2 * 0.05 / n_) * lse.unsqueeze(-1) * pi
    check("moe auxiliary gradient == closed form", z.grad, closed.detach(), 1e-12)

    print("selftest: " + ("all passed" if not failures else f"{len(failures)} failed: {', '.join(failures)}"))
    return 0 if not failures else 1


def main():
    args = parse_args()
    if args.selftest:
        sys.exit(selftest())
    train(args)


if __name__ == "__main__":
    main()
