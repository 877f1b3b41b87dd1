#!/usr/bin/env bash
# tests/install-run.sh BUILD_DIR DIR ENVFILE: the installed product runs
# from its installed files only.  `make install` into DIR (every path of
# the product under it, the FastCGI sockets' folder included), then:
#   - the service user and group added from the installed sysusers.d file
#     (systemd-sysusers FILE, on the host: the units' User= and Group=
#     must name them), and removed at the end if they were not there
#     before;
#   - the settings of ENVFILE (the test stack's database, secrets) written
#     as an operator would, into DIR's etc/storyjobs/storyjobs.conf;
#   - the folders made, and the configuration file's owner and mode set,
#     by the installed tmpfiles.d file (systemd-tmpfiles --create FILE);
#   - each FastCGI program started as its installed unit pair would start
#     it: systemd-socket-activate on the .socket unit's ListenStream= (its
#     SocketUser=, SocketGroup= and SocketMode= applied), the .service
#     unit's ExecStart=, Environment=, EnvironmentFile=, UMask=, User= and
#     Group= only;
#   - the worker from its unit's ExecStart= in the same way, with a
#     NOTIFY_SOCKET of the test's own (tests/notify-listen, the service
#     manager's end of its Type=notify);
#   - nginx with a scratch nginx.conf shaped as Debian's around the
#     installed conf.d and sites-available files, the site's "listen" and
#     "server_name" lines changed as an operator would;
# and checks:
#   - with the schema one migration behind (the installed files but the
#     last), the worker and a FastCGI program refuse to start (exit 78,
#     saying to migrate) and the worker never says READY=1;
#   - the worker says READY=1 only once the database is reached: not
#     while its role may not connect (it retries), then soon after;
#   - one job from start to its image served under /media/, a web page and
#     its hashed asset from the installed web folder;
#   - every program runs the installed binary as the service user and
#     group, and none warns that others may read the configuration file;
#   - SIGHUP to every program: each keeps serving, no child orphaned, the
#     worker says RELOADING=1 then READY=1; SIGTERM: each exits 0, the
#     worker saying STOPPING=1; every notification came from the worker's
#     own pid (systemd's NotifyAccess=main drops any other), and nothing
#     of the installed product is left running.
#
# The database is set up as the README's Deploying section says: a
# database of its own owned by an owner role, migrated by the installed
# storyjobsctl as that role, then the installed sql/roles.psql; every
# program connects as the runtime role, which must not be able to create,
# alter, drop or truncate anything.  Its sessions are counted against the
# README's sizing formula while the product runs.
#
# One run at a time on a host (a lock in /run/lock), since the service
# user is the host's.  Needs root, nginx, systemd-socket-activate,
# systemd-sysusers and systemd-tmpfiles, and BUILD_DIR's
# tests/notify-listen (make check); run by tests/integration/run.sh
# against its stack's database.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/stack.sh
. "$ROOT/tools/stack.sh"
# shellcheck source=tests/debian-nginx.sh
. "$ROOT/tests/debian-nginx.sh"

