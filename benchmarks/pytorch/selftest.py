#!/usr/bin/python3
"""Check the PyTorch peer (leviathan_torch.py) against the properties LEVIATHAN.md asks for.

    /usr/bin/python3 benchmarks/pytorch/selftest.py        (also: train.py --selftest)

A few seconds on a laptop core. Prints one line per check and exits non-zero if any fails.
"""

import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import leviathan_torch as lt  # noqa: E402  (exits with a clear message when torch is missing)
from leviathan_torch import torch, F  # noqa: E402


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


def round_trip(model, vocab, idx):
    """Save and load a checkpoint; returns (logits before, logits after, metadata)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.safetensors")
        lt.save_checkpoint(path, model, vocab)
        loaded, _, meta = lt.load_checkpoint(path)
        return model(idx)[0], loaded(idx)[0], meta


def expect(failures, name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok else ': ' + detail}")
    if not ok:
        failures.append(name)


def expect_error(failures, name, build, fragment):
    """build() must raise ValueError whose message holds fragment."""
    try:
        build()
    except ValueError as e:
        expect(failures, name, fragment in str(e), f"message {str(e)!r} lacks {fragment!r}")
        return
    expect(failures, name, False, "no error")


def check_swiglu(check, failures, dt):
    """10. The gated MLP: the spec's formula per token; names, shapes, decay, default width, metadata."""
    expect(failures, "swiglu default hidden: 8C/3 rounded up to 16 (352 for C = 128, 48 for C = 16)",
           (lt.swiglu_hidden(128), lt.swiglu_hidden(16), lt.swiglu_hidden(48)) == (352, 48, 128),
           str((lt.swiglu_hidden(128), lt.swiglu_hidden(16), lt.swiglu_hidden(48))))
    mlp = lt.SwigluMlp(16, 20).to(dt)
    x = torch.randn(2, 5, 16, dtype=dt)
    slow = torch.zeros(2, 5, 16, dtype=dt)
    gate, fc, proj = (m.weight.detach() for m in (mlp.c_gate, mlp.c_fc, mlp.c_proj))
    for b in range(2):
        for i in range(5):
            m = x[b, i]
            z = gate @ m
            hidden = z * (1.0 / (1.0 + torch.exp(-z))) * (fc @ m)     # silu(z) = z sigmoid(z)
            slow[b, i] = proj @ hidden
    check("swiglu == the spec's formula per token", mlp(x), slow, 1e-12)

    V, C = 11, 16
    model = lt.Leviathan(V, "correlation", 2, n_layer=2, n_head=2, n_embd=C, block_size=9, mlp="swiglu")
    shapes = {n: list(p.shape) for n, p in model.named_parameters() if ".mlp." in n}
    want = {f"h.{l}.mlp.{n}": s for l in range(2)
            for n, s in (("c_gate.weight", [48, C]), ("c_fc.weight", [48, C]), ("c_proj.weight", [C, 48]))}
    expect(failures, "swiglu tensors: c_gate, c_fc [F, C], c_proj [C, F], no biases", shapes == want, str(shapes))
    decay, _ = model.decay_groups(0.1)
    decayed = {n for n, p in model.named_parameters() if any(p is d for d in decay["params"])}
    expect(failures, "swiglu: all three matrices decay", set(want) <= decayed, str(set(want) - decayed))
    std = {n: p.std().item() for n, p in model.named_parameters() if ".mlp." in n}
    residual = 0.02 / math.sqrt(2 * 2)
    ok = all(abs(s - (residual if "c_proj" in n else 0.02)) < 0.25 * (residual if "c_proj" in n else 0.02)
             for n, s in std.items())
    expect(failures, "swiglu init: N(0, 0.02), c_proj N(0, 0.02/sqrt(2 n_layer))", ok, str(std))
    model = lt.Leviathan(V, "dot", 1, n_layer=2, n_head=2, n_embd=C, block_size=9, mlp="swiglu", mlp_hidden=24)
    idx = torch.randint(V, (3, 9))
    before, after, meta = round_trip(model, "abcdefghijk", idx)
    check("swiglu checkpoint round trip logits", after, before, 0.0)
    expect(failures, "swiglu metadata: mlp=swiglu, mlp_hidden=F",
           (meta.get("mlp"), meta.get("mlp_hidden")) == ("swiglu", "24"), str(meta))
    expect_error(failures, "swiglu: mlp_hidden < 1 is an error",
                 lambda: lt.Leviathan(V, "dot", 1, n_layer=1, n_head=2, n_embd=C, block_size=9, mlp="swiglu",
                                      mlp_hidden=0), "mlp_hidden must be >= 1")


