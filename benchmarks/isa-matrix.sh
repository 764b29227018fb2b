#!/usr/bin/env bash
# The engine against the PyTorch peer (benchmarks/pytorch) at each vector width this machine can
# run or emulate, side by side: same machine, same day, runs alternating, medians of REPS runs.
#
#   benchmarks/isa-matrix.sh            the full matrix; writes benchmarks/results/isa.md
#   benchmarks/isa-matrix.sh --smoke    proves the script runs: 2 steps, 1 run, correlation 4 at the
#                                       default size; writes $TMPDIR/isa-smoke.md, never the results
#
# Widths (WIDTHS, default "native avx2 128"):
#   native  the machine's own: no flags
#   avx2    engine -XX:UseAVX=2, oneDNN DNNL_MAX_CPU_ISA=AVX2;
#           PyTorch OPENBLAS_CORETYPE=Haswell, ATEN_CPU_CAPABILITY=avx2 (its ATen kernels are AVX2 already)
#   128     a stand-in for NEON: engine -XX:MaxVectorSize=16, DNNL_MAX_CPU_ISA=SSE41;
#           PyTorch OPENBLAS_CORETYPE=Nehalem, ATEN_CPU_CAPABILITY=default (no AVX kernels)
# Configs (CONFIGS): dot, corr4, corr8 (correlation with 4 and 8 lags), inv16 (involution, window 16);
# sizes (SIZES): default (the recipe: 4 layers, 4 heads, n_embd 128, block 64, batch 12) and
# nanogpt (6 layers, 6 heads, n_embd 384, block 256, batch 12).
#
# Per width: benchmarks/peak.sh at that width (the MFU denominator), ./leviathan tune at that width
# (the tuning cache is keyed by vector width, so each width has its own), then per config and size
# REPS rounds of: the engine tuned, the engine with -Dleviathan.tune=false (today's defaults),
# PyTorch at 1..nproc threads. Everything runs with GOMP_SPINCOUNT=0. PyTorch's figure is its best
# thread count's median. tokens/s are each implementation's own report (all steps, evaluation excluded).
# MFU = model FLOPs/token x tokens/s / (peak x threads), model FLOPs/token = 6(12 L C^2 + C V) + 6 L N C (T+1)
# (N = lags; 1 for dot; for involution the window K replaces N (T+1)), as in benchmarks/results/profile.md.
#
# Knobs (environment): REPS (3), STEPS (200: default size), BIG_STEPS (20: nanoGPT size), WIDTHS,
# CONFIGS, SIZES, PEAK_N (2048), OUT, TORCH_THREADS (the PyTorch thread counts tried; default 1 to nproc). Needs Debian's python3-torch for /usr/bin/python3
# (apt-get install -y python3-torch libopenblas0-pthread); installs nothing. Run on a quiet machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=/usr/bin/python3
SMOKE=0
[[ "${1:-}" == "--smoke" ]] && SMOKE=1
REPS="${REPS:-3}"; STEPS="${STEPS:-200}"; BIG_STEPS="${BIG_STEPS:-20}"; PEAK_N="${PEAK_N:-2048}"
WIDTHS="${WIDTHS:-native avx2 128}"; CONFIGS="${CONFIGS:-dot corr4 corr8 inv16}"; SIZES="${SIZES:-default nanogpt}"
OUT="${OUT:-$ROOT/benchmarks/results/isa.md}"
if [[ $SMOKE == 1 ]]; then
  REPS=1; STEPS=2; BIG_STEPS=2; PEAK_N=256; CONFIGS="${SMOKE_CONFIGS:-corr4}"; SIZES=default
  OUT="${TMPDIR:-/tmp}/isa-smoke.md"
