#!/usr/bin/env bash
# Screenshots of the run board (docs/board.md) taken by headless Chromium, of runs trained by the engine:
#   benchmarks/board-screenshots.sh [WORK_DIR]
# In WORK_DIR (default: a temporary directory, removed afterwards) it trains the tiny runs that are not
# there yet (corr, dot, corr-moe, involution: 300 steps each, about 5 minutes together on 2 busy cores),
# then starts one more ('live', 3000 steps) and takes the screenshots while that one is training:
#   benchmarks/results/board-overview.png   the live run and the correlation run
#   benchmarks/results/board-compare.png    correlation vs dot: overlaid curves and the config diff
#   benchmarks/results/board-moe.png        the mixture of experts (expert loads) and involution (window bias)
# Needs chromium (apt-get install chromium). The board only reads WORK_DIR; the trainings write it.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CHROMIUM="$(command -v chromium || command -v chromium-browser || true)"
[[ -n "$CHROMIUM" ]] || { echo "board-screenshots: chromium not found; install it with 'apt-get install chromium'" >&2; exit 2; }
WORK="${1:-}"
if [[ -z "$WORK" ]]; then WORK="$(mktemp -d)"; REMOVE_WORK=1; else mkdir -p "$WORK"; REMOVE_WORK=0; fi
OUT="$ROOT/benchmarks/results"
mkdir -p "$OUT"
DATA="${LEVIATHAN_DATA:-tinyshakespeare}"
PIDS=()
PROFILE="$(mktemp -d)"
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$PROFILE"
  if [[ "$REMOVE_WORK" == 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

train() {   # name steps extra-args...
  local name="$1" steps="$2"; shift 2
  # exec: started in the background, the subshell becomes the training itself, so that its PID is the one to stop
  exec "$ROOT/leviathan" train --data "$DATA" --steps "$steps" --n-layer 2 --n-embd 48 --n-head 4 --block-size 32 --batch-size 8 \
    --eval-interval 50 --eval-batches 4 --log-interval 10 --warmup 30 --lr 3e-3 --threads 1 --sample-tokens 300 \
    --out "$WORK/$name" "$@"
}

"$ROOT/leviathan" board --help > /dev/null            # builds the jar once, before the trainings start
started=()
for spec in "corr|--attention correlation --lags 4" "dot|--attention dot" "corr-moe|--attention correlation --mlp moe --experts 4" \
            "involution|--attention involution --window 8"; do
  name="${spec%%|*}"; read -r -a args <<< "${spec#*|}"
  [[ -f "$WORK/$name/sample.txt" ]] && continue
  rm -rf "${WORK:?}/$name"
  echo "board-screenshots: training $name" >&2
  train "$name" 300 "${args[@]}" > "$WORK/$name.log" 2>&1 &
  started+=($!)
done
for p in "${started[@]}"; do wait "$p" || { echo "board-screenshots: a training failed (logs in $WORK/*.log)" >&2; exit 1; }; done

rm -rf "${WORK:?}/live"
train live 3000 --attention correlation --lags 4 > "$WORK/live.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 600); do                              # until the live run has logged a few rows
  [[ -f "$WORK/live/metrics.jsonl" && $(wc -l < "$WORK/live/metrics.jsonl") -ge 6 ]] && break
  sleep 1
done

"$ROOT/leviathan" board "$WORK" --port 0 2> "$WORK/board.log" &
PIDS+=($!)
URL=""
for _ in $(seq 1 120); do
  URL=$(grep -o 'http://[^ ]*/' "$WORK/board.log" | head -n 1 || true)
  [[ -n "$URL" ]] && break
  sleep 0.5
done
[[ -n "$URL" ]] || { cat "$WORK/board.log" >&2; echo "board-screenshots: the board did not start" >&2; exit 1; }

shot() {   # file height selection...
  local file="$1" height="$2"; shift 2
  local sel; sel=$(printf '0:%s,' "$@"); sel="${sel%,}"
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$PROFILE" --window-size="1400,$height" \
    --virtual-time-budget=6000 --screenshot="$OUT/$file" "$URL#${sel//:/%3A}" 2> /dev/null
  echo "board-screenshots: $OUT/$file" >&2
}
shot board-overview.png 1500 live corr
shot board-compare.png 1500 corr dot
shot board-moe.png 1900 corr-moe involution
