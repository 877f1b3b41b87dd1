/*
 * Password guessing slowed down per account, in PostgreSQL so every
 * process and host shares it (table login_backoff, sql/009).  The design
 * is in login_backoff.c.
 */
#ifndef SJ_LOGIN_BACKOFF_H
#define SJ_LOGIN_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "db.h"
#include "err.h"

/* Longest schedule: LOGIN_BACKOFF_FREE zeros, then doublings to the cap. */
#define LOGIN_BACKOFF_STEPS_MAX 160
/* A client address as stored (INET6_ADDRSTRLEN and some). */
#define LOGIN_BACKOFF_CLIENT_MAX 64
/* Failures are forgotten this long after the last attempt. */
#define LOGIN_BACKOFF_FORGET_S (24 * 3600)

/*
 * The delays of a schedule: out[i] is the wait in seconds after the
 * (i+1)-th attempt in a row that did not succeed.  The first nfree
 * attempts go through at once (nfree - 1 zeros), the one after waits 1
 * s, then 2, 4, ... up to cap, which ends the schedule (the last delay
 * repeats).  A cap of 0 never waits.  Returns the number of delays (at
 * most n; the schedule is cut there).
 */
size_t login_backoff_schedule(int64_t nfree, int64_t cap, int64_t *out,
			      size_t n);

/*
 * The schedule as a PostgreSQL array literal ("{0,0,1,2}") into out;
 * SJ_ETOOBIG when it does not fit.
 */
enum sj_err login_backoff_array(int64_t nfree, int64_t cap, char *out,
				size_t n) SJ_WUR;

/*
 * Asks whether a login on email from client may go ahead, and counts it
 * when it may (before the password is checked).  *retry_after_s is 0 to
 * go ahead, else the seconds to wait (the attempt was not counted).  An
 * email that cannot be an account's (auth's rules) is not counted:
 * SJ_OK with 0.  client: the peer address ("" or NULL counts as
 * "unknown").
 */
enum sj_err login_backoff_attempt(struct db *db, const struct cfg *c,
				  const char *email, const char *client,
				  int *retry_after_s) SJ_WUR;

/* After a successful login: forgets the account's and client's count. */
enum sj_err login_backoff_success(struct db *db, const char *email,
				  const char *client) SJ_WUR;

#endif
