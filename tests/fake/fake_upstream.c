/*
 * DESIGN: a fake OpenAI-compatible and Cloudinary-compatible server for
 * tests, on 127.0.0.1 only.
 *
 * The main thread blocks SIGTERM/SIGINT, writes the port file (atomically,
 * through a rename) once listening, and waits in ppoll() with the signals
 * unblocked, so a stop request is never lost between checks.  Each
 * accepted connection gets a detached thread (at most CONNS_MAX at once)
 * that reads keep-alive requests (fake_http.c) and routes them.
 *
 * API calls (chat, images, upload) first pop a fault mode for their path
 * (fake_state.c) and are logged before anything else happens, with the
 * request's model and top-level fields, so a test sees a call even when
 * it hangs and can check the request's shape.  GET /v1/models is
 * answered (fake_models.c) and counted but not logged as a call: workers
 * make it at start-up, at moments no test controls.  Fetches of the test
 * photos and requests that are not HTTP at all (a TLS hello) are counted
 * too, so a test can tell that nothing reached the fake.  A path the
 * fake does not serve gets OpenAI's 404 ("Invalid URL (GET /x)").  Every
 * wait for a scripted delay ends early when the client hangs up, so no
 * thread outlives its client by the delay.  The handler's answer
 * (fake_api.c) is a plain struct reply; the mode decides how it goes out: at
 * once, late, a byte a second, not at all, or replaced by a fault.  The
 * long-running modes (hang, trickle, big) poll for the client going away and
 * always close the connection afterwards.  Mode is taken before the Bearer
 * check, so a scripted fault fires whatever the credentials.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <json-c/json.h>

#include "fake.h"
#include "jsonv.h"
#include "log.h"
#include "num.h"

#define CONNS_MAX    256
#define CLOUD_MAX    128
#define BIG_LEN	     (64u << 20)
#define HANG_S	     120
#define STALL_S	     120
#define SCRIPT_MODES 1024
#define OK_JSON	     "{\"ok\":true}"

struct fake_cfg fake_cfg;

static volatile sig_atomic_t stop;
static atomic_int nconn;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- fault modes ---- */

/* Sets the reply of a mode that replaces the answer; false for others. */
static bool
fault_reply(const struct mode *m, struct reply *rep)
{
	switch (m->kind) {
	case MODE_429:
		reply_api_error(rep, 429, "requests", NULL,
				"rate_limit_exceeded",
				"Rate limit reached for requests");
		snprintf(rep->extra, sizeof(rep->extra),
			 "Retry-After: %u\r\nx-ratelimit-remaining-requests: "
			 "0\r\nx-ratelimit-reset-requests: %us\r\n",
			 m->arg, m->arg);
		return true;
	case MODE_500:
		reply_error(rep, 500, "server_error",
			    "The server had an error while processing your "
			    "request.");
		return true;
	case MODE_400:
		reply_error(rep, 400, "invalid_request_error",
			    "Scripted bad request");
		return true;
	case MODE_MALFORMED:
		reply_set(rep, 200, "application/json", "{\"choices\":[", 12);
		return true;
	default:
		return false;
	}
}

/* Waits ms, or less when the client hangs up first; true when it did. */
static bool
wait_or_gone(int fd, unsigned ms)
{
	int64_t end = num_mono_ms() + ms, left;

	while ((left = end - num_mono_ms()) > 0 && !stop)
		if (http_wait_gone(fd, left < 1000 ? (int)left : 1000))
			return true;
	return false;
}

/* Reads nothing more and answers nothing until the client closes. */
static void
run_hang(int fd)
{
	for (int i = 0; i < HANG_S; i++)
		if (http_wait_gone(fd, 1000))
			return;
}

/* Sends the head of rep, then its body one byte a second. */
static bool
run_trickle(int fd, const struct reply *rep)
{
	if (!http_send_head(fd, rep->status, rep->ctype, rep->extra,
			    rep->body.len, true))
		return false;
	for (size_t i = 0; i < rep->body.len; i++)
		if (http_wait_gone(fd, 1000) ||
		    !http_send(fd, rep->body.data + i, 1))
			return false;
	return true;
}

