#!/usr/bin/env bash
# tests/install-run.sh BUILD_DIR DIR ENVFILE: the installed product runs
# from its installed files only.  `make install` into DIR (every path of
# the product under it, the FastCGI sockets' folder included), then:
#   - the settings of ENVFILE (the test stack's database, secrets) written
#     as an operator would, into DIR's etc/storyjobs/storyjobs.conf;
#   - the folders made as the installed tmpfiles.d file says;
#   - each FastCGI program started as its installed unit pair would start
#     it: systemd-socket-activate on the .socket unit's ListenStream= (its
#     SocketGroup= and SocketMode= applied), the .service unit's ExecStart=
#     and Environment= only, as an unprivileged user;
#   - the worker from its unit's ExecStart= and Environment=, as that user;
#   - nginx with a scratch nginx.conf shaped as Debian's around the
#     installed conf.d and sites-available files, the site's "listen" and
#     "server_name" lines changed as an operator would;
# and checks one job from start to its image served under /media/, a web
# page and its hashed asset from the installed web folder, then
# SIGHUP to every program: each keeps serving, no child orphaned.
#
# The database is set up as the README's Deploying section says: a
# database of its own owned by an owner role, migrated by the installed
# storyjobsctl as that role, then the installed sql/roles.psql; every
# program connects as the runtime role, which must not be able to create,
# alter, drop or truncate anything.  Its sessions are counted against the
# README's sizing formula while the product runs.
#
# The user is nobody (group www-data for the media folder), standing in
# for the storyjobs user of sysusers.d, which this test does not add to
# the host.  Needs root, nginx and systemd-socket-activate; run by
# tests/integration/run.sh against its stack's database.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/stack.sh
. "$ROOT/tools/stack.sh"

[ $# -eq 3 ] || sj_die "usage: $0 BUILD_DIR DIR ENVFILE"
sj_need_root
BUILD=$(cd "$1" && pwd)
D=$2
ENVFILE=$3
RUNAS=nobody
FAMILIES=(jobs auth health cron admin)
PIDS=()
WORKER_PID=
PORT=
BASE=
OWNER=storyjobs_owner
APP=storyjobs_app
DB=storyjobs_installed
SUPER_URL=
SUPER_USER=
OWNER_URL=
APP_URL=

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		sj_wait_gone "$p" 10 || kill -KILL "$p" 2>/dev/null || true
	done
	if sj_pid_alive "$D/nginx.pid"; then
		p=$(head -n 1 "$D/nginx.pid")
		kill -QUIT "$p"
		sj_wait_gone "$p" 10 || kill -KILL "$p" 2>/dev/null || true
	fi
}
trap cleanup EXIT

# unit_key FILE KEY: the value of KEY= in a unit file (the last one).
unit_key() {
	sed -n "s|^$2=||p" "$1" | tail -n 1
}

install_product() {
	rm -rf "$D"
	install -d -m 755 "$D"
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$BUILD" install \
		prefix="$D/usr" sysconfdir="$D/etc" localstatedir="$D/var" \
		SJ_RUNDIR="$D/run" systemdsystemunitdir="$D/units" \
		sysusersdir="$D/sysusers.d" tmpfilesdir="$D/tmpfiles.d" \
		nginxlogdir="$D/log" >"$D/install.log" 2>&1 ||
		sj_die "make install failed; see $D/install.log"
	UNITS=$D/units
}

# make_dirs: the tmpfiles.d lines, for the stand-in user.
make_dirs() {
	local type path mode user group rest
	while read -r type path mode user group rest; do
		[[ $type == d ]] || continue
		[ "$user" != storyjobs ] || user=$RUNAS
		[ "$group" != storyjobs ] || group=nogroup
		install -d -m "$mode" -o "$user" -g "$group" "$path"
	done <"$D/tmpfiles.d/storyjobs.conf"
	install -d -m 755 "$D/log"
}

