#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

int
anchor_read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
	int r = ANCHOR_E_INTERNAL;
	int fd = -1;
	uint8_t *buf = NULL;
	size_t have = 0, cap = 0;

	*out = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		r = errno == ENOENT ? ANCHOR_E_NOT_FOUND : ANCHOR_E_IO;
		goto out;
	}
	for (;;) {
		ssize_t got;

		if (cap - have < 4096) {
			uint8_t *nbuf;

			cap = cap ? cap * 2 : 8192;
			if ((nbuf = realloc(buf, cap + 1)) == NULL) {
				r = ANCHOR_E_NOMEM;
				goto out;
			}
			buf = nbuf;
		}
		got = read(fd, buf + have, cap - have);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			r = ANCHOR_E_IO;
			goto out;
		}
		if (got == 0)
			break;
		have += (size_t)got;
		if (have > max) {
			r = ANCHOR_E_INVAL;
			goto out;
		}
	}
	if (buf == NULL && (buf = malloc(1)) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	buf[have] = '\0';
	*out = buf;
	*len = have;
	buf = NULL;
	r = ANCHOR_OK;
 out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}

static int
fsync_dir(const char *path)
{
	char *copy = NULL;
	int fd = -1, r = ANCHOR_E_IO;

	if ((copy = strdup(path)) == NULL)
		return ANCHOR_E_NOMEM;
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		goto out;
	if (fsync(fd) != 0)
		goto out;
	r = ANCHOR_OK;
 out:
	if (fd >= 0)
		close(fd);
	free(copy);
	return r;
}

int
anchor_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	int r = ANCHOR_E_IO;
	int fd = -1;
	char tmp[PATH_MAX];
	const uint8_t *p = data;
	int n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return ANCHOR_E_INVAL;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0)
		goto out;
	if (fchmod(fd, mode) != 0)
		goto out;
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out;
	r = fsync_dir(path);
 out:
	if (fd >= 0)
		close(fd);
	if (r != ANCHOR_OK)
		unlink(tmp);
	return r;
}

void
anchor_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
anchor_unhex(const char *in, uint8_t *out, size_t outlen)
{
	size_t i;

	if (strlen(in) != 2 * outlen)
		return ANCHOR_E_INVAL;
	for (i = 0; i < outlen; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return ANCHOR_E_INVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return ANCHOR_OK;
}

int64_t
anchor_now(void)
{
	return (int64_t)time(NULL);
}

int
anchor_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return ANCHOR_E_INVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return ANCHOR_E_INVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return ANCHOR_E_INVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return ANCHOR_OK;
}
