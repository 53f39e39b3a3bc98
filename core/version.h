/* core/version.h - the agent's version (CMake's project version) and the
 * commit it was built from. */
#ifndef LK_CORE_VERSION_H
#define LK_CORE_VERSION_H

const char *lk_version(void);
const char *lk_git_commit(void);

#endif /* LK_CORE_VERSION_H */
