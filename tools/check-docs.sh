#!/bin/sh
# Fails when the docs drift from the settings table (pgbouncer's rule):
#  - a setting the code knows is not in README.md's tables, or README
#    gives it another default (a default under the build's localstatedir,
#    MEDIA_DIR's, is given for the usual --localstatedir=/var);
#  - the generated storyjobs.conf, every line uncommented, is not a valid
#    configuration read line by line from the file;
#  - a man page (the generated storyjobs.conf.5 and man/*.[0-9]) makes
#    groff warn (groff -man -ww).
top=${top_srcdir:-$(dirname "$0")/..}
ctl=${STORYJOBSCTL:-tools/storyjobsctl}
fail=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
"$ctl" settings >"$tmp/settings" || exit 1
[ -s "$tmp/settings" ] || { echo "$ctl settings printed nothing"; exit 1; }

types='STORYBOOK AUTO_STORY SCENES CARTOONIZE IMAGE_GENERATION'
# README's per-type table: the value of FIELD for the type in column N.
type_default() {
	awk -F'|' -v f="\`JOB_<TYPE>_$1\`" -v n="$2" \
		'index($2, f) { v = $(n + 2); gsub(/ /, "", v); print v }' \
		"$top/README.md"
}

lsd=${localstatedir:-/var}
while read -r name def _; do
	case $def in "$lsd"/*) def=/var${def#"$lsd"} ;; esac
	case $name in
	JOB_NOOP_*) continue ;; # benchmarks only, documented as a type
	JOB_STORYBOOK_* | JOB_AUTO_STORY_* | JOB_SCENES_* | JOB_CARTOONIZE_* | JOB_IMAGE_GENERATION_*)
		n=0
		for t in $types; do
			n=$((n + 1))
			case $name in JOB_${t}_*) field=${name#JOB_"${t}"_} ;; *) continue ;; esac
			got=$(type_default "$field" "$n")
			if [ "$got" != "$def" ]; then
				echo "README.md gives $name ${got:-nothing}, the code $def"
				fail=1
			fi
		done
		continue ;;
	esac
	if ! grep -qF "| \`$name\` |" "$top/README.md"; then
		echo "setting $name is not documented in README.md"
		fail=1
	elif [ "$def" != "(unset)" ] &&
		! grep -qF "| \`$name\` | \`$def\` |" "$top/README.md"; then
		echo "README.md does not give $name the default \`$def\`"
		fail=1
	fi
done <"$tmp/settings"

# The generated conf, uncommented, is read from the file and valid.
"$ctl" settings --conf | sed 's/^#\([A-Z][A-Z_]*=\)/\1/' >"$tmp/all.conf"
if ! env -i PATH="$PATH" STORYJOBS_CONFIG="$tmp/all.conf" \
	DATABASE_URL=postgresql:///x "$ctl" check-config >"$tmp/check" 2>&1; then
	echo "the generated storyjobs.conf, uncommented, is refused:"
	cat "$tmp/check"
	fail=1
elif ! grep -q "^MAX_CONCURRENT_JOBS  *5  *$tmp/all.conf:[0-9]*\$" "$tmp/check"; then
	echo "check-config does not say the file set MAX_CONCURRENT_JOBS"
	fail=1
fi

# Every man page renders without a groff warning.
"$ctl" settings --man >"$tmp/storyjobs.conf.5"
if ! command -v groff >/dev/null; then
	echo "groff is missing (Debian: groff-base)"
	fail=1
else
	for page in "$tmp/storyjobs.conf.5" "$top"/man/*.[0-9]; do
		[ -f "$page" ] || continue
		if ! groff -man -Tutf8 -ww -z "$page" >"$tmp/warn" 2>&1 ||
			[ -s "$tmp/warn" ]; then
			echo "groff warns on ${page##*/}:"
			cat "$tmp/warn"
			fail=1
		fi
	done
fi
[ $fail -eq 0 ] && echo "README, storyjobs.conf and the man pages agree with the settings table"
exit $fail
