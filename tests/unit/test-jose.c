/*
 * Unit tests for src/jose.c: base64url, JWKs, RFC 7638 thumbprints and the
 * F1/F2/F3 producers, checked with OpenSSL and, for interoperability, with
 * tests/jws_verify.py (python3-jwcrypto).
 */
#include "config.h"

/* legacy (engine) keys are built with the deprecated EC_KEY/RSA calls */
#ifndef OPENSSL_SUPPRESS_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#endif

#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "error.h"
#include "jose.h"
#include "util.h"

#define TD "prod.example.com"
#define VERIFY_PY SRCDIR "/tests/jws_verify.py"

static const char f2_crit[] =
    "[\"spiffe_trust_domain\",\"spiffe_sequence\",\"iat\",\"exp\"]";
static const char f3_crit[] = "[\"spiffe_trust_domain\",\"signers_version\"]";

struct keys {
	EVP_PKEY *p256a, *p256b, *p384, *rsa;
	uint8_t *ca_der;	/* self-signed CA certificate for p256a */
	size_t ca_len;
};

/* A software signer standing in for the token. */
struct soft_signer {
	EVP_PKEY *key;
	int len_delta;		/* added to the returned length */
	int fail;		/* return this instead of signing */
	unsigned calls;
};

/* --- helpers ----------------------------------------------------------- */

static size_t
ec_field_size(EVP_PKEY *pk)
{
	return ((size_t)EVP_PKEY_get_bits(pk) + 7) / 8;
}

static const EVP_MD *
ec_md(EVP_PKEY *pk)
{
	return ec_field_size(pk) == 48 ? EVP_sha384() : EVP_sha256();
}

static int
soft_sign(void *arg, const char *kid, const uint8_t *msg, size_t msglen,
    uint8_t *sig, size_t *siglen)
{
	struct soft_signer *ss = arg;
	EVP_MD_CTX *mctx = NULL;
	ECDSA_SIG *es = NULL;
	uint8_t der[256];
	const unsigned char *p = der;
	size_t derlen = sizeof(der), fs = ec_field_size(ss->key);
	const BIGNUM *r, *s;
	int rv = ANCHOR_E_CRYPTO;

	ss->calls++;
	if (ss->fail != 0)
		return ss->fail;
	if (kid == NULL || *siglen < 2 * fs)
		return ANCHOR_E_INVAL;
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(mctx, NULL, ec_md(ss->key), NULL,
	    ss->key) != 1 ||
	    EVP_DigestSign(mctx, der, &derlen, msg, msglen) != 1 ||
	    (es = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL)
		goto out;
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, sig, (int)fs) != (int)fs ||
	    BN_bn2binpad(s, sig + fs, (int)fs) != (int)fs)
		goto out;
	*siglen = (size_t)((long)(2 * fs) + ss->len_delta);
	rv = ANCHOR_OK;
 out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(mctx);
	return rv;
}

/* 1 when rs (raw r||s) is a valid signature of msg by key. */
static int
verify_rs(EVP_PKEY *key, const char *msg, size_t msglen, const uint8_t *rs,
    size_t rslen)
{
	size_t fs = ec_field_size(key);
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	EVP_MD_CTX *mctx = NULL;
	unsigned char *der = NULL;
	int derlen, ok = 0;

	if (rslen != 2 * fs)
		return 0;
	if ((es = ECDSA_SIG_new()) == NULL ||
	    (r = BN_bin2bn(rs, (int)fs, NULL)) == NULL ||
	    (s = BN_bin2bn(rs + fs, (int)fs, NULL)) == NULL ||
	    ECDSA_SIG_set0(es, r, s) != 1)
		goto out;
	r = s = NULL;
	if ((derlen = i2d_ECDSA_SIG(es, &der)) <= 0)
		goto out;
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(mctx, NULL, ec_md(key), NULL, key) != 1)
		goto out;
	ok = EVP_DigestVerify(mctx, der, (size_t)derlen,
	    (const unsigned char *)msg, msglen) == 1;
 out:
	EVP_MD_CTX_free(mctx);
	OPENSSL_free(der);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return ok;
}

static EVP_PKEY *
gen_ec(const char *curve)
{
	EVP_PKEY *pk = EVP_EC_gen(curve);

	assert_non_null(pk);
	return pk;
}

static uint8_t *
make_ca_cert(EVP_PKEY *key, size_t *len)
{
	X509 *x = X509_new();
	X509_NAME *name;
	unsigned char *der = NULL;
	int n;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC,
	    (const unsigned char *)"US", -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	    (const unsigned char *)"Example Corp", -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	n = i2d_X509(x, &der);
	assert_true(n > 0);
	X509_free(x);
	*len = (size_t)n;
	return der;
}

static uint8_t *
b64url_dec(const char *s, size_t *len)
{
	uint8_t *out = NULL;

	assert_int_equal(anchor_b64url_decode(s, strlen(s), &out, len),
	    ANCHOR_OK);
	return out;
}

static char *
b64url_enc(const uint8_t *in, size_t len)
{
	char *out = NULL;

	assert_int_equal(anchor_b64url_encode(in, len, &out), ANCHOR_OK);
	return out;
}

static const char *
jstr(json_t *obj, const char *name)
{
	return json_string_value(json_object_get(obj, name));
}

static json_t *
parse_json(const char *s, size_t len)
{
	json_error_t err;
	json_t *j = json_loadb(s, len, JSON_REJECT_DUPLICATES, &err);

	if (j == NULL)
		fail_msg("JSON: %s", err.text);
	return j;
}

/* The members of obj, in order, joined by ','. */
static void
assert_members(json_t *obj, const char *expected)
{
	char names[512] = "";
	const char *k;
	json_t *v;

	assert_true(json_is_object(obj));
	json_object_foreach(obj, k, v) {
		if (names[0] != '\0')
			strcat(names, ",");
		strcat(names, k);
	}
	assert_string_equal(names, expected);
}

static void
assert_b64url_bn(const char *b64, const BIGNUM *bn, size_t pad)
{
	uint8_t *got, want[1024];
	size_t glen, wlen;

	got = b64url_dec(b64, &glen);
	if (pad != 0) {
		assert_int_equal(BN_bn2binpad(bn, want, (int)pad), (int)pad);
		wlen = pad;
	} else {
		wlen = (size_t)BN_bn2bin(bn, want);
		assert_true(wlen > 0 && want[0] != 0);
	}
	assert_int_equal(glen, wlen);
	assert_memory_equal(got, want, wlen);
	free(got);
}

static EVP_PKEY *
pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pk = NULL;

	assert_non_null(params);
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY,
	    params), 1);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pk;
}

