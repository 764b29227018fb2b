#!/usr/bin/env bash
# The network in the cost model: step time and the allreduce share of data-parallel training on 2 and 4 hosts
# (network namespaces, benchmarks/multihost.sh) over links shaped to 1 Gbit/s and 10 Gbit/s, for the default and the
# nanoGPT-sized configs, with the gradient allreduce after backward and overlapped with it; and 2 ranks on one host
# (loopback, shared memory) as the baseline of issue 26's targets. Then the cost model's prediction for every run.
#   benchmarks/multihost-bench.sh [--steps N] [--big-steps N] [--configs default,nanogpt] [--hosts 2,4]
#                                 [--links 1gbit,10gbit] [--quick]
# --quick: a tiny model, a few steps, 2 hosts at 1gbit only, to prove that the script runs (its numbers mean nothing).
# Writes benchmarks/results/multihost-steps.jsonl (one row per run) and the "network" section of
# benchmarks/results/distributed.md (the rest of the file is kept), through benchmarks/distributed-model.py.
# Run it on a quiet machine, as root (namespaces, sshd), with Open MPI, openssh-server, iproute2 and python3.
# Duration, measured on a quiet 2-vCPU AMD EPYC Zen 1: the default config 8 minutes; the nanoGPT-sized config 23
# minutes with --big-steps 8 (a step there is 4-5 s of compute per rank), so well over an hour at the default 40.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STEPS=200          # default config, as benchmarks/distributed.sh
BIG_STEPS=40       # nanoGPT-sized config
CONFIGS=default,nanogpt
HOSTS_LIST=2,4
LINKS=1gbit,10gbit
QUICK=false
ARGV="$*"
RESULTS="$ROOT/benchmarks/results/multihost-steps.jsonl"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --steps) STEPS="$2"; shift 2 ;;
    --big-steps) BIG_STEPS="$2"; shift 2 ;;
    --configs) CONFIGS="$2"; shift 2 ;;
    --hosts) HOSTS_LIST="$2"; shift 2 ;;
    --links) LINKS="$2"; shift 2 ;;
    --quick) QUICK=true; shift ;;
    *) echo "multihost-bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v python3 >/dev/null 2>&1 || { echo "multihost-bench.sh: python3 not found" >&2; exit 2; }
"$ROOT/leviathan" info > /dev/null                      # builds once, before any timed run
WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
if [[ "$QUICK" == true ]]; then
  RESULTS="$WORK/quick.jsonl"
  MD="$WORK/distributed.md"; cp "$ROOT/benchmarks/results/distributed.md" "$MD"
  HOSTS_LIST=2; LINKS=1gbit
else
  MD="$ROOT/benchmarks/results/distributed.md"
  : > "$RESULTS"
fi

# run CONFIG STEPS HOSTS LINK OVERLAP BUCKET_BYTES ARGS...: one training, its measured numbers appended to $RESULTS.
# HOSTS "local" is 2 ranks on this host (./leviathan train --ranks 2), the baseline.
run() {
  local config="$1" steps="$2" hosts="$3" link="$4" overlap="$5" bucket="$6"; shift 6
  local name="$config-$hosts-$link-$overlap-$bucket"
  local out="$WORK/$name" log="$WORK/$name.log" half=$((steps / 2)); [[ "$half" -ge 1 ]] || half=1
  local train=(--threads 1 --steps "$steps" --log-interval "$half" --eval-interval "$steps" --eval-batches 2 --sample-tokens 0
    --out "$out" "$@")
  local opts="-Dleviathan.overlap=$overlap -Dleviathan.bucket.bytes=$bucket"
  echo "multihost-bench.sh: $config, hosts $hosts, link $link, overlap $overlap, buckets of $bucket bytes, $steps steps" >&2
  if [[ "$hosts" == local ]]; then
    LEVIATHAN_JAVA_OPTS="$opts" "$ROOT/leviathan" train --ranks 2 "${train[@]}" > "$log" 2>&1
  else
    LEVIATHAN_JAVA_OPTS="$opts" "$ROOT/benchmarks/multihost.sh" --hosts "$hosts" --bandwidth "$link" -- "${train[@]}" > "$log" 2>&1
  fi || { cat "$log" >&2; echo "multihost-bench.sh: the run failed (log above)" >&2; exit 1; }
  local ranks=2; [[ "$hosts" == local ]] || ranks="$hosts"
  python3 "$ROOT/benchmarks/distributed-model.py" row --config "$config" --ranks "$ranks" --threads 1 \
    --metrics "$out/metrics.jsonl" --log "$log" --args "${train[*]}" \
    --extra "hosts=$hosts" --extra "bandwidth=$link" --extra "overlap=$overlap" --extra "bucket_bytes=$bucket" >> "$RESULTS"
}

DDP=$((25 << 20))     # the trainer's default bucket size (PyTorch DDP's)
SMALL=$((8 << 20))    # about one nanoGPT-sized layer per bucket: more of the allreduce can hide behind backward
IFS=, read -r -a WANT <<< "$CONFIGS"
IFS=, read -r -a HOSTS <<< "$HOSTS_LIST"
IFS=, read -r -a RATES <<< "$LINKS"
for c in "${WANT[@]}"; do
  case "$c" in
    default) args=(); steps="$STEPS"; buckets=("$DDP") ;;
    nanogpt) args=(--n-layer 6 --n-head 6 --n-embd 384 --block-size 256 --batch-size 12); steps="$BIG_STEPS"; buckets=("$DDP" "$SMALL") ;;
    *) echo "multihost-bench.sh: unknown config $c (default, nanogpt)" >&2; exit 2 ;;
  esac
  if [[ "$QUICK" == true ]]; then args=(--n-layer 2 --n-head 2 --n-embd 16 --block-size 16 --batch-size 4); steps=6; buckets=(4096); fi
  run "$c" "$steps" local loopback false "$DDP" "${args[@]}"
  for h in "${HOSTS[@]}"; do
    for link in "${RATES[@]}"; do
      run "$c" "$steps" "$h" "$link" false "$DDP" "${args[@]}"
      for b in "${buckets[@]}"; do run "$c" "$steps" "$h" "$link" true "$b" "${args[@]}"; done
    done
  done
done

QFLAG=(); [[ "$QUICK" == true ]] && QFLAG=(--quick)
python3 "$ROOT/benchmarks/distributed-model.py" network --results "$RESULTS" --md "$MD" --command "benchmarks/multihost-bench.sh $ARGV" "${QFLAG[@]}"
if [[ "$QUICK" == true ]]; then
  sed -n '/<!-- network:begin/,/<!-- network:end -->/p' "$MD"
  echo "multihost-bench.sh: quick run: the section above was NOT written to benchmarks/results/distributed.md" >&2
else
  echo "multihost-bench.sh: wrote $RESULTS and the network section of $MD" >&2
fi
