#!/usr/bin/env bash
# A worker's link cut for two thirds of the heartbeat timeout (2 s against
# 3 s) while it holds a task (tests/multihost_lib.sh): the cut is shorter
# than the timeout, so nothing may be taken over, and the task, released,
# finishes on that worker. (multihost_worker_partition cuts for a third of
# the timeout, and for longer than it.)
#   tests/multihost_worker_cut_near_timeout_test.sh SOURCE_DIR BUILD_DIR
# Exit 77 (ctest: skipped), with the reason, without root, CAP_NET_ADMIN
# or nft.
set -euo pipefail
src=$1 build=$2
. "$src/tests/multihost_lib.sh"
mh_require nft
mh_setup
timeout_ms=3000 cut_s=2

"$build/synth/curator-synth" --out "$dir/archive" --nights 1 --frames 2 --size 64 \
  --sources 10 >/dev/null
daemon_extra="heartbeat_timeout_ms: $timeout_ms retry_backoff_ms: 500"
mh_configs postgres "$dir/archive"
held=$dir/w1-held
mh_daemon cut
mh_worker w1 w1 "$build/tests/curator-worker-hooked" --pause_before_task "$held"
wait_for 60 tasks_known 3 || fail "the daemon did not register the night (3 tasks)"
wait_for 60 workers_heard 1 || fail "the daemon did not hear w1"
task=$(sql "SELECT task_id FROM curation.task WHERE cu = 3")
ctl approve "$task" >/dev/null || fail "approve $task"
held_is() { [ "$(cat "$held" 2>/dev/null)" = "$1" ]; }
wait_for 30 held_is "task-$task-1" || fail "w1 did not get task $task: $(task_states)"

mh_cut w1
cut_at=$(now)
sleep "$cut_s"  # the cut, held for a fixed time
# How w1's link to the daemon stands just before the heal (TCP's
# retransmission backoff on it), for the report if this fails.
ip netns exec "${ns[w1]}" ss -tin dst "${addr[db]}:7400" > "$dir/ss.w1" 2>&1 || true
mh_heal w1
healed_at=$(now)
wait_for 30 heard_within w1 1 || fail "w1 not heard after a ${cut_s} s cut: $(ctl workers)"
heard_after=$(python3 -c "print(round($(now) - $healed_at, 1))")
# A whole heartbeat timeout since the cut began, and a second more: a
# takeover would have happened by now.
wait_for 30 past "$(python3 -c "print($cut_at + $timeout_ms / 1000 + 1)")"
attempts() { sql "SELECT string_agg(worker_id || ' ' || coalesce(outcome, 'open') || coalesce(' (' || error || ')', ''), ', ' ORDER BY attempt_id) FROM curation.task_attempt WHERE task_id = $task"; }
[ "$(attempts)" = "w1 open" ] ||
  fail "a ${cut_s} s cut, shorter than the $timeout_ms ms heartbeat timeout, took task $task over: attempts $(attempts); w1 heard again $heard_after s after the heal; w1's link to the daemon just before the heal:
$(cat "$dir/ss.w1")"
rm "$held"  # the task goes on, and finishes on w1
done_on_w1() { [ "$(sql "SELECT state || ' ' || worker_id FROM curation.task WHERE task_id = $task")" = "done w1" ]; }
wait_for 60 done_on_w1 || fail "task $task not done on w1: $(task_states)"
[ "$(attempts)" = "w1 done" ] || fail "task $task: attempts $(attempts)"
echo "near-timeout cut: ${cut_s} s on w1 (timeout $timeout_ms ms), heard again $heard_after s after the heal, no takeover"
