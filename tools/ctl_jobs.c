/*
 * storyjobsctl jobs: list, cancel and retry jobs from the shell.
 *
 *   jobs list [--status S] [--type T] [--limit N]
 *   jobs cancel ID
 *   jobs retry ID
 *
 * list prints one line per job, newest first: id, type, status,
 * progress, user (0: anonymous), created at, current step.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "job.h"
#include "num.h"

#define USAGE                                                                  \
	"usage: storyjobsctl jobs list [--status S] [--type T] [--limit N]\n"  \
	"       storyjobsctl jobs cancel ID | jobs retry ID\n"

static int
usage(void)
{
	fputs(USAGE, stderr);
	return 64;
}

/* Parses the list options into f; -1 on a usage error. */
static int
list_opts(int argc, char **argv, struct job_filter *f)
{
	int64_t n;

	memset(f, 0, sizeof(*f));
	f->limit = 20;
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			return -1;
		if (strcmp(argv[i], "--status") == 0) {
			if (job_status_parse(argv[i + 1], &f->status) != SJ_OK)
				return -1;
			f->has_status = 1;
		} else if (strcmp(argv[i], "--type") == 0) {
			if (job_type_parse(argv[i + 1], &f->type) != SJ_OK)
				return -1;
			f->has_type = 1;
		} else if (strcmp(argv[i], "--limit") == 0) {
			if (num_i64(argv[i + 1], 1, 100, &n) != SJ_OK)
				return -1;
			f->limit = (int)n;
		} else {
			return -1;
		}
	}
	return 0;
}

static int
jobs_list(struct db *db, int argc, char **argv)
{
	struct job_list l = {0};
	struct job_filter f;
	char iso[32];
	enum sj_err e;

	if (list_opts(argc, argv, &f) != 0)
		return usage();
	if ((e = job_list(db, &f, &l)) != SJ_OK) {
		fprintf(stderr, "jobs list: %s\n", sj_strerror(e));
		return 1;
	}
	for (size_t i = 0; i < l.n; i++) {
		const struct job *j = &l.jobs[i];

		job_iso8601(j->created_ms, iso);
		printf("%s\t%s\t%s\t%d%%\t%lld\t%s\t%s\n", j->id,
		       job_type_name(j->type), job_status_name(j->status),
		       j->progress, (long long)j->user_id, iso,
		       j->current_step ? j->current_step : "-");
	}
	job_list_free(&l);
	return 0;
}

static int
jobs_change(struct db *db, const char *what, const char *id)
{
	enum job_status st = JOB_PENDING;
	enum sj_err e;

	if (!job_id_valid(id)) {
		fprintf(stderr, "jobs %s: invalid job id\n", what);
		return 64;
	}
	if (strcmp(what, "cancel") == 0)
		e = job_cancel(db, id, &st);
	else
		e = job_retry(db, id);
	if (e == SJ_ENOTFOUND)
		fprintf(stderr, "jobs %s: no such job\n", what);
	else if (e == SJ_ECONFLICT)
		fprintf(stderr, "jobs %s: not allowed in the job's state\n",
			what);
	else if (e != SJ_OK)
		fprintf(stderr, "jobs %s: %s\n", what, sj_strerror(e));
	else
		printf("%s %s\n", id, job_status_name(st));
	return e == SJ_OK ? 0 : 1;
}

int
ctl_jobs(struct db *db, const struct cfg *c, int argc, char **argv)
{
	(void)c;
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "list") == 0)
		return jobs_list(db, argc, argv);
	if (argc == 3 &&
	    (strcmp(argv[1], "cancel") == 0 || strcmp(argv[1], "retry") == 0))
		return jobs_change(db, argv[1], argv[2]);
	return usage();
}
