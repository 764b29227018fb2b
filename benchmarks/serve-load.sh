#!/usr/bin/env bash
# Load test of `leviathan serve` on loopback: time to ready, K concurrent streaming clients for S
# seconds (time-to-first-token p50/p99, characters/s in total, errors), a burst of B simultaneous
# requests, and the server's RSS sampled every second. Writes benchmarks/results/serve.md.
#   benchmarks/serve-load.sh [--checkpoint FILE] [--clients K] [--seconds S] [--burst B]
#                            [--max-tokens M] [--port P] [--slots N] [--out FILE] [-- extra serve flags]
# Defaults: the fixture checkpoint, K=8, S=60, B=100, M=200, port 18080, slots = cores.
# Flags after -- go to `serve`, e.g. `-- --warmup 2000` to compare a warmed-up server.
# JVM options for the server come from LEVIATHAN_JAVA_OPTS (default: a small heap, so that RSS
# reflects what the server needs rather than how lazily a large default heap is collected).
# Run on a quiet machine; the numbers mean nothing on a shared one.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CKPT="$ROOT/src/test/resources/reference/tiny-correlation.safetensors"
CLIENTS=8; SECONDS_=60; BURST=100; MAXTOK=200; PORT=18080; SLOTS=$(nproc); OUT="$ROOT/benchmarks/results/serve.md"
EXTRA=()
JOPTS="${LEVIATHAN_JAVA_OPTS:--Xmx128m -XX:+UseSerialGC}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --checkpoint) CKPT="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --seconds) SECONDS_="$2"; shift 2 ;;
    --burst) BURST="$2"; shift 2 ;;
    --max-tokens) MAXTOK="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --slots) SLOTS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "serve-load: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -f "$CKPT" ]] || { echo "serve-load: no checkpoint at $CKPT" >&2; exit 2; }

"$ROOT/leviathan" --version >/dev/null            # builds the jar if sources changed
JAVA_HOME="$("$ROOT/leviathan" java-home)"
JAVA="$JAVA_HOME/bin/java"
WORK="$(mktemp -d)"
trap 'kill "$SPID" 2>/dev/null || true; kill "$RSSPID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

# the JVM directly (not the launcher), so that the PID is the server's and ready time excludes the build check
QUEUE=$(( BURST > 64 ? BURST : 64 ))
T0=$(date +%s%N)
"$JAVA" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED $JOPTS \
  -cp "$ROOT/app/target/leviathan.jar:$ROOT/app/target/lib/*" leviathan.cli.Main serve --checkpoint "$CKPT" \
  --port "$PORT" --slots "$SLOTS" --queue "$QUEUE" --max-tokens "$(( MAXTOK > 4096 ? MAXTOK : 4096 ))" "${EXTRA[@]}" \
  2> "$WORK/server.log" &
SPID=$!
until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; do
  kill -0 "$SPID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "serve-load: the server died" >&2; exit 1; }
  sleep 0.01
done
READY_MS=$(( ($(date +%s%N) - T0) / 1000000 ))

( while kill -0 "$SPID" 2>/dev/null; do
    echo "$(( ($(date +%s%N) - T0) / 1000000 )) $(awk '/VmRSS/ {print $2}' /proc/$SPID/status 2>/dev/null)"
    sleep 1
  done ) > "$WORK/rss.txt" &
RSSPID=$!

LOAD="$ROOT/benchmarks/serve/ServeLoad.java"
STEADY=$("$JAVA" "$LOAD" --url "http://127.0.0.1:$PORT" --mode steady --clients "$CLIENTS" --seconds "$SECONDS_" --max-tokens "$MAXTOK" 2> "$WORK/steady.err")
BURSTR=$("$JAVA" "$LOAD" --url "http://127.0.0.1:$PORT" --mode burst --clients "$BURST" --max-tokens "$MAXTOK" 2> "$WORK/burst.err")
METRICS=$(curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^leviathan_(requests_total|generated_characters_total|time_to_first_token_seconds_(sum|count))' || true)

kill -TERM "$SPID"
STOP_T0=$(date +%s%N)
wait "$SPID" && EXIT=0 || EXIT=$?
STOP_MS=$(( ($(date +%s%N) - STOP_T0) / 1000000 ))
kill "$RSSPID" 2>/dev/null || true
RSS_MAX=$(awk '$2 > m {m = $2} END {print int(m / 1024)}' "$WORK/rss.txt")

field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<< "$2"; }
mkdir -p "$(dirname "$OUT")"
{
  echo "# Serving under load (\`benchmarks/serve-load.sh\`)"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); machine: $(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1); JDK: $("$JAVA" -version 2>&1 | head -1)"
  echo "- checkpoint: \`${CKPT#$ROOT/}\`; slots $SLOTS, queue $QUEUE; max_tokens $MAXTOK per request; serve flags: ${EXTRA[*]:-none}; JVM options: $JOPTS"
  echo "- command: \`benchmarks/serve-load.sh --clients $CLIENTS --seconds $SECONDS_ --burst $BURST --max-tokens $MAXTOK --slots $SLOTS${EXTRA[*]:+ -- ${EXTRA[*]}}\`"
  echo
  echo "| measure | value | target |"
  echo "|---|---|---|"
  echo "| time to ready (launch to first 200 from /health) | $READY_MS ms | <= 1500 ms |"
  echo "| steady: clients x seconds | $CLIENTS x $(field seconds "$STEADY") s | 8 x 60 s |"
  echo "| steady: requests / errors | $(field requests "$STEADY") / $(field errors "$STEADY") | errors 0 |"
  echo "| steady: time to first token p50 / p99, all requests | $(field ttft_p50_ms "$STEADY") / $(field ttft_p99_ms "$STEADY") ms | p99 < 50 ms at 8 clients |"
  echo "| steady: time to first token p50 / p99 after each client's first request ($(field warm_requests "$STEADY") requests) | $(field warm_ttft_p50_ms "$STEADY") / $(field warm_ttft_p99_ms "$STEADY") ms | p99 < 50 ms at 8 clients |"
  echo "| steady: slowest first request of a client (cold JVM: the JIT compiles the model's code) | $(field first_ttft_max_ms "$STEADY") ms | |"
  echo "| steady: characters/s, all clients | $(field chars_per_s "$STEADY") | |"
  echo "| burst: simultaneous requests / errors | $(field requests "$BURSTR") / $(field errors "$BURSTR") | 100 / 0 |"
  echo "| burst: time to first token p50 / p99 | $(field ttft_p50_ms "$BURSTR") / $(field ttft_p99_ms "$BURSTR") ms | |"
  echo "| server RSS, max | $RSS_MAX MiB | <= 250 MiB |"
  echo "| SIGTERM to exit | $STOP_MS ms, exit status $EXIT | exit 0 |"
  echo
  echo "Server RSS over time (ms since launch, MiB):"
  echo
  echo '```'
  awk 'NF == 2 {printf "%s %d\n", $1, $2 / 1024}' "$WORK/rss.txt" | tr '\n' ';' | sed 's/;/; /g'
  echo
  echo '```'
  echo
  echo "Raw client lines and the server's counters at the end:"
  echo
  echo '```'
  echo "$STEADY"
  echo "$BURSTR"
  sed 's/^/steady /' "$WORK/steady.err"
  sed 's/^/burst /' "$WORK/burst.err"
  echo "$METRICS"
  echo '```'
} > "$OUT"
cat "$OUT"
