/*
 * Schema migrations: files NNN_name.sql in a directory, applied in order,
 * each in its own transaction together with its row in schema_migrations
 * (version, name, SHA-256 of the file).  A session advisory lock makes
 * concurrent runs wait for each other; a second run applies nothing.  A
 * file changed after it was applied is an error, never silently skipped.
 */
#ifndef SJ_MIGRATE_H
#define SJ_MIGRATE_H

#include "db.h"
#include "err.h"

/* *applied (may be NULL) receives how many files this run applied. */
enum sj_err migrate_run(struct db *db, const char *dir, int *applied) SJ_WUR;

#endif
