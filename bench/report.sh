#!/usr/bin/env bash
# bench/report.sh [--summary] RESULTS: renders the KEY=VALUE results of
# bench/run.sh as BENCHMARKS.md on stdout, or with --summary as a few
# lines for a terminal.  Keys starting with "queue." come from
# bench/queue.sh, those starting with "pooling." from bench/pooling.sh,
# "monitor." from bench/monitor.sh.  A missing figure prints as "n/a" and its goal as "not
# measured"; nothing here measures anything.
set -euo pipefail

SUMMARY=0
if [ "${1:-}" = --summary ]; then
	SUMMARY=1
	shift
fi
[ $# -eq 1 ] || {
	echo "usage: $0 [--summary] RESULTS" >&2
	exit 1
}
declare -A R
while IFS= read -r line; do
	[[ $line == *=* ]] || continue
	R[${line%%=*}]=${line#*=}
done <"$1"

# v KEY: the value, or n/a.
v() {
	local x=${R[$1]:-}
	[ -n "$x" ] && [ "$x" != NA ] && echo "$x" || echo n/a
}

# calc EXPR: awk arithmetic on figures; n/a when any is missing.
calc() {
	case "$*" in *n/a*) echo n/a && return ;; esac
	awk "BEGIN { printf \"%s\", $1 }"
}

# ratio A B: A / B with two decimals.
ratio() {
	calc "sprintf(\"%.2f\", $1 / $2)"
}

# met TEST: "met" / "NOT met" from an awk condition over figures.
met() {
	case "$*" in *n/a*) echo "not measured" && return ;; esac
	if awk "BEGIN { exit !($1) }"; then echo met; else echo "**NOT met**"; fi
}

# met_recovery OURS THEIRS: seconds until the backlog was gone, or
# "never" (pin_stats): ours must be gone, and no later than theirs.
met_recovery() {
	case "$1" in never | n/a | "") met "$1" && return ;; esac
	case "$2" in never) echo met && return ;; esac
	met "$1 <= $2"
}

rps() { v "${1}_rps"; }
p() { v "${1}_$2"; }

RS10=$(ratio "$(rps status_c10)" "$(rps select1_c10)")
RS50=$(ratio "$(rps status_c50)" "$(rps select1_c50)")
RC10=$(ratio "$(rps create_c10)" "$(rps insert_c10)")
RC50=$(ratio "$(rps create_c50)" "$(rps insert_c50)")
LOADP95=$(p load_c10 p95)
LOADN=$(v load_c10_requests)
LOADERR=$(calc "$(v load_c10_status_errors) + $(v load_c10_socket_errors)")
LOADFAIL=$(calc "sprintf(\"%.3f\", 100 * $LOADERR / ($LOADN > 0 ? $LOADN : 1))")
LOADMARGIN=$(calc "sprintf(\"%.0f\", 500 / $LOADP95)")
RATE=$(rps rate_c10)
RATEERR=$(calc "$(v rate_c10_status_errors) + $(v rate_c10_socket_errors)")

