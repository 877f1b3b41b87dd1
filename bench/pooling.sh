#!/usr/bin/env bash
# bench/pooling.sh BUILD_DIR: job creation and the queue drain through
# PgBouncer in transaction pooling against direct sessions, for N web
# hosts and M worker hosts simulated on this one machine.  ./dev bench
# runs it (bench/run.sh, after the queue benchmarks); it also runs alone.
#
# On one machine, a "web host" is one jobs FastCGI program with 2
# processes (as ./dev up runs it) listening over TCP on its own loopback
# address (127.0.0.11, .12, ...; SJ_FCGI_LISTEN) and named as one more
# server of nginx's storyjobs_jobs upstream (SJ_NGINX_FCGI_HOSTS), so one
# nginx spreads the requests over N such program sets; a "worker host" is
# one worker daemon (24 job threads, 500 claimed ahead, as
# bench/queue.sh runs it).  They all share one PostgreSQL (bench/run.sh's
# settings) and, pooled, one private PgBouncer in transaction pooling
# (tools/stack.sh).  The two ways of connecting:
#   direct    DATABASE_URL straight to PostgreSQL, DATABASE_POOLING=session
#             (named prepared statements, settings as startup options)
#   pgbouncer DATABASE_URL through PgBouncer, DATABASE_POOLING=transaction;
#             the workers' DATABASE_LISTEN_URL direct (LISTEN and claims)
# (MODES="direct unnamed pgbouncer" adds "unnamed": the direct URL with
# DATABASE_POOLING=transaction, the cost of the mode without the pooler.)
# Two figures each:
#   creation  anonymous cartoonize starts through nginx (wrk, SECS
#             seconds at 10 and then 50 connections, after a 1 s warm-up):
#             req/s, p50 and p99; the table is emptied after each run
#   drain     DRAIN_N noop jobs inserted, then the M workers started:
#             jobs/s from the first claim to the last completion
# The modes alternate in ROUNDS rounds, each round in the reverse order
# of the one before (ABBA), so the machine's drift over the run falls on
# both alike; a figure is the mean over the rounds (every round's req/s
# and jobs/s are printed too).  KEY=VALUE lines on stdout, progress on
# stderr; everything started is stopped by its pid at exit.  Needs root,
# wrk, pgbouncer.  About 2 minutes with the defaults.
#
# Environment: N_WEB (2), M_WORKERS (2), SECS (8), DRAIN_N (40000),
# ROUNDS (2), MODES ("direct pgbouncer"), SJ_PGBOUNCER_POOL_SIZE (20),
# SJ_BENCH_STATE_ROOT (the state directory's parent; default $TMPDIR or
# /tmp).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/stack.sh
. "$ROOT/tools/stack.sh"

[ $# -eq 1 ] || sj_die "usage: $0 BUILD_DIR"
sj_need_root
BUILD=$(cd "$1" && pwd)
N_WEB=${N_WEB:-2}
M_WORKERS=${M_WORKERS:-2}
SECS=${SECS:-8}
DRAIN_N=${DRAIN_N:-40000}
ROUNDS=${ROUNDS:-2}
read -r -a MODE_LIST <<<"${MODES:-direct pgbouncer}"
WEB_PROCS=2
CONNS=(10 50)
WRK=${SJ_WRK:-/usr/bin/wrk}
BODY='{"prompt":"A happy cartoon character","style":"storybook"}'
for v in "$N_WEB" "$M_WORKERS" "$SECS" "$DRAIN_N" "$ROUNDS"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] ||
		sj_die "N_WEB, M_WORKERS, SECS, DRAIN_N, ROUNDS: positive integers"
done
[ "$N_WEB" -le 20 ] || sj_die "N_WEB: at most 20"
for m in "${MODE_LIST[@]}"; do
	case $m in direct | unnamed | pgbouncer) ;; *) sj_die "MODES: no mode '$m'" ;; esac
done
for f in "$BUILD/cgi/storyjobs-jobs" "$BUILD/worker/storyjobs-worker" "$WRK"; do
	[ -x "$f" ] || sj_die "$f is missing (build first)"
done
STATE=$(sj_state_dir "${SJ_BENCH_STATE_ROOT:-}" pooling-bench)
SJ_CLEANUP_LIST=$STATE/cleanup.list
LOG=$STATE/log
PGPORT=
DIRECT=
POOLED=
BASE_URL=
WEB_HOSTS=()
STARTED=$(date +%s)
trap 'sj_sweep "$SJ_CLEANUP_LIST"; rm -rf "$STATE"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

