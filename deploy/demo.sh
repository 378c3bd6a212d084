#!/usr/bin/env bash
# Curator's main job on this machine, on a private local PostgreSQL:
# generates synthetic survey nights (WFCAM-like multiframes with their CASU
# catalogues, a few bad files among them), registers them, runs CU3
# (metadata), CU2 (JPEG previews) and CU4 (detections) on each night,
# ingests the batches, then prints what landed in the archive. It grows
# into the whole pipeline (daemon and gRPC workers) as those parts land.
# Nothing is left running unless --keep is given.
#   deploy/demo.sh [--keep] [curator-synth options, e.g. --nights 3 --size 2048]
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
if [ "${1:-}" = "--keep" ]; then keep=1; shift; fi

bash deploy/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target curator-synth curatorctl curator-worker curator-ingester >/dev/null
bin=build/release
out="${CURATOR_DEMO_DIR:-$PWD/demo}"
rm -rf "$out/archive"
mkdir -p "$out"
start=$(date +%s.%N)

echo "== a private PostgreSQL in $out/pg"
db=$(bash deploy/local-postgres.sh start "$out/pg")
trap '[ $keep = 1 ] || bash deploy/local-postgres.sh stop "$out/pg"' EXIT
psql -q "$db" -c "DROP DATABASE IF EXISTS curator_demo" -c "CREATE DATABASE curator_demo"
db="${db%dbname=postgres}dbname=curator_demo"
site=(--archive "$out/archive" --db "$db")

echo "== curator-synth: synthetic nights under $out/archive/incoming"
$bin/synth/curator-synth --out "$out/archive" --nights 2 --frames 12 --size 512 \
  --sources 400 --compress rice --bitpix 32 \
  --defects truncated-image,truncated-catalogue,missing-keyword,wrong-keyword-type,nan-columns,orphan-catalogue,duplicated-file "$@"

echo "== curatorctl migrate"
$bin/daemon/curatorctl migrate "${site[@]}"
echo "== curatorctl register --all"
$bin/daemon/curatorctl register --all "${site[@]}" || true   # 2: problems reported
for night in $(ls "$out/archive/incoming"); do
  for cu in 3 2 4; do
    echo "== curator-worker run --cu $cu --night $night"
    $bin/worker/curator-worker run --cu $cu --night "$night" "${site[@]}"
  done
done
echo "== curator-ingester --once"
$bin/ingester/curator-ingester --once "${site[@]}"

echo "== the archive"
psql -q "$db" -c "SELECT night, count(*) AS multiframes, min(filter_name) || '..' || max(filter_name) AS filters, round(sum(exp_time)::numeric, 1) AS exp_time_s FROM multiframe GROUP BY night ORDER BY night" \
  -c "SELECT count(*) AS detectors, count(*) FILTER (WHERE tile_compressed) AS compressed, count(comp_file) AS jpegs, round(avg(seeing)::numeric, 2) AS mean_seeing_px FROM multiframe_detector" \
  -c "SELECT count(*) AS detections, count(DISTINCT multiframe_id) AS multiframes, min(obj_id) AS first_obj_id, max(obj_id) AS last_obj_id, round(min(aper_mag_3)::numeric, 2) AS brightest_mag FROM detection" \
  -c "SELECT batch_id, state, rows_per_table, round(copy_ms + validate_ms + publish_ms) AS ingest_ms FROM curation.batch ORDER BY night, cu" \
  -c "SELECT level, regexp_replace(path, '.*/', '') AS file, hdu, item, left(regexp_replace(message, '^/[^ ]*/', ''), 80) AS message FROM curation.log_message WHERE level <> 'info' ORDER BY message_id"
printf "== done in %.1f s; archive in %s, database: psql '%s'%s\n" \
  "$(echo "$(date +%s.%N) - $start" | bc)" "$out/archive" "$db" \
  "$([ $keep = 1 ] && echo " (still running: deploy/local-postgres.sh stop $out/pg)" || echo " (stopped)")"
