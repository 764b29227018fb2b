#!/usr/bin/env bash
# Allreduce latency and bandwidth against message size, N ranks on this machine (loopback, shared memory).
#   benchmarks/mpi-allreduce.sh [--ranks N] [--out FILE] [AllreduceBenchMain options: --sizes a,b,c --seconds S --max-iters N]
# Writes the results section of benchmarks/results/distributed.md (between its "allreduce" markers; the
# rest of the file is kept), or of --out FILE. Run it on a quiet machine: timings taken while other
# work shares the cores are meaningless. Needs Open MPI (apt-get install openmpi-bin).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RANKS=2
OUT="$ROOT/benchmarks/results/distributed.md"
PASS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ranks) RANKS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) PASS+=("$1"); shift ;;
  esac
done
command -v mpirun >/dev/null 2>&1 || { echo "mpi-allreduce.sh: mpirun not found; install Open MPI with 'apt-get install openmpi-bin'" >&2; exit 2; }
export JAVA_HOME="$("$ROOT/leviathan" java-home)"
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
"$ROOT/leviathan" info > /dev/null                      # builds the jars and app/target/lib if needed
cd "$ROOT"
mvn -B -q -ntp -DskipTests test-compile
if [[ "$(id -u)" == 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  echo "mpi-allreduce.sh: running as root: set OMPI_ALLOW_RUN_AS_ROOT=1 and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 for mpirun" >&2
fi
TABLE="$(mktemp)"; trap 'rm -f "$TABLE"' EXIT
# one core per rank (the communication cost alone, as 2 ranks x 1 thread would train)
mpirun -np "$RANKS" --map-by slot:PE=1 --bind-to core ${LEVIATHAN_MPIRUN_ARGS:-} \
  "$JAVA_HOME/bin/java" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Dleviathan.threads=1 \
  -cp "app/target/test-classes:app/target/classes:app/target/lib/*" leviathan.testing.AllreduceBenchMain "${PASS[@]}" \
  2> >(grep -v '^WARNING: Using incubator modules' >&2) | tee "$TABLE"

SECTION="$(mktemp)"
{
  echo "<!-- allreduce:begin (written by benchmarks/mpi-allreduce.sh; edits here are overwritten) -->"
  echo "## Allreduce on loopback: latency and bandwidth against message size"
  echo
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') with \`benchmarks/mpi-allreduce.sh --ranks $RANKS ${PASS[*]:-}\`:"
  echo "$RANKS ranks on one machine, one core each, in-place float sum (\`MPI_Allreduce\`, \`MPI_IN_PLACE\`)."
  echo
  echo "- machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs"
  echo "- JDK: $("$JAVA_HOME/bin/java" -version 2>&1 | head -1)"
  echo "- MPI: $(mpirun --version 2>&1 | head -1)"
  echo
  cat "$TABLE"
  echo
  echo "Median, 10th and 90th percentile of the time per call on rank 0; algbw = bytes / median;"
  echo "busbw = 2(N-1)/N · algbw, the per-rank traffic of a ring allreduce (comparable across N)."
  echo "<!-- allreduce:end -->"
} > "$SECTION"
if [[ -f "$OUT" ]] && grep -q '<!-- allreduce:begin' "$OUT"; then
  awk -v f="$SECTION" '
    /<!-- allreduce:begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
    /<!-- allreduce:end -->/ { skip = 0; next }
    !skip { print }' "$OUT" > "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
else
  { [[ -f "$OUT" ]] && cat "$OUT" && echo; cat "$SECTION"; } > "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
fi
rm -f "$SECTION"
echo "mpi-allreduce.sh: wrote the allreduce section of $OUT" >&2
