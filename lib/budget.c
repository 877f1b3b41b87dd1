/*
 * DESIGN
 * A provider's budget is one row of provider_budget (sql/017): the tat
 * of each limit and the pause.  A take is one INSERT ... ON CONFLICT DO
 * UPDATE whose WHERE admits it only when the pause is over and every
 * limit the call spends is paid for: the conflict update locks the row
 * and sees its newest version, so concurrent takes on any number of
 * sessions queue on that row and each sees the one before it.  A
 * refused take updates nothing and returns nothing from the upsert; the
 * wait is then read from the row as the statement's snapshot saw it,
 * which a take committed just before may have made stale: the wait is
 * at least 1 ms, and taking again after it reads the newer row.
 * The clock is the database's now() (one clock for every host), or a
 * test's instant; a pause is a length from it, never an instant of the
 * caller's clock.  Rates and costs are parameters, never SQL text.
 * A booking (budget_reserve) is sql/017's function of that name: it
 * locks the row (FOR UPDATE, after an insert that does nothing when the
 * row exists), so concurrent bookings queue and each books after the
 * one before it; it is passed each limit's interval per unit, the
 * margin (BUDGET_MARGIN_MS) already in it.
 */
#include <stdio.h>

#include "budget.h"
#include "counters.h"
#include "log.h"

void
budget_limits_of(const struct cfg *c, struct budget_limits *out)
{
	out->chat_rpm = c->openai_chat_rpm;
	out->chat_tpm = c->openai_chat_tpm;
	out->image_ipm = c->openai_image_ipm;
}

/* The instant of a take: $8 unix ms, or NULL for now(). */
#define NOW_T "coalesce(to_timestamp($8::float8 / 1000), now())"
/* A limit ($rate per minute, $cost units) the take spends. */
#define ON(rate, cost) "(" rate "::int8 > 0 AND " cost "::int8 > 0)"
#define ON_R	       ON("$2", "$3")
#define ON_T	       ON("$4", "$5")
#define ON_I	       ON("$6", "$7")
/* tat after a take of cost units at rate per minute (nullif: no /0). */
#define NEXT(rate, cost)                                                       \
	NOW_T " + make_interval(secs => " cost "::float8 * 60 / nullif(" rate  \
	      "::int8, 0))"
#define TAT_NEW(on, rate, cost)                                                \
	"CASE WHEN " on " THEN " NEXT(rate, cost) " ELSE '-infinity' END"
#define TAT_SET(col, on)                                                       \
	col " = CASE WHEN " on " THEN excluded." col " ELSE b." col " END"
#define TAT_LIMIT(col, on) "CASE WHEN " on " THEN " col " ELSE '-infinity' END"

/* clang-format off */
static const struct db_stmt st_take = {
    "budget_take",
    "WITH up AS (INSERT INTO provider_budget AS b (provider, tat_requests, "
    "tat_tokens, tat_images) VALUES ($1, " TAT_NEW(ON_R, "$2", "$3") ", "
    TAT_NEW(ON_T, "$4", "$5") ", " TAT_NEW(ON_I, "$6", "$7") ") "
    "ON CONFLICT (provider) DO UPDATE SET " TAT_SET("tat_requests", ON_R)
    ", " TAT_SET("tat_tokens", ON_T) ", " TAT_SET("tat_images", ON_I)
    " WHERE b.paused_until <= " NOW_T " AND (NOT " ON_R " OR "
    "b.tat_requests <= " NOW_T ") AND (NOT " ON_T " OR b.tat_tokens <= "
    NOW_T ") AND (NOT " ON_I " OR b.tat_images <= " NOW_T ") RETURNING 1) "
    "SELECT 0::int8 FROM up UNION ALL SELECT CASE WHEN x > " NOW_T
    " THEN greatest(1, ceil(1000 * date_part('epoch', x - " NOW_T
    ")))::int8 ELSE 1 END FROM (SELECT greatest(paused_until, "
    TAT_LIMIT("tat_requests", ON_R) ", " TAT_LIMIT("tat_tokens", ON_T)
    ", " TAT_LIMIT("tat_images", ON_I) ") AS x FROM provider_budget WHERE "
    "provider = $1 AND NOT EXISTS (SELECT 1 FROM up)) w",
    8};
