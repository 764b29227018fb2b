#!/usr/bin/env bash
# Native memory of `leviathan serve` over many requests, each on a new virtual thread: oneDNN's bf16
# path keeps a stream and primitives per calling thread, released once the thread has ended, so the
# committed native memory (Native Memory Tracking, "Total: ... committed") must stay flat from the
# first WARM requests to the last. Prints both totals and the growth; exit 1 when it grew by more
# than LIMIT_MIB. Meaningful only where oneDNN runs bf16 GEMMs (a CPU with AVX512-BF16 or AMX:
# the server's log says "precision: bf16 GEMM operands"); elsewhere it says so and exits 2.
#   benchmarks/serve-nmt.sh [--checkpoint FILE] [--requests N] [--warm W] [--parallel P]
#                           [--max-tokens M] [--port P] [--limit-mib L] [--precision fp32|bf16]
# Defaults: the fixture checkpoint, N=10000, W=1000, P=8, M=20, port 18081, L=16, bf16.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CKPT="$ROOT/src/test/resources/reference/tiny-correlation.safetensors"
N=10000; WARM=1000; PAR=8; MAXTOK=20; PORT=18081; LIMIT=16; PRECISION=bf16
while [[ $# -gt 0 ]]; do
  case "$1" in
    --checkpoint) CKPT="$2"; shift 2 ;;
    --requests) N="$2"; shift 2 ;;
    --warm) WARM="$2"; shift 2 ;;
    --parallel) PAR="$2"; shift 2 ;;
    --max-tokens) MAXTOK="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --limit-mib) LIMIT="$2"; shift 2 ;;
    --precision) PRECISION="$2"; shift 2 ;;
    *) echo "serve-nmt: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -f "$CKPT" ]] || { echo "serve-nmt: no checkpoint at $CKPT" >&2; exit 2; }
(( WARM < N )) || { echo "serve-nmt: --warm must be less than --requests" >&2; exit 2; }

"$ROOT/leviathan" --version >/dev/null            # builds the jar if sources changed
JAVA_HOME="$("$ROOT/leviathan" java-home)"
WORK="$(mktemp -d)"
trap 'kill "$SPID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$JAVA_HOME/bin/java" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx256m -XX:NativeMemoryTracking=summary \
  -Dleviathan.precision="$PRECISION" -cp "$ROOT/app/target/leviathan.jar:$ROOT/app/target/lib/*" leviathan.cli.Main serve \
  --checkpoint "$CKPT" --port "$PORT" --backend onednn --queue 1000 2> "$WORK/server.log" &
SPID=$!
until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; do
  kill -0 "$SPID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "serve-nmt: the server died" >&2; exit 1; }
  sleep 0.05
done
grep -E '^(backend|precision):' "$WORK/server.log" || true
if [[ "$PRECISION" == bf16 ]] && ! grep -q 'precision: bf16 GEMM' "$WORK/server.log"; then
  echo "serve-nmt: this CPU runs no bf16 GEMM (see the lines above), so the per-thread bf16 state is not exercised; untested here" >&2
  exit 2
fi

requests() {   # $1 requests, $PAR at a time; every one must get 200
  seq "$1" | xargs -P "$PAR" -I{} curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$PORT/v1/completions" \
    -H 'Content-Type: application/json' -d "{\"prompt\":\"ROMEO:\",\"drop_unknown\":true,\"max_tokens\":$MAXTOK,\"seed\":{}}" > "$WORK/codes"
  local bad; bad=$(grep -vc '^200$' "$WORK/codes" || true)
  (( bad == 0 )) || { echo "serve-nmt: $bad of $1 requests failed" >&2; sort "$WORK/codes" | uniq -c >&2; exit 1; }
}
committed() { "$JAVA_HOME/bin/jcmd" "$SPID" VM.native_memory summary | sed -n 's/^Total: .*committed=\([0-9]*\)KB.*/\1/p'; }

requests "$WARM"
FIRST=$(committed)
requests $(( N - WARM ))
LAST=$(committed)
kill -TERM "$SPID"; wait "$SPID" || true
GROWTH=$(( (LAST - FIRST) / 1024 ))
echo "native memory committed after $WARM requests: $(( FIRST / 1024 )) MiB; after $N: $(( LAST / 1024 )) MiB; growth $GROWTH MiB (limit $LIMIT)"
(( GROWTH <= LIMIT ))
