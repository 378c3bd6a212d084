#!/usr/bin/env bash
# The README's main command (deploy/demo.sh) on this build: two small nights
# through the daemon, two workers and the ingester. It must print its
# summary with detections and JPEGs, and leave no process running.
#   tests/demo_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
dir=$(mktemp -d)
chmod 755 "$dir"  # the private PostgreSQL runs as 'postgres' under root
trap 'rm -rf "$dir"' EXIT
CURATOR_DEMO_DIR=$dir/demo CURATOR_DEMO_BIN=$build \
  bash "$src/deploy/demo.sh" --nights 2 --frames 6 --size 256 | tee "$dir/out"
grep -Eq '^  nights 2, files [0-9]+, detections [1-9][0-9]*, JPEGs [1-9][0-9]*, sources [1-9]' "$dir/out" ||
  { echo "FAIL: no summary with detections, JPEGs and sources" >&2; exit 1; }
grep -q '^  Load Monitor: http://127.0.0.1:[0-9]*/' "$dir/out" ||
  { echo "FAIL: no Load Monitor address" >&2; exit 1; }
if pgrep -af "$dir/demo" >&2; then
  echo "FAIL: the demo left the processes above running" >&2
  exit 1
fi
echo "demo: finished, nothing left running"
