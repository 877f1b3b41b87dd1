/*
 * DESIGN
 * All settings live in one table: name, kind, where the value goes, the
 * default, a line of documentation, and whether a running worker applies
 * a new value on SIGHUP (pgbouncer's way: the reload note and the docs
 * read it from the row).  Per-type settings are the same five rows for
 * each job type, named JOB_<TYPE>_<FIELD>, and need a restart.  Loading
 * is three passes: defaults, values from the lookup (parse errors
 * collected), then semantic validation (every problem collected, with the
 * contract's exact messages where it gives one).  Nothing here exits:
 * the program decides.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cfg.h"
#include "log.h"
#include "num.h"

enum cfg_kind { CFG_STR, CFG_INT, CFG_BOOL, CFG_DOUBLE };

struct cfg_entry {
	const char *name;
	enum cfg_kind kind;
	size_t off;
	const char *def; /* NULL: unset */
	const char *doc;
	bool reload; /* a running worker applies it on SIGHUP */
};

#define RELOAD	true
#define RESTART false

#define S(f) CFG_STR, offsetof(struct cfg, f)
#define I(f) CFG_INT, offsetof(struct cfg, f)
#define B(f) CFG_BOOL, offsetof(struct cfg, f)
#define F(i) CFG_BOOL, offsetof(struct cfg, features) + (i) * sizeof(bool)

