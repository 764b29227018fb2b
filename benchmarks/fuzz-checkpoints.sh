#!/usr/bin/env bash
# Long checkpoint fuzzing (the test suite runs a bounded few thousand iterations of the same mutations).
#   benchmarks/fuzz-checkpoints.sh [--seconds N] [--seed S] [--workers N] [--out DIR]
# Failures (with their seed and input) go to --out (default target/fuzz); exit status 1 if any, 2 on a hang.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export JAVA_HOME="$("$ROOT/leviathan" java-home)"       # the launcher finds JDK 25
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
"$ROOT/leviathan" info > /dev/null                      # builds the jars and app/target/lib if needed
cd "$ROOT"
mvn -B -q -ntp -DskipTests test-compile
exec "$JAVA_HOME/bin/java" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx1g \
  -cp "app/target/test-classes:app/target/classes:app/target/lib/*" leviathan.testing.CheckpointFuzzMain "$@"
