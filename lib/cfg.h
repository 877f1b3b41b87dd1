/*
 * Configuration: one table of settings (cfg_table.c), read from a lookup
 * function so tests can feed values without touching the environment.
 * cfg_load_env() reads the configuration file (STORYJOBS_CONFIG, else
 * SJ_CONFIG_FILE if it exists; syntax in cfg_file.c) and then the process
 * environment, which wins.  Only the file is strict about names: an
 * unknown key there is an error naming FILE:LINE, while the environment
 * holds other programs' variables too and is only asked for ours.
 *
 * Validation reports every problem at once.  A program refuses to start
 * on any error; a reload that fails keeps the old configuration.
 */
#ifndef SJ_CFG_H
#define SJ_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum job_type {
	JOB_STORYBOOK = 0,
	JOB_AUTO_STORY,
	JOB_SCENES,
	JOB_CARTOONIZE,
	JOB_IMAGE_GENERATION,
	JOB_NOOP, /* benchmarks only: never started by the API */
	JOB_TYPE_MAX
};

enum cfg_feature {
	FEAT_AUTO_PROCESSING = 0, /* enableAutoProcessing */
	FEAT_PRIORITY_PROCESSING, /* enablePriorityProcessing */
	FEAT_JOB_CANCELLATION,	  /* enableJobCancellation */
	FEAT_METRICS_COLLECTION,  /* enableMetricsCollection */
	FEAT_HEALTH_CHECKS,	  /* enableHealthChecks */
	FEAT_MAX
};

/* Per-type settings; defaults from CONTRACT section 1. */
struct cfg_type {
	int64_t timeout_s;	/* JOB_<TYPE>_TIMEOUT_SECONDS */
	int64_t max_retries;	/* JOB_<TYPE>_MAX_RETRIES */
	int64_t priority;	/* JOB_<TYPE>_PRIORITY; lower runs first */
	int64_t concurrency;	/* JOB_<TYPE>_CONCURRENCY */
	int64_t est_duration_s; /* JOB_<TYPE>_ESTIMATED_SECONDS */
	int64_t max_calls; /* JOB_<TYPE>_MAX_CALLS: paid calls, all tries */
};

struct cfg {
	char *database_url;
	char *database_pooling;	   /* "session" or "transaction" */
	char *database_listen_url; /* "": database_url */
	char *webhook_secret;	   /* NULL: cron routes refuse all */
	char *openai_api_key;
	char *openai_base_url;
	char *openai_model;
	char *openai_image_model;
	char *openai_image_size;
	char *openai_image_quality; /* GPT image models only */
	int64_t openai_timeout_s;
	int64_t openai_chat_rpm;  /* 0: no limit (lib/budget.h) */
	int64_t openai_chat_tpm;  /* 0: no limit */
	int64_t openai_image_ipm; /* 0: no limit */
	char *cloudinary_api_base;
	char *cloudinary_cloud_name;
	char *cloudinary_api_key;
	char *cloudinary_api_secret;
	char *s3_endpoint; /* scheme://host[:port], no path */
	char *s3_region;
	char *s3_bucket;
	char *s3_access_key_id;
	char *s3_secret_access_key;
	char *s3_public_base_url;  /* an object's URL: this/key */
	char *generation_provider; /* "local" or "openai" */
	char *storage;		   /* "local", "cloudinary" or "s3" */
	char *media_dir;
	char *public_base_url; /* "" : media URLs are relative */
	char *log_level;
	int64_t processing_interval_ms;
	int64_t max_concurrent_jobs;
	int64_t prefetch_jobs; /* claimed ahead of free job threads */
	int64_t max_jobs_per_user;
	/* anonymous starts (lib/client.h says who a client is) */
	int64_t anon_start_limit;      /* starts per client per window */
	int64_t anon_start_window_s;   /* that window */
	int64_t anon_max_active_jobs;  /* live anonymous jobs per client */
	int64_t anon_max_active_total; /* of all clients together */
	int64_t storybook_max_pages;
	int64_t storybook_max_scenes; /* all pages together */
	double job_timeout_minutes;   /* cap on every type's timeout */
	int64_t retention_days;
	bool allow_anonymous_jobs;
	bool allow_signup;
	int64_t max_upload_bytes;
	int64_t max_body_bytes; /* JSON request bodies */
	/* uploads (lib/upload.c, lib/image_gd.c) */
	int64_t max_upload_pixels; /* decoded width x height */
	int64_t upload_rate_limit; /* uploads per client or user per window */
	int64_t upload_rate_window_s;
	int64_t upload_quota_user_bytes;   /* stored, per user */
	int64_t upload_quota_client_bytes; /* stored, per anonymous client */
	int64_t upload_quota_anon_bytes;   /* stored, all anonymous together */
	int64_t upload_orphan_hours;	   /* unused uploads kept this long */
	int64_t lease_seconds;
	int64_t heartbeat_ms;
	int64_t statement_timeout_ms;
	int64_t local_delay_ms; /* local provider: pause per step */
	bool bench_noop;	/* BENCH_NOOP_JOBS: workers run noop jobs */
	bool features[FEAT_MAX];
	struct cfg_type types[JOB_TYPE_MAX];

