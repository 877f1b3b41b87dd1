/*
 * libFuzzer target for the request edge: everything a client controls
 * before a handler runs.  The first byte picks the layer:
 *   0-4  the body as JSON (strict parser), then the start validation of
 *        job type byte % 5 — what POST /api/jobs/{type}/start does
 *   5    the bytes as a request path against a route table
 *   6    the bytes as CONTENT_LENGTH and as configuration numbers
 * Built and run by tests/fuzz/run.sh (./dev test runs it briefly,
 * ./dev fuzz SECONDS for longer).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "jsonv.h"
#include "num.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_json(const char *buf, size_t len, enum job_type t)
{
	struct json_object *o = NULL, *norm = NULL;
	const char *why = NULL, *msg = NULL;

	if (json_parse_strict(buf, len, JSONV_DEPTH, &o, &why) != SJ_OK) {
		if (o != NULL || why == NULL)
			abort();
		return;
	}
	if (job_input_validate(t, o, &norm, &msg) == SJ_OK) {
		/* a normalized input must serialize and parse back strictly */
		size_t n = 0;
		const char *s = json_object_to_json_string_length(
		    norm, JSON_C_TO_STRING_PLAIN, &n);
		struct json_object *back = NULL;

		if (s == NULL ||
		    json_parse_strict(s, n, JSONV_DEPTH, &back, &why) != SJ_OK)
			abort();
		json_object_put(back);
	} else if (msg == NULL || norm != NULL) {
		abort();
	}
	json_object_put(norm);
	json_object_put(o);
}

static void
fuzz_route(const char *path)
{
	static const char *const patterns[] = {
	    "/api/jobs/*/start",  "/api/jobs/*/status/*",
	    "/api/jobs/user",	  "/api/jobs/*",
	    "/api/jobs/*/cancel", "/api/admin/jobs/*/retry"};
	char scratch[1024];
	const char *caps[ROUTE_MAX_CAPS];

	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		if (route_match(patterns[i], path, scratch, sizeof(scratch),
				caps) &&
		    strchr(patterns[i], '*') != NULL &&
		    (caps[0] == NULL || *caps[0] == '\0' ||
		     strchr(caps[0], '/') != NULL))
			abort();
}

static void
fuzz_numbers(const char *s)
{
	uint64_t u;
	int64_t v;
	double d;
	bool b;

	if (num_u64_digits(s, 1 << 20, &u) == SJ_OK && u > (1 << 20))
		abort();
	if (num_i64(s, -5, 5, &v) == SJ_OK && (v < -5 || v > 5))
		abort();
	(void)!num_double(s, &d);
	(void)!num_bool(s, &b);
	(void)job_id_valid(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size == 0)
		return 0;
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] % 8 < 5)
		fuzz_json(s, size - 1, (enum job_type)(data[0] % 8));
	else if (data[0] % 8 == 5)
		fuzz_route(s);
	else
		fuzz_numbers(s);
	free(s);
	return 0;
}