fi
DATA="$ROOT/../shared/data/tinyshakespeare.txt"
[[ -f "$ROOT/data/tinyshakespeare.txt" ]] && DATA="$ROOT/data/tinyshakespeare.txt"
[[ -f "$DATA" ]] || { echo "isa-matrix.sh: no dataset at $DATA" >&2; exit 2; }
"$PY" -c "import torch" 2>/dev/null || { echo "isa-matrix.sh: needs PyTorch for $PY: apt-get install -y python3-torch libopenblas0-pthread" >&2; exit 2; }
NPROC=$(nproc)
TORCH_THREADS="${TORCH_THREADS:-$(seq -s " " 1 "$NPROC")}"   # the PyTorch thread counts tried
WORK=$(mktemp -d "${TMPDIR:-/tmp}/isa-matrix.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export GOMP_SPINCOUNT=0
export LEVIATHAN_JAVA_OPTS_BASE="${LEVIATHAN_JAVA_OPTS:-}"

width_java() { case "$1" in native) echo "" ;; avx2) echo "-XX:UseAVX=2" ;; 128) echo "-XX:MaxVectorSize=16" ;; *) echo "unknown width $1" >&2; exit 2 ;; esac; }
width_dnnl() { case "$1" in native) echo "" ;; avx2) echo "AVX2" ;; 128) echo "SSE41" ;; esac; }
width_blas() { case "$1" in native) echo "" ;; avx2) echo "Haswell" ;; 128) echo "Nehalem" ;; esac; }
width_aten() { case "$1" in native) echo "" ;; avx2) echo "avx2" ;; 128) echo "default" ;; esac; }
size_args()  { case "$1" in default) echo "--n-layer 4 --n-head 4 --n-embd 128 --block-size 64 --batch-size 12" ;;
                            nanogpt) echo "--n-layer 6 --n-head 6 --n-embd 384 --block-size 256 --batch-size 12" ;;
                            *) echo "unknown size $1" >&2; exit 2 ;; esac; }
config_args() { case "$1" in dot) echo "--attention dot" ;; corr4) echo "--attention correlation --lags 4" ;;
                             corr8) echo "--attention correlation --lags 8" ;; inv16) echo "--attention involution --window 16" ;;
                             *) echo "unknown config $1" >&2; exit 2 ;; esac; }

# runs a command with a width's environment: engine flags in LEVIATHAN_JAVA_OPTS, oneDNN's and PyTorch's ISA caps
with_width() {
  local w=$1; shift
  local -a vars=("LEVIATHAN_JAVA_OPTS=$LEVIATHAN_JAVA_OPTS_BASE $(width_java "$w")")
  if [[ -n "$(width_dnnl "$w")" ]]; then vars+=("DNNL_MAX_CPU_ISA=$(width_dnnl "$w")"); fi
  if [[ -n "$(width_blas "$w")" ]]; then vars+=("OPENBLAS_CORETYPE=$(width_blas "$w")"); fi
  if [[ -n "$(width_aten "$w")" ]]; then vars+=("ATEN_CPU_CAPABILITY=$(width_aten "$w")"); fi
  env "${vars[@]}" "$@"
}

engine_run() {   # width size config tune(true|false) -> tokens/s on stdout; the log kept in $WORK
  local w=$1 size=$2 cfg=$3 tune=$4 steps=$STEPS log
  [[ $size == nanogpt ]] && steps=$BIG_STEPS
  log="$WORK/engine-$w-$size-$cfg-$tune.log"
  # shellcheck disable=SC2046
  with_width "$w" env LEVIATHAN_JAVA_OPTS="$LEVIATHAN_JAVA_OPTS_BASE $(width_java "$w") -Dleviathan.tune=$tune" \
    "$ROOT/leviathan" train $(config_args "$cfg") $(size_args "$size") --data "$DATA" --steps "$steps" \
      --eval-interval "$steps" --eval-batches 1 --sample-tokens 0 --threads 0 --out "$WORK/run-$w-$size-$cfg-$tune" >"$log" 2>&1 \
    || { echo "isa-matrix.sh: engine run failed, see below" >&2; tail -5 "$log" >&2; exit 1; }
  rm -rf "$WORK/run-$w-$size-$cfg-$tune"
  sed -n 's/^final: .*, \([0-9,]*\) tokens\/s,.*/\1/p' "$log" | tr -d ,
}

