#!/usr/bin/env bash
# tests/integration/run.sh BUILD_DIR: runs the integration test of one
# build against a throwaway stack made of the real parts: a fresh
# PostgreSQL cluster (fsync off), the schema applied by storyjobsctl, the
# jobs FastCGI program (2 processes) and nginx from the project's template,
# each on a free loopback port.  The test binary (BUILD_DIR/tests/
# integration/test_stack) starts and kills worker processes itself, so it
# gets the worker's settings and WORKER_BIN.
#
# Everything is started through tools/stack.sh, the code ./dev uses, and
# stopped by pid at exit.  On failure the end of each log is printed and
# the state directory is kept.  With test_pooling among the suites, a
# second set of the FastCGI programs and nginx serves POOLED_URL through a
# private PgBouncer in transaction pooling (pooled_stack).  State goes
# under $SJ_TEST_STATE_ROOT
# (./dev test points it into its run's folder in the checkout's state
# folder) or $TMPDIR or /tmp; postgres and www-data must be able to enter
# it.  Needs root.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/stack.sh
. "$ROOT/tools/stack.sh"

[ $# -eq 1 ] || sj_die "usage: $0 BUILD_DIR"
sj_need_root
BUILD=$(cd "$1" && pwd)
# Every integration program; each is a cmocka suite against this stack.
TEST_NAMES=(test_stack test_auth test_jobs_api test_types test_providers test_faults
	test_ops test_schema test_daemon test_abuse test_s3 test_pooling test_fair
	test_budget test_book_plan)
# SJ_TESTS="a b" runs only those (while working on one suite); SJ_TESTS=none
# runs none of them.  SJ_BROWSER_ARTIFACTS=DIR also runs the browser suite.
if [ "${SJ_TESTS:-}" = none ]; then
	TEST_NAMES=()
elif [ -n "${SJ_TESTS:-}" ]; then
	read -r -a TEST_NAMES <<<"$SJ_TESTS"
fi
WORKER_BIN=$BUILD/worker/storyjobs-worker
for f in "${SJ_FCGI_PROGRAMS[@]}"; do
	[ -x "$BUILD/cgi/storyjobs-$f" ] || sj_die "$BUILD/cgi/storyjobs-$f is missing"
done
FAKE_UPSTREAM=$BUILD/tests/fake/fake-upstream
for f in "$WORKER_BIN" "$BUILD/tools/storyjobsctl" "$FAKE_UPSTREAM" \
	"${TEST_NAMES[@]/#/$BUILD/tests/integration/}"; do
	[ -x "$f" ] || sj_die "$f is missing (build with 'make check' first)"
done

STATE=$(sj_state_dir "${SJ_TEST_STATE_ROOT:-}" integ)
SJ_CLEANUP_LIST=$STATE/cleanup.list
LOG=$STATE/log
DATABASE_URL=
POOLED_DATABASE_URL=
ACTIVATED_SOCK=$STATE/run/activated.sock

# leftover_workers: pids of workers of this build that still talk to this
# run's database; the test should have stopped them all.
leftover_workers() {
	local p exe
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[ "${exe% (deleted)}" = "$WORKER_BIN" ] || continue
		tr '\0' '\n' <"$p/environ" 2>/dev/null |
			grep -qxF -e "DATABASE_URL=$DATABASE_URL" \
				-e "DATABASE_URL=${POOLED_DATABASE_URL:-$DATABASE_URL}" ||
			continue
		printf '%s\n' "${p#/proc/}"
	done
}

# reap_workers: kills (by pid) workers the test left running; true if any.
reap_workers() {
	local pids
	[ -n "$DATABASE_URL" ] || return 1
	pids=$(leftover_workers)
	[ -n "$pids" ] || return 1
	sj_say "the test left workers running (pids ${pids//$'\n'/ }): killing them"
	# shellcheck disable=SC2086 # one pid per word
	kill -KILL $pids 2>/dev/null || true
	return 0
}

# sanitizer_reports: true when a sanitizer complained in a program's log.
sanitizer_reports() {
	grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
		"$LOG"/*.log 2>/dev/null
}

finish() {
	local rc=$?
	trap - EXIT INT TERM
	if reap_workers; then
		rc=1
	fi
	sj_sweep "$SJ_CLEANUP_LIST"
	if sanitizer_reports >&2; then
		sj_say "sanitizer reports in the logs above"
		rc=1
	fi
	if [ "$rc" -ne 0 ]; then
		sj_tail_logs "$LOG"/*.log "$STATE/pgbouncer/pgbouncer.log" \
			"$STATE/nginx/error.log" \
			"$STATE/nginx/access.log"
		sj_say "integration test FAILED; state kept in $STATE"
	else
		rm -rf "$STATE"
	fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_db: the cluster, the database and the schema.
start_db() {
	local pgport
	sj_free_port pgport
	install -d -m 755 "$LOG"
	sj_pg_init "$STATE/pg" "$STATE/pgsock" "$pgport" fsync=off \
		synchronous_commit=off full_page_writes=off
	sj_pg_start "$STATE/pg" "$LOG/postgres.log"
	sj_createdb "$pgport" storyjobs
	DATABASE_URL=$(sj_pg_url "$pgport" storyjobs)
}

# write_env: the settings every program of the stack gets.  Sanitizer
# options pass through so the jobs program runs under the same ones.
# Anonymous starts are not limited here (every suite starts its jobs from
# 127.0.0.1); test_abuse runs a jobs program of its own with the limits.
write_env() {
	local secret opt
	local extra=()
	secret=$(sj_secret)
	for opt in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
		[ -z "${!opt:-}" ] || extra+=("$opt=${!opt}")
	done
	sj_write_env "$STATE/stack.env" \
		"BASE_URL=$BASE_URL" \
		"DATABASE_URL=$DATABASE_URL" \
		"WEBHOOK_SECRET=$secret" \
		"GENERATION_PROVIDER=local" \
		"STORAGE=local" \
		"MEDIA_DIR=$STATE/media" \
		"PUBLIC_BASE_URL=$BASE_URL" \
		"JOB_PROCESSING_INTERVAL=1000" \
		"MAX_CONCURRENT_JOBS=3" \
		"JOB_LEASE_SECONDS=3" \
		"HEARTBEAT_MS=1000" \
		"LOCAL_DELAY_MS=300" \
		"LOG_LEVEL=info" \
		"ALLOW_SIGNUP=true" \
		"UPLOAD_RATE_LIMIT=200" \
		"ANON_START_LIMIT=1000000" \
		"ANON_MAX_ACTIVE_JOBS=1000000" \
		"ANON_MAX_ACTIVE_TOTAL=1000000" \
		"${extra[@]}"
}

main() {
	local port
	start_db
	sj_free_port port
	BASE_URL=http://127.0.0.1:$port
	install -d -m 755 "$STATE/media"
	sj_run_dir "$STATE/run"
	write_env
	sj_migrate "$BUILD" "$STATE/stack.env" "$ROOT/sql" >>"$LOG/migrate.log" 2>&1 ||
		sj_die "migrate failed; see $LOG/migrate.log"
	sj_fcgi_start_all "$BUILD" "$STATE/run" "$LOG" "$STATE/stack.env" 2
	sj_nginx_render "$ROOT/nginx" "$STATE/nginx" "$port" \
		"$STATE/run" "$STATE/media" "$ROOT/web"
	activated_conf
	sj_nginx_start "$STATE/nginx"
	proxied_nginx
	pooled_stack
	sj_wait_ready "$BASE_URL" 15 || sj_die "the stack did not answer"
	run_tests
	[ -z "${SJ_BROWSER_ARTIFACTS:-}" ] || run_browser
	[ "${SJ_INSTALL_RUN:-1}" = 0 ] || check_installed
	check_health_db_down
}

# activated_conf: /activated/PATH goes to the FastCGI program that
# test_daemon starts by socket activation on ACTIVATED_SOCK, as PATH.
activated_conf() {
	cat >"$STATE/nginx/extra-activated.conf" <<EOF
# tests/integration/run.sh: test_daemon's socket-activated program.
location ^~ /activated/ {
	rewrite ^/activated(/.*)\$ \$1 break;
	fastcgi_pass unix:$ACTIVATED_SOCK;
}
EOF
}

# proxied_nginx: the same site on another port, as an operator behind a
# TLS proxy on this host runs it: 127.0.0.1 listed as a trusted proxy.
# test_abuse checks the address it forwards is believed, from it only.
PROXIED_URL=
proxied_nginx() {
	local port
	sj_free_port port
	PROXIED_URL=http://127.0.0.1:$port
	SJ_NGINX_TRUSTED_PROXIES=127.0.0.1 sj_nginx_render "$ROOT/nginx" \
		"$STATE/nginx-proxied" "$port" "$STATE/run" "$STATE/media" "$ROOT/web"
	sj_nginx_start "$STATE/nginx-proxied"
}

# pooled_stack: for test_pooling, PgBouncer (transaction pooling, scram
# password) in front of the cluster, and the five FastCGI programs (logs
# LOG/pooled-NAME.log) with DATABASE_URL through it, DATABASE_POOLING=
# transaction, DATABASE_LISTEN_URL direct (for the workers the suite
# starts) and a short statement timeout, behind an nginx of their own at
# POOLED_URL.  The same database, media and secret as the main stack.
POOLED_URL=
pooled_stack() {
	local port bport pgport pass name
	case " ${TEST_NAMES[*]} " in *" test_pooling "*) ;; *) return 0 ;; esac
	pgport=${DATABASE_URL##*:}
	pgport=${pgport%%/*}
	pass=$(sj_secret | cut -c1-32)
	sj_free_port bport
	sj_pgbouncer_start "$STATE/pgbouncer" "$pgport" "$bport" postgres "$pass"
	POOLED_DATABASE_URL=$(sj_pgbouncer_url "$bport" postgres "$pass" storyjobs)
	{
		cat "$STATE/stack.env"
		printf 'export %s=%s\n' DATABASE_URL "$(sj_quote "$POOLED_DATABASE_URL")" \
			DATABASE_POOLING transaction \
			DATABASE_LISTEN_URL "$(sj_quote "$DATABASE_URL")" \
			STATEMENT_TIMEOUT_MS 1500
	} >"$STATE/pooled.env"
	chmod 600 "$STATE/pooled.env"
	sj_run_dir "$STATE/run-pooled"
	for name in "${SJ_FCGI_PROGRAMS[@]}"; do
		sj_fcgi_start "$BUILD" "$STATE/run-pooled" "$name" \
			"$LOG/pooled-$name.log" "$STATE/pooled.env" 2
	done
	sj_free_port port
	POOLED_URL=http://127.0.0.1:$port
	sj_nginx_render "$ROOT/nginx" "$STATE/nginx-pooled" "$port" \
		"$STATE/run-pooled" "$STATE/media" "$ROOT/web"
	sj_nginx_start "$STATE/nginx-pooled"
	sj_wait_ready "$POOLED_URL" 15 || sj_die "the pooled stack did not answer"
}

# run_tests: every suite, each under a time limit; all run, any failure
# fails the whole.  --foreground keeps a test in our process group, so ^C
# reaches it.
run_tests() {
	local name failed=()
	for name in "${TEST_NAMES[@]}"; do
		sj_say "stack up at $BASE_URL; running $name"
		suite_exec "${SJ_TEST_TIMEOUT:-300}" \
			"$BUILD/tests/integration/$name" || failed+=("$name")
	done
	[ ${#failed[@]} -eq 0 ] || sj_die "failed: ${failed[*]}"
}

# run_browser: the browser suite (tests/browser, playwright-core driving
# Debian's Chromium) against this stack; screenshots and the axe report go
# to $SJ_BROWSER_ARTIFACTS.  It gets what the C suites get.
run_browser() {
	sj_say "stack up at $BASE_URL; running the browser suite"
	install -d -m 755 "$SJ_BROWSER_ARTIFACTS"
	suite_exec "${SJ_BROWSER_TIMEOUT:-600}" \
		node "$ROOT/tests/browser/run.mjs" ||
		sj_die "failed: the browser suite"
}

# suite_exec LIMIT CMD...: runs a suite under a time limit with the
# stack's settings and what suites need to start workers and servers and
# to restart PostgreSQL.
suite_exec() {
	local limit=$1
	shift
	sj_env_exec "$STATE/stack.env" "" env WORKER_BIN="$WORKER_BIN" \
		STORYJOBSCTL="$BUILD/tools/storyjobsctl" \
		FCGI_DIR="$BUILD/cgi" ACTIVATED_SOCK="$ACTIVATED_SOCK" \
		PROXIED_URL="$PROXIED_URL" \
		POOLED_URL="$POOLED_URL" POOLED_DATABASE_URL="$POOLED_DATABASE_URL" \
		PGBOUNCER_LOG="$STATE/pgbouncer/pgbouncer.log" \
		FAKE_UPSTREAM="$FAKE_UPSTREAM" SJ_PGBIN="$SJ_PGBIN" \
		S3_FAKE="$ROOT/tests/s3/server.js" \
		SJ_PG_DATA="$STATE/pg" SJ_PG_LOG="$LOG/postgres.log" \
		ARTIFACT_DIR="${SJ_BROWSER_ARTIFACTS:-}" \
		timeout --foreground -k 10 "$limit" "$@"
}

# check_installed: the product from `make install` alone, as its units
# would run it, against this stack's database (tests/install-run.sh).
# SJ_INSTALL_RUN=0 leaves it out.  Its processes are registered in this
# run's cleanup list, which finish sweeps.
check_installed() {
	sj_say "running the installed product (tests/install-run.sh)"
	SJ_CLEANUP_LIST=$SJ_CLEANUP_LIST "$ROOT/tests/install-run.sh" "$BUILD" \
		"$STATE/installed" "$STATE/stack.env" || sj_die "failed: tests/install-run.sh"
}

# check_health_db_down: with PostgreSQL stopped the health route still
# answers, as JSON, 503 and critical with the database down: at once
# from the direct stack, and from the pooled one (when test_pooling ran)
# once its statement is given up (PgBouncer queues it for
# query_wait_timeout, 120 s by default; lib/db_exec.c gives up
# statement_timeout + 5 s after sending: 6.5 s).
check_health_db_down() {
	local url body code took
	sj_pg_stop "$STATE/pg"
	for url in "$BASE_URL" ${POOLED_URL:+"$POOLED_URL"}; do
		body=$(curl -s -m 30 -o - -w '\n%{http_code} %{time_total}' \
			"$url/api/jobs/health") ||
			sj_die "health did not answer with the database down ($url)"
		code=${body##*$'\n'}
		took=${code#* }
		code=${code% *}
		body=${body%$'\n'*}
		[ "$code" = 503 ] ||
			sj_die "health with the database down ($url): HTTP $code, want 503: $body"
		[[ $body == *'"status":"critical"'* && $body == *'"database":"down"'* ]] ||
			sj_die "health with the database down ($url) did not say critical/down: $body"
		awk -v t="$took" 'BEGIN { exit !(t < 15) }' ||
			sj_die "health with the database down ($url) took $took s"
		sj_say "health with the database down: 503 critical in $took s ($url)"
	done
}

main
