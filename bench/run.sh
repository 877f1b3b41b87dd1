#!/usr/bin/env bash
# bench/run.sh BUILD_DIR OUT_MD: the HTTP and memory benchmarks of issue 6,
# then bench/pooling.sh (creation and drain through PgBouncer against
# direct, N web x M workers), bench/monitor.sh (health and /metrics
# behind a backlog and at 10^6 finished jobs) and bench/queue.sh (the
# queue benchmarks,
# the pinned-snapshot run last: its time series, t,backlog,dead per
# second, are kept as bench-pinned-ours.csv and bench-pinned-graphile.csv
# in the state root); writes the report OUT_MD through bench/report.sh
# and prints a summary.
#
# DESIGN. A throwaway stack, started through tools/stack.sh as the
# integration test starts its own: a fresh PostgreSQL cluster with the
# settings below (fsync and synchronous_commit left on), the schema, the
# five FastCGI programs and the reference program bench/storyjobs-ref,
# each with the process count ./dev up uses, and nginx from the project's
# template plus STATE/nginx/extra-bench.conf (the /bench/ location).  wrk
# drives every figure through nginx with bench/wrk.lua, whose done() hook
# prints one SJRESULT line; each figure lands as KEY=VALUE in
# STATE/results, which report.sh turns into the tables.  Ceilings and the
# real routes they price run back to back, so drift between them is small.
# Nothing is built here: ./dev bench passes an -O2 build without
# sanitizers.  Everything is stopped by pid at exit.
#
# Knobs (environment): SJ_BENCH_SECONDS (each wrk run, default 10),
# SJ_BENCH_LOAD_SECONDS (30), SJ_BENCH_RATE_SECONDS (60),
# SJ_BENCH_MEM_REQUESTS (100000 per program), SJ_BENCH_QUEUE (full, small
# or none), SJ_BENCH_POOLING (run or none), SJ_BENCH_PARTS (which parts
# run, default "api load rate mem pooling monitor queue"; the report
# leaves the others' rows out), SJ_BENCH_STATE_ROOT (default
# $TMPDIR or /tmp; ./dev bench passes the checkout's state folder),
# SJ_BENCH_KEEP=1 keeps the state directory.  Needs root.  Run nothing else meanwhile:
# the figures are only as good as the machine is quiet.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/stack.sh
. "$ROOT/tools/stack.sh"

