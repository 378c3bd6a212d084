#!/usr/bin/env bash
# A worker cut off from the network (tests/multihost_lib.sh): a firewall in
# w1's namespace drops everything in and out while w1 holds a task.
#  - A cut shorter than the heartbeat timeout (1 s against 3 s) takes
#    nothing over: the task stays w1's and finishes there.
#  - A cut longer than the timeout: the daemon takes the task back, w2
#    runs it and it lands; healed, w1 is told to stop its stale attempt,
#    and its late report changes nothing.
# The archive then equals a clean run's of the same nights.
#   tests/multihost_worker_partition_test.sh SOURCE_DIR BUILD_DIR
# Exit 77 (ctest: skipped), with the reason, without root, CAP_NET_ADMIN
# or nft.
set -euo pipefail
src=$1 build=$2
. "$src/tests/multihost_lib.sh"
mh_require nft
mh_setup
timeout_ms=3000

"$build/synth/curator-synth" --out "$dir/archive" --nights 2 --frames 2 --size 128 \
  --sources 40 >/dev/null
mkdir -p "$dir/clean"
cp -r "$dir/archive/incoming" "$dir/clean/"
mh_clean_run clean "$dir/clean" 6

# The partitioned run. w1 is the test build of the worker: it writes the
# attempt id of each task it gets to $held and holds the task until the
# daemon cancels it or the test removes the file.
daemon_extra="heartbeat_timeout_ms: $timeout_ms retry_backoff_ms: 500"
sql "CREATE DATABASE partitioned" >/dev/null
mh_configs partitioned "$dir/archive"
held=$dir/w1-held
mh_daemon cut
mh_ingester cut
mh_worker w1 w1 "$build/tests/curator-worker-hooked" --pause_before_task "$held"
wait_for 60 tasks_known 6 || fail "the daemon did not register 2 nights (6 tasks)"
wait_for 60 workers_heard 1 || fail "the daemon did not hear w1"

held_is() { [ "$(cat "$held" 2>/dev/null)" = "$1" ]; }
task_of() {  # cu night
  sql "SELECT task_id FROM curation.task WHERE cu = $1 AND night = '$2'"
}
lost_attempts() { sql "SELECT count(*) FROM curation.task_attempt WHERE outcome = 'lost'"; }

# --- A cut shorter than the heartbeat timeout.
short=$(task_of 3 2007-10-21)
ctl approve "$short" >/dev/null || fail "approve $short"
wait_for 30 held_is "task-$short-1" || fail "w1 did not get task $short: $(task_states)"
mh_cut w1
cut_at=$(now)
sleep 1  # the cut, held for a fixed time
mh_heal w1
# Heard again, and a whole heartbeat timeout since the cut began (with a
# second to spare): a takeover would have happened by now.
wait_for 30 heard_within w1 1 || fail "w1 not heard after a 1 s cut: $(ctl workers)"
wait_for 30 past "$(python3 -c "print($cut_at + $timeout_ms / 1000 + 1)")"
[ "$(lost_attempts)" = 0 ] || fail "a 1 s cut, shorter than the $timeout_ms ms heartbeat timeout, took a task over: $(sql "SELECT task_id, worker_id, outcome, error FROM curation.task_attempt")"
[ "$(sql "SELECT state || ' ' || worker_id FROM curation.task WHERE task_id = $short")" = "running w1" ] ||
  fail "task $short is not running on w1 after a short cut: $(task_states)"
rm "$held"  # the task goes on, and finishes on w1
ingested_on() {  # task worker
  [ "$(sql "SELECT state || ' ' || worker_id FROM curation.task WHERE task_id = $1")" = "ingested $2" ]
}
wait_for 60 ingested_on "$short" w1 || fail "task $short not ingested on w1: $(task_states)"
[ "$(sql "SELECT string_agg(worker_id || ' ' || outcome, ',') FROM curation.task_attempt WHERE task_id = $short")" = "w1 done" ] ||
  fail "task $short after a short cut: attempts $(sql "SELECT string_agg(worker_id || ' ' || outcome, ',') FROM curation.task_attempt WHERE task_id = $short")"
if grep -q "does not expect task task-$short-" "$dir/logs/w1.log"; then
  fail "w1 was told to stop task $short after a short cut"
fi
echo "short cut: 1 s on w1, no takeover, task $short finished on w1"

