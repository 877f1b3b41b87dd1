#!/usr/bin/env bash
# tests/multihost/run.sh BUILD: the scaled-out deployment (README,
# Deploying) run as it would run, each host a network namespace on a
# private bridge:
#
#   db       PostgreSQL :5432 and PgBouncer :6432 (transaction pooling)
#   s3       the S3-compatible object store (tests/s3/server.js: s3rver,
#            SigV4 signatures checked) :9000
#   web1/2   nginx :80 and the five FastCGI programs over TCP (:9001-9005),
#            DATABASE_URL through PgBouncer (DATABASE_POOLING=transaction,
#            no direct session), STORAGE=s3
#   front    nginx :80 balancing web1 and web2, /media/ from the bucket
#   wk1/2    a worker each, LISTEN session direct to PostgreSQL
#            (DATABASE_LISTEN_URL), the rest through PgBouncer, STORAGE=s3,
#            the openai provider pointed at a fake upstream on the host's
#            own loopback (tests/fake/fake-upstream), whose call log counts
#            the upstream calls each host made
#
# and runs four cases against it, each printing its figures:
#   1. a storybook from a photo uploaded through the front: which web host
#      took the upload, which worker host read it from the bucket, the
#      book's images fetched through the front;
#   2. the worker host holding a storybook partitioned (its veth down) for
#      longer than the lease: the other host rescues and completes it; when
#      the link returns the partitioned worker's late writes change nothing
#      (lease_epoch and result stay the rescuer's) and no checkpointed
#      upstream call is made again;
#   3. a web host SIGKILLed (nginx and its programs) under load through the
#      front: no idempotent request fails; the job starts (POST, not
#      retried by nginx) in flight at the kill are the only failures;
#   4. PgBouncer restarted, then PostgreSQL stopped -m immediate and
#      started: every program recovers by itself, no job is lost.
#
# The subnet is 10.213.N.0/24 for the first N (from 213) that no route or
# address of this machine touches; the root namespace holds the bridge's
# .1 (the test's client).  Only those addresses and loopback are used.
# Everything is started through tools/stack.sh inside its namespace
# (`ip netns exec`), stopped by pid at exit, then the namespaces, veth
# pairs and the bridge are deleted; the state folder goes unless the run
# failed (SJ_KEEP_STATE=1 keeps it anyway).  Needs root, ip(8), node with
# tests/s3/node_modules, curl, jq, psql, wrk, pgbouncer.  State under $SJ_TEST_STATE_ROOT (./dev test) or $TMPDIR or /tmp.
set -euo pipefail
umask 022

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tools/stack.sh
. "$ROOT/tools/stack.sh"

