/*
 * The openai provider with no job and no worker: this program links
 * worker/gen_openai*.c, gen_http.c and gen_types.c but none of the pool,
 * slot or step files.  Its provider context has hooks of its own, the
 * upstream is a loopback responder in this program answering one canned
 * response per connection, and the budget is the test database's.  A
 * call's result and its failure record are all the provider says.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "job.h"

#include "gen_openai.h"
#include "testdb.h"

static struct cfg cfg;
static struct db *db, *side;
static int lfd = -1;
static pthread_t responder;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char canned[4096]; /* the next answers' full HTTP response */
static int calls;	  /* requests answered */
static int saves;	  /* checkpoint saves through the hook */

/* Reads one request (headers and Content-Length body), answers canned. */
static void
answer(int fd)
{
	char req[65536], out[sizeof(canned)];
	size_t n = 0, want = 0;
	const char *cl, *end;
	ssize_t r;

	while (n < sizeof(req) - 1 &&
	       (r = read(fd, req + n, sizeof(req) - 1 - n)) > 0) {
		n += (size_t)r;
		req[n] = '\0';
		if ((end = strstr(req, "\r\n\r\n")) == NULL)
			continue;
		cl = strcasestr(req, "Content-Length:");
		want = (size_t)(end + 4 - req) +
		       (cl ? strtoul(cl + 15, NULL, 10) : 0);
		if (n >= want)
			break;
	}
	pthread_mutex_lock(&mu);
	snprintf(out, sizeof(out), "%s", canned);
	calls++;
	pthread_mutex_unlock(&mu);
	if (write(fd, out, strlen(out)) < 0)
		return;
}

static void *
serve(void *arg)
{
	int fd;

	(void)arg;
	while ((fd = accept(lfd, NULL, NULL)) >= 0) {
		answer(fd);
		close(fd);
	}
	return NULL;
}

/* The next answers: status line, extra headers ("" none), JSON body. */
static void
respond(const char *status, const char *headers, const char *body)
{
	pthread_mutex_lock(&mu);
	snprintf(canned, sizeof(canned),
		 "HTTP/1.1 %s\r\nContent-Type: application/json\r\n%s"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		 status, headers, strlen(body), body);
	pthread_mutex_unlock(&mu);
}

static bool
no_abort(void *arg)
{
	(void)arg;
	return false;
}

static bool
save(void *arg)
{
	(void)arg;
	saves++;
	return true;
}

static int64_t slept; /* ms slept through the hook */

static bool
nap(void *arg, int64_t ms)
{
	(void)arg;
	slept += ms;
	return true;
}

static bool
paid(void *arg)
{
	(void)arg;
	return true;
}

static struct json_object *ckpt;
static const struct job_lease lease;

static struct gen_ctx
ctx(void)
{
	return (struct gen_ctx){
	    .cfg = &cfg,
	    .db = db,
	    .lease = &lease,
	    .job_id = "00000000-0000-0000-0000-000000000000",
	    .ckpt = &ckpt,
	    .deadline_ms = INT64_MAX / 2,
	    .provider = "openai",
	    .abort_cb = no_abort,
	    .save = save,
	    .sleep = nap,
	    .paid_call = paid,
	};
}

static int
group_setup(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	char url[64];

	(void)state;
	if (testdb_open(&cfg, &db, &side) != 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(lfd, 8) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1",
		 (unsigned)ntohs(a.sin_port));
	free(cfg.openai_base_url);
	free(cfg.openai_api_key);
	cfg.openai_base_url = strdup(url);
	cfg.openai_api_key = strdup("sk-unit-test-key");
	cfg.openai_chat_rpm = cfg.openai_chat_tpm = cfg.openai_image_ipm = 0;
	return pthread_create(&responder, NULL, serve, NULL) == 0 ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	shutdown(lfd, SHUT_RDWR);
	close(lfd);
	pthread_join(responder, NULL);
	testdb_close(&cfg, db, side);
	return 0;
}

/* Each test: no pause, no booking, an empty checkpoint, no calls. */
static int
setup(void **state)
{
	(void)state;
	testdb_sql(side, "TRUNCATE provider_budget");
	json_object_put(ckpt);
	ckpt = json_object_new_object();
	calls = saves = 0;
	slept = 0;
	cfg.openai_chat_rpm = cfg.openai_chat_tpm = cfg.openai_image_ipm = 0;
	return 0;
}

