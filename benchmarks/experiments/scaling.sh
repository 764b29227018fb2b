#!/usr/bin/env bash
# Training tokens/s, model-flops utilisation (MFU) and peak RSS of the engine and of the PyTorch peer
# (benchmarks/pytorch), side by side at every point, for dot and correlation (4 lags):
#   block sweep  block_size T = 64 128 256 512 1024 2048, n_layer 4, n_head 4, n_embd 128,
#                batch max(1, 768/T): 768 tokens a step up to T = 256, then T (batch 1)
#   width sweep  (n_embd, n_layer, n_head) = (64,4,4) (128,4,4) (256,6,4) (384,6,6) (512,8,8) (768,12,12),
#                block 64, batch 12 (the (128,4,4) point is the block sweep's T = 64 point, run once)
# then the long-context check: correlation, dot, involution and correlation+moe train 2 steps at
# block_size 2048 (batch 1) and sample past it from a prompt of 2038 characters, with peak RSS and the
# engine's off-heap estimate (model.MemoryEstimate) beside it.
#
#   benchmarks/experiments/scaling.sh [--peak GFLOPS] [--sweeps | --long-context] [--smoke]
#
#   --peak G        one core's fp32 peak in GFLOP/s, the MFU denominator; without it benchmarks/peak.sh
#                   runs once first (a minute or two; it appends to benchmarks/results/peak.md)
#   --sweeps        only the two sweeps;   --long-context   only the long-context check
#   --smoke         checks the script end to end: tiny models, 1 warm-up + 2 timed steps, peak.sh at n = 256,
#                   the long-context check as usual; everything goes to benchmarks/runs/scaling-smoke/
#
# Steps (environment, defaults): the engine runs ENGINE_WARMUP (40) untimed steps (JIT compilation), then
# ENGINE_STEPS (40) timed ones; PyTorch TORCH_WARMUP (2) then TORCH_STEPS (10). A point whose model FLOPs
# per step reach BIG_GFLOP (15: correlation at T >= 1024, dot at T = 2048, n_embd >= 256), where a step
# should take a fifth of a second or more, runs ENGINE_BIG_WARMUP/ENGINE_BIG_STEPS (5/15) and
# TORCH_BIG_WARMUP/TORCH_BIG_STEPS (1/5). A PyTorch run is stopped after TORCH_TIMEOUT (150 s), an engine run
# after ENGINE_TIMEOUT (600 s); a stopped or failed run is recorded with its status, not dropped.
# Threads: ENGINE_THREADS (all cores), TORCH_THREADS (1, PyTorch's best count on the 2-vCPU machine;
# PyTorch runs with GOMP_SPINCOUNT=0). LONG_BLOCK (2048) and LONG_TOKENS (50) size the long-context check.
#
# Time: about 20 minutes on 2 vCPUs (estimated, 15-30, not measured: from the engine's ~18k tokens/s at
# the default config and ~2.5k nanoGPT-sized, PyTorch's ~8k and ~0.8k on 1 thread, plus about 6 s of
# start-up per engine run and 4 s per PyTorch run; 44 sweep runs, 12 long-context runs, peak.sh). The
# smoke run took about 6 minutes on the shared machine. One run at a time; run it on a quiet machine.
#
# Writes: one JSON line per point and implementation, and per long-context variant, appended to
# benchmarks/results/scaling.jsonl; then benchmarks/experiments/scaling_report.py writes
# benchmarks/results/scaling.md and scaling.png from the latest sweep run and the latest long-context
# run in that file (so a --sweeps run and a --long-context run combine; re-run it alone with
# `/usr/bin/python3 benchmarks/experiments/scaling_report.py report [--run ID]`). Run directories and
# logs: benchmarks/runs/scaling/ (checkpoints deleted after each run).
# Needs Debian's python3-torch and matplotlib (/usr/bin/python3), GNU time (/usr/bin/time) and timeout;
# installs nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/benchmarks/experiments"
PY=/usr/bin/python3
REPORT="$HERE/scaling_report.py"

PEAK="" SMOKE=0 DO_SWEEPS=1 DO_LONG=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --peak) [[ $# -ge 2 && "$2" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "scaling.sh: --peak needs GFLOP/s, e.g. --peak 250" >&2; exit 2; }
            PEAK="$2"; shift 2 ;;
    --peak=*) PEAK="${1#--peak=}"; [[ "$PEAK" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "scaling.sh: --peak needs GFLOP/s, e.g. --peak=250" >&2; exit 2; }
              shift ;;
    --sweeps) DO_LONG=0; shift ;;
    --long-context) DO_SWEEPS=0; shift ;;
    --smoke) SMOKE=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "scaling.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [[ $DO_SWEEPS == 0 && $DO_LONG == 0 ]]; then echo "scaling.sh: --sweeps and --long-context exclude each other" >&2; exit 2; fi

