#!/usr/bin/env bash
# Checks the playground page (GET /) in a real headless browser: starts `leviathan serve`, warms it
# up, opens /?prompt=...&run=1 (the page starts a streamed completion by itself), lets the stream
# run, and saves a screenshot. Needs Debian's chromium (apt-get install chromium).
#   benchmarks/playground-screenshot.sh [--checkpoint FILE] [--out FILE] [--port P]
# Defaults: the fixture checkpoint, benchmarks/results/playground.png, port 18090.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CKPT="$ROOT/src/test/resources/reference/tiny-correlation.safetensors"
OUT="$ROOT/benchmarks/results/playground.png"; PORT=18090
PROMPT="${PROMPT:-a bad face, a big hedge\n}"   # within the fixture's vocabulary (a-j, space, ",!")
while [[ $# -gt 0 ]]; do
  case "$1" in
    --checkpoint) CKPT="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    *) echo "playground-screenshot: unknown option $1" >&2; exit 2 ;;
  esac
done
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[[ -n "$CHROME" ]] || { echo "playground-screenshot: needs chromium (apt-get install chromium)" >&2; exit 2; }

"$ROOT/leviathan" --version >/dev/null
JAVA="$("$ROOT/leviathan" java-home)/bin/java"
LOG="$(mktemp)"; PROFILE="$(mktemp -d)"
"$JAVA" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp "$ROOT/app/target/leviathan.jar:$ROOT/app/target/lib/*" \
  leviathan.cli.Main serve --checkpoint "$CKPT" --port "$PORT" 2> "$LOG" &
SPID=$!
trap 'kill "$SPID" 2>/dev/null || true; rm -rf "$LOG" "$PROFILE"' EXIT
until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; do
  kill -0 "$SPID" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.05
done
# warm the JIT so that the stream runs at speed while the browser watches
curl -sf "http://127.0.0.1:$PORT/v1/completions" -d '{"prompt":"\n","max_tokens":2000}' >/dev/null

ENC=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$(printf "$PROMPT")")
URL="http://127.0.0.1:$PORT/?prompt=$ENC&temperature=0.8&top_k=0&max_tokens=600&seed=42&run=1"
mkdir -p "$(dirname "$OUT")"
# --virtual-time-budget lets the page's fetch stream run before the capture
"$CHROME" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$PROFILE" \
  --window-size=1000,760 --virtual-time-budget=8000 --screenshot="$OUT" "$URL" 2>/dev/null
kill -TERM "$SPID"; wait "$SPID" || true
echo "screenshot: $OUT"
