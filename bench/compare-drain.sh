#!/usr/bin/env bash
# bench/compare-drain.sh OLD_SRC NEW_SRC [ROUNDS] [JOBS]: the drain rate of
# two versions of the worker on the same machine, alternating old and new
# on one private PostgreSQL cluster, each version with its own schema.
# OLD_SRC and NEW_SRC are source trees each built in their folder b/
# (e.g. `git worktree add /tmp/old REV && cd /tmp/old && autoreconf -fi &&
# mkdir b && cd b && ../configure && make`).  For each round and each
# owner case (JOBS noop jobs of one user, or of no owner) a fresh
# database is migrated with that tree's sql/ and drained by one worker
# (24 threads, prefetch 500, as bench/queue.sh runs it); prints one line
# per drain: version, owner, jobs/s (first claim to last completion) and
# the load average.  Run as root on a quiet machine; every process it
# starts is stopped by its pid.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/stack.sh
. "$ROOT/tools/stack.sh"
[ $# -ge 2 ] || sj_die "usage: $0 OLD_SRC NEW_SRC [ROUNDS] [JOBS]"
OLD=$(cd "$1" && pwd) NEW=$(cd "$2" && pwd) ROUNDS=${3:-3} N=${4:-50000}
[[ $ROUNDS =~ ^[0-9]+$ && $N =~ ^[0-9]+$ ]] || sj_die "ROUNDS and JOBS are numbers"
for t in "$OLD" "$NEW"; do
	if [ ! -x "$t/b/worker/storyjobs-worker" ] || [ ! -x "$t/b/tools/storyjobsctl" ]; then
		sj_die "$t/b holds no build"
	fi
done
T=$(mktemp -d)
chmod 755 "$T"
WPID=
cleanup() {
	if [ -n "$WPID" ]; then
		kill "$WPID" 2>/dev/null || true
		wait "$WPID" || true
	fi
	sj_pg_stop "$T/pg" || true
	rm -rf "$T"
}
trap cleanup EXIT
port=
sj_free_port port
sj_pg_init "$T/pg" "$T/sock" "$port" shared_buffers=512MB max_connections=100
sj_pg_start "$T/pg" "$T/pg.log"
install -d "$T/media"

# drain SRC NAME OWNER: one drain; prints its line.
drain() {
	local src=$1 name=$2 owner=$3 url uid=NULL i
	psql -X -q -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 \
		-c "DROP DATABASE IF EXISTS cmp" -c "CREATE DATABASE cmp" >/dev/null
	url=$(sj_pg_url "$port" cmp)
	DATABASE_URL=$url "$src/b/tools/storyjobsctl" migrate --sql-dir "$src/sql" >/dev/null 2>&1
	[ "$owner" = user ] && uid=1
	psql -X -q -d "$url" -v ON_ERROR_STOP=1 >/dev/null <<-SQL
		INSERT INTO users (id, email, password_hash) VALUES (1, 'a@example.com', 'x');
		INSERT INTO jobs (id, type, priority, max_attempts, timeout_s, input, user_id)
		SELECT 'job_' || g || '_b', 'noop', 0, 1, 60, '{}', $uid FROM generate_series(1, $N) g;
		VACUUM ANALYZE jobs;
		CHECKPOINT;
	SQL
	env -i PATH="$PATH" LANG=C.UTF-8 STORYJOBS_ALLOW_ROOT=1 DATABASE_URL="$url" \
		WEBHOOK_SECRET=0123456789abcdef0123456789abcdef GENERATION_PROVIDER=local \
		STORAGE=local MEDIA_DIR="$T/media" BENCH_NOOP_JOBS=true LOG_LEVEL=warn \
		MAX_CONCURRENT_JOBS=24 PREFETCH_JOBS=500 "$src/b/worker/storyjobs-worker" \
		>>"$T/worker.log" 2>&1 &
	WPID=$!
	for ((i = 0; i < 2400; i++)); do
		[ "$(psql -X -At -d "$url" -c "SELECT NOT EXISTS (SELECT 1 FROM jobs
			WHERE status IN ('pending', 'processing'))")" = t ] && break
		sleep 0.25
	done
	kill "$WPID"
	wait "$WPID" || true
	WPID=
	printf '%s %s %s jobs/s load %s\n' "$name" "$owner" "$(psql -X -At -d "$url" -c \
		"SELECT round(count(*) / extract(epoch FROM max(completed_at) -
		min(claimed_at))) FROM jobs WHERE status = 'completed'")" \
		"$(cut -d' ' -f1 /proc/loadavg)"
}

for ((r = 1; r <= ROUNDS; r++)); do
	for owner in user none; do
		drain "$OLD" old "$owner"
		drain "$NEW" new "$owner"
	done
done
