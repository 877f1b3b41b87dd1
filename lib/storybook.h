/*
 * Storybooks: what storybook and auto-story jobs save.  The worker
 * creates them (storybook_create); the jobs API reads them back as the
 * JSON documents of CONTRACT section 2: {id, title, audience, pages,
 * has_errors, createdAt, jobId}.
 */
#ifndef SJ_STORYBOOK_H
#define SJ_STORYBOOK_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "db.h"
#include "err.h"

/* "sb_" + 26 chars of base32 (130 bits) + NUL, with room to spare. */
#define STORYBOOK_ID_MAX 40

struct storybook_new {
	int64_t user_id;    /* 0: anonymous */
	const char *job_id; /* may be NULL */
	const char *title;
	const char *audience;
	struct json_object *pages; /* array, borrowed */
	bool has_errors;
};

/* True when s matches ^sb_[a-z0-9]+$ and fits STORYBOOK_ID_MAX. */
bool storybook_id_valid(const char *s);
/*
 * Saves a storybook; id receives its id.  Saving again for the same job
 * replaces the first one's content and gives back its id.
 */
enum sj_err storybook_create(struct db *db, const struct storybook_new *sb,
			     char id[STORYBOOK_ID_MAX]) SJ_WUR;
/* The storybook document (caller puts); SJ_ENOTFOUND when none. */
enum sj_err storybook_get(struct db *db, const char *id,
			  struct json_object **out) SJ_WUR;
/* An array of the user's storybooks, newest first, at most limit. */
enum sj_err storybook_list(struct db *db, int64_t user_id, int limit,
			   struct json_object **out) SJ_WUR;

#endif
