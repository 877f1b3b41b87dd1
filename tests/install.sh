#!/usr/bin/env bash
# tests/install.sh [BUILD_DIR]: the installed product's files, checked by
# the tools that will read them.  `make install DESTDIR=` a scratch root,
# then:
#   - no installed text file still holds an @PLACEHOLDER@;
#   - nginx -t accepts a scratch nginx.conf built as Debian's is (http {
#     include conf.d/*.conf; include sites-enabled/*; }) around the
#     installed conf.d/storyjobs.conf and sites-available/storyjobs, whose
#     relative include (snippets/) resolves inside the scratch root;
#   - in a build with libsystemd, systemd-analyze verify accepts every
#     installed unit, with the scratch root as its root (so ExecStart=
#     must name installed files), and the sysusers.d and tmpfiles.d files
#     are there; a build without it installs none of them;
#   - every installed program answers --version and --help without any
#     configuration.
# The site's access log is installed under the scratch root too
# (nginxlogdir=), since nginx -t opens it.  Run by `make check` from the
# build folder (BUILD_DIR defaults to the current folder).  A tool missing
# (nginx, or systemd-analyze when the build has libsystemd) is a SKIP (77):
# ./dev installs both and fails any skip.
set -euo pipefail

BUILD=$(cd "${1:-.}" && pwd)
[ -f "$BUILD/Makefile" ] || {
	echo "install.sh: $BUILD is not a configured build folder" >&2
	exit 1
}
# shellcheck source=tools/stack.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tools/stack.sh"
# shellcheck source=tests/debian-nginx.sh
. "$(dirname "${BASH_SOURCE[0]}")/debian-nginx.sh"
NGINX=$SJ_NGINX

# mkvar NAME: the build's value of a make variable, fully expanded.
mkvar() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make -s -C "$BUILD" --no-print-directory -f Makefile -f - \
		sj-print-var VAR="$1" <<'EOF'
sj-print-var:
	@echo '$($(VAR))'
EOF
}

WITH_SYSTEMD=$(mkvar SJ_WITH_SYSTEMD)
tools=("$NGINX")
[ "$WITH_SYSTEMD" = yes ] && tools+=(systemd-analyze)
for t in "${tools[@]}"; do
	command -v "$t" >/dev/null || {
		echo "install.sh: SKIP: $t is missing (./dev install)" >&2
		exit 77
	}
done

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/sj-install.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
DEST=$SCRATCH/root

# The recursive make must not join the jobserver of a `make check`.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$BUILD" install \
	DESTDIR="$DEST" nginxlogdir="$SCRATCH/log" >"$SCRATCH/install.log" 2>&1 || {
	cat "$SCRATCH/install.log" >&2
	echo "install.sh: make install failed" >&2
	exit 1
}
mkdir -p "$SCRATCH/log"
NGXCONF=$DEST$(mkvar nginxconfdir)
UNITDIR=$DEST$(mkvar systemdsystemunitdir)
fail=0

# 1. No placeholder left in any installed text file.
while IFS= read -r -d '' f; do
	if grep -Iq . "$f" && grep -n '@[A-Za-z_]*@' "$f" >&2; then
		echo "FAIL: $f: placeholder left" >&2
		fail=1
	fi
done < <(find "$DEST" -type f -print0)

# 2. nginx: the pieces in a Debian-shaped nginx.conf.
for f in conf.d/storyjobs.conf sites-available/storyjobs \
	snippets/storyjobs-page.conf snippets/storyjobs-metrics-allow.conf; do
	[ -s "$NGXCONF/$f" ] || {
		echo "FAIL: $NGXCONF/$f not installed" >&2
		fail=1
	}
done
if grep -nE '^[[:space:]]*(user|pid|events|worker_processes)\b' \
	"$NGXCONF/conf.d/storyjobs.conf" "$NGXCONF/sites-available/storyjobs" >&2; then
	echo "FAIL: a main-context directive in an installed piece" >&2
	fail=1
fi
mkdir -p "$NGXCONF/sites-enabled"
ln -sf ../sites-available/storyjobs "$NGXCONF/sites-enabled/storyjobs"
debian_nginx_conf "$NGXCONF/nginx.conf" "$SCRATCH"
if ! "$NGINX" -t -q -p "$SCRATCH/" -c "$NGXCONF/nginx.conf" \
	-e "$SCRATCH/log/error.log"; then
	echo "FAIL: nginx -t rejected the installed site" >&2
	fail=1
fi

