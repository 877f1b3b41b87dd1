#!/usr/bin/env bash
# bench/designs/run.sh [ROUNDS] [JOBS] [CLIENTS] [DESIGNS]: the drain of
# JOBS no-op jobs (default 100,000) at the SQL level for each jobs-table
# design, on a private PostgreSQL cluster with bench/run.sh's settings
# (shared_buffers 512MB, fsync and synchronous_commit on) plus
# pg_stat_statements.  Each run is a fresh database: the design's schema,
# the jobs inserted in one statement, VACUUM ANALYZE, CHECKPOINT, then
# CLIENTS pgbench clients (default 4) each claiming a batch of BATCH
# (default 100) and completing it, two autocommit statements per batch
# (dN.pgbench), JOBS / (CLIENTS * BATCH) batches each.  Rounds alternate
# the order of the designs.  Per run it prints: jobs/s (the drain's wall
# time), PostgreSQL CPU µs per job (utime + stime of the postmaster, its
# children and its reaped children, from /proc), pg_stat_statements'
# execution time µs per job, then from pg_waldump over the insert and the
# drain: new heap tuple versions, deletes and row locks per job, B-tree
# leaf insertions per job, the HOT fraction of the record table's updates
# (pg_stat_user_tables), WAL bytes per job of the drain, the record
# table's size per job after the drain (before any VACUUM), and the jobs left
# unclaimed (a claim can come back short: SKIP LOCKED).  Then the medians.
#
# Designs:
#   d0   today's schema (sql/0*.sql) and statements
#   d1   d0 without jobs_processing_idx and jobs_finished_idx
#   d2a  jobs_ready + jobs_claimed beside HOT-updated records
#   d2b  jobs_ready + a lease index on jobs (non-HOT on PostgreSQL 15)
#   d2c  jobs_ready alone (no path to processing jobs: the HOT bound)
#   d4a, d4c  d2a, d2c with jobs at fillfactor 40 (d4.sql)
#   d5   jobs_ready + jobs_claimed, the claim writing only those: the
#        record is updated once, by the completion; d5f at fillfactor 40
#   d6   d0 on schema 018 with 018's completion (live counts, finished
#        minutes and hours); not run unless named, SJ_SQL_DIR must hold 018
#   d3   graphile-worker 0.18.0's schema and statements (needs
#        GRAPHILE_MODULES, default bench/graphile/node_modules after `npm ci`)
# SJ_SQL_DIR: the migrations d0-d2c apply (default sql/ of this tree; e.g.
# `git archive HEAD sql | tar -x -C DIR` for a tree with one unfinished).
# SJ_MEASURE_LOCK names a file each run holds an flock on (machines shared
# by benchmarks).  Run as root; every process started is stopped by pid.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/bench/designs
# shellcheck source=tools/stack.sh
. "$ROOT/tools/stack.sh"
ROUNDS=${1:-3} N=${2:-100000} C=${3:-4} DESIGNS=${4:-"d0 d1 d2a d2b d2c d3 d4a d4c d5 d5f"}
BATCH=${BATCH:-100}
SQL_DIR=${SJ_SQL_DIR:-$ROOT/sql}
GRAPHILE_MODULES=${GRAPHILE_MODULES:-$ROOT/bench/graphile/node_modules}
for v in "$ROUNDS" "$N" "$C" "$BATCH"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || sj_die "usage: $0 [ROUNDS] [JOBS] [CLIENTS] [DESIGNS]"
done
sj_need_root
read -ra DL <<<"$DESIGNS"
for d in "${DL[@]}"; do
	case $d in
	d0 | d1 | d2a | d2b | d2c | d4a | d4c | d5 | d5f) ;;
	d6) [ -f "$SQL_DIR/018_live_counts.sql" ] || sj_die "d6 needs SJ_SQL_DIR with 018" ;;
	d3) [ -x "$GRAPHILE_MODULES/.bin/node" ] ||
		sj_die "d3 needs graphile-worker: npm ci in bench/graphile, or GRAPHILE_MODULES" ;;
	*) sj_die "unknown design $d" ;;
	esac
done
command -v pgbench >/dev/null || sj_die "pgbench not found"

T=$(sj_state_dir "" sj-designs)
cleanup() {
	sj_pg_stop "$T/pg" || true
	rm -rf "$T"
}
trap cleanup EXIT
PORT=
sj_free_port PORT
sj_pg_init "$T/pg" "$T/sock" "$PORT" shared_buffers=512MB max_connections=100 \
	shared_preload_libraries=pg_stat_statements
sj_pg_start "$T/pg" "$T/pg.log"
PM=$(head -n 1 "$T/pg/postmaster.pid")
DB=drain

q() {
	psql -X -q -At -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -d "$DB" "$@"
}

