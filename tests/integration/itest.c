#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "itest.h"

const char *itest_base;
PGconn *itest_pg;

/*
 * Workers started and not yet stopped: a test that fails midway leaves
 * its own running, and itest_done() ends them, so they do not take the
 * next suite's jobs on the shared stack.
 */
#define ITEST_WORKERS_MAX 64
static pid_t workers[ITEST_WORKERS_MAX];

void
itest_init(void)
{
	itest_base = getenv("BASE_URL");
	if (itest_base == NULL || getenv("DATABASE_URL") == NULL) {
		fprintf(stderr, "BASE_URL and DATABASE_URL are required (see "
				"tests/integration/run.sh)\n");
		exit(1);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	itest_pg = PQconnectdb(getenv("DATABASE_URL"));
	if (PQstatus(itest_pg) != CONNECTION_OK) {
		fprintf(stderr, "database: %s", PQerrorMessage(itest_pg));
		exit(1);
	}
}

void
itest_done(void)
{
	for (int i = 0; i < ITEST_WORKERS_MAX; i++) {
		if (workers[i] <= 0)
			continue;
		fprintf(stderr,
			"a failed test left worker %ld running: killed\n",
			(long)workers[i]);
		kill(workers[i], SIGKILL);
		waitpid(workers[i], NULL, 0);
		workers[i] = 0;
	}
	PQfinish(itest_pg);
	curl_global_cleanup();
}

static size_t
on_body(char *p, size_t size, size_t n, void *ud)
{
	struct resp *r = ud;

	return buf_add(&r->body, p, size * n) == SJ_OK ? size * n : 0;
}

static size_t
on_header(char *p, size_t size, size_t n, void *ud)
{
	struct resp *r = ud;
	size_t len = size * n;

	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0)
		snprintf(r->retry_after, sizeof(r->retry_after), "%.*s",
			 (int)strcspn(p + 12, "\r\n") - 1, p + 13);
	return len;
}

/* "host!ADDR" for CURLOPT_INTERFACE, or "" for the default source. */
static char source_if[64];

void
itest_source(const char *addr)
{
	snprintf(source_if, sizeof(source_if), "%s%s", addr ? "host!" : "",
		 addr ? addr : "");
}

void
http(const char *method, const char *path, const char *const *headers,
     const char *body, long len, struct resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[2048];
	char *ct = NULL;

	memset(r, 0, sizeof(*r));
	buf_init(&r->body, 16 << 20);
	assert_non_null(c);
	snprintf(url, sizeof(url), "%s%s", path[0] == '/' ? itest_base : "",
		 path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	if (source_if[0] != '\0')
		curl_easy_setopt(c, CURLOPT_INTERFACE, source_if);
	for (; headers != NULL && *headers != NULL; headers++)
		h = curl_slist_append(h, *headers);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE,
				 len < 0 ? (long)strlen(body) : len);
	}
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
	snprintf(r->ctype, sizeof(r->ctype), "%s", ct ? ct : "");
	if (strncmp(r->ctype, "application/json", 16) == 0 && r->body.data)
		r->json = json_tokener_parse(r->body.data);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

/* A JSON request with an optional Bearer token; patient waits out 429s. */
static void
json_request(const char *method, const char *path, const char *token,
	     const char *body, struct resp *r, int patient)
{
	char auth[256];
	const char *h[3] = {"Content-Type: application/json", NULL, NULL};

	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h[1] = auth;
	}
	if (patient)
		http_patient(method, path, h, body, -1, r);
	else
		http(method, path, h, body, -1, r);
}

void
http_json(const char *method, const char *path, const char *token,
	  const char *body, struct resp *r)
{
	json_request(method, path, token, body, r, 0);
}

void
http_json_patient(const char *method, const char *path, const char *token,
		  const char *body, struct resp *r)
{
	json_request(method, path, token, body, r, 1);
}

void
expect_error(struct resp *r, long status, const char *code, const char *msg)
{
	if (r->status != status)
		fail_msg("status %ld, want %ld: %s", r->status, status,
			 r->body.data ? r->body.data : "");
	assert_non_null(r->json);
	assert_string_equal(jstr(r->json, "code"), code);
	if (msg != NULL)
		assert_string_equal(jstr(r->json, "error"), msg);
}

void
http_patient(const char *method, const char *path, const char *const *headers,
	     const char *body, long len, struct resp *r)
{
	for (int i = 0; i < 40; i++) {
		http(method, path, headers, body, len, r);
		if (r->status != 429)
			return;
		resp_free(r);
		sleep(1);
	}
	fail_msg("still rate limited after 40 s");
}