# write_conf: ENVFILE's settings as storyjobs.conf lines (KEY=VALUE), the
# media folder the installed one, the runtime role's DATABASE_URL.
write_conf() {
	local conf=$D/etc/storyjobs/storyjobs.conf media
	media=$(sed -n 's|^d *\([^ ]*/media\) .*|\1|p' "$D/tmpfiles.d/storyjobs.conf")
	install -d -m 755 "$D/etc/storyjobs"
	(
		# shellcheck source=/dev/null
		. "$ENVFILE"
		for k in DATABASE_URL WEBHOOK_SECRET GENERATION_PROVIDER STORAGE \
			JOB_PROCESSING_INTERVAL MAX_CONCURRENT_JOBS JOB_LEASE_SECONDS \
			HEARTBEAT_MS LOCAL_DELAY_MS ALLOW_SIGNUP; do
			v=${!k}
			[ "$k" != DATABASE_URL ] || v=$APP_URL
			printf '%s=%s\n' "$k" "$v"
		done
		printf 'MEDIA_DIR=%s\nPUBLIC_BASE_URL=%s\nLOG_LEVEL=info\n' \
			"$media" "$BASE"
	) >"$conf"
	chmod 644 "$conf"
}

# unit_env UNIT: the unit's Environment= assignments, one a line.
unit_env() {
	sed -n 's|^Environment=||p' "$1"
}

