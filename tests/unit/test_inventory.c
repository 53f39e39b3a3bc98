/* tests/unit/test_inventory.c - the inventory's event allowlist (spec
 * docker-drydock-edge 2.2, with DESIGN.md decision 4: Docker's
 * "health_status: healthy" form is matched by its prefix). The inventory's
 * behaviour against a real dockerd is in tests/integration/test_53_drydock.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "adapters/inventory.h"

static void test_allowlist(void **state)
{
	static const char *const yes[] = {
		"create", "start", "stop", "die", "kill", "restart", "pause", "unpause", "destroy",
		"rename", "update", "oom", "health_status", "health_status: healthy",
		"health_status: unhealthy",
	};
	static const char *const no[] = {
		"", "attach", "exec_start: sh", "exec_create", "commit", "top", "resize",
		"Start", "health_status healthy", "health_statu", "create ", "export",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(lk__inv_action_allowed(yes[i]));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(lk__inv_action_allowed(no[i]));
	assert_false(lk__inv_action_allowed(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowlist),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
