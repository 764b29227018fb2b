#!/usr/bin/env bash
# A corpus larger than 2^31 characters, end to end, with peak RSS (issue 13, "Corpora of any size").
#   benchmarks/big-corpus.sh [--gb 2.5] [--dir DIR] [--checkpoint FILE] [--full] [--train]
# Generates DIR/big.txt (Tiny Shakespeare repeated to --gb GB, so about 2.7e9 characters at 2.5), then
# records the wall time and peak RSS (/usr/bin/time -v) of
#   1. leviathan prepare --data big.txt --out DIR         (two streaming passes; RSS must not grow with the text)
#   2. leviathan eval on DIR/big.txt.tokens, val split    (sampled windows; --full also scores every window: long)
#   3. with --train: leviathan train --data big.txt --steps 50 (needs the trainer to read token files)
# The checkpoint for eval: --checkpoint, else a 20-step model trained on Tiny Shakespeare first.
# Needs about 2 x --gb GB of free disk in DIR (default target/big-corpus). Run on a quiet machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GB=2.5; DIR="$ROOT/target/big-corpus"; CKPT=""; FULL=0; TRAIN=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --gb) GB="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    --checkpoint) CKPT="$2"; shift 2 ;;
    --full) FULL=1; shift ;;
    --train) TRAIN=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
mkdir -p "$DIR"
LOG="$DIR/results.txt"
SRC="$ROOT/data/tinyshakespeare.txt"; [[ -f "$SRC" ]] || SRC="$ROOT/../shared/data/tinyshakespeare.txt"
[[ -f "$SRC" ]] || "$ROOT/leviathan" prepare --data tinyshakespeare --out "$DIR" > /dev/null   # downloads it into data/
[[ -f "$SRC" ]] || SRC="$ROOT/data/tinyshakespeare.txt"
TARGET=$(python3 -c "print(int($GB * 1e9))")
if [[ ! -f "$DIR/big.txt" || $(stat -c %s "$DIR/big.txt") -lt $TARGET ]]; then
  echo "generating $DIR/big.txt ($GB GB)..."
  : > "$DIR/big.txt"
  while [[ $(stat -c %s "$DIR/big.txt") -lt $TARGET ]]; do
    for _ in $(seq 1 100); do cat "$SRC"; done >> "$DIR/big.txt"
  done
fi
measure() {   # label, command...: appends wall time and peak RSS to $LOG
  local label="$1"; shift
  echo "== $label: $*" | tee -a "$LOG"
  /usr/bin/time -v "$@" 2> "$DIR/time.txt" | tee -a "$LOG"
  grep -E "Elapsed \(wall|Maximum resident" "$DIR/time.txt" | sed 's/^\s*/   /' | tee -a "$LOG"
  grep -v -E "^\s+[A-Z].*: " "$DIR/time.txt" | tail -n 3 >> "$LOG" || true
}
{ echo "# big corpus, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cpus, $(stat -c %s "$DIR/big.txt") bytes"; "$ROOT/leviathan" info | head -5; } >> "$LOG"
measure "prepare" "$ROOT/leviathan" prepare --data "$DIR/big.txt" --out "$DIR"
if [[ -z "$CKPT" && -f "$DIR/run/model.safetensors" ]]; then CKPT="$DIR/run/model.safetensors"; fi
if [[ -z "$CKPT" ]]; then
  "$ROOT/leviathan" train --data tinyshakespeare --steps 20 --eval-interval 20 --eval-batches 2 --sample-tokens 0 --out "$DIR/run" > /dev/null
  CKPT="$DIR/run/model.safetensors"
fi
measure "eval (sampled)" "$ROOT/leviathan" eval --checkpoint "$CKPT" --data "$DIR/big.txt.tokens" --split val
[[ $FULL == 1 ]] && measure "eval --full" "$ROOT/leviathan" eval --checkpoint "$CKPT" --data "$DIR/big.txt.tokens" --split val --full
[[ $TRAIN == 1 ]] && measure "train" "$ROOT/leviathan" train --data "$DIR/big.txt" --steps 50 --eval-interval 50 --eval-batches 5 \
  --sample-tokens 0 --out "$DIR/train-run-$(date +%s)"
echo "results in $LOG"
