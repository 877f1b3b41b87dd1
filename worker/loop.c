/*
 * The main thread's loop of storyjobs-worker (main.c starts it).
 *
 * DESIGN
 * The main thread owns one database session, used only for LISTEN,
 * claiming, heartbeats and maintenance; job threads (pool.c) have their
 * own.  Its loop waits in ppoll() on that session's socket and on the
 * slots' self-pipe, with a timeout that ends at the next poll tick
 * (JOB_PROCESSING_INTERVAL), heartbeat, or the moment a job this worker
 * deferred is due again (slots_claim_at), whichever is first.  It claims
 * when a NOTIFY on JOB_CHANNEL_NEW arrives, when the slots ask (the
 * jobs held fell to their low mark), when a deferred job is due, on
 * every tick, and after every
 * (re)connect, each time as many as there is room for (slots_room).  A
 * NOTIFY on JOB_CHANNEL_CANCEL flags the named job if it is held.
 *
 * The table is the truth and NOTIFY a hint: after any new session (ours
 * or one the db layer silently replaced, noticed by its backend pid) the
 * loop LISTENs again, rewinds every type's scan point (a keyed notice
 * lost with the old session would have lowered it) and then claims, so a
 * notification lost with the old session costs nothing; the tick is the
 * fallback.  Statements run in autocommit, so no transaction is ever
 * held open.  A broken session is reset and reconnected with backoff
 * from 100 ms doubling to 5 s.
 *
 * Signals only set flags.  TERM, INT and HUP are blocked except inside
 * ppoll(), so they always interrupt the wait and no flag is missed between
 * the check and the wait; threads inherit the blocked mask.  SIGTERM stops
 * claiming, lets every thread release its job at its next step boundary
 * (within one step pause), joins them and removes the worker row.
 *
 * SIGHUP re-reads the configuration.  A bad one is logged and the old one
 * kept.  Job threads read struct cfg without locks, so it is never
 * modified; only settings the main thread alone uses (poll interval,
 * heartbeat period) or that live in an atomic (LOCAL_DELAY_MS) change at
 * once.  Everything else is logged as needing a restart.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* ppoll */
#endif
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "num.h"

#include "loop.h"
#include "pool.h"
#include "session.h"
#include "slots.h"
#include "stats.h"
#include "steps.h"

#define WAIT_MAX_MS 60000
#define CLAIM_MAX   1000u /* jobs in one claim statement */

/*
 * ENABLE_AUTO_PROCESSING: on, the worker claims on notices, on its poll
 * tick and whenever a slot frees; off, only when a cron tick (a notice
 * with payload "tick") asks it to, and then as many as it has room for.
 */
static bool
auto_on(const struct loop *l)
{
	return l->w->cfg->features[FEAT_AUTO_PROCESSING];
}

static volatile sig_atomic_t sig_stop;
static volatile sig_atomic_t sig_hup;

static void
on_stop(int sig)
{
	(void)sig;
	sig_stop = 1;
}

static void
on_hup(int sig)
{
	(void)sig;
	sig_hup = 1;
}

int
loop_signals(sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0)
		return -1;
	sa.sa_handler = on_hup;
	if (sigaction(SIGHUP, &sa, NULL) != 0)
		return -1;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		return -1;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &block, waitmask) != 0)
		return -1;
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
	sigdelset(waitmask, SIGHUP);
	return 0;
}

/* Finds "key   <digits> kB" in /proc/meminfo text. */
static bool
meminfo_kb(const char *text, const char *key, uint64_t *out)
{
	const char *p = text;
	size_t klen = strlen(key), n = 0;
	char digits[24];

	while (p != NULL && strncmp(p, key, klen) != 0)
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	if (p == NULL)
		return false;
	for (p += klen; *p == ' ' || *p == '\t'; p++)
		;
	while (n < sizeof(digits) - 1 && p[n] >= '0' && p[n] <= '9') {
		digits[n] = p[n];
		n++;
	}
	digits[n] = '\0';
	return num_u64_digits(digits, UINT64_MAX / 100, out) == SJ_OK;
}

/* 100 * (MemTotal - MemAvailable) / MemTotal, or -1 if unknown. */
static int
mem_used_pct(void)
{
	char text[8192];
	uint64_t total, avail;
	size_t n;
	FILE *f;

	if ((f = fopen("/proc/meminfo", "re")) == NULL)
		return -1;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	if (!meminfo_kb(text, "MemTotal:", &total) ||
	    !meminfo_kb(text, "MemAvailable:", &avail) || total == 0 ||
	    avail > total)
		return -1;
	return (int)(100 * (total - avail) / total);
}

