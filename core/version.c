/* core/version.c - the build's version strings, for code outside cmd/. */
#include "core/version.h"

const char *lk_version(void)
{
	return LK_VERSION;
}

const char *lk_git_commit(void)
{
	return LK_GIT_COMMIT;
}
