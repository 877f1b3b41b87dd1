/*
 * Who is asking.  The Authorization header is read through req_param
 * (HTTP_AUTHORIZATION, never the environment) and resolved by
 * auth_bearer(); any token that does not resolve gets the same 401, so a
 * client cannot tell a forged token from an expired or revoked one.
 */
#include "req_auth.h"

#include "auth.h"
#include "err.h"

int
req_user(struct req *r, struct user *u)
{
	const char *h = req_param(r, "HTTP_AUTHORIZATION");
	enum sj_err e;

	if (h == NULL || *h == '\0')
		return 0;
	e = auth_bearer(r->db, h, u);
	if (e == SJ_OK)
		return 1;
	if (e == SJ_EINVAL || e == SJ_ENOTFOUND)
		req_error(r, 401, "UNAUTHORIZED", "Invalid or expired token",
			  NULL);
	else
		req_fail(r, e);
	return -1;
}

int
req_require(struct req *r, struct user *u, int admin)
{
	int got = req_user(r, u);

	if (got < 0)
		return -1;
	if (got == 0) {
		req_error(r, 401, "UNAUTHORIZED", "Authentication required",
			  NULL);
		return -1;
	}
	if (admin && u->role != ROLE_ADMIN) {
		req_error(r, 403, "FORBIDDEN", "Admin access required", NULL);
		return -1;
	}
	return 0;
}
