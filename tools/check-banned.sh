#!/bin/sh
# Fails when C sources use calls this project bans (curl's rule): unbounded
# or unchecked string and number functions.  Use snprintf, the num_ helpers
# and struct buf instead.
top=${top_srcdir:-$(dirname "$0")/..}
found=$(grep -nE '(^|[^_a-zA-Z0-9])(atoi|atol|atoll|sprintf|vsprintf|strcpy|strcat|sscanf|gets|strtok)[[:space:]]*\(' \
	"$top"/lib/*.[ch] "$top"/cgi/*.[ch] "$top"/worker/*.[ch] "$top"/tools/*.[ch] \
	"$top"/tests/unit/*.[ch] "$top"/tests/integration/*.[ch] \
	"$top"/tests/fake/*.[ch] "$top"/tests/fuzz/*.c "$top"/bench/*.c 2>/dev/null |
	grep -vE ':[0-9]+:[[:space:]]*(/\*|\*|//)')
if [ -n "$found" ]; then
	echo "banned calls:"
	echo "$found"
	exit 1
fi
echo "no banned calls"