	/* login delays per account (lib/login_backoff.c) */
	int64_t login_backoff_free;	     /* logins before any delay */
	int64_t login_backoff_max_s;	     /* the failing client's cap */
	int64_t login_backoff_account_max_s; /* every other client's cap */
};

/* WEBHOOK_SECRET, when set, has at least this many bytes. */
#define CFG_WEBHOOK_SECRET_MIN 32

#define CFG_ERRS_MAX  32
#define CFG_WARNS_MAX 8
struct cfg_errs {
	int n;
	int more; /* problems past CFG_ERRS_MAX, counted only */
	char msg[CFG_ERRS_MAX][256];
	/* what the file does that is allowed but likely a mistake */
	int nwarn;
	char warn[CFG_WARNS_MAX][256];
};

/* Appends one message (counted in more when errs is full). */
void cfg_errs_add(struct cfg_errs *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends one warning (dropped when the warnings are full). */
void cfg_warn_add(struct cfg_errs *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Returns the value of a setting, or NULL when it is not set. */
typedef const char *(*cfg_lookup_fn)(const char *name, void *ctx);
/* Where the value of a setting came from: "env", "FILE:LINE", or NULL. */
typedef const char *(*cfg_where_fn)(const char *name, void *ctx);

/*
 * Fills c with defaults, then the values lookup gives, then validates.
 * Returns SJ_ECONFIG with every problem in errs, SJ_ENOMEM, or SJ_OK.
 * On error c is freed.  The caller frees c with cfg_free() on success.
 */
enum sj_err cfg_load(struct cfg *c, cfg_lookup_fn lookup, void *ctx,
		     struct cfg_errs *errs) SJ_WUR;
/*
 * cfg_load() that appends to errs (not reset) and prefixes each problem
 * with where(name) when it is a FILE:LINE; ctx goes to both functions.
 */
enum sj_err cfg_load_where(struct cfg *c, cfg_lookup_fn lookup,
			   cfg_where_fn where, void *ctx,
			   struct cfg_errs *errs) SJ_WUR;

/* check-config's view of a loaded value (secrets: "(set, N bytes)"). */
typedef void (*cfg_value_fn)(const char *name, const char *value,
			     const char *source, void *ctx);
/*
 * cfg_load() from the configuration file and the environment: the file
 * named by STORYJOBS_CONFIG (it must exist; set but empty: no file), else
 * SJ_CONFIG_FILE when it exists.  Problems of the file (syntax, unknown
 * keys) and of the values are all reported together.
 */
enum sj_err cfg_load_env(struct cfg *c, struct cfg_errs *errs) SJ_WUR;
/*
 * cfg_load_env() from path (must_exist: a missing file is an error);
 * warnings (a key set twice, secrets in a file others can read) go to
 * errs->warn whether or not it succeeds;
 * on success, fn (if not NULL) is called for every setting with a value,
 * with its source: "env", "FILE:LINE" or "default".
 */
enum sj_err cfg_load_path(struct cfg *c, const char *path, bool must_exist,
			  struct cfg_errs *errs, cfg_value_fn fn,
			  void *ctx) SJ_WUR;
/* cfg_load_env() that reports each value to fn as cfg_load_path does. */
enum sj_err cfg_load_env_each(struct cfg *c, struct cfg_errs *errs,
			      cfg_value_fn fn, void *ctx) SJ_WUR;
/* Calls fn for every setting of c that has a value (cfg_load_path). */
void cfg_each_value(const struct cfg *c, cfg_where_fn where, void *wctx,
		    cfg_value_fn fn, void *ctx);
/* The configuration file used when STORYJOBS_CONFIG is not set. */
const char *cfg_default_file(void);
/* True when name is a setting (a table row or JOB_<TYPE>_<FIELD>). */
bool cfg_known(const char *name);
/* The setting within two edits of name, into out; false when none. */
bool cfg_suggest(const char *name, char *out, size_t n);
/* Appends the problems of c to errs; returns how many it found. */
int cfg_validate(const struct cfg *c, struct cfg_errs *errs);
void cfg_free(struct cfg *c);
/* Prints errs to the log, one line each, with a leading context. */
void cfg_log_errs(const struct cfg_errs *errs);

/* Feature flags by their contract names ("enableAutoProcessing"). */
bool cfg_feature_enabled(const struct cfg *c, const char *name);

/* Effective timeout of a type in seconds: min(type, JOB_TIMEOUT_MINUTES). */
int64_t cfg_job_timeout(const struct cfg *c, enum job_type t);
int64_t cfg_estimated_duration(const struct cfg *c, enum job_type t);

/* "storybook", "auto-story", ... */
const char *job_type_name(enum job_type t);
/* Returns SJ_EINVAL for an unknown name. */
enum sj_err job_type_parse(const char *s, enum job_type *out) SJ_WUR;
/* job_type_parse() for callers of the API: the contract's five types. */
enum sj_err job_type_parse_api(const char *s, enum job_type *out) SJ_WUR;

/* The sections of the generated storyjobs.conf and storyjobs.conf(5). */
enum cfg_group {
	CFG_G_DB = 0,
	CFG_G_GEN,
	CFG_G_STORE,
	CFG_G_FEAT,
	CFG_G_WORKER,
	CFG_G_LIMITS,
	CFG_G_TYPES,
	CFG_G_MAX
};
const char *cfg_group_title(enum cfg_group g);

/* Documentation of every setting, for --help and the generated docs. */
struct cfg_doc {
	const char *name;
	const char *def; /* "" when unset */
	const char *doc;
	bool reload; /* a running worker applies it on SIGHUP */
	bool secret;
	enum cfg_group group;
	const char *type; /* job type of a JOB_<TYPE>_<FIELD> row, else NULL */
	bool has_bounds;  /* an integer checked against min..max */
	int64_t min, max;
	const char *unit; /* "ms", " seconds", " bytes" or "" */
};
/* Calls fn for each setting in table order. */
void cfg_each_doc(void (*fn)(const struct cfg_doc *d, void *ctx), void *ctx);

/*
 * Calls fn with the name of each setting whose value differs between a
 * and b and that a running worker does not apply on SIGHUP (the
 * settings table's reload column): what only a restart changes.
 */
void cfg_each_restart_change(const struct cfg *a, const struct cfg *b,
			     void (*fn)(const char *name, void *ctx),
			     void *ctx);

#endif