# start_family NAME: what storyjobs-fcgi@NAME.socket/.service would start.
start_family() {
	local name=$1 sock cmd i
	local -a env argv
	sock=$(unit_key "$UNITS/storyjobs-fcgi@.socket" ListenStream)
	sock=${sock//%i/$name}
	cmd=$(unit_key "$UNITS/storyjobs-fcgi@.service" ExecStart)
	read -r -a argv <<<"${cmd//%i/$name}"
	mapfile -t env < <(unit_env "$UNITS/storyjobs-fcgi@.service")
	rm -f "$sock"
	(
		umask "$(unit_key "$UNITS/storyjobs-fcgi@.service" UMask)"
		exec systemd-socket-activate -l "$sock" "${env[@]/#/-E}" \
			setpriv --reuid="$RUNAS" --regid=nogroup --clear-groups \
			"${argv[@]}" >>"$D/log/$name.log" 2>&1
	) &
	PIDS+=($!)
	for ((i = 0; i < 50; i++)); do
		[ -S "$sock" ] && break
		sleep 0.1
	done
	[ -S "$sock" ] || sj_die "no socket $sock"
	# what SocketUser=, SocketGroup= and SocketMode= make of it
	chown "$RUNAS:$(unit_key "$UNITS/storyjobs-fcgi@.socket" SocketGroup)" "$sock"
	chmod "$(unit_key "$UNITS/storyjobs-fcgi@.socket" SocketMode)" "$sock"
}

# db_urls: the superuser's URL from ENVFILE
# (postgresql://USER@HOST:PORT/DB), the owner's and the runtime role's.
db_urls() {
	local rest
	# shellcheck source=/dev/null
	SUPER_URL=$(. "$ENVFILE" && printf '%s' "$DATABASE_URL")
	[[ $SUPER_URL == postgresql://*@*/* ]] ||
		sj_die "DATABASE_URL is not postgresql://USER@HOST:PORT/DB"
	rest=${SUPER_URL#postgresql://}
	SUPER_USER=${rest%%@*}
	OWNER_URL=$(url_as "$OWNER" "$DB")
	APP_URL=$(url_as "$APP" "$DB")
}

# url_as USER DB: the URL of the superuser's server for USER and DB.
url_as() {
	local hostport=${SUPER_URL#postgresql://*@}
	printf 'postgresql://%s@%s/%s\n' "$1" "${hostport%%/*}" "$2"
}

# sql URL STATEMENT...: each statement on its own (so outside a
# transaction block), stopping at the first error; rows unaligned.
sql() {
	local url=$1 s
	local -a args=()
	shift
	for s in "$@"; do
		args+=(-c "$s")
	done
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$url" "${args[@]}"
}

# ctl_as URL ARG...: the installed storyjobsctl as the maintain unit runs
# it (its ExecStart's program, its Environment=, as RUNAS), connecting
# with URL (the environment wins over the file).
ctl_as() {
	local url=$1 cmd
	local -a env argv
	shift
	cmd=$(unit_key "$UNITS/storyjobs-maintain.service" ExecStart)
	read -r -a argv <<<"$cmd"
	mapfile -t env < <(unit_env "$UNITS/storyjobs-maintain.service")
	env -i PATH=/usr/bin:/bin "${env[@]}" "DATABASE_URL=$url" setpriv \
		--reuid="$RUNAS" --regid=nogroup --clear-groups \
		"${argv[0]}" "$@"
}

# make_roles: what an operator does before the first start: an owner role
# owning a new database, a runtime role that may log in, the schema
# migrated as the owner, then the installed roles.psql as the superuser.
make_roles() {
	local super sqldir=$D/usr/share/storyjobs/sql
	super=$(url_as "$SUPER_USER" postgres)
	PGOPTIONS='-c client_min_messages=warning' sql "$super" "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
		"DROP ROLE IF EXISTS $OWNER" "DROP ROLE IF EXISTS $APP" \
		"CREATE ROLE $OWNER LOGIN" "CREATE ROLE $APP LOGIN" \
		"CREATE DATABASE $DB OWNER $OWNER" >/dev/null
	ctl_as "$OWNER_URL" migrate --sql-dir "$sqldir" >>"$D/log/migrate.log" 2>&1 ||
		sj_die "migrate as $OWNER failed; see $D/log/migrate.log"
	psql -X -q -d "$(url_as "$SUPER_USER" "$DB")" -v owner="$OWNER" \
		-v app="$APP" -f "$sqldir/roles.psql" >>"$D/log/migrate.log" 2>&1 ||
		sj_die "roles.psql failed; see $D/log/migrate.log"
	ctl_as "$APP_URL" migrate --status --sql-dir "$sqldir" \
		>>"$D/log/migrate.log" 2>&1 ||
		sj_die "migrate --status as $APP: not up to date; see $D/log/migrate.log"
}

# denied WHAT STATEMENT: the runtime role must be refused STATEMENT for
# want of a right (not for any other error).
denied() {
	local out
	if out=$(sql "$APP_URL" "$2" 2>&1); then
		sj_die "the runtime role could $1"
	fi
	grep -qE 'permission denied|must be owner' <<<"$out" ||
		sj_die "$1: refused for another reason: $out"
}

# check_rights: the runtime role reads and writes rows, nothing more; a
# table a later migration makes (as the owner) gets the same rights.
check_rights() {
	local id n
	n=$(sql "$OWNER_URL" "SELECT count(*) FROM pg_class c JOIN pg_namespace s
		ON s.oid = c.relnamespace WHERE s.nspname = 'public' AND
		pg_get_userbyid(c.relowner) <> '$OWNER'")
	[ "$n" = 0 ] || sj_die "$n relations in public not owned by $OWNER"
	denied "create a table" "CREATE TABLE roles_probe (i int)"
	denied "create a temporary table" "CREATE TEMP TABLE roles_probe (i int)"
	denied "drop a table" "DROP TABLE storybooks"
	denied "alter a table" "ALTER TABLE jobs ADD COLUMN probe int"
	denied "truncate a table" "TRUNCATE media_cache"
	denied "write the schema version" \
		"INSERT INTO schema_migrations SELECT * FROM schema_migrations WHERE false"
	sql "$OWNER_URL" "CREATE TABLE roles_probe (id bigserial PRIMARY KEY, v int)"
	id=$(sql "$APP_URL" "INSERT INTO roles_probe (v) VALUES (1) RETURNING id") ||
		sj_die "the runtime role cannot write a later migration's table"
	[ "$id" = 1 ] || sj_die "roles_probe: id $id"
	denied "drop a later migration's table" "DROP TABLE roles_probe"
	sql "$OWNER_URL" "DROP TABLE roles_probe"
	sj_say "installed: $APP reads and writes rows only (no CREATE, TEMP, DROP, ALTER, TRUNCATE, schema version)"
}

# check_sessions WHEN: the runtime role's sessions within the README's
# bound for one host of each kind: --processes per FastCGI family,
# MAX_CONCURRENT_JOBS + 2 for the worker (its main session, the
# completer's, one per job thread).  After a job the worker holds at least
# three (main, completer, the thread that ran it).  No other role is
# connected to the database.
check_sessions() {
	local procs mcj bound name n total=0 worker=0 others rows
	procs=$(unit_key "$UNITS/storyjobs-fcgi@.service" ExecStart |
		sed -n 's|.*--processes \([0-9]*\).*|\1|p')
	mcj=$(sed -n 's|^MAX_CONCURRENT_JOBS=||p' "$D/etc/storyjobs/storyjobs.conf")
	[ -n "$procs" ] || sj_die "no --processes in storyjobs-fcgi@.service"
	[ -n "$mcj" ] || sj_die "no MAX_CONCURRENT_JOBS in storyjobs.conf"
	bound=$((${#FAMILIES[@]} * procs + mcj + 2))
	rows=$(sql "$(url_as "$SUPER_USER" postgres)" "SELECT application_name,
		count(*) FROM pg_stat_activity WHERE datname = '$DB' AND
		usename = '$APP' GROUP BY 1 ORDER BY 1")
	while IFS='|' read -r name n; do
		[ -n "$name" ] || continue
		total=$((total + n))
		case $name in
		storyjobs-worker) worker=$n ;;
		storyjobs-*) [ "$n" -le "$procs" ] ||
			sj_die "$name: $n sessions, more than --processes $procs" ;;
		*) sj_die "a session of $APP from $name" ;;
		esac
	done <<<"$rows"
	others=$(sql "$(url_as "$SUPER_USER" postgres)" "SELECT count(*) FROM
		pg_stat_activity WHERE datname = '$DB' AND
		backend_type = 'client backend' AND usename <> '$APP'")
	sj_say "installed: sessions of $APP $1: $total (worker $worker;" \
		"$(tr '\n' ' ' <<<"$rows")) <= ${#FAMILIES[@]} x $procs + $mcj + 2 = $bound"
	[ "$others" = 0 ] || sj_die "$others sessions of other roles on $DB"
	if [ "$worker" -lt 3 ] || [ "$worker" -gt $((mcj + 2)) ]; then
		sj_die "worker: $worker sessions, not within 3..$((mcj + 2))"
	fi
	[ "$total" -le "$bound" ] || sj_die "$total sessions, over the bound $bound"
}

start_worker() {
	local cmd
	local -a env argv
	cmd=$(unit_key "$UNITS/storyjobs-worker.service" ExecStart)
	read -r -a argv <<<"$cmd"
	mapfile -t env < <(unit_env "$UNITS/storyjobs-worker.service")
	(
		umask "$(unit_key "$UNITS/storyjobs-worker.service" UMask)"
		exec env -i PATH=/usr/bin:/bin "${env[@]}" setpriv \
			--reuid="$RUNAS" --regid=nogroup --clear-groups \
			"${argv[@]}" >>"$D/log/worker.log" 2>&1
	) &
	WORKER_PID=$!
	PIDS+=("$WORKER_PID")
}

start_nginx() {
	local ngx=$D/etc/nginx
	sed -i -e "s|^\(\s*listen\) 80;|\1 127.0.0.1:$PORT;|" \
		-e "s|^\(\s*server_name\) .*;|\1 localhost;|" \
		"$ngx/sites-available/storyjobs"
	install -d -m 755 "$ngx/sites-enabled"
	ln -sfn ../sites-available/storyjobs "$ngx/sites-enabled/storyjobs"
	cat >"$ngx/nginx.conf" <<EOF
user www-data;
pid $D/nginx.pid;
error_log $D/log/error.log;
events { }
http {
	include /etc/nginx/mime.types;
	client_body_temp_path $D/client_body_temp;
	proxy_temp_path $D/proxy_temp;
	fastcgi_temp_path $D/fastcgi_temp;
	uwsgi_temp_path $D/uwsgi_temp;
	scgi_temp_path $D/scgi_temp;
	include conf.d/*.conf;
	include sites-enabled/*;
}
EOF
	"$SJ_NGINX" -q -p "$D/" -c "$ngx/nginx.conf" -e "$D/log/error.log" ||
		sj_die "nginx did not start on the installed site"
}

# one_job: image-generation from start to its image, through nginx.
one_job() {
	local out id status url i
	out=$(curl -sf --noproxy '*' -H 'Content-Type: application/json' \
		-d '{"image_prompt":"an installed fox"}' \
		"$BASE/api/jobs/image-generation/start") ||
		sj_die "start failed: $out"
	id=$(sed -n 's|.*"jobId":"\([^"]*\)".*|\1|p' <<<"$out")
	[ -n "$id" ] || sj_die "no jobId in $out"
	for ((i = 0; i < 120; i++)); do
		out=$(curl -sf --noproxy '*' \
			"$BASE/api/jobs/image-generation/status/$id") || out=
		status=$(sed -n 's|.*"status":"\([a-z]*\)".*|\1|p' <<<"$out")
		[[ $status == completed || $status == failed ]] && break
		sleep 0.5
	done
	[ "$status" = completed ] || sj_die "job $id: $status: $out"
	url=$(grep -o '"[^"]*/media/[^"]*"' <<<"$out" | head -n 1 | tr -d '"')
	[ -n "$url" ] || sj_die "job $id has no /media/ URL: $out"
	curl -sf --noproxy '*' -o /dev/null "$BASE/media/${url#*/media/}" ||
		sj_die "$url is not served"
	sj_say "installed: job $id completed, its image served"
}

# pages_served: a page from the installed web folder and one asset it
# names, under the path carrying the assets' hash.
pages_served() {
	local page asset
	page=$(curl -sf --noproxy '*' "$BASE/jobs") || sj_die "GET /jobs failed"
	asset=$(grep -o '/assets/[0-9a-f]\{16\}/[^"]*' <<<"$page" | head -n 1)
	[ -n "$asset" ] || sj_die "/jobs names no hashed asset"
	curl -sf --noproxy '*' -o /dev/null "$BASE$asset" ||
		sj_die "$asset is not served"
	sj_say "installed: /jobs and $asset served"
}

# children_of PID: the pids whose parent is PID.
children_of() {
	ps -o pid= --ppid "$1" | tr -d ' ' || true
}

# any_alive PID...: whether one of them still runs.
any_alive() {
	local k
	for k in "$@"; do
		! kill -0 "$k" 2>/dev/null || return 0
	done
	return 1
}

# wake_all: one request per family, so each socket's program has started
# (the activator waits for the first connection) and forked its children.
wake_all() {
	local path p i
	for path in /api/jobs/health /api/auth/me /api/cron/process-jobs \
		/api/admin/jobs; do
		curl -s --noproxy '*' -o /dev/null "$BASE$path" || true
	done
	for p in "${PIDS[@]}"; do
		for ((i = 0; i < 50; i++)); do
			[ -z "$(children_of "$p")" ] || break
			[ "$p" != "$WORKER_PID" ] || break
			sleep 0.1
		done
	done
}

# check_identity: every program runs the installed binary as RUNAS.
check_identity() {
	local p exe user
	for p in "${PIDS[@]}"; do
		exe=$(readlink "/proc/$p/exe") || sj_die "$p is gone"
		user=$(stat -c %U "/proc/$p")
		[[ $exe == "$D/usr/"* ]] || sj_die "$p runs $exe, not an installed file"
		[ "$user" = "$RUNAS" ] || sj_die "$p ($exe) runs as $user"
	done
}

# hup_all: SIGHUP to the worker and every FastCGI parent; each is still
# there, its old children gone (replaced, not orphaned), and a job still
# goes through.
hup_all() {
	local p i
	local -a before
	for p in "${PIDS[@]}"; do
		mapfile -t before < <(children_of "$p")
		kill -HUP "$p"
		for ((i = 0; i < 100; i++)); do
			any_alive "${before[@]}" || break
			sleep 0.1
		done
		! any_alive "${before[@]}" ||
			sj_die "children of $p outlived its SIGHUP: ${before[*]}"
		kill -0 "$p" 2>/dev/null || sj_die "$p died of SIGHUP"
		[ "$p" = "$WORKER_PID" ] || [ -n "$(children_of "$p")" ] ||
			sj_die "$p has no children after SIGHUP"
	done
	one_job
}

main() {
	sj_free_port PORT
	BASE=http://127.0.0.1:$PORT
	install_product
	make_dirs
	db_urls
	write_conf
	make_roles
	check_rights
	local f
	for f in "${FAMILIES[@]}"; do
		start_family "$f"
	done
	start_worker
	start_nginx
	sj_wait_ready "$BASE" 15 || sj_die "the installed product did not answer"
	one_job
	pages_served
	wake_all
	check_identity
	check_sessions "after a job"
	ctl_as "$APP_URL" maintain >>"$D/log/maintain.log" 2>&1 ||
		sj_die "storyjobsctl maintain as $APP failed; see $D/log/maintain.log"
	hup_all
	check_sessions "after SIGHUP"
	sj_say "installed: every program kept serving through SIGHUP, no orphan"
}

main
