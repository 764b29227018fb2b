"""Leviathan in PyTorch: the model of LEVIATHAN.md, for comparison with the Java engine.

The model is a pre-LayerNorm GPT-2 character model whose attention is multi-head
correlation: each head scores a query against every earlier key at N circular lags
of the head dimension and takes one softmax over all (key, lag) pairs. With
attention="dot" it is the same model with N = 1 and no lag bias. The variants of
LEVIATHAN.md plug into the same block: attention="involution" (scores generated from
each token over a causal window of K steps), mlp="moe" (a sparse top-k mixture of
experts with its load-balance and z auxiliary losses, see Leviathan.aux_loss) and
mlp="swiglu" (the gated MLP). attention may list one mixer per layer (a hybrid stack),
and dropout (training only) acts where nanoGPT puts it.

Parameter names are the checkpoint names of LEVIATHAN.md (wte, wpe, h.{l}.ln_1.weight,
h.{l}.attn.c_attn.weight, h.{l}.attn.lag_bias, ..., ln_f.bias), so `state_dict()` maps
1:1 onto a safetensors checkpoint. This module is the one PyTorch peer module the scripts
share: besides the model it holds the thread set-up (OpenBLAS sized from the script's
--threads before torch loads), the model's command-line flags, the optimizer and training
step, a small safetensors reader and writer (float32 only), the character tokenizer and
the spec's evaluation windowing. train.py, make_reference.py and check_checkpoint.py are
thin scripts over it; selftest.py checks it against the spec.

Run with Debian's interpreter, /usr/bin/python3 (package python3-torch).
"""

import argparse
import json
import math
import os
import struct
import sys


