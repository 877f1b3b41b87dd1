#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "buf.h"
#include "log.h"
#include "migrate.h"
#include "num.h"

#define MIGRATE_LOCK	 "7271720415"
#define MIGRATE_FILE_MAX (1 << 20)

static const struct db_stmt st_applied = {
    "migrate_applied",
    "SELECT checksum FROM schema_migrations WHERE version = $1::int4", 1};
static const struct db_stmt st_record = {
    "migrate_record",
    "INSERT INTO schema_migrations (version, name, checksum) VALUES "
    "($1::int4, $2, $3)",
    3};

/* NNN_something.sql */
static int
is_migration(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 8 && d->d_name[0] >= '0' && d->d_name[0] <= '9' &&
	       d->d_name[1] >= '0' && d->d_name[1] <= '9' &&
	       d->d_name[2] >= '0' && d->d_name[2] <= '9' &&
	       d->d_name[3] == '_' && strcmp(d->d_name + n - 4, ".sql") == 0;
}

static enum sj_err
read_file(const char *dir, const char *name, struct buf *b)
{
	char path[4096], chunk[8192];
	size_t n;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "r")) == NULL)
		return SJ_EIO;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if (buf_add(b, chunk, n) != SJ_OK) {
			fclose(fp);
			return SJ_ETOOBIG;
		}
	fclose(fp);
	return b->data ? SJ_OK : SJ_EIO;
}

static void
sha256_hex(const char *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)data, len, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

/* Applies one file unless already applied; *did says whether it ran. */
static enum sj_err
apply_one(struct db *db, const char *dir, const char *name, int *did)
{
	char ver[4] = {name[0], name[1], name[2], '\0'}, sum[65];
	const char *params[3] = {ver, name, sum};
	PGresult *r = NULL;
	struct buf b;
	enum sj_err e;

	*did = 0;
	buf_init(&b, MIGRATE_FILE_MAX);
	if ((e = read_file(dir, name, &b)) != SJ_OK) {
		log_error("migration %s: cannot read it", name);
		goto out;
	}
	sha256_hex(b.data, b.len, sum);
	if ((e = db_exec(db, &st_applied, params, &r)) != SJ_OK)
		goto out;
	if (PQntuples(r) == 1) {
		if (strcmp(db_str(r, 0, 0), sum) != 0) {
			log_error("migration %s changed after it was applied",
				  name);
			e = SJ_ECONFLICT;
		}
		goto out;
	}
	if ((e = db_exec_simple(db, "BEGIN")) != SJ_OK)
		goto out;
	if ((e = db_exec_simple(db, b.data)) != SJ_OK ||
	    (e = db_exec(db, &st_record, params, NULL)) != SJ_OK ||
	    (e = db_exec_simple(db, "COMMIT")) != SJ_OK) {
		if (db_exec_simple(db, "ROLLBACK") != SJ_OK)
			db_reset(db); /* a reset session rolls back */
		log_error("migration %s failed", name);
		goto out;
	}
	*did = 1;
	log_info("applied migration %s", name);
out:
	PQclear(r);
	buf_free(&b);
	return e;
}

enum sj_err
migrate_run(struct db *db, const char *dir, int *applied)
{
	struct dirent **names = NULL;
	enum sj_err e;
	int n, count = 0, did;

	if (applied != NULL)
		*applied = 0;
	if ((n = scandir(dir, &names, is_migration, alphasort)) < 0) {
		log_error("cannot list migrations in %s", dir);
		return SJ_EIO;
	}
	e = db_exec_simple(db, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")");
	if (e == SJ_OK)
		e = db_exec_simple(
		    db, "SET client_min_messages = warning; "
			"CREATE TABLE IF NOT EXISTS schema_migrations ("
			"version int PRIMARY KEY, name text NOT NULL, "
			"checksum text NOT NULL, applied_at timestamptz NOT "
			"NULL DEFAULT now())");
	for (int i = 0; i < n && e == SJ_OK; i++) {
		e = apply_one(db, dir, names[i]->d_name, &did);
		count += did;
	}
	if (db_exec_simple(db, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")") !=
	    SJ_OK)
		db_reset(db); /* ending the session releases the lock */
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (applied != NULL)
		*applied = count;
	return e;
}
