/*
 * The noop handler: the benchmarks' job type.
 */
#include "steps.h"

/*
 * The benchmarks' job: no work, so what is measured is the queue itself
 * (claim, hand-over, the fenced completion).  Offered to the claim only
 * with BENCH_NOOP_JOBS=true.
 */
void
steps_noop(struct step_ctx *c)
{
	struct json_object *empty = json_object_new_object();

	if (empty == NULL) {
		step_fail_err(c, SJ_ENOMEM, "Building the result failed");
		return;
	}
	step_complete(c, empty, "Done");
	json_object_put(empty);
}