def _threads_from_argv():
    """The running script's --threads, read before torch loads (None when absent or not a number)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--threads", default=None)
    value = pre.parse_known_args()[0].threads
    return int(value) if value is not None and value.isdigit() and int(value) > 0 else None


# torch.set_num_threads (set_threads below) sizes only torch's OpenMP pool; OpenBLAS (Debian's
# libopenblas0-pthread) sizes its own pool once, when torch loads. Without this it would run every
# GEMM on all cores, even with --threads 1. The script's own parser reports a bad --threads value.
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(_threads_from_argv() or len(os.sched_getaffinity(0))))

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # the scripts install nothing themselves
    sys.exit(
        "error: PyTorch is not importable by " + sys.executable + ".\n"
        "Install Debian's build:  apt-get install -y python3-torch libopenblas0-pthread\n"
        "and run the scripts with /usr/bin/python3 (a pyenv or venv python3 on PATH will not see it)."
    )

CHECKPOINT_FORMAT = "leviathan-1"
MIXERS = ("correlation", "dot", "involution")
MLPS = ("dense", "moe", "swiglu")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DATA = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "data", "tinyshakespeare.txt"))


def set_threads(threads=None):
    """torch.set_num_threads(threads, default: the CPUs this process may use); returns the count."""
    threads = threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    return threads


def dropout(x, p, training):
    """Inverted dropout x * m / (1 - p), m ~ Bernoulli(1 - p), in training only.

    With p = 0 or in evaluation it is x itself and draws no random number, so a model without
    dropout computes exactly what it did before dropout existed.
    """
    return F.dropout(x, p, training=True) if training and p > 0 else x


def mixer_kinds(attention, n_layer):
    """The per-layer token mixers: one kind for every layer, or a comma-separated list of n_layer kinds."""
    kinds = [a.strip() for a in (attention.split(",") if isinstance(attention, str) else attention)]
    bad = [k for k in kinds if k not in MIXERS]
    if bad:
        raise ValueError(f"attention kind {bad[0]!r} is not one of {', '.join(MIXERS)} (attention={attention!r})")
    if len(kinds) == 1:
        return kinds * n_layer
    if len(kinds) != n_layer:
        raise ValueError(f"attention lists {len(kinds)} kinds for n_layer={n_layer} layers (attention={attention!r})")
    return kinds


def attention_name(kinds):
    """The metadata value: the single kind when every layer agrees, else the comma-separated list."""
    return kinds[0] if len(set(kinds)) == 1 else ",".join(kinds)


def swiglu_hidden(n_embd):
    """The gated MLP's default hidden width: 8C/3 rounded up to a multiple of 16 (352 for C = 128)."""
    return 16 * -(-8 * n_embd // 48)


def lag_set(n_lags):
    """The lag set L = {-floor((N-1)/2), ..., ceil((N-1)/2)}, in column order of lag_bias."""
    lo = -((n_lags - 1) // 2)
    return list(range(lo, lo + n_lags))


class CorrelationAttention(nn.Module):
    """Causal multi-head correlation (LEVIATHAN.md), vectorised.

    Per head, with (S_t x)[d] = x[(d + t) mod D]:
        s[i,j,t] = (q_i . S_t k_j) / sqrt(D) + b[t]     for j <= i, t in L
        p[i,.,.] = softmax over all (j <= i, t in L)
        o_i      = sum_j sum_t p[i,j,t] S_t v_j
    This is attention over T*N lagged key/value tokens (S_t k_j, S_t v_j): the lagged keys
    and values are length-D windows (unfold) of the head vectors extended circularly by the
    lags, then two batched matmuls do the work. Autograd provides the backward. In training with
    dropout p > 0 the weights p[i,j,t] are dropped (inverted dropout) before they mix the values.
    """

    def __init__(self, n_embd, n_head, n_lags, lag_bias=True, dropout=0.0):
        super().__init__()
        if n_embd % n_head != 0:
            raise ValueError(f"n_embd={n_embd} must be divisible by n_head={n_head}")
        head_dim = n_embd // n_head
        if not 1 <= n_lags <= head_dim:
            raise ValueError(f"lags={n_lags} must be in [1, head width {head_dim}]")
        self.n_embd, self.n_head, self.head_dim, self.n_lags = n_embd, n_head, head_dim, n_lags
        self.dropout = dropout
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)  # rows: q, then k, then v
        self.c_proj = nn.Linear(n_embd, n_embd)
        if lag_bias:
            self.lag_bias = nn.Parameter(torch.zeros(n_head, n_lags))  # (H, N), columns in the order of L
        else:
            self.lag_bias = None
        self.lo = (n_lags - 1) // 2  # L = {-lo, ..., hi}
        self.hi = n_lags - 1 - self.lo

    def lagged(self, x):
        """(..., D) -> (..., N, D) with [..., n, :] = S_{L[n]} x.

        ext[e] = x[(e - lo) mod D] for e in [0, D + N - 1), so window n of length D is
        ext[n + d] = x[(d + L[n]) mod D] with L[n] = n - lo.
        """
        D = x.shape[-1]
        ext = torch.cat([x[..., D - self.lo:], x, x[..., :self.hi]], dim=-1)
        return ext.unfold(-1, D, 1)

    def correlate(self, q, k, v):
        """q, k, v: (B, H, T, D) -> o: (B, H, T, D)."""
        B, H, T, D = q.shape
        N = self.n_lags
        if N > 1:
            k = self.lagged(k).reshape(B, H, T * N, D)  # lagged token (j, t) at j*N + t
            v = self.lagged(v).reshape(B, H, T * N, D)
        s = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(D))  # (B, H, T, T*N)
        # Causal mask over (j <= i, all t) as -inf, with the lag bias folded in: one add over the scores.
        mask = torch.full((T, T), float("-inf"), dtype=q.dtype, device=q.device).triu(1).view(T, T, 1)
        if self.lag_bias is not None:
            mask = mask + self.lag_bias.view(H, 1, 1, N)  # (H, T, T, N)
        s = s.view(B, H, T, T, N) + mask
        p = torch.softmax(s.view(B, H, T, T * N), dim=-1)  # jointly over (j, t)
        return dropout(p, self.dropout, self.training) @ v

    def forward(self, x):
        B, T, C = x.shape
        H, D = self.n_head, self.head_dim
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (z.view(B, T, H, D).transpose(1, 2) for z in (q, k, v))  # (B, H, T, D)
        o = self.correlate(q, k, v).transpose(1, 2).reshape(B, T, C)  # heads merged
        return self.c_proj(o)