/* The session broke: drop it and schedule a reconnect with backoff. */
static void
loop_lost(struct loop *l, const char *what)
{
	l->backoff_ms = worker_backoff(l->backoff_ms);
	l->retry_ms = num_mono_ms() + l->backoff_ms;
	l->listen_pid = 0;
	/* Log first: what may be PQerrorMessage() of the session. */
	log_kv(LOG_LVL_WARN, NULL, NULL,
	       "database connection lost; reconnecting",
	       LOG_STR("during", what), LOG_INT("retry_ms", l->backoff_ms));
	db_reset(l->db);
}

/* Handles a failed call: a broken session is reset, else just logged. */
static void
loop_failed(struct loop *l, enum sj_err e, const char *what)
{
	if (e == SJ_EDB && !db_alive(l->db))
		loop_lost(l, what);
	else
		log_kv(LOG_LVL_ERROR, NULL, NULL, "database statement failed",
		       LOG_STR("during", what),
		       LOG_STR("error", sj_strerror(e)),
		       LOG_STR("sqlstate", db_sqlstate(l->db)));
}

/* Every type's next claim scans from the start of the queue. */
void
loop_rewind(struct loop *l)
{
	for (int t = 0; t < JOB_TYPE_MAX; t++)
		l->from[t] = CLAIM_FROM_START;
}

/* Makes sure a session that LISTENs exists; false while there is none. */
static bool
loop_listen(struct loop *l)
{
	if (l->listen_pid != 0 && db_backend_pid(l->db) == l->listen_pid)
		return true;
	if (l->listen_pid != 0)
		log_warn("database session was replaced; listening again");
	l->listen_pid = 0;
	if (num_mono_ms() < l->retry_ms)
		return false;
	if (db_connect(l->db) != SJ_OK || job_listen(l->db) != SJ_OK ||
	    (l->listen_pid = db_backend_pid(l->db)) == 0) {
		loop_lost(l, "connect and LISTEN");
		return false;
	}
	/*
	 * Drain what arrived while not listening: the keyed notices sent
	 * meanwhile are lost, so every type's scan starts from the start.
	 */
	loop_rewind(l);
	l->want_claim = auto_on(l);
	l->next_beat_ms = num_mono_ms();
	log_info("listening on %s and %s", JOB_CHANNEL_NEW, JOB_CHANNEL_CANCEL);
	/* the schema was checked at start: reached, checked, listening */
	daemon_notify("READY=1");
	return true;
}

/*
 * Whether a new-job notice may concern us: its payload names the job's
 * type (job_notice_parse), or is another word, e.g. "rescued", that may
 * concern any type.
 */
static bool
wanted(const struct loop *l, const char *payload)
{
	enum job_type t;
	struct claim_from at;

	/* with auto-processing off, only a cron tick hands out work */
	if (!auto_on(l))
		return payload != NULL && strcmp(payload, "tick") == 0;
	(void)job_notice_parse(payload, &t, &at);
	return t == JOB_TYPE_MAX || steps_handler(l->w->cfg, t) != NULL;
}

/*
 * A new-job notice: "type@priority@tag" lowers that type's scan to the
 * job's key when it lies before it (the job may be tagged behind the
 * point our last claim left: a new owner's first, a release, a retry);
 * any other payload rewinds every type's scan.
 */
static void
loop_noticed(struct loop *l, const char *payload)
{
	enum job_type t;
	struct claim_from at;

	l->want_claim = true;
	if (!job_notice_parse(payload, &t, &at)) {
		loop_rewind(l);
		return;
	}
	if (claim_from_before(at, l->from[t]))
		l->from[t] = at;
}

static void
on_notify(const char *channel, const char *payload, void *ctx)
{
	struct loop *l = ctx;

	if (strcmp(channel, JOB_CHANNEL_NEW) == 0 && wanted(l, payload)) {
		loop_noticed(l, payload);
	} else if (strcmp(channel, JOB_CHANNEL_CANCEL) == 0 &&
		   slots_cancel(&l->w->slots, payload))
		log_job(LOG_LVL_INFO, payload,
			"cancel notice; stopping at the next step");
}

/* Notifications the session has read, whether in db_consume or a query. */
static void
loop_notifies(struct loop *l)
{
	(void)db_notifies(l->db, on_notify, l);
}

/*
 * After a claim: each type that got jobs scans next from the last one's
 * key (claim_from_after) instead of stepping over the dead index entries
 * of everything claimed since the last VACUUM; a type that got none keeps
 * its point.  The scan claimed every due pending job it could lock from
 * its point on, so what it left is a job tagged behind the new point (a
 * new owner's first, a release, a retry), announced by a notice that
 * lowers the point to its key; one not yet due, found by the wake-up at
 * its run_at or the poll tick, which rewind; or one another claim had
 * locked, found by the poll tick (lib/job.h struct claim_from lists each
 * path).  A short claim moves the point too: under a pinned snapshot
 * (a long transaction elsewhere: VACUUM removes nothing, and no scan may
 * mark an entry dead) a scan from the start walks every job claimed
 * since the pin, at 1,000 jobs/s 60,000 entries a minute, for each
 * claim.  list is in the claim's order (job_claim sorts it).
 */
