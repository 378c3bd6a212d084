#!/usr/bin/env bash
# lintian on the .deb this build makes: no error (E:) may be left. The
# warnings are printed, with the reasons for the ones that stay in the
# README ("Deploying on a cluster"). Exit 77 (ctest's skip) where lintian
# is not installed (Debian package lintian, deploy/install-deps.sh).
# Usage: deploy/test-lintian.sh BUILD_DIR
set -euo pipefail
build=$1
if ! command -v lintian >/dev/null; then
  echo "SKIP: lintian is not installed (Debian package lintian)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$build" && cpack -G DEB -B "$work/package" >"$work/cpack.log" 2>&1) ||
  { echo "FAIL: cpack: $(cat "$work/cpack.log")" >&2; exit 1; }
deb=$(ls "$work"/package/curator_*_amd64.deb)
# --fail-on none: the tags are judged here; a non-zero exit is lintian
# itself failing.
lintian --no-cfg --fail-on none "$deb" >"$work/lintian.txt" 2>&1 ||
  { cat "$work/lintian.txt"; echo "FAIL: lintian did not run" >&2; exit 1; }
cat "$work/lintian.txt"
errors=$(grep -c '^E: ' "$work/lintian.txt" || true)
warnings=$(grep -c '^W: ' "$work/lintian.txt" || true)
echo "lintian $(lintian --print-version) on $(basename "$deb"): $errors errors, $warnings warnings"
[ "$errors" -eq 0 ] || { echo "FAIL: lintian reports errors" >&2; exit 1; }