# --- A cut longer than the heartbeat timeout.
long=$(task_of 3 2007-10-22)
ctl approve "$long" >/dev/null || fail "approve $long"
wait_for 30 held_is "task-$long-1" || fail "w1 did not get task $long: $(task_states)"
mh_worker w2 w2
wait_for 30 heard_within w2 1 || fail "the daemon did not hear w2"
mh_cut w1
cut_at=$(now)
# Held until the daemon took the task back and w2 landed it.
first_lost() {
  [ "$(sql "SELECT outcome || ' ' || error FROM curation.task_attempt WHERE task_id = $long AND worker_id = 'w1'")" = "lost worker w1 lost (no heartbeat)" ]
}
wait_for 30 first_lost || fail "task $long not taken back from the cut w1: $(sql "SELECT task_id, worker_id, outcome, error FROM curation.task_attempt")"
lost_after=$(python3 -c "print(round($(now) - $cut_at, 1))")
# Not before the timeout (less the 200 ms between heartbeats: the last one
# may have come just before the cut).
python3 -c "import sys; sys.exit(0 if $lost_after >= $timeout_ms / 1000 - 0.2 else 1)" ||
  fail "task $long taken back $lost_after s into the cut, before the $timeout_ms ms heartbeat timeout"
wait_for 60 ingested_on "$long" w2 || fail "task $long not ingested on w2: $(task_states)"
mh_heal w1
healed_at=$(now)
# Healed: w1 still holds its stale attempt and is told to stop it ...
wait_for 30 grep -q "the daemon does not expect task task-$long-1 here; stopping it" "$dir/logs/w1.log" ||
  fail "w1 was not told to stop task-$long-1 after the cut"
told_after=$(python3 -c "print(round($(now) - $healed_at, 1))")
# ... reports it cancelled, and forgets it once the daemon acknowledges.
w1_forgot() {
  [ "$(metric "${addr[w1]}" 'curator_worker_tasks_total{outcome="cancelled"}' 2>/dev/null)" = 1 ] &&
    [ "$(metric "${addr[w1]}" 'curator_worker_tasks{state="cancelled"}' 2>/dev/null)" = 0 ] &&
    [ "$(metric "${addr[w1]}" 'curator_worker_tasks{state="running"}' 2>/dev/null)" = 0 ]
}
wait_for 30 w1_forgot || fail "w1 did not report task-$long-1 cancelled and forget it: cancelled total $(metric "${addr[w1]}" 'curator_worker_tasks_total{outcome="cancelled"}' 2>&1), held cancelled $(metric "${addr[w1]}" 'curator_worker_tasks{state="cancelled"}' 2>&1)"
# The late report changed nothing: the attempt is still lost, its event
# still failed, the task still w2's and ingested.
first_lost || fail "the late report of task-$long-1 changed its attempt: $(sql "SELECT worker_id, outcome, error FROM curation.task_attempt WHERE task_id = $long")"
[ "$(sql "SELECT e.status FROM curation.task_attempt a JOIN curation.cu_event e USING (cu_event_id) WHERE a.task_id = $long AND a.worker_id = 'w1'")" = failed ] ||
  fail "the lost attempt's event: $(sql "SELECT e.cu_event_id, e.status, e.message FROM curation.task_attempt a JOIN curation.cu_event e USING (cu_event_id) WHERE a.task_id = $long")"
ingested_on "$long" w2 || fail "task $long after w1's late report: $(task_states)"
[ "$(sql "SELECT string_agg(worker_id || ' ' || outcome, ',' ORDER BY attempt_id) FROM curation.task_attempt WHERE task_id = $long")" = "w1 lost,w2 done" ] ||
  fail "task $long attempts: $(sql "SELECT string_agg(worker_id || ' ' || outcome, ',' ORDER BY attempt_id) FROM curation.task_attempt WHERE task_id = $long")"
echo "long cut: task $long lost after ${lost_after} s of cut, landed on w2; healed w1 told to stop it after ${told_after} s"

# The rest of the nights, with w1 as a production worker again.
# (Once it serves: a dispatch to it while it restarts would be given back,
# as an attempt 'lost' that does not count, which is not what this test
# is about.)
mh_stop w1
mh_worker w1 w1-after
w1_serves() { [ -n "$(metric "${addr[w1]}" 'curator_worker_tasks{state="running"}' 2>/dev/null)" ]; }
wait_for 30 w1_serves || fail "w1 did not start again"
ctl approve --all >/dev/null || fail "approve --all"
wait_for 120 all_ingested 6 || fail "not every task ingested after the cuts: $(task_states)"
# One takeover in all: the long cut's.
[ "$(sql "SELECT count(*) FROM curation.task_attempt WHERE outcome = 'lost' AND error LIKE '%no heartbeat%'")" = 1 ] ||
  fail "tasks taken over: $(sql "SELECT task_id, worker_id, error FROM curation.task_attempt WHERE outcome = 'lost'")"
[ "$(sql "SELECT count(*) FROM curation.task_attempt WHERE finished_at IS NULL")" = 0 ] ||
  fail "attempts left open: $(sql "SELECT task_id, worker_id FROM curation.task_attempt WHERE finished_at IS NULL")"
mh_same_archive partitioned clean
echo "worker partition: archive equal to a clean run's ($(grep detection "$dir/digests.partitioned" | cut -d' ' -f3) detections)"