ENGINE_THREADS="${ENGINE_THREADS:-$(nproc)}"
TORCH_THREADS="${TORCH_THREADS:-1}"
ENGINE_WARMUP="${ENGINE_WARMUP:-40}" ENGINE_STEPS="${ENGINE_STEPS:-40}"
ENGINE_BIG_WARMUP="${ENGINE_BIG_WARMUP:-5}" ENGINE_BIG_STEPS="${ENGINE_BIG_STEPS:-15}"
TORCH_WARMUP="${TORCH_WARMUP:-2}" TORCH_STEPS="${TORCH_STEPS:-10}"
TORCH_BIG_WARMUP="${TORCH_BIG_WARMUP:-1}" TORCH_BIG_STEPS="${TORCH_BIG_STEPS:-5}"
BIG_GFLOP="${BIG_GFLOP:-15}"
TORCH_TIMEOUT="${TORCH_TIMEOUT:-150}" ENGINE_TIMEOUT="${ENGINE_TIMEOUT:-600}"
LONG_BLOCK="${LONG_BLOCK:-2048}" LONG_TOKENS="${LONG_TOKENS:-50}"
PEAK_N=2048
# the sweeps: block sizes at (BLOCK_C, BLOCK_L, BLOCK_H) with STEP_TOKENS tokens a step; widths "C,L,H" at WIDTH_T x WIDTH_B
BLOCKS="64 128 256 512 1024 2048" BLOCK_C=128 BLOCK_L=4 BLOCK_H=4 STEP_TOKENS=768
WIDTHS="64,4,4 128,4,4 256,6,4 384,6,6 512,8,8 768,12,12" WIDTH_T=64 WIDTH_B=12
RESULTS="$ROOT/benchmarks/results"
RUNS="$ROOT/benchmarks/runs/scaling"
if [[ $SMOKE == 1 ]]; then
  ENGINE_WARMUP=1 ENGINE_STEPS=2 ENGINE_BIG_WARMUP=1 ENGINE_BIG_STEPS=2
  TORCH_WARMUP=1 TORCH_STEPS=2 TORCH_BIG_WARMUP=1 TORCH_BIG_STEPS=2
  BLOCKS="16 32" BLOCK_C=32 BLOCK_L=1 BLOCK_H=2 STEP_TOKENS=64
  WIDTHS="32,1,2 48,2,2" WIDTH_T=16 WIDTH_B=4
  PEAK_N=256
  RESULTS="$ROOT/benchmarks/runs/scaling-smoke"
  RUNS="$ROOT/benchmarks/runs/scaling-smoke/runs"
fi
JSONL="$RESULTS/scaling.jsonl"

DATA="$ROOT/../shared/data/tinyshakespeare.txt"
[[ -f "$ROOT/data/tinyshakespeare.txt" ]] && DATA="$ROOT/data/tinyshakespeare.txt"
[[ -f "$DATA" ]] || { echo "scaling.sh: Tiny Shakespeare not found at $DATA" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "scaling.sh: needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }
command -v timeout >/dev/null || { echo "scaling.sh: needs timeout (coreutils)" >&2; exit 2; }
"$PY" -c "import matplotlib" 2>/dev/null || { echo "scaling.sh: needs matplotlib for $PY: apt-get install -y python3-matplotlib" >&2; exit 2; }
if [[ $DO_SWEEPS == 1 ]]; then
  "$PY" -c "import torch" 2>/dev/null || { echo "scaling.sh: needs PyTorch for $PY: apt-get install -y python3-torch libopenblas0-pthread" >&2; exit 2; }
fi
mkdir -p "$RESULTS" "$RUNS"

# the engine's jar (built now, so no build lands inside a timed run) and the off-heap estimate program
"$ROOT/leviathan" info >/dev/null
JAVA_HOME="$("$ROOT/leviathan" java-home)"
JAVA="$JAVA_HOME/bin/java"
CP="$ROOT/app/target/leviathan.jar:$ROOT/app/target/lib/*"
mkdir -p "$RUNS/classes"
"$JAVA_HOME/bin/javac" -nowarn --add-modules=jdk.incubator.vector -cp "$CP" -d "$RUNS/classes" "$HERE/MemoryFigures.java" 2>&1 \
  | grep -v 'incubator' >&2 || true
estimate() {  # attention mlp n_layer n_head n_embd block batch -> the engine's off-heap estimate as JSON
  "$JAVA" --add-modules=jdk.incubator.vector -cp "$RUNS/classes:$CP" MemoryFigures "$@" "$ENGINE_THREADS" 2>/dev/null || true
}

RUN_ID="$(date -u +%Y%m%dT%H%M%SZ)"
DATE="$(date -u +%Y-%m-%d)"
MACHINE="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) vCPUs, \
$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo) GiB; $("$JAVA" -version 2>&1 | head -n 1)"
if [[ $DO_SWEEPS == 1 ]]; then
  MACHINE="$MACHINE; PyTorch $("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null)"
