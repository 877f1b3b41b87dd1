/*
 * The auth endpoint family through nginx: login, me, logout, register,
 * the sysadmin tool's user commands, and the bad actors: wrong and
 * unknown credentials alike, forged, revoked and expired tokens, bad
 * bodies that write nothing, wrong methods.
 *
 * nginx slows the login route down per client address (limit_req, 429);
 * every test here shares 127.0.0.1, so login calls wait and retry on 429.
 *
 * Environment: BASE_URL, DATABASE_URL, STORYJOBSCTL.
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "itest.h"

#define BAD_TOKEN "sjt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static void
login(const char *email, const char *pw, struct resp *r)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}",
		 email, pw);
	http_json_patient("POST", "/api/auth/login", NULL, body, r);
}

static void
add_user(const char *email, const char *pw, int admin)
{
	const char *args[] = {"user", "add", email, admin ? "--admin" : NULL,
			      NULL};
	char line[300];

	snprintf(line, sizeof(line), "%s\n", pw);
	assert_int_equal(itest_ctl(line, args), 0);
}

/* Adds a user and logs in; token receives the token. */
static void
user_token(const char *email, const char *pw, int admin, char token[128])
{
	struct resp r;

	add_user(email, pw, admin);
	login(email, pw, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(jstr(r.json, "token"));
	snprintf(token, 128, "%s", jstr(r.json, "token"));
	resp_free(&r);
}

static void
sql_do(const char *sql)
{
	PGresult *res = PQexec(itest_pg, sql);

	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
}

static void
me_status(const char *token, long status)
{
	struct resp r;

	http_json("GET", "/api/auth/me", token, NULL, &r);
	if (status == 401)
		expect_error(&r, 401, "UNAUTHORIZED",
			     token ? "Invalid or expired token"
				   : "Authentication required");
	else
		assert_int_equal(r.status, status);
	resp_free(&r);
}

static void
test_login_me_logout(void **state)
{
	struct json_object *u;
	char token[128];
	regex_t iso;
	struct resp r;

	(void)state;
	add_user("auth-one@example.com", "password-one", 0);
	login("Auth-One@Example.com", "password-one", &r);
	assert_int_equal(r.status, 200);
	snprintf(token, sizeof(token), "%s", jstr(r.json, "token"));
	assert_int_equal(strlen(token), 47);
	assert_int_equal(strncmp(token, "sjt_", 4), 0);
	assert_int_equal(regcomp(&iso,
				 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"
				 ":[0-9]{2}(\\.[0-9]+)?Z$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	assert_int_equal(regexec(&iso, jstr(r.json, "expiresAt"), 0, NULL, 0),
			 0);
	regfree(&iso);
	assert_true(json_object_object_get_ex(r.json, "user", &u));
	assert_true(jint(u, "id") > 0);
	assert_string_equal(jstr(u, "email"), "auth-one@example.com");
	assert_string_equal(jstr(u, "role"), "user");
	resp_free(&r);

	http_json("GET", "/api/auth/me", token, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "email"), "auth-one@example.com");
	assert_string_equal(jstr(r.json, "role"), "user");
	assert_true(jint(r.json, "id") > 0);
	resp_free(&r);

	http_json("POST", "/api/auth/logout", token, NULL, &r);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.body.len, 0);
	resp_free(&r);
	/* revoked at once */
	me_status(token, 401);
	http_json("POST", "/api/auth/logout", token, NULL, &r);
	expect_error(&r, 401, "UNAUTHORIZED", NULL);
	resp_free(&r);
	http_json("POST", "/api/auth/logout", NULL, NULL, &r);
	expect_error(&r, 401, "UNAUTHORIZED", NULL);
	resp_free(&r);
}

static void
test_admin_role(void **state)
{
	char token[128];
	struct resp r;

	(void)state;
	user_token("auth-admin@example.com", "password-admin", 1, token);
	http_json("GET", "/api/auth/me", token, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "role"), "admin");
	resp_free(&r);
}

/* Wrong password and unknown email: the same answer, nothing written. */
static void
test_login_failures(void **state)
{
	long long before;
	struct resp a, b;

	(void)state;
	add_user("auth-two@example.com", "password-two", 0);
	before = sql_ll("SELECT count(*) FROM sessions");
	login("auth-two@example.com", "password-wrong", &a);
	expect_error(&a, 401, "UNAUTHORIZED", "Invalid email or password");
	login("auth-nobody@example.com", "password-two", &b);
	expect_error(&b, 401, "UNAUTHORIZED", "Invalid email or password");
	assert_string_equal(json_object_to_json_string(a.json),
			    json_object_to_json_string(b.json));
	resp_free(&a);
	resp_free(&b);
	assert_int_equal(sql_ll("SELECT count(*) FROM sessions"), before);
}

