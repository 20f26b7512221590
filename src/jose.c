#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "error.h"
#include "jose.h"

#define JWS_MAX_SIGNERS 8
#define X5C_MAX_LEN (64 * 1024)	/* far above any CA certificate */
#define SIG_BUF_LEN 512		/* room to see a callback overrun its length */

/*
 * Output is written directly rather than through a json_t tree so that
 * every uint64 (spiffe_sequence up to 2^64-1) is written exactly, and the
 * member order is visible here.  Strings go through jansson's encoder.
 */
struct sbuf {
	char *p;
	size_t len, cap;
	int err;		/* first error; later appends are no-ops */
};

static void
sb_fail(struct sbuf *sb, int r)
{
	if (sb->err == ANCHOR_OK)
		sb->err = r;
}

static void
sb_add(struct sbuf *sb, const void *data, size_t len)
{
	if (sb->err != ANCHOR_OK)
		return;
	if (len > SIZE_MAX - sb->len - 1) {
		sb_fail(sb, ANCHOR_E_NOMEM);
		return;
	}
	if (sb->len + len + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 256;
		char *np;

		while (cap < sb->len + len + 1)
			cap = cap > SIZE_MAX / 2 ? sb->len + len + 1 : cap * 2;
		if ((np = realloc(sb->p, cap)) == NULL) {
			sb_fail(sb, ANCHOR_E_NOMEM);
			return;
		}
		sb->p = np;
		sb->cap = cap;
	}
	memcpy(sb->p + sb->len, data, len);
	sb->len += len;
	sb->p[sb->len] = '\0';
}

static void
sb_adds(struct sbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

/* A JSON string literal; refuses invalid UTF-8 and embedded NULs. */
static void
sb_json_str(struct sbuf *sb, const char *s)
{
	json_t *js = NULL;
	char *enc = NULL;

	if (sb->err != ANCHOR_OK)
		return;
	if (s == NULL || (js = json_string(s)) == NULL) {
		sb_fail(sb, ANCHOR_E_INVAL);
		return;
	}
	if ((enc = json_dumps(js, JSON_ENCODE_ANY | JSON_COMPACT)) == NULL)
		sb_fail(sb, ANCHOR_E_NOMEM);
	else
		sb_adds(sb, enc);
	free(enc);
	json_decref(js);
}

/* ,"name": or "name": as the first member (no comma). */
static void
sb_member(struct sbuf *sb, const char *name, int first)
{
	if (!first)
		sb_adds(sb, ",");
	sb_json_str(sb, name);
	sb_adds(sb, ":");
}

static void
sb_member_str(struct sbuf *sb, const char *name, const char *value, int first)
{
	sb_member(sb, name, first);
	sb_json_str(sb, value);
}

static void
sb_member_u64(struct sbuf *sb, const char *name, uint64_t v, int first)
{
	char num[24];

	sb_member(sb, name, first);
	snprintf(num, sizeof(num), "%" PRIu64, v);
	sb_adds(sb, num);
}

static void
sb_member_i64(struct sbuf *sb, const char *name, int64_t v, int first)
{
	char num[24];

	sb_member(sb, name, first);
	snprintf(num, sizeof(num), "%" PRId64, v);
	sb_adds(sb, num);
}

/* Hand the buffer to the caller; on a sticky error return it instead. */
static int
sb_take(struct sbuf *sb, char **out, size_t *outlen)
{
	int r = sb->err;

	if (r == ANCHOR_OK && sb->p == NULL)
		sb_add(sb, "", 0);
	if ((r = sb->err) != ANCHOR_OK)
		return r;
	*out = sb->p;
	if (outlen != NULL)
		*outlen = sb->len;
	sb->p = NULL;
	sb->len = sb->cap = 0;
	return ANCHOR_OK;
}

static void
sb_clear(struct sbuf *sb)
{
	free(sb->p);
	sb->p = NULL;
	sb->len = sb->cap = 0;
	sb->err = ANCHOR_OK;
}

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
anchor_b64url_encode(const uint8_t *in, size_t len, char **out)
{
	char *s, *p;
	size_t i;

	*out = NULL;
	if (in == NULL && len != 0)
		return ANCHOR_E_INVAL;
	if (len > (SIZE_MAX - 4) / 4 * 3)
		return ANCHOR_E_NOMEM;
	if ((s = malloc(len / 3 * 4 + 4)) == NULL)
		return ANCHOR_E_NOMEM;
	p = s;
	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];

		*p++ = b64url_alphabet[v >> 18 & 63];
		*p++ = b64url_alphabet[v >> 12 & 63];
		*p++ = b64url_alphabet[v >> 6 & 63];
		*p++ = b64url_alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		*p++ = b64url_alphabet[v >> 18 & 63];
		*p++ = b64url_alphabet[v >> 12 & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		*p++ = b64url_alphabet[v >> 18 & 63];
		*p++ = b64url_alphabet[v >> 12 & 63];
		*p++ = b64url_alphabet[v >> 6 & 63];
	}
	*p = '\0';
	*out = s;
	return ANCHOR_OK;
}

