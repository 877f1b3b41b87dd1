/*
 * storyjobsctl health | prune [--days N]
 *
 * health prints the health document of GET /api/jobs/health and exits 0
 * when healthy, 1 on a warning, 2 when critical.  prune deletes finished
 * jobs older than N days (default RETENTION_DAYS) in batches of 1000 and
 * prints how many went.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "health.h"
#include "num.h"

static int
ctl_health(struct db *db, const struct cfg *c)
{
	struct json_object *doc = NULL;
	enum health_level lvl = HEALTH_CRITICAL;
	int status = 0;

	if (health_build_level(db, c, &doc, &status, &lvl) != SJ_OK) {
		fprintf(stderr, "health: out of memory\n");
		return 2;
	}
	printf("%s\n", json_object_to_json_string_ext(
			   doc, JSON_C_TO_STRING_PRETTY |
				    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(doc);
	return lvl == HEALTH_OK ? 0 : lvl == HEALTH_WARNING ? 1 : 2;
}

static int
ctl_prune(struct db *db, const struct cfg *c, int argc, char **argv)
{
	int64_t days = c->retention_days;
	long long n = 0;
	enum sj_err e;

	if (argc == 3 && strcmp(argv[1], "--days") == 0) {
		if (num_i64(argv[2], 1, 36500, &days) != SJ_OK) {
			fprintf(stderr, "prune: --days must be 1 to 36500\n");
			return 64;
		}
	} else if (argc != 1) {
		fprintf(stderr, "usage: storyjobsctl prune [--days N]\n");
		return 64;
	}
	if ((e = health_prune(db, days, 0, &n)) != SJ_OK) {
		fprintf(stderr, "prune: %s\n", sj_strerror(e));
		return 1;
	}
	printf("%lld\n", n);
	return 0;
}

int
ctl_ops(struct db *db, const struct cfg *c, int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "health") == 0 && argc == 1)
		return ctl_health(db, c);
	if (argc >= 1 && strcmp(argv[0], "prune") == 0)
		return ctl_prune(db, c, argc, argv);
	fprintf(stderr, "usage: storyjobsctl health | prune [--days N]\n");
	return 64;
}