static const struct cfg_entry cfg_table[] = {
    {"DATABASE_URL", S(database_url), NULL,
     "PostgreSQL connection URL (required)", RESTART},
    {"WEBHOOK_SECRET", S(webhook_secret), NULL,
     "shared secret of the cron routes; unset refuses them all", RESTART},
    {"OPENAI_API_KEY", S(openai_api_key), NULL, "key for the openai provider",
     RESTART},
    {"OPENAI_BASE_URL", S(openai_base_url), "https://api.openai.com/v1",
     "OpenAI-compatible API base URL", RESTART},
    /* Current models with no shutdown date announced (lib/openai.c). */
    {"OPENAI_MODEL", S(openai_model), "gpt-6-luna",
     "openai provider: chat model with image input (stories, scenes, "
     "character descriptions)",
     RESTART},
    {"OPENAI_IMAGE_MODEL", S(openai_image_model), "gpt-image-2.6-flare",
     "openai provider: image model (GPT image models; dall-e-* get the "
     "legacy request)",
     RESTART},
    {"OPENAI_IMAGE_SIZE", S(openai_image_size), "1024x1024",
     "openai provider: size of generated images", RESTART},
    {"OPENAI_IMAGE_QUALITY", S(openai_image_quality), "medium",
     "openai provider: quality of GPT image models (low, medium, high, "
     "auto; newer models also xhigh, max)",
     RESTART},
    {"OPENAI_TIMEOUT_SECONDS", I(openai_timeout_s), "120",
     "openai provider: total time of one call", RESTART},
    {"CLOUDINARY_API_BASE", S(cloudinary_api_base),
     "https://api.cloudinary.com", "cloudinary storage: upload API base URL",
     RESTART},
    {"CLOUDINARY_CLOUD_NAME", S(cloudinary_cloud_name), NULL,
     "cloudinary storage: cloud name", RESTART},
    {"CLOUDINARY_API_KEY", S(cloudinary_api_key), NULL,
     "cloudinary storage: API key", RESTART},
    {"CLOUDINARY_API_SECRET", S(cloudinary_api_secret), NULL,
     "cloudinary storage: API secret", RESTART},
    {"GENERATION_PROVIDER", S(generation_provider), NULL,
     "local or openai (default: openai when OPENAI_API_KEY is set, else "
     "local)",
     RESTART},
    {"STORAGE", S(storage), "local", "local or cloudinary", RESTART},
    {"MEDIA_DIR", S(media_dir), "/var/lib/storyjobs/media",
     "directory of the local media store, served under /media/", RESTART},
    {"PUBLIC_BASE_URL", S(public_base_url), "",
     "absolute base of media URLs; empty gives relative /media/ URLs", RESTART},
    {"LOG_LEVEL", S(log_level), "info", "debug, info, warn or error", RESTART},
    {"ENABLE_AUTO_PROCESSING", F(FEAT_AUTO_PROCESSING), "true",
     "workers claim jobs on their own (else only on a cron tick)", RESTART},
    {"ENABLE_PRIORITY_PROCESSING", F(FEAT_PRIORITY_PROCESSING), "true",
     "claim by priority, then due time", RESTART},
    {"ENABLE_JOB_CANCELLATION", F(FEAT_JOB_CANCELLATION), "true",
     "the cancel routes are open", RESTART},
    {"ENABLE_METRICS_COLLECTION", F(FEAT_METRICS_COLLECTION), "true",
     "/metrics is served", RESTART},
    {"ENABLE_HEALTH_CHECKS", F(FEAT_HEALTH_CHECKS), "true",
     "the health route runs its checks", RESTART},
    {"JOB_PROCESSING_INTERVAL", I(processing_interval_ms), "5000",
     "worker poll interval in ms (NOTIFY is only a hint)", RELOAD},
    {"MAX_CONCURRENT_JOBS", I(max_concurrent_jobs), "5",
     "jobs one worker runs at once", RESTART},
    {"PREFETCH_JOBS", I(prefetch_jobs), "0",
     "jobs a worker claims ahead of its free threads; only for jobs of "
     "milliseconds (a job claimed ahead shows processing while it waits)",
     RESTART},
    {"MAX_JOBS_PER_USER", I(max_jobs_per_user), "10",
     "active (pending or processing) jobs per user", RESTART},
    {"JOB_TIMEOUT_MINUTES", CFG_DOUBLE,
     offsetof(struct cfg, job_timeout_minutes), "30",
     "cap on every type's timeout, in minutes", RESTART},
    {"JOB_RETENTION_DAYS", I(retention_days), "30",
     "finished jobs older than this are pruned", RESTART},
    {"ALLOW_ANONYMOUS_JOBS", B(allow_anonymous_jobs), "true",
     "jobs may be started without logging in", RESTART},
    {"ALLOW_SIGNUP", B(allow_signup), "false",
     "POST /api/auth/register is open", RESTART},
    {"MAX_UPLOAD_BYTES", I(max_upload_bytes), "10485760",
     "largest accepted upload", RESTART},
    {"MAX_BODY_BYTES", I(max_body_bytes), "262144",
     "largest accepted JSON request body", RESTART},
    {"JOB_LEASE_SECONDS", I(lease_seconds), "30",
     "a claimed job is rescued this long after its worker's last heartbeat",
     RESTART},
    {"HEARTBEAT_MS", I(heartbeat_ms), "5000",
     "worker heartbeat and lease renewal interval", RELOAD},
    {"STATEMENT_TIMEOUT_MS", I(statement_timeout_ms), "5000",
     "PostgreSQL statement_timeout of every session", RESTART},
    {"LOCAL_DELAY_MS", I(local_delay_ms), "0",
     "local provider: pause per step, to make progress visible", RELOAD},
    {"BENCH_NOOP_JOBS", B(bench_noop), "false",
     "benchmarks only: workers run jobs of the no-op type noop", RESTART},
};

#undef S
#undef I
#undef B
#undef F

/* Per-type rows: JOB_<TYPE>_<FIELD>. */
struct cfg_type_field {
	const char *suffix;
	size_t off;
	const char *doc;
};

static const struct cfg_type_field cfg_type_fields[] = {
    {"TIMEOUT_SECONDS", offsetof(struct cfg_type, timeout_s),
     "processing time limit"},
    {"MAX_RETRIES", offsetof(struct cfg_type, max_retries),
     "automatic retries of transient failures"},
    {"PRIORITY", offsetof(struct cfg_type, priority),
     "claim order; lower runs first"},
    {"CONCURRENCY", offsetof(struct cfg_type, concurrency),
     "jobs of this type one worker runs at once"},
    {"ESTIMATED_SECONDS", offsetof(struct cfg_type, est_duration_s),
     "estimate shown to users"},
};
#define CFG_TYPE_FIELDS (sizeof(cfg_type_fields) / sizeof(cfg_type_fields[0]))

