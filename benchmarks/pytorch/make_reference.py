"""Writes the reference fixtures that GptReferenceTest checks the Java engine against.

For a tiny config of each model kind it saves, under src/test/resources/reference/:
  tiny-<name>.safetensors      the model as a Leviathan checkpoint (random, non-trivial weights)
  tiny-<name>-ref.safetensors  tokens, targets, logits, loss, every parameter gradient, and the
                               losses of 10 AdamW steps on that batch (lr 1e-2, wd 0.1, betas
                               0.9/0.99, eps 1e-8, no clipping, constant lr)
Names: correlation, dot (the original pair), and the variants of LEVIATHAN.md: involution,
dot-moe, correlation-moe, involution-moe, correlation-swiglu, dot-swiglu (the gated MLP) and
hybrid (a three-layer stack, one mixer per layer: involution, correlation, dot). Every model is
n_layer 2 (hybrid: 3), n_head 2, n_embd 16, block_size 8, on a 14-character vocabulary, and the
batch is B = 3, T = 7. For the variants the reference also holds
  total_loss            cross-entropy + every MoE layer's auxiliary terms (the training objective;
                        equal to loss without MoE); "loss" stays the cross-entropy alone
  aux.h.{l}.balance     alpha*E*sum_e f_e P_e of MoE layer l          (shape [1])
  aux.h.{l}.z           beta*mean_i logsumexp(z_i)^2 of MoE layer l   (shape [1])
  load.h.{l}            f_e, the fraction of routed pairs at each expert ([E])
  adamw_losses          the cross-entropy before each of the 10 steps
  adamw_total_losses    the training objective before each step (what the steps minimise)
and every grad.* is the gradient of total_loss. The metadata gives moe_balance and moe_z (alpha,
beta), set 10x above the defaults so that the auxiliary gradients stand out of float32 noise.
The router's top-k choice must not flip between float32 and float64: each run checks that the
k-th and (k+1)-th largest router logits of every token stay at least 1e-3 apart in all 11 forwards.
References are computed in float64 from the float32 weights, without dropout. Run by hand when
the model changes (it rewrites every fixture it names; the existing ones must come out byte for
byte the same, `git status` shows whether they did):
    /usr/bin/python3 benchmarks/pytorch/make_reference.py            (all fixtures)
    /usr/bin/python3 benchmarks/pytorch/make_reference.py involution (some of them)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import leviathan_torch as lt  # noqa: E402  (exits with a clear message when torch is missing)
from leviathan_torch import torch  # noqa: E402

OUT = os.path.join(lt.REPO_ROOT, "src", "test", "resources", "reference")
VOCAB = "\n !,abcdefghij"
ALPHA, BETA = 0.1, 0.01
MIN_ROUTER_MARGIN = 1e-3

TINY = dict(n_layer=2, n_head=2, n_embd=16, block_size=8)   # the shared tiny shape

# name -> (seed, model arguments beyond (or overriding) the shared tiny shape)
FIXTURES = {
    "correlation": (1234, dict(attention="correlation", lags=3)),
    "dot": (4321, dict(attention="dot", lags=1)),
    "involution": (5678, dict(attention="involution", lags=1, window=3)),
    "dot-moe": (8766, dict(attention="dot", lags=1, mlp="moe", n_expert=4, top_k=2, expert_hidden=8)),
    "correlation-moe": (2469, dict(attention="correlation", lags=3, mlp="moe", n_expert=4, top_k=2, expert_hidden=8)),
    "involution-moe": (1357, dict(attention="involution", lags=1, window=3, mlp="moe", n_expert=3, top_k=1,
                                  expert_hidden=10)),
    "correlation-swiglu": (3141, dict(attention="correlation", lags=3, mlp="swiglu")),      # default F = 48
    "dot-swiglu": (2718, dict(attention="dot", lags=1, mlp="swiglu", mlp_hidden=24)),
    "hybrid": (1618, dict(attention="involution,correlation,dot", n_layer=3, lags=3, window=3)),
}
ORIGINAL = ("correlation", "dot")   # written exactly as before the variants (no extra keys)


def router_margins(model):
    """Hooks that record, per forward, the smallest gap between the k-th and (k+1)-th router logit."""
    margins = []

    def hook(moe):
        def record(_module, _inputs, z):
            if moe.top_k < moe.n_expert:
                top = torch.sort(z.detach(), dim=-1, descending=True).values
                margins.append((top[:, moe.top_k - 1] - top[:, moe.top_k]).min().item())
        return record

    for block in model.h:
        if isinstance(block.mlp, lt.MoeMlp):
            block.mlp.router.register_forward_hook(hook(block.mlp))
    return margins


def make(name):
    seed, kind = FIXTURES[name]
    torch.manual_seed(seed)
    moe = kind.get("mlp") == "moe"
    extra = dict(moe_balance=ALPHA, moe_z=BETA) if moe else {}
    model = lt.Leviathan(len(VOCAB), **{**TINY, **kind, **extra})
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if p.dim() == 1 or pname.endswith("lag_bias"):
                p.add_(0.3 * torch.randn_like(p))       # LayerNorm, biases, lag bias away from their init
            elif pname.endswith("router.weight"):
                p.mul_(25.0)                             # router logits of order 1: top-k gaps well above float32 noise
            else:
                p.mul_(5.0)                              # larger weights: larger, better-conditioned signals
    os.makedirs(OUT, exist_ok=True)
    lt.save_checkpoint(os.path.join(OUT, f"tiny-{name}.safetensors"), model, VOCAB)

    B, T = 3, 7
    g = torch.Generator().manual_seed(7)
    tokens = torch.randint(0, len(VOCAB), (B, T), generator=g)
    targets = torch.randint(0, len(VOCAB), (B, T), generator=g)
    model64 = model.double()
    margins = router_margins(model64)
    logits, loss = model64(tokens, targets)
    total = loss + model64.aux_loss()
    total.backward()
    model64.fill_missing_grads()                         # an expert with no token: zero gradient
    ref = {"tokens": tokens.float(), "targets": targets.float(), "logits": logits.detach(), "loss": loss.detach().reshape(1)}
    if name not in ORIGINAL:
        ref["total_loss"] = total.detach().reshape(1)
        for l, block in enumerate(model64.h):
            if isinstance(block.mlp, lt.MoeMlp):
                balance, zl = block.mlp.aux_terms
                ref[f"aux.h.{l}.balance"] = balance.detach().reshape(1)
                ref[f"aux.h.{l}.z"] = zl.detach().reshape(1)
                ref[f"load.h.{l}"] = block.mlp.load.detach()
    for pname, p in model64.named_parameters():
        ref["grad." + pname] = p.grad.detach().clone()
    model64.zero_grad()

    opt = lt.make_optimizer(model64, lr=1e-2, weight_decay=0.1, betas=(0.9, 0.99), eps=1e-8)
    losses, totals = [], []
    for _ in range(10):
        l, t = lt.train_step(model64, opt, tokens, targets)   # no clipping
        losses.append(l.item())
        totals.append(t.item())
    ref["adamw_losses"] = torch.tensor(losses, dtype=torch.float64)
    if name not in ORIGINAL:
        ref["adamw_total_losses"] = torch.tensor(totals, dtype=torch.float64)
    if margins and min(margins) < MIN_ROUTER_MARGIN:
        sys.exit(f"error: {name}: router top-k margin {min(margins):.2e} < {MIN_ROUTER_MARGIN}: float32 may choose "
                 f"other experts; change this fixture's seed")
    meta = {"B": str(B), "T": str(T), "lr": "0.01", "weight_decay": "0.1"}
    if moe:
        meta.update(moe_balance=str(ALPHA), moe_z=str(BETA))
    lt.write_safetensors(os.path.join(OUT, f"tiny-{name}-ref.safetensors"), ref, meta)
    margin = f", router margin {min(margins):.3g}" if margins else ""
    print(f"{name}: loss {loss.item():.6f}, total {total.item():.6f}, adamw losses {losses[0]:.4f} -> "
          f"{losses[-1]:.4f}{margin}")


if __name__ == "__main__":
    names = sys.argv[1:] or list(FIXTURES)
    unknown = [n for n in names if n not in FIXTURES]
    if unknown:
        sys.exit(f"error: unknown fixture {', '.join(unknown)}; expected some of {', '.join(FIXTURES)}")
    for n in names:
        make(n)
