#!/usr/bin/env bash
# Curator's main job on this machine, the way a site runs it, on a private
# local PostgreSQL: generates synthetic survey nights (WFCAM-like
# multiframes with their CASU catalogues, a few bad files among them),
# starts curator-daemon, two curator-worker servers and curator-ingester on
# loopback with TLS between them, waits for the daemon to find the nights and plan their tasks,
# approves the plan as an operator would, shows progress until every batch
# is ingested, and prints a summary and the Load Monitor's address.
# Nothing is left running unless --keep is given.
#   deploy/demo.sh [--keep] [curator-synth options, e.g. --nights 5 --size 2048]
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
if [ "${1:-}" = "--keep" ]; then keep=1; shift; fi

if [ -n "${CURATOR_DEMO_BIN:-}" ]; then
  bin=$CURATOR_DEMO_BIN  # a build to use as it is (the test of this script)
else
  bash deploy/install-deps.sh
  cmake --preset release >/dev/null
  cmake --build --preset release --target curator-synth curatorctl curator-daemon \
    curator-worker curator-ingester >/dev/null
  bin=$PWD/build/release
fi
out="${CURATOR_DEMO_DIR:-$PWD/demo}"
rm -rf "$out/archive" "$out/logs"
mkdir -p "$out/logs"

pids=()
cleanup() {
  if [ $keep = 1 ]; then return; fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  bash deploy/local-postgres.sh stop "$out/pg"
  if [ -n "${CURATOR_DEMO_BIN:-}" ] && [ -d "$out/pg" ]; then rm -rf "$out"; fi
}
trap cleanup EXIT

echo "== a private PostgreSQL in $out/pg"
db=$(bash deploy/local-postgres.sh start "$out/pg")
psql -q "$db" -c "DROP DATABASE IF EXISTS curator_demo" -c "CREATE DATABASE curator_demo"
db="${db%dbname=postgres}dbname=curator_demo"

echo "== curator-synth: synthetic nights under $out/archive/incoming"
"$bin/synth/curator-synth" --out "$out/archive" --nights 3 --frames 12 --size 512 \
  --sources 400 --compress rice --bitpix 32 --sky revisit \
  --defects truncated-image,truncated-catalogue,missing-keyword,wrong-keyword-type,nan-columns,orphan-catalogue,duplicated-file "$@"

# Three free loopback ports: the daemon's gRPC, the Load Monitor, the
# ingester's /metrics.
read -r port monitor metrics < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
echo "== a test CA and certificates for the TLS links (deploy/make-test-ca.sh)"
bash deploy/make-test-ca.sh "$out/tls"
config="$out/curator.conf"
cat > "$config" <<EOF
archive_root: "$out/archive"
database { conninfo: "$db" }
daemon {
  listen_address: "127.0.0.1:$port"
  monitor_address: "127.0.0.1:$monitor"
  poll_interval_ms: 200
  # Every process shares this one machine: its load is the demo's own.
  max_load_per_core: 100
}
worker {
  listen_address: "127.0.0.1:0"
  daemon_address: "127.0.0.1:$port"
  advertise_address: ""
  slots: 1
  threads_per_task: 1
  heartbeat_interval_ms: 500
}
ingester { poll_interval_ms: 200 metrics_address: "127.0.0.1:$metrics" }
# CU5: each night's detections cross-matched into sources (1 arcsec).
cross_match { enabled: true }
# TLS with client certificates on every link; curatorctl uses the token.
security {
  ca_file: "$out/tls/ca.pem"
  cert_file: "$out/tls/node.pem"
  key_file: "$out/tls/node.key"
  token_file: "$out/tls/token"
}
EOF
ctl() { "$bin/daemon/curatorctl" "$@" --config "$config"; }

echo "== curator-daemon, curator-worker w1 and w2, curator-ingester (logs in $out/logs)"
"$bin/daemon/curator-daemon" --config "$config" > "$out/logs/daemon.log" 2>&1 & pids+=($!)
for w in w1 w2; do
  "$bin/worker/curator-worker" serve --config "$config" --worker_id $w \
    > "$out/logs/$w.log" 2>&1 & pids+=($!)
done
"$bin/ingester/curator-ingester" --config "$config" > "$out/logs/ingester.log" 2>&1 & pids+=($!)

nights=$(ls "$out/archive/incoming" | wc -l)
expected=$((nights * 4))
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
for _ in $(seq 300); do
  status=$(ctl status --json 2>/dev/null || echo '{}')
  found=$(echo "$status" | json_get "sum(d.get('tasks', {}).values())")
  alive=$(echo "$status" | json_get "d.get('workers_alive', 0)")
  [ "$found" -ge "$expected" ] && [ "$alive" -ge 2 ] && break
  sleep 0.2
done
echo "== the daemon found $nights nights and made $found tasks; its plan:"
ctl plan
echo "== curatorctl approve --all"
start=$(date +%s.%N)
ctl approve --all

echo "== curatorctl watch: each task as it moves, until everything settles (Load Monitor: http://127.0.0.1:$monitor/)"
# Exit 2: settled, but a task failed or a batch was quarantined (named above).
ctl watch --interval 0.5 || [ $? -eq 2 ]
wall=$(echo "$(date +%s.%N) - $start" | bc)

echo "== the archive"
psql -q "$db" -c "SELECT night, count(*) AS multiframes, min(filter_name) || '..' || max(filter_name) AS filters, round(sum(exp_time)::numeric, 1) AS exp_time_s FROM multiframe GROUP BY night ORDER BY night" \
  -c "SELECT task_id, to_char(night, 'YYYYMMDD') AS night, 'CU' || cu AS cu, state, worker_id, attempts FROM curation.task ORDER BY night, cu" \
  -c "SELECT night, detections, new_sources, updated_sources, unmatched_sources FROM source_night ORDER BY night" \
  -c "SELECT level, count(*) AS messages, count(DISTINCT path) AS files FROM curation.log_message WHERE level <> 'info' GROUP BY level" \
  -c "SELECT DISTINCT ON (path) regexp_replace(path, '.*/', '') AS file, left(regexp_replace(regexp_replace(message, '^/[^ ]*/', ''), '^[^ ]*: ', ''), 90) AS error FROM curation.log_message WHERE level = 'error' AND path LIKE '%20071021%' ORDER BY path, message_id"
read -r files detections jpegs sources < <(psql -qtA -F' ' "$db" -c "SELECT (SELECT count(*) FROM curation.registered_file), (SELECT count(*) FROM detection), (SELECT count(comp_file) FROM multiframe_detector), (SELECT count(*) FROM source)")
echo "== summary"
printf "  nights %d, files %d, detections %d, JPEGs %d, sources %d\n" "$nights" "$files" "$detections" "$jpegs" "$sources"
printf "  approval to last ingest: %.1f s wall, %.0f detections/s\n" "$wall" \
  "$(echo "$detections / $wall" | bc -l)"
printf "  Load Monitor: http://127.0.0.1:%d/  metrics: http://127.0.0.1:%d/metrics\n" "$monitor" "$monitor"
printf "  database: psql '%s'\n" "$db"
if [ $keep = 1 ]; then
  echo "  still running (--keep): PIDs ${pids[*]}; stop them with kill, then deploy/local-postgres.sh stop $out/pg"
else
  echo "  stopping everything"
fi
