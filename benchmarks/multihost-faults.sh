#!/usr/bin/env bash
# The fault drills of docs/multihost.md, checked: on 2 namespace hosts (benchmarks/multihost.sh) training a small
# model, (1) kill -9 host 1's rank after step 20, (2) take host 1's link down after step 20. Each must end the job
# within 30 s with a message naming the lost rank or host and leave no process behind; after (1), 'train --resume'
# on host 0 alone must continue from step 20 to the last step. Prints one line per check and exits 1 if any fails.
#   benchmarks/multihost-faults.sh [--bandwidth RATE]       (root; about 2 minutes)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHAPE=()
[[ "${1:-}" == --bandwidth ]] && SHAPE=(--bandwidth "$2")
WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
DATA="${LEVIATHAN_FAULTS_DATA:-tinyshakespeare}"
TRAIN=(--data "$DATA" --n-layer 2 --n-head 2 --n-embd 32 --block-size 32 --batch-size 8 --threads 1 --log-interval 10
  --eval-interval 20 --eval-batches 1 --sample-tokens 0)
FAILED=0
check() {   # check WHAT CONDITION...
  local what="$1"; shift
  if "$@"; then echo "multihost-faults.sh: ok    $what"; else echo "multihost-faults.sh: FAIL  $what"; FAILED=1; fi
}
within30() { awk -v s="$1" 'BEGIN { exit !(s != "" && s <= 30) }'; }
ended_after() { sed -n 's/.*the job ended \([0-9.]*\) s after the fault.*/\1/p' "$1" | tail -n 1; }

# (1) a killed host, then a resume on the surviving one
"$ROOT/benchmarks/multihost.sh" "${SHAPE[@]}" --fault kill --fault-at-step 20 --resume-after-fault -- "${TRAIN[@]}" --steps 60 \
  --out "$WORK/kill" > "$WORK/kill.log" 2>&1
rc=$?
[[ $rc -eq 4 ]] && { grep 'cannot run here' "$WORK/kill.log" >&2; exit 4; }
t="$(ended_after "$WORK/kill.log")"
check "kill -9 of host 1's rank: the job ended ${t:-?} s after it (<= 30 s)" within30 "$t"
check "kill -9: mpirun names the rank and the host" grep -q 'process rank 1 .* on node 198.18.0.2 exited on signal 9' "$WORK/kill.log"
check "kill -9: nothing left behind" grep -q 'nothing left behind on any host' "$WORK/kill.log"
check "kill -9: resumed at step 20 on host 0 alone" grep -q "resumed $WORK/kill at step 20" "$WORK/kill.log"
check "kill -9: the resumed run reached step 60 (status $rc)" bash -c "[[ $rc -eq 0 ]] && grep -q '^step    60/60' '$WORK/kill.log'"

# (2) a link that goes down
"$ROOT/benchmarks/multihost.sh" "${SHAPE[@]}" --fault link-down --fault-at-step 20 -- "${TRAIN[@]}" --steps 2000 \
  --out "$WORK/cut" > "$WORK/cut.log" 2>&1
rc=$?
t="$(ended_after "$WORK/cut.log")"
check "link down: the job ended ${t:-?} s after it (<= 30 s), status $rc (non-zero)" bash -c "[[ $rc -ne 0 ]] && awk -v s='$t' 'BEGIN { exit !(s != \"\" && s <= 30) }'"
check "link down: mpirun names the lost host" grep -q 'Remote daemon: .* on node 198.18.0.2' "$WORK/cut.log"
check "link down: nothing left behind" grep -q 'nothing left behind on any host' "$WORK/cut.log"

if [[ $FAILED -ne 0 ]]; then
  echo "multihost-faults.sh: logs follow" >&2
  tail -n 40 "$WORK/kill.log" "$WORK/cut.log" >&2
fi
exit $FAILED