static void
test_bad_tokens(void **state)
{
	static const char *const headers[] = {
	    "Authorization: Bearer " BAD_TOKEN,
	    "Authorization: Bearer garbage",
	    "Authorization: Bearer sjt_' OR '1'='1",
	    "Authorization: Basic dXNlcjpwYXNzd29yZA==",
	    "Authorization: Bearer",
	};
	struct resp r;

	(void)state;
	me_status(NULL, 401);
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		const char *h[] = {headers[i], NULL};

		http("GET", "/api/auth/me", h, NULL, 0, &r);
		expect_error(&r, 401, "UNAUTHORIZED",
			     strcmp(headers[i], "Authorization: Bearer") == 0
				 ? NULL
				 : "Invalid or expired token");
		resp_free(&r);
	}
}

static void
test_expired_token(void **state)
{
	char token[128];

	(void)state;
	user_token("auth-exp@example.com", "password-exp", 0, token);
	me_status(token, 200);
	sql_do("UPDATE sessions SET expires_at = now() - interval '1 second' "
	       "WHERE user_id = (SELECT id FROM users "
	       "WHERE email = 'auth-exp@example.com')");
	me_status(token, 401);
}

/* storyjobsctl user: passwd revokes sessions; errors exit 1 or 64. */
static void
test_ctl_users(void **state)
{
	const char *passwd[] = {"user", "passwd", "auth-ctl@example.com", NULL};
	const char *dup[] = {"user", "add", "AUTH-CTL@example.com", NULL};
	const char *ghost[] = {"user", "passwd", "auth-ghost@example.com",
			       NULL};
	const char *bad[] = {"user", "frobnicate", NULL};
	char token[128];
	struct resp r;

	(void)state;
	user_token("auth-ctl@example.com", "password-ctl", 0, token);
	assert_int_equal(itest_ctl("password-new\n", passwd), 0);
	me_status(token, 401);
	login("auth-ctl@example.com", "password-ctl", &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	login("auth-ctl@example.com", "password-new", &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	assert_int_equal(itest_ctl("password-x\n", dup), 1);
	assert_int_equal(itest_ctl("password-x\n", ghost), 1);
	assert_int_equal(itest_ctl("short\n", passwd), 1);
	assert_int_equal(itest_ctl("", bad), 64);
}

/* Bad bodies on login and register: 400/415, no user or session row. */
static void
test_bad_input(void **state)
{
	static const struct {
		const char *path, *body;
		long status;
	} cases[] = {
	    {"/api/auth/login", "{\"email\":", 400},
	    {"/api/auth/login", "{\"email\":\"a@b.c\",\"password\":\"x\"} x",
	     400},
	    {"/api/auth/login", "[]", 400},
	    {"/api/auth/login", "{\"email\":5,\"password\":\"password1\"}",
	     400},
	    {"/api/auth/login", "{\"email\":\"a@b.c\",\"password\":true}", 400},
	    {"/api/auth/login", "{\"password\":\"password1\"}", 400},
	    {"/api/auth/login", "{\"email\":\"a@b.c\"}", 400},
	    {"/api/auth/register", "{\"email\":\"a@b.c\",", 400},
	    {"/api/auth/register", "{\"email\":[],\"password\":\"password1\"}",
	     400},
	    {"/api/auth/register", "{\"email\":\"reg-x@b.c\"}", 400},
	    {"/api/auth/register",
	     "{\"email\":\"reg-y@b.c\",\"password\":\"short\"}", 400},
	    {"/api/auth/register",
	     "{\"email\":\"not an email\",\"password\":\"password1\"}", 400},
	    {"/api/auth/register",
	     "{\"email\":\"x'); DROP TABLE users;--@b.c\",\"password\":1}",
	     400},
	};
	long long users = sql_ll("SELECT count(*) FROM users");
	long long sessions = sql_ll("SELECT count(*) FROM sessions");
	int signup;
	struct resp r;

	(void)state;
	http_json("POST", "/api/auth/register", NULL, "{", &r);
	signup = r.status != 404;
	resp_free(&r);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int reg = strstr(cases[i].path, "register") != NULL;

		http_json_patient("POST", cases[i].path, NULL, cases[i].body,
				  &r);
		if (reg && !signup)
			expect_error(&r, 404, "NOT_FOUND", NULL);
		else
			expect_error(&r, cases[i].status, "INVALID_INPUT",
				     NULL);
		resp_free(&r);
	}
	{
		const char *h[] = {"Content-Type: text/plain", NULL};

		http_patient("POST", "/api/auth/login", h,
			     "{\"email\":\"a@b.c\",\"password\":\"password1\"}",
			     -1, &r);
		expect_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE", NULL);
		resp_free(&r);
	}
	assert_int_equal(sql_ll("SELECT count(*) FROM users"), users);
	assert_int_equal(sql_ll("SELECT count(*) FROM sessions"), sessions);
}

/*
 * Text PostgreSQL would refuse (it was a 503 DATABASE_ERROR) and unpaired
 * surrogate escapes (stored as U+FFFD) in login and register bodies: 400
 * INVALID_INPUT with the reason, and no user or session row.  The email
 * of a real user is used, so a login that got through would succeed.
 */
static void
test_bad_text(void **state)
{
	static const struct {
		const char *path, *body, *error;
	} cases[] = {
	    {"/api/auth/login",
	     "{\"email\":\"text@example.com\",\"password\":"
	     "\"pass\xc0\xafword\"}",
	     "Invalid UTF-8 in JSON"},
	    {"/api/auth/login",
	     "{\"email\":\"text\xed\xa0\x80@example.com\",\"password\":"
	     "\"password-text\"}",
	     "Invalid UTF-8 in JSON"},
	    {"/api/auth/login",
	     "{\"email\":\"text@example.com\",\"password\":\"\xf4\x90\x80\x80"
	     "password\"}",
	     "Invalid UTF-8 in JSON"},
	    {"/api/auth/login",
	     "{\"email\":\"text@example.com\",\"password\":\"password-"
	     "tex\xc3\"}",
	     "Invalid UTF-8 in JSON"},
	    {"/api/auth/login",
	     "{\"email\":\"text@example.com\",\"password\":"
	     "\"\\ud800password\"}",
	     "Unpaired surrogate escape in JSON string"},
	    {"/api/auth/login",
	     "{\"email\":\"\\udfff@example.com\",\"password\":\"password-"
	     "text\"}",
	     "Unpaired surrogate escape in JSON string"},
	    {"/api/auth/register",
	     "{\"email\":\"new-\xc0\xae@example.com\",\"password\":"
	     "\"password1\"}",
	     "Invalid UTF-8 in JSON"},
	    {"/api/auth/register",
	     "{\"email\":\"new-text@example.com\",\"password\":"
	     "\"\\ud83dpass1\"}",
	     "Unpaired surrogate escape in JSON string"},
	};
	long long users, sessions;
	struct resp r;

	(void)state;
	add_user("text@example.com", "password-text", 0);
	users = sql_ll("SELECT count(*) FROM users");
	sessions = sql_ll("SELECT count(*) FROM sessions");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		http_json_patient("POST", cases[i].path, NULL, cases[i].body,
				  &r);
		if (r.status != 400 ||
		    strcmp(r.ctype, "application/json; charset=utf-8") != 0 ||
		    jstr(r.json, "code") == NULL ||
		    strcmp(jstr(r.json, "code"), "INVALID_INPUT") != 0 ||
		    jstr(r.json, "error") == NULL ||
		    strcmp(jstr(r.json, "error"), cases[i].error) != 0)
			fail_msg("row %zu: %s -> %ld %s", i, cases[i].path,
				 r.status, r.body.data ? r.body.data : "");
		resp_free(&r);
	}
	assert_int_equal(sql_ll("SELECT count(*) FROM users"), users);
	assert_int_equal(sql_ll("SELECT count(*) FROM sessions"), sessions);
	/* the same user with clean text logs in */
	login("text@example.com", "password-text", &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static void
test_register(void **state)
{
	const char *ok = "{\"email\":\" Reg-One@Example.com \","
			 "\"password\":\"password-reg\"}";
	struct resp r;

	(void)state;
	http_json("POST", "/api/auth/register", NULL, ok, &r);
	if (r.status == 404) {
		/* ALLOW_SIGNUP off: the route does not exist */
		expect_error(&r, 404, "NOT_FOUND", NULL);
		resp_free(&r);
		assert_int_equal(sql_ll("SELECT count(*) FROM users "
					"WHERE email = 'reg-one@example.com'"),
				 0);
		return;
	}
	assert_int_equal(r.status, 201);
	assert_true(jint(r.json, "id") > 0);
	assert_string_equal(jstr(r.json, "email"), "reg-one@example.com");
	assert_string_equal(jstr(r.json, "role"), "user");
	resp_free(&r);
	http_json("POST", "/api/auth/register", NULL,
		  "{\"email\":\"REG-ONE@example.com\","
		  "\"password\":\"password-other\"}",
		  &r);
	expect_error(&r, 409, "CONFLICT", NULL);
	resp_free(&r);
	login("reg-one@example.com", "password-reg", &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static void
test_methods(void **state)
{
	struct resp r;

	(void)state;
	http_patient("GET", "/api/auth/login", NULL, NULL, 0, &r);
	expect_error(&r, 405, "INVALID_INPUT", NULL);
	resp_free(&r);
	http("GET", "/api/auth/logout", NULL, NULL, 0, &r);
	expect_error(&r, 405, "INVALID_INPUT", NULL);
	resp_free(&r);
	http_json("DELETE", "/api/auth/me", NULL, NULL, &r);
	expect_error(&r, 405, "INVALID_INPUT", NULL);
	resp_free(&r);
	http("GET", "/api/auth/nope", NULL, NULL, 0, &r);
	expect_error(&r, 404, "NOT_FOUND", NULL);
	resp_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_login_me_logout),
	    cmocka_unit_test(test_admin_role),
	    cmocka_unit_test(test_login_failures),
	    cmocka_unit_test(test_bad_tokens),
	    cmocka_unit_test(test_expired_token),
	    cmocka_unit_test(test_ctl_users),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_bad_text),
	    cmocka_unit_test(test_register),
	    cmocka_unit_test(test_methods),
	};
	int rc;

	itest_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	itest_done();
	return rc;
}