put() { printf '%s=%s\n' "$1" "$2"; }
sql() {
	PGOPTIONS='-c client_min_messages=warning' psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" \
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

# web_start MODE / web_stop: the N jobs programs, each in STATE/webI
# (its pid file) on its own loopback address.
web_start() {
	local i
	for i in "${!WEB_HOSTS[@]}"; do
		SJ_FCGI_LISTEN=${WEB_HOSTS[$i]} sj_fcgi_start "$BUILD" \
			"$STATE/web$i" jobs "$LOG/jobs-$i-$1.log" "$STATE/$1.env" \
			"$WEB_PROCS"
	done
}
web_stop() {
	local i
	for i in "${!WEB_HOSTS[@]}"; do
		sj_stop_pidfile "$STATE/web$i/jobs.pid"
	done
}

# wrk_create CONNS SECONDS: one wrk run of job starts; prints its
# SJRESULT fields.
wrk_create() {
	local out
	out=$(SJ_METHOD=POST SJ_BODY=$BODY "$WRK" -t2 -c"$1" -d"$2s" \
		-s "$ROOT/bench/wrk.lua" "$BASE_URL/api/jobs/cartoonize/start" 2>&1) ||
		sj_die "wrk failed: $out"
	grep '^SJRESULT ' <<<"$out" | sed 's/^SJRESULT //' ||
		sj_die "wrk printed no result: $out"
}

# field NAME LINE: the value of NAME=... in LINE.
field() {
	sed -nE "s/^(.* )?$1=([^ ]*).*/\\2/p" <<<"$2"
}

# create MODE ROUND: job creation at each connection count.
create() {
	local c line
	web_start "$1"
	wrk_create 10 1 >/dev/null # every process connected and warm
	sql "TRUNCATE jobs CASCADE" >/dev/null
	for c in "${CONNS[@]}"; do
		sj_say "pooling: round $2, $1, creation at $c connections, ${SECS}s"
		line=$(wrk_create "$c" "$SECS")
		put "round${2}_create_${1}_c$c" "$line"
		sql "TRUNCATE jobs CASCADE" >/dev/null
	done
	web_stop
	# what was in flight when wrk stopped has landed by now
	sql "TRUNCATE jobs CASCADE" >/dev/null
}

# drained: "t" when no job is pending or processing (two probes of the
# partial indexes, as bench/queue.sh waits: no scan of the backlog).
drained() {
	sql "SELECT NOT EXISTS (SELECT 1 FROM jobs WHERE status = 'pending')
		AND NOT EXISTS (SELECT 1 FROM jobs WHERE status = 'processing')"
}

# drain MODE ROUND: DRAIN_N noop jobs run by the M workers.
drain() {
	local i rate done_n
	sj_say "pooling: round $2, $1, drain of $DRAIN_N jobs by $M_WORKERS workers"
	sql "INSERT INTO jobs (id, type, priority, max_attempts, timeout_s,
		input) SELECT 'job_' || g || '_$1$2', 'noop', 0, 1, 60, '{}'
		FROM generate_series(1, $DRAIN_N) g" >/dev/null
	sql "VACUUM ANALYZE jobs" >/dev/null
	sql "CHECKPOINT" >/dev/null
	for ((i = 0; i < M_WORKERS; i++)); do
		sj_daemon_start "$STATE/worker$i.pid" "$LOG/worker-$i-$1.log" \
			"$STATE/$1.env" "$BUILD/worker/storyjobs-worker"
	done
	for ((i = 0; ; i++)); do
		[ "$(drained)" != t ] || break
		[ "$i" -lt 2400 ] || sj_die "jobs still live after 10 minutes"
		sleep 0.25
	done
	for ((i = 0; i < M_WORKERS; i++)); do
		sj_stop_pidfile "$STATE/worker$i.pid"
	done
	# jobs/s from the first claim to the last completion (the database's
	# clock: neither the workers' start nor the probe's period counts)
	rate=$(sql "SELECT round(count(*) / nullif(extract(epoch FROM
		max(completed_at) - min(claimed_at)), 0)) FROM jobs
		WHERE status = 'completed' AND type = 'noop'")
	done_n=$(sql "SELECT count(*) FROM jobs WHERE status = 'completed'
		AND type = 'noop'")
	[ "$done_n" = "$DRAIN_N" ] ||
		sj_die "drain ($1): $done_n of $DRAIN_N jobs completed"
	put "round${2}_drain_$1" "jobs_per_s=$rate completed=$done_n"
	sql "TRUNCATE jobs CASCADE" >/dev/null
}