[ $# -eq 2 ] || sj_die "usage: $0 BUILD_DIR OUT_MD"
sj_need_root
BUILD=$(cd "$1" && pwd)
OUT_MD=$2
SECS=${SJ_BENCH_SECONDS:-10}
LOAD_SECS=${SJ_BENCH_LOAD_SECONDS:-30}
RATE_SECS=${SJ_BENCH_RATE_SECONDS:-60}
MEM_REQS=${SJ_BENCH_MEM_REQUESTS:-100000}
QUEUE_SIZE=${SJ_BENCH_QUEUE:-full}
POOLING=${SJ_BENCH_POOLING:-run}
PARTS=" ${SJ_BENCH_PARTS:-api load rate mem pooling monitor queue} "
# The process count of every FastCGI program in ./dev up.
PROCS=2
# Non-default PostgreSQL settings (besides port, addresses, socket dir).
# shared_buffers holds the largest table the benchmarks build (10^6
# finished jobs: 240 MB of rows and 63 MB of indexes); at 256 MB the
# status reads at 10^6 came from the kernel's page cache instead (p50
# 0.11 against 0.08 ms at 10^4).
PG_SETTINGS=(shared_buffers=512MB max_connections=100)
WRK=${SJ_WRK:-/usr/bin/wrk}
REF_BIN=$BUILD/bench/storyjobs-ref
WORKER_BIN=$BUILD/worker/storyjobs-worker
CTL_BIN=$BUILD/tools/storyjobsctl
for f in "${SJ_FCGI_PROGRAMS[@]/#/$BUILD/cgi/storyjobs-}" "$REF_BIN" \
	"$WORKER_BIN" "$CTL_BIN" "$WRK"; do
	[ -x "$f" ] || sj_die "$f is missing (build first)"
done
[[ $SECS =~ ^[0-9]+$ && $LOAD_SECS =~ ^[0-9]+$ && $RATE_SECS =~ ^[0-9]+$ &&
	$MEM_REQS =~ ^[0-9]+$ ]] || sj_die "SJ_BENCH_* durations must be integers"
[[ $POOLING == run || $POOLING == none ]] ||
	sj_die "SJ_BENCH_POOLING: run or none, not '$POOLING'"

STATE=$(sj_state_dir "${SJ_BENCH_STATE_ROOT:-}" bench)
SJ_CLEANUP_LIST=$STATE/cleanup.list
LOG=$STATE/log
RUN=$STATE/run
RESULTS=$STATE/results
SAMPLER_PID=
WRK_PID=
PGPORT=
STARTED=$(date +%s)

finish() {
	local rc=$?
	trap - EXIT INT TERM
	for p in "$SAMPLER_PID" "$WRK_PID"; do
		[ -z "$p" ] || kill "$p" 2>/dev/null || true
	done
	sj_sweep "$SJ_CLEANUP_LIST"
	if [ "$rc" -ne 0 ]; then
		sj_tail_logs "$LOG"/*.log "$STATE/nginx/error.log"
		sj_say "benchmark FAILED; state kept in $STATE"
	elif [ "${SJ_BENCH_KEEP:-0}" = 1 ]; then
		sj_say "state kept in $STATE"
	else
		rm -rf "$STATE"
	fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# put KEY VALUE: one result line.
put() {
	printf '%s=%s\n' "$1" "$2" >>"$RESULTS"
}

# get KEY: the last value stored for KEY.
get() {
	awk -v k="$1" 'index($0, k "=") == 1 { v = substr($0, length(k) + 2) }
		END { print v }' "$RESULTS"
}

# sql TEXT: runs TEXT in the benchmark database, prints unaligned rows.
sql() {
	psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" \
		-U postgres -d storyjobs -c "$1"
}

machine_facts() {
	local debian
	debian=$(cat /etc/debian_version 2>/dev/null || echo unknown)
	put machine_nproc "$(nproc)"
	put machine_cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	put machine_mem_mib "$(awk '/^MemTotal/ { print int($2 / 1024) }' /proc/meminfo)"
	put machine_kernel "$(uname -r)"
	put machine_debian "$debian"
	put machine_fs "$(findmnt -n -o FSTYPE -T "$STATE" 2>/dev/null || echo unknown)"
	put nginx_version "$("$SJ_NGINX" -v 2>&1 | sed 's|^nginx version: ||')"
	put wrk_version "$("$WRK" -v 2>&1 | awk 'NR == 1 { print $2 }')"
	put procs "$PROCS"
	put started_utc "$(date -u +%FT%TZ)"
	put git_commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
}

start_db() {
	sj_free_port PGPORT
	install -d -m 755 "$LOG"
	sj_pg_init "$STATE/pg" "$STATE/pgsock" "$PGPORT" "${PG_SETTINGS[@]}"
	sj_pg_start "$STATE/pg" "$LOG/postgres.log"
	sj_createdb "$PGPORT" storyjobs
	DATABASE_URL=$(sj_pg_url "$PGPORT" storyjobs)
	put pg_version "$(sql 'SHOW server_version')"
	put pg_settings "${PG_SETTINGS[*]}"
	put pg_durability "fsync=$(sql 'SHOW fsync') synchronous_commit=$(sql 'SHOW synchronous_commit') full_page_writes=$(sql 'SHOW full_page_writes') wal_level=$(sql 'SHOW wal_level')"
}

write_env() {
	sj_write_env "$STATE/stack.env" \
		"BASE_URL=$BASE_URL" \
		"DATABASE_URL=$DATABASE_URL" \
		"WEBHOOK_SECRET=$(sj_secret)" \
		"GENERATION_PROVIDER=local" \
		"STORAGE=local" \
		"MEDIA_DIR=$STATE/media" \
		"PUBLIC_BASE_URL=$BASE_URL" \
		"JOB_PROCESSING_INTERVAL=1000" \
		"LOCAL_DELAY_MS=0" \
		"ANON_START_LIMIT=1000000" \
		"ANON_MAX_ACTIVE_JOBS=1000000" \
		"ANON_MAX_ACTIVE_TOTAL=1000000" \
		"MAX_JOBS_PER_USER=1000000" \
		"LOG_LEVEL=warn"
}

# start_ref: bench/storyjobs-ref on RUN/ref.sock, as sj_fcgi_start does
# for the real programs.
start_ref() {
	local sock=$RUN/ref.sock i
	sj_daemon_start "$RUN/ref.pid" "$LOG/ref.log" "$STATE/stack.env" \
		"$REF_BIN" --socket "$sock" --processes "$PROCS" \
		--socket-group www-data
	for ((i = 0; i < 100; i++)); do
		[ -S "$sock" ] && return 0
		sleep 0.1
	done
	sj_die "storyjobs-ref did not create $sock"
}

# bench_conf: STATE/nginx/extra-bench.conf.  /bench/ goes to the reference
# program.  /bench-cron reaches the cron program past the cron location's
# limit_req (a rate limit would answer 429 itself): the same parameters
# as every location inherits, with the path the program sees set to its
# route.
bench_conf() {
	local ngx=$STATE/nginx params
	# shellcheck disable=SC2016 # $uri is nginx's, matched literally
	params=$(grep -E '^[[:space:]]*fastcgi_param ' "$ngx/storyjobs-site.conf" |
		sed -E 's|(fastcgi_param DOCUMENT_URI )\$uri;|\1/api/cron/process-jobs;|')
	[[ $params == *'DOCUMENT_URI /api/cron/process-jobs;'* ]] ||
		sj_die "nginx.conf has no DOCUMENT_URI parameter to override"
	cat >"$ngx/extra-bench.conf" <<EOF
# bench/run.sh: the reference program and a way past cron's rate limit.
location /bench/ {
	fastcgi_pass unix:$RUN/ref.sock;
}
location = /bench-cron {
$params
	fastcgi_pass unix:$RUN/cron.sock;
}
EOF
	sj_nginx_cmd "$ngx" -t -q || sj_die "nginx rejected extra-bench.conf"
}

start_stack() {
	local port
	start_db
	sj_free_port port
	BASE_URL=http://127.0.0.1:$port
	install -d -m 755 "$STATE/media"
	sj_run_dir "$RUN"
	write_env
	sj_migrate "$BUILD" "$STATE/stack.env" "$ROOT/sql" >>"$LOG/migrate.log" 2>&1 ||
		sj_die "migrate failed; see $LOG/migrate.log"
	sql "CREATE TABLE bench_ref (id bigserial PRIMARY KEY, body jsonb,
		created_at timestamptz DEFAULT now())"
	sj_fcgi_start_all "$BUILD" "$RUN" "$LOG" "$STATE/stack.env" "$PROCS"
	start_ref
	sj_nginx_render "$ROOT/nginx" "$STATE/nginx" "$port" \
		"$RUN" "$STATE/media" "$ROOT/web"
	bench_conf
	sj_nginx_start "$STATE/nginx"
	sj_wait_ready "$BASE_URL" 15 || sj_die "the stack did not answer"
}

# The bodies the POST runs send.
BODY_INSERT='{"image_prompt":"a lighthouse at dusk","style":"storybook"}'
BODY_START='{"image_prompt":"a lighthouse at dusk","style":"storybook"}'
BODY_LOAD='{"prompt":"A happy cartoon character","style":"storybook"}'

# wrk_run NAME CONNS SECONDS PATH [VAR=VALUE...]: one wrk run through
# nginx; stores NAME_requests, NAME_rps, NAME_p50 ... and NAME_cmd.
wrk_run() {
	local name=$1 conns=$2 secs=$3 path=$4 threads=2 line kv envs
	shift 4
	[ "$conns" -ge 2 ] || threads=1
	envs="SJ_THREADS=$threads "
	for kv in "$@"; do
		envs+="${kv%%=*}=$(sj_quote "${kv#*=}") "
	done
	sj_say "wrk $name: $conns connections, ${secs}s, $path"
	env SJ_THREADS="$threads" "$@" "$WRK" -t"$threads" -c"$conns" -d"${secs}s" --latency \
		-s "$ROOT/bench/wrk.lua" "$BASE_URL$path" >"$STATE/wrk-$name.txt" 2>&1 ||
		sj_die "wrk failed: $(cat "$STATE/wrk-$name.txt")"
	line=$(grep '^SJRESULT ' "$STATE/wrk-$name.txt") ||
		sj_die "wrk printed no result: $(cat "$STATE/wrk-$name.txt")"
	for kv in ${line#SJRESULT }; do
		put "${name}_${kv%%=*}" "${kv#*=}"
	done
	put "${name}_cmd" "${envs}wrk -t$threads -c$conns -d${secs}s --latency -s bench/wrk.lua $BASE_URL$path"
}

# warm PATH [VAR=VALUE...]: a short run so every process has connected and
# prepared its statements before anything is measured.
warm() {
	local path=$1
	shift
	env SJ_THREADS=2 "$@" "$WRK" -t2 -c10 -d1s -s "$ROOT/bench/wrk.lua" \
		"$BASE_URL$path" >/dev/null 2>&1 || true
}

# bench_users N FILE: N users with a session each, their bearer tokens
# in FILE, one a line.  The sessions are made in SQL as the login route
# stores them (sessions.token_hash = SHA-256 of the token): 50 logins
# through nginx's limit on the login location would take a minute.
bench_users() {
	sql "INSERT INTO users (email, password_hash) SELECT 'bench-' || i ||
		'@example.com', 'x' FROM generate_series(1, $1) i" >/dev/null
	sql "WITH t AS (SELECT id, 'sjt_' || substr(md5(id::text) ||
		md5(id || 'b'), 1, 43) AS token FROM users
		WHERE email LIKE 'bench-%@example.com'),
		s AS (INSERT INTO sessions (token_hash, user_id, expires_at)
		SELECT sha256(convert_to(token, 'UTF8')), id,
		now() + interval '1 day' FROM t)
		SELECT token FROM t ORDER BY id" >"$2"
	[ "$(wc -l <"$2")" -eq "$1" ] || sj_die "bench_users: $(wc -l <"$2") sessions, want $1"
}

# new_job: creates an anonymous image-generation job, prints its id.
new_job() {
	curl -s --noproxy '*' -m 5 -H 'Content-Type: application/json' \
		-d "$BODY_START" "$BASE_URL/api/jobs/image-generation/start" |
		sed -n 's/.*"jobId":"\(job_[A-Za-z0-9_]*\)".*/\1/p'
}

run_api() {
	local c status_id
	status_id=$(new_job)
	[ -n "$status_id" ] || sj_die "could not create a job to read"
	STATUS_ID=$status_id
	put status_job "$status_id"
	warm /bench/const
	warm /bench/select1
	warm "/api/jobs/$status_id"
	warm /bench/insert SJ_METHOD=POST SJ_BODY="$BODY_INSERT"
	warm /api/jobs/image-generation/start SJ_METHOD=POST SJ_BODY="$BODY_START"
	warm /api/jobs/health
	for c in 10 50; do
		wrk_run "const_c$c" "$c" "$SECS" /bench/const
	done
	for c in 10 50; do
		wrk_run "select1_c$c" "$c" "$SECS" /bench/select1
		wrk_run "status_c$c" "$c" "$SECS" "/api/jobs/$status_id"
	done
	for c in 10 50; do
		wrk_run "insert_c$c" "$c" "$SECS" /bench/insert \
			SJ_METHOD=POST SJ_BODY="$BODY_INSERT"
		wrk_run "create_c$c" "$c" "$SECS" \
			/api/jobs/image-generation/start \
			SJ_METHOD=POST SJ_BODY="$BODY_START"
	done
	# Every start above came from one address: one anonymous client,
	# whose starts run one at a time behind its lock (sql/019).  50 users
	# at once, each with its own lock, as a site's visitors start jobs:
	bench_users 50 "$STATE/tokens.txt"
	warm /api/jobs/image-generation/start SJ_METHOD=POST \
		SJ_BODY="$BODY_START" SJ_TOKENS="$STATE/tokens.txt"
	wrk_run create_users_c50 50 "$SECS" /api/jobs/image-generation/start \
		SJ_METHOD=POST SJ_BODY="$BODY_START" \
		SJ_TOKENS="$STATE/tokens.txt"
	put jobs_created_by_create "$(sql "SELECT count(*) FROM jobs WHERE id <> '$status_id'")"
	# Health counts the live jobs; it is measured on a table without the
	# backlog the creation runs left (that backlog is a separate figure).
	wrk_run health_backlog_c10 10 "$SECS" /api/jobs/health
	clear_jobs
	# with a live worker, as in production: the answer is 200 healthy
	sj_daemon_start "$RUN/worker.pid" "$LOG/worker.log" "$STATE/stack.env" \
		"$WORKER_BIN"
	sleep 1
	wrk_run health_c10 10 "$SECS" /api/jobs/health
	sj_stop_pidfile "$RUN/worker.pid"
}

# clear_jobs: deletes every job but the one the status runs read.
clear_jobs() {
	sql "DELETE FROM jobs WHERE id <> '$STATUS_ID'" >/dev/null
	sql "VACUUM ANALYZE jobs" >/dev/null
}

# run_load: the testing guide's job-creation load test, harder: 10 users
# with no pause between requests (the guide's users sleep 1 s).
run_load() {
	wrk_run load_c10 10 "$LOAD_SECS" /api/jobs/cartoonize/start \
		SJ_METHOD=POST SJ_BODY="$BODY_LOAD"
	clear_jobs
}

# depth_sampler FILE: appends the live queue depth every second.
depth_sampler() {
	while sleep 1; do
		sql "SELECT count(*) FROM jobs WHERE status IN ('pending',
			'processing')" >>"$1" 2>/dev/null || true
	done
}