/* Promises BIG_LEN bytes and streams filler until done or the client goes. */
static bool
run_big(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT | POLLRDHUP};
	static const char fill[16384];
	size_t left = BIG_LEN;
	int idle = 0;

	if (!http_send_head(fd, 200, "application/json", NULL, BIG_LEN, true))
		return false;
	while (left > 0 && idle < STALL_S) {
		int rc = poll(&p, 1, 1000);
		ssize_t k;

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0 ||
		    (p.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)))
			return false;
		if (rc == 0) {
			idle++;
			continue;
		}
		k = send(fd, fill, left < sizeof(fill) ? left : sizeof(fill),
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k <= 0)
			return false;
		left -= (size_t)k;
		idle = 0;
	}
	return left == 0;
}

/* ---- API calls ---- */

static void
api_answer(const struct req *r, enum slot s, const char *cloud,
	   struct reply *rep)
{
	if (strcmp(r->method, "POST") != 0)
		reply_error(rep, 405, "invalid_request_error", "Use POST");
	else if (s == SLOT_CHAT)
		api_chat(r, rep);
	else if (s == SLOT_IMAGES)
		api_images(r, rep);
	else
		api_upload(r, cloud, rep);
}

static int
cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The model and the sorted top-level field names of a JSON request body,
 * for the call log ("" for other bodies).
 */
static void
body_summary(const struct req *r, char *model, size_t msz, char *fields,
	     size_t fsz)
{
	struct json_object *o = NULL;
	const char *keys[64], *m = NULL, *why;
	size_t n = 0, used = 0;

	model[0] = fields[0] = '\0';
	if (json_parse_strict(r->body, r->blen, JSONV_DEPTH, &o, &why) !=
		SJ_OK ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return;
	}
	json_object_object_foreach(o, k, v)
	{
		(void)v;
		if (n < sizeof(keys) / sizeof(keys[0]))
			keys[n++] = k;
	}
	qsort(keys, n, sizeof(keys[0]), cmp_key);
	for (size_t i = 0; i < n && used < fsz; i++)
		used += (size_t)snprintf(fields + used, fsz - used, "%s%s",
					 i ? "," : "", keys[i]);
	if (jv_str(o, "model", 256, &m) == SJ_OK)
		snprintf(model, msz, "%s", m);
	json_object_put(o);
}

/* The usage of a 2xx chat or image answer, into the call log. */
static void
log_usage(uint64_t id, enum slot s, const struct reply *rep)
{
	struct json_object *o, *u, *v, *data;
	struct json_tokener *tok;
	int64_t in = 0, out = 0, images = 0;

	if (s == SLOT_UPLOAD || rep->status != 200 || rep->body.len == 0 ||
	    (tok = json_tokener_new()) == NULL)
		return;
	o = json_tokener_parse_ex(tok, rep->body.data, (int)rep->body.len);
	json_tokener_free(tok);
	if (o == NULL)
		return;
	if (json_object_object_get_ex(o, "usage", &u)) {
		if (json_object_object_get_ex(u, "prompt_tokens", &v) ||
		    json_object_object_get_ex(u, "input_tokens", &v))
			in = json_object_get_int64(v);
		if (json_object_object_get_ex(u, "completion_tokens", &v) ||
		    json_object_object_get_ex(u, "output_tokens", &v))
			out = json_object_get_int64(v);
	}
	if (s == SLOT_IMAGES && json_object_object_get_ex(o, "data", &data) &&
	    json_object_is_type(data, json_type_array))
		images = (int64_t)json_object_array_length(data);
	json_object_put(o);
	calls_usage(id, in, out, images);
}

