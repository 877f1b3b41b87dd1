/*
 * The settings table: every setting's row (cfg.c's DESIGN says what a
 * row holds and who reads it), the per-type rows JOB_<TYPE>_<FIELD> with
 * each type's defaults, the job types' and feature flags' names, and
 * every row seen the same way through cfg_row_get() (cfg_internal.h).
 * Data and lookups only: loading is cfg.c's.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "cfg_internal.h"
#include "job_caps.h"

/* The build's $(localstatedir)/lib/storyjobs/media (Makefile.am). */
#ifndef SJ_MEDIA_DIR
#define SJ_MEDIA_DIR "/var/lib/storyjobs/media"
#endif

struct cfg_entry {
	const char *name;
	enum cfg_kind kind;
	size_t off;
	const char *def; /* NULL: unset */
	const char *doc;
	bool reload; /* a running worker applies it on SIGHUP */
	struct cfg_bounds b;
	enum cfg_group group;
	bool secret; /* never printed: check-config shows its length */
};

#define RELOAD	true
#define RESTART false
#define SECRET	true
#define PLAIN	false
#define NOB                                                                    \
	{                                                                      \
		0, 0, NULL, NULL                                               \
	}

#define S(f) CFG_STR, offsetof(struct cfg, f)
#define I(f) CFG_INT, offsetof(struct cfg, f)
#define B(f) CFG_BOOL, offsetof(struct cfg, f)
#define F(i) CFG_BOOL, offsetof(struct cfg, features) + (i) * sizeof(bool)