static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int
anchor_b64url_decode(const char *in, size_t len, uint8_t **out, size_t *outlen)
{
	int r = ANCHOR_E_INTERNAL;
	uint8_t *buf = NULL;
	size_t i, o = 0, rem = len % 4;
	uint32_t acc = 0;
	unsigned bits = 0;

	*out = NULL;
	*outlen = 0;
	if ((in == NULL && len != 0) || rem == 1) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	/* +1 so an empty input still gives a non-NULL buffer */
	if ((buf = malloc(len / 4 * 3 + 3)) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	for (i = 0; i < len; i++) {
		int v = b64url_value((unsigned char)in[i]);

		if (v < 0) {
			r = ANCHOR_E_INVAL;
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
	/* the unused low bits of the last character must be zero */
	if (acc != 0) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	*out = buf;
	*outlen = o;
	buf = NULL;
	r = ANCHOR_OK;
 out:
	free(buf);
	return r;
}

int
anchor_b64_std(const uint8_t *in, size_t len, char **out)
{
	char *s;

	*out = NULL;
	if (len > X5C_MAX_LEN)
		return ANCHOR_E_INVAL;
	if ((s = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return ANCHOR_E_NOMEM;
	EVP_EncodeBlock((unsigned char *)s, in, (int)len);
	*out = s;
	return ANCHOR_OK;
}

/* The public members of a JWK, base64url-encoded. */
struct jwk_pub {
	const char *kty;	/* "EC" or "RSA" */
	const char *crv;	/* EC only */
	char *a;		/* EC x, RSA n */
	char *b;		/* EC y, RSA e */
};

static void
jwk_pub_clear(struct jwk_pub *jp)
{
	free(jp->a);
	free(jp->b);
	memset(jp, 0, sizeof(*jp));
}

static int
bn_b64url(const BIGNUM *bn, size_t pad, char **out)
{
	int r = ANCHOR_E_INTERNAL;
	uint8_t *bin = NULL;
	size_t n = (size_t)BN_num_bytes(bn);
	int got;

	if (pad != 0 && n > pad) {
		r = ANCHOR_E_CRYPTO;
		goto out;
	}
	if (pad != 0)
		n = pad;
	if ((bin = malloc(n ? n : 1)) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	got = pad != 0 ? BN_bn2binpad(bn, bin, (int)n) : BN_bn2bin(bn, bin);
	if (got < 0 || (size_t)got != n) {
		r = ANCHOR_E_CRYPTO;
		goto out;
	}
	r = anchor_b64url_encode(bin, n, out);
 out:
	free(bin);
	return r;
}

static int
jwk_pub_ec(EVP_PKEY *pk, struct jwk_pub *jp)
{
	int r = ANCHOR_E_INTERNAL;
	char group[64];
	size_t fs, ptlen = 0;
	uint8_t pt[1 + 2 * 66];
	BIGNUM *x = NULL, *y = NULL;
	int nid;

	if (!EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL)) {
		r = ANCHOR_E_CRYPTO;
		goto out;
	}
	nid = OBJ_sn2nid(group);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(group);
	switch (nid) {
	case NID_X9_62_prime256v1:
		jp->crv = "P-256";
		fs = 32;
		break;
	case NID_secp384r1:
		jp->crv = "P-384";
		fs = 48;
		break;
	case NID_secp521r1:
		jp->crv = "P-521";
		fs = 66;
		break;
	default:
		r = ANCHOR_E_UNSUPPORTED;
		goto out;
	}
	jp->kty = "EC";
	if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY,
	    pt, sizeof(pt), &ptlen) && ptlen == 1 + 2 * fs && pt[0] == 0x04) {
		r = anchor_b64url_encode(pt + 1, fs, &jp->a);
		if (r == ANCHOR_OK)
			r = anchor_b64url_encode(pt + 1 + fs, fs, &jp->b);
		if (r != ANCHOR_OK)
			goto out;
	} else {
		/* a key set to compressed point output */
		if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
		    !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &y)) {
			r = ANCHOR_E_CRYPTO;
			goto out;
		}
		if ((r = bn_b64url(x, fs, &jp->a)) != ANCHOR_OK ||
		    (r = bn_b64url(y, fs, &jp->b)) != ANCHOR_OK)
			goto out;
	}
	r = ANCHOR_OK;
 out:
	BN_free(x);
	BN_free(y);
	return r;
}

static int
jwk_pub_rsa(EVP_PKEY *pk, struct jwk_pub *jp)
{
	int r = ANCHOR_E_INTERNAL;
	BIGNUM *n = NULL, *e = NULL;

	jp->kty = "RSA";
	if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e)) {
		r = ANCHOR_E_CRYPTO;
		goto out;
	}
	if (BN_is_zero(n) || BN_is_zero(e)) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	if ((r = bn_b64url(n, 0, &jp->a)) != ANCHOR_OK ||
	    (r = bn_b64url(e, 0, &jp->b)) != ANCHOR_OK)
		goto out;
	r = ANCHOR_OK;
 out:
	BN_free(n);
	BN_free(e);
	return r;
}

