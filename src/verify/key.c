#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "internal.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384

/* The group orders n, big-endian: r and s must lie in [1, n-1]. */
static const uint8_t p256_order[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
	0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};
static const uint8_t p384_order[48] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2,
	0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
};

/*
 * DER SubjectPublicKeyInfo up to the uncompressed point: SEQUENCE {
 * AlgorithmIdentifier { id-ecPublicKey, namedCurve }, BIT STRING 00 04 ...
 */
static const uint8_t spki_p256[] = {
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
	0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03,
	0x42, 0x00,
};
static const uint8_t spki_p384[] = {
	0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
	0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
};
static const uint8_t spki_p521[] = {
	0x30, 0x81, 0x9b, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
	0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23, 0x03, 0x81, 0x86,
	0x00,
};

struct curve {
	const char *crv;		/* JWK name */
	const char *group;		/* OpenSSL group name */
	int nid;
	enum av_key_type type;
	size_t size;			/* field element bytes */
	const uint8_t *spki;		/* SPKI prefix */
	size_t spki_len;
};

static const struct curve curves[] = {
	{ "P-256", "prime256v1", NID_X9_62_prime256v1, AV_KEY_P256, 32,
	    spki_p256, sizeof(spki_p256) },
	{ "P-384", "secp384r1", NID_secp384r1, AV_KEY_P384, 48,
	    spki_p384, sizeof(spki_p384) },
	{ "P-521", "secp521r1", NID_secp521r1, AV_KEY_P521, 66,
	    spki_p521, sizeof(spki_p521) },
};

void
av_groups_clear(struct av_groups *gc)
{
	size_t i;

	if (gc == NULL)
		return;
	for (i = 0; i < AV_NCURVES; i++)
		EC_POINT_free(gc->pt[i]);
	BN_CTX_free(gc->bn);
	memset(gc, 0, sizeof(*gc));
}

/* Is pt (04 || x || y) a point of curve c?  The groups are shared. */
static int
on_curve(struct av_groups *gc, const struct curve *c, const uint8_t *pt,
    size_t len, int *ok)
{
	size_t i = (size_t)(c - curves);
	const EC_GROUP *g;

	*ok = 0;
	if (gc->sh == NULL && (gc->sh = av_shared()) == NULL)
		return ANCHOR_VERIFY_E_NOMEM;
	g = gc->sh->group[i];
	if (gc->bn == NULL && (gc->bn = BN_CTX_new()) == NULL)
		return ANCHOR_VERIFY_E_NOMEM;
	if (gc->pt[i] == NULL && (gc->pt[i] = EC_POINT_new(g)) == NULL)
		return ANCHOR_VERIFY_E_NOMEM;
	/* refuses coordinates >= p and points off the curve */
	*ok = EC_POINT_oct2point(g, gc->pt[i], pt, len, gc->bn) == 1 &&
	    !EC_POINT_is_at_infinity(g, gc->pt[i]);
	return ANCHOR_VERIFY_OK;
}

/* JWK members that carry private key material (RFC 7518 §6). */
static const char *const private_members[] = {
	"d", "p", "q", "dp", "dq", "qi", "oth", "k",
};

const char *
av_key_type_alg(enum av_key_type t)
{
	switch (t) {
	case AV_KEY_P256:
		return "ES256";
	case AV_KEY_P384:
		return "ES384";
	case AV_KEY_P521:
		return "ES512";
	case AV_KEY_RSA:
		return "RS256";
	default:
		return "";
	}
}

void
anchor_verify_key_free(struct anchor_verify_key *k)
{
	if (k == NULL)
		return;
	if (k->has_vlock)
		pthread_mutex_destroy(&k->vlock);
	EVP_PKEY_CTX_free(k->vctx);
	EVP_PKEY_free(k->pkey);
	free(k->spki);
	free(k);
}

/* base64url member of exactly want bytes (0: any length, minimal integer). */
static int
b64_member(const json_t *jwk, const char *name, size_t want, uint8_t **out,
    size_t *outlen, const char **s, size_t *slen)
{
	*s = av_str(json_object_get(jwk, name), slen);
	if (*s == NULL)
		return 0;
	if (av_b64url_decode(*s, *slen, out, outlen) != ANCHOR_VERIFY_OK)
		return 0;
	if (want != 0 && *outlen != want)
		return 0;
	if (want == 0 && (*outlen == 0 || (*out)[0] == 0))
		return 0;	/* RFC 7518 §2: base64urlUInt is minimal */
	return 1;
}