fi
SMOKE_FLAG=(); [[ $SMOKE == 1 ]] && SMOKE_FLAG=(--smoke)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
rss_of() { tail -n 1 "$1" 2>/dev/null | grep -E '^[0-9]+$' || echo 0; }   # /usr/bin/time -f %M: KiB

if [[ $DO_SWEEPS == 1 && -z "$PEAK" ]]; then
  echo "== one core's peak (benchmarks/peak.sh $PEAK_N)"
  table=$(OUT="$RESULTS/peak.md" "$ROOT/benchmarks/peak.sh" "$PEAK_N")
  echo "$table"
  # the MFU denominator: the larger of the FMA-loop and sgemm rows
  PEAK=$(echo "$table" | awk -F'|' '/^\| (fp32 FMA|oneDNN sgemm)/ { v = $3 + 0; if (v > m) m = v } END { if (m > 0) print m }')
  [[ -n "$PEAK" ]] || { echo "scaling.sh: could not read a peak from benchmarks/peak.sh; pass --peak GFLOPS" >&2; exit 1; }
fi

is_big() {  # n_layer n_embd block batch lags -> exit 0 when the point's model FLOPs per step reach BIG_GFLOP
  local f
  f=$("$PY" "$REPORT" flops --n-layer "$1" --n-embd "$2" --block-size "$3" --lags "$5")
  awk -v f="$f" -v tok="$(( $4 * $3 ))" -v big="$BIG_GFLOP" 'BEGIN { exit !(f * tok >= big * 1e9) }'
}

