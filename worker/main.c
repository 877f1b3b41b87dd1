/*
 * storyjobs-worker: runs jobs from the PostgreSQL queue.
 *
 * The daemon's modules, each with its own header:
 *
 *   main.c       start-up: the configuration, the checks, the worker's
 *                identity, the pool and the loop started and stopped
 *   loop.c       the main thread's loop: LISTEN, claim, heartbeat,
 *                maintenance, signals, reload, shutdown
 *   slots.c      the slots of claimed jobs and their run queue
 *   pool.c       the job threads: take a job, run its handler, record
 *   step.c       the step API handlers are written with (fenced
 *                progress, checkpoint, complete, fail, release)
 *   completer.c  the thread that writes finished jobs in batches
 *   stats.c      the upstream call counters, flushed after each heartbeat
 *   session.c    retryable statements and the backoff between tries
 *   steps.c      one handler per job type (CONTRACT section 1)
 *   gen.c        the providers inside a job: the provider context and
 *                the outcome of a failure record, checkpoints, the media
 *                cache (gen.h); job_local.c, job_openai.c their tables
 *   gen_*.c      the generation providers, no job attached (gen_types.h:
 *                a provider context in, a failure record out)
 *   local*.c     the offline generator (SVG scene cards)
 *
 * DESIGN
 * Start-up refuses early and says why: root, a configuration that does
 * not validate, transaction pooling without a direct LISTEN session, a
 * schema other than the one built for (migrate.h); then libcurl is set
 * up before any thread, the configured models are checked against the
 * provider (log lines only), and the worker gets its identity, its
 * signals (loop.c), the main thread's direct session, the media names
 * key, and its job threads (pool.c) before the loop runs.  Stopping is
 * the loop's (loop_shutdown).
 *
 * Exit codes: 0 clean stop, 78 invalid configuration, 1 anything else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "daemon.h"
#include "http.h"
#include "log.h"
#include "migrate.h"
#include "num.h"
#include "openai.h"

#include "gen.h"
#include "loop.h"
#include "pool.h"
#include "session.h"
#include "stats.h"

#define EXIT_CONFIG	78
#define MODELS_CHECK_MS 3000 /* the start-up model check, at most */

static void
usage_doc(const struct cfg_doc *d, void *ctx)
{
	if (d->def != NULL && d->def[0] != '\0')
		fprintf(ctx, "  %-30s %s (default: %s)%s\n", d->name, d->doc,
			d->def, d->reload ? "; HUP applies it" : "");
	else
		fprintf(ctx, "  %-30s %s%s\n", d->name, d->doc,
			d->reload ? "; HUP applies it" : "");
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: storyjobs-worker [--help | --version]\n\n"
		"Runs jobs from the storyjobs queue.  Settings come from "
		"the environment\nand the file STORYJOBS_CONFIG names, "
		"else %s\n(see storyjobs.conf(5)):\n\n",
		cfg_default_file());
	cfg_each_doc(usage_doc, f);
	fprintf(f, "\nSignals: TERM/INT stop after releasing jobs in hand; "
		   "HUP reloads the settings marked so (others need a "
		   "restart).\nExit: 0 clean, 78 invalid configuration, "
		   "1 other errors.\n");
}

/* "<hostname>:<pid>:<8 hex from RAND_bytes>". */
static enum sj_err
worker_ident(struct worker *w)
{
	unsigned char r[4];

	if (gethostname(w->host, sizeof(w->host)) != 0 || w->host[0] == '\0')
		snprintf(w->host, sizeof(w->host), "%s", "unknown");
	w->host[sizeof(w->host) - 1] = '\0';
	if (RAND_bytes(r, sizeof(r)) != 1)
		return SJ_EIO;
	snprintf(w->id, sizeof(w->id), "%s:%ld:%02x%02x%02x%02x", w->host,
		 (long)getpid(), r[0], r[1], r[2], r[3]);
	return SJ_OK;
}

/*
 * DATABASE_POOLING for the job threads' and completer's sessions.  The
 * main loop's session LISTENs, which a pooler in transaction mode would
 * accept and then deliver nothing to: it is a direct session to
 * DATABASE_LISTEN_URL, so pooling without one is refused (EXIT_CONFIG).
 */
static int
pooling_setup(const struct cfg *cfg)
{
	db_pooling_set(cfg->database_pooling);
	if (strcmp(cfg->database_pooling, "transaction") == 0 &&
	    cfg->database_listen_url[0] == '\0') {
		log_error(
		    "refusing to start: DATABASE_POOLING=transaction needs "
		    "DATABASE_LISTEN_URL, a direct connection to "
		    "PostgreSQL for LISTEN");
		return EXIT_CONFIG;
	}
	return 0;
}

/* The main loop's session: DATABASE_LISTEN_URL, else DATABASE_URL. */
static const char *
listen_url(const struct cfg *cfg)
{
	return cfg->database_listen_url[0] != '\0' ? cfg->database_listen_url
						   : cfg->database_url;
}

