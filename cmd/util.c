/* cmd/util.c - small helpers shared by the sub-commands. */
#include <errno.h>
#include <unistd.h>

#include "cmd/cmd.h"

int lk__cmd_write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -errno;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}
