#!/bin/sh
# The include graph of worker/ and lib/: for each module (a .c file with
# its own .h; a header with no .c of its own is a module by itself), the
# modules it includes with #include "...", a header resolved to its
# module.  Exits non-zero, printing it, on a cycle between modules, or
# when a provider (work done with no job attached: the offline provider
# gen_local, the openai provider gen_openai*, the calls out gen_http, the
# failure record and provider context gen_types, the story writer and
# splitter, the cartoonizer, the scene cards, the sentence splitter)
# includes the step API or the pool (step.h, pool.h, slots.h, steps*.h,
# gen.h).
# Run by `make check`; -q prints only failures.
top=${top_srcdir:-$(dirname "$0")/..}
quiet=0
[ "${1:-}" = -q ] && quiet=1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0

# edges "from to" between modules (dir/name without extension)
for f in "$top"/worker/*.[ch] "$top"/lib/*.[ch]; do
	[ -f "$f" ] || continue
	dir=$(basename "$(dirname "$f")")
	from=$dir/$(basename "$f" | sed 's/\.[ch]$//')
	# a header with no .c of its own is read as part of its includer
	case $f in *.h) [ -f "${f%.h}.c" ] || from=H:$from ;; esac
	sed -n 's/^#[ \t]*include[ \t]*"\([^"]*\)".*/\1/p' "$f" |
	while read -r inc; do
		base=${inc%.h}
		if [ -f "$top/$dir/$inc" ]; then
			to=$dir/$base
		elif [ -f "$top/lib/$inc" ]; then
			to=lib/$base
		else
			continue # a generated or system header
		fi
		[ -f "$top/$to.c" ] || to=H:$to
		[ "$to" = "$from" ] || echo "$from $to"
	done
done | sort -u >"$tmp/raw"
# replace each header-only node by what it includes, transitively
awk '
	{ from[NR] = $1; to[NR] = $2; if ($1 ~ /^H:/) hdr[$1] = hdr[$1] " " $2 }
	function expand(n, from_, d,   k, i, list) {
		if (n !~ /^H:/) { if (n != from_) print from_, n; return }
		if (d > 20 || seen[from_, n]++) return
		k = split(hdr[n], list, " ")
		for (i = 1; i <= k; i++) expand(list[i], from_, d + 1)
	}
	END { for (i = 1; i <= NR; i++) if (from[i] !~ /^H:/) expand(to[i], from[i], 0) }
' "$tmp/raw" | sort -u >"$tmp/edges"

if [ "$quiet" = 0 ]; then
	awk '{ out[$1] = out[$1] " " $2 } END { for (m in out) print m " ->" out[m] }' \
		"$tmp/edges" | sort
fi

# a cycle: depth-first search, printing the first one found
awk '
	{ adj[$1] = adj[$1] " " $2; node[$1] = 1; node[$2] = 1 }
	function visit(n,   i, k, m, list) {
		state[n] = 1; stack[++depth] = n
		k = split(adj[n], list, " ")
		for (i = 1; i <= k; i++) {
			m = list[i]
			if (state[m] == 1) {
				path = m
				for (j = depth; j >= 1 && stack[j] != m; j--)
					path = stack[j] " -> " path
				print "include cycle: " m " -> " path
				found = 1
				return
			}
			if (state[m] == 0) { visit(m); if (found) return }
		}
		state[n] = 2; depth--
	}
	END {
		for (n in node) if (state[n] == 0 && !found) visit(n)
		exit found
	}' "$tmp/edges" || fail=1

providers='worker/gen_local worker/gen_types worker/gen_http worker/gen_openai
worker/gen_openai_call worker/gen_openai_image worker/story worker/story_split
worker/story_plan worker/story_templates worker/cartoon worker/sentence
worker/local worker/local_draw worker/local_figure worker/local_hero
worker/local_style worker/local_text'
for p in $providers; do
	awk -v p="$p" '$1 == p && $2 ~ /^worker\/(step|steps.*|pool|slots|gen|completer|session|stats)$/ {
		print "provider " p " includes " $2 ".h (the job side)"; bad = 1 }
		END { exit bad }' "$tmp/edges" || fail=1
done

[ "$fail" = 0 ] && [ "$quiet" = 0 ] &&
	echo "include-graph: $(wc -l <"$tmp/edges") edges, no cycle"
exit "$fail"
