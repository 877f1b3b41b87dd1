/*
 * DESIGN: the fake upstream server's shared state, all behind one mutex.
 *
 * Five parts: per-path fault scripts (a bounded queue of modes and a
 * default, the URL a "url" answer names and the envelope an "error"
 * answer sends), the call log (with each request's model and top-level
 * fields), the uploaded images, the GET /v1/models script, and counters
 * of the requests that are not API calls (model lists, test photos,
 * bytes that are not HTTP).  Each is capped so a
 * runaway test cannot exhaust memory: QUEUE_MAX modes per path,
 * CALLS_MAX log entries (later calls go unlogged, with a warning), and
 * STORE_MAX bytes of uploads.  Call ids are a counter that /_reset never
 * rewinds, so a call that ends after a reset updates nothing.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "fake.h"
#include "log.h"
#include "num.h"

#define QUEUE_MAX 1024
#define CALLS_MAX 100000
#define STORE_MAX (512u << 20)

struct queue {
	struct mode m[QUEUE_MAX];
	size_t head, len;
	struct mode def;
};

struct call {
	char path[256];
	char key[65];
	char mode[24];
	char model[96];
	char fields[256];
	int status;
	int64_t start_ms, end_ms;
	bool completed;
	int64_t tokens_in, tokens_out,
	    images; /* what the answer's usage said */
};

