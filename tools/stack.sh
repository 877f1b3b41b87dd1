# shellcheck shell=bash
# tools/stack.sh: the one copy of the code that starts and stops the parts
# of a storyjobs stack on this machine (a private PostgreSQL cluster, the
# jobs FastCGI program, the worker, a non-system nginx).
#
# DESIGN. Sourced by ./dev and tests/integration/run.sh; it only defines
# functions and relies on the caller's `set -euo pipefail` and on running as
# root (PostgreSQL runs as the postgres user through runuser; nginx's
# workers drop to www-data).  Every process is stopped by the pid its own
# pid file names, never by process name.  When SJ_CLEANUP_LIST names a file,
# each start function appends a line ("pg DIR", "nginx DIR", "pid FILE")
# to it, so an EXIT trap can stop whatever a failed step left running
# (sj_sweep).  Programs are started with exactly the variables of an env
# file (`export NAME='value'` lines) and nothing inherited.

SJ_PGBIN=${SJ_PGBIN:-/usr/lib/postgresql/15/bin}
SJ_NGINX=${SJ_NGINX:-/usr/sbin/nginx}
# Ports this shell already handed out, so two picks in a row differ even
# before anything listens on the first.
SJ_TAKEN_PORTS=${SJ_TAKEN_PORTS:-}

sj_die() {
	printf '%s: error: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

sj_say() {
	printf '==> %s\n' "$*" >&2
}

# sj_need_root: dies unless root.
sj_need_root() {
	[ "$(id -u)" = 0 ] ||
		sj_die "run as root: PostgreSQL is started via runuser and nginx drops to www-data"
}

# Where each checkout's state folder lives (see sj_checkout_state).
SJ_STATE_BASE=${SJ_STATE_BASE:-/var/lib/storyjobs-dev}

# sj_as_postgres CMD...: CMD as the postgres user, started in / (the
# caller's folder may be one postgres cannot enter, e.g. root's home).
sj_as_postgres() {
	(cd / && runuser -u postgres -- "$@")
}

# sj_check_reachable DIR: dies unless postgres and www-data can enter DIR,
# i.e. every folder above it is searchable by them.  Nothing here loosens
# the permissions of a user's folders; the fix is a state folder elsewhere.
sj_check_reachable() {
	local u
	for u in postgres www-data; do
		(cd / && runuser -u "$u" -- test -x "$1") ||
			sj_die "the $u user cannot enter $1 (a folder above it is closed to" \
				"other users); put state elsewhere (SJ_STATE_BASE, TMPDIR)"
	done
}

# sj_checkout_state ROOT: prints the state folder of the checkout at ROOT,
# SJ_STATE_BASE/<first 12 hex digits of the sha256 of ROOT's physical
# path>.  PostgreSQL's cluster and sockets, the FastCGI sockets, logs,
# media, nginx's files, build trees and test runs live there rather than
# in the checkout: postgres and www-data cannot enter a checkout in a 0700
# folder (root's home, mktemp -d), and a checkout path with spaces would
# need quoting in postgresql.conf, nginx.conf and libtool, which cannot
# cope.  The name is short because socket paths are capped (sj_fcgi_start).
sj_checkout_state() {
	local real
	real=$(cd "$1" && pwd -P) || return 1
	printf '%s/%s\n' "$SJ_STATE_BASE" \
		"$(printf '%s' "$real" | sha256sum | cut -c1-12)"
}

# sj_checkout_state_init ROOT DIR: makes DIR (from sj_checkout_state) 0755
# root, with ROOT's path in DIR/checkout (so a folder can be traced back)
# and DIR/src a link to ROOT (a path without spaces for configure).
sj_checkout_state_init() {
	local root=$1 dir=$2 real
	real=$(cd "$root" && pwd -P)
	sj_check_path "$dir"
	install -d -m 755 "${dir%/*}" "$dir"
	if [ -s "$dir/checkout" ] && [ "$(cat "$dir/checkout")" != "$real" ]; then
		sj_die "$dir belongs to the checkout $(cat "$dir/checkout")"
	fi
	printf '%s\n' "$real" >"$dir/checkout"
	ln -sfn "$real" "$dir/src"
	sj_check_reachable "$dir"
}

# sj_state_dir ROOT PREFIX: makes a throwaway state directory under ROOT
# (default $TMPDIR or /tmp) and prints it.  postgres and www-data must
# traverse it, and mktemp makes it 0700.
sj_state_dir() {
	local root=${1:-${TMPDIR:-/tmp}} d
	sj_check_reachable "$root"
	d=$(mktemp -d "$root/$2.XXXXXX") || return 1
	chmod 755 "$d"
	printf '%s\n' "$d"
}

# sj_register KIND ARG: remembers something for sj_sweep to stop.
sj_register() {
	[ -n "${SJ_CLEANUP_LIST:-}" ] || return 0
	printf '%s %s\n' "$1" "$2" >>"$SJ_CLEANUP_LIST"
}

# sj_sweep LIST: stops everything LIST names, newest first.  Meant for
# traps: a failure to stop one thing does not stop the sweep.
sj_sweep() {
	local list=$1 kind arg
	[ -f "$list" ] || return 0
	while read -r kind arg; do
		case $kind in
		pg) sj_pg_stop "$arg" || true ;;
		nginx) sj_nginx_stop "$arg" || true ;;
		pid) sj_stop_pidfile "$arg" || true ;;
		esac
	done < <(tac "$list")
}

