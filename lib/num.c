#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "num.h"

enum sj_err
num_u64_digits(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return SJ_EINVAL;
	for (; *s != '\0'; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return SJ_EINVAL;
		d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return SJ_EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return SJ_OK;
}

enum sj_err
num_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	uint64_t mag, lim;
	bool neg = false;
	enum sj_err e;

	if (s == NULL)
		return SJ_EINVAL;
	if (*s == '-') {
		neg = true;
		s++;
	}
	/* magnitude limit: |INT64_MIN| = INT64_MAX + 1 */
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if ((e = num_u64_digits(s, lim, &mag)) != SJ_OK)
		return e;
	if (neg) {
		int64_t v =
		    mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
		if (v < min)
			return SJ_EINVAL;
		*out = v;
	} else {
		if ((int64_t)mag > max)
			return SJ_EINVAL;
		*out = (int64_t)mag;
	}
	if (*out < min || *out > max)
		return SJ_EINVAL;
	return SJ_OK;
}

enum sj_err
num_double(const char *s, double *out)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0')
		return SJ_EINVAL;
	/* strtod accepts hex, inf and nan spellings: allow only decimals */
	for (const char *p = s; *p != '\0'; p++)
		if (strchr("0123456789.-+eE", *p) == NULL)
			return SJ_EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || end == s || !isfinite(v))
		return SJ_EINVAL;
	*out = v;
	return SJ_OK;
}

enum sj_err
num_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};

	if (s == NULL)
		return SJ_EINVAL;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return SJ_OK;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return SJ_OK;
		}
	}
	return SJ_EINVAL;
}

int64_t
num_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
num_sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}
