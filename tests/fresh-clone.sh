#!/usr/bin/env bash
# tests/fresh-clone.sh: a newcomer's first minutes, as a test.
#
# DESIGN. Clones this checkout's repository (HEAD as committed, not the
# work tree) into "a dir with spaces" inside a fresh `mktemp -d` folder,
# which is mode 0700 as root's home is on Debian, so neither postgres nor
# www-data can enter the clone.  The clone's own ./dev up runs there on
# free ports (never a developer's 8080/5544) and builds its own tree; one
# cartoonize job is started, polled to completed, and its image fetched
# through nginx (status 200, an image content type, the bytes that type
# starts with).  Then the clone's ./dev down, and a look through /proc: a
# process whose executable, working folder or command line lies under the
# clone or its state folder is one `down` left behind (PostgreSQL's
# processes all work in their data folder, nginx's and our programs'
# command lines or executables name the state folder), and neither port
# may still answer.  The clone and its state folder go at exit, failed or
# not; anything left running is killed by pid first.  Needs root; run by
# ./dev test as the "fresh clone" step.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/stack.sh
. "$ROOT/tools/stack.sh"
sj_need_root

PARENT=$(mktemp -d "${TMPDIR:-/tmp}/sj-fresh-clone.XXXXXX")
CLONE="$PARENT/a dir with spaces"
CLONE_STATE=
PORT=
PGPORT=
# A job's way from pending to completed with ./dev up's LOCAL_DELAY_MS.
JOB_SECONDS=60

say() {
	printf '==> fresh clone: %s\n' "$*" >&2
}

# clone_procs: pids of processes that belong to the clone (this script
# and its subshells work in / and name neither folder).
clone_procs() {
	local p pid cwd exe cmd
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		cwd=$(readlink "$p/cwd" 2>/dev/null) || cwd=
		exe=$(readlink "$p/exe" 2>/dev/null) || exe=
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || cmd=
		case "$cwd|$exe|$cmd" in
		*"$CLONE"* | *"${CLONE_STATE:-$CLONE}"*)
			sj_running "$pid" && printf '%s\n' "$pid"
			;;
		esac
	done
}

# show_procs PID...: what each one is, for the failure message.
show_procs() {
	local pid
	for pid in "$@"; do
		printf '  pid %s cwd=%s cmd=%s\n' "$pid" \
			"$(readlink "/proc/$pid/cwd" 2>/dev/null || true)" \
			"$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" || true)" >&2
	done
}

# clone_dev CMD: the clone's ./dev CMD, in the clone, as a user runs it,
# without what a calling ./dev test exports; output to PARENT/CMD.log.
clone_dev() {
	(cd "$CLONE" && env -u SJ_CLEANUP_LIST -u TEST_DATABASE_URL \
		-u SJ_TEST_STATE_ROOT PORT="$PORT" PGPORT="$PGPORT" \
		./dev "$1") >"$PARENT/$1.log" 2>&1
}