static const struct cfg_entry cfg_table[] = {
    {"DATABASE_URL", S(database_url), NULL,
     "PostgreSQL connection URL (required)", RESTART, NOB, CFG_G_DB, PLAIN},
    {"STATEMENT_TIMEOUT_MS",
     I(statement_timeout_ms),
     "5000",
     "PostgreSQL statement_timeout of every session; a reply is given "
     "up 5 s after it and the session replaced (0: no limit)",
     RESTART,
     {0, 3600000, "statementTimeout", "ms"},
     CFG_G_DB,
     PLAIN},
    {"DATABASE_POOLING", S(database_pooling), "session",
     "session, or transaction when DATABASE_URL is a pooler in transaction "
     "mode (PgBouncer): no session state, no named statements",
     RESTART, NOB, CFG_G_DB, PLAIN},
    {"DATABASE_LISTEN_URL", S(database_listen_url), "",
     "worker: direct PostgreSQL URL of its LISTEN session (empty: "
     "DATABASE_URL); required with DATABASE_POOLING=transaction",
     RESTART, NOB, CFG_G_DB, PLAIN},
    {"WEBHOOK_SECRET", S(webhook_secret), NULL,
     "shared secret of the cron routes (at least 32 bytes); unset refuses "
     "them all",
     RESTART, NOB, CFG_G_DB, SECRET},
    {"GENERATION_PROVIDER", S(generation_provider), NULL,
     "local or openai (unset or empty: openai when OPENAI_API_KEY is set, "
     "else local)",
     RESTART, NOB, CFG_G_GEN, PLAIN},
    {"OPENAI_API_KEY", S(openai_api_key), NULL, "key for the openai provider",
     RESTART, NOB, CFG_G_GEN, SECRET},
    {"OPENAI_BASE_URL", S(openai_base_url), "https://api.openai.com/v1",
     "OpenAI-compatible API base URL", RESTART, NOB, CFG_G_GEN, PLAIN},
    /* Current models with no shutdown date announced (lib/openai.c). */
    {"OPENAI_MODEL", S(openai_model), "gpt-6-luna",
     "openai provider: chat model with image input (stories, scenes, "
     "character descriptions)",
     RESTART, NOB, CFG_G_GEN, PLAIN},
    {"OPENAI_IMAGE_MODEL", S(openai_image_model), "gpt-image-2.6-flare",
     "openai provider: image model (GPT image models; dall-e-* get the "
     "legacy request)",
     RESTART, NOB, CFG_G_GEN, PLAIN},
    {"OPENAI_IMAGE_SIZE", S(openai_image_size), "1024x1024",
     "openai provider: size of generated images", RESTART, NOB, CFG_G_GEN,
     PLAIN},
    {"OPENAI_IMAGE_QUALITY", S(openai_image_quality), "medium",
     "openai provider: quality of GPT image models (low, medium, high, "
     "auto; newer models also xhigh, max)",
     RESTART, NOB, CFG_G_GEN, PLAIN},
    {"OPENAI_TIMEOUT_SECONDS",
     I(openai_timeout_s),
     "120",
     "openai provider: total time of one call",
     RESTART,
     {1, 3600, "openaiTimeout", " seconds"},
     CFG_G_GEN,
     PLAIN},
    /* Shared by every worker through the database (lib/budget.c). */
    {"OPENAI_CHAT_RPM",
     I(openai_chat_rpm),
     "0",
     "openai provider: chat requests per minute, all workers together, "
     "evenly spaced (0: no limit)",
     RESTART,
     {0, 100000000, "openaiChatRpm", "/min"},
     CFG_G_GEN,
     PLAIN},
    {"OPENAI_CHAT_TPM",
     I(openai_chat_tpm),
     "0",
     "openai provider: chat tokens per minute (prompt plus the most a call "
     "may write), all workers together (0: no limit)",
     RESTART,
     {0, 1000000000, "openaiChatTpm", "/min"},
     CFG_G_GEN,
     PLAIN},
    {"OPENAI_IMAGE_IPM",
     I(openai_image_ipm),
     "0",
     "openai provider: images generated per minute, all workers together "
     "(0: no limit)",
     RESTART,
     {0, 100000000, "openaiImageIpm", "/min"},
     CFG_G_GEN,
     PLAIN},
    {"LOCAL_DELAY_MS",
     I(local_delay_ms),
     "0",
     "local provider: pause per step, to make progress visible",
     RELOAD,
     {0, 60000, "localDelay", "ms"},
     CFG_G_GEN,
     PLAIN},
    {"STORAGE", S(storage), "local", "local, cloudinary or s3", RESTART, NOB,
     CFG_G_STORE, PLAIN},
    {"MEDIA_DIR", S(media_dir), SJ_MEDIA_DIR,
     "directory of the local media store, served under /media/", RESTART, NOB,
     CFG_G_STORE, PLAIN},
    {"PUBLIC_BASE_URL", S(public_base_url), "",
     "absolute base of media URLs; empty gives relative /media/ URLs", RESTART,
     NOB, CFG_G_STORE, PLAIN},
    {"CLOUDINARY_API_BASE", S(cloudinary_api_base),
     "https://api.cloudinary.com", "cloudinary storage: upload API base URL",
     RESTART, NOB, CFG_G_STORE, PLAIN},
    {"CLOUDINARY_CLOUD_NAME", S(cloudinary_cloud_name), NULL,
     "cloudinary storage: cloud name", RESTART, NOB, CFG_G_STORE, PLAIN},
    {"CLOUDINARY_API_KEY", S(cloudinary_api_key), NULL,
     "cloudinary storage: API key", RESTART, NOB, CFG_G_STORE, SECRET},
    {"CLOUDINARY_API_SECRET", S(cloudinary_api_secret), NULL,
     "cloudinary storage: API secret", RESTART, NOB, CFG_G_STORE, SECRET},
    /* s3 storage (lib/s3.c): path-style, signed by libcurl's SigV4 */
    {"S3_ENDPOINT", S(s3_endpoint), NULL,
     "s3 storage: the service's base URL, scheme://host[:port] with no path "
     "(http only to a loopback or private address)",
     RESTART, NOB, CFG_G_STORE, PLAIN},
    {"S3_REGION", S(s3_region), "us-east-1",
     "s3 storage: the region the signature names (MinIO, Ceph: us-east-1; "
     "R2: auto)",
     RESTART, NOB, CFG_G_STORE, PLAIN},
    {"S3_BUCKET", S(s3_bucket), NULL,
     "s3 storage: the bucket, addressed path-style as S3_ENDPOINT/bucket/key",
     RESTART, NOB, CFG_G_STORE, PLAIN},
    {"S3_ACCESS_KEY_ID", S(s3_access_key_id), NULL,
     "s3 storage: access key (needs GetObject, PutObject, DeleteObject on "
     "the bucket)",
     RESTART, NOB, CFG_G_STORE, SECRET},
    {"S3_SECRET_ACCESS_KEY", S(s3_secret_access_key), NULL,
     "s3 storage: secret key", RESTART, NOB, CFG_G_STORE, SECRET},
    {"S3_PUBLIC_BASE_URL", S(s3_public_base_url), NULL,
     "s3 storage: public base of media URLs; an object's URL is this/key",
     RESTART, NOB, CFG_G_STORE, PLAIN},
    {"LOG_LEVEL", S(log_level), "info", "debug, info, warn or error", RESTART,
     NOB, CFG_G_FEAT, PLAIN},
    {"ENABLE_AUTO_PROCESSING", F(FEAT_AUTO_PROCESSING), "true",
     "workers claim jobs on their own (else only on a cron tick)", RESTART, NOB,
     CFG_G_FEAT, PLAIN},
    {"ENABLE_PRIORITY_PROCESSING", F(FEAT_PRIORITY_PROCESSING), "true",
     "claim by priority, then due time", RESTART, NOB, CFG_G_FEAT, PLAIN},
    {"ENABLE_JOB_CANCELLATION", F(FEAT_JOB_CANCELLATION), "true",
     "the cancel routes are open", RESTART, NOB, CFG_G_FEAT, PLAIN},
    {"ENABLE_METRICS_COLLECTION", F(FEAT_METRICS_COLLECTION), "true",
     "/metrics is served", RESTART, NOB, CFG_G_FEAT, PLAIN},
    {"ENABLE_HEALTH_CHECKS", F(FEAT_HEALTH_CHECKS), "true",
     "the health route runs its checks", RESTART, NOB, CFG_G_FEAT, PLAIN},
    {"ALLOW_ANONYMOUS_JOBS", B(allow_anonymous_jobs), "true",
     "jobs may be started without logging in", RESTART, NOB, CFG_G_FEAT, PLAIN},
    {"ALLOW_SIGNUP", B(allow_signup), "false",
     "POST /api/auth/register is open", RESTART, NOB, CFG_G_FEAT, PLAIN},
    {"JOB_PROCESSING_INTERVAL",
     I(processing_interval_ms),
     "5000",
     "worker poll interval in ms (NOTIFY is only a hint)",
     RELOAD,
     {1000, 3600000, "processingInterval", "ms"},
     CFG_G_WORKER,
     PLAIN},
    {"MAX_CONCURRENT_JOBS",
     I(max_concurrent_jobs),
     "5",
     "jobs one worker runs at once",
     RESTART,
     {1, 10000, "maxConcurrentJobs", ""},
     CFG_G_WORKER,
     PLAIN},
    {"PREFETCH_JOBS",
     I(prefetch_jobs),
     "0",
     "jobs a worker claims ahead of its free threads; only for jobs of "
     "milliseconds (a job claimed ahead shows processing while it waits)",
     RESTART,
     {0, 10000, "prefetchJobs", ""},
     CFG_G_WORKER,
     PLAIN},
    {"MAX_JOBS_PER_USER",
     I(max_jobs_per_user),
     "10",
     "active (pending or processing) jobs per user",
     RESTART,
     {1, 1000000, "maxJobsPerUser", ""},
     CFG_G_WORKER,
     PLAIN},
    /*
     * Anonymous starts, per client (an IPv4 address or an IPv6 /64); a
     * retry counts as a start.  A book from /create is about three jobs
     * (cartoonize, scenes, storybook), run one after another.
     */
    {"ANON_START_LIMIT",
     I(anon_start_limit),
     "20",
     "job starts (and retries) one anonymous client may make per "
     "ANON_START_WINDOW_SECONDS; more are answered 429",
     RESTART,
     {1, 1000000, "anonStartLimit", ""},
     CFG_G_LIMITS,
     PLAIN},
    {"ANON_START_WINDOW_SECONDS",
     I(anon_start_window_s),
     "3600",
     "the window of ANON_START_LIMIT",
     RESTART,
     {1, 86400, "anonStartWindow", " seconds"},
     CFG_G_LIMITS,
     PLAIN},
    {"ANON_MAX_ACTIVE_JOBS",
     I(anon_max_active_jobs),
     "5",
     "active (pending or processing) anonymous jobs per client; more are "
     "answered 403 QUOTA_EXCEEDED",
     RESTART,
     {1, 1000000, "anonMaxActiveJobs", ""},
     CFG_G_LIMITS,
     PLAIN},
    {"ANON_MAX_ACTIVE_TOTAL",
     I(anon_max_active_total),
     "20",
     "active anonymous jobs of all clients together; more are answered "
     "429 (retry in 30 s); keeps the queue depth anonymous callers can "
     "cause under the health warning",
     RESTART,
     {1, 1000000, "anonMaxActiveTotal", ""},
     CFG_G_LIMITS,
     PLAIN},
    /* A picture book: about 30 pages, one or two pictures a page. */
    {"STORYBOOK_MAX_PAGES",
     I(storybook_max_pages),
     "30",
     "pages a storybook request may have",
     RESTART,
     {1, JOB_BOOK_PAGES_MAX, "storybookMaxPages", ""},
     CFG_G_LIMITS,
     PLAIN},
    {"STORYBOOK_MAX_SCENES",
     I(storybook_max_scenes),
     "60",
     "scenes (illustrations) a storybook request may have, all pages "
     "together",
     RESTART,
     {1, JOB_BOOK_SCENES_MAX, "storybookMaxScenes", ""},
     CFG_G_LIMITS,
     PLAIN},
    /* jobTimeout: a number of minutes, checked by cfg_validate_jobs */
    {"JOB_TIMEOUT_MINUTES", CFG_DOUBLE,
     offsetof(struct cfg, job_timeout_minutes), "30",
     "cap on every type's timeout, in minutes (0.5 to 1440)", RESTART, NOB,
     CFG_G_WORKER, PLAIN},
    {"JOB_RETENTION_DAYS",
     I(retention_days),
     "30",
     "finished jobs older than this are pruned",
     RESTART,
     {1, 36500, "retentionDays", " days"},
     CFG_G_WORKER,
     PLAIN},
    {"JOB_LEASE_SECONDS",
     I(lease_seconds),
     "30",
     "a claimed job is rescued this long after its worker's last heartbeat",
     RESTART,
     {2, 86400, "leaseSeconds", " seconds"},
     CFG_G_WORKER,
     PLAIN},
    {"HEARTBEAT_MS",
     I(heartbeat_ms),
     "5000",
     "worker heartbeat and lease renewal interval (at most half the lease)",
     RELOAD,
     {100, 43200000, "heartbeat", "ms"},
     CFG_G_WORKER,
     PLAIN},
    {"BENCH_NOOP_JOBS", B(bench_noop), "false",
     "benchmarks only: workers run jobs of the no-op type noop", RESTART, NOB,
     CFG_G_WORKER, PLAIN},
    {"MAX_UPLOAD_BYTES",
     I(max_upload_bytes),
     "10485760",
     "largest accepted upload",
     RESTART,
     {1024, 1 << 30, "maxUploadBytes", " bytes"},
     CFG_G_LIMITS,
     PLAIN},
    {"MAX_BODY_BYTES",
     I(max_body_bytes),
     "262144",
     "largest accepted JSON request body",
     RESTART,
     {1024, 16 << 20, "maxBodyBytes", " bytes"},
     CFG_G_LIMITS,
     PLAIN},
    /*
     * Uploads (lib/upload.c, lib/image_gd.c).  The pixel cap bounds the
     * memory one upload's decoding takes (about 8 bytes a pixel) and is no
     * larger than what the worker's cartoon step accepts (4096 x 4096).
     */
    {"MAX_UPLOAD_PIXELS",
     I(max_upload_pixels),
     "16777216",
     "largest accepted upload in pixels (width x height), refused before "
     "decoding",
     RESTART,
     {4096, 4096 * 4096, "maxUploadPixels", " pixels"},
     CFG_G_LIMITS,
     PLAIN},
    {"UPLOAD_RATE_LIMIT",
     I(upload_rate_limit),
     "20",
     "uploads one user or anonymous client may send per UPLOAD_RATE_WINDOW",
     RESTART,
     {1, 100000, "uploadRateLimit", ""},
     CFG_G_LIMITS,
     PLAIN},
    {"UPLOAD_RATE_WINDOW",
     I(upload_rate_window_s),
     "600",
     "the window of UPLOAD_RATE_LIMIT",
     RESTART,
     {1, 86400, "uploadRateWindow", " seconds"},
     CFG_G_LIMITS,
     PLAIN},
    {"UPLOAD_QUOTA_USER_BYTES",
     I(upload_quota_user_bytes),
     "268435456",
     "bytes of uploads one user may have stored",
     RESTART,
     {0, (int64_t)1 << 40, "uploadQuotaUserBytes", " bytes"},
     CFG_G_LIMITS,
     PLAIN},
    {"UPLOAD_QUOTA_CLIENT_BYTES",
     I(upload_quota_client_bytes),
     "52428800",
     "bytes of uploads one anonymous client (IPv4 address, IPv6 /64) may "
     "have stored",
     RESTART,
     {0, (int64_t)1 << 40, "uploadQuotaClientBytes", " bytes"},
     CFG_G_LIMITS,
     PLAIN},
    {"UPLOAD_QUOTA_ANON_BYTES",
     I(upload_quota_anon_bytes),
     "1073741824",
     "bytes of uploads all anonymous clients together may have stored",
     RESTART,
     {0, (int64_t)1 << 40, "uploadQuotaAnonBytes", " bytes"},
     CFG_G_LIMITS,
     PLAIN},
    {"UPLOAD_ORPHAN_HOURS",
     I(upload_orphan_hours),
     "24",
     "an upload no job references is deleted this long after it was "
     "stored or last used",
     RESTART,
     {1, 8760, "uploadOrphanHours", " hours"},
     CFG_G_LIMITS,
     PLAIN},
    /* Per-account login delays (lib/login_backoff.c has the design). */
    {"LOGIN_BACKOFF_FREE",
     I(login_backoff_free),
     "5",
     "logins in a row that fail on one account (from one address, and "
     "from all together) before the next must wait",
     RESTART,
     {1, 100, "loginBackoffFree", ""},
     CFG_G_LIMITS,
     PLAIN},
    {"LOGIN_BACKOFF_MAX_SECONDS",
     I(login_backoff_max_s),
     "300",
     "longest wait, doubling from 1 s, of the address whose logins on an "
     "account fail",
     RESTART,
     {1, 86400, "loginBackoffMax", " seconds"},
     CFG_G_LIMITS,
     PLAIN},
    {"LOGIN_BACKOFF_ACCOUNT_MAX_SECONDS",
     I(login_backoff_account_max_s),
     "60",
     "longest wait the failures on an account put on every other address "
     "(at most LOGIN_BACKOFF_MAX_SECONDS; 0: none)",
     RESTART,
     {0, 86400, "loginBackoffAccountMax", " seconds"},
     CFG_G_LIMITS,
     PLAIN},
};
#define CFG_ROWS (sizeof(cfg_table) / sizeof(cfg_table[0]))

