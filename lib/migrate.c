/*
 * DESIGN
 * A run lists NNN_*.sql in name order (two files with one number are
 * refused before anything runs) and applies each in a transaction of its
 * own: BEGIN, lock_timeout for this transaction only, the advisory lock
 * (transaction-scoped, so no session state outlives the transaction; set
 * after lock_timeout so that waiting for it is bounded too), "is it
 * applied?" (answered under the lock, so two runs never both apply a
 * file), the file, its schema_migrations row, COMMIT.  SQLSTATE 55P03
 * (lock_not_available) rolls the transaction back and the same step is
 * tried again after a pause that doubles; any other error stops the run.
 * The SQLSTATE is taken before the rollback (a successful ROLLBACK clears
 * it), and only the step's caller rolls back, once.  The application
 * therefore waits behind a migration's lock request for at most
 * lock_timeout per try, and a second `migrate` run at the same time
 * retries behind the first and gives up cleanly if the first takes longer
 * than its tries; the time the migration holds its locks once it has
 * them is its own work and is not bounded here.
 *
 * Status and the start-up check only read: they never create the table.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "digest.h"
#include "buf.h"
#include "log.h"
#include "migrate.h"
#include "num.h"

#define MIGRATE_LOCK		"7271720415"
#define MIGRATE_FILE_MAX	(1 << 20)
#define MIGRATE_BACKOFF_MAX_MS	8000
#define SQLSTATE_LOCK_TIMEOUT	"55P03"
#define SCHEMA_STMT_TIMEOUT_MS	5000
#define SCHEMA_CONNECT_WAIT_MS	10000
#define SCHEMA_CONNECT_PAUSE_MS 2000

static const struct db_stmt st_timeout = {
    "migrate_timeout", "SELECT set_config('lock_timeout', $1, true)", 1};
static const struct db_stmt st_lock = {
    "migrate_lock", "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")", 0};
static const struct db_stmt st_applied = {
    "migrate_applied",
    "SELECT checksum FROM schema_migrations WHERE version = $1::int4", 1};
static const struct db_stmt st_record = {
    "migrate_record",
    "INSERT INTO schema_migrations (version, name, checksum) VALUES "
    "($1::int4, $2, $3)",
    3};
static const struct db_stmt st_exists = {
    "migrate_exists", "SELECT to_regclass('schema_migrations') IS NOT NULL", 0};
static const struct db_stmt st_list = {
    "migrate_list",
    "SELECT version, name, checksum, to_char(applied_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD HH24:MI:SS') || ' UTC' FROM schema_migrations ORDER BY "
    "version",
    0};
static const struct db_stmt st_version = {
    "schema_version",
    "SELECT coalesce(max(version), 0), count(*) FILTER (WHERE version > 0) "
    "FROM schema_migrations",
    0};

void
migrate_opts_default(struct migrate_opts *o)
{
	o->lock_timeout_ms = MIGRATE_LOCK_TIMEOUT_MS;
	o->attempts = MIGRATE_ATTEMPTS;
	o->backoff_ms = MIGRATE_BACKOFF_MS;
}

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

/* The NNN of a name is_migration() accepted. */
static int
version_of(const char *name)
{
	return (name[0] - '0') * 100 + (name[1] - '0') * 10 + (name[2] - '0');
}

static void
free_names(struct dirent **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/*
 * The migration files of dir in order, each number once; the caller frees
 * with free_names.  -1 (logged) when dir cannot be listed or two files
 * share a number.
 */
static int
list_names(const char *dir, struct dirent ***names)
{
	int n = scandir(dir, names, is_migration, alphasort);

	if (n < 0) {
		log_error("cannot list migrations in %s", dir);
		return n;
	}
	for (int i = 1; i < n; i++)
		if (version_of((*names)[i]->d_name) ==
		    version_of((*names)[i - 1]->d_name)) {
			log_error("two migrations numbered %03d in %s: %s and "
				  "%s; renumber one",
				  version_of((*names)[i]->d_name), dir,
				  (*names)[i - 1]->d_name, (*names)[i]->d_name);
			free_names(*names, n);
			*names = NULL;
			return -1;
		}
	return n;
}

static enum sj_err
read_file(const char *dir, const char *name, struct buf *b)
{
	char path[4096], chunk[8192];
	enum sj_err e;
	size_t n;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "r")) == NULL)
		return SJ_EIO;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if ((e = buf_add(b, chunk, n)) != SJ_OK) {
			fclose(fp);
			return e;
		}
	if (ferror(fp)) {
		fclose(fp);
		return SJ_EIO;
	}
	fclose(fp);
	return b->data ? SJ_OK : SJ_ENOTFOUND; /* empty */
}

