/*
 * storyjobsctl user add EMAIL [--admin] | user passwd EMAIL
 *            | user share EMAIL [N]
 *
 * The password is read as one line from standard input (never from argv,
 * where ps would show it); the trailing newline is dropped.  add prints
 * the new user's id.  share prints the user's fair share of the queue
 * (users.share, schema 016), after setting it to N (1..100) when given:
 * within a priority, a user with share 2 gets twice the claims of a user
 * with share 1 while both have jobs queued; it counts for the jobs the
 * user starts from then on.  Exit 0 on success, 1 on a refused or failed
 * change, 64 on a usage error.
 */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "ctl.h"
#include "num.h"

#define SHARE_MAX 100 /* users.share's CHECK (schema 016) */

static int
usage(void)
{
	fprintf(stderr, "usage: storyjobsctl user add EMAIL [--admin] | "
			"user passwd EMAIL  (password on stdin)\n"
			"       storyjobsctl user share EMAIL [1..100]\n");
	return 64;
}

/* One line from stdin into pw; -1 when missing or too long. */
static int
read_password(char *pw, size_t sz)
{
	size_t n;

	if (fgets(pw, (int)sz, stdin) == NULL)
		return -1;
	n = strlen(pw);
	if (n > 0 && pw[n - 1] == '\n')
		pw[--n] = '\0';
	else if (!feof(stdin))
		return -1; /* longer than the buffer */
	if (n > 0 && pw[n - 1] == '\r')
		pw[--n] = '\0';
	return 0;
}

static int
report(enum sj_err e, const char *msg, const char *email)
{
	if (e == SJ_EINVAL)
		fprintf(stderr, "%s\n", msg ? msg : "invalid input");
	else if (e == SJ_ECONFLICT)
		fprintf(stderr, "a user with email %s already exists\n", email);
	else if (e == SJ_ENOTFOUND)
		fprintf(stderr, "no user with email %s\n", email);
	else
		fprintf(stderr, "failed: %s\n", sj_strerror(e));
	return 1;
}

/* $1 = the normalized email, $2 = the new share or NULL: keep it. */
static const struct db_stmt st_share = {
    "ctl_user_share",
    "UPDATE users SET share = coalesce($2::int2, share), updated_at = CASE "
    "WHEN $2 IS NULL THEN updated_at ELSE now() END WHERE lower(email) = $1 "
    "RETURNING share",
    2};

/* user share EMAIL [N]: prints the share, set to N first when given. */
static int
user_share(struct db *db, int argc, char **argv)
{
	char norm[AUTH_EMAIL_MAX + 1], n[8];
	const char *params[2] = {norm, NULL};
	PGresult *r = NULL;
	int64_t v;
	enum sj_err e;

	if (auth_email_normalize(argv[2], norm) != SJ_OK)
		return report(SJ_ENOTFOUND, NULL, argv[2]);
	if (argc == 4) {
		if (num_i64(argv[3], 1, SHARE_MAX, &v) != SJ_OK) {
			fprintf(stderr,
				"share must be a whole number from 1 "
				"to %d\n",
				SHARE_MAX);
			return 1;
		}
		snprintf(n, sizeof(n), "%lld", (long long)v);
		params[1] = n;
	}
	if ((e = db_exec(db, &st_share, params, &r)) != SJ_OK)
		return report(e, NULL, argv[2]);
	e = PQntuples(r) == 1 ? SJ_OK : SJ_ENOTFOUND;
	if (e == SJ_OK)
		printf("%s\n", db_str(r, 0, 0));
	PQclear(r);
	return e == SJ_OK ? 0 : report(e, NULL, argv[2]);
}

int
ctl_users(struct db *db, const struct cfg *c, int argc, char **argv)
{
	char pw[AUTH_PASSWORD_MAX + 3];
	const char *msg = NULL;
	struct user u;
	enum sj_err e;
	int admin = 0, rc;

	(void)c;
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "share") == 0)
		return user_share(db, argc, argv);
	if (argc == 4 && strcmp(argv[1], "add") == 0 &&
	    strcmp(argv[3], "--admin") == 0)
		admin = 1;
	else if (argc != 3 || (strcmp(argv[1], "add") != 0 &&
			       strcmp(argv[1], "passwd") != 0))
		return usage();
	if (read_password(pw, sizeof(pw)) != 0) {
		fprintf(stderr,
			"Password must be 8 to %d characters, on one "
			"line of standard input\n",
			AUTH_PASSWORD_MAX);
		return 1;
	}
	if (strcmp(argv[1], "add") == 0) {
		e = auth_user_create(db, argv[2], pw,
				     admin ? ROLE_ADMIN : ROLE_USER, &u, &msg);
		if (e == SJ_OK)
			printf("%lld\n", (long long)u.id);
	} else {
		e = auth_set_password(db, argv[2], pw, &msg);
		if (e == SJ_OK)
			printf("password changed; sessions revoked\n");
	}
	memset(pw, 0, sizeof(pw));
	rc = e == SJ_OK ? 0 : report(e, msg, argv[2]);
	return rc;
}