#undef S
#undef I
#undef B
#undef F

/* Per-type rows: JOB_<TYPE>_<FIELD>, bounds as for the table's rows. */
struct cfg_type_field {
	const char *suffix;
	size_t off;
	const char *doc;
	struct cfg_bounds b;
};

static const struct cfg_type_field cfg_type_fields[] = {
    {"TIMEOUT_SECONDS",
     offsetof(struct cfg_type, timeout_s),
     "processing time limit",
     {30, 86400, "jobTimeout", " seconds"}},
    {"MAX_RETRIES",
     offsetof(struct cfg_type, max_retries),
     "automatic retries of transient failures",
     {0, 100, "maxRetries", ""}},
    {"PRIORITY",
     offsetof(struct cfg_type, priority),
     "claim order; lower runs first",
     {0, 1000, "priority", ""}},
    {"CONCURRENCY",
     offsetof(struct cfg_type, concurrency),
     "jobs of this type one worker runs at once",
     {1, 100000, "concurrency", ""}},
    {"ESTIMATED_SECONDS",
     offsetof(struct cfg_type, est_duration_s),
     "estimate shown to users",
     {1, 604800, "estimatedDuration", " seconds"}},
    {"MAX_CALLS",
     offsetof(struct cfg_type, max_calls),
     "paid provider calls one job may make over all its tries; past it the "
     "job fails with QUOTA_EXCEEDED",
     {0, 10000, "maxCalls", ""}},
};
#define CFG_TYPE_FIELDS (sizeof(cfg_type_fields) / sizeof(cfg_type_fields[0]))
/* Every setting: the table's rows, then the per-type rows. */
#define CFG_ALL (CFG_ROWS + JOB_TYPE_MAX * CFG_TYPE_FIELDS)

