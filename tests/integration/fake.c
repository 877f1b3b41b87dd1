#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake.h"
#include "itest.h"

void
fake_start(struct fake *f)
{
	const char *bin = getenv("FAKE_UPSTREAM");
	char dir[] = "/tmp/sj-fake.XXXXXX", pf[64];
	FILE *fp;

	memset(f, 0, sizeof(*f));
	assert_non_null(bin);
	assert_non_null(mkdtemp(dir));
	snprintf(pf, sizeof(pf), "%s/port", dir);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		execl(bin, bin, "--port-file", pf, "--api-key", FAKE_API_KEY,
		      "--cloud-name", FAKE_CLOUD, "--cloud-key", FAKE_CLOUD_KEY,
		      "--cloud-secret", FAKE_CLOUD_SECRET, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && f->port == 0; i++) {
		if ((fp = fopen(pf, "r")) != NULL) {
			if (fscanf(fp, "%d", &f->port) != 1)
				f->port = 0;
			fclose(fp);
		}
		if (f->port == 0)
			usleep(25 * 1000);
	}
	unlink(pf);
	rmdir(dir);
	if (f->port == 0)
		fail_msg("the fake upstream did not start");
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", f->port);
}

void
fake_stop(struct fake *f)
{
	int st;

	if (f->pid <= 0)
		return;
	kill(f->pid, SIGTERM);
	waitpid(f->pid, &st, 0);
	f->pid = 0;
}

void
fake_script(const struct fake *f, const char *path, const char *what)
{
	char url[128], body[2048];
	struct resp r;

	snprintf(url, sizeof(url), "%s/_script", f->base);
	snprintf(body, sizeof(body), "{\"path\":\"%s\",%s}", path, what);
	http_json("POST", url, NULL, body, &r);
	if (r.status != 200)
		fail_msg("script %s: %ld", body, r.status);
	resp_free(&r);
}

void
fake_reset(const struct fake *f)
{
	char url[128];
	struct resp r;

	snprintf(url, sizeof(url), "%s/_reset", f->base);
	http_json("POST", url, NULL, "{}", &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

void
fake_models(const struct fake *f, const char *body)
{
	char url[128];
	struct resp r;

	snprintf(url, sizeof(url), "%s/_models", f->base);
	http_json("POST", url, NULL, body, &r);
	if (r.status != 200)
		fail_msg("models script %s: %ld", body, r.status);
	resp_free(&r);
}

int
fake_counter(const struct fake *f, const char *name)
{
	char url[128];
	struct resp r;
	int n;

	snprintf(url, sizeof(url), "%s/_calls", f->base);
	http("GET", url, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	n = (int)jint(r.json, name);
	resp_free(&r);
	return n;
}

int
fake_models_calls(const struct fake *f)
{
	return fake_counter(f, "models_calls");
}

struct json_object *
fake_calls(const struct fake *f)
{
	struct json_object *calls;
	char url[128];
	struct resp r;

	snprintf(url, sizeof(url), "%s/_calls", f->base);
	http("GET", url, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_object_object_get_ex(r.json, "calls", &calls));
	calls = json_object_get(calls);
	resp_free(&r);
	return calls;
}

int
fake_count(struct json_object *log, const char *path)
{
	int n = 0;

	for (size_t i = 0; i < json_object_array_length(log); i++) {
		const char *p = jstr(json_object_array_get_idx(log, i), "path");

		if (path == NULL ||
		    (p != NULL && strncmp(p, path, strlen(path)) == 0))
			n++;
	}
	return n;
}

const char *const *
fake_worker_env(struct fake *f, const char *const *extra)
{
	size_t n = 0;

	snprintf(f->env[n++], sizeof(f->env[0]), "GENERATION_PROVIDER=openai");
	snprintf(f->env[n++], sizeof(f->env[0]), "OPENAI_API_KEY=%s",
		 FAKE_API_KEY);
	snprintf(f->env[n++], sizeof(f->env[0]), "OPENAI_BASE_URL=%s/v1",
		 f->base);
	snprintf(f->env[n++], sizeof(f->env[0]), "STORAGE=cloudinary");
	snprintf(f->env[n++], sizeof(f->env[0]), "CLOUDINARY_API_BASE=%s",
		 f->base);
	snprintf(f->env[n++], sizeof(f->env[0]), "CLOUDINARY_CLOUD_NAME=%s",
		 FAKE_CLOUD);
	snprintf(f->env[n++], sizeof(f->env[0]), "CLOUDINARY_API_KEY=%s",
		 FAKE_CLOUD_KEY);
	snprintf(f->env[n++], sizeof(f->env[0]), "CLOUDINARY_API_SECRET=%s",
		 FAKE_CLOUD_SECRET);
	snprintf(f->env[n++], sizeof(f->env[0]), "LOCAL_DELAY_MS=0");
	for (size_t i = 0; i < n; i++)
		f->envp[i] = f->env[i];
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 12; i++)
		f->envp[n++] = extra[i];
	f->envp[n] = NULL;
	return f->envp;
}

void
fake_upload_photo(const struct fake *f, const char *salt, char *url,
		  size_t urlsz)
{
	const char *h[2] = {"Content-Type: image/png", NULL};
	char src[256];
	struct resp img, r;

	/* uploads are stored re-encoded: a salted photo differs in pixels */
	snprintf(src, sizeof(src), "%s/img/photo.png%s%s", f->base,
		 salt != NULL ? "?salt=" : "", salt != NULL ? salt : "");
	http("GET", src, NULL, NULL, 0, &img);
	assert_int_equal(img.status, 200);
	http("POST", "/api/uploads", h, img.body.data, (long)img.body.len, &r);
	assert_int_equal(r.status, 201);
	snprintf(url, urlsz, "%s", jstr(r.json, "url"));
	resp_free(&r);
	resp_free(&img);
}
