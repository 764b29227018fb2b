#!/usr/bin/env bash
# Training throughput and memory as block_size and n_embd grow (correlation, 4 lags, batch 12),
# 40 steps each after JIT warm-up inside the run; one run at a time.
# Appends JSON lines to benchmarks/results/scaling.jsonl.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/benchmarks/results/scaling.jsonl"
run() {  # name, flags...
  local name=$1; shift
  local dir="$ROOT/benchmarks/runs/scaling-$name"
  rm -rf "$dir"
  local line
  line=$("$ROOT/leviathan" train --steps 40 --warmup 5 --eval-interval 40 --eval-batches 1 --sample-tokens 0 --out "$dir" "$@" | grep '^final:')
  echo "$name: $line"
  python3 - "$name" "$line" "$*" >> "$OUT" <<'PY'
import json, re, sys
name, line, flags = sys.argv[1:4]
num = lambda p: float(re.search(p, line).group(1).replace(",", ""))
print(json.dumps({"name": name, "flags": flags, "tokens_per_s": num(r"([0-9,]+) tokens/s"), "peak_rss_mib": num(r"peak RSS ([0-9]+) MiB")}))
PY
}
for T in 64 128 256 512 1024; do run "block$T" --block-size "$T"; done
for C in 64 256 512; do run "embd$C" --n-embd "$C"; done
