/*
 * Schema migrations: files NNN_name.sql in a directory, applied in order,
 * each in its own transaction together with its row in schema_migrations
 * (version, name, SHA-256 of the file).  A file changed after it was
 * applied is an error, never silently skipped.
 *
 * Each transaction first sets its own lock_timeout, then takes a
 * transaction-scoped advisory lock (pg_advisory_xact_lock, so it also
 * works through a transaction pooler), which makes concurrent runs wait
 * for each other; a second run applies nothing.  lock_timeout bounds how
 * long the migration may wait for a table lock (an ALTER TABLE queued
 * behind a long transaction would otherwise queue every query of the
 * application behind itself) and for the advisory lock.  A step that
 * times out is rolled back and tried again after a pause; a second run
 * still locked out after its tries gives up, having applied nothing.
 *
 * Every program checks at start that the database is at the version it
 * was built for (schema_check_start) and refuses to run against another.
 */
#ifndef SJ_MIGRATE_H
#define SJ_MIGRATE_H

#include <stdbool.h>

#include "db.h"
#include "err.h"

/*
 * The schema this build runs against: the highest migration in sql/.
 * tests/unit/test_migrate checks that it names the last file there and in
 * Makefile.am's list, so adding a migration without it fails `make check`.
 */
#define MIGRATE_SCHEMA_VERSION 21

#define MIGRATE_LOCK_TIMEOUT_MS 2000 /* per attempt */
#define MIGRATE_ATTEMPTS	5
#define MIGRATE_BACKOFF_MS	500 /* doubles after each timed-out attempt */

struct migrate_opts {
	long lock_timeout_ms; /* 1 .. 600000 */
	int attempts;	      /* tries per migration, at least 1 */
	long backoff_ms;      /* first pause between tries */
};

/* The defaults above. */
void migrate_opts_default(struct migrate_opts *o);

/* *applied (may be NULL) receives how many files this run applied. */
enum sj_err migrate_run(struct db *db, const char *dir, int *applied) SJ_WUR;
/*
 * migrate_run() with explicit lock settings.  A migration still locked out
 * after o->attempts tries is SJ_ECONFLICT, and nothing of it is applied.
 */
enum sj_err migrate_run_opts(struct db *db, const char *dir,
			     const struct migrate_opts *o, int *applied) SJ_WUR;

enum migrate_state {
	MIGRATE_APPLIED,
	MIGRATE_PENDING,
	MIGRATE_CHANGED, /* applied, but the file differs from what ran */
	MIGRATE_UNKNOWN	 /* applied, but no file here has its version */
};

/* One migration as migrate_status() reports it. */
struct migrate_row {
	int version;
	const char *name;	/* file or recorded name */
	const char *applied_at; /* NULL when pending */
	enum migrate_state state;
};

typedef void (*migrate_status_fn)(const struct migrate_row *row, void *ctx);

/*
 * Calls fn for each migration of dir and each applied one without a file,
 * in version order, changing nothing (not even creating the bookkeeping
 * table).  *counts (may be NULL) receives how many there were of each
 * state, indexed by enum migrate_state.
 */
enum sj_err migrate_status(struct db *db, const char *dir, migrate_status_fn fn,
			   void *ctx, int counts[4]) SJ_WUR;

enum schema_state {
	SCHEMA_OK,
	SCHEMA_NONE,  /* no schema_migrations table: never migrated */
	SCHEMA_OLDER, /* run storyjobsctl migrate */
	SCHEMA_NEWER, /* this binary is older than the database */
	SCHEMA_GAP    /* at the version, but a lower migration is missing */
};

/*
 * The database's schema version (highest applied) and its verdict: the
 * count of applied migrations must equal it too, or a gap is reported.
 */
enum sj_err schema_check(struct db *db, enum schema_state *st,
			 int *version) SJ_WUR;
/* One line for an operator: what was found and what to run.  Static. */
const char *schema_advice(enum schema_state st);

/*
 * The start-up check of every program: connects to url (retrying for a
 * few seconds while the server is unreachable), checks the schema and
 * logs why it refuses.  Returns the exit status to use: 0 to go on, 78
 * (EX_CONFIG) for another schema version, 1 when the database could not
 * be reached or read.
 */
int schema_check_start(const char *url, const char *appname);

#endif
