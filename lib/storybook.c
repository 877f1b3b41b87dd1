/*
 * DESIGN
 * Each call is one statement.  The documents are built by PostgreSQL
 * (jsonb_build_object) from the row, so the pages saved by the worker
 * come back exactly as stored; C only parses the one text column.
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "storybook.h"

/* clang-format off */
#define SB_DOC                                                                \
	"jsonb_build_object('id', id, 'title', title, 'audience', audience, " \
	"'pages', pages, 'has_errors', has_errors, 'createdAt', "             \
	"to_char(created_at AT TIME ZONE 'UTC', "                             \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'jobId', job_id)"
/* clang-format on */

bool
storybook_id_valid(const char *s)
{
	size_t n = 0;

	if (s == NULL || strncmp(s, "sb_", 3) != 0)
		return false;
	for (s += 3; (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9'); s++)
		n++;
	return *s == '\0' && n > 0 && n + 3 < STORYBOOK_ID_MAX;
}

static enum sj_err
storybook_id_new(char out[STORYBOOK_ID_MAX])
{
	static const char alpha[] = "0123456789abcdefghijklmnopqrstuv";
	unsigned char rnd[26];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return SJ_EIO;
	memcpy(out, "sb_", 3);
	for (size_t i = 0; i < sizeof(rnd); i++)
		out[3 + i] = alpha[rnd[i] & 31];
	out[3 + sizeof(rnd)] = '\0';
	return SJ_OK;
}

static const struct db_stmt st_create = {
    "storybook_create",
    "INSERT INTO storybooks (id, user_id, job_id, title, audience, pages, "
    "has_errors) VALUES ($1, nullif($2::int8, 0), $3, $4, $5, $6::jsonb, "
    "$7::bool) ON CONFLICT (job_id) WHERE job_id IS NOT NULL DO UPDATE SET "
    "title = EXCLUDED.title, audience = EXCLUDED.audience, pages = "
    "EXCLUDED.pages, has_errors = EXCLUDED.has_errors RETURNING id",
    7};

enum sj_err
storybook_create(struct db *db, const struct storybook_new *sb,
		 char id[STORYBOOK_ID_MAX])
{
	char uid[24];
	const char *p[7];
	PGresult *r = NULL;
	enum sj_err e;

	if (sb->title == NULL || sb->audience == NULL || sb->pages == NULL)
		return SJ_EINVAL;
	if ((e = storybook_id_new(id)) != SJ_OK)
		return e;
	snprintf(uid, sizeof(uid), "%lld", (long long)sb->user_id);
	p[0] = id;
	p[1] = uid;
	p[2] = sb->job_id;
	p[3] = sb->title;
	p[4] = sb->audience;
	p[5] =
	    json_object_to_json_string_ext(sb->pages, JSON_C_TO_STRING_PLAIN);
	p[6] = sb->has_errors ? "true" : "false";
	if (p[5] == NULL)
		return SJ_ENOMEM;
	if ((e = db_exec(db, &st_create, p, &r)) != SJ_OK)
		return e;
	if (PQntuples(r) == 1 && db_str(r, 0, 0) != NULL)
		snprintf(id, STORYBOOK_ID_MAX, "%s", db_str(r, 0, 0));
	else
		e = SJ_EDB;
	PQclear(r);
	return e;
}

/* Parses the one text column of a one-row result into *out. */
static enum sj_err
one_doc(PGresult *r, struct json_object **out)
{
	if (PQntuples(r) != 1 || db_str(r, 0, 0) == NULL)
		return SJ_ENOTFOUND;
	*out = json_tokener_parse(db_str(r, 0, 0));
	return *out != NULL ? SJ_OK : SJ_ENOMEM;
}

static const struct db_stmt st_get = {
    "storybook_get", "SELECT " SB_DOC " FROM storybooks WHERE id = $1", 1};

enum sj_err
storybook_get(struct db *db, const char *id, struct json_object **out)
{
	const char *p[1] = {id};
	PGresult *r = NULL;
	enum sj_err e;

	*out = NULL;
	if (!storybook_id_valid(id))
		return SJ_ENOTFOUND;
	if ((e = db_exec(db, &st_get, p, &r)) != SJ_OK)
		return e;
	e = one_doc(r, out);
	PQclear(r);
	return e;
}

static const struct db_stmt st_list = {
    "storybook_list",
    "SELECT coalesce(jsonb_agg(d ORDER BY c DESC, i DESC), '[]') FROM "
    "(SELECT " SB_DOC " d, created_at c, id i FROM storybooks WHERE "
    "user_id = $1::int8 ORDER BY created_at DESC, id DESC LIMIT $2::int4) s",
    2};

enum sj_err
storybook_list(struct db *db, int64_t user_id, int limit,
	       struct json_object **out)
{
	char uid[24], lim[16];
	const char *p[2] = {uid, lim};
	PGresult *r = NULL;
	enum sj_err e;

	*out = NULL;
	snprintf(uid, sizeof(uid), "%lld", (long long)user_id);
	snprintf(lim, sizeof(lim), "%d", limit < 1 ? 1 : limit);
	if ((e = db_exec(db, &st_list, p, &r)) != SJ_OK)
		return e;
	e = one_doc(r, out);
	PQclear(r);
	return e;
}
