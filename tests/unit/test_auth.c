/*
 * Users, passwords and sessions against a real PostgreSQL: the stored
 * hash format, verification, length caps, case-insensitive uniqueness,
 * login failures that look alike (same answer, similar time), tokens that
 * resolve, expire and are revoked; housekeeping deletes expired sessions
 * and stale temporary files of the media folder; the per-account login
 * delays (their schedules alone, then counted in the database).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "health.h"
#include "login_backoff.h"
#include "media.h"
#include "testdb.h"

TESTDB_GROUP_FIXTURE

static int
fresh(void **state)
{
	(void)state;
	testdb_sql(side, "TRUNCATE users, sessions CASCADE");
	return 0;
}

static long long
sql_count_users(void)
{
	return testdb_ll(side, "SELECT count(*) FROM users");
}

static void
add_user(const char *email, const char *pw, enum user_role role, struct user *u)
{
	const char *msg = NULL;

	assert_int_equal(auth_user_create(db, email, pw, role, u, &msg), SJ_OK);
}

static void
login_ok(const char *email, const char *pw, char token[AUTH_TOKEN_MAX],
	 struct user *u)
{
	int64_t exp = 0;

	assert_int_equal(auth_login(db, email, pw, token, &exp, u), SJ_OK);
	assert_true(exp > (int64_t)time(NULL) * 1000);
}

static void
bearer(const char *token, char *h, size_t sz)
{
	snprintf(h, sz, "Bearer %s", token);
}

static void
test_hash_format(void **state)
{
	char h[AUTH_HASH_MAX], h2[AUTH_HASH_MAX];
	const char *p;
	int dollars = 0;

	(void)state;
	assert_int_equal(auth_hash_password("correct horse", h), SJ_OK);
	assert_int_equal(strncmp(h, "scrypt$15$8$1$", 14), 0);
	for (p = h; *p; p++)
		dollars += *p == '$';
	assert_int_equal(dollars, 5);
	/* 16-byte salt: 24 chars of base64; 32-byte key: 44 */
	assert_int_equal(strlen(h), 14 + 24 + 1 + 44);
	assert_int_equal(auth_verify_password("correct horse", h), SJ_OK);
	assert_int_equal(auth_verify_password("correct horsf", h),
			 SJ_ENOTFOUND);
	/* a fresh salt every time */
	assert_int_equal(auth_hash_password("correct horse", h2), SJ_OK);
	assert_string_not_equal(h, h2);
	assert_int_equal(auth_verify_password("correct horse", "plain"),
			 SJ_EINVAL);
	assert_int_equal(
	    auth_verify_password("correct horse", "scrypt$15$8$1$AA==$AA=="),
	    SJ_EINVAL);
}

static void
test_password_caps(void **state)
{
	char pw[AUTH_PASSWORD_MAX + 2], h[AUTH_HASH_MAX];
	const char *msg = NULL;
	struct user u;

	(void)state;
	memset(pw, 'a', sizeof(pw) - 1);
	pw[sizeof(pw) - 1] = '\0'; /* 257 bytes */
	assert_int_equal(auth_hash_password(pw, h), SJ_EINVAL);
	assert_int_equal(auth_user_create(db, "a@b.c", pw, ROLE_USER, &u, &msg),
			 SJ_EINVAL);
	assert_string_equal(msg, "Password must be 8 to 256 characters");
	pw[AUTH_PASSWORD_MAX] = '\0'; /* 256 bytes: allowed */
	assert_int_equal(auth_hash_password(pw, h), SJ_OK);
	assert_int_equal(auth_hash_password("short", h), SJ_EINVAL);
	assert_int_equal(
	    auth_user_create(db, "a@b.c", "1234567", ROLE_USER, &u, &msg),
	    SJ_EINVAL);
	assert_int_equal(sql_count_users(), 0);
}

static void
test_email_rules(void **state)
{
	static const char *const bad[] = {
	    "",	  "ab",	     "nobody",	 "a@@b.c",    "a@b@c",	  "@b.c",
	    "a@", "a b@c.d", "a\tb@c.d", "a\x01@c.d", "a@b.c\x7f"};
	char longer[300];
	const char *msg = NULL;
	struct user u;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg = NULL;
		assert_int_equal(auth_user_create(db, bad[i], "password1",
						  ROLE_USER, &u, &msg),
				 SJ_EINVAL);
		assert_string_equal(msg, "Invalid email address");
	}
	memset(longer, 'a', sizeof(longer));
	memcpy(longer + 250, "@b.co", 6); /* 255 bytes */
	assert_int_equal(
	    auth_user_create(db, longer, "password1", ROLE_USER, &u, &msg),
	    SJ_EINVAL);
	assert_int_equal(sql_count_users(), 0);
	/* trimmed and lowercased */
	add_user("  Mixed.Case@Example.COM \t", "password1", ROLE_ADMIN, &u);
	assert_string_equal(u.email, "mixed.case@example.com");
	assert_int_equal(u.role, ROLE_ADMIN);
	assert_true(u.id > 0);
}

