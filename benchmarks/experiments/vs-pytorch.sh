#!/usr/bin/env bash
# Throughput and agreement against the PyTorch peer (benchmarks/pytorch), one run at a time.
#   benchmarks/experiments/vs-pytorch.sh [steps]          (default 2000: the full recipe)
# For each attention kind: the engine (2 threads), then PyTorch with 2 and 1 threads, both with
# GOMP_SPINCOUNT=0 (one thread runs 300 steps: throughput only) (libgomp's spin-waiting made 2-thread steps erratic on this machine kind).
# Appends JSON lines to benchmarks/results/vs-pytorch.jsonl. Needs Debian's python3-torch
# (/usr/bin/python3); installs nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STEPS="${1:-2000}"
PY=/usr/bin/python3
OUT="$ROOT/benchmarks/results/vs-pytorch.jsonl"
RUNS="$ROOT/benchmarks/runs"
DATA="$ROOT/../shared/data/tinyshakespeare.txt"
[[ -f "$ROOT/data/tinyshakespeare.txt" ]] && DATA="$ROOT/data/tinyshakespeare.txt"
"$PY" -c "import torch" 2>/dev/null || { echo "needs PyTorch for $PY: apt-get install -y python3-torch libopenblas0-pthread" >&2; exit 2; }
mkdir -p "$RUNS"
for att in dot correlation; do
  dir="$RUNS/vs-java-$att-$STEPS"
  rm -rf "$dir"
  line=$("$ROOT/leviathan" train --attention "$att" --steps "$STEPS" --threads 2 --sample-tokens 0 --out "$dir" | grep '^final:')
  echo "java $att: $line"
  python3 - "$att" "$STEPS" "$line" >> "$OUT" <<'PY'
import json, re, sys
att, steps, line = sys.argv[1], int(sys.argv[2]), sys.argv[3]
num = lambda p: float(re.search(p, line).group(1).replace(",", ""))
print(json.dumps({"impl": "leviathan-java", "attention": att, "steps": steps, "threads": 2,
                  "val_loss": num(r"val loss ([0-9.]+)"), "tokens_per_s": num(r"([0-9,]+) tokens/s"),
                  "peak_rss_mib": num(r"peak RSS ([0-9]+) MiB")}))
PY
  # agreement: the engine's checkpoint scored by both implementations on the same text
  j=$("$ROOT/leviathan" eval --checkpoint "$dir/model.safetensors" --data "$DATA" --split val)
  p=$("$PY" "$ROOT/benchmarks/pytorch/check_checkpoint.py" "$dir/model.safetensors" --text "$DATA" --split val)
  echo "agreement $att: java: $j | pytorch: $p"
  python3 - "$att" "$j" "$p" >> "$OUT" <<'PY'
import json, re, sys
att, j, p = sys.argv[1:4]
jl = float(re.search(r"loss ([0-9.]+) nats", j).group(1))
pl = json.loads(p)["loss"]
print(json.dumps({"check": "checkpoint-agreement", "attention": att, "java_loss": jl, "pytorch_loss": pl, "abs_diff": abs(jl - pl)}))
PY
  for threads in 2 1; do
    steps=$STEPS
    [[ $threads == 1 && $steps -gt 300 ]] && steps=300    # one thread: throughput only, 300 steps
    res=$(GOMP_SPINCOUNT=0 OMP_NUM_THREADS=$threads "$PY" "$ROOT/benchmarks/pytorch/train.py" --data "$DATA" --attention "$att" \
          --steps "$steps" --threads "$threads" --no-full-eval | tail -n 1)
    echo "pytorch $att threads $threads: $res"
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r["impl"]="pytorch"; r["gomp_spincount"]=0; print(json.dumps(r))' "$res" >> "$OUT"
  done
done
