#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#include "conf.h"
#include "error.h"
#include "util.h"

/*
 * Checks beyond the ones every key carries by itself (each gives
 * ANCHOR_E_CONFIG with the file, line and key):
 *  - state_dir and a file: PIN path must be absolute (daemon and CLIs run
 *    from different working directories);
 *  - pkcs11.token and a pkcs11: bundle_endpoint.key must not carry
 *    pin-value, pin-source or slot-id (select a token by label or serial);
 *  - prepublish and overlap may not exceed lifetime; lifetime,
 *    refresh_hint and signature_validity must be greater than zero;
 *  - threshold is 1 to 8 (a signed bundle carries at most 8 signatures);
 *  - signature_validity is at most 30d (the verifier's default maximum)
 *    and longer than refresh_hint;
 *  - bundle_endpoint: cert_file and key only with profile https_web and
 *    only together; endpoint_spiffe_id only with https_spiffe, and it must
 *    be a SPIFFE ID of this trust domain (its SVID is issued by our CA);
 *  - a peer: its name is a valid trust domain other than ours; the URL is
 *    http:// or https:// with a host; https_spiffe needs an https:// URL;
 *    each allow pattern lies in the peer's trust domain;
 *  - ca_subject: country entries are two letters; the other entries
 *    respect the X.520 upper bounds (64 bytes, 128 for locality and
 *    province);
 *  - a file holds one YAML document.
 * A PIN file that cannot be stat'ed for lack of permission is let through:
 * the process that reads the PIN checks it again when it opens it.
 */

#define CONF_MAX_BYTES	(1024 * 1024)
#define KEYPATH_MAX	600
#define MINUTE		INT64_C(60)
#define HOUR		(60 * MINUTE)
#define DAY		(24 * HOUR)
#define MAX_THRESHOLD	8
#define MAX_SIGNATURE_VALIDITY (30 * DAY)
#define SPIFFE_ID_MAX	2048

struct cx {
	const char *file;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
};

/* One known key of a mapping and what the file gave for it. */
struct field {
	const char *name;
	yaml_node_t *key;
	yaml_node_t *value;
};
#define F(name) { (name), NULL, NULL }

static const struct anchor_key_policy default_policy[ANCHOR_ROLE_COUNT] = {
	[ANCHOR_ROLE_X509_CA] = { ANCHOR_ALG_EC_P256, 30 * DAY, 2 * HOUR,
	    3 * HOUR, 14 * DAY, 1 },
	[ANCHOR_ROLE_JWT] = { ANCHOR_ALG_EC_P256, 7 * DAY, 2 * HOUR,
	    2 * HOUR, 14 * DAY, 1 },
	[ANCHOR_ROLE_BUNDLE_SIGNING] = { ANCHOR_ALG_EC_P256, 365 * DAY,
	    7 * DAY, 7 * DAY, 14 * DAY, 1 },
};

static const char *const role_key[ANCHOR_ROLE_COUNT] = {
	"x509_ca", "jwt", "bundle_signing",
};