static void
test_story(void **state)
{
	struct gen_ctx g = ctx();
	struct gen_fail f;
	struct buf out;

	(void)state;
	respond("200 OK", "",
		"{\"choices\":[{\"message\":{\"content\":\"The Fox\\n\\nA "
		"fox ran.\"}}],\"usage\":{\"prompt_tokens\":12,"
		"\"completion_tokens\":5,\"total_tokens\":17}}");
	assert_true(openai_story(&g, "bedtime", "a fox", "children", &out, &f));
	assert_int_equal(out.len, strlen("The Fox\n\nA fox ran."));
	assert_memory_equal(out.data, "The Fox\n\nA fox ran.", out.len);
	assert_int_equal(calls, 1);
	buf_free(&out);
}

static void
test_refused(void **state)
{
	struct gen_ctx g = ctx();
	struct gen_fail f;
	struct buf out;

	(void)state;
	respond("400 Bad Request", "",
		"{\"error\":{\"message\":\"Unsupported parameter: 'x'\","
		"\"type\":\"invalid_request_error\",\"param\":\"x\","
		"\"code\":\"unsupported_parameter\"}}");
	assert_false(
	    openai_story(&g, "bedtime", "a fox", "children", &out, &f));
	assert_int_equal(f.end, GEN_FAILED);
	assert_false(f.transient);
	assert_string_equal(f.code, "EXTERNAL_SERVICE_ERROR");
	assert_non_null(strstr(f.msg, "Writing the story failed"));
	assert_null(strstr(f.msg, "sk-unit-test-key"));
	assert_int_equal(f.retry_after_s, 0);
}

static void
test_429_defers(void **state)
{
	struct gen_ctx g = ctx();
	struct json_object *n;
	struct gen_fail f;
	struct buf out;

	(void)state;
	respond("429 Too Many Requests", "Retry-After: 7\r\n",
		"{\"error\":{\"message\":\"Rate limit reached\","
		"\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}");
	assert_false(
	    openai_story(&g, "bedtime", "a fox", "children", &out, &f));
	assert_int_equal(f.end, GEN_DEFER);
	assert_int_equal(f.defer_ms, 7000);
	/* the count is saved before the job is given back */
	assert_true(json_object_object_get_ex(ckpt, "deferred429", &n));
	assert_int_equal(json_object_get_int64(n), 1);
	assert_int_equal(saves, 1);
}

static void
test_429_bounded(void **state)
{
	struct gen_ctx g = ctx();
	struct gen_fail f;
	struct buf out;

	(void)state;
	json_object_object_add(ckpt, "deferred429", json_object_new_int64(10));
	respond("429 Too Many Requests", "Retry-After: 7\r\n",
		"{\"error\":{\"message\":\"Rate limit reached\","
		"\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}");
	assert_false(
	    openai_story(&g, "bedtime", "a fox", "children", &out, &f));
	assert_int_equal(f.end, GEN_FAILED);
	assert_true(f.transient);
	assert_string_equal(f.code, "EXTERNAL_SERVICE_ERROR");
	assert_int_equal(f.retry_after_s, 7);
	assert_int_equal(saves, 0);
}

#define STORY_OK                                                               \
	"{\"choices\":[{\"message\":{\"content\":\"The Fox\\n\\nA "            \
	"fox ran.\"}}],\"usage\":{\"prompt_tokens\":12,"                       \
	"\"completion_tokens\":5,\"total_tokens\":17}}"

/* The database's clock, unix ms. */
static int64_t
db_now_ms(void)
{
	PGresult *r = PQexec(db_pg(side), "SELECT floor(1000 * date_part("
					  "'epoch', now()))::int8");
	int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);

	PQclear(r);
	return v;
}

/* The job's count under key in its checkpoint (0: none). */
static int64_t
ckpt_int(const char *key)
{
	struct json_object *n;

	return json_object_object_get_ex(ckpt, key, &n)
		   ? json_object_get_int64(n)
		   : 0;
}

/*
 * A call booked 10 s ahead is deferred to 3 s before its slot, and a
 * re-claim 2.5 s before the slot sleeps into it and calls, using the
 * booking (nothing booked again).
 */
