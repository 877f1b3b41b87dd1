/*
 * DESIGN
 * Validation of a loaded configuration, every problem collected: first
 * the bounds of each integer row (the settings table's columns, so the
 * docs say the same), then what a bound cannot say: JOB_TIMEOUT_MINUTES
 * (a double), the heartbeat against the lease, the sets of words and
 * URLs.  Each message names the variable and its value
 * ("MAX_CONCURRENT_JOBS=0: maxConcurrentJobs must be at least 1", the
 * contract's phrase after the colon), after FILE:LINE when the file set
 * it; a secret's value is never printed.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "cfg_internal.h"
#include "s3.h"

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

#define WORD_RULE                                                              \
	"must be a non-empty word (letters, digits, and . _ : / @ + -)"

/* What validation needs to name a value: the config, its sources. */
struct vctx {
	const struct cfg *c;
	const struct cfg_src *s;
	struct cfg_errs *errs;
};

static void bad(const struct vctx *v, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "[FILE:LINE: ]NAME=VALUE: <message>": the variable and its value. */
static void
bad(const struct vctx *v, const char *name, const char *fmt, ...)
{
	char pre[200], val[64], msg[200];
	struct cfg_row r;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!cfg_row_find(name, &r)) {
		cfg_errs_add(v->errs, "%s", msg);
		return;
	}
	cfg_row_show(v->c, &r, val, sizeof(val));
	cfg_errs_add(v->errs, "%s%s=%s: %s",
		     cfg_src_prefix(v->s, name, pre, sizeof(pre)), name, val,
		     msg);
}

/* The table's bounds: "<what> must be at least N<unit>" and the like. */
static void
validate_bounds(const struct vctx *v)
{
	struct cfg_row r;

	for (size_t i = 0; i < cfg_row_count(); i++) {
		int64_t x;

		cfg_row_get(i, &r);
		if (r.kind != CFG_INT || r.b->what == NULL)
			continue;
		x = *(const int64_t *)(const void *)((const char *)v->c +
						     r.off);
		if (x < r.b->min && r.b->min == 0)
			bad(v, r.name, "%s cannot be negative", r.b->what);
		else if (x < r.b->min)
			bad(v, r.name, "%s must be at least %lld%s", r.b->what,
			    (long long)r.b->min, r.b->unit);
		else if (x > r.b->max)
			bad(v, r.name, "%s must be at most %lld%s", r.b->what,
			    (long long)r.b->max, r.b->unit);
	}
}

/* What the table's bounds cannot say: a double and a relation. */
static void
validate_relations(const struct vctx *v)
{
	const struct cfg *c = v->c;
	char pre[200];

	if (c->job_timeout_minutes * 60.0 < 30.0)
		bad(v, "JOB_TIMEOUT_MINUTES",
		    "jobTimeout must be at least 30 seconds");
	else if (c->job_timeout_minutes > 24 * 60)
		bad(v, "JOB_TIMEOUT_MINUTES",
		    "jobTimeout must be at most 24 "
		    "hours");
	if (c->heartbeat_ms >= 100 && c->lease_seconds >= 2 &&
	    c->heartbeat_ms * 2 > c->lease_seconds * 1000)
		cfg_errs_add(
		    v->errs,
		    "%sHEARTBEAT_MS=%lld, JOB_LEASE_SECONDS=%lld: "
		    "heartbeat must be at most half the lease",
		    cfg_src_prefix(v->s, "HEARTBEAT_MS", pre, sizeof(pre)),
		    (long long)c->heartbeat_ms, (long long)c->lease_seconds);
}

