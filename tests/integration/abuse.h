/*
 * test_abuse: each way an anonymous or hostile caller could fill the
 * disk, run up the bill or guess in, played against the real stack.  One
 * part per area (accounts and the edge, job starts, uploads), each an
 * array of cmocka tests that main runs in turn.
 */
#ifndef SJ_ABUSE_H
#define SJ_ABUSE_H

#include <stddef.h>
#include <stdarg.h>
#include <setjmp.h>
#include <cmocka.h>

struct abuse_part {
	const char *name;
	const struct CMUnitTest *tests;
	size_t n;
};

extern const struct abuse_part abuse_auth, abuse_jobs, abuse_uploads;

#endif
