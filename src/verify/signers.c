#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "internal.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const payload_members[] = {
	"spiffe_trust_domain", "version", "threshold", "min_sequence", "keys",
};
static const char *const key_members[] = {
	"kty", "crv", "x", "y", "kid", "alg",
};

void
anchor_verify_signers_free(struct anchor_verify_signers *s)
{
	size_t i;

	if (s == NULL || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (i = 0; i < s->nkeys; i++)
		anchor_verify_key_free(s->keys[i]);
	free(s->keys);
	free(s->payload);
	free(s->trust_domain);
	free(s);
}

static int
f3_fail(struct anchor_verify_diag *d, const char *why, size_t i)
{
	if (i == SIZE_MAX)
		return av_fail(d, ANCHOR_VERIFY_F3_SIGNERS, "F3 payload: %s", why);
	return av_fail(d, ANCHOR_VERIFY_F3_SIGNERS, "F3 payload: keys[%zu]: %s",
	    i, why);
}

int
av_signers_from_payload(const char *td, const json_t *pj,
    const uint8_t *payload, size_t len, struct anchor_verify_signers **out,
    struct anchor_verify_diag *d)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	struct anchor_verify_signers *s = NULL;
	struct av_strset kids = { NULL, 0 };
	const json_t *keys, *e;
	int64_t v;
	size_t i, n;

	*out = NULL;
	if (!av_members_exact(pj, payload_members, NELEM(payload_members))) {
		r = f3_fail(d, "members are not exactly spiffe_trust_domain, "
		    "version, threshold, min_sequence, keys", SIZE_MAX);
		goto out;
	}
	if (!av_str_eq(json_object_get(pj, "spiffe_trust_domain"), td)) {
		r = av_fail(d, ANCHOR_VERIFY_F3_SIGNERS, "F3 payload: R12 wrong "
		    "trust domain: not %s", td);
		goto out;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	s->refs = 1;
	if ((s->trust_domain = strdup(td)) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	if (!av_int(json_object_get(pj, "version"), &v) || v < 1) {
		r = f3_fail(d, "version is not a positive integer", SIZE_MAX);
		goto out;
	}
	s->version = (uint64_t)v;
	if (!av_int(json_object_get(pj, "min_sequence"), &v) || v < 0) {
		r = f3_fail(d, "min_sequence is not a non-negative integer",
		    SIZE_MAX);
		goto out;
	}
	s->min_sequence = (uint64_t)v;
	keys = json_object_get(pj, "keys");
	if (!json_is_array(keys) || (n = json_array_size(keys)) == 0) {
		r = f3_fail(d, "keys is not a non-empty array", SIZE_MAX);
		goto out;
	}
	if (!av_int(json_object_get(pj, "threshold"), &v) || v < 1 ||
	    (uint64_t)v > n) {
		r = f3_fail(d, "threshold is not an integer from 1 to the "
		    "number of keys", SIZE_MAX);
		goto out;
	}
	/* R3 allows 8 signatures: a higher threshold can never be met */
	if (v > ANCHOR_VERIFY_MAX_SIGNATURES) {
		r = f3_fail(d, "threshold above 8 can never be met", SIZE_MAX);
		goto out;
	}
	s->threshold = (uint64_t)v;
	if ((s->keys = calloc(n, sizeof(*s->keys))) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	if ((r = av_strset_init(&kids, n)) != ANCHOR_VERIFY_OK)
		goto out;
	for (i = 0; i < n; i++) {
		struct anchor_verify_key *key = NULL;
		const char *why = NULL;

		e = json_array_get(keys, i);
		if (!av_members_exact(e, key_members, NELEM(key_members))) {
			r = f3_fail(d, "members are not exactly kty, crv, x, y, "
			    "kid, alg", i);
			goto out;
		}
		r = av_key_from_json(e, NULL, &key, &why);
		if (r > 0) {
			r = f3_fail(d, why, i);
			goto out;
		}
		if (r != ANCHOR_VERIFY_OK)
			goto out;
		s->keys[s->nkeys++] = key;
		if (key->type != AV_KEY_P256 && key->type != AV_KEY_P384) {
			r = f3_fail(d, "not a P-256 or P-384 key", i);
			goto out;
		}
		if (!av_str_eq(json_object_get(e, "alg"), key->alg)) {
			r = f3_fail(d, "alg does not match crv", i);
			goto out;
		}
		if (!av_str_eq(json_object_get(e, "kid"), key->kid)) {
			r = f3_fail(d, "kid is not the key's RFC 7638 thumbprint",
			    i);
			goto out;
		}
		if (!av_strset_add(&kids, key->kid)) {
			r = f3_fail(d, "repeated kid", i);
			goto out;
		}
	}
	if ((s->payload = malloc(len ? len : 1)) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	memcpy(s->payload, payload, len);
	s->payload_len = len;
	*out = s;
	s = NULL;
	r = ANCHOR_VERIFY_OK;
 out:
	av_strset_clear(&kids);
	anchor_verify_signers_free(s);
	return r;
}

struct anchor_verify_signers *
av_signers_ref(const struct anchor_verify_signers *s)
{
	struct anchor_verify_signers *m = (struct anchor_verify_signers *)s;

	__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	return m;
}

static void
keyset(const struct anchor_verify_signers *s, struct av_keyset *set)
{
	set->keys = s->keys;
	set->n = s->nkeys;
	set->threshold = s->threshold;
}

/*
 * The envelope's signatures against the given sets, then R11 and R12 for
 * the signer-set header: trust domain and signers_version.
 */
static int
check_envelope(struct av_jws *j, const struct anchor_verify_signers *cur,
    const struct anchor_verify_signers *next, struct anchor_verify_diag *d)
{
	struct av_keyset sets[2];
	struct av_sig *first = NULL;
	size_t n = 0;
	int r;

	if (cur != NULL)
		keyset(cur, &sets[n++]);
	keyset(next, &sets[n++]);
	if ((r = av_jws_check(j, AV_F3, sets, n, &first, d)) != ANCHOR_VERIFY_OK)
		return r;
	if ((r = av_jws_agree(j, first, d)) != ANCHOR_VERIFY_OK)
		return r;
	if (first->td_len != strlen(next->trust_domain) ||
	    memcmp(first->td, next->trust_domain, first->td_len) != 0)
		return av_fail(d, ANCHOR_VERIFY_R12_MISMATCH,
		    "R12 wrong trust domain: the header is not for %s",
		    next->trust_domain);
	if ((uint64_t)first->number != next->version)
		return av_fail(d, ANCHOR_VERIFY_R12_MISMATCH,
		    "R12 mismatch: header signers_version %" PRId64 " is not "
		    "the payload's version %" PRIu64, first->number,
		    next->version);
	return ANCHOR_VERIFY_OK;
}

/* Parse an F3 envelope and its payload (no trust yet). */
static int
parse_f3(const struct anchor_verify_options *o, const uint8_t *buf, size_t len,
    struct av_jws *j, struct anchor_verify_signers **s,
    struct anchor_verify_diag *d)
{
	int r;

	*s = NULL;
	if ((r = av_jws_parse(buf, len, o->max_bytes, NULL, 0, j, d)) !=
	    ANCHOR_VERIFY_OK)
		return r;
	return av_signers_from_payload(o->trust_domain, j->payload_json,
	    j->payload, j->payload_len, s, d);
}

/* Every failure inside a signer set is F3; the message keeps the rule. */
static int
as_f3(int r, struct anchor_verify_diag *d, const char *what)
{
	if (r <= 0)
		return r;
	av_diag_prefix(d, "%s", what);
	return ANCHOR_VERIFY_F3_SIGNERS;
}

int
anchor_verify_signers_pin(const struct anchor_verify_options *opt,
    const uint8_t *f3, size_t len, struct anchor_verify_signers **out,
    struct anchor_verify_diag *diag)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	struct anchor_verify_options o;
	struct anchor_verify_signers *s = NULL;
	struct av_jws j;

	memset(&j, 0, sizeof(j));
	av_diag_clear(diag);
	if (out == NULL)
		return ANCHOR_VERIFY_E_INVAL;
	*out = NULL;
	if (f3 == NULL || (r = av_options(opt, 1, &o)) != ANCHOR_VERIFY_OK) {
		r = ANCHOR_VERIFY_E_INVAL;
		goto out;
	}
	if ((r = parse_f3(&o, f3, len, &j, &s, diag)) != ANCHOR_VERIFY_OK)
		goto out;
	if ((r = check_envelope(&j, NULL, s, diag)) != ANCHOR_VERIFY_OK)
		goto out;
	*out = s;
	s = NULL;
 out:
	r = as_f3(r, diag, "pinned signer set");
	anchor_verify_signers_free(s);
	av_jws_clear(&j);
	return r;
}

struct step {
	size_t index;
	struct anchor_verify_signers *s;
	struct av_jws j;
};

static int
step_cmp(const void *a, const void *b)
{
	const struct step *x = a, *y = b;

	if (x->s->version != y->s->version)
		return x->s->version < y->s->version ? -1 : 1;
	return x->index < y->index ? -1 : (x->index > y->index);
}

int
anchor_verify_signers_chain(const struct anchor_verify_signers *cur,
    const struct anchor_verify_buf *steps, size_t n,
    const struct anchor_verify_options *opt,
    struct anchor_verify_signers **out, struct anchor_verify_diag *diag)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	struct anchor_verify_options o;
	struct step *st = NULL;
	struct anchor_verify_signers *at = NULL;
	size_t i;
	char what[64] = "signer set chain";
	int moved = 0;

	av_diag_clear(diag);
	if (out == NULL)
		return ANCHOR_VERIFY_E_INVAL;
	*out = NULL;
	if (cur == NULL || (steps == NULL && n != 0) ||
	    av_options(opt, 1, &o) != ANCHOR_VERIFY_OK ||
	    strcmp(o.trust_domain, cur->trust_domain) != 0) {
		r = ANCHOR_VERIFY_E_INVAL;
		goto out;
	}
	if (n > ANCHOR_VERIFY_MAX_CHAIN) {
		r = av_fail(diag, ANCHOR_VERIFY_F3_SIGNERS, "F3 chain: %zu "
		    "steps, at most %d per update", n, ANCHOR_VERIFY_MAX_CHAIN);
		goto out;
	}
	if (n > 0 && (st = calloc(n, sizeof(*st))) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		st[i].index = i;
		if (steps[i].data == NULL) {
			r = ANCHOR_VERIFY_E_INVAL;
			goto out;
		}
		r = parse_f3(&o, steps[i].data, steps[i].len, &st[i].j,
		    &st[i].s, diag);
		if (r != ANCHOR_VERIFY_OK) {
			snprintf(what, sizeof(what), "signer set input %zu", i);
			if (diag != NULL)
				diag->item = i;
			goto out;
		}
	}
	if (n > 0)
		qsort(st, n, sizeof(*st), step_cmp);
	at = av_signers_ref(cur);
	for (i = 0; i < n; i++) {
		struct step *p = &st[i];

		snprintf(what, sizeof(what), "signer set version %" PRIu64,
		    p->s->version);
		if (p->s->version <= at->version) {
			/* a second, different envelope for a version just applied */
			if (moved && p->s->version == at->version &&
			    (p->s->payload_len != at->payload_len ||
			    memcmp(p->s->payload, at->payload,
			    at->payload_len) != 0)) {
				r = av_fail(diag, ANCHOR_VERIFY_F3_SIGNERS,
				    "F3 chain: two different signer sets claim "
				    "version %" PRIu64, p->s->version);
				if (diag != NULL)
					diag->item = p->index;
				goto out;
			}
			continue;
		}
		if (p->s->version != at->version + 1) {
			r = av_fail(diag, ANCHOR_VERIFY_F3_SIGNERS, "F3 chain: "
			    "version %" PRIu64 " does not follow version %"
			    PRIu64 " (expected %" PRIu64 ")", p->s->version,
			    at->version, at->version + 1);
			if (diag != NULL)
				diag->item = p->index;
			goto out;
		}
		r = check_envelope(&p->j, at, p->s, diag);
		if (r != ANCHOR_VERIFY_OK) {
			if (diag != NULL)
				diag->item = p->index;
			goto out;
		}
		anchor_verify_signers_free(at);
		at = p->s;
		p->s = NULL;
		moved = 1;
	}
	*out = at;
	at = NULL;
	r = ANCHOR_VERIFY_OK;
 out:
	r = as_f3(r, diag, what);
	anchor_verify_signers_free(at);
	for (i = 0; st != NULL && i < n; i++) {
		anchor_verify_signers_free(st[i].s);
		av_jws_clear(&st[i].j);
	}
	free(st);
	return r;
}

const char *
anchor_verify_signers_trust_domain(const struct anchor_verify_signers *s)
{
	return s != NULL ? s->trust_domain : NULL;
}

uint64_t
anchor_verify_signers_version(const struct anchor_verify_signers *s)
{
	return s != NULL ? s->version : 0;
}

unsigned
anchor_verify_signers_threshold(const struct anchor_verify_signers *s)
{
	return s != NULL ? (unsigned)s->threshold : 0;
}

uint64_t
anchor_verify_signers_min_sequence(const struct anchor_verify_signers *s)
{
	return s != NULL ? s->min_sequence : 0;
}

size_t
anchor_verify_signers_key_count(const struct anchor_verify_signers *s)
{
	return s != NULL ? s->nkeys : 0;
}

const char *
anchor_verify_signers_kid(const struct anchor_verify_signers *s, size_t i)
{
	return s != NULL && i < s->nkeys ? s->keys[i]->kid : NULL;
}

const char *
anchor_verify_signers_alg(const struct anchor_verify_signers *s, size_t i)
{
	return s != NULL && i < s->nkeys ? s->keys[i]->alg : NULL;
}

const uint8_t *
anchor_verify_signers_payload(const struct anchor_verify_signers *s,
    size_t *len)
{
	if (len != NULL)
		*len = s != NULL ? s->payload_len : 0;
	return s != NULL ? s->payload : NULL;
}

void
anchor_verify_signers_fingerprint(const struct anchor_verify_signers *s,
    char out[65])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t md[32];
	unsigned int mdlen = 0;
	size_t i;

	out[0] = '\0';
	if (s == NULL || !EVP_Digest(s->payload, s->payload_len, md, &mdlen,
	    EVP_sha256(), NULL) || mdlen != sizeof(md))
		return;
	for (i = 0; i < sizeof(md); i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 0xf];
	}
	out[64] = '\0';
}