# mean DECIMALS: the mean of the numbers on stdin.
mean() {
	awk -v d="$1" '{ s += $1 } END { printf "%.*f", d, NR ? s / NR : 0 }'
}

# summarise RESULTS: the means over the rounds, from the round lines.
summarise() {
	local m c key f vals
	for m in "${MODE_LIST[@]}"; do
		for c in "${CONNS[@]}"; do
			key=create_${m}_c$c
			for f in rps p50 p99 requests status_errors socket_errors; do
				vals=$(sed -n "s/^round[0-9]*_${key}=//p" "$1" |
					while read -r line; do field "$f" "$line"; done)
				case $f in
				rps)
					put "${key}_rps_rounds" "$(paste -sd' ' <<<"$vals")"
					put "${key}_rps" "$(mean 1 <<<"$vals")"
					;;
				p50 | p99) put "${key}_$f" "$(mean 2 <<<"$vals")" ;;
				*) put "${key}_$f" "$(awk '{ s += $1 } END { print s + 0 }' <<<"$vals")" ;;
				esac
			done
		done
		vals=$(sed -nE "s/^round[0-9]*_drain_${m}=jobs_per_s=([0-9]+).*/\1/p" "$1")
		put "drain_${m}_jobs_per_s_rounds" "$(paste -sd' ' <<<"$vals")"
		put "drain_${m}_jobs_per_s" "$(mean 0 <<<"$vals")"
	done
}

# ratios SUMMARY: pooled over direct, when both ran.
ratios() {
	local a b k
	for k in create_MODE_c10_rps create_MODE_c50_rps drain_MODE_jobs_per_s; do
		a=$(sed -n "s/^${k/MODE/pgbouncer}=//p" "$1")
		b=$(sed -n "s/^${k/MODE/direct}=//p" "$1")
		if [ -n "$a" ] && [ -n "$b" ]; then
			put "pooled_over_direct_${k/MODE_/}" \
				"$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
		fi
	done
}

main() {
	local port bport pass mode r i order=() results=$STATE/rounds
	install -d -m 755 "$LOG" "$STATE/media"
	for ((i = 0; i < N_WEB; i++)); do
		WEB_HOSTS+=("127.0.0.$((11 + i))")
		sj_run_dir "$STATE/web$i"
	done
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
	for mode in "${MODE_LIST[@]}"; do env_for "$mode"; done
	sj_migrate "$BUILD" "$STATE/${MODE_LIST[0]}.env" "$ROOT/sql" \
		>"$LOG/migrate.log" 2>&1 || sj_die "migrate failed"
	sj_free_port port
	BASE_URL=http://127.0.0.1:$port
	# The jobs family's port, free on 127.0.0.1 (so no wildcard listener
	# holds it); the other families' upstreams name ports nobody serves.
	sj_free_port SJ_FCGI_PORT_BASE
	SJ_NGINX_FCGI_HOSTS="${WEB_HOSTS[*]}" sj_nginx_render "$ROOT/nginx" \
		"$STATE/nginx" "$port" "$STATE/web0" "$STATE/media" "$ROOT/web"
	sj_nginx_start "$STATE/nginx"
	put machine_nproc "$(nproc)"
	put machine_cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	put pgbouncer_version "$("$SJ_PGBOUNCER" -V 2>&1 | awk 'NR == 1 { print $2 }')"
	put pgbouncer_pool_size "${SJ_PGBOUNCER_POOL_SIZE:-20}"
	put n_web "$N_WEB"
	put web_hosts "${WEB_HOSTS[*]}"
	put web_procs "$WEB_PROCS"
	put m_workers "$M_WORKERS"
	put worker_threads 24
	put secs "$SECS"
	put drain_n "$DRAIN_N"
	put rounds "$ROUNDS"
	put modes "${MODE_LIST[*]}"
	: >"$results"
	for ((r = 1; r <= ROUNDS; r++)); do
		order=("${MODE_LIST[@]}")
		if ((r % 2 == 0)); then
			order=()
			for ((i = ${#MODE_LIST[@]} - 1; i >= 0; i--)); do
				order+=("${MODE_LIST[$i]}")
			done
		fi
		put "round${r}_order" "${order[*]}"
		for mode in "${order[@]}"; do create "$mode" "$r"; done >>"$results"
		for mode in "${order[@]}"; do drain "$mode" "$r"; done >>"$results"
	done
	cat "$results"
	summarise "$results" | tee "$STATE/summary"
	ratios "$STATE/summary"
	put seconds $(($(date +%s) - STARTED))
}

main
