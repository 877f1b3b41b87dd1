/*
 * storyjobsctl subcommands.  Each takes argv from the subcommand's name
 * on and returns the process exit status (64 for a usage error).
 */
#ifndef SJ_CTL_H
#define SJ_CTL_H

#include "cfg.h"
#include "db.h"

/* user add EMAIL [--admin] | user passwd EMAIL (password on stdin) */
int ctl_users(struct db *db, const struct cfg *c, int argc, char **argv);
/* health | prune [--days N] */
int ctl_ops(struct db *db, const struct cfg *c, int argc, char **argv);
/* check-config --online: the configured models against GET /models */
int ctl_check_online(const struct cfg *c);
/* jobs list [--status S] [--type T] [--limit N] | jobs cancel ID | jobs retry
 * ID */
int ctl_jobs(struct db *db, const struct cfg *c, int argc, char **argv);

#endif