/* clang-format on */

/* With no limit on: only the pause, and no write. */
static const struct db_stmt st_paused = {
    "budget_paused",
    "SELECT CASE WHEN paused_until > t THEN greatest(1, ceil(1000 * "
    "date_part('epoch', paused_until - t)))::int8 ELSE 0 END FROM "
    "provider_budget, coalesce(to_timestamp($2::float8 / 1000), now()) t "
    "WHERE provider = $1",
    2};

enum sj_err
budget_take_at(struct db *db, const char *provider,
	       const struct budget_limits *lim, enum budget_call call,
	       int64_t cost, int64_t now_ms, int64_t *wait_ms)
{
	char v[7][24];
	const char *params[8];
	PGresult *r = NULL;
	enum sj_err e;
	bool chat = call == BUDGET_CHAT;
	int64_t vals[6] = {lim->chat_rpm,  chat ? 1 : 0,
			   lim->chat_tpm,  chat && cost > 0 ? cost : 0,
			   lim->image_ipm, !chat && cost > 0 ? cost : 0};
	bool any = false;

	*wait_ms = 0;
	if ((unsigned)call >= BUDGET_CALL_MAX)
		return SJ_EINVAL;
	params[0] = provider;
	for (int i = 0; i < 6; i++) {
		snprintf(v[i], sizeof(v[i]), "%lld", (long long)vals[i]);
		params[i + 1] = v[i];
		any = any || (i % 2 == 1 && vals[i - 1] > 0 && vals[i] > 0);
	}
	snprintf(v[6], sizeof(v[6]), "%lld", (long long)now_ms);
	params[7] = now_ms > 0 ? v[6] : NULL;
	if (any) {
		e = db_exec(db, &st_take, params, &r);
	} else {
		const char *p2[2] = {provider, params[7]};

		e = db_exec(db, &st_paused, p2, &r);
	}
	if (e != SJ_OK)
		return e;
	/* refused, and the snapshot had no row yet: a new one was taken */
	*wait_ms = PQntuples(r) == 1 ? db_ll(r, 0, 0, 1) : any ? 1 : 0;
	PQclear(r);
	return SJ_OK;
}

enum sj_err
budget_take(struct db *db, const char *provider,
	    const struct budget_limits *lim, enum budget_call call,
	    int64_t cost, int64_t *wait_ms)
{
	return budget_take_at(db, provider, lim, call, cost, 0, wait_ms);
}

static const struct db_stmt st_reserve = {
    "budget_reserve",
    "SELECT budget_reserve($1, $2, $3, $4, $5, $6, $7, t, $8), "
    "floor(1000 * date_part('epoch', t))::int8 FROM coalesce("
    "to_timestamp($9::float8 / 1000), now()) t",
    9};

/* Seconds per unit of a limit of rate per minute, with the margin. */
static void
interval_of(int64_t rate, char out[32])
{
	if (rate <= 0)
		snprintf(out, 32, "0");
	else
		snprintf(out, 32, "%.9f",
			 (60000.0 + BUDGET_MARGIN_MS) / 1000.0 / (double)rate);
}

enum sj_err
budget_reserve_at(struct db *db, const char *provider,
		  const struct budget_limits *lim, enum budget_call call,
		  int64_t cost, int64_t ahead_ms, int64_t now_ms,
		  int64_t *wait_ms, int64_t *at_ms)
{
	char iv[3][32], n[3][24], ahead[24], now[24];
	const char *params[9];
	PGresult *r = NULL;
	enum sj_err e;
	bool chat = call == BUDGET_CHAT;

	*wait_ms = 0;
	*at_ms = 0;
	if ((unsigned)call >= BUDGET_CALL_MAX)
		return SJ_EINVAL;
	interval_of(lim->chat_rpm, iv[0]);
	interval_of(lim->chat_tpm, iv[1]);
	interval_of(lim->image_ipm, iv[2]);
	snprintf(n[0], sizeof(n[0]), "%d", chat ? 1 : 0);
	snprintf(n[1], sizeof(n[1]), "%lld",
		 (long long)(chat && cost > 0 ? cost : 0));
	snprintf(n[2], sizeof(n[2]), "%lld",
		 (long long)(!chat && cost > 0 ? cost : 0));
	snprintf(ahead, sizeof(ahead), "%lld",
		 (long long)(ahead_ms > 0 ? ahead_ms : 0));
	snprintf(now, sizeof(now), "%lld", (long long)now_ms);
	params[0] = provider;
	for (int i = 0; i < 3; i++) {
		params[1 + 2 * i] = iv[i];
		params[2 + 2 * i] = n[i];
	}
	params[7] = ahead;
	params[8] = now_ms > 0 ? now : NULL;
	if ((e = db_exec(db, &st_reserve, params, &r)) != SJ_OK)
		return e;
	if (PQntuples(r) == 1) {
		*wait_ms = db_ll(r, 0, 0, 0);
		*at_ms =
		    db_ll(r, 0, 1, 0) + (*wait_ms < 0 ? -*wait_ms : *wait_ms);
	} else {
		e = SJ_EDB;
	}
	PQclear(r);
	return e;
}

