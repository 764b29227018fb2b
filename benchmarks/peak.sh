#!/usr/bin/env bash
# One core's peak arithmetic rate, for model-flops utilisation (MFU = model FLOPs/token x tokens/s / peak):
# fp32 FMA peak (Vector API), oneDNN fp32 sgemm and oneDNN bf16 matmul on an n^3 product, one thread,
# pinned to one core with taskset when available. Appends a dated table to benchmarks/results/peak.md.
#   benchmarks/peak.sh [n]        (default 2048; the bf16 figure includes rounding the operands, O(n^2))
#   PEAK_JAVA_OPTS='-XX:UseAVX=2' DNNL_MAX_CPU_ISA=AVX2 benchmarks/peak.sh   the peak at another width (isa-matrix.sh)
# Run on a quiet machine; for a multi-core MFU multiply by the cores used only if they do not share FMA units.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-2048}"
OUT="${OUT:-$ROOT/benchmarks/results/peak.md}"
JAVA_HOME="$("$ROOT/leviathan" java-home)"
export JAVA_HOME PATH="$JAVA_HOME/bin:$PATH"
(cd "$ROOT" && MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" \
  mvn -q -Pbench -DskipTests package dependency:build-classpath -Dmdep.outputFile=target/bench.classpath)
PIN=()
command -v taskset >/dev/null 2>&1 && PIN=(taskset -c 0)
# shellcheck disable=SC2086  # PEAK_JAVA_OPTS is a list of JVM flags
table=$("${PIN[@]}" java --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED ${PEAK_JAVA_OPTS:-} \
  -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0 \
  -cp "$ROOT/app/target/classes:$(cat "$ROOT/app/target/bench.classpath")" leviathan.bench.Peak "$N" 2>/dev/null)
{
  [[ -s "$OUT" ]] || printf '# One core'"'"'s peak arithmetic rate\n\nWritten by `benchmarks/peak.sh`; the denominator of the MFU figures.\n'
  echo
  echo "## $(date -u +%Y-%m-%d) — $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), JDK $(java -version 2>&1 | head -1)"
  echo
  echo "\`${PEAK_JAVA_OPTS:+PEAK_JAVA_OPTS='$PEAK_JAVA_OPTS' }${DNNL_MAX_CPU_ISA:+DNNL_MAX_CPU_ISA=$DNNL_MAX_CPU_ISA }benchmarks/peak.sh $N\` (${PIN[*]:-not pinned})"
  echo
  echo "$table"
} >> "$OUT"
echo "$table"
echo "peak.sh: appended to $OUT" >&2