# run_rate: 5 jobs per second (10 connections, a pause of 2 s on average
# before each request) for RATE_SECS while a worker processes them.
run_rate() {
	local depth=$STATE/depth.txt i live
	sj_daemon_start "$RUN/worker.pid" "$LOG/worker.log" "$STATE/stack.env" \
		"$WORKER_BIN"
	sleep 1
	: >"$depth"
	depth_sampler "$depth" &
	SAMPLER_PID=$!
	wrk_run rate_c10 10 "$RATE_SECS" /api/jobs/cartoonize/start \
		SJ_METHOD=POST SJ_BODY="$BODY_LOAD" SJ_DELAY_MS=2000
	kill "$SAMPLER_PID" 2>/dev/null || true
	wait "$SAMPLER_PID" 2>/dev/null || true
	SAMPLER_PID=
	for ((i = 0; i < 100; i++)); do
		live=$(sql "SELECT count(*) FROM jobs WHERE status IN
			('pending', 'processing')")
		[ "$live" != 0 ] || break
		sleep 0.2
	done
	put rate_depth_max "$(sort -n "$depth" | tail -n 1)"
	put rate_depth_mean "$(awk '{ s += $1 } END { printf "%.1f", NR ? s / NR : 0 }' "$depth")"
	put rate_depth_samples "$(wc -l <"$depth")"
	put rate_live_after "$live"
	put rate_drain_s "$(awk -v i="$i" 'BEGIN { printf "%.1f", i * 0.2 }')"
	put rate_completed "$(sql "SELECT count(*) FROM jobs WHERE status = 'completed' AND type = 'cartoonize'")"
	put rate_failed "$(sql "SELECT count(*) FROM jobs WHERE status = 'failed' AND type = 'cartoonize'")"
	put rate_latency "$(sql "SELECT coalesce(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at))::numeric * 1000, 1), 0) || ' ' || coalesce(round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at))::numeric * 1000, 1), 0) FROM jobs WHERE status = 'completed' AND type = 'cartoonize'")"
	sj_stop_pidfile "$RUN/worker.pid"
	clear_jobs
}

