# Shared by the multi-host tests (tests/multihost_*_test.sh), sourced, not
# run: PostgreSQL and curator-daemon, two curator-workers and
# curator-ingester each in their own network namespace, joined by veth
# pairs on a bridge, talking over their own addresses with TLS. The
# operator (the test script, outside every namespace) reaches them through
# the bridge. Nothing may depend on localhost: no process listens there.
#
# A test script sets `src` and `build`, sources this file, calls
# mh_require (exits 77, ctest's "skipped", with the reason where
# namespaces cannot be made) and mh_setup, then starts processes with
# mh_start. Every namespace, process and temporary file goes on exit,
# whether the test passed or failed (MH_KEEP=1 keeps the directory).

pgbin=/usr/lib/postgresql/15/bin
pids=()
declare -A proc=()
dir=""

mh_require() {  # [nft]
  if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root for ip netns (running as $(id -un))"; exit 77; fi
  if ! command -v ip >/dev/null; then echo "SKIP: ip (Debian package iproute2) is missing"; exit 77; fi
  if [ "${1:-}" = nft ] && ! command -v nft >/dev/null; then
    echo "SKIP: nft (Debian package nftables, see deploy/install-deps.sh) is missing"; exit 77
  fi
  return 0
}

mh_cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$dir" ] && [ -f "$dir/pg/data/postmaster.pid" ]; then
    ip netns exec "${ns[db]}" runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  for n in "${ns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  ip link del "$bridge" 2>/dev/null || true
  if [ -n "$dir" ]; then
    if [ "${MH_KEEP:-0}" = 1 ]; then echo "kept $dir" >&2; else rm -rf "$dir"; fi
  fi
}