# finish: stops whatever is left (down, then by pid), removes the clone
# and its state folder (only if it names this clone as its checkout).
finish() {
	local rc=$? pids
	trap - EXIT INT TERM
	cd /
	if [ "$rc" -ne 0 ]; then
		SJ_TAIL_LINES=20 sj_tail_logs "$PARENT"/*.log \
			${CLONE_STATE:+"$CLONE_STATE"/log/*.log "$CLONE_STATE/nginx/error.log"}
		[ ! -x "$CLONE/dev" ] || clone_dev down || true
	fi
	mapfile -t pids < <(clone_procs)
	if [ "${#pids[@]}" -gt 0 ]; then
		sj_say "killing what the clone left running: ${pids[*]}"
		kill -KILL "${pids[@]}" 2>/dev/null || true
		rc=1
	fi
	if [ -n "$CLONE_STATE" ] && [ -d "$CLONE_STATE" ]; then
		if [ "$(cat "$CLONE_STATE/checkout" 2>/dev/null || true)" = "$CLONE" ]; then
			rm -rf "$CLONE_STATE"
		else
			sj_say "$CLONE_STATE does not name the clone as its checkout: kept"
		fi
	fi
	rm -rf "$PARENT"
	[ "$rc" -eq 0 ] || sj_say "FAILED"
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# clone: the repository's HEAD into the 0700 folder, which postgres must
# not be able to enter (that is the case under test).
clone() {
	local mode
	cd /
	PARENT=$(cd "$PARENT" && pwd -P)
	CLONE="$PARENT/a dir with spaces"
	mode=$(stat -c %a "$PARENT")
	[ "$mode" = 700 ] || sj_die "mktemp -d made $PARENT mode $mode, want 700"
	git clone -q "$ROOT" "$CLONE"
	say "cloned $(git -C "$CLONE" rev-parse --short HEAD) into $CLONE"
	if runuser -u postgres -- test -x "$CLONE"; then
		sj_die "postgres can enter $CLONE; the test would prove nothing"
	fi
	# The clone's own code names its state folder.
	CLONE_STATE=$(
		# shellcheck source=tools/stack.sh
		. "$CLONE/tools/stack.sh"
		sj_checkout_state "$CLONE"
	)
	[ -n "$CLONE_STATE" ] || sj_die "no state folder for the clone"
	[ ! -e "$CLONE_STATE" ] || sj_die "$CLONE_STATE exists before the first ./dev up"
}

# job_image: one cartoonize job to completed; prints its image URL.
job_image() {
	local base=$1 out id i status=
	out=$(curl -s --noproxy '*' -m 10 -X POST "$base/api/jobs/cartoonize/start" \
		-H 'Content-Type: application/json' \
		-d '{"prompt":"a fox with a red scarf reading under a tree","style":"storybook"}')
	[[ $out =~ \"jobId\":\"(job_[0-9]+_[a-z0-9]+)\" ]] ||
		sj_die "the start answered: $out"
	id=${BASH_REMATCH[1]}
	for ((i = 0; i < JOB_SECONDS * 4; i++)); do
		out=$(curl -s --noproxy '*' -m 5 \
			"$base/api/jobs/cartoonize/status/$id") || out=
		[[ $out =~ \"status\":\"([a-z]+)\" ]] && status=${BASH_REMATCH[1]}
		case $status in completed | failed | cancelled) break ;; esac
		sleep 0.25
	done
	[ "$status" = completed ] ||
		sj_die "job $id is $status after $JOB_SECONDS s: $out"
	[[ $out =~ \"url\":\"([^\"]+)\" ]] || sj_die "job $id has no url: $out"
	printf '%s\n' "${BASH_REMATCH[1]}"
}

# check_image URL BASE: URL is served by this stack's nginx as an image:
# 200, an image content type, and the bytes that type begins with.
check_image() {
	local url=$1 base=$2 file=$PARENT/image meta code type size magic
	[[ $url == "$base/media/"* ]] || sj_die "image URL $url is not under $base/media/"
	meta=$(curl -s --noproxy '*' -m 10 -o "$file" -w '%{http_code} %{content_type}' "$url")
	code=${meta%% *}
	type=${meta#* }
	type=${type%%;*}
	size=$(stat -c %s "$file")
	magic=$(head -c 12 "$file" | od -An -tx1 | tr -d ' \n')
	[ "$code" = 200 ] || sj_die "GET $url: HTTP $code"
	[ "$size" -ge 100 ] || sj_die "GET $url: only $size bytes"
	case $type in
	image/png) [[ $magic == 89504e470d0a1a0a* ]] ;;
	image/jpeg) [[ $magic == ffd8ff* ]] ;;
	image/webp) [[ $magic == 52494646????????57454250 ]] ;;
	image/svg+xml)
		head -c 512 "$file" | grep -q '<svg' &&
			[[ $(tail -c 64 "$file" | tr -d '[:space:]') == *'</svg>' ]]
		;;
	*) false ;;
	esac || sj_die "GET $url: $type, $size bytes, starting $magic: not that image"
	say "image served: $type, $size bytes"
}

# check_gone: nothing of the clone runs and neither port answers.
check_gone() {
	local pids
	mapfile -t pids < <(clone_procs)
	if [ "${#pids[@]}" -gt 0 ]; then
		show_procs "${pids[@]}"
		sj_die "./dev down left ${#pids[@]} processes running"
	fi
	! sj_port_busy "$PORT" || sj_die "127.0.0.1:$PORT still answers after ./dev down"
	! sj_port_busy "$PGPORT" || sj_die "127.0.0.1:$PGPORT still answers after ./dev down"
}

main() {
	local t0=$SECONDS t url base
	clone
	sj_free_port PORT
	sj_free_port PGPORT
	base=http://127.0.0.1:$PORT
	t=$SECONDS
	clone_dev up || sj_die "./dev up failed in the clone"
	say "./dev up took $((SECONDS - t)) s (build included)"
	[ "$(readlink "$CLONE/.dev/state")" = "$CLONE_STATE" ] ||
		sj_die ".dev/state does not point to $CLONE_STATE"
	url=$(job_image "$base")
	check_image "$url" "$base"
	t=$SECONDS
	clone_dev down || sj_die "./dev down failed in the clone"
	say "./dev down took $((SECONDS - t)) s"
	check_gone
	say "passed in $((SECONDS - t0)) s"
}

main
