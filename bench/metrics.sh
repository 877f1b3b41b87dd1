#!/usr/bin/env bash
# bench/metrics.sh BUILD_DIR [FINISHED] [SCRAPES]: what one GET /metrics
# costs when the jobs table holds FINISHED finished jobs (default
# 1000000), the figure of issue 14 section 5 ("a scrape costs ~1.2 s at
# 10^6 stored finished jobs").  Run by hand; not part of ./dev test.
#
# A throwaway stack made of the real parts, each on a free loopback port:
# a fresh PostgreSQL cluster, the schema applied by storyjobsctl, the
# health FastCGI program (one process) and nginx from the project's
# template.  The jobs table is filled with generate_series: FINISHED
# finished jobs (completed, failed and cancelled, spread over the types
# and the last 30 days) plus 1,000 pending and 20 processing ones, then
# VACUUM ANALYZE.  Then SCRAPES scrapes (default 50) through nginx, one
# at a time after two warm-up ones, each timed by curl; the result is
# their p50, p99 and max, in milliseconds, as KEY=VALUE lines on stdout.
# The scrape reads only small tables and the live jobs, so its cost must
# not grow with FINISHED (the goal is a p50 of at most 20 ms).
#
# Environment: SJ_SQL_DIR (default: the checkout's sql/), to measure a
# build of another schema.  Needs root (PostgreSQL runs as postgres,
# nginx's workers as www-data), psql, curl and nginx.  Everything started
# is stopped by its pid at exit and the state directory removed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/stack.sh
. "$ROOT/tools/stack.sh"

[ $# -ge 1 ] || sj_die "usage: $0 BUILD_DIR [FINISHED] [SCRAPES]"
sj_need_root
BUILD=$(cd "$1" && pwd)
FINISHED=${2:-1000000}
SCRAPES=${3:-50}
SQL_DIR=${SJ_SQL_DIR:-$ROOT/sql}
[[ $FINISHED =~ ^[0-9]+$ && $SCRAPES =~ ^[1-9][0-9]*$ ]] ||
	sj_die "FINISHED and SCRAPES are numbers"
for f in "$BUILD/cgi/storyjobs-health" "$BUILD/tools/storyjobsctl"; do
	[ -x "$f" ] || sj_die "$f is missing (build first)"
done

STATE=$(sj_state_dir "" metrics-bench)
SJ_CLEANUP_LIST=$STATE/cleanup.list
finish() {
	local rc=$?
	trap - EXIT INT TERM
	sj_sweep "$SJ_CLEANUP_LIST"
	if [ "$rc" -eq 0 ]; then
		rm -rf "$STATE"
	else
		sj_say "metrics benchmark FAILED; state kept in $STATE"
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
		printf "%.1f", v[i] }'
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

fill() {
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
		INSERT INTO jobs (id, type, status, max_attempts, timeout_s, input)
		SELECT 'job_' || g || '_p', 'scenes', 'pending', 3, 300, '{}'
		FROM generate_series(1, 1000) g;
		INSERT INTO jobs (id, type, status, max_attempts, timeout_s, input,
		                  lease_owner, lease_expires_at, claimed_at, started_at)
		SELECT 'job_' || g || '_r', 'storybook', 'processing', 3, 300, '{}',
		       'bench-worker', now() + interval '1 hour', now(), now()
		FROM generate_series(1, 20) g;
		INSERT INTO workers (id, host, pid) VALUES ('bench-worker', 'bench', 1);
	SQL
	q -c "VACUUM ANALYZE"
}

start_web() {
	local port
	sj_run_dir "$STATE/run"
	sj_fcgi_start "$BUILD" "$STATE/run" health "$STATE/log/health.log" \
		"$STATE/stack.env" 1
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

main() {
	local i
	start_stack
	fill
	start_web
	scrape >/dev/null
	scrape >/dev/null
	: >"$STATE/times"
	for ((i = 0; i < SCRAPES; i++)); do
		scrape >>"$STATE/times"
	done
	grep -q '^storyjobs_queue_depth{type="scenes",status="pending"} 1000$' \
		"$STATE/metrics.txt" || sj_die "the scrape lacks the queue depth"
	printf 'metrics_finished_jobs=%s\n' "$FINISHED"
	printf 'metrics_scrapes=%s\n' "$SCRAPES"
	printf 'metrics_scrape_p50_ms=%s\n' "$(pct "$STATE/times" 50)"
	printf 'metrics_scrape_p99_ms=%s\n' "$(pct "$STATE/times" 99)"
	printf 'metrics_scrape_max_ms=%s\n' "$(pct "$STATE/times" 100)"
	printf 'metrics_body_bytes=%s\n' "$(wc -c <"$STATE/metrics.txt")"
}

main
