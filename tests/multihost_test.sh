#!/usr/bin/env bash
# Curator across hosts (tests/multihost_lib.sh): PostgreSQL and
# curator-daemon, two curator-workers and curator-ingester each in their
# own network namespace, over TLS; a full run of two nights lands.
#   tests/multihost_test.sh SOURCE_DIR BUILD_DIR
# Exit 77 (ctest: skipped), with the reason, where namespaces cannot be
# made (not root, or no CAP_NET_ADMIN).
set -euo pipefail
src=$1 build=$2
. "$src/tests/multihost_lib.sh"
mh_require
mh_setup

# The archive (one file system, as a site's shared one).
"$build/synth/curator-synth" --out "$dir/archive" --nights 2 --frames 3 --size 128 \
  --sources 50 >/dev/null
mh_configs postgres "$dir/archive"
mh_daemon run
mh_worker w1 w1
mh_worker w2 w2
mh_ingester run
registered() { tasks_known 6 && workers_heard 2; }
wait_for 60 registered || fail "the daemon did not register 2 nights (6 tasks) and hear 2 workers"

# The operator approves from outside every namespace, over TLS.
ctl workers > "$dir/workers.txt" || fail "curatorctl workers: $(cat "$dir/workers.txt")"
grep -q "${addr[w1]}:7401" "$dir/workers.txt" && grep -q "${addr[w2]}:7401" "$dir/workers.txt" ||
  fail "the daemon does not know the workers by their own addresses: $(cat "$dir/workers.txt")"
ctl approve --all || fail "approve"
wait_for 120 all_ingested 6 || fail "not every task done and batch ingested: $(task_states)"

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