static const char *const type_names[JOB_TYPE_MAX] = {
    "storybook",  "auto-story",	      "scenes",
    "cartoonize", "image-generation", "noop"};
static const char *const type_keys[JOB_TYPE_MAX] = {
    "STORYBOOK",  "AUTO_STORY",	      "SCENES",
    "CARTOONIZE", "IMAGE_GENERATION", "NOOP"};
/* CONTRACT section 1: timeout, max retries, priority, concurrency, est. */
static const struct cfg_type type_defaults[JOB_TYPE_MAX] = {
    [JOB_STORYBOOK] = {20 * 60, 2, 2, 2, 8 * 60},
    [JOB_AUTO_STORY] = {15 * 60, 3, 3, 2, 6 * 60},
    [JOB_SCENES] = {10 * 60, 3, 2, 3, 4 * 60},
    [JOB_CARTOONIZE] = {5 * 60, 3, 1, 5, 2 * 60},
    [JOB_IMAGE_GENERATION] = {5 * 60, 3, 1, 5, 90},
    /* the benchmarks' no-op type: MAX_CONCURRENT_JOBS is its only cap */
    [JOB_NOOP] = {60, 0, 0, 100000, 1},
};

static const char *const feature_names[FEAT_MAX] = {
    "enableAutoProcessing", "enablePriorityProcessing", "enableJobCancellation",
    "enableMetricsCollection", "enableHealthChecks"};

const char *
job_type_name(enum job_type t)
{
	return (unsigned)t < JOB_TYPE_MAX ? type_names[t] : "unknown";
}

enum sj_err
job_type_parse(const char *s, enum job_type *out)
{
	for (int i = 0; i < JOB_TYPE_MAX; i++)
		if (s != NULL && strcmp(s, type_names[i]) == 0) {
			*out = (enum job_type)i;
			return SJ_OK;
		}
	return SJ_EINVAL;
}

enum sj_err
job_type_parse_api(const char *s, enum job_type *out)
{
	enum job_type t;

	if (job_type_parse(s, &t) != SJ_OK || t == JOB_NOOP)
		return SJ_EINVAL;
	*out = t;
	return SJ_OK;
}