void
resp_free(struct resp *r)
{
	buf_free(&r->body);
	json_object_put(r->json);
	r->json = NULL;
}

const char *
jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

long long
jint(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

void
itest_cancel_leftovers(void)
{
	(void)sql_ll("WITH c AS (UPDATE jobs SET status = 'cancelled', "
		     "completed_at = now(), updated_at = now(), lease_owner = "
		     "NULL, lease_expires_at = NULL WHERE status IN "
		     "('pending', 'processing') RETURNING 1) SELECT count(*) "
		     "FROM c");
	/* a status set by hand: the live counts are the recount's (018) */
	(void)sql_ll("SELECT jobs_live_recount()");
}

void
sql_str_p(const char *sql, int n, const char *const *params, char *out,
	  size_t outsz)
{
	PGresult *r;

	r = PQexecParams(itest_pg, sql, n, NULL, params, NULL, NULL, 0);
	if (PQstatus(itest_pg) != CONNECTION_OK) { /* a test restarted it */
		PQclear(r);
		PQreset(itest_pg);
		r = PQexecParams(itest_pg, sql, n, NULL, params, NULL, NULL, 0);
	}
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(r), 1);
	assert_true((size_t)PQgetlength(r, 0, 0) < outsz);
	snprintf(out, outsz, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
}

long long
sql_ll_p(const char *sql, int n, const char *const *params)
{
	char v[32];

	sql_str_p(sql, n, params, v, sizeof(v));
	return strtoll(v, NULL, 10);
}

void
sql_str(const char *sql, char *out, size_t outsz)
{
	sql_str_p(sql, 0, NULL, out, outsz);
}

long long
sql_ll(const char *sql)
{
	return sql_ll_p(sql, 0, NULL);
}

int
itest_ctl(const char *input, const char *const *args)
{
	const char *ctl = getenv("STORYJOBSCTL");
	const char *argv[16];
	int fds[2], st = 0;
	size_t n = 0;
	pid_t pid;

	assert_non_null(ctl);
	argv[n++] = ctl;
	for (; *args != NULL && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	assert_int_equal(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		dup2(fds[0], 0);
		close(fds[0]);
		close(fds[1]);
		execv(ctl, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(fds[0]);
	if (input != NULL)
		assert_true(write(fds[1], input, strlen(input)) >= 0);
	close(fds[1]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

void
itest_user(const char *email, const char *password, int admin, char token[128])
{
	const char *args[] = {"user", "add", email, admin ? "--admin" : NULL,
			      NULL};
	char body[512], line[300];
	struct resp r;

	snprintf(line, sizeof(line), "%s\n", password);
	assert_int_equal(itest_ctl(line, args), 0);
	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}",
		 email, password);
	/* every suite logs in from 127.0.0.1: wait out nginx's login limit */
	http_json_patient("POST", "/api/auth/login", NULL, body, &r);
	assert_int_equal(r.status, 200);
	snprintf(token, 128, "%s", jstr(r.json, "token"));
	resp_free(&r);
}

pid_t
itest_worker(const char *const *env)
{
	const char *bin = getenv("WORKER_BIN");
	pid_t pid;

	assert_non_null(bin);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (size_t i = 0; env != NULL && env[i] != NULL; i++)
			putenv((char *)(uintptr_t)env[i]);
		execl(bin, bin, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < ITEST_WORKERS_MAX; i++)
		if (workers[i] == 0) {
			workers[i] = pid;
			break;
		}
	return pid;
}

pid_t
itest_worker_ready(const char *const *env)
{
	long long before = sql_ll("SELECT count(*) FROM workers");
	pid_t pid = itest_worker(env);

	for (int i = 0; i < 200; i++) {
		if (sql_ll("SELECT count(*) FROM workers") > before)
			return pid;
		usleep(50 * 1000);
	}
	fail_msg("the worker did not start within 10 s");
	return pid;
}

int
itest_worker_stop(pid_t pid, int sig)
{
	int st = 0;

	kill(pid, sig);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	for (int i = 0; i < ITEST_WORKERS_MAX; i++)
		if (workers[i] == pid)
			workers[i] = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void
itest_job_start(const char *type, const char *body, const char *token,
		char id[64])
{
	char path[160];
	struct resp r;

	snprintf(path, sizeof(path), "/api/jobs/%s/start", type);
	http_json("POST", path, token, body, &r);
	if (r.status != 200 || jstr(r.json, "jobId") == NULL)
		fail_msg("start %s: %ld %s", type, r.status,
			 r.body.data ? r.body.data : "");
	snprintf(id, 64, "%s", jstr(r.json, "jobId"));
	resp_free(&r);
}

static bool
terminal(const char *st)
{
	return st != NULL &&
	       (strcmp(st, "completed") == 0 || strcmp(st, "failed") == 0 ||
		strcmp(st, "cancelled") == 0);
}

struct json_object *
itest_job_wait(const char *type, const char *id, int timeout_s)
{
	struct json_object *doc = NULL;
	char path[160];
	struct resp r;

	snprintf(path, sizeof(path), "/api/jobs/%s/status/%s", type, id);
	for (int i = 0; i < timeout_s * 20 && doc == NULL; i++) {
		http("GET", path, NULL, NULL, 0, &r);
		assert_int_equal(r.status, 200);
		if (terminal(jstr(r.json, "status")))
			doc = json_object_get(r.json);
		resp_free(&r);
		if (doc == NULL)
			usleep(50 * 1000);
	}
	if (doc == NULL)
		fail_msg("%s job %s did not end within %d s", type, id,
			 timeout_s);
	return doc;
}

struct json_object *
itest_job_run(const char *type, const char *body, const char *token,
	      int timeout_s)
{
	struct json_object *doc;
	char id[64];

	itest_job_start(type, body, token, id);
	doc = itest_job_wait(type, id, timeout_s);
	if (strcmp(jstr(doc, "status"), "completed") != 0)
		fail_msg("%s job ended %s: %s", type, jstr(doc, "status"),
			 json_object_to_json_string(doc));
	return doc;
}

int64_t
itest_now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

struct json_object *
jmember(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	assert_non_null(o);
	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("member %s missing", key);
	return v;
}

int
itest_check_pages(struct json_object *pages, void (*check_image)(const char *))
{
	int scenes = 0;

	assert_true(json_object_is_type(pages, json_type_array));
	assert_true(json_object_array_length(pages) >= 1);
	for (size_t p = 0; p < json_object_array_length(pages); p++) {
		struct json_object *sc =
		    jmember(json_object_array_get_idx(pages, p), "scenes");

		for (size_t i = 0; i < json_object_array_length(sc); i++) {
			struct json_object *scene =
			    json_object_array_get_idx(sc, i);

			assert_non_null(jstr(scene, "description"));
			check_image(jstr(scene, "imageUrl"));
			scenes++;
		}
	}
	return scenes;
}

int
http_raw(const char *text, size_t len, char *answer, size_t sz)
{
	const char *hostport = strstr(itest_base, "//") + 2;
	struct timeval tmo = {5, 0};
	struct sockaddr_in sa;
	size_t got = 0;
	ssize_t n;
	int fd, status = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port =
	    htons((uint16_t)strtol(strchr(hostport, ':') + 1, NULL, 10));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo)), 0);
	/* no half-close: nginx may take it for a client that went away */
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	while (got + 1 < sz && (n = read(fd, answer + got, sz - 1 - got)) > 0)
		got += (size_t)n;
	answer[got] = '\0';
	close(fd);
	if (strncmp(answer, "HTTP/1.1 ", 9) == 0)
		status = (int)strtol(answer + 9, NULL, 10);
	return status;
}

pid_t
itest_jobs_start(const char *const *env)
{
	const char *sock = getenv("ACTIVATED_SOCK"), *dir = getenv("FCGI_DIR");
	char bin[512];
	struct resp r;
	pid_t pid;

	assert_non_null(sock);
	assert_non_null(dir);
	snprintf(bin, sizeof(bin), "%s/storyjobs-jobs", dir);
	unlink(sock);
	if ((pid = fork()) == 0) {
		for (; env != NULL && *env != NULL; env++)
			putenv((char *)(uintptr_t)*env);
		execl(bin, bin, "--socket", sock, "--processes", "1",
		      "--socket-group", "www-data", (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	/* answering JSON through nginx: the status of no such job */
	for (int i = 0; i < 200; i++) {
		http("GET", "/activated/api/jobs/job_1_none", NULL, NULL, 0,
		     &r);
		if (r.status == 404 && r.json != NULL) {
			resp_free(&r);
			return pid;
		}
		resp_free(&r);
		usleep(50 * 1000);
	}
	fail_msg("storyjobs-jobs did not start on %s", sock);
	return -1;
}

void
itest_jobs_stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	unlink(getenv("ACTIVATED_SOCK"));
}