/*
 * A legacy key (an engine's, as libp11 hands out) does not answer every
 * parameter query in OpenSSL 3.0; a provider copy of its public half does.
 */
static int
pkey_provider_copy(EVP_PKEY *pk, EVP_PKEY **copy)
{
	int r = ANCHOR_E_INTERNAL;
	unsigned char *der = NULL;
	const unsigned char *p;
	int len;

	*copy = NULL;
	if ((len = i2d_PUBKEY(pk, &der)) <= 0) {
		r = ANCHOR_E_CRYPTO;
		goto out;
	}
	p = der;
	if ((*copy = d2i_PUBKEY(NULL, &p, len)) == NULL) {
		r = ANCHOR_E_CRYPTO;
		goto out;
	}
	r = ANCHOR_OK;
 out:
	OPENSSL_free(der);
	return r;
}

static int
jwk_pub_get(EVP_PKEY *pk, struct jwk_pub *jp)
{
	int r = ANCHOR_E_INTERNAL;
	EVP_PKEY *copy = NULL;

	memset(jp, 0, sizeof(*jp));
	if (pk == NULL) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	if (EVP_PKEY_get0_provider(pk) == NULL) {
		if ((r = pkey_provider_copy(pk, &copy)) != ANCHOR_OK)
			goto out;
		pk = copy;
	}
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_EC:
		r = jwk_pub_ec(pk, jp);
		break;
	case EVP_PKEY_RSA:
		r = jwk_pub_rsa(pk, jp);
		break;
	default:
		r = ANCHOR_E_UNSUPPORTED;
		break;
	}
 out:
	if (r != ANCHOR_OK)
		jwk_pub_clear(jp);
	EVP_PKEY_free(copy);
	return r;
}

/* The key members in RFC 7638 order relative to each other. */
static void
sb_jwk_key(struct sbuf *sb, const struct jwk_pub *jp)
{
	if (strcmp(jp->kty, "EC") == 0) {
		sb_member_str(sb, "crv", jp->crv, 0);
		sb_member_str(sb, "x", jp->a, 0);
		sb_member_str(sb, "y", jp->b, 0);
	} else {
		sb_member_str(sb, "n", jp->a, 0);
		sb_member_str(sb, "e", jp->b, 0);
	}
}