/* Runs one logged API call under its mode; true to keep the connection. */
static bool
api_call(int fd, const struct req *r, enum slot s, const char *cloud)
{
	struct mode m = state_take_mode(s);
	bool keep = !r->close, done = false;
	struct reply rep;
	char key[65], model[96], fields[256], hdr[256];
	uint64_t id;

	sha256_hex(r->body, r->blen, key);
	body_summary(r, model, sizeof(model), fields, sizeof(fields));
	id = calls_begin(r->path, key, m.name, model, fields);
	reply_init(&rep);
	if (m.kind == MODE_HANG || m.kind == MODE_BIG) {
		if (m.kind == MODE_HANG)
			run_hang(fd);
		else
			done = run_big(fd);
		calls_end(id, m.kind == MODE_HANG ? 0 : 200, done);
		reply_free(&rep);
		return false;
	}
	if (m.kind == MODE_DELAY && wait_or_gone(fd, m.arg)) {
		calls_end(id, 0, false);
		reply_free(&rep);
		return false;
	}
	if (m.kind == MODE_URL && s == SLOT_IMAGES &&
	    strcmp(r->method, "POST") == 0)
		api_images_url(r, &rep);
	else if (m.kind == MODE_ERROR)
		api_error_scripted(r, s, &rep);
	else if (!fault_reply(&m, &rep) &&
		 limits_admit(s, model, &rep, hdr, sizeof(hdr))) {
		api_answer(r, s, cloud, &rep);
		strncat(rep.extra, hdr,
			sizeof(rep.extra) - strlen(rep.extra) - 1);
		log_usage(id, s, &rep);
	}
	if (m.kind == MODE_TRICKLE)
		keep = false, done = run_trickle(fd, &rep);
	else
		done = http_send_reply(fd, &rep, false, !keep);
	calls_end(id, rep.status, done);
	reply_free(&rep);
	return keep && done;
}

/* Copies <cloud> of "/v1_1/<cloud>/image/upload" into cloud. */
static bool
upload_cloud(const char *path, char *cloud)
{
	const char *c = path + 6, *slash;

	if (strncmp(path, "/v1_1/", 6) || (slash = strchr(c, '/')) == NULL ||
	    slash == c || slash - c >= CLOUD_MAX ||
	    strcmp(slash, "/image/upload") != 0)
		return false;
	memcpy(cloud, c, (size_t)(slash - c));
	cloud[slash - c] = '\0';
	return true;
}

/* ---- local routes: /cdn, /img, /redirect, /_ ---- */

static bool
method_ok(const struct req *r, const char *a, const char *b, struct reply *rep)
{
	if (strcmp(r->method, a) == 0 || (b && strcmp(r->method, b) == 0))
		return true;
	reply_error(rep, 405, "invalid_request_error", "Method not allowed");
	return false;
}

static void
route_cdn(const struct req *r, struct reply *rep)
{
	const char *rest = strchr(r->path + 5, '/'), *dot, *slash;
	char id[512];
	size_t n;

	if (!method_ok(r, "GET", "HEAD", rep))
		return;
	if (rest == NULL || strncmp(rest, "/image/upload/v1/", 17)) {
		reply_error(rep, 404, "not_found", "No such resource");
		return;
	}
	rest += 17;
	dot = strrchr(rest, '.');
	slash = strrchr(rest, '/');
	n = dot && (slash == NULL || dot > slash) ? (size_t)(dot - rest)
						  : strlen(rest);
	if (n >= sizeof(id)) {
		reply_error(rep, 404, "not_found", "No such resource");
		return;
	}
	memcpy(id, rest, n);
	id[n] = '\0';
	if (store_get(id, rep) != SJ_OK)
		reply_error(rep, 404, "not_found", "No such resource");
}

static void
route_img(const struct req *r, struct reply *rep)
{
	const void *p;
	size_t n;

	if (!method_ok(r, "GET", "HEAD", rep))
		return;
	(void)state_count(COUNT_IMG);
	if (strcmp(r->path, "/img/photo.png") == 0 &&
	    strncmp(r->query, "salt=", 5) == 0) {
		if (!api_photo_salted(r->query + 5, rep))
			reply_error(rep, 500, "server_error", "No photo");
	} else if (strcmp(r->path, "/img/photo.png") == 0 ||
		   strcmp(r->path, "/img/photo.jpg") == 0) {
		bool jpeg = r->path[11] == 'j';

		api_photo(jpeg, &p, &n);
		reply_set(rep, 200, jpeg ? "image/jpeg" : "image/png", p, n);
	} else if (strcmp(r->path, "/img/notimage.png") == 0) {
		reply_set(rep, 200, "image/png", "hello", 5);
	} else {
		reply_error(rep, 404, "not_found", "No such image");
	}
}

