/*
 * worker/slots.c's wake-up times (slots_claim_at, slots_claim_due):
 * rounded up to the grain so a burst shares one, never early, a peek
 * that clears nothing, a due claim that clears only the times come due,
 * and a full list that keeps the earliest times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "slots.h"

static struct cfg cfg; /* no prefetch, no type caps: not used here */

static void
open_slots(struct slots *q)
{
	bool runs[JOB_TYPE_MAX] = {false};

	assert_int_equal(slots_init(q, &cfg, 2, runs), SJ_OK);
}

/* Whether q's list holds at (under no contention: one thread). */
static bool
holds(const struct slots *q, int64_t at)
{
	for (size_t i = 0; i < q->n_claim_at; i++)
		if (q->claim_at[i] == at)
			return true;
	return false;
}

static void
test_grain_and_due(void **state)
{
	struct slots q;
	char b[64];

	(void)state;
	open_slots(&q);
	assert_int_equal(slots_claim_due(&q, INT64_MIN), 0); /* none */
	/* a burst within one grain: one wake-up, at or after each time */
	slots_claim_at(&q, 1001);
	slots_claim_at(&q, 1005);
	slots_claim_at(&q, 1010);
	assert_int_equal(q.n_claim_at, 1);
	assert_true(holds(&q, 1010));
	/* main is woken to recompute its wait */
	assert_true(read(q.wake_rd, b, sizeof(b)) > 0);
	slots_claim_at(&q, 1011); /* the next grain: never early */
	slots_claim_at(&q, 2000);
	assert_int_equal(q.n_claim_at, 3);
	assert_true(holds(&q, 1020) && holds(&q, 2000));
	/* the peek: the earliest, nothing cleared */
	assert_int_equal(slots_claim_due(&q, INT64_MIN), 1010);
	assert_int_equal(q.n_claim_at, 3);
	/* not yet due: the earliest, nothing cleared */
	assert_int_equal(slots_claim_due(&q, 1009), 1010);
	assert_int_equal(q.n_claim_at, 3);
	/* due: the times come due are cleared, the later one stays */
	assert_int_equal(slots_claim_due(&q, 1500), 1010);
	assert_int_equal(q.n_claim_at, 1);
	assert_int_equal(slots_claim_due(&q, INT64_MIN), 2000);
	assert_int_equal(slots_claim_due(&q, 2000), 2000);
	assert_int_equal(q.n_claim_at, 0);
	assert_int_equal(slots_claim_due(&q, INT64_MIN), 0);
	slots_free(&q);
}

static void
test_full_keeps_earliest(void **state)
{
	struct slots q;
	int64_t last = 10000 + (SLOTS_CLAIM_AT_MAX - 1) * 100;

	(void)state;
	open_slots(&q);
	for (int i = 0; i < SLOTS_CLAIM_AT_MAX; i++)
		slots_claim_at(&q, 10000 + (int64_t)i * 100);
	assert_int_equal(q.n_claim_at, SLOTS_CLAIM_AT_MAX);
	/* an earlier time takes the latest's place */
	slots_claim_at(&q, 5000);
	assert_int_equal(q.n_claim_at, SLOTS_CLAIM_AT_MAX);
	assert_true(holds(&q, 5000));
	assert_false(holds(&q, last));
	assert_true(holds(&q, last - 100));
	/* a later one is left to the poll tick */
	slots_claim_at(&q, 99990);
	assert_false(holds(&q, 99990));
	/* a time already booked costs no entry */
	slots_claim_at(&q, 9995);
	assert_true(holds(&q, 5000) && !holds(&q, 9995));
	assert_true(holds(&q, last - 100) && holds(&q, 10000));
	assert_int_equal(slots_claim_due(&q, 10000), 5000);
	assert_int_equal(q.n_claim_at, SLOTS_CLAIM_AT_MAX - 2);
	slots_free(&q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grain_and_due),
	    cmocka_unit_test(test_full_keeps_earliest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