enum sj_err
budget_reserve(struct db *db, const char *provider,
	       const struct budget_limits *lim, enum budget_call call,
	       int64_t cost, int64_t ahead_ms, int64_t *wait_ms, int64_t *at_ms)
{
	return budget_reserve_at(db, provider, lim, call, cost, ahead_ms, 0,
				 wait_ms, at_ms);
}

static const struct db_stmt st_booking = {
    "budget_booking_ok",
    "SELECT coalesce((SELECT paused_until <= to_timestamp($2::float8 / "
    "1000) FROM provider_budget WHERE provider = $1), true)::int, "
    "floor(1000 * date_part('epoch', now()))::int8",
    2};

enum sj_err
budget_booking_ok(struct db *db, const char *provider, int64_t at_ms, bool *ok,
		  int64_t *now_ms)
{
	char at[24];
	const char *params[2] = {provider, at};
	PGresult *r = NULL;
	enum sj_err e;

	*ok = false;
	*now_ms = 0;
	snprintf(at, sizeof(at), "%lld", (long long)at_ms);
	if ((e = db_exec(db, &st_booking, params, &r)) != SJ_OK)
		return e;
	if (PQntuples(r) == 1) {
		*ok = db_ll(r, 0, 0, 0) == 1;
		*now_ms = db_ll(r, 0, 1, 0);
	} else {
		e = SJ_EDB;
	}
	PQclear(r);
	return e;
}

static const struct db_stmt st_adjust = {
    "budget_adjust",
    "UPDATE provider_budget SET tat_tokens = tat_tokens + make_interval("
    "secs => $2::float8 * 60 / $3::int8) WHERE provider = $1 AND "
    "tat_tokens > '-infinity'",
    3};

enum sj_err
budget_adjust(struct db *db, const char *provider,
	      const struct budget_limits *lim, int64_t delta_tokens)
{
	char d[24], rate[24];
	const char *params[3] = {provider, d, rate};

	if (lim->chat_tpm <= 0 || delta_tokens == 0)
		return SJ_OK;
	snprintf(d, sizeof(d), "%lld", (long long)delta_tokens);
	snprintf(rate, sizeof(rate), "%lld", (long long)lim->chat_tpm);
	return db_exec(db, &st_adjust, params, NULL);
}

/* Until $2 ms after $3 (unix ms) or, NULL, the database's now(). */
static const struct db_stmt st_pause = {
    "budget_pause",
    "INSERT INTO provider_budget AS b (provider, paused_until) SELECT $1, "
    "coalesce(to_timestamp($3::float8 / 1000), now()) + $2::int8 * "
    "interval '1 ms' ON CONFLICT (provider) DO UPDATE SET paused_until = "
    "excluded.paused_until WHERE b.paused_until < excluded.paused_until",
    3};

enum sj_err
budget_pause_at(struct db *db, const char *provider, int64_t for_ms,
		int64_t now_ms)
{
	char ms[24], now[24];
	const char *params[3] = {provider, ms, now_ms > 0 ? now : NULL};

	if (for_ms <= 0)
		return SJ_EINVAL;
	snprintf(ms, sizeof(ms), "%lld", (long long)for_ms);
	snprintf(now, sizeof(now), "%lld", (long long)now_ms);
	log_kv(LOG_LVL_WARN, "provider", provider, "paused",
	       LOG_INT("for_ms", for_ms));
	return db_exec(db, &st_pause, params, NULL);
}