static int
worker_run(const struct cfg *cfg)
{
	struct worker w;
	struct loop l;

	memset(&w, 0, sizeof(w));
	memset(&l, 0, sizeof(l));
	w.cfg = cfg;
	atomic_init(&w.stop, false);
	atomic_init(&w.delay_ms, (long long)cfg->local_delay_ms);
	l.w = &w;
	l.interval_ms = cfg->processing_interval_ms;
	l.beat_ms = cfg->heartbeat_ms;
	if (worker_ident(&w) != SJ_OK || loop_signals(&l.waitmask) != 0 ||
	    stats_init(&w.stats) != SJ_OK) {
		log_error("start-up failed: worker id, signals or counters");
		return EXIT_FAILURE;
	}
	if (db_open(listen_url(cfg), WORKER_APPNAME,
		    (long)cfg->statement_timeout_ms, &l.db) != SJ_OK) {
		log_error("start-up failed: database settings");
		return EXIT_FAILURE;
	}
	db_direct(l.db); /* LISTEN needs the session itself */
	/* the schema was checked: the key is there unless someone removed it */
	if (gen_names_init(l.db) != SJ_OK) {
		log_error("start-up failed: cannot read the media names key "
			  "(table server_keys, sql/012)");
		db_close(l.db);
		return EXIT_FAILURE;
	}
	if (pool_start(&w) != SJ_OK) {
		log_error("start-up failed: job threads");
		db_close(l.db);
		return EXIT_FAILURE;
	}
	log_kv(LOG_LVL_INFO, "worker", w.id, "started",
	       LOG_INT("threads", cfg->max_concurrent_jobs));
	loop_rewind(&l);
	l.next_tick_ms = num_mono_ms();
	l.next_beat_ms = l.next_tick_ms;
	loop_run(&l);
	loop_shutdown(&l);
	db_close(l.db);
	stats_free(&w.stats);
	return EXIT_SUCCESS;
}

static void
warn_verdict(enum oai_verdict v, const char *line, void *ctx)
{
	(void)ctx;
	if (v == OAI_MODEL_OK)
		log_info("model check: %s", line);
	else
		log_warn("model check: %s", line);
}

/*
 * The configured models against GET /models, as log lines only: the
 * worker starts whatever the answer, or its absence, after at most
 * MODELS_CHECK_MS (storyjobsctl check-config --online is the check that
 * fails).
 */
static void
models_check(const struct cfg *cfg)
{
	struct json_object *list = NULL;
	char why[600], today[OAI_DATE_LEN + 1];

	if (strcmp(cfg->generation_provider, "openai") != 0)
		return;
	if (oai_models_get(cfg, MODELS_CHECK_MS, &list, why, sizeof(why)) !=
	    SJ_OK) {
		log_warn("model check skipped: %s", why);
		return;
	}
	oai_today(today);
	(void)oai_check_models(cfg, list, today, warn_verdict, NULL);
	json_object_put(list);
}

/* Settings this worker does not implement yet; it says so once. */
int
main(int argc, char **argv)
{
	struct cfg_errs errs;
	struct cfg cfg;
	enum sj_err e;
	int lvl, rc;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("%s %s\n", WORKER_APPNAME, PACKAGE_VERSION);
		return EXIT_SUCCESS;
	}
	if (argc > 1) {
		bool help = argc == 2 && (strcmp(argv[1], "--help") == 0 ||
					  strcmp(argv[1], "-h") == 0);
		usage(help ? stdout : stderr);
		return help ? EXIT_SUCCESS : EXIT_FAILURE;
	}
	log_init(WORKER_APPNAME, LOG_LVL_INFO);
	if (daemon_refuse_root(WORKER_APPNAME))
		return EXIT_FAILURE;
	memset(&errs, 0, sizeof(errs));
	if ((e = cfg_load_env(&cfg, &errs)) != SJ_OK) {
		if (e == SJ_ECONFIG)
			cfg_log_errs(&errs);
		log_error("refusing to start: %s", sj_strerror(e));
		return e == SJ_ECONFIG ? EXIT_CONFIG : EXIT_FAILURE;
	}
	lvl = log_level_parse(cfg.log_level);
	log_init(WORKER_APPNAME, lvl < 0 ? LOG_LVL_INFO : (enum log_level)lvl);
	log_kv(LOG_LVL_INFO, NULL, NULL, "configured",
	       LOG_STR("provider", gen_provider(&cfg)->name),
	       LOG_STR("storage", cfg.storage));
	if ((rc = pooling_setup(&cfg)) != 0) {
		cfg_free(&cfg);
		return rc;
	}
	if ((rc = schema_check_start(cfg.database_url, WORKER_APPNAME)) != 0) {
		cfg_free(&cfg);
		return rc;
	}
	/* before any thread: curl_global_init is not thread-safe */
	if (http_global_init() != SJ_OK) {
		log_error("refusing to start: libcurl did not initialise");
		cfg_free(&cfg);
		return EXIT_FAILURE;
	}
	models_check(&cfg);
	rc = worker_run(&cfg);
	http_global_cleanup();
	cfg_free(&cfg);
	return rc;
}