/* Finds "to=" in the query and decodes it into to; false if absent/bad. */
static bool
redirect_target(const char *q, char *to)
{
	while (*q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q), n;

		if (len > 3 && strncmp(q, "to=", 3) == 0) {
			memcpy(to, q + 3, len - 3);
			n = url_decode(to, len - 3, true);
			if (n == (size_t)-1)
				return false;
			for (size_t i = 0; i < n; i++)
				if ((unsigned char)to[i] < ' ' || to[i] == 0x7f)
					return false;
			return true;
		}
		q += len + (amp != NULL);
	}
	return false;
}

static void
route_redirect(const struct req *r, struct reply *rep)
{
	char to[FAKE_TARGET_MAX];

	if (!method_ok(r, "GET", "HEAD", rep))
		return;
	if (strcmp(r->path, "/redirect-loop") == 0) {
		snprintf(to, sizeof(to), "http://127.0.0.1:%d/redirect-loop",
			 fake_cfg.port);
	} else if (!redirect_target(r->query, to)) {
		reply_error(rep, 400, "invalid_request_error", "Bad 'to'");
		return;
	}
	reply_set(rep, 302, NULL, "", 0);
	snprintf(rep->extra, sizeof(rep->extra), "Location: %s\r\n", to);
}

/* The "error" object of a /_script body into err (status 0: none). */
static const char *
script_error(struct json_object *o, struct fake_error *err)
{
	static const char *const keys[] = {"type", "code", "param", "message"};
	char *const dst[] = {err->type, err->code, err->param, err->message};
	const size_t cap[] = {sizeof(err->type), sizeof(err->code),
			      sizeof(err->param), sizeof(err->message)};
	struct json_object *e;
	const char *v;
	int64_t st;

	memset(err, 0, sizeof(*err));
	if (jv_object(o, "error", &e) != SJ_OK)
		return NULL;
	if (jv_i64(e, "status", 400, 599, &st) != SJ_OK)
		return "'error' needs a status of 400..599";
	err->status = (int)st;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		enum sj_err x = jv_str(e, keys[i], cap[i] - 1, &v);

		if (x == SJ_OK)
			memcpy(dst[i], v, strlen(v) + 1);
		else if (x != SJ_ENOTFOUND)
			return "'error' fields must be short strings";
	}
	return NULL;
}

/* Parses the modes array and default of a /_script body. */
static const char *
script_modes(struct json_object *o, struct mode *modes, size_t *n,
	     struct mode *def, bool *has_def)
{
	struct json_object *arr;
	const char *s;
	enum sj_err e = jv_array(o, "modes", &arr);

	*n = 0;
	if (e == SJ_EINVAL)
		return "'modes' must be an array";
	if (e == SJ_OK && json_object_array_length(arr) > SCRIPT_MODES)
		return "too many modes";
	for (size_t i = 0; e == SJ_OK && i < json_object_array_length(arr);
	     i++) {
		struct json_object *m = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(m, json_type_string) ||
		    mode_parse(json_object_get_string(m), &modes[(*n)++]))
			return "unknown mode";
	}
	e = jv_str(o, "default", 64, &s);
	*has_def = e == SJ_OK;
	if (e == SJ_EINVAL || (e == SJ_OK && mode_parse(s, def) != SJ_OK))
		return "unknown default mode";
	return NULL;
}

