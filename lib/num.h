/*
 * Bounded number parsing.  The whole string must be the number: no
 * leading spaces, no trailing bytes, no empty string.  Out-of-range
 * values are SJ_EINVAL, never clamped.  Also the one clock deadlines and
 * durations are measured with.
 */
#ifndef SJ_NUM_H
#define SJ_NUM_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* Optional leading '-', then decimal digits. */
enum sj_err num_i64(const char *s, int64_t min, int64_t max,
		    int64_t *out) SJ_WUR;
/* Decimal digits only (no sign): for Content-Length and the like. */
enum sj_err num_u64_digits(const char *s, uint64_t max, uint64_t *out) SJ_WUR;
/* A finite decimal number, e.g. "0.5" or "-3". */
enum sj_err num_double(const char *s, double *out) SJ_WUR;
/* 1/0, true/false, yes/no, on/off (case-insensitive). */
enum sj_err num_bool(const char *s, bool *out) SJ_WUR;

/* Milliseconds of CLOCK_MONOTONIC (never jumps with the wall clock). */
int64_t num_mono_ms(void);
/* Sleeps ms milliseconds (nothing for ms <= 0), resumed after a signal. */
void num_sleep_ms(int64_t ms);

#endif
