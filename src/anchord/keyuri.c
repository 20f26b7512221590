/*
 * RFC 7512 URIs naming the https_web key.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "keyuri.h"

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

/* Percent-decode p[0..n) into out (at most max bytes); false if malformed. */
static bool
decode(const char *p, size_t n, uint8_t *out, size_t max, size_t *len)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (o == max)
			return false;
		if (p[i] != '%') {
			out[o++] = (uint8_t)p[i];
			continue;
		}
		if (i + 2 >= n || (hi = hexval(p[i + 1])) < 0 ||
		    (lo = hexval(p[i + 2])) < 0)
			return false;
		out[o++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	*len = o;
	return true;
}

/* A decoded text value: no NUL byte, at most 255 bytes. */
static bool
decode_str(const char *p, size_t n, char **out)
{
	uint8_t buf[256];
	size_t len = 0;
	char *s;

	if (!decode(p, n, buf, sizeof(buf) - 1, &len) ||
	    memchr(buf, '\0', len) != NULL || len == 0)
		return false;
	if ((s = malloc(len + 1)) == NULL)
		return false;
	memcpy(s, buf, len);
	s[len] = '\0';
	*out = s;
	return true;
}

void
anchord_key_uri_clear(struct anchord_key_uri *u)
{
	if (u == NULL)
		return;
	free(u->token);
	free(u->serial);
	free(u->object);
	memset(u, 0, sizeof(*u));
}

int
anchord_key_uri_parse(const char *uri, struct anchord_key_uri *out,
    char *err, size_t errlen)
{
	const char *p, *eq, *name, *val;
	size_t n, nl, vl;
	bool has_type = false;

	memset(out, 0, sizeof(*out));
	if (strncmp(uri, "pkcs11:", 7) != 0) {
		snprintf(err, errlen, "not a pkcs11: URI");
		return ANCHOR_E_CONFIG;
	}
	if (strchr(uri, '?') != NULL) {
		snprintf(err, errlen, "the key URI may not have a query part: "
		    "the module and the PIN come from the pkcs11 section");
		return ANCHOR_E_CONFIG;
	}
	for (p = uri + 7; *p != '\0'; p += n + (p[n] != '\0')) {
		n = strcspn(p, ";");
		if (n == 0)
			continue;
		name = p;
		if ((eq = memchr(p, '=', n)) == NULL) {
			snprintf(err, errlen, "attribute \"%.*s\" has no value",
			    (int)(n > 40 ? 40 : n), p);
			return ANCHOR_E_CONFIG;
		}
		nl = (size_t)(eq - p);
		val = eq + 1;
		vl = n - nl - 1;
#define IS(s) (nl == strlen(s) && strncasecmp(name, (s), nl) == 0)
		if (IS("token") || IS("serial") || IS("object")) {
			char **dst = IS("token") ? &out->token :
			    IS("serial") ? &out->serial : &out->object;

			if (*dst != NULL)
				goto repeated;
			if (!decode_str(val, vl, dst))
				goto bad_value;
		} else if (IS("id")) {
			if (out->has_id)
				goto repeated;
			if (!decode(val, vl, out->id, sizeof(out->id),
			    &out->id_len) || out->id_len == 0)
				goto bad_value;
			out->has_id = true;
		} else if (IS("type")) {
			if (has_type)
				goto repeated;
			has_type = true;
			if (vl != 7 || strncmp(val, "private", 7) != 0) {
				snprintf(err, errlen, "type=%.*s: the key URI "
				    "names a private key (type=private)",
				    (int)(vl > 20 ? 20 : vl), val);
				return ANCHOR_E_CONFIG;
			}
		} else {
			snprintf(err, errlen, "attribute \"%.*s\" is not "
			    "supported in the key URI (use token or serial, "
			    "and object or id)", (int)(nl > 40 ? 40 : nl),
			    name);
			return ANCHOR_E_CONFIG;
		}
#undef IS
	}
	if (out->object == NULL && !out->has_id) {
		snprintf(err, errlen, "the key URI names no key: give object= "
		    "(the key's label) and/or id=");
		return ANCHOR_E_CONFIG;
	}
	return ANCHOR_OK;
 repeated:
	snprintf(err, errlen, "attribute \"%.*s\" appears twice",
	    (int)(nl > 40 ? 40 : nl), name);
	return ANCHOR_E_CONFIG;
 bad_value:
	snprintf(err, errlen, "attribute \"%.*s\" has a malformed value",
	    (int)(nl > 40 ? 40 : nl), name);
	return ANCHOR_E_CONFIG;
}
