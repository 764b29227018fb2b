#!/usr/bin/env bash
# The speedrun study (issue 23): the best validation loss a wall-clock budget buys on this machine,
# for the PyTorch peer running nanoGPT's CPU recipe, the engine's default recipe, dot attention and
# any candidate recipe named in benchmarks/experiments/speedrun-configs.txt.
#
#   benchmarks/experiments/speedrun.sh [--budgets "2m 5m 10m"] [--rows "pytorch default dot"] [--seeds "1337"]
#                                      [--configs FILE] [--smoke] [--check] [--dry-run]
#
#   --budgets LIST   wall-clock budgets (the engine's --time grammar: 90s, 2m, 10m, 30m, 1h), default "2m 5m 10m"
#   --rows LIST      rows to run, in order (spaces or commas): pytorch, default, dot, any name in the config
#                    table; "table" = every name in the table; "all" = pytorch default dot and the whole table.
#                    Default "pytorch default dot"
#   --seeds LIST     seeds per row and budget, default "1337" (the winner's three: --seeds "1337 1 2")
#   --configs FILE   the config table (default benchmarks/experiments/speedrun-configs.txt): one candidate a
#                    line, name<TAB>engine train flags, '#' comments; no --time, --steps, --seed, --out, --resume
#   --smoke          checks the harness end to end: budgets "20s 40s", rows "default pytorch" unless given;
#                    everything (its JSON lines, report and plot too) goes to benchmarks/runs/speedrun-smoke/,
#                    never to benchmarks/results/. Its numbers are not results
#   --check          trains each selected engine row for 2 steps (flags valid, model fits), records nothing
#   --dry-run        prints the runs and the estimated duration, runs nothing
#
# Protocol: one run at a time (never two at once); run it on a quiet machine. Each budget counts from the
# process start (JVM or Python start-up, JIT warm-up and data loading inside it):
#   engine rows   ./leviathan train --time BUDGET --seed S --sample-tokens 0 --out DIR FLAGS: the trainer
#                 measures its speed over the warmup's second half and fixes the steps that fit (config.json
#                 records them); then ./leviathan eval --checkpoint DIR/model.safetensors --data tinyshakespeare
#                 --split val scores the FULL validation split with the spec's windowing (cli/EvalCommand.java:
#                 Tiny Shakespeare is under its 64 MiB mapping threshold, so LanguageModel.evaluate ->
#                 Evaluator.evaluate scores every non-overlapping window of block_size + 1 tokens; never a
#                 sample of random batches).
#   pytorch row   nanoGPT's CPU recipe (dot, 4 layers, n_embd 128, block 64, batch 12, lr 1e-3 -> 1e-4,
#                 warmup 100, dropout 0, eval every 250 steps on 20 batches) run by benchmarks/pytorch/train.py
#                 --time BUDGET, which fixes its steps the same way (Python start-up and imports inside the
#                 budget) and decays the cosine over them, then scores the full val split with the same
#                 windowing (lt.evaluate_windows); GOMP_SPINCOUNT=0, at the thread count that wins a short
#                 calibration (1 vs 2 threads, 2 alternating rounds of 250 steps each, the first 50 untimed, each count's
#                 best round kept; TORCH_THREADS=N skips it).
# Scoring runs after training and outside the budget for every row; the script times the training process
# (wall_s) and the scoring (eval_wall_s) separately.
#
# Writes: one JSON line per run appended to benchmarks/results/speedrun.jsonl (row, flags, command, budget,
# seed, steps, wall seconds, full-split val loss and bpc, tokens/s, the val curve from the run's
# metrics.jsonl, CPU model, date, commit), then benchmarks/experiments/speedrun_report.py writes
# benchmarks/results/speedrun.md and speedrun.png (rerun it alone: /usr/bin/python3
# benchmarks/experiments/speedrun_report.py report). Run directories and logs:
# benchmarks/runs/speedrun/RUN_ID/ (git-ignored; checkpoints deleted once scored).
#
# Time: the sum of the budgets of every run, plus about 15-30 s a run (scoring, the engine's start and end)
# and about five minutes for the PyTorch calibration (5.5 on a 2-vCPU Zen 1); --dry-run prints the estimate. Needs Debian's python3-torch
# (for the pytorch row) and python3-matplotlib for /usr/bin/python3, and timeout; installs nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/benchmarks/experiments"
PY=/usr/bin/python3
REPORT="$HERE/speedrun_report.py"
die() { echo "speedrun.sh: $*" >&2; exit 2; }

