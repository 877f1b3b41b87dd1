/*
 * One result type for the whole library.  Every fallible function returns
 * an enum sj_err; details go to the log, never through the return value.
 */
#ifndef SJ_ERR_H
#define SJ_ERR_H

#define SJ_WUR __attribute__((warn_unused_result))

enum sj_err {
	SJ_OK = 0,    /* success */
	SJ_ENOMEM,    /* an allocation failed */
	SJ_EINVAL,    /* invalid argument or malformed input */
	SJ_ENOTFOUND, /* no such row, key or file */
	SJ_ECONFLICT, /* the current state does not allow the change */
	SJ_EDB,	      /* database unreachable or a query failed */
	SJ_ETOOBIG,   /* a size cap was exceeded */
	SJ_EIO,	      /* a file-system or socket call failed */
	SJ_ELOST,     /* fence failed: lease lost, job cancelled or timed out */
	SJ_ETRANSIENT, /* upstream failure worth retrying */
	SJ_EPERMANENT, /* upstream failure not worth retrying */
	SJ_ECONFIG,    /* configuration is invalid */
	SJ_ELIMIT,     /* a rate limit was reached: try again later */
	SJ_EQUOTA,     /* a cap on live jobs was reached */
	SJ_ERR_MAX
};

/* Returns a static, human-readable description of e. */
const char *sj_strerror(enum sj_err e);

#endif