if [ "$SUMMARY" = 1 ]; then
	printf 'status read / SELECT 1:  %s (10 conns)  %s (50 conns)  goal >= 0.6\n' "$RS10" "$RS50"
	printf 'job create / INSERT:     %s (10 conns)  %s (50 conns)  goal >= 0.6\n' "$RC10" "$RC50"
	printf 'job create p99 @50:      %s ms  goal <= 25\n' "$(p create_c50 p99)"
	printf 'job create p99 @50 users: %s ms  goal <= 25\n' "$(p create_users_c50 p99)"
	printf 'health p99 @10:          %s ms  goal <= 5\n' "$(p health_c10 p99)"
	printf 'health p99 @10, empty / %s pending / + %s finished: %s / %s / %s ms  goal <= 5; /metrics p99 %s ms  goal <= 20 (%s)\n' \
		"$(v monitor.monitor_pending_jobs)" "$(v monitor.monitor_finished_jobs)" \
		"$(v monitor.health_empty_p99)" "$(v monitor.health_backlog_p99)" \
		"$(v monitor.health_full_p99)" "$(v monitor.metrics_scrape_p99_ms)" \
		"$(v monitor_status)"
	printf 'load test p95:           %s ms (%s x under 500 ms), failures %s%%\n' "$LOADP95" "$LOADMARGIN" "$LOADFAIL"
	printf '5 jobs/s sustained:      %s req/s, %s failures, max queue depth %s\n' "$RATE" "$RATEERR" "$(v rate_depth_max)"
	for n in health jobs auth cron admin ref; do
		printf 'RSS %-6s max %s KiB after %s requests (half-way %s KiB)\n' "$n" \
			"$(v "mem_${n}_rss_end_kib")" "$(v "mem_${n}_requests")" "$(v "mem_${n}_rss_half_kib")"
	done
	printf 'PgBouncer / direct (%s web x %s workers): creation %s (10 conns) %s (50 conns), drain %s (%s)\n' \
		"$(v pooling.n_web)" "$(v pooling.m_workers)" \
		"$(v pooling.pooled_over_direct_create_c10_rps)" \
		"$(v pooling.pooled_over_direct_create_c50_rps)" \
		"$(v pooling.pooled_over_direct_drain_jobs_per_s)" "$(v pooling_status)"
	printf 'queue: %s; drain ours/graphile-worker %s (ours %s jobs/s with %s process(es), graphile-worker %s with %s)\n' \
		"$(v queue_status)" "$(v queue.drain_ratio)" "$(v queue.ours_drain_jobs_per_s)" \
		"$(v queue.ours_drain_best_procs)" "$(v queue.graphile_drain_jobs_per_s)" \
		"$(v queue.graphile_drain_best_procs)"
	printf 'pinned snapshot, enqueue -> start p99 during the pin: ours %s ms, graphile-worker %s ms; backlog max ours %s, graphile-worker %s\n' \
		"$(v queue.pinned_ours_latency_pin_p99_ms)" "$(v queue.pinned_graphile_latency_pin_p99_ms)" \
		"$(v queue.pinned_ours_backlog_during_max)" "$(v queue.pinned_graphile_backlog_during_max)"
	printf 'took %s s (HTTP part %s s)\n' "$(v total_seconds)" "$(v http_seconds)"
	exit 0
fi

# row NAME LABEL: one line of the throughput table.
row() {
	printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$2" \
		"$(v "${1}_rps")" "$(p "$1" p50)" "$(p "$1" p90)" "$(p "$1" p99)" \
		"$(p "$1" max)" "$(v "${1}_requests")" \
		"$(calc "$(v "${1}_status_errors") + $(v "${1}_socket_errors")")"
}

cat <<EOF
# Benchmarks