# cpu_ticks: clock ticks of PostgreSQL so far: the postmaster's own and
# its reaped children's (cutime, cstime), and each live child's.
# (/proc/PID/stat after the name: the state is field 1, utime 12,
# stime 13, cutime 14, cstime 15.)
cpu_ticks() {
	local c kids
	read -ra kids <"/proc/$PM/task/$PM/children" || true # no newline at its end
	{
		sed 's/.*) //' "/proc/$PM/stat" | awk '{ print $12 + $13 + $14 + $15 }'
		for c in "${kids[@]}"; do
			sed 's/.*) //' "/proc/$c/stat" 2>/dev/null | awk '{ print $12 + $13 }'
		done
	} | awk '{ t += $1 } END { print t }'
}

# backends_gone: waits until no client backend runs (their time is then
# in the postmaster's cutime and cstime).
backends_gone() {
	local i c n kids
	for ((i = 0; i < 100; i++)); do
		n=0
		read -ra kids <"/proc/$PM/task/$PM/children" || true # no newline at its end
		for c in "${kids[@]}"; do
			tr '\0' ' ' 2>/dev/null <"/proc/$c/cmdline" | grep -q '^postgres: postgres ' &&
				n=$((n + 1))
		done
		[ "$n" = 0 ] && return 0
		sleep 0.05
	done
	sj_die "client backends still running"
}

# walstats FROM TO: "tuples deletes locks leaf_inserts" WAL records
# between two LSNs (read before the next CHECKPOINT recycles them).
walstats() {
	sj_as_postgres "$SJ_PGBIN/pg_waldump" -p "$T/pg/pg_wal" -s "$1" -e "$2" \
		--stats=record | awk '
		$1 ~ /^Heap\/(INSERT|UPDATE|HOT_UPDATE)(\+INIT)?$/ { t += $2 }
		$1 ~ /^Heap\/DELETE$/ { d += $2 }
		$1 ~ /^Heap\/LOCK$/ { l += $2 }
		$1 ~ /^Btree\/INSERT_(LEAF|POST)$/ { i += $2 }
		END { printf "%d %d %d %d\n", t, d, l, i }'
}

# setup DESIGN: a fresh database with DESIGN's schema and N pending jobs;
# prints the record table's name.
setup() {
	local d=$1 f
	psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 \
		-c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
	q -c "CREATE EXTENSION pg_stat_statements" >/dev/null
	if [ "$d" = d3 ]; then
		"$GRAPHILE_MODULES/.bin/node" "$GRAPHILE_MODULES/.bin/graphile-worker" \
			-c "postgres://postgres@127.0.0.1:$PORT/$DB" --schema-only >/dev/null
		L0=$(q -c "SELECT pg_current_wal_lsn()")
		q -c "INSERT INTO graphile_worker._private_tasks (identifier) VALUES ('noop')" \
			-c "INSERT INTO graphile_worker._private_jobs (task_id, payload)
				SELECT 1, '{}' FROM generate_series(1, $N)"
		INS=$(walstats "$L0" "$(q -c "SELECT pg_current_wal_lsn()")")
		q -c "VACUUM ANALYZE graphile_worker._private_jobs" -c CHECKPOINT
		REL=graphile_worker._private_jobs
		return
	fi
	for f in "$SQL_DIR"/[0-9][0-9][0-9]_*.sql; do
		q -1 -f "$f" >/dev/null
	done
	case $d in
	d1) q -1 -f "$HERE/d1.sql" >/dev/null ;;
	d2?) q -1 -f "$HERE/d2_ready.sql" -f "$HERE/$d.sql" >/dev/null ;;
	d4?) q -1 -f "$HERE/d2_ready.sql" -f "$HERE/d2${d#d4}.sql" -f "$HERE/d4.sql" >/dev/null ;;
	d5) q -1 -f "$HERE/d2_ready.sql" -f "$HERE/d5.sql" >/dev/null ;;
	d5f) q -1 -f "$HERE/d2_ready.sql" -f "$HERE/d5.sql" -f "$HERE/d4.sql" >/dev/null ;;
	esac
	L0=$(q -c "SELECT pg_current_wal_lsn()")
	q -c "INSERT INTO jobs (id, type, priority, max_attempts, timeout_s, input)
		SELECT 'job_' || g || '_b', 'noop', 0, 1, 60, '{}'
		FROM generate_series(1, $N) g"
	case $d in
	d2? | d4? | d5*) q -c "INSERT INTO jobs_ready (id, type, priority, fair_at, run_at,
		user_id, client) SELECT id, type, priority, fair_at, run_at, user_id,
		client FROM jobs" ;;
	esac
	INS=$(walstats "$L0" "$(q -c "SELECT pg_current_wal_lsn()")")
	q -c "VACUUM ANALYZE" -c CHECKPOINT
	REL='jobs'
}

