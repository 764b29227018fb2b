#!/usr/bin/env bash
# Kill-and-resume campaign (the test suite runs a seeded handful of the same kills).
#   benchmarks/kill-resume.sh [--kills N] [--steps N] [--seed S] [--dir DIR] [--out FILE]
# Defaults: 200 kills, 300 steps per run, seed 1, report in benchmarks/results/kill-resume.md.
# Exit status 1 (with the history) on any loss. Takes about 2-3 s per kill on a quiet machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export JAVA_HOME="$("$ROOT/leviathan" java-home)"       # the launcher finds JDK 25
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
"$ROOT/leviathan" info > /dev/null                      # builds the jars and app/target/lib if needed
cd "$ROOT"
mvn -B -q -ntp -DskipTests test-compile
exec "$JAVA_HOME/bin/java" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -ea -Xmx1g \
  -cp "app/target/test-classes:app/target/classes:app/target/lib/*" leviathan.testing.KillResumeMain "$@"
