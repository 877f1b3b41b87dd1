/*
 * storyjobsctl health | prune [--days N] | check-config --online
 *
 * health prints the health document of GET /api/jobs/health and exits 0
 * when healthy, 1 on a warning, 2 when critical.  prune deletes finished
 * jobs older than N days (default RETENTION_DAYS) in batches of 1000 and
 * prints how many went.  check-config --online checks what only a live
 * system can tell, one line each (ok:, warning: or error:), every check
 * run whatever the others found: the database is reached and its schema
 * is this build's; with STORAGE=local, MEDIA_DIR takes a file from the
 * user running it (run it as the service user); WEBHOOK_SECRET, when set,
 * has at least 32 bytes; the API lists OPENAI_MODEL and
 * OPENAI_IMAGE_MODEL (GET /models) with no shutdown date passed (a date
 * to come is a warning).  Any error line: exit 78 (EX_CONFIG), as for an
 * invalid configuration; else 0.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "health.h"
#include "http.h"
#include "job.h"
#include "migrate.h"
#include "num.h"
#include "openai.h"
#include "s3.h"

#define ONLINE_TIMEOUT_MS  15000
#define WEBHOOK_SECRET_MIN 32 /* bytes: a SHA-256's worth */

static void
print_verdict(enum oai_verdict v, const char *line, void *ctx)
{
	(void)ctx;
	printf("%s: %s\n",
	       v == OAI_MODEL_GONE	 ? "error"
	       : v == OAI_MODEL_RETIRING ? "warning"
					 : "ok",
	       line);
}

/* One line on the database's schema; 0 when it is this build's, else 78. */
static int
online_schema(const struct cfg *c)
{
	enum schema_state st = SCHEMA_NONE;
	struct db *db = NULL;
	int version = 0, rc = 78;

	if (db_open(c->database_url, "storyjobsctl", 5000, &db) != SJ_OK)
		printf("error: DATABASE_URL: out of memory\n");
	else if (db_connect(db) != SJ_OK)
		printf("error: DATABASE_URL: cannot connect to the database\n");
	else if (schema_check(db, &st, &version) != SJ_OK)
		printf("error: cannot read the schema version "
		       "(schema_migrations)\n");
	else if (st != SCHEMA_OK)
		printf("error: database schema version %d, this build needs "
		       "%d: %s\n",
		       version, MIGRATE_SCHEMA_VERSION, schema_advice(st));
	else {
		printf("ok: database schema version %d\n", version);
		rc = 0;
	}
	db_close(db);
	return rc;
}

/*
 * With STORAGE=s3, the bucket takes, gives back and deletes a probe
 * object with our key (PutObject, GetObject, DeleteObject, each signed):
 * one line, 0 when all three work, else 78.
 */
static int
online_bucket(const struct cfg *c)
{
	static const char probe[] = "storyjobs-check-config.txt";
	const char *what = "PUT";
	struct buf got = {0};
	enum sj_err e;

	if (http_global_init() != SJ_OK) {
		fprintf(stderr, "check-config: libcurl did not initialise\n");
		return 78;
	}
	e = s3_put(c, probe, "ok", 2, "text/plain", NULL, NULL);
	if (e == SJ_OK) {
		what = "GET";
		e = s3_get(c, probe, 64, NULL, NULL, &got);
		if (e == SJ_OK && (got.len != 2 || memcmp(got.data, "ok", 2)))
			e = SJ_EPERMANENT;
		buf_free(&got);
	}
	if (e == SJ_OK) {
		what = "DELETE";
		e = s3_delete(c, probe);
	}
	http_global_cleanup();
	if (e != SJ_OK) {
		printf("error: S3_BUCKET=%s at %s: %s of %s failed: %s\n",
		       c->s3_bucket, c->s3_endpoint, what, probe,
		       e == SJ_ECONFIG ? "credentials or rights refused"
				       : sj_strerror(e));
		return 78;
	}
	printf("ok: S3_BUCKET=%s at %s: put, get and delete work\n",
	       c->s3_bucket, c->s3_endpoint);
	return 0;
}

/*
 * With STORAGE=local, MEDIA_DIR takes a file from this user: one line,
 * 0 when it does, else 78.  Run as the service user to learn anything.
 */
static int
online_media(const struct cfg *c)
{
	char path[PATH_MAX];
	int fd, n;

	if (strcmp(c->storage, "s3") == 0)
		return online_bucket(c);
	if (strcmp(c->storage, "local") != 0) {
		printf("ok: STORAGE=%s: no media folder to write\n",
		       c->storage);
		return 0;
	}
	n = snprintf(path, sizeof(path), "%s/.storyjobs-check-XXXXXX",
		     c->media_dir);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		printf("error: MEDIA_DIR=%s: path too long\n", c->media_dir);
		return 78;
	}
	if ((fd = mkstemp(path)) < 0 || write(fd, "x", 1) != 1) {
		printf("error: MEDIA_DIR=%s: not writable by uid %ld: %s\n",
		       c->media_dir, (long)geteuid(), strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return 78;
	}
	close(fd);
	unlink(path);
	printf("ok: MEDIA_DIR=%s: writable by uid %ld\n", c->media_dir,
	       (long)geteuid());
	return 0;
}