/* Reads a migration and its checksum; b is the caller's, initialised. */
static enum sj_err
load(const char *dir, const char *name, struct buf *b, char sum[65])
{
	enum sj_err e = read_file(dir, name, b);

	if (e != SJ_OK) {
		log_error("migration %s: %s", name,
			  e == SJ_ENOTFOUND ? "is empty"
			  : e == SJ_ETOOBIG ? "larger than 1 MiB"
					    : "cannot read it");
		return e;
	}
	return sha256_hex(b->data, b->len, sum);
}

static void
rollback(struct db *db)
{
	if (db_exec_simple(db, "ROLLBACK") != SJ_OK)
		db_reset(db); /* a reset session rolls back */
}

/*
 * BEGIN, this transaction's lock_timeout, then the advisory lock (whose
 * wait lock_timeout bounds).  On failure the caller takes the SQLSTATE
 * and rolls back.
 */
static enum sj_err
begin_locked(struct db *db, long lock_timeout_ms)
{
	char lt[32];
	const char *p[1] = {lt};
	enum sj_err e;

	snprintf(lt, sizeof(lt), "%ldms", lock_timeout_ms);
	if ((e = db_exec_simple(db, "BEGIN")) != SJ_OK ||
	    (e = db_exec(db, &st_timeout, p, NULL)) != SJ_OK)
		return e;
	return db_exec(db, &st_lock, NULL, NULL);
}

/* One step of a run, in one transaction; state as for attempt(). */
typedef enum sj_err (*step_fn)(struct db *db, const struct migrate_opts *o,
			       void *ctx, char state[6]);

/* The bookkeeping table, created under the lock. */
static enum sj_err
bootstrap(struct db *db, const struct migrate_opts *o, void *ctx, char state[6])
{
	enum sj_err e;

	(void)ctx;
	state[0] = '\0';
	if ((e = begin_locked(db, o->lock_timeout_ms)) != SJ_OK ||
	    (e = db_exec_simple(
		 db, "SET LOCAL client_min_messages = warning; "
		     "CREATE TABLE IF NOT EXISTS schema_migrations ("
		     "version int PRIMARY KEY, name text NOT NULL, "
		     "checksum text NOT NULL, applied_at timestamptz NOT "
		     "NULL DEFAULT now())")) != SJ_OK ||
	    (e = db_exec_simple(db, "COMMIT")) != SJ_OK) {
		snprintf(state, 6, "%s", db_sqlstate(db));
		rollback(db);
	}
	return e;
}

/* One migration file: its text, its row's parameters, whether it ran. */
struct one {
	const char *sql;
	const char *const *params; /* version, name, checksum */
	int did;
};

/*
 * One try at one file, in one transaction.  one->did says whether it
 * ran (set once COMMIT succeeded); state receives the SQLSTATE of a
 * failure ("" otherwise), taken before the rollback.
 */
static enum sj_err
attempt(struct db *db, const struct migrate_opts *o, void *ctx, char state[6])
{
	struct one *one = ctx;
	PGresult *r = NULL;
	enum sj_err e;
	int ran = 0;

	one->did = 0;
	state[0] = '\0';
	if ((e = begin_locked(db, o->lock_timeout_ms)) != SJ_OK ||
	    (e = db_exec(db, &st_applied, one->params, &r)) != SJ_OK)
		goto fail;
	if (PQntuples(r) == 1 && strcmp(db_str(r, 0, 0), one->params[2]) != 0) {
		log_error("migration %s changed after it was applied",
			  one->params[1]);
		e = SJ_ECONFLICT;
		goto fail;
	}
	if (PQntuples(r) == 0) {
		if ((e = db_exec_simple(db, one->sql)) != SJ_OK ||
		    (e = db_exec(db, &st_record, one->params, NULL)) != SJ_OK)
			goto fail;
		ran = 1;
	}
	PQclear(r);
	r = NULL;
	if ((e = db_exec_simple(db, "COMMIT")) != SJ_OK)
		goto fail;
	one->did = ran;
	return SJ_OK;
fail:
	snprintf(state, 6, "%s", db_sqlstate(db));
	PQclear(r);
	rollback(db);
	return e;
}

