#!/usr/bin/env bash
# Trains the default recipe for several attention configs and seeds, one run at a time (never two
# at once: the machine's timing would be meaningless), and appends one JSON line per run to
# benchmarks/results/train-matrix.jsonl. Curves stay in each run's metrics.jsonl.
#
#   benchmarks/experiments/train-matrix.sh "dot corr4 corr8" "1337" [extra train flags...]
#
# Config names: dot, corr<N> (correlation with N lags), corrD (N = head dim), corr4-dotinit
# (lag bias initialised to favour lag 0; see --lag-bias-init), inv<K> (involution, window K), and
# any of them with -moe (the sparse mixture-of-experts MLP at its defaults: 8 experts, top-2).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CONFIGS="${1:-dot corr4 corr8}"
SEEDS="${2:-1337}"
shift $(( $# >= 2 ? 2 : $# ))
OUT="$ROOT/benchmarks/runs"
RESULTS="$ROOT/benchmarks/results/train-matrix.jsonl"
mkdir -p "$OUT" "$(dirname "$RESULTS")"
for seed in $SEEDS; do
  for c in $CONFIGS; do
    case "$c" in
      dot) flags=(--attention dot) ;;
      dot-moe) flags=(--attention dot --mlp moe) ;;
      corr*-moe) n="${c#corr}"; n="${n%-moe}"; flags=(--attention correlation --lags "$n" --mlp moe) ;;
      inv*-moe) k="${c#inv}"; k="${k%-moe}"; flags=(--attention involution --window "$k" --mlp moe) ;;
      inv*) flags=(--attention involution --window "${c#inv}") ;;
      corrD) flags=(--attention correlation --lags 32) ;;
      corr*-dotinit) n="${c#corr}"; n="${n%-dotinit}"; flags=(--attention correlation --lags "$n" --lag-bias-init 2) ;;
      corr*) flags=(--attention correlation --lags "${c#corr}") ;;
      *) echo "unknown config $c" >&2; exit 2 ;;
    esac
    dir="$OUT/$c-s$seed"
    rm -rf "$dir"
    echo "== $c seed $seed -> $dir"
    log=$("$ROOT/leviathan" train "${flags[@]}" --seed "$seed" --out "$dir" --sample-tokens 0 "$@" | tee /dev/stderr | grep '^final:')
    python3 - "$c" "$seed" "$dir" "$log" >> "$RESULTS" <<'PY'
import json, re, sys
c, seed, d, line = sys.argv[1:5]
num = lambda pat: float(re.search(pat, line).group(1).replace(",", ""))
print(json.dumps({"config": c, "seed": int(seed), "run": d.split("/benchmarks/")[-1],
                  "val_loss": num(r"val loss ([0-9.]+)"), "val_bpc": num(r"val bpc ([0-9.]+)"),
                  "tokens_per_s": num(r"([0-9,]+) tokens/s"), "wall_s": num(r"wall ([0-9.]+) s"),
                  "peak_rss_mib": num(r"peak RSS ([0-9]+) MiB")}))
PY
  done
done