class InvolutionAttention(nn.Module):
    """Involution scores (LEVIATHAN.md, "Variants"): a per-token kernel over a causal window of K steps.

        r = gelu(a @ c_reduce.weight^T + c_reduce.bias)            (T, R), R = C / 4
        w = r @ c_span.weight^T + c_span.bias                      (T, H*K); w[i,h,k] is column h*K + k
        p[i,h,.] = softmax over k in [0, min(K, i+1)) of w[i,h,k]  (k = how many steps back)
        v = a @ c_v.weight^T + c_v.bias                            (T, C), head h = columns h*D..
        o[i,h] = sum_k p[i,h,k] v[i-k,h];  out = o @ c_proj.weight^T + c_proj.bias
    The window of v is an unfold over time of v padded with K-1 zero rows in front; the padded
    positions get p = 0 (the softmax masks them with -inf), so nothing padded reaches o. In
    training with dropout p > 0 the weights p[i,h,k] are dropped before they mix the values.
    """

    def __init__(self, n_embd, n_head, window, dropout=0.0):
        super().__init__()
        if n_embd % n_head != 0:
            raise ValueError(f"n_embd={n_embd} must be divisible by n_head={n_head}")
        if n_embd % 4 != 0:
            raise ValueError(f"involution needs n_embd divisible by 4 (R = C/4), got {n_embd}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.n_embd, self.n_head, self.head_dim, self.window = n_embd, n_head, n_embd // n_head, window
        self.dropout = dropout
        reduce = n_embd // 4
        self.c_reduce = nn.Linear(n_embd, reduce)
        self.c_span = nn.Linear(reduce, n_head * window)
        self.c_v = nn.Linear(n_embd, n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)

    def involve(self, w, v):
        """w: (B, T, H, K) span logits, v: (B, T, H, D) -> o: (B, T, H, D)."""
        B, T, H, K = w.shape
        steps = torch.arange(K, device=w.device)
        before_start = steps.view(1, K) > torch.arange(T, device=w.device).view(T, 1)  # (T, K): i - k < 0
        p = torch.softmax(w.masked_fill(before_start.view(1, T, 1, K), float("-inf")), dim=-1)
        p = dropout(p, self.dropout, self.training)
        vp = F.pad(v, (0, 0, 0, 0, K - 1, 0))                     # (B, T+K-1, H, D); v[i-k] = vp[i+K-1-k]
        windows = vp.unfold(1, K, 1).flip(-1)                     # (B, T, H, D, K); [..., k] = v[i-k]
        return torch.einsum("bthk,bthdk->bthd", p, windows)

    def forward(self, x):
        B, T, C = x.shape
        H, D, K = self.n_head, self.head_dim, self.window
        w = self.c_span(F.gelu(self.c_reduce(x), approximate="tanh")).view(B, T, H, K)
        v = self.c_v(x).view(B, T, H, D)
        return self.c_proj(self.involve(w, v).reshape(B, T, C))


class Mlp(nn.Module):
    """The GPT-2 MLP: c_proj(gelu(c_fc(x))), hidden width 4C unless given."""

    def __init__(self, n_embd, hidden=None):
        super().__init__()
        hidden = hidden or 4 * n_embd
        self.c_fc = nn.Linear(n_embd, hidden)
        self.c_proj = nn.Linear(hidden, n_embd)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class SwigluMlp(nn.Module):
    """The gated MLP (LEVIATHAN.md, "Gated MLP"), no biases, hidden width F:

        y = (silu(m @ c_gate.weight^T) * (m @ c_fc.weight^T)) @ c_proj.weight^T,  silu(z) = z sigmoid(z)
    """

    def __init__(self, n_embd, hidden):
        super().__init__()
        if hidden < 1:
            raise ValueError(f"mlp_hidden must be >= 1, got {hidden}")
        self.hidden = hidden
        self.c_gate = nn.Linear(n_embd, hidden, bias=False)
        self.c_fc = nn.Linear(n_embd, hidden, bias=False)
        self.c_proj = nn.Linear(hidden, n_embd, bias=False)

    def forward(self, x):
        return self.c_proj(F.silu(self.c_gate(x)) * self.c_fc(x))


class MoeMlp(nn.Module):
    """Sparse mixture of experts (LEVIATHAN.md, "Variants"), dropless, with its auxiliary losses.

        z = m @ router.weight^T                          (n, E), no bias
        S_i = the k largest z_i,e (ties: the lower expert index first; the selection has no gradient)
        g_i,e = softmax over e in S_i of z_i,e
        y_i = sum_{e in S_i} g_i,e * expert_e(m_i)       (expert_e: a GPT-2 MLP of hidden width F)
    After each forward, self.aux holds alpha*E*sum_e f_e P_e + beta*mean_i(logsumexp_e z_i,e)^2
    (f_e: the fraction of the n*k routed pairs at expert e, a constant; P_e: mean_i softmax(z_i)_e),
    self.aux_terms the two terms apart, and self.load the fractions f_e.
    """

    def __init__(self, n_embd, n_expert, top_k, hidden, balance=0.01, z_loss=0.001):
        super().__init__()
        if not 1 <= top_k <= n_expert:
            raise ValueError(f"top_k={top_k} must be in [1, n_expert={n_expert}]")
        if hidden < 1:
            raise ValueError(f"expert_hidden must be >= 1, got {hidden}")
        self.n_expert, self.top_k, self.hidden = n_expert, top_k, hidden
        self.balance, self.z_loss = balance, z_loss
        self.router = nn.Linear(n_embd, n_expert, bias=False)
        self.experts = nn.ModuleList(Mlp(n_embd, hidden) for _ in range(n_expert))
        self.aux, self.aux_terms, self.load = None, None, None

    def route(self, z):
        """Top-k expert indices (n, k) with ties to the lower index: a stable descending sort."""
        return torch.sort(z.detach(), dim=-1, descending=True, stable=True).indices[:, :self.top_k]

    def forward(self, x):
        B, T, C = x.shape
        E, k = self.n_expert, self.top_k
        m = x.reshape(B * T, C)
        n = m.shape[0]
        z = self.router(m)                                        # (n, E)
        chosen = self.route(z)                                    # (n, k)
        gates = torch.softmax(z.gather(1, chosen), dim=-1)        # (n, k)
        y = torch.zeros_like(m)
        for e, expert in enumerate(self.experts):
            token, slot = (chosen == e).nonzero(as_tuple=True)     # dropless: every pair routed to e
            if token.numel() == 0:
                continue
            y = y.index_add(0, token, gates[token, slot].unsqueeze(1) * expert(m[token]))
        counts = torch.bincount(chosen.reshape(-1), minlength=E).to(z.dtype)
        f = counts / (k * n)                                      # constant
        P = torch.softmax(z, dim=-1).mean(0)
        balance = self.balance * E * (f * P).sum()
        zl = self.z_loss * torch.logsumexp(z, dim=-1).pow(2).mean()
        self.aux, self.aux_terms, self.load = balance + zl, (balance, zl), f
        return y.view(B, T, C)


class Block(nn.Module):
    """x + drop(mixer(ln_1(x))), then x + drop(mlp(ln_2(x))); the mixer is this layer's own kind."""

    def __init__(self, n_embd, n_head, attention, lags=1, window=16, mlp="dense", mlp_hidden=None, n_expert=8,
                 top_k=2, expert_hidden=None, moe_balance=0.01, moe_z=0.001, dropout=0.0):
        super().__init__()
        self.dropout = dropout
        self.ln_1 = nn.LayerNorm(n_embd, eps=1e-5)
        if attention == "involution":
            self.attn = InvolutionAttention(n_embd, n_head, window, dropout)
        elif attention == "dot":                                  # N = 1, no lag bias
            self.attn = CorrelationAttention(n_embd, n_head, 1, False, dropout)
        else:
            self.attn = CorrelationAttention(n_embd, n_head, lags, True, dropout)
        self.ln_2 = nn.LayerNorm(n_embd, eps=1e-5)
        if mlp == "moe":
            self.mlp = MoeMlp(n_embd, n_expert, top_k, expert_hidden, moe_balance, moe_z)
        elif mlp == "swiglu":
            self.mlp = SwigluMlp(n_embd, mlp_hidden)
        else:
            self.mlp = Mlp(n_embd)

    def forward(self, x):
        x = x + dropout(self.attn(self.ln_1(x)), self.dropout, self.training)
        return x + dropout(self.mlp(self.ln_2(x)), self.dropout, self.training)


class Leviathan(nn.Module):
    """The language model: tokens (B, T) -> logits (B, T, V); the output head is wte (tied).

    attention is one mixer kind for every layer or a comma-separated list of n_layer kinds (a
    hybrid stack); lags applies to the correlation layers, window to the involution layers.
    dropout (p, training only, never stored in a checkpoint) acts at nanoGPT's places: the
    embedding sum, the mixer weights and each residual branch's output.
    """

    def __init__(self, vocab_size, attention="correlation", lags=4, n_layer=4, n_head=4, n_embd=128,
                 block_size=64, window=16, mlp="dense", n_expert=8, top_k=2, expert_hidden=None,
                 moe_balance=0.01, moe_z=0.001, mlp_hidden=None, dropout=0.0):
        super().__init__()
        kinds = mixer_kinds(attention, n_layer)
        if "correlation" not in kinds and lags != 1:
            raise ValueError(f"attention={attention!r} has no correlation layer, which means lags=1; got lags={lags}")
        if "involution" in kinds and not 1 <= window <= block_size:
            raise ValueError(f"window={window} must be in [1, block_size={block_size}]")
        if mlp not in MLPS:
            raise ValueError(f"mlp must be one of {', '.join(MLPS)}, got {mlp!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if mlp == "moe" and expert_hidden is None:
            expert_hidden = max(1, 4 * n_embd // top_k)          # the dense MLP's active flops per token
        if mlp == "swiglu" and mlp_hidden is None:
            mlp_hidden = swiglu_hidden(n_embd)
        self.kinds = kinds
        self.config = dict(vocab_size=vocab_size, attention=attention_name(kinds), lags=lags, n_layer=n_layer,
                           n_head=n_head, n_embd=n_embd, block_size=block_size, mlp=mlp)
        if "involution" in kinds:
            self.config.update(window=window)
        if mlp == "moe":
            self.config.update(n_expert=n_expert, top_k=top_k, expert_hidden=expert_hidden)
        if mlp == "swiglu":
            self.config.update(mlp_hidden=mlp_hidden)
        self.block_size = block_size
        self.dropout = dropout
        self.wte = nn.Parameter(torch.empty(vocab_size, n_embd))  # (V, C)
        self.wpe = nn.Parameter(torch.empty(block_size, n_embd))  # (block_size, C)
        self.h = nn.ModuleList(Block(n_embd, n_head, kind, lags, window, mlp, mlp_hidden, n_expert, top_k,
                                     expert_hidden, moe_balance, moe_z, dropout)
                               for kind in kinds)
        self.ln_f = nn.LayerNorm(n_embd, eps=1e-5)
        self.reset_parameters()

    def reset_parameters(self):
        """GPT-2 init: N(0, 0.02) weights, residual projections scaled by 1/sqrt(2 n_layer), zero biases.

        Every c_proj.weight is a residual projection (attn.c_proj, the MLP's or each expert's c_proj);
        the involution projections (c_reduce, c_span, c_v), the gated MLP's c_gate and the router are
        plain N(0, 0.02).
        """
        residual_std = 0.02 / math.sqrt(2 * len(self.h))
        for name, p in self.named_parameters():
            if name in ("wte", "wpe"):
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, residual_std)
            elif name.endswith(("c_attn.weight", "c_fc.weight", "c_gate.weight", "c_reduce.weight", "c_span.weight",
                                "c_v.weight", "router.weight")):
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith("lag_bias") or name.endswith(".bias"):
                nn.init.zeros_(p)
            elif ".ln_" in name or name.startswith("ln_f"):  # LayerNorm weights
                nn.init.ones_(p)
            else:
                raise AssertionError(f"no init rule for {name}")

    def forward(self, idx, targets=None):
        B, T = idx.shape
        if T > self.block_size:
            raise ValueError(f"sequence length {T} exceeds block_size {self.block_size}")
        x = dropout(self.wte[idx] + self.wpe[:T], self.dropout, self.training)
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.t()
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T))
        return logits, loss

    def aux_loss(self):
        """The auxiliary terms of the last forward (sum over MoE layers); 0 for a dense model.

        The training objective is forward's cross-entropy + aux_loss(); reported losses are the
        cross-entropy alone.
        """
        terms = [b.mlp.aux for b in self.h if isinstance(b.mlp, MoeMlp)]
        return sum(terms) if terms else 0.0

    def expert_load(self):
        """Per MoE layer, the fractions f_e of the last forward's routed pairs (empty for dense)."""
        return {f"h.{l}": b.mlp.load.tolist() for l, b in enumerate(self.h) if isinstance(b.mlp, MoeMlp)}

    def active_parameters(self):
        """Parameters one token uses: all of them but, per MoE layer, the E - k experts it skips."""
        total = sum(p.numel() for p in self.parameters())
        for block in self.h:
            if isinstance(block.mlp, MoeMlp):
                per_expert = sum(p.numel() for p in block.mlp.experts[0].parameters())
                total -= (block.mlp.n_expert - block.mlp.top_k) * per_expert
        return total

    def fill_missing_grads(self):
        """Zero gradients for parameters the last backward did not reach (an expert no token chose).

        torch.optim.AdamW skips a parameter whose grad is None, weight decay included; the Java
        engine's flat optimizer updates every parameter. Call this before optimizer.step() so an idle
        expert is decayed and its moments decay, as in the engine.
        """
        for p in self.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)

    def decay_groups(self, weight_decay):
        """AdamW groups: decay on wte, wpe and every linear weight; never biases, LayerNorm or lag_bias."""
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            is_linear_weight = name.endswith(".weight") and p.dim() == 2
            (decay if name in ("wte", "wpe") or is_linear_weight else no_decay).append(p)
        return [dict(params=decay, weight_decay=weight_decay), dict(params=no_decay, weight_decay=0.0)]


