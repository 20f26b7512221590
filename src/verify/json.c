#include "config.h"

#include <string.h>

#include "internal.h"

int
av_json_parse(const uint8_t *buf, size_t len, const char *what, json_t **out,
    struct anchor_verify_diag *d)
{
	json_error_t err;
	json_t *v;

	*out = NULL;
	if (buf == NULL)
		return ANCHOR_VERIFY_E_INVAL;
	/* jansson stops reading at a NUL byte; JSON text never holds one */
	if (memchr(buf, '\0', len) != NULL)
		return av_fail(d, ANCHOR_VERIFY_MALFORMED,
		    "malformed: %s: a NUL byte in the JSON text", what);
	/*
	 * JSON_ALLOW_NUL: "\u0000" is valid JSON; readers go through av_str(),
	 * which refuses it where a string is used.
	 */
	v = json_loadb((const char *)buf, len,
	    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	if (v == NULL) {
		switch (json_error_code(&err)) {
		case json_error_duplicate_key:
			return av_fail(d, ANCHOR_VERIFY_R2_DUPLICATE,
			    "R2 duplicate member: %s: %.100s", what, err.text);
		case json_error_out_of_memory:
			return ANCHOR_VERIFY_E_NOMEM;
		default:
			return av_fail(d, ANCHOR_VERIFY_MALFORMED,
			    "malformed: %s: %.100s at byte %d", what, err.text,
			    err.position);
		}
	}
	if (av_json_depth(v, ANCHOR_VERIFY_MAX_DEPTH) > ANCHOR_VERIFY_MAX_DEPTH) {
		json_decref(v);
		return av_fail(d, ANCHOR_VERIFY_MALFORMED,
		    "malformed: %s: nested deeper than %d levels", what,
		    ANCHOR_VERIFY_MAX_DEPTH);
	}
	*out = v;
	return ANCHOR_VERIFY_OK;
}

size_t
av_json_depth(const json_t *v, size_t limit)
{
	size_t max = 0, i, dd;
	const char *key;
	json_t *e;

	if (!json_is_array(v) && !json_is_object(v))
		return 0;
	if (limit == 0)
		return 1;		/* already one level too deep */
	if (json_is_array(v)) {
		json_array_foreach(v, i, e) {
			if ((dd = av_json_depth(e, limit - 1)) > max)
				max = dd;
			if (max > limit - 1)
				break;
		}
	} else {
		json_object_foreach((json_t *)v, key, e) {
			if ((dd = av_json_depth(e, limit - 1)) > max)
				max = dd;
			if (max > limit - 1)
				break;
		}
	}
	return 1 + max;
}

const char *
av_str(const json_t *v, size_t *len)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	n = json_string_length(v);
	if (memchr(s, '\0', n) != NULL)
		return NULL;
	if (len != NULL)
		*len = n;
	return s;
}

int
av_str_eq(const json_t *v, const char *lit)
{
	size_t n;
	const char *s = av_str(v, &n);

	return s != NULL && n == strlen(lit) && memcmp(s, lit, n) == 0;
}

int
av_int(const json_t *v, int64_t *out)
{
	if (!json_is_integer(v))
		return 0;
	*out = (int64_t)json_integer_value(v);
	return 1;
}

int
av_members_exact(const json_t *obj, const char *const *names, size_t n)
{
	size_t i;

	if (!json_is_object(obj) || json_object_size(obj) != n)
		return 0;
	/* no duplicates (R2), so n distinct present names are all of them */
	for (i = 0; i < n; i++)
		if (json_object_get(obj, names[i]) == NULL)
			return 0;
	return 1;
}