[ $# -eq 1 ] || sj_die "usage: $0 BUILD"
sj_need_root
BUILD=$(cd "$1" && pwd)
for f in "$BUILD/worker/storyjobs-worker" "$BUILD/tests/fake/fake-upstream" \
	"$BUILD/tools/storyjobsctl"; do
	[ -x "$f" ] || sj_die "$f is missing (make, then make check TESTS=)"
done
[ -d "$ROOT/tests/s3/node_modules" ] ||
	sj_die "tests/s3/node_modules is missing (npm ci in tests/s3)"
for f in ip jq wrk node curl psql; do
	command -v "$f" >/dev/null || sj_die "$f is missing"
done

STATE=$(sj_state_dir "${SJ_TEST_STATE_ROOT:-}" multihost)
export SJ_CLEANUP_LIST=$STATE/cleanup.list
# Names carry this run's pid: runs side by side do not meet, and what a
# killed run left is known as such (prune_stale).  Interface names stay
# under 16 bytes (a pid has at most 7 digits).
ID=$$
BR=sjb$ID
HOSTS=(db s3 web1 web2 front wk1 wk2)
declare -A OCTET=([db]=2 [s3]=3 [front]=10 [web1]=11 [web2]=12 [wk1]=21 [wk2]=22)
NET=
MADE_NS=()
MADE_BR=0
FAKE_PORT=18080
S3_KEY=AKIASTORYJOBSHOSTS01
S3_SECRET=multihost-s3-secret-0123456789abcdef
BOUNCER_PASS=
CASE_FAIL=0
CASE1_JOB=

ns() { printf 'sj%s-%s\n' "$ID" "$1"; }
addr() { printf '%s.%s\n' "$NET" "${OCTET[$1]}"; }
veth() { printf 'sj%s%s\n' "$ID" "$1"; }

# in_ns HOST FUNCTION ARGS...: a tools/stack.sh function run inside HOST's
# namespace; what it starts stays there.
in_ns() {
	local host=$1
	shift
	# shellcheck disable=SC2016 # expanded by that shell
	ip netns exec "$(ns "$host")" bash -c \
		'set -euo pipefail; umask 022; . "$0"; "$@"' \
		"$ROOT/tools/stack.sh" "$@"
}

# prune_stale: namespaces and bridges an earlier run left (it was
# SIGKILLed: its EXIT trap never ran), known by the pid in their names
# being gone; the processes still in such a namespace were started by
# that run, and are killed by pid first.
prune_stale() {
	local n pid p
	while read -r n _; do
		[[ $n =~ ^sj([0-9]+)-(db|s3|web1|web2|front|wk1|wk2)$ ]] || continue
		pid=${BASH_REMATCH[1]}
		! kill -0 "$pid" 2>/dev/null || continue
		for p in $(ip netns pids "$n" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null || true
		done
		ip netns del "$n" 2>/dev/null || true
		sj_say "removed $n, left by run $pid"
	done < <(ip netns list)
	while read -r n; do
		[[ $n =~ ^sjb([0-9]+)$ ]] || continue
		! kill -0 "${BASH_REMATCH[1]}" 2>/dev/null || continue
		ip link del "$n" 2>/dev/null || true
		sj_say "removed bridge $n, left by run ${BASH_REMATCH[1]}"
	done < <(ip -o link show type bridge | awk -F': ' '{ print $2 }')
}

# pick_net: the first 10.213.N.0/24 that no route or address covers or
# overlaps (the default route aside).
pick_net() {
	local n used
	for ((n = 213; n < 250; n++)); do
		used=$({
			ip -4 route show to match "10.213.$n.0/24" | grep -v '^default' || true
			ip -4 route show root "10.213.$n.0/24" || true
			ip -4 addr show | grep -F " 10.213.$n." || true
		})
		if [ -z "$used" ]; then
			NET=10.213.$n
			return 0
		fi
	done
	sj_die "no free 10.213.N.0/24 on this machine"
}

# build_net: the bridge (the root namespace's .1 on it) and, per host, a
# namespace with loopback up and a veth pair whose outer end is on the
# bridge.
build_net() {
	local h
	prune_stale
	pick_net
	ip link add "$BR" type bridge
	MADE_BR=1
	ip addr add "$NET.1/24" dev "$BR"
	ip link set "$BR" up
	for h in "${HOSTS[@]}"; do
		ip netns add "$(ns "$h")"
		MADE_NS+=("$(ns "$h")")
		ip link add "$(veth "$h")" type veth peer name eth0 netns "$(ns "$h")"
		ip link set "$(veth "$h")" master "$BR" up
		ip -n "$(ns "$h")" addr add "$(addr "$h")/24" dev eth0
		ip -n "$(ns "$h")" link set eth0 up
		ip -n "$(ns "$h")" link set lo up
	done
	sj_say "hosts on $NET.0/24 (bridge $BR): $(for h in "${HOSTS[@]}"; do
		printf '%s=%s ' "$h" "$(addr "$h")"
	done)"
}

# teardown_net: namespaces (their veth ends go with them, and so do the
# pairs), any veth left, the bridge.
teardown_net() {
	local n h
	for n in "${MADE_NS[@]}"; do
		ip netns del "$n" 2>/dev/null || true
	done
	for h in "${HOSTS[@]}"; do
		ip link del "$(veth "$h")" 2>/dev/null || true
	done
	[ "$MADE_BR" = 0 ] || ip link del "$BR" 2>/dev/null || true
}

finish() {
	local rc=$? h
	trap - EXIT
	# links up first: a cut-off worker stops at once instead of retrying
	# its release until its deadline
	for h in "${HOSTS[@]}"; do
		ip link set "$(veth "$h")" up 2>/dev/null || true
	done
	sj_sweep "$SJ_CLEANUP_LIST"
	teardown_net
	if [ "$rc" -ne 0 ]; then
		sj_tail_logs "$STATE"/*/log/*.log "$STATE"/db/pgbouncer/pgbouncer.log \
			"$STATE"/*/nginx/error.log "$STATE"/front/nginx/access.log
		sj_say "multihost test FAILED; state kept in $STATE"
	elif [ "${SJ_KEEP_STATE:-0}" = 1 ]; then
		sj_say "state kept in $STATE (SJ_KEEP_STATE=1)"
	else
		rm -rf "$STATE"
	fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the hosts --------------------------------------------------------------

DIRECT_URL=
POOLED_URL=
FRONT=

# start_db: the cluster listening on the db host's address (trust from the
# subnet: the hosts are the network), the database, PgBouncer.
start_db() {
	local d=$STATE/db
	install -d -m 755 "$d" "$d/log"
	sj_pg_init "$d/pg" "$d/pgsock" 5432 fsync=off synchronous_commit=off \
		full_page_writes=off "listen_addresses='$(addr db),127.0.0.1'" \
		max_connections=200
	printf 'host all all %s.0/24 trust\n' "$NET" >>"$d/pg/pg_hba.conf"
	in_ns db sj_pg_start "$d/pg" "$d/log/postgres.log"
	in_ns db sj_createdb 5432 storyjobs
	DIRECT_URL=postgresql://postgres@$(addr db):5432/storyjobs
	BOUNCER_PASS=$(sj_secret | cut -c1-32)
	start_bouncer
	POOLED_URL=postgresql://postgres:$BOUNCER_PASS@$(addr db):6432/storyjobs
}

# start_bouncer: PgBouncer on the db host, in front of PostgreSQL on the
# same host.  server_login_retry is lowered from its 15 s (README,
# Deploying): after a failed login to PostgreSQL, PgBouncer waits that
# long before it tries again, and its clients see the database down until
# then, so a PostgreSQL restart would cost every pooled program 15 s.
# (SJ_MULTIHOST_LOGIN_RETRY=15 shows Debian's default.)
start_bouncer() {
	local d=$STATE/db/pgbouncer
	SJ_PGBOUNCER_LISTEN="$(addr db),127.0.0.1" SJ_PGBOUNCER_POOL_SIZE=40 \
		in_ns db sj_pgbouncer_start "$d" 5432 6432 postgres "$BOUNCER_PASS"
	printf 'server_login_retry = %s\n' "${SJ_MULTIHOST_LOGIN_RETRY:-1}" \
		>>"$d/pgbouncer.ini"
	kill -HUP "$(head -n 1 "$d/pgbouncer.pid")"
}

# start_s3: the object store; waits for its "listening" line.
start_s3() {
	local d=$STATE/s3 i
	install -d -m 755 "$d" "$d/log" "$d/data"
	sj_write_env "$d/s3.env" "NODE_ENV=production"
	in_ns s3 sj_daemon_start "$d/s3.pid" "$d/log/s3.log" "$d/s3.env" \
		node "$ROOT/tests/s3/server.js" --dir "$d/data" --bucket media \
		--key "$S3_KEY" --secret "$S3_SECRET" --address "$(addr s3)" \
		--port 9000 --log 1
	for ((i = 0; i < 100; i++)); do
		grep -q '^listening' "$d/log/s3.log" && return 0
		sleep 0.1
	done
	sj_die "the object store did not start; see $d/log/s3.log"
}

# write_env: the settings of every program on every host (one file, as an
# operator would ship to all hosts), and web.env: the same without
# DATABASE_LISTEN_URL, for the web hosts.
write_env() {
	FRONT=http://$(addr front)
	sj_write_env "$STATE/hosts.env" \
		"BASE_URL=$FRONT" \
		"PUBLIC_BASE_URL=$FRONT" \
		"DATABASE_URL=$POOLED_URL" \
		"DATABASE_POOLING=transaction" \
		"DATABASE_LISTEN_URL=$DIRECT_URL" \
		"WEBHOOK_SECRET=$(sj_secret)" \
		"GENERATION_PROVIDER=openai" \
		"OPENAI_API_KEY=sk-test-key" \
		"OPENAI_BASE_URL=http://127.0.0.1:$FAKE_PORT/v1" \
		"STORAGE=s3" \
		"S3_ENDPOINT=http://$(addr s3):9000" \
		"S3_REGION=us-east-1" \
		"S3_BUCKET=media" \
		"S3_ACCESS_KEY_ID=$S3_KEY" \
		"S3_SECRET_ACCESS_KEY=$S3_SECRET" \
		"S3_PUBLIC_BASE_URL=$FRONT/media" \
		"MEDIA_DIR=$STATE/media" \
		"JOB_PROCESSING_INTERVAL=1000" \
		"MAX_CONCURRENT_JOBS=3" \
		"JOB_LEASE_SECONDS=5" \
		"HEARTBEAT_MS=1000" \
		"LOG_LEVEL=info" \
		"UPLOAD_RATE_LIMIT=1000" \
		"ANON_START_LIMIT=1000000" \
		"ANON_MAX_ACTIVE_JOBS=1000000" \
		"ANON_MAX_ACTIVE_TOTAL=1000000"
	# the web hosts have no direct session: pooled only
	grep -v '^export DATABASE_LISTEN_URL=' "$STATE/hosts.env" >"$STATE/web.env"
	chmod 600 "$STATE/web.env"
	install -d -m 755 "$STATE/media"
}

# The programs' TCP ports (storyjobs-fcgi(8), --listen), as README's
# Deploying section numbers them.
declare -A FCGI_PORT=([jobs]=9001 [auth]=9002 [health]=9003 [cron]=9004 [admin]=9005)

# fcgi_start HOST NAME: storyjobs-NAME on the host's address, port
# FCGI_PORT[NAME]; waits until it accepts.
fcgi_start() {
	local h=$1 name=$2 d=$STATE/$1 i
	in_ns "$h" sj_daemon_start "$d/run/$name.pid" "$d/log/$name.log" \
		"$STATE/web.env" "$BUILD/cgi/storyjobs-$name" \
		--listen "$(addr "$h"):${FCGI_PORT[$name]}" --processes 2
	for ((i = 0; i < 100; i++)); do
		ip netns exec "$(ns "$h")" bash -c \
			": </dev/tcp/$(addr "$h")/${FCGI_PORT[$name]}" 2>/dev/null && return 0
		sj_pid_alive "$d/run/$name.pid" || break
		sleep 0.1
	done
	sj_die "$h: storyjobs-$name does not listen; see $d/log/$name.log"
}

# start_web HOST: the five programs over TCP and nginx, on the host's
# address; the front is its trusted proxy.  The product's site, rendered
# as for one host, then its listen line and each program's unix socket
# replaced by the host's address and the program's port.
start_web() {
	local h=$1 d=$STATE/$1 name
	install -d -m 755 "$d" "$d/log"
	sj_run_dir "$d/run"
	for name in "${SJ_FCGI_PROGRAMS[@]}"; do
		fcgi_start "$h" "$name"
	done
	if [ ! -f "$d/nginx/nginx.conf" ]; then
		SJ_NGINX_TRUSTED_PROXIES=$(addr front) sj_nginx_render \
			"$ROOT/nginx" "$d/nginx" 80 "$d/run" "$STATE/media" "$ROOT/web"
		sed -i "s|listen 127.0.0.1:80;|listen $(addr "$h"):80;|" \
			"$d/nginx/storyjobs-site.conf"
		for name in "${SJ_FCGI_PROGRAMS[@]}"; do
			sed -i "s|unix:$d/run/$name.sock|$(addr "$h"):${FCGI_PORT[$name]}|" \
				"$d/nginx/storyjobs-site.conf"
		done
		if grep -n "unix:\|127\.0\.0\.1" "$d/nginx/storyjobs-site.conf" >&2; then
			sj_die "$h: the site still names a unix socket or loopback"
		fi
		in_ns "$h" sj_nginx_cmd "$d/nginx" -t -q ||
			sj_die "$h: nginx rejected its site"
	fi
	in_ns "$h" sj_nginx_start "$d/nginx"
}

# start_front: an nginx of its own (not the product's site: it only
# balances), every idempotent request that meets a dead or failing web
# host tried again on the other one; /media/ is the bucket.
start_front() {
	local d=$STATE/front
	install -d -m 755 "$d" "$d/nginx"
	cat >"$d/nginx/nginx.conf" <<EOF
# tests/multihost/run.sh: the front of the scaled-out deployment.
user www-data;
worker_processes 2;
pid $d/nginx/nginx.pid;
error_log $d/nginx/error.log warn;
events {
	worker_connections 1024;
}
http {
	client_body_temp_path $d/nginx/client_body_temp;
	proxy_temp_path $d/nginx/proxy_temp;
	fastcgi_temp_path $d/nginx/fastcgi_temp;
	uwsgi_temp_path $d/nginx/uwsgi_temp;
	scgi_temp_path $d/nginx/scgi_temp;
	log_format front '\$msec \$status \$request_method \$uri '
		'up=\$upstream_addr ups=\$upstream_status';
	access_log $d/nginx/access.log front;
	upstream storyjobs_web {
		server $(addr web1):80 max_fails=1 fail_timeout=3s;
		server $(addr web2):80 max_fails=1 fail_timeout=3s;
		keepalive 32;
	}
	server {
		listen $(addr front):80;
		client_max_body_size 11m;
		location /media/ {
			proxy_pass http://$(addr s3):9000;
			proxy_next_upstream off;
		}
		location / {
			proxy_pass http://storyjobs_web;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
			proxy_connect_timeout 2s;
			proxy_read_timeout 30s;
			# A dead host, or one whose program is down (its nginx
			# answers 503): the request goes to the other host.
			# POST is never sent twice (no non_idempotent).
			proxy_next_upstream error timeout http_502 http_503 http_504;
			proxy_next_upstream_tries 2;
			proxy_next_upstream_timeout 10s;
		}
	}
}
EOF
	# (-t binds the listening address: inside the host)
	in_ns front sj_nginx_cmd "$d/nginx" -t -q ||
		sj_die "nginx rejected the front's config"
	in_ns front sj_nginx_start "$d/nginx"
}

# start_worker HOST: the fake upstream on the host's loopback, then the
# worker.
start_worker() {
	local h=$1 d=$STATE/$1
	install -d -m 755 "$d" "$d/log"
	sj_write_env "$d/fake.env" "LOG_LEVEL=warn"
	if ! sj_pid_alive "$d/fake.pid"; then
		in_ns "$h" sj_daemon_start "$d/fake.pid" "$d/log/fake.log" \
			"$d/fake.env" "$BUILD/tests/fake/fake-upstream" \
			--port-file "$d/fake.port" --port "$FAKE_PORT" \
			--api-key sk-test-key
	fi
	in_ns "$h" sj_daemon_start "$d/worker.pid" "$d/log/worker.log" \
		"$STATE/hosts.env" "$BUILD/worker/storyjobs-worker"
}

# ---- helpers of the cases ---------------------------------------------------

# hcurl ARGS...: curl with no proxy, bounded.
hcurl() {
	curl -sS --noproxy '*' -m 20 "$@"
}

# fake HOST METHOD PATH [BODY]: the fake upstream of a worker host.
fake() {
	local h=$1 m=$2 p=$3
	ip netns exec "$(ns "$h")" curl -sS --noproxy '*' -m 10 -X "$m" \
		-H 'Content-Type: application/json' \
		${4:+--data-binary "$4"} "http://127.0.0.1:$FAKE_PORT$p"
}

# sql QUERY: one value from the database (from the root namespace, over
# the bridge, as an operator's psql would).
sql() {
	psql -X -q -At "$DIRECT_URL" -v ON_ERROR_STOP=1 -c "$1"
}

# wait_job ID SECONDS: waits until job ID is terminal; prints its status.
wait_job() {
	local id=$1 i st=
	for ((i = 0; i < $2 * 5; i++)); do
		st=$(sql "SELECT status FROM jobs WHERE id = '$id'")
		case $st in completed | failed | cancelled) break ;; esac
		sleep 0.2
	done
	printf '%s\n' "$st"
}

# upload_photo SALT: a photo (drawn by wk1's fake) uploaded through the
# front; prints the upload's URL.
upload_photo() {
	local png=$STATE/photo-$1.png out
	ip netns exec "$(ns wk1)" curl -sS --noproxy '*' -m 10 -o "$png" \
		"http://127.0.0.1:$FAKE_PORT/img/photo.png?salt=$1"
	out=$(hcurl -w '\n%{http_code}' -H 'Content-Type: image/png' \
		--data-binary "@$png" "$FRONT/api/uploads")
	[ "${out##*$'\n'}" = 201 ] || sj_die "upload: $out"
	jq -er .url <<<"${out%$'\n'*}"
}

# storybook_body TITLE PHOTO SCENES: a storybook of one page per scene.
storybook_body() {
	local pages
	pages=$(jq -nc --argjson n "$3" --arg t "$1" '[range(1; $n + 1) |
		{pageNumber: ., scenes: [{description: "\($t) scene \(.)",
		 emotion: "happy",
		 imagePrompt: "\($t): a fox and a mole by the river, part \(.)"}]}]')
	jq -nc --arg t "$1" --arg img "$2" --argjson pages "$pages" \
		'{title: $t, story: "\($t). A fox and a mole went down to the river to find the old boat.",
		  characterImage: $img, audience: "children", pages: $pages}'
}