# family_rss NAME: "max_kib sum_kib count" over the prefork server of NAME
# (its pid file) and its children.
family_rss() {
	local parent f stat fields pids=() p rss max=0 n=0
	parent=$(head -n 1 "$RUN/$1.pid")
	pids=("$parent")
	for f in /proc/[0-9]*/stat; do
		stat=$(cat "$f" 2>/dev/null) || continue
		read -r -a fields <<<"${stat##*) }"
		[ "${fields[1]}" = "$parent" ] || continue
		f=${f#/proc/}
		pids+=("${f%/stat}")
	done
	for p in "${pids[@]}"; do
		rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
		[ -n "$rss" ] || continue
		n=$((n + 1))
		[ "$rss" -le "$max" ] || max=$rss
	done
	echo "$max $n"
}

# mem_drive PATH COUNT [VAR=VALUE...]: COUNT requests (2 threads, 20
# connections) to PATH; wrk's threads stop at their share and mark it,
# and wrk is then ended early (it otherwise sleeps for all of -d).
mem_drive() {
	local path=$1 count=$2 mark=$STATE/mark. i
	shift 2
	rm -f "$mark"*
	env "$@" SJ_STOP_AFTER=$((count / 2)) SJ_MARK="$mark" "$WRK" -t2 -c20 \
		-d600s -s "$ROOT/bench/wrk.lua" "$BASE_URL$path" \
		>"$STATE/wrk-mem.txt" 2>&1 &
	WRK_PID=$!
	for ((i = 0; i < 6000; i++)); do
		[ "$(find "$STATE" -maxdepth 1 -name 'mark.*' | wc -l)" -lt 2 ] || break
		kill -0 "$WRK_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -INT "$WRK_PID" 2>/dev/null || true
	wait "$WRK_PID" || true
	WRK_PID=
	grep -q '^SJRESULT ' "$STATE/wrk-mem.txt" ||
		sj_die "wrk (memory) printed no result: $(cat "$STATE/wrk-mem.txt")"
	awk '/^SJRESULT / { for (i = 2; i <= NF; i++) { split($i, a, "=");
		if (a[1] == "requests") print a[2] } }' "$STATE/wrk-mem.txt"
}

