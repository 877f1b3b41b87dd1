/*
 * What cfg.c (loading), cfg_table.c (the table), cfg_check.c (validation)
 * and cfg_show.c share: every setting seen as one kind of row, and where
 * its value came from.  Not for use outside lib/cfg*.c.
 */
#ifndef SJ_CFG_INTERNAL_H
#define SJ_CFG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

enum cfg_kind { CFG_STR, CFG_INT, CFG_BOOL, CFG_DOUBLE };

/* Bounds of a CFG_INT row and the name its messages give the value. */
struct cfg_bounds {
	int64_t min, max;
	const char *what; /* NULL: no bounds */
	const char *unit; /* after a bound: "ms", " seconds" */
};

/* One setting seen the same way whether it is a table or a type row. */
struct cfg_row {
	char name[64];
	char defbuf[24];
	const char *def; /* NULL: unset */
	const char *doc;
	enum cfg_kind kind;
	size_t off;
	bool reload, secret;
	const struct cfg_bounds *b;
	enum cfg_group group;
	int type; /* the job type of a type row, else -1 */
};

/* How many settings there are: table rows, then JOB_<TYPE>_<FIELD>. */
size_t cfg_row_count(void);
/* Row i (below cfg_row_count()) into r. */
void cfg_row_get(size_t i, struct cfg_row *r);
/* The row of a setting by name; false when there is none. */
bool cfg_row_find(const char *name, struct cfg_row *r);
/*
 * The value of row r in c as messages and check-config show it: a secret
 * as "(set, N bytes)", DATABASE_URL without its password.
 */
void cfg_row_show(const struct cfg *c, const struct cfg_row *r, char *buf,
		  size_t n);

/* Where a value came from and how to name it in a message. */
struct cfg_src {
	cfg_lookup_fn lookup;
	cfg_where_fn where; /* NULL: say nothing of where */
	void *ctx;
};

/* "FILE:LINE: " into buf when the file set name, else "". */
const char *cfg_src_prefix(const struct cfg_src *s, const char *name, char *buf,
			   size_t n);
/* Appends the problems of c to errs, named by s (may be NULL). */
int cfg_validate_src(const struct cfg *c, const struct cfg_src *s,
		     struct cfg_errs *errs);

#endif
