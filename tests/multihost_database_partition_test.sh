#!/usr/bin/env bash
# The ingester cut off from PostgreSQL mid-COPY (tests/multihost_lib.sh):
# a firewall in the ingester's namespace drops everything to and from the
# database host while the ingester streams a CU4 batch's detections, for
# longer than the keepalive limits of both sides (about 15 s), then heals.
# The server ends the orphaned session on its own and its advisory lock
# goes; the ingester notices, reconnects and loads the batch once; no batch
# is left held or stuck, and the archive equals a clean run's.
#   tests/multihost_database_partition_test.sh SOURCE_DIR BUILD_DIR
# Exit 77 (ctest: skipped), with the reason, without root, CAP_NET_ADMIN
# or nft.
set -euo pipefail
src=$1 build=$2
. "$src/tests/multihost_lib.sh"
mh_require nft
mh_setup
if ! command -v tc >/dev/null; then echo "SKIP: tc (Debian package iproute2) is missing"; exit 77; fi

# One night whose CU4 batch is large: 4 frames x 4 detectors x 10,000
# detections.
frames=4 sources=10000
detections=$((frames * 4 * sources))
"$build/synth/curator-synth" --out "$dir/archive" --nights 1 --frames $frames --size 64 \
  --sources $sources >/dev/null
mkdir -p "$dir/clean"
cp -r "$dir/archive/incoming" "$dir/clean/"
mh_clean_run clean "$dir/clean" 3

# The partitioned run: every batch made first, then the ingester.
sql "CREATE DATABASE partitioned" >/dev/null
mh_configs partitioned "$dir/archive"
mh_daemon cut
mh_worker w1 w1
mh_worker w2 w2
wait_for 60 tasks_known 3 || fail "the daemon did not register the night (3 tasks)"
wait_for 60 workers_heard 2 || fail "the daemon did not hear 2 workers"
ctl approve --all >/dev/null || fail "approve"
all_done() { [ "$(sql_or "SELECT count(*) FROM curation.task WHERE state = 'done'" 0)" = 3 ]; }
wait_for 120 all_done || fail "the night's batches were not all made: $(task_states)"
cu4_batch=$(basename "$(ls -d "$dir"/archive/staging/*/*-cu4-*)")

# The ingester's link to the database host is slowed to 4 Mbit/s, so that
# the COPY of the detections lasts seconds on any machine and the cut
# lands in it.
link=${ns[ing]}-n
ip netns exec "${ns[ing]}" tc qdisc add dev "$link" root tbf rate 4mbit burst 16kb latency 500ms
mh_ingester cut
in_copy() {
  copy_pid=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'curator-ingester%' AND state = 'active' AND query LIKE 'COPY %detection%'")
  [ -n "$copy_pid" ]
}
wait_for 60 in_copy || fail "the ingester never streamed $cu4_batch's detections: $(sql "SELECT pid, application_name, state, left(query, 60) FROM pg_stat_activity WHERE datname = 'partitioned'")"
# The operator sees who holds the batch, since when.
ctl batches > "$dir/batches.loading" || fail "curatorctl batches: $(cat "$dir/batches.loading")"
grep -E "^$cu4_batch +[0-9]{8} +CU4 +loading .*held by curator-ingester@[^ ]+ from ${addr[ing]} since " "$dir/batches.loading" >/dev/null ||
  fail "curatorctl batches does not show $cu4_batch loading, held by the ingester: $(cat "$dir/batches.loading")"

mh_cut ing "${addr[db]}"
cut_at=$(date +%s)
# The server, past what was on its way, waits for the rest of the COPY.
copy_waits() {
  [ "$(sql "SELECT state || ' ' || coalesce(wait_event, '-') FROM pg_stat_activity WHERE pid = $copy_pid AND query LIKE 'COPY %'")" = "active ClientRead" ]
}
wait_for 10 copy_waits ||
  fail "the cut did not land in the COPY: $(sql "SELECT state, wait_event, left(query, 60) FROM pg_stat_activity WHERE pid = $copy_pid")"