# 2b. /metrics answers only the addresses of the installed allow snippet:
# the site, listening on 127.0.0.1, asked from 127.0.0.1 and from
# 127.0.0.2 (both loopback; curl --interface picks the source), denies
# 127.0.0.2 (the site answers its 403 as 404, and nginx logs "access
# forbidden by rule") and lets 127.0.0.1 through to the FastCGI socket
# (502: no program runs here); once the snippet allows 127.0.0.2, it goes
# through too.
# nginx daemonises: it is up once its pid file names a running process.
ngx_start() {
	local i
	sj_register pid "$SCRATCH/nginx.pid"
	"$NGINX" -p "$SCRATCH/" -c "$NGXCONF/nginx.conf" \
		-e "$SCRATCH/log/error.log" || return 1
	for ((i = 0; i < 50; i++)); do
		sj_pid_alive "$SCRATCH/nginx.pid" && return 0
		sleep 0.1
	done
	return 1
}
ngx_stop() {
	sj_stop_pidfile "$SCRATCH/nginx.pid"
}
trap 'ngx_stop; rm -rf "$SCRATCH"' EXIT
metrics_code() {
	curl -s --noproxy '*' -o /dev/null -w '%{http_code}' \
		--interface "$1" "http://127.0.0.1:$PORT/metrics" || true
}
expect_metrics() {
	local got
	got=$(metrics_code "$1")
	[ "$got" = "$2" ] || {
		echo "FAIL: /metrics from $1 answered $got, expected $2 ($3)" >&2
		fail=1
	}
}
PORT=
sj_free_port PORT
SITE=$NGXCONF/sites-available/storyjobs
ALLOW=$NGXCONF/snippets/storyjobs-metrics-allow.conf
sed -i "s|^\([[:space:]]*\)listen 80;|\1listen 127.0.0.1:$PORT;|" "$SITE"
if grep -q "listen 127.0.0.1:$PORT;" "$SITE" && ngx_start; then
	expect_metrics 127.0.0.1 502 "loopback is allowed as installed"
	expect_metrics 127.0.0.2 404 "an address not in the snippet"
	grep -q 'access forbidden by rule, client: 127.0.0.2' \
		"$SCRATCH/log/error.log" || {
		echo "FAIL: nginx did not log 127.0.0.2 as denied" >&2
		fail=1
	}
	ngx_stop
	printf 'allow 127.0.0.2;\n' >>"$ALLOW"
	if ngx_start; then
		expect_metrics 127.0.0.2 502 "an address added to the snippet"
		ngx_stop
	else
		echo "FAIL: nginx did not start with 127.0.0.2 allowed" >&2
		fail=1
	fi
else
	echo "FAIL: the installed site could not be started on port $PORT" >&2
	fail=1
fi

# 3. systemd, in a build with libsystemd only: every installed unit
# verifies against the scratch root, which gets the host's own units
# (sysinit.target, ...) and kill(1), the only outside command a unit
# names; the sysusers.d and tmpfiles.d files are there.  A build without
# libsystemd installs none of them (they could not work).
verify_units() {
	mkdir -p "$DEST/usr/lib/systemd" "$DEST/usr/bin"
	cp -a /lib/systemd/system "$DEST/usr/lib/systemd/"
	cp "$(type -P kill)" "$DEST/usr/bin/kill"
	mapfile -t units < <(find "$UNITDIR" -maxdepth 1 -type f \
		\( -name '*.service' -o -name '*.socket' -o -name '*.timer' \) | sort)
	# A unit folder outside systemd's search path (make distcheck's prefix):
	# the units are verified from /etc/systemd/system of the scratch root.
	if [ "${#units[@]}" -gt 0 ]; then
		mkdir -p "$DEST/etc/systemd/system"
		cp "${units[@]}" "$DEST/etc/systemd/system/"
		units=("${units[@]/#$UNITDIR/$DEST/etc/systemd/system}")
	fi
	[ "${#units[@]}" -gt 0 ] || {
		echo "FAIL: no systemd unit installed in $UNITDIR" >&2
		fail=1
	}
	for u in "${units[@]}"; do
		v=$u
		# a socket tied to its service (PartOf=, BindsTo=) would be
		# closed and remade by a restart of the service, resetting the
		# requests queued in it (test_daemon proves the restart of the
		# service alone loses none)
		if [[ $u == *.socket ]] && grep -qE '^(PartOf|BindsTo)=' "$u"; then
			echo "FAIL: $(basename "$u") is restarted with its service" >&2
			fail=1
		fi
		# a template is verified through one instance of it
		[[ $u == *@.* ]] && v=${u%@.*}@jobs.${u##*.}
		[ "$v" = "$u" ] || ln -sf "$(basename "$u")" "$v"
		if ! out=$(systemd-analyze verify --man=no --root="$DEST" "$v" 2>&1) ||
			[ -n "$out" ]; then
			printf '%s\n' "$out" >&2
			echo "FAIL: systemd-analyze verify $(basename "$v")" >&2
			fail=1
		fi
	done
}

SYSTEMD_FILES=("$DEST$(mkvar sysusersdir)/storyjobs.conf"
	"$DEST$(mkvar tmpfilesdir)/storyjobs.conf")
units=()
if [ "$WITH_SYSTEMD" = yes ]; then
	for f in "${SYSTEMD_FILES[@]}"; do
		[ -s "$f" ] || {
			echo "FAIL: $f not installed" >&2
			fail=1
		}
	done
	verify_units
else
	for f in "${SYSTEMD_FILES[@]}" "$UNITDIR"/storyjobs*; do
		[ -e "$f" ] || continue
		echo "FAIL: $f installed by a build without libsystemd" >&2
		fail=1
	done
fi

# 4. Every installed program answers --version and --help with no
# configuration at all, exit 0.
version=$(mkvar PACKAGE_VERSION)
progs=("$DEST$(mkvar sbindir)/storyjobs-worker" "$DEST$(mkvar bindir)/storyjobsctl")
for f in jobs auth health cron admin; do
	progs+=("$DEST$(mkvar pkglibexecdir)/storyjobs-$f")
done
for p in "${progs[@]}"; do
	out=$(env -i "$p" --version 2>&1) || out="exit $?: $out"
	if [ "$out" != "$(basename "$p") $version" ]; then
		echo "FAIL: $p --version said '$out'" >&2
		fail=1
	fi
	if ! out=$(env -i "$p" --help 2>/dev/null) || [[ $out != usage:* ]]; then
		echo "FAIL: $p --help did not print its usage and exit 0" >&2
		fail=1
	fi
done

[ "$fail" -eq 0 ] && echo "install: nginx -t and systemd-analyze verify passed" \
	"(${#units[@]} units; libsystemd: $WITH_SYSTEMD)," \
	"--version/--help of ${#progs[@]} programs"
exit "$fail"
