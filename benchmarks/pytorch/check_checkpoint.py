#!/usr/bin/python3
"""Evaluate a leviathan-1 safetensors checkpoint (for example one the Java engine wrote) on a text file.

    /usr/bin/python3 benchmarks/pytorch/check_checkpoint.py model.safetensors --text input.txt [--split val]

The model is built from the checkpoint's metadata alone (any mixer, hybrid stack or MLP of
LEVIATHAN.md). The loss follows LEVIATHAN.md's evaluation: non-overlapping windows
x[s..s+T] for s = 0, T+1, 2(T+1), ... (a shorter remainder is ignored), the mean loss over
all T predictions of every window, in nats, with bpc = loss / ln 2. Prints one JSON line.
"""

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import leviathan_torch as lt  # noqa: E402  (sizes OpenBLAS from --threads; exits clearly when torch is missing)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="leviathan-1 safetensors file")
    p.add_argument("--text", "--data", dest="text", default=lt.DEFAULT_DATA, help="text file (default: %(default)s)")
    p.add_argument("--split", choices=("all", "train", "val"), default="all",
                   help="evaluate the whole text, or its first 90%% (train) or last 10%% (val)")
    p.add_argument("--block", type=int, default=None, help="window length T (default: the model's block_size)")
    p.add_argument("--drop-unknown", action="store_true", help="skip characters outside the vocabulary")
    p.add_argument("--batch-size", type=int, default=64, help="windows per forward pass (speed only)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = p.parse_args()

    lt.set_threads(args.threads)
    start = time.perf_counter()
    try:
        model, tokenizer, meta = lt.load_checkpoint(args.checkpoint)
        block = args.block or model.block_size
        if not 1 <= block <= model.block_size:
            raise ValueError(f"--block {block} must be in [1, block_size {model.block_size}]")
        text = lt.read_text(args.text)
        if args.split != "all":
            text = lt.split_text(text)[0 if args.split == "train" else 1]
        ids = tokenizer.encode(text, drop_unknown=args.drop_unknown)
        loss, count, windows = lt.evaluate_windows(model, ids, block=block, batch_size=args.batch_size)
    except (OSError, ValueError) as e:
        sys.exit(f"error: {e}")
    print(json.dumps({
        "checkpoint": args.checkpoint,
        "attention": meta["attention"],
        "lags": int(meta["lags"]),
        "mlp": meta.get("mlp", "dense"),
        "text": args.text,
        "split": args.split,
        "block": block,
        "windows": windows,
        "predictions": count,
        "loss": loss,
        "bpc": loss / math.log(2),
        "seconds": time.perf_counter() - start,
    }))


if __name__ == "__main__":
    main()