static void errs_add(struct cfg_errs *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
errs_add(struct cfg_errs *errs, const char *fmt, ...)
{
	va_list ap;

	if (errs == NULL || errs->n >= CFG_ERRS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(errs->msg[errs->n], sizeof(errs->msg[0]), fmt, ap);
	va_end(ap);
	errs->n++;
}

/* Stores one value; parse problems go to errs. */
static enum sj_err
cfg_set(struct cfg *c, const char *name, enum cfg_kind kind, size_t off,
	const char *val, struct cfg_errs *errs)
{
	char *base = (char *)c;

	switch (kind) {
	case CFG_STR: {
		char **dst = (char **)(void *)(base + off);
		char *dup = strdup(val);

		if (dup == NULL)
			return SJ_ENOMEM;
		free(*dst);
		*dst = dup;
		break;
	}
	case CFG_INT:
		if (num_i64(val, INT64_MIN / 2, INT64_MAX / 2,
			    (int64_t *)(void *)(base + off)) != SJ_OK)
			errs_add(errs, "%s must be an integer, got \"%.40s\"",
				 name, val);
		break;
	case CFG_BOOL:
		if (num_bool(val, (bool *)(void *)(base + off)) != SJ_OK)
			errs_add(errs,
				 "%s must be true or false, got \"%.40s\"",
				 name, val);
		break;
	case CFG_DOUBLE:
		if (num_double(val, (double *)(void *)(base + off)) != SJ_OK)
			errs_add(errs, "%s must be a number, got \"%.40s\"",
				 name, val);
		break;
	}
	return SJ_OK;
}

/* Applies defaults (lookup NULL) or looked-up values to every row. */
static enum sj_err
cfg_apply(struct cfg *c, cfg_lookup_fn lookup, void *ctx, struct cfg_errs *errs)
{
	char name[64];
	enum sj_err e;

	for (size_t i = 0; i < sizeof(cfg_table) / sizeof(cfg_table[0]); i++) {
		const struct cfg_entry *ent = &cfg_table[i];
		const char *v = lookup ? lookup(ent->name, ctx) : ent->def;

		if (v == NULL)
			continue;
		e = cfg_set(c, ent->name, ent->kind, ent->off, v, errs);
		if (e != SJ_OK)
			return e;
	}
	if (lookup == NULL)
		return SJ_OK;
	for (int t = 0; t < JOB_TYPE_MAX; t++)
		for (size_t f = 0; f < CFG_TYPE_FIELDS; f++) {
			const char *v;
			size_t off = offsetof(struct cfg, types) +
				     (size_t)t * sizeof(struct cfg_type) +
				     cfg_type_fields[f].off;

			snprintf(name, sizeof(name), "JOB_%s_%s", type_keys[t],
				 cfg_type_fields[f].suffix);
			if ((v = lookup(name, ctx)) == NULL)
				continue;
			e = cfg_set(c, name, CFG_INT, off, v, errs);
			if (e != SJ_OK)
				return e;
		}
	return SJ_OK;
}

/* Provider default depends on whether a key is set. */
static enum sj_err
cfg_resolve(struct cfg *c)
{
	if (c->generation_provider != NULL)
		return SJ_OK;
	c->generation_provider = strdup(
	    c->openai_api_key != NULL && *c->openai_api_key != '\0' ? "openai"
								    : "local");
	return c->generation_provider ? SJ_OK : SJ_ENOMEM;
}

enum sj_err
cfg_load(struct cfg *c, cfg_lookup_fn lookup, void *ctx, struct cfg_errs *errs)
{
	enum sj_err e;

	memset(c, 0, sizeof(*c));
	errs->n = 0;
	memcpy(c->types, type_defaults, sizeof(c->types));
	if ((e = cfg_apply(c, NULL, NULL, errs)) != SJ_OK ||
	    (e = cfg_apply(c, lookup, ctx, errs)) != SJ_OK ||
	    (e = cfg_resolve(c)) != SJ_OK)
		goto fail;
	cfg_validate(c, errs);
	if (errs->n == 0)
		return SJ_OK;
	e = SJ_ECONFIG;
fail:
	cfg_free(c);
	return e;
}

static bool
one_of(const char *s, const char *const *set)
{
	for (; *set != NULL; set++)
		if (s != NULL && strcmp(s, *set) == 0)
			return true;
	return false;
}

static bool
empty(const char *s)
{
	return s == NULL || *s == '\0';
}

/*
 * A model name or enum value: 1..128 of [A-Za-z0-9._:/@+-] (compatible
 * servers name models "vendor/model" or "vendor:model@version").
 */
static bool
word(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n <= 128 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._:/@+-") == n;
}

/* The scheme check only; the HTTP client refuses plain http elsewhere. */
static bool
is_http_url(const char *s)
{
	return s != NULL && (strncmp(s, "https://", 8) == 0 ||
			     strncmp(s, "http://", 7) == 0);
}

/* The checks of the contract, with its exact messages. */
static void
cfg_validate_jobs(const struct cfg *c, struct cfg_errs *errs)
{
	bool short_timeout = c->job_timeout_minutes * 60.0 < 30.0;
	bool neg_retries = false;

	if (c->max_concurrent_jobs < 1)
		errs_add(errs, "maxConcurrentJobs must be at least 1");
	if (c->prefetch_jobs < 0 || c->prefetch_jobs > 10000)
		errs_add(errs, "prefetchJobs must be 0..10000");
	if (c->max_concurrent_jobs > 10000)
		errs_add(errs, "maxConcurrentJobs must be at most 10000");
	if (c->processing_interval_ms < 1000)
		errs_add(errs, "processingInterval must be at least 1000ms");
	for (int t = 0; t < JOB_TYPE_MAX; t++) {
		const struct cfg_type *ct = &c->types[t];

		short_timeout |= ct->timeout_s < 30;
		neg_retries |= ct->max_retries < 0;
		if (ct->concurrency < 1)
			errs_add(errs, "concurrency of %s must be at least 1",
				 type_names[t]);
		if (ct->max_retries > 100)
			errs_add(errs, "maxRetries of %s must be at most 100",
				 type_names[t]);
		if (ct->est_duration_s < 1)
			errs_add(errs,
				 "estimated duration of %s must be positive",
				 type_names[t]);
		if (ct->priority < 0 || ct->priority > 1000)
			errs_add(errs, "priority of %s must be 0..1000",
				 type_names[t]);
	}
	if (short_timeout)
		errs_add(errs, "jobTimeout must be at least 30 seconds");
	if (c->job_timeout_minutes > 24 * 60)
		errs_add(errs, "jobTimeout must be at most 24 hours");
	if (neg_retries)
		errs_add(errs, "maxRetries cannot be negative");
	if (c->max_jobs_per_user < 1)
		errs_add(errs, "maxJobsPerUser must be at least 1");
	if (c->retention_days < 1)
		errs_add(errs, "retentionDays must be at least 1");
	if (c->lease_seconds < 2)
		errs_add(errs, "leaseSeconds must be at least 2");
	if (c->heartbeat_ms < 100 ||
	    c->heartbeat_ms * 2 > c->lease_seconds * 1000)
		errs_add(errs, "heartbeat must be at least 100ms and at most "
			       "half the lease");
}

int
cfg_validate(const struct cfg *c, struct cfg_errs *errs)
{
	static const char *const providers[] = {"local", "openai", NULL};
	static const char *const storages[] = {"local", "cloudinary", NULL};
	static const char *const levels[] = {"debug", "info", "warn", "error",
					     NULL};
	int before = errs->n;

	if (empty(c->database_url))
		errs_add(errs, "DATABASE_URL is required");
	cfg_validate_jobs(c, errs);
	if (!one_of(c->generation_provider, providers))
		errs_add(errs, "GENERATION_PROVIDER must be local or openai");
	else if (strcmp(c->generation_provider, "openai") == 0 &&
		 empty(c->openai_api_key))
		errs_add(errs, "OPENAI_API_KEY is required for the openai "
			       "provider");
	if (!one_of(c->storage, storages))
		errs_add(errs, "STORAGE must be local or cloudinary");
	else if (strcmp(c->storage, "cloudinary") == 0 &&
		 (empty(c->cloudinary_cloud_name) ||
		  empty(c->cloudinary_api_key) ||
		  empty(c->cloudinary_api_secret)))
		errs_add(errs, "CLOUDINARY_CLOUD_NAME, CLOUDINARY_API_KEY and "
			       "CLOUDINARY_API_SECRET are required for "
			       "cloudinary storage");
	if (empty(c->media_dir) || c->media_dir[0] != '/')
		errs_add(errs, "MEDIA_DIR must be an absolute path");
	if (!empty(c->public_base_url) &&
	    strncmp(c->public_base_url, "http://", 7) != 0 &&
	    strncmp(c->public_base_url, "https://", 8) != 0)
		errs_add(errs, "PUBLIC_BASE_URL must start with http:// or "
			       "https://");
	if (!one_of(c->log_level, levels))
		errs_add(errs, "LOG_LEVEL must be debug, info, warn or error");
	if (c->max_upload_bytes < 1024 || c->max_upload_bytes > (1 << 30))
		errs_add(errs, "maxUploadBytes must be 1 KiB..1 GiB");
	if (c->max_body_bytes < 1024 || c->max_body_bytes > (16 << 20))
		errs_add(errs, "maxBodyBytes must be 1 KiB..16 MiB");
	if (c->statement_timeout_ms < 0)
		errs_add(errs, "statementTimeout cannot be negative");
	if (c->local_delay_ms < 0 || c->local_delay_ms > 60000)
		errs_add(errs, "localDelay must be 0..60000ms");
	if (c->openai_timeout_s < 1 || c->openai_timeout_s > 3600)
		errs_add(errs, "OPENAI_TIMEOUT_SECONDS must be 1..3600");
	if (!word(c->openai_model) || !word(c->openai_image_model) ||
	    !word(c->openai_image_quality) || !word(c->openai_image_size))
		errs_add(errs, "OPENAI_MODEL, OPENAI_IMAGE_MODEL, "
			       "OPENAI_IMAGE_SIZE and OPENAI_IMAGE_QUALITY "
			       "must be non-empty words (letters, digits, "
			       "and . _ : / @ + -)");
	if (!is_http_url(c->openai_base_url))
		errs_add(errs, "OPENAI_BASE_URL must start with https:// (or "
			       "http:// for a loopback test server)");
	if (!is_http_url(c->cloudinary_api_base))
		errs_add(errs, "CLOUDINARY_API_BASE must start with https://");
	return errs->n - before;
}

void
cfg_free(struct cfg *c)
{
	for (size_t i = 0; i < sizeof(cfg_table) / sizeof(cfg_table[0]); i++)
		if (cfg_table[i].kind == CFG_STR) {
			char **p =
			    (char **)(void *)((char *)c + cfg_table[i].off);
			free(*p);
			*p = NULL;
		}
	free(c->generation_provider);
	c->generation_provider = NULL;
}

void
cfg_log_errs(const struct cfg_errs *errs)
{
	for (int i = 0; i < errs->n; i++)
		log_error("configuration: %s", errs->msg[i]);
}

bool
cfg_feature_enabled(const struct cfg *c, const char *name)
{
	for (int i = 0; i < FEAT_MAX; i++)
		if (strcmp(name, feature_names[i]) == 0)
			return c->features[i];
	return false;
}

int64_t
cfg_job_timeout(const struct cfg *c, enum job_type t)
{
	int64_t cap = (int64_t)(c->job_timeout_minutes * 60.0);
	int64_t v = c->types[t].timeout_s;

	return v < cap ? v : cap;
}

int64_t
cfg_estimated_duration(const struct cfg *c, enum job_type t)
{
	return c->types[t].est_duration_s;
}

/* True when the value of kind at off differs between a and b. */
static bool
value_differs(const struct cfg *a, const struct cfg *b, enum cfg_kind kind,
	      size_t off)
{
	const char *pa = (const char *)a + off, *pb = (const char *)b + off;
	const char *sa, *sb;

	switch (kind) {
	case CFG_STR:
		sa = *(char *const *)(const void *)pa;
		sb = *(char *const *)(const void *)pb;
		return strcmp(sa != NULL ? sa : "", sb != NULL ? sb : "") != 0;
	case CFG_INT:
		return *(const int64_t *)(const void *)pa !=
		       *(const int64_t *)(const void *)pb;
	case CFG_BOOL:
		return *(const bool *)(const void *)pa !=
		       *(const bool *)(const void *)pb;
	case CFG_DOUBLE:
		return *(const double *)(const void *)pa !=
		       *(const double *)(const void *)pb;
	}
	return false;
}

void
cfg_each_restart_change(const struct cfg *a, const struct cfg *b,
			void (*fn)(const char *name, void *ctx), void *ctx)
{
	char name[64];

	for (size_t i = 0; i < sizeof(cfg_table) / sizeof(cfg_table[0]); i++)
		if (!cfg_table[i].reload &&
		    value_differs(a, b, cfg_table[i].kind, cfg_table[i].off))
			fn(cfg_table[i].name, ctx);
	for (int t = 0; t < JOB_TYPE_MAX; t++)
		for (size_t f = 0; f < CFG_TYPE_FIELDS; f++) {
			size_t off = offsetof(struct cfg, types) +
				     (size_t)t * sizeof(struct cfg_type) +
				     cfg_type_fields[f].off;

			if (!value_differs(a, b, CFG_INT, off))
				continue;
			snprintf(name, sizeof(name), "JOB_%s_%s", type_keys[t],
				 cfg_type_fields[f].suffix);
			fn(name, ctx);
		}
}

void
cfg_each_doc(void (*fn)(const struct cfg_doc *d, void *ctx), void *ctx)
{
	struct cfg_doc d;
	char name[64], def[32];

	for (size_t i = 0; i < sizeof(cfg_table) / sizeof(cfg_table[0]); i++) {
		d.name = cfg_table[i].name;
		d.def = cfg_table[i].def ? cfg_table[i].def : "";
		d.doc = cfg_table[i].doc;
		d.reload = cfg_table[i].reload;
		fn(&d, ctx);
	}
	for (int t = 0; t < JOB_TYPE_MAX; t++)
		for (size_t f = 0; f < CFG_TYPE_FIELDS; f++) {
			const int64_t *v =
			    (const int64_t
				 *)(const void
					*)((const char *)&type_defaults[t] +
					   cfg_type_fields[f].off);
			snprintf(name, sizeof(name), "JOB_%s_%s", type_keys[t],
				 cfg_type_fields[f].suffix);
			snprintf(def, sizeof(def), "%lld", (long long)*v);
			d.name = name;
			d.def = def;
			d.doc = cfg_type_fields[f].doc;
			d.reload = false;
			fn(&d, ctx);
		}
}

/* KEY=VALUE pairs of the optional file; values may be quoted. */
struct cfg_file {
	char *text;
	size_t n;
	char *key[256];
	char *val[256];
};

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Reads and splits path; a line that is not KEY=VALUE is an error. */
static enum sj_err
cfg_file_read(struct cfg_file *f, const char *path, struct cfg_errs *errs)
{
	struct buf b;
	char chunk[4096], *line, *save = NULL;
	FILE *fp;
	size_t n;
	int lineno = 0;

	buf_init(&b, 64 * 1024);
	if ((fp = fopen(path, "r")) == NULL) {
		errs_add(errs, "cannot read STORYJOBS_CONFIG %.100s", path);
		return SJ_OK;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if (buf_add(&b, chunk, n) != SJ_OK) {
			fclose(fp);
			errs_add(errs,
				 "STORYJOBS_CONFIG is larger than 64 KiB");
			return SJ_OK;
		}
	fclose(fp);
	if (b.data == NULL)
		return SJ_OK;
	f->text = b.data;
	for (line = strtok_r(f->text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq, *k, *v;
		size_t vl;

		lineno++;
		line = trim(line);
		if (*line == '\0' || *line == '#')
			continue;
		if (strncmp(line, "export ", 7) == 0)
			line = trim(line + 7);
		if ((eq = strchr(line, '=')) == NULL || f->n >= 256) {
			errs_add(errs,
				 "STORYJOBS_CONFIG line %d is not KEY=VALUE",
				 lineno);
			continue;
		}
		*eq = '\0';
		k = trim(line);
		v = trim(eq + 1);
		vl = strlen(v);
		if (vl >= 2 && (v[0] == '\'' || v[0] == '"') &&
		    v[vl - 1] == v[0]) {
			v[vl - 1] = '\0';
			v++;
		}
		f->key[f->n] = k;
		f->val[f->n++] = v;
	}
	return SJ_OK;
}

static const char *
cfg_env_lookup(const char *name, void *ctx)
{
	const struct cfg_file *f = ctx;
	const char *v = getenv(name);

	if (v != NULL)
		return v;
	for (size_t i = f->n; i-- > 0;)
		if (strcmp(f->key[i], name) == 0)
			return f->val[i];
	return NULL;
}

enum sj_err
cfg_load_env(struct cfg *c, struct cfg_errs *errs)
{
	struct cfg_file f;
	const char *path = getenv("STORYJOBS_CONFIG");
	enum sj_err e;

	memset(&f, 0, sizeof(f));
	errs->n = 0;
	if (path != NULL && *path != '\0') {
		(void)cfg_file_read(&f, path, errs);
		if (errs->n > 0) {
			free(f.text);
			memset(c, 0, sizeof(*c));
			return SJ_ECONFIG;
		}
	}
	e = cfg_load(c, cfg_env_lookup, &f, errs);
	free(f.text);
	return e;
}
