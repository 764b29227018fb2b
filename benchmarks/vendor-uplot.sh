#!/usr/bin/env bash
# Vendors uPlot (the board's charting library, MIT) into the jar's resources, reproducibly:
#   benchmarks/vendor-uplot.sh            fetches uplot@$VERSION from the npm registry with 'npm pack'
#                                         (npm checks the registry's sha512 integrity), checks the
#                                         tarball's sha256 below, and writes the minified script, the
#                                         stylesheet, the licence and a VERSION file with checksums.
# The result is checked in, so building and running the board never needs the network; rerun this
# only to move to another version (then update VERSION and TARBALL_SHA256 here).
set -euo pipefail
VERSION=1.6.32
TARBALL_SHA256=4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/src/main/resources/leviathan/board/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "uplot@$VERSION" > /dev/null)
TGZ="$WORK/uplot-$VERSION.tgz"
got=$(sha256sum "$TGZ" | cut -d' ' -f1)
if [[ "$got" != "$TARBALL_SHA256" ]]; then
  echo "vendor-uplot: uplot-$VERSION.tgz has sha256 $got, expected $TARBALL_SHA256; not vendored" >&2
  exit 1
fi
tar -xzf "$TGZ" -C "$WORK"
mkdir -p "$DEST"
cp "$WORK/package/dist/uPlot.iife.min.js" "$DEST/uPlot.iife.min.js"
cp "$WORK/package/dist/uPlot.min.css" "$DEST/uPlot.min.css"
cp "$WORK/package/LICENSE" "$DEST/uPlot.LICENSE"
{
  echo "uPlot $VERSION (MIT, https://github.com/leeoniya/uPlot), from the npm registry: uplot-$VERSION.tgz"
  echo "tarball sha256 $TARBALL_SHA256"
  echo "written by benchmarks/vendor-uplot.sh; file sha256s:"
  (cd "$DEST" && sha256sum uPlot.iife.min.js uPlot.min.css uPlot.LICENSE)
} > "$DEST/VERSION"
echo "vendor-uplot: uPlot $VERSION in $DEST"
