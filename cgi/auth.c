/*
 * storyjobs-auth: the auth endpoint family.
 *
 *   POST /api/auth/login      {email, password} -> token, expiresAt, user
 *   POST /api/auth/logout     (Bearer) revoke the token; 204
 *   GET  /api/auth/me         (Bearer) the user
 *   POST /api/auth/register   {email, password} when ALLOW_SIGNUP
 *
 * Every wrong email/password pair answers the same 401 after the same
 * scrypt work (see lib/auth.c).  Repeated failures are slowed down per
 * client address by nginx's limit_req on the login location, and per
 * account here (lib/login_backoff.c): a login that must wait is answered
 * 429 with retryAfter before the password is looked at, the same for an
 * email no user has.
 */
#include <string.h>

#include "auth.h"
#include "client.h"
#include "job.h"
#include "jsonv.h"
#include "log.h"
#include "login_backoff.h"
#include "req.h"
#include "req_auth.h"
#include "server.h"

#define PROG "storyjobs-auth"

/* {id, email, role}; NULL on allocation failure. */
static struct json_object *
user_json(const struct user *u)
{
	struct json_object *o = json_object_new_object();

	if (o == NULL || jv_add_i64(o, "id", u->id) != SJ_OK ||
	    jv_add_str(o, "email", u->email) != SJ_OK ||
	    jv_add_str(o, "role", auth_role_name(u->role)) != SJ_OK) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/*
 * Reads {email, password} as strings.  On failure the 400 has been sent
 * and -1 is returned.  The strings are borrowed from *in (caller puts).
 */
static int
read_credentials(struct req *r, struct json_object **in, const char **email,
		 const char **password)
{
	enum sj_err e;

	if (req_read_json(r, in) != 0)
		return -1;
	e = jv_str(*in, "email", AUTH_EMAIL_MAX + 64, email);
	if (e == SJ_ENOTFOUND) {
		req_error(r, 400, "INVALID_INPUT", "email is required", NULL);
		return -1;
	}
	if (e != SJ_OK) {
		req_error(r, 400, "INVALID_INPUT",
			  e == SJ_ETOOBIG ? "Invalid email address"
					  : "email must be a string",
			  NULL);
		return -1;
	}
	e = jv_str(*in, "password", AUTH_PASSWORD_MAX, password);
	if (e == SJ_ENOTFOUND) {
		req_error(r, 400, "INVALID_INPUT", "password is required",
			  NULL);
		return -1;
	}
	if (e != SJ_OK) {
		req_error(r, 400, "INVALID_INPUT",
			  e == SJ_ETOOBIG
			      ? "Password must be 8 to 256 characters"
			      : "password must be a string",
			  NULL);
		return -1;
	}
	return 0;
}

static struct json_object *
login_json(const char *token, int64_t expires_ms, const struct user *u)
{
	struct json_object *o = json_object_new_object();
	char iso[32];

	job_iso8601(expires_ms, iso);
	if (o == NULL || jv_add_str(o, "token", token) != SJ_OK ||
	    jv_add_str(o, "expiresAt", iso) != SJ_OK ||
	    jv_add(o, "user", user_json(u)) != SJ_OK) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static void
h_login(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	struct json_object *in = NULL, *out = NULL;
	const char *email, *password;
	char token[AUTH_TOKEN_MAX];
	int64_t expires_ms = 0;
	char client[CLIENT_KEY_MAX];
	struct user u;
	enum sj_err e;
	int wait_s = 0;

	(void)caps;
	if (read_credentials(r, &in, &email, &password) != 0)
		goto out;
	/* a /64 is one client here too: its addresses share one delay */
	if (client_key(req_param(r, "REMOTE_ADDR"), client) != SJ_OK)
		log_kv(LOG_LVL_WARN, "req", r->id, "no client address",
		       LOG_STR("counted_as", client));
	e = login_backoff_attempt(r->db, r->cfg, email, client, &wait_s);
	if (e != SJ_OK) {
		req_fail(r, e);
		goto out;
	}
	if (wait_s > 0) {
		log_kv(LOG_LVL_INFO, "req", r->id, "login delayed",
		       LOG_INT("wait_s", wait_s));
		req_too_many(r, wait_s);
		goto out;
	}
	e = auth_login(r->db, email, password, token, &expires_ms, &u);
	if (e == SJ_ENOTFOUND) {
		log_req(LOG_LVL_INFO, r->id, "failed login");
		req_error(r, 401, "UNAUTHORIZED", "Invalid email or password",
			  NULL);
		goto out;
	}
	if (e != SJ_OK) {
		req_fail(r, e);
		goto out;
	}
	log_kv(LOG_LVL_INFO, "req", r->id, "login", LOG_INT("user", u.id));
	if (login_backoff_success(r->db, email, client) != SJ_OK)
		log_req(LOG_LVL_WARN, r->id, "login backoff not reset");
	out = login_json(token, expires_ms, &u);
	req_json(r, 200, out, NULL);
out:
	memset(token, 0, sizeof(token));
	json_object_put(out);
	json_object_put(in);
}

static void
h_logout(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	const char *h = req_param(r, "HTTP_AUTHORIZATION");
	enum sj_err e;

	(void)caps;
	if (h == NULL || *h == '\0') {
		req_error(r, 401, "UNAUTHORIZED", "Authentication required",
			  NULL);
		return;
	}
	e = auth_logout(r->db, h);
	if (e == SJ_EINVAL || e == SJ_ENOTFOUND) {
		req_error(r, 401, "UNAUTHORIZED", "Invalid or expired token",
			  NULL);
		return;
	}
	if (e != SJ_OK) {
		req_fail(r, e);
		return;
	}
	req_text(r, 204, "text/plain", "", 0); /* no body */
}

static void
h_me(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	struct json_object *o;
	struct user u;

	(void)caps;
	if (req_require(r, &u, 0) != 0)
		return;
	o = user_json(&u);
	req_json(r, 200, o, NULL);
	json_object_put(o);
}

static void
h_register(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	struct json_object *in = NULL, *out = NULL;
	const char *email, *password, *msg = NULL;
	struct user u;
	enum sj_err e;

	(void)caps;
	if (!r->cfg->allow_signup) {
		req_error(r, 404, "NOT_FOUND", "Not found", NULL);
		return;
	}
	if (read_credentials(r, &in, &email, &password) != 0)
		goto out;
	e = auth_user_create(r->db, email, password, ROLE_USER, &u, &msg);
	if (e == SJ_EINVAL) {
		req_error(r, 400, "INVALID_INPUT", msg, NULL);
		goto out;
	}
	if (e == SJ_ECONFLICT) {
		req_error(r, 409, "CONFLICT", "Email already registered", NULL);
		goto out;
	}
	if (e != SJ_OK) {
		req_fail(r, e);
		goto out;
	}
	log_kv(LOG_LVL_INFO, "req", r->id, "registered", LOG_INT("user", u.id));
	out = user_json(&u);
	req_json(r, 201, out, NULL);
out:
	json_object_put(out);
	json_object_put(in);
}

static const struct route routes[] = {
    {"POST", "/api/auth/login", h_login},
    {"POST", "/api/auth/logout", h_logout},
    {"GET", "/api/auth/me", h_me},
    {"POST", "/api/auth/register", h_register},
};

int
main(int argc, char **argv)
{
	return req_main(argc, argv, PROG, routes,
			sizeof(routes) / sizeof(routes[0]));
}