/* WEBHOOK_SECRET, when set, of at least 32 bytes: 0, else 78. */
static int
online_secrets(const struct cfg *c)
{
	size_t n;

	if (c->webhook_secret == NULL || *c->webhook_secret == '\0') {
		printf("warning: WEBHOOK_SECRET is unset: the cron routes "
		       "refuse every call\n");
		return 0;
	}
	n = strlen(c->webhook_secret);
	if (n < WEBHOOK_SECRET_MIN) {
		printf("error: WEBHOOK_SECRET is %zu bytes, shorter than %d "
		       "(openssl rand -hex 32 makes one)\n",
		       n, WEBHOOK_SECRET_MIN);
		return 78;
	}
	printf("ok: WEBHOOK_SECRET: %zu bytes\n", n);
	return 0;
}

int
ctl_check_online(const struct cfg *c)
{
	int bad = 0;

	bad |= online_schema(c) != 0;
	bad |= online_media(c) != 0;
	bad |= online_secrets(c) != 0;
	bad |= ctl_check_models(c) != 0;
	return bad ? 78 : 0;
}

int
ctl_check_models(const struct cfg *c)
{
	struct json_object *list = NULL;
	enum oai_verdict v;
	char why[600], today[OAI_DATE_LEN + 1];

	if (strcmp(c->generation_provider, "openai") != 0) {
		printf("ok: GENERATION_PROVIDER=%s makes no upstream calls; "
		       "no models to check\n",
		       c->generation_provider);
		return 0;
	}
	if (http_global_init() != SJ_OK) {
		fprintf(stderr, "check-config: libcurl did not initialise\n");
		return 1;
	}
	if (oai_models_get(c, ONLINE_TIMEOUT_MS, &list, why, sizeof(why)) !=
	    SJ_OK) {
		printf("error: cannot list the models of %s: %s\n",
		       c->openai_base_url, why);
		http_global_cleanup();
		return 1;
	}
	oai_today(today);
	v = oai_check_models(c, list, today, print_verdict, NULL);
	json_object_put(list);
	http_global_cleanup();
	return v == OAI_MODEL_GONE ? 1 : 0;
}

static int
ctl_health(struct db *db, const struct cfg *c)
{
	struct json_object *doc = NULL;
	enum health_level lvl = HEALTH_CRITICAL;
	int status = 0;

	if (health_build_level(db, c, &doc, &status, &lvl) != SJ_OK) {
		fprintf(stderr, "health: out of memory\n");
		return 2;
	}
	printf("%s\n", json_object_to_json_string_ext(
			   doc, JSON_C_TO_STRING_PRETTY |
				    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(doc);
	return lvl == HEALTH_OK ? 0 : lvl == HEALTH_WARNING ? 1 : 2;
}

static int
ctl_prune(struct db *db, const struct cfg *c, int argc, char **argv)
{
	int64_t days = c->retention_days;
	long long n = 0;
	enum sj_err e;

	if (argc == 3 && strcmp(argv[1], "--days") == 0) {
		if (num_i64(argv[2], 1, 36500, &days) != SJ_OK) {
			fprintf(stderr, "prune: --days must be 1 to 36500\n");
			return 64;
		}
	} else if (argc != 1) {
		fprintf(stderr, "usage: storyjobsctl prune [--days N]\n");
		return 64;
	}
	if ((e = health_prune(db, days, 0, &n)) != SJ_OK) {
		fprintf(stderr, "prune: %s\n", sj_strerror(e));
		return 1;
	}
	printf("%lld\n", n);
	return 0;
}

static int
ctl_recount(struct db *db)
{
	long long n = 0;
	enum sj_err e;

	if ((e = job_recount(db, &n)) != SJ_OK) {
		fprintf(stderr, "recount: %s\n", sj_strerror(e));
		return 1;
	}
	printf("%lld\n", n);
	return 0;
}

int
ctl_ops(struct db *db, const struct cfg *c, int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "health") == 0 && argc == 1)
		return ctl_health(db, c);
	if (argc >= 1 && strcmp(argv[0], "prune") == 0)
		return ctl_prune(db, c, argc, argv);
	if (argc == 1 && strcmp(argv[0], "recount") == 0)
		return ctl_recount(db);
	fprintf(stderr,
		"usage: storyjobsctl health | prune [--days N] | recount\n");
	return 64;
}