Written by \`bench/run.sh\` (\`./dev bench\`) on $(v started_utc), commit
$(v git_commit).  Absolute numbers on a shared 2-core machine drift from
run to run; the **ratios** are the goals, and each ratio compares two
runs made back to back on the same stack.  The load generator (wrk) runs
on the same 2 cores as nginx, the programs and PostgreSQL.

## Headline ratios

| figure | measured | goal | |
|---|---|---|---|
| job status read / \`SELECT 1\` ceiling, 10 connections | **$RS10** | ≥ 0.60 | $(met "$RS10 >= 0.6") |
| job status read / \`SELECT 1\` ceiling, 50 connections | **$RS50** | ≥ 0.60 | $(met "$RS50 >= 0.6") |
| job creation / INSERT ceiling, 10 connections | **$RC10** | ≥ 0.60 | $(met "$RC10 >= 0.6") |
| job creation / INSERT ceiling, 50 connections | **$RC50** | ≥ 0.60 | $(met "$RC50 >= 0.6") |
| job creation p99, 50 connections | $(p create_c50 p99) ms | ≤ 25 ms | $(met "$(p create_c50 p99) <= 25") |
| job creation p99, 50 connections of 50 users | $(p create_users_c50 p99) ms | ≤ 25 ms | $(met "$(p create_users_c50 p99) <= 25") |
| health p99, 10 connections | $(p health_c10 p99) ms | ≤ 5 ms | $(met "$(p health_c10 p99) <= 5") |
| health p99, 10 connections, $(v monitor.monitor_pending_jobs) jobs pending (empty: $(v monitor.health_empty_p99) ms) | $(v monitor.health_backlog_p99) ms | ≤ 5 ms | $(met "$(v monitor.health_backlog_p99) <= 5") |
| health p99, 10 connections, the backlog and $(v monitor.monitor_finished_jobs) finished jobs | $(v monitor.health_full_p99) ms | ≤ 5 ms | $(met "$(v monitor.health_full_p99) <= 5") |
| \`/metrics\` scrape p99, $(v monitor.monitor_finished_jobs) finished jobs | $(v monitor.metrics_scrape_p99_ms) ms | ≤ 20 ms | $(met "$(v monitor.metrics_scrape_p99_ms) <= 20") |
| load test p95 (10 users, no pause) | $LOADP95 ms, **$LOADMARGIN× under** the limit | < 500 ms | $(met "$LOADP95 < 500") |
| load test failures | $LOADFAIL % ($LOADERR of $LOADN) | < 1 % | $(met "$LOADFAIL < 1") |
| queue drain / graphile-worker, each at its best ($(v queue.ours_drain_best_procs) / $(v queue.graphile_drain_best_procs) processes) | **$(v queue.drain_ratio)** | ≥ 1.0 | $(met "$(v queue.drain_ratio) >= 1") |
| continuous enqueue+process / graphile-worker ($(v queue.ours_continuous_procs) / $(v queue.graphile_continuous_procs) processes) | **$(v queue.continuous_ratio)** | ≥ 1.0 | $(met "$(v queue.continuous_ratio) >= 1") |
| enqueue → handler start p50 / p99 (graphile-worker: $(v queue.graphile_latency_p50_ms) / $(v queue.graphile_latency_p99_ms)) | $(v queue.ours_latency_p50_ms) / $(v queue.ours_latency_p99_ms) ms | ≤ 2 / ≤ 5 ms | $(met "$(v queue.ours_latency_p50_ms) <= 2 && $(v queue.ours_latency_p99_ms) <= 5") |
| claim rate, 10⁶ / 10⁴ finished jobs | **$(v queue.scale_claim_ratio)** | 0.8–1.2 | $(met "$(v queue.scale_claim_ratio) >= 0.8 && $(v queue.scale_claim_ratio) <= 1.2") |
| status read p50 (1 client), 10⁶ / 10⁴ finished jobs | **$(v queue.scale_status_p50_ratio)** | 0.8–1.2 | $(met "$(v queue.scale_status_p50_ratio) >= 0.8 && $(v queue.scale_status_p50_ratio) <= 1.2") |
| status read inside the server, mean, 10⁶ / 10⁴ | $(v queue.scale_status_server_mean_ratio) | 0.8–1.2 | $(met "$(v queue.scale_status_server_mean_ratio) >= 0.8 && $(v queue.scale_status_server_mean_ratio) <= 1.2") |
| pinned snapshot: enqueue → start p99 during the pin, ours / graphile-worker | $(v queue.pinned_ours_latency_pin_p99_ms) / $(v queue.pinned_graphile_latency_pin_p99_ms) ms | ours lower | $(met "$(v queue.pinned_ours_latency_pin_p99_ms) < $(v queue.pinned_graphile_latency_pin_p99_ms)") |
| pinned snapshot: backlog max during the pin, ours / graphile-worker | $(v queue.pinned_ours_backlog_during_max) / $(v queue.pinned_graphile_backlog_during_max) | ours ≤ 1,000 (keeps up) and ≤ graphile-worker's | $(met "$(v queue.pinned_ours_backlog_during_max) <= 1000 && $(v queue.pinned_ours_backlog_during_max) <= $(v queue.pinned_graphile_backlog_during_max)") |
| pinned snapshot: backlog gone after the release, ours / graphile-worker | $(v queue.pinned_ours_recovery_s) / $(v queue.pinned_graphile_recovery_s) s | ours ≤ graphile-worker's | $(met_recovery "$(v queue.pinned_ours_recovery_s)" "$(v queue.pinned_graphile_recovery_s)") |
| pinned snapshot: dead tuples at the release, ours / graphile-worker | $(v queue.pinned_ours_dead_pgstattuple) / $(v queue.pinned_graphile_dead_pgstattuple) | ours lower | $(met "$(v queue.pinned_ours_dead_pgstattuple) < $(v queue.pinned_graphile_dead_pgstattuple)") |

## Machine and software

| | |
|---|---|
| CPU | $(v machine_cpu), $(v machine_nproc) cores (nproc) |
| memory | $(v machine_mem_mib) MiB |
| kernel | $(v machine_kernel) |
| Debian | $(v machine_debian) |
| file system of the cluster | $(v machine_fs) |
| PostgreSQL | $(v pg_version) |
| nginx | $(v nginx_version) |
| wrk | $(v wrk_version) |

**PostgreSQL settings.** A fresh cluster (\`initdb -E UTF8
--locale=C.UTF-8\`, trust auth on loopback) with these non-default
settings: \`$(v pg_settings)\` (plus port, \`listen_addresses =
'127.0.0.1'\` and the socket directory).  Everything else is the default;
durability is **not** relaxed: $(v pg_durability).

**Stack.** nginx from \`nginx/storyjobs.conf.in\` plus a \`/bench/\`
location for the reference program; every FastCGI program (jobs, auth,
health, cron, admin) and the reference program \`bench/storyjobs-ref\`
run with $(v procs) processes each, as in \`./dev up\`, on unix sockets,
with \`LOG_LEVEL=warn\` (no per-request log line; nginx's access log stays
on).  No worker runs during the HTTP runs except the sustained-rate one.

## Ceilings and API (wrk, 2 threads)

The ceilings come from \`bench/storyjobs-ref\`, built from the same
request layer, prefork server and database session as the real programs:
\`/bench/const\` answers a constant JSON document, \`/bench/select1\` runs
one prepared \`SELECT 1\`, \`/bench/insert\` parses the JSON body and runs
one prepared INSERT (autocommit) into \`bench_ref\`.  The real routes:
\`GET /api/jobs/{id}\` reads one existing pending job; \`POST
/api/jobs/image-generation/start\` creates an anonymous job (validation,
one statement, sql/019's \`jobs_start()\`, then the NOTIFY), every start
from one address, so from one client, whose starts run one at a time
behind its lock; "50 users" sends each request with the next of 50
users' bearer tokens, each user with a lock of its own.  Jobs pile up
and are deleted afterwards.
Health runs on the emptied table (one job); the second health row was
measured just before, with the creation runs' backlog still pending.

Latencies in ms; "errors" are non-2xx answers plus socket errors.

| run | req/s | p50 | p90 | p99 | max | requests | errors |
|---|---|---|---|---|---|---|---|
$(row const_c10 "constant, 10 conns")
$(row const_c50 "constant, 50 conns")
$(row select1_c10 "\`SELECT 1\` ceiling, 10 conns")
$(row status_c10 "job status read, 10 conns")
$(row select1_c50 "\`SELECT 1\` ceiling, 50 conns")
$(row status_c50 "job status read, 50 conns")
$(row insert_c10 "INSERT ceiling, 10 conns")
$(row create_c10 "job creation, 10 conns")
$(row insert_c50 "INSERT ceiling, 50 conns")
$(row create_c50 "job creation, 50 conns")
$(row create_users_c50 "job creation, 50 conns of 50 users")
$(row health_c10 "health, 10 conns")
$(row health_backlog_c10 "health, 10 conns, $(v jobs_created_by_create) pending jobs")

## The testing guide's load tests

**Job creation, 10 users.** The guide's test (k6: 10 users, each
creating a cartoonize job and sleeping 1 s; p95 < 500 ms, < 1 % failed)
made harder: 10 connections creating jobs with no pause for
$(v load_c10_seconds) s.

| figure | measured | goal | |
|---|---|---|---|
| requests | $LOADN ($(rps load_c10) req/s) | | |
| p50 / p95 / p99 | $(p load_c10 p50) / **$LOADP95** / $(p load_c10 p99) ms | p95 < 500 ms | $(met "$LOADP95 < 500") |
| margin | p95 is **$LOADMARGIN×** below 500 ms | | |
| failed | $LOADFAIL % | < 1 % | $(met "$LOADFAIL < 1") |

**5 jobs per second while processing.** 10 connections, each pausing 2 s
on average (uniform 1–3 s) before each request, for $(v rate_c10_seconds) s,
while a worker (local provider, \`LOCAL_DELAY_MS=0\`, default
\`MAX_CONCURRENT_JOBS\`) processes the jobs.  The live queue depth
(pending + processing) was sampled every second.

| figure | measured | goal | |
|---|---|---|---|
| achieved rate | $RATE jobs/s ($(v rate_c10_requests) requests) | 5 jobs/s | $(met "$RATE >= 4.75") |
| failed requests | $RATEERR | 0 | $(met "$RATEERR == 0") |
| queue depth, max / mean of $(v rate_depth_samples) samples | $(v rate_depth_max) / $(v rate_depth_mean) | bounded | $(met "$(v rate_depth_max) <= 50") |
| left live after the run | $(v rate_live_after) (drained in $(v rate_drain_s) s) | 0 | $(met "$(v rate_live_after) == 0") |
| jobs completed / failed | $(v rate_completed) / $(v rate_failed) | all completed | $(met "$(v rate_failed) == 0") |
| created → completed, p50 / p99 (ms) | $(v rate_latency | sed 's| | / |') | | |

## Memory of the FastCGI programs

Each program's cheap route driven through nginx (wrk, 2 threads, 20
connections) for $(v mem_health_requests) requests in two halves; VmRSS
(from \`/proc/PID/status\`) of the prefork parent and every child, the
largest shown, after each half.  Goal: ≤ 8 MiB (8192 KiB) and no growth
in the second half.

| program | route | requests | max RSS at half (KiB) | max RSS at end (KiB) | growth (KiB) | ≤ 8 MiB | no growth |
|---|---|---|---|---|---|---|---|
EOF
for n in health jobs auth cron admin ref; do
	half=$(v "mem_${n}_rss_half_kib")
	end=$(v "mem_${n}_rss_end_kib")
	grow=$(calc "$end - $half")
	printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" \
		"$(v "mem_${n}_route")" "$(v "mem_${n}_requests")" "$half" "$end" \
		"$grow" "$(met "$end <= 8192")" "$(met "$grow <= 0")"
done

# prow LABEL KEY [RATIO_KEY]: a row of the pooling table, direct against
# PgBouncer; KEY has MODE where the mode goes, and each rate is followed
# by every round's.
prow() {
	local d=${2/MODE/direct} b=${2/MODE/pgbouncer}
	printf '| %s | %s (%s) | %s (%s) | %s |\n' "$1" "$(v "pooling.$d")" \
		"$(v "pooling.${d}_rounds")" "$(v "pooling.$b")" \
		"$(v "pooling.${b}_rounds")" "$(v "pooling.${3:-none}")"
}

# plat CONNS: p50 / p99 of both modes at CONNS connections.
plat() {
	printf '| p50 / p99, %s conns (ms) | %s / %s | %s / %s | |\n' "$1" \
		"$(v "pooling.create_direct_c$1_p50")" "$(v "pooling.create_direct_c$1_p99")" \
		"$(v "pooling.create_pgbouncer_c$1_p50")" "$(v "pooling.create_pgbouncer_c$1_p99")"
}

cat <<EOF

## Through PgBouncer against direct (bench/pooling.sh)

Status: $(v pooling_status).  $(v pooling.n_web) web hosts × $(v pooling.m_workers)
worker hosts, on this one machine: a web host is one jobs FastCGI program
with $(v pooling.web_procs) processes on its own loopback address ($(v pooling.web_hosts)),
each a server of nginx's \`storyjobs_jobs\` upstream; a worker host is one
worker daemon ($(v pooling.worker_threads) job threads).  One PostgreSQL (the settings
above, its own cluster) and PgBouncer $(v pooling.pgbouncer_version) in transaction
pooling (\`default_pool_size = $(v pooling.pgbouncer_pool_size)\`).  **Direct**: \`DATABASE_URL\`
to PostgreSQL, \`DATABASE_POOLING=session\`.  **PgBouncer**: \`DATABASE_URL\`
through it, \`DATABASE_POOLING=transaction\`, the workers'
\`DATABASE_LISTEN_URL\` direct.  Creation: anonymous cartoonize starts
through nginx (wrk, 2 threads, $(v pooling.secs) s per run, the table emptied after
each).  Drain: $(v pooling.drain_n) no-op jobs inserted, then the workers started;
jobs/s from the first claim to the last completion.  The two modes
alternate over $(v pooling.rounds) rounds, each in the reverse order of the one before;
a figure is the mean of the rounds, each round's rate in brackets.
Errors (non-2xx and socket, all runs): direct $(calc "$(v pooling.create_direct_c10_status_errors) + $(v pooling.create_direct_c10_socket_errors) + $(v pooling.create_direct_c50_status_errors) + $(v pooling.create_direct_c50_socket_errors)"), PgBouncer $(calc "$(v pooling.create_pgbouncer_c10_status_errors) + $(v pooling.create_pgbouncer_c10_socket_errors) + $(v pooling.create_pgbouncer_c50_status_errors) + $(v pooling.create_pgbouncer_c50_socket_errors)").

| figure | direct | through PgBouncer | PgBouncer / direct |
|---|---|---|---|
$(prow "job creation, 10 conns (req/s)" create_MODE_c10_rps pooled_over_direct_create_c10_rps)
$(plat 10)
$(prow "job creation, 50 conns (req/s)" create_MODE_c50_rps pooled_over_direct_create_c50_rps)
$(plat 50)
$(prow "queue drain (jobs/s)" drain_MODE_jobs_per_s pooled_over_direct_drain_jobs_per_s)

## Monitoring under stress (bench/monitor.sh)

Status: $(v monitor_status).  Its own PostgreSQL (the settings above),
the health program with 2 processes and nginx; a worker row whose
heartbeat is renewed before each run.  wrk, 2 threads, 10 connections,
GET /api/jobs/health, in three states: no job; $(v monitor.monitor_pending_jobs) pending jobs; those
and $(v monitor.monitor_finished_jobs) finished ones (spread over 30 days) and 20 processing.
With the backlog the verdict is critical (503): the answer differs, the
work behind it does not.  Then $(v monitor.metrics_scrapes) GET /metrics, one at a time (curl).

| state | req/s | p50 | p99 | max | HTTP status |
|---|---|---|---|---|---|
| empty | $(v monitor.health_empty_rps) | $(v monitor.health_empty_p50) | $(v monitor.health_empty_p99) | $(v monitor.health_empty_max) | $(v monitor.health_empty_status) |
| $(v monitor.monitor_pending_jobs) pending | $(v monitor.health_backlog_rps) | $(v monitor.health_backlog_p50) | $(v monitor.health_backlog_p99) | $(v monitor.health_backlog_max) | $(v monitor.health_backlog_status) |
| and $(v monitor.monitor_finished_jobs) finished | $(v monitor.health_full_rps) | $(v monitor.health_full_p50) | $(v monitor.health_full_p99) | $(v monitor.health_full_max) | $(v monitor.health_full_status) |

\`/metrics\` at $(v monitor.monitor_finished_jobs) finished jobs: p50 $(v monitor.metrics_scrape_p50_ms) ms, p99
$(v monitor.metrics_scrape_p99_ms) ms, max $(v monitor.metrics_scrape_max_ms) ms ($(v monitor.metrics_body_bytes) bytes).

## Queue (bench/queue.sh)

Status: $(v queue_status); size: $(v queue_size).

**Drain** of $(v queue.queue_drain_jobs) no-op jobs inserted beforehand, ours and
graphile-worker $(v queue.graphile_version) (batching on: a local queue of 500,
completions batched with no delay; concurrency $(v queue.queue_concurrency), pool
$(calc "$(v queue.queue_concurrency) + 2") per process) with 1 and with 2 processes each, alternating
over $(v queue.drain_rounds) rounds (ours-1, gw-1, ours-2, gw-2, then the reverse).  Two
processes of ours are two worker daemons on the database, each with
$(v queue.queue_concurrency) hands (split: $(v queue.ours_drain_split)); two of graphile-worker's, two Node
processes with the same settings each.  Ours: jobs/s from the first
claim to the last completion (the rows' timestamps); graphile-worker's:
from the first task start to the last task end in any process (its
processes are held back by a table lock until all have started).  A
figure is the mean of its rounds (each round in brackets); each side's
better count is its best.

| jobs/s | 1 process | 2 processes | best |
|---|---|---|---|
| ours | $(v queue.ours_drain_1p_jobs_per_s) ($(v queue.ours_drain_1p_rounds)) | $(v queue.ours_drain_2p_jobs_per_s) ($(v queue.ours_drain_2p_rounds)) | **$(v queue.ours_drain_jobs_per_s)** |
| graphile-worker | $(v queue.graphile_drain_1p_jobs_per_s) ($(v queue.graphile_drain_1p_rounds)) | $(v queue.graphile_drain_2p_jobs_per_s) ($(v queue.graphile_drain_2p_rounds)) | **$(v queue.graphile_drain_jobs_per_s)** |

**Status reads** (the status route's SELECT of a random finished job):
through pgbench (prepared), p50 and p99 with 1 client (no wait for a
core, which with 4 clients on 2 cores was part of the p50; the round trip
and the wake-ups of both processes are), tps and p50 with 4 clients; and
inside the server (\`bench_status_loop\`: 20,000 executions in PL/pgSQL,
each timed with \`clock_timestamp()\`, whole µs), the read's own cost.
Each figure the median of $(v queue.scale_status_reps) repetitions.

| finished jobs | p50 (ms, 1 client) | p99 (ms, 1 client) | tps (4 clients) | p50 (ms, 4 clients) | in the server p50 / p99 / mean (µs) |
|---|---|---|---|---|---|
| 10⁴ | $(v queue.scale_status_1e4_p50_ms) ($(v queue.scale_status_1e4_p50_ms_runs)) | $(v queue.scale_status_1e4_p99_ms) | $(v queue.scale_status_1e4_tps) | $(v queue.scale_status_1e4_c4_p50_ms) | $(v queue.scale_status_1e4_server_p50_us) / $(v queue.scale_status_1e4_server_p99_us) / $(v queue.scale_status_1e4_server_mean_us) |
| 10⁶ | $(v queue.scale_status_1e6_p50_ms) ($(v queue.scale_status_1e6_p50_ms_runs)) | $(v queue.scale_status_1e6_p99_ms) | $(v queue.scale_status_1e6_tps) | $(v queue.scale_status_1e6_c4_p50_ms) | $(v queue.scale_status_1e6_server_p50_us) / $(v queue.scale_status_1e6_server_p99_us) / $(v queue.scale_status_1e6_server_mean_us) |
| 10⁶ / 10⁴ | **$(v queue.scale_status_p50_ratio)** | | $(ratio "$(v queue.scale_status_1e6_tps)" "$(v queue.scale_status_1e4_tps)") | $(v queue.scale_status_c4_p50_ratio) | mean: $(v queue.scale_status_server_mean_ratio) |

All figures of bench/queue.sh but the pinned snapshot's:

EOF
if [[ ${R[queue_status]:-} == ok* ]] || [ -n "$(printf '%s\n' "${!R[@]}" | grep '^queue\.' || true)" ]; then
	printf '| key | value |\n|---|---|\n'
	for k in $(printf '%s\n' "${!R[@]}" | grep '^queue\.' | grep -v '^queue\.pinned_' | sort); do
		printf '| %s | %s |\n' "${k#queue.}" "${R[$k]}"
	done
else
	echo "No queue figures: bench/queue.sh was not run or printed none."
fi

# pin LABEL KEY: a row of the pinned-snapshot table, ours against
# graphile-worker's (KEY has SIDE where the side goes).
pin() {
	printf '| %s | %s | %s |\n' "$1" "$(v "queue.${2/SIDE/ours}")" \
		"$(v "queue.${2/SIDE/graphile}")"
}

# pinph LABEL PHASE: backlog max / mean of a phase.
pinph() {
	printf '| backlog %s, max / mean | %s / %s | %s / %s |\n' "$1" \
		"$(v "queue.pinned_ours_backlog_$2_max")" "$(v "queue.pinned_ours_backlog_$2_mean")" \
		"$(v "queue.pinned_graphile_backlog_$2_max")" "$(v "queue.pinned_graphile_backlog_$2_mean")"
}

cat <<EOF

## Under a pinned snapshot (bench/queue.sh, phase "pinned")

A producer (\`queue-load pace\`, one session) offers 1,000 no-op jobs/s,
10 in one statement every 10 ms, for $(v queue.pinned_seconds) s; from $(v queue.pinned_pin_at_s) s for
$(v queue.pinned_pin_s) s another session holds a \`REPEATABLE READ\` snapshot (taken by a
\`SELECT\` on a table), then commits.  Ours first (the INSERT and the
notice a start of the API sends, keyed by the first new row's type,
priority and tag, $(v queue.pinned_ours_procs) worker daemon(s)), then graphile-worker's
(\`graphile_worker.add_jobs\` of 10, $(v queue.pinned_graphile_procs) process(es), batching on), on
the same cluster.  Every second: the backlog (ours: pending rows due;
graphile-worker's: available jobs due, \`is_available\`) and the dead
tuples of the side's schema (\`pg_stat_user_tables.n_dead_tup\`, summed);
pgstattuple's count of them just before the release.  Enqueue → start:
ours from the row's \`created_at\` to its \`claimed_at\`; graphile-worker's
from the insert's \`now()\` (in the payload) to the task's start.
Recovery: how long after the release the backlog is within 1,000 (one
second of production) for good.  Time series: $(v queue_pinned_csv).

| figure | ours | graphile-worker |
|---|---|---|
$(pin "pin held (s from the production's start)" "pinned_SIDE_pin_from_s")
$(pin "pin released (s)" "pinned_SIDE_pin_to_s")
$(pin "jobs offered" "pinned_SIDE_jobs_offered")
$(pin "jobs started by the end" "pinned_SIDE_jobs_started")
$(pin "offered rate (jobs/s)" "pinned_SIDE_offered_per_s")
$(pinph "before the pin" before)
$(pinph "during the pin" during)
$(pinph "after the release" after)
$(pin "recovery after the release (s)" "pinned_SIDE_recovery_s")
$(pin "enqueue → start p50 during the pin (ms)" "pinned_SIDE_latency_pin_p50_ms")
$(pin "enqueue → start p99 during the pin (ms)" "pinned_SIDE_latency_pin_p99_ms")
$(pin "enqueue → start p50, whole run (ms)" "pinned_SIDE_latency_p50_ms")
$(pin "enqueue → start p99, whole run (ms)" "pinned_SIDE_latency_p99_ms")
$(pin "enqueue → start max, whole run (ms)" "pinned_SIDE_latency_max_ms")
$(pin "dead tuples, max sampled" "pinned_SIDE_dead_max")
$(pin "dead tuples at the release (pgstattuple)" "pinned_SIDE_dead_pgstattuple")
$(pin "producer's latest tick (ms late)" "pinned_SIDE_producer_late_max_ms")

$(cat "$(dirname "${BASH_SOURCE[0]}")/designs/RESULTS.md" 2>/dev/null ||
	echo "(bench/designs/RESULTS.md is missing)")

## Commands

Every run goes through nginx at the stack's loopback address; \`SJ_*\`
variables configure \`bench/wrk.lua\`, whose \`done()\` hook prints the
figures (wrk's own \`--latency\` output stays in the state directory,
kept with \`SJ_BENCH_KEEP=1\`).

\`\`\`
EOF
for n in const_c10 const_c50 select1_c10 status_c10 select1_c50 status_c50 \
	insert_c10 create_c10 insert_c50 create_c50 create_users_c50 \
	health_backlog_c10 health_c10 \
	load_c10 rate_c10; do
	v "${n}_cmd"
done
[ -z "${R[pooling.n_web]:-}" ] ||
	printf 'N_WEB=%s M_WORKERS=%s SECS=%s DRAIN_N=%s ROUNDS=%s bench/pooling.sh BUILD_DIR\n' \
		"$(v pooling.n_web)" "$(v pooling.m_workers)" "$(v pooling.secs)" \
		"$(v pooling.drain_n)" "$(v pooling.rounds)"
cat <<EOF
\`\`\`

The HTTP part took $(v http_seconds) s, the PgBouncer comparison
$(v pooling.seconds) s; the whole run $(v total_seconds) s.
EOF
