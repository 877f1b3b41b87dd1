/*
 * DESIGN
 * nginx slows logins per address (limit_req), which an attacker with
 * several addresses gets around.  Here every account gets a growing
 * delay of its own, not a lockout: a lockout would let anyone lock a
 * user out by typing wrong passwords for them.
 *
 * Two counts per account, each of the login attempts in a row that did
 * not succeed: one of the client address that made them and one of the
 * account as a whole.  The first LOGIN_BACKOFF_FREE attempts of each go
 * through at once; from then on each attempt sets a wait of 1, 2, 4, ...
 * seconds before the next is taken.  The failing client's wait grows to
 * LOGIN_BACKOFF_MAX_SECONDS (300 by default); the account's, which every
 * other client sees, only to LOGIN_BACKOFF_ACCOUNT_MAX_SECONDS (60): the
 * delay weighs the client that fails more than the others, so someone
 * guessing from one address slows to one guess in five minutes while the
 * real user, from another address, waits at most a minute after the
 * guesser's last try, and an attacker spread over many addresses gets at
 * most one guess a minute on the account.  A refused attempt is answered
 * 429 with the seconds left, without checking the password and without
 * counting (so waiting in a loop does not make it worse).  A successful
 * login resets the account's count and the client's, and makes the
 * client known to the account for 30 days (sql/014): a known client
 * waits only on its own failures, never on the account's, so a guesser
 * timing one wrong password per account delay from fresh addresses
 * cannot keep the real user out from where they logged in before.  A
 * client is what client_key() says (an IPv4 address, an IPv6 /64).  An
 * idle count is forgotten after a day.  An email no user has is counted and
 * answered exactly the same, so the answer does not tell whether an account
 * exists.
 *
 * The count is taken before the password is checked, in one call of
 * login_attempt() (sql/009) that locks the account's row: parallel
 * guesses at one account take turns and cannot all slip through while
 * the first is being verified.  The schedules are computed here and
 * passed as arrays, so the policy is this file's and testable alone.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "digest.h"
#include "auth.h"
#include "login_backoff.h"

size_t
login_backoff_schedule(int64_t nfree, int64_t cap, int64_t *out, size_t n)
{
	size_t i = 0;
	int64_t d = 1;

	if (cap < 0)
		cap = 0;
	for (; i < n && (int64_t)i + 1 < nfree; i++)
		out[i] = 0;
	if (cap == 0) {
		if (i < n)
			out[i++] = 0;
		return i;
	}
	for (; i < n; i++, d *= 2) {
		out[i] = d < cap ? d : cap;
		if (out[i] == cap)
			return i + 1;
	}
	return i;
}

enum sj_err
login_backoff_array(int64_t nfree, int64_t cap, char *out, size_t n)
{
	int64_t d[LOGIN_BACKOFF_STEPS_MAX];
	size_t k =
	    login_backoff_schedule(nfree, cap, d, LOGIN_BACKOFF_STEPS_MAX);
	size_t len = 0;
	int w;

	if (n < 3)
		return SJ_ETOOBIG;
	out[len++] = '{';
	for (size_t i = 0; i < k; i++) {
		w = snprintf(out + len, n - len, "%s%lld", i ? "," : "",
			     (long long)d[i]);
		if (w < 0 || (size_t)w >= n - len)
			return SJ_ETOOBIG;
		len += (size_t)w;
	}
	if (len + 2 > n)
		return SJ_ETOOBIG;
	out[len++] = '}';
	out[len] = '\0';
	return SJ_OK;
}

/* "\x<sha256 of the normalized email>"; SJ_EINVAL when it is no email. */
static enum sj_err
account_key(const char *email, char out[2 + 2 * SHA256_DIGEST_LENGTH + 1])
{
	char norm[AUTH_EMAIL_MAX + 1];

	if (auth_email_normalize(email, norm) != SJ_OK)
		return SJ_EINVAL;
	out[0] = '\\';
	out[1] = 'x';
	return sha256_hex(norm, strlen(norm), out + 2);
}

/* The client as stored: never "" (the account's own row), at most 64. */
static const char *
client_name(const char *client)
{
	if (client == NULL || *client == '\0' ||
	    strlen(client) > LOGIN_BACKOFF_CLIENT_MAX)
		return "unknown";
	return client;
}

static const struct db_stmt st_attempt = {
    "login_backoff_attempt",
    "SELECT login_attempt($1::bytea, $2, $3::int[], $4::int[], $5::int)", 5};

enum sj_err
login_backoff_attempt(struct db *db, const struct cfg *c, const char *email,
		      const char *client, int *retry_after_s)
{
	char key[2 + 2 * SHA256_DIGEST_LENGTH + 1], forget[16];
	char mine[LOGIN_BACKOFF_STEPS_MAX * 8],
	    all[LOGIN_BACKOFF_STEPS_MAX * 8];
	const char *params[5] = {key, client_name(client), mine, all, forget};
	PGresult *r = NULL;
	enum sj_err e;

	*retry_after_s = 0;
	if (account_key(email, key) != SJ_OK)
		return SJ_OK;
	if ((e = login_backoff_array(c->login_backoff_free,
				     c->login_backoff_max_s, mine,
				     sizeof(mine))) != SJ_OK ||
	    (e = login_backoff_array(c->login_backoff_free,
				     c->login_backoff_account_max_s, all,
				     sizeof(all))) != SJ_OK)
		return e;
	snprintf(forget, sizeof(forget), "%d", LOGIN_BACKOFF_FORGET_S);
	if ((e = db_exec(db, &st_attempt, params, &r)) != SJ_OK)
		return e;
	*retry_after_s = (int)db_ll(r, 0, 0, 0);
	PQclear(r);
	return SJ_OK;
}

/*
 * A success clears the account's count and makes the client known for
 * 30 days (sql/014): its next logins wait only on its own failures.
 */
static const struct db_stmt st_success = {
    "login_backoff_success",
    "WITH gone AS (DELETE FROM login_backoff WHERE account = $1::bytea "
    "AND client = '') INSERT INTO login_backoff (account, client, "
    "failures, until, last_at, known_until) VALUES ($1::bytea, $2, 0, "
    "now(), now(), now() + interval '30 days') ON CONFLICT (account, "
    "client) DO UPDATE SET failures = 0, until = now(), last_at = now(), "
    "known_until = EXCLUDED.known_until",
    2};

enum sj_err
login_backoff_success(struct db *db, const char *email, const char *client)
{
	char key[2 + 2 * SHA256_DIGEST_LENGTH + 1];
	const char *params[2] = {key, client_name(client)};

	if (account_key(email, key) != SJ_OK)
		return SJ_OK;
	return db_exec(db, &st_success, params, NULL);
}
