#!/bin/sh
# Fails when a setting the code knows is not documented in README.md
# (pgbouncer's rule: the settings table and the docs never drift).
top=${top_srcdir:-$(dirname "$0")/..}
ctl=${STORYJOBSCTL:-tools/storyjobsctl}
missing=0
names=$("$ctl" settings | cut -d' ' -f1) || exit 1
[ -n "$names" ] || { echo "$ctl settings printed nothing"; exit 1; }
for name in $names; do
	case $name in
	JOB_STORYBOOK_* | JOB_AUTO_STORY_* | JOB_SCENES_* | JOB_CARTOONIZE_* | JOB_IMAGE_GENERATION_* | JOB_NOOP_*)
		doc="JOB_<TYPE>_$(printf '%s\n' "$name" | sed -E 's/^JOB_(STORYBOOK|AUTO_STORY|SCENES|CARTOONIZE|IMAGE_GENERATION|NOOP)_//')" ;;
	*) doc=$name ;;
	esac
	if ! grep -qF "\`$doc\`" "$top/README.md"; then
		echo "setting $name is not documented in README.md (as $doc)"
		missing=1
	fi
done
[ $missing -eq 0 ] && echo "every setting is documented"
exit $missing
