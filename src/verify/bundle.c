#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "internal.h"

void
anchor_verify_bundle_free(struct anchor_verify_bundle *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->nx509; i++)
		free(b->x509[i].der);
	for (i = 0; i < b->njwt; i++) {
		anchor_verify_key_free(b->jwt[i].key);
		free(b->jwt[i].kid);
		free(b->jwt[i].jwk);
	}
	free(b->x509);
	free(b->jwt);
	free(b);
}

/*
 * Optional non-negative integer member.  jansson refuses numbers above
 * INT64_MAX; a fraction or exponent makes a real, refused here.
 */
static int
opt_uint(const json_t *root, const char *name, int *has, int64_t *v)
{
	const json_t *m = json_object_get(root, name);

	*has = 0;
	if (m == NULL)
		return 1;
	if (!av_int(m, v) || *v < 0)
		return 0;
	*has = 1;
	return 1;
}

/* The key members must describe the certificate's key. */
static int
x509_entry(const json_t *e, struct av_groups *gc, uint8_t **der,
    size_t *derlen, const char **why)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	const json_t *x5c = json_object_get(e, "x5c"), *alg;
	const char *s;
	size_t slen;
	const unsigned char *p;
	struct anchor_verify_key *key = NULL;
	X509 *x = NULL;
	unsigned char *spki = NULL;
	int spki_len;

	*der = NULL;
	if (!json_is_array(x5c) || json_array_size(x5c) == 0 ||
	    (s = av_str(json_array_get(x5c, 0), &slen)) == NULL) {
		*why = "x5c is not a non-empty array of strings";
		r = 1;
		goto out;
	}
	r = av_b64std_decode(s, slen, der, derlen);
	if (r == ANCHOR_VERIFY_MALFORMED) {
		*why = "x5c[0] is not base64";
		r = 1;
		goto out;
	}
	if (r != ANCHOR_VERIFY_OK)
		goto out;
	if (gc->sh == NULL && (gc->sh = av_shared()) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	p = *der;
	if ((x = av_d2i_x509(gc->sh, &p, (long)*derlen)) == NULL ||
	    p != *der + *derlen) {
		*why = "x5c[0] is not one DER certificate";
		r = 1;
		goto out;
	}
	if ((r = av_key_from_json(e, gc, &key, why)) != ANCHOR_VERIFY_OK)
		goto out;
	/* the same key is the same DER SubjectPublicKeyInfo (named curves) */
	if ((spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki)) <= 0 ||
	    (size_t)spki_len != key->spki_len ||
	    memcmp(spki, key->spki, key->spki_len) != 0) {
		*why = "the key members are not the certificate's key";
		r = 1;
		goto out;
	}
	if ((alg = json_object_get(e, "alg")) != NULL && !av_str_eq(alg, key->alg)) {
		*why = "alg does not match the key";
		r = 1;
		goto out;
	}
	r = ANCHOR_VERIFY_OK;
 out:
	if (r != ANCHOR_VERIFY_OK) {
		free(*der);
		*der = NULL;
	}
	OPENSSL_free(spki);
	anchor_verify_key_free(key);
	X509_free(x);
	return r;
}

/*
 * {"kty","use","kid",crv,x,y | n,e}, compact, as json_dumps() would write
 * it.  The key members were decoded as strict base64url and crv is a known
 * name, so they are copied as they are; jansson writes the kid.
 */
static int
jwt_jwk(const json_t *e, const struct anchor_verify_key *key, const char *kid,
    size_t kidlen, char **out)
{
	int r = ANCHOR_VERIFY_E_NOMEM;
	json_t *ks = NULL;
	char *kq = NULL, *s = NULL;
	const char *m1, *m2, *crv = NULL;
	size_t l1, l2, n;
	int rsa = key->type == AV_KEY_RSA, w;

	*out = NULL;
	m1 = av_str(json_object_get(e, rsa ? "n" : "x"), &l1);
	m2 = av_str(json_object_get(e, rsa ? "e" : "y"), &l2);
	if (!rsa)
		crv = av_str(json_object_get(e, "crv"), NULL);
	if (m1 == NULL || m2 == NULL || (!rsa && crv == NULL)) {
		r = ANCHOR_VERIFY_E_INTERNAL;
		goto out;
	}
	if ((ks = json_stringn_nocheck(kid, kidlen)) == NULL ||
	    (kq = json_dumps(ks, JSON_ENCODE_ANY | JSON_COMPACT)) == NULL)
		goto out;
	/* names and punctuation: at most 59 bytes; crv 5; the NUL */
	n = 80 + strlen(kq) + l1 + l2;
	if ((s = malloc(n)) == NULL)
		goto out;
	if (rsa)
		w = snprintf(s, n, "{\"kty\":\"RSA\",\"use\":\"jwt-svid\","
		    "\"kid\":%s,\"n\":\"%.*s\",\"e\":\"%.*s\"}", kq,
		    (int)l1, m1, (int)l2, m2);
	else
		w = snprintf(s, n, "{\"kty\":\"EC\",\"use\":\"jwt-svid\","
		    "\"kid\":%s,\"crv\":\"%s\",\"x\":\"%.*s\","
		    "\"y\":\"%.*s\"}", kq, crv, (int)l1, m1, (int)l2, m2);
	if (w < 0 || (size_t)w >= n) {
		r = ANCHOR_VERIFY_E_INTERNAL;
		goto out;
	}
	*out = s;
	s = NULL;
	r = ANCHOR_VERIFY_OK;
 out:
	free(s);
	free(kq);
	json_decref(ks);
	return r;
}