enum sj_err
budget_pause(struct db *db, const char *provider, int64_t for_ms)
{
	return budget_pause_at(db, provider, for_ms, 0);
}

/* clang-format off */
#define USAGE_ADD(tbl)                                                         \
	"tokens_in = " tbl ".tokens_in + excluded.tokens_in, tokens_out = "    \
	tbl ".tokens_out + excluded.tokens_out, images = " tbl ".images + "    \
	"excluded.images"
static const struct db_stmt st_usage = {
    "job_add_usage",
    "WITH j AS (UPDATE jobs SET tokens_in = tokens_in + $2::int8, "
    "tokens_out = tokens_out + $3::int8, images = images + $4::int8 WHERE "
    "id = $1 RETURNING type, coalesce(user_id, 0) AS u), "
    "t AS (INSERT INTO usage_totals (type, shard, tokens_in, tokens_out, "
    "images) SELECT type, " COUNTER_SHARD ", $2, $3, $4 FROM j ON CONFLICT "
    "(type, shard) DO UPDATE SET " USAGE_ADD("usage_totals") "), "
    "u AS (INSERT INTO usage_by_user (user_id, type, tokens_in, tokens_out, "
    "images) SELECT u, type, $2, $3, $4 FROM j ON CONFLICT (user_id, type) "
    "DO UPDATE SET " USAGE_ADD("usage_by_user") ") SELECT 1 FROM j",
    4};
/* clang-format on */

enum sj_err
job_add_usage(struct db *db, const struct job_lease *lease, int64_t tokens_in,
	      int64_t tokens_out, int64_t images)
{
	char v[3][24];
	const char *params[4] = {lease->job_id, v[0], v[1], v[2]};
	int64_t n[3] = {tokens_in, tokens_out, images};
	PGresult *r = NULL;
	enum sj_err e;

	for (int i = 0; i < 3; i++)
		snprintf(v[i], sizeof(v[i]), "%lld",
			 (long long)(n[i] > 0 ? n[i] : 0));
	if (n[0] <= 0 && n[1] <= 0 && n[2] <= 0)
		return SJ_OK;
	if ((e = db_exec(db, &st_usage, params, &r)) != SJ_OK)
		return e;
	e = PQntuples(r) == 1 ? SJ_OK : SJ_ENOTFOUND;
	PQclear(r);
	return e;
}

/* clang-format off */
#define USAGE_OBJ                                                              \
	"jsonb_build_object('tokensIn', i, 'tokensOut', o, 'images', m)"
static const struct db_stmt st_usage_json = {
    "budget_usage_json",
    "SELECT jsonb_build_object('byType', (SELECT coalesce(jsonb_object_agg("
    "type, " USAGE_OBJ "), '{}') FROM (SELECT type, sum(tokens_in) i, "
    "sum(tokens_out) o, sum(images) m FROM usage_totals GROUP BY type) a), "
    "'topUsers', (SELECT coalesce(jsonb_agg(jsonb_build_object('userId', "
    "nullif(user_id, 0)) || " USAGE_OBJ " ORDER BY i + o DESC, m DESC, "
    "user_id), '[]') FROM (SELECT user_id, sum(tokens_in) i, "
    "sum(tokens_out) o, sum(images) m FROM usage_by_user GROUP BY user_id "
    "ORDER BY sum(tokens_in) + sum(tokens_out) DESC, sum(images) DESC, "
    "user_id LIMIT 10) b))",
    0};
/* clang-format on */

enum sj_err
budget_usage_json(struct db *db, struct json_object **out)
{
	PGresult *r = NULL;
	enum sj_err e;

	*out = NULL;
	if ((e = db_exec(db, &st_usage_json, NULL, &r)) != SJ_OK)
		return e;
	if (PQntuples(r) == 1 && db_str(r, 0, 0) != NULL)
		*out = json_tokener_parse(db_str(r, 0, 0));
	PQclear(r);
	return *out != NULL ? SJ_OK : SJ_ENOMEM;
}