/* kty, use, kid, crv, x, y (or n, e), x5c, alg: see jose.h. */
static int
sb_jwk(struct sbuf *sb, EVP_PKEY *pk, const char *use, const char *kid,
    const char *alg, const uint8_t *x5c_der, size_t x5c_len)
{
	int r = ANCHOR_E_INTERNAL;
	struct jwk_pub jp;
	char *x5c = NULL;

	if ((r = jwk_pub_get(pk, &jp)) != ANCHOR_OK)
		goto out;
	if (x5c_der != NULL &&
	    (r = anchor_b64_std(x5c_der, x5c_len, &x5c)) != ANCHOR_OK)
		goto out;
	sb_adds(sb, "{");
	sb_member_str(sb, "kty", jp.kty, 1);
	if (use != NULL)
		sb_member_str(sb, "use", use, 0);
	if (kid != NULL)
		sb_member_str(sb, "kid", kid, 0);
	sb_jwk_key(sb, &jp);
	if (x5c != NULL) {
		sb_member(sb, "x5c", 0);
		sb_adds(sb, "[");
		sb_json_str(sb, x5c);
		sb_adds(sb, "]");
	}
	if (alg != NULL)
		sb_member_str(sb, "alg", alg, 0);
	sb_adds(sb, "}");
	r = sb->err;
 out:
	free(x5c);
	jwk_pub_clear(&jp);
	return r;
}

int
anchor_jwk(EVP_PKEY *pk, const char *use, const char *kid, const char *alg,
    const uint8_t *x5c_der, size_t x5c_len, char **out)
{
	int r = ANCHOR_E_INTERNAL;
	struct sbuf sb = { 0 };

	*out = NULL;
	if (x5c_der != NULL && x5c_len == 0) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	if ((r = sb_jwk(&sb, pk, use, kid, alg, x5c_der, x5c_len)) != ANCHOR_OK)
		goto out;
	r = sb_take(&sb, out, NULL);
 out:
	sb_clear(&sb);
	return r;
}

int
anchor_jwk_thumbprint(EVP_PKEY *pk, char out[ANCHOR_KID_LEN + 1])
{
	int r = ANCHOR_E_INTERNAL;
	struct jwk_pub jp;
	struct sbuf sb = { 0 };
	uint8_t md[32];
	unsigned int mdlen = 0;
	char *kid = NULL;

	out[0] = '\0';
	if ((r = jwk_pub_get(pk, &jp)) != ANCHOR_OK)
		goto out;
	/* RFC 7638 §3.2: required members only, lexicographic order */
	sb_adds(&sb, "{");
	if (strcmp(jp.kty, "EC") == 0) {
		sb_member_str(&sb, "crv", jp.crv, 1);
		sb_member_str(&sb, "kty", jp.kty, 0);
		sb_member_str(&sb, "x", jp.a, 0);
		sb_member_str(&sb, "y", jp.b, 0);
	} else {
		sb_member_str(&sb, "e", jp.b, 1);
		sb_member_str(&sb, "kty", jp.kty, 0);
		sb_member_str(&sb, "n", jp.a, 0);
	}
	sb_adds(&sb, "}");
	if ((r = sb.err) != ANCHOR_OK)
		goto out;
	if (!EVP_Digest(sb.p, sb.len, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != sizeof(md)) {
		r = ANCHOR_E_CRYPTO;
		goto out;
	}
	if ((r = anchor_b64url_encode(md, sizeof(md), &kid)) != ANCHOR_OK)
		goto out;
	if (strlen(kid) != ANCHOR_KID_LEN) {
		r = ANCHOR_E_INTERNAL;
		goto out;
	}
	memcpy(out, kid, ANCHOR_KID_LEN + 1);
	r = ANCHOR_OK;
 out:
	free(kid);
	sb_clear(&sb);
	jwk_pub_clear(&jp);
	return r;
}

const char *
anchor_jws_alg(EVP_PKEY *pk)
{
	char group[64];
	int nid;

	if (pk == NULL)
		return NULL;
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		return "RS256";
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL))
			return NULL;
		if ((nid = OBJ_sn2nid(group)) == NID_undef)
			nid = EC_curve_nist2nid(group);
		if (nid == NID_X9_62_prime256v1)
			return "ES256";
		if (nid == NID_secp384r1)
			return "ES384";
		return NULL;
	default:
		return NULL;
	}
}

