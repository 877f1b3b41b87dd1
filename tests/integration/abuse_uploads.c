/* test_abuse, uploads part: no cases yet (filled in by the change adding them).
 */
#include "abuse.h"

const struct abuse_part abuse_uploads = {"abuse_uploads", NULL, 0};
