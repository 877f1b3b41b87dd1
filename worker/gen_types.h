/*
 * What providers and handlers exchange, with no job attached: images in
 * memory, the hero and scene of a book, a provider's failure record and
 * the provider context (gen_types.c).  Depends on lib/ only, so a
 * provider built on it can be linked and tested without the worker.
 */
#ifndef SJ_GEN_TYPES_H
#define SJ_GEN_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "buf.h"
#include "err.h"

struct cfg;
struct db;
struct http_req;
struct http_resp;
struct job_lease;

#define GEN_DESC_MAX  512	  /* bytes of a character description */
#define GEN_NAME_MAX  64	  /* prefix-<32 hex>.ext */
#define GEN_IMAGE_MAX (16u << 20) /* bytes of one image */
#define GEN_FACE_MAX  65	  /* 64 hex digits and a NUL */
#define GEN_FAIL_MSG  260	  /* a job message (256) and a cut char */

/* An image in memory. */
struct gen_image {
	struct buf data;
	const char *ctype; /* static: "image/png", "image/svg+xml", ... */
	const char *ext;   /* static: "png", "svg", ... */
};

/*
 * Who the illustrations of a book (or of one image-generation) show, set
 * once by the handler.  A provider with a scene op prepares what it draws
 * of the hero once, on the first scene, into made (its own; freed by
 * gen_hero_free), so every scene of the book shows the same hero.
 */
struct gen_hero {
	const char *description; /* borrowed; "" when none */
	const char *picture;	 /* borrowed URL (the cartoon); "" when none */
	void *made;
	void (*made_free)(void *made);
	/* What made draws of picture (a digest; "" for nothing), by hero() */
	char face[GEN_FACE_MAX];
};

/* One illustration of a story. */
struct gen_scene {
	const char *prompt;    /* what image() would be given */
	const char *style;     /* a contract style */
	const char *caption;   /* the scene's own text */
	struct gen_hero *hero; /* NULL: none */
};

/* How a provider's work ended when it did not succeed. */
enum gen_end {
	GEN_FAILED = 0, /* failed: transient, code, msg, retry_after_s */
	GEN_ABORTED,	/* the job's abort (cancel, deadline, stop) cut it */
	GEN_DEFER,	/* waits outside the job: back after defer_ms (why) */
	GEN_ENDED	/* a hook of the handler side ended the job itself */
};

/*
 * Why a provider's work failed, for the handler to record on the job
 * (gen_failed: step_fail_rec, step_aborted or step_defer): the same
 * fields as a job's failure.
 */
struct gen_fail {
	enum gen_end end;
	bool transient;	    /* worth a retry */
	const char *code;   /* static error code (CONTRACT) */
	long retry_after_s; /* not before this (an upstream's hint); 0 none */
	int64_t defer_ms;   /* GEN_DEFER */
	const char *why;    /* GEN_DEFER: static, for the log */
	char msg[GEN_FAIL_MSG];
};

void gen_fail_set(struct gen_fail *f, bool transient, const char *code,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* GEN_ABORTED, GEN_ENDED; GEN_DEFER for ms (why: static). */
void gen_fail_end(struct gen_fail *f, enum gen_end end);
void gen_fail_defer(struct gen_fail *f, int64_t ms, const char *why);
/* INTERNAL_ERROR for e; transient for I/O, memory and database errors. */
void gen_fail_err(struct gen_fail *f, enum sj_err e, const char *what);

/*
 * What a provider is given of the job it works for, built by the handler
 * side from its step context (gen_ctx_of): no job row, no step helper.
 * Every hook takes arg.  A hook that returns false has ended the job
 * itself (the provider's record is then GEN_ENDED).
 */
struct gen_ctx {
	const struct cfg *cfg;
	struct db *db; /* the thread's session (budget, usage) */
	const struct job_lease *lease; /* usage is added under it */
	const char *job_id;	       /* for the log */
	struct json_object **ckpt;     /* the job's checkpoint object */
	int64_t deadline_ms;	       /* monotonic: the job's deadline */
	const char *provider;	       /* the provider's name (counters) */
	void *arg;
	/* true: stop now (shutdown, cancel, deadline); http_req.abort_cb */
	bool (*abort_cb)(void *arg);
	/* saves *ckpt with the job (fenced by its lease) */
	bool (*save)(void *arg);
	/* sleeps ms in the worker slot */
	bool (*sleep)(void *arg, int64_t ms);
	/* counts one paid call against the type's MAX_CALLS (saved) */
	bool (*paid_call)(void *arg);
	/* counts an upstream call (NULL: none) */
	void (*upstream)(void *arg, const struct http_req *req,
			 const struct http_resp *resp, enum sj_err e,
			 bool aborted, int64_t t0_ms);
};

/* The value under key in the checkpoint, borrowed; NULL when absent. */
struct json_object *gen_ctx_ckpt(const struct gen_ctx *g, const char *key);
/*
 * Adds val (taken, also on failure) under key and saves the checkpoint;
 * false: f says why.
 */
bool gen_ctx_save(const struct gen_ctx *g, const char *key,
		  struct json_object *val, struct gen_fail *f) SJ_WUR;

void gen_image_free(struct gen_image *img);
void gen_hero_free(struct gen_hero *h);

#endif