/*
 * The certificate must be one DER certificate, nothing after it, for the
 * key being published: a mismatch would publish an unusable CA entry.
 */
static int
check_ca_cert(const struct anchor_authority *a, EVP_PKEY **pub)
{
	int r = ANCHOR_E_INTERNAL;
	const unsigned char *p = a->cert_der;
	X509 *x = NULL;
	EVP_PKEY *cpk;

	*pub = NULL;
	if (a->cert_der == NULL || a->cert_len == 0 ||
	    a->cert_len > X5C_MAX_LEN) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	if ((x = d2i_X509(NULL, &p, (long)a->cert_len)) == NULL ||
	    p != a->cert_der + a->cert_len) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	if ((cpk = X509_get0_pubkey(x)) == NULL) {
		r = ANCHOR_E_CRYPTO;
		goto out;
	}
	if (a->pub != NULL && EVP_PKEY_eq(a->pub, cpk) != 1) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	if (a->pub == NULL && !EVP_PKEY_up_ref(cpk)) {
		r = ANCHOR_E_CRYPTO;
		goto out;
	}
	*pub = a->pub != NULL ? a->pub : cpk;
	r = ANCHOR_OK;
 out:
	X509_free(x);
	return r;
}

static int
sb_authority(struct sbuf *sb, const struct anchor_authority *a)
{
	int r = ANCHOR_E_INTERNAL;
	EVP_PKEY *pub = NULL, *owned = NULL;
	char kid[ANCHOR_KID_LEN + 1];

	switch (a->role) {
	case ANCHOR_ROLE_X509_CA:
		if ((r = check_ca_cert(a, &pub)) != ANCHOR_OK)
			goto out;
		if (pub != a->pub)
			owned = pub;
		r = sb_jwk(sb, pub, "x509-svid", NULL, NULL, a->cert_der,
		    a->cert_len);
		break;
	case ANCHOR_ROLE_JWT:
		if ((r = anchor_jwk_thumbprint(a->pub, kid)) != ANCHOR_OK)
			goto out;
		/* DESIGN F1: the kid of a jwt-svid entry is its thumbprint */
		if (a->kid != NULL && strcmp(a->kid, kid) != 0) {
			r = ANCHOR_E_INVAL;
			goto out;
		}
		r = sb_jwk(sb, a->pub, "jwt-svid", kid, NULL, NULL, 0);
		break;
	default:
		r = ANCHOR_E_INVAL;
		break;
	}
 out:
	EVP_PKEY_free(owned);
	return r;
}

int
anchor_f1_bundle(const struct anchor_authority *auth, size_t n,
    uint64_t sequence, int64_t refresh_hint, char **out, size_t *outlen)
{
	int r = ANCHOR_E_INTERNAL;
	struct sbuf sb = { 0 };
	size_t i;

	*out = NULL;
	*outlen = 0;
	if ((auth == NULL && n != 0) || refresh_hint < 0) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	sb_adds(&sb, "{");
	sb_member(&sb, "keys", 1);
	sb_adds(&sb, "[");
	for (i = 0; i < n; i++) {
		if (i > 0)
			sb_adds(&sb, ",");
		if ((r = sb_authority(&sb, &auth[i])) != ANCHOR_OK)
			goto out;
	}
	sb_adds(&sb, "]");
	sb_member_u64(&sb, "spiffe_sequence", sequence, 0);
	sb_member_i64(&sb, "spiffe_refresh_hint", refresh_hint, 0);
	sb_adds(&sb, "}");
	r = sb_take(&sb, out, outlen);
 out:
	sb_clear(&sb);
	return r;
}

