/*
 * DESIGN: the fake's requests-per-minute limits, as OpenAI answers them.
 *
 * A path scripted with "rpm" (POST /_script {"path":..., "rpm": N}; 0
 * turns it off, /_reset too) admits at most N calls in any 60 s, a
 * sliding window over the arrival times of the calls it admitted (a
 * refused call does not count).  An admitted call's answer carries
 * x-ratelimit-limit-requests, -remaining-requests and -reset-requests
 * (when the oldest call in the window leaves it, "1m0s"/"12s"/"340ms");
 * a refused one gets 429 with the API's envelope (type "requests", code
 * "rate_limit_exceeded", the message naming the limit), Retry-After in
 * whole seconds and retry-after-ms.  Its own mutex: the window is never
 * held across an answer.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "fake.h"

#define RPM_MAX 10000

struct window {
	unsigned rpm;
	int64_t at[RPM_MAX]; /* ring of admitted arrival times, ms */
	size_t head, len;
};

static pthread_mutex_t lmu = PTHREAD_MUTEX_INITIALIZER;
static struct window windows[SLOT_MAX];

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum sj_err
limits_set(enum slot s, int64_t rpm)
{
	if ((unsigned)s >= SLOT_MAX || rpm < 0 || rpm > RPM_MAX)
		return SJ_EINVAL;
	pthread_mutex_lock(&lmu);
	memset(&windows[s], 0, sizeof(windows[s]));
	windows[s].rpm = (unsigned)rpm;
	pthread_mutex_unlock(&lmu);
	return SJ_OK;
}

void
limits_reset(void)
{
	pthread_mutex_lock(&lmu);
	memset(windows, 0, sizeof(windows));
	pthread_mutex_unlock(&lmu);
}

/* OpenAI's duration text: "340ms", "12s", "1m0s". */
static void
duration(int64_t ms, char out[32])
{
	long long sec = (long long)(ms + 999) / 1000;

	if (ms < 1000)
		snprintf(out, 32, "%lldms", (long long)ms);
	else if (sec < 60)
		snprintf(out, 32, "%llds", sec);
	else
		snprintf(out, 32, "%lldm%llds", sec / 60, sec % 60);
}

bool
limits_admit(enum slot s, const char *model, struct reply *rep, char *hdr,
	     size_t hsz)
{
	struct window *w;
	int64_t now = mono_ms(), reset = 0;
	unsigned rpm, used;
	bool ok;
	char d[32], msg[512];

	hdr[0] = '\0';
	if ((unsigned)s >= SLOT_MAX)
		return true;
	pthread_mutex_lock(&lmu);
	w = &windows[s];
	while (w->len > 0 && now - w->at[w->head] >= 60000) {
		w->head = (w->head + 1) % RPM_MAX;
		w->len--;
	}
	rpm = w->rpm;
	ok = rpm == 0 || w->len < rpm;
	if (rpm > 0 && ok) {
		w->at[(w->head + w->len) % RPM_MAX] = now;
		w->len++;
	}
	used = (unsigned)w->len;
	if (rpm > 0)
		reset = w->at[w->head] + 60000 - now;
	pthread_mutex_unlock(&lmu);
	if (rpm == 0)
		return true;
	duration(reset, d);
	snprintf(hdr, hsz,
		 "x-ratelimit-limit-requests: %u\r\n"
		 "x-ratelimit-remaining-requests: %u\r\n"
		 "x-ratelimit-reset-requests: %s\r\n",
		 rpm, rpm - used, d);
	if (ok)
		return true;
	snprintf(msg, sizeof(msg),
		 "Rate limit reached for %s in organization org-fake on "
		 "requests per min (RPM): Limit %u, Used %u, Requested 1. "
		 "Please try again in %s. Visit "
		 "https://platform.openai.com/account/rate-limits to learn "
		 "more.",
		 *model ? model : "default", rpm, used, d);
	reply_api_error(rep, 429, "requests", NULL, "rate_limit_exceeded", msg);
	snprintf(rep->extra, sizeof(rep->extra),
		 "%sretry-after: %lld\r\nretry-after-ms: %lld\r\n", hdr,
		 (long long)(reset + 999) / 1000, (long long)reset);
	return false;
}