struct item {
	char *id;
	char mime[64];
	unsigned char *data;
	size_t n;
	struct item *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct queue queues[SLOT_MAX];
static struct call *calls;
static size_t ncalls, calls_cap;
static uint64_t calls_base; /* id of calls[0] minus one */
static struct item *items;
static size_t store_bytes;
static struct models_script models;
static uint64_t counters[COUNT_MAX];
static char answer_url[2048];
static struct fake_error errors[SLOT_MAX];

static const char *const mode_names[MODE_MAX] = {
    [MODE_OK] = "ok",	    [MODE_429] = "429",
    [MODE_500] = "500",	    [MODE_400] = "400",
    [MODE_HANG] = "hang",   [MODE_TRICKLE] = "trickle",
    [MODE_BIG] = "big",	    [MODE_MALFORMED] = "malformed",
    [MODE_DELAY] = "delay", [MODE_URL] = "url",
    [MODE_ERROR] = "error",
};

enum sj_err
mode_parse(const char *s, struct mode *m)
{
	const char *colon = strchr(s, ':');
	size_t nlen = colon ? (size_t)(colon - s) : strlen(s);
	int64_t arg = -1;

	if (strlen(s) >= sizeof(m->name))
		return SJ_EINVAL;
	for (int k = 0; k < MODE_MAX; k++) {
		if (strlen(mode_names[k]) != nlen ||
		    strncmp(s, mode_names[k], nlen) != 0)
			continue;
		if (colon && num_i64(colon + 1, 0, 600000, &arg) != SJ_OK)
			return SJ_EINVAL;
		if ((colon && k != MODE_429 && k != MODE_DELAY) ||
		    (k == MODE_DELAY && !colon) ||
		    (k == MODE_429 && arg > 3600))
			return SJ_EINVAL;
		m->kind = (enum mode_kind)k;
		m->arg = arg >= 0 ? (unsigned)arg : k == MODE_429 ? 1 : 0;
		snprintf(m->name, sizeof(m->name), "%s", s);
		return SJ_OK;
	}
	return SJ_EINVAL;
}

int
slot_of_script_path(const char *path)
{
	if (strcmp(path, "/v1/chat/completions") == 0)
		return SLOT_CHAT;
	if (strcmp(path, "/v1/images/generations") == 0)
		return SLOT_IMAGES;
	if (strcmp(path, "/v1_1/upload") == 0)
		return SLOT_UPLOAD;
	return -1;
}

/* The kind of call a scripted path's slot makes, for the call log. */
static const char *
slot_kind(int s)
{
	return s == SLOT_CHAT ? "chat" : s == SLOT_IMAGES ? "images" : "upload";
}

/* Empties everything; mu held. */
static void
clear_locked(void)
{
	struct item *it, *next;

	for (int s = 0; s < SLOT_MAX; s++) {
		queues[s].head = queues[s].len = 0;
		if (mode_parse("ok", &queues[s].def) != SJ_OK)
			abort();
	}
	calls_base += ncalls;
	ncalls = 0;
	for (it = items; it; it = next) {
		next = it->next;
		free(it->id);
		free(it->data);
		free(it);
	}
	items = NULL;
	store_bytes = 0;
	memset(&models, 0, sizeof(models));
	memset(counters, 0, sizeof(counters));
	memset(errors, 0, sizeof(errors));
	answer_url[0] = '\0';
}

void
state_init(void)
{
	state_reset();
}

void
state_reset(void)
{
	pthread_mutex_lock(&mu);
	clear_locked();
	pthread_mutex_unlock(&mu);
}

enum sj_err
state_script(enum slot s, const struct mode *modes, size_t n,
	     const struct mode *def)
{
	struct queue *q = &queues[s];
	enum sj_err e = SJ_OK;

	pthread_mutex_lock(&mu);
	if (q->len + n > QUEUE_MAX) {
		e = SJ_ETOOBIG;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		q->m[(q->head + q->len++) % QUEUE_MAX] = modes[i];
	if (def)
		q->def = *def;
out:
	pthread_mutex_unlock(&mu);
	return e;
}

struct mode
state_take_mode(enum slot s)
{
	struct queue *q = &queues[s];
	struct mode m;

	pthread_mutex_lock(&mu);
	if (q->len > 0) {
		m = q->m[q->head];
		q->head = (q->head + 1) % QUEUE_MAX;
		q->len--;
	} else {
		m = q->def;
	}
	pthread_mutex_unlock(&mu);
	return m;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Makes room for one more call; mu held. */
static bool
calls_grow_locked(void)
{
	struct call *nc;
	size_t cap;

	if (ncalls < calls_cap)
		return true;
	if (calls_cap >= CALLS_MAX)
		return false;
	cap = calls_cap ? calls_cap * 2 : 64;
	if (cap > CALLS_MAX)
		cap = CALLS_MAX;
	nc = realloc(calls, cap * sizeof(*nc));
	if (nc == NULL)
		return false;
	calls = nc;
	calls_cap = cap;
	return true;
}

void
state_models_set(const struct models_script *m)
{
	pthread_mutex_lock(&mu);
	models = *m;
	pthread_mutex_unlock(&mu);
}

void
state_models_get(struct models_script *m)
{
	pthread_mutex_lock(&mu);
	*m = models;
	pthread_mutex_unlock(&mu);
}

uint64_t
state_count(enum counter k)
{
	uint64_t n;

	pthread_mutex_lock(&mu);
	n = ++counters[k];
	pthread_mutex_unlock(&mu);
	return n;
}

void
state_error_set(enum slot s, const struct fake_error *err)
{
	pthread_mutex_lock(&mu);
	errors[s] = *err;
	pthread_mutex_unlock(&mu);
}

void
state_error(enum slot s, struct fake_error *err)
{
	pthread_mutex_lock(&mu);
	*err = errors[s];
	pthread_mutex_unlock(&mu);
}

void
state_answer_url_set(const char *url)
{
	pthread_mutex_lock(&mu);
	snprintf(answer_url, sizeof(answer_url), "%s", url);
	pthread_mutex_unlock(&mu);
}

void
state_answer_url(char *out, size_t outsz)
{
	pthread_mutex_lock(&mu);
	snprintf(out, outsz, "%s", answer_url);
	pthread_mutex_unlock(&mu);
}

uint64_t
calls_begin(const char *path, const char *key, const char *mode,
	    const char *model, const char *fields)
{
	struct call *c;
	uint64_t id = 0;

	pthread_mutex_lock(&mu);
	if (calls_grow_locked()) {
		c = &calls[ncalls++];
		snprintf(c->path, sizeof(c->path), "%s", path);
		snprintf(c->key, sizeof(c->key), "%s", key);
		snprintf(c->mode, sizeof(c->mode), "%s", mode);
		snprintf(c->model, sizeof(c->model), "%s", model);
		snprintf(c->fields, sizeof(c->fields), "%s", fields);
		c->status = 0;
		c->start_ms = now_ms();
		c->end_ms = 0;
		c->completed = false;
		c->tokens_in = c->tokens_out = c->images = 0;
		id = calls_base + ncalls;
	}
	pthread_mutex_unlock(&mu);
	if (id == 0)
		log_warn("call log full; %s not logged", path);
	return id;
}

void
calls_end(uint64_t id, int status, bool completed)
{
	pthread_mutex_lock(&mu);
	if (id > calls_base && id - calls_base <= ncalls) {
		struct call *c = &calls[id - calls_base - 1];

		c->status = status;
		c->end_ms = now_ms();
		c->completed = completed;
	}
	pthread_mutex_unlock(&mu);
}

void
calls_usage(uint64_t id, int64_t tokens_in, int64_t tokens_out, int64_t images)
{
	pthread_mutex_lock(&mu);
	if (id > calls_base && id - calls_base <= ncalls) {
		struct call *c = &calls[id - calls_base - 1];

		c->tokens_in = tokens_in;
		c->tokens_out = tokens_out;
		c->images = images;
	}
	pthread_mutex_unlock(&mu);
}

static struct json_object *
call_json(const struct call *c)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "path", json_object_new_string(c->path));
	json_object_object_add(
	    o, "kind",
	    json_object_new_string(slot_kind(slot_of_script_path(c->path))));
	json_object_object_add(o, "key", json_object_new_string(c->key));
	json_object_object_add(o, "mode", json_object_new_string(c->mode));
	json_object_object_add(o, "model", json_object_new_string(c->model));
	json_object_object_add(o, "fields", json_object_new_string(c->fields));
	json_object_object_add(o, "status", json_object_new_int(c->status));
	json_object_object_add(o, "start_ms",
			       json_object_new_int64(c->start_ms));
	json_object_object_add(o, "end_ms", json_object_new_int64(c->end_ms));
	json_object_object_add(o, "completed",
			       json_object_new_boolean(c->completed));
	json_object_object_add(o, "tokens_in",
			       json_object_new_int64(c->tokens_in));
	json_object_object_add(o, "tokens_out",
			       json_object_new_int64(c->tokens_out));
	json_object_object_add(o, "images", json_object_new_int64(c->images));
	return o;
}

enum sj_err
calls_json(struct buf *out)
{
	struct json_object *root = json_object_new_object();
	struct json_object *arr = json_object_new_array();
	enum sj_err e;

	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < ncalls; i++)
		json_object_array_add(arr, call_json(&calls[i]));
	pthread_mutex_unlock(&mu);
	json_object_object_add(root, "calls", arr);
	pthread_mutex_lock(&mu);
	json_object_object_add(
	    root, "models_calls",
	    json_object_new_int64((int64_t)counters[COUNT_MODELS]));
	json_object_object_add(
	    root, "img_gets",
	    json_object_new_int64((int64_t)counters[COUNT_IMG]));
	json_object_object_add(
	    root, "bad_requests",
	    json_object_new_int64((int64_t)counters[COUNT_BAD]));
	pthread_mutex_unlock(&mu);
	e = buf_addstr(out, json_object_to_json_string_ext(
				root, JSON_C_TO_STRING_PLAIN |
					  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return e;
}

/* Finds id's item; mu held. */
static struct item **
store_find_locked(const char *id)
{
	struct item **p;

	for (p = &items; *p; p = &(*p)->next)
		if (strcmp((*p)->id, id) == 0)
			break;
	return p;
}

enum sj_err
store_put(const char *id, const char *mime, const void *data, size_t n)
{
	struct item *it = calloc(1, sizeof(*it)), **p, *old;
	enum sj_err e = SJ_OK;

	if (it == NULL || (it->id = strdup(id)) == NULL ||
	    (it->data = malloc(n ? n : 1)) == NULL) {
		e = SJ_ENOMEM;
		goto out;
	}
	memcpy(it->data, data, n);
	it->n = n;
	snprintf(it->mime, sizeof(it->mime), "%s", mime);
	pthread_mutex_lock(&mu);
	p = store_find_locked(id);
	old = *p;
	if (store_bytes - (old ? old->n : 0) + n > STORE_MAX) {
		e = SJ_ETOOBIG;
	} else {
		store_bytes = store_bytes - (old ? old->n : 0) + n;
		it->next = old ? old->next : NULL;
		*p = it;
		it = old; /* freed below */
	}
	pthread_mutex_unlock(&mu);
out:
	if (it) {
		free(it->id);
		free(it->data);
		free(it);
	}
	return e;
}

enum sj_err
store_get(const char *id, struct reply *rep)
{
	struct item *it;
	enum sj_err e = SJ_ENOTFOUND;

	pthread_mutex_lock(&mu);
	it = *store_find_locked(id);
	if (it) {
		reply_set(rep, 200, NULL, it->data, it->n);
		/* ctype must outlive the lock: keep it in the reply's extra. */
		snprintf(rep->extra, sizeof(rep->extra), "Content-Type: %s\r\n",
			 it->mime);
		e = SJ_OK;
	}
	pthread_mutex_unlock(&mu);
	return e;
}