static const char *const type_names[JOB_TYPE_MAX] = {
    "storybook",  "auto-story",	      "scenes",
    "cartoonize", "image-generation", "noop"};
static const char *const type_keys[JOB_TYPE_MAX] = {
    "STORYBOOK",  "AUTO_STORY",	      "SCENES",
    "CARTOONIZE", "IMAGE_GENERATION", "NOOP"};
/*
 * CONTRACT section 1: timeout, max retries, priority, concurrency, est.;
 * then the paid calls a job may make: what its largest input needs (a
 * book of STORYBOOK_MAX_SCENES pictures and its few text calls; two or
 * three calls for the others) with room for the calls its retries repeat.
 */
static const struct cfg_type type_defaults[JOB_TYPE_MAX] = {
    [JOB_STORYBOOK] = {20 * 60, 2, 2, 2, 8 * 60, 100},
    [JOB_AUTO_STORY] = {15 * 60, 3, 3, 2, 6 * 60, 12},
    [JOB_SCENES] = {10 * 60, 3, 2, 3, 4 * 60, 12},
    [JOB_CARTOONIZE] = {5 * 60, 3, 1, 5, 2 * 60, 12},
    [JOB_IMAGE_GENERATION] = {5 * 60, 3, 1, 5, 90, 12},
    /* the benchmarks' no-op type: MAX_CONCURRENT_JOBS is its only cap */
    [JOB_NOOP] = {60, 0, 0, 100000, 1, 0},
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

static const char *const group_titles[CFG_G_MAX] = {
    [CFG_G_DB] = "Database and the cron routes' secret",
    [CFG_G_GEN] = "Generation providers",
    [CFG_G_STORE] = "Media storage",
    [CFG_G_FEAT] = "Logging, features and access",
    [CFG_G_WORKER] = "Worker and queue",
    [CFG_G_LIMITS] = "Request limits",
    [CFG_G_TYPES] = "Per job type: JOB_<TYPE>_<FIELD>",
};

const char *
cfg_group_title(enum cfg_group g)
{
	return (unsigned)g < CFG_G_MAX ? group_titles[g] : "";
}

size_t
cfg_row_count(void)
{
	return CFG_ALL;
}

void
cfg_row_get(size_t i, struct cfg_row *r)
{
	const struct cfg_entry *e;
	const struct cfg_type_field *f;
	size_t t;

	if (i < CFG_ROWS) {
		e = &cfg_table[i];
		*r = (struct cfg_row){.def = e->def,
				      .doc = e->doc,
				      .kind = e->kind,
				      .off = e->off,
				      .reload = e->reload,
				      .secret = e->secret,
				      .b = &e->b,
				      .group = e->group,
				      .type = -1};
		snprintf(r->name, sizeof(r->name), "%s", e->name);
		return;
	}
	t = (i - CFG_ROWS) / CFG_TYPE_FIELDS;
	f = &cfg_type_fields[(i - CFG_ROWS) % CFG_TYPE_FIELDS];
	*r = (struct cfg_row){.doc = f->doc,
			      .kind = CFG_INT,
			      .off = offsetof(struct cfg, types) +
				     t * sizeof(struct cfg_type) + f->off,
			      .b = &f->b,
			      .group = CFG_G_TYPES,
			      .type = (int)t};
	snprintf(r->name, sizeof(r->name), "JOB_%s_%s", type_keys[t],
		 f->suffix);
	snprintf(
	    r->defbuf, sizeof(r->defbuf), "%lld",
	    (long long)*(
		const int64_t *)(const void *)((const char *)&type_defaults[t] +
					       f->off));
	r->def = r->defbuf;
}

bool
cfg_feature_enabled(const struct cfg *c, const char *name)
{
	for (int i = 0; i < FEAT_MAX; i++)
		if (strcmp(name, feature_names[i]) == 0)
			return c->features[i];
	return false;
}
