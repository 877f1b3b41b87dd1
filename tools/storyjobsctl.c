/*
 * storyjobsctl: the sysadmin's command line.
 *
 *   storyjobsctl migrate [--sql-dir DIR] [--status | --dry-run]
 *                        [--lock-timeout MS] [--attempts N]
 *                                          apply pending schema migrations
 *                                          (--status: list each one, exit
 *                                          1 while some are pending;
 *                                          --dry-run: say what would run)
 *   storyjobsctl check-config [--online]   validate the configuration and
 *                                          say where each value came from
 *                                          (--online: also the database,
 *                                          the media folder, the secrets
 *                                          and the models)
 *   storyjobsctl settings [--conf | --man] list every setting and default
 *                                          (--conf: as storyjobs.conf,
 *                                          --man: as storyjobs.conf(5))
 *   storyjobsctl maintain                  one maintenance pass (leases,
 *                                          timeouts, expired sessions,
 *                                          stale media temporary files,
 *                                          unused uploads)
 *   storyjobsctl user ...                  accounts (tools/ctl_users.c)
 *   storyjobsctl health | prune | recount  operations (tools/ctl_ops.c)
 *   storyjobsctl jobs ...                  jobs (tools/ctl_jobs.c)
 *
 * Configuration comes from the environment and the configuration file
 * (STORYJOBS_CONFIG, else SJ_CONFIG_FILE when it exists), as for every
 * program.  Every command that reads or writes the database, except
 * migrate, first checks that the schema is the version this build runs
 * against and refuses with exit 78 otherwise (an unreachable database is
 * left to the command).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "ctl.h"
#include "db.h"
#include "health.h"
#include "job.h"
#include "log.h"
#include "migrate.h"
#include "upload.h"

#define PROG "storyjobsctl"

static int
usage_to(FILE *f)
{
	fprintf(
	    f,
	    "usage: %s COMMAND ...\n"
	    "  migrate [--sql-dir DIR] [--status | --dry-run] "
	    "[--lock-timeout MS] [--attempts N]\n"
	    "  check-config [--online]\n  settings [--conf | --man]\n"
	    "  maintain\n"
	    "  user ...\n  health ...\n  prune ...\n  recount\n  jobs ...\n"
	    "  --help | --version\n"
	    "Configuration comes from the environment and %s\n"
	    "(or the file STORYJOBS_CONFIG names); see storyjobs.conf(5).\n",
	    PROG, cfg_default_file());
	return 64;
}

static int
usage(void)
{
	return usage_to(stderr);
}

/* 78 after saying why when the schema is not this build's; else 0. */
static int
schema_refused(struct db *db)
{
	enum schema_state st = SCHEMA_NONE;
	int version = 0;

	if (schema_check(db, &st, &version) != SJ_OK || st == SCHEMA_OK)
		return 0;
	fprintf(stderr,
		"%s: refusing to run: database schema version %d, this build "
		"needs %d: %s\n",
		PROG, version, MIGRATE_SCHEMA_VERSION, schema_advice(st));
	return 78;
}

static int
cmd_migrate(struct db *db, int argc, char **argv)
{
	struct ctl_migrate m;
	int applied = 0;

	if (ctl_migrate_args(argc - 2, argv + 2, &m) != 0)
		return usage();
	if (m.status || m.dry_run)
		return ctl_migrate_status(db, &m);
	if (migrate_run_opts(db, m.dir, &m.opts, &applied) != SJ_OK)
		return 1;
	printf("migrations applied: %d\n", applied);
	return 0;
}

static void
print_value(const char *name, const char *value, const char *source, void *ctx)
{
	(void)ctx;
	printf("%-32s %-30s %s\n", name, value, source);
}

/*
 * check-config [--online]: every setting with a value and where it came
 * from (env, FILE:LINE or default), then the verdict; 78 on a problem.
 */
static int
cmd_check_config(int argc, char **argv)
{
	bool online = argc == 3 && strcmp(argv[2], "--online") == 0;
	const char *file = getenv("STORYJOBS_CONFIG");
	struct cfg_errs errs;
	struct cfg c;
	int rc;

	if (argc > 2 && !online)
		return usage();
	if (file == NULL)
		file = cfg_default_file();
	printf("configuration file: %s\n", *file ? file : "(none)");
	rc = cfg_load_env_each(&c, &errs, print_value, NULL);
	for (int i = 0; i < errs.nwarn; i++)
		printf("warning: %s\n", errs.warn[i]);
	if (rc != SJ_OK) {
		for (int i = 0; i < errs.n; i++)
			printf("error: %s\n", errs.msg[i]);
		if (errs.more > 0)
			printf("error: %d more problems not shown\n",
			       errs.more);
		return 78;
	}
	printf("configuration is valid\n");
	db_pooling_set(c.database_pooling);
	rc = online ? ctl_check_online(&c) : 0;
	cfg_free(&c);
	return rc;
}

static int
cmd_maintain(struct db *db, const struct cfg *c)
{
	struct job_maint m;
	struct housekeep h;
	long long uploads;

	if (job_maintain(db, &m) != SJ_OK ||
	    health_housekeep(db, c->media_dir, &h) != SJ_OK ||
	    upload_sweep(db, c, &uploads) != SJ_OK)
		return 1;
	printf("requeued %ld, abandoned %ld, timed out %ld, expired sessions "
	       "%lld, temporary files %lld, unused uploads %lld\n",
	       m.requeued, m.abandoned, m.timed_out, h.sessions, h.tmpfiles,
	       uploads);
	return 0;
}

int
main(int argc, char **argv)
{
	struct cfg_errs errs;
	struct db *db = NULL;
	struct cfg c;
	int rc;

	log_init(PROG, LOG_LVL_INFO);
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		(void)usage_to(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("%s %s\n", PROG, PACKAGE_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "settings") == 0)
		return ctl_settings(argc - 1, argv + 1);
	if (strcmp(argv[1], "check-config") == 0)
		return cmd_check_config(argc, argv);
	if (cfg_load_env(&c, &errs) != SJ_OK) {
		cfg_log_errs(&errs);
		return 78;
	}
	db_pooling_set(c.database_pooling);
	if (db_open(c.database_url, PROG, 0, &db) != SJ_OK) {
		cfg_free(&c);
		return 1;
	}
	if (strcmp(argv[1], "migrate") == 0)
		rc = cmd_migrate(db, argc, argv);
	else if ((rc = schema_refused(db)) != 0)
		; /* said why */
	else if (strcmp(argv[1], "maintain") == 0)
		rc = cmd_maintain(db, &c);
	else if (strcmp(argv[1], "user") == 0)
		rc = ctl_users(db, &c, argc - 1, argv + 1);
	else if (strcmp(argv[1], "health") == 0 ||
		 strcmp(argv[1], "prune") == 0 ||
		 strcmp(argv[1], "recount") == 0)
		rc = ctl_ops(db, &c, argc - 1, argv + 1);
	else if (strcmp(argv[1], "jobs") == 0)
		rc = ctl_jobs(db, &c, argc - 1, argv + 1);
	else
		rc = usage();
	db_close(db);
	cfg_free(&c);
	return rc;
}