# ---------------------------------------------------------------------------------------------
# Training: the optimizer and one step, as train.py and make_reference.py both use them

def make_optimizer(model, lr, weight_decay, betas=(0.9, 0.99), eps=1e-8):
    """torch.optim.AdamW over the model's decay groups (decay on 2-D weights only)."""
    return torch.optim.AdamW(model.decay_groups(weight_decay), lr=lr, betas=betas, eps=eps)


def train_step(model, optimizer, x, y, grad_clip=0.0):
    """One optimizer step on the training objective, cross-entropy + aux_loss().

    An expert no token chose gets a zero gradient (fill_missing_grads) so AdamW still decays it;
    grad_clip > 0 clips the global gradient norm. Returns (cross-entropy, objective) of the
    forward before the step, as tensors.
    """
    optimizer.zero_grad(set_to_none=True)
    _, loss = model(x, y)
    total = loss + model.aux_loss()
    total.backward()
    model.fill_missing_grads()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss, total


# ---------------------------------------------------------------------------------------------
# Command line: the model's flags, shared by the scripts that build a model from flags

def add_model_arguments(parser):
    """The model's flags and their defaults (the recipe's model)."""
    g = parser.add_argument_group("model")
    g.add_argument("--attention", default="correlation",
                   help="token mixer: correlation, dot or involution, or a comma-separated list of n_layer of "
                        "them, one per layer from layer 0 (a hybrid stack); default %(default)s")
    g.add_argument("--lags", type=int, default=4,
                   help="lag count N of the correlation layers (forced to 1 when there is none)")
    g.add_argument("--window", type=int, default=16, help="involution window K, 1 <= K <= block size")
    g.add_argument("--mlp", choices=MLPS, default="dense")
    g.add_argument("--mlp-hidden", type=int, default=None,
                   help="swiglu: hidden width F (default 8C/3 rounded up to a multiple of 16)")
    g.add_argument("--experts", type=int, default=8, help="moe: expert count E")
    g.add_argument("--top-k", type=int, default=2, help="moe: experts per token k")
    g.add_argument("--expert-hidden", type=int, default=None,
                   help="moe: expert hidden width F (default 4C/k, rounded down: the dense MLP's active flops)")
    g.add_argument("--moe-balance", type=float, default=0.01, help="moe: load-balance loss weight alpha")
    g.add_argument("--moe-z", type=float, default=0.001, help="moe: router z-loss weight beta")
    g.add_argument("--n-layer", type=int, default=4)
    g.add_argument("--n-head", type=int, default=4)
    g.add_argument("--n-embd", type=int, default=128)
    g.add_argument("--block-size", type=int, default=64)
    g.add_argument("--dropout", type=float, default=0.0,
                   help="dropout p in training forward passes (0: none, the reference runs)")
    return g


