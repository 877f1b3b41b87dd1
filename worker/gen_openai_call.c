/*
 * One call of the openai provider to an OpenAI-compatible API
 * (OPENAI_BASE_URL, OPENAI_API_KEY): the request, the answer's status,
 * token usage.
 *
 * DESIGN
 * A call is a JSON POST under HTTP_API through gen_call() (gen_http.c),
 * which applies the job's abort and deadline and classifies transport
 * errors.  Like every provider file it has no job attached: it is given
 * a gen_ctx and returns a gen_fail (a deferral included), which
 * job_openai.c records as the step outcome.  What a
 * 2xx says is the caller's to read; its JSON is parsed strictly here
 * first, and an answer that does not parse is a transient upstream
 * failure, like a 5xx.  A non-2xx is classified from its error envelope
 * (lib/openai.c): a missing or retired model, a refused parameter, key
 * or quota fail the job at once with a line naming the setting to change
 * (the key and quota with a fixed line, nothing of the answer); 408,
 * 425, 429 and 5xx are retried, a 429's Retry-After honoured.  What the
 * envelope says is scrubbed of the key before it reaches the job's error
 * or the log; the key itself is only ever sent in the Authorization
 * header.
 *
 * Rate limits (OPENAI_CHAT_RPM, OPENAI_CHAT_TPM, OPENAI_IMAGE_IPM) are
 * shared by every worker through the database (lib/budget.h).  Before
 * each call the job books the call's slot: a chat call one request and
 * its estimated tokens (its prompt at 4 bytes a token, an inline picture
 * as 1000, plus the most it may write), an image call its images.  A
 * slot that starts now is used at once; one within BUDGET_LEAD_MS (3 s)
 * is slept out in the worker slot; a later one is saved in the checkpoint
 * (budgetAt) and the job deferred (job_defer: pending, no attempt spent,
 * no worker slot held) until BUDGET_LEAD_MS before it, so the call at its
 * re-claim sleeps the rest and uses the booking without taking again,
 * even when that re-claim is up to 3 s late (a poll tick, a worker other
 * than the one that deferred it).  60 jobs waiting thus come back one
 * slot apart, not all at once.  A booking is used only when no pause set
 * after it reaches past it and the job is back no more than
 * BUDGET_LATE_MS after its slot (a later call could bunch with the next
 * ones past the booking margin); otherwise it is void (its slot is lost
 * to everyone) and booked again.  Voids are counted in the checkpoint
 * (budgetVoids): after BUDGET_VOIDS_MAX (5) the next void fails the job
 * transiently, spending an attempt, so a job that keeps missing its slot
 * cannot defer forever, wasting a shared slot each time.  A slot further
 * than BUDGET_AHEAD_MS is not booked: the job is deferred until it would
 * be, plus a random share of BUDGET_SPREAD_MS (30 s), so the jobs refused
 * at one moment do not all come back at one instant (with every limit
 * off the only refusal is a pause: deferred to its end).  A 429 with
 * Retry-After pauses the provider for every worker (budget_pause: the
 * database's now() plus Retry-After) and defers the job to its end, no
 * attempt spent; a 429 without one is an ordinary transient failure.  So
 * that an upstream answering 429 forever cannot keep a job pending
 * forever, the 429-deferrals of a job are counted the same way
 * (deferred429, saved before the deferral): after OPENAI_429_DEFERS_MAX
 * (10) of them the next 429 is an ordinary transient failure that spends
 * an attempt (the pause is still set for the other workers).  After each
 * answer its usage is added to the job (job_add_usage: tokens, images)
 * and a chat call's token estimate corrected (budget_adjust); usage is
 * logged per call.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "budget.h"
#include "db.h"
#include "job.h"
#include "jsonv.h"
#include "log.h"
#include "openai.h"

#include "gen_openai.h"

struct openai_kind
openai_chat_kind(const struct gen_ctx *g)
{
	return (struct openai_kind){"OPENAI_MODEL", g->cfg->openai_model,
				    "chat"};
}

struct openai_kind
openai_image_kind(const struct gen_ctx *g)
{
	return (struct openai_kind){"OPENAI_IMAGE_MODEL",
				    g->cfg->openai_image_model, "image"};
}

#define CKPT_BOOKED "budgetAt" /* a booked slot of the budget, unix ms */
/*
 * A wait this short is slept in the worker slot, and a job deferred to
 * its booking comes back this long before it: a re-claim up to this late
 * (a poll tick, another worker) still sleeps into its slot.
 */