run_engine() {  # sweeps attention n_embd n_layer n_head block batch
  local sweeps=$1 att=$2 C=$3 L=$4 H=$5 T=$6 B=$7 lags=1 warm=$ENGINE_WARMUP steps=$ENGINE_STEPS
  [[ $att == correlation ]] && lags=4
  if is_big "$L" "$C" "$T" "$B" "$lags"; then warm=$ENGINE_BIG_WARMUP steps=$ENGINE_BIG_STEPS; fi
  local name="engine-$att-C$C-L$L-H$H-T$T-B$B" dir
  dir="$RUNS/$name"
  rm -rf "$dir" "$dir".*
  local args=(train --attention "$att" --n-layer "$L" --n-head "$H" --n-embd "$C" --block-size "$T" --batch-size "$B"
              --steps $((warm + steps)) --eval-interval 1000000 --eval-batches 1 --log-interval 1 --sample-tokens 0
              --threads "$ENGINE_THREADS" --out "$dir")
  [[ $att == correlation ]] && args+=(--lags 4)
  local t0 rc=0 elapsed
  t0=$(now)
  /usr/bin/time -f %M -o "$dir.time" timeout -k 10 "$ENGINE_TIMEOUT" "$ROOT/leviathan" "${args[@]}" >"$dir.out" 2>"$dir.err" || rc=$?
  elapsed=$(since "$t0")
  "$PY" "$REPORT" record --impl leviathan --sweeps "$sweeps" --attention "$att" --lags "$lags" --n-layer "$L" --n-head "$H" \
    --n-embd "$C" --block-size "$T" --batch-size "$B" --threads "$ENGINE_THREADS" --warmup "$warm" --steps "$steps" \
    --rc "$rc" --elapsed "$elapsed" --timeout "$ENGINE_TIMEOUT" --rss-kib "$(rss_of "$dir.time")" ${PEAK:+--peak "$PEAK"} \
    --stderr "$dir.err" --metrics "$dir/metrics.jsonl" --final "$(grep '^final:' "$dir.out" || true)" \
    --estimate "$(estimate "$att" dense "$L" "$H" "$C" "$T" "$B")" \
    --run "$RUN_ID" --date "$DATE" --machine "$MACHINE" --flags "./leviathan ${args[*]}" "${SMOKE_FLAG[@]}" >> "$JSONL"
  rm -f "$dir"/*.safetensors
}

run_torch() {  # sweeps attention n_embd n_layer n_head block batch
  local sweeps=$1 att=$2 C=$3 L=$4 H=$5 T=$6 B=$7 lags=1 warm=$TORCH_WARMUP steps=$TORCH_STEPS
  [[ $att == correlation ]] && lags=4
  if is_big "$L" "$C" "$T" "$B" "$lags"; then warm=$TORCH_BIG_WARMUP steps=$TORCH_BIG_STEPS; fi
  local name="torch-$att-C$C-L$L-H$H-T$T-B$B" log
  log="$RUNS/$name"
  rm -f "$log".*
  local args=(--data "$DATA" --attention "$att" --lags "$lags" --n-layer "$L" --n-head "$H" --n-embd "$C" --block-size "$T"
              --batch-size "$B" --steps $((warm + steps)) --untimed-steps "$warm" --eval-interval 1000000 --eval-batches 1
              --no-full-eval --threads "$TORCH_THREADS")
  local t0 rc=0 elapsed
  t0=$(now)
  GOMP_SPINCOUNT=0 OMP_NUM_THREADS="$TORCH_THREADS" /usr/bin/time -f %M -o "$log.time" timeout -k 10 "$TORCH_TIMEOUT" \
    "$PY" "$ROOT/benchmarks/pytorch/train.py" "${args[@]}" >"$log.out" 2>"$log.err" || rc=$?
  elapsed=$(since "$t0")
  "$PY" "$REPORT" record --impl pytorch --sweeps "$sweeps" --attention "$att" --lags "$lags" --n-layer "$L" --n-head "$H" \
    --n-embd "$C" --block-size "$T" --batch-size "$B" --threads "$TORCH_THREADS" --warmup "$warm" --steps "$steps" \
    --rc "$rc" --elapsed "$elapsed" --timeout "$TORCH_TIMEOUT" --rss-kib "$(rss_of "$log.time")" ${PEAK:+--peak "$PEAK"} \
    --stderr "$log.err" --result "$(grep '^{' "$log.out" | tail -n 1 || true)" \
    --run "$RUN_ID" --date "$DATE" --machine "$MACHINE" \
    --flags "GOMP_SPINCOUNT=0 OMP_NUM_THREADS=$TORCH_THREADS $PY benchmarks/pytorch/train.py ${args[*]}" "${SMOKE_FLAG[@]}" >> "$JSONL"
}

points() {  # one line per distinct point, "sweeps n_embd n_layer n_head block batch" (sweeps: block, width or block,width)
  {
    local T C L H
    for T in $BLOCKS; do echo "block $BLOCK_C $BLOCK_L $BLOCK_H $T $(( STEP_TOKENS / T > 0 ? STEP_TOKENS / T : 1 ))"; done
    for w in $WIDTHS; do IFS=, read -r C L H <<<"$w"; echo "width $C $L $H $WIDTH_T $WIDTH_B"; done
  } | awk '{ k = $2 " " $3 " " $4 " " $5 " " $6; if (k in s) s[k] = s[k] "," $1; else { s[k] = $1; o[++n] = k } }
           END { for (i = 1; i <= n; i++) print s[o[i]], o[i] }'
}

if [[ $DO_SWEEPS == 1 ]]; then
  echo "== sweeps (run $RUN_ID, peak $PEAK GFLOP/s per core, engine $ENGINE_THREADS threads, PyTorch $TORCH_THREADS)"
  while read -r sweeps C L H T B; do
    for att in dot correlation; do
      run_engine "$sweeps" "$att" "$C" "$L" "$H" "$T" "$B"
      run_torch "$sweeps" "$att" "$C" "$L" "$H" "$T" "$B"
    done
  done < <(points)
fi

if [[ $DO_LONG == 1 ]]; then
  echo "== long contexts: block_size $LONG_BLOCK trains and samples"
  prompt_chars=$(( LONG_BLOCK - 10 ))
  prompt="$(head -c "$prompt_chars" "$DATA")"                  # Tiny Shakespeare is ASCII: bytes are characters
  printf '%s' "$prompt" > "$RUNS/long-prompt.txt"
  prompt_chars=$(wc -m < "$RUNS/long-prompt.txt")                # $(...) dropped any trailing newlines
  short=64
  for variant in correlation dot involution moe; do
    case $variant in
      correlation) flags=(--attention correlation --lags 4); att=correlation mlp=dense ;;
      dot) flags=(--attention dot); att=dot mlp=dense ;;
      involution) flags=(--attention involution); att=involution mlp=dense ;;
      moe) flags=(--attention correlation --lags 4 --mlp moe); att=correlation mlp=moe ;;
    esac
    common=(--n-layer 4 --n-head 4 --n-embd 128 --batch-size 1 --steps 2 --eval-interval 1000000 --eval-batches 1
            --sample-tokens 0 --threads "$ENGINE_THREADS")
    dir="$RUNS/long-$variant-T$LONG_BLOCK"
    rm -rf "$dir" "$dir".* "$dir-short" "$dir-short".*
    train_rc=0 sample_rc=0 short_rc=0
    /usr/bin/time -f %M -o "$dir.time" timeout -k 10 "$ENGINE_TIMEOUT" "$ROOT/leviathan" train "${flags[@]}" "${common[@]}" \
      --block-size "$LONG_BLOCK" --out "$dir" >"$dir.out" 2>"$dir.err" || train_rc=$?
    if [[ $train_rc == 0 ]]; then
      /usr/bin/time -f %M -o "$dir.sample.time" timeout -k 10 "$ENGINE_TIMEOUT" "$ROOT/leviathan" sample \
        --checkpoint "$dir/model.safetensors" --prompt "$prompt" --tokens "$LONG_TOKENS" --threads "$ENGINE_THREADS" \
        >"$dir.sample.out" 2>"$dir.sample.err" || sample_rc=$?
    else
      sample_rc=1; echo "not run: training failed" > "$dir.sample.err"
    fi
    sample_chars=$("$PY" -c 'import sys
p, o = (open(f, encoding="utf-8").read() for f in sys.argv[1:3])
print(len(o) - len(p) - 1 if o.startswith(p) and o.endswith("\n") else -1)' "$RUNS/long-prompt.txt" "$dir.sample.out" 2>/dev/null || echo -1)
    [[ $sample_rc == 0 && $sample_chars != "$LONG_TOKENS" ]] && { sample_rc=1; echo "sample printed $sample_chars new characters, not $LONG_TOKENS" >> "$dir.sample.err"; }
    /usr/bin/time -f %M -o "$dir-short.time" timeout -k 10 "$ENGINE_TIMEOUT" "$ROOT/leviathan" train "${flags[@]}" "${common[@]}" \
      --block-size "$short" --out "$dir-short" >"$dir-short.out" 2>"$dir-short.err" || short_rc=$?
    [[ $short_rc == 0 ]] || echo "long-context $variant: the short-block run failed (rc $short_rc), see $dir-short.err" >&2
    "$PY" "$REPORT" long --variant "$variant" --n-layer 4 --n-head 4 --n-embd 128 --block-size "$LONG_BLOCK" --short-block-size "$short" --threads "$ENGINE_THREADS" \
      --train-rc "$train_rc" --sample-rc "$sample_rc" --sample-chars "$sample_chars" --prompt-chars "$prompt_chars" \
      --train-rss-kib "$(rss_of "$dir.time")" --sample-rss-kib "$(rss_of "$dir.sample.time")" \
      --short-rss-kib "$( [[ $short_rc == 0 ]] && rss_of "$dir-short.time" || echo 0)" \
      --train-stderr "$dir.err" --sample-stderr "$dir.sample.err" --final "$(grep '^final:' "$dir.out" || true)" \
      --estimate "$(estimate "$att" "$mlp" 4 4 128 "$LONG_BLOCK" 1)" --short-estimate "$(estimate "$att" "$mlp" 4 4 128 "$short" 1)" \
      --run "$RUN_ID" --date "$DATE" --machine "$MACHINE" --flags "./leviathan train ${flags[*]} ${common[*]} --block-size $LONG_BLOCK" \
      "${SMOKE_FLAG[@]}" >> "$JSONL"
    rm -f "$dir"/*.safetensors "$dir-short"/*.safetensors
  done
fi

# the latest sweep run and the latest long-context run in the file: this one, or this one and an earlier one
"$PY" "$REPORT" report --jsonl "$JSONL" --md "$RESULTS/scaling.md" --png "$RESULTS/scaling.png"
