/* test_abuse, auth part: no cases yet (filled in by the change adding them). */
#include "abuse.h"

const struct abuse_part abuse_auth = {"abuse_auth", NULL, 0};