# run_mem_one NAME METHOD PATH WANT_STATUS [VAR=VALUE...]: MEM_REQS
# requests to the cheap route PATH of program NAME; the largest RSS of its
# processes after the first half and after all of them.
run_mem_one() {
	local name=$1 method=$2 path=$3 want=$4 half=$((MEM_REQS / 2))
	local got code r1 r2
	shift 4
	code=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' \
		-X "$method" "$BASE_URL$path")
	[ "$code" = "$want" ] ||
		sj_die "memory route $method $path answered $code, want $want"
	sj_say "memory: $name, 2 x $half requests, $method $path ($want)"
	got=$(mem_drive "$path" "$half" SJ_METHOD="$method" "$@")
	r1=$(family_rss "$name")
	got=$((got + $(mem_drive "$path" "$half" SJ_METHOD="$method" "$@")))
	r2=$(family_rss "$name")
	put "mem_${name}_route" "$method $path ($want)"
	put "mem_${name}_requests" "$got"
	put "mem_${name}_rss_half_kib" "${r1%% *}"
	put "mem_${name}_rss_end_kib" "${r2%% *}"
	put "mem_${name}_procs" "${r2##* }"
}

run_mem() {
	run_mem_one health GET /api/jobs/health 200
	run_mem_one jobs GET "/api/jobs/$STATUS_ID" 200
	run_mem_one auth GET /api/auth/me 401
	run_mem_one cron POST /bench-cron 401 \
		SJ_HEADER='X-Webhook-Secret: not-the-secret'
	run_mem_one admin GET /api/admin/stats 401
	run_mem_one ref GET /bench/select1 200
}