def model_from_args(args, vocab_size):
    """The model the flags describe. Raises ValueError (one line) for an invalid combination."""
    kinds = mixer_kinds(args.attention, args.n_layer)
    lags = args.lags if "correlation" in kinds else 1
    return Leviathan(vocab_size, attention=args.attention, lags=lags, n_layer=args.n_layer, n_head=args.n_head,
                     n_embd=args.n_embd, block_size=args.block_size, window=args.window, mlp=args.mlp,
                     n_expert=args.experts, top_k=args.top_k, expert_hidden=args.expert_hidden,
                     moe_balance=args.moe_balance, moe_z=args.moe_z, mlp_hidden=args.mlp_hidden,
                     dropout=args.dropout)


# ---------------------------------------------------------------------------------------------
# Tokenizer and data

class CharTokenizer:
    """Token id = index of the character (code point) in the sorted vocabulary."""

    def __init__(self, vocab):
        self.vocab = vocab
        self.index = {c: i for i, c in enumerate(vocab)}
        if len(self.index) != len(vocab):
            raise ValueError("vocabulary has repeated characters")

    @classmethod
    def from_text(cls, text):
        return cls("".join(sorted(set(text))))

    def encode(self, text, drop_unknown=False):
        ids = []
        for pos, c in enumerate(text):
            i = self.index.get(c)
            if i is None:
                if drop_unknown:
                    continue
                raise ValueError(f"character {c!r} (U+{ord(c):04X}) at position {pos} is not in the "
                                 f"vocabulary; pass --drop-unknown to skip such characters")
            ids.append(i)
        return torch.tensor(ids, dtype=torch.long)


