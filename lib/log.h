/*
 * One-line structured logs on standard error, in logfmt:
 *   ts=2026-11-24T19:58:01.123Z prog=storyjobs-worker pid=42 level=info
 *   job="job_1764014281123_x9f..." msg="claimed" type="cartoonize" attempt=1
 * Each line is written with a single write(2), so lines from threads and
 * processes sharing the descriptor never interleave.  The object a line is
 * about (a job id, a request id, a worker id) comes right before msg; the
 * data a parser needs (counts, durations, codes, names) comes after it as
 * fields of their own (log_kv), never inside msg's text.
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

/*
 * A field after msg: a string (always quoted, escaped like msg; NULL is
 * written as "") or an integer (bare).  Keys are the caller's constants.
 */
enum log_field_kind { LOG_F_STR, LOG_F_INT };
struct log_field {
	const char *key;
	enum log_field_kind kind;
	const char *s;
	long long i;
};
#define LOG_STR(k, v)                                                          \
	((struct log_field){.key = (k), .kind = LOG_F_STR, .s = (v)})
#define LOG_INT(k, v)                                                          \
	((struct log_field){.key = (k), .kind = LOG_F_INT, .i = (long long)(v)})

/* A line whose msg is the constant msg, followed by the n fields of f. */
void log_fields(enum log_level lvl, const char *key, const char *id,
		const char *msg, const struct log_field *f, size_t n);
/* log_fields with the fields listed: log_kv(lvl, "job", id, "claimed",
 * LOG_STR("type", t), LOG_INT("attempt", a)). */
#define log_kv(lvl, key, id, msg, ...)                                         \
	log_fields((lvl), (key), (id), (msg),                                  \
		   (const struct log_field[]){__VA_ARGS__},                    \
		   sizeof((const struct log_field[]){__VA_ARGS__}) /           \
		       sizeof(struct log_field))

#define log_job(lvl, jobid, ...) log_msg((lvl), "job", (jobid), __VA_ARGS__)
#define log_req(lvl, reqid, ...) log_msg((lvl), "req", (reqid), __VA_ARGS__)
#define log_debug(...)		 log_msg(LOG_LVL_DEBUG, NULL, NULL, __VA_ARGS__)
#define log_info(...)		 log_msg(LOG_LVL_INFO, NULL, NULL, __VA_ARGS__)
#define log_warn(...)		 log_msg(LOG_LVL_WARN, NULL, NULL, __VA_ARGS__)
#define log_error(...)		 log_msg(LOG_LVL_ERROR, NULL, NULL, __VA_ARGS__)

#endif