/* Runs step until it succeeds, fails otherwise, or runs out of tries. */
static enum sj_err
retrying(struct db *db, const struct migrate_opts *o, const char *what,
	 step_fn step, void *ctx)
{
	long pause = o->backoff_ms;
	char state[6];
	enum sj_err e;

	for (int i = 1;; i++) {
		e = step(db, o, ctx, state);
		if (e == SJ_OK || strcmp(state, SQLSTATE_LOCK_TIMEOUT) != 0)
			return e;
		if (i >= o->attempts) {
			log_error("%s: gave up after %d tries: another session "
				  "held a lock it needs (or another migrate "
				  "run held the migration lock) longer than "
				  "lock_timeout (%ld ms) each time; see "
				  "pg_locks and pg_stat_activity, then run "
				  "migrate again",
				  what, i, o->lock_timeout_ms);
			return SJ_ECONFLICT;
		}
		log_warn("%s: waited %ld ms for a lock (try %d of %d); trying "
			 "again in %ld ms",
			 what, o->lock_timeout_ms, i, o->attempts, pause);
		num_sleep_ms(pause);
		pause = pause * 2 > MIGRATE_BACKOFF_MAX_MS
			    ? MIGRATE_BACKOFF_MAX_MS
			    : pause * 2;
	}
}

/* Applies one file unless already applied, retrying lock timeouts. */
static enum sj_err
apply_one(struct db *db, const char *dir, const char *name,
	  const struct migrate_opts *o, int *did)
{
	char ver[4] = {name[0], name[1], name[2], '\0'}, sum[65], what[300];
	const char *params[3] = {ver, name, sum};
	struct one one = {NULL, params, 0};
	enum sj_err e;
	struct buf b;

	*did = 0;
	buf_init(&b, MIGRATE_FILE_MAX);
	if ((e = load(dir, name, &b, sum)) != SJ_OK)
		goto out;
	one.sql = b.data;
	snprintf(what, sizeof(what), "migration %s", name);
	e = retrying(db, o, what, attempt, &one);
	*did = one.did;
	if (e != SJ_OK)
		log_error("migration %s failed", name);
	else if (*did)
		log_info("applied migration %s", name);
out:
	buf_free(&b);
	return e;
}

enum sj_err
migrate_run_opts(struct db *db, const char *dir, const struct migrate_opts *o,
		 int *applied)
{
	struct dirent **names = NULL;
	enum sj_err e;
	int n, count = 0, did = 0;

	if (applied != NULL)
		*applied = 0;
	if ((n = list_names(dir, &names)) < 0)
		return SJ_EIO;
	e = retrying(db, o, "the table schema_migrations", bootstrap, NULL);
	for (int i = 0; i < n && e == SJ_OK; i++) {
		e = apply_one(db, dir, names[i]->d_name, o, &did);
		count += did;
	}
	free_names(names, n);
	if (applied != NULL)
		*applied = count;
	return e;
}

enum sj_err
migrate_run(struct db *db, const char *dir, int *applied)
{
	struct migrate_opts o;

	migrate_opts_default(&o);
	return migrate_run_opts(db, dir, &o, applied);
}

/* The applied rows, or an empty result when the table does not exist. */
static enum sj_err
applied_rows(struct db *db, PGresult **rows, bool *exists)
{
	PGresult *r = NULL;
	enum sj_err e;

	*rows = NULL;
	if ((e = db_exec(db, &st_exists, NULL, &r)) != SJ_OK)
		return e;
	*exists = db_bool(r, 0, 0);
	PQclear(r);
	return *exists ? db_exec(db, &st_list, NULL, rows) : SJ_OK;
}

static void
report(migrate_status_fn fn, void *ctx, int counts[4],
       const struct migrate_row *row)
{
	counts[row->state]++;
	fn(row, ctx);
}

/* The state of file name, given the applied row j (or -1). */
static enum sj_err
file_row(const char *dir, const char *name, const PGresult *rows, int j,
	 struct migrate_row *row)
{
	char sum[65];
	enum sj_err e;
	struct buf b;

	row->version = version_of(name);
	row->name = name;
	row->applied_at = j < 0 ? NULL : db_str(rows, j, 3);
	row->state = j < 0 ? MIGRATE_PENDING : MIGRATE_APPLIED;
	if (j < 0)
		return SJ_OK;
	buf_init(&b, MIGRATE_FILE_MAX);
	if ((e = load(dir, name, &b, sum)) == SJ_OK &&
	    strcmp(db_str(rows, j, 2), sum) != 0)
		row->state = MIGRATE_CHANGED;
	buf_free(&b);
	return e;
}