static size_t
alg_sig_len(const char *alg)
{
	if (alg == NULL)
		return 0;
	if (strcmp(alg, "ES256") == 0)
		return 64;
	if (strcmp(alg, "ES384") == 0)
		return 96;
	return 0;
}

static int
check_signers(const struct anchor_jws_signer *signers, size_t n)
{
	size_t i, j;

	if (signers == NULL || n == 0 || n > JWS_MAX_SIGNERS)
		return ANCHOR_E_INVAL;
	for (i = 0; i < n; i++) {
		if (signers[i].kid == NULL || signers[i].kid[0] == '\0' ||
		    signers[i].sign == NULL)
			return ANCHOR_E_INVAL;
		if (alg_sig_len(signers[i].alg) == 0)
			return ANCHOR_E_UNSUPPORTED;
		for (j = 0; j < i; j++)
			if (strcmp(signers[i].kid, signers[j].kid) == 0)
				return ANCHOR_E_INVAL;
	}
	return ANCHOR_OK;
}

static int
check_trust_domain(const char *td)
{
	/* the full name check is the caller's; this keeps headers sane */
	if (td == NULL || td[0] == '\0' || strlen(td) > 255)
		return ANCHOR_E_INVAL;
	return ANCHOR_OK;
}

/*
 * The envelope shared by F2 and F3.  Each protected header is
 * {"alg":A,"kid":K followed by hdr_tail (the members after kid and the
 * closing brace), identical for every signer.
 */
static int
jws_envelope(const uint8_t *payload, size_t len, const char *hdr_tail,
    const struct anchor_jws_signer *signers, size_t n, char **out,
    size_t *outlen)
{
	int r = ANCHOR_E_INTERNAL;
	struct sbuf env = { 0 }, hdr = { 0 }, input = { 0 };
	char *payload64 = NULL, *hdr64 = NULL, *sig64 = NULL;
	uint8_t sig[SIG_BUF_LEN];
	size_t i, siglen;

	if (payload == NULL || len == 0) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	if ((r = check_signers(signers, n)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_b64url_encode(payload, len, &payload64)) != ANCHOR_OK)
		goto out;
	sb_adds(&env, "{");
	sb_member_str(&env, "payload", payload64, 1);
	sb_member(&env, "signatures", 0);
	sb_adds(&env, "[");
	for (i = 0; i < n; i++) {
		const struct anchor_jws_signer *s = &signers[i];

		sb_clear(&hdr);
		sb_adds(&hdr, "{");
		sb_member_str(&hdr, "alg", s->alg, 1);
		sb_member_str(&hdr, "kid", s->kid, 0);
		sb_adds(&hdr, hdr_tail);
		if ((r = hdr.err) != ANCHOR_OK)
			goto out;
		free(hdr64);
		if ((r = anchor_b64url_encode((const uint8_t *)hdr.p, hdr.len,
		    &hdr64)) != ANCHOR_OK)
			goto out;

		sb_clear(&input);
		sb_adds(&input, hdr64);
		sb_adds(&input, ".");
		sb_adds(&input, payload64);
		if ((r = input.err) != ANCHOR_OK)
			goto out;

		siglen = sizeof(sig);
		r = s->sign(s->arg, s->kid, (const uint8_t *)input.p, input.len,
		    sig, &siglen);
		if (r != ANCHOR_OK) {
			if (r > 0)
				r = ANCHOR_E_INTERNAL;
			goto out;
		}
		if (siglen != alg_sig_len(s->alg)) {
			r = ANCHOR_E_CRYPTO;
			goto out;
		}
		free(sig64);
		r = anchor_b64url_encode(sig, siglen, &sig64);
		if (r != ANCHOR_OK)
			goto out;

		if (i > 0)
			sb_adds(&env, ",");
		sb_adds(&env, "{");
		sb_member_str(&env, "protected", hdr64, 1);
		sb_member_str(&env, "signature", sig64, 0);
		sb_adds(&env, "}");
	}
	sb_adds(&env, "]}");
	r = sb_take(&env, out, outlen);
 out:
	sb_clear(&env);
	sb_clear(&hdr);
	sb_clear(&input);
	free(payload64);
	free(hdr64);
	free(sig64);
	return r;
}