# stop_http: the HTTP stack stops, so what follows has the machine to
# itself (PostgreSQL stays).
stop_http() {
	sj_nginx_stop "$STATE/nginx"
	sj_fcgi_stop_all "$RUN"
	sj_stop_pidfile "$RUN/ref.pid"
}

# run_pooling: bench/pooling.sh (its own PostgreSQL and PgBouncer, in a
# folder of STATE); its KEY=VALUE lines land as pooling.KEY.
run_pooling() {
	local out=$STATE/pooling.out
	if [ "$POOLING" = none ]; then
		put pooling_status "not run (SJ_BENCH_POOLING=none)"
		return 0
	fi
	stop_http
	sj_say "running bench/pooling.sh (about 2 minutes)"
	if SJ_BENCH_STATE_ROOT=$STATE SJ_WRK=$WRK "$ROOT/bench/pooling.sh" \
		"$BUILD" >"$out" 2>"$LOG/pooling.log"; then
		put pooling_status ok
	else
		put pooling_status "failed (exit $?; see the log of bench/pooling.sh)"
		tail -n 20 "$LOG/pooling.log" >&2
	fi
	grep -E '^[a-z0-9_]+=' "$out" | sed 's/^/pooling./' >>"$RESULTS" || true
}

# run_monitor: bench/monitor.sh (its own PostgreSQL, health program and
# nginx, in a folder of STATE); its KEY=VALUE lines land as monitor.KEY.
run_monitor() {
	local out=$STATE/monitor.out
	stop_http
	sj_say "running bench/monitor.sh (about 2 minutes)"
	if SJ_BENCH_STATE_ROOT=$STATE SJ_WRK=$WRK SJ_BENCH_SECONDS=$SECS \
		"$ROOT/bench/monitor.sh" "$BUILD" >"$out" 2>"$LOG/monitor.log"; then
		put monitor_status ok
	else
		put monitor_status "failed (exit $?; see the log of bench/monitor.sh)"
		tail -n 20 "$LOG/monitor.log" >&2
	fi
	grep -E '^[a-z0-9_]+=' "$out" | sed 's/^/monitor./' >>"$RESULTS" || true
}

