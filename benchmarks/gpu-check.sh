#!/usr/bin/env bash
# The GPU check, in one script, for a lent GPU machine (no JDK, no network, cuFFT as the Python
# wheel beside PyTorch). Uses bundle/ from benchmarks/make-gpu-bundle.sh (carried along, git-ignored):
#   1. builds what the GPU needs: the PTX again when nvcc is there (else the bundled one)
#   2. finds cuFFT/cudart in the Python wheels (site-packages/nvidia/*/lib) for LEVIATHAN_CUDA_PATH
#   3. status line + check of every bound symbol (leviathan.backend.cuda.CudaInfo)
#   4. GPU correctness tests: forward and gradients vs a double-precision reference, rel. error < 1e-4
#   5. times forward+backward (scalar, direct SIMD if built in, CPU FFT, GPU with and without copies)
#      and prints the table last.
#   benchmarks/gpu-check.sh [--quick]     --quick: B·H = 48 only (about a minute)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ ! -x bundle/jre/bin/java ]]; then
  if command -v mvn >/dev/null 2>&1 && [[ -n "${JAVA_HOME:-}" || -d /usr/lib/jvm/temurin-25-jdk-amd64 ]]; then
    benchmarks/make-gpu-bundle.sh || exit 1
  else
    echo "gpu-check: no bundle/ (make it with benchmarks/make-gpu-bundle.sh on a machine with a JDK 25, then carry it)" >&2
    exit 2
  fi
fi
PTX="$ROOT/bundle/correlation.ptx"
if command -v nvcc >/dev/null 2>&1 || [[ -x /usr/local/cuda/bin/nvcc ]]; then
  LEVIATHAN_CUDA_ARCH="${LEVIATHAN_CUDA_ARCH:-compute_90}" native/build-ptx.sh && PTX="$ROOT/target/native/correlation.ptx"
fi
echo "gpu-check: PTX $PTX"
if command -v python3 >/dev/null 2>&1; then
  WHEELS=$(python3 - <<'PY'
import glob, os, site, sys
dirs = []
for s in site.getsitepackages() + [site.getusersitepackages()] + sys.path:
    dirs += sorted(glob.glob(os.path.join(s, "nvidia", "*", "lib")))
print(":".join(dict.fromkeys(d for d in dirs if os.path.isdir(d))))
PY
)
  [[ -n "$WHEELS" ]] && export LEVIATHAN_CUDA_PATH="${LEVIATHAN_CUDA_PATH:+$LEVIATHAN_CUDA_PATH:}$WHEELS"
fi
echo "gpu-check: LEVIATHAN_CUDA_PATH=${LEVIATHAN_CUDA_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
JAVA=(bundle/jre/bin/java --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED
      -Dleviathan.cuda.ptx="$PTX" -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0)
CP="bundle/leviathan.jar:bundle/lib/*:bundle/test-classes"

echo "== status and symbols"
"${JAVA[@]}" -cp "$CP" leviathan.backend.cuda.CudaInfo 2>&1 | grep -v '^WARNING: Using incubator'
info=${PIPESTATUS[0]}
echo "== GPU correctness tests"
"${JAVA[@]}" -ea -jar bundle/junit-console.jar execute --class-path "$CP" --disable-banner --details=tree \
    --select-class leviathan.cuda.CudaLibrariesTest --select-class leviathan.cuda.CudaCorrelationTest 2>&1 \
    | grep -v '^WARNING: Using incubator'
tests=${PIPESTATUS[0]}
echo "== timing"
"${JAVA[@]}" -cp "$CP" leviathan.cuda.GpuCheck "$@" 2>&1 | grep -v '^WARNING: Using incubator'
echo "gpu-check: symbols/status exit $info, tests exit $tests"
(( info == 0 && tests == 0 ))
