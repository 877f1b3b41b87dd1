/* test_abuse: runs every part of abuse.h against the stack of run.sh. */
#include "abuse.h"
#include "itest.h"

int
main(void)
{
	const struct abuse_part *const parts[] = {&abuse_auth, &abuse_jobs,
						  &abuse_uploads};
	int rc = 0;

	itest_init();
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (parts[i]->n > 0)
			rc |= _cmocka_run_group_tests(parts[i]->name,
						      parts[i]->tests,
						      parts[i]->n, NULL, NULL);
	itest_done();
	return rc;
}