static void
test_booking_lead(void **state)
{
	struct gen_ctx g = ctx();
	struct gen_fail f;
	struct buf out;
	int64_t at;

	(void)state;
	respond("200 OK", "", STORY_OK);
	cfg.openai_chat_rpm = 6; /* 10.084 s a call, the margin in it */
	assert_true(openai_story(&g, "bedtime", "a fox", "children", &out, &f));
	buf_free(&out);
	assert_false(
	    openai_story(&g, "bedtime", "a fox", "children", &out, &f));
	assert_int_equal(f.end, GEN_DEFER);
	assert_true(f.defer_ms > 10084 - 3000 - 200 &&
		    f.defer_ms <= 10084 - 3000);
	assert_int_equal(calls, 1);
	/* back 2.5 s early: sleeps, calls, and books nothing more */
	testdb_sql(side, "UPDATE provider_budget SET tat_requests = now() + "
			 "interval '100 s'");
	at = db_now_ms() + 2500;
	json_object_object_add(ckpt, "budgetAt", json_object_new_int64(at));
	assert_true(openai_story(&g, "bedtime", "a fox", "children", &out, &f));
	buf_free(&out);
	assert_true(slept > 2000 && slept <= 2500);
	assert_int_equal(calls, 2);
	assert_int_equal(ckpt_int("budgetVoids"), 0);
	assert_false(json_object_object_get_ex(ckpt, "budgetAt", NULL));
}

/*
 * A re-claim too late for its booking voids it and counts the void in
 * the checkpoint; the 6th void fails the job transiently (an attempt
 * spent), saved without the booking, and makes no call.
 */
static void
test_booking_voids_bounded(void **state)
{
	struct gen_ctx g = ctx();
	struct gen_fail f;
	struct buf out;

	(void)state;
	respond("200 OK", "", STORY_OK);
	cfg.openai_chat_rpm = 6;
	json_object_object_add(ckpt, "budgetAt",
			       json_object_new_int64(db_now_ms() - 5000));
	/* void, booked again for now: the call is made */
	assert_true(openai_story(&g, "bedtime", "a fox", "children", &out, &f));
	buf_free(&out);
	assert_int_equal(calls, 1);
	assert_int_equal(ckpt_int("budgetVoids"), 1);
	/* void, booked again 10 s on: deferred with the count saved */
	json_object_object_add(ckpt, "budgetAt",
			       json_object_new_int64(db_now_ms() - 5000));
	assert_false(
	    openai_story(&g, "bedtime", "a fox", "children", &out, &f));
	assert_int_equal(f.end, GEN_DEFER);
	assert_int_equal(ckpt_int("budgetVoids"), 2);
	assert_int_equal(saves, 1);
	/* the limit: a transient failure, no call, no booking kept */
	json_object_object_add(ckpt, "budgetVoids", json_object_new_int64(5));
	json_object_object_add(ckpt, "budgetAt",
			       json_object_new_int64(db_now_ms() - 5000));
	saves = 0;
	assert_false(
	    openai_story(&g, "bedtime", "a fox", "children", &out, &f));
	assert_int_equal(f.end, GEN_FAILED);
	assert_true(f.transient);
	assert_int_equal(calls, 1);
	assert_int_equal(saves, 1);
	assert_false(json_object_object_get_ex(ckpt, "budgetAt", NULL));
	assert_int_equal(ckpt_int("budgetVoids"), 5);
}

/*
 * Jobs refused at one moment because the budget is booked past the
 * horizon come back spread over up to 30 s after its edge, not all at
 * one instant.
 */
static void
test_booked_up_spread(void **state)
{
	struct gen_ctx g = ctx();
	struct gen_fail f;
	struct buf out;
	int64_t lo = INT64_MAX, hi = 0;

	(void)state;
	cfg.openai_chat_rpm = 6;
	testdb_sql(side, "INSERT INTO provider_budget (provider, tat_requests) "
			 "VALUES ('openai', now() + interval '400 s')");
	for (int i = 0; i < 12; i++) {
		assert_false(
		    openai_story(&g, "bedtime", "a fox", "children", &out, &f));
		assert_int_equal(f.end, GEN_DEFER);
		assert_true(f.defer_ms >= 100000 - 1000 &&
			    f.defer_ms < 100000 + 30000);
		lo = f.defer_ms < lo ? f.defer_ms : lo;
		hi = f.defer_ms > hi ? f.defer_ms : hi;
	}
	assert_true(hi - lo > 2000);
	assert_int_equal(calls, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_story, setup),
	    cmocka_unit_test_setup(test_refused, setup),
	    cmocka_unit_test_setup(test_429_defers, setup),
	    cmocka_unit_test_setup(test_429_bounded, setup),
	    cmocka_unit_test_setup(test_booking_lead, setup),
	    cmocka_unit_test_setup(test_booking_voids_bounded, setup),
	    cmocka_unit_test_setup(test_booked_up_spread, setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