static void
loop_advance(struct loop *l, const struct job_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		const struct job *j = &list->jobs[i];

		if ((unsigned)j->type < JOB_TYPE_MAX)
			l->from[j->type] = claim_from_after(j);
	}
}

/*
 * Claims as many jobs as there is room for, in all and per type, and
 * queues them for the job threads in claim order.
 */
static enum sj_err
loop_claim(struct loop *l)
{
	const struct cfg *cfg = l->w->cfg;
	struct job_list list = {NULL, 0};
	int per[JOB_TYPE_MAX], room, offer = 0;
	enum sj_err e;
	size_t i, taken;

	room = slots_room(&l->w->slots, per);
	for (int t = 0; t < JOB_TYPE_MAX; t++)
		offer += per[t];
	if (room <= 0 || offer == 0)
		return SJ_OK;
	room = room < (int)CLAIM_MAX ? room : (int)CLAIM_MAX;
	for (int t = 0; t < JOB_TYPE_MAX; t++)
		per[t] = per[t] < room ? per[t] : room;
	e = job_claim(l->db, cfg, l->w->id, per, room, l->from, &list);
	if (e != SJ_OK)
		return e;
	/* job_claim returns the batch in the claim's order */
	loop_advance(l, &list);
	for (i = 0; i < list.n; i++)
		log_kv(LOG_LVL_INFO, "job", list.jobs[i].id, "claimed",
		       LOG_STR("type", job_type_name(list.jobs[i].type)),
		       LOG_INT("attempt", list.jobs[i].attempts + 1),
		       LOG_INT("max_attempts", list.jobs[i].max_attempts));
	taken = slots_submit(&l->w->slots, list.jobs, list.n);
	for (i = taken; i < list.n; i++) {
		struct job *j = &list.jobs[i];
		struct job_lease lease = {j->id, l->w->id, j->lease_epoch};

		e = job_release(l->db, &lease);
		log_kv(LOG_LVL_ERROR, "job", j->id, "no room for it; released",
		       LOG_STR("error", sj_strerror(e)));
	}
	/* a batch cut by CLAIM_MAX: there may be more, and room for them */
	l->want_claim = l->want_claim || list.n == CLAIM_MAX;
	job_list_free(&list);
	return SJ_OK;
}

static enum sj_err
loop_beat(struct loop *l)
{
	struct worker_beat b;
	struct buf ids;
	enum sj_err e;

	buf_init(&ids, l->w->slots.n * (JOB_ID_MAX + 1) + 3);
	if ((e = slots_job_ids(&l->w->slots, &ids)) != SJ_OK) {
		buf_free(&ids);
		return e;
	}
	memset(&b, 0, sizeof(b));
	b.id = l->w->id;
	b.host = l->w->host;
	b.pid = (long)getpid();
	b.jobs_in_hand = slots_held(&l->w->slots);
	b.mem_used_pct = mem_used_pct();
	b.lease_s = l->w->cfg->lease_seconds;
	b.job_ids = ids.data;
	e = job_heartbeat(l->db, &b);
	buf_free(&ids);
	/* the upstream call counters ride along; a failure keeps them */
	if (e == SJ_OK && stats_flush(&l->w->stats, l->db, l->w->id,
				      (int)l->w->slots.n) != SJ_OK)
		log_debug("upstream call counters kept for the next beat");
	return e;
}

static enum sj_err
loop_maintain(struct loop *l)
{
	struct job_maint m;

	/* job_maintain() logs the counts when any is non-zero. */
	memset(&m, 0, sizeof(m));
	return job_maintain(l->db, &m);
}

/* Heartbeat, tick and claim, each when due.  Needs a listening session. */
static void
loop_work(struct loop *l)
{
	int64_t now = num_mono_ms(), at;
	enum sj_err e;

	if (now >= l->next_beat_ms) {
		l->next_beat_ms = now + l->beat_ms;
		if ((e = loop_beat(l)) != SJ_OK) {
			loop_failed(l, e, "heartbeat");
			return;
		}
		l->backoff_ms = 0; /* the session has proved itself */
	}
	at = slots_claim_due(&l->w->slots, now);
	if (at != 0 && at <= now && auto_on(l)) { /* a deferred job is due */
		l->want_claim = true;
		loop_rewind(l);
	}
	if (now >= l->next_tick_ms) {
		l->next_tick_ms = now + l->interval_ms;
		l->want_claim = l->want_claim || auto_on(l);
		loop_rewind(l);
		if ((e = loop_maintain(l)) != SJ_OK) {
			loop_failed(l, e, "maintenance");
			return;
		}
	}
	if (l->want_claim && !sig_stop) {
		l->want_claim = false;
		if ((e = loop_claim(l)) != SJ_OK) {
			loop_failed(l, e, "claim");
			return;
		}
	}
	loop_notifies(l);
}