static void
test_duplicate_email(void **state)
{
	const char *msg = NULL;
	struct user u;

	(void)state;
	add_user("dup@example.com", "password1", ROLE_USER, &u);
	assert_int_equal(auth_user_create(db, "DUP@Example.com", "password2",
					  ROLE_USER, &u, &msg),
			 SJ_ECONFLICT);
	assert_int_equal(sql_count_users(), 1);
}

static void
test_login(void **state)
{
	char token[AUTH_TOKEN_MAX], h[128];
	struct user u, v, w;
	int64_t exp = 0;

	(void)state;
	add_user("login@example.com", "password1", ROLE_USER, &u);
	login_ok("Login@Example.com", "password1", token, &v);
	assert_int_equal(v.id, u.id);
	assert_string_equal(v.email, "login@example.com");
	assert_int_equal(strlen(token), 4 + 43);
	assert_int_equal(strncmp(token, "sjt_", 4), 0);
	assert_int_equal(strspn(token + 4, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "abcdefghijklmnopqrstuvwxyz"
					   "0123456789-_"),
			 43);
	/* only the digest is stored */
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM sessions "
					 "WHERE length(token_hash) = 32"),
			 1);
	bearer(token, h, sizeof(h));
	assert_int_equal(auth_bearer(db, h, &w), SJ_OK);
	assert_int_equal(w.id, u.id);
	assert_int_equal(w.role, ROLE_USER);
	assert_int_equal(
	    auth_login(db, "login@example.com", "password2", token, &exp, &v),
	    SJ_ENOTFOUND);
	assert_int_equal(
	    auth_login(db, "nobody@example.com", "password1", token, &exp, &v),
	    SJ_ENOTFOUND);
	assert_int_equal(
	    auth_login(db, "not-an-email", "password1", token, &exp, &v),
	    SJ_ENOTFOUND);
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM sessions"), 1);
}

static void
test_bearer_malformed(void **state)
{
	static const char *const invalid[] = {"",	 "Bearer",
					      "Bearer ", "Basic dXNlcjpwYXNz",
					      "token",	 "Bearer   "};
	static const char *const unknown[] = {
	    "Bearer sjt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "Bearer sjt_short", "Bearer x' OR '1'='1",
	    "Bearer sjt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+"};
	struct user u;

	(void)state;
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		assert_int_equal(auth_bearer(db, invalid[i], &u), SJ_EINVAL);
	assert_int_equal(auth_bearer(db, NULL, &u), SJ_EINVAL);
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		assert_int_equal(auth_bearer(db, unknown[i], &u), SJ_ENOTFOUND);
	assert_int_equal(auth_logout(db, "Basic abc"), SJ_EINVAL);
	assert_int_equal(auth_logout(db, unknown[0]), SJ_ENOTFOUND);
}

static void
test_expired_token(void **state)
{
	char token[AUTH_TOKEN_MAX], h[128];
	struct user u;

	(void)state;
	add_user("exp@example.com", "password1", ROLE_USER, &u);
	login_ok("exp@example.com", "password1", token, &u);
	bearer(token, h, sizeof(h));
	assert_int_equal(auth_bearer(db, h, &u), SJ_OK);
	testdb_sql(side, "UPDATE sessions SET expires_at = "
			 "now() - interval '1 second'");
	assert_int_equal(auth_bearer(db, h, &u), SJ_ENOTFOUND);
	assert_int_equal(auth_logout(db, h), SJ_ENOTFOUND);
}