# start_job TYPE BODY: POST through the front; prints the job id.
start_job() {
	local out
	out=$(hcurl -w '\n%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "$2" "$FRONT/api/jobs/$1/start")
	[ "${out##*$'\n'}" = 200 ] || sj_die "start $1: $out"
	jq -er .jobId <<<"${out%$'\n'*}"
}

# job_hosts ID: the worker hosts whose log names job ID.
job_hosts() {
	local h
	for h in wk1 wk2; do
		grep -qF "$1" "$STATE/$h/log/worker.log" && printf '%s ' "$h"
	done
	echo
}

# host_of ADDRESS: the host with that address.
host_of() {
	local h
	for h in "${HOSTS[@]}"; do
		[ "$(addr "$h")" != "$1" ] || printf '%s\n' "$h"
	done
}

other_web() {
	if [ "$1" = web1 ]; then echo web2; else echo web1; fi
}

# s3_log_has METHOD KEY HOST: the object store logged METHOD of the object
# KEY from HOST.
s3_log_has() {
	grep -qE "^$1 /media/$2 from $(addr "$3") 2[0-9][0-9]\$" "$STATE/s3/log/s3.log"
}

# s3_requests: the object store's requests by method, host and status.
s3_requests() {
	local m p from a status
	while read -r m p from a status; do
		[ "$from" = from ] || continue
		printf '%s %s %s\n' "$m" "$(host_of "$a")" "$status"
	done <"$STATE/s3/log/s3.log" | sort | uniq -c |
		awk '{ printf "%s %s %s %s\n", $2, $3, $4, $1 }'
}

# fake_counts HOST: HOST's upstream calls by path.
fake_counts() {
	fake "$1" GET /_calls |
		jq -c '[.calls[].path] | group_by(.) | map({(.[0]): length}) | add // {}'
}

# check WHAT VERDICT: prints WHAT as passed when VERDICT is 1, else as
# failed (the run goes on: every case reports; the run fails at the end).
check() {
	if [ "$2" = 1 ]; then
		printf '  ok: %s\n' "$1"
	else
		printf '  FAIL: %s\n' "$1"
		CASE_FAIL=1
	fi
}

# ---- case 1 -----------------------------------------------------------------

case_storybook() {
	local url key id st t0 ms up web worker other urls u n=0 bad=0 h
	printf '\n== case 1: a storybook from a photo uploaded through the front\n'
	t0=$(date +%s%N)
	url=$(upload_photo case1)
	key=${url##*/}
	up=$(grep ' POST /api/uploads ' "$STATE/front/nginx/access.log" | tail -n 1)
	up=${up##* up=}
	up=${up%% *}
	web=$(host_of "${up%:*}")
	id=$(start_job storybook "$(storybook_body "Case one" "$url" 3)")
	CASE1_JOB=$id
	st=$(wait_job "$id" 60)
	ms=$((($(date +%s%N) - t0) / 1000000))
	worker=$(job_hosts "$id")
	printf 'upload %s through the front to %s (%s); job %s %s in %d ms ' \
		"$key" "$web" "$up" "$id" "$st" "$ms"
	printf 'on worker host %s\n' "$worker"
	check "the book completed" "$([ "$st" = completed ] && echo 1)"
	check "one web host took the upload, the other saw none" "$(
		[ -n "$web" ] &&
			[ "$(grep -c 'POST /api/uploads' "$STATE/$web/nginx/access.log")" = 1 ] &&
			[ "$(grep -c 'POST /api/uploads' "$STATE/$(other_web "$web")/nginx/access.log")" = 0 ] &&
			echo 1
	)"
	check "the upload was stored by $web" \
		"$(s3_log_has PUT "$key" "$web" && echo 1)"
	check "one worker host ran it" "$([[ $worker =~ ^wk[12]\ $ ]] && echo 1)"
	worker=${worker% }
	other=wk1
	[ "$worker" != wk1 ] || other=wk2
	check "$worker read the photo from the object store" \
		"$(s3_log_has GET "$key" "$worker" && echo 1)"
	check "$other did not" "$(s3_log_has GET "$key" "$other" || echo 1)"
	check "nothing was written to MEDIA_DIR" \
		"$([ -z "$(find "$STATE/media" -type f -print -quit)" ] && echo 1)"
	urls=$(sql "SELECT result FROM jobs WHERE id = '$id'" |
		jq -r '.. | strings | select(test("/media/"))' | sort -u)
	for u in $urls; do
		n=$((n + 1))
		s3_log_has PUT "${u##*/}" "$worker" || {
			bad=$((bad + 1))
			printf 'not stored by %s: %s\n' "$worker" "$u"
		}
		hcurl -o /dev/null -w '%{http_code} %{content_type}\n' "$u" |
			grep -q '^200 image/' || {
			bad=$((bad + 1))
			printf 'not served: %s\n' "$u"
		}
	done
	printf 'images in the result: %d, each stored by %s and fetched through the front: %s\n' \
		"$n" "$worker" "$([ "$bad" = 0 ] && echo yes || echo no)"
	check "every image is stored and served" \
		"$([ "$n" -ge 3 ] && [ "$bad" = 0 ] && echo 1)"
	for h in wk1 wk2; do
		printf '%s upstream calls: %s\n' "$h" "$(fake_counts "$h")"
	done
	printf 'object store requests (method host status count):\n'
	s3_requests | sed 's/^/  /'
	sessions
}

# sessions: who holds which database session: PgBouncer's clients per
# host and its server sessions, and the direct sessions per host.
sessions() {
	local clients direct
	clients=$(psql -X -q -At -F ' ' \
		"postgresql://postgres:$BOUNCER_PASS@$(addr db):6432/pgbouncer" \
		-c 'SHOW CLIENTS' | awk '$3 == "storyjobs" { print $5 }' |
		while read -r a; do host_of "$a"; done | sort | uniq -c |
		awk '{ printf "%s=%s ", $2, $1 }')
	direct=$(sql "SELECT host(client_addr) FROM pg_stat_activity
		WHERE datname = 'storyjobs' AND client_addr IS NOT NULL
		AND host(client_addr) <> '127.0.0.1'" |
		while read -r a; do host_of "$a"; done | sort | uniq -c |
		awk '{ printf "%s=%s ", $2, $1 }')
	printf 'PgBouncer clients: %s; its server sessions: %s; direct sessions: %s\n' \
		"$clients" "$(sql "SELECT count(*) FROM pg_stat_activity
			WHERE datname = 'storyjobs' AND host(client_addr) = '127.0.0.1'")" \
		"$direct"
	check "no web host has a direct session" \
		"$([[ $direct != *web* ]] && echo 1)"
	check "each worker host has its direct (LISTEN) session" \
		"$([[ $direct == *wk1=* && $direct == *wk2=* ]] && echo 1)"
}

# ---- case 2 -----------------------------------------------------------------

# worker_host WORKER_ID: the worker host whose worker has that id
# (host:pid:random; the namespaces share a host name, not pids).
worker_host() {
	local pid=${1#*:} h
	pid=${pid%%:*}
	for h in wk1 wk2; do
		[ "$(head -n 1 "$STATE/$h/worker.pid")" != "$pid" ] || echo "$h"
	done
}

# row_digest ID: what a late write could change in job ID's row.
row_digest() {
	sql "SELECT md5(concat_ws('|', status, progress, lease_owner,
		lease_epoch, result::text, checkpoint::text, completed_at,
		updated_at, attempts, rescues)) FROM jobs WHERE id = '$1'"
}

case_partition() {
	local url id row owner epoch a b t_down t_rescue t_done t_up i st
	local digest after calls_a calls_b repeats cut late n_a n_b
	local lease=5 scenes=8
	printf '\n== case 2: the worker host of a running storybook partitioned\n'
	for h in wk1 wk2; do
		fake "$h" POST /_reset '{}' >/dev/null
		fake "$h" POST /_script \
			'{"path":"/v1/images/generations","default":"delay:1500"}' >/dev/null
	done
	url=$(upload_photo case2)
	id=$(start_job storybook "$(storybook_body "Case two" "$url" "$scenes")")
	# two scenes saved: progress 25 + 2/8 * 50
	for ((i = 0; i < 300; i++)); do
		row=$(sql "SELECT status, progress, coalesce(lease_owner, ''), lease_epoch
			FROM jobs WHERE id = '$id'")
		IFS='|' read -r st progress owner epoch <<<"$row"
		[ "$st" = processing ] && [ "$progress" -ge 37 ] && break
		sleep 0.1
	done
	if [ "$st" != processing ] || [ "$progress" -lt 37 ]; then
		sj_die "case 2: the job did not get going: $row"
	fi
	a=$(worker_host "$owner")
	b=wk1
	[ "$a" != wk1 ] || b=wk2
	t_down=$(date +%s%3N)
	ip link set "$(veth "$a")" down
	printf 'job %s on %s (epoch %s, progress %s): %s partitioned\n' \
		"$id" "$a" "$epoch" "$progress" "$a"
	for ((i = 0; i < 300; i++)); do
		row=$(sql "SELECT coalesce(lease_owner, ''), lease_epoch FROM jobs WHERE id = '$id'")
		[ "${row##*|}" -gt "$epoch" ] && break
		sleep 0.1
	done
	t_rescue=$(date +%s%3N)
	owner=${row%|*}
	st=$(wait_job "$id" 60)
	t_done=$(date +%s%3N)
	printf 'rescued by %s %d ms after the cut (lease %d s), %s %d ms after it\n' \
		"$(worker_host "$owner")" $((t_rescue - t_down)) "$lease" "$st" \
		$((t_done - t_down))
	check "the job was rescued by $b" "$([ "$(worker_host "$owner")" = "$b" ] && echo 1)"
	check "and completed" "$([ "$st" = completed ] && echo 1)"
	digest=$(row_digest "$id")
	epoch=$(sql "SELECT lease_epoch FROM jobs WHERE id = '$id'")
	# the partition lasts at least twice the lease
	while [ $(($(date +%s%3N) - t_down)) -lt $((2 * lease * 1000)) ]; do
		sleep 0.2
	done
	ip link set "$(veth "$a")" up
	t_up=$(date +%s%3N)
	printf 'link of %s back after %d ms\n' "$a" $((t_up - t_down))
	# The late writes: the partitioned worker retries its fenced writes
	# (backoff up to 5 s) until it is fenced out.
	for ((i = 0; i < 150; i++)); do
		late=$(awk -v id="$id" 'index($0, id) && /fenced|lost|dropped|no longer/' \
			"$STATE/$a/log/worker.log" | tail -n 1)
		[ -z "$late" ] || break
		sleep 0.2
	done
	sleep 1
	late=${late#*msg=}
	printf '%s after the link came back: %s\n' "$a" "${late:-(nothing logged)}"
	after=$(row_digest "$id")
	check "$a wrote late and was fenced out" "$([ -n "$late" ] && echo 1)"
	check "$a's late writes changed nothing (epoch $epoch, result, checkpoint)" \
		"$([ "$after" = "$digest" ] && echo 1)"
	check "$a's worker runs on" \
		"$(sj_pid_alive "$STATE/$a/worker.pid" && echo 1)"
	calls_a=$(fake "$a" GET /_calls)
	calls_b=$(fake "$b" GET /_calls)
	n_a=$(jq '.calls | length' <<<"$calls_a")
	n_b=$(jq '.calls | length' <<<"$calls_b")
	# A call made again by the rescuer is explained only by the cut: its
	# first copy was still running then, or had answered so shortly
	# before (1 s) that its result may not have been saved.
	repeats=$(jq -n --argjson a "$calls_a" --argjson b "$calls_b" \
		'[$b.calls[].key] as $bk | [$a.calls[] | select(.key as $k | $bk | index($k))]')
	cut=$(jq --argjson t "$t_down" \
		'[.[] | select(.end_ms != 0 and .end_ms < $t - 1000)] | length' <<<"$repeats")
	late=$(jq --argjson t "$t_down" '[.calls[] | select(.start_ms > $t)] | length' <<<"$calls_a")
	printf 'upstream calls: %s %d (%d started after the cut), %s %d, made by both %d (%d of them answered more than 1 s before the cut)\n' \
		"$a" "$n_a" "$late" "$b" "$n_b" "$(jq length <<<"$repeats")" "$cut"
	check "no checkpointed call was made again" "$([ "$cut" = 0 ] && echo 1)"
	check "$a made no call while cut off" "$([ "$late" = 0 ] && echo 1)"
	check "every scene was paid for: $((n_a + n_b - $(jq length <<<"$repeats"))) distinct calls" \
		"$([ $((n_a + n_b - $(jq length <<<"$repeats"))) -ge $((scenes + 1)) ] && echo 1)"
	for h in wk1 wk2; do
		fake "$h" POST /_script \
			'{"path":"/v1/images/generations","default":"ok"}' >/dev/null
	done
}

# ---- case 3 -----------------------------------------------------------------

# image_body TAG N: an image-generation job's input.
image_body() {
	jq -nc --arg t "$1 $2" '{image_prompt: "\($t): a lighthouse at dawn",
		character_description: "a small red fox", emotion: "calm",
		audience: "children"}'
}

# kill_web HOST: SIGKILL to the process group of each of the host's
# programs and of its nginx (master and workers), all at once.
kill_web() {
	local d=$STATE/$1 f groups=()
	for f in "$d"/run/*.pid "$d/nginx/nginx.pid"; do
		sj_pid_alive "$f" && groups+=("-$(head -n 1 "$f")")
	done
	[ "${#groups[@]}" -gt 0 ] || sj_die "$1 runs nothing to kill"
	kill -KILL -- "${groups[@]}"
}

case_kill_web() {
	local target=/api/jobs/$1 out t_kill t0 posts=0 posts_ok=0 i
	local get_bad post_bad to_web1 log=$STATE/front/nginx/access.log
	local lines_before secs=10 t_end hung cut sock_errors
	local elog=$STATE/front/nginx/error.log elog_before
	printf '\n== case 3: web1 killed under load through the front\n'
	lines_before=$(wc -l <"$log")
	elog_before=$(wc -l <"$elog")
	t0=$(date +%s)
	wrk -t2 -c16 -d"${secs}s" --latency "$FRONT$target" >"$STATE/wrk.out" 2>&1 &
	local wrk_pid=$!
	# job starts (POST, never retried by the front) one after another
	(
		n=0
		while [ $(($(date +%s) - t0)) -lt "$secs" ]; do
			n=$((n + 1))
			hcurl -o /dev/null -w '%{http_code}\n' \
				-H 'Content-Type: application/json' \
				--data-binary "$(image_body case3 "$n")" \
				"$FRONT/api/jobs/image-generation/start" || echo 000
		done >"$STATE/posts.out"
	) &
	local posts_pid=$!
	sleep 3
	t_kill=$(date +%s%3N)
	kill_web web1
	wait "$wrk_pid" || sj_die "wrk failed: $(cat "$STATE/wrk.out")"
	t_end=$(date +%s%3N)
	wait "$posts_pid"
	sed -n '/Latency Distribution/,/Requests\/sec/p' "$STATE/wrk.out" |
		grep -E '99%|requests in|Requests/sec|Non-2xx|Socket errors' || true
	grep -E 'Non-2xx|Socket errors' "$STATE/wrk.out" || true
	posts=$(wc -l <"$STATE/posts.out")
	posts_ok=$(grep -c '^200$' "$STATE/posts.out" || true)
	# the front's view of the same window
	# 499: wrk hung up on requests in progress when its time ran out
	hung=$(tail -n +$((lines_before + 1)) "$log" |
		awk -v t="$t_end" '$2 == 499 && $1 * 1000 > t - 1000' | wc -l)
	get_bad=$(tail -n +$((lines_before + 1)) "$log" |
		awk -v u="$target" -v t="$t_end" '$3 == "GET" && $4 == u &&
			$2 != 200 && !($2 == 499 && $1 * 1000 > t - 1000)' | wc -l)
	post_bad=$(tail -n +$((lines_before + 1)) "$log" |
		awk '$3 == "POST" && $2 != 200' | wc -l)
	to_web1=$(tail -n +$((lines_before + 1)) "$log" |
		awk -v t="$t_kill" '$1 * 1000 > t + 100 && /up=[^ ]*'"$(addr web1)"':80/' | wc -l)
	printf 'GETs through the front: %s, failed: %d (front log); job starts: %d, ok: %d, failed: %d\n' \
		"$(awk '/requests in/ { print $1 }' "$STATE/wrk.out")" "$get_bad" \
		"$posts" "$posts_ok" "$post_bad"
	printf 'requests that met dead web1 after the kill and went on to web2: %d; hung up by wrk at its end: %d\n' \
		"$to_web1" "$hung"
	tail -n +$((lines_before + 1)) "$log" | awk '$2 != 200 && $2 != 499' | head -n 5
	check "no GET failed (each retried on web2)" "$([ "$get_bad" = 0 ] && echo 1)"
	# A response whose header the front had already passed on when web1
	# died cannot be retried by any proxy: the client sees it cut.  The
	# front logs each ("... while reading upstream", not "... response
	# header"); every other request must reach wrk whole.
	cut=$(tail -n +$((elog_before + 1)) "$elog" |
		grep -c 'prematurely closed connection while reading upstream,' || true)
	# a cut response is a socket error to wrk; any non-2xx fails anyway
	sock_errors=$(awk '/Socket errors/ {
		for (i = 3; i <= NF; i++) { v = $i; sub(",", "", v); if (v ~ /^[0-9]+$/) n += v } }
		END { print n + 0 }' "$STATE/wrk.out")
	printf 'responses cut mid-body by the kill (header already sent): %d; socket errors wrk saw: %d\n' \
		"$cut" "$sock_errors"
	check "wrk saw no error but the responses cut mid-body" \
		"$([ "$sock_errors" -le "$cut" ] && ! grep -q Non-2xx "$STATE/wrk.out" && echo 1)"
	check "at most the one job start in flight at the kill failed" \
		"$([ "$post_bad" -le 1 ] && [ $((posts - posts_ok)) -le 1 ] && echo 1)"
	# web1 back, and used again
	start_web web1
	sleep 3.5 # the front's fail_timeout
	for ((i = 0; i < 10; i++)); do
		hcurl -o /dev/null "$FRONT$target"
	done
	out=$(tail -n 10 "$log" | grep -c "up=$(addr web1):80" || true)
	printf 'web1 restarted: %d of the next 10 requests went to it\n' "$out"
	check "web1 serves again" "$([ "$out" -ge 1 ] && echo 1)"
}

# ---- case 4 -----------------------------------------------------------------

# wait_health T0 SECONDS HOST...: polls each HOST's own health (directly,
# not through the front) until all answered 200; prints, per host, the ms
# from T0 (ms since the epoch) to its first 200.  Fails if one did not
# within SECONDS.
wait_health() {
	local t0=$1 secs=$2 i h code left
	shift 2
	declare -A took=()
	for ((i = 0; i < secs * 10; i++)); do
		left=0
		for h in "$@"; do
			[ -z "${took[$h]:-}" ] || continue
			code=$(hcurl -m 1 -o /dev/null -w '%{http_code}' \
				"http://$(addr "$h")/api/jobs/health" || true)
			if [ "$code" = 200 ]; then
				took[$h]=$(($(date +%s%3N) - t0))
			else
				left=1
			fi
		done
		[ "$left" = 1 ] || break
		sleep 0.1
	done
	for h in "$@"; do
		printf '%s=%s ' "$h" "${took[$h]:-never}"
	done
	echo
	[ "$left" = 0 ]
}

# listen_sessions: the worker hosts with a direct session to PostgreSQL
# (their LISTEN sessions: the pooled ones come from PgBouncer).
listen_sessions() {
	local h
	for h in wk1 wk2; do
		[ "$(sql "SELECT count(*) FROM pg_stat_activity
			WHERE client_addr = '$(addr "$h")'" 2>/dev/null || echo 0)" -ge 1 ] &&
			printf '%s ' "$h"
	done
	echo
}

# wait_listen T0 SECONDS: ms from T0 until both worker hosts have a
# direct session.
wait_listen() {
	local t0=$1 i
	for ((i = 0; i < $2 * 10; i++)); do
		if [ "$(listen_sessions)" = "wk1 wk2 " ]; then
			echo $(($(date +%s%3N) - t0))
			return 0
		fi
		sleep 0.1
	done
	echo "none ($(listen_sessions))"
	return 1
}

case_restarts() {
	local ids=() id i h t t0 st ok=1 lost done_n after=()
	printf '\n== case 4: PgBouncer restarted, then PostgreSQL (-m immediate)\n'
	for h in wk1 wk2; do
		fake "$h" POST /_script \
			'{"path":"/v1/images/generations","default":"delay:1000"}' >/dev/null
	done
	for ((i = 1; i <= 12; i++)); do
		ids+=("$(start_job image-generation "$(image_body case4 "$i")")")
	done
	printf '12 jobs started; pending/processing: %s\n' \
		"$(sql "SELECT count(*) FILTER (WHERE status = 'pending') || '/' ||
			count(*) FILTER (WHERE status = 'processing') FROM jobs
			WHERE input->>'image_prompt' LIKE 'case4 %'")"
	sj_pgbouncer_stop "$STATE/db/pgbouncer"
	sleep 1
	start_bouncer
	t0=$(date +%s%3N)
	t=$(wait_health "$t0" 30 web1 web2) || ok=0
	printf 'PgBouncer down 1 s and started: health 200 again after (ms) %s\n' "$t"
	check "the web hosts recovered from the PgBouncer restart" "$ok"
	ip netns exec "$(ns db)" runuser -u postgres -- "$SJ_PGBIN/pg_ctl" \
		-D "$STATE/db/pg" -m immediate -w stop >/dev/null
	sleep 1
	in_ns db sj_pg_start "$STATE/db/pg" "$STATE/db/log/postgres.log"
	t0=$(date +%s%3N)
	t=$(wait_listen "$t0" 30) || ok=0
	printf 'PostgreSQL down 1 s and started: both workers have their direct (LISTEN) session again after %s ms\n' "$t"
	# (PgBouncer's server_login_retry bounds this: see start_bouncer)
	t=$(wait_health "$t0" 30 web1 web2) || ok=0
	printf 'PostgreSQL down 1 s and started: health 200 again after (ms) %s\n' "$t"
	check "every program recovered from the PostgreSQL restart" "$ok"
	for ((i = 1; i <= 4; i++)); do
		after+=("$(start_job image-generation "$(image_body case4-after "$i")")")
	done
	for id in "${after[@]}"; do
		st=$(wait_job "$id" 60)
		printf 'started after recovery: %s %s on %s\n' "$id" "$st" "$(job_hosts "$id")"
		[ "$st" = completed ] || ok=0
	done
	check "every job started after recovery completed" "$ok"
	done_n=0
	for id in "${ids[@]}"; do
		st=$(wait_job "$id" 60)
		[ "$st" != completed ] || done_n=$((done_n + 1))
	done
	lost=$((12 - $(sql "SELECT count(*) FROM jobs WHERE input->>'image_prompt' LIKE 'case4 %'")))
	printf 'jobs from before the restarts: 12, still there: %d, completed: %d; rescues among them: %s\n' \
		$((12 - lost)) "$done_n" \
		"$(sql "SELECT coalesce(sum(rescues), 0) FROM jobs WHERE input->>'image_prompt' LIKE 'case4 %'")"
	check "no job lost, every one completed" \
		"$([ "$lost" = 0 ] && [ "$done_n" = 12 ] && echo 1)"
	for h in wk1 wk2; do
		fake "$h" POST /_script \
			'{"path":"/v1/images/generations","default":"ok"}' >/dev/null
	done
}

main() {
	local h
	build_net
	start_db
	start_s3
	write_env
	sj_migrate "$BUILD" "$STATE/hosts.env" "$ROOT/sql" \
		>"$STATE/migrate.log" 2>&1 ||
		sj_die "migrate failed; see $STATE/migrate.log"
	for h in web1 web2; do
		start_web "$h"
	done
	start_front
	for h in wk1 wk2; do
		start_worker "$h"
	done
	sj_wait_ready "$FRONT" 20 || sj_die "the front did not answer"
	case_storybook
	case_partition
	case_kill_web "$CASE1_JOB"
	case_restarts
	printf '\nmultihost: %d s in all\n' "$SECONDS"
	[ "$CASE_FAIL" = 0 ] || sj_die "a case failed"
}

main
