#!/usr/bin/env bash
# bench/monitor.sh BUILD_DIR [FINISHED] [PENDING] [SCRAPES]: what the
# monitoring routes cost when the queue is backed up and the table is
# full (issue 18: "monitoring that gets slow exactly when the queue is
# backed up is how outages start").  Part of ./dev bench (bench/run.sh).
#
# A throwaway stack made of the real parts, each on a free loopback port:
# a fresh PostgreSQL cluster, the schema applied by storyjobsctl, the
# health FastCGI program (2 processes, as ./dev up runs it) and nginx
# from the project's template; a worker row whose heartbeat is renewed
# before each run, so the verdict is the queue's, not a dead worker's.
# Three states, each measured with wrk (2 threads, 10 connections,
# SJ_BENCH_SECONDS, default 10) on GET /api/jobs/health:
#   empty    no job at all;
#   backlog  PENDING pending jobs (default 61000: the issue's figure);
#   full     the backlog plus FINISHED finished jobs (default 1000000,
#            completed, failed and cancelled, spread over the types and
#            the last 30 days) and 20 processing ones.
# In the full state, SCRAPES GET /metrics (default 50), one at a time
# after two warm-up ones, each timed by curl.  The answers differ by
# state (a backlog over 50 is critical: 503), the work behind them does
# not.  The figures are KEY=VALUE lines on stdout (times in ms); the
# goals: health p99 <= 5 ms in every state, the same as empty; a scrape
# <= 20 ms.
#
# Environment: SJ_SQL_DIR (default: the checkout's sql/), to measure a
# build of another schema; SJ_WRK (default /usr/bin/wrk).  Needs root
# (PostgreSQL runs as postgres, nginx's workers as www-data), psql, curl,
# wrk and nginx.  Everything started is stopped by its pid at exit and
# the state directory removed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/stack.sh
. "$ROOT/tools/stack.sh"

[ $# -ge 1 ] || sj_die "usage: $0 BUILD_DIR [FINISHED] [PENDING] [SCRAPES]"
sj_need_root
BUILD=$(cd "$1" && pwd)
FINISHED=${2:-1000000}
PENDING=${3:-61000}
SCRAPES=${4:-50}
SECS=${SJ_BENCH_SECONDS:-10}
WRK=${SJ_WRK:-/usr/bin/wrk}
SQL_DIR=${SJ_SQL_DIR:-$ROOT/sql}
[[ $FINISHED =~ ^[0-9]+$ && $PENDING =~ ^[0-9]+$ &&
	$SCRAPES =~ ^[1-9][0-9]*$ && $SECS =~ ^[1-9][0-9]*$ ]] ||
	sj_die "FINISHED, PENDING, SCRAPES and SJ_BENCH_SECONDS are numbers"
for f in "$BUILD/cgi/storyjobs-health" "$BUILD/tools/storyjobsctl" "$WRK"; do
	[ -x "$f" ] || sj_die "$f is missing (build first)"
done

STATE=$(sj_state_dir "${SJ_BENCH_STATE_ROOT:-}" monitor-bench)
SJ_CLEANUP_LIST=$STATE/cleanup.list
finish() {
	local rc=$?
	trap - EXIT INT TERM
	sj_sweep "$SJ_CLEANUP_LIST"
	if [ "$rc" -eq 0 ]; then
		rm -rf "$STATE"
	else
		sj_say "monitoring benchmark FAILED; state kept in $STATE"
	fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

q() { "$SJ_PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DATABASE_URL" "$@"; }

# pct FILE P: the P-th percentile (nearest rank) of FILE's numbers.
pct() {
	sort -g "$1" | awk -v p="$2" '{ v[NR] = $1 } END {
		i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1
		printf "%.2f", v[i] }'
}

start_stack() {
	local pgport
	sj_free_port pgport
	install -d -m 755 "$STATE/log" "$STATE/media"
	sj_pg_init "$STATE/pg" "$STATE/pgsock" "$pgport" shared_buffers=512MB
	sj_pg_start "$STATE/pg" "$STATE/log/postgres.log"
	sj_createdb "$pgport" storyjobs
	DATABASE_URL=$(sj_pg_url "$pgport" storyjobs)
	sj_write_env "$STATE/stack.env" "DATABASE_URL=$DATABASE_URL" \
		"WEBHOOK_SECRET=$(sj_secret)" "MEDIA_DIR=$STATE/media" \
		"LOG_LEVEL=warn"
	sj_migrate "$BUILD" "$STATE/stack.env" "$SQL_DIR" \
		>>"$STATE/log/migrate.log" 2>&1 ||
		sj_die "migrate failed; see $STATE/log/migrate.log"
}

# fill_pending: PENDING pending jobs, due since a second ago.
fill_pending() {
	sj_say "filling $PENDING pending jobs"
	q -c "INSERT INTO jobs (id, type, status, max_attempts, timeout_s, input,
	                        run_at)
	      SELECT 'job_' || g || '_p', 'scenes', 'pending', 3, 300, '{}',
	             now() - interval '1 second'
	      FROM generate_series(1, $PENDING) g"
	q -c "VACUUM ANALYZE jobs"
}