# sj_running PID: true when PID exists and is not a zombie.  Daemons are
# orphans, and this machine's init reaps orphans lazily: a dead one can
# stay a zombie for seconds, and kill -0 still succeeds on a zombie.
sj_running() {
	local stat
	kill -0 "$1" 2>/dev/null || return 1
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# sj_pid_alive FILE: true when the pid on FILE's first line is running.
# (postmaster.pid and nginx.pid both start with the pid.)
sj_pid_alive() {
	local pid
	[ -s "$1" ] || return 1
	pid=$(head -n 1 "$1")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	sj_running "$pid"
}

# sj_wait_gone PID SECONDS: true when PID exited within SECONDS.
sj_wait_gone() {
	local pid=$1 i
	for ((i = 0; i < $2 * 10; i++)); do
		sj_running "$pid" || return 0
		sleep 0.1
	done
	! sj_running "$pid"
}

# sj_group_left PGID: prints the live (non-zombie) members of process
# group PGID.
sj_group_left() {
	local f stat fields
	for f in /proc/[0-9]*/stat; do
		stat=$(cat "$f" 2>/dev/null) || continue
		# After "pid (comm) ": state, ppid, pgrp, ...
		read -r -a fields <<<"${stat##*) }"
		if [ "${fields[2]}" = "$1" ] && [ "${fields[0]}" != Z ]; then
			f=${f#/proc/}
			echo "${f%/stat}"
		fi
	done
}

# sj_stop_pidfile FILE: SIGTERM, up to 10 s to exit, then SIGKILL.
# sj_daemon_start makes each program the leader of its own process group,
# so whatever is left in that group afterwards (children a crashed or
# killed parent orphaned) is killed too.
sj_stop_pidfile() {
	local file=$1 pid
	if sj_pid_alive "$file"; then
		pid=$(head -n 1 "$file")
		kill -TERM "$pid" 2>/dev/null || true
		sj_wait_gone "$pid" 10 ||
			sj_say "pid $pid ($file) ignored SIGTERM for 10 s: SIGKILL"
	elif [ -s "$file" ]; then
		pid=$(head -n 1 "$file")
	fi
	if [[ ${pid:-} =~ ^[0-9]+$ ]] && [ -n "$(sj_group_left "$pid")" ]; then
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	rm -f "$file"
}

# sj_port_busy PORT: true when something accepts connections on
# 127.0.0.1:PORT.
sj_port_busy() {
	(: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# sj_free_port VAR: sets VAR to a loopback TCP port nobody listens on.
# Probing is racy in principle; the range (below Linux's ephemeral ports)
# and the remembered picks make a clash unlikely, and a clash fails loudly.
# (A variable, not output: a $(...) subshell would forget the pick.)
sj_free_port() {
	# Locals carry a prefix: printf -v would set a caller's "port" here.
	local _sj_port _sj_i
	for ((_sj_i = 0; _sj_i < 200; _sj_i++)); do
		_sj_port=$((20000 + RANDOM % 12000))
		case " $SJ_TAKEN_PORTS " in *" $_sj_port "*) continue ;; esac
		if ! sj_port_busy "$_sj_port"; then
			SJ_TAKEN_PORTS="$SJ_TAKEN_PORTS $_sj_port"
			printf -v "$1" '%s' "$_sj_port"
			return 0
		fi
	done
	sj_die "no free port found on 127.0.0.1"
}

# sj_check_path PATH: refuses paths that would need quoting in nginx.conf,
# postgresql.conf or a sed replacement, instead of quoting them everywhere.
sj_check_path() {
	[[ $1 =~ ^/[A-Za-z0-9._/+-]*$ ]] ||
		sj_die "path '$1' has characters this tooling does not quote"
}

# sj_quote VALUE: VALUE as one single-quoted shell word.
sj_quote() {
	printf "'%s'" "${1//\'/\'\\\'\'}"
}

# sj_write_env FILE NAME=VALUE...: writes `export NAME='value'` lines,
# mode 0600 (the file holds the webhook secret), replacing FILE at once.
sj_write_env() {
	local file=$1 kv
	shift
	(
		umask 077
		for kv in "$@"; do
			printf 'export %s=%s\n' "${kv%%=*}" "$(sj_quote "${kv#*=}")"
		done >"$file.tmp"
	)
	mv -f "$file.tmp" "$file"
}

# The shell that loads an env file: it sources $1, writes its own pid to
# $2 unless that is empty, then execs the command in the same process (so
# the pid written is the program's).
# shellcheck disable=SC2016 # expanded by that shell, not this one
SJ_ENV_SCRIPT='. "$1" && { [ -z "$2" ] || echo "$$" >"$2"; } && shift 2 && exec "$@"'

# The programs refuse to run as root unless told; ./dev and the tests run
# everything as root, so everything they start is told.
SJ_ALLOW_ROOT=STORYJOBS_ALLOW_ROOT=1

# sj_env_exec ENVFILE PIDFILE CMD...: runs CMD with only PATH, LANG,
# SJ_ALLOW_ROOT and the variables of ENVFILE; PIDFILE may be empty.
sj_env_exec() {
	env -i PATH="$PATH" LANG=C.UTF-8 "$SJ_ALLOW_ROOT" \
		bash -c "$SJ_ENV_SCRIPT" sj-env "$@"
}

# sj_daemon_start PIDFILE LOG ENVFILE CMD...: starts CMD in the background
# in its own session and process group (a terminal's ^C or hangup does not
# reach it; sj_stop_pidfile can kill the group), with the variables of
# ENVFILE, output appended to LOG; waits for the pid file.
sj_daemon_start() {
	local pidfile=$1 log=$2 envfile=$3 i
	shift 3
	rm -f "$pidfile"
	# Logs are appended across runs; a header marks where each run starts.
	printf -- '---- %s %s\n' "$(date -u +%FT%TZ)" "$*" >>"$log"
	setsid nohup env -i PATH="$PATH" LANG=C.UTF-8 "$SJ_ALLOW_ROOT" \
		bash -c "$SJ_ENV_SCRIPT" sj-env "$envfile" "$pidfile" "$@" \
		</dev/null >>"$log" 2>&1 &
	for ((i = 0; i < 50; i++)); do
		[ -s "$pidfile" ] && break
		sleep 0.1
	done
	[ -s "$pidfile" ] || sj_die "$1 did not start; see $log"
	sj_register pid "$pidfile"
}

# sj_pg_init DATA SOCKDIR PORT [SETTING=VALUE...]: creates a cluster owned
# by postgres, trust auth, listening on 127.0.0.1:PORT and in SOCKDIR.
# PostgreSQL 15's initdb has no -c, so settings go to postgresql.conf.
sj_pg_init() {
	local data=$1 sockdir=$2 port=$3 kv
	shift 3
	sj_check_path "$data"
	sj_check_path "$sockdir"
	install -d -o postgres -g postgres -m 700 "$data"
	install -d -o postgres -g postgres -m 755 "$sockdir"
	sj_as_postgres "$SJ_PGBIN/initdb" -D "$data" -A trust \
		-U postgres -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
	{
		printf "\n# storyjobs tooling\n"
		printf "port = %s\n" "$port"
		printf "listen_addresses = '127.0.0.1'\n"
		printf "unix_socket_directories = '%s'\n" "$sockdir"
		for kv in "$@"; do
			printf '%s = %s\n' "${kv%%=*}" "${kv#*=}"
		done
	} >>"$data/postgresql.conf"
}

# sj_pg_start DATA LOG [PORT]: starts an initialised cluster unless it
# runs; PORT, when given, overrides the port in postgresql.conf.
sj_pg_start() {
	local data=$1 log=$2 opts=()
	sj_pid_alive "$data/postmaster.pid" && return 0
	[ -z "${3:-}" ] || opts=(-o "-p $3")
	[ -f "$log" ] || install -o postgres -g postgres -m 644 /dev/null "$log"
	sj_register pg "$data"
	sj_as_postgres "$SJ_PGBIN/pg_ctl" -D "$data" -l "$log" \
		"${opts[@]}" -w -t 30 start >/dev/null ||
		{
			tail -n 20 "$log" >&2
			sj_die "PostgreSQL in $data did not start"
		}
}

# sj_pg_stop DATA: fast shutdown (rolls back open transactions) if running.
sj_pg_stop() {
	local data=$1
	sj_pid_alive "$data/postmaster.pid" || return 0
	sj_as_postgres "$SJ_PGBIN/pg_ctl" -D "$data" -m fast -w \
		-t 30 stop >/dev/null
}

# sj_pg_url PORT DB: the libpq URL of database DB on the cluster.
sj_pg_url() {
	printf 'postgresql://postgres@127.0.0.1:%s/%s\n' "$1" "$2"
}

# sj_createdb PORT DB: creates DB unless it exists.
sj_createdb() {
	local port=$1 db=$2 found
	# psql interpolates :'db' (quoted safely) only in input, not in -c.
	found=$(psql -X -q -At -h 127.0.0.1 -p "$port" -U postgres -d postgres \
		-v ON_ERROR_STOP=1 -v db="$db" \
		<<<"SELECT 1 FROM pg_database WHERE datname = :'db'")
	[ "$found" = 1 ] || createdb -h 127.0.0.1 -p "$port" -U postgres "$db"
}

# sj_migrate BUILD ENVFILE SQLDIR: applies the schema with storyjobsctl.
sj_migrate() {
	sj_env_exec "$2" "" "$1/tools/storyjobsctl" migrate --sql-dir "$3"
}

# ---- PgBouncer ------------------------------------------------------------
# Debian's pgbouncer, never its system service: a private instance per
# stack, in transaction pooling, as the scaled-out deployment runs it
# (README, Deploying).
SJ_PGBOUNCER=${SJ_PGBOUNCER:-/usr/sbin/pgbouncer}

# sj_pgbouncer_start DIR PGPORT PORT USER PASSWORD: writes DIR/pgbouncer.ini
# and DIR/userlist.txt and starts PgBouncer as the postgres user (it
# refuses root) on $SJ_PGBOUNCER_LISTEN (127.0.0.1):PORT and in DIR (its
# unix socket), pool_mode = transaction, every database of the cluster on
# $SJ_PGBOUNCER_PGHOST (127.0.0.1):PGPORT reachable under its own name.
# Clients authenticate as USER with PASSWORD (scram-sha-256, the password
# kept in DIR/userlist.txt, mode 0600); USER may read SHOW STATS and
# SHOW POOLS on the admin database "pgbouncer".  Server sessions per
# database and user: $SJ_PGBOUNCER_POOL_SIZE (20).  Startup parameters
# are not ignored: a client that sends `options` is refused, as Debian's
# default is.  Waits until the port accepts; registered for sj_sweep.
sj_pgbouncer_start() {
	local dir=$1 pgport=$2 port=$3 user=$4 pass=$5 i
	local listen=${SJ_PGBOUNCER_LISTEN:-127.0.0.1}
	sj_check_path "$dir"
	[[ $port =~ ^[0-9]+$ && $pgport =~ ^[0-9]+$ ]] || sj_die "bad port"
	[[ $user =~ ^[a-z_][a-z0-9_]*$ && $pass =~ ^[A-Za-z0-9]+$ ]] ||
		sj_die "PgBouncer user or password with characters not quoted here"
	[ -x "$SJ_PGBOUNCER" ] || sj_die "$SJ_PGBOUNCER is missing (Debian: pgbouncer)"
	install -d -o postgres -g postgres -m 700 "$dir"
	(
		umask 077
		printf '"%s" "%s"\n' "$user" "$pass" >"$dir/userlist.txt"
		cat >"$dir/pgbouncer.ini" <<-INI
			; tools/stack.sh: a private PgBouncer of a storyjobs stack
			[databases]
			* = host=${SJ_PGBOUNCER_PGHOST:-127.0.0.1} port=$pgport
			[pgbouncer]
			pool_mode = transaction
			listen_addr = $listen
			listen_port = $port
			unix_socket_dir = $dir
			auth_type = scram-sha-256
			auth_file = $dir/userlist.txt
			admin_users = $user
			default_pool_size = ${SJ_PGBOUNCER_POOL_SIZE:-20}
			max_client_conn = 500
			pidfile = $dir/pgbouncer.pid
			logfile = $dir/pgbouncer.log
			syslog = 0
		INI
	)
	chown postgres:postgres "$dir/userlist.txt" "$dir/pgbouncer.ini"
	rm -f "$dir/pgbouncer.pid"
	sj_register pid "$dir/pgbouncer.pid"
	sj_as_postgres "$SJ_PGBOUNCER" -q -d "$dir/pgbouncer.ini" ||
		sj_die "PgBouncer did not start; see $dir/pgbouncer.log"
	for ((i = 0; i < 50; i++)); do
		sj_pid_alive "$dir/pgbouncer.pid" && sj_port_busy "$port" && return 0
		sleep 0.1
	done
	tail -n 20 "$dir/pgbouncer.log" >&2
	sj_die "PgBouncer in $dir did not start"
}

# sj_pgbouncer_url PORT USER PASSWORD DB: the libpq URL of database DB
# through the instance.
sj_pgbouncer_url() {
	printf 'postgresql://%s:%s@%s:%s/%s\n' "$2" "$3" \
		"${SJ_PGBOUNCER_LISTEN:-127.0.0.1}" "$1" "$4"
}

# sj_pgbouncer_stop DIR: stops the instance by its pid file (SIGTERM: it
# closes every session at once; the programs reconnect).
sj_pgbouncer_stop() {
	sj_stop_pidfile "$1/pgbouncer.pid"
}

# sj_run_dir DIR: sockets live here; group www-data, 0750, so nginx's
# workers (user www-data) can reach them and nobody else can.
sj_run_dir() {
	sj_check_path "$1"
	install -d -m 750 -g www-data "$1"
}

# The FastCGI programs, one per endpoint family; each serves RUN/NAME.sock,
# or over TCP (SJ_FCGI_LISTEN) its port: SJ_FCGI_PORT_BASE (9001) plus its
# place here, jobs 9001, auth 9002, health 9003, cron 9004, admin 9005.
SJ_FCGI_PROGRAMS=(jobs auth health cron admin)
SJ_FCGI_PORT_BASE=${SJ_FCGI_PORT_BASE:-9001}

# sj_fcgi_port NAME: prints the TCP port of family NAME.
sj_fcgi_port() {
	local i
	for i in "${!SJ_FCGI_PROGRAMS[@]}"; do
		if [ "${SJ_FCGI_PROGRAMS[$i]}" = "$1" ]; then
			printf '%s\n' $((SJ_FCGI_PORT_BASE + i))
			return 0
		fi
	done
	sj_die "no FastCGI program '$1'"
}

# sj_fcgi_start BUILD RUN NAME LOG ENVFILE PROCS: starts storyjobs-NAME on
# RUN/NAME.sock (pid file RUN/NAME.pid) and waits until the socket exists.
# With SJ_FCGI_LISTEN set to an address (10.0.0.11, 127.0.0.1, [::1]) it
# listens on that address and its port (sj_fcgi_port) instead, and waits
# until the port accepts connections.
sj_fcgi_start() {
	local build=$1 run=$2 name=$3 log=$4 envfile=$5 procs=$6 i
	local sock=$run/$name.sock addr host port
	local where=(--socket "$sock" --socket-group www-data)
	if [ -n "${SJ_FCGI_LISTEN:-}" ]; then
		[[ $SJ_FCGI_LISTEN =~ ^([0-9.]+|\[[0-9A-Fa-f:.]+\])$ ]] ||
			sj_die "SJ_FCGI_LISTEN: an IPv4 address or [IPv6], not '$SJ_FCGI_LISTEN'"
		port=$(sj_fcgi_port "$name")
		addr=$SJ_FCGI_LISTEN:$port
		host=${SJ_FCGI_LISTEN#[}
		host=${host%]}
		where=(--listen "$addr")
	else
		# sun_path holds 108 bytes; fail here rather than in bind().
		[ "${#sock}" -lt 100 ] || sj_die "socket path too long: $sock"
		rm -f "$sock"
	fi
	sj_daemon_start "$run/$name.pid" "$log" "$envfile" \
		"$build/cgi/storyjobs-$name" "${where[@]}" --processes "$procs"
	for ((i = 0; i < 100; i++)); do
		if [ -n "${addr:-}" ]; then
			(: <"/dev/tcp/$host/$port") 2>/dev/null && return 0
		else
			[ -S "$sock" ] && return 0
		fi
		sj_pid_alive "$run/$name.pid" || break
		sleep 0.1
	done
	tail -n 20 "$log" >&2
	sj_die "storyjobs-$name did not start on ${addr:-$sock}"
}

# sj_fcgi_start_all BUILD RUN LOGDIR ENVFILE PROCS: every FastCGI program.
sj_fcgi_start_all() {
	local name
	for name in "${SJ_FCGI_PROGRAMS[@]}"; do
		sj_fcgi_start "$1" "$2" "$name" "$3/$name.log" "$4" "$5"
	done
}

# sj_fcgi_stop_all RUN: stops every FastCGI program by its pid file.
sj_fcgi_stop_all() {
	local name
	for name in "${SJ_FCGI_PROGRAMS[@]}"; do
		sj_stop_pidfile "$1/$name.pid"
	done
}

# sj_nginx_render NGINX_DIR STATE PORT RUN MEDIA WEB: the private nginx of
# ./dev and the tests, from the pieces `make install` installs for the
# system nginx (see NGINX_DIR/dev-nginx.conf.in).  Writes STATE/nginx.conf
# (pid, events, temp paths, includes), STATE/storyjobs-http.conf,
# STATE/storyjobs-site.conf (listening on 127.0.0.1:PORT),
# STATE/storyjobs-page.conf and the operator snippets (the /metrics allow
# list; the trusted proxies: none, or a set_real_ip_from line for each
# address of SJ_NGINX_TRUSTED_PROXIES, blank-separated, as an operator
# behind a proxy writes them); with SJ_NGINX_FCGI_HOSTS set to addresses
# (blank-separated; IPv6 in brackets), each family's upstream is those
# hosts on its port (sj_fcgi_port) instead of RUN/NAME.sock, as an
# operator with several web hosts edits it (sj_nginx_fcgi_hosts); copies
# the pages of WEB to STATE/web with @ASSET_VERSION@ replaced by a hash
# of WEB/assets (so the assets can be cached for a year), and checks the
# result.
sj_nginx_render() {
	local tpldir=$1 state=$2 port=$3 run=$4 media=$5 web=$6 f ver
	sj_check_path "$state"
	sj_check_path "$run"
	sj_check_path "$media"
	[[ $port =~ ^[0-9]+$ ]] || sj_die "bad port '$port'"
	[ -d "$web/assets" ] || sj_die "$web/assets is missing"
	install -d -m 755 "$state"
	rm -rf "$state/web"
	cp -R "$web" "$state/web"
	ver=$(cd "$web" && find assets -type f -print0 | sort -z |
		xargs -0 sha256sum | sha256sum | cut -c1-16)
	for f in "$state"/web/*.html; do
		sed -i "s|@ASSET_VERSION@|$ver|g" "$f"
	done
	chmod -R a+rX,go-w "$state/web"
	cp "$tpldir/storyjobs-http.conf" "$state/storyjobs-http.conf"
	cp "$tpldir/storyjobs-metrics-allow.conf" \
		"$state/storyjobs-metrics-allow.conf"
	cp "$tpldir/storyjobs-real-ip.conf" "$state/storyjobs-real-ip.conf"
	for f in ${SJ_NGINX_TRUSTED_PROXIES:-}; do
		[[ $f =~ ^[0-9A-Fa-f.:/]+$ ]] || sj_die "bad trusted proxy '$f'"
		printf 'set_real_ip_from %s;\n' "$f" >>"$state/storyjobs-real-ip.conf"
	done
	for f in dev-nginx:nginx storyjobs-site:storyjobs-site \
		storyjobs-page:storyjobs-page; do
		sed -e "s|@LISTEN@|127.0.0.1:$port|g" \
			-e "s|@SERVER_NAME@|localhost|g" -e "s|@STATE@|$state|g" \
			-e "s|@RUN@|$run|g" -e "s|@MEDIA_DIR@|$media|g" \
			-e "s|@WEB_DIR@|$state/web|g" \
			-e "s|@PAGE_CONF@|$state/storyjobs-page.conf|g" \
			-e "s|@METRICS_ALLOW@|$state/storyjobs-metrics-allow.conf|g" \
			-e "s|@REAL_IP@|$state/storyjobs-real-ip.conf|g" \
			-e "s|@ACCESS_LOG@|$state/access.log|g" \
			-e "s|@EXTRA@|$state/extra-*.conf|g" \
			"$tpldir/${f%%:*}.conf.in" >"$state/${f#*:}.conf"
		if grep -n '@[A-Z_]*@' "$state/${f#*:}.conf" >&2; then
			sj_die "$state/${f#*:}.conf: placeholder left unreplaced"
		fi
	done
	[ -z "${SJ_NGINX_FCGI_HOSTS:-}" ] ||
		sj_nginx_fcgi_hosts "$state/storyjobs-site.conf" "$run"
	sj_nginx_cmd "$state" -t -q ||
		sj_die "nginx rejected $state/nginx.conf"
}

# sj_nginx_fcgi_hosts SITE RUN: in the rendered SITE, each family's
# "server unix:RUN/NAME.sock;" becomes one "server HOST:PORT;" line per
# address of SJ_NGINX_FCGI_HOSTS.
sj_nginx_fcgi_hosts() {
	local site=$1 run=$2 name h lines
	for name in "${SJ_FCGI_PROGRAMS[@]}"; do
		lines=
		for h in $SJ_NGINX_FCGI_HOSTS; do
			[[ $h =~ ^([0-9.]+|\[[0-9A-Fa-f:.]+\])$ ]] ||
				sj_die "SJ_NGINX_FCGI_HOSTS: bad address '$h'"
			lines+="\tserver $h:$(sj_fcgi_port "$name");\n"
		done
		grep -qxF "	server unix:$run/$name.sock;" "$site" ||
			sj_die "$site: no upstream line for $name"
		sed -i "s|^\tserver unix:$run/$name\.sock;\$|${lines%\\n}|" "$site"
	done
}

# sj_nginx_cmd STATE ARGS...: nginx with the instance's prefix and config;
# -e keeps even start-up errors out of the system log.
sj_nginx_cmd() {
	local state=$1
	shift
	"$SJ_NGINX" -p "$state/" -c "$state/nginx.conf" \
		-e "$state/error.log" "$@"
}

# sj_nginx_start STATE: starts the instance; it daemonises and the master
# writes STATE/nginx.pid (named in the template).
sj_nginx_start() {
	local state=$1 i
	sj_pid_alive "$state/nginx.pid" && return 0
	sj_register nginx "$state"
	sj_nginx_cmd "$state"
	for ((i = 0; i < 50; i++)); do
		sj_pid_alive "$state/nginx.pid" && return 0
		sleep 0.1
	done
	tail -n 20 "$state/error.log" >&2
	sj_die "nginx did not start"
}

# sj_nginx_stop STATE: graceful quit (in-flight requests finish), then the
# same 10 s / SIGKILL rule as the programs.
sj_nginx_stop() {
	local state=$1 pid
	sj_pid_alive "$state/nginx.pid" || return 0
	pid=$(head -n 1 "$state/nginx.pid")
	sj_nginx_cmd "$state" -s quit 2>/dev/null || kill -QUIT "$pid"
	sj_wait_gone "$pid" 10 || {
		kill -KILL "$pid" 2>/dev/null || true
		sj_say "nginx $pid ignored quit for 10 s: SIGKILL"
	}
}

# sj_wait_ready BASE_URL SECONDS: waits until GET /api/jobs/job_0_a gets
# a 4xx JSON answer.  Only the jobs program answers that path with a 4xx
# (nginx's own failures there are 502/504), so it proves nginx -> socket ->
# program -> database.
sj_wait_ready() {
	local url=$1/api/jobs/job_0_a i out
	for ((i = 0; i < $2 * 4; i++)); do
		out=$(curl -s --noproxy '*' -m 2 -w '\n%{http_code}' "$url" || true)
		if [[ ${out##*$'\n'} == 4[0-9][0-9] && $out == '{'* ]]; then
			return 0
		fi
		sleep 0.25
	done
	printf 'last answer from %s:\n%s\n' "$url" "$out" >&2
	return 1
}

# sj_tail_logs FILE...: the end of each existing log, for post-mortems.
sj_tail_logs() {
	local f n=${SJ_TAIL_LINES:-30}
	for f in "$@"; do
		[ -s "$f" ] || continue
		printf -- '----- %s (last %s lines) -----\n' "$f" "$n" >&2
		tail -n "$n" "$f" >&2
	done
}

# sj_secret: 32 random bytes as hex.
sj_secret() {
	openssl rand -hex 32 2>/dev/null ||
		od -An -tx1 -N32 /dev/urandom | tr -d ' \n'
}