static int
fail(struct cx *cx, const yaml_node_t *node, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
fail(struct cx *cx, const yaml_node_t *node, const char *path,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	unsigned long line = node ? (unsigned long)node->start_mark.line + 1 : 1;
	char *p;

	if (cx->err == NULL || cx->errlen == 0)
		return ANCHOR_E_CONFIG;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(cx->err, cx->errlen, "%s:%lu: %s: %s", cx->file, line, path,
	    msg);
	/* Keys and values come from the file: keep the message on one line. */
	for (p = cx->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return ANCHOR_E_CONFIG;
}

/* parent.key, for messages; a path too long for out is cut short. */
static void
subpath(char *out, size_t outlen, const char *parent, const char *key)
{
	int n;

	if (parent == NULL || *parent == '\0')
		n = snprintf(out, outlen, "%.255s", key);
	else
		n = snprintf(out, outlen, "%s.%.255s", parent, key);
	if (n < 0)
		out[0] = '\0';
}

static const char *
type_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a sequence";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

static const char *
scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* A plain empty, "~" or "null" value: YAML's null. */
static bool
is_null(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = scalar(n);
	return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static bool
has_nul(const yaml_node_t *n)
{
	return strlen(scalar(n)) != n->data.scalar.length;
}

static bool
has_space_or_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int
unknown_key(struct cx *cx, const yaml_node_t *k, const char *kp,
    const char *path, const struct field *fields, size_t nfields)
{
	char known[256] = "";
	size_t i, used = 0;

	for (i = 0; i < nfields && used < sizeof(known); i++) {
		int n = snprintf(known + used, sizeof(known) - used, "%s%s",
		    i ? ", " : "", fields[i].name);

		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (nfields == 0)
		return fail(cx, k, kp, "unknown key in %s (it takes no keys)",
		    path);
	return fail(cx, k, kp, "unknown key %s %s (known: %s)",
	    *path ? "in" : "at", *path ? path : "the top level", known);
}

/*
 * Match the pairs of map against fields[]; an unknown, repeated or
 * non-string key is an error.  A null value stands for an empty mapping.
 */
static int
walk_map(struct cx *cx, yaml_node_t *map, const char *path,
    struct field *fields, size_t nfields)
{
	yaml_node_pair_t *p;
	char kp[KEYPATH_MAX];
	size_t i;

	if (map == NULL || is_null(map))
		return ANCHOR_OK;
	if (map->type != YAML_MAPPING_NODE)
		return fail(cx, map, *path ? path : "(document)",
		    "expected a mapping, found %s", type_name(map));
	for (p = map->data.mapping.pairs.start;
	    p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(cx->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(cx->doc, p->value);

		if (k == NULL || v == NULL)
			return fail(cx, map, path, "malformed mapping");
		if (k->type != YAML_SCALAR_NODE || has_nul(k))
			return fail(cx, k, *path ? path : "(document)",
			    "a key must be a string, found %s", type_name(k));
		subpath(kp, sizeof(kp), path, scalar(k));
		for (i = 0; i < nfields; i++)
			if (strcmp(fields[i].name, scalar(k)) == 0)
				break;
		if (i == nfields)
			return unknown_key(cx, k, kp, path, fields, nfields);
		if (fields[i].key != NULL)
			return fail(cx, k, kp,
			    "duplicate key (first given on line %lu)",
			    (unsigned long)fields[i].key->start_mark.line + 1);
		fields[i].key = k;
		fields[i].value = v;
	}
	return ANCHOR_OK;
}

static int
get_string(struct cx *cx, const yaml_node_t *v, const char *path, char **out)
{
	if (v->type != YAML_SCALAR_NODE)
		return fail(cx, v, path, "expected a string, found %s",
		    type_name(v));
	if (is_null(v) || v->data.scalar.length == 0)
		return fail(cx, v, path, "empty value");
	if (has_nul(v))
		return fail(cx, v, path, "contains a NUL byte");
	if ((*out = strdup(scalar(v))) == NULL)
		return ANCHOR_E_NOMEM;
	return ANCHOR_OK;
}

static int
get_bool(struct cx *cx, const yaml_node_t *v, const char *path, bool *out)
{
	const char *s;

	if (v->type != YAML_SCALAR_NODE)
		return fail(cx, v, path, "expected true or false, found %s",
		    type_name(v));
	s = scalar(v);
	if (has_nul(v))
		s = "";
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 ||
	    strcmp(s, "TRUE") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 ||
	    strcmp(s, "FALSE") == 0)
		*out = false;
	else
		return fail(cx, v, path, "expected true or false, not \"%.40s\"",
		    s);
	return ANCHOR_OK;
}

static int
get_uint(struct cx *cx, const yaml_node_t *v, const char *path,
    uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t u;

	if (v->type != YAML_SCALAR_NODE)
		return fail(cx, v, path, "expected a number, found %s",
		    type_name(v));
	if (has_nul(v) || anchor_parse_u64(scalar(v), &u) != ANCHOR_OK ||
	    u < min || u > max)
		return fail(cx, v, path, "\"%.40s\" is not a number from %"
		    PRIu64 " to %" PRIu64, scalar(v), min, max);
	*out = u;
	return ANCHOR_OK;
}

static int
get_duration(struct cx *cx, const yaml_node_t *v, const char *path,
    int64_t *out)
{
	if (v->type != YAML_SCALAR_NODE)
		return fail(cx, v, path, "expected a duration, found %s",
		    type_name(v));
	if (has_nul(v) || anchor_parse_duration(scalar(v), out) != ANCHOR_OK)
		return fail(cx, v, path, "bad duration \"%.40s\": use a "
		    "non-negative integer followed by s, m, h, d or w",
		    scalar(v));
	return ANCHOR_OK;
}

/* For messages: a duration in the largest unit that divides it. */
static const char *
fmt_duration(int64_t s, char *buf, size_t len)
{
	if (s != 0 && s % (7 * DAY) == 0)
		snprintf(buf, len, "%" PRId64 "w", s / (7 * DAY));
	else if (s != 0 && s % DAY == 0)
		snprintf(buf, len, "%" PRId64 "d", s / DAY);
	else if (s != 0 && s % HOUR == 0)
		snprintf(buf, len, "%" PRId64 "h", s / HOUR);
	else if (s != 0 && s % MINUTE == 0)
		snprintf(buf, len, "%" PRId64 "m", s / MINUTE);
	else
		snprintf(buf, len, "%" PRId64 "s", s);
	return buf;
}

static void
free_list(char **l)
{
	char **p;

	if (l == NULL)
		return;
	for (p = l; *p; p++)
		free(*p);
	free(l);
}

static int
empty_list(char ***out)
{
	if (*out == NULL && (*out = calloc(1, sizeof(char *))) == NULL)
		return ANCHOR_E_NOMEM;
	return ANCHOR_OK;
}

typedef int (*item_check_fn)(struct cx *, const yaml_node_t *, const char *,
    const char *, const void *);

/* A string or a list of strings, into a NULL-terminated list. */
static int
get_string_list(struct cx *cx, const yaml_node_t *v, const char *path,
    item_check_fn check, const void *arg, char ***out, size_t *n_out)
{
	int r = ANCHOR_E_INTERNAL;
	char **list = NULL;
	size_t n = 0, cap, i;

	if (v->type == YAML_MAPPING_NODE) {
		r = fail(cx, v, path, "expected a string or a list of strings, "
		    "found a mapping");
		goto out;
	}
	cap = v->type == YAML_SEQUENCE_NODE ?
	    (size_t)(v->data.sequence.items.top - v->data.sequence.items.start) :
	    1;
	if ((list = calloc(cap + 1, sizeof(char *))) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	for (i = 0; i < cap; i++) {
		const yaml_node_t *item = v;
		char ip[KEYPATH_MAX];

		snprintf(ip, sizeof(ip), "%s", path);
		if (v->type == YAML_SEQUENCE_NODE) {
			item = yaml_document_get_node(cx->doc,
			    v->data.sequence.items.start[i]);
			if (item == NULL) {
				r = fail(cx, v, path, "malformed sequence");
				goto out;
			}
			snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
		}
		if (item->type != YAML_SCALAR_NODE) {
			r = fail(cx, item, ip, "expected a string, found %s",
			    type_name(item));
			goto out;
		}
		if ((r = get_string(cx, item, ip, &list[n])) != ANCHOR_OK)
			goto out;
		n++;
		if (check != NULL &&
		    (r = check(cx, item, ip, list[n - 1], arg)) != ANCHOR_OK)
			goto out;
	}
	free_list(*out);
	*out = list;
	list = NULL;
	if (n_out != NULL)
		*n_out = n;
	r = ANCHOR_OK;
 out:
	free_list(list);
	return r;
}

int
anchor_parse_duration(const char *s, int64_t *out)
{
	uint64_t v = 0, mult;
	const char *p;

	if (s == NULL || *s < '0' || *s > '9')
		return ANCHOR_E_INVAL;
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (v > ((uint64_t)INT64_MAX - d) / 10)
			return ANCHOR_E_INVAL;
		v = v * 10 + d;
	}
	switch (*p) {
	case '\0':
	case 's':
		mult = 1;
		break;
	case 'm':
		mult = (uint64_t)MINUTE;
		break;
	case 'h':
		mult = (uint64_t)HOUR;
		break;
	case 'd':
		mult = (uint64_t)DAY;
		break;
	case 'w':
		mult = (uint64_t)(7 * DAY);
		break;
	default:
		return ANCHOR_E_INVAL;
	}
	if (*p != '\0' && p[1] != '\0')
		return ANCHOR_E_INVAL;
	if (v > (uint64_t)INT64_MAX / mult)
		return ANCHOR_E_INVAL;
	*out = (int64_t)(v * mult);
	return ANCHOR_OK;
}

const char *
anchor_role_name(enum anchor_role role)
{
	switch (role) {
	case ANCHOR_ROLE_X509_CA:
		return "x509-ca";
	case ANCHOR_ROLE_JWT:
		return "jwt";
	case ANCHOR_ROLE_BUNDLE_SIGNING:
		return "bundle-signing";
	}
	return NULL;
}

int
anchor_role_parse(const char *s, enum anchor_role *out)
{
	int i;

	if (s == NULL)
		return ANCHOR_E_INVAL;
	for (i = 0; i < ANCHOR_ROLE_COUNT; i++) {
		if (strcmp(s, anchor_role_name((enum anchor_role)i)) == 0) {
			*out = (enum anchor_role)i;
			return ANCHOR_OK;
		}
	}
	return ANCHOR_E_INVAL;
}

const char *
anchor_alg_name(enum anchor_alg alg)
{
	switch (alg) {
	case ANCHOR_ALG_EC_P256:
		return "ec-p256";
	case ANCHOR_ALG_EC_P384:
		return "ec-p384";
	case ANCHOR_ALG_RSA_3072:
		return "rsa-3072";
	}
	return NULL;
}

static int
alg_parse(const char *s, enum anchor_alg *out)
{
	static const enum anchor_alg algs[] = {
		ANCHOR_ALG_EC_P256, ANCHOR_ALG_EC_P384, ANCHOR_ALG_RSA_3072,
	};
	size_t i;

	for (i = 0; i < ANCHOR_ARRAY_SIZE(algs); i++) {
		if (strcmp(s, anchor_alg_name(algs[i])) == 0) {
			*out = algs[i];
			return ANCHOR_OK;
		}
	}
	return ANCHOR_E_INVAL;
}

static bool
td_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
	    c == '-' || c == '_';
}

bool
anchor_trust_domain_valid(const char *td)
{
	size_t n;

	if (td == NULL)
		return false;
	n = strlen(td);
	if (n == 0 || n > 255)
		return false;
	for (; *td; td++)
		if (!td_char(*td))
			return false;
	return true;
}

/*
 * A SPIFFE ID "spiffe://TD[/SEG/...]" (SPIFFE-ID §2); with patterns, '*'
 * is allowed in path segments.  *td and *tdlen locate the trust domain.
 */
static bool
spiffe_id_valid(const char *id, bool patterns, const char **td,
    size_t *tdlen)
{
	static const char scheme[] = "spiffe://";
	const char *p, *seg;
	size_t n;

	if (strlen(id) > SPIFFE_ID_MAX ||
	    strncmp(id, scheme, sizeof(scheme) - 1) != 0)
		return false;
	p = id + sizeof(scheme) - 1;
	for (n = 0; p[n] && p[n] != '/'; n++)
		if (!td_char(p[n]))
			return false;
	if (n == 0 || n > 255)
		return false;
	*td = p;
	*tdlen = n;
	p += n;
	while (*p == '/') {
		seg = ++p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' ||
		    *p == '_' || (patterns && *p == '*'))
			p++;
		n = (size_t)(p - seg);
		if (n == 0 || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
	}
	return *p == '\0';
}

/* pkcs11: URIs may not carry a PIN and must not pick a token by slot. */
static int
check_pkcs11_uri(struct cx *cx, const yaml_node_t *v, const char *path,
    const char *uri)
{
	static const char *const refused[] = { "pin-value", "pin-source" };
	const char *p, *name;
	size_t n, i;

	if (strncmp(uri, "pkcs11:", 7) != 0)
		return fail(cx, v, path, "\"%.60s\" is not a pkcs11: URI "
		    "(RFC 7512)", uri);
	if (has_space_or_control(uri))
		return fail(cx, v, path, "the URI contains a space or a "
		    "control character");
	for (p = uri + 7; *p; p += n + (p[n] != '\0')) {
		name = p;
		n = strcspn(p, ";?&");
		for (i = 0; i < ANCHOR_ARRAY_SIZE(refused); i++) {
			size_t len = strlen(refused[i]);

			if (n >= len && strncasecmp(name, refused[i], len) == 0 &&
			    (n == len || name[len] == '='))
				return fail(cx, v, path, "%s in the URI is "
				    "refused; use pkcs11.pin_source",
				    refused[i]);
		}
		if (n >= 7 && strncasecmp(name, "slot-id", 7) == 0 &&
		    (n == 7 || name[7] == '='))
			return fail(cx, v, path, "select the token by its "
			    "label (token=) or serial, not by slot-id");
	}
	return ANCHOR_OK;
}

static int
check_pin_source(struct cx *cx, const yaml_node_t *v, const char *path,
    const char *src)
{
	const char *file;
	struct stat st;

	if (strcmp(src, "prompt") == 0 || strcmp(src, "shares") == 0)
		return ANCHOR_OK;
	if (strncmp(src, "file:", 5) != 0)
		return fail(cx, v, path, "\"%.60s\" is not a PIN source: use "
		    "file:/ABSOLUTE/PATH, prompt or shares", src);
	file = src + 5;
	if (*file != '/')
		return fail(cx, v, path, "the PIN file \"%.100s\" must be an "
		    "absolute path", file);
	if (lstat(file, &st) != 0) {
		if (errno == EACCES)
			return ANCHOR_OK;
		if (errno == ENOENT || errno == ENOTDIR)
			return fail(cx, v, path, "the PIN file %.200s does not "
			    "exist", file);
		return fail(cx, v, path, "cannot stat the PIN file %.200s: %s",
		    file, strerror(errno));
	}
	if (S_ISLNK(st.st_mode))
		return fail(cx, v, path, "the PIN file %.200s is a symbolic "
		    "link", file);
	if (!S_ISREG(st.st_mode))
		return fail(cx, v, path, "the PIN file %.200s is not a regular "
		    "file", file);
	if (st.st_mode & 077)
		return fail(cx, v, path, "the PIN file %.200s has mode %04o: "
		    "group or others may access it (chmod 600)", file,
		    (unsigned)(st.st_mode & 07777));
	return ANCHOR_OK;
}

static int
parse_pkcs11(struct cx *cx, yaml_node_t *map, const char *path,
    struct anchor_conf *c)
{
	struct field f[] = { F("module"), F("token"), F("pin_source") };
	char **dst[] = { &c->pkcs11_module, &c->pkcs11_token, &c->pin_source };
	char kp[KEYPATH_MAX];
	size_t i;
	int r;

	if ((r = walk_map(cx, map, path, f, ANCHOR_ARRAY_SIZE(f))) != ANCHOR_OK)
		return r;
	for (i = 0; i < ANCHOR_ARRAY_SIZE(f); i++) {
		subpath(kp, sizeof(kp), path, f[i].name);
		if (f[i].value == NULL)
			return fail(cx, map, kp, "required key is missing");
		if ((r = get_string(cx, f[i].value, kp, dst[i])) != ANCHOR_OK)
			return r;
	}
	subpath(kp, sizeof(kp), path, "token");
	if ((r = check_pkcs11_uri(cx, f[1].value, kp, c->pkcs11_token)) !=
	    ANCHOR_OK)
		return r;
	subpath(kp, sizeof(kp), path, "pin_source");
	return check_pin_source(cx, f[2].value, kp, c->pin_source);
}

static int
check_subject_item(struct cx *cx, const yaml_node_t *v, const char *path,
    const char *s, const void *arg)
{
	size_t max = *(const size_t *)arg;

	if (max == 2) {
		if (strlen(s) != 2 ||
		    !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')) ||
		    !((s[1] >= 'A' && s[1] <= 'Z') || (s[1] >= 'a' && s[1] <= 'z')))
			return fail(cx, v, path, "a country is a two-letter "
			    "ISO 3166 code, not \"%.40s\"", s);
		return ANCHOR_OK;
	}
	if (strlen(s) > max)
		return fail(cx, v, path, "longer than %zu bytes", max);
	return ANCHOR_OK;
}

static int
parse_subject(struct cx *cx, yaml_node_t *map, const char *path,
    struct anchor_conf *c)
{
	struct field f[] = {
		F("country"), F("organization"), F("organizational_unit"),
		F("locality"), F("province"), F("common_name"),
	};
	char ***dst[] = {
		&c->subj_country, &c->subj_organization,
		&c->subj_organizational_unit, &c->subj_locality,
		&c->subj_province, &c->subj_common_name,
	};
	static const size_t max[] = { 2, 64, 64, 128, 128, 64 };
	char kp[KEYPATH_MAX];
	size_t i;
	int r;

	if ((r = walk_map(cx, map, path, f, ANCHOR_ARRAY_SIZE(f))) != ANCHOR_OK)
		return r;
	for (i = 0; i < ANCHOR_ARRAY_SIZE(f); i++) {
		if (f[i].value == NULL)
			continue;
		subpath(kp, sizeof(kp), path, f[i].name);
		if ((r = get_string_list(cx, f[i].value, kp, check_subject_item,
		    &max[i], dst[i], NULL)) != ANCHOR_OK)
			return r;
	}
	return ANCHOR_OK;
}

/* The node to blame for a value that came from the file or a default. */
static const yaml_node_t *
blame(const struct field *f, const yaml_node_t *fallback)
{
	return f->value ? f->value : fallback;
}

static int
parse_policy(struct cx *cx, yaml_node_t *map, const char *path,
    enum anchor_role role, struct anchor_key_policy *kp)
{
	struct field f[] = {
		F("algorithm"), F("lifetime"), F("prepublish"),
		F("overlap"), F("purge"), F("threshold"),
	};
	int64_t *dur[] = { NULL, &kp->lifetime, &kp->prepublish, &kp->overlap,
	    &kp->purge };
	size_t nf = ANCHOR_ARRAY_SIZE(f);
	char p[KEYPATH_MAX], b1[32], b2[32];
	uint64_t u;
	size_t i;
	int r;

	/* threshold belongs to bundle_signing alone: elsewhere it is unknown. */
	if (role != ANCHOR_ROLE_BUNDLE_SIGNING)
		nf--;
	if ((r = walk_map(cx, map, path, f, nf)) != ANCHOR_OK)
		return r;
	if (f[0].value != NULL) {
		subpath(p, sizeof(p), path, "algorithm");
		if (f[0].value->type != YAML_SCALAR_NODE)
			return fail(cx, f[0].value, p, "expected a string, "
			    "found %s", type_name(f[0].value));
		if (has_nul(f[0].value) ||
		    alg_parse(scalar(f[0].value), &kp->algorithm) != ANCHOR_OK)
			return fail(cx, f[0].value, p, "unknown algorithm "
			    "\"%.40s\": use ec-p256, ec-p384 or rsa-3072",
			    scalar(f[0].value));
		if (role == ANCHOR_ROLE_BUNDLE_SIGNING &&
		    kp->algorithm == ANCHOR_ALG_RSA_3072)
			return fail(cx, f[0].value, p, "rsa-3072 is not allowed "
			    "for bundle_signing: use ec-p256 or ec-p384");
	}
	for (i = 1; i <= 4; i++) {
		if (f[i].value == NULL)
			continue;
		subpath(p, sizeof(p), path, f[i].name);
		if ((r = get_duration(cx, f[i].value, p, dur[i])) != ANCHOR_OK)
			return r;
	}
	if (nf > 5 && f[5].value != NULL) {
		subpath(p, sizeof(p), path, "threshold");
		if ((r = get_uint(cx, f[5].value, p, 1, MAX_THRESHOLD, &u)) !=
		    ANCHOR_OK)
			return r;
		kp->threshold = (unsigned)u;
	}
	if (kp->lifetime == 0) {
		subpath(p, sizeof(p), path, "lifetime");
		return fail(cx, blame(&f[1], map), p, "must be greater than "
		    "zero");
	}
	for (i = 2; i <= 3; i++) {
		if (*dur[i] <= kp->lifetime)
			continue;
		subpath(p, sizeof(p), path, f[i].name);
		return fail(cx, blame(&f[i], blame(&f[1], map)), p,
		    "%s (%s) is longer than lifetime (%s)", f[i].name,
		    fmt_duration(*dur[i], b1, sizeof(b1)),
		    fmt_duration(kp->lifetime, b2, sizeof(b2)));
	}
	return ANCHOR_OK;
}

static int
parse_keys(struct cx *cx, yaml_node_t *map, const char *path,
    struct anchor_conf *c)
{
	struct field f[ANCHOR_ROLE_COUNT];
	char kp[KEYPATH_MAX];
	int i, r;

	for (i = 0; i < ANCHOR_ROLE_COUNT; i++)
		f[i] = (struct field)F(role_key[i]);
	if ((r = walk_map(cx, map, path, f, ANCHOR_ARRAY_SIZE(f))) != ANCHOR_OK)
		return r;
	for (i = 0; i < ANCHOR_ROLE_COUNT; i++) {
		if (f[i].value == NULL)
			continue;
		subpath(kp, sizeof(kp), path, role_key[i]);
		if ((r = parse_policy(cx, f[i].value, kp, (enum anchor_role)i,
		    &c->keys[i])) != ANCHOR_OK)
			return r;
	}
	return ANCHOR_OK;
}

static int
parse_bundle(struct cx *cx, yaml_node_t *map, const char *path,
    struct anchor_conf *c)
{
	struct field f[] = { F("refresh_hint"), F("signature_validity") };
	int64_t *dst[] = { &c->refresh_hint, &c->signature_validity };
	char kp[KEYPATH_MAX], b1[32], b2[32];
	size_t i;
	int r;

	if ((r = walk_map(cx, map, path, f, ANCHOR_ARRAY_SIZE(f))) != ANCHOR_OK)
		return r;
	for (i = 0; i < ANCHOR_ARRAY_SIZE(f); i++) {
		if (f[i].value == NULL)
			continue;
		subpath(kp, sizeof(kp), path, f[i].name);
		if ((r = get_duration(cx, f[i].value, kp, dst[i])) != ANCHOR_OK)
			return r;
		if (*dst[i] == 0)
			return fail(cx, f[i].value, kp, "must be greater than "
			    "zero");
	}
	subpath(kp, sizeof(kp), path, "signature_validity");
	if (c->signature_validity > MAX_SIGNATURE_VALIDITY)
		return fail(cx, blame(&f[1], map), kp, "%s is longer than 30d, "
		    "which verifiers refuse by default",
		    fmt_duration(c->signature_validity, b1, sizeof(b1)));
	if (c->refresh_hint >= c->signature_validity)
		return fail(cx, blame(&f[1], blame(&f[0], map)), kp,
		    "%s is not longer than refresh_hint (%s)",
		    fmt_duration(c->signature_validity, b1, sizeof(b1)),
		    fmt_duration(c->refresh_hint, b2, sizeof(b2)));
	return ANCHOR_OK;
}

/* A host name for a certificate: LDH labels of 1 to 63, 253 in all. */
static int
check_dns_name(struct cx *cx, const yaml_node_t *v, const char *path,
    const char *s, const void *arg)
{
	size_t len = strlen(s), label = 0, i;

	(void)arg;
	if (len == 0 || len > 253)
		goto bad;
	for (i = 0; i <= len; i++) {
		char ch = s[i];

		if (ch == '.' || ch == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				goto bad;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || (ch == '-' && label > 0)))
			goto bad;
		label++;
	}
	return ANCHOR_OK;
 bad:
	return fail(cx, v, path, "\"%.100s\" is not a DNS name", s);
}

static int
parse_endpoint(struct cx *cx, yaml_node_t *map, const char *path,
    struct anchor_conf *c)
{
	enum { ADDRESS, PORT, PROFILE, CERT, KEY, SPIFFE_ID, DNS };
	struct field f[] = {
		F("address"), F("port"), F("profile"), F("cert_file"),
		F("key"), F("endpoint_spiffe_id"), F("dns_names"),
	};
	char kp[KEYPATH_MAX], pp[KEYPATH_MAX];
	const char *td;
	size_t tdlen;
	uint64_t u;
	int r;

	if ((r = walk_map(cx, map, path, f, ANCHOR_ARRAY_SIZE(f))) != ANCHOR_OK)
		return r;
	if (f[ADDRESS].value != NULL) {
		subpath(kp, sizeof(kp), path, "address");
		if ((r = get_string(cx, f[ADDRESS].value, kp,
		    &c->listen_address)) != ANCHOR_OK)
			return r;
		if (has_space_or_control(c->listen_address))
			return fail(cx, f[ADDRESS].value, kp, "not an address");
	}
	if (f[PORT].value != NULL) {
		subpath(kp, sizeof(kp), path, "port");
		if ((r = get_uint(cx, f[PORT].value, kp, 1, 65535, &u)) !=
		    ANCHOR_OK)
			return r;
		c->listen_port = (unsigned)u;
	}
	subpath(pp, sizeof(pp), path, "profile");
	if (f[PROFILE].value != NULL) {
		if ((r = get_string(cx, f[PROFILE].value, pp,
		    &c->endpoint_profile)) != ANCHOR_OK)
			return r;
		if (strcmp(c->endpoint_profile, "https_web") != 0 &&
		    strcmp(c->endpoint_profile, "https_spiffe") != 0 &&
		    strcmp(c->endpoint_profile, "http") != 0)
			return fail(cx, f[PROFILE].value, pp, "unknown profile "
			    "\"%.40s\": use https_web, https_spiffe or http",
			    c->endpoint_profile);
		if (strcmp(c->endpoint_profile, "http") == 0 &&
		    !c->allow_insecure_http)
			return fail(cx, f[PROFILE].value, pp, "profile http "
			    "needs federation.allow_insecure_http: true");
	} else if ((c->endpoint_profile = strdup("https_web")) == NULL)
		return ANCHOR_E_NOMEM;
	if (f[CERT].value != NULL) {
		subpath(kp, sizeof(kp), path, "cert_file");
		if ((r = get_string(cx, f[CERT].value, kp, &c->cert_file)) !=
		    ANCHOR_OK)
			return r;
	}
	if (f[KEY].value != NULL) {
		subpath(kp, sizeof(kp), path, "key");
		if ((r = get_string(cx, f[KEY].value, kp, &c->key)) !=
		    ANCHOR_OK)
			return r;
		if (strncmp(c->key, "pkcs11:", 7) == 0 &&
		    (r = check_pkcs11_uri(cx, f[KEY].value, kp, c->key)) !=
		    ANCHOR_OK)
			return r;
	}
	if ((c->cert_file != NULL || c->key != NULL) &&
	    strcmp(c->endpoint_profile, "https_web") != 0) {
		subpath(kp, sizeof(kp), path, c->cert_file ? "cert_file" :
		    "key");
		return fail(cx, c->cert_file ? f[CERT].value : f[KEY].value, kp,
		    "only used with profile https_web");
	}
	if ((c->cert_file == NULL) != (c->key == NULL)) {
		subpath(kp, sizeof(kp), path, c->cert_file ? "key" :
		    "cert_file");
		return fail(cx, c->cert_file ? f[CERT].value : f[KEY].value, kp,
		    "cert_file and key go together");
	}
	subpath(kp, sizeof(kp), path, "endpoint_spiffe_id");
	if (f[SPIFFE_ID].value != NULL) {
		if ((r = get_string(cx, f[SPIFFE_ID].value, kp,
		    &c->endpoint_spiffe_id)) != ANCHOR_OK)
			return r;
		if (strcmp(c->endpoint_profile, "https_spiffe") != 0)
			return fail(cx, f[SPIFFE_ID].value, kp, "only used with "
			    "profile https_spiffe");
		if (!spiffe_id_valid(c->endpoint_spiffe_id, false, &td,
		    &tdlen))
			return fail(cx, f[SPIFFE_ID].value, kp, "\"%.100s\" is "
			    "not a SPIFFE ID", c->endpoint_spiffe_id);
		if (tdlen != strlen(c->trust_domain) ||
		    strncmp(td, c->trust_domain, tdlen) != 0)
			return fail(cx, f[SPIFFE_ID].value, kp, "must be in "
			    "trust domain %s (its SVID is issued by this CA)",
			    c->trust_domain);
	} else if (strcmp(c->endpoint_profile, "https_spiffe") == 0)
		return fail(cx, f[PROFILE].value, kp, "required with profile "
		    "https_spiffe");
	if (f[DNS].value != NULL) {
		subpath(kp, sizeof(kp), path, "dns_names");
		if (strcmp(c->endpoint_profile, "https_spiffe") != 0)
			return fail(cx, f[DNS].value, kp, "only used with profile "
			    "https_spiffe");
		if ((r = get_string_list(cx, f[DNS].value, kp, check_dns_name,
		    NULL, &c->endpoint_dns_names, NULL)) != ANCHOR_OK)
			return r;
	}
	return ANCHOR_OK;
}

/* bundle_endpoint_profile: "https_web", {https_web: {}} or
 * {https_spiffe: {endpoint_spiffe_id: ID}}. */
static int
parse_peer_profile(struct cx *cx, yaml_node_t *v, const char *path,
    struct anchor_peer *peer)
{
	struct field f[] = { F("https_web"), F("https_spiffe") };
	struct field sf[] = { F("endpoint_spiffe_id") };
	char kp[KEYPATH_MAX], ip[KEYPATH_MAX];
	const char *td;
	size_t tdlen;
	int r;

	if (v->type == YAML_SCALAR_NODE) {
		if (strcmp(scalar(v), "https_web") == 0)
			return ANCHOR_OK;
		if (strcmp(scalar(v), "https_spiffe") == 0) {
			subpath(kp, sizeof(kp), path, "https_spiffe");
			subpath(ip, sizeof(ip), kp, "endpoint_spiffe_id");
			return fail(cx, v, ip, "https_spiffe needs an "
			    "endpoint_spiffe_id: write {https_spiffe: "
			    "{endpoint_spiffe_id: ...}}");
		}
		return fail(cx, v, path, "unknown profile \"%.40s\": use "
		    "https_web or https_spiffe", scalar(v));
	}
	if (v->type != YAML_MAPPING_NODE)
		return fail(cx, v, path, "expected a profile name or a "
		    "mapping, found %s", type_name(v));
	if ((r = walk_map(cx, v, path, f, ANCHOR_ARRAY_SIZE(f))) != ANCHOR_OK)
		return r;
	if (f[0].value != NULL && f[1].value != NULL)
		return fail(cx, f[1].key, path, "give exactly one profile");
	if (f[0].value != NULL) {
		subpath(kp, sizeof(kp), path, "https_web");
		return walk_map(cx, f[0].value, kp, NULL, 0);
	}
	if (f[1].value == NULL)
		return fail(cx, v, path, "no profile given: use https_web or "
		    "https_spiffe");
	subpath(kp, sizeof(kp), path, "https_spiffe");
	if ((r = walk_map(cx, f[1].value, kp, sf, ANCHOR_ARRAY_SIZE(sf))) !=
	    ANCHOR_OK)
		return r;
	subpath(ip, sizeof(ip), kp, "endpoint_spiffe_id");
	if (sf[0].value == NULL)
		return fail(cx, f[1].value, ip, "required key is missing");
	if ((r = get_string(cx, sf[0].value, ip, &peer->endpoint_spiffe_id)) !=
	    ANCHOR_OK)
		return r;
	/* The endpoint may be served by another trust domain (SPIFFE
	 * federation §5.2), so only the syntax is checked. */
	if (!spiffe_id_valid(peer->endpoint_spiffe_id, false, &td, &tdlen))
		return fail(cx, sf[0].value, ip, "\"%.100s\" is not a SPIFFE ID",
		    peer->endpoint_spiffe_id);
	free(peer->profile);
	if ((peer->profile = strdup("https_spiffe")) == NULL)
		return ANCHOR_E_NOMEM;
	return ANCHOR_OK;
}

static int
check_allow_item(struct cx *cx, const yaml_node_t *v, const char *path,
    const char *s, const void *arg)
{
	const char *peer_td = arg, *td;
	size_t tdlen;

	if (!spiffe_id_valid(s, true, &td, &tdlen))
		return fail(cx, v, path, "\"%.100s\" is not a SPIFFE ID "
		    "pattern", s);
	if (tdlen != strlen(peer_td) || strncmp(td, peer_td, tdlen) != 0)
		return fail(cx, v, path, "\"%.100s\" is outside trust domain "
		    "%s (trust is not transitive)", s, peer_td);
	return ANCHOR_OK;
}

static int
parse_peer(struct cx *cx, yaml_node_t *map, const char *path,
    bool allow_insecure_http, struct anchor_peer *peer)
{
	enum { URL, PROFILE, SIGNERS, ALLOW };
	struct field f[] = {
		F("bundle_endpoint_url"), F("bundle_endpoint_profile"),
		F("signers"), F("allow"),
	};
	char kp[KEYPATH_MAX];
	const char *host;
	bool http;
	int r;

	if (map == NULL || is_null(map) || map->type != YAML_MAPPING_NODE)
		return fail(cx, map, path, "expected a mapping with "
		    "bundle_endpoint_url, found %s", type_name(map));
	if ((r = walk_map(cx, map, path, f, ANCHOR_ARRAY_SIZE(f))) != ANCHOR_OK)
		return r;
	subpath(kp, sizeof(kp), path, "bundle_endpoint_url");
	if (f[URL].value == NULL)
		return fail(cx, map, kp, "required key is missing");
	if ((r = get_string(cx, f[URL].value, kp, &peer->bundle_endpoint_url)) !=
	    ANCHOR_OK)
		return r;
	if (strncmp(peer->bundle_endpoint_url, "https://", 8) == 0)
		http = false;
	else if (strncmp(peer->bundle_endpoint_url, "http://", 7) == 0)
		http = true;
	else
		return fail(cx, f[URL].value, kp, "\"%.100s\" is not an https:// "
		    "URL", peer->bundle_endpoint_url);
	host = strstr(peer->bundle_endpoint_url, "//") + 2;
	if (*host == '\0' || *host == '/' || *host == ':' ||
	    has_space_or_control(peer->bundle_endpoint_url))
		return fail(cx, f[URL].value, kp, "\"%.100s\" is not a URL",
		    peer->bundle_endpoint_url);
	if ((peer->profile = strdup("https_web")) == NULL)
		return ANCHOR_E_NOMEM;
	if (f[PROFILE].value != NULL) {
		char pp[KEYPATH_MAX];

		subpath(pp, sizeof(pp), path, "bundle_endpoint_profile");
		if ((r = parse_peer_profile(cx, f[PROFILE].value, pp, peer)) !=
		    ANCHOR_OK)
			return r;
		if (http && strcmp(peer->profile, "https_spiffe") == 0)
			return fail(cx, f[PROFILE].value, pp, "https_spiffe "
			    "needs an https:// bundle_endpoint_url");
	}
	if (f[SIGNERS].value != NULL) {
		char sp[KEYPATH_MAX];

		subpath(sp, sizeof(sp), path, "signers");
		if ((r = get_string(cx, f[SIGNERS].value, sp,
		    &peer->signers)) != ANCHOR_OK)
			return r;
	}
	if (http && peer->signers == NULL)
		return fail(cx, f[URL].value, kp, "an http:// URL is accepted "
		    "only for a peer with signers (a pinned signer set)");
	if (http && !allow_insecure_http)
		return fail(cx, f[URL].value, kp, "an http:// URL needs "
		    "federation.allow_insecure_http: true");
	if (f[ALLOW].value != NULL) {
		char ap[KEYPATH_MAX];

		subpath(ap, sizeof(ap), path, "allow");
		if ((r = get_string_list(cx, f[ALLOW].value, ap,
		    check_allow_item, peer->trust_domain, &peer->allow,
		    &peer->n_allow)) != ANCHOR_OK)
			return r;
	}
	return empty_list(&peer->allow);
}

static int
parse_peers(struct cx *cx, yaml_node_t *map, const char *path,
    struct anchor_conf *c)
{
	yaml_node_pair_t *p;
	char kp[KEYPATH_MAX];
	size_t n, i;
	int r;

	if (is_null(map))
		return ANCHOR_OK;
	if (map->type != YAML_MAPPING_NODE)
		return fail(cx, map, path, "expected a mapping of trust domains, "
		    "found %s", type_name(map));
	n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	if (n == 0)
		return ANCHOR_OK;
	if ((c->peers = calloc(n, sizeof(*c->peers))) == NULL)
		return ANCHOR_E_NOMEM;
	for (p = map->data.mapping.pairs.start;
	    p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(cx->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(cx->doc, p->value);
		struct anchor_peer *peer;

		if (k == NULL || v == NULL)
			return fail(cx, map, path, "malformed mapping");
		if (k->type != YAML_SCALAR_NODE || has_nul(k))
			return fail(cx, k, path, "a trust domain must be a "
			    "string, found %s", type_name(k));
		subpath(kp, sizeof(kp), path, scalar(k));
		if (!anchor_trust_domain_valid(scalar(k)))
			return fail(cx, k, kp, "invalid trust domain \"%.100s\" "
			    "(lowercase letters, digits, '.', '-', '_'; no "
			    "scheme or port; at most 255 bytes)", scalar(k));
		if (strcmp(scalar(k), c->trust_domain) == 0)
			return fail(cx, k, kp, "a trust domain does not "
			    "federate with itself");
		for (i = 0; i < c->n_peers; i++)
			if (strcmp(c->peers[i].trust_domain, scalar(k)) == 0)
				return fail(cx, k, kp, "duplicate key");
		peer = &c->peers[c->n_peers++];
		if ((peer->trust_domain = strdup(scalar(k))) == NULL)
			return ANCHOR_E_NOMEM;
		if ((r = parse_peer(cx, v, kp, c->allow_insecure_http, peer)) !=
		    ANCHOR_OK)
			return r;
	}
	return ANCHOR_OK;
}

static int
parse_federation(struct cx *cx, yaml_node_t *map, const char *path,
    struct anchor_conf *c)
{
	struct field f[] = {
		F("allow_insecure_http"), F("bundle_endpoint"),
		F("federates_with"),
	};
	char kp[KEYPATH_MAX];
	int r;

	if ((r = walk_map(cx, map, path, f, ANCHOR_ARRAY_SIZE(f))) != ANCHOR_OK)
		return r;
	/* Read first: both sections below depend on it. */
	if (f[0].value != NULL) {
		subpath(kp, sizeof(kp), path, f[0].name);
		if ((r = get_bool(cx, f[0].value, kp, &c->allow_insecure_http)) !=
		    ANCHOR_OK)
			return r;
	}
	subpath(kp, sizeof(kp), path, f[1].name);
	if ((r = parse_endpoint(cx, f[1].value, kp, c)) != ANCHOR_OK)
		return r;
	if (f[2].value != NULL) {
		subpath(kp, sizeof(kp), path, f[2].name);
		if ((r = parse_peers(cx, f[2].value, kp, c)) != ANCHOR_OK)
			return r;
	}
	return ANCHOR_OK;
}

static int
parse_root(struct cx *cx, yaml_node_t *root, struct anchor_conf *c)
{
	enum { TD, STATE_DIR, PKCS11, SUBJECT, KEYS, BUNDLE, FEDERATION, AUDIT };
	struct field f[] = {
		F("trust_domain"), F("state_dir"), F("pkcs11"),
		F("ca_subject"), F("keys"), F("bundle"), F("federation"),
		F("audit"),
	};
	struct field af[] = { F("syslog") };
	int r;

	if ((r = walk_map(cx, root, "", f, ANCHOR_ARRAY_SIZE(f))) != ANCHOR_OK)
		return r;
	if (f[TD].value == NULL)
		return fail(cx, root, "trust_domain", "required key is missing");
	if ((r = get_string(cx, f[TD].value, "trust_domain",
	    &c->trust_domain)) != ANCHOR_OK)
		return r;
	if (!anchor_trust_domain_valid(c->trust_domain))
		return fail(cx, f[TD].value, "trust_domain", "invalid trust "
		    "domain \"%.100s\" (lowercase letters, digits, '.', '-', "
		    "'_'; no scheme or port; at most 255 bytes)",
		    c->trust_domain);
	if (f[STATE_DIR].value != NULL) {
		if ((r = get_string(cx, f[STATE_DIR].value, "state_dir",
		    &c->state_dir)) != ANCHOR_OK)
			return r;
		if (c->state_dir[0] != '/')
			return fail(cx, f[STATE_DIR].value, "state_dir",
			    "must be an absolute path");
	}
	if (f[PKCS11].value == NULL)
		return fail(cx, root, "pkcs11", "required key is missing");
	if ((r = parse_pkcs11(cx, f[PKCS11].value, "pkcs11", c)) != ANCHOR_OK)
		return r;
	if (f[SUBJECT].value != NULL &&
	    (r = parse_subject(cx, f[SUBJECT].value, "ca_subject", c)) !=
	    ANCHOR_OK)
		return r;
	if (f[KEYS].value != NULL &&
	    (r = parse_keys(cx, f[KEYS].value, "keys", c)) != ANCHOR_OK)
		return r;
	if ((r = parse_bundle(cx, f[BUNDLE].value, "bundle", c)) != ANCHOR_OK)
		return r;
	if (f[AUDIT].value != NULL) {
		if ((r = walk_map(cx, f[AUDIT].value, "audit", af,
		    ANCHOR_ARRAY_SIZE(af))) != ANCHOR_OK)
			return r;
		if (af[0].value != NULL && (r = get_bool(cx, af[0].value,
		    "audit.syslog", &c->audit_syslog)) != ANCHOR_OK)
			return r;
	}
	return parse_federation(cx, f[FEDERATION].value, "federation", c);
}

static int
set_defaults(struct anchor_conf *c)
{
	char ***lists[] = {
		&c->subj_country, &c->subj_organization,
		&c->subj_organizational_unit, &c->subj_locality,
		&c->subj_province, &c->subj_common_name,
	};
	size_t i;

	if (c->state_dir == NULL &&
	    (c->state_dir = strdup("/var/lib/anchor")) == NULL)
		return ANCHOR_E_NOMEM;
	if (c->listen_address == NULL &&
	    (c->listen_address = strdup("0.0.0.0")) == NULL)
		return ANCHOR_E_NOMEM;
	if (c->endpoint_profile == NULL &&
	    (c->endpoint_profile = strdup("https_web")) == NULL)
		return ANCHOR_E_NOMEM;
	for (i = 0; i < ANCHOR_ARRAY_SIZE(lists); i++)
		if (empty_list(lists[i]) != ANCHOR_OK)
			return ANCHOR_E_NOMEM;
	return ANCHOR_OK;
}

/* Line of a byte offset, for reader errors that carry no mark. */
static unsigned long
offset_line(const uint8_t *buf, size_t len, size_t off)
{
	unsigned long line = 1;
	size_t i;

	for (i = 0; i < off && i < len; i++)
		if (buf[i] == '\n')
			line++;
	return line;
}

static int
yaml_fail(struct cx *cx, yaml_parser_t *parser, const uint8_t *buf,
    size_t len)
{
	unsigned long line;

	if (parser->error == YAML_MEMORY_ERROR)
		return ANCHOR_E_NOMEM;
	if (parser->error == YAML_READER_ERROR)
		line = offset_line(buf, len, parser->problem_offset);
	else
		line = (unsigned long)parser->problem_mark.line + 1;
	if (cx->err == NULL || cx->errlen == 0)
		return ANCHOR_E_CONFIG;
	if (parser->context != NULL &&
	    parser->context_mark.line + 1 != line)
		snprintf(cx->err, cx->errlen, "%s:%lu: YAML syntax error: %s "
		    "(%s that starts on line %lu)", cx->file, line,
		    parser->problem ? parser->problem : "error",
		    parser->context,
		    (unsigned long)parser->context_mark.line + 1);
	else
		snprintf(cx->err, cx->errlen, "%s:%lu: YAML syntax error: %s",
		    cx->file, line, parser->problem ? parser->problem : "error");
	return ANCHOR_E_CONFIG;
}

int
anchor_conf_load(const char *path, struct anchor_conf **out, char *err,
    size_t errlen)
{
	int r = ANCHOR_E_INTERNAL;
	struct anchor_conf *c = NULL;
	struct cx cx = { path, NULL, err, errlen };
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	bool parser_ok = false, doc_ok = false, extra_ok = false;
	uint8_t *buf = NULL;
	size_t len = 0;
	yaml_node_t *root;
	int i;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((r = anchor_read_file(path, CONF_MAX_BYTES, &buf, &len)) !=
	    ANCHOR_OK) {
		if (r == ANCHOR_E_NOMEM)
			goto out;
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: %s", path,
			    r == ANCHOR_E_NOT_FOUND ? "no such file" :
			    r == ANCHOR_E_INVAL ? "larger than 1 MiB" :
			    "cannot be read");
		r = ANCHOR_E_CONFIG;
		goto out;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	for (i = 0; i < ANCHOR_ROLE_COUNT; i++)
		c->keys[i] = default_policy[i];
	c->refresh_hint = 300;
	c->signature_validity = DAY;
	c->listen_port = 8443;

	if (!yaml_parser_initialize(&parser)) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	parser_ok = true;
	yaml_parser_set_input_string(&parser, buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		r = yaml_fail(&cx, &parser, buf, len);
		goto out;
	}
	doc_ok = true;
	cx.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root != NULL) {
		if (!yaml_parser_load(&parser, &extra)) {
			r = yaml_fail(&cx, &parser, buf, len);
			goto out;
		}
		extra_ok = true;
		if (yaml_document_get_root_node(&extra) != NULL) {
			r = fail(&cx, yaml_document_get_root_node(&extra),
			    "(document)", "a second YAML document; the file "
			    "must hold one");
			goto out;
		}
	}
	if ((r = parse_root(&cx, root, c)) != ANCHOR_OK)
		goto out;
	if ((r = set_defaults(c)) != ANCHOR_OK)
		goto out;
	*out = c;
	c = NULL;
	r = ANCHOR_OK;
 out:
	if (extra_ok)
		yaml_document_delete(&extra);
	if (doc_ok)
		yaml_document_delete(&doc);
	if (parser_ok)
		yaml_parser_delete(&parser);
	free(buf);
	anchor_conf_free(c);
	if (r == ANCHOR_E_NOMEM && err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: out of memory", path);
	return r;
}

static void
peer_free(struct anchor_peer *p)
{
	free(p->trust_domain);
	free(p->bundle_endpoint_url);
	free(p->profile);
	free(p->endpoint_spiffe_id);
	free(p->signers);
	free_list(p->allow);
}

void
anchor_conf_free(struct anchor_conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->path);
	free(c->trust_domain);
	free(c->state_dir);
	free(c->pkcs11_module);
	free(c->pkcs11_token);
	free(c->pin_source);
	free_list(c->subj_country);
	free_list(c->subj_organization);
	free_list(c->subj_organizational_unit);
	free_list(c->subj_locality);
	free_list(c->subj_province);
	free_list(c->subj_common_name);
	free(c->listen_address);
	free(c->endpoint_profile);
	free(c->cert_file);
	free(c->key);
	free(c->endpoint_spiffe_id);
	free_list(c->endpoint_dns_names);
	for (i = 0; i < c->n_peers; i++)
		peer_free(&c->peers[i]);
	free(c->peers);
	free(c);
}
