/*
 * The integration tests' side of the fake upstream server
 * (tests/fake/fake_upstream.c): starting it, scripting it, reading its
 * call log, and the worker settings that point the openai provider and
 * cloudinary storage at it.
 *
 * Environment: FAKE_UPSTREAM (path of the binary).
 */
#ifndef SJ_TEST_FAKE_H
#define SJ_TEST_FAKE_H

#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

#define FAKE_API_KEY	  "sk-test-key"
#define FAKE_CLOUD	  "democloud"
#define FAKE_CLOUD_KEY	  "123456789"
#define FAKE_CLOUD_SECRET "cloud-secret-for-tests"
#define FAKE_CHAT	  "/v1/chat/completions"
#define FAKE_IMAGES	  "/v1/images/generations"
#define FAKE_UPLOAD	  "/v1_1/" /* any upload */

struct fake {
	pid_t pid;
	int port;
	char base[64];	      /* http://127.0.0.1:<port> */
	char env[12][192];    /* worker settings, see fake_worker_env */
	const char *envp[13]; /* NULL-terminated view of env */
};

void fake_start(struct fake *f);
void fake_stop(struct fake *f);
/*
 * POST /_script {"path": path, <what>} (what: "\"modes\":[...]", "\"url\"",
 * "\"error\":{status, type, code, param, message}" for the "error" mode,
 * whose message has {key} replaced by the request's key).
 */
void fake_script(const struct fake *f, const char *path, const char *what);
void fake_reset(const struct fake *f);
/*
 * POST /_models body: the GET /v1/models script ({"omit":[ids],
 * "revive":[retired ids served again], "shutdown":{id:date},
 * "no_dates":true, "delay_ms":n, "status":n}; "{}" restores the plain
 * list).  fake_reset() restores it too.
 */
void fake_models(const struct fake *f, const char *body);
/* How many GET /v1/models the fake has answered since its last reset. */
int fake_models_calls(const struct fake *f);
/*
 * A counter of the fake since its last reset: "models_calls", "img_gets"
 * (fetches of its test photos), "bad_requests" (bytes that are not HTTP).
 */
int fake_counter(const struct fake *f, const char *name);
/* The call log (a new array reference). */
struct json_object *fake_calls(const struct fake *f);
/* Calls in log to path (NULL: all). */
int fake_count(struct json_object *log, const char *path);
/*
 * Uploads the fake's sample photo through the API (with salt appended
 * after its end, when not NULL, to make a distinct file); url receives it.
 */
void fake_upload_photo(const struct fake *f, const char *salt, char *url,
		       size_t urlsz);
/*
 * f->envp: GENERATION_PROVIDER=openai against f, STORAGE=cloudinary
 * against f, no local delay, plus extra (NULL-terminated, may be NULL).
 */
const char *const *fake_worker_env(struct fake *f, const char *const *extra);

#endif
