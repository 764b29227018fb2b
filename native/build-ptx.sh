#!/usr/bin/env bash
# Compiles native/*.cu to PTX for the CUDA correlation path (loaded at run time through the
# driver API; no JNI, no host code). Writes target/native/<name>.ptx; prints what it did.
#   native/build-ptx.sh                 uses nvcc from PATH, $CUDA_HOME/bin or /usr/local/cuda/bin
#   LEVIATHAN_CUDA_ARCH=compute_90 native/build-ptx.sh   another virtual architecture (default compute_80:
#                                       the driver JIT-compiles it for Ampere, Hopper and newer)
# Exit 0 with a one-line note when no nvcc is found: the CUDA path is optional.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NVCC="$(command -v nvcc || true)"
for c in "${CUDA_HOME:-}/bin/nvcc" /usr/local/cuda/bin/nvcc; do
  [[ -z "$NVCC" && -x "$c" ]] && NVCC="$c"
done
if [[ -z "$NVCC" ]]; then
  echo "build-ptx: nvcc not found (PATH, \$CUDA_HOME/bin, /usr/local/cuda/bin); the CUDA path needs a prebuilt PTX" >&2
  exit 0
fi
ARCH="${LEVIATHAN_CUDA_ARCH:-compute_80}"
mkdir -p "$ROOT/target/native"
for cu in "$ROOT"/native/*.cu; do
  out="$ROOT/target/native/$(basename "${cu%.cu}").ptx"
  "$NVCC" -ptx -O3 -arch="$ARCH" -o "$out" "$cu"
  echo "build-ptx: $(basename "$cu") -> ${out#$ROOT/} ($ARCH, $("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/nvcc \1/p'))"
done