static void
route_script(const struct req *r, struct reply *rep)
{
	struct mode *modes = calloc(SCRIPT_MODES, sizeof(*modes));
	struct json_object *o = NULL;
	const char *why = "Malformed JSON", *path, *url;
	struct fake_error err;
	struct mode def;
	bool has_def = false;
	size_t n = 0;
	int slot = -1;
	int64_t rpm = 0;

	if (!method_ok(r, "POST", NULL, rep))
		return;
	if (modes == NULL)
		why = "out of memory";
	else if (json_parse_strict(r->body, r->blen, JSONV_DEPTH, &o, &why) ==
		 SJ_OK) {
		why = "'path' must be a scripted path";
		if (jv_str(o, "path", 256, &path) == SJ_OK)
			slot = slot_of_script_path(path);
		if (slot >= 0)
			why = script_modes(o, modes, &n, &def, &has_def);
		if (why == NULL)
			why = script_error(o, &err);
		if (why == NULL && state_script((enum slot)slot, modes, n,
						has_def ? &def : NULL) != SJ_OK)
			why = "queue full";
		if (why == NULL && jv_i64(o, "rpm", 0, 10000, &rpm) == SJ_OK &&
		    limits_set((enum slot)slot, rpm) != SJ_OK)
			why = "'rpm' must be 0..10000";
		if (why == NULL && jv_str(o, "url", 2047, &url) == SJ_OK)
			state_answer_url_set(url);
		if (why == NULL && err.status != 0)
			state_error_set((enum slot)slot, &err);
	}
	json_object_put(o);
	free(modes);
	if (why)
		reply_error(rep, 400, "invalid_request_error", why);
	else
		reply_set(rep, 200, "application/json", OK_JSON, 11);
}

/* Copies the strings of array key of o (at most max) into dst. */
static const char *
script_ids(struct json_object *o, const char *key, char (*dst)[96], size_t max,
	   size_t *n)
{
	struct json_object *arr;
	enum sj_err e = jv_array(o, key, &arr);

	*n = 0;
	if (e == SJ_ENOTFOUND)
		return NULL;
	if (e != SJ_OK || json_object_array_length(arr) > max)
		return "'omit' and 'revive' are arrays of at most 16 ids";
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(v, json_type_string))
			return "'omit' and 'revive' hold strings";
		snprintf(dst[(*n)++], 96, "%s", json_object_get_string(v));
	}
	return NULL;
}

/* {"id": "YYYY-MM-DD", ...} into the script's shutdown dates. */
static const char *
script_dates(struct json_object *o, struct models_script *ms)
{
	struct json_object *sd;
	enum sj_err e = jv_object(o, "shutdown", &sd);

	if (e == SJ_ENOTFOUND)
		return NULL;
	if (e != SJ_OK)
		return "'shutdown' must be an object";
	json_object_object_foreach(sd, k, v)
	{
		if (ms->nsd == MODELS_SCRIPT_MAX ||
		    !json_object_is_type(v, json_type_string))
			return "'shutdown' holds at most 16 date strings";
		snprintf(ms->sd_id[ms->nsd], 96, "%s", k);
		snprintf(ms->sd_date[ms->nsd++], 16, "%s",
			 json_object_get_string(v));
	}
	return NULL;
}

/*
 * POST /_models {"omit":[ids], "revive":[ids], "shutdown":{id: date},
 * "no_dates":bool, "delay_ms":n, "status":n}: replaces the GET /v1/models
 * script.
 */
static void
route_models_script(const struct req *r, struct reply *rep)
{
	struct json_object *o = NULL;
	struct models_script ms;
	const char *why = "Malformed JSON";
	int64_t v;

	memset(&ms, 0, sizeof(ms));
	if (!method_ok(r, "POST", NULL, rep))
		return;
	if (json_parse_strict(r->body, r->blen, JSONV_DEPTH, &o, &why) ==
	    SJ_OK) {
		why = script_ids(o, "omit", ms.omit, MODELS_SCRIPT_MAX,
				 &ms.nomit);
		if (why == NULL)
			why = script_ids(o, "revive", ms.revive,
					 MODELS_SCRIPT_MAX, &ms.nrevive);
		if (why == NULL)
			why = script_dates(o, &ms);
		if (why == NULL &&
		    jv_bool(o, "no_dates", &ms.no_dates) == SJ_EINVAL)
			why = "'no_dates' must be a boolean";
		if (why == NULL &&
		    jv_i64(o, "delay_ms", 0, 120000, &v) == SJ_OK)
			ms.delay_ms = (unsigned)v;
		if (why == NULL && jv_i64(o, "status", 100, 599, &v) == SJ_OK)
			ms.status = (int)v;
	}
	json_object_put(o);
	if (why) {
		reply_error(rep, 400, "invalid_request_error", why);
		return;
	}
	state_models_set(&ms);
	reply_set(rep, 200, "application/json", OK_JSON, 11);
}