/* A file in dir with mtime age_s seconds ago. */
static void
aged_file(const char *dir, const char *name, long age_s)
{
	char path[512];
	struct timespec ts[2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	assert_true(fputs("x", f) >= 0);
	assert_int_equal(fclose(f), 0);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age_s;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static bool
present(const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

/* Removes the files test_housekeep made, then dir. */
static void
rm_files(const char *dir)
{
	static const char *const names[] = {
	    ".tmp-img_a.png-12-0", ".tmp-img_b.png-12-1", "img_c.png", ".keep"};
	char path[512];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		(void)unlink(path);
	}
	assert_int_equal(rmdir(dir), 0);
}

/*
 * Of three sessions, the expired one deleted and the two live ones kept; in the
 * media folder a temporary file two hours old removed, and a fresh one, an old
 * real medium and an old dot file of another kind kept.
 */
static void
test_housekeep(void **state)
{
	char token[AUTH_TOKEN_MAX], h[128], dir[] = "/tmp/sj-hk-XXXXXX";
	struct housekeep hk;
	struct user u;

	(void)state;
	add_user("hk@example.com", "password1", ROLE_USER, &u);
	login_ok("hk@example.com", "password1", token, &u);
	login_ok("hk@example.com", "password1", token, &u);
	login_ok("hk@example.com", "password1", token, &u);
	bearer(token, h, sizeof(h));
	testdb_sql(side, "UPDATE sessions SET expires_at = now() - interval "
			 "'1 second' WHERE ctid = (SELECT min(ctid) FROM "
			 "sessions)");
	assert_non_null(mkdtemp(dir));
	aged_file(dir, ".tmp-img_a.png-12-0", 7200);
	aged_file(dir, ".tmp-img_b.png-12-1", 60);
	aged_file(dir, "img_c.png", 7200);
	aged_file(dir, ".keep", 7200);
	assert_int_equal(health_housekeep(db, dir, &hk), SJ_OK);
	assert_int_equal(hk.sessions, 1);
	assert_int_equal(hk.tmpfiles, 1);
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM sessions WHERE "
					 "expires_at < now()"),
			 0);
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM sessions"), 2);
	assert_int_equal(auth_bearer(db, h, &u), SJ_OK);
	assert_false(present(dir, ".tmp-img_a.png-12-0"));
	assert_true(present(dir, ".tmp-img_b.png-12-1"));
	assert_true(present(dir, "img_c.png"));
	assert_true(present(dir, ".keep"));
	/* a second pass finds nothing; a missing folder is no error */
	assert_int_equal(health_housekeep(db, dir, &hk), SJ_OK);
	assert_int_equal(hk.sessions + hk.tmpfiles, 0);
	assert_int_equal(media_sweep_tmp("/nonexistent/sj-hk", 1, &hk.tmpfiles),
			 SJ_OK);
	rm_files(dir);
}

static void
test_logout_revokes(void **state)
{
	char t1[AUTH_TOKEN_MAX], t2[AUTH_TOKEN_MAX], h1[128], h2[128];
	struct user u;

	(void)state;
	add_user("out@example.com", "password1", ROLE_USER, &u);
	login_ok("out@example.com", "password1", t1, &u);
	login_ok("out@example.com", "password1", t2, &u);
	assert_string_not_equal(t1, t2);
	bearer(t1, h1, sizeof(h1));
	bearer(t2, h2, sizeof(h2));
	assert_int_equal(auth_logout(db, h1), SJ_OK);
	assert_int_equal(auth_bearer(db, h1, &u), SJ_ENOTFOUND);
	assert_int_equal(auth_logout(db, h1), SJ_ENOTFOUND);
	/* the other session lives on */
	assert_int_equal(auth_bearer(db, h2, &u), SJ_OK);
}