fail() {
  echo "FAIL: $*" >&2
  for f in "$dir"/logs/*.log "$dir/pg/postgres.log"; do
    [ -f "$f" ] || continue
    echo "--- $f" >&2
    tail -25 "$f" >&2
  done
  exit 1
}

# Waits, polling every 0.2 s, until the command succeeds or `seconds` pass.
wait_for() {  # seconds command...
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# The network: a bridge (the operator's side has .254) and one namespace
# per host, each with a veth pair onto the bridge. The /24 is one no
# other interface on this machine has (another test may be running).
mh_network() {
  tag=c$$
  local x
  for x in $(seq $(( $$ % 200 + 20 )) 254) $(seq 20 254); do
    if ! ip -4 -o addr show | grep -q " 10\.77\.$x\."; then break; fi
  done
  net=10.77.$x
  declare -gA ns=([db]=$tag-db [w1]=$tag-w1 [w2]=$tag-w2 [ing]=$tag-ing)
  declare -gA addr=([db]=$net.1 [w1]=$net.2 [w2]=$net.3 [ing]=$net.4)
  bridge=$tag-br
  if ! ip link add "$bridge" type bridge 2>"$dir/err"; then
    echo "SKIP: cannot make network devices here: $(cat "$dir/err")"; exit 77
  fi
  ip addr add "$net.254/24" dev "$bridge"
  ip link set "$bridge" up
  local host n
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
}

# The database host: PostgreSQL on its own address only. Its side of each
# connection has TCP keepalives (idle 5 s, every 2 s, 3 probes) and a
# user timeout (15 s), as Curator's clients have on theirs (db/pg.cc): a
# session whose client vanished behind a cut ends on the server within
# seconds, not the kernel's 2 h 11 min, and its advisory locks go with it.
# Connections are logged, so the log says when and why one ended.
mh_postgres() {
  mkdir -p "$dir/pg"
  chown postgres: "$dir/pg"
  runuser -u postgres -- "$pgbin/initdb" -D "$dir/pg/data" -U curator -A trust -E UTF8 --no-locale >/dev/null
  echo "host all all $net.0/24 trust" >> "$dir/pg/data/pg_hba.conf"
  cat >> "$dir/pg/data/postgresql.conf" <<EOF
listen_addresses = '${addr[db]}'
unix_socket_directories = '$dir/pg'
tcp_keepalives_idle = 5
tcp_keepalives_interval = 2
tcp_keepalives_count = 3
tcp_user_timeout = 15000
log_connections = on
log_disconnections = on
log_line_prefix = '%m [%p] %a '
EOF
  ip netns exec "${ns[db]}" runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg/data" \
    -l "$dir/pg/postgres.log" -w start >/dev/null
  pgconn="host=${addr[db]} port=5432 user=curator"
}
sql() { psql -qtAX "$pgconn dbname=${2:-$dbname}" -c "$1"; }
# The same query, 0 (or what it prints) while the database cannot answer.
sql_or() { sql "$1" "${3:-$dbname}" 2>/dev/null || echo "$2"; }

# Makes the temporary directory, the network, PostgreSQL and the TLS files
# (every host's address in the certificate), and arms the cleanup.
mh_setup() {
  dir=$(mktemp -d)
  chmod 755 "$dir"
  mkdir -p "$dir/logs"
  trap mh_cleanup EXIT
  trap 'exit 130' INT TERM
  mh_network
  mh_postgres
  bash "$src/deploy/make-test-ca.sh" "$dir/tls" "${addr[db]}" "${addr[w1]}" "${addr[w2]}" \
    "${addr[ing]}" "$net.254" >/dev/null
  dbname=postgres
}

# One config per host, as each has its own /etc/curator/curator.conf, for
# a database and an archive root. `daemon_extra` and `worker_extra` (if
# set) are added to the daemon's and the workers' sections.
mh_configs() {  # dbname archive_root
  dbname=$1 archive=$2
  local host advertise metrics
  for host in db w1 w2 ing; do
    advertise="" metrics=""
    case $host in w1|w2) advertise="${addr[$host]}:7401" metrics="${addr[$host]}:7481" ;; esac
    cat > "$dir/$host.conf" <<EOF
archive_root: "$archive"
database { conninfo: "$pgconn dbname=$dbname" }
daemon {
  listen_address: "${addr[db]}:7400"
  monitor_address: "${addr[db]}:7480"
  poll_interval_ms: 200
  max_load_per_core: 1000
  ${daemon_extra:-}
}
worker {
  listen_address: "0.0.0.0:7401"
  daemon_address: "${addr[db]}:7400"
  advertise_address: "$advertise"
  metrics_address: "$metrics"
  slots: 1
  threads_per_task: 1
  heartbeat_interval_ms: 200
  ${worker_extra:-}
}
ingester { poll_interval_ms: 200 listen_address: "${addr[ing]}:7402" metrics_address: "${addr[ing]}:7482" }
security {
  ca_file: "$dir/tls/ca.pem"
  cert_file: "$dir/tls/node.pem"
  key_file: "$dir/tls/node.key"
  token_file: "$dir/tls/token"
}
EOF
  done
  # The operator's machine: the CA and the token, no certificate.
  sed -e '/cert_file/d' -e '/key_file/d' "$dir/db.conf" > "$dir/operator.conf"
}

# Starts a process in a host's namespace, known afterwards by `name`; its
# output goes to logs/<log>.log.
mh_start() {  # name host log command...
  local name=$1 host=$2 log=$3; shift 3
  ip netns exec "${ns[$host]}" "$@" > "$dir/logs/$log.log" 2>&1 &
  proc[$name]=$!
  pids+=($!)
}
mh_daemon() { mh_start daemon db "$1-daemon" "$build/daemon/curator-daemon" --config "$dir/db.conf"; }
mh_worker() {  # w1|w2 log [binary [flags...]]
  local w=$1 log=$2 bin=$build/worker/curator-worker
  shift 2
  if [ $# -gt 0 ]; then bin=$1; shift; fi
  mh_start "$w" "$w" "$log" "$bin" serve --config "$dir/$w.conf" --worker_id "$w" "$@"
}
mh_ingester() { mh_start ing ing "$1-ingester" "$build/ingester/curator-ingester" --config "$dir/ing.conf"; }
# Stops a process started by mh_start (SIGTERM: a graceful shutdown).
mh_stop() {  # name
  local pid=${proc[$1]:-}
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "proc[$1]"
}
ctl() { "$build/daemon/curatorctl" "$@" --config "$dir/operator.conf"; }

workers_heard() {  # count
  [ "$(sql_or "SELECT count(*) FROM curation.worker WHERE last_heartbeat > now() - interval '2 seconds'" 0)" = "$1" ]
}
tasks_known() {  # count
  [ "$(sql_or "SELECT count(*) FROM curation.task" 0)" = "$1" ]
}
all_ingested() {  # tasks
  [ "$(sql_or "SELECT count(*) FROM curation.task WHERE state = 'ingested'" 0)" = "$1" ] &&
    [ "$(sql_or "SELECT count(*) FROM curation.batch WHERE state = 'ingested'" 0)" = "$1" ]
}
task_states() { sql_or "SELECT string_agg(task_id || ' ' || state || ' ' || coalesce(worker_id, '-'), ', ' ORDER BY task_id) FROM curation.task" "?"; }

# What the daemon says of a worker's last heartbeat, in seconds.
beat_age() {  # worker
  ctl workers --json 2>/dev/null | python3 -c '
import json, sys
for w in json.load(sys.stdin).get("workers", []):
    if w.get("worker_id", w.get("workerId")) == sys.argv[1]:
        print(w.get("seconds_since_heartbeat", w.get("secondsSinceHeartbeat", 0)))
' "$1"
}
heard_within() {  # worker seconds
  local age
  age=$(beat_age "$1")
  [ -n "$age" ] && python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$age" "$2"
}
# A value of a worker's /metrics (host:7481), e.g. 'curator_worker_tasks{state="running"}'.
metric() {  # address name
  python3 - "$1" "$2" <<'EOF'
import sys, urllib.request
text = urllib.request.urlopen(f"http://{sys.argv[1]}:7481/metrics", timeout=5).read().decode()
for line in text.splitlines():
    if line.startswith(sys.argv[2] + " "):
        print(line.split()[-1])
EOF
}
now() { date +%s.%N; }
past() { python3 -c "import sys, time; sys.exit(0 if time.time() > float(sys.argv[1]) else 1)" "$1"; }

# A clean run: every process up, every task approved, the whole archive
# loaded, every process stopped.
mh_clean_run() {  # dbname archive tasks
  sql "CREATE DATABASE $1" >/dev/null
  mh_configs "$1" "$2"
  mh_daemon clean
  mh_worker w1 clean-w1
  mh_worker w2 clean-w2
  mh_ingester clean
  wait_for 60 tasks_known "$3" || fail "clean run: the daemon did not register $3 tasks"
  wait_for 60 workers_heard 2 || fail "clean run: the daemon did not hear 2 workers"
  ctl approve --all >/dev/null || fail "clean run: approve"
  wait_for 180 all_ingested "$3" || fail "clean run: not every task ingested: $(task_states)"
  mh_stop ing; mh_stop w1; mh_stop w2; mh_stop daemon
}

# Every archive table's rows, keyed by file name rather than by ids (which
# depend on the order nights were registered and ingested), one digest a
# line; detection also with its count of rows and of distinct obj_id.
# (As ArchiveDigests in tests/control_plane_test.cc.)
mh_digests() {  # dbname
  psql -qtAX "$pgconn dbname=$1" <<'EOF'
SELECT 'multiframe ' || md5(string_agg(row(file_name, cat_name, night, frame_type, telescope,
  instrument, project, survey, object, obs_type, filter_name, ut_date, date_obs, mjd_obs, exp_time,
  ra_base, dec_base, run_id, obs_num, num_detectors)::text, '|' ORDER BY file_name)) FROM multiframe;
SELECT 'multiframe_detector ' || md5(string_agg(row(m.file_name, d.ext_num, d.cam_num, d.crval1,
  d.crval2, d.cd1_1, d.seeing, d.sky_level, d.mag_zpt, d.axis1_length, d.comp_file)::text, '|'
  ORDER BY m.file_name, d.ext_num)) FROM multiframe_detector d JOIN multiframe m USING (multiframe_id);
SELECT 'multiframe_header_card ' || md5(string_agg(row(m.file_name, h.hdu, h.card_num, h.keyword,
  h.value, h.comment)::text, '|' ORDER BY m.file_name, h.hdu, h.card_num))
  FROM multiframe_header_card h JOIN multiframe m USING (multiframe_id);
SELECT 'detection ' || md5(string_agg(row(m.file_name, d.ext_num, d.seq_num, d.ra, d.dec, d.x, d.y,
  d.aper_flux_3, d.aper_mag_3, d.class)::text, '|' ORDER BY m.file_name, d.ext_num, d.seq_num))
  || ' ' || count(*) || ' ' || count(DISTINCT d.obj_id)
  FROM detection d JOIN multiframe m USING (multiframe_id);
EOF
}
# The archive of `dbname` against the clean run's, table by table.
mh_same_archive() {  # dbname clean_dbname
  mh_digests "$1" > "$dir/digests.$1" || fail "digests of $1"
  mh_digests "$2" > "$dir/digests.$2" || fail "digests of $2"
  if ! diff "$dir/digests.$2" "$dir/digests.$1" > "$dir/digests.diff"; then
    fail "the archive differs from a clean run's (< clean, > this run):
$(cat "$dir/digests.diff")"
  fi
}

# A network cut: a firewall in the host's namespace drops every packet in
# and out (or only those to and from `peer`); loopback is untouched.
# Nothing is refused or reset: the other side hears nothing, as when a
# cable or a switch goes.
mh_cut() {  # host [peer_address]
  local match=""
  [ -z "${2:-}" ] || match="ip saddr $2"
  local out_match=""
  [ -z "${2:-}" ] || out_match="ip daddr $2"
  ip netns exec "${ns[$1]}" nft -f - <<EOF
table inet curator_cut {
  chain input { type filter hook input priority 0; policy accept; iif "lo" accept; $match drop; }
  chain output { type filter hook output priority 0; policy accept; oif "lo" accept; $out_match drop; }
}
EOF
}
mh_heal() {  # host
  ip netns exec "${ns[$1]}" nft delete table inet curator_cut
}
