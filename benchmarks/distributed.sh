#!/usr/bin/env bash
# Data-parallel training on this machine: tokens/s and the step-time breakdown of 1 process x 2 threads
# against 2 ranks x 1 thread, at the default config and at the nanoGPT-sized one (6 layers, 6 heads,
# n_embd 384, block 256, batch 12); then the cost model for 2-64 machines from the measured compute time.
#   benchmarks/distributed.sh [--steps N] [--big-steps N] [--configs default,nanogpt] [--quick]
# --quick: a tiny model and a few steps, only to prove that the script runs (its numbers mean nothing).
# Writes benchmarks/results/distributed-steps.jsonl (one row per run: the measured numbers) and the
# "steps" and "costmodel" sections of benchmarks/results/distributed.md (the rest of the file is kept),
# through benchmarks/distributed-model.py. Run it on a quiet machine; timings taken while other work
# shares the cores are meaningless. Needs Open MPI (apt-get install openmpi-bin) and python3.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STEPS=200          # default config: ~1 s per 10 steps on two cores; the rate is taken after the first half
BIG_STEPS=40       # nanoGPT-sized config: a few seconds per step
CONFIGS=default,nanogpt
QUICK=false
ARGV="$*"
RESULTS="$ROOT/benchmarks/results/distributed-steps.jsonl"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --steps) STEPS="$2"; shift 2 ;;
    --big-steps) BIG_STEPS="$2"; shift 2 ;;
    --configs) CONFIGS="$2"; shift 2 ;;
    --quick) QUICK=true; shift ;;
    --results) RESULTS="$2"; shift 2 ;;
    *) echo "distributed.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v mpirun >/dev/null 2>&1 || { echo "distributed.sh: mpirun not found; install Open MPI with 'apt-get install openmpi-bin'" >&2; exit 2; }
command -v python3 >/dev/null 2>&1 || { echo "distributed.sh: python3 not found" >&2; exit 2; }
"$ROOT/leviathan" info > /dev/null                      # builds once, before any timed run
WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
if [[ "$QUICK" == true ]]; then
  RESULTS="$WORK/quick.jsonl"
  MD="$WORK/distributed.md"; cp "$ROOT/benchmarks/results/distributed.md" "$MD"
else
  MD="$ROOT/benchmarks/results/distributed.md"
  : > "$RESULTS"
fi

# run NAME STEPS RANKS THREADS ARGS...: one training, its measured numbers appended to $RESULTS
run() {
  local config="$1" steps="$2" ranks="$3" threads="$4"; shift 4
  local out="$WORK/$config-$ranks-$threads" log="$WORK/$config-$ranks-$threads.log"
  local half=$((steps / 2)); [[ "$half" -ge 1 ]] || half=1
  local launch=(); [[ "$ranks" -gt 1 ]] && launch=(--ranks "$ranks")
  echo "distributed.sh: $config, $ranks rank(s) x $threads thread(s), $steps steps" >&2
  "$ROOT/leviathan" train "${launch[@]}" --threads "$threads" --steps "$steps" --log-interval "$half" \
    --eval-interval "$steps" --eval-batches 2 --sample-tokens 0 --out "$out" "$@" > "$log" 2>&1 \
    || { cat "$log" >&2; echo "distributed.sh: the run failed (log above)" >&2; exit 1; }
  python3 "$ROOT/benchmarks/distributed-model.py" row --config "$config" --ranks "$ranks" --threads "$threads" \
    --metrics "$out/metrics.jsonl" --log "$log" --args "$*" >> "$RESULTS"
}

IFS=, read -r -a WANT <<< "$CONFIGS"
for c in "${WANT[@]}"; do
  case "$c" in
    default) args=(); steps="$STEPS" ;;
    nanogpt) args=(--n-layer 6 --n-head 6 --n-embd 384 --block-size 256 --batch-size 12); steps="$BIG_STEPS" ;;
    *) echo "distributed.sh: unknown config $c (default, nanogpt)" >&2; exit 2 ;;
  esac
  if [[ "$QUICK" == true ]]; then args=(--n-layer 1 --n-head 2 --n-embd 16 --block-size 16 --batch-size 4); steps=6; fi
  run "$c" "$steps" 1 2 "${args[@]}"
  run "$c" "$steps" 2 1 "${args[@]}"
done

QFLAG=(); [[ "$QUICK" == true ]] && QFLAG=(--quick)
python3 "$ROOT/benchmarks/distributed-model.py" report --results "$RESULTS" --md "$MD" --command "benchmarks/distributed.sh $ARGV" "${QFLAG[@]}"
if [[ "$QUICK" == true ]]; then
  sed -n '/<!-- steps:begin/,/<!-- costmodel:end -->/p' "$MD"
  echo "distributed.sh: quick run: the sections above were NOT written to benchmarks/results/distributed.md" >&2
else
  echo "distributed.sh: wrote $RESULTS and the steps and cost-model sections of $MD" >&2
fi
