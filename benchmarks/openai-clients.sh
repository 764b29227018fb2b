#!/usr/bin/env bash
# The official OpenAI clients against a real `leviathan serve` on loopback: the OpenAI Java SDK and
# LangChain4j (benchmarks/clients/OpenAiClients.java, class path from benchmarks/clients/pom.xml) and
# the OpenAI Node SDK (benchmarks/clients/node). Each lists the model, completes, streams the same
# completion, and gets the server's 400 and 401 as its own exception type. Prints a Markdown table;
# exits 1 if any check failed. Needs Maven Central and the npm registry (or their caches) and node;
# serves the small test fixture (vocabulary "\n !,abcdefghij"), so no training is needed.
#   Usage: benchmarks/openai-clients.sh [DIR] > benchmarks/results/openai-clients.md
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
L="$ROOT/leviathan"
. "$ROOT/benchmarks/lib/serve-port.sh"
D="${1:-$(mktemp -d)}"
mkdir -p "$D"
JAVA="$("$L" java-home)/bin/java"
command -v node >/dev/null || { echo "openai-clients.sh: node is not installed (the Node SDK check needs it)" >&2; exit 2; }

# the clients first (downloads), so the server's log holds only their requests
JAVA_HOME="$("$L" java-home)" mvn -q -f "$ROOT/benchmarks/clients/pom.xml" dependency:build-classpath -Dmdep.outputFile="$D/cp.txt" >&2
rm -rf "$D/node" && cp -r "$ROOT/benchmarks/clients/node" "$D/node"
(cd "$D/node" && npm install --no-audit --no-fund --silent >&2)

KEY="key-$RANDOM$RANDOM"; printf '%s\n' "$KEY" > "$D/key.txt"
MODEL=fixture PROMPT="a bad cab, "
"$L" serve --checkpoint "$ROOT/src/test/resources/reference/tiny-correlation.safetensors" --model-name "$MODEL" \
  --host 127.0.0.1 --port 0 --api-key-file "$D/key.txt" --backend java --threads 1 > "$D/serve.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
PORT=$(serve_port "$D/serve.log" "$SERVER")
[ -n "$PORT" ] || { echo "openai-clients.sh: serve did not start:" >&2; cat "$D/serve.log" >&2; exit 1; }
BASE="http://127.0.0.1:$PORT/v1"

echo "# The official OpenAI clients against \`leviathan serve\`"
echo
echo "Written by \`benchmarks/openai-clients.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown);"
echo "server: \`leviathan serve\` of the test fixture with \`--api-key-file\` on loopback; prompt \`$PROMPT\`;"
echo "$("$JAVA" -version 2>&1 | head -n 1), node $(node --version)."
echo
echo "| client | check | result | what came back |"
echo "|---|---|---|---|"
rc=0
"$JAVA" -cp "$(cat "$D/cp.txt")" "$ROOT/benchmarks/clients/OpenAiClients.java" "$BASE" "$KEY" "$MODEL" "$PROMPT" 2> "$D/java.err" || rc=1
node "$D/node/clients.mjs" "$BASE" "$KEY" "$MODEL" "$PROMPT" 2> "$D/node.err" || rc=1
echo
echo "Server log (one line per refused request):"
echo
echo '```'
grep -v '^$' "$D/serve.log" | sed 's/key-[0-9]*/KEY/g'
echo '```'
if [ "$rc" != 0 ]; then
  echo "openai-clients.sh: a check failed; stderr of the clients:" >&2
  cat "$D/java.err" "$D/node.err" >&2
fi
exit "$rc"