int
anchor_f2_sign(const char *trust_domain, uint64_t sequence, int64_t iat,
    int64_t exp, const uint8_t *payload, size_t len,
    const struct anchor_jws_signer *signers, size_t n, char **out,
    size_t *outlen)
{
	int r = ANCHOR_E_INTERNAL;
	struct sbuf tail = { 0 };

	*out = NULL;
	*outlen = 0;
	if ((r = check_trust_domain(trust_domain)) != ANCHOR_OK)
		goto out;
	if (iat < 0 || exp <= iat) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	sb_member_str(&tail, "typ", "spiffe-bundle+jws", 0);
	sb_member(&tail, "crit", 0);
	sb_adds(&tail, "[\"spiffe_trust_domain\",\"spiffe_sequence\","
	    "\"iat\",\"exp\"]");
	sb_member_str(&tail, "spiffe_trust_domain", trust_domain, 0);
	sb_member_u64(&tail, "spiffe_sequence", sequence, 0);
	sb_member_i64(&tail, "iat", iat, 0);
	sb_member_i64(&tail, "exp", exp, 0);
	sb_adds(&tail, "}");
	if ((r = tail.err) != ANCHOR_OK)
		goto out;
	r = jws_envelope(payload, len, tail.p, signers, n, out, outlen);
 out:
	sb_clear(&tail);
	return r;
}