def read_text(path):
    """A UTF-8 text file; ValueError with one line when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise ValueError(f"text file {path} not found; pass --data PATH (Tiny Shakespeare)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read text file {path}: {e}") from None


def split_text(text):
    """The first floor(0.9 n) characters train, the rest validate."""
    n_train = int(0.9 * len(text))
    return text[:n_train], text[n_train:]


@torch.no_grad()
def evaluate_windows(model, ids, block=None, batch_size=64):
    """The spec's evaluation: non-overlapping windows x[s..s+T], s = 0, T+1, ...; remainder ignored.

    Returns (mean loss in nats over all predictions, number of predictions, number of windows).
    """
    T = block or model.block_size
    n_windows = len(ids) // (T + 1)
    if n_windows == 0:
        raise ValueError(f"text of {len(ids)} tokens is shorter than one window of {T + 1}")
    windows = ids[: n_windows * (T + 1)].view(n_windows, T + 1)
    was_training = model.training
    model.eval()
    total = 0.0
    for start in range(0, n_windows, batch_size):
        w = windows[start:start + batch_size]
        logits, _ = model(w[:, :T])
        total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), w[:, 1:].reshape(-1),
                                 reduction="sum").item()
    model.train(was_training)
    count = n_windows * T
    return total / count, count, n_windows


# ---------------------------------------------------------------------------------------------
# Checkpoints: safetensors, float32 little-endian (format in LEVIATHAN.md)

def checkpoint_metadata(model, vocab):
    c = model.config
    meta = {
        "format": CHECKPOINT_FORMAT,
        "attention": c["attention"],
        "n_layer": str(c["n_layer"]),
        "n_head": str(c["n_head"]),
        "n_embd": str(c["n_embd"]),
        "block_size": str(c["block_size"]),
        "lags": str(c["lags"]),
        "vocab": vocab,
    }
    if "window" in c:                                          # any involution layer
        meta["window"] = str(c["window"])
    if c["mlp"] == "moe":                                      # absent means dense, as in older checkpoints
        meta.update(mlp="moe", n_expert=str(c["n_expert"]), top_k=str(c["top_k"]),
                    expert_hidden=str(c["expert_hidden"]))
    elif c["mlp"] == "swiglu":
        meta.update(mlp="swiglu", mlp_hidden=str(c["mlp_hidden"]))
    return meta


def write_safetensors(path, tensors, metadata):
    """Write {name: tensor} as float32 little-endian safetensors with string metadata."""
    header = {"__metadata__": dict(metadata)}
    blobs, offset = [], 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().cpu().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)  # pad so the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Read a safetensors file: 8-byte little-endian header length, JSON header, raw data.

    Returns ({name: float32 tensor}, metadata dict). Only F32 tensors are accepted.
    """
    import numpy as np

    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: {len(raw)} bytes is too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} runs past the end of the file ({len(raw)} bytes)")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = memoryview(raw)[8 + n:]
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        if dtype != "F32":
            raise ValueError(f"{path}: tensor {name} has dtype {dtype}; expected F32")
        count = math.prod(shape)
        if not 0 <= begin <= end <= len(data) or end - begin != 4 * count:
            raise ValueError(f"{path}: tensor {name} shape {shape} does not match data_offsets [{begin}, {end}] "
                             f"(data section is {len(data)} bytes)")
        array = np.frombuffer(data[begin:end], dtype="<f4").astype(np.float32)
        tensors[name] = torch.from_numpy(array.copy()).view(shape)
    return tensors, metadata


