/* Who is asking: the Bearer token of a request, resolved once. */
#ifndef SJ_REQ_AUTH_H
#define SJ_REQ_AUTH_H

#include "auth.h"
#include "req.h"

/*
 * 1: a valid Bearer token came and *u is its user; 0: no Authorization
 * header; -1: a bad, expired or revoked token, and the 401 has been sent.
 */
int req_user(struct req *r, struct user *u);
/*
 * Requires a login (401 UNAUTHORIZED without one) and, when admin, the
 * admin role (403 FORBIDDEN).  0: allowed; -1: the answer has been sent.
 */
int req_require(struct req *r, struct user *u, int admin);

#endif