/* Merges the files and the applied rows, both in version order. */
static enum sj_err
merge(const char *dir, struct dirent **names, int n, const PGresult *rows,
      migrate_status_fn fn, void *ctx, int counts[4])
{
	int nrows = rows ? PQntuples(rows) : 0, i = 0, j = 0;
	struct migrate_row row;
	enum sj_err e = SJ_OK;

	while (e == SJ_OK && (i < n || j < nrows)) {
		int fv = i < n ? version_of(names[i]->d_name) : 1 << 30;
		int rv = j < nrows ? (int)db_ll(rows, j, 0, 0) : 1 << 30;

		if (rv < fv) {
			row = (struct migrate_row){rv, db_str(rows, j, 1),
						   db_str(rows, j, 3),
						   MIGRATE_UNKNOWN};
			j++;
		} else {
			e = file_row(dir, names[i]->d_name, rows,
				     rv == fv ? j : -1, &row);
			j += rv == fv;
			i++;
		}
		if (e == SJ_OK)
			report(fn, ctx, counts, &row);
	}
	return e;
}

enum sj_err
migrate_status(struct db *db, const char *dir, migrate_status_fn fn, void *ctx,
	       int counts[4])
{
	struct dirent **names = NULL;
	PGresult *rows = NULL;
	int n, local[4] = {0, 0, 0, 0};
	bool exists = false;
	enum sj_err e;

	if ((n = list_names(dir, &names)) < 0)
		return SJ_EIO;
	if ((e = applied_rows(db, &rows, &exists)) == SJ_OK)
		e = merge(dir, names, n, rows, fn, ctx, local);
	PQclear(rows);
	free_names(names, n);
	if (counts != NULL)
		memcpy(counts, local, sizeof(local));
	return e;
}

enum sj_err
schema_check(struct db *db, enum schema_state *st, int *version)
{
	PGresult *r = NULL;
	bool exists = false;
	enum sj_err e;
	long long count;

	*version = 0;
	*st = SCHEMA_NONE;
	if ((e = db_exec(db, &st_exists, NULL, &r)) != SJ_OK)
		return e;
	exists = db_bool(r, 0, 0);
	PQclear(r);
	if (!exists)
		return SJ_OK;
	if ((e = db_exec(db, &st_version, NULL, &r)) != SJ_OK)
		return e;
	*version = (int)db_ll(r, 0, 0, 0);
	count = db_ll(r, 0, 1, 0);
	PQclear(r);
	*st = *version < MIGRATE_SCHEMA_VERSION	  ? SCHEMA_OLDER
	      : *version > MIGRATE_SCHEMA_VERSION ? SCHEMA_NEWER
	      : count != *version		  ? SCHEMA_GAP
						  : SCHEMA_OK;
	return SJ_OK;
}

const char *
schema_advice(enum schema_state st)
{
	switch (st) {
	case SCHEMA_OK:
		return "the schema is the one this build runs against";
	case SCHEMA_NONE:
		return "the database has no schema yet; run `storyjobsctl "
		       "migrate`";
	case SCHEMA_OLDER:
		return "the database is older than this build; run "
		       "`storyjobsctl migrate`";
	case SCHEMA_NEWER:
		return "this binary is older than the database; upgrade it "
		       "(or restore the database it was built for)";
	case SCHEMA_GAP:
		return "a migration below the highest one applied is missing "
		       "from schema_migrations; see `storyjobsctl migrate "
		       "--status`, then run `storyjobsctl migrate`";
	}
	return "unknown schema state";
}

/* Connects, retrying for up to SCHEMA_CONNECT_WAIT_MS. */
static enum sj_err
connect_patiently(struct db *db)
{
	int64_t until = num_mono_ms() + SCHEMA_CONNECT_WAIT_MS;
	long pause = 100;

	while (db_connect(db) != SJ_OK) {
		if (num_mono_ms() + pause > until)
			return SJ_EDB;
		log_warn("database unreachable; trying again in %ld ms", pause);
		num_sleep_ms(pause);
		if (pause * 2 <= SCHEMA_CONNECT_PAUSE_MS)
			pause *= 2;
	}
	return SJ_OK;
}

int
schema_check_start(const char *url, const char *appname)
{
	enum schema_state st = SCHEMA_NONE;
	struct db *db = NULL;
	int version = 0, rc = 1;

	if (db_open(url, appname, SCHEMA_STMT_TIMEOUT_MS, &db) != SJ_OK) {
		log_error("refusing to start: bad database settings");
		return 1;
	}
	if (connect_patiently(db) != SJ_OK) {
		log_error("refusing to start: the database cannot be reached "
			  "to check its schema version");
		goto out;
	}
	if (schema_check(db, &st, &version) != SJ_OK) {
		log_error("refusing to start: cannot read the schema version "
			  "(table schema_migrations)");
		goto out;
	}
	rc = st == SCHEMA_OK ? 0 : 78;
	if (rc != 0)
		log_error("refusing to start: database schema version %d, "
			  "this build needs %d: %s",
			  version, MIGRATE_SCHEMA_VERSION, schema_advice(st));
	else
		log_debug("database schema version %d", version);
out:
	db_close(db);
	return rc;
}
