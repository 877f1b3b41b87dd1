/* test_abuse, jobs part: no cases yet (filled in by the change adding them). */
#include "abuse.h"

const struct abuse_part abuse_jobs = {"abuse_jobs", NULL, 0};
