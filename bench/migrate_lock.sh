#!/usr/bin/env bash
# bench/migrate_lock.sh BUILD_DIR [ROWS]: how long the application's short
# queries on jobs wait while migration 007 is applied to a table of ROWS
# jobs (default 500000), the figure of issue 14 ("007 held jobs for 2.2 s
# at 500k rows").
#
# Three runs, each on a fresh database migrated to 006 and filled with
# ROWS jobs (mostly finished, some pending), while one session probes
# jobs by primary key every 10 ms and records each probe's time:
#   plain       007 with the default lock_timeout, nothing else running
#   held-queue  a session holds a share lock on jobs for HOLD_S seconds
#               (a slow report); 007 with no lock_timeout, as before
#               (--lock-timeout 600000 --attempts 1): it queues behind the
#               report and every probe queues behind it
#   held-retry  the same with the default lock_timeout and retries
# Per run: the migration's wall time and the longest probe.
#
# Environment: DATABASE_URL, a postgresql:// URL of the cluster's
# maintenance database (e.g. .../postgres, no query string); the script
# creates and drops sj_migrate_bench next to it.
# HOLD_S (default 6).  Needs psql.  Results as KEY=VALUE lines on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ $# -ge 1 ] || {
	echo "usage: $0 BUILD_DIR [ROWS]" >&2
	exit 64
}
BUILD=$(cd "$1" && pwd)
ROWS=${2:-500000}
HOLD_S=${HOLD_S:-6}
CTL=$BUILD/tools/storyjobsctl
ADMIN=${DATABASE_URL:?DATABASE_URL must name the maintenance database}
DB=sj_migrate_bench
WORK=$(mktemp -d /tmp/sj-migrate-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
case $ADMIN in postgres://* | postgresql://*) ;; *) echo "DATABASE_URL must be a postgresql:// URL" >&2 && exit 64 ;; esac
BENCH_URL=${ADMIN%/*}/$DB

q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# fresh_db: sj_migrate_bench at 006 with ROWS jobs.
fresh_db() {
	q -d "$ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
	mkdir -p "$WORK/sql6"
	ln -sf "$ROOT"/sql/00[1-6]_*.sql "$WORK/sql6/"
	DATABASE_URL=$BENCH_URL "$CTL" migrate --sql-dir "$WORK/sql6" >/dev/null 2>&1
	q -d "$BENCH_URL" <<-SQL
		INSERT INTO jobs (id, type, status, max_attempts, timeout_s, input,
		                  started_at, completed_at)
		SELECT 'job_' || g || '_' || substr(md5(g::text), 1, 9),
		       (ARRAY['storybook','scenes','cartoonize','image-generation'])[1 + g % 4],
		       CASE WHEN g % 50 = 0 THEN 'pending' ELSE 'completed' END,
		       3, 300, '{"prompt":"a cat"}'::jsonb,
		       CASE WHEN g % 50 = 0 THEN NULL ELSE now() - interval '1 min' END,
		       CASE WHEN g % 50 = 0 THEN NULL ELSE now() END
		FROM generate_series(1, $ROWS) g;
		VACUUM ANALYZE jobs;
	SQL
}

# probe_script: probes jobs by key every 10 ms until 007 is recorded.
probe_script() {
	local i
	printf '\\timing on\n'
	for ((i = 0; i < 6000; i++)); do
		printf "SELECT count(*) FROM jobs WHERE id = 'job_%d_%s';\n" $((i + 1)) x
		printf "SELECT pg_sleep(0.01);\n"
		printf "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = 7) AS done \\\\gset\n"
		printf '\\if :done\n\\q\n\\endif\n'
	done
}

# longest_probe FILE: the longest time of a probe (a count line's Time).
longest_probe() {
	awk '/^[01]$/ { p = 1; next }
	     /^Time: / { if (p && $2 + 0 > m) m = $2 + 0; p = 0; next }
	     { p = 0 }
	     END { printf "%.0f\n", m }' "$1"
}

# run NAME HOLD MIGRATE_ARGS...: one measured run.
run() {
	local name=$1 hold=$2 t0 t1 ppid hpid=
	shift 2
	fresh_db
	q -d "$BENCH_URL" <"$WORK/probe.sql" >"$WORK/$name.probe" 2>&1 &
	ppid=$!
	sleep 1
	if [ "$hold" -gt 0 ]; then
		q -d "$BENCH_URL" -c "BEGIN" -c "LOCK TABLE jobs IN ACCESS SHARE MODE" \
			-c "SELECT pg_sleep($hold)" -c "COMMIT" >/dev/null &
		hpid=$!
		sleep 0.5
	fi
	t0=$(date +%s%3N)
	DATABASE_URL=$BENCH_URL "$CTL" migrate --sql-dir "$ROOT/sql" "$@" \
		>"$WORK/$name.migrate" 2>&1 || echo "migrate failed: $(cat "$WORK/$name.migrate")" >&2
	t1=$(date +%s%3N)
	[ -z "$hpid" ] || wait "$hpid"
	wait "$ppid" || true
	echo "${name}_migrate_ms=$((t1 - t0))"
	echo "${name}_tries=$(($(grep -c 'waited .* for a lock' "$WORK/$name.migrate" || true) + 1))"
	echo "${name}_longest_probe_ms=$(longest_probe "$WORK/$name.probe")"
	echo "${name}_probes=$(grep -c '^[01]$' "$WORK/$name.probe" || true)"
}

probe_script >"$WORK/probe.sql"
echo "rows=$ROWS"
echo "hold_s=$HOLD_S"
run plain 0
run held_queue "$HOLD_S" --lock-timeout 600000 --attempts 1
run held_retry "$HOLD_S"
q -d "$ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
