/* cmd/util.c - small helpers shared by the sub-commands. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"

int lk__cmd_flag_split(const char *arg, const char **name, size_t *name_len, const char **value)
{
	const char *n = arg + 1, *eq;

	if (*n == '-')
		n++;
	if (*n == '\0' || *n == '-' || *n == '=')
		return -1;
	eq = strchr(n, '=');
	*name = n;
	*name_len = eq != NULL ? (size_t)(eq - n) : strlen(n);
	*value = eq != NULL ? eq + 1 : NULL;
	return 0;
}

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
