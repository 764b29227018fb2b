#!/usr/bin/env bash
# Makes bundle/ (git-ignored): what a GPU machine without a JDK needs to run benchmarks/gpu-check.sh.
#   bundle/jre/                  a jlink runtime with only the modules the engine and the test runner use
#   bundle/leviathan.jar, lib/   the command line, leviathan-core and picocli (the oneDNN jar is left out: not needed there)
#   bundle/test-classes/         the GPU tests and the timing main (leviathan.cuda.*)
#   bundle/junit-console.jar     JUnit's console launcher (runs the tests without Maven)
#   bundle/correlation.ptx       native/correlation.cu compiled by nvcc (found beside the jar)
# The device tool carries at most 64 MiB; the script fails if the bundle exceeds 48 MiB.
#   benchmarks/make-gpu-bundle.sh        build, assemble, smoke-test with the bundled runtime
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
export PATH="$JAVA_HOME/bin:$PATH"
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
JUNIT_PLATFORM=1.14.1                                   # the console launcher matching JUnit 5.14.1
MODULES=java.base,java.logging,jdk.incubator.vector

echo "bundle: building the jar and the test classes" >&2
mvn -B -q -ntp -DskipTests package test-compile
native/build-ptx.sh >&2
[[ -f target/native/correlation.ptx ]] || { echo "bundle: no target/native/correlation.ptx (nvcc missing?)" >&2; exit 1; }
mvn -B -q -ntp -N dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:$JUNIT_PLATFORM \
    -DoutputDirectory=target/gpu-tools

rm -rf bundle
mkdir -p bundle/lib
"$JAVA_HOME/bin/jlink" --add-modules "$MODULES" --compress zip-9 --strip-debug --no-header-files --no-man-pages \
    --strip-native-debug-symbols=exclude-debuginfo-files \
    --output bundle/jre
# jlink keeps the JVM's symbol tables (libjvm.so ~29 MB); strip them where binutils' strip exists (~5 MB less)
if command -v strip >/dev/null 2>&1; then find bundle/jre -name '*.so' -exec strip --strip-unneeded {} +; fi
cp app/target/leviathan.jar bundle/
cp app/target/lib/leviathan-core-*.jar app/target/lib/picocli-*.jar bundle/lib/
cp -r app/target/test-classes bundle/test-classes
cp target/gpu-tools/junit-platform-console-standalone-$JUNIT_PLATFORM.jar bundle/junit-console.jar
cp target/native/correlation.ptx bundle/

size=$(du -sb bundle | cut -f1)
echo "bundle: $(du -sh bundle | cut -f1) in bundle/ (jre $(du -sh bundle/jre | cut -f1))" >&2
if (( size > 48 * 1024 * 1024 )); then
  echo "bundle: too large ($size bytes > 48 MiB; the device tool carries 64 MiB in all)" >&2
  exit 1
fi
# Smoke test with the bundled runtime: the engine starts and the CUDA status line prints.
bundle/jre/bin/java --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
    -cp "bundle/leviathan.jar:bundle/lib/*" leviathan.cli.Main info 2>&1 | grep -v '^WARNING: Using incubator' >&2
bundle/jre/bin/java --enable-native-access=ALL-UNNAMED -cp "bundle/leviathan.jar:bundle/lib/*" leviathan.backend.cuda.CudaInfo >&2 || true
bundle/jre/bin/java -ea --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar bundle/junit-console.jar \
    execute --class-path "bundle/leviathan.jar:bundle/lib/*:bundle/test-classes" --select-class leviathan.cuda.CudaLibrariesTest \
    --details=summary --disable-banner 2>&1 | grep -E "tests (successful|skipped|failed)" >&2
echo "bundle: ready; on the GPU machine run benchmarks/gpu-check.sh (carry: bundle)" >&2