[ $# -eq 3 ] || sj_die "usage: $0 BUILD_DIR DIR ENVFILE"
sj_need_root
BUILD=$(cd "$1" && pwd)
D=$2
ENVFILE=$3
LISTENER=$BUILD/tests/notify-listen
[ -x "$LISTENER" ] || sj_die "$LISTENER is missing (build with 'make check' first)"
LOCK=/run/lock/storyjobs-install-run.lock
FAMILIES=(jobs auth health cron admin)
# The service user and group (the units' User= and Group=), and whether
# this run added them.
SVC_USER=
SVC_GROUP=
ADDED_USER=0
ADDED_GROUP=0
# Every program started here (the worker, the FastCGI parents), nginx's
# and the listener's pids, and the children each FastCGI parent had.
PIDS=()
WORKER_PID=
LISTENER_PID=
NOTIFY_SOCK=
NOTIFY_LOG=
PORT=
BASE=
OWNER=storyjobs_owner
APP=storyjobs_app
DB=storyjobs_installed
SUPER_URL=
SUPER_USER=
OWNER_URL=
APP_URL=

# ---- processes ------------------------------------------------------------

# track NAME PID: PID is stopped at the end; its pid file (D/pids/NAME.pid,
# also in TRACKED) lets tests/integration/run.sh's sweep stop it if this
# script is killed.  The file goes once the process is known to be gone,
# so a later sweep never signals a reused pid.
TRACKED=
track() {
	install -d -m 755 "$D/pids"
	TRACKED=$D/pids/$1.pid
	printf '%s\n' "$2" >"$TRACKED"
	sj_register pid "$TRACKED"
}

# stop_pid PID: SIGTERM, up to 10 s, then SIGKILL.
stop_pid() {
	kill -TERM "$1" 2>/dev/null || return 0
	sj_wait_gone "$1" 10 || kill -KILL "$1" 2>/dev/null || true
}

# installed_running: the pids of processes running an installed program.
installed_running() {
	local p exe
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[[ $exe == "$D/usr/"* ]] || continue
		sj_running "${p#/proc/}" && printf '%s\n' "${p#/proc/}"
	done
	return 0
}

# remove_user: the service user and group go again if this run added
# them; true when neither it added is left.
remove_user() {
	local ok=0
	if [ "$ADDED_USER" = 1 ] && getent passwd "$SVC_USER" >/dev/null; then
		userdel "$SVC_USER" || ok=1
	fi
	if [ "$ADDED_GROUP" = 1 ] && getent group "$SVC_GROUP" >/dev/null; then
		groupdel "$SVC_GROUP" || ok=1
	fi
	if { [ "$ADDED_USER" = 1 ] && getent passwd "$SVC_USER" >/dev/null; } ||
		{ [ "$ADDED_GROUP" = 1 ] && getent group "$SVC_GROUP" >/dev/null; }; then
		sj_say "the service user $SVC_USER or group $SVC_GROUP this run added is still there"
		ok=1
	fi
	return "$ok"
}

# cleanup: on any exit, whatever still runs is stopped by its pid (any
# installed program left over too, said and failed), then the user goes.
cleanup() {
	local rc=$? p left
	trap - EXIT
	for p in "${PIDS[@]}"; do
		stop_pid "$p"
	done
	sj_stop_pidfile "$D/nginx.pid"
	left=$(installed_running)
	if [ -n "$left" ]; then
		sj_say "installed programs left running: $(tr '\n' ' ' <<<"$left")"
		for p in $left; do
			kill -KILL "$p" 2>/dev/null || true
		done
		rc=1
	fi
	[ -z "$LISTENER_PID" ] || stop_pid "$LISTENER_PID"
	rm -rf "$D/pids"
	remove_user || rc=1
	exit "$rc"
}
trap cleanup EXIT

# wait_exit PID SECONDS: waits for a child of this shell to exit and sets
# EXIT_CODE to its status; false if it still runs after SECONDS.
EXIT_CODE=
wait_exit() {
	sj_wait_gone "$1" "$2" || return 1
	EXIT_CODE=0
	wait "$1" || EXIT_CODE=$?
}

# children_of PID: the pids whose parent is PID.
children_of() {
	ps -o pid= --ppid "$1" | tr -d ' ' || true
}

# any_alive PID...: whether one of them still runs.
any_alive() {
	local k
	for k in "$@"; do
		! sj_running "$k" || return 0
	done
	return 1
}

# ---- units ----------------------------------------------------------------

# unit_key FILE KEY: the value of KEY= in a unit file (the last one).
unit_key() {
	sed -n "s|^$2=||p" "$1" | tail -n 1
}

# unit_env UNIT: the environment the unit gives its program, one
# assignment a line: its Environment= lines (space-separated; quoting is
# not understood here, so a quote fails), then the lines of each
# EnvironmentFile= (one with a leading "-" may be missing).
unit_env() {
	local line f
	local -a words
	while IFS= read -r line; do
		[[ $line != *[\"\'\\]* ]] ||
			sj_die "$1: Environment=$line: quoting not understood here"
		read -r -a words <<<"$line"
		[ "${#words[@]}" -eq 0 ] || printf '%s\n' "${words[@]}"
	done < <(sed -n 's|^Environment=||p' "$1")
	while IFS= read -r f; do
		if [ ! -e "${f#-}" ] && [[ $f == -* ]]; then
			continue
		fi
		grep -vE '^[[:space:]]*([#;]|$)' "${f#-}" ||
			[ -e "${f#-}" ] || sj_die "$1: EnvironmentFile=$f is missing"
	done < <(sed -n 's|^EnvironmentFile=||p' "$1")
}

# unit_setpriv UNIT: the setpriv command that takes on the unit's User=
# and Group= (with the user's other groups, as systemd does),
# NoNewPrivileges= and an empty CapabilityBoundingSet=; one word a line.
unit_setpriv() {
	printf '%s\n' setpriv "--reuid=$(unit_key "$1" User)" \
		"--regid=$(unit_key "$1" Group)" --init-groups
	[ "$(unit_key "$1" NoNewPrivileges)" != yes ] || echo --no-new-privs
	if grep -qx 'CapabilityBoundingSet=' "$1"; then
		echo --bounding-set=-all
	fi
}

# unit_argv UNIT INSTANCE: the words of ExecStart=, %i replaced.
unit_argv() {
	local cmd
	local -a argv
	cmd=$(unit_key "$1" ExecStart)
	[[ $cmd == /* ]] || sj_die "$1: ExecStart=$cmd is not an absolute path"
	read -r -a argv <<<"${cmd//%i/$2}"
	printf '%s\n' "${argv[@]}"
}

# ---- the installed product ------------------------------------------------

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
	install -d -m 755 "$D/log"
}

# add_user: the service user and group, from the installed sysusers.d
# file applied to this host; every service unit names them.  A user
# already there (a real installation) is used as it is and kept.
add_user() {
	local file=$D/sysusers.d/storyjobs.conf u shell
	SVC_USER=$(unit_key "$UNITS/storyjobs-worker.service" User)
	SVC_GROUP=$(unit_key "$UNITS/storyjobs-worker.service" Group)
	for u in "$UNITS"/*.service; do
		[ "$(unit_key "$u" User):$(unit_key "$u" Group)" = "$SVC_USER:$SVC_GROUP" ] ||
			sj_die "$u: User=/Group= differ from the worker's $SVC_USER:$SVC_GROUP"
	done
	[ "$(unit_key "$UNITS/storyjobs-fcgi@.socket" SocketUser)" = "$SVC_USER" ] ||
		sj_die "storyjobs-fcgi@.socket: SocketUser= is not $SVC_USER"
	grep -Eq "^u[[:space:]]+${SVC_USER}[[:space:]]" "$file" ||
		sj_die "$file adds no user $SVC_USER"
	exec 9>"$LOCK"
	flock -w 300 9 || sj_die "another run holds $LOCK"
	getent passwd "$SVC_USER" >/dev/null || ADDED_USER=1
	getent group "$SVC_GROUP" >/dev/null || ADDED_GROUP=1
	systemd-sysusers "$file" || sj_die "systemd-sysusers $file failed"
	[ "$(id -gn "$SVC_USER")" = "$SVC_GROUP" ] ||
		sj_die "$SVC_USER's group is $(id -gn "$SVC_USER"), not $SVC_GROUP"
	shell=$(getent passwd "$SVC_USER" | cut -d: -f7)
	[[ $shell == */nologin ]] || sj_die "$SVC_USER may log in (shell $shell)"
	sj_say "installed: user $SVC_USER ($(id -u "$SVC_USER")) and group" \
		"$SVC_GROUP $([ "$ADDED_USER" = 1 ] && echo added from || echo already there, as in) $file"
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
	# as an editor leaves a new file; the tmpfiles.d file's z line fixes it
	chmod 644 "$conf"
}

# make_dirs: the installed tmpfiles.d file applied; each of its paths
# then has the mode, user and group the file gives.
make_dirs() {
	local file=$D/tmpfiles.d/storyjobs.conf type path mode user group rest got
	systemd-tmpfiles --create "$file" || sj_die "systemd-tmpfiles --create $file failed"
	while read -r type path mode user group rest; do
		[[ $type == [dz] ]] || continue
		got=$(stat -c '%a %U %G' "$path") || sj_die "$path was not made"
		[ "$got" = "$((8#$mode)) $user $group" ] ||
			[ "$got" = "$(printf '%o' "$((8#$mode))") $user $group" ] ||
			sj_die "$path: $got, the tmpfiles.d file says $mode $user $group"
	done < <(grep -v '^#' "$file")
	sj_say "installed: $(grep -c '^[dz]' "$file") tmpfiles.d paths made as the file says"
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
# it (its ExecStart's program, environment, user and group), connecting
# with URL (the environment wins over the file).
ctl_as() {
	local url=$1 unit=$UNITS/storyjobs-maintain.service
	local -a env argv priv
	shift
	mapfile -t argv < <(unit_argv "$unit" "")
	mapfile -t env < <(unit_env "$unit")
	mapfile -t priv < <(unit_setpriv "$unit")
	(
		umask "$(unit_key "$unit" UMask)"
		exec env -i PATH=/usr/bin:/bin "${env[@]}" "DATABASE_URL=$url" \
			"${priv[@]}" "${argv[0]}" "$@"
	)
}

# make_roles: what an operator does before the first start: an owner role
# owning a new database, a runtime role that may log in, the schema
# migrated as the owner, then the installed roles.psql as the superuser.
# The schema is left one migration behind (the installed files but the
# last, as the release before this one would have made it), for
# refused_older; migrate_rest applies the last one.
make_roles() {
	local super sqldir=$D/usr/share/storyjobs/sql older=$D/sql-older rc
	local -a files
	super=$(url_as "$SUPER_USER" postgres)
	PGOPTIONS='-c client_min_messages=warning' sql "$super" "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
		"DROP ROLE IF EXISTS $OWNER" "DROP ROLE IF EXISTS $APP" \
		"CREATE ROLE $OWNER LOGIN" "CREATE ROLE $APP LOGIN" \
		"CREATE DATABASE $DB OWNER $OWNER" >/dev/null
	mapfile -t files < <(find "$sqldir" -maxdepth 1 -name '[0-9]*.sql' | sort)
	[ "${#files[@]}" -ge 2 ] || sj_die "fewer than two migrations in $sqldir"
	install -d -m 755 "$older"
	cp "${files[@]:0:${#files[@]}-1}" "$older/"
	ctl_as "$OWNER_URL" migrate --sql-dir "$older" >>"$D/log/migrate.log" 2>&1 ||
		sj_die "migrate as $OWNER failed; see $D/log/migrate.log"
	psql -X -q -d "$(url_as "$SUPER_USER" "$DB")" -v owner="$OWNER" \
		-v app="$APP" -f "$sqldir/roles.psql" >>"$D/log/migrate.log" 2>&1 ||
		sj_die "roles.psql failed; see $D/log/migrate.log"
	rc=0
	ctl_as "$APP_URL" migrate --status --sql-dir "$sqldir" \
		>>"$D/log/migrate.log" 2>&1 || rc=$?
	[ "$rc" = 1 ] ||
		sj_die "migrate --status exit $rc, not 1 (pending), with $(basename "${files[-1]}") not applied"
}

# migrate_rest: the last migration, as the owner; then the runtime role
# sees the schema up to date.
migrate_rest() {
	local sqldir=$D/usr/share/storyjobs/sql
	ctl_as "$OWNER_URL" migrate --sql-dir "$sqldir" >>"$D/log/migrate.log" 2>&1 ||
		sj_die "migrate as $OWNER failed; see $D/log/migrate.log"
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


# ---- the service manager's notify socket ----------------------------------

# start_listener: tests/notify-listen on D/notify.sock, its lines ("PID
# STATE") in D/log/notify.log.
start_listener() {
	local i
	NOTIFY_SOCK=$D/notify.sock
	NOTIFY_LOG=$D/log/notify.log
	[ "${#NOTIFY_SOCK}" -lt 108 ] || sj_die "socket path too long: $NOTIFY_SOCK"
	"$LISTENER" "$NOTIFY_SOCK" >"$NOTIFY_LOG" 2>"$D/log/notify-listen.log" &
	LISTENER_PID=$!
	track notify-listen "$LISTENER_PID"
	for ((i = 0; i < 50; i++)); do
		grep -qx "listening $NOTIFY_SOCK" "$NOTIFY_LOG" && return 0
		sj_running "$LISTENER_PID" || break
		sleep 0.1
	done
	sj_die "tests/notify-listen did not start; see $D/log/notify-listen.log"
}

# notified PID: the states PID sent, STATUS= lines left out, on one line.
notified() {
	sed -n "s|^$1 ||p" "$NOTIFY_LOG" | grep -v '^STATUS=' | tr '\n' ' ' |
		sed 's| $||'
}

# wait_notified PID STATES SECONDS: true once PID's states are STATES.
wait_notified() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(notified "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	[ "$(notified "$1")" = "$2" ]
}

# notify_foreign: the lines sent by any other process than the worker's
# main one (the listener's own first line aside).
notify_foreign() {
	grep -v -e "^$WORKER_PID " -e '^listening ' "$NOTIFY_LOG" || true
}

# ---- starting the programs as their units -------------------------------

# start_family NAME LOG: what storyjobs-fcgi@NAME.socket/.service would
# start; sets STARTED to its pid.  The program starts at the socket's
# first connection.
STARTED=
start_family() {
	local name=$1 log=$2 svc=$UNITS/storyjobs-fcgi@.service
	local sockunit=$UNITS/storyjobs-fcgi@.socket sock i
	local -a env argv priv
	sock=$(unit_key "$sockunit" ListenStream)
	sock=${sock//%i/$name}
	mapfile -t argv < <(unit_argv "$svc" "$name")
	mapfile -t env < <(unit_env "$svc")
	mapfile -t priv < <(unit_setpriv "$svc")
	rm -f "$sock"
	(
		umask "$(unit_key "$svc" UMask)"
		exec systemd-socket-activate -l "$sock" "${env[@]/#/-E}" \
			"${priv[@]}" "${argv[@]}" >>"$log" 2>&1
	) &
	STARTED=$!
	track "$(basename "$log" .log)" "$STARTED"
	for ((i = 0; i < 50; i++)); do
		[ -S "$sock" ] && break
		sleep 0.1
	done
	[ -S "$sock" ] || sj_die "no socket $sock"
	# what SocketUser=, SocketGroup= and SocketMode= make of it
	chown "$(unit_key "$sockunit" SocketUser):$(unit_key "$sockunit" SocketGroup)" "$sock"
	chmod "$(unit_key "$sockunit" SocketMode)" "$sock"
}

# start_worker LOG: what storyjobs-worker.service would start, with the
# listener's NOTIFY_SOCKET (systemd's own environment for a service has
# PATH and NOTIFY_SOCKET too); sets STARTED to its pid.
start_worker() {
	local unit=$UNITS/storyjobs-worker.service
	local -a env argv priv
	[ "$(unit_key "$unit" Type)" = notify ] ||
		sj_die "storyjobs-worker.service is not Type=notify"
	mapfile -t argv < <(unit_argv "$unit" "")
	mapfile -t env < <(unit_env "$unit")
	mapfile -t priv < <(unit_setpriv "$unit")
	(
		umask "$(unit_key "$unit" UMask)"
		exec env -i PATH=/usr/bin:/bin "NOTIFY_SOCKET=$NOTIFY_SOCK" \
			"${env[@]}" "${priv[@]}" "${argv[@]}" >>"$1" 2>&1
	) &
	STARTED=$!
	track "$(basename "$1" .log)" "$STARTED"
}

start_nginx() {
	local ngx=$D/etc/nginx
	sed -i -e "s|^\(\s*listen\) 80;|\1 127.0.0.1:$PORT;|" \
		-e "s|^\(\s*server_name\) .*;|\1 localhost;|" \
		"$ngx/sites-available/storyjobs"
	install -d -m 755 "$ngx/sites-enabled"
	ln -sfn ../sites-available/storyjobs "$ngx/sites-enabled/storyjobs"
	debian_nginx_conf "$ngx/nginx.conf" "$D" www-data
	sj_register pid "$D/nginx.pid"
	"$SJ_NGINX" -q -p "$D/" -c "$ngx/nginx.conf" -e "$D/log/error.log" ||
		sj_die "nginx did not start on the installed site"
}

# ---- the checks -----------------------------------------------------------

# refused_older: with the schema one migration behind, the worker and a
# FastCGI program started as their units exit 78 saying to migrate, and
# the worker says nothing to the service manager (no READY=1).
refused_older() {
	local pid log=$D/log/refused-worker.log
	start_worker "$log"
	pid=$STARTED
	wait_exit "$pid" 15 || sj_die "the worker did not refuse an older schema"
	rm -f "$TRACKED"
	[ "$EXIT_CODE" = 78 ] ||
		sj_die "the worker against an older schema: exit $EXIT_CODE, not 78; see $log"
	grep -q 'refusing to start: database schema version.*storyjobsctl migrate' "$log" ||
		sj_die "the worker's refusal does not say to migrate; see $log"
	[ -z "$(notified "$pid")" ] ||
		sj_die "the refusing worker notified: $(notified "$pid")"
	log=$D/log/refused-jobs.log
	start_family jobs "$log"
	pid=$STARTED
	# the first connection starts it; it refuses and closes the socket
	curl -s --noproxy '*' -m 15 -o /dev/null --unix-socket \
		"$(dirname "$(unit_key "$UNITS/storyjobs-fcgi@.socket" ListenStream)")/jobs.sock" \
		http://localhost/ || true
	wait_exit "$pid" 15 || sj_die "storyjobs-jobs did not refuse an older schema"
	rm -f "$TRACKED"
	[ "$EXIT_CODE" = 78 ] ||
		sj_die "storyjobs-jobs against an older schema: exit $EXIT_CODE, not 78; see $log"
	grep -q 'refusing to start: database schema version.*storyjobsctl migrate' "$log" ||
		sj_die "storyjobs-jobs's refusal does not say to migrate; see $log"
	sj_say "installed: against an older schema the worker and storyjobs-jobs exit 78 (migrate first), no READY=1"
}

# ready_after_db: the worker started while its role may not connect
# (CONNECTION LIMIT 0) retries and says nothing; once the role may, it
# says READY=1, and its session is there.
ready_after_db() {
	local super i n log=$D/log/worker.log
	super=$(url_as "$SUPER_USER" postgres)
	sql "$super" "ALTER ROLE $APP CONNECTION LIMIT 0"
	start_worker "$log"
	WORKER_PID=$STARTED
	PIDS+=("$WORKER_PID")
	for ((i = 0; i < 50; i++)); do
		grep -qs 'database unreachable' "$log" && break
		sleep 0.1
	done
	grep -qs 'database unreachable' "$log" ||
		sj_die "the worker did not try the database; see $log"
	sj_running "$WORKER_PID" || sj_die "the worker exited while retrying; see $log"
	[ -z "$(notified "$WORKER_PID")" ] ||
		sj_die "the worker notified '$(notified "$WORKER_PID")' before reaching the database"
	sql "$super" "ALTER ROLE $APP CONNECTION LIMIT -1"
	wait_notified "$WORKER_PID" READY=1 15 ||
		sj_die "the worker's notifications: '$(notified "$WORKER_PID")', want READY=1; see $log"
	n=$(sql "$super" "SELECT count(*) FROM pg_stat_activity WHERE
		datname = '$DB' AND usename = '$APP' AND
		application_name = 'storyjobs-worker'")
	[ "$n" -ge 1 ] || sj_die "READY=1 with no worker session on $DB"
	sj_say "installed: the worker said READY=1 only once it reached the database"
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
		[ "$p" != "$WORKER_PID" ] || continue
		for ((i = 0; i < 50; i++)); do
			[ -z "$(children_of "$p")" ] || break
			sleep 0.1
		done
		[ -n "$(children_of "$p")" ] || sj_die "$p has no children"
	done
}

# check_identity: every program (and each child of the FastCGI parents)
# runs an installed binary as the service user and group, with no other
# group, and none warns that others may read its configuration file.
check_identity() {
	local p exe ids groups
	local -a all=()
	for p in "${PIDS[@]}"; do
		all+=("$p")
		mapfile -t -O "${#all[@]}" all < <(children_of "$p")
	done
	for p in "${all[@]}"; do
		exe=$(readlink "/proc/$p/exe") || sj_die "$p is gone"
		ids=$(stat -c %U:%G "/proc/$p")
		groups=$(sed -n 's|^Groups:\s*||p' "/proc/$p/status" | tr -d ' ')
		[[ $exe == "$D/usr/"* ]] || sj_die "$p runs $exe, not an installed file"
		[ "$ids" = "$SVC_USER:$SVC_GROUP" ] || sj_die "$p ($exe) runs as $ids"
		[ "$groups" = "$(getent group "$SVC_GROUP" | cut -d: -f3)" ] ||
			sj_die "$p ($exe) has the groups $groups"
	done
	if grep -l 'others may read' "$D"/log/*.log >&2; then
		sj_die "a program warned that others may read its configuration file"
	fi
	sj_say "installed: ${#all[@]} processes run installed programs as $SVC_USER:$SVC_GROUP"
}

# hup_all: SIGHUP to the worker and every FastCGI parent; each is still
# there, its old children gone (replaced, not orphaned), the worker says
# RELOADING=1 then READY=1, and a job still goes through.
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
		sj_running "$p" || sj_die "$p died of SIGHUP"
		[ "$p" = "$WORKER_PID" ] || [ -n "$(children_of "$p")" ] ||
			sj_die "$p has no children after SIGHUP"
	done
	wait_notified "$WORKER_PID" "READY=1 RELOADING=1 READY=1" 15 ||
		sj_die "the worker's notifications after SIGHUP: '$(notified "$WORKER_PID")'"
	one_job
}

# stop_all: SIGTERM to every program: each exits 0 with its children
# gone, the worker having said STOPPING=1; then nginx; then nothing of
# the installed product runs, and every notification came from the
# worker's own pid.
stop_all() {
	local p left
	local -a before
	for p in "${PIDS[@]}"; do
		mapfile -t before < <(children_of "$p")
		kill -TERM "$p"
		wait_exit "$p" 15 || sj_die "$p did not stop on SIGTERM"
		[ "$EXIT_CODE" = 0 ] || sj_die "$p exited $EXIT_CODE on SIGTERM"
		! any_alive "${before[@]}" ||
			sj_die "children of $p outlived it: ${before[*]}"
	done
	PIDS=()
	sj_stop_pidfile "$D/nginx.pid"
	wait_notified "$WORKER_PID" "READY=1 RELOADING=1 READY=1 STOPPING=1" 5 ||
		sj_die "the worker's notifications at its stop: '$(notified "$WORKER_PID")'"
	[ -z "$(notify_foreign)" ] ||
		sj_die "notifications from other processes than the worker's: $(notify_foreign)"
	left=$(installed_running)
	[ -z "$left" ] || sj_die "installed programs still running: $(tr '\n' ' ' <<<"$left")"
	sj_say "installed: SIGTERM: every program exited 0, the worker said" \
		"$(notified "$WORKER_PID"), nothing left running"
}

main() {
	local f
	sj_free_port PORT
	BASE=http://127.0.0.1:$PORT
	install_product
	add_user
	db_urls
	write_conf
	make_dirs
	make_roles
	start_listener
	refused_older
	migrate_rest
	check_rights
	ready_after_db
	for f in "${FAMILIES[@]}"; do
		start_family "$f" "$D/log/$f.log"
		PIDS+=("$STARTED")
	done
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
	stop_all
}

main
