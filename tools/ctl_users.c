/*
 * storyjobsctl user add EMAIL [--admin] | user passwd EMAIL
 *
 * The password is read as one line from standard input (never from argv,
 * where ps would show it); the trailing newline is dropped.  add prints
 * the new user's id.  Exit 0 on success, 1 on a refused or failed change,
 * 64 on a usage error.
 */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "ctl.h"

static int
usage(void)
{
	fprintf(stderr, "usage: storyjobsctl user add EMAIL [--admin] | "
			"user passwd EMAIL  (password on stdin)\n");
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

int
ctl_users(struct db *db, const struct cfg *c, int argc, char **argv)
{
	char pw[AUTH_PASSWORD_MAX + 3];
	const char *msg = NULL;
	struct user u;
	enum sj_err e;
	int admin = 0, rc;

	(void)c;
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
