/* Matching request paths against route patterns, for the request layer. */
#ifndef SJ_ROUTE_H
#define SJ_ROUTE_H

#include <stddef.h>

#define ROUTE_MAX_CAPS 4

/*
 * Matches path against pattern, where '*' stands for one non-empty path
 * segment.  path is copied into scratch (scratch_len bytes) and the
 * captures point into it, NUL-terminated.  Returns 1 on a match, 0 else
 * (also when path does not fit scratch).
 */
int route_match(const char *pattern, const char *path, char *scratch,
		size_t scratch_len, const char *caps[ROUTE_MAX_CAPS]);

#endif