torch_run() {    # width size config threads -> tokens/s on stdout
  local w=$1 size=$2 cfg=$3 threads=$4 steps=$STEPS res
  [[ $size == nanogpt ]] && steps=$BIG_STEPS
  # shellcheck disable=SC2046
  res=$(with_width "$w" env OMP_NUM_THREADS="$threads" "$PY" "$ROOT/benchmarks/pytorch/train.py" $(config_args "$cfg") $(size_args "$size") \
        --data "$DATA" --steps "$steps" --eval-interval "$steps" --eval-batches 1 --threads "$threads" --no-full-eval 2>"$WORK/torch.err" | tail -n 1) \
    || { echo "isa-matrix.sh: PyTorch run failed:" >&2; tail -5 "$WORK/torch.err" >&2; exit 1; }
  "$PY" -c 'import json,sys; print(round(json.loads(sys.argv[1])["tokens_per_s"], 1))' "$res"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

flops_per_token() {  # size config
  local L C T V=65 N
  case "$1" in default) L=4; C=128; T=64 ;; nanogpt) L=6; C=384; T=256 ;; esac
  case "$2" in dot) N=$((T + 1)) ;; corr4) N=$((4 * (T + 1))) ;; corr8) N=$((8 * (T + 1))) ;; inv16) N=16 ;; esac
  echo $(( 6 * (12 * L * C * C + C * V) + 6 * L * N * C ))
}

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
cpu_flags=$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2- | tr ' ' '\n' | grep -E '^(sse4_1|sse4_2|avx|avx2|fma|avx512[a-z0-9_]*|amx[a-z0-9_]*)$' | tr '\n' ' ')
torch_info=$("$PY" -c 'import re, torch
c = torch.__config__.show()
cap = re.search(r"CPU capability usage: (\S+)", c); blas = re.search(r"BLAS_INFO=([^,\s]+)", c)
print(torch.__version__ + ", CPU capability " + (cap.group(1) if cap else "?") + ", BLAS " + (blas.group(1) if blas else "?"))')
{
  echo "# The engine and PyTorch at each vector width"
  echo
  echo "Written by \`benchmarks/isa-matrix.sh${1:+ $1}\` on $(date -u '+%Y-%m-%d %H:%M UTC'): $REPS alternating rounds per row, medians;"
  echo "$STEPS steps at the default size, $BIG_STEPS at the nanoGPT size; GOMP_SPINCOUNT=0; engine on all $NPROC cores, PyTorch at its best of $TORCH_THREADS threads."
  echo
  echo "- CPU: $cpu_model, $NPROC logical CPUs; SIMD flags: $cpu_flags"
  echo "- JDK: $("$ROOT/leviathan" java-home)"
  echo "- PyTorch: $torch_info"
  [[ $SMOKE == 1 ]] && echo "- SMOKE RUN: proves the script runs; these figures mean nothing"
} > "$OUT"

for w in $WIDTHS; do
  echo "isa-matrix.sh: width $w" >&2
  peak_out="$WORK/peak-$w.md"
  with_width "$w" env PEAK_JAVA_OPTS="$(width_java "$w")" OUT="$peak_out" "$ROOT/benchmarks/peak.sh" "$PEAK_N" >"$WORK/peak.log" 2>&1 \
    || { echo "isa-matrix.sh: peak.sh failed:" >&2; tail -5 "$WORK/peak.log" >&2; exit 1; }
  # the fp32 MFU denominator: the larger of the FMA loop and oneDNN's sgemm (peak.md)
  peak=$(grep -E '^\| (fp32 FMA|oneDNN sgemm)' "$peak_out" | awk -F'|' '{gsub(/ /, "", $3); if ($3 + 0 > m) m = $3 + 0} END {print m}')
  lanes=$(grep -oE 'Vector API [0-9]+ lanes' "$peak_out" | grep -oE '[0-9]+' || echo "?")
  if [[ $SMOKE == 0 ]]; then
    with_width "$w" "$ROOT/leviathan" tune $([[ $SIZES == *nanogpt* ]] && echo --nanogpt) > "$WORK/tune-$w.txt" 2>&1 \
      || { echo "isa-matrix.sh: tune failed:" >&2; tail -5 "$WORK/tune-$w.txt" >&2; exit 1; }
  fi
  with_width "$w" "$ROOT/leviathan" info > "$WORK/info-$w.txt" 2>&1 || true
  {
    echo
    echo "## Width: $w ($lanes float lanes)"
    echo
    if [[ -n "$(width_java "$w")" ]]; then
      echo "Engine: \`LEVIATHAN_JAVA_OPTS='$(width_java "$w")' DNNL_MAX_CPU_ISA=$(width_dnnl "$w")\`;"
    else
      echo "Engine: no flags;"
    fi
    echo "PyTorch: $( [[ -n "$(width_blas "$w")" ]] && echo "\`OPENBLAS_CORETYPE=$(width_blas "$w") ATEN_CPU_CAPABILITY=$(width_aten "$w")\`" || echo "no caps")."
    echo "fp32 peak of one core at this width (benchmarks/peak.sh $PEAK_N): $peak GFLOP/s."
    echo
    echo "| size | config | engine tuned tok/s | engine defaults tok/s | PyTorch best tok/s (threads) | ratio tuned / PyTorch | MFU engine | MFU PyTorch | engine kernels |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
  } >> "$OUT"
  for size in $SIZES; do
    for cfg in $CONFIGS; do
      tuned=(); dflt=(); declare -A tt=()
      for ((r = 1; r <= REPS; r++)); do
        tuned+=("$(engine_run "$w" "$size" "$cfg" true)")
        for t in $TORCH_THREADS; do tt[$t]+=" $(torch_run "$w" "$size" "$cfg" "$t")"; done
        dflt+=("$(engine_run "$w" "$size" "$cfg" false)")
      done
      mt=$(echo "${tuned[*]}" | median); md=$(echo "${dflt[*]}" | median)
      best=0; best_t=1
      for t in $TORCH_THREADS; do
        m=$(echo "${tt[$t]}" | median)
        if awk -v a="$m" -v b="$best" 'BEGIN {exit !(a > b)}'; then best=$m; best_t=$t; fi
      done
      unset tt
      fpt=$(flops_per_token "$size" "$cfg")
      mfu() { awk -v f="$fpt" -v tps="$1" -v p="$peak" -v n="$2" 'BEGIN {if (p > 0) printf "%.1f%%", 100 * f * tps / (p * 1e9 * n); else print "n/a"}'; }
      log="$WORK/engine-$w-$size-$cfg-true.log"
      kernels="$(grep -m1 '^backend:' "$log" | sed 's/^backend: //; s/|/\\|/g')"
      case "$cfg" in
        corr*) shape=$([[ $size == nanogpt ]] && echo "C384 H6" || echo "C128 H4")
               impl=$(grep -oE "correlation $shape N${cfg#corr} T[0-9]+ B[0-9]+ threads [0-9]+ +[a-z]+(/[0-9])?" "$WORK/info-$w.txt" | head -n 1 | awk '{print $NF}' || true)
               kernels="$kernels; correlation ${impl:-by the built-in rule (not tuned)}" ;;
      esac
      ratio=$(awk -v a="$mt" -v b="$best" 'BEGIN {if (b > 0) printf "%.2fx", a / b; else print "n/a"}')
      echo "| $size | $cfg | $mt | $md | $best ($best_t) | $ratio | $(mfu "$mt" "$NPROC") | $(mfu "$best" "$best_t") | $kernels |" >> "$OUT"
      echo "isa-matrix.sh: $w $size $cfg: engine $mt (defaults $md), PyTorch $best on $best_t threads" >&2
    done
  done
  {
    echo
    echo "<details><summary>tuning cache at this width (./leviathan info)</summary>"
    echo
    echo '```'
    grep -E '^(vector|registers|GEMM|tuning) |^              ' "$WORK/info-$w.txt" || true
    echo '```'
    echo "</details>"
  } >> "$OUT"
done
echo "isa-matrix.sh: wrote $OUT" >&2