/* Drains the self-pipe: a hand was freed. */
static void
loop_woken(struct loop *l)
{
	char b[64];

	while (read(l->w->slots.wake_rd, b, sizeof(b)) > 0)
		;
	l->want_claim = l->want_claim || auto_on(l);
}

/* Waits for a notification, a freed hand, a signal or the next timer. */
static void
loop_wait(struct loop *l, bool listening)
{
	struct pollfd p[2] = {{l->w->slots.wake_rd, POLLIN, 0},
			      {-1, POLLIN, 0}};
	const char *why = NULL;
	int64_t until, wait, at;
	struct timespec ts;

	until = l->next_tick_ms < l->next_beat_ms ? l->next_tick_ms
						  : l->next_beat_ms;
	at = slots_claim_due(&l->w->slots, INT64_MIN);
	if (at != 0 && at < until)
		until = at;
	if (!listening)
		until = l->retry_ms;
	wait = until - num_mono_ms();
	if (listening && l->want_claim)
		wait = 0;
	wait = wait < 0 ? 0 : wait > WAIT_MAX_MS ? WAIT_MAX_MS : wait;
	p[1].fd = listening ? db_socket(l->db) : -1;
	ts.tv_sec = (time_t)(wait / 1000);
	ts.tv_nsec = (long)(wait % 1000) * 1000000L;
	if (ppoll(p, 2, &ts, &l->waitmask) < 0) {
		if (errno != EINTR)
			log_error("ppoll: %s", strerror(errno));
		return;
	}
	if (p[0].revents != 0)
		loop_woken(l);
	if (p[1].fd >= 0 && p[1].revents != 0) {
		if (db_consume(l->db, &why) != SJ_OK) {
			loop_lost(l, why);
			return;
		}
		loop_notifies(l);
	}
}

static void
restart_note(const char *name, void *ctx)
{
	(void)ctx;
	log_kv(LOG_LVL_WARN, NULL, NULL,
	       "reload: a setting changed that needs a restart of the worker",
	       LOG_STR("setting", name));
}

static void
loop_reload(struct loop *l)
{
	struct cfg_errs errs;
	struct cfg n;
	enum sj_err e;

	memset(&errs, 0, sizeof(errs));
	if ((e = cfg_load_env(&n, &errs)) != SJ_OK) {
		if (e == SJ_ECONFIG)
			cfg_log_errs(&errs);
		log_kv(LOG_LVL_ERROR, NULL, NULL,
		       "reload failed; keeping the running configuration",
		       LOG_STR("error", sj_strerror(e)));
		return;
	}
	atomic_store(&l->w->delay_ms, (long long)n.local_delay_ms);
	l->interval_ms = n.processing_interval_ms;
	l->beat_ms = n.heartbeat_ms;
	if (l->next_tick_ms > num_mono_ms() + l->interval_ms)
		l->next_tick_ms = num_mono_ms() + l->interval_ms;
	if (l->next_beat_ms > num_mono_ms() + l->beat_ms)
		l->next_beat_ms = num_mono_ms() + l->beat_ms;
	/* the settings table says which settings a reload applies */
	cfg_each_restart_change(l->w->cfg, &n, restart_note, NULL);
	cfg_free(&n);
	log_info("configuration reloaded");
}

void
loop_run(struct loop *l)
{
	bool listening;

	while (!sig_stop) {
		if (sig_hup) {
			sig_hup = 0;
			daemon_notify("RELOADING=1");
			loop_reload(l);
			daemon_notify("READY=1");
		}
		listening = loop_listen(l);
		if (listening)
			loop_work(l);
		listening = listening && l->listen_pid != 0;
		if (!sig_stop)
			loop_wait(l, listening);
	}
}

void
loop_shutdown(struct loop *l)
{
	enum sj_err e;

	daemon_notify("STOPPING=1");
	log_info("stopping: jobs in hand are released at their next step");
	pool_stop(l->w, l->db);
	if (stats_flush(&l->w->stats, l->db, l->w->id, (int)l->w->slots.n) !=
	    SJ_OK)
		log_warn("the last upstream call counters were not saved");
	if ((e = job_worker_gone(l->db, l->w->id)) != SJ_OK)
		log_kv(LOG_LVL_WARN, NULL, NULL,
		       "could not remove the worker row",
		       LOG_STR("error", sj_strerror(e)));
	pool_free(l->w);
	log_info("stopped");
}
