#!/usr/bin/env bash
# Curator across hosts: PostgreSQL and curator-daemon, two curator-workers
# and curator-ingester each in their own network namespace, joined by veth
# pairs on a bridge, talking over their own addresses with TLS. The
# operator (this script, outside every namespace) approves through the
# bridge. Nothing may depend on localhost: no process listens there.
#   tests/multihost_test.sh SOURCE_DIR BUILD_DIR
# Exit 77 (ctest: skipped), with the reason, where namespaces cannot be
# made (not root, or no CAP_NET_ADMIN).
set -euo pipefail
src=$1 build=$2
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root for ip netns (running as $(id -un))"; exit 77; fi
if ! command -v ip >/dev/null; then echo "SKIP: ip (Debian package iproute2) is missing"; exit 77; fi

tag=c$$
net=10.77.$(( $$ % 200 + 20 ))
declare -A ns=([db]=$tag-db [w1]=$tag-w1 [w2]=$tag-w2 [ing]=$tag-ing)
declare -A addr=([db]=$net.1 [w1]=$net.2 [w2]=$net.3 [ing]=$net.4)
bridge=$tag-br
dir=$(mktemp -d)
chmod 755 "$dir"
pgbin=/usr/lib/postgresql/15/bin
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -f "$dir/pg/data/postmaster.pid" ]; then
    ip netns exec "${ns[db]}" runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  for n in "${ns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  ip link del "$bridge" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$dir"/logs/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }

# The network: a bridge (the operator's side has .254) and one namespace
# per host, each with a veth pair onto the bridge.
if ! ip link add "$bridge" type bridge 2>"$dir/err"; then
  echo "SKIP: cannot make network devices here: $(cat "$dir/err")"; exit 77
fi
ip addr add "$net.254/24" dev "$bridge"
ip link set "$bridge" up
for host in db w1 w2 ing; do
  n=${ns[$host]}
  ip netns add "$n"
  ip link add "$n-h" type veth peer name "$n-n"
  ip link set "$n-n" netns "$n"
  ip link set "$n-h" master "$bridge"
  ip link set "$n-h" up
  ip netns exec "$n" ip addr add "${addr[$host]}/24" dev "$n-n"
  ip netns exec "$n" ip link set "$n-n" up
  ip netns exec "$n" ip link set lo up
done
echo "network: $net.0/24; db+daemon ${addr[db]}, w1 ${addr[w1]}, w2 ${addr[w2]}, ingester ${addr[ing]}"

# The database host: PostgreSQL on its own address only.
mkdir -p "$dir/pg" "$dir/logs"
chown postgres: "$dir/pg"
runuser -u postgres -- "$pgbin/initdb" -D "$dir/pg/data" -U curator -A trust -E UTF8 --no-locale >/dev/null
echo "host all all $net.0/24 trust" >> "$dir/pg/data/pg_hba.conf"
ip netns exec "${ns[db]}" runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg/data" \
  -l "$dir/pg/postgres.log" -w -o "-k $dir/pg -c listen_addresses=${addr[db]}" start >/dev/null
db="host=${addr[db]} port=5432 user=curator dbname=postgres"
sql() { psql -qtAX "$db" -c "$1"; }

# The archive (one file system, as a site's shared one) and the TLS files,
# with every host's address in the certificate.
"$build/synth/curator-synth" --out "$dir/archive" --nights 2 --frames 3 --size 128 \
  --sources 50 >/dev/null
bash "$src/deploy/make-test-ca.sh" "$dir/tls" "${addr[db]}" "${addr[w1]}" "${addr[w2]}" \
  "${addr[ing]}" "$net.254" >/dev/null