# run DESIGN ROUND: one drain; appends its line to $T/results.
run() {
	local d=$1 r=$2 script=$1 t0 t1 c0 c1 l2 l3 u0 u1 left ndone heap drain pgss
	case $d in
	d1) script=d0 ;;
	d2c | d4c) script=d2b ;;
	d4a) script=d2a ;;
	d5f) script=d5 ;;
	esac
	setup "$d"
	u0=$(q -c "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
		WHERE relid = '$REL'::regclass")
	q -c "SELECT pg_stat_statements_reset()" >/dev/null
	l2=$(q -c "SELECT pg_current_wal_lsn()")
	backends_gone
	c0=$(cpu_ticks)
	t0=$(date +%s%N)
	pgbench -h 127.0.0.1 -p "$PORT" -U postgres -n -M extended -c "$C" -j "$C" \
		-t $(((N + C * BATCH - 1) / (C * BATCH))) -D batch="$BATCH" \
		-f "$HERE/$script.pgbench" "$DB" >"$T/pgbench.log" 2>&1 ||
		{
			cat "$T/pgbench.log" >&2
			sj_die "pgbench failed ($d)"
		}
	t1=$(date +%s%N)
	backends_gone
	c1=$(cpu_ticks)
	l3=$(q -c "SELECT pg_current_wal_lsn()")
	u1=$(q -c "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
		WHERE relid = '$REL'::regclass")
	pgss=$(q -c "SELECT coalesce(sum(total_exec_time), 0) FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE '%pg_current_wal_lsn%'")
	if [ "$d" = d3 ]; then
		left=$(q -c "SELECT count(*) FROM graphile_worker._private_jobs")
	else
		left=$(q -c "SELECT count(*) FROM jobs WHERE status <> 'completed'")
	fi
	ndone=$((N - left))
	heap=$(q -c "SELECT pg_table_size('$REL'::regclass)")
	drain=$(walstats "$l2" "$l3")
	awk -v d="$d" -v r="$r" -v n="$ndone" -v ns=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" \
		-v cpu=$((c1 - c0)) -v pgss="$pgss" -v u0="$u0" -v u1="$u1" -v left="$left" -v heap="$heap" \
		-v ins="$INS" -v drain="$drain" -v wal="$(q -c "SELECT pg_wal_lsn_diff('$l3', '$l2')")" '
		BEGIN {
			split(u0, a, "|"); split(u1, b, "|"); split(ins, i, " "); split(drain, w, " ")
			upd = b[1] - a[1]; hot = b[2] - a[2]
			printf "%-4s %d %9.0f %8.1f %8.1f %6.2f %6.2f %6.2f %6.2f %6.1f %8.0f %6.0f %6d\n",
				d, r, n / (ns / 1e9), cpu / hz * 1e6 / n, pgss * 1000 / n,
				(i[1] + w[1]) / n, (i[2] + w[2]) / n, (i[3] + w[3]) / n,
				(i[4] + w[4]) / n, upd ? 100 * hot / upd : 0, wal / n, heap / n, left
		}' | tee -a "$T/results"
	q -c "SELECT 1" >/dev/null
}

printf '# %s, PostgreSQL %s, %s jobs, %s clients, batch %s, %s\n' "$(date -u +%FT%TZ)" \
	"$(DB=postgres q -c 'SHOW server_version')" "$N" "$C" "$BATCH" \
	"$(DB=postgres q -c "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name)
		FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit',
		'shared_buffers', 'full_page_writes', 'wal_level')")"
HDR="dsgn rnd    jobs/s  cpu_us  pgss_us  tup/j  del/j  lck/j  idx/j  hot%  walB/j heapB/j  left"
printf '%s\n' "$HDR"
for ((r = 1; r <= ROUNDS; r++)); do
	order=()
	# every other round backwards: no design always runs after the same one
	for d in "${DL[@]}"; do
		if [ $((r % 2)) = 1 ]; then order+=("$d"); else order=("$d" "${order[@]}"); fi
	done
	for d in "${order[@]}"; do
		if [ -n "${SJ_MEASURE_LOCK:-}" ]; then
			exec 9>"$SJ_MEASURE_LOCK"
			flock 9
		fi
		run "$d" "$r"
		[ -z "${SJ_MEASURE_LOCK:-}" ] || exec 9>&-
	done
done
printf '\nmedians over %s rounds\n%s\n' "$ROUNDS" "${HDR/ rnd/    }"
for d in "${DL[@]}"; do
	awk -v d="$d" '$1 == d' "$T/results" | awk '
		{ for (k = 3; k <= NF; k++) v[k, NR] = $k; nf = NF }
		END {
			printf "%-4s    ", $1
			for (k = 3; k <= nf; k++) {
				for (i = 1; i <= NR; i++) s[i] = v[k, i]
				for (i = 2; i <= NR; i++)
					for (j = i; j > 1 && s[j - 1] > s[j]; j--) {
						x = s[j]; s[j] = s[j - 1]; s[j - 1] = x
					}
				m = NR % 2 ? s[(NR + 1) / 2] : (s[NR / 2] + s[NR / 2 + 1]) / 2
				printf k == 3 ? "%9.0f" : k <= 5 ? " %8.1f" : k == 10 ? " %5.1f" : k == 11 ? " %8.0f" : k == 12 ? " %6.0f" : k == 13 ? " %6d" : " %6.2f", m
			}
			printf "\n"
		}'
done