BUDGETS="" ROWS="" SEEDS="1337" CONFIGS="$HERE/speedrun-configs.txt" SMOKE=0 CHECK=0 DRY=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --budgets|--rows|--seeds|--configs)
      [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see --help)"
      case "$1" in --budgets) BUDGETS="$2" ;; --rows) ROWS="$2" ;; --seeds) SEEDS="$2" ;; --configs) CONFIGS="$2" ;; esac
      shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    --check) CHECK=1; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

if [[ $SMOKE == 1 ]]; then
  BUDGETS="${BUDGETS:-20s 40s}" ROWS="${ROWS:-default pytorch}"
  RESULTS="$ROOT/benchmarks/runs/speedrun-smoke"
  RUNS="$ROOT/benchmarks/runs/speedrun-smoke/runs"
  CAL_STEPS=30 CAL_UNTIMED=10 CAL_ROUNDS=1
else
  BUDGETS="${BUDGETS:-2m 5m 10m}" ROWS="${ROWS:-pytorch default dot}"
  RESULTS="$ROOT/benchmarks/results"
  RUNS="$ROOT/benchmarks/runs/speedrun"
  CAL_STEPS=250 CAL_UNTIMED=50 CAL_ROUNDS=2
fi
JSONL="$RESULTS/speedrun.jsonl"