int
anchor_f3_payload(const char *trust_domain, unsigned version,
    unsigned threshold, uint64_t min_sequence, EVP_PKEY *const *keys, size_t n,
    char **out, size_t *outlen)
{
	int r = ANCHOR_E_INTERNAL;
	struct sbuf sb = { 0 };
	char (*kids)[ANCHOR_KID_LEN + 1] = NULL;
	size_t i, j;

	*out = NULL;
	*outlen = 0;
	if ((r = check_trust_domain(trust_domain)) != ANCHOR_OK)
		goto out;
	if (version == 0 || keys == NULL || n == 0 || threshold == 0 ||
	    threshold > n) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	if ((kids = calloc(n, sizeof(*kids))) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	sb_adds(&sb, "{");
	sb_member_str(&sb, "spiffe_trust_domain", trust_domain, 1);
	sb_member_u64(&sb, "version", version, 0);
	sb_member_u64(&sb, "threshold", threshold, 0);
	sb_member_u64(&sb, "min_sequence", min_sequence, 0);
	sb_member(&sb, "keys", 0);
	sb_adds(&sb, "[");
	for (i = 0; i < n; i++) {
		struct jwk_pub jp;
		const char *alg;

		/* bundle signatures are ES256/ES384 only (DESIGN R5) */
		if (keys[i] == NULL) {
			r = ANCHOR_E_INVAL;
			goto out;
		}
		if (EVP_PKEY_get_base_id(keys[i]) != EVP_PKEY_EC ||
		    (alg = anchor_jws_alg(keys[i])) == NULL) {
			r = ANCHOR_E_UNSUPPORTED;
			goto out;
		}
		if ((r = anchor_jwk_thumbprint(keys[i], kids[i])) != ANCHOR_OK)
			goto out;
		for (j = 0; j < i; j++) {
			if (strcmp(kids[i], kids[j]) == 0) {
				r = ANCHOR_E_INVAL;
				goto out;
			}
		}
		if ((r = jwk_pub_get(keys[i], &jp)) != ANCHOR_OK)
			goto out;
		if (i > 0)
			sb_adds(&sb, ",");
		sb_adds(&sb, "{");
		sb_member_str(&sb, "kty", jp.kty, 1);
		sb_jwk_key(&sb, &jp);
		sb_member_str(&sb, "kid", kids[i], 0);
		sb_member_str(&sb, "alg", alg, 0);
		sb_adds(&sb, "}");
		jwk_pub_clear(&jp);
	}
	sb_adds(&sb, "]}");
	r = sb_take(&sb, out, outlen);
 out:
	free(kids);
	sb_clear(&sb);
	return r;
}

int
anchor_f3_sign(const char *trust_domain, unsigned version,
    const uint8_t *payload, size_t len,
    const struct anchor_jws_signer *signers, size_t n, char **out,
    size_t *outlen)
{
	int r = ANCHOR_E_INTERNAL;
	struct sbuf tail = { 0 };

	*out = NULL;
	*outlen = 0;
	if ((r = check_trust_domain(trust_domain)) != ANCHOR_OK)
		goto out;
	if (version == 0) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	sb_member_str(&tail, "typ", "spiffe-signers+jws", 0);
	sb_member(&tail, "crit", 0);
	sb_adds(&tail, "[\"spiffe_trust_domain\",\"signers_version\"]");
	sb_member_str(&tail, "spiffe_trust_domain", trust_domain, 0);
	sb_member_u64(&tail, "signers_version", version, 0);
	sb_adds(&tail, "}");
	if ((r = tail.err) != ANCHOR_OK)
		goto out;
	r = jws_envelope(payload, len, tail.p, signers, n, out, outlen);
 out:
	sb_clear(&tail);
	return r;
}

int
anchor_jwk_ec_public(const char *kty, const char *crv, const char *xs,
    const char *ys, EVP_PKEY **out)
{
	uint8_t *x = NULL, *y = NULL, point[1 + 2 * 48];
	size_t xl = 0, yl = 0, fl;
	const char *group;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int r = ANCHOR_E_INVAL;

	*out = NULL;
	if (kty == NULL || strcmp(kty, "EC") != 0 || crv == NULL || xs == NULL ||
	    ys == NULL)
		goto out;
	if (strcmp(crv, "P-256") == 0) {
		group = "prime256v1";
		fl = 32;
	} else if (strcmp(crv, "P-384") == 0) {
		group = "secp384r1";
		fl = 48;
	} else
		goto out;
	if (anchor_b64url_decode(xs, strlen(xs), &x, &xl) != ANCHOR_OK ||
	    anchor_b64url_decode(ys, strlen(ys), &y, &yl) != ANCHOR_OK ||
	    xl != fl || yl != fl)
		goto out;
	point[0] = 0x04;
	memcpy(point + 1, x, fl);
	memcpy(point + 1 + fl, y, fl);
	r = ANCHOR_E_CRYPTO;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    point, 1 + 2 * fl) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	r = ANCHOR_OK;
 out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return r;
}

int
anchor_verify_raw(EVP_PKEY *pk, const char *alg, const uint8_t *msg, size_t msglen,
    const uint8_t *sig, size_t siglen)
{
	const EVP_MD *md = strcmp(alg, "ES384") == 0 ? EVP_sha384() : EVP_sha256();
	size_t half = strcmp(alg, "ES384") == 0 ? 48 : 32;
	ECDSA_SIG *es = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	unsigned char *der = NULL;
	EVP_MD_CTX *ctx = NULL;
	int derlen, r = ANCHOR_E_TAMPERED;

	if (siglen != 2 * half)
		return ANCHOR_E_TAMPERED;
	if ((es = ECDSA_SIG_new()) == NULL ||
	    (br = BN_bin2bn(sig, (int)half, NULL)) == NULL ||
	    (bs = BN_bin2bn(sig + half, (int)half, NULL)) == NULL ||
	    !ECDSA_SIG_set0(es, br, bs)) {
		BN_free(br);
		BN_free(bs);
		r = ANCHOR_E_CRYPTO;
		goto out;
	}
	if ((derlen = i2d_ECDSA_SIG(es, &der)) <= 0) {
		r = ANCHOR_E_CRYPTO;
		goto out;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(ctx, NULL, md, NULL, pk) != 1)
		goto out;
	if (EVP_DigestVerify(ctx, der, (size_t)derlen, msg, msglen) == 1)
		r = ANCHOR_OK;
 out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	return r;
}
