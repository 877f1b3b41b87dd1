/*
 * Provider rate limits shared by every worker (sql/017_provider_budget.sql)
 * and the usage each job records.
 *
 * The budget is GCRA with no burst, not a token bucket: the provider
 * promises at most N calls in ANY 60 s (a sliding window), and a bucket
 * holding a minute's worth lets N through at once and N more as it
 * refills.  Each unit of a limit of N per minute occupies 60/N s; a take
 * is admitted only when the limit's previous units are paid for (its tat
 * is not in the future) and moves tat to now + cost * 60/N s.  So calls
 * (cost 1) are spaced at least 60/N s apart and any 60 s holds at most
 * N of them, whatever the number of workers and hosts.  A take of cost
 * c > 1 (a chat call's estimated tokens, an image call's images) pays
 * after itself: a window holds under N units before its last take, plus
 * that take.  One statement takes every limit of the call or none, and
 * waits for the provider's pause first.
 *
 * What the worker does around one upstream call:
 *   budget_reserve() before it (a booking, below); on a wait, sleep it
 *                   when short, else defer the job with job_defer() to
 *                   the booked slot; budget_take() is the same check
 *                   without a booking
 *   budget_adjust() after a chat answer: its usage's tokens minus the
 *                   estimate taken
 *   budget_pause()  after a 429 with Retry-After: every worker waits
 *   job_add_usage() after any answer with usage (tokens, images)
 */
#ifndef SJ_BUDGET_H
#define SJ_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cfg.h"
#include "db.h"
#include "err.h"
#include "job.h"

/* The provider name of the OpenAI-compatible API's budget row. */
#define BUDGET_OPENAI "openai"

/* What a call spends. */
enum budget_call {
	BUDGET_CHAT = 0, /* one request and its tokens */
	BUDGET_IMAGE,	 /* its images */
	BUDGET_CALL_MAX
};

/* Per minute; 0: no limit. */
struct budget_limits {
	int64_t chat_rpm;  /* OPENAI_CHAT_RPM */
	int64_t chat_tpm;  /* OPENAI_CHAT_TPM */
	int64_t image_ipm; /* OPENAI_IMAGE_IPM */
};

/* The OpenAI-compatible provider's limits of c. */
void budget_limits_of(const struct cfg *c, struct budget_limits *out);

/*
 * Takes a call's budget from provider's limits: a chat call one request
 * and cost tokens (an estimate: prompt plus the most it may write), an
 * image call cost images.  *wait_ms = 0: taken, make the call.  Else
 * nothing was taken and *wait_ms (>= 1) is how long until the limit that
 * refused, or the provider's pause, allows it: take again after it (a
 * concurrent take may win it first).  With every limit of the call off,
 * only the pause is read and nothing is written.  One statement.
 */
enum sj_err budget_take(struct db *db, const char *provider,
			const struct budget_limits *lim, enum budget_call call,
			int64_t cost, int64_t *wait_ms) SJ_WUR;
/* budget_take() at now_ms (unix ms) instead of the database's clock. */
enum sj_err budget_take_at(struct db *db, const char *provider,
			   const struct budget_limits *lim,
			   enum budget_call call, int64_t cost, int64_t now_ms,
			   int64_t *wait_ms) SJ_WUR;
/*
 * Booking (what the worker uses: sql/017's budget_reserve()).  Rather
 * than refuse, a booking takes the call's next free slot in advance:
 * tat = max(tat, now, pause) + cost * interval, and says when that slot
 * starts.  A job that has to wait is deferred to its own slot (no worker
 * slot held, no attempt spent) with the booking in its checkpoint, so
 * 60 waiting jobs come back one slot apart instead of all at once, and
 * the call at its re-claim does not take again.
 *
 * Margin: a limit of N per minute is booked as N per (60 s +
 * BUDGET_MARGIN_MS), so a call a few ms later than its slot (the network,
 * a re-claim) never makes N+1 in the provider's 60 s window.  A booking
 * is not made further ahead than ahead_ms (the worker: BUDGET_AHEAD_MS):
 * the job is deferred until it would be, holding nothing.
 */
#define BUDGET_MARGIN_MS 500
#define BUDGET_AHEAD_MS	 (5 * 60 * 1000)

/*
 * Books a call (cost as for budget_take()).  *wait_ms: 0 booked for now,
 * make the call; > 0 booked, the slot starts in *wait_ms, at *at_ms (the
 * database's clock, unix ms); < 0 nothing booked, book again in
 * -*wait_ms.  *at_ms is now + *wait_ms in every case.  One statement.
 */
enum sj_err budget_reserve(struct db *db, const char *provider,
			   const struct budget_limits *lim,
			   enum budget_call call, int64_t cost,
			   int64_t ahead_ms, int64_t *wait_ms,
			   int64_t *at_ms) SJ_WUR;
/* budget_reserve() at now_ms (unix ms) instead of the database's clock. */
enum sj_err budget_reserve_at(struct db *db, const char *provider,
			      const struct budget_limits *lim,
			      enum budget_call call, int64_t cost,
			      int64_t ahead_ms, int64_t now_ms,
			      int64_t *wait_ms, int64_t *at_ms) SJ_WUR;
/*
 * Whether a booking for at_ms still holds: false when a pause (a 429)
 * set after it reaches past it, so the call must be booked again.
 * *now_ms: the database's clock (unix ms).
 */
enum sj_err budget_booking_ok(struct db *db, const char *provider,
			      int64_t at_ms, bool *ok, int64_t *now_ms) SJ_WUR;

/*
 * Corrects the tokens of a taken chat call by delta (actual - estimated;
 * negative gives time back).  Nothing when the token limit is off.
 */
enum sj_err budget_adjust(struct db *db, const char *provider,
			  const struct budget_limits *lim,
			  int64_t delta_tokens) SJ_WUR;
/*
 * Pauses every take of provider for for_ms (> 0) from the database's
 * now(), limits on or off: a 429's Retry-After.  The end is computed by
 * the database, so a worker host's clock skew never moves it.  An
 * existing later pause is kept.
 */
enum sj_err budget_pause(struct db *db, const char *provider,
			 int64_t for_ms) SJ_WUR;
/* budget_pause() from now_ms (unix ms) instead of the database's now(). */
enum sj_err budget_pause_at(struct db *db, const char *provider, int64_t for_ms,
			    int64_t now_ms) SJ_WUR;

/*
 * Adds what one upstream answer used to the job (its tokens_in,
 * tokens_out, images) and, in the same statement, to the sums by type
 * (/metrics) and by user and type (admin stats).  Recorded by job id
 * whatever the lease's state: a worker that lost the job still spent
 * it.  Negative values count as 0.  SJ_ENOTFOUND: no such job.
 */
enum sj_err job_add_usage(struct db *db, const struct job_lease *lease,
			  int64_t tokens_in, int64_t tokens_out,
			  int64_t images) SJ_WUR;
/*
 * {byType:{type:{tokensIn,tokensOut,images}}, topUsers:[{userId,
 * tokensIn,tokensOut,images}]} (userId null: anonymous; the ten with
 * most tokens, all types together) from the sums only (caller puts).
 */
enum sj_err budget_usage_json(struct db *db, struct json_object **out) SJ_WUR;

#endif