static void
test_set_password_revokes(void **state)
{
	char token[AUTH_TOKEN_MAX], h[128];
	const char *msg = NULL;
	struct user u;
	int64_t exp;

	(void)state;
	add_user("pw@example.com", "password1", ROLE_USER, &u);
	login_ok("pw@example.com", "password1", token, &u);
	bearer(token, h, sizeof(h));
	assert_int_equal(
	    auth_set_password(db, "PW@example.com", "password2", &msg), SJ_OK);
	assert_int_equal(auth_bearer(db, h, &u), SJ_ENOTFOUND);
	assert_int_equal(
	    auth_login(db, "pw@example.com", "password1", token, &exp, &u),
	    SJ_ENOTFOUND);
	login_ok("pw@example.com", "password2", token, &u);
	assert_int_equal(
	    auth_set_password(db, "nobody@example.com", "password3", &msg),
	    SJ_ENOTFOUND);
	assert_int_equal(auth_set_password(db, "pw@example.com", "short", &msg),
			 SJ_EINVAL);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median time of 5 failed logins of email/pw. */
static double
median_login(const char *email, const char *pw)
{
	char token[AUTH_TOKEN_MAX];
	double t[5];
	struct user u;
	int64_t exp;

	for (int i = 0; i < 5; i++) {
		double t0 = now_s();

		assert_int_equal(auth_login(db, email, pw, token, &exp, &u),
				 SJ_ENOTFOUND);
		t[i] = now_s() - t0;
	}
	qsort(t, 5, sizeof(t[0]), cmp_double);
	return t[2];
}

static void
test_login_timing(void **state)
{
	double unknown, wrong;
	struct user u;

	(void)state;
	add_user("time@example.com", "password1", ROLE_USER, &u);
	unknown = median_login("ghost@example.com", "password1");
	wrong = median_login("time@example.com", "wrongpass");
	print_message("median unknown %.1f ms, wrong password %.1f ms\n",
		      unknown * 1e3, wrong * 1e3);
	assert_true(unknown < wrong * 3);
	assert_true(wrong < unknown * 3);
	/* both did the scrypt work */
	assert_true(unknown > 0.005 && wrong > 0.005);
}

/* The schedules: free attempts, then doublings to the cap, cut at n. */
static void
test_backoff_schedule(void **state)
{
	static const int64_t want[] = {0, 0,  0,  0,  1,   2,	4,
				       8, 16, 32, 64, 128, 256, 300};
	int64_t d[LOGIN_BACKOFF_STEPS_MAX];
	char a[64];
	size_t n;

	(void)state;
	n = login_backoff_schedule(5, 300, d, LOGIN_BACKOFF_STEPS_MAX);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(d[i], want[i]);
	/* a cap that is a power of two ends on it; 1 free: no zero */
	n = login_backoff_schedule(1, 4, d, LOGIN_BACKOFF_STEPS_MAX);
	assert_int_equal(n, 3);
	assert_int_equal(d[0], 1);
	assert_int_equal(d[2], 4);
	/* a cap of 0 never waits */
	n = login_backoff_schedule(3, 0, d, LOGIN_BACKOFF_STEPS_MAX);
	assert_int_equal(n, 3);
	assert_int_equal(d[0] + d[1] + d[2], 0);
	/* cut at n */
	assert_int_equal(login_backoff_schedule(100, 86400, d, 7), 7);
	/* the largest settings fit the array */
	assert_true(
	    login_backoff_schedule(100, 86400, d, LOGIN_BACKOFF_STEPS_MAX) <
	    LOGIN_BACKOFF_STEPS_MAX);
	assert_int_equal(login_backoff_array(3, 5, a, sizeof(a)), SJ_OK);
	assert_string_equal(a, "{0,0,1,2,4,5}");
	assert_int_equal(login_backoff_array(3, 5, a, 8), SJ_ETOOBIG);
	assert_int_equal(login_backoff_array(3, 5, a, 13), SJ_ETOOBIG);
	assert_int_equal(login_backoff_array(3, 5, a, 14), SJ_OK);
}

static int
fresh_backoff(void **state)
{
	(void)state;
	testdb_sql(side, "TRUNCATE users, sessions, login_backoff CASCADE");
	return 0;
}

/* One attempt on email from client under c; the seconds to wait. */
static int
attempt(const struct cfg *c, const char *email, const char *client)
{
	int w = -1;

	assert_int_equal(login_backoff_attempt(db, c, email, client, &w),
			 SJ_OK);
	return w;
}

/* Moves every delay and attempt of login_backoff back by secs. */
static void
backoff_later(int secs)
{
	char sql[160];

	snprintf(sql, sizeof(sql),
		 "UPDATE login_backoff SET until = until - interval '%d s', "
		 "last_at = last_at - interval '%d s'",
		 secs, secs);
	testdb_sql(side, sql);
}

/*
 * Three free attempts, then growing waits: the failing address's grows
 * past the account's cap, which every other address sees; a refused
 * attempt is not counted; an unknown email is treated the same; a success
 * resets the account and that address only; case does not matter.
 */
static void
test_backoff_weighs_client(void **state)
{
	struct cfg c = cfg;
	/* the unknown email first: the victim's delays are checked after */
	static const char *const emails[] = {"ghost@example.com",
					     "victim@example.com"};
	struct user u;

	(void)state;
	c.login_backoff_free = 3;
	c.login_backoff_max_s = 300;
	c.login_backoff_account_max_s = 1;
	add_user("victim@example.com", "password1", ROLE_USER, &u);
	for (int k = 0; k < 2; k++) {
		const char *e = emails[k];

		assert_int_equal(attempt(&c, e, "127.0.0.2"), 0);
		assert_int_equal(attempt(&c, e, "127.0.0.2"), 0);
		assert_int_equal(attempt(&c, e, "127.0.0.2"), 0);
		/* the 3rd set 1 s for the address and the account */
		assert_int_equal(attempt(&c, e, "127.0.0.2"), 1);
		assert_int_equal(attempt(&c, e, "127.0.0.3"), 1);
		backoff_later(1);
		assert_int_equal(attempt(&c, e, "127.0.0.2"), 0); /* 2 s */
		backoff_later(2);
		assert_int_equal(attempt(&c, e, "127.0.0.2"), 0); /* 4 s */
		/* the guesser waits 4 s, anyone else the account's 1 */
		assert_int_equal(attempt(&c, e, "127.0.0.2"), 4);
		assert_int_equal(attempt(&c, e, "127.0.0.4"), 1);
	}
	/* refusals were not counted: 5 attempts each */
	assert_int_equal(testdb_ll(side,
				   "SELECT count(*) FROM login_backoff WHERE "
				   "client = '' AND failures = 5"),
			 2);
	assert_int_equal(testdb_ll(side,
				   "SELECT count(*) FROM login_backoff WHERE "
				   "client = '127.0.0.2' AND failures = 5"),
			 2);
	/* another spelling of the same account shares its count */
	assert_int_equal(attempt(&c, " VICTIM@Example.COM ", "127.0.0.2"), 4);
	/* a success forgets the account's count and that address's, not
	 * others', and keeps that address as known (sql/014) */
	backoff_later(1);
	assert_int_equal(attempt(&c, "victim@example.com", "127.0.0.3"), 0);
	assert_int_equal(
	    login_backoff_success(db, "victim@example.com", "127.0.0.3"),
	    SJ_OK);
	assert_int_equal(testdb_ll(side,
				   "SELECT count(*) FROM login_backoff WHERE "
				   "client = ''"),
			 1); /* the ghost's account row */
	assert_int_equal(testdb_ll(side,
				   "SELECT count(*) FROM login_backoff WHERE "
				   "client = '127.0.0.3' AND failures = 0 AND "
				   "known_until > now()"),
			 1);
	assert_int_equal(attempt(&c, "victim@example.com", "127.0.0.3"), 0);
	assert_int_equal(attempt(&c, "victim@example.com", "127.0.0.2"), 3);
	/* no email, no count */
	assert_int_equal(attempt(&c, "not-an-email", "127.0.0.2"), 0);
	assert_int_equal(attempt(&c, NULL, "127.0.0.2"), 0);
}

/*
 * A count idle for a day starts again; idle rows that delay nothing are
 * swept by later attempts; no address stores as "unknown".
 */
static void
test_backoff_forgets(void **state)
{
	struct cfg c = cfg;

	(void)state;
	c.login_backoff_free = 1;
	c.login_backoff_max_s = 60;
	c.login_backoff_account_max_s = 60;
	assert_int_equal(attempt(&c, "a@example.com", NULL), 0);
	assert_int_equal(attempt(&c, "a@example.com", ""), 1);
	assert_int_equal(testdb_ll(side,
				   "SELECT count(*) FROM login_backoff WHERE "
				   "client = 'unknown'"),
			 1);
	backoff_later(LOGIN_BACKOFF_FORGET_S + 10);
	assert_int_equal(attempt(&c, "a@example.com", "127.0.0.2"), 0);
	assert_int_equal(
	    testdb_ll(side, "SELECT max(failures) FROM login_backoff"), 1);
	/* the idle "unknown" row went; the account's and 127.0.0.2's stay */
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM login_backoff"),
			 2);
	assert_int_equal(attempt(&c, "b@example.com", "127.0.0.2"), 0);
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM login_backoff"),
			 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_format),
	    cmocka_unit_test_setup(test_password_caps, fresh),
	    cmocka_unit_test_setup(test_email_rules, fresh),
	    cmocka_unit_test_setup(test_duplicate_email, fresh),
	    cmocka_unit_test_setup(test_login, fresh),
	    cmocka_unit_test_setup(test_bearer_malformed, fresh),
	    cmocka_unit_test_setup(test_expired_token, fresh),
	    cmocka_unit_test_setup(test_logout_revokes, fresh),
	    cmocka_unit_test_setup(test_housekeep, fresh),
	    cmocka_unit_test_setup(test_set_password_revokes, fresh),
	    cmocka_unit_test_setup(test_login_timing, fresh),
	    cmocka_unit_test(test_backoff_schedule),
	    cmocka_unit_test_setup(test_backoff_weighs_client, fresh_backoff),
	    cmocka_unit_test_setup(test_backoff_forgets, fresh_backoff),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