# budgets: the engine's --time grammar, in seconds
seconds_of() {
  local t="${1,,}" total=0 n u
  [[ "$t" =~ ^([0-9]+(\.[0-9]+)?[hms])+$ ]] || return 1
  while [[ "$t" =~ ^([0-9]+(\.[0-9]+)?)([hms])(.*)$ ]]; do
    n="${BASH_REMATCH[1]}" u="${BASH_REMATCH[3]}" t="${BASH_REMATCH[4]}"
    total=$(awk -v a="$total" -v n="$n" -v u="$u" 'BEGIN { printf "%g", a + n * (u == "h" ? 3600 : u == "m" ? 60 : 1) }')
  done
  awk -v s="$total" 'BEGIN { exit !(s > 0) }' && echo "$total"
}
BUDGET_LIST=() BUDGET_SECONDS=()
for b in ${BUDGETS//,/ }; do
  s=$(seconds_of "$b") || die "budget '$b' is not a duration such as 90s, 2m, 10m or 1h"
  BUDGET_LIST+=("$b") BUDGET_SECONDS+=("$s")
done
[[ ${#BUDGET_LIST[@]} -gt 0 ]] || die "--budgets names no budget"
SEED_LIST=(${SEEDS//,/ })
[[ ${#SEED_LIST[@]} -gt 0 ]] || die "--seeds names no seed"
for s in "${SEED_LIST[@]}"; do [[ "$s" =~ ^[0-9]+$ ]] || die "seed '$s' is not a non-negative integer"; done

# the config table: name<TAB>flags
declare -A TABLE=()
TABLE_ORDER=()
[[ -f "$CONFIGS" ]] || die "config table $CONFIGS not found"
lineno=0
while IFS= read -r line || [[ -n "$line" ]]; do
  lineno=$((lineno + 1))
  [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
  [[ "$line" == *$'\t'* ]] || die "$CONFIGS:$lineno: expected name<TAB>flags, got '$line'"
  name="${line%%$'\t'*}" flags="${line#*$'\t'}"
  flags="$(echo "$flags" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')"
  [[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "$CONFIGS:$lineno: name '$name' must be letters, digits, '.', '_' or '-'"
  case "$name" in pytorch|default|dot|table|all) die "$CONFIGS:$lineno: '$name' is a built-in row name" ;; esac
  [[ -z "${TABLE[$name]+x}" ]] || die "$CONFIGS:$lineno: '$name' is named twice"
  for w in $flags; do
    case "${w%%=*}" in --time|--steps|--seed|--out|--resume|--sample-tokens|--init-from)
      die "$CONFIGS:$lineno: '$name' sets ${w%%=*}, which the study sets itself" ;; esac
  done
  TABLE[$name]="$flags"
  TABLE_ORDER+=("$name")
done < "$CONFIGS"

# the rows: built-in ones, then table names
ROW_LIST=()
for r in ${ROWS//,/ }; do
  case "$r" in
    all) ROW_LIST+=(pytorch default dot "${TABLE_ORDER[@]}") ;;
    table) ROW_LIST+=("${TABLE_ORDER[@]}") ;;
    pytorch|default|dot) ROW_LIST+=("$r") ;;
    *) [[ -n "${TABLE[$r]+x}" ]] || die "row '$r' is neither pytorch, default, dot nor a name in $CONFIGS"; ROW_LIST+=("$r") ;;
  esac
done
[[ ${#ROW_LIST[@]} -gt 0 ]] || die "--rows names no row"
engine_flags() {  # row -> the engine's train flags
  case "$1" in default) echo "" ;; dot) echo "--attention dot" ;; *) echo "${TABLE[$1]}" ;; esac
}
# nanoGPT's CPU recipe (README: --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --dropout=0.0,
# config/train_shakespeare_char.py: lr 1e-3, min_lr 1e-4, warmup_iters 100, beta2 0.99, eval_interval 250, eval_iters 20)
TORCH_FLAGS="--attention dot --n-layer 4 --n-head 4 --n-embd 128 --block-size 64 --batch-size 12 --lr 1e-3 --min-lr 1e-4 \
--warmup-steps 100 --dropout 0 --eval-interval 250 --eval-batches 20"

n_runs=$(( ${#ROW_LIST[@]} * ${#BUDGET_LIST[@]} * ${#SEED_LIST[@]} ))
has_torch=0
for r in "${ROW_LIST[@]}"; do [[ $r == pytorch ]] && has_torch=1; done
if [[ $DRY == 1 || $CHECK == 0 ]]; then
  total=0
  for s in "${BUDGET_SECONDS[@]}"; do total=$(awk -v a="$total" -v s="$s" -v n=$(( ${#ROW_LIST[@]} * ${#SEED_LIST[@]} )) 'BEGIN { print a + n * (s + 25) }'); done
  [[ $has_torch == 1 && -z "${TORCH_THREADS:-}" ]] && total=$(awk -v a="$total" 'BEGIN { print a + 330 }')
  echo "speedrun: $n_runs runs (rows: ${ROW_LIST[*]}; budgets: ${BUDGET_LIST[*]}; seeds: ${SEED_LIST[*]}), about $(awk -v t="$total" 'BEGIN { printf "%.0f", t / 60 }') min"
fi
if [[ $DRY == 1 ]]; then
  for i in "${!BUDGET_LIST[@]}"; do
    for r in "${ROW_LIST[@]}"; do
      for s in "${SEED_LIST[@]}"; do
        if [[ $r == pytorch ]]; then echo "  ${BUDGET_LIST[$i]} seed $s pytorch: train.py $TORCH_FLAGS --time ${BUDGET_LIST[$i]} --seed $s"
        else echo "  ${BUDGET_LIST[$i]} seed $s $r: leviathan train --time ${BUDGET_LIST[$i]} --seed $s $(engine_flags "$r")"; fi
      done
    done
  done
  exit 0
fi

command -v timeout >/dev/null || die "needs timeout (coreutils)"
DATA="$ROOT/../shared/data/tinyshakespeare.txt"
[[ -f "$ROOT/data/tinyshakespeare.txt" ]] && DATA="$ROOT/data/tinyshakespeare.txt"
[[ -f "$DATA" ]] || die "Tiny Shakespeare not found at $DATA"
if [[ $CHECK == 0 ]]; then
  "$PY" -c "import matplotlib" 2>/dev/null || die "needs matplotlib for $PY: apt-get install -y python3-matplotlib"
  if [[ $has_torch == 1 ]]; then
    "$PY" -c "import torch" 2>/dev/null || die "needs PyTorch for $PY: apt-get install -y python3-torch libopenblas0-pthread"
  fi
fi
mkdir -p "$RESULTS" "$RUNS"
"$ROOT/leviathan" info >/dev/null            # builds the jar now, so no build lands inside a timed run

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

if [[ $CHECK == 1 ]]; then
  bad=0
  for r in "${ROW_LIST[@]}"; do
    [[ $r == pytorch ]] && continue
    read -ra flags <<<"$(engine_flags "$r")"
    dir="$RUNS/check-$r"
    rm -rf "$dir"
    if "$ROOT/leviathan" train --steps 2 --eval-interval 1000000 --eval-batches 1 --sample-tokens 0 --out "$dir" \
         "${flags[@]}" >"$dir.out" 2>"$dir.err"; then
      echo "ok    $r: $(grep -m1 '^model:' "$dir.out" | cut -c1-150)"
    else
      echo "FAIL  $r: $(grep -v '^WARNING' "$dir.err" | tail -n 2 | tr '\n' ' ')"; bad=1
    fi
    rm -rf "$dir" "$dir".out "$dir".err
  done
  exit $bad
fi

RUN_ID="$(date -u +%Y%m%dT%H%M%SZ)"
DATE="$(date -u +%Y-%m-%d)"
CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
VCPUS="$(nproc)"
COMMIT="$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
SMOKE_FLAG=(); [[ $SMOKE == 1 ]] && SMOKE_FLAG=(--smoke)
mkdir -p "$RUNS/$RUN_ID"
echo "speedrun $RUN_ID: $CPU, $VCPUS vCPUs, commit $COMMIT -> $JSONL"

# PyTorch's thread count: the faster of 1 and 2 threads on the recipe (unless TORCH_THREADS is set)
TORCH_CAL=""
if [[ $has_torch == 1 ]]; then
  if [[ -n "${TORCH_THREADS:-}" ]]; then
    [[ "$TORCH_THREADS" =~ ^[1-9][0-9]*$ ]] || die "TORCH_THREADS must be a positive integer"
  else
    # CAL_ROUNDS alternating rounds of 1 and 2 threads, each thread count's best round kept: one short
    # round on a 2-vCPU machine can lose a third of its speed to a neighbour and pick the wrong count
    best=0 TORCH_CAL="{"
    declare -A cal=()
    for ((round = 1; round <= CAL_ROUNDS; round++)); do
      for t in 1 2; do
        res=$(GOMP_SPINCOUNT=0 OMP_NUM_THREADS=$t timeout -k 10 300 "$PY" "$ROOT/benchmarks/pytorch/train.py" --data "$DATA" $TORCH_FLAGS \
              --steps "$CAL_STEPS" --untimed-steps "$CAL_UNTIMED" --eval-interval 1000000 --eval-batches 1 --no-full-eval --threads "$t" \
              2>"$RUNS/$RUN_ID/torch-calibration-$t.err" | grep '^{' | tail -n 1) || die "the PyTorch calibration with $t thread(s) failed: see $RUNS/$RUN_ID/torch-calibration-$t.err"
        tps=$("$PY" -c 'import json, sys; print(round(json.loads(sys.argv[1])["tokens_per_s"]))' "$res")
        echo "  PyTorch calibration, round $round: $t thread(s) $tps tokens/s"
        if (( tps > ${cal[$t]:-0} )); then cal[$t]=$tps; fi
      done
    done
    for t in 1 2; do
      [[ $t == 2 ]] && TORCH_CAL+=", "
      TORCH_CAL+="\"$t\": ${cal[$t]}"
      if (( cal[$t] > best )); then best=${cal[$t]} TORCH_THREADS=$t; fi
    done
    TORCH_CAL+="}"
  fi
  echo "  PyTorch runs with $TORCH_THREADS thread(s)"
fi

run_engine() {  # row budget budget_s seed
  local row=$1 budget=$2 budget_s=$3 seed=$4 flags dir rc=0 erc=0 t0 wall ewall=""
  flags="$(engine_flags "$row")"
  local fl; read -ra fl <<<"$flags"
  dir="$RUNS/$RUN_ID/$row-$budget-s$seed"
  local args=(train --time "$budget" --seed "$seed" --sample-tokens 0 --out "$dir" "${fl[@]}")
  t0=$(now)
  timeout -k 10 "$(awk -v s="$budget_s" 'BEGIN { printf "%.0f", 1.5 * s + 120 }')" "$ROOT/leviathan" "${args[@]}" >"$dir.out" 2>"$dir.err" || rc=$?
  wall=$(since "$t0")
  if [[ $rc == 0 ]]; then
    t0=$(now)
    "$ROOT/leviathan" eval --checkpoint "$dir/model.safetensors" --data tinyshakespeare --split val >"$dir.eval" 2>>"$dir.err" || erc=$?
    ewall=$(since "$t0")
  else
    erc=1
  fi
  "$PY" "$REPORT" record --row "$row" --impl leviathan --flags "$flags" --command "./leviathan ${args[*]//$ROOT\//}" --budget "$budget" \
    --budget-s "$budget_s" --seed "$seed" --rc "$rc" --eval-rc "$erc" --wall "$wall" ${ewall:+--eval-wall "$ewall"} \
    --out "$dir.out" --err "$dir.err" --eval-out "$dir.eval" --dir "$dir" --metrics "$dir/metrics.jsonl" --threads "$VCPUS" \
    --cpu "$CPU" --vcpus "$VCPUS" --date "$DATE" --commit "$COMMIT" --run "$RUN_ID" "${SMOKE_FLAG[@]}" >> "$JSONL"
  rm -f "$dir"/*.safetensors
  echo "  $budget seed $seed $row: rc $rc, wall ${wall} s; $(grep -o 'loss [0-9.]* nats, bpc [0-9.]*' "$dir.eval" 2>/dev/null || echo 'no score')"
}

run_torch() {  # budget budget_s seed
  local budget=$1 budget_s=$2 seed=$3 log rc=0 t0 wall
  log="$RUNS/$RUN_ID/pytorch-$budget-s$seed"
  rm -f "$log.metrics.jsonl"
  local args=(--data "$DATA" $TORCH_FLAGS --time "$budget" --seed "$seed" --threads "$TORCH_THREADS" --metrics "$log.metrics.jsonl")
  t0=$(now)
  GOMP_SPINCOUNT=0 OMP_NUM_THREADS="$TORCH_THREADS" timeout -k 10 "$(awk -v s="$budget_s" 'BEGIN { printf "%.0f", 1.5 * s + 120 }')" \
    "$PY" "$ROOT/benchmarks/pytorch/train.py" "${args[@]}" >"$log.out" 2>"$log.err" || rc=$?
  wall=$(since "$t0")
  "$PY" "$REPORT" record --row pytorch --impl pytorch --flags "$TORCH_FLAGS" \
    --command "GOMP_SPINCOUNT=0 OMP_NUM_THREADS=$TORCH_THREADS $PY benchmarks/pytorch/train.py ${args[*]//$ROOT\//}" --budget "$budget" \
    --budget-s "$budget_s" --seed "$seed" --rc "$rc" --wall "$wall" --out "$log.out" --err "$log.err" --metrics "$log.metrics.jsonl" \
    ${TORCH_CAL:+--thread-calibration "$TORCH_CAL"} --cpu "$CPU" --vcpus "$VCPUS" --date "$DATE" --commit "$COMMIT" --run "$RUN_ID" \
    "${SMOKE_FLAG[@]}" >> "$JSONL"
  echo "  $budget seed $seed pytorch: rc $rc, wall ${wall} s; $(grep '^{' "$log.out" 2>/dev/null | tail -n 1 | grep -o '"val_loss_full": [0-9.]*' || echo 'no score')"
}

for i in "${!BUDGET_LIST[@]}"; do
  for row in "${ROW_LIST[@]}"; do
    for seed in "${SEED_LIST[@]}"; do
      if [[ $row == pytorch ]]; then run_torch "${BUDGET_LIST[$i]}" "${BUDGET_SECONDS[$i]}" "$seed"
      else run_engine "$row" "${BUDGET_LIST[$i]}" "${BUDGET_SECONDS[$i]}" "$seed"; fi
    done
  done
done

"$PY" "$REPORT" report --jsonl "$JSONL" --md "$RESULTS/speedrun.md" --png "$RESULTS/speedrun.png"