static void
route_local(const struct req *r, struct reply *rep)
{
	if (strncmp(r->path, "/cdn/", 5) == 0) {
		route_cdn(r, rep);
	} else if (strncmp(r->path, "/img/", 5) == 0) {
		route_img(r, rep);
	} else if (strcmp(r->path, "/redirect") == 0 ||
		   strcmp(r->path, "/redirect-loop") == 0) {
		route_redirect(r, rep);
	} else if (strcmp(r->path, "/_script") == 0) {
		route_script(r, rep);
	} else if (strcmp(r->path, "/_models") == 0) {
		route_models_script(r, rep);
	} else if (strcmp(r->path, "/_calls") == 0) {
		if (method_ok(r, "GET", NULL, rep) &&
		    calls_json(&rep->body) == SJ_OK) {
			rep->status = 200;
			rep->ctype = "application/json";
		}
	} else if (strcmp(r->path, "/_reset") == 0) {
		if (method_ok(r, "POST", NULL, rep)) {
			state_reset();
			limits_reset();
			reply_set(rep, 200, "application/json", OK_JSON, 11);
		}
	} else {
		char msg[FAKE_TARGET_MAX + 32];

		snprintf(msg, sizeof(msg), "Invalid URL (%s %s)", r->method,
			 r->path);
		reply_api_error(rep, 404, "invalid_request_error", NULL, NULL,
				msg);
	}
}

/*
 * GET /v1/models, counted, after the script's delay (cut short when the
 * client hangs up: then false and nothing is sent).
 */
static bool
models_answer(int fd, const struct req *r, struct reply *rep)
{
	struct models_script ms;

	if (!method_ok(r, "GET", NULL, rep))
		return true;
	(void)state_count(COUNT_MODELS);
	state_models_get(&ms);
	if (ms.delay_ms > 0 && wait_or_gone(fd, ms.delay_ms))
		return false;
	api_models(r, rep);
	return true;
}

/* Answers one request; true to keep the connection open. */
static bool
dispatch(int fd, const struct req *r)
{
	char cloud[CLOUD_MAX];
	struct reply rep;
	bool keep;

	if (strcmp(r->path, "/v1/chat/completions") == 0)
		return api_call(fd, r, SLOT_CHAT, NULL);
	if (strcmp(r->path, "/v1/images/generations") == 0)
		return api_call(fd, r, SLOT_IMAGES, NULL);
	if (upload_cloud(r->path, cloud))
		return api_call(fd, r, SLOT_UPLOAD, cloud);
	reply_init(&rep);
	if (strcmp(r->path, "/v1/models") != 0)
		route_local(r, &rep);
	else if (!models_answer(fd, r, &rep)) {
		reply_free(&rep);
		return false;
	}
	keep =
	    http_send_reply(fd, &rep, strcmp(r->method, "HEAD") == 0, r->close);
	reply_free(&rep);
	return keep && !r->close;
}

/* ---- connections ---- */

static void *
conn_main(void *arg)
{
	struct conn *c = arg;
	struct req *r = malloc(sizeof(*r));
	struct reply rep;
	int status;

	while (r != NULL) {
		enum sj_err e = http_read_req(c, r, &status);

		if (e == SJ_EIO)
			break;
		if (e != SJ_OK) {
			(void)state_count(COUNT_BAD);
			reply_init(&rep);
			reply_error(&rep, status, "invalid_request_error",
				    "Bad HTTP request");
			/* Drain a little so the answer is not lost to a RST. */
			if (http_send_reply(c->fd, &rep, false, true) &&
			    shutdown(c->fd, SHUT_WR) == 0)
				(void)http_wait_gone(c->fd, 1000);
			reply_free(&rep);
			break;
		}
		if (!dispatch(c->fd, r))
			break;
		http_consume(c, r);
	}
	free(r);
	close(c->fd);
	buf_free(&c->in);
	free(c);
	atomic_fetch_sub(&nconn, 1);
	return NULL;
}