static int
jwt_entry(const json_t *e, struct av_groups *gc, struct av_jwt *out,
    const char **why)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	const json_t *alg;
	const char *kid;
	size_t kidlen;

	memset(out, 0, sizeof(*out));
	if ((kid = av_str(json_object_get(e, "kid"), &kidlen)) == NULL ||
	    kidlen == 0) {
		*why = "a jwt-svid entry needs a kid";
		r = 1;
		goto out;
	}
	if ((r = av_key_from_json(e, gc, &out->key, why)) != ANCHOR_VERIFY_OK)
		goto out;
	if ((alg = json_object_get(e, "alg")) != NULL &&
	    !av_str_eq(alg, out->key->alg)) {
		*why = "alg does not match the key";
		r = 1;
		goto out;
	}
	if ((out->kid = strdup(kid)) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	r = jwt_jwk(e, out->key, kid, kidlen, &out->jwk);
 out:
	if (r != ANCHOR_VERIFY_OK) {
		anchor_verify_key_free(out->key);
		free(out->kid);
		free(out->jwk);
		memset(out, 0, sizeof(*out));
	}
	return r;
}

int
av_bundle_from_json(const json_t *root, struct anchor_verify_bundle **out,
    struct anchor_verify_diag *d)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	struct anchor_verify_bundle *b = NULL;
	struct av_groups gc;
	struct av_strset kids = { NULL, 0 };
	const json_t *keys, *e;
	int64_t v = 0;
	size_t i, n;

	*out = NULL;
	memset(&gc, 0, sizeof(gc));
	if (!json_is_object(root)) {
		r = av_fail(d, ANCHOR_VERIFY_F1_BUNDLE,
		    "F1 bundle: not a JSON object");
		goto out;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	if (!opt_uint(root, "spiffe_sequence", &b->has_sequence, &v)) {
		r = av_fail(d, ANCHOR_VERIFY_F1_BUNDLE, "F1 bundle: "
		    "spiffe_sequence is not a non-negative JSON integer");
		goto out;
	}
	b->sequence = (uint64_t)v;
	if (!opt_uint(root, "spiffe_refresh_hint", &b->has_refresh_hint,
	    &b->refresh_hint)) {
		r = av_fail(d, ANCHOR_VERIFY_F1_BUNDLE, "F1 bundle: "
		    "spiffe_refresh_hint is not a non-negative JSON integer");
		goto out;
	}
	keys = json_object_get(root, "keys");
	if (keys == NULL) {
		r = av_fail(d, ANCHOR_VERIFY_F1_BUNDLE,
		    "F1 bundle: keys is missing");
		goto out;
	}
	if (!json_is_array(keys)) {
		r = av_fail(d, ANCHOR_VERIFY_F1_BUNDLE,
		    "F1 bundle: keys is not an array");
		goto out;
	}
	n = json_array_size(keys);
	if (n > 0 && ((b->x509 = calloc(n, sizeof(*b->x509))) == NULL ||
	    (b->jwt = calloc(n, sizeof(*b->jwt))) == NULL)) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	if ((r = av_strset_init(&kids, n)) != ANCHOR_VERIFY_OK)
		goto out;
	for (i = 0; i < n; i++) {
		const char *why = NULL;
		int x509;

		e = json_array_get(keys, i);
		if (!json_is_object(e)) {
			r = av_fail(d, ANCHOR_VERIFY_F1_BUNDLE,
			    "F1 bundle: keys[%zu] is not a JSON object", i);
			goto out;
		}
		/* unknown or missing kty or use: ignore the whole entry */
		if (!av_str_eq(json_object_get(e, "kty"), "EC") &&
		    !av_str_eq(json_object_get(e, "kty"), "RSA")) {
			b->skipped++;
			continue;
		}
		if (av_str_eq(json_object_get(e, "use"), "x509-svid"))
			x509 = 1;
		else if (av_str_eq(json_object_get(e, "use"), "jwt-svid"))
			x509 = 0;
		else {
			b->skipped++;
			continue;
		}
		if (x509) {
			struct av_x509 *x = &b->x509[b->nx509];

			r = x509_entry(e, &gc, &x->der, &x->len, &why);
			if (r == ANCHOR_VERIFY_OK)
				b->nx509++;
		} else {
			r = jwt_entry(e, &gc, &b->jwt[b->njwt], &why);
			if (r == ANCHOR_VERIFY_OK) {
				if (!av_strset_add(&kids,
				    b->jwt[b->njwt].kid)) {
					r = av_fail(d, ANCHOR_VERIFY_F1_BUNDLE,
					    "F1 bundle: keys[%zu]: kid repeats "
					    "an earlier jwt-svid entry's", i);
					b->njwt++;	/* freed with b */
					goto out;
				}
				b->njwt++;
			}
		}
		if (r > 0) {
			/* the spec's "does not pass validation": not usable */
			b->invalid++;
			continue;
		}
		if (r != ANCHOR_VERIFY_OK)
			goto out;
	}
	*out = b;
	b = NULL;
	r = ANCHOR_VERIFY_OK;
 out:
	av_strset_clear(&kids);
	av_groups_clear(&gc);
	anchor_verify_bundle_free(b);
	return r;
}