/* A public EVP_PKEY from a JWK (EC or RSA), as a vector gives it. */
static EVP_PKEY *
pkey_from_jwk(json_t *jwk)
{
	const char *kty = jstr(jwk, "kty");
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY *pk;

	assert_non_null(kty);
	assert_non_null(bld);
	if (strcmp(kty, "EC") == 0) {
		const char *crv = jstr(jwk, "crv");
		uint8_t *x, *y, pt[1 + 2 * 66];
		size_t xl, yl;

		assert_non_null(crv);
		x = b64url_dec(jstr(jwk, "x"), &xl);
		y = b64url_dec(jstr(jwk, "y"), &yl);
		assert_int_equal(xl, yl);
		assert_true(xl <= 66);
		pt[0] = 0x04;
		memcpy(pt + 1, x, xl);
		memcpy(pt + 1 + xl, y, yl);
		assert_int_equal(OSSL_PARAM_BLD_push_utf8_string(bld,
		    OSSL_PKEY_PARAM_GROUP_NAME, crv, 0), 1);
		assert_int_equal(OSSL_PARAM_BLD_push_octet_string(bld,
		    OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + xl + yl), 1);
		pk = pkey_from_params("EC", bld);
		free(x);
		free(y);
	} else {
		uint8_t *n, *e;
		size_t nl, el;
		BIGNUM *bn = NULL, *be = NULL;

		assert_string_equal(kty, "RSA");
		n = b64url_dec(jstr(jwk, "n"), &nl);
		e = b64url_dec(jstr(jwk, "e"), &el);
		assert_non_null(bn = BN_bin2bn(n, (int)nl, NULL));
		assert_non_null(be = BN_bin2bn(e, (int)el, NULL));
		assert_int_equal(OSSL_PARAM_BLD_push_BN(bld,
		    OSSL_PKEY_PARAM_RSA_N, bn), 1);
		assert_int_equal(OSSL_PARAM_BLD_push_BN(bld,
		    OSSL_PKEY_PARAM_RSA_E, be), 1);
		pk = pkey_from_params("RSA", bld);
		BN_free(bn);
		BN_free(be);
		free(n);
		free(e);
	}
	OSSL_PARAM_BLD_free(bld);
	assert_non_null(pk);
	return pk;
}

static void
vector_path(char *buf, size_t len, const char *rel)
{
	const char *dir = getenv("ANCHOR_VECTORS");

	if (dir == NULL || dir[0] == '\0')
		dir = SRCDIR "/../shared/vectors";
	assert_true((size_t)snprintf(buf, len, "%s/%s", dir, rel) < len);
}

/* --- fixtures ---------------------------------------------------------- */

static int
setup(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return -1;
	k->p256a = EVP_EC_gen("P-256");
	k->p256b = EVP_EC_gen("P-256");
	k->p384 = EVP_EC_gen("P-384");
	k->rsa = EVP_RSA_gen(2048);
	if (k->p256a == NULL || k->p256b == NULL || k->p384 == NULL ||
	    k->rsa == NULL)
		return -1;
	k->ca_der = make_ca_cert(k->p256a, &k->ca_len);
	*state = k;
	return 0;
}

static int
teardown(void **state)
{
	struct keys *k = *state;

	if (k == NULL)
		return 0;
	EVP_PKEY_free(k->p256a);
	EVP_PKEY_free(k->p256b);
	EVP_PKEY_free(k->p384);
	EVP_PKEY_free(k->rsa);
	OPENSSL_free(k->ca_der);
	free(k);
	return 0;
}

/* --- base64url --------------------------------------------------------- */

static void
test_b64url_known(void **state)
{
	static const struct {
		const char *raw, *enc;
	} v[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" }, { "\xfb\xff", "-_8" },
		{ "\xff\xff\xbe", "__--" },
	};
	size_t i;

	for (i = 0; i < ANCHOR_ARRAY_SIZE(v); i++) {
		char *enc = b64url_enc((const uint8_t *)v[i].raw,
		    strlen(v[i].raw));
		uint8_t *dec;
		size_t len;

		assert_string_equal(enc, v[i].enc);
		dec = b64url_dec(enc, &len);
		assert_non_null(dec);
		assert_int_equal(len, strlen(v[i].raw));
		assert_memory_equal(dec, v[i].raw, len);
		free(enc);
		free(dec);
	}
}

static void
test_b64url_roundtrip(void **state)
{
	uint8_t in[200];
	size_t len;

	assert_int_equal(RAND_bytes(in, sizeof(in)), 1);
	for (len = 0; len <= sizeof(in); len++) {
		char *enc = b64url_enc(in, len);
		uint8_t *dec;
		size_t dlen;

		assert_int_equal(strlen(enc), (len * 4 + 2) / 3);
		assert_null(strpbrk(enc, "=+/ \n"));
		dec = b64url_dec(enc, &dlen);
		assert_int_equal(dlen, len);
		if (len > 0)
			assert_memory_equal(dec, in, len);
		free(enc);
		free(dec);
	}
}

static void
test_b64url_strict(void **state)
{
	static const char *bad[] = {
		/* padding, bad lengths */
		"Zg==", "Zg=", "Zm8=", "=", "Z", "Zm9vY",
		/* the standard alphabet */
		"a+b/", "Zm9+", "Zm9/",
		/* whitespace */
		" Zg", "Zg ", "Zm\n9v", "Zm9v\n", "Zm\t9v",
		/* non-canonical trailing bits */
		"Zh", "Zm9", "Zm9vYh", "-_9",
		/* other characters */
		"Zm9v*", "Zm9v.",
	};
	uint8_t sentinel[1] = { 'x' }, *out = sentinel;
	size_t i, len = 1;

	for (i = 0; i < ANCHOR_ARRAY_SIZE(bad); i++) {
		int r = anchor_b64url_decode(bad[i], strlen(bad[i]), &out,
		    &len);

		if (r != ANCHOR_E_INVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_null(out);
		assert_int_equal(len, 0);
	}
	/* an embedded NUL inside the given length */
	assert_int_equal(anchor_b64url_decode("Zm\0v", 4, &out, &len),
	    ANCHOR_E_INVAL);
	/* the length bounds the input: "Zg9v" read as "Zg" */
	assert_int_equal(anchor_b64url_decode("Zg9v", 2, &out, &len),
	    ANCHOR_OK);
	assert_int_equal(len, 1);
	assert_int_equal(out[0], 'f');
	free(out);
	assert_int_equal(anchor_b64url_decode("", 0, &out, &len), ANCHOR_OK);
	assert_non_null(out);
	assert_int_equal(len, 0);
	free(out);
}

/* --- JWK and thumbprints ----------------------------------------------- */

static void
test_thumbprint_vectors(void **state)
{
	char path[PATH_MAX], file[PATH_MAX];
	json_error_t err;
	json_t *vec, *tp;
	const char *name;
	unsigned n_ec = 0, n_rsa = 0;

	vector_path(path, sizeof(path), "jose/thumbprints_sha256.json");
	vec = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
	if (vec == NULL)
		fail_msg("%s: %s", path, err.text);
	json_object_foreach(vec, name, tp) {
		char rel[256], kid[ANCHOR_KID_LEN + 1], *jwk_out;
		const char *paren, *mem;
		json_t *doc, *key, *mine, *val;
		EVP_PKEY *pk;

		/* paths under jose/ or jose/cookbook/, maybe with "(note)" */
		snprintf(rel, sizeof(rel), "%s", name);
		if ((paren = strstr(rel, " (")) != NULL)
			rel[paren - rel] = '\0';
		if (strstr(rel, ".json") == NULL)
			strcat(rel, ".json");
		snprintf(file, sizeof(file), "jose/%s", rel);
		vector_path(path, sizeof(path), file);
		if (access(path, R_OK) != 0) {
			snprintf(file, sizeof(file), "jose/cookbook/%s", rel);
			vector_path(path, sizeof(path), file);
		}
		doc = json_load_file(path, 0, &err);
		if (doc == NULL)
			fail_msg("%s: %s", path, err.text);
		key = json_object_get(doc, "key");
		if (!json_is_object(key))
			key = doc;
		pk = pkey_from_jwk(key);

		assert_int_equal(anchor_jwk_thumbprint(pk, kid), ANCHOR_OK);
		assert_int_equal(strlen(kid), ANCHOR_KID_LEN);
		assert_string_equal(kid, json_string_value(tp));

		/* the JWK written from the key gives back the same members */
		assert_int_equal(anchor_jwk(pk, NULL, NULL, NULL, NULL, 0,
		    &jwk_out), ANCHOR_OK);
		mine = parse_json(jwk_out, strlen(jwk_out));
		if (strcmp(jstr(key, "kty"),
		    "EC") == 0) {
			assert_members(mine, "kty,crv,x,y");
			n_ec++;
		} else {
			assert_members(mine, "kty,n,e");
			n_rsa++;
		}
		json_object_foreach(mine, mem, val) {
			assert_string_equal(json_string_value(val),
			    jstr(key, mem));
		}
		json_decref(mine);
		free(jwk_out);
		EVP_PKEY_free(pk);
		json_decref(doc);
	}
	assert_true(n_ec > 0);
	assert_true(n_rsa > 0);
	json_decref(vec);
}

static void
check_jwk_ec(EVP_PKEY *pk, const char *crv, size_t fs)
{
	char *out = NULL, kid[ANCHOR_KID_LEN + 1];
	BIGNUM *x = NULL, *y = NULL;
	json_t *j;

	assert_int_equal(anchor_jwk(pk, NULL, NULL, NULL, NULL, 0, &out),
	    ANCHOR_OK);
	j = parse_json(out, strlen(out));
	assert_members(j, "kty,crv,x,y");
	assert_string_equal(jstr(j, "kty"), "EC");
	assert_string_equal(jstr(j, "crv"), crv);
	assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X,
	    &x), 1);
	assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y,
	    &y), 1);
	assert_b64url_bn(jstr(j, "x"), x, fs);
	assert_b64url_bn(jstr(j, "y"), y, fs);

	/* the thumbprint input is exactly the documented text */
	{
		char canon[512];
		uint8_t md[32];
		unsigned int mdlen;
		char *want;

		snprintf(canon, sizeof(canon),
		    "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
		    crv, jstr(j, "x"),
		    jstr(j, "y"));
		assert_int_equal(EVP_Digest(canon, strlen(canon), md, &mdlen,
		    EVP_sha256(), NULL), 1);
		want = b64url_enc(md, sizeof(md));
		assert_int_equal(anchor_jwk_thumbprint(pk, kid), ANCHOR_OK);
		assert_string_equal(kid, want);
		free(want);
	}
	BN_free(x);
	BN_free(y);
	json_decref(j);
	free(out);
}

