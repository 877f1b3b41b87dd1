/*
 * logfmt lines on stderr.  A line is formatted into a stack buffer and
 * written with one write(2) so concurrent writers never interleave; a
 * message longer than the buffer is cut, never split across lines.
 * Newlines, quotes and control bytes in the message are escaped, so a
 * hostile value cannot forge a log line.
 *
 * When stderr is the journal (systemd sets JOURNAL_STREAM to the
 * device:inode of the stream it connected, which a later redirection no
 * longer matches), each line starts with its syslog priority, <3> error
 * to <7> debug, so `journalctl -p err` finds the errors; the logfmt
 * fields after it are unchanged.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_prog = "storyjobs";
static enum log_level log_min = LOG_LVL_INFO;
static const char *const log_names[LOG_LVL_MAX] = {"debug", "info", "warn",
						   "error"};
/* syslog priorities: LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR */
static const char *const log_prios[LOG_LVL_MAX] = {"<7>", "<6>", "<4>", "<3>"};
static bool log_journal;

/* Whether JOURNAL_STREAM names the device and inode of stderr. */
static bool
stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	if (v == NULL || fstat(STDERR_FILENO, &st) != 0)
		return false;
	errno = 0;
	dev = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != ':')
		return false;
	v = end + 1;
	ino = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0')
		return false;
	return dev == (unsigned long long)st.st_dev &&
	       ino == (unsigned long long)st.st_ino;
}

void
log_init(const char *prog, enum log_level min)
{
	log_prog = prog;
	log_min = min;
	log_journal = stderr_is_journal();
}

int
log_level_parse(const char *s)
{
	for (int i = 0; i < LOG_LVL_MAX; i++)
		if (strcasecmp(s, log_names[i]) == 0)
			return i;
	return -1;
}

/* Appends src escaped for a quoted logfmt value; returns the new length. */
static size_t
log_escape(char *dst, size_t len, size_t cap, const char *src)
{
	static const char hex[] = "0123456789abcdef";

	for (; *src != '\0' && len + 4 < cap; src++) {
		unsigned char ch = (unsigned char)*src;

		if (ch == '"' || ch == '\\') {
			dst[len++] = '\\';
			dst[len++] = (char)ch;
		} else if (ch == '\n') {
			dst[len++] = '\\';
			dst[len++] = 'n';
		} else if (ch < 0x20 || ch == 0x7f) {
			dst[len++] = '\\';
			dst[len++] = 'x';
			dst[len++] = hex[ch >> 4];
			dst[len++] = hex[ch & 0xf];
		} else
			dst[len++] = (char)ch;
	}
	return len;
}

/* Appends ` key="escaped val"` when it fits; returns the new length. */
static size_t
log_quoted(char *line, size_t len, size_t cap, const char *key, const char *val)
{
	size_t klen = strlen(key);

	if (len + klen + 6 >= cap)
		return len;
	line[len++] = ' ';
	memcpy(line + len, key, klen);
	len += klen;
	line[len++] = '=';
	line[len++] = '"';
	len = log_escape(line, len, cap - 1, val ? val : "");
	line[len++] = '"';
	return len;
}

/*
 * The line's head (priority, ts, prog, pid, level, the object) into line;
 * returns its length.
 */
static size_t
log_head(char *line, size_t cap, enum log_level lvl, const char *key,
	 const char *id)
{
	char ts[32];
	struct timeval tv;
	struct tm tm;
	size_t len;
	int n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, cap, "%sts=%s.%03dZ prog=%s pid=%ld level=%s",
		     log_journal ? log_prios[lvl] : "", ts,
		     (int)(tv.tv_usec / 1000), log_prog, (long)getpid(),
		     log_names[lvl]);
	len = n < 0 ? 0 : (size_t)n;
	if (len >= cap)
		return cap - 1;
	if (key != NULL && id != NULL)
		len = log_quoted(line, len, cap, key, id);
	return len;
}

/* Ends the line with a newline and writes it at once. */
static void
log_write(char *line, size_t len, size_t cap)
{
	if (len >= cap)
		len = cap - 1;
	line[len++] = '\n';
	(void)!write(STDERR_FILENO, line, len);
}

void
log_fields(enum log_level lvl, const char *key, const char *id, const char *msg,
	   const struct log_field *f, size_t n)
{
	char line[2048];
	size_t len;
	int saved = errno;

	if (lvl < log_min || (unsigned)lvl >= LOG_LVL_MAX)
		return;
	len = log_head(line, sizeof(line), lvl, key, id);
	len = log_quoted(line, len, sizeof(line), "msg", msg);
	for (size_t i = 0; i < n; i++) {
		if (f[i].kind == LOG_F_STR) {
			len = log_quoted(line, len, sizeof(line), f[i].key,
					 f[i].s);
		} else if (len < sizeof(line)) {
			int w = snprintf(line + len, sizeof(line) - len,
					 " %s=%lld", f[i].key, f[i].i);

			if (w > 0 && (size_t)w < sizeof(line) - len)
				len += (size_t)w;
		}
	}
	log_write(line, len, sizeof(line));
	errno = saved;
}

void
log_msg(enum log_level lvl, const char *key, const char *id, const char *fmt,
	...)
{
	char line[2048], msg[1536];
	size_t len;
	va_list ap;
	int saved = errno;

	if (lvl < log_min || (unsigned)lvl >= LOG_LVL_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	len = log_head(line, sizeof(line), lvl, key, id);
	len = log_quoted(line, len, sizeof(line), "msg", msg);
	log_write(line, len, sizeof(line));
	errno = saved;
}
