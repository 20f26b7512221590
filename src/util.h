/*
 * Small helpers shared by every part: files, hex, time.
 */
#ifndef ANCHOR_UTIL_H
#define ANCHOR_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ANCHOR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Read a whole file of at most max bytes.  *out is malloc'd with a NUL
 * byte after the data (not counted in *len); free() it.  A larger file
 * gives ANCHOR_E_INVAL, a missing one ANCHOR_E_NOT_FOUND.
 */
int anchor_read_file(const char *path, size_t max, uint8_t **out, size_t *len);

/*
 * Replace path atomically: write a temporary file in the same directory,
 * fsync it, rename it over path, fsync the directory.
 */
int anchor_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Lowercase hex of len bytes into out (2 * len + 1 bytes). */
void anchor_hex(const uint8_t *in, size_t len, char *out);
/* Parse exactly 2 * outlen hex digits. */
int anchor_unhex(const char *in, uint8_t *out, size_t outlen);

/* The current time, UNIX seconds. */
int64_t anchor_now(void);

/* Parse a non-negative decimal integer (UNIX seconds, counts); no sign, no junk. */
int anchor_parse_u64(const char *s, uint64_t *out);

#endif /* ANCHOR_UTIL_H */
