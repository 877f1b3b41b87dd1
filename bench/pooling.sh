#!/usr/bin/env bash
# bench/pooling.sh BUILD_DIR: what transaction pooling costs.  One
# PostgreSQL (bench/run.sh's settings) and a private PgBouncer in
# transaction pooling (tools/stack.sh), then for each way of connecting
#   direct    DATABASE_URL straight to PostgreSQL, DATABASE_POOLING=session
#             (named prepared statements, settings as startup options)
#   unnamed   the same URL, DATABASE_POOLING=transaction (unnamed
#             statements behind set_config: the cost of the mode alone)
#   pgbouncer DATABASE_URL through PgBouncer, DATABASE_POOLING=transaction
#             (the worker's LISTEN session direct)
# two figures: job creation (wrk, 10 connections, SECS seconds, anonymous
# cartoonize starts through nginx and the jobs program with 2 processes:
# each a transaction with the caller's advisory lock, then the notice)
# and the queue drain (N noop jobs inserted, one worker with 24 job
# threads and 500 claimed ahead, as bench/queue.sh runs it; seconds until
# none is live).  KEY=VALUE lines on stdout; everything started is
# stopped by its pid at exit.  Needs root, wrk, pgbouncer.
#
# Environment: SECS (10), N (20000), SJ_PGBOUNCER_POOL_SIZE (20).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/stack.sh
. "$ROOT/tools/stack.sh"

[ $# -eq 1 ] || sj_die "usage: $0 BUILD_DIR"
sj_need_root
BUILD=$(cd "$1" && pwd)
SECS=${SECS:-10}
N=${N:-20000}
WRK=${SJ_WRK:-/usr/bin/wrk}
BODY='{"prompt":"A happy cartoon character","style":"storybook"}'
STATE=$(sj_state_dir "" pooling-bench)
SJ_CLEANUP_LIST=$STATE/cleanup.list
LOG=$STATE/log
RUN=$STATE/run
PGPORT=
DIRECT=
POOLED=
BASE_URL=
trap 'sj_sweep "$SJ_CLEANUP_LIST"; rm -rf "$STATE"' EXIT

put() { printf '%s=%s\n' "$1" "$2"; }
sql() {
	psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" \
		-U postgres -d storyjobs -c "$1"
}

# env_for MODE: STATE/MODE.env, the settings of that way of connecting.
env_for() {
	local url=$DIRECT pooling=session
	case $1 in
	unnamed) pooling=transaction ;;
	pgbouncer) url=$POOLED pooling=transaction ;;
	esac
	sj_write_env "$STATE/$1.env" "DATABASE_URL=$url" \
		"DATABASE_POOLING=$pooling" "DATABASE_LISTEN_URL=$DIRECT" \
		"WEBHOOK_SECRET=$(sj_secret)" "GENERATION_PROVIDER=local" \
		"STORAGE=local" "MEDIA_DIR=$STATE/media" "LOG_LEVEL=warn" \
		"ANON_START_LIMIT=1000000" "ANON_MAX_ACTIVE_JOBS=1000000" \
		"ANON_MAX_ACTIVE_TOTAL=1000000" "BENCH_NOOP_JOBS=true" \
		"MAX_CONCURRENT_JOBS=24" "PREFETCH_JOBS=500"
}

# create MODE: requests per second of job starts, and the p99 in ms.
create() {
	local line
	sj_fcgi_start "$BUILD" "$RUN" jobs "$LOG/jobs-$1.log" "$STATE/$1.env" 2
	SJ_METHOD=POST SJ_BODY=$BODY "$WRK" -t2 -c10 -d1s \
		-s "$ROOT/bench/wrk.lua" "$BASE_URL/api/jobs/cartoonize/start" \
		>/dev/null 2>&1 # warm
	line=$(SJ_METHOD=POST SJ_BODY=$BODY "$WRK" -t2 -c10 -d"${SECS}s" \
		-s "$ROOT/bench/wrk.lua" "$BASE_URL/api/jobs/cartoonize/start" |
		grep '^SJRESULT')
	sj_stop_pidfile "$RUN/jobs.pid"
	put "create_$1" "$(sed -E 's/.* rps=([0-9.]+) .* p99=([0-9.]+) .*status_errors=([0-9]+).*/rps=\1 p99_ms=\2 errors=\3/' <<<"$line")"
	sql "TRUNCATE jobs CASCADE" >/dev/null
}

# drain MODE: seconds for one worker to run N noop jobs.
drain() {
	local t0 t1 live
	sql "INSERT INTO jobs (id, type, priority, max_attempts, timeout_s,
		input) SELECT 'job_' || g || '_$1', 'noop', 0, 1, 60, '{}'
		FROM generate_series(1, $N) g" >/dev/null
	sql "VACUUM ANALYZE jobs" >/dev/null
	sql "CHECKPOINT" >/dev/null
	t0=$(date +%s.%N)
	sj_daemon_start "$RUN/worker.pid" "$LOG/worker-$1.log" \
		"$STATE/$1.env" "$BUILD/worker/storyjobs-worker"
	while :; do
		live=$(sql "SELECT count(*) FROM jobs WHERE status IN
			('pending', 'processing')")
		[ "$live" != 0 ] || break
		sleep 0.1
	done
	t1=$(date +%s.%N)
	sj_stop_pidfile "$RUN/worker.pid"
	put "drain_$1" "$(awk -v a="$t0" -v b="$t1" -v n="$N" \
		'BEGIN { printf "seconds=%.2f jobs_per_s=%.0f", b - a, n / (b - a) }') completed=$(sql "SELECT count(*) FROM jobs WHERE status = 'completed'")"
	sql "TRUNCATE jobs CASCADE" >/dev/null
}

main() {
	local port bport pass mode
	install -d -m 755 "$LOG" "$STATE/media"
	sj_run_dir "$RUN"
	sj_free_port PGPORT
	sj_pg_init "$STATE/pg" "$STATE/pgsock" "$PGPORT" shared_buffers=512MB \
		max_connections=100
	sj_pg_start "$STATE/pg" "$LOG/postgres.log"
	sj_createdb "$PGPORT" storyjobs
	DIRECT=$(sj_pg_url "$PGPORT" storyjobs)
	pass=$(sj_secret | cut -c1-32)
	sj_free_port bport
	sj_pgbouncer_start "$STATE/pgbouncer" "$PGPORT" "$bport" postgres "$pass"
	POOLED=$(sj_pgbouncer_url "$bport" postgres "$pass" storyjobs)
	for mode in direct unnamed pgbouncer; do env_for "$mode"; done
	sj_migrate "$BUILD" "$STATE/direct.env" "$ROOT/sql" >"$LOG/migrate.log" 2>&1
	sj_free_port port
	BASE_URL=http://127.0.0.1:$port
	sj_nginx_render "$ROOT/nginx" "$STATE/nginx" "$port" "$RUN" \
		"$STATE/media" "$ROOT/web"
	sj_nginx_start "$STATE/nginx"
	put machine_nproc "$(nproc)"
	put pgbouncer_pool_size "${SJ_PGBOUNCER_POOL_SIZE:-20}"
	for mode in direct unnamed pgbouncer; do create "$mode"; done
	for mode in direct unnamed pgbouncer; do drain "$mode"; done
}

main