def check_hybrid(check, failures, dt):
    """11. Hybrid stacks: each layer is its own kind (== that kind's block with the same weights), metadata."""
    V, C, L = 11, 16, 3
    kinds = ["involution", "correlation", "dot"]
    hybrid = lt.Leviathan(V, ",".join(kinds), 3, n_layer=L, n_head=2, n_embd=C, block_size=9, window=4).to(dt)
    with torch.no_grad():
        for p in hybrid.parameters():
            p.add_(0.1 * torch.randn_like(p))                       # non-trivial biases and lag bias
    x = torch.randn(2, 9, C, dtype=dt)
    for l, kind in enumerate(kinds):
        single = lt.Leviathan(V, kind, 3 if kind == "correlation" else 1, n_layer=L, n_head=2, n_embd=C,
                              block_size=9, window=4).to(dt)
        single.h[l].load_state_dict(hybrid.h[l].state_dict(), strict=True)   # same names and shapes
        check(f"hybrid layer {l} == a {kind} block with its weights", hybrid.h[l](x), single.h[l](x), 0.0)
    names = set(hybrid.state_dict())
    ok = ("h.0.attn.c_reduce.weight" in names and "h.0.attn.c_attn.weight" not in names
          and list(hybrid.state_dict()["h.1.attn.lag_bias"].shape) == [2, 3]
          and "h.2.attn.lag_bias" not in names and "h.2.attn.c_attn.weight" in names)
    expect(failures, "hybrid tensors: each layer carries its own kind's (lag_bias [H, N] on correlation only)", ok)
    idx = torch.randint(V, (3, 9))
    changed = idx.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % V
    check("hybrid model: logits at i < 5 ignore tokens >= 5", hybrid(changed)[0][:, :5], hybrid(idx)[0][:, :5], 1e-12)
    before, after, meta = round_trip(hybrid.float(), "abcdefghijk", idx)
    check("hybrid checkpoint round trip logits", after, before, 0.0)
    expect(failures, "hybrid metadata: attention is the list, lags N, window K",
           (meta["attention"], meta["lags"], meta.get("window")) == ("involution,correlation,dot", "3", "4"), str(meta))
    same = lt.Leviathan(V, "dot,dot", 1, n_layer=2, n_head=2, n_embd=C, block_size=9)
    one = lt.Leviathan(V, "dot", 1, n_layer=2, n_head=2, n_embd=C, block_size=9)
    one.load_state_dict(same.state_dict(), strict=True)
    check("'dot,dot' == 'dot' with the same weights", same(idx)[0], one(idx)[0], 0.0)
    expect(failures, "metadata of 'dot,dot' is the single kind 'dot'", same.config["attention"] == "dot")
    no_cor = lt.Leviathan(V, "dot,involution", 1, n_layer=2, n_head=2, n_embd=C, block_size=9, window=2)
    expect(failures, "no correlation layer: lags metadata 1, window present",
           (lt.checkpoint_metadata(no_cor, "")["lags"], no_cor.config.get("window")) == ("1", 2))
    no_inv = lt.Leviathan(V, "correlation,dot", 4, n_layer=2, n_head=2, n_embd=C, block_size=9)
    expect(failures, "no involution layer: no window metadata", "window" not in lt.checkpoint_metadata(no_inv, ""))
    build = lambda attention, lags=1: lt.Leviathan(V, attention, lags, n_layer=3, n_head=2, n_embd=C,  # noqa: E731
                                                   block_size=9)
    expect_error(failures, "hybrid: a list of the wrong length is an error", lambda: build("dot,dot"), "lists 2 kinds")
    expect_error(failures, "hybrid: an unknown kind is an error", lambda: build("dot,fft,dot"), "'fft'")
    expect_error(failures, "hybrid: lags > 1 without a correlation layer is an error",
                 lambda: build("dot,involution,dot", 3), "lags=1")


