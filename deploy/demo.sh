#!/usr/bin/env bash
# Curator's main job on this machine. For now: builds curator-synth and
# generates a small synthetic survey night (8 WFCAM-like multiframes with
# their CASU catalogues) under ./demo, then lists what was made. It grows
# into the whole pipeline (daemon, workers, ingester on a private local
# PostgreSQL) as those parts land.
#   deploy/demo.sh [curator-synth options, e.g. --nights 3 --size 2048]
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target curator-synth >/dev/null
out="${CURATOR_DEMO_DIR:-$PWD/demo}"
echo "demo: writing a synthetic survey under $out"
build/release/synth/curator-synth --out "$out" --frames 8 --size 512 \
  --sources 400 --compress rice --bitpix 32 "$@"
echo
echo "demo: files of the first night:"
night_dir=$(ls -d "$out"/incoming/*/ | head -n 1)
ls -l "$night_dir"
echo
echo "demo: fitsverify (NASA HEASARC) on the first image:"
first=$(ls "$night_dir"/*.fit | head -n 1)
fitsverify -q -e "$first"