static void
spawn(int fd)
{
	struct timeval tv = {.tv_sec = 30};
	struct conn *c = NULL;
	pthread_attr_t a;
	pthread_t t;

	if (atomic_fetch_add(&nconn, 1) >= CONNS_MAX ||
	    (c = malloc(sizeof(*c))) == NULL)
		goto fail;
	c->fd = fd;
	buf_init(&c->in, FAKE_CONN_MAX);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (pthread_attr_init(&a) != 0)
		goto fail;
	(void)pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &a, conn_main, c) != 0) {
		pthread_attr_destroy(&a);
		goto fail;
	}
	pthread_attr_destroy(&a);
	return;
fail:
	log_warn("connection refused: too many or out of resources");
	free(c);
	close(fd);
	atomic_fetch_sub(&nconn, 1);
}

static void
accept_loop(int lfd, const sigset_t *waitmask)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};

	while (!stop) {
		int fd;

		if (ppoll(&p, 1, NULL, waitmask) <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			spawn(fd);
		else if (errno != EINTR && errno != EAGAIN)
			sleep_ms(100); /* EMFILE and the like: back off */
	}
}

/* ---- start-up ---- */

static int
listen_loopback(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		log_error("listen on 127.0.0.1:%d: %s", port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fake_cfg.port = ntohs(sa.sin_port);
	return fd;
}

/* Writes the port to path through a rename, so readers see all or none. */
static bool
write_port_file(const char *path)
{
	char tmp[4096];
	FILE *f;
	bool ok;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp) ||
	    (f = fopen(tmp, "w")) == NULL)
		return false;
	ok = fprintf(f, "%d\n", fake_cfg.port) > 0;
	ok = (fclose(f) == 0) && ok && rename(tmp, path) == 0;
	if (!ok)
		log_error("cannot write port file %s", path);
	return ok;
}

static bool
parse_args(int argc, char **argv, const char **port_file, int *port)
{
	static const struct option opts[] = {
	    {"port-file", required_argument, NULL, 'f'},
	    {"port", required_argument, NULL, 'p'},
	    {"api-key", required_argument, NULL, 'k'},
	    {"cloud-name", required_argument, NULL, 'n'},
	    {"cloud-key", required_argument, NULL, 'c'},
	    {"cloud-secret", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0}};
	int64_t v;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'f')
			*port_file = optarg;
		else if (o == 'p' && num_i64(optarg, 0, 65535, &v) == SJ_OK)
			*port = (int)v;
		else if (o == 'k')
			fake_cfg.api_key = optarg;
		else if (o == 'n')
			fake_cfg.cloud_name = optarg;
		else if (o == 'c')
			fake_cfg.cloud_key = optarg;
		else if (o == 's')
			fake_cfg.cloud_secret = optarg;
		else
			return false;
	}
	return optind == argc && *port_file != NULL;
}

/* Blocks the stop signals; *waitmask is the mask to wait with. */
static void
setup_signals(sigset_t *waitmask)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, waitmask);
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

int
main(int argc, char **argv)
{
	const char *port_file = NULL;
	sigset_t waitmask;
	int port = 0, lfd;

	log_init("fake-upstream", LOG_LVL_INFO);
	if (!parse_args(argc, argv, &port_file, &port)) {
		fprintf(stderr,
			"usage: fake-upstream --port-file PATH [--port N] "
			"[--api-key KEY]\n\t[--cloud-name NAME --cloud-key KEY "
			"--cloud-secret SECRET]\n");
		return 2;
	}
	setup_signals(&waitmask);
	state_init();
	if (!api_init() || (lfd = listen_loopback(port)) < 0)
		return 1;
	if (!write_port_file(port_file)) {
		close(lfd);
		return 1;
	}
	log_info("listening on 127.0.0.1:%d", fake_cfg.port);
	accept_loop(lfd, &waitmask);
	close(lfd);
	log_info("stopping");
	return 0;
}
