#!/usr/bin/env bash
# bench/fcgi-tcp.sh BUILD_DIR: what FastCGI over TCP costs against the
# unix socket.  One PostgreSQL (bench/run.sh's settings), then for each
# way nginx reaches the programs
#   unix  the installed default: RUN/NAME.sock
#   tcp   --listen 127.0.0.1:PORT and the site's upstreams on it
#         (tools/stack.sh: SJ_FCGI_LISTEN, SJ_NGINX_FCGI_HOSTS), a new
#         connection per request as the site does it
#   keep  tcp plus "keepalive 16" in each upstream and fastcgi_keep_conn
#         on: the configuration the site leaves out, measured to show why
# the five programs with PROCS processes and one nginx, then wrk (2
# threads, CONNS connections, SECS seconds) on two routes of the health
# program, both 200: the health document and /metrics.  Only loopback.
# KEY=VALUE lines on stdout (rps, p50 and p99 in ms, errors: answers
# other than 2xx/3xx, and socket errors, timeouts among them);
# everything started is stopped by its pid at exit.  Needs root and wrk.
#
# Environment: SECS (10), CONNS (32), PROCS (4), MODES ("unix tcp keep").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/stack.sh
. "$ROOT/tools/stack.sh"

[ $# -eq 1 ] || sj_die "usage: $0 BUILD_DIR"
sj_need_root
BUILD=$(cd "$1" && pwd)
SECS=${SECS:-10}
CONNS=${CONNS:-32}
PROCS=${PROCS:-4}
WRK=${SJ_WRK:-/usr/bin/wrk}
STATE=$(sj_state_dir "" fcgi-tcp-bench)
SJ_CLEANUP_LIST=$STATE/cleanup.list
LOG=$STATE/log
RUN=$STATE/run
PORT=
trap 'sj_sweep "$SJ_CLEANUP_LIST"; rm -rf "$STATE"' EXIT

put() { printf '%s=%s\n' "$1" "$2"; }

# site MODE: the nginx of MODE, rendered and started on $PORT.
site() {
	local conf=$STATE/nginx-$1/storyjobs-site.conf
	sj_nginx_render "$ROOT/nginx" "$STATE/nginx-$1" "$PORT" "$RUN" \
		"$STATE/media" "$ROOT/web"
	if [ "$1" = keep ]; then
		sed -i -E 's/^(\tserver 127\.0\.0\.1:[0-9]+;)$/\1\n\tkeepalive 16;/' "$conf"
		sed -i 's/^\tfastcgi_request_buffering on;$/\tfastcgi_keep_conn on;\n&/' "$conf"
		if [ "$(grep -c 'keepalive 16;' "$conf")" != 5 ] ||
			! grep -q 'fastcgi_keep_conn on;' "$conf"; then
			sj_die "$conf: keepalive lines not added"
		fi
		sj_nginx_cmd "$STATE/nginx-$1" -t -q
	fi
	sj_nginx_start "$STATE/nginx-$1"
	sj_wait_ready "http://127.0.0.1:$PORT" 15 || sj_die "$1: no answer"
}

# measure MODE NAME PATH: one wrk run, its figures as MODE_NAME=...
measure() {
	local line
	"$WRK" -t2 -c"$CONNS" -d1s -s "$ROOT/bench/wrk.lua" \
		"http://127.0.0.1:$PORT$3" >/dev/null 2>&1 # warm
	line=$("$WRK" -t2 -c"$CONNS" -d"${SECS}s" -s "$ROOT/bench/wrk.lua" \
		"http://127.0.0.1:$PORT$3" | grep '^SJRESULT')
	put "$1_$2" "$(sed -E 's/.* rps=([0-9.]+) p50=([0-9.]+) .* p99=([0-9.]+) .*status_errors=([0-9]+) socket_errors=([0-9]+).*/rps=\1 p50_ms=\2 p99_ms=\3 status_errors=\4 socket_errors=\5/' <<<"$line")"
}

# run MODE: the programs and nginx of MODE, both routes, all stopped.
run() {
	local name
	(
		if [ "$1" != unix ]; then
			export SJ_FCGI_LISTEN=127.0.0.1 SJ_NGINX_FCGI_HOSTS=127.0.0.1
		fi
		sj_fcgi_start_all "$BUILD" "$RUN" "$LOG" "$STATE/stack.env" "$PROCS"
		site "$1"
	)
	measure "$1" health /api/jobs/health
	measure "$1" metrics /metrics
	sj_nginx_stop "$STATE/nginx-$1"
	sj_fcgi_stop_all "$RUN"
	for name in "${SJ_FCGI_PROGRAMS[@]}"; do rm -f "$RUN/$name.pid"; done
}

main() {
	local pgport base mode
	install -d -m 755 "$LOG" "$STATE/media"
	sj_run_dir "$RUN"
	sj_free_port pgport
	sj_pg_init "$STATE/pg" "$STATE/pgsock" "$pgport" shared_buffers=512MB \
		max_connections=100
	sj_pg_start "$STATE/pg" "$LOG/postgres.log"
	sj_createdb "$pgport" storyjobs
	sj_free_port PORT
	# five ports in a row from a free one (the pick is checked by bind)
	sj_free_port base
	export SJ_FCGI_PORT_BASE=$base
	sj_write_env "$STATE/stack.env" \
		"DATABASE_URL=$(sj_pg_url "$pgport" storyjobs)" \
		"WEBHOOK_SECRET=$(sj_secret)" "GENERATION_PROVIDER=local" \
		"STORAGE=local" "MEDIA_DIR=$STATE/media" "LOG_LEVEL=warn"
	sj_migrate "$BUILD" "$STATE/stack.env" "$ROOT/sql" >"$LOG/migrate.log" 2>&1
	put machine_nproc "$(nproc)"
	put processes "$PROCS"
	put connections "$CONNS"
	for mode in ${MODES:-unix tcp keep}; do run "$mode"; done
}

main
