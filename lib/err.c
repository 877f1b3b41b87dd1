#include "err.h"

static const char *const sj_errstr[SJ_ERR_MAX] = {
    [SJ_OK] = "success",
    [SJ_ENOMEM] = "out of memory",
    [SJ_EINVAL] = "invalid input",
    [SJ_ENOTFOUND] = "not found",
    [SJ_ECONFLICT] = "conflicting state",
    [SJ_EDB] = "database error",
    [SJ_ETOOBIG] = "size limit exceeded",
    [SJ_EIO] = "input/output error",
    [SJ_ELOST] = "lease lost",
    [SJ_ETRANSIENT] = "transient upstream failure",
    [SJ_EPERMANENT] = "permanent upstream failure",
    [SJ_ECONFIG] = "invalid configuration",
    [SJ_ELIMIT] = "rate limit reached",
    [SJ_EQUOTA] = "quota reached",
};

const char *
sj_strerror(enum sj_err e)
{
	if ((unsigned)e >= SJ_ERR_MAX)
		return "unknown error";
	return sj_errstr[e];
}
