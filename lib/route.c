#include <string.h>

#include "route.h"

int
route_match(const char *pattern, const char *path, char *scratch,
	    size_t scratch_len, const char *caps[ROUTE_MAX_CAPS])
{
	size_t len = strlen(path);
	char *p = scratch;
	int ncaps = 0;

	if (len >= scratch_len)
		return 0;
	memcpy(scratch, path, len + 1);
	while (*pattern != '\0' && *p != '\0') {
		if (*pattern == '*') {
			size_t seg = strcspn(p, "/");

			if (seg == 0 || ncaps == ROUTE_MAX_CAPS)
				return 0;
			caps[ncaps++] = p;
			pattern++;
			p += seg;
			if (*p == '/') {
				if (*pattern != '/')
					return 0;
				*p++ = '\0';
				pattern++;
			}
			continue;
		}
		if (*pattern++ != *p++)
			return 0;
	}
	return *pattern == '\0' && *p == '\0';
}