#define BUDGET_LEAD_MS	      3000
#define BUDGET_LATE_MS	      BUDGET_MARGIN_MS /* a booking used later: book again */
#define BUDGET_SPREAD_MS      30000 /* jobs refused past the horizon: spread */
#define PICTURE_TOKENS	      1000  /* an inline picture's estimate */
#define CKPT_429	      "deferred429" /* the job's 429-deferrals so far */
#define OPENAI_429_DEFERS_MAX 10	    /* then a 429 spends an attempt */
#define CKPT_VOID	      "budgetVoids" /* the job's void bookings so far */
#define BUDGET_VOIDS_MAX      5		    /* then a void spends an attempt */

static bool
is_image(const struct openai_kind *k)
{
	return strcmp(k->kind, "image") == 0;
}

/* The bytes of inline pictures (data: URLs) in a chat request's body. */
static size_t
picture_bytes(struct json_object *body, int64_t *pictures)
{
	struct json_object *msgs, *content, *part, *iu, *url;
	size_t n = 0;

	*pictures = 0;
	if (!json_object_object_get_ex(body, "messages", &msgs) ||
	    !json_object_is_type(msgs, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(msgs); i++) {
		if (!json_object_object_get_ex(
			json_object_array_get_idx(msgs, i), "content",
			&content) ||
		    !json_object_is_type(content, json_type_array))
			continue;
		for (size_t j = 0; j < json_object_array_length(content); j++) {
			part = json_object_array_get_idx(content, j);
			if (json_object_object_get_ex(part, "image_url", &iu) &&
			    json_object_object_get_ex(iu, "url", &url)) {
				n += (size_t)json_object_get_string_len(url);
				(*pictures)++;
			}
		}
	}
	return n;
}

/*
 * What a call spends of its budget: an image call its images; a chat
 * call its prompt (4 bytes a token, an inline picture PICTURE_TOKENS)
 * plus the most it may write.
 */
static int64_t
call_cost(const struct openai_kind *k, struct json_object *body, size_t len)
{
	struct json_object *v;
	int64_t most = 0, pictures;
	size_t pic;

	if (is_image(k)) {
		most = json_object_object_get_ex(body, "n", &v)
			   ? json_object_get_int64(v)
			   : 1;
		return most > 0 ? most : 1;
	}
	if (json_object_object_get_ex(body, "max_completion_tokens", &v) ||
	    json_object_object_get_ex(body, "max_tokens", &v))
		most = json_object_get_int64(v);
	pic = picture_bytes(body, &pictures);
	return (int64_t)((len - (pic < len ? pic : len)) / 4) + 1 +
	       pictures * PICTURE_TOKENS + (most > 0 ? most : 0);
}

static bool
budget_failed(const struct gen_ctx *g, enum sj_err e, struct gen_fail *f)
{
	if (e == SJ_EDB)
		db_reset(g->db);
	gen_fail_err(f, e, "Taking the provider's budget failed");
	return false;
}

/* Sleeps ms through the handler's hook; false: f (the job ended). */
static bool
nap(const struct gen_ctx *g, int64_t ms, struct gen_fail *f)
{
	if (g->sleep(g->arg, ms))
		return true;
	gen_fail_end(f, GEN_ENDED);
	return false;
}

/*
 * Counts one more of the job's deferrals of a kind (key: CKPT_429,
 * CKPT_VOID) in its checkpoint object, not saved.  false, nothing
 * counted: max were counted already, and the caller fails the job
 * transiently instead (an attempt spent).  *n: the count before.
 */
static bool
count_deferral(const struct gen_ctx *g, const char *key, int64_t max,
	       int64_t *n)
{
	struct json_object *v = gen_ctx_ckpt(g, key);

	*n = json_object_is_type(v, json_type_int) ? json_object_get_int64(v)
						   : 0;
	if (*n >= max)
		return false;
	if (!json_object_is_type(*g->ckpt, json_type_object)) {
		json_object_put(*g->ckpt);
		*g->ckpt = json_object_new_object();
	}
	return *g->ckpt != NULL &&
	       json_object_object_add(*g->ckpt, key,
				      json_object_new_int64(*n + 1)) == 0;
}

/*
 * A booking that cannot be used (late, or a pause reaches past it) is
 * gone from the checkpoint and counted; true: book again.  After
 * BUDGET_VOIDS_MAX of them, false: saved without it, and f fails the
 * job transiently, so a job that misses its slot each time spends its
 * attempts rather than booking forever.
 */
static bool
booking_void(const struct gen_ctx *g, int64_t late_ms, bool paused,
	     struct gen_fail *f)
{
	int64_t n;

	json_object_object_del(*g->ckpt, CKPT_BOOKED);
	log_kv(LOG_LVL_INFO, "job", g->job_id, "booking void",
	       LOG_INT("late_ms", late_ms), LOG_INT("paused", paused));
	if (count_deferral(g, CKPT_VOID, BUDGET_VOIDS_MAX, &n))
		return true;
	if (!g->save(g->arg)) {
		gen_fail_end(f, GEN_ENDED);
		return false;
	}
	gen_fail_set(f, true, "EXTERNAL_SERVICE_ERROR",
		     "The provider's rate limit: the call missed its booked "
		     "slot %lld times",
		     (long long)n + 1);
	return false;
}

/* A job refused past the horizon: back after its edge, spread (DESIGN). */
static int64_t
spread_ms(int64_t edge_ms)
{
	struct timespec ts;
	unsigned int seed;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	seed = (unsigned int)ts.tv_nsec ^ (unsigned int)pthread_self();
	return edge_ms + (int64_t)(rand_r(&seed) % BUDGET_SPREAD_MS);
}

/* Whether any limit the call spends is on. */
static bool
limited(const struct openai_kind *k, const struct budget_limits *lim)
{
	return is_image(k) ? lim->image_ipm > 0
			   : lim->chat_rpm > 0 || lim->chat_tpm > 0;
}

/*
 * The job's booking from the checkpoint, if any (see DESIGN).  true and
 * *go: make the call now (after sleeping into the slot); true and not
 * *go: book again (*voided: a void was counted, not saved).  false: f
 * says why (deferred again, ended or failed).
 */
static bool
booking_use(const struct gen_ctx *g, int64_t at, bool *go, bool *voided,
	    struct gen_fail *f)
{
	int64_t now;
	bool ok;
	enum sj_err e;

	*go = *voided = false;
	if ((e = budget_booking_ok(g->db, BUDGET_OPENAI, at, &ok, &now)) !=
	    SJ_OK)
		return budget_failed(g, e, f);
	if (ok && now < at - BUDGET_LEAD_MS) {
		gen_fail_defer(f, at - now - BUDGET_LEAD_MS,
			       "provider budget: back before its slot");
		return false;
	}
	if (ok && now <= at + BUDGET_LATE_MS) {
		/* used: saved gone with the call's count */
		json_object_object_del(*g->ckpt, CKPT_BOOKED);
		*go = true;
		return now >= at || nap(g, at - now, f);
	}
	*voided = true;
	return booking_void(g, now - at, !ok, f);
}

/*
 * Takes the budget of one call of cost (see DESIGN).  true: make the
 * call now.  false: f says why (deferred, ended or failed).
 */
static bool
budget_gate(const struct gen_ctx *g, const struct openai_kind *k, int64_t cost,
	    struct gen_fail *f)
{
	struct json_object *v = gen_ctx_ckpt(g, CKPT_BOOKED);
	struct budget_limits lim;
	int64_t wait, at;
	bool go, voided = false;
	enum sj_err e;

	budget_limits_of(g->cfg, &lim);
	if (json_object_is_type(v, json_type_int)) {
		if (!booking_use(g, json_object_get_int64(v), &go, &voided, f))
			return false;
		if (go)
			return true;
	}
	if ((e = budget_reserve(g->db, BUDGET_OPENAI, &lim,
				is_image(k) ? BUDGET_IMAGE : BUDGET_CHAT, cost,
				BUDGET_AHEAD_MS, &wait, &at)) != SJ_OK)
		return budget_failed(g, e, f);
	if (wait == 0)
		return true;
	if (wait > 0 && wait <= BUDGET_LEAD_MS)
		return nap(g, wait, f);
	if (wait > 0) {
		if (!gen_ctx_save(g, CKPT_BOOKED, json_object_new_int64(at), f))
			return false;
		gen_fail_defer(f, wait - BUDGET_LEAD_MS,
			       "provider budget: call booked");
		return false;
	}
	/* a void counted must be saved: the old booking is gone */
	if (voided && !g->save(g->arg)) {
		gen_fail_end(f, GEN_ENDED);
		return false;
	}
	/* limits on: booked up past the horizon; off: paused, to its end */
	gen_fail_defer(f, limited(k, &lim) ? spread_ms(-wait) : -wait,
		       "provider budget: paused or booked up");
	return false;
}

/*
 * The failure record of a non-2xx answer: a missing or retired model, a
 * refused parameter, key or quota fail at once with a message naming the
 * setting to change; 408/425/429/5xx are retried (a 429's Retry-After
 * honoured: a deferral, at most OPENAI_429_DEFERS_MAX per job).
 */
static void
fail_status(const struct gen_ctx *g, const struct http_resp *resp,
	    const struct openai_kind *k, const char *what, struct gen_fail *f)
{
	struct oai_error err;
	enum oai_fault fault;
	long retry_s = resp->retry_after_s > 0 ? resp->retry_after_s : 0;
	int64_t defers = 0;
	char text[600];

	oai_error_parse(resp->status, resp->body.data, resp->body.len,
			g->cfg->openai_api_key, &err);
	fault = oai_error_fault(&err);
	oai_error_text(&err, k->setting, k->model, k->kind, text, sizeof(text));
	/* every worker waits; this job goes back until then, no attempt */
	if (resp->status == 429 && retry_s > 0 && oai_fault_transient(fault)) {
		enum sj_err e =
		    budget_pause(g->db, BUDGET_OPENAI, (int64_t)retry_s * 1000);

		if (e == SJ_OK &&
		    count_deferral(g, CKPT_429, OPENAI_429_DEFERS_MAX,
				   &defers)) {
			if (!g->save(g->arg)) {
				gen_fail_end(f, GEN_ENDED);
				return;
			}
			gen_fail_defer(f, (int64_t)retry_s * 1000,
				       "provider answered 429");
			return;
		}
		if (e == SJ_EDB)
			db_reset(g->db);
		if (e == SJ_OK)
			log_kv(LOG_LVL_WARN, "job", g->job_id,
			       "429 deferrals spent: a retry instead",
			       LOG_INT("deferrals", defers));
	}
	if (!oai_fault_transient(fault))
		log_kv(LOG_LVL_WARN, "job", g->job_id,
		       "upstream call failed for good", LOG_STR("call", what),
		       LOG_STR("error", text));
	gen_fail_set(f, oai_fault_transient(fault), "EXTERNAL_SERVICE_ERROR",
		     "%s failed: %s", what, text);
	f->retry_after_s = retry_s;
}

/*
 * Adds what an answer used to the job (its tokens; an image answer's
 * images), corrects a chat call's token estimate cost, logs it.  A
 * failed write is logged: the answer is in hand and worth keeping.
 */
static void
record_usage(const struct gen_ctx *g, struct json_object *ans,
	     const struct openai_kind *k, int64_t cost)
{
	struct json_object *data;
	struct budget_limits lim;
	struct oai_usage u;
	int64_t images = 0;
	enum sj_err e;

	oai_usage_parse(ans, &u);
	if (is_image(k) && jv_array(ans, "data", &data) == SJ_OK)
		images = (int64_t)json_object_array_length(data);
	e = job_add_usage(g->db, g->lease, u.input, u.output, images);
	budget_limits_of(g->cfg, &lim);
	if (e == SJ_OK && !is_image(k) && u.input >= 0 && u.output >= 0)
		e = budget_adjust(g->db, BUDGET_OPENAI, &lim,
				  u.input + u.output - cost);
	if (e != SJ_OK) {
		if (e == SJ_EDB)
			db_reset(g->db);
		log_kv(LOG_LVL_WARN, "job", g->job_id, "recording usage failed",
		       LOG_STR("error", sj_strerror(e)));
	}
	if (u.total < 0 && u.input < 0)
		return;
	log_kv(LOG_LVL_INFO, "job", g->job_id, "usage",
	       LOG_STR("model", k->model), LOG_INT("input_tokens", u.input),
	       LOG_INT("image_input_tokens", u.image_input),
	       LOG_INT("output_tokens", u.output),
	       LOG_INT("total_tokens", u.total), LOG_INT("images", images));
}

bool
openai_post(const struct gen_ctx *g, const char *path, struct json_object *body,
	    size_t cap, const char *what, const struct openai_kind *k,
	    struct json_object **answer, struct gen_fail *f)
{
	struct oai_target t;
	const char *headers[] = {"Content-Type: application/json", t.auth,
				 NULL};
	const char *text, *why;
	struct http_req req = {.method = "POST", .policy = HTTP_API};
	struct http_resp resp;
	int64_t cost;
	bool ok;

	*answer = NULL;
	text =
	    body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN)
		 : NULL;
	if (text == NULL || oai_target(g->cfg, path, &t) != SJ_OK) {
		json_object_put(body);
		gen_fail_err(f, text ? SJ_EINVAL : SJ_ENOMEM,
			     "Building the request failed");
		return false;
	}
	cost = call_cost(k, body, strlen(text));
	if (!budget_gate(g, k, cost, f)) {
		json_object_put(body);
		return false;
	}
	if (!g->paid_call(g->arg)) {
		json_object_put(body);
		gen_fail_end(f, GEN_ENDED);
		return false;
	}
	req.url = t.url;
	req.headers = headers;
	req.body = text;
	req.body_len = strlen(text);
	req.max_response = cap;
	req.timeout_ms = (long)g->cfg->openai_timeout_s * 1000;
	ok = gen_call(g, &req, &resp, what, f);
	json_object_put(body);
	if (!ok)
		return false;
	if (resp.status < 200 || resp.status >= 300)
		fail_status(g, &resp, k, what, f);
	else if (json_parse_strict(resp.body.data, resp.body.len, JSONV_DEPTH,
				   answer, &why) != SJ_OK) {
		gen_fail_set(f, true, "EXTERNAL_SERVICE_ERROR",
			     "%s failed: a malformed answer (%s)", what, why);
		*answer = NULL;
	} else
		record_usage(g, *answer, k, cost);
	http_resp_free(&resp);
	return *answer != NULL;
}

struct json_object *
openai_text(const char *fmt, ...)
{
	struct json_object *o;
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	o = json_object_new_string(s);
	free(s);
	return o;
}
