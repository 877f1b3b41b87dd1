#!/usr/bin/env bash
# bench/pinned-costs.sh BUILD_DIR [STEPS] [JOBS_PER_STEP]: what the
# worker's periodic scans cost while a snapshot is pinned, against how
# many jobs went through the queue since the pin.  On a private cluster
# (shared_buffers 512MB) a database migrated with this tree's sql/; a
# REPEATABLE READ transaction takes its snapshot; then, STEPS times (4),
# JOBS_PER_STEP (30,000) no-op jobs are inserted, claimed and completed
# (1,000 per statement, the two updates the worker makes), and each scan
# is timed (EXPLAIN ANALYZE's execution time, the last of three) over 10
# fresh pending jobs:
#   claim_start  the claim's candidate scan from the head of
#                jobs_claim_idx (a rewind: poll tick, notice without a
#                key)
#   claim_point  the same from the last claimed key (worker/loop.c
#                loop_advance)
#   maintain     the maintenance pass's selection of expired or overdue
#                processing jobs (each poll tick)
#   heartbeat    the heartbeat's lookup of the worker's jobs by id
#   oldest       health's rule on the oldest due pending job: is one
#                older than 30 minutes (a range of jobs_due_idx)
#   oldest_any   the first entry of the whole of jobs_due_idx (what
#                health read before: min(run_at))
#   processing   health's count of processing jobs and of those with an
#                expired lease (jobs_processing_idx)
#   backlog      count of the pending due jobs (bench/queue.sh's sampler)
#   counter      one upsert of a live-count row (018's job_live, the
#                session's shard) as every counted statement makes it;
#                the row is updated 300 times per 1,000 jobs, about as
#                often as the producer's and the completer's rows are at
#                1,000 jobs/s
# Finally the pin is released, jobs vacuumed and everything timed again.
# Prints one line per step.  A claim in the worker is one statement on
# the main thread's session: while one scan runs, no notice is acted on.
# Run as root on a quiet machine; every process it starts is stopped.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/stack.sh
. "$ROOT/tools/stack.sh"
[ $# -ge 1 ] || sj_die "usage: $0 BUILD_DIR [STEPS] [JOBS_PER_STEP]"
sj_need_root
BUILD=$(cd "$1" && pwd) STEPS=${2:-4} PER=${3:-30000}
[[ $STEPS =~ ^[0-9]+$ && $PER =~ ^[0-9]+$ ]] || sj_die "STEPS and JOBS_PER_STEP are numbers"
[ -x "$BUILD/tools/storyjobsctl" ] || sj_die "$BUILD holds no build"
T=$(mktemp -d)
chmod 755 "$T"
PIN=
cleanup() {
	if [ -n "$PIN" ]; then
		kill "$PIN" 2>/dev/null || true
		wait "$PIN" 2>/dev/null || true
	fi
	sj_pg_stop "$T/pg" || true
	rm -rf "$T"
}
trap cleanup EXIT
port=
sj_free_port port
sj_pg_init "$T/pg" "$T/sock" "$port" shared_buffers=512MB
sj_pg_start "$T/pg" "$T/pg.log"
psql -qX -v ON_ERROR_STOP=1 "$(sj_pg_url "$port" postgres)" -c "CREATE DATABASE pin"
URL=$(sj_pg_url "$port" pin)
DATABASE_URL=$URL "$BUILD/tools/storyjobsctl" migrate --sql-dir "$ROOT/sql" >/dev/null 2>&1
q() { psql -qXAt -v ON_ERROR_STOP=1 "$URL" -c "$1"; }
q "CREATE SEQUENCE pin_seq"

# insert N SUFFIX: N pending no-op jobs.
insert() {
	q "INSERT INTO jobs (id, type, priority, max_attempts, timeout_s, input)
		SELECT 'job_' || nextval('pin_seq') || '_$2', 'noop', 0, 1, 60, '{}'
		FROM generate_series(1, $1)"
}

# the live-count upsert of one job (sql/020 jobs_count's one-row path)
COUNT="INSERT INTO job_live AS l (type, anon, shard, n) VALUES ('noop', false, 0, 1)
	ON CONFLICT (type, anon, shard) DO UPDATE SET n = l.n + excluded.n"

# through: 1,000 jobs inserted, claimed by worker w1 (a lease already
# expired, so the maintenance's selection sees it if it were live) and
# completed.
through() {
	insert 1000 p
	q "UPDATE jobs SET status = 'processing', lease_owner = 'w1',
		lease_epoch = lease_epoch + 1, lease_expires_at = now() - interval '1 s',
		claimed_at = now(), started_at = now() WHERE status = 'pending'"
	q "UPDATE jobs SET status = 'completed', lease_owner = NULL,
		lease_expires_at = NULL, completed_at = now() WHERE status = 'processing'"
	# each its own transaction, as the programs' statements are
	for ((k = 0; k < 300; k++)); do printf '%s;\n' "$COUNT"; done |
		psql -qX -v ON_ERROR_STOP=1 "$URL" >/dev/null
}

# ms SQL: the execution time of SQL, the last of three runs.
ms() {
	local i t
	for i in 1 2 3; do
		t=$(q "EXPLAIN (ANALYZE, FORMAT JSON) $1" | jq '.[0]["Execution Time"]')
	done
	printf '%.2f' "$t"
}

# measure LABEL: one line of every scan's time over 10 fresh pending jobs.
measure() {
	local tag cand="FROM jobs WHERE status = 'pending' AND type = 'noop' AND run_at <= now()"
	insert 10 q
	tag=$(q "SELECT (extract(epoch FROM min(fair_at)) * 1000)::bigint
		FROM jobs WHERE status = 'pending'")
	printf '%-28s claim_start %6s ms  claim_point %5s ms  maintain %6s ms  heartbeat %5s ms  oldest %5s ms  oldest_any %6s ms  processing %6s ms  backlog %6s ms  counter %6s ms\n' "$1" \
		"$(ms "SELECT ctid $cand ORDER BY priority, fair_at, id LIMIT 24 FOR UPDATE SKIP LOCKED")" \
		"$(ms "SELECT ctid $cand AND (priority, fair_at) >= (0, timestamptz 'epoch' +
			$tag * interval '1 ms') ORDER BY priority, fair_at, id LIMIT 24
			FOR UPDATE SKIP LOCKED")" \
		"$(ms "SELECT id FROM jobs WHERE status = 'processing' AND
			(lease_expires_at < now() OR claimed_at + make_interval(secs => timeout_s) < now())
			FOR UPDATE SKIP LOCKED")" \
		"$(ms "SELECT id, status, lease_owner FROM jobs
			WHERE id = ANY('{job_0_x}'::text[]) FOR UPDATE SKIP LOCKED")" \
		"$(ms "SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'pending' AND
			lease_owner IS NULL AND run_at < now() - make_interval(secs => 1800))")" \
		"$(ms "SELECT run_at FROM jobs WHERE status = 'pending' AND lease_owner IS NULL
			AND run_at <= now() ORDER BY run_at LIMIT 1")" \
		"$(ms "SELECT count(*), count(*) FILTER (WHERE lease_expires_at < now())
			FROM jobs WHERE status = 'processing'")" \
		"$(ms "SELECT count(*) FROM jobs WHERE status = 'pending' AND run_at <= now()")" \
		"$(ms "$COUNT")"
	q "DELETE FROM jobs WHERE id LIKE '%\_q'"
}

psql -qX "$URL" -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
	-c "SELECT count(*) FROM workers" -c "SELECT pg_sleep(86400)" >/dev/null 2>&1 &
PIN=$!
for ((i = 0; i < 50; i++)); do
	[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(86400)%'")" = 1 ] && break
	sleep 0.1
done
measure "pinned, 0 jobs since"
for ((s = 1; s <= STEPS; s++)); do
	for ((c = 0; c < PER / 1000; c++)); do through; done
	measure "pinned, $((s * PER)) jobs since"
done
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE query LIKE 'SELECT pg_sleep(86400)%'" >/dev/null
wait "$PIN" 2>/dev/null || true
PIN=
q "VACUUM jobs"
measure "released, VACUUM"