# Held until both sides gave up on the connection (about 15 s each way,
# within 60): the server ended the session, whose lock went with it, and
# the ingester said it lost the connection.
session_ended() { [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE pid = $copy_pid")" = 0 ]; }
wait_for 60 session_ended || fail "the server still holds the orphaned session $copy_pid $(( $(date +%s) - cut_at )) s into the cut: $(sql "SELECT state, wait_event, backend_start FROM pg_stat_activity WHERE pid = $copy_pid")"
server_after=$(( $(date +%s) - cut_at ))
[ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" = 0 ] ||
  fail "advisory locks still held with no ingester connected: $(sql "SELECT pid, classid, objid FROM pg_locks WHERE locktype = 'advisory'")"
grep -q "\[$copy_pid\] .*could not receive data from client: Connection timed out" "$dir/pg/postgres.log" ||
  fail "PostgreSQL's log does not say why session $copy_pid ended"
ctl batches > "$dir/batches.cut" || fail "curatorctl batches during the cut"
if grep "^$cu4_batch " "$dir/batches.cut" | grep -q "held by"; then
  fail "$cu4_batch still shown held after its session ended: $(cat "$dir/batches.cut")"
fi
# (An error line of the ingester's log, "E<date> <time> ... UNAVAILABLE:
# <libpq's message>", e.g. "COPY: server closed the connection
# unexpectedly".)
lost_pattern='^E[0-9].* UNAVAILABLE: '
ingester_lost() { grep -q "$lost_pattern" "$dir/logs/cut-ingester.log"; }
wait_for 60 ingester_lost || fail "the ingester did not log its lost connection"
client_after=$(( $(date +%s) - cut_at ))
mh_heal ing
ip netns exec "${ns[ing]}" tc qdisc del dev "$link" root

# Healed: the ingester reconnects and loads the batch, once.
wait_for 120 all_ingested 3 || fail "not every batch ingested after the cut: $(task_states); $(ctl batches)"
left=$(find "$dir/archive/staging" -name manifest.json 2>/dev/null)
[ -z "$left" ] || fail "batches left in staging after the load: $left"
[ "$(sql "SELECT count(*) || ' ' || count(DISTINCT obj_id) FROM detection")" = "$detections $detections" ] ||
  fail "detections after the cut: $(sql "SELECT count(*) || ' rows, ' || count(DISTINCT obj_id) || ' ids' FROM detection")"
[ "$(sql "SELECT count(*) FROM curation.batch WHERE batch_id = '$cu4_batch' AND state = 'ingested'")" = 1 ] ||
  fail "$cu4_batch: $(sql "SELECT state, report FROM curation.batch WHERE batch_id = '$cu4_batch'")"
[ "$(sql "SELECT count(*) FROM curation.cu_event WHERE cu = 4 AND kind = 'ingest'")" = 1 ] ||
  fail "CU4 ingest events: $(sql "SELECT cu_event_id, status, message FROM curation.cu_event WHERE cu = 4 AND kind = 'ingest'")"
[ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" = 0 ] || fail "advisory locks left after the load"
ctl batches > "$dir/batches.after" || fail "curatorctl batches after the load"
grep -Eq "^$cu4_batch +[0-9]{8} +CU4 +ingested " "$dir/batches.after" && ! grep -q "held by" "$dir/batches.after" ||
  fail "curatorctl batches after the load: $(cat "$dir/batches.after")"
# The ingester said what happened: the lost connection, then the batch
# loaded on the new one; it never found the batch held by its old session.
log=$dir/logs/cut-ingester.log
lost_line=$(grep -n "$lost_pattern" "$log" | head -1 | cut -d: -f1)
loaded_line=$(grep -n "ingested $cu4_batch: $detections rows" "$log" | head -1 | cut -d: -f1)
[ -n "$loaded_line" ] && [ "$loaded_line" -gt "$lost_line" ] ||
  fail "the ingester's log does not show the batch loaded after the lost connection: $(cat "$log")"
python3 - "${addr[ing]}" <<'EOF' || fail "the ingester's metrics after the cut"
import sys, urllib.request
m = urllib.request.urlopen(f"http://{sys.argv[1]}:7482/metrics", timeout=10).read().decode()
for want in ('curator_ingester_batches_total{outcome="ingested"} 3\n',
             'curator_ingester_batches_total{outcome="busy"} 0\n',
             'curator_database_up 1\n'):
    assert want in m, (want, m)
errors = [l for l in m.splitlines() if l.startswith("curator_ingester_errors_total ")]
assert errors and float(errors[0].split()[1]) >= 1, errors
EOF
mh_same_archive partitioned clean
echo "ingester: $(grep "$lost_pattern" "$log" | head -1 | sed 's/^.*UNAVAILABLE: //')"
echo "database partition: cut mid-COPY of $cu4_batch; server ended the session after ${server_after} s, ingester noticed after ${client_after} s; loaded once after the heal, archive equal to a clean run's"
