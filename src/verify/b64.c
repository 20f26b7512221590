#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Character values, 64 for characters outside the alphabet. */
static const uint8_t url_values[256] = {
#define X 64
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, 62, X, X,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, X, X, X,
	X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, 63,
	X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
};
static const uint8_t std_values[256] = {
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, 62, X, X, X, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, X, X, X,
	X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, X,
	X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
#undef X
};

size_t
av_b64url_span(const char *in, size_t len)
{
	size_t i = 0;

	while (i < len && url_values[(unsigned char)in[i]] < 64)
		i++;
	return i;
}

/* Decode len characters without padding; the unused low bits must be zero. */
static int
b64_decode(const char *in, size_t len, const uint8_t *values, uint8_t **out,
    size_t *outlen)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	const unsigned char *p = (const unsigned char *)in;
	uint8_t *buf = NULL, *o;
	size_t i, rest;
	uint32_t v;

	*out = NULL;
	*outlen = 0;
	if ((in == NULL && len != 0) || len % 4 == 1) {
		r = ANCHOR_VERIFY_MALFORMED;
		goto out;
	}
	if ((buf = malloc(len / 4 * 3 + 3)) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	o = buf;
	/* four characters, 24 bits, at a time: a value of 64 sets bit 6 */
	for (i = 0; i + 4 <= len; i += 4) {
		uint32_t a = values[p[i]], b = values[p[i + 1]],
		    c = values[p[i + 2]], d = values[p[i + 3]];

		if ((a | b | c | d) & 64) {
			r = ANCHOR_VERIFY_MALFORMED;
			goto out;
		}
		v = a << 18 | b << 12 | c << 6 | d;
		*o++ = (uint8_t)(v >> 16);
		*o++ = (uint8_t)(v >> 8);
		*o++ = (uint8_t)v;
	}
	rest = len - i;
	if (rest > 0) {
		/* 2 characters: 1 byte, 4 zero bits; 3: 2 bytes, 2 zero bits */
		uint32_t a = values[p[i]], b = values[p[i + 1]],
		    c = rest == 3 ? values[p[i + 2]] : 0;

		if ((a | b | c) & 64) {
			r = ANCHOR_VERIFY_MALFORMED;
			goto out;
		}
		v = a << 18 | b << 12 | c << 6;
		if ((rest == 2 && (v & 0xffff) != 0) ||
		    (rest == 3 && (v & 0xff) != 0)) {
			r = ANCHOR_VERIFY_MALFORMED;
			goto out;
		}
		*o++ = (uint8_t)(v >> 16);
		if (rest == 3)
			*o++ = (uint8_t)(v >> 8);
	}
	*out = buf;
	*outlen = (size_t)(o - buf);
	buf = NULL;
	r = ANCHOR_VERIFY_OK;
 out:
	free(buf);
	return r;
}

int
av_b64url_decode(const char *in, size_t len, uint8_t **out, size_t *outlen)
{
	return b64_decode(in, len, url_values, out, outlen);
}

int
av_b64std_decode(const char *in, size_t len, uint8_t **out, size_t *outlen)
{
	size_t pad = 0;

	*out = NULL;
	*outlen = 0;
	if (in == NULL || len % 4 != 0)
		return ANCHOR_VERIFY_MALFORMED;
	while (pad < 2 && len > pad && in[len - 1 - pad] == '=')
		pad++;
	/* anything else after the padding is caught as a bad character */
	return b64_decode(in, len - pad, std_values, out, outlen);
}

int
av_b64url_encode(const uint8_t *in, size_t len, char **out)
{
	char *s, *p;
	size_t i;

	*out = NULL;
	if (len > (SIZE_MAX - 4) / 4 * 3)
		return ANCHOR_VERIFY_E_NOMEM;
	if ((s = malloc(len / 3 * 4 + 4)) == NULL)
		return ANCHOR_VERIFY_E_NOMEM;
	p = s;
	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];

		*p++ = url_alphabet[v >> 18 & 63];
		*p++ = url_alphabet[v >> 12 & 63];
		*p++ = url_alphabet[v >> 6 & 63];
		*p++ = url_alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		*p++ = url_alphabet[v >> 18 & 63];
		*p++ = url_alphabet[v >> 12 & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		*p++ = url_alphabet[v >> 18 & 63];
		*p++ = url_alphabet[v >> 12 & 63];
		*p++ = url_alphabet[v >> 6 & 63];
	}
	*p = '\0';
	*out = s;
	return ANCHOR_VERIFY_OK;
}