/* STORAGE=s3: every setting present, each of the shape it must have. */
static void
validate_s3(const struct vctx *v)
{
	const struct cfg *c = v->c;

	if (empty(c->s3_endpoint) || empty(c->s3_bucket) ||
	    empty(c->s3_access_key_id) || empty(c->s3_secret_access_key) ||
	    empty(c->s3_public_base_url)) {
		bad(v, "STORAGE",
		    "S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY_ID, "
		    "S3_SECRET_ACCESS_KEY and S3_PUBLIC_BASE_URL are required "
		    "for s3 storage");
		return;
	}
	if (!s3_endpoint_ok(c->s3_endpoint))
		bad(v, "S3_ENDPOINT",
		    "must be http(s)://host[:port] with no path, query or "
		    "user");
	if (!s3_bucket_ok(c->s3_bucket))
		bad(v, "S3_BUCKET",
		    "must be 3 to 63 of a-z 0-9 . -, starting and ending "
		    "with a letter or digit");
	if (empty(c->s3_region) ||
	    strspn(c->s3_region, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
		strlen(c->s3_region) ||
	    strlen(c->s3_region) > 64)
		bad(v, "S3_REGION",
		    "must be a region name (a-z 0-9 -, such as us-east-1 "
		    "or auto)");
	if (!is_http_url(c->s3_public_base_url) ||
	    strpbrk(c->s3_public_base_url, "?# \t\r\n\"<>\\") != NULL)
		bad(v, "S3_PUBLIC_BASE_URL",
		    "must start with http:// or https:// and have no query, "
		    "fragment or spaces");
}

static void
validate_providers(const struct vctx *v)
{
	static const char *const providers[] = {"local", "openai", NULL};
	static const char *const storages[] = {"local", "cloudinary", "s3",
					       NULL};
	const struct cfg *c = v->c;

	if (!one_of(c->generation_provider, providers))
		bad(v, "GENERATION_PROVIDER", "must be local or openai");
	else if (strcmp(c->generation_provider, "openai") == 0 &&
		 empty(c->openai_api_key))
		bad(v, "GENERATION_PROVIDER",
		    "OPENAI_API_KEY is required for the openai provider");
	if (!one_of(c->storage, storages))
		bad(v, "STORAGE", "must be local, cloudinary or s3");
	else if (strcmp(c->storage, "s3") == 0)
		validate_s3(v);
	else if (strcmp(c->storage, "cloudinary") == 0 &&
		 (empty(c->cloudinary_cloud_name) ||
		  empty(c->cloudinary_api_key) ||
		  empty(c->cloudinary_api_secret)))
		bad(v, "STORAGE",
		    "CLOUDINARY_CLOUD_NAME, CLOUDINARY_API_KEY and "
		    "CLOUDINARY_API_SECRET are required for cloudinary "
		    "storage");
	if (!word(c->openai_model))
		bad(v, "OPENAI_MODEL", "%s", WORD_RULE);
	if (!word(c->openai_image_model))
		bad(v, "OPENAI_IMAGE_MODEL", "%s", WORD_RULE);
	if (!word(c->openai_image_size))
		bad(v, "OPENAI_IMAGE_SIZE", "%s", WORD_RULE);
	if (!word(c->openai_image_quality))
		bad(v, "OPENAI_IMAGE_QUALITY", "%s", WORD_RULE);
	if (!is_http_url(c->openai_base_url))
		bad(v, "OPENAI_BASE_URL",
		    "must start with https:// (or "
		    "http:// for a loopback test "
		    "server)");
	if (!is_http_url(c->cloudinary_api_base))
		bad(v, "CLOUDINARY_API_BASE", "must start with https://");
}

int
cfg_validate_src(const struct cfg *c, const struct cfg_src *s,
		 struct cfg_errs *errs)
{
	static const char *const levels[] = {"debug", "info", "warn", "error",
					     NULL};
	static const char *const poolings[] = {"session", "transaction", NULL};
	const struct vctx v = {c, s, errs};
	int before = errs->n + errs->more;
	char pre[200];

	if (empty(c->database_url))
		cfg_errs_add(errs, "DATABASE_URL is required");
	if (!one_of(c->database_pooling, poolings))
		bad(&v, "DATABASE_POOLING", "must be session or transaction");
	/* a web host runs pooled without it; a worker refuses to (78) */
	else if (strcmp(c->database_pooling, "transaction") == 0 &&
		 empty(c->database_listen_url))
		cfg_warn_add(errs,
			     "DATABASE_POOLING=transaction without "
			     "DATABASE_LISTEN_URL: the FastCGI programs and "
			     "storyjobsctl run, the worker refuses to start "
			     "(it needs a direct session for LISTEN)");
	validate_bounds(&v);
	validate_relations(&v);
	validate_providers(&v);
	/* empty counts as unset: the cron routes refuse every call */
	if (!empty(c->webhook_secret) &&
	    strlen(c->webhook_secret) < CFG_WEBHOOK_SECRET_MIN)
		bad(&v, "WEBHOOK_SECRET",
		    "must be at least %d bytes, or unset (openssl rand -hex "
		    "32 makes one)",
		    CFG_WEBHOOK_SECRET_MIN);
	if (c->login_backoff_account_max_s > c->login_backoff_max_s)
		cfg_errs_add(
		    errs,
		    "%sLOGIN_BACKOFF_ACCOUNT_MAX_SECONDS=%lld, "
		    "LOGIN_BACKOFF_MAX_SECONDS=%lld: other addresses cannot "
		    "wait longer than the failing one",
		    cfg_src_prefix(s, "LOGIN_BACKOFF_ACCOUNT_MAX_SECONDS", pre,
				   sizeof(pre)),
		    (long long)c->login_backoff_account_max_s,
		    (long long)c->login_backoff_max_s);
	if (empty(c->media_dir) || c->media_dir[0] != '/')
		bad(&v, "MEDIA_DIR", "must be an absolute path");
	if (!empty(c->public_base_url) && !is_http_url(c->public_base_url))
		bad(&v, "PUBLIC_BASE_URL",
		    "must start with http:// or https://");
	if (!one_of(c->log_level, levels))
		bad(&v, "LOG_LEVEL", "must be debug, info, warn or error");
	return errs->n + errs->more - before;
}

int
cfg_validate(const struct cfg *c, struct cfg_errs *errs)
{
	return cfg_validate_src(c, NULL, errs);
}
