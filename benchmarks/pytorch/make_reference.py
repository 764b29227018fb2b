"""Writes the reference fixture that GptReferenceTest checks the Java engine against.

For a tiny config of each attention kind it saves, under src/test/resources/reference/:
  tiny-<attention>.safetensors      the model as a Leviathan checkpoint (random, non-trivial weights)
  tiny-<attention>-ref.safetensors  tokens, targets, logits, loss, every parameter gradient, and the
                                    losses of 10 AdamW steps on that batch (lr 1e-2, wd 0.1, betas
                                    0.9/0.99, eps 1e-8, no clipping, constant lr)
References are computed in float64 from the float32 weights. Run by hand when the model changes:
    /usr/bin/python3 benchmarks/pytorch/make_reference.py
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import leviathan_torch as lt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "src", "test", "resources", "reference")
VOCAB = "\n !,abcdefghij"


def make(attention):
    torch.manual_seed(1234 if attention == "correlation" else 4321)
    lags = 3 if attention == "correlation" else 1
    model = lt.Leviathan(len(VOCAB), attention=attention, lags=lags, n_layer=2, n_head=2, n_embd=16, block_size=8)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 or name.endswith("lag_bias"):
                p.add_(0.3 * torch.randn_like(p))       # LayerNorm, biases, lag bias away from their init
            else:
                p.mul_(5.0)                              # larger weights: larger, better-conditioned signals
    os.makedirs(OUT, exist_ok=True)
    lt.save_checkpoint(os.path.join(OUT, f"tiny-{attention}.safetensors"), model, VOCAB)

    B, T = 3, 7
    g = torch.Generator().manual_seed(7)
    tokens = torch.randint(0, len(VOCAB), (B, T), generator=g)
    targets = torch.randint(0, len(VOCAB), (B, T), generator=g)
    model64 = model.double()
    logits, loss = model64(tokens, targets)
    loss.backward()
    ref = {"tokens": tokens.float(), "targets": targets.float(), "logits": logits.detach(), "loss": loss.detach().reshape(1)}
    for name, p in model64.named_parameters():
        ref["grad." + name] = p.grad.detach().clone()
    model64.zero_grad()

    opt = torch.optim.AdamW(model64.decay_groups(0.1), lr=1e-2, betas=(0.9, 0.99), eps=1e-8)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        _, l = model64(tokens, targets)
        losses.append(l.item())
        l.backward()
        opt.step()
    ref["adamw_losses"] = torch.tensor(losses, dtype=torch.float64)
    lt.write_safetensors(os.path.join(OUT, f"tiny-{attention}-ref.safetensors"), ref,
                         {"B": str(B), "T": str(T), "lr": "0.01", "weight_decay": "0.1"})
    print(f"{attention}: loss {loss.item():.6f}, adamw losses {losses[0]:.4f} -> {losses[-1]:.4f}")


if __name__ == "__main__":
    make("correlation")
    make("dot")
