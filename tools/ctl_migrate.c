/*
 * storyjobsctl migrate: its options, --status and --dry-run.  Applying is
 * lib/migrate.c's; these only read (schema_migrations is not even created
 * by them), so they are safe against a live database at any time.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "num.h"

int
ctl_migrate_args(int argc, char **argv, struct ctl_migrate *m)
{
	int64_t v;

	memset(m, 0, sizeof(*m));
	m->dir = SJ_SQL_DIR;
	migrate_opts_default(&m->opts);
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i],
			   *next = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--status") == 0)
			m->status = true;
		else if (strcmp(a, "--dry-run") == 0)
			m->dry_run = true;
		else if (next == NULL)
			return -1;
		else if (strcmp(a, "--sql-dir") == 0)
			m->dir = argv[++i];
		else if (strcmp(a, "--lock-timeout") == 0 &&
			 num_i64(argv[++i], 1, 600000, &v) == SJ_OK)
			m->opts.lock_timeout_ms = (long)v;
		else if (strcmp(a, "--attempts") == 0 &&
			 num_i64(argv[++i], 1, 100, &v) == SJ_OK)
			m->opts.attempts = (int)v;
		else
			return -1;
	}
	return m->status && m->dry_run ? -1 : 0;
}

static void
print_row(const struct migrate_row *r, void *ctx)
{
	const struct ctl_migrate *m = ctx;

	switch (r->state) {
	case MIGRATE_APPLIED:
		if (m->status)
			printf("%03d %-32s applied %s\n", r->version, r->name,
			       r->applied_at ? r->applied_at : "");
		break;
	case MIGRATE_PENDING:
		printf("%03d %-32s %s\n", r->version, r->name,
		       m->status ? "pending" : "would apply");
		break;
	case MIGRATE_CHANGED:
		printf("%03d %-32s applied %s, but the file changed since\n",
		       r->version, r->name, r->applied_at ? r->applied_at : "");
		break;
	case MIGRATE_UNKNOWN:
		printf("%03d %-32s applied %s, no such file here: the database "
		       "is newer than these migrations\n",
		       r->version, r->name ? r->name : "?",
		       r->applied_at ? r->applied_at : "");
		break;
	}
}

int
ctl_migrate_status(struct db *db, const struct ctl_migrate *m)
{
	struct ctl_migrate copy = *m;
	int n[4] = {0, 0, 0, 0};

	if (migrate_status(db, m->dir, print_row, &copy, n) != SJ_OK) {
		fprintf(stderr, "migrate: cannot read the migrations\n");
		return 2;
	}
	if (n[MIGRATE_CHANGED] + n[MIGRATE_UNKNOWN] > 0) {
		printf("the database does not match the migrations in %s\n",
		       m->dir);
		return 2;
	}
	if (m->dry_run) {
		printf("%d migration%s would be applied; nothing was changed\n",
		       n[MIGRATE_PENDING], n[MIGRATE_PENDING] == 1 ? "" : "s");
		return 0;
	}
	if (n[MIGRATE_PENDING] > 0) {
		printf("%d pending: run storyjobsctl migrate\n",
		       n[MIGRATE_PENDING]);
		return 1;
	}
	printf("up to date\n");
	return 0;
}
