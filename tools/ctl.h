/*
 * storyjobsctl subcommands.  Each takes argv from the subcommand's name
 * on and returns the process exit status (64 for a usage error).
 */
#ifndef SJ_CTL_H
#define SJ_CTL_H

#include <stdbool.h>

#include "cfg.h"
#include "db.h"
#include "migrate.h"

/* migrate's options, parsed by ctl_migrate_args. */
struct ctl_migrate {
	const char *dir;
	bool status, dry_run;
	struct migrate_opts opts;
};

/*
 * Parses [--sql-dir DIR] [--status | --dry-run] [--lock-timeout MS]
 * [--attempts N] (argv after "migrate"); 0 when valid.
 */
int ctl_migrate_args(int argc, char **argv, struct ctl_migrate *m);
/*
 * migrate --status: each migration, applied (when) or pending; exit 0 up
 * to date, 1 pending, 2 when the database and the files disagree (a file
 * changed after it ran, or a migration this build has no file for) or
 * cannot be read.
 * migrate --dry-run: what a run would apply; exit 0, or 2 as above.
 */
int ctl_migrate_status(struct db *db, const struct ctl_migrate *m);

/* user add EMAIL [--admin] | user passwd EMAIL (password on stdin) */
int ctl_users(struct db *db, const struct cfg *c, int argc, char **argv);
/* health | prune [--days N] | recount */
int ctl_ops(struct db *db, const struct cfg *c, int argc, char **argv);
/*
 * check-config --online: the database and its schema version, the media
 * folder, the secrets' lengths and the configured models (GET /models),
 * one line each; 78 when any of them is a problem, else 0.
 */
int ctl_check_online(const struct cfg *c);
/* The models part of check-config --online; 0 or 1. */
int ctl_check_models(const struct cfg *c);
/* settings [--conf | --man] (tools/ctl_docs.c); needs no configuration */
int ctl_settings(int argc, char **argv);
/* jobs list [--status S] [--type T] [--limit N] | jobs cancel ID | jobs retry
 * ID */
int ctl_jobs(struct db *db, const struct cfg *c, int argc, char **argv);

#endif