# fill_finished: FINISHED finished jobs and 20 processing ones.
fill_finished() {
	sj_say "filling $FINISHED finished jobs"
	q -1 <<-SQL
		INSERT INTO jobs (id, type, status, max_attempts, timeout_s, input,
		                  started_at, completed_at, error_code)
		SELECT 'job_' || g || '_m', (ARRAY['storybook', 'scenes', 'cartoonize',
		       'image-generation', 'auto-story'])[1 + g % 5],
		       (ARRAY['completed', 'completed', 'completed', 'failed',
		       'cancelled'])[1 + g / 7 % 5], 3, 300, '{}',
		       now() - (g % 2592000) * interval '1 s' - (g % 900) * interval '1 s',
		       now() - (g % 2592000) * interval '1 s',
		       CASE WHEN g / 7 % 5 = 3 THEN 'EXTERNAL_SERVICE_ERROR' END
		FROM generate_series(1, $FINISHED) g;
		INSERT INTO jobs (id, type, status, max_attempts, timeout_s, input,
		                  lease_owner, lease_expires_at, claimed_at, started_at)
		SELECT 'job_' || g || '_r', 'storybook', 'processing', 3, 300, '{}',
		       'bench-worker', now() + interval '1 hour', now(), now()
		FROM generate_series(1, 20) g;
	SQL
	q -c "VACUUM ANALYZE"
}

start_web() {
	local port
	sj_run_dir "$STATE/run"
	sj_fcgi_start "$BUILD" "$STATE/run" health "$STATE/log/health.log" \
		"$STATE/stack.env" 2
	sj_free_port port
	BASE_URL=http://127.0.0.1:$port
	sj_nginx_render "$ROOT/nginx" "$STATE/nginx" "$port" "$STATE/run" \
		"$STATE/media" "$ROOT/web"
	sj_nginx_start "$STATE/nginx"
}

# scrape: one GET /metrics; its time in ms on stdout, or fails.
scrape() {
	local out
	out=$(curl -s --noproxy '*' -m 60 -o "$STATE/metrics.txt" \
		-w '%{http_code} %{time_total}' "$BASE_URL/metrics")
	[ "${out%% *}" = 200 ] || sj_die "GET /metrics answered ${out%% *}"
	awk -v s="${out#* }" 'BEGIN { printf "%.2f\n", s * 1000 }'
}

# health STATE: wrk on GET /api/jobs/health, its figures as STATE_ keys.
health() {
	local line kv
	q -c "INSERT INTO workers (id, host, pid) VALUES ('bench-worker', 'bench', 1)
	      ON CONFLICT (id) DO UPDATE SET last_heartbeat = now()"
	"$WRK" -t2 -c10 -d1s -s "$ROOT/bench/wrk.lua" "$BASE_URL/api/jobs/health" \
		>/dev/null 2>&1 || true
	sj_say "wrk health_$1: 10 connections, ${SECS}s"
	"$WRK" -t2 -c10 -d"${SECS}s" --latency -s "$ROOT/bench/wrk.lua" \
		"$BASE_URL/api/jobs/health" >"$STATE/wrk-$1.txt" 2>&1 ||
		sj_die "wrk failed: $(cat "$STATE/wrk-$1.txt")"
	line=$(grep '^SJRESULT ' "$STATE/wrk-$1.txt") ||
		sj_die "wrk printed no result: $(cat "$STATE/wrk-$1.txt")"
	for kv in ${line#SJRESULT }; do
		printf 'health_%s_%s\n' "$1" "$kv"
	done
	printf 'health_%s_status=%s\n' "$1" "$(curl -s --noproxy '*' -m 10 \
		-o /dev/null -w '%{http_code}' "$BASE_URL/api/jobs/health")"
}

main() {
	local i
	start_stack
	start_web
	printf 'monitor_pending_jobs=%s\n' "$PENDING"
	printf 'monitor_finished_jobs=%s\n' "$FINISHED"
	health empty
	fill_pending
	health backlog
	fill_finished
	health full
	scrape >/dev/null
	scrape >/dev/null
	: >"$STATE/times"
	for ((i = 0; i < SCRAPES; i++)); do
		scrape >>"$STATE/times"
	done
	grep -q "^storyjobs_queue_depth{type=\"scenes\",status=\"pending\"} $PENDING\$" \
		"$STATE/metrics.txt" || sj_die "the scrape lacks the queue depth"
	printf 'metrics_scrapes=%s\n' "$SCRAPES"
	printf 'metrics_scrape_p50_ms=%s\n' "$(pct "$STATE/times" 50)"
	printf 'metrics_scrape_p99_ms=%s\n' "$(pct "$STATE/times" 99)"
	printf 'metrics_scrape_max_ms=%s\n' "$(pct "$STATE/times" 100)"
	printf 'metrics_body_bytes=%s\n' "$(wc -c <"$STATE/metrics.txt")"
}

main