static int
thumbprint(const char *json, size_t len, char out[ANCHOR_VERIFY_KID_LEN + 1])
{
	uint8_t md[32];
	unsigned int mdlen = 0;
	char *enc = NULL;
	int r;

	if (!EVP_Digest(json, len, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != sizeof(md))
		return ANCHOR_VERIFY_E_INTERNAL;
	if ((r = av_b64url_encode(md, sizeof(md), &enc)) != ANCHOR_VERIFY_OK)
		return r;
	memcpy(out, enc, ANCHOR_VERIFY_KID_LEN + 1);
	free(enc);
	return ANCHOR_VERIFY_OK;
}

/*
 * The quick check: on the curve and not the point at infinity.  The full
 * check adds n * Q == O, a scalar multiplication that proves nothing more
 * on the prime-order curves used here (cofactor 1).
 */
static int
pkey_public_ok(EVP_PKEY *pk)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	int ok;

	if (ctx == NULL)
		return 0;
	ok = EVP_PKEY_public_check_quick(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/*
 * Returns OK, E_*, or 1 with *why.  With gc the point is checked with
 * EC_POINT arithmetic and no EVP_PKEY is made (bundle authorities); without,
 * the key becomes an EVP_PKEY for signature checks.
 */
static int
ec_key(const json_t *jwk, struct av_groups *gc, struct anchor_verify_key *k,
    const char **why)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	const struct curve *c = NULL;
	uint8_t *x = NULL, *y = NULL, pt[1 + 2 * 66];
	size_t i, xlen, ylen, xs_len, ys_len, n, ptlen;
	const char *xs, *ys;
	char *tp = NULL;
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL;
	int ok;

	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (av_str_eq(json_object_get(jwk, "crv"), curves[i].crv))
			c = &curves[i];
	if (c == NULL) {
		*why = "crv is not P-256, P-384 or P-521";
		r = 1;
		goto out;
	}
	if (!b64_member(jwk, "x", c->size, &x, &xlen, &xs, &xs_len) ||
	    !b64_member(jwk, "y", c->size, &y, &ylen, &ys, &ys_len)) {
		*why = "x or y is not base64url of the curve's size";
		r = 1;
		goto out;
	}
	pt[0] = 0x04;
	memcpy(pt + 1, x, c->size);
	memcpy(pt + 1 + c->size, y, c->size);
	ptlen = 1 + 2 * c->size;
	if (gc != NULL) {
		if ((r = on_curve(gc, c, pt, ptlen, &ok)) != ANCHOR_VERIFY_OK)
			goto out;
	} else {
		params[0] = OSSL_PARAM_construct_utf8_string(
		    OSSL_PKEY_PARAM_GROUP_NAME, (char *)c->group, 0);
		params[1] = OSSL_PARAM_construct_octet_string(
		    OSSL_PKEY_PARAM_PUB_KEY, pt, ptlen);
		params[2] = OSSL_PARAM_construct_end();
		if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
		    EVP_PKEY_fromdata_init(ctx) != 1) {
			r = ANCHOR_VERIFY_E_INTERNAL;
			goto out;
		}
		/* fromdata refuses a point off the curve or coordinates >= p */
		ok = EVP_PKEY_fromdata(ctx, &k->pkey, EVP_PKEY_PUBLIC_KEY,
		    params) == 1 && pkey_public_ok(k->pkey);
	}
	if (!ok) {
		*why = "the point is not on the curve";
		r = 1;
		goto out;
	}
	k->type = c->type;
	if ((k->spki = malloc(c->spki_len + ptlen)) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	memcpy(k->spki, c->spki, c->spki_len);
	memcpy(k->spki + c->spki_len, pt, ptlen);
	k->spki_len = c->spki_len + ptlen;
	if (gc != NULL) {
		r = ANCHOR_VERIFY_OK;	/* bundle authorities need no kid */
		goto out;
	}
	/* RFC 7638 §3.2: required members, lexicographic order, no spaces */
	n = 64 + xs_len + ys_len;
	if ((tp = malloc(n)) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	snprintf(tp, n, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%.*s\",\"y\":\"%.*s\"}",
	    c->crv, (int)xs_len, xs, (int)ys_len, ys);
	r = thumbprint(tp, strlen(tp), k->kid);
 out:
	EVP_PKEY_CTX_free(ctx);
	free(tp);
	free(x);
	free(y);
	return r;
}

static int
rsa_key(const json_t *jwk, int need_kid, struct anchor_verify_key *k,
    const char **why)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	uint8_t *nb = NULL, *eb = NULL;
	size_t nlen, elen, ns_len, es_len, len;
	const char *ns, *es;
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	char *tp = NULL;
	int bits;

	if (!b64_member(jwk, "n", 0, &nb, &nlen, &ns, &ns_len) ||
	    !b64_member(jwk, "e", 0, &eb, &elen, &es, &es_len)) {
		*why = "n or e is not a minimal base64url integer";
		r = 1;
		goto out;
	}
	if ((n = BN_bin2bn(nb, (int)nlen, NULL)) == NULL ||
	    (e = BN_bin2bn(eb, (int)elen, NULL)) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	bits = BN_num_bits(n);
	if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS || !BN_is_odd(n)) {
		*why = "the RSA modulus is not 2048 to 16384 bits";
		r = 1;
		goto out;
	}
	if (!BN_is_odd(e) || BN_is_one(e) || BN_num_bits(e) > 32) {
		*why = "the RSA exponent is not an odd number from 3 to 2^32";
		r = 1;
		goto out;
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	if (EVP_PKEY_fromdata(ctx, &k->pkey, EVP_PKEY_PUBLIC_KEY, params) != 1 ||
	    !pkey_public_ok(k->pkey)) {
		*why = "the RSA key is not valid";
		r = 1;
		goto out;
	}
	k->type = AV_KEY_RSA;
	if (!need_kid) {
		r = ANCHOR_VERIFY_OK;
		goto out;
	}
	len = 32 + ns_len + es_len;
	if ((tp = malloc(len)) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	snprintf(tp, len, "{\"e\":\"%.*s\",\"kty\":\"RSA\",\"n\":\"%.*s\"}",
	    (int)es_len, es, (int)ns_len, ns);
	r = thumbprint(tp, strlen(tp), k->kid);
 out:
	free(tp);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	free(nb);
	free(eb);
	return r;
}

int
av_key_from_json(const json_t *jwk, struct av_groups *gc,
    struct anchor_verify_key **out, const char **why)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	struct anchor_verify_key *k = NULL;
	unsigned char *der = NULL;
	size_t i;
	int len;

	*out = NULL;
	*why = NULL;
	if (!json_is_object(jwk)) {
		*why = "not a JSON object";
		r = 1;
		goto out;
	}
	for (i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++) {
		if (json_object_get(jwk, private_members[i]) != NULL) {
			*why = "private key members present";
			r = 1;
			goto out;
		}
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	if (gc == NULL) {
		if (pthread_mutex_init(&k->vlock, NULL) != 0) {
			r = ANCHOR_VERIFY_E_NOMEM;
			goto out;
		}
		k->has_vlock = 1;
	}
	if (av_str_eq(json_object_get(jwk, "kty"), "EC"))
		r = ec_key(jwk, gc, k, why);
	else if (av_str_eq(json_object_get(jwk, "kty"), "RSA"))
		r = rsa_key(jwk, gc == NULL, k, why);
	else {
		*why = "kty is not EC or RSA";
		r = 1;
	}
	if (r != ANCHOR_VERIFY_OK)
		goto out;
	snprintf(k->alg, sizeof(k->alg), "%s", av_key_type_alg(k->type));
	if (k->spki != NULL)
		goto done;
	if ((len = i2d_PUBKEY(k->pkey, &der)) <= 0) {
		r = ANCHOR_VERIFY_E_INTERNAL;
		goto out;
	}
	if ((k->spki = malloc((size_t)len)) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	memcpy(k->spki, der, (size_t)len);
	k->spki_len = (size_t)len;
 done:
	*out = k;
	k = NULL;
	r = ANCHOR_VERIFY_OK;
 out:
	OPENSSL_free(der);
	anchor_verify_key_free(k);
	return r;
}

/*
 * The DER INTEGER of v (len big-endian bytes, not zero) at out: no leading
 * zero bytes but one before a set top bit.  Returns its length.
 */
static size_t
der_uint(uint8_t *out, const uint8_t *v, size_t len)
{
	size_t pad;

	while (len > 1 && v[0] == 0) {
		v++;
		len--;
	}
	pad = (v[0] & 0x80) != 0;
	out[0] = 0x02;
	out[1] = (uint8_t)(len + pad);
	out[2] = 0;
	memcpy(out + 2 + pad, v, len);
	return 2 + pad + len;
}

/* 1 when 0 < v < order, both big-endian of the same length. */
static int
in_range(const uint8_t *v, const uint8_t *order, size_t len)
{
	size_t i;
	int nonzero = 0;

	for (i = 0; i < len; i++)
		nonzero |= v[i];
	return nonzero && memcmp(v, order, len) < 0;
}

int
av_sig_verify_parts(const struct anchor_verify_key *k,
    const struct av_part *msg, size_t nmsg, const uint8_t *sig, size_t siglen)
{
	int r = ANCHOR_VERIFY_R10_SIGNATURE;
	const struct av_shared *sh;
	const uint8_t *order;
	const EVP_MD *md;
	size_t fs, i;
	uint8_t dgst[EVP_MAX_MD_SIZE], der[2 + 2 * (3 + 48)];
	unsigned int dlen = 0;
	size_t derlen;
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY_CTX *ctx, *own = NULL;
	struct anchor_verify_key *m = (struct anchor_verify_key *)k;
	int locked = 0;

	if (k->pkey == NULL)
		goto out;
	if ((sh = av_shared()) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	switch (k->type) {
	case AV_KEY_P256:
		fs = 32;
		order = p256_order;
		md = sh->sha256;
		break;
	case AV_KEY_P384:
		fs = 48;
		order = p384_order;
		md = sh->sha384;
		break;
	default:
		goto out;
	}
	if (sig == NULL || siglen != 2 * fs)
		goto out;
	if (!in_range(sig, order, fs) || !in_range(sig + fs, order, fs))
		goto out;
	/*
	 * OpenSSL verifies a DER ECDSA-Sig-Value: SEQUENCE { r, s }, at most
	 * 2 * 51 content bytes for P-384, so a one-byte length.  OpenSSL
	 * refuses a signature whose DER is not the canonical encoding.
	 */
	derlen = der_uint(der + 2, sig, fs);
	derlen += der_uint(der + 2 + derlen, sig + fs, fs);
	der[0] = 0x30;
	der[1] = (uint8_t)derlen;
	derlen += 2;
	/* the pieces in turn: no copy of the signing input */
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(mctx, md, NULL) != 1) {
		r = ANCHOR_VERIFY_E_INTERNAL;
		goto out;
	}
	for (i = 0; i < nmsg; i++) {
		if (EVP_DigestUpdate(mctx, msg[i].p, msg[i].len) != 1) {
			r = ANCHOR_VERIFY_E_INTERNAL;
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(mctx, dgst, &dlen) != 1) {
		r = ANCHOR_VERIFY_E_INTERNAL;
		goto out;
	}
	/* the key's context when free (only the lock holder touches m) */
	if (k->has_vlock && pthread_mutex_trylock(&m->vlock) == 0)
		locked = 1;
	if (locked && m->vctx != NULL)
		ctx = m->vctx;
	else {
		if ((own = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL)) ==
		    NULL || EVP_PKEY_verify_init(own) != 1) {
			r = ANCHOR_VERIFY_E_INTERNAL;
			goto out;
		}
		ctx = own;
		if (locked) {
			m->vctx = own;
			own = NULL;
		}
	}
	if (EVP_PKEY_verify(ctx, der, derlen, dgst, dlen) == 1)
		r = ANCHOR_VERIFY_OK;
 out:
	if (locked)
		pthread_mutex_unlock(&m->vlock);
	EVP_PKEY_CTX_free(own);
	EVP_MD_CTX_free(mctx);
	return r;
}

int
av_sig_verify(const struct anchor_verify_key *k, const uint8_t *msg,
    size_t msglen, const uint8_t *sig, size_t siglen)
{
	struct av_part part = { msg, msglen };

	return av_sig_verify_parts(k, &part, 1, sig, siglen);
}

int
anchor_verify_key_from_jwk(const uint8_t *json, size_t len,
    struct anchor_verify_key **out, struct anchor_verify_diag *diag)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	json_t *root = NULL, *v;
	struct anchor_verify_key *k = NULL;
	const char *why = NULL;
	size_t i;
	int verify = 0;

	av_diag_clear(diag);
	if (out == NULL)
		return ANCHOR_VERIFY_E_INVAL;
	*out = NULL;
	if (json == NULL) {
		r = ANCHOR_VERIFY_E_INVAL;
		goto out;
	}
	if ((r = av_json_parse(json, len, "JWK", &root, diag)) != ANCHOR_VERIFY_OK)
		goto out;
	if (!json_is_object(root)) {
		r = av_fail(diag, ANCHOR_VERIFY_MALFORMED,
		    "malformed: a JWK is a JSON object");
		goto out;
	}
	if ((r = av_key_from_json(root, NULL, &k, &why)) != ANCHOR_VERIFY_OK) {
		if (r > 0)
			r = av_fail(diag, ANCHOR_VERIFY_F1_BUNDLE,
			    "unusable key: %s", why);
		goto out;
	}
	if (k->type != AV_KEY_P256 && k->type != AV_KEY_P384) {
		r = av_fail(diag, ANCHOR_VERIFY_F1_BUNDLE,
		    "unusable key: not an ES256 or ES384 key");
		goto out;
	}
	if ((v = json_object_get(root, "alg")) != NULL && !av_str_eq(v, k->alg)) {
		r = av_fail(diag, ANCHOR_VERIFY_F1_BUNDLE,
		    "unusable key: alg does not match crv %s", k->alg);
		goto out;
	}
	if ((v = json_object_get(root, "use")) != NULL && !av_str_eq(v, "sig")) {
		r = av_fail(diag, ANCHOR_VERIFY_F1_BUNDLE,
		    "unusable key: use is not \"sig\"");
		goto out;
	}
	if ((v = json_object_get(root, "key_ops")) != NULL) {
		json_t *op;

		if (!json_is_array(v)) {
			r = av_fail(diag, ANCHOR_VERIFY_MALFORMED,
			    "malformed: key_ops is not an array");
			goto out;
		}
		json_array_foreach(v, i, op)
			verify |= av_str_eq(op, "verify");
		if (!verify) {
			r = av_fail(diag, ANCHOR_VERIFY_F1_BUNDLE,
			    "unusable key: key_ops lacks \"verify\"");
			goto out;
		}
	}
	if ((v = json_object_get(root, "kid")) != NULL && av_str(v, NULL) == NULL) {
		r = av_fail(diag, ANCHOR_VERIFY_MALFORMED,
		    "malformed: kid is not a string");
		goto out;
	}
	*out = k;
	k = NULL;
	r = ANCHOR_VERIFY_OK;
 out:
	anchor_verify_key_free(k);
	json_decref(root);
	return r;
}

const char *
anchor_verify_key_alg(const struct anchor_verify_key *k)
{
	return k != NULL ? k->alg : NULL;
}

void
anchor_verify_key_thumbprint(const struct anchor_verify_key *k,
    char out[ANCHOR_VERIFY_KID_LEN + 1])
{
	if (k == NULL) {
		out[0] = '\0';
		return;
	}
	memcpy(out, k->kid, ANCHOR_VERIFY_KID_LEN + 1);
}

int
anchor_verify_signature(const struct anchor_verify_key *k, const char *alg,
    const uint8_t *msg, size_t msglen, const uint8_t *sig, size_t siglen)
{
	if (k == NULL || (msg == NULL && msglen != 0))
		return ANCHOR_VERIFY_E_INVAL;
	if (alg == NULL || strcmp(alg, k->alg) != 0 ||
	    (k->type != AV_KEY_P256 && k->type != AV_KEY_P384))
		return ANCHOR_VERIFY_R5_ALG;
	return av_sig_verify(k, msg, msglen, sig, siglen);
}