int
anchor_verify_bundle_parse(const uint8_t *json, size_t len,
    const struct anchor_verify_options *opt, struct anchor_verify_bundle **out,
    struct anchor_verify_diag *diag)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	struct anchor_verify_options o;
	json_t *root = NULL;

	av_diag_clear(diag);
	if (out == NULL)
		return ANCHOR_VERIFY_E_INVAL;
	*out = NULL;
	if (json == NULL || av_options(opt, 0, &o) != ANCHOR_VERIFY_OK) {
		r = ANCHOR_VERIFY_E_INVAL;
		goto out;
	}
	if (len > o.max_bytes) {
		r = av_fail(diag, ANCHOR_VERIFY_R1_SIZE, "R1 size: %zu bytes is "
		    "more than the cap of %zu", len, o.max_bytes);
		goto out;
	}
	if ((r = av_json_parse(json, len, "bundle", &root, diag)) !=
	    ANCHOR_VERIFY_OK)
		goto out;
	r = av_bundle_from_json(root, out, diag);
 out:
	json_decref(root);
	return r;
}

int
anchor_verify_bundle_sequence(const struct anchor_verify_bundle *b,
    uint64_t *sequence)
{
	if (b == NULL || !b->has_sequence)
		return 0;
	if (sequence != NULL)
		*sequence = b->sequence;
	return 1;
}

int
anchor_verify_bundle_refresh_hint(const struct anchor_verify_bundle *b,
    int64_t *seconds)
{
	if (b == NULL || !b->has_refresh_hint)
		return 0;
	if (seconds != NULL)
		*seconds = b->refresh_hint;
	return 1;
}

size_t
anchor_verify_bundle_x509_count(const struct anchor_verify_bundle *b)
{
	return b != NULL ? b->nx509 : 0;
}

const uint8_t *
anchor_verify_bundle_x509_der(const struct anchor_verify_bundle *b, size_t i,
    size_t *len)
{
	if (b == NULL || i >= b->nx509) {
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	if (len != NULL)
		*len = b->x509[i].len;
	return b->x509[i].der;
}

size_t
anchor_verify_bundle_jwt_count(const struct anchor_verify_bundle *b)
{
	return b != NULL ? b->njwt : 0;
}

const char *
anchor_verify_bundle_jwt_kid(const struct anchor_verify_bundle *b, size_t i)
{
	return b != NULL && i < b->njwt ? b->jwt[i].kid : NULL;
}

const char *
anchor_verify_bundle_jwt_jwk(const struct anchor_verify_bundle *b, size_t i)
{
	return b != NULL && i < b->njwt ? b->jwt[i].jwk : NULL;
}

const uint8_t *
anchor_verify_bundle_jwt_spki(const struct anchor_verify_bundle *b, size_t i,
    size_t *len)
{
	if (b == NULL || i >= b->njwt) {
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	if (len != NULL)
		*len = b->jwt[i].key->spki_len;
	return b->jwt[i].key->spki;
}

size_t
anchor_verify_bundle_skipped_count(const struct anchor_verify_bundle *b)
{
	return b != NULL ? b->skipped : 0;
}

size_t
anchor_verify_bundle_invalid_count(const struct anchor_verify_bundle *b)
{
	return b != NULL ? b->invalid : 0;
}