# run_queue: bench/queue.sh on a fresh database of the same cluster, with
# the HTTP stack stopped so it has the machine to itself.
run_queue() {
	local q=$ROOT/bench/queue.sh out=$STATE/queue.out
	if [ "$QUEUE_SIZE" = none ]; then
		put queue_status "not run (SJ_BENCH_QUEUE=none)"
		return 0
	fi
	if [ ! -x "$q" ]; then
		put queue_status "not run (bench/queue.sh does not exist)"
		return 0
	fi
	stop_http
	sj_createdb "$PGPORT" queue
	# the stack's settings, another database
	{
		cat "$STATE/stack.env"
		printf 'export DATABASE_URL=%s\n' "$(sj_pg_url "$PGPORT" queue)"
	} >"$STATE/queue.env"
	chmod 600 "$STATE/queue.env"
	sj_migrate "$BUILD" "$STATE/queue.env" "$ROOT/sql" >>"$LOG/migrate.log" 2>&1 ||
		sj_die "migrate (queue database) failed"
	install -d -m 755 "$STATE/queue"
	sj_say "running bench/queue.sh --size $QUEUE_SIZE"
	if env DATABASE_URL="$(sj_pg_url "$PGPORT" queue)" SJ_PGBIN="$SJ_PGBIN" \
		WORKER_BIN="$WORKER_BIN" CTL_BIN="$CTL_BIN" \
		"$q" --size "$QUEUE_SIZE" "$BUILD" "$STATE/queue" >"$out" \
		2>"$LOG/queue.log"; then
		put queue_status ok
	else
		put queue_status "failed (exit $?; see the log of bench/queue.sh)"
		tail -n 20 "$LOG/queue.log" >&2
	fi
	put queue_size "$QUEUE_SIZE"
	grep -E '^[a-z0-9_]+=' "$out" | sed 's/^/queue./' >>"$RESULTS" || true
	# The pinned-snapshot time series outlive the state directory: next
	# to it, in the state root.
	local f kept=()
	for f in "$STATE"/queue/pinned-*.csv; do
		[ -f "$f" ] || continue
		cp -f "$f" "${STATE%/*}/bench-${f##*/}"
		kept+=("${STATE%/*}/bench-${f##*/}")
	done
	[ ${#kept[@]} -eq 0 ] || put queue_pinned_csv "${kept[*]}"
}

main() {
	: >"$RESULTS"
	machine_facts
	start_stack
	for part in api load rate mem; do
		[[ $PARTS != *" $part "* ]] || "run_$part"
	done
	put http_seconds $(($(date +%s) - STARTED))
	for part in pooling monitor queue; do
		[[ $PARTS != *" $part "* ]] || "run_$part"
	done
	put total_seconds $(($(date +%s) - STARTED))
	"$ROOT/bench/report.sh" "$RESULTS" >"$OUT_MD.tmp"
	mv -f "$OUT_MD.tmp" "$OUT_MD"
	"$ROOT/bench/report.sh" --summary "$RESULTS"
	sj_say "wrote $OUT_MD"
}

main