static void
test_jwk_p256(void **state)
{
	struct keys *k = *state;
	EVP_PKEY *pk = NULL;
	BIGNUM *x = NULL;
	int i;

	check_jwk_ec(k->p256a, "P-256", 32);
	/* a key whose x has a leading zero byte must still give 32 bytes */
	for (i = 0; i < 8192; i++) {
		pk = gen_ec("P-256");
		assert_int_equal(EVP_PKEY_get_bn_param(pk,
		    OSSL_PKEY_PARAM_EC_PUB_X, &x), 1);
		if (BN_num_bytes(x) < 32)
			break;
		BN_free(x);
		x = NULL;
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	assert_non_null(pk);
	check_jwk_ec(pk, "P-256", 32);
	BN_free(x);
	EVP_PKEY_free(pk);
}

static void
test_jwk_p384(void **state)
{
	struct keys *k = *state;

	check_jwk_ec(k->p384, "P-384", 48);
}

static void
test_jwk_rsa(void **state)
{
	struct keys *k = *state;
	char *out = NULL, kid[ANCHOR_KID_LEN + 1], canon[2048];
	BIGNUM *n = NULL, *e = NULL;
	uint8_t md[32];
	unsigned int mdlen;
	char *want;
	json_t *j;

	assert_int_equal(anchor_jwk(k->rsa, "jwt-svid", "abc", "RS256", NULL, 0,
	    &out), ANCHOR_OK);
	j = parse_json(out, strlen(out));
	assert_members(j, "kty,use,kid,n,e,alg");
	assert_string_equal(jstr(j, "kty"), "RSA");
	assert_string_equal(jstr(j, "e"), "AQAB");
	assert_int_equal(EVP_PKEY_get_bn_param(k->rsa, OSSL_PKEY_PARAM_RSA_N,
	    &n), 1);
	assert_int_equal(EVP_PKEY_get_bn_param(k->rsa, OSSL_PKEY_PARAM_RSA_E,
	    &e), 1);
	assert_b64url_bn(jstr(j, "n"), n, 0);
	assert_b64url_bn(jstr(j, "e"), e, 0);

	snprintf(canon, sizeof(canon),
	    "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
	    jstr(j, "e"),
	    jstr(j, "n"));
	assert_int_equal(EVP_Digest(canon, strlen(canon), md, &mdlen,
	    EVP_sha256(), NULL), 1);
	want = b64url_enc(md, sizeof(md));
	assert_int_equal(anchor_jwk_thumbprint(k->rsa, kid), ANCHOR_OK);
	assert_string_equal(kid, want);
	free(want);
	BN_free(n);
	BN_free(e);
	json_decref(j);
	free(out);
}

static void
test_jwk_members(void **state)
{
	struct keys *k = *state;
	char *out = NULL, *std;
	json_t *j, *x5c;
	int n;

	assert_int_equal(anchor_jwk(k->p256a, "x509-svid", "k1", "ES256",
	    k->ca_der, k->ca_len, &out), ANCHOR_OK);
	j = parse_json(out, strlen(out));
	assert_members(j, "kty,use,kid,crv,x,y,x5c,alg");
	x5c = json_object_get(j, "x5c");
	assert_int_equal(json_array_size(x5c), 1);
	/* x5c is standard, padded base64 of the DER */
	std = calloc(1, (k->ca_len + 2) / 3 * 4 + 1);
	assert_non_null(std);
	n = EVP_EncodeBlock((unsigned char *)std, k->ca_der, (int)k->ca_len);
	assert_true(n > 0);
	assert_string_equal(json_string_value(json_array_get(x5c, 0)), std);
	assert_null(strchr(out, ' '));
	assert_null(strchr(out, '\n'));
	free(std);
	json_decref(j);
	free(out);

	/* x5c with a length of zero is refused */
	assert_int_equal(anchor_jwk(k->p256a, NULL, NULL, NULL, k->ca_der, 0,
	    &out), ANCHOR_E_INVAL);
	assert_null(out);
	assert_int_equal(anchor_jwk(NULL, NULL, NULL, NULL, NULL, 0, &out),
	    ANCHOR_E_INVAL);
}

/* Same JWK whatever the key's form: provider, legacy, compressed point. */
static void
assert_same_jwk(EVP_PKEY *ref, EVP_PKEY *pk)
{
	char k1[ANCHOR_KID_LEN + 1], k2[ANCHOR_KID_LEN + 1], *j1, *j2;

	assert_int_equal(anchor_jwk_thumbprint(ref, k1), ANCHOR_OK);
	assert_int_equal(anchor_jwk_thumbprint(pk, k2), ANCHOR_OK);
	assert_string_equal(k1, k2);
	assert_int_equal(anchor_jwk(ref, NULL, NULL, NULL, NULL, 0, &j1),
	    ANCHOR_OK);
	assert_int_equal(anchor_jwk(pk, NULL, NULL, NULL, NULL, 0, &j2),
	    ANCHOR_OK);
	assert_string_equal(j1, j2);
	free(j1);
	free(j2);
	assert_string_equal(anchor_jws_alg(ref), anchor_jws_alg(pk));
}

static void
test_jwk_key_forms(void **state)
{
	struct keys *k = *state;
	EVP_PKEY *lg, *dup;
	EC_KEY *ec;
	RSA *rsa;

	/* legacy EC, as an engine such as libp11 returns it */
	assert_non_null(ec = EVP_PKEY_get1_EC_KEY(k->p384));
	assert_non_null(lg = EVP_PKEY_new());
	assert_int_equal(EVP_PKEY_set1_EC_KEY(lg, ec), 1);
	assert_null(EVP_PKEY_get0_provider(lg));
	assert_same_jwk(k->p384, lg);
	EC_KEY_set_conv_form(ec, POINT_CONVERSION_COMPRESSED);
	assert_same_jwk(k->p384, lg);
	EVP_PKEY_free(lg);
	EC_KEY_free(ec);

	/* a provider key set to write compressed points */
	assert_non_null(dup = EVP_PKEY_dup(k->p256a));
	assert_int_equal(EVP_PKEY_set_utf8_string_param(dup,
	    OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"), 1);
	assert_same_jwk(k->p256a, dup);
	EVP_PKEY_free(dup);

	/* legacy RSA */
	assert_non_null(rsa = EVP_PKEY_get1_RSA(k->rsa));
	assert_non_null(lg = EVP_PKEY_new());
	assert_int_equal(EVP_PKEY_set1_RSA(lg, rsa), 1);
	assert_same_jwk(k->rsa, lg);
	EVP_PKEY_free(lg);
	RSA_free(rsa);
}

static void
test_jws_alg(void **state)
{
	struct keys *k = *state;
	EVP_PKEY *p521 = gen_ec("P-521");

	assert_string_equal(anchor_jws_alg(k->p256a), "ES256");
	assert_string_equal(anchor_jws_alg(k->p384), "ES384");
	assert_string_equal(anchor_jws_alg(k->rsa), "RS256");
	assert_null(anchor_jws_alg(p521));
	assert_null(anchor_jws_alg(NULL));
	EVP_PKEY_free(p521);
}

/* --- F1 ---------------------------------------------------------------- */

static void
test_f1_bundle(void **state)
{
	struct keys *k = *state;
	struct anchor_authority auth[3];
	char kid[ANCHOR_KID_LEN + 1], kid_rsa[ANCHOR_KID_LEN + 1];
	char *a = NULL, *b = NULL;
	size_t alen, blen;
	json_t *j, *keys, *e, *x5c;
	uint8_t *der;
	size_t derlen;

	memset(auth, 0, sizeof(auth));
	auth[0].role = ANCHOR_ROLE_X509_CA;
	auth[0].pub = k->p256a;
	auth[0].cert_der = k->ca_der;
	auth[0].cert_len = k->ca_len;
	auth[1].role = ANCHOR_ROLE_JWT;
	auth[1].pub = k->p256b;
	auth[2].role = ANCHOR_ROLE_JWT;
	auth[2].pub = k->rsa;
	assert_int_equal(anchor_jwk_thumbprint(k->p256b, kid), ANCHOR_OK);
	assert_int_equal(anchor_jwk_thumbprint(k->rsa, kid_rsa), ANCHOR_OK);
	auth[1].kid = kid;		/* given; auth[2] computed */

	assert_int_equal(anchor_f1_bundle(auth, 3, 42, 300, &a, &alen),
	    ANCHOR_OK);
	assert_int_equal(anchor_f1_bundle(auth, 3, 42, 300, &b, &blen),
	    ANCHOR_OK);
	assert_int_equal(alen, blen);
	assert_int_equal(strlen(a), alen);
	assert_memory_equal(a, b, alen);

	j = parse_json(a, alen);
	assert_members(j, "keys,spiffe_sequence,spiffe_refresh_hint");
	assert_true(json_is_integer(json_object_get(j, "spiffe_sequence")));
	assert_int_equal(json_integer_value(json_object_get(j,
	    "spiffe_sequence")), 42);
	assert_int_equal(json_integer_value(json_object_get(j,
	    "spiffe_refresh_hint")), 300);
	keys = json_object_get(j, "keys");
	assert_int_equal(json_array_size(keys), 3);

	e = json_array_get(keys, 0);
	assert_members(e, "kty,use,crv,x,y,x5c");
	assert_null(json_object_get(e, "kid"));
	assert_string_equal(jstr(e, "use"),
	    "x509-svid");
	x5c = json_object_get(e, "x5c");
	assert_int_equal(json_array_size(x5c), 1);
	{
		const char *s = json_string_value(json_array_get(x5c, 0));
		size_t sl = strlen(s);

		der = calloc(1, sl);
		assert_non_null(der);
		assert_int_equal(EVP_DecodeBlock(der, (const unsigned char *)s,
		    (int)sl), (int)((sl / 4) * 3));
		derlen = k->ca_len;
		assert_memory_equal(der, k->ca_der, derlen);
		free(der);
	}

	e = json_array_get(keys, 1);
	assert_members(e, "kty,use,kid,crv,x,y");
	assert_string_equal(jstr(e, "use"),
	    "jwt-svid");
	assert_string_equal(jstr(e, "kid"), kid);

	e = json_array_get(keys, 2);
	assert_members(e, "kty,use,kid,n,e");
	assert_string_equal(jstr(e, "kid"),
	    kid_rsa);

	/* compact: the whole text has no whitespace outside strings */
	assert_null(strpbrk(a, " \n\t\r"));
	json_decref(j);
	free(a);
	free(b);

	/* an empty key set is a valid bundle (every key revoked) */
	assert_int_equal(anchor_f1_bundle(NULL, 0, 7, 60, &a, &alen),
	    ANCHOR_OK);
	assert_string_equal(a,
	    "{\"keys\":[],\"spiffe_sequence\":7,\"spiffe_refresh_hint\":60}");
	free(a);
}

static void
test_f1_sequence_range(void **state)
{
	char *a = NULL;
	size_t alen;

	/* above INT64_MAX: written exactly, not wrapped */
	assert_int_equal(anchor_f1_bundle(NULL, 0, UINT64_MAX, 300, &a, &alen),
	    ANCHOR_OK);
	assert_string_equal(a, "{\"keys\":[],\"spiffe_sequence\":"
	    "18446744073709551615,\"spiffe_refresh_hint\":300}");
	free(a);
	assert_int_equal(anchor_f1_bundle(NULL, 0, (uint64_t)INT64_MAX + 1, 0,
	    &a, &alen), ANCHOR_OK);
	assert_non_null(strstr(a, ":9223372036854775808,"));
	free(a);
}

static void
test_f1_refusals(void **state)
{
	struct keys *k = *state;
	struct anchor_authority a;
	char sentinel[1] = { 'x' }, *out = sentinel;
	size_t len = 1;
	uint8_t *junk;

	memset(&a, 0, sizeof(a));
	/* x509-ca without a certificate */
	a.role = ANCHOR_ROLE_X509_CA;
	a.pub = k->p256a;
	assert_int_equal(anchor_f1_bundle(&a, 1, 1, 300, &out, &len),
	    ANCHOR_E_INVAL);
	assert_null(out);
	/* a certificate for another key */
	a.pub = k->p256b;
	a.cert_der = k->ca_der;
	a.cert_len = k->ca_len;
	assert_int_equal(anchor_f1_bundle(&a, 1, 1, 300, &out, &len),
	    ANCHOR_E_INVAL);
	/* bytes after the certificate */
	junk = malloc(k->ca_len + 1);
	assert_non_null(junk);
	memcpy(junk, k->ca_der, k->ca_len);
	junk[k->ca_len] = 0;
	a.pub = k->p256a;
	a.cert_der = junk;
	a.cert_len = k->ca_len + 1;
	assert_int_equal(anchor_f1_bundle(&a, 1, 1, 300, &out, &len),
	    ANCHOR_E_INVAL);
	/* a truncated certificate */
	a.cert_len = k->ca_len - 1;
	assert_int_equal(anchor_f1_bundle(&a, 1, 1, 300, &out, &len),
	    ANCHOR_E_INVAL);
	free(junk);
	/* a jwt kid that is not the thumbprint */
	memset(&a, 0, sizeof(a));
	a.role = ANCHOR_ROLE_JWT;
	a.pub = k->p256b;
	a.kid = "not-the-thumbprint";
	assert_int_equal(anchor_f1_bundle(&a, 1, 1, 300, &out, &len),
	    ANCHOR_E_INVAL);
	/* bundle-signing keys are not bundle authorities */
	a.role = ANCHOR_ROLE_BUNDLE_SIGNING;
	a.kid = NULL;
	assert_int_equal(anchor_f1_bundle(&a, 1, 1, 300, &out, &len),
	    ANCHOR_E_INVAL);
	a.role = ANCHOR_ROLE_JWT;
	assert_int_equal(anchor_f1_bundle(&a, 1, 1, -1, &out, &len),
	    ANCHOR_E_INVAL);
	assert_null(out);
	assert_int_equal(len, 0);
}

/* --- F2 / F3 ----------------------------------------------------------- */

static char *
f2_header(const char *alg, const char *kid, uint64_t seq, int64_t iat,
    int64_t exp)
{
	char *h = NULL;

	assert_true(asprintf(&h, "{\"alg\":\"%s\",\"kid\":\"%s\","
	    "\"typ\":\"spiffe-bundle+jws\",\"crit\":%s,"
	    "\"spiffe_trust_domain\":\"%s\",\"spiffe_sequence\":%" PRIu64 ","
	    "\"iat\":%" PRId64 ",\"exp\":%" PRId64 "}",
	    alg, kid, f2_crit, TD, seq, iat, exp) > 0);
	return h;
}

static char *
f3_header(const char *alg, const char *kid, unsigned version)
{
	char *h = NULL;

	assert_true(asprintf(&h, "{\"alg\":\"%s\",\"kid\":\"%s\","
	    "\"typ\":\"spiffe-signers+jws\",\"crit\":%s,"
	    "\"spiffe_trust_domain\":\"%s\",\"signers_version\":%u}",
	    alg, kid, f3_crit, TD, version) > 0);
	return h;
}

/*
 * Check an envelope: exactly {payload, signatures}, the payload, and for
 * each signature exactly {protected, signature}, the header text and an
 * OpenSSL verification with keys[i].
 */
static void
check_envelope(const char *env, size_t envlen, const uint8_t *payload,
    size_t plen, EVP_PKEY *const *keys, char *const *headers, size_t n)
{
	json_t *j = parse_json(env, envlen), *sigs;
	const char *p64;
	uint8_t *dec;
	size_t dlen, i;

	assert_int_equal(strlen(env), envlen);
	assert_members(j, "payload,signatures");
	p64 = jstr(j, "payload");
	assert_non_null(p64);
	dec = b64url_dec(p64, &dlen);
	assert_int_equal(dlen, plen);
	assert_memory_equal(dec, payload, plen);
	free(dec);
	sigs = json_object_get(j, "signatures");
	assert_int_equal(json_array_size(sigs), n);
	for (i = 0; i < n; i++) {
		json_t *s = json_array_get(sigs, i);
		const char *h64, *s64;
		uint8_t *hdr, *sig;
		size_t hlen, slen;
		char *input = NULL;

		assert_members(s, "protected,signature");
		h64 = jstr(s, "protected");
		s64 = jstr(s, "signature");
		hdr = b64url_dec(h64, &hlen);
		assert_int_equal(hlen, strlen(headers[i]));
		assert_memory_equal(hdr, headers[i], hlen);
		sig = b64url_dec(s64, &slen);
		assert_int_equal(slen, 2 * ec_field_size(keys[i]));
		assert_true(asprintf(&input, "%s.%s", h64, p64) > 0);
		assert_true(verify_rs(keys[i], input, strlen(input), sig,
		    slen));
		/* and not for another message */
		input[0] ^= 1;
		assert_false(verify_rs(keys[i], input, strlen(input), sig,
		    slen));
		free(input);
		free(hdr);
		free(sig);
	}
	json_decref(j);
}

static void
test_f2_one_signer(void **state)
{
	struct keys *k = *state;
	static const uint8_t payload[] =
	    "{\"keys\":[],\"spiffe_sequence\":42,\"spiffe_refresh_hint\":300}";
	struct soft_signer ss = { .key = k->p256a };
	struct anchor_jws_signer s;
	char kid[ANCHOR_KID_LEN + 1], *env = NULL, *hdr[1];
	size_t envlen;

	assert_int_equal(anchor_jwk_thumbprint(k->p256a, kid), ANCHOR_OK);
	s = (struct anchor_jws_signer){ kid, "ES256", soft_sign, &ss };
	assert_int_equal(anchor_f2_sign(TD, 42, 1767225600, 1767830400,
	    payload, sizeof(payload) - 1, &s, 1, &env, &envlen), ANCHOR_OK);
	assert_int_equal(ss.calls, 1);
	hdr[0] = f2_header("ES256", kid, 42, 1767225600, 1767830400);
	check_envelope(env, envlen, payload, sizeof(payload) - 1, &k->p256a,
	    hdr, 1);
	free(hdr[0]);
	free(env);

	/* a sequence above INT64_MAX is written exactly in the header */
	assert_int_equal(anchor_f2_sign(TD, UINT64_MAX, 1, 2, payload,
	    sizeof(payload) - 1, &s, 1, &env, &envlen), ANCHOR_OK);
	hdr[0] = f2_header("ES256", kid, UINT64_MAX, 1, 2);
	check_envelope(env, envlen, payload, sizeof(payload) - 1, &k->p256a,
	    hdr, 1);
	free(hdr[0]);
	free(env);
}

static void
test_f2_two_signers(void **state)
{
	struct keys *k = *state;
	static const uint8_t payload[] = "{\"keys\":[],\"spiffe_sequence\":9}";
	struct soft_signer ss[2] = { { .key = k->p256a }, { .key = k->p384 } };
	struct anchor_jws_signer s[2];
	char kid[2][ANCHOR_KID_LEN + 1], *env = NULL, *hdr[2];
	EVP_PKEY *keys[2] = { k->p256a, k->p384 };
	size_t envlen;

	assert_int_equal(anchor_jwk_thumbprint(k->p256a, kid[0]), ANCHOR_OK);
	assert_int_equal(anchor_jwk_thumbprint(k->p384, kid[1]), ANCHOR_OK);
	s[0] = (struct anchor_jws_signer){ kid[0], "ES256", soft_sign, &ss[0] };
	s[1] = (struct anchor_jws_signer){ kid[1], "ES384", soft_sign, &ss[1] };
	assert_int_equal(anchor_f2_sign(TD, 9, 1000, 2000, payload,
	    sizeof(payload) - 1, s, 2, &env, &envlen), ANCHOR_OK);
	hdr[0] = f2_header("ES256", kid[0], 9, 1000, 2000);
	hdr[1] = f2_header("ES384", kid[1], 9, 1000, 2000);
	check_envelope(env, envlen, payload, sizeof(payload) - 1, keys, hdr, 2);
	free(hdr[0]);
	free(hdr[1]);
	free(env);
}

static void
test_f2_refusals(void **state)
{
	struct keys *k = *state;
	static const uint8_t payload[] = "{}";
	struct soft_signer ss = { .key = k->p256a };
	struct anchor_jws_signer s[9];
	char kids[9][8], sentinel[1] = { 'x' }, *env = sentinel;
	size_t i, envlen = 1;

	for (i = 0; i < 9; i++) {
		snprintf(kids[i], sizeof(kids[i]), "k%zu", i);
		s[i] = (struct anchor_jws_signer){ kids[i], "ES256", soft_sign,
		    &ss };
	}
	/* 0 and 9 signers; 8 is the most */
	assert_int_equal(anchor_f2_sign(TD, 1, 1, 2, payload, 2, s, 0, &env,
	    &envlen), ANCHOR_E_INVAL);
	assert_null(env);
	assert_int_equal(envlen, 0);
	assert_int_equal(anchor_f2_sign(TD, 1, 1, 2, payload, 2, s, 9, &env,
	    &envlen), ANCHOR_E_INVAL);
	assert_int_equal(ss.calls, 0);
	assert_int_equal(anchor_f2_sign(TD, 1, 1, 2, payload, 2, s, 8, &env,
	    &envlen), ANCHOR_OK);
	assert_int_equal(ss.calls, 8);
	free(env);

	/* a repeated kid, before anything is signed */
	ss.calls = 0;
	s[2].kid = kids[0];
	assert_int_equal(anchor_f2_sign(TD, 1, 1, 2, payload, 2, s, 3, &env,
	    &envlen), ANCHOR_E_INVAL);
	assert_int_equal(ss.calls, 0);
	assert_null(env);
	s[2].kid = kids[2];

	/* a signature of the wrong length, short or long */
	ss.len_delta = -1;
	assert_int_equal(anchor_f2_sign(TD, 1, 1, 2, payload, 2, s, 1, &env,
	    &envlen), ANCHOR_E_CRYPTO);
	assert_null(env);
	ss.len_delta = 1;
	assert_int_equal(anchor_f2_sign(TD, 1, 1, 2, payload, 2, s, 1, &env,
	    &envlen), ANCHOR_E_CRYPTO);
	ss.len_delta = 0;
	/* an ES256 signature presented as ES384 */
	s[0].alg = "ES384";
	assert_int_equal(anchor_f2_sign(TD, 1, 1, 2, payload, 2, s, 1, &env,
	    &envlen), ANCHOR_E_CRYPTO);
	/* algorithms outside the profile */
	s[0].alg = "RS256";
	assert_int_equal(anchor_f2_sign(TD, 1, 1, 2, payload, 2, s, 1, &env,
	    &envlen), ANCHOR_E_UNSUPPORTED);
	s[0].alg = "none";
	assert_int_equal(anchor_f2_sign(TD, 1, 1, 2, payload, 2, s, 1, &env,
	    &envlen), ANCHOR_E_UNSUPPORTED);
	s[0].alg = NULL;
	assert_int_equal(anchor_f2_sign(TD, 1, 1, 2, payload, 2, s, 1, &env,
	    &envlen), ANCHOR_E_UNSUPPORTED);
	s[0].alg = "ES256";
	/* the callback's error is passed on */
	ss.fail = ANCHOR_E_TOKEN_GONE;
	assert_int_equal(anchor_f2_sign(TD, 1, 1, 2, payload, 2, s, 2, &env,
	    &envlen), ANCHOR_E_TOKEN_GONE);
	ss.fail = 0;
	/* bad arguments */
	assert_int_equal(anchor_f2_sign(TD, 1, 2, 2, payload, 2, s, 1, &env,
	    &envlen), ANCHOR_E_INVAL);
	assert_int_equal(anchor_f2_sign(TD, 1, -5, 2, payload, 2, s, 1, &env,
	    &envlen), ANCHOR_E_INVAL);
	assert_int_equal(anchor_f2_sign("", 1, 1, 2, payload, 2, s, 1, &env,
	    &envlen), ANCHOR_E_INVAL);
	assert_int_equal(anchor_f2_sign(NULL, 1, 1, 2, payload, 2, s, 1, &env,
	    &envlen), ANCHOR_E_INVAL);
	assert_int_equal(anchor_f2_sign(TD, 1, 1, 2, payload, 0, s, 1, &env,
	    &envlen), ANCHOR_E_INVAL);
	s[0].kid = "";
	assert_int_equal(anchor_f2_sign(TD, 1, 1, 2, payload, 2, s, 1, &env,
	    &envlen), ANCHOR_E_INVAL);
	s[0].kid = "bad\xff";
	assert_int_equal(anchor_f2_sign(TD, 1, 1, 2, payload, 2, s, 1, &env,
	    &envlen), ANCHOR_E_INVAL);
	assert_null(env);
}

static char *
ec_member(EVP_PKEY *pk, const char *param)
{
	BIGNUM *bn = NULL;
	uint8_t buf[66];
	size_t fs = ec_field_size(pk);
	char *s;

	assert_int_equal(EVP_PKEY_get_bn_param(pk, param, &bn), 1);
	assert_int_equal(BN_bn2binpad(bn, buf, (int)fs), (int)fs);
	BN_free(bn);
	s = b64url_enc(buf, fs);
	return s;
}

static char *
f3_key_text(EVP_PKEY *pk, const char *crv, const char *alg)
{
	char kid[ANCHOR_KID_LEN + 1], *x, *y, *t = NULL;

	assert_int_equal(anchor_jwk_thumbprint(pk, kid), ANCHOR_OK);
	x = ec_member(pk, OSSL_PKEY_PARAM_EC_PUB_X);
	y = ec_member(pk, OSSL_PKEY_PARAM_EC_PUB_Y);
	assert_true(asprintf(&t, "{\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\","
	    "\"y\":\"%s\",\"kid\":\"%s\",\"alg\":\"%s\"}", crv, x, y, kid,
	    alg) > 0);
	free(x);
	free(y);
	return t;
}

static void
test_f3_payload(void **state)
{
	struct keys *k = *state;
	EVP_PKEY *keys[2] = { k->p256a, k->p384 };
	char *out = NULL, *again = NULL, *k0, *k1, *want = NULL;
	size_t len, alen;
	json_t *j;

	assert_int_equal(anchor_f3_payload(TD, 3, 1, 120, keys, 2, &out, &len),
	    ANCHOR_OK);
	assert_int_equal(anchor_f3_payload(TD, 3, 1, 120, keys, 2, &again,
	    &alen), ANCHOR_OK);
	assert_int_equal(len, alen);
	assert_memory_equal(out, again, len);
	k0 = f3_key_text(k->p256a, "P-256", "ES256");
	k1 = f3_key_text(k->p384, "P-384", "ES384");
	assert_true(asprintf(&want, "{\"spiffe_trust_domain\":\"%s\","
	    "\"version\":3,\"threshold\":1,\"min_sequence\":120,"
	    "\"keys\":[%s,%s]}", TD, k0, k1) > 0);
	assert_string_equal(out, want);
	assert_int_equal(strlen(out), len);
	j = parse_json(out, len);
	assert_members(j, "spiffe_trust_domain,version,threshold,min_sequence,"
	    "keys");
	assert_members(json_array_get(json_object_get(j, "keys"), 0),
	    "kty,crv,x,y,kid,alg");
	json_decref(j);
	free(want);
	free(k0);
	free(k1);
	free(out);
	free(again);

	/* threshold = number of keys; min_sequence above INT64_MAX */
	assert_int_equal(anchor_f3_payload(TD, 1, 2, UINT64_MAX, keys, 2, &out,
	    &len), ANCHOR_OK);
	assert_non_null(strstr(out, "\"min_sequence\":18446744073709551615,"));
	free(out);
}

static void
test_f3_payload_refusals(void **state)
{
	struct keys *k = *state;
	EVP_PKEY *keys[3] = { k->p256a, k->p256b, k->p256a };
	EVP_PKEY *rsa[2] = { k->p256a, k->rsa };
	EVP_PKEY *p521[1];
	char sentinel[1] = { 'x' }, *out = sentinel;
	size_t len = 1;

	assert_int_equal(anchor_f3_payload(TD, 1, 0, 1, keys, 2, &out, &len),
	    ANCHOR_E_INVAL);
	assert_null(out);
	assert_int_equal(len, 0);
	assert_int_equal(anchor_f3_payload(TD, 1, 3, 1, keys, 2, &out, &len),
	    ANCHOR_E_INVAL);
	assert_int_equal(anchor_f3_payload(TD, 0, 1, 1, keys, 2, &out, &len),
	    ANCHOR_E_INVAL);
	assert_int_equal(anchor_f3_payload(TD, 1, 1, 1, keys, 0, &out, &len),
	    ANCHOR_E_INVAL);
	/* the same key twice is a repeated kid */
	assert_int_equal(anchor_f3_payload(TD, 1, 1, 1, keys, 3, &out, &len),
	    ANCHOR_E_INVAL);
	assert_int_equal(anchor_f3_payload(TD, 1, 1, 1, rsa, 2, &out, &len),
	    ANCHOR_E_UNSUPPORTED);
	p521[0] = gen_ec("P-521");
	assert_int_equal(anchor_f3_payload(TD, 1, 1, 1, p521, 1, &out, &len),
	    ANCHOR_E_UNSUPPORTED);
	EVP_PKEY_free(p521[0]);
	assert_int_equal(anchor_f3_payload(NULL, 1, 1, 1, keys, 1, &out, &len),
	    ANCHOR_E_INVAL);
	assert_null(out);
}

static void
test_f3_sign(void **state)
{
	struct keys *k = *state;
	EVP_PKEY *keys[2] = { k->p256a, k->p384 };
	struct soft_signer ss[2] = { { .key = k->p256a }, { .key = k->p384 } };
	struct anchor_jws_signer s[2];
	char kid[2][ANCHOR_KID_LEN + 1], *payload = NULL, *env = NULL, *hdr[2];
	size_t plen, envlen;

	assert_int_equal(anchor_f3_payload(TD, 3, 2, 120, keys, 2, &payload,
	    &plen), ANCHOR_OK);
	assert_int_equal(anchor_jwk_thumbprint(k->p256a, kid[0]), ANCHOR_OK);
	assert_int_equal(anchor_jwk_thumbprint(k->p384, kid[1]), ANCHOR_OK);
	s[0] = (struct anchor_jws_signer){ kid[0], "ES256", soft_sign, &ss[0] };
	s[1] = (struct anchor_jws_signer){ kid[1], "ES384", soft_sign, &ss[1] };
	assert_int_equal(anchor_f3_sign(TD, 3, (uint8_t *)payload, plen, s, 2,
	    &env, &envlen), ANCHOR_OK);
	hdr[0] = f3_header("ES256", kid[0], 3);
	hdr[1] = f3_header("ES384", kid[1], 3);
	check_envelope(env, envlen, (uint8_t *)payload, plen, keys, hdr, 2);
	free(hdr[0]);
	free(hdr[1]);
	free(env);

	/* the same refusals as F2 */
	s[1].kid = kid[0];
	assert_int_equal(anchor_f3_sign(TD, 3, (uint8_t *)payload, plen, s, 2,
	    &env, &envlen), ANCHOR_E_INVAL);
	s[1].kid = kid[1];
	assert_int_equal(anchor_f3_sign(TD, 3, (uint8_t *)payload, plen, s, 0,
	    &env, &envlen), ANCHOR_E_INVAL);
	assert_int_equal(anchor_f3_sign(TD, 0, (uint8_t *)payload, plen, s, 2,
	    &env, &envlen), ANCHOR_E_INVAL);
	ss[1].len_delta = -2;
	assert_int_equal(anchor_f3_sign(TD, 3, (uint8_t *)payload, plen, s, 2,
	    &env, &envlen), ANCHOR_E_CRYPTO);
	assert_null(env);
	free(payload);
}

/* --- interoperability with jwcrypto ------------------------------------ */

static int
run_verifier(const char *a0, const char *a1, const char *a2, const char *a3,
    const char *a4, const char *a5, const char *a6, const char *a7)
{
	const char *argv[] = { "/usr/bin/python3", VERIFY_PY, a0, a1, a2, a3,
	    a4, a5, a6, a7, NULL };
	pid_t pid;
	int st;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* keep the TAP stream on stdout clean */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_not_equal(WEXITSTATUS(st), 127);
	return WEXITSTATUS(st);
}

static void
write_file(const char *dir, const char *name, const void *data, size_t len,
    char *path, size_t pathlen)
{
	FILE *f;

	assert_true((size_t)snprintf(path, pathlen, "%s/%s", dir, name) <
	    pathlen);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* A copy of env with one byte of the decoded payload flipped. */
static char *
flip_payload_byte(const char *env)
{
	json_t *j = parse_json(env, strlen(env));
	const char *p64 = jstr(j, "payload");
	char *copy = strdup(env), *at, *n64;
	uint8_t *p;
	size_t plen;

	assert_non_null(copy);
	p = b64url_dec(p64, &plen);
	p[plen / 2] ^= 0x01;
	n64 = b64url_enc(p, plen);
	assert_int_equal(strlen(n64), strlen(p64));
	assert_non_null(at = strstr(copy, p64));
	memcpy(at, n64, strlen(n64));
	free(n64);
	free(p);
	json_decref(j);
	return copy;
}

static void
test_interop_jwcrypto(void **state)
{
	struct keys *k = *state;
	char dir[] = "/tmp/test-jose-XXXXXX";
	char f1p[PATH_MAX], f2p[PATH_MAX], f3p[PATH_MAX], f3tp[PATH_MAX];
	char badp[PATH_MAX], bad3p[PATH_MAX], outp[PATH_MAX];
	char kid[2][ANCHOR_KID_LEN + 1];
	EVP_PKEY *keys[2] = { k->p256b, k->p384 };
	struct soft_signer ss[2] = { { .key = k->p256b }, { .key = k->p384 } };
	struct anchor_jws_signer s[2];
	struct anchor_authority auth[2];
	char *f1 = NULL, *f2 = NULL, *f2one = NULL, *f3 = NULL, *f3t = NULL;
	char *p3 = NULL, *bad, *bad3;
	char f2onep[PATH_MAX];
	size_t f1len, f2len, f2onelen, f3len, f3tlen, p3len;
	uint8_t *got;
	size_t gotlen;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(anchor_jwk_thumbprint(k->p256b, kid[0]), ANCHOR_OK);
	assert_int_equal(anchor_jwk_thumbprint(k->p384, kid[1]), ANCHOR_OK);
	s[0] = (struct anchor_jws_signer){ kid[0], "ES256", soft_sign, &ss[0] };
	s[1] = (struct anchor_jws_signer){ kid[1], "ES384", soft_sign, &ss[1] };

	memset(auth, 0, sizeof(auth));
	auth[0].role = ANCHOR_ROLE_X509_CA;
	auth[0].pub = k->p256a;
	auth[0].cert_der = k->ca_der;
	auth[0].cert_len = k->ca_len;
	auth[1].role = ANCHOR_ROLE_JWT;
	auth[1].pub = k->rsa;
	assert_int_equal(anchor_f1_bundle(auth, 2, 120, 300, &f1, &f1len),
	    ANCHOR_OK);
	assert_int_equal(anchor_f2_sign(TD, 120, 1767225600, 1767830400,
	    (uint8_t *)f1, f1len, s, 2, &f2, &f2len), ANCHOR_OK);
	assert_int_equal(anchor_f2_sign(TD, 120, 1767225600, 1767830400,
	    (uint8_t *)f1, f1len, s, 1, &f2one, &f2onelen), ANCHOR_OK);

	/* threshold 1 and threshold 2 signer sets over the same two keys */
	assert_int_equal(anchor_f3_payload(TD, 1, 1, 120, keys, 2, &p3, &p3len),
	    ANCHOR_OK);
	assert_int_equal(anchor_f3_sign(TD, 1, (uint8_t *)p3, p3len, s, 2, &f3,
	    &f3len), ANCHOR_OK);
	free(p3);
	assert_int_equal(anchor_f3_payload(TD, 1, 2, 120, keys, 2, &p3, &p3len),
	    ANCHOR_OK);
	assert_int_equal(anchor_f3_sign(TD, 1, (uint8_t *)p3, p3len, s, 2, &f3t,
	    &f3tlen), ANCHOR_OK);

	write_file(dir, "f1.json", f1, f1len, f1p, sizeof(f1p));
	write_file(dir, "bundle.jws", f2, f2len, f2p, sizeof(f2p));
	write_file(dir, "bundle-one.jws", f2one, f2onelen, f2onep,
	    sizeof(f2onep));
	write_file(dir, "signers-1.jws", f3, f3len, f3p, sizeof(f3p));
	write_file(dir, "signers-t2.jws", f3t, f3tlen, f3tp, sizeof(f3tp));
	bad = flip_payload_byte(f2);
	write_file(dir, "bundle-bad.jws", bad, strlen(bad), badp, sizeof(badp));
	bad3 = flip_payload_byte(f3);
	write_file(dir, "signers-bad.jws", bad3, strlen(bad3), bad3p,
	    sizeof(bad3p));
	assert_true((size_t)snprintf(outp, sizeof(outp), "%s/out.json", dir) <
	    sizeof(outp));

	/* F3 against itself, F2 against F3, with the payload written out */
	assert_int_equal(run_verifier("--signers", f3p, "--typ",
	    "spiffe-signers+jws", "--payload-out", outp, f3p, NULL), 0);
	assert_int_equal(run_verifier("--signers", f3tp, "--payload-out", outp,
	    f3tp, NULL, NULL, NULL), 0);
	assert_int_equal(run_verifier("--signers", f3p, "--typ",
	    "spiffe-bundle+jws", "--payload-out", outp, f2p, NULL), 0);
	assert_int_equal(anchor_read_file(outp, 1 << 20, &got, &gotlen),
	    ANCHOR_OK);
	assert_int_equal(gotlen, f1len);
	assert_memory_equal(got, f1, f1len);
	free(got);
	assert_int_equal(run_verifier("--signers", f3tp, f2p, "--payload-out",
	    outp, NULL, NULL, NULL), 0);
	assert_int_equal(run_verifier("--signers", f3p, f2onep, "--payload-out",
	    outp, NULL, NULL, NULL), 0);

	/* refusals: a flipped payload byte, a short threshold, a wrong typ */
	fprintf(stderr, "# four refusals by jws_verify.py expected:\n");
	assert_int_not_equal(run_verifier("--signers", f3p, "--payload-out",
	    outp, badp, NULL, NULL, NULL), 0);
	assert_int_not_equal(run_verifier("--signers", f3p, "--payload-out",
	    outp, bad3p, NULL, NULL, NULL), 0);
	assert_int_not_equal(run_verifier("--signers", f3tp, "--payload-out",
	    outp, f2onep, NULL, NULL, NULL), 0);
	assert_int_not_equal(run_verifier("--signers", f3p, "--typ",
	    "spiffe-signers+jws", "--payload-out", outp, f2p, NULL), 0);

	unlink(f1p);
	unlink(f2p);
	unlink(f2onep);
	unlink(f3p);
	unlink(f3tp);
	unlink(badp);
	unlink(bad3p);
	unlink(outp);
	assert_int_equal(rmdir(dir), 0);
	free(bad);
	free(bad3);
	free(f1);
	free(f2);
	free(f2one);
	free(f3);
	free(f3t);
	free(p3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_known),
		cmocka_unit_test(test_b64url_roundtrip),
		cmocka_unit_test(test_b64url_strict),
		cmocka_unit_test(test_thumbprint_vectors),
		cmocka_unit_test(test_jwk_p256),
		cmocka_unit_test(test_jwk_p384),
		cmocka_unit_test(test_jwk_rsa),
		cmocka_unit_test(test_jwk_members),
		cmocka_unit_test(test_jwk_key_forms),
		cmocka_unit_test(test_jws_alg),
		cmocka_unit_test(test_f1_bundle),
		cmocka_unit_test(test_f1_sequence_range),
		cmocka_unit_test(test_f1_refusals),
		cmocka_unit_test(test_f2_one_signer),
		cmocka_unit_test(test_f2_two_signers),
		cmocka_unit_test(test_f2_refusals),
		cmocka_unit_test(test_f3_payload),
		cmocka_unit_test(test_f3_payload_refusals),
		cmocka_unit_test(test_f3_sign),
		cmocka_unit_test(test_interop_jwcrypto),
	};

	return cmocka_run_group_tests_name("jose", tests, setup, teardown);
}
