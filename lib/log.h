/*
 * One-line structured logs on standard error, in logfmt:
 *   ts=2026-11-24T19:58:01.123Z prog=storyjobs-worker pid=42 level=info
 *   job=job_1764014281123_x9f... msg="claimed"
 * Each line is written with a single write(2), so lines from threads and
 * processes sharing the descriptor never interleave.  The object a line is
 * about (a job id, a request id, a worker id) comes right before msg.
 */
#ifndef SJ_LOG_H
#define SJ_LOG_H

enum log_level {
	LOG_LVL_DEBUG = 0,
	LOG_LVL_INFO,
	LOG_LVL_WARN,
	LOG_LVL_ERROR,
	LOG_LVL_MAX
};

/* prog is borrowed for the life of the process. */
void log_init(const char *prog, enum log_level min);
/* Parses "debug", "info", "warn", "error"; returns -1 on anything else. */
int log_level_parse(const char *s);

/* key/id may be NULL: the line then names no object. */
void log_msg(enum log_level lvl, const char *key, const char *id,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_job(lvl, jobid, ...) log_msg((lvl), "job", (jobid), __VA_ARGS__)
#define log_req(lvl, reqid, ...) log_msg((lvl), "req", (reqid), __VA_ARGS__)
#define log_debug(...)		 log_msg(LOG_LVL_DEBUG, NULL, NULL, __VA_ARGS__)
#define log_info(...)		 log_msg(LOG_LVL_INFO, NULL, NULL, __VA_ARGS__)
#define log_warn(...)		 log_msg(LOG_LVL_WARN, NULL, NULL, __VA_ARGS__)
#define log_error(...)		 log_msg(LOG_LVL_ERROR, NULL, NULL, __VA_ARGS__)

#endif