def check_dropout(check, failures, dt):
    """12. Dropout: p = 0 draws nothing and changes nothing; evaluation ignores p; the nanoGPT sites."""
    V, C = 11, 16
    idx = torch.randint(V, (3, 9))
    for attention, N, mlp in (("correlation", 3, "dense"), ("involution", 1, "moe"), ("dot", 1, "swiglu")):
        torch.manual_seed(5)
        plain = lt.Leviathan(V, attention, N, n_layer=2, n_head=2, n_embd=C, block_size=9, window=3, mlp=mlp)
        torch.manual_seed(5)
        zero = lt.Leviathan(V, attention, N, n_layer=2, n_head=2, n_embd=C, block_size=9, window=3, mlp=mlp,
                            dropout=0.0)
        torch.manual_seed(5)
        dropping = lt.Leviathan(V, attention, N, n_layer=2, n_head=2, n_embd=C, block_size=9, window=3, mlp=mlp,
                                dropout=0.3)
        state = torch.get_rng_state()
        out = zero(idx)[0]
        expect(failures, f"{attention}+{mlp}: p = 0 in training draws no random number",
               torch.equal(state, torch.get_rng_state()))
        check(f"{attention}+{mlp}: p = 0 == the model without dropout", out, plain(idx)[0], 0.0)
        dropping.eval()
        check(f"{attention}+{mlp}: evaluation ignores p", dropping(idx)[0], plain(idx)[0], 0.0)
        dropping.train()
        calls = []
        real = F.dropout

        def recording(x, p, training=True, inplace=False):
            calls.append((tuple(x.shape), p, training))
            return real(x, p, training, inplace)

        F.dropout = recording
        try:
            logits = dropping(idx)[0]
        finally:
            F.dropout = real
        B, T, H = 3, 9, 2
        weights = (B, H, T, T * N) if attention != "involution" else (B, T, H, 3)
        want = [((B, T, C), 0.3, True)] + [(weights, 0.3, True), ((B, T, C), 0.3, True), ((B, T, C), 0.3, True)] * 2
        expect(failures, f"{attention}+{mlp}: dropout at the embedding sum, the mixer weights and both branches",
               calls == want, str(calls))
        expect(failures, f"{attention}+{mlp}: p = 0.3 in training changes the logits",
               not torch.equal(logits, plain(idx)[0]))
    p = 0.25
    x = torch.ones(200000, dtype=dt)
    y = lt.dropout(x, p, True)
    kept = (y != 0).double().mean().item()
    values = set(y.unique().tolist())
    expect(failures, "dropout: inverted (kept values 1/(1-p)), about 1-p kept",
           values <= {0.0, 1.0 / (1.0 - p)} and abs(kept - (1 - p)) < 0.01, f"{values}, kept {kept}")
    expect_error(failures, "dropout: p >= 1 is an error",
                 lambda: lt.Leviathan(V, "dot", 1, n_layer=1, n_head=2, n_embd=C, block_size=9, dropout=1.0),
                 "dropout must be in [0, 1)")


def selftest():
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

    check_swiglu(check, failures, dt)
    check_hybrid(check, failures, dt)
    check_dropout(check, failures, dt)

    print("selftest: " + ("all passed" if not failures else f"{len(failures)} failed: {', '.join(failures)}"))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(selftest())
