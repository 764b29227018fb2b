#!/usr/bin/env bash
# Heap bytes allocated per training step, generated token or sampling call, in steady state (issue 13),
# counted on the calling thread and the kernel workers.
#   benchmarks/alloc-probe.sh [AllocationProbe options]     e.g. --mode generate --steps 20000
#   benchmarks/alloc-probe.sh --mlp moe --backend onednn --threads 2 --record /tmp/alloc.jfr
# Runs with -Xbatch (compilation in the foreground) so the steady state arrives at a fixed step, not
# at whatever time the JIT gets CPU; prints bytes/step per window; exit 1 if the last window allocates.
# --record FILE keeps allocation samples with stacks from the second half and prints the top sites;
# small TLABs sample finer: LEVIATHAN_PROBE_OPTS="-XX:TLABSize=2k -XX:-ResizeTLAB". Use
# -Dleviathan.scalar=true in LEVIATHAN_PROBE_OPTS to separate the engine's own allocations from the
# Vector API's boxing, -XX:UseAVX=2 to try 8-lane vectors. Run on a quiet machine: it takes minutes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export JAVA_HOME="$("$ROOT/leviathan" java-home)"
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
"$ROOT/leviathan" info > /dev/null
cd "$ROOT"
mvn -B -q -ntp -DskipTests test-compile
exec "$JAVA_HOME/bin/java" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xbatch ${LEVIATHAN_PROBE_OPTS:-} \
  -cp "app/target/test-classes:app/target/classes:core/target/classes:app/target/lib/*" leviathan.testing.AllocationProbe "$@" 2> >(grep -v '^WARNING: Using incubator' >&2)
