#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
b64_value(unsigned char c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* Decode len characters without padding; the unused low bits must be zero. */
static int
b64_decode(const char *in, size_t len, int url, uint8_t **out, size_t *outlen)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	uint8_t *buf = NULL;
	size_t i, o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

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
	for (i = 0; i < len; i++) {
		int v = b64_value((unsigned char)in[i], url);

		if (v < 0) {
			r = ANCHOR_VERIFY_MALFORMED;
			goto out;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) {
		r = ANCHOR_VERIFY_MALFORMED;
		goto out;
	}
	*out = buf;
	*outlen = o;
	buf = NULL;
	r = ANCHOR_VERIFY_OK;
 out:
	free(buf);
	return r;
}

int
av_b64url_decode(const char *in, size_t len, uint8_t **out, size_t *outlen)
{
	return b64_decode(in, len, 1, out, outlen);
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
	return b64_decode(in, len - pad, 0, out, outlen);
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