# One config per host, as each has its own /etc/curator/curator.conf.
config() {  # host advertise
  cat > "$dir/$1.conf" <<EOF
archive_root: "$dir/archive"
database { conninfo: "$db" }
daemon {
  listen_address: "${addr[db]}:7400"
  monitor_address: "${addr[db]}:7480"
  poll_interval_ms: 200
  max_load_per_core: 1000
}
worker {
  listen_address: "0.0.0.0:7401"
  daemon_address: "${addr[db]}:7400"
  advertise_address: "$2"
  slots: 1
  threads_per_task: 1
  heartbeat_interval_ms: 200
}
ingester { poll_interval_ms: 200 listen_address: "${addr[ing]}:7402" metrics_address: "${addr[ing]}:7482" }
security {
  ca_file: "$dir/tls/ca.pem"
  cert_file: "$dir/tls/node.pem"
  key_file: "$dir/tls/node.key"
  token_file: "$dir/tls/token"
}
EOF
}
config db ""
config w1 "${addr[w1]}:7401"
config w2 "${addr[w2]}:7401"
config ing ""
# The operator's machine: the CA and the token, no certificate.
sed -e '/cert_file/d' -e '/key_file/d' "$dir/db.conf" > "$dir/operator.conf"

ip netns exec "${ns[db]}" "$build/daemon/curator-daemon" --config "$dir/db.conf" \
  > "$dir/logs/daemon.log" 2>&1 & pids+=($!)
for w in w1 w2; do
  ip netns exec "${ns[$w]}" "$build/worker/curator-worker" serve --config "$dir/$w.conf" \
    --worker_id "$w" > "$dir/logs/$w.log" 2>&1 & pids+=($!)
done
ip netns exec "${ns[ing]}" "$build/ingester/curator-ingester" --config "$dir/ing.conf" \
  > "$dir/logs/ingester.log" 2>&1 & pids+=($!)

ctl() { "$build/daemon/curatorctl" "$@" --config "$dir/operator.conf"; }
wait_for() {  # seconds condition...
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
registered() { [ "$(sql "SELECT count(*) FROM curation.task" 2>/dev/null || echo 0)" = 6 ] &&
               [ "$(sql "SELECT count(*) FROM curation.worker WHERE last_heartbeat > now() - interval '2 seconds'" 2>/dev/null || echo 0)" = 2 ]; }
wait_for 60 registered || fail "the daemon did not register 2 nights (6 tasks) and hear 2 workers"

# The operator approves from outside every namespace, over TLS.
ctl workers > "$dir/workers.txt" || fail "curatorctl workers: $(cat "$dir/workers.txt")"
grep -q "${addr[w1]}:7401" "$dir/workers.txt" && grep -q "${addr[w2]}:7401" "$dir/workers.txt" ||
  fail "the daemon does not know the workers by their own addresses: $(cat "$dir/workers.txt")"
ctl approve --all || fail "approve"
done_all() { [ "$(sql "SELECT count(*) FROM curation.task WHERE state = 'ingested'")" = 6 ] &&
             [ "$(sql "SELECT count(*) FROM curation.batch WHERE state = 'ingested'")" = 6 ]; }
wait_for 120 done_all || fail "not every task done and batch ingested: $(sql "SELECT state, count(*) FROM curation.task GROUP BY 1")"

detections=$(sql "SELECT count(*) FROM detection")
[ "$detections" = $((2 * 3 * 4 * 50)) ] || fail "$detections detections, expected $((2 * 3 * 4 * 50))"
workers_used=$(sql "SELECT string_agg(DISTINCT worker_id, ',') FROM curation.task")
[ "$workers_used" = "w1,w2" ] || fail "tasks ran on $workers_used, not on both workers"

# The Load Monitor and the ingester's metrics, on their hosts' addresses.
python3 - "${addr[db]}" "${addr[ing]}" <<'EOF' || fail "Load Monitor or metrics"
import json, sys, urllib.request
nights = json.load(urllib.request.urlopen(f"http://{sys.argv[1]}:7480/api/nights", timeout=10))
assert [n["night"] for n in nights["nights"]] == ["20071021", "20071022"], nights
metrics = urllib.request.urlopen(f"http://{sys.argv[2]}:7482/metrics", timeout=10).read().decode()
assert 'curator_ingester_batches_total{outcome="ingested"} 6\n' in metrics, metrics
EOF

# Nothing listens on localhost in any namespace: every link used the
# hosts' own addresses.
for host in db w1 w2 ing; do
  if ip netns exec "${ns[$host]}" ss -ltnH | grep -E '127\.0\.0\.1:|\[::1\]:'; then
    fail "a process in ${ns[$host]} listens on localhost"
  fi
done
echo "multihost: 2 nights, 6 tasks on w1 and w2, $detections detections ingested over TLS across 4 namespaces"