def save_checkpoint(path, model, vocab):
    write_safetensors(path, model.state_dict(), checkpoint_metadata(model, vocab))


def load_checkpoint(path):
    """Build the model a checkpoint describes and load its weights. Returns (model, tokenizer, metadata)."""
    tensors, meta = read_safetensors(path)
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: metadata format is {meta.get('format')!r}; expected {CHECKPOINT_FORMAT!r}")
    missing = [k for k in ("attention", "n_layer", "n_head", "n_embd", "block_size", "lags", "vocab") if k not in meta]
    if missing:
        raise ValueError(f"{path}: metadata lacks {', '.join(missing)}")
    vocab = meta["vocab"]
    mlp = meta.get("mlp", "dense")
    try:
        kinds = mixer_kinds(meta["attention"], int(meta["n_layer"]))
        need = (["window"] if "involution" in kinds else []) + \
            {"moe": ["n_expert", "top_k", "expert_hidden"], "swiglu": ["mlp_hidden"]}.get(mlp, [])
        missing = [k for k in need if k not in meta]
        if missing:
            raise ValueError(f"metadata lacks {', '.join(missing)}")
        optional = lambda key, default: int(meta[key]) if key in meta else default  # noqa: E731
        model = Leviathan(len(vocab), attention=meta["attention"], lags=int(meta["lags"]),
                          n_layer=int(meta["n_layer"]), n_head=int(meta["n_head"]),
                          n_embd=int(meta["n_embd"]), block_size=int(meta["block_size"]),
                          window=optional("window", 16), mlp=mlp,
                          n_expert=optional("n_expert", 8), top_k=optional("top_k", 2),
                          expert_hidden=optional("expert_hidden", None), mlp_hidden=optional("mlp_hidden", None))
    except ValueError as e:
        raise ValueError(f"{path}: metadata describes no valid model: {e}") from None
    expected = model.state_dict()
    problems = [f"missing {k} {list(v.shape)}" for k, v in expected.items() if k not in tensors]
    problems += [f"unexpected {k}" for k in tensors if k not in expected]
    problems += [f"{k}: shape {list(tensors[k].shape)}, expected {list(v.shape)}"
                 for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    if problems:
        raise ValueError(f"{path}: tensors do not match the metadata's model: " + "; ".join(problems))
    model.load_state_dict(tensors, strict=True)
    return model, CharTokenizer(vocab), meta
