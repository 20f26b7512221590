/*
 * Unit tests for libanchor-verify: the signature primitive against
 * Wycheproof, the JSON layer against JSONTestSuite, the F1 parser against
 * go-spiffe's bundles, RFC 7515 and RFC 7520 examples, and every rule of
 * DESIGN.md §2 on envelopes built here with software keys and the
 * producers of src/jose.c.
 */
#include "config.h"

#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "anchor/verify.h"
#include "error.h"
#include "internal.h"
#include "jose.h"
#include "util.h"

#define TD "prod.example.com"
#define NOW INT64_C(1767225600)
#define DAY INT64_C(86400)

/* ---- helpers ---------------------------------------------------------- */

static const char *
vectors(void)
{
	const char *v = getenv("ANCHOR_VECTORS");

	return v != NULL && *v != '\0' ? v : SRCDIR "/../shared/vectors";
}

static char *
vpath(const char *rel)
{
	char *p = NULL;

	assert_true(asprintf(&p, "%s/%s", vectors(), rel) > 0);
	return p;
}

static json_t *
load_vector(const char *rel)
{
	char *p = vpath(rel);
	json_error_t err;
	json_t *j = json_load_file(p, 0, &err);

	if (j == NULL)
		fail_msg("%s: %s", p, err.text);
	free(p);
	return j;
}

static uint8_t *
read_vector(const char *rel, size_t *len)
{
	char *p = vpath(rel);
	uint8_t *buf = NULL;

	assert_int_equal(anchor_read_file(p, 64 * 1024 * 1024, &buf, len),
	    ANCHOR_OK);
	free(p);
	return buf;
}

static uint8_t *
unhex(const char *s, size_t *len)
{
	size_t n = strlen(s) / 2;
	uint8_t *b = malloc(n ? n : 1);

	assert_non_null(b);
	assert_int_equal(anchor_unhex(s, b, n), ANCHOR_OK);
	*len = n;
	return b;
}

static char *
b64u(const void *p, size_t len)
{
	char *s = NULL;

	assert_int_equal(anchor_b64url_encode(p, len, &s), ANCHOR_OK);
	return s;
}

static char *
b64us(const char *s)
{
	return b64u(s, strlen(s));
}

static char *
xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	return s;
}

/* tmpl with every "@" replaced by value. */
static char *
subst(const char *tmpl, const char *value)
{
	size_t n = 1, vl = strlen(value);
	const char *p;
	char *out, *o;

	for (p = tmpl; *p; p++)
		n += *p == '@' ? vl : 1;
	assert_non_null(out = malloc(n));
	for (p = tmpl, o = out; *p; p++) {
		if (*p == '@') {
			memcpy(o, value, vl);
			o += vl;
		} else
			*o++ = *p;
	}
	*o = '\0';
	return out;
}

/* Raw r||s of an ECDSA signature over msg with a software key. */
static size_t
raw_sign(EVP_PKEY *k, const void *msg, size_t len, uint8_t *sig)
{
	size_t fs = ((size_t)EVP_PKEY_get_bits(k) + 7) / 8, derlen = 0;
	const EVP_MD *md = fs == 48 ? EVP_sha384() : EVP_sha256();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t der[256];
	const unsigned char *p = der;
	ECDSA_SIG *es;
	const BIGNUM *r, *s;

	assert_non_null(ctx);
	derlen = sizeof(der);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, k), 1);
	assert_int_equal(EVP_DigestSign(ctx, der, &derlen, msg, len), 1);
	EVP_MD_CTX_free(ctx);
	assert_non_null(es = d2i_ECDSA_SIG(NULL, &p, (long)derlen));
	ECDSA_SIG_get0(es, &r, &s);
	assert_int_equal(BN_bn2binpad(r, sig, (int)fs), (int)fs);
	assert_int_equal(BN_bn2binpad(s, sig + fs, (int)fs), (int)fs);
	ECDSA_SIG_free(es);
	return 2 * fs;
}

static int
soft_sign(void *arg, const char *kid, const uint8_t *msg, size_t msglen,
    uint8_t *sig, size_t *siglen)
{
	(void)kid;
	*siglen = raw_sign(arg, msg, msglen, sig);
	return ANCHOR_OK;
}

/* ---- fixture: keys, a CA certificate, signer sets ---------------------- */

struct ctx {
	EVP_PKEY *a, *b, *c384, *d, *x, *jwt;
	char kid_a[44], kid_b[44], kid_c[44], kid_d[44], kid_x[44], kid_jwt[44];
	uint8_t *ca_der;
	size_t ca_len;
};

static struct ctx C;

static EVP_PKEY *
gen(const char *curve)
{
	EVP_PKEY *k = EVP_EC_gen(curve);

	assert_non_null(k);
	return k;
}

static void
make_ca(void)
{
	X509 *x = X509_new();
	X509_NAME *n;
	unsigned char *der = NULL;
	int len;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"test CA", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, C.d);
	assert_true(X509_sign(x, C.d, EVP_sha256()) > 0);
	assert_true((len = i2d_X509(x, &der)) > 0);
	C.ca_der = malloc((size_t)len);
	assert_non_null(C.ca_der);
	memcpy(C.ca_der, der, (size_t)len);
	C.ca_len = (size_t)len;
	OPENSSL_free(der);
	X509_free(x);
}

static int
setup(void **state)
{
	(void)state;
	C.a = gen("P-256");
	C.b = gen("P-256");
	C.c384 = gen("P-384");
	C.d = gen("P-256");
	C.x = gen("P-256");
	C.jwt = gen("P-256");
	assert_int_equal(anchor_jwk_thumbprint(C.a, C.kid_a), ANCHOR_OK);
	assert_int_equal(anchor_jwk_thumbprint(C.b, C.kid_b), ANCHOR_OK);
	assert_int_equal(anchor_jwk_thumbprint(C.c384, C.kid_c), ANCHOR_OK);
	assert_int_equal(anchor_jwk_thumbprint(C.d, C.kid_d), ANCHOR_OK);
	assert_int_equal(anchor_jwk_thumbprint(C.x, C.kid_x), ANCHOR_OK);
	assert_int_equal(anchor_jwk_thumbprint(C.jwt, C.kid_jwt), ANCHOR_OK);
	make_ca();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(C.a);
	EVP_PKEY_free(C.b);
	EVP_PKEY_free(C.c384);
	EVP_PKEY_free(C.d);
	EVP_PKEY_free(C.x);
	EVP_PKEY_free(C.jwt);
	free(C.ca_der);
	return 0;
}

static const char *
kid_of(EVP_PKEY *k)
{
	if (k == C.a)
		return C.kid_a;
	if (k == C.b)
		return C.kid_b;
	if (k == C.c384)
		return C.kid_c;
	if (k == C.d)
		return C.kid_d;
	if (k == C.x)
		return C.kid_x;
	return C.kid_jwt;
}

static const char *
alg_of(EVP_PKEY *k)
{
	return anchor_jws_alg(k);
}

/* An F3 envelope: version, threshold, min_sequence, keys, signed by signers. */
static char *
f3(unsigned version, unsigned threshold, uint64_t min_seq, EVP_PKEY **keys,
    size_t nkeys, EVP_PKEY **by, size_t nby, size_t *outlen)
{
	char *payload = NULL, *env = NULL;
	size_t plen, len, i;
	struct anchor_jws_signer s[8];

	assert_int_equal(anchor_f3_payload(TD, version, threshold, min_seq, keys,
	    nkeys, &payload, &plen), ANCHOR_OK);
	for (i = 0; i < nby; i++) {
		s[i].kid = kid_of(by[i]);
		s[i].alg = alg_of(by[i]);
		s[i].sign = soft_sign;
		s[i].arg = by[i];
	}
	assert_int_equal(anchor_f3_sign(TD, version, (uint8_t *)payload, plen,
	    s, nby, &env, &len), ANCHOR_OK);
	free(payload);
	if (outlen != NULL)
		*outlen = len;
	return env;
}

/* An F1 payload: one x509-svid (the CA) and one jwt-svid authority. */
static char *
f1(uint64_t seq, size_t *len)
{
	struct anchor_authority auth[2];
	char *out = NULL;

	memset(auth, 0, sizeof(auth));
	auth[0].role = ANCHOR_ROLE_X509_CA;
	auth[0].pub = C.d;
	auth[0].cert_der = C.ca_der;
	auth[0].cert_len = C.ca_len;
	auth[1].role = ANCHOR_ROLE_JWT;
	auth[1].pub = C.jwt;
	assert_int_equal(anchor_f1_bundle(auth, 2, seq, 300, &out, len),
	    ANCHOR_OK);
	return out;
}

/* An F2 envelope made by src/jose.c. */
static char *
f2(uint64_t seq, int64_t iat, int64_t exp, EVP_PKEY **by, size_t nby)
{
	char *payload, *env = NULL;
	size_t plen, len, i;
	struct anchor_jws_signer s[8];

	payload = f1(seq, &plen);
	for (i = 0; i < nby; i++) {
		s[i].kid = kid_of(by[i]);
		s[i].alg = alg_of(by[i]);
		s[i].sign = soft_sign;
		s[i].arg = by[i];
	}
	assert_int_equal(anchor_f2_sign(TD, seq, iat, exp, (uint8_t *)payload,
	    plen, s, nby, &env, &len), ANCHOR_OK);
	free(payload);
	return env;
}

/* The standard F2 protected header text. */
static char *
hdr2(const char *alg, const char *kid, uint64_t seq, int64_t iat, int64_t exp)
{
	return xasprintf("{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":"
	    "\"spiffe-bundle+jws\",\"crit\":[\"spiffe_trust_domain\","
	    "\"spiffe_sequence\",\"iat\",\"exp\"],\"spiffe_trust_domain\":\"%s\","
	    "\"spiffe_sequence\":%" PRIu64 ",\"iat\":%" PRId64 ",\"exp\":%" PRId64
	    "}", alg, kid, TD, seq, iat, exp);
}

/* One hand-made signature: header text signed by key (or a given signature). */
struct sigspec {
	const char *header;
	EVP_PKEY *key;		/* NULL: use signature */
	const char *signature;	/* b64url text */
	const char *extra;	/* extra members inside the signature object */
	int der;		/* sign as DER instead of r||s */
};

static char *
envelope(const char *payload, const struct sigspec *s, size_t n)
{
	char *p64 = b64us(payload), *env = xasprintf("{\"payload\":\"%s\","
	    "\"signatures\":[", p64), *t;
	size_t i;

	for (i = 0; i < n; i++) {
		char *h64 = b64us(s[i].header), *input, *sig64;
		uint8_t sig[256];
		size_t siglen;

		input = xasprintf("%s.%s", h64, p64);
		if (s[i].key != NULL && s[i].der) {
			EVP_MD_CTX *ctx = EVP_MD_CTX_new();

			siglen = sizeof(sig);
			assert_int_equal(EVP_DigestSignInit(ctx, NULL,
			    EVP_sha256(), NULL, s[i].key), 1);
			assert_int_equal(EVP_DigestSign(ctx, sig, &siglen,
			    (uint8_t *)input, strlen(input)), 1);
			EVP_MD_CTX_free(ctx);
			sig64 = b64u(sig, siglen);
		} else if (s[i].key != NULL) {
			siglen = raw_sign(s[i].key, input, strlen(input), sig);
			sig64 = b64u(sig, siglen);
		} else {
			sig64 = strdup(s[i].signature);
		}
		t = xasprintf("%s%s{\"protected\":\"%s\",\"signature\":\"%s\"%s}",
		    env, i ? "," : "", h64, sig64, s[i].extra ? s[i].extra : "");
		free(env);
		env = t;
		free(h64);
		free(input);
		free(sig64);
	}
	t = xasprintf("%s]}", env);
	free(env);
	free(p64);
	return t;
}

static struct anchor_verify_options
opts(void)
{
	struct anchor_verify_options o;

	memset(&o, 0, sizeof(o));
	o.trust_domain = TD;
	return o;
}

/* A state pinned to {keys} (threshold t, min_sequence m), signed by all. */
static struct anchor_verify_state *
state_for(EVP_PKEY **keys, size_t n, unsigned t, uint64_t m)
{
	struct anchor_verify_options o = opts();
	struct anchor_verify_signers *s = NULL;
	struct anchor_verify_state *st = NULL;
	struct anchor_verify_diag d;
	size_t len;
	char *env = f3(1, t, m, keys, n, keys, n, &len);

	if (anchor_verify_signers_pin(&o, (uint8_t *)env, len, &s, &d) !=
	    ANCHOR_VERIFY_OK)
		fail_msg("pin: %s", d.text);
	assert_int_equal(anchor_verify_state_new(s, &st), ANCHOR_VERIFY_OK);
	anchor_verify_signers_free(s);
	free(env);
	return st;
}

/* Verify env against st at now; returns the code, *ns the new state. */
static int
run(const struct anchor_verify_state *st, const char *env, int64_t now,
    struct anchor_verify_state **ns, struct anchor_verify_diag *d)
{
	struct anchor_verify_options o = opts();
	struct anchor_verify_result *res = NULL;
	struct anchor_verify_state *tmp = NULL;
	int r;

	r = anchor_verify_signed_bundle(st, (const uint8_t *)env, strlen(env),
	    now, &o, &res, &tmp, d);
	if (r == ANCHOR_VERIFY_OK) {
		assert_non_null(res);
		assert_non_null(tmp);
	} else {
		assert_null(res);
		assert_null(tmp);
	}
	anchor_verify_result_free(res);
	if (ns != NULL)
		*ns = tmp;
	else
		anchor_verify_state_free(tmp);
	return r;
}

/* env must give code, with want in the message (NULL: any). */
static void
expect(const struct anchor_verify_state *st, const char *env, int64_t now,
    int code, const char *want)
{
	struct anchor_verify_diag d;
	int r = run(st, env, now, NULL, &d);

	if (r != code)
		fail_msg("got %d (%s), want %d (%s)", r, r > 0 ? d.text :
		    anchor_verify_strerror(r), code, want ? want : "");
	if (code != ANCHOR_VERIFY_OK && want != NULL && strstr(d.text, want) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", d.text, want);
	if (code != ANCHOR_VERIFY_OK)
		assert_int_equal(strncmp(d.text, anchor_verify_rule(code),
		    strlen(anchor_verify_rule(code))) == 0 ||
		    code == ANCHOR_VERIFY_MALFORMED ||
		    code == ANCHOR_VERIFY_F1_BUNDLE, 1);
}

/* Split a compact JWS; verify it with key (a JWK object) through the library. */
static int
verify_compact(const char *jws, const json_t *jwk)
{
	const char *d1 = strchr(jws, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	struct anchor_verify_key *k = NULL;
	json_t *h = NULL;
	uint8_t *hraw = NULL, *sig = NULL;
	size_t hlen, siglen;
	char *keytext = NULL;
	const char *alg;
	int r;

	if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.') != NULL)
		return ANCHOR_VERIFY_R3_ENVELOPE;
	if (av_b64url_decode(jws, (size_t)(d1 - jws), &hraw, &hlen) != 0 ||
	    av_b64url_decode(d2 + 1, strlen(d2 + 1), &sig, &siglen) != 0) {
		r = ANCHOR_VERIFY_MALFORMED;
		goto out;
	}
	if ((r = av_json_parse(hraw, hlen, "header", &h, NULL)) != 0)
		goto out;
	if ((alg = json_string_value(json_object_get(h, "alg"))) == NULL) {
		r = ANCHOR_VERIFY_R5_ALG;
		goto out;
	}
	keytext = json_dumps(jwk, JSON_COMPACT);
	assert_non_null(keytext);
	r = anchor_verify_key_from_jwk((uint8_t *)keytext, strlen(keytext), &k,
	    NULL);
	if (r != 0)
		goto out;
	r = anchor_verify_signature(k, alg, (const uint8_t *)jws,
	    (size_t)(d2 - jws), sig, siglen);
 out:
	anchor_verify_key_free(k);
	free(keytext);
	json_decref(h);
	free(hraw);
	free(sig);
	return r;
}

/* ---- Wycheproof -------------------------------------------------------- */

static void
wycheproof_p1363(const char *file, const char *alg, int total, int valid)
{
	json_t *root = load_vector(file), *g, *t;
	size_t gi, ti;
	int n = 0, nvalid = 0, ninvalid = 0;

	json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
		struct anchor_verify_key *k = NULL;
		struct anchor_verify_diag d;
		json_t *pj = json_object_get(g, "publicKeyJwk");
		char *jwk;

		if (pj != NULL) {
			jwk = json_dumps(pj, JSON_COMPACT);
		} else {
			/* a few groups give only the uncompressed point */
			const char *u = json_string_value(json_object_get(
			    json_object_get(g, "publicKey"), "uncompressed"));
			size_t ul, fs;
			uint8_t *pt = unhex(u, &ul);
			char *x, *y;

			fs = (ul - 1) / 2;
			x = b64u(pt + 1, fs);
			y = b64u(pt + 1 + fs, fs);
			jwk = xasprintf("{\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\","
			    "\"y\":\"%s\"}", fs == 32 ? "P-256" : "P-384", x, y);
			free(x);
			free(y);
			free(pt);
		}
		assert_non_null(jwk);
		if (anchor_verify_key_from_jwk((uint8_t *)jwk, strlen(jwk), &k,
		    &d) != 0)
			fail_msg("%s group %zu: key refused: %s", file, gi, d.text);
		free(jwk);
		json_array_foreach(json_object_get(g, "tests"), ti, t) {
			const char *res = json_string_value(json_object_get(t,
			    "result"));
			size_t mlen, slen;
			uint8_t *msg = unhex(json_string_value(json_object_get(t,
			    "msg")), &mlen);
			uint8_t *sig = unhex(json_string_value(json_object_get(t,
			    "sig")), &slen);
			int r = anchor_verify_signature(k, alg, msg, mlen, sig,
			    slen);

			if (strcmp(res, "valid") == 0) {
				if (r != ANCHOR_VERIFY_OK)
					fail_msg("%s tcId %d: valid refused",
					    file, (int)json_integer_value(
					    json_object_get(t, "tcId")));
				nvalid++;
			} else if (strcmp(res, "invalid") == 0) {
				if (r != ANCHOR_VERIFY_R10_SIGNATURE)
					fail_msg("%s tcId %d: invalid gave %d",
					    file, (int)json_integer_value(
					    json_object_get(t, "tcId")), r);
				ninvalid++;
			} else {
				/* none in these files; see docs/verify-json.md */
				fail_msg("unexpected result %s", res);
			}
			n++;
			free(msg);
			free(sig);
		}
		anchor_verify_key_free(k);
	}
	assert_int_equal(n, total);
	assert_int_equal(nvalid, valid);
	assert_int_equal(ninvalid, total - valid);
	print_message("# %s: %d tests, %d valid verified, %d invalid refused\n",
	    file, n, nvalid, ninvalid);
	json_decref(root);
}

static void
test_wycheproof_p256(void **state)
{
	(void)state;
	wycheproof_p1363("wycheproof/ecdsa_secp256r1_sha256_p1363_test.json",
	    "ES256", 262, 173);
}

static void
test_wycheproof_p384(void **state)
{
	(void)state;
	wycheproof_p1363("wycheproof/ecdsa_secp384r1_sha384_p1363_test.json",
	    "ES384", 280, 193);
}

/* The same signature checked with the wrong alg is R5, never a pass. */
static void
test_wycheproof_alg_binding(void **state)
{
	json_t *root = load_vector(
	    "wycheproof/ecdsa_secp256r1_sha256_p1363_test.json");
	json_t *g = json_array_get(json_object_get(root, "testGroups"), 0);
	json_t *t = json_array_get(json_object_get(g, "tests"), 0);
	char *jwk = json_dumps(json_object_get(g, "publicKeyJwk"), JSON_COMPACT);
	struct anchor_verify_key *k = NULL;
	size_t mlen, slen;
	uint8_t *msg = unhex(json_string_value(json_object_get(t, "msg")), &mlen);
	uint8_t *sig = unhex(json_string_value(json_object_get(t, "sig")), &slen);

	(void)state;
	assert_int_equal(anchor_verify_key_from_jwk((uint8_t *)jwk, strlen(jwk),
	    &k, NULL), 0);
	assert_string_equal(anchor_verify_key_alg(k), "ES256");
	assert_int_equal(anchor_verify_signature(k, "ES256", msg, mlen, sig,
	    slen), ANCHOR_VERIFY_OK);
	assert_int_equal(anchor_verify_signature(k, "ES384", msg, mlen, sig,
	    slen), ANCHOR_VERIFY_R5_ALG);
	assert_int_equal(anchor_verify_signature(k, "none", msg, mlen, sig,
	    slen), ANCHOR_VERIFY_R5_ALG);
	assert_int_equal(anchor_verify_signature(k, "HS256", msg, mlen, sig,
	    slen), ANCHOR_VERIFY_R5_ALG);
	/* one byte short, one byte long, DER-like */
	assert_int_equal(anchor_verify_signature(k, "ES256", msg, mlen, sig,
	    slen - 1), ANCHOR_VERIFY_R10_SIGNATURE);
	assert_int_equal(anchor_verify_signature(k, "ES256", msg, mlen, NULL,
	    0), ANCHOR_VERIFY_R10_SIGNATURE);
	free(msg);
	free(sig);
	free(jwk);
	anchor_verify_key_free(k);
	json_decref(root);
}

/* The hard-coded group orders match OpenSSL's. */
static void
test_group_orders(void **state)
{
	static const char *const curves[] = { "prime256v1", "secp384r1" };
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		EC_GROUP *g = EC_GROUP_new_by_curve_name(OBJ_sn2nid(curves[i]));
		uint8_t n[48], sig[96];
		size_t fs = i == 0 ? 32 : 48;
		struct anchor_verify_key k;

		assert_non_null(g);
		assert_int_equal(BN_bn2binpad(EC_GROUP_get0_order(g), n, (int)fs),
		    (int)fs);
		/* r = n and r = n - 1 with s = 1: refused before OpenSSL */
		memset(&k, 0, sizeof(k));
		k.type = i == 0 ? AV_KEY_P256 : AV_KEY_P384;
		k.pkey = i == 0 ? C.a : C.c384;
		memcpy(sig, n, fs);
		memset(sig + fs, 0, fs);
		sig[2 * fs - 1] = 1;
		assert_int_equal(av_sig_verify(&k, (const uint8_t *)"x", 1, sig,
		    2 * fs), ANCHOR_VERIFY_R10_SIGNATURE);
		EC_GROUP_free(g);
	}
}

static void
test_wycheproof_jwk(void **state)
{
	json_t *root = load_vector("wycheproof/json_web_key_test.json"), *g, *t;
	size_t gi, ti;
	int n = 0, invalid = 0, valid_outside_profile = 0;

	(void)state;
	json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
		json_t *set = json_object_get(g, "public");
		json_t *keys;

		if (set == NULL)
			set = json_object_get(g, "private");
		keys = json_object_get(set, "keys");
		json_array_foreach(json_object_get(g, "tests"), ti, t) {
			const char *jws = json_string_value(json_object_get(t,
			    "jws"));
			const char *res = json_string_value(json_object_get(t,
			    "result"));
			uint8_t *h = NULL;
			size_t hlen, ki;
			json_t *hj = NULL, *key, *found = NULL;
			const char *kid;
			int dup = 0, r;

			/* the key the header's kid names; a repeated kid refuses */
			assert_int_equal(av_b64url_decode(jws, (size_t)(strchr(jws,
			    '.') - jws), &h, &hlen), 0);
			hj = json_loadb((char *)h, hlen, 0, NULL);
			kid = json_string_value(json_object_get(hj, "kid"));
			json_array_foreach(keys, ki, key) {
				if (kid && json_equal(json_object_get(key, "kid"),
				    json_object_get(hj, "kid"))) {
					dup += found != NULL;
					found = key;
				}
			}
			r = found == NULL || dup ? ANCHOR_VERIFY_R9_KID :
			    verify_compact(jws, found);
			if (r == ANCHOR_VERIFY_OK)
				fail_msg("json_web_key_test tcId %d (%s) accepted",
				    (int)json_integer_value(json_object_get(t,
				    "tcId")), json_string_value(json_object_get(t,
				    "comment")));
			if (strcmp(res, "invalid") == 0)
				invalid++;
			else
				valid_outside_profile++;	/* HS256, RS256 */
			n++;
			json_decref(hj);
			free(h);
		}
	}
	assert_int_equal(n, 26);
	assert_int_equal(invalid, 21);
	assert_int_equal(valid_outside_profile, 5);
	print_message("# json_web_key_test: %d refused (%d invalid, %d valid "
	    "outside the ES256/ES384 profile)\n", n, invalid,
	    valid_outside_profile);
	json_decref(root);
}

/* The EC keys of json_web_key_test.json one by one: each is refused. */
static void
test_wycheproof_jwk_ec_keys(void **state)
{
	static const struct {
		int tcid;
		const char *why;
	} want[] = {
		{ 19, "alg does not match" },	/* ES521 on P-256 */
		{ 20, "alg does not match" },	/* ES224 */
		{ 21, "use is not" },		/* use enc */
		{ 22, "not on the curve" },	/* modified y */
		{ 23, "curve's size" },		/* P-384 with P-256 sizes */
		{ 24, "n or e" },		/* kty RSA with EC members */
	};
	json_t *root = load_vector("wycheproof/json_web_key_test.json"), *g;
	size_t gi, i, seen = 0;

	(void)state;
	json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
		json_t *t = json_array_get(json_object_get(g, "tests"), 0);
		int tcid = (int)json_integer_value(json_object_get(t, "tcId"));
		json_t *key = json_array_get(json_object_get(json_object_get(g,
		    "public"), "keys"), 0);
		struct anchor_verify_key *k = NULL;
		struct anchor_verify_diag d;
		char *text;

		for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			if (want[i].tcid != tcid)
				continue;
			text = json_dumps(key, JSON_COMPACT);
			assert_int_equal(anchor_verify_key_from_jwk((uint8_t *)text,
			    strlen(text), &k, &d), ANCHOR_VERIFY_F1_BUNDLE);
			assert_null(k);
			if (strstr(d.text, want[i].why) == NULL)
				fail_msg("tcId %d: \"%s\" lacks \"%s\"", tcid,
				    d.text, want[i].why);
			free(text);
			seen++;
		}
	}
	assert_int_equal(seen, 6);
	json_decref(root);
}

static void
test_wycheproof_jws(void **state)
{
	json_t *root = load_vector("wycheproof/json_web_signature_test.json");
	json_t *g, *t, *f;
	size_t gi, ti, fi;
	int none = 0, wrong = 0, es = 0;

	(void)state;
	json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
		json_t *pub = json_object_get(g, "public");
		const char *comment = json_string_value(json_object_get(g,
		    "comment"));
		int es256 = strcmp(comment, "es256") == 0 ||
		    strcmp(comment, "SpecialCaseEs256") == 0;

		json_array_foreach(json_object_get(g, "tests"), ti, t) {
			const char *jws = json_string_value(json_object_get(t,
			    "jws"));
			const char *res = json_string_value(json_object_get(t,
			    "result"));
			int flagged = 0, r;

			json_array_foreach(json_object_get(t, "flags"), fi, f) {
				if (strcmp(json_string_value(f), "AlgIsNone") == 0) {
					flagged = 1;
					none++;
				}
				if (strcmp(json_string_value(f),
				    "WrongPrimitive") == 0) {
					flagged = 1;
					wrong++;
				}
			}
			if (!flagged && !es256)
				continue;
			r = pub != NULL ? verify_compact(jws, pub) :
			    ANCHOR_VERIFY_R5_ALG;
			if (flagged) {
				assert_int_equal(strcmp(res, "invalid"), 0);
				if (r == ANCHOR_VERIFY_OK)
					fail_msg("tcId %d accepted",
					    (int)json_integer_value(
					    json_object_get(t, "tcId")));
				continue;
			}
			/* ES256 groups: exact results with the group's key */
			if ((r == ANCHOR_VERIFY_OK) != (strcmp(res, "valid") == 0))
				fail_msg("ES256 tcId %d: got %d for %s",
				    (int)json_integer_value(json_object_get(t,
				    "tcId")), r, res);
			es++;
		}
	}
	assert_int_equal(none, 4);
	assert_int_equal(wrong, 10);
	assert_int_equal(es, 39);
	print_message("# json_web_signature_test: %d AlgIsNone and %d "
	    "WrongPrimitive refused, %d ES256 cases exact\n", none, wrong, es);
	json_decref(root);
}

/* ---- JSONTestSuite ------------------------------------------------------ */

static void
test_jsontestsuite(void **state)
{
	char *dir = vpath("jsontestsuite/test_parsing");
	DIR *dp = opendir(dir);
	struct dirent *de;
	int y = 0, ydup = 0, ynul = 0, nn = 0, iacc = 0, irej = 0;

	(void)state;
	assert_non_null(dp);
	while ((de = readdir(dp)) != NULL) {
		char *rel;
		uint8_t *buf;
		size_t len;
		json_t *v = NULL;
		struct anchor_verify_diag d;
		int r;

		if (de->d_name[0] == '.' || strlen(de->d_name) < 3)
			continue;
		rel = xasprintf("jsontestsuite/test_parsing/%s", de->d_name);
		buf = read_vector(rel, &len);
		r = av_json_parse(buf, len, "t", &v, &d);
		if (strncmp(de->d_name, "y_object_duplicated_key", 23) == 0) {
			if (r != ANCHOR_VERIFY_R2_DUPLICATE)
				fail_msg("%s: %d, want R2", de->d_name, r);
			ydup++;
		} else if (strcmp(de->d_name, "y_object_escaped_null_in_key.json")
		    == 0) {
			/* jansson cannot hold a member name with U+0000 */
			if (r != ANCHOR_VERIFY_MALFORMED ||
			    strstr(d.text, "NUL byte in object key") == NULL)
				fail_msg("%s: %d", de->d_name, r);
			ynul++;
		} else if (de->d_name[0] == 'y') {
			if (r != ANCHOR_VERIFY_OK)
				fail_msg("%s refused: %s", de->d_name, d.text);
			y++;
		} else if (de->d_name[0] == 'n') {
			if (r == ANCHOR_VERIFY_OK)
				fail_msg("%s accepted", de->d_name);
			if (r <= 0)
				fail_msg("%s: %d", de->d_name, r);
			nn++;
		} else if (de->d_name[0] == 'i') {
			print_message("# %s: %s\n", de->d_name,
			    r == 0 ? "accepted" : d.text);
			if (r == 0)
				iacc++;
			else
				irej++;
		}
		json_decref(v);
		free(buf);
		free(rel);
	}
	closedir(dp);
	free(dir);
	print_message("# JSONTestSuite: %d y_ accepted, %d y_object_duplicated_key "
	    "refused, %d y_object_escaped_null_in_key refused (jansson), %d n_ "
	    "refused, i_: %d accepted, %d refused\n", y, ydup, ynul, nn, iacc,
	    irej);
	assert_int_equal(y + ydup + ynul, 95);
	assert_int_equal(ydup, 2);
	assert_int_equal(ynul, 1);
	assert_int_equal(nn, 188);
	assert_int_equal(iacc + irej, 35);
}

static void
test_json_depth(void **state)
{
	char buf[300];
	json_t *v = NULL;
	int i;

	(void)state;
	for (i = 0; i < 64; i++)
		buf[i] = '[';
	for (i = 0; i < 64; i++)
		buf[64 + i] = ']';
	assert_int_equal(av_json_parse((uint8_t *)buf, 128, "t", &v, NULL), 0);
	json_decref(v);
	memmove(buf + 1, buf, 128);
	buf[129] = ']';
	assert_int_equal(av_json_parse((uint8_t *)buf, 130, "t", &v, NULL),
	    ANCHOR_VERIFY_MALFORMED);
	assert_null(v);
	/* invalid UTF-8 in a string */
	assert_int_equal(av_json_parse((uint8_t *)"[\"\xc3\x28\"]", 6, "t", &v,
	    NULL), ANCHOR_VERIFY_MALFORMED);
	/* a number jansson cannot hold */
	assert_int_equal(av_json_parse((uint8_t *)"[18446744073709551616]", 22,
	    "t", &v, NULL), ANCHOR_VERIFY_MALFORMED);
}

/* ---- F1 ---------------------------------------------------------------- */

struct spiffe_case {
	const char *file;
	int rc;
	int has_seq;
	size_t x509, jwt, skipped, invalid;
};

static void
test_spiffe_bundles(void **state)
{
	static const struct spiffe_case cases[] = {
		{ "spiffe/spiffebundle_valid_1.json", 0, 0, 1, 1, 0, 0 },
		{ "spiffe/spiffebundle_valid_2.json", 0, 1, 1, 6, 0, 0 },
		{ "spiffe/spiffebundle_valid_with_wit.json", 0, 1, 1, 2, 2, 0 },
		/* go-spiffe refuses these three; the spec does not */
		{ "spiffe/spiffebundle_missing_kid.json", 0, 0, 1, 0, 0, 1 },
		{ "spiffe/spiffebundle_multiple_x509.json", 0, 0, 1, 1, 0, 0 },
		{ "spiffe/jwtbundle/jwks_valid_1.json", 0, 0, 0, 0, 1, 0 },
		{ "spiffe/jwtbundle/jwks_valid_2.json", 0, 0, 0, 0, 2, 0 },
		{ "spiffe/jwtbundle/jwks_missing_kid.json", 0, 0, 0, 0, 2, 0 },
		{ "spiffe/witbundle/jwks_valid_1.json", 0, 0, 0, 0, 1, 0 },
		{ "spiffe/witbundle/jwks_valid_2.json", 0, 0, 0, 0, 2, 0 },
		{ "spiffe/witbundle/jwks_missing_kid.json", 0, 0, 0, 0, 2, 0 },
		/* keys MUST be present */
		{ "spiffe/spiffebundle_no_keys.json", ANCHOR_VERIFY_F1_BUNDLE,
		    0, 0, 0, 0, 0 },
	};
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct spiffe_case *c = &cases[i];
		struct anchor_verify_bundle *b = NULL;
		struct anchor_verify_diag d;
		size_t len;
		uint8_t *buf = read_vector(c->file, &len);
		int r = anchor_verify_bundle_parse(buf, len, NULL, &b, &d);
		uint64_t seq;
		int64_t hint;

		if (r != c->rc)
			fail_msg("%s: %d (%s)", c->file, r, d.text);
		if (r == 0) {
			assert_int_equal(anchor_verify_bundle_sequence(b, &seq),
			    c->has_seq);
			if (c->has_seq) {
				assert_int_equal(seq, 1);
				assert_int_equal(
				    anchor_verify_bundle_refresh_hint(b, &hint), 1);
				assert_int_equal(hint, 60);
			}
			if (anchor_verify_bundle_x509_count(b) != c->x509 ||
			    anchor_verify_bundle_jwt_count(b) != c->jwt ||
			    anchor_verify_bundle_skipped_count(b) != c->skipped ||
			    anchor_verify_bundle_invalid_count(b) != c->invalid)
				fail_msg("%s: x509 %zu jwt %zu skipped %zu "
				    "invalid %zu", c->file,
				    anchor_verify_bundle_x509_count(b),
				    anchor_verify_bundle_jwt_count(b),
				    anchor_verify_bundle_skipped_count(b),
				    anchor_verify_bundle_invalid_count(b));
			for (j = 0; j < anchor_verify_bundle_x509_count(b); j++) {
				size_t dl;
				const uint8_t *der = anchor_verify_bundle_x509_der(b,
				    j, &dl);
				X509 *x = d2i_X509(NULL, &der, (long)dl);

				assert_non_null(x);
				/* expired 2023-05-12: valid at a fixed 2020 clock */
				assert_int_equal(X509_cmp_time(X509_get0_notAfter(x),
				    &(time_t){ 1577836800 }), 1);
				X509_free(x);
			}
			for (j = 0; j < anchor_verify_bundle_jwt_count(b); j++) {
				size_t sl;
				const uint8_t *spki = anchor_verify_bundle_jwt_spki(b,
				    j, &sl);
				EVP_PKEY *pk = d2i_PUBKEY(NULL, &spki, (long)sl);

				assert_non_null(pk);
				assert_non_null(strstr(anchor_verify_bundle_jwt_jwk(b,
				    j), anchor_verify_bundle_jwt_kid(b, j)));
				EVP_PKEY_free(pk);
			}
		}
		anchor_verify_bundle_free(b);
		free(buf);
	}
	/* the first x5c certificate of multiple_x509 is the one given */
	{
		json_t *root = load_vector("spiffe/spiffebundle_multiple_x509.json");
		const char *c0 = json_string_value(json_array_get(json_object_get(
		    json_array_get(json_object_get(root, "keys"), 0), "x5c"), 0));
		struct anchor_verify_bundle *b = NULL;
		size_t len, dl, rl;
		uint8_t *buf = read_vector("spiffe/spiffebundle_multiple_x509.json",
		    &len), *raw = NULL;
		const uint8_t *der;

		assert_int_equal(anchor_verify_bundle_parse(buf, len, NULL, &b,
		    NULL), 0);
		der = anchor_verify_bundle_x509_der(b, 0, &dl);
		assert_int_equal(av_b64std_decode(c0, strlen(c0), &raw, &rl), 0);
		assert_int_equal(dl, rl);
		assert_memory_equal(der, raw, rl);
		free(raw);
		free(buf);
		anchor_verify_bundle_free(b);
		json_decref(root);
	}
}

static int
parse_f1(const char *text, struct anchor_verify_bundle **b,
    struct anchor_verify_diag *d)
{
	return anchor_verify_bundle_parse((const uint8_t *)text, strlen(text),
	    NULL, b, d);
}

static void
test_f1_numbers(void **state)
{
	static const struct {
		const char *text;
		int rc;
	} cases[] = {
		{ "{\"keys\":[],\"spiffe_sequence\":0}", 0 },
		{ "{\"keys\":[],\"spiffe_sequence\":9223372036854775807}", 0 },
		{ "{\"keys\":[],\"spiffe_sequence\":9223372036854775808}",
		    ANCHOR_VERIFY_MALFORMED },
		{ "{\"keys\":[],\"spiffe_sequence\":18446744073709551615}",
		    ANCHOR_VERIFY_MALFORMED },
		{ "{\"keys\":[],\"spiffe_sequence\":18446744073709551616}",
		    ANCHOR_VERIFY_MALFORMED },
		{ "{\"keys\":[],\"spiffe_sequence\":-1}", ANCHOR_VERIFY_F1_BUNDLE },
		{ "{\"keys\":[],\"spiffe_sequence\":1.0}", ANCHOR_VERIFY_F1_BUNDLE },
		{ "{\"keys\":[],\"spiffe_sequence\":1.5}", ANCHOR_VERIFY_F1_BUNDLE },
		{ "{\"keys\":[],\"spiffe_sequence\":1e2}", ANCHOR_VERIFY_F1_BUNDLE },
		{ "{\"keys\":[],\"spiffe_sequence\":1e400}", ANCHOR_VERIFY_MALFORMED },
		{ "{\"keys\":[],\"spiffe_sequence\":\"1\"}", ANCHOR_VERIFY_F1_BUNDLE },
		{ "{\"keys\":[],\"spiffe_sequence\":null}", ANCHOR_VERIFY_F1_BUNDLE },
		{ "{\"keys\":[],\"spiffe_refresh_hint\":-5}", ANCHOR_VERIFY_F1_BUNDLE },
		{ "{\"keys\":[],\"spiffe_refresh_hint\":0.5}", ANCHOR_VERIFY_F1_BUNDLE },
		{ "{\"keys\":[],\"spiffe_sequence\":1,\"spiffe_sequence\":2}",
		    ANCHOR_VERIFY_R2_DUPLICATE },
		{ "{\"keys\":{}}", ANCHOR_VERIFY_F1_BUNDLE },
		{ "{\"keys\":[1]}", ANCHOR_VERIFY_F1_BUNDLE },
		{ "[]", ANCHOR_VERIFY_F1_BUNDLE },
		{ "{\"keys\":[],\"future_member\":{\"a\":[1,2]}}", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct anchor_verify_bundle *b = NULL;
		struct anchor_verify_diag d;
		int r = parse_f1(cases[i].text, &b, &d);

		if (r != cases[i].rc)
			fail_msg("%s: %d (%s), want %d", cases[i].text, r,
			    r ? d.text : "", cases[i].rc);
		anchor_verify_bundle_free(b);
	}
}

static void
test_f1_entries(void **state)
{
	struct anchor_verify_bundle *b = NULL;
	struct anchor_verify_diag d;
	char *x64, *y64, *text, *cert64;
	uint8_t pt[65];
	size_t ptlen = 0;
	int r;

	(void)state;
	assert_int_equal(EVP_PKEY_get_octet_string_param(C.jwt, "pub", pt,
	    sizeof(pt), &ptlen), 1);
	x64 = b64u(pt + 1, 32);
	y64 = b64u(pt + 33, 32);
	cert64 = malloc(C.ca_len * 2 + 4);
	EVP_EncodeBlock((unsigned char *)cert64, C.ca_der, (int)C.ca_len);

	/* empty keys: valid, every key revoked */
	assert_int_equal(parse_f1("{\"keys\":[],\"spiffe_sequence\":3}", &b, &d), 0);
	assert_int_equal(anchor_verify_bundle_x509_count(b) +
	    anchor_verify_bundle_jwt_count(b), 0);
	anchor_verify_bundle_free(b);

	/* unknown kty, unknown use, missing use: skipped */
	text = xasprintf("{\"keys\":[{\"kty\":\"OKP\",\"use\":\"jwt-svid\","
	    "\"kid\":\"k\",\"crv\":\"Ed25519\",\"x\":\"AA\"},"
	    "{\"kty\":\"EC\",\"use\":\"wit-svid\",\"kid\":\"k\",\"crv\":\"P-256\","
	    "\"x\":\"%s\",\"y\":\"%s\"},{\"kty\":\"EC\",\"kid\":\"k\","
	    "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},"
	    "{\"kty\":\"EC\",\"use\":\"jwt-svid\",\"kid\":\"k\",\"crv\":\"P-256\","
	    "\"x\":\"%s\",\"y\":\"%s\"}]}", x64, y64, x64, y64, x64, y64);
	assert_int_equal(parse_f1(text, &b, &d), 0);
	assert_int_equal(anchor_verify_bundle_skipped_count(b), 3);
	assert_int_equal(anchor_verify_bundle_jwt_count(b), 1);
	assert_string_equal(anchor_verify_bundle_jwt_kid(b, 0), "k");
	anchor_verify_bundle_free(b);
	free(text);

	/* a point off the curve, a wrong length, private d, alg mismatch */
	text = xasprintf("{\"keys\":[{\"kty\":\"EC\",\"use\":\"jwt-svid\","
	    "\"kid\":\"a\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},"
	    "{\"kty\":\"EC\",\"use\":\"jwt-svid\",\"kid\":\"b\",\"crv\":\"P-384\","
	    "\"x\":\"%s\",\"y\":\"%s\"},{\"kty\":\"EC\",\"use\":\"jwt-svid\","
	    "\"kid\":\"c\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"AA\"},"
	    "{\"kty\":\"EC\",\"use\":\"jwt-svid\",\"kid\":\"e\",\"crv\":\"P-256\","
	    "\"x\":\"%s\",\"y\":\"%s\",\"alg\":\"ES384\"}]}", x64, x64, x64, y64,
	    x64, y64, x64, y64);
	assert_int_equal(parse_f1(text, &b, &d), 0);
	assert_int_equal(anchor_verify_bundle_invalid_count(b), 4);
	assert_int_equal(anchor_verify_bundle_jwt_count(b), 0);
	anchor_verify_bundle_free(b);
	free(text);

	/* repeated jwt-svid kid refuses the bundle */
	text = xasprintf("{\"keys\":[{\"kty\":\"EC\",\"use\":\"jwt-svid\","
	    "\"kid\":\"k\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},"
	    "{\"kty\":\"EC\",\"use\":\"jwt-svid\",\"kid\":\"k\",\"crv\":\"P-256\","
	    "\"x\":\"%s\",\"y\":\"%s\"}]}", x64, y64, x64, y64);
	r = parse_f1(text, &b, &d);
	assert_int_equal(r, ANCHOR_VERIFY_F1_BUNDLE);
	assert_non_null(strstr(d.text, "kid repeats"));
	free(text);

	/* x509-svid: the certificate's key must be the JWK's; x5c[0] counts */
	text = xasprintf("{\"keys\":[{\"kty\":\"EC\",\"use\":\"x509-svid\","
	    "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"x5c\":[\"%s\"]}]}",
	    x64, y64, cert64);
	assert_int_equal(parse_f1(text, &b, &d), 0);
	assert_int_equal(anchor_verify_bundle_invalid_count(b), 1);
	anchor_verify_bundle_free(b);
	free(text);
	free(x64);
	free(y64);
	assert_int_equal(EVP_PKEY_get_octet_string_param(C.d, "pub", pt,
	    sizeof(pt), &ptlen), 1);
	x64 = b64u(pt + 1, 32);
	y64 = b64u(pt + 33, 32);
	text = xasprintf("{\"keys\":[{\"kty\":\"EC\",\"use\":\"x509-svid\","
	    "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"x5c\":[\"%s\","
	    "\"not a certificate\"]}]}", x64, y64, cert64);
	assert_int_equal(parse_f1(text, &b, &d), 0);
	assert_int_equal(anchor_verify_bundle_x509_count(b), 1);
	anchor_verify_bundle_free(b);
	free(text);
	/* a certificate with trailing bytes, or url-safe base64, is unusable */
	text = xasprintf("{\"keys\":[{\"kty\":\"EC\",\"use\":\"x509-svid\","
	    "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"x5c\":[\"AAAA%s\"]}]}",
	    x64, y64, cert64);
	assert_int_equal(parse_f1(text, &b, &d), 0);
	assert_int_equal(anchor_verify_bundle_invalid_count(b), 1);
	anchor_verify_bundle_free(b);
	free(text);
	free(x64);
	free(y64);
	free(cert64);
}

/* The SubjectPublicKeyInfo of a bundle key is OpenSSL's, for every curve. */
static void
test_f1_spki(void **state)
{
	static const char *const crv[] = { "P-256", "P-384", "P-521" };
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		EVP_PKEY *k = gen(crv[i]);
		uint8_t pt[133];
		size_t ptlen = 0, fs, sl;
		unsigned char *der = NULL;
		int dl;
		char *x, *y, *text;
		struct anchor_verify_bundle *b = NULL;
		const uint8_t *spki;

		assert_int_equal(EVP_PKEY_get_octet_string_param(k, "pub", pt,
		    sizeof(pt), &ptlen), 1);
		fs = (ptlen - 1) / 2;
		x = b64u(pt + 1, fs);
		y = b64u(pt + 1 + fs, fs);
		text = xasprintf("{\"keys\":[{\"kty\":\"EC\",\"use\":\"jwt-svid\","
		    "\"kid\":\"k\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}]}",
		    crv[i], x, y);
		assert_int_equal(parse_f1(text, &b, NULL), 0);
		assert_int_equal(anchor_verify_bundle_jwt_count(b), 1);
		spki = anchor_verify_bundle_jwt_spki(b, 0, &sl);
		assert_true((dl = i2d_PUBKEY(k, &der)) > 0);
		assert_int_equal(sl, (size_t)dl);
		assert_memory_equal(spki, der, sl);
		OPENSSL_free(der);
		anchor_verify_bundle_free(b);
		free(text);
		free(x);
		free(y);
		EVP_PKEY_free(k);
	}
}

/* ---- thumbprints and RFC 7515 / RFC 7520 -------------------------------- */

static void
test_thumbprints(void **state)
{
	static const struct {
		const char *file;
		const char *member;	/* key inside the file, or NULL */
		const char *name;	/* in thumbprints_sha256.json */
	} cases[] = {
		{ "jose/cookbook/jwk/3_1.ec_public_key.json", NULL,
		    "jwk/3_1.ec_public_key.json" },
		{ "jose/cookbook/jwk/3_3.rsa_public_key.json", NULL,
		    "jwk/3_3.rsa_public_key.json" },
		{ "jose/rfc7515-appendix/A_3.json", "key",
		    "rfc7515-appendix/A_3 (P-256)" },
	};
	json_t *tp = load_vector("jose/thumbprints_sha256.json");
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *root = load_vector(cases[i].file), *jwk = root;
		struct anchor_verify_key *k = NULL;
		const char *why = NULL;

		if (cases[i].member != NULL) {
			jwk = json_deep_copy(json_object_get(root,
			    cases[i].member));
			json_object_del(jwk, "d");
		}
		assert_int_equal(av_key_from_json(jwk, NULL, &k, &why), 0);
		assert_string_equal(k->kid, json_string_value(json_object_get(tp,
		    cases[i].name)));
		anchor_verify_key_free(k);
		if (jwk != root)
			json_decref(jwk);
		json_decref(root);
	}
	json_decref(tp);
}

static void
test_rfc7515(void **state)
{
	json_t *a3 = load_vector("jose/rfc7515-appendix/A_3.json");
	json_t *a5 = load_vector("jose/rfc7515-appendix/A_5.alg_none_NEGATIVE.json");
	json_t *a6 = load_vector("jose/rfc7515-appendix/A_6.general_json.json");
	json_t *key = json_deep_copy(json_object_get(a3, "key"));
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1);
	char *env;

	(void)state;
	/* the private member is refused; the public half verifies A.3 */
	assert_int_equal(verify_compact(json_string_value(json_object_get(a3,
	    "compact")), key), ANCHOR_VERIFY_F1_BUNDLE);
	json_object_del(key, "d");
	assert_int_equal(verify_compact(json_string_value(json_object_get(a3,
	    "compact")), key), ANCHOR_VERIFY_OK);
	/* A.5: alg none */
	assert_int_equal(verify_compact(json_string_value(json_object_get(a5,
	    "compact")), key), ANCHOR_VERIFY_R5_ALG);
	/* A.6 general JSON: unprotected header members, so R4 */
	env = json_dumps(json_object_get(a6, "jws"), JSON_COMPACT);
	expect(st, env, NOW, ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS, "R4");
	free(env);
	/* A.5 as a one-signature envelope */
	{
		const char *c = json_string_value(json_object_get(a5, "compact"));
		char *h = strndup(c, (size_t)(strchr(c, '.') - c));
		char *p = strndup(strchr(c, '.') + 1,
		    (size_t)(strrchr(c, '.') - strchr(c, '.') - 1));

		env = xasprintf("{\"payload\":\"%s\",\"signatures\":[{\"protected\":"
		    "\"%s\",\"signature\":\"\"}]}", p, h);
		expect(st, env, NOW, ANCHOR_VERIFY_R5_ALG, "\"none\"");
		free(env);
		free(h);
		free(p);
	}
	json_decref(key);
	json_decref(a3);
	json_decref(a5);
	json_decref(a6);
	anchor_verify_state_free(st);
}

static void
test_cookbook_4_8(void **state)
{
	json_t *c = load_vector("jose/cookbook/jws/4_8.multiple_signatures.json");
	json_t *jws = json_deep_copy(json_object_get(json_object_get(c, "output"),
	    "json"));
	json_t *sigs = json_object_get(jws, "signatures"), *key;
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1);
	char *env;

	(void)state;
	env = json_dumps(jws, JSON_COMPACT);
	expect(st, env, NOW, ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS, "R4");
	free(env);
	/* only the ES512 signature, alg in its unprotected header: R4 */
	json_array_remove(sigs, 2);
	json_array_remove(sigs, 0);
	env = json_dumps(jws, JSON_COMPACT);
	expect(st, env, NOW, ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS,
	    "no unprotected header");
	free(env);
	/* and its P-521 key can never be a signer */
	key = json_array_get(json_object_get(json_object_get(c, "input"), "key"),
	    1);
	env = json_dumps(key, JSON_COMPACT);
	{
		struct anchor_verify_key *k = NULL;

		/* a private key: refused; public half: not ES256/ES384 */
		assert_int_equal(anchor_verify_key_from_jwk((uint8_t *)env,
		    strlen(env), &k, NULL), ANCHOR_VERIFY_F1_BUNDLE);
	}
	free(env);
	json_decref(jws);
	json_decref(c);
	anchor_verify_state_free(st);
}

/* ---- the rules ---------------------------------------------------------- */

static void
test_accept(void **state)
{
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1), *ns = NULL;
	struct anchor_verify_options o = opts();
	struct anchor_verify_result *res = NULL;
	struct anchor_verify_diag d;
	const struct anchor_verify_bundle *b;
	char *env = f2(1, NOW, NOW + DAY, &C.a, 1), *pl;
	size_t len, plen;
	const uint8_t *p;

	(void)state;
	assert_int_equal(anchor_verify_signed_bundle(st, (uint8_t *)env,
	    strlen(env), NOW, &o, &res, &ns, &d), 0);
	p = anchor_verify_result_payload(res, &len);
	pl = f1(1, &plen);
	assert_int_equal(len, plen);
	assert_memory_equal(p, pl, len);
	free(pl);
	assert_int_equal(anchor_verify_result_sequence(res), 1);
	assert_int_equal(anchor_verify_result_iat(res), NOW);
	assert_int_equal(anchor_verify_result_exp(res), NOW + DAY);
	assert_int_equal(anchor_verify_result_is_refresh(res), 0);
	assert_int_equal(anchor_verify_result_signature_count(res), 1);
	b = anchor_verify_result_bundle(res);
	assert_int_equal(anchor_verify_bundle_x509_count(b), 1);
	assert_int_equal(anchor_verify_bundle_jwt_count(b), 1);
	assert_string_equal(anchor_verify_bundle_jwt_kid(b, 0), C.kid_jwt);
	assert_int_equal(anchor_verify_state_has_bundle(ns), 1);
	assert_int_equal(anchor_verify_state_sequence(ns), 1);
	assert_int_equal(anchor_verify_state_iat(ns), NOW);
	assert_int_equal(anchor_verify_state_has_bundle(st), 0);
	anchor_verify_result_free(res);
	anchor_verify_state_free(ns);
	/* P-384 signer */
	anchor_verify_state_free(st);
	free(env);
	st = state_for(&C.c384, 1, 1, 1);
	env = f2(1, NOW, NOW + DAY, &C.c384, 1);
	expect(st, env, NOW, 0, NULL);
	free(env);
	anchor_verify_state_free(st);
}

static void
test_r1(void **state)
{
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1);
	struct anchor_verify_options o = opts();
	struct anchor_verify_result *res = NULL;
	struct anchor_verify_state *ns = NULL;
	struct anchor_verify_diag d;
	char *env = f2(1, NOW, NOW + DAY, &C.a, 1);

	(void)state;
	o.max_bytes = strlen(env) - 1;
	assert_int_equal(anchor_verify_signed_bundle(st, (uint8_t *)env,
	    strlen(env), NOW, &o, &res, &ns, &d), ANCHOR_VERIFY_R1_SIZE);
	o.max_bytes = strlen(env);
	assert_int_equal(anchor_verify_signed_bundle(st, (uint8_t *)env,
	    strlen(env), NOW, &o, &res, &ns, &d), 0);
	anchor_verify_result_free(res);
	anchor_verify_state_free(ns);
	free(env);
	anchor_verify_state_free(st);
}

static void
test_r2(void **state)
{
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1);
	char *pl, *h, *env, *t;
	size_t plen;
	struct sigspec s = { 0 };

	(void)state;
	pl = f1(1, &plen);
	/* in the envelope */
	env = f2(1, NOW, NOW + DAY, &C.a, 1);
	t = xasprintf("{\"payload\":\"x\",%s", env + 1);
	expect(st, t, NOW, ANCHOR_VERIFY_R2_DUPLICATE, "envelope");
	free(t);
	free(env);
	/* in a protected header */
	t = hdr2("ES256", C.kid_a, 1, NOW, NOW + DAY);
	h = xasprintf("{\"alg\":\"ES256\",%s", t + 1);
	free(t);
	s.header = h;
	s.key = C.a;
	env = envelope(pl, &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R2_DUPLICATE, "protected header 0");
	free(env);
	free(h);
	/* in the payload */
	h = hdr2("ES256", C.kid_a, 1, NOW, NOW + DAY);
	s.header = h;
	t = xasprintf("{\"spiffe_sequence\":1,%s", pl + 1);
	env = envelope(t, &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R2_DUPLICATE, "payload");
	free(env);
	free(t);
	free(h);
	free(pl);
	anchor_verify_state_free(st);
}

static void
test_r3(void **state)
{
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1);
	char *env = f2(1, NOW, NOW + DAY, &C.a, 1), *t;
	json_t *j = json_loads(env, 0, NULL), *sig;
	size_t i;

	(void)state;
	sig = json_array_get(json_object_get(j, "signatures"), 0);
	/* flattened */
	t = xasprintf("{\"payload\":\"%s\",\"protected\":\"%s\","
	    "\"signature\":\"%s\"}",
	    json_string_value(json_object_get(j, "payload")),
	    json_string_value(json_object_get(sig, "protected")),
	    json_string_value(json_object_get(sig, "signature")));
	expect(st, t, NOW, ANCHOR_VERIFY_R3_ENVELOPE, "flattened");
	free(t);
	/* compact: not JSON at all */
	t = xasprintf("%s.%s.%s", json_string_value(json_object_get(sig,
	    "protected")), json_string_value(json_object_get(j, "payload")),
	    json_string_value(json_object_get(sig, "signature")));
	expect(st, t, NOW, ANCHOR_VERIFY_MALFORMED, "envelope");
	free(t);
	/* a JSON string holding the compact form */
	t = xasprintf("\"%s\"", "a.b.c");
	expect(st, t, NOW, ANCHOR_VERIFY_R3_ENVELOPE, NULL);
	free(t);
	/* extra member, missing payload, payload not a string */
	t = xasprintf("{\"extra\":1,%s", env + 1);
	expect(st, t, NOW, ANCHOR_VERIFY_R3_ENVELOPE, NULL);
	free(t);
	expect(st, "{\"payload\":1,\"signatures\":[]}", NOW,
	    ANCHOR_VERIFY_R3_ENVELOPE, NULL);
	expect(st, "{\"signatures\":[{}]}", NOW, ANCHOR_VERIFY_R3_ENVELOPE, NULL);
	/* 0 and 9 signatures */
	t = xasprintf("{\"payload\":\"%s\",\"signatures\":[]}",
	    json_string_value(json_object_get(j, "payload")));
	expect(st, t, NOW, ANCHOR_VERIFY_R3_ENVELOPE, "1 to 8");
	free(t);
	for (i = 0; i < 8; i++)
		json_array_append(json_object_get(j, "signatures"), sig);
	t = json_dumps(j, JSON_COMPACT);
	expect(st, t, NOW, ANCHOR_VERIFY_R3_ENVELOPE, "1 to 8");
	free(t);
	json_decref(j);
	free(env);
	anchor_verify_state_free(st);
}

static void
test_r4(void **state)
{
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1);
	char *pl, *h, *env;
	size_t plen;
	struct sigspec s = { 0 };

	(void)state;
	pl = f1(1, &plen);
	h = hdr2("ES256", C.kid_a, 1, NOW, NOW + DAY);
	s.header = h;
	s.key = C.a;
	s.extra = ",\"header\":{\"kid\":\"x\"}";
	env = envelope(pl, &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS, "R4 signature 0");
	free(env);
	s.extra = NULL;
	s.key = NULL;
	s.signature = "not+base64url/";
	env = envelope(pl, &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS, "base64url");
	free(env);
	s.signature = "AAA=";
	env = envelope(pl, &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS, "base64url");
	free(env);
	expect(st, "{\"payload\":\"e30\",\"signatures\":[{\"protected\":\"e30\"}]}",
	    NOW, ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS, NULL);
	expect(st, "{\"payload\":\"e30\",\"signatures\":[{\"protected\":\"e30\","
	    "\"signature\":5}]}", NOW, ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS, NULL);
	expect(st, "{\"payload\":\"e30\",\"signatures\":[\"e30..\"]}", NOW,
	    ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS, NULL);
	free(h);
	free(pl);
	anchor_verify_state_free(st);
}

static void
test_r5(void **state)
{
	static const char *const bad[] = { "none", "HS256", "RS256", "PS256",
	    "ES512", "es256", "" };
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1);
	char *pl, *h, *env;
	size_t plen, i;
	struct sigspec s = { 0 };

	(void)state;
	pl = f1(1, &plen);
	s.key = C.a;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		h = hdr2(bad[i], C.kid_a, 1, NOW, NOW + DAY);
		s.header = h;
		env = envelope(pl, &s, 1);
		expect(st, env, NOW, ANCHOR_VERIFY_R5_ALG, "R5 alg");
		free(env);
		free(h);
	}
	/* ES384 with the pinned P-256 key */
	h = hdr2("ES384", C.kid_a, 1, NOW, NOW + DAY);
	s.header = h;
	env = envelope(pl, &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R5_ALG, "pinned key");
	free(env);
	free(h);
	/* no alg at all */
	h = xasprintf("{\"kid\":\"%s\"}", C.kid_a);
	s.header = h;
	env = envelope(pl, &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R5_ALG, "no alg");
	free(env);
	free(h);
	/* alg none under an unknown kid still refuses the envelope */
	{
		struct sigspec two[2] = { { 0 }, { 0 } };
		char *h2 = hdr2("ES256", C.kid_a, 1, NOW, NOW + DAY);

		h = hdr2("none", C.kid_x, 1, NOW, NOW + DAY);
		two[0].header = h2;
		two[0].key = C.a;
		two[1].header = h;
		two[1].signature = "";
		env = envelope(pl, two, 2);
		expect(st, env, NOW, ANCHOR_VERIFY_R5_ALG, "header 1");
		free(env);
		free(h);
		free(h2);
	}
	free(pl);
	anchor_verify_state_free(st);
}

static void
test_r6(void **state)
{
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1);
	char *pl, *h, *h2, *env;
	size_t plen;
	struct sigspec s[2] = { { 0 }, { 0 } };

	(void)state;
	pl = f1(1, &plen);
	/* only an attacker's key under its own kid */
	h = hdr2("ES256", C.kid_x, 1, NOW, NOW + DAY);
	s[0].header = h;
	s[0].key = C.x;
	env = envelope(pl, s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R6_UNTRUSTED, "R6 untrusted");
	free(env);
	/* an unknown kid next to a trusted one is ignored */
	h2 = hdr2("ES256", C.kid_a, 1, NOW, NOW + DAY);
	s[1].header = h2;
	s[1].key = C.a;
	env = envelope(pl, s, 2);
	expect(st, env, NOW, ANCHOR_VERIFY_OK, NULL);
	free(env);
	/* even when its signature is garbage */
	s[0].key = NULL;
	s[0].signature = "AAAA";
	env = envelope(pl, s, 2);
	expect(st, env, NOW, ANCHOR_VERIFY_OK, NULL);
	free(env);
	free(h);
	free(h2);
	free(pl);
	anchor_verify_state_free(st);
}

static void
test_r7(void **state)
{
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1);
	char *pl, *h, *env, *good;
	size_t plen;
	struct sigspec s = { 0 };

	(void)state;
	pl = f1(1, &plen);
	good = hdr2("ES256", C.kid_a, 1, NOW, NOW + DAY);
	s.key = C.a;
	h = strdup(good);
	memcpy(strstr(h, "spiffe-bundle+jws"), "spiffe-signers+j", 16);
	s.header = h;
	env = envelope(pl, &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R7_TYP, "R7 typ");
	free(env);
	free(h);
	h = xasprintf("{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", C.kid_a);
	s.header = h;
	env = envelope(pl, &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R7_TYP, "JWT");
	free(env);
	free(h);
	/* typ missing */
	h = xasprintf("{\"alg\":\"ES256\",\"kid\":\"%s\"}", C.kid_a);
	s.header = h;
	env = envelope(pl, &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R7_TYP, NULL);
	free(env);
	free(h);
	/* an F3 envelope offered as a bundle */
	{
		size_t len;

		env = f3(1, 1, 1, &C.a, 1, &C.a, 1, &len);
		expect(st, env, NOW, ANCHOR_VERIFY_R7_TYP, "spiffe-signers+jws");
		free(env);
	}
	free(good);
	free(pl);
	anchor_verify_state_free(st);
}

static void
test_r8(void **state)
{
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1);
	char *pl, *h, *env, *base;
	const char *tail;
	size_t plen, i;
	struct sigspec s = { 0 };
	static const char *const extra[] = {
		",\"b64\":false", ",\"jwk\":{\"kty\":\"EC\"}", ",\"jku\":\"x\"",
		",\"x5c\":[]", ",\"x5u\":\"x\"", ",\"cty\":\"json\"",
	};

	(void)state;
	pl = f1(1, &plen);
	base = hdr2("ES256", C.kid_a, 1, NOW, NOW + DAY);
	s.key = C.a;
	for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		h = xasprintf("%.*s%s}", (int)strlen(base) - 1, base, extra[i]);
		s.header = h;
		env = envelope(pl, &s, 1);
		expect(st, env, NOW, ANCHOR_VERIFY_R8_HEADER, "R8 header 0");
		free(env);
		free(h);
	}
	/* crit in another order, crit with b64, unknown crit, no crit */
	tail = strstr(base, ",\"spiffe_trust_domain\":\"" TD);
	h = xasprintf("{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"spiffe-bundle+jws\","
	    "\"crit\":[\"spiffe_sequence\",\"spiffe_trust_domain\",\"iat\",\"exp\"]%s",
	    C.kid_a, tail);
	s.header = h;
	env = envelope(pl, &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R8_HEADER, "crit");
	free(env);
	free(h);
	h = xasprintf("{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"spiffe-bundle+jws\","
	    "\"crit\":[\"spiffe_trust_domain\",\"spiffe_sequence\",\"iat\",\"exp\","
	    "\"b64\"],\"b64\":false%s", C.kid_a, tail);
	s.header = h;
	env = envelope(pl, &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R8_HEADER, "crit");
	free(env);
	free(h);
	h = xasprintf("{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"spiffe-bundle+jws\","
	    "\"crit\":[\"spiffe_trust_domain\",\"spiffe_sequence\",\"iat\",\"exp\","
	    "\"urn:x\"],\"urn:x\":1%s", C.kid_a, tail);
	s.header = h;
	env = envelope(pl, &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R8_HEADER, "crit");
	free(env);
	free(h);
	h = xasprintf("{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"spiffe-bundle+jws\"%s",
	    C.kid_a, tail);
	s.header = h;
	env = envelope(pl, &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R8_HEADER, "crit");
	free(env);
	free(h);
	/* a non-integer sequence, iat as a string */
	h = xasprintf("%.*s", (int)(strstr(base, "\"spiffe_sequence\":1") - base),
	    base);
	{
		char *h2 = xasprintf("%s\"spiffe_sequence\":1.0,\"iat\":%" PRId64
		    ",\"exp\":%" PRId64 "}", h, NOW, NOW + DAY);

		s.header = h2;
		env = envelope(pl, &s, 1);
		expect(st, env, NOW, ANCHOR_VERIFY_MALFORMED, "spiffe_sequence");
		free(env);
		free(h2);
		h2 = xasprintf("%s\"spiffe_sequence\":1,\"iat\":\"%" PRId64
		    "\",\"exp\":%" PRId64 "}", h, NOW, NOW + DAY);
		s.header = h2;
		env = envelope(pl, &s, 1);
		expect(st, env, NOW, ANCHOR_VERIFY_MALFORMED, "iat");
		free(env);
		free(h2);
		h2 = xasprintf("%s\"spiffe_sequence\":-1,\"iat\":%" PRId64
		    ",\"exp\":%" PRId64 "}", h, NOW, NOW + DAY);
		s.header = h2;
		env = envelope(pl, &s, 1);
		expect(st, env, NOW, ANCHOR_VERIFY_MALFORMED, "spiffe_sequence");
		free(env);
		free(h2);
	}
	free(h);
	free(base);
	free(pl);
	anchor_verify_state_free(st);
}

static void
test_r9(void **state)
{
	EVP_PKEY *ab[2] = { C.a, C.b };
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1), *st2;
	char *pl, *h, *hx, *env;
	size_t plen;
	struct sigspec s[2] = { { 0 }, { 0 } };

	(void)state;
	pl = f1(1, &plen);
	h = hdr2("ES256", C.kid_a, 1, NOW, NOW + DAY);
	s[0].header = s[1].header = h;
	s[0].key = s[1].key = C.a;
	env = envelope(pl, s, 2);
	expect(st, env, NOW, ANCHOR_VERIFY_R9_KID, "R9 repeated kid");
	free(env);
	/* repeated unknown kid too */
	hx = hdr2("ES256", C.kid_x, 1, NOW, NOW + DAY);
	s[0].header = s[1].header = hx;
	s[0].key = s[1].key = C.x;
	env = envelope(pl, s, 2);
	expect(st, env, NOW, ANCHOR_VERIFY_R9_KID, "R9 repeated kid");
	free(env);
	/* threshold 2 of {a, b}: one is not enough, two are */
	st2 = state_for(ab, 2, 2, 1);
	env = f2(1, NOW, NOW + DAY, &C.a, 1);
	expect(st2, env, NOW, ANCHOR_VERIFY_R9_KID, "R9 threshold: 1 of 2");
	free(env);
	env = f2(1, NOW, NOW + DAY, ab, 2);
	expect(st2, env, NOW, ANCHOR_VERIFY_OK, NULL);
	free(env);
	/* a and an attacker: still 1 of 2 */
	s[0].header = h;
	s[0].key = C.a;
	s[1].header = hx;
	s[1].key = C.x;
	env = envelope(pl, s, 2);
	expect(st2, env, NOW, ANCHOR_VERIFY_R9_KID, "1 of 2");
	free(env);
	free(h);
	free(hx);
	free(pl);
	anchor_verify_state_free(st);
	anchor_verify_state_free(st2);
}

static void
test_r10(void **state)
{
	EVP_PKEY *ab[2] = { C.a, C.b };
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1), *st2;
	char *pl, *h, *hb, *env, *sig64;
	size_t plen, i;
	struct sigspec s[2] = { { 0 }, { 0 } };
	uint8_t sig[96];

	(void)state;
	pl = f1(1, &plen);
	h = hdr2("ES256", C.kid_a, 1, NOW, NOW + DAY);
	/* spoofed kid: the attacker signs under a's kid */
	s[0].header = h;
	s[0].key = C.x;
	env = envelope(pl, s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R10_SIGNATURE, "does not verify");
	free(env);
	/* DER instead of r||s */
	s[0].key = C.a;
	s[0].der = 1;
	env = envelope(pl, s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R10_SIGNATURE, "needs raw r||s of 64");
	free(env);
	s[0].der = 0;
	/* wrong lengths, zeros, r = n */
	for (i = 0; i < 4; i++) {
		static const size_t lens[] = { 0, 63, 65, 96 };

		memset(sig, 0, sizeof(sig));
		sig64 = b64u(sig, lens[i]);
		s[0].key = NULL;
		s[0].signature = sig64;
		env = envelope(pl, s, 1);
		expect(st, env, NOW, ANCHOR_VERIFY_R10_SIGNATURE, "R10");
		free(env);
		free(sig64);
	}
	memset(sig, 0, 64);
	sig64 = b64u(sig, 64);
	s[0].signature = sig64;
	env = envelope(pl, s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R10_SIGNATURE, "does not verify");
	free(env);
	free(sig64);
	/* mix and match: a's signature from another envelope */
	{
		char *other = f2(2, NOW, NOW + DAY, &C.a, 1);
		json_t *o = json_loads(other, 0, NULL);
		const char *osig = json_string_value(json_object_get(json_array_get(
		    json_object_get(o, "signatures"), 0), "signature"));

		s[0].signature = osig;
		env = envelope(pl, s, 1);
		expect(st, env, NOW, ANCHOR_VERIFY_R10_SIGNATURE, "does not verify");
		free(env);
		json_decref(o);
		free(other);
	}
	/* a trusted signature that fails refuses even when the threshold is met */
	st2 = state_for(ab, 2, 1, 1);
	hb = hdr2("ES256", C.kid_b, 1, NOW, NOW + DAY);
	s[0].header = h;
	s[0].key = C.a;
	s[1].header = hb;
	s[1].key = C.x;
	env = envelope(pl, s, 2);
	expect(st2, env, NOW, ANCHOR_VERIFY_R10_SIGNATURE, C.kid_b);
	free(env);
	free(hb);
	free(h);
	free(pl);
	anchor_verify_state_free(st);
	anchor_verify_state_free(st2);
}

static void
test_f1_in_envelope(void **state)
{
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1);
	char *h = hdr2("ES256", C.kid_a, 1, NOW, NOW + DAY), *env;
	struct sigspec s = { 0 };

	(void)state;
	s.header = h;
	s.key = C.a;
	env = envelope("{\"spiffe_sequence\":1}", &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_F1_BUNDLE, "keys is missing");
	free(env);
	env = envelope("{\"keys\":[],\"spiffe_sequence\":1e0}", &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_F1_BUNDLE, "spiffe_sequence");
	free(env);
	env = envelope("not json", &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_MALFORMED, "payload");
	free(env);
	/* F1 comes before R11 .. R14: an expired, invalid payload is F1 */
	free(h);
	h = hdr2("ES256", C.kid_a, 1, NOW - 2 * DAY, NOW - DAY);
	s.header = h;
	env = envelope("{\"keys\":5,\"spiffe_sequence\":1}", &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_F1_BUNDLE, NULL);
	free(env);
	/* an empty keys array verifies: every key revoked */
	free(h);
	h = hdr2("ES256", C.kid_a, 1, NOW, NOW + DAY);
	s.header = h;
	env = envelope("{\"keys\":[],\"spiffe_sequence\":1}", &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_OK, NULL);
	free(env);
	free(h);
	anchor_verify_state_free(st);
}

static void
test_r11(void **state)
{
	EVP_PKEY *ab[2] = { C.a, C.b };
	struct anchor_verify_state *st = state_for(ab, 2, 2, 1);
	char *pl, *ha, *hb, *env;
	size_t plen;
	struct sigspec s[2] = { { 0 }, { 0 } };

	(void)state;
	pl = f1(1, &plen);
	ha = hdr2("ES256", C.kid_a, 1, NOW, NOW + DAY);
	hb = hdr2("ES256", C.kid_b, 1, NOW, NOW + 2 * DAY);
	s[0].header = ha;
	s[0].key = C.a;
	s[1].header = hb;
	s[1].key = C.b;
	env = envelope(pl, s, 2);
	expect(st, env, NOW, ANCHOR_VERIFY_R11_DISAGREE, "R11 disagreement");
	free(env);
	free(hb);
	hb = hdr2("ES256", C.kid_b, 2, NOW, NOW + DAY);
	s[1].header = hb;
	env = envelope(pl, s, 2);
	expect(st, env, NOW, ANCHOR_VERIFY_R11_DISAGREE, NULL);
	free(env);
	free(ha);
	free(hb);
	free(pl);
	anchor_verify_state_free(st);
}

static void
test_r12(void **state)
{
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1);
	char *pl, *h, *env;
	size_t plen;
	struct sigspec s = { 0 };
	struct anchor_jws_signer sg = { C.kid_a, "ES256", soft_sign, NULL };

	(void)state;
	pl = f1(1, &plen);
	/* another trust domain, signed by the trusted key */
	sg.arg = C.a;
	assert_int_equal(anchor_f2_sign("staging.example.com", 1, NOW, NOW + DAY,
	    (uint8_t *)pl, plen, &sg, 1, &env, &plen), 0);
	expect(st, env, NOW, ANCHOR_VERIFY_R12_MISMATCH, "R12 wrong trust domain");
	free(env);
	/* header sequence 2, payload 1 */
	h = hdr2("ES256", C.kid_a, 2, NOW, NOW + DAY);
	s.header = h;
	s.key = C.a;
	env = envelope(pl, &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R12_MISMATCH, "R12 sequence mismatch");
	free(env);
	/* no sequence in the payload */
	env = envelope("{\"keys\":[]}", &s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R12_MISMATCH, "has none");
	free(env);
	free(h);
	free(pl);
	anchor_verify_state_free(st);
}

static void
test_r13(void **state)
{
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1);
	struct anchor_verify_options o = opts();
	struct anchor_verify_result *res = NULL;
	struct anchor_verify_state *ns = NULL;
	char *env;

	(void)state;
	env = f2(1, NOW, NOW + DAY, &C.a, 1);
	expect(st, env, NOW - 300, ANCHOR_VERIFY_OK, NULL);	/* skew edge */
	expect(st, env, NOW - 301, ANCHOR_VERIFY_R13_TIME, "not yet valid");
	expect(st, env, NOW + DAY - 1, ANCHOR_VERIFY_OK, NULL);
	expect(st, env, NOW + DAY, ANCHOR_VERIFY_R13_TIME, "expired");
	expect(st, env, INT64_MAX, ANCHOR_VERIFY_R13_TIME, "expired");
	expect(st, env, INT64_MIN, ANCHOR_VERIFY_R13_TIME, "not yet valid");
	free(env);
	/* validity: 30 days exactly is fine, one second more is not */
	env = f2(1, NOW, NOW + 30 * DAY, &C.a, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_OK, NULL);
	free(env);
	env = f2(1, NOW, NOW + 30 * DAY + 1, &C.a, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R13_TIME, "too long");
	o.max_validity = 31 * DAY;
	assert_int_equal(anchor_verify_signed_bundle(st, (uint8_t *)env,
	    strlen(env), NOW, &o, &res, &ns, NULL), 0);
	anchor_verify_result_free(res);
	anchor_verify_state_free(ns);
	free(env);
	/* exp <= iat and extreme values: hand-made headers */
	{
		char *pl, *h;
		size_t plen;
		struct sigspec s = { 0 };

		pl = f1(1, &plen);
		s.key = C.a;
		h = hdr2("ES256", C.kid_a, 1, NOW, NOW);
		s.header = h;
		env = envelope(pl, &s, 1);
		expect(st, env, NOW, ANCHOR_VERIFY_R13_TIME, "not after iat");
		free(env);
		free(h);
		h = hdr2("ES256", C.kid_a, 1, INT64_MIN, INT64_MAX);
		s.header = h;
		env = envelope(pl, &s, 1);
		expect(st, env, NOW, ANCHOR_VERIFY_R13_TIME, "too long");
		free(env);
		free(h);
		free(pl);
	}
	anchor_verify_state_free(st);
}

static void
test_r14(void **state)
{
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 5), *s5 = NULL;
	struct anchor_verify_state *s6 = NULL;
	struct anchor_verify_diag d;
	char *e4, *e5, *e5b, *e5r, *e6;

	(void)state;
	e4 = f2(4, NOW, NOW + DAY, &C.a, 1);
	e5 = f2(5, NOW, NOW + DAY, &C.a, 1);
	e5r = f2(5, NOW + 3600, NOW + DAY + 3600, &C.a, 1);	/* refresh */
	e6 = f2(6, NOW, NOW + DAY, &C.a, 1);
	/* below min_sequence 5 */
	expect(st, e4, NOW, ANCHOR_VERIFY_R14_ROLLBACK, "below min_sequence 5");
	assert_int_equal(run(st, e5, NOW, &s5, &d), 0);
	/* rollback after 5 */
	expect(s5, e4, NOW, ANCHOR_VERIFY_R14_ROLLBACK,
	    "R14 rollback: sequence 4 is not greater than stored 5");
	/* refresh: same bytes, new iat/exp */
	{
		struct anchor_verify_options o = opts();
		struct anchor_verify_result *res = NULL;
		struct anchor_verify_state *ns = NULL;

		assert_int_equal(anchor_verify_signed_bundle(s5, (uint8_t *)e5r,
		    strlen(e5r), NOW + 3600, &o, &res, &ns, &d), 0);
		assert_int_equal(anchor_verify_result_is_refresh(res), 1);
		assert_int_equal(anchor_verify_state_iat(ns), NOW + 3600);
		/* an older iat is fine too: iat is not compared */
		anchor_verify_result_free(res);
		anchor_verify_state_free(ns);
		assert_int_equal(anchor_verify_signed_bundle(s5, (uint8_t *)e5,
		    strlen(e5), NOW + 3600, &o, &res, &ns, &d), 0);
		anchor_verify_result_free(res);
		anchor_verify_state_free(ns);
	}
	/* equivocation: sequence 5 with other bytes */
	{
		char *pl, *h;
		size_t plen;
		struct sigspec s = { 0 };

		pl = f1(5, &plen);
		pl[plen - 1] = ',';
		h = xasprintf("%s\"extra\":1}", pl);
		free(pl);
		pl = hdr2("ES256", C.kid_a, 5, NOW, NOW + DAY);
		s.header = pl;
		s.key = C.a;
		e5b = envelope(h, &s, 1);
		free(h);
		free(pl);
	}
	expect(s5, e5b, NOW, ANCHOR_VERIFY_R14_ROLLBACK, "R14 equivocation");
	assert_int_equal(run(s5, e6, NOW, &s6, &d), 0);
	assert_int_equal(anchor_verify_state_sequence(s6), 6);
	expect(s6, e5, NOW, ANCHOR_VERIFY_R14_ROLLBACK, "stored 6");
	free(e4);
	free(e5);
	free(e5b);
	free(e5r);
	free(e6);
	anchor_verify_state_free(s5);
	anchor_verify_state_free(s6);
	anchor_verify_state_free(st);
}

/* Checks run in rule order: the lowest rule decides. */
static void
test_rule_order(void **state)
{
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1);
	char *pl, *h1, *h2, *env;
	size_t plen;
	struct sigspec s[2] = { { 0 }, { 0 } };

	(void)state;
	pl = f1(1, &plen);
	/* signature 0 has a wrong typ (R7), signature 1 alg HS256 (R5) */
	h1 = xasprintf("{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"JWT\"}", C.kid_a);
	h2 = hdr2("HS256", C.kid_b, 1, NOW, NOW + DAY);
	s[0].header = h1;
	s[0].key = C.a;
	s[1].header = h2;
	s[1].key = C.b;
	env = envelope(pl, s, 2);
	expect(st, env, NOW, ANCHOR_VERIFY_R5_ALG, "header 1");
	free(env);
	free(h2);
	/* R7 before R8 */
	h2 = xasprintf("{\"alg\":\"ES256\",\"kid\":\"%s\",\"b64\":false}", C.kid_b);
	s[1].header = h2;
	env = envelope(pl, s, 2);
	expect(st, env, NOW, ANCHOR_VERIFY_R7_TYP, "header 0");
	free(env);
	free(h1);
	free(h2);
	/* R10 before R12, R12 before R13 */
	h1 = hdr2("ES256", C.kid_a, 7, NOW - 2 * DAY, NOW - DAY);
	s[0].header = h1;
	s[0].key = C.x;
	env = envelope(pl, s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R10_SIGNATURE, NULL);
	free(env);
	s[0].key = C.a;
	env = envelope(pl, s, 1);
	expect(st, env, NOW, ANCHOR_VERIFY_R12_MISMATCH, NULL);
	free(env);
	free(h1);
	free(pl);
	anchor_verify_state_free(st);
}

/* ---- F3 ----------------------------------------------------------------- */

static int
pin(const char *env, size_t len, struct anchor_verify_signers **s,
    struct anchor_verify_diag *d)
{
	struct anchor_verify_options o = opts();

	return anchor_verify_signers_pin(&o, (const uint8_t *)env, len, s, d);
}

static void
test_f3_pin(void **state)
{
	EVP_PKEY *ab[2] = { C.a, C.b };
	struct anchor_verify_signers *s = NULL;
	struct anchor_verify_diag d;
	char *env, fp[65], hex[65];
	size_t len, plen;
	const uint8_t *p;
	uint8_t md[32];

	(void)state;
	env = f3(3, 2, 120, ab, 2, ab, 2, &len);
	assert_int_equal(pin(env, len, &s, &d), 0);
	assert_int_equal(anchor_verify_signers_version(s), 3);
	assert_int_equal(anchor_verify_signers_threshold(s), 2);
	assert_int_equal(anchor_verify_signers_min_sequence(s), 120);
	assert_int_equal(anchor_verify_signers_key_count(s), 2);
	assert_string_equal(anchor_verify_signers_kid(s, 0), C.kid_a);
	assert_string_equal(anchor_verify_signers_alg(s, 1), "ES256");
	assert_null(anchor_verify_signers_kid(s, 2));
	assert_string_equal(anchor_verify_signers_trust_domain(s), TD);
	p = anchor_verify_signers_payload(s, &plen);
	EVP_Digest(p, plen, md, NULL, EVP_sha256(), NULL);
	anchor_hex(md, 32, hex);
	anchor_verify_signers_fingerprint(s, fp);
	assert_string_equal(fp, hex);
	anchor_verify_signers_free(s);
	free(env);
	/* threshold 2 but signed by one */
	env = f3(1, 2, 1, ab, 2, &C.a, 1, &len);
	assert_int_equal(pin(env, len, &s, &d), ANCHOR_VERIFY_F3_SIGNERS);
	assert_non_null(strstr(d.text, "R9 threshold: 1 of 2"));
	free(env);
	/* signed by a key outside the set */
	env = f3(1, 1, 1, &C.a, 1, &C.x, 1, &len);
	assert_int_equal(pin(env, len, &s, &d), ANCHOR_VERIFY_F3_SIGNERS);
	assert_non_null(strstr(d.text, "R6"));
	free(env);
	/* another trust domain */
	{
		struct anchor_verify_options o = opts();

		env = f3(1, 1, 1, &C.a, 1, &C.a, 1, &len);
		o.trust_domain = "staging.example.com";
		assert_int_equal(anchor_verify_signers_pin(&o, (uint8_t *)env, len,
		    &s, &d), ANCHOR_VERIFY_F3_SIGNERS);
		assert_non_null(strstr(d.text, "trust domain"));
		o.trust_domain = "Not A Domain";
		assert_int_equal(anchor_verify_signers_pin(&o, (uint8_t *)env, len,
		    &s, &d), ANCHOR_VERIFY_E_INVAL);
		free(env);
	}
	/* a bundle offered as a signer set */
	env = f2(1, NOW, NOW + DAY, &C.a, 1);
	assert_int_equal(pin(env, strlen(env), &s, &d), ANCHOR_VERIFY_F3_SIGNERS);
	assert_null(s);
	free(env);
}

/* Hand-made F3 payloads: each refused with its reason. */
static void
test_f3_payload_rules(void **state)
{
	struct anchor_verify_signers *s = NULL;
	struct anchor_verify_diag d;
	char key[400], *p, *h, *env;
	uint8_t pt[65];
	size_t ptlen = 0, i;
	char *x64, *y64;
	struct sigspec sp = { 0 };
	struct {
		const char *fmt;
		const char *why;
	} cases[] = {
		{ "{\"spiffe_trust_domain\":\"" TD "\",\"version\":1,\"threshold\":1,"
		    "\"min_sequence\":1,\"keys\":[@],\"extra\":1}", "members" },
		{ "{\"spiffe_trust_domain\":\"" TD "\",\"version\":0,\"threshold\":1,"
		    "\"min_sequence\":1,\"keys\":[@]}", "version" },
		{ "{\"spiffe_trust_domain\":\"" TD "\",\"version\":1,\"threshold\":2,"
		    "\"min_sequence\":1,\"keys\":[@]}", "threshold" },
		{ "{\"spiffe_trust_domain\":\"" TD "\",\"version\":1,\"threshold\":0,"
		    "\"min_sequence\":1,\"keys\":[@]}", "threshold" },
		{ "{\"spiffe_trust_domain\":\"" TD "\",\"version\":1,\"threshold\":1,"
		    "\"min_sequence\":-1,\"keys\":[@]}", "min_sequence" },
		{ "{\"spiffe_trust_domain\":\"" TD "\",\"version\":1.0,\"threshold\":1,"
		    "\"min_sequence\":1,\"keys\":[@]}", "version" },
		{ "{\"spiffe_trust_domain\":\"" TD "\",\"version\":1,\"threshold\":1,"
		    "\"min_sequence\":1,\"keys\":[@,@]}", "repeated kid" },
	};

	(void)state;
	assert_int_equal(EVP_PKEY_get_octet_string_param(C.a, "pub", pt,
	    sizeof(pt), &ptlen), 1);
	x64 = b64u(pt + 1, 32);
	y64 = b64u(pt + 33, 32);
	snprintf(key, sizeof(key), "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
	    "\"y\":\"%s\",\"kid\":\"%s\",\"alg\":\"ES256\"}", x64, y64, C.kid_a);
	h = xasprintf("{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"spiffe-signers+jws\","
	    "\"crit\":[\"spiffe_trust_domain\",\"signers_version\"],"
	    "\"spiffe_trust_domain\":\"" TD "\",\"signers_version\":1}", C.kid_a);
	sp.header = h;
	sp.key = C.a;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = subst(cases[i].fmt, key);
		env = envelope(p, &sp, 1);
		assert_int_equal(pin(env, strlen(env), &s, &d),
		    ANCHOR_VERIFY_F3_SIGNERS);
		if (strstr(d.text, cases[i].why) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, d.text,
			    cases[i].why);
		free(env);
		free(p);
	}
	/* key members: extra use, wrong kid, alg for the wrong curve */
	{
		static const char *const why[] = { "members", "thumbprint", "alg" };
		char other[44];

		/* the same kid with its last character changed */
		memcpy(other, C.kid_a, sizeof(other));
		other[42] = other[42] == 'A' ? 'B' : 'A';
		for (i = 0; i < 3; i++) {
			char *k = xasprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
			    "\"y\":\"%s\",\"kid\":\"%s\",\"alg\":\"%s\"%s}", x64,
			    y64, i == 1 ? other : C.kid_a, i == 2 ? "ES384" :
			    "ES256", i == 0 ? ",\"use\":\"sig\"" : "");

			p = xasprintf("{\"spiffe_trust_domain\":\"" TD "\",\"version\":1,"
			    "\"threshold\":1,\"min_sequence\":1,\"keys\":[%s]}", k);
			env = envelope(p, &sp, 1);
			assert_int_equal(pin(env, strlen(env), &s, &d),
			    ANCHOR_VERIFY_F3_SIGNERS);
			if (strstr(d.text, why[i]) == NULL)
				fail_msg("key %zu: \"%s\"", i, d.text);
			free(env);
			free(p);
			free(k);
		}
	}
	/* header signers_version 2 for a version 1 payload */
	free(h);
	h = xasprintf("{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"spiffe-signers+jws\","
	    "\"crit\":[\"spiffe_trust_domain\",\"signers_version\"],"
	    "\"spiffe_trust_domain\":\"" TD "\",\"signers_version\":2}", C.kid_a);
	sp.header = h;
	p = xasprintf("{\"spiffe_trust_domain\":\"" TD "\",\"version\":1,"
	    "\"threshold\":1,\"min_sequence\":1,\"keys\":[%s]}", key);
	env = envelope(p, &sp, 1);
	assert_int_equal(pin(env, strlen(env), &s, &d), ANCHOR_VERIFY_F3_SIGNERS);
	assert_non_null(strstr(d.text, "R12"));
	free(env);
	free(p);
	free(h);
	free(x64);
	free(y64);
}

static int
chain(const struct anchor_verify_state *st, char **envs, size_t n,
    struct anchor_verify_state **out, struct anchor_verify_diag *d)
{
	struct anchor_verify_options o = opts();
	struct anchor_verify_buf b[300];
	size_t i;

	for (i = 0; i < n; i++) {
		b[i].data = (const uint8_t *)envs[i];
		b[i].len = strlen(envs[i]);
	}
	return anchor_verify_state_update_signers(st, b, n, &o, out, d);
}

static void
test_f3_chain(void **state)
{
	EVP_PKEY *ad[2] = { C.a, C.d }, *d1[1] = { C.d }, *bx[2] = { C.b, C.x };
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1), *s1 = NULL;
	struct anchor_verify_state *s2 = NULL, *s3 = NULL;
	struct anchor_verify_diag d;
	char *v2, *v3, *v2_old_only, *v2_new_only, *v3_skip, *v2b, *e;
	char *envs[3];

	(void)state;
	/* accept bundle 10 under version 1 */
	e = f2(10, NOW, NOW + DAY, &C.a, 1);
	assert_int_equal(run(st, e, NOW, &s1, &d), 0);
	free(e);
	/* version 2 = {a, d}, signed by a (old) and d (new) */
	v2 = f3(2, 1, 3, ad, 2, ad, 2, NULL);
	/* version 3 = {d}, min_sequence 4, signed by d (in both) */
	v3 = f3(3, 1, 4, d1, 1, d1, 1, NULL);
	v2_old_only = f3(2, 1, 3, d1, 1, &C.a, 1, NULL);
	v2_new_only = f3(2, 1, 3, d1, 1, d1, 1, NULL);
	v3_skip = f3(3, 1, 4, d1, 1, ad, 2, NULL);
	v2b = f3(2, 1, 5, ad, 2, ad, 2, NULL);

	/* given out of order: applied in ascending version order */
	envs[0] = v3;
	envs[1] = v2;
	assert_int_equal(chain(s1, envs, 2, &s2, &d), 0);
	assert_int_equal(anchor_verify_signers_version(
	    anchor_verify_state_signers(s2)), 3);
	/* the new version forgot sequence 10 */
	assert_int_equal(anchor_verify_state_has_bundle(s2), 0);
	e = f2(4, NOW, NOW + DAY, &C.d, 1);
	expect(s2, e, NOW, ANCHOR_VERIFY_OK, NULL);
	free(e);
	e = f2(3, NOW, NOW + DAY, &C.d, 1);
	expect(s2, e, NOW, ANCHOR_VERIFY_R14_ROLLBACK, "min_sequence 4");
	free(e);
	/* a's key is out: its bundles no longer count */
	e = f2(11, NOW, NOW + DAY, &C.a, 1);
	expect(s2, e, NOW, ANCHOR_VERIFY_R6_UNTRUSTED, NULL);
	free(e);
	anchor_verify_state_free(s2);

	/* versions at or below the current one are ignored */
	envs[0] = v2;
	assert_int_equal(chain(s1, envs, 1, &s2, &d), 0);
	assert_int_equal(chain(s2, envs, 1, &s3, &d), 0);
	assert_int_equal(anchor_verify_signers_version(
	    anchor_verify_state_signers(s3)), 2);
	anchor_verify_state_free(s3);
	/* nothing to apply keeps the sequence */
	assert_int_equal(chain(s1, envs, 0, &s3, &d), 0);
	assert_int_equal(anchor_verify_state_sequence(s3), 10);
	anchor_verify_state_free(s3);
	anchor_verify_state_free(s2);

	/* not cross-signed: only the old key, only the new key */
	envs[0] = v2_old_only;
	assert_int_equal(chain(s1, envs, 1, &s2, &d), ANCHOR_VERIFY_F3_SIGNERS);
	assert_non_null(strstr(d.text, "signer set version 2: R6"));
	assert_int_equal(d.item, 0);
	envs[0] = v2_new_only;
	assert_int_equal(chain(s1, envs, 1, &s2, &d), ANCHOR_VERIFY_F3_SIGNERS);
	assert_non_null(strstr(d.text, "current"));
	/* a skipped version */
	envs[0] = v2_old_only;
	envs[1] = v3_skip;
	envs[0] = v3_skip;
	assert_int_equal(chain(s1, envs, 1, &s2, &d), ANCHOR_VERIFY_F3_SIGNERS);
	assert_non_null(strstr(d.text, "does not follow version 1"));
	/* two different version 2s */
	envs[0] = v2;
	envs[1] = v2b;
	assert_int_equal(chain(s1, envs, 2, &s2, &d), ANCHOR_VERIFY_F3_SIGNERS);
	assert_non_null(strstr(d.text, "two different"));
	assert_int_equal(d.item, 1);
	/* the same version 2 twice is fine */
	envs[1] = v2;
	assert_int_equal(chain(s1, envs, 2, &s2, &d), 0);
	anchor_verify_state_free(s2);
	/* an attacker's set claiming version 2 */
	free(v2b);
	v2b = f3(2, 1, 1, bx, 2, bx, 2, NULL);
	envs[0] = v2b;
	assert_int_equal(chain(s1, envs, 1, &s2, &d), ANCHOR_VERIFY_F3_SIGNERS);
	/* more than 256 steps */
	{
		char *many[257];
		size_t i;

		for (i = 0; i < 257; i++)
			many[i] = v2;
		assert_int_equal(chain(s1, many, 257, &s2, &d),
		    ANCHOR_VERIFY_F3_SIGNERS);
		assert_non_null(strstr(d.text, "at most 256"));
		assert_int_equal(chain(s1, many, 256, &s2, &d), 0);
		anchor_verify_state_free(s2);
	}
	free(v2);
	free(v3);
	free(v2_old_only);
	free(v2_new_only);
	free(v3_skip);
	free(v2b);
	anchor_verify_state_free(s1);
	anchor_verify_state_free(st);
}

/* ---- F4 ----------------------------------------------------------------- */

static void
test_state(void **state)
{
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1), *s1 = NULL;
	struct anchor_verify_state *back = NULL;
	struct anchor_verify_options o = opts();
	struct anchor_verify_diag d;
	char *e = f2(7, NOW, NOW + DAY, &C.a, 1), *text = NULL, *text2 = NULL;
	size_t len, len2;

	(void)state;
	/* without a bundle */
	assert_int_equal(anchor_verify_state_save(st, &text, &len), 0);
	assert_int_equal(anchor_verify_state_load(&o, (uint8_t *)text, len, &back,
	    &d), 0);
	assert_int_equal(anchor_verify_state_has_bundle(back), 0);
	assert_null(anchor_verify_state_payload_sha256(back));
	anchor_verify_state_free(back);
	free(text);
	/* with one */
	assert_int_equal(run(st, e, NOW, &s1, &d), 0);
	assert_int_equal(anchor_verify_state_save(s1, &text, &len), 0);
	assert_int_equal(text[len - 1], '\n');
	assert_int_equal(anchor_verify_state_load(&o, (uint8_t *)text, len, &back,
	    &d), 0);
	assert_int_equal(anchor_verify_state_sequence(back), 7);
	assert_int_equal(anchor_verify_state_iat(back), NOW);
	assert_string_equal(anchor_verify_state_trust_domain(back), TD);
	assert_memory_equal(anchor_verify_state_payload_sha256(back),
	    anchor_verify_state_payload_sha256(s1), 32);
	assert_int_equal(anchor_verify_state_save(back, &text2, &len2), 0);
	assert_string_equal(text, text2);
	/* the loaded state still refuses a rollback */
	free(e);
	e = f2(6, NOW, NOW + DAY, &C.a, 1);
	expect(back, e, NOW, ANCHOR_VERIFY_R14_ROLLBACK, "stored 7");
	/* another trust domain */
	anchor_verify_state_free(back);
	o.trust_domain = "staging.example.com";
	assert_int_equal(anchor_verify_state_load(&o, (uint8_t *)text, len, &back,
	    &d), ANCHOR_VERIFY_F4_STATE);
	o = opts();
	/* corrupt: truncated, edited, duplicated member */
	assert_int_equal(anchor_verify_state_load(&o, (uint8_t *)text, len / 2,
	    &back, &d), ANCHOR_VERIFY_F4_STATE);
	{
		char *t = strdup(text);

		*strstr(t, "\"last_sequence\":7") = 'X';
		assert_int_equal(anchor_verify_state_load(&o, (uint8_t *)t, len,
		    &back, &d), ANCHOR_VERIFY_F4_STATE);
		free(t);
		t = xasprintf("{\"last_iat\":1,%s", text + 1);
		assert_int_equal(anchor_verify_state_load(&o, (uint8_t *)t,
		    strlen(t), &back, &d), ANCHOR_VERIFY_F4_STATE);
		assert_non_null(strstr(d.text, "R2"));
		free(t);
		t = strdup(text);
		memcpy(strstr(t, "\"signers_version\":1"), "\"signers_version\":2", 19);
		assert_int_equal(anchor_verify_state_load(&o, (uint8_t *)t, len,
		    &back, &d), ANCHOR_VERIFY_F4_STATE);
		free(t);
	}
	anchor_verify_state_free(back);
	anchor_verify_state_free(s1);
	anchor_verify_state_free(st);
	free(text);
	free(text2);
	free(e);
}

/* ---- the fast paths give the general paths' answers ------------------- */

/* Both NULL, or the same bytes. */
static int
same_str(const void *a, size_t al, const void *b, size_t bl)
{
	if (a == NULL || b == NULL)
		return a == b;
	return al == bl && memcmp(a, b, al) == 0;
}

/*
 * Parse and check in one input twice, with src/jose.c's layouts recognized
 * and with jansson reading everything (AV_JWS_GENERIC): the same code, the
 * same message, the same values.  Returns the code.
 */
static int
same_parse(const char *in, size_t len, enum av_kind kind,
    const struct av_keyset *set, const char *what)
{
	struct av_jws a, b;
	struct anchor_verify_diag da, db;
	struct av_sig *fa = NULL, *fb = NULL;
	int ra, rb;
	size_t i;

	av_diag_clear(&da);
	av_diag_clear(&db);
	ra = av_jws_parse((const uint8_t *)in, len, SIZE_MAX, NULL, 0, &a, &da);
	rb = av_jws_parse((const uint8_t *)in, len, SIZE_MAX, NULL,
	    AV_JWS_GENERIC, &b, &db);
	if (ra != rb || strcmp(da.text, db.text) != 0)
		fail_msg("%s: parse %d \"%s\", generic %d \"%s\"", what, ra,
		    da.text, rb, db.text);
	if (ra != ANCHOR_VERIFY_OK)
		goto out;
	assert_int_equal(a.nsig, b.nsig);
	assert_true(same_str(a.payload_b64, a.payload_b64_len, b.payload_b64,
	    b.payload_b64_len));
	assert_true(same_str(a.payload, a.payload_len, b.payload,
	    b.payload_len));
	for (i = 0; i < a.nsig; i++) {
		const struct av_sig *x = &a.sig[i], *y = &b.sig[i];

		assert_true(same_str(x->protected_b64, x->protected_len,
		    y->protected_b64, y->protected_len));
		assert_true(same_str(x->sig, x->siglen, y->sig, y->siglen));
		assert_true(same_str(x->raw, x->raw_len, y->raw, y->raw_len));
		assert_true(same_str(x->kid, x->kid_len, y->kid, y->kid_len));
		assert_true(same_str(x->alg, x->alg_len, y->alg, y->alg_len));
		assert_true(same_str(x->typ, x->typ_len, y->typ, y->typ_len));
		assert_non_null(y->header);
		assert_int_equal(y->f2_layout, 0);
	}
	ra = av_jws_check(&a, kind, set, 1, &fa, &da);
	rb = av_jws_check(&b, kind, set, 1, &fb, &db);
	if (ra != rb || strcmp(da.text, db.text) != 0)
		fail_msg("%s: check %d \"%s\", generic %d \"%s\"", what, ra,
		    da.text, rb, db.text);
	if (ra != ANCHOR_VERIFY_OK)
		goto out;
	assert_int_equal(fa - a.sig, fb - b.sig);
	for (i = 0; i < a.nsig; i++) {
		const struct av_sig *x = &a.sig[i], *y = &b.sig[i];

		assert_int_equal(x->counted, y->counted);
		assert_true(same_str(x->td, x->td_len, y->td, y->td_len));
		assert_int_equal(x->number, y->number);
		assert_int_equal(x->iat, y->iat);
		assert_int_equal(x->exp, y->exp);
	}
 out:
	av_jws_clear(&a);
	av_jws_clear(&b);
	return ra;
}

/* Replacements tried at each position of a mutated text. */
static const char mutants[] = {
	'"', '\\', ' ', 'A', '0', '1', '9', '}', '{', ']', '[', ',', ':', '-',
	'.', 'e', '\0', '\n', '\x7f', '\xc3',
};

/*
 * same_parse() over in and its mutants: every byte replaced, deleted or
 * preceded by a space or a quote, and every truncation.  Positions in
 * [skip_from, skip_to) are sampled only.  Returns how many were accepted.
 */
static size_t
mutate(const char *in, enum av_kind kind, const struct av_keyset *set,
    size_t skip_from, size_t skip_to)
{
	size_t len = strlen(in), i, k, ok = 0;
	char *m = malloc(len + 2), what[64];

	assert_non_null(m);
	ok += same_parse(in, len, kind, set, "original") == ANCHOR_VERIFY_OK;
	for (i = 0; i < len; i++) {
		if (i >= skip_from && i < skip_to && (i - skip_from) % 97 != 0)
			continue;
		for (k = 0; k < sizeof(mutants); k++) {
			memcpy(m, in, len);
			m[i] = mutants[k];
			snprintf(what, sizeof(what), "byte %zu = 0x%02x", i,
			    (unsigned char)mutants[k]);
			ok += same_parse(m, len, kind, set, what) ==
			    ANCHOR_VERIFY_OK;
		}
		memcpy(m, in, i);
		memcpy(m + i, in + i + 1, len - i - 1);
		snprintf(what, sizeof(what), "byte %zu deleted", i);
		ok += same_parse(m, len - 1, kind, set, what) == ANCHOR_VERIFY_OK;
		for (k = 0; k < 2; k++) {
			memcpy(m, in, i);
			m[i] = k ? '"' : ' ';
			memcpy(m + i + 1, in + i, len - i);
			snprintf(what, sizeof(what), "0x%02x inserted at %zu",
			    m[i], i);
			ok += same_parse(m, len + 1, kind, set, what) ==
			    ANCHOR_VERIFY_OK;
		}
		snprintf(what, sizeof(what), "truncated to %zu", i);
		ok += same_parse(in, i, kind, set, what) == ANCHOR_VERIFY_OK;
	}
	free(m);
	return ok;
}

/* The envelope layout: jose.c's F2 (one and two signatures) and F3. */
static void
test_layout_envelope(void **state)
{
	struct anchor_verify_key *keys[2] = { NULL, NULL };
	struct av_keyset set;
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1);
	EVP_PKEY *two[2] = { C.a, C.b };
	char *env, *p;
	size_t from, to;

	(void)state;
	keys[0] = st->signers->keys[0];
	set.keys = keys;
	set.n = 1;
	set.threshold = 1;
	/* one signature: the payload string is sampled */
	env = f2(3, NOW, NOW + DAY, &C.a, 1);
	p = strstr(env, "\"payload\":\"") + 11;
	from = (size_t)(p - env);
	to = from + strcspn(p, "\"");
	assert_true(mutate(env, AV_F2, &set, from, to) > 1);
	/* as an F3 envelope: R7 either way */
	assert_int_equal(same_parse(env, strlen(env), AV_F3, &set, "as F3"),
	    ANCHOR_VERIFY_R7_TYP);
	free(env);
	/* two signatures, the second untrusted */
	env = f2(3, NOW, NOW + DAY, two, 2);
	p = strstr(env, "\"payload\":\"") + 11;
	from = (size_t)(p - env);
	to = from + strcspn(p, "\"");
	assert_int_equal(same_parse(env, strlen(env), AV_F2, &set, "two"), 0);
	/* eight and nine signatures: R3 allows 1 to 8 */
	{
		char *sig1 = strstr(env, "{\"protected\""), *end;
		char *many = NULL, *t;
		size_t n, sl;

		end = strstr(sig1, "}") + 1;
		sl = (size_t)(end - sig1);
		many = xasprintf("%.*s", (int)(sig1 - env), env);
		for (n = 1; n <= 9; n++) {
			t = xasprintf("%s%s%.*s", many, n > 1 ? "," : "",
			    (int)sl, sig1);
			free(many);
			many = t;
			t = xasprintf("%s]}", many);
			/* R9 (repeated kid) from 2 on, R3 at 9 */
			assert_int_equal(same_parse(t, strlen(t), AV_F2, &set,
			    "n signatures"), n == 1 ? 0 : n <= 8 ?
			    ANCHOR_VERIFY_R9_KID : ANCHOR_VERIFY_R3_ENVELOPE);
			free(t);
		}
		free(many);
	}
	free(env);
	/* F3 (its header is read by jansson either way) */
	env = f3(1, 1, 1, &C.a, 1, &C.a, 1, NULL);
	p = strstr(env, "\"payload\":\"") + 11;
	from = (size_t)(p - env);
	to = from + strcspn(p, "\"");
	assert_true(mutate(env, AV_F3, &set, from, to) > 1);
	assert_int_equal(same_parse(env, strlen(env), AV_F2, &set, "as F2"),
	    ANCHOR_VERIFY_R7_TYP);
	free(env);
	anchor_verify_state_free(st);
}

/* An envelope around a header text, payload "{}", signed by C.a. */
static char *
with_header(const char *header)
{
	struct sigspec s = { 0 };

	s.header = header;
	s.key = C.a;
	return envelope("{}", &s, 1);
}

/* The F2 header layout: the header text mutated, and edge cases. */
static void
test_layout_header(void **state)
{
	static const char *const cases[] = {
		/* numbers: 18 digits read, 19 and the rest go to jansson */
		"{\"alg\":\"ES256\",\"kid\":\"@\",\"typ\":\"spiffe-bundle+jws\","
		"\"crit\":[\"spiffe_trust_domain\",\"spiffe_sequence\",\"iat\","
		"\"exp\"],\"spiffe_trust_domain\":\"" TD "\",\"spiffe_sequence\":"
		"999999999999999999,\"iat\":1767225600,\"exp\":1767312000}",
		"{\"alg\":\"ES256\",\"kid\":\"@\",\"typ\":\"spiffe-bundle+jws\","
		"\"crit\":[\"spiffe_trust_domain\",\"spiffe_sequence\",\"iat\","
		"\"exp\"],\"spiffe_trust_domain\":\"" TD "\",\"spiffe_sequence\":"
		"9223372036854775807,\"iat\":1767225600,\"exp\":1767312000}",
		"{\"alg\":\"ES256\",\"kid\":\"@\",\"typ\":\"spiffe-bundle+jws\","
		"\"crit\":[\"spiffe_trust_domain\",\"spiffe_sequence\",\"iat\","
		"\"exp\"],\"spiffe_trust_domain\":\"" TD "\",\"spiffe_sequence\":"
		"9223372036854775808,\"iat\":1767225600,\"exp\":1767312000}",
		"{\"alg\":\"ES256\",\"kid\":\"@\",\"typ\":\"spiffe-bundle+jws\","
		"\"crit\":[\"spiffe_trust_domain\",\"spiffe_sequence\",\"iat\","
		"\"exp\"],\"spiffe_trust_domain\":\"" TD "\",\"spiffe_sequence\":"
		"-0,\"iat\":-1,\"exp\":1767312000}",
		"{\"alg\":\"ES256\",\"kid\":\"@\",\"typ\":\"spiffe-bundle+jws\","
		"\"crit\":[\"spiffe_trust_domain\",\"spiffe_sequence\",\"iat\","
		"\"exp\"],\"spiffe_trust_domain\":\"" TD "\",\"spiffe_sequence\":"
		"07,\"iat\":1767225600,\"exp\":1767312000}",
		"{\"alg\":\"ES256\",\"kid\":\"@\",\"typ\":\"spiffe-bundle+jws\","
		"\"crit\":[\"spiffe_trust_domain\",\"spiffe_sequence\",\"iat\","
		"\"exp\"],\"spiffe_trust_domain\":\"" TD "\",\"spiffe_sequence\":"
		"7.0,\"iat\":1767225600,\"exp\":1e10}",
		/* escapes, other strings, trailing space, a NUL */
		"{\"alg\":\"ES\\u0032\\u00356\",\"kid\":\"@\",\"typ\":\"spiffe-bundle"
		"+jws\",\"crit\":[\"spiffe_trust_domain\",\"spiffe_sequence\","
		"\"iat\",\"exp\"],\"spiffe_trust_domain\":\"" TD "\","
		"\"spiffe_sequence\":7,\"iat\":1767225600,\"exp\":1767312000}",
		"{\"alg\":\"ES256 \",\"kid\":\"@\",\"typ\":\"Spiffe-bundle+jws\","
		"\"crit\":[\"spiffe_trust_domain\",\"spiffe_sequence\",\"iat\","
		"\"exp\"],\"spiffe_trust_domain\":\"a b/c\",\"spiffe_sequence\":7,"
		"\"iat\":1767225600,\"exp\":1767312000}",
		"{\"alg\":\"ES256\",\"kid\":\"@\",\"typ\":\"spiffe-bundle+jws\","
		"\"crit\":[\"spiffe_trust_domain\",\"spiffe_sequence\",\"iat\","
		"\"exp\"],\"spiffe_trust_domain\":\"" TD "\",\"spiffe_sequence\":7,"
		"\"iat\":1767225600,\"exp\":1767312000} ",
		"{\"alg\":\"ES256\",\"kid\":\"@\",\"typ\":\"spiffe-bundle+jws\","
		"\"crit\":[\"spiffe_trust_domain\",\"spiffe_sequence\",\"iat\","
		"\"exp\"],\"spiffe_trust_domain\":\"\",\"spiffe_sequence\":7,"
		"\"iat\":1767225600,\"exp\":1767312000}",
		/* F2's layout with F3's typ: checked as F3, R8 either way */
		"{\"alg\":\"ES256\",\"kid\":\"@\",\"typ\":\"spiffe-signers+jws\","
		"\"crit\":[\"spiffe_trust_domain\",\"spiffe_sequence\",\"iat\","
		"\"exp\"],\"spiffe_trust_domain\":\"" TD "\",\"spiffe_sequence\":7,"
		"\"iat\":1767225600,\"exp\":1767312000}",
		"{\"alg\":\"\",\"kid\":\"\",\"typ\":\"\",\"crit\":["
		"\"spiffe_trust_domain\",\"spiffe_sequence\",\"iat\",\"exp\"],"
		"\"spiffe_trust_domain\":\"\",\"spiffe_sequence\":0,\"iat\":0,"
		"\"exp\":0}",
	};
	struct anchor_verify_key *keys[1];
	struct av_keyset set;
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1);
	char *h, *env;
	size_t i, len;
	int r;

	(void)state;
	keys[0] = st->signers->keys[0];
	set.keys = keys;
	set.n = 1;
	set.threshold = 1;
	/* every header text near jose.c's: mutated, then enveloped */
	h = hdr2("ES256", C.kid_a, 7, NOW, NOW + DAY);
	len = strlen(h);
	env = with_header(h);
	assert_int_equal(same_parse(env, strlen(env), AV_F2, &set, "header"), 0);
	free(env);
	for (i = 0; i < len; i++) {
		size_t k;
		char *m = strdup(h), what[64];

		assert_non_null(m);
		for (k = 0; k < sizeof(mutants); k++) {
			if (mutants[k] == '\0')
				continue;	/* a NUL ends the text here */
			m[i] = mutants[k];
			env = with_header(m);
			snprintf(what, sizeof(what), "header byte %zu = 0x%02x",
			    i, (unsigned char)mutants[k]);
			same_parse(env, strlen(env), AV_F2, &set, what);
			same_parse(env, strlen(env), AV_F3, &set, what);
			free(env);
		}
		m[i] = '\0';
		env = with_header(m);
		same_parse(env, strlen(env), AV_F2, &set, "header truncated");
		free(env);
		free(m);
	}
	free(h);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		h = subst(cases[i], C.kid_a);
		env = with_header(h);
		same_parse(env, strlen(env), AV_F2, &set, cases[i]);
		r = same_parse(env, strlen(env), AV_F3, &set, cases[i]);
		if (strstr(h, "spiffe-signers+jws") != NULL)
			assert_int_equal(r, ANCHOR_VERIFY_R8_HEADER);
		free(env);
		free(h);
	}
	anchor_verify_state_free(st);
}

/* Verify env against st: the code, the message, and on success the outputs. */
struct outcome {
	int r;
	char text[256];
	uint8_t *payload;
	size_t payload_len;
	uint64_t sequence;
	int64_t iat, exp;
	int refresh;
	size_t sigs, nx509, njwt;
	char *state;			/* saved new state */
	const struct av_accepted *memo;	/* the new state's */
};

static void
outcome(const struct anchor_verify_state *st, const char *env, int64_t now,
    struct outcome *o, struct anchor_verify_state **keep)
{
	struct anchor_verify_options opt = opts();
	struct anchor_verify_result *res = NULL;
	struct anchor_verify_state *ns = NULL;
	struct anchor_verify_diag d;
	const struct anchor_verify_bundle *b;
	const uint8_t *p;
	size_t len, i;

	memset(o, 0, sizeof(*o));
	o->r = anchor_verify_signed_bundle(st, (const uint8_t *)env, strlen(env),
	    now, &opt, &res, &ns, &d);
	snprintf(o->text, sizeof(o->text), "%s", o->r ? d.text : "");
	if (o->r != ANCHOR_VERIFY_OK)
		return;
	p = anchor_verify_result_payload(res, &len);
	o->payload = malloc(len);
	assert_non_null(o->payload);
	memcpy(o->payload, p, len);
	o->payload_len = len;
	o->sequence = anchor_verify_result_sequence(res);
	o->iat = anchor_verify_result_iat(res);
	o->exp = anchor_verify_result_exp(res);
	o->refresh = anchor_verify_result_is_refresh(res);
	o->sigs = anchor_verify_result_signature_count(res);
	b = anchor_verify_result_bundle(res);
	o->nx509 = anchor_verify_bundle_x509_count(b);
	o->njwt = anchor_verify_bundle_jwt_count(b);
	for (i = 0; i < o->njwt; i++)
		assert_non_null(strstr(anchor_verify_bundle_jwt_jwk(b, i),
		    anchor_verify_bundle_jwt_kid(b, i)));
	assert_int_equal(anchor_verify_state_save(ns, &o->state, &len), 0);
	o->memo = ns->accepted;
	assert_non_null(o->memo);
	assert_memory_equal(o->memo->sha256,
	    anchor_verify_state_payload_sha256(ns), 32);
	anchor_verify_result_free(res);
	if (keep != NULL)
		*keep = ns;
	else
		anchor_verify_state_free(ns);
}

static void
outcome_clear(struct outcome *o)
{
	free(o->payload);
	free(o->state);
	memset(o, 0, sizeof(*o));
}

/* warm (with the memo) and cold (the same state, saved and loaded) agree */
static void
same_outcome(const struct anchor_verify_state *warm,
    const struct anchor_verify_state *cold, const char *env, int64_t now,
    int want, const char *what)
{
	struct outcome a, b;

	outcome(warm, env, now, &a, NULL);
	outcome(cold, env, now, &b, NULL);
	if (a.r != b.r || strcmp(a.text, b.text) != 0)
		fail_msg("%s: with the memo %d \"%s\", without %d \"%s\"", what,
		    a.r, a.text, b.r, b.text);
	if (want >= 0 && a.r != want)
		fail_msg("%s: %d \"%s\", want %d", what, a.r, a.text, want);
	if (a.r == ANCHOR_VERIFY_OK) {
		assert_true(same_str(a.payload, a.payload_len, b.payload,
		    b.payload_len));
		assert_int_equal(a.sequence, b.sequence);
		assert_int_equal(a.iat, b.iat);
		assert_int_equal(a.exp, b.exp);
		assert_int_equal(a.refresh, b.refresh);
		assert_int_equal(a.sigs, b.sigs);
		assert_int_equal(a.nx509, b.nx509);
		assert_int_equal(a.njwt, b.njwt);
		assert_string_equal(a.state, b.state);
	}
	outcome_clear(&a);
	outcome_clear(&b);
}

/* Same payload, a header of our own, signed by key. */
static char *
resigned(const char *payload, const char *alg, const char *kid,
    const char *typ, const char *td, uint64_t seq, int64_t iat, int64_t exp,
    EVP_PKEY *key)
{
	struct sigspec s = { 0 };
	char *h = xasprintf("{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"%s\","
	    "\"crit\":[\"spiffe_trust_domain\",\"spiffe_sequence\",\"iat\","
	    "\"exp\"],\"spiffe_trust_domain\":\"%s\",\"spiffe_sequence\":%"
	    PRIu64 ",\"iat\":%" PRId64 ",\"exp\":%" PRId64 "}", alg, kid, typ,
	    td, seq, iat, exp), *env;

	s.header = h;
	s.key = key;
	env = envelope(payload, &s, 1);
	free(h);
	return env;
}

/*
 * A refresh whose payload text is the stored one skips decoding, parsing
 * and validating the payload, and nothing else: every rule still decides,
 * with the same code and message as without the memo.
 */
static void
test_refresh_memo(void **state)
{
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 5), *s5 = NULL;
	struct anchor_verify_state *cold = NULL, *r1 = NULL, *r2 = NULL;
	struct anchor_verify_state *moved = NULL, *same = NULL;
	struct anchor_verify_options o = opts();
	struct anchor_verify_result *res = NULL;
	struct anchor_verify_diag d;
	struct outcome oc;
	char *e5, *e5r, *pl, *text = NULL, *env, *p;
	size_t plen, len, from, to, i;

	(void)state;
	e5 = f2(5, NOW, NOW + DAY, &C.a, 1);
	e5r = f2(5, NOW + 3600, NOW + DAY + 3600, &C.a, 1);
	pl = f1(5, &plen);
	assert_int_equal(run(st, e5, NOW, &s5, &d), 0);
	assert_non_null(s5->accepted);
	assert_int_equal(anchor_verify_state_save(s5, &text, &len), 0);
	assert_int_equal(anchor_verify_state_load(&o, (uint8_t *)text, len, &cold,
	    &d), 0);
	assert_null(cold->accepted);
	assert_null(st->accepted);

	/* a refresh hits the memo, and passes it on */
	outcome(s5, e5r, NOW + 3600, &oc, &r1);
	assert_int_equal(oc.r, 0);
	assert_int_equal(oc.refresh, 1);
	assert_ptr_equal(oc.memo, s5->accepted);
	outcome_clear(&oc);
	outcome(r1, e5, NOW + 7200, &oc, &r2);
	assert_int_equal(oc.r, 0);
	assert_ptr_equal(oc.memo, s5->accepted);
	outcome_clear(&oc);
	/* the result outlives every state that shared its payload */
	assert_int_equal(anchor_verify_signed_bundle(r2, (uint8_t *)e5r,
	    strlen(e5r), NOW + 3600, &o, &res, &moved, &d), 0);
	anchor_verify_state_free(moved);
	moved = NULL;
	anchor_verify_state_free(r1);
	anchor_verify_state_free(r2);
	{
		const uint8_t *rp = anchor_verify_result_payload(res, &len);
		const struct anchor_verify_bundle *b =
		    anchor_verify_result_bundle(res);

		assert_int_equal(len, plen);
		assert_memory_equal(rp, pl, plen);
		assert_string_equal(anchor_verify_bundle_jwt_kid(b, 0),
		    C.kid_jwt);
	}
	anchor_verify_result_free(res);

	/* every rule, with the memo and without: same answers */
	same_outcome(s5, cold, e5r, NOW + 3600, 0, "refresh");
	same_outcome(s5, cold, e5, NOW, 0, "the same envelope again");
	env = resigned(pl, "ES256", C.kid_b, "spiffe-bundle+jws", TD, 5, NOW,
	    NOW + DAY, C.b);
	same_outcome(s5, cold, env, NOW, ANCHOR_VERIFY_R6_UNTRUSTED,
	    "same payload, another signer");
	free(env);
	env = resigned(pl, "ES384", C.kid_a, "spiffe-bundle+jws", TD, 5, NOW,
	    NOW + DAY, C.a);
	same_outcome(s5, cold, env, NOW, ANCHOR_VERIFY_R5_ALG,
	    "same payload, alg not the key's");
	free(env);
	env = strdup(e5r);
	p = strstr(env, "\"signature\":\"") + 13;
	*p = *p == 'A' ? 'B' : 'A';
	same_outcome(s5, cold, env, NOW + 3600, ANCHOR_VERIFY_R10_SIGNATURE,
	    "same payload, a bad signature");
	free(env);
	env = resigned(pl, "ES256", C.kid_a, "spiffe-bundle+jwt", TD, 5, NOW,
	    NOW + DAY, C.a);
	same_outcome(s5, cold, env, NOW, ANCHOR_VERIFY_R7_TYP,
	    "same payload, typ");
	free(env);
	env = resigned(pl, "ES256", C.kid_a, "spiffe-bundle+jws",
	    "staging.example.com", 5, NOW, NOW + DAY, C.a);
	same_outcome(s5, cold, env, NOW, ANCHOR_VERIFY_R12_MISMATCH,
	    "same payload, another trust domain");
	free(env);
	env = resigned(pl, "ES256", C.kid_a, "spiffe-bundle+jws", TD, 6, NOW,
	    NOW + DAY, C.a);
	same_outcome(s5, cold, env, NOW, ANCHOR_VERIFY_R12_MISMATCH,
	    "same payload, header sequence 6");
	free(env);
	same_outcome(s5, cold, e5r, NOW + DAY + 3600, ANCHOR_VERIFY_R13_TIME,
	    "same payload, expired");
	same_outcome(s5, cold, e5r, NOW + 3600 - 301, ANCHOR_VERIFY_R13_TIME,
	    "same payload, not yet valid");
	env = resigned(pl, "ES256", C.kid_a, "spiffe-bundle+jws", TD, 5, NOW,
	    NOW + 31 * DAY, C.a);
	same_outcome(s5, cold, env, NOW, ANCHOR_VERIFY_R13_TIME,
	    "same payload, validity too long");
	free(env);
	/* a different payload under the stored sequence: equivocation */
	{
		char *other = xasprintf("%.*s,\"extra\":1}", (int)(plen - 1), pl);

		env = resigned(other, "ES256", C.kid_a, "spiffe-bundle+jws", TD,
		    5, NOW, NOW + DAY, C.a);
		same_outcome(s5, cold, env, NOW, ANCHOR_VERIFY_R14_ROLLBACK,
		    "another payload, sequence 5");
		free(env);
		free(other);
	}
	/* the same length, one byte apart */
	{
		char *other = strdup(pl), *hint;

		assert_non_null(other);
		hint = strstr(other, "\"spiffe_refresh_hint\":300");
		assert_non_null(hint);
		hint[strlen("\"spiffe_refresh_hint\":300") - 1] = '1';
		env = resigned(other, "ES256", C.kid_a, "spiffe-bundle+jws", TD,
		    5, NOW, NOW + DAY, C.a);
		same_outcome(s5, cold, env, NOW, ANCHOR_VERIFY_R14_ROLLBACK,
		    "a payload of the same length, sequence 5");
		free(env);
		free(other);
	}
	env = f2(4, NOW, NOW + DAY, &C.a, 1);
	same_outcome(s5, cold, env, NOW, ANCHOR_VERIFY_R14_ROLLBACK, "rollback");
	free(env);
	env = f2(6, NOW, NOW + DAY, &C.a, 1);
	same_outcome(s5, cold, env, NOW, 0, "the next sequence");
	free(env);
	/* and the refresh envelope mutated, byte by byte */
	p = strstr(e5r, "\"payload\":\"") + 11;
	from = (size_t)(p - e5r);
	to = from + strcspn(p, "\"");
	len = strlen(e5r);
	env = malloc(len + 1);
	assert_non_null(env);
	for (i = 0; i < len; i++) {
		static const char sub[] = { 'A', '"', '0', ' ', '}' };
		size_t k;

		if (i >= from && i < to && (i - from) % 61 != 0)
			continue;
		for (k = 0; k < sizeof(sub); k++) {
			memcpy(env, e5r, len + 1);
			if (env[i] == sub[k])
				continue;
			env[i] = sub[k];
			same_outcome(s5, cold, env, NOW + 3600, -1, "mutant");
		}
	}
	free(env);

	/* a new signer-set version forgets the memo with the hash; the same keeps both */
	{
		EVP_PKEY *ab[2] = { C.a, C.b };
		char *v2 = f3(2, 1, 5, ab, 2, ab, 2, &len);
		struct anchor_verify_buf step = { (uint8_t *)v2, len };

		assert_int_equal(anchor_verify_state_update_signers(s5, &step, 1,
		    &o, &moved, &d), 0);
		assert_null(moved->accepted);
		assert_int_equal(anchor_verify_state_has_bundle(moved), 0);
		assert_int_equal(anchor_verify_state_update_signers(s5, NULL, 0,
		    &o, &same, &d), 0);
		assert_ptr_equal(same->accepted, s5->accepted);
		/* under version 2 the same payload is a new bundle, not a refresh */
		outcome(moved, e5r, NOW + 3600, &oc, NULL);
		assert_int_equal(oc.r, 0);
		assert_int_equal(oc.refresh, 0);
		outcome_clear(&oc);
		free(v2);
	}
	anchor_verify_state_free(moved);
	anchor_verify_state_free(same);
	anchor_verify_state_free(cold);
	anchor_verify_state_free(s5);
	anchor_verify_state_free(st);
	free(text);
	free(pl);
	free(e5);
	free(e5r);
}

/* Threads verifying against one shared state. */
struct worker {
	const struct anchor_verify_state *st;
	const char *env;
	int64_t now;
	int refresh;			/* expected */
	int bad;			/* verifications that did not go as expected */
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct anchor_verify_options o = opts();
	struct anchor_verify_result *res;
	struct anchor_verify_state *ns;
	struct anchor_verify_diag d;
	size_t i, len;

	for (i = 0; i < 100; i++) {
		res = NULL;
		ns = NULL;
		if (anchor_verify_signed_bundle(w->st, (const uint8_t *)w->env,
		    strlen(w->env), w->now, &o, &res, &ns, &d) != 0 ||
		    anchor_verify_result_is_refresh(res) != w->refresh ||
		    anchor_verify_result_payload(res, &len) == NULL || len == 0)
			w->bad++;
		anchor_verify_result_free(res);
		anchor_verify_state_free(ns);
	}
	return NULL;
}

/*
 * The objects shared between threads (a state's signer set and its
 * memo, a key's verify context, the process-wide groups and digests)
 * hold up when four threads verify against one state at once.
 */
static void
test_threads(void **state)
{
	struct anchor_verify_state *st = state_for(&C.a, 1, 1, 1), *s5 = NULL;
	struct anchor_verify_diag d;
	struct worker w[4];
	pthread_t t[4];
	char *e5 = f2(5, NOW, NOW + DAY, &C.a, 1);
	char *e5r = f2(5, NOW + 60, NOW + DAY, &C.a, 1);
	size_t i;

	(void)state;
	assert_int_equal(run(st, e5, NOW, &s5, &d), 0);
	for (i = 0; i < 4; i++) {
		/* two refresh s5 (the memo), two verify cold against st */
		w[i].st = i % 2 ? s5 : st;
		w[i].env = i % 2 ? e5r : e5;
		w[i].now = NOW + 60;
		w[i].refresh = i % 2;
		w[i].bad = 0;
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]),
		    0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].bad, 0);
	}
	anchor_verify_state_free(s5);
	anchor_verify_state_free(st);
	free(e5);
	free(e5r);
}

/* Repeated kids are found in linear time, and the first repeat is named. */
static void
test_many_keys(void **state)
{
	struct anchor_verify_bundle *b = NULL;
	struct anchor_verify_diag d;
	char *x64, *y64, *text, *k;
	uint8_t pt[65];
	size_t ptlen = 0, i, n = 3000, at, cap;

	(void)state;
	assert_int_equal(EVP_PKEY_get_octet_string_param(C.jwt, "pub", pt,
	    sizeof(pt), &ptlen), 1);
	x64 = b64u(pt + 1, 32);
	y64 = b64u(pt + 33, 32);
	/* n entries of one key under n kids; kid 17 again at 2500 and 1900 */
	cap = 32 + n * (96 + strlen(x64) + strlen(y64));
	text = malloc(cap);
	assert_non_null(text);
	at = (size_t)snprintf(text, cap, "{\"keys\":[");
	for (i = 0; i < n; i++) {
		unsigned kid = i == 1900 || i == 2500 ? 17 : (unsigned)i;

		at += (size_t)snprintf(text + at, cap - at, "%s{\"kty\":\"EC\","
		    "\"use\":\"jwt-svid\",\"kid\":\"k%u\",\"crv\":\"P-256\","
		    "\"x\":\"%s\",\"y\":\"%s\"}", i ? "," : "", kid, x64, y64);
	}
	snprintf(text + at, cap - at, "]}");
	assert_int_equal(parse_f1(text, &b, &d), ANCHOR_VERIFY_F1_BUNDLE);
	assert_non_null(strstr(d.text, "keys[1900]: kid repeats"));
	/* without the repeats: all of them */
	k = strstr(text, "\"k17\",\"crv\"");		/* entry 17 */
	k = strstr(k + 1, "\"k17\",\"crv\"");		/* entry 1900 */
	memcpy(k, "\"kA\" ", 5);
	k = strstr(k + 1, "\"k17\",\"crv\"");		/* entry 2500 */
	memcpy(k, "\"kB\" ", 5);
	assert_int_equal(parse_f1(text, &b, &d), 0);
	assert_int_equal(anchor_verify_bundle_jwt_count(b), n);
	assert_string_equal(anchor_verify_bundle_jwt_kid(b, 1900), "kA");
	assert_string_equal(anchor_verify_bundle_jwt_kid(b, 2500), "kB");
	anchor_verify_bundle_free(b);
	free(text);
	free(x64);
	free(y64);
}

/* A jwt-svid authority's JWK is what json_dumps() writes for it. */
static void
test_jwt_jwk_text(void **state)
{
	static const char *const kids[] = {
		"plain", "a\\\"b", "back\\\\slash", "sl/ash", "\\/",
		"\\u00e9t\\u00e9", "\xc3\xa9", "\\u0001\\t\\n\\u001f",
		"\\ud83d\\ude00", "\x7f",
	};
	json_t *rsa = load_vector("jose/cookbook/jwk/3_3.rsa_public_key.json");
	struct anchor_verify_bundle *b = NULL;
	struct anchor_verify_diag d;
	char *x64, *y64, *text;
	uint8_t pt[65];
	size_t ptlen = 0, i;

	(void)state;
	assert_int_equal(EVP_PKEY_get_octet_string_param(C.jwt, "pub", pt,
	    sizeof(pt), &ptlen), 1);
	x64 = b64u(pt + 1, 32);
	y64 = b64u(pt + 33, 32);
	for (i = 0; i < sizeof(kids) / sizeof(kids[0]); i++) {
		json_t *in, *want, *e;
		char *w;
		size_t k;

		text = xasprintf("{\"keys\":[{\"kty\":\"EC\",\"use\":\"jwt-svid\","
		    "\"kid\":\"%s\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\","
		    "\"alg\":\"ES256\"},{\"kty\":\"RSA\",\"use\":\"jwt-svid\","
		    "\"e\":\"%s\",\"kid\":\"r%s\",\"n\":\"%s\"}]}", kids[i], x64,
		    y64, json_string_value(json_object_get(rsa, "e")), kids[i],
		    json_string_value(json_object_get(rsa, "n")));
		assert_int_equal(parse_f1(text, &b, &d), 0);
		assert_int_equal(anchor_verify_bundle_jwt_count(b), 2);
		in = json_loads(text, 0, NULL);
		assert_non_null(in);
		for (k = 0; k < 2; k++) {
			e = json_array_get(json_object_get(in, "keys"), k);
			want = json_pack("{s:O,s:s,s:O}", "kty",
			    json_object_get(e, "kty"), "use", "jwt-svid", "kid",
			    json_object_get(e, "kid"));
			assert_non_null(want);
			if (k == 0) {
				json_object_set(want, "crv", json_object_get(e, "crv"));
				json_object_set(want, "x", json_object_get(e, "x"));
				json_object_set(want, "y", json_object_get(e, "y"));
			} else {
				json_object_set(want, "n", json_object_get(e, "n"));
				json_object_set(want, "e", json_object_get(e, "e"));
			}
			w = json_dumps(want, JSON_COMPACT | JSON_PRESERVE_ORDER);
			assert_non_null(w);
			assert_string_equal(anchor_verify_bundle_jwt_jwk(b, k), w);
			assert_string_equal(anchor_verify_bundle_jwt_kid(b, k),
			    json_string_value(json_object_get(e, "kid")));
			free(w);
			json_decref(want);
		}
		json_decref(in);
		anchor_verify_bundle_free(b);
		free(text);
	}
	json_decref(rsa);
	free(x64);
	free(y64);
}

/* One certificate, parsed by d2i_X509() and by av_d2i_x509(): same verdict. */
static void
same_x509(const uint8_t *der, size_t len)
{
	const struct av_shared *sh = av_shared();
	const uint8_t *p1 = der, *p2 = der;
	X509 *a, *b;
	unsigned char *s1 = NULL, *s2 = NULL;
	int l1, l2;

	assert_non_null(sh);
	a = d2i_X509(NULL, &p1, (long)len);
	b = av_d2i_x509(sh, &p2, (long)len);
	assert_int_equal(a != NULL, b != NULL);
	if (a != NULL) {
		assert_ptr_equal(p1, p2);
		l1 = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(a), &s1);
		l2 = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(b), &s2);
		assert_true(l1 > 0);
		assert_int_equal(l1, l2);
		assert_memory_equal(s1, s2, (size_t)l1);
		assert_null(X509_get0_pubkey(b));
	}
	OPENSSL_free(s1);
	OPENSSL_free(s2);
	X509_free(a);
	X509_free(b);
}

static void
test_x509_parse(void **state)
{
	static const uint8_t sub[] = { 0x00, 0xff, 0x30, 0x81 };
	uint8_t *m = malloc(C.ca_len);
	size_t i, k;

	(void)state;
	assert_non_null(m);
	same_x509(C.ca_der, C.ca_len);
	for (i = 0; i < C.ca_len; i++) {
		for (k = 0; k < sizeof(sub); k++) {
			memcpy(m, C.ca_der, C.ca_len);
			if (m[i] == sub[k])
				continue;
			m[i] = sub[k];
			same_x509(m, C.ca_len);
		}
		same_x509(C.ca_der, i);
	}
	free(m);
}

/* The strict base64 decoders at their edges. */
static void
test_b64_edges(void **state)
{
	static const struct {
		const char *in;
		int url;
		int ok;
		const char *out;
	} t[] = {
		{ "", 1, 1, "" }, { "QQ", 1, 1, "A" }, { "QR", 1, 0, NULL },
		{ "QUI", 1, 1, "AB" }, { "QUJ", 1, 0, NULL },
		{ "QUJD", 1, 1, "ABC" }, { "Q", 1, 0, NULL },
		{ "QUJDR", 1, 0, NULL }, { "QQ==", 1, 0, NULL },
		{ "-_-_", 1, 1, "\xfb\xff\xbf" }, { "+/+/", 1, 0, NULL },
		{ "+/+/", 0, 1, "\xfb\xff\xbf" }, { "-_-_", 0, 0, NULL },
		{ "QQ==", 0, 1, "A" }, { "QUI=", 0, 1, "AB" },
		{ "QR==", 0, 0, NULL }, { "QQ", 0, 0, NULL },
		{ "Q===", 0, 0, NULL }, { "QQ=A", 0, 0, NULL },
		{ "QU I", 1, 0, NULL }, { "QUI\n", 0, 0, NULL },
	};
	size_t i, n;
	uint8_t *out;
	int r;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = strlen(t[i].in);
		r = t[i].url ? av_b64url_decode(t[i].in, n, &out, &n) :
		    av_b64std_decode(t[i].in, n, &out, &n);
		if ((r == 0) != t[i].ok)
			fail_msg("\"%s\" (%s): %d", t[i].in, t[i].url ? "url" :
			    "std", r);
		if (r == 0) {
			assert_int_equal(n, strlen(t[i].out));
			assert_memory_equal(out, t[i].out, n);
			free(out);
		} else
			assert_null(out);
	}
	assert_int_equal(av_b64url_span("ab-_9Z\"x", 8), 6);
	assert_int_equal(av_b64url_span("ab+", 3), 2);
	assert_int_equal(av_b64url_span("", 0), 0);
}

static void
test_codes(void **state)
{
	static const struct {
		int code;
		int exit;
		const char *label;
	} t[] = {
		{ ANCHOR_VERIFY_OK, 0, "OK" },
		{ ANCHOR_VERIFY_R1_SIZE, 3, "R1" },
		{ ANCHOR_VERIFY_R2_DUPLICATE, 3, "R2" },
		{ ANCHOR_VERIFY_R3_ENVELOPE, 3, "R3" },
		{ ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS, 3, "R4" },
		{ ANCHOR_VERIFY_R5_ALG, 4, "R5" },
		{ ANCHOR_VERIFY_R6_UNTRUSTED, 4, "R6" },
		{ ANCHOR_VERIFY_R7_TYP, 7, "R7" },
		{ ANCHOR_VERIFY_R8_HEADER, 3, "R8" },
		{ ANCHOR_VERIFY_R9_KID, 4, "R9" },
		{ ANCHOR_VERIFY_R10_SIGNATURE, 4, "R10" },
		{ ANCHOR_VERIFY_R11_DISAGREE, 7, "R11" },
		{ ANCHOR_VERIFY_R12_MISMATCH, 7, "R12" },
		{ ANCHOR_VERIFY_R13_TIME, 6, "R13" },
		{ ANCHOR_VERIFY_R14_ROLLBACK, 5, "R14" },
		{ ANCHOR_VERIFY_MALFORMED, 3, "JSON" },
		{ ANCHOR_VERIFY_F1_BUNDLE, 3, "F1" },
		{ ANCHOR_VERIFY_F3_SIGNERS, 8, "F3" },
		{ ANCHOR_VERIFY_F4_STATE, 2, "F4" },
		{ ANCHOR_VERIFY_E_INVAL, 2, "error" },
		{ ANCHOR_VERIFY_E_NOMEM, 2, "error" },
		{ ANCHOR_VERIFY_E_INTERNAL, 2, "error" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(anchor_verify_exit_class(t[i].code), t[i].exit);
		assert_string_equal(anchor_verify_rule(t[i].code), t[i].label);
		if (t[i].code > 0 && t[i].code <= 14)
			assert_int_equal(strncmp(anchor_verify_strerror(t[i].code),
			    t[i].label, strlen(t[i].label)), 0);
	}
	assert_string_equal(anchor_verify_strerror(999), "unknown error");
	/* free functions take NULL; accessors too */
	anchor_verify_signers_free(NULL);
	anchor_verify_state_free(NULL);
	anchor_verify_bundle_free(NULL);
	anchor_verify_result_free(NULL);
	anchor_verify_key_free(NULL);
	assert_int_equal(anchor_verify_bundle_x509_count(NULL), 0);
	assert_null(anchor_verify_result_payload(NULL, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wycheproof_p256),
		cmocka_unit_test(test_wycheproof_p384),
		cmocka_unit_test(test_wycheproof_alg_binding),
		cmocka_unit_test(test_group_orders),
		cmocka_unit_test(test_wycheproof_jwk),
		cmocka_unit_test(test_wycheproof_jwk_ec_keys),
		cmocka_unit_test(test_wycheproof_jws),
		cmocka_unit_test(test_jsontestsuite),
		cmocka_unit_test(test_json_depth),
		cmocka_unit_test(test_spiffe_bundles),
		cmocka_unit_test(test_f1_numbers),
		cmocka_unit_test(test_f1_entries),
		cmocka_unit_test(test_f1_spki),
		cmocka_unit_test(test_thumbprints),
		cmocka_unit_test(test_rfc7515),
		cmocka_unit_test(test_cookbook_4_8),
		cmocka_unit_test(test_accept),
		cmocka_unit_test(test_r1),
		cmocka_unit_test(test_r2),
		cmocka_unit_test(test_r3),
		cmocka_unit_test(test_r4),
		cmocka_unit_test(test_r5),
		cmocka_unit_test(test_r6),
		cmocka_unit_test(test_r7),
		cmocka_unit_test(test_r8),
		cmocka_unit_test(test_r9),
		cmocka_unit_test(test_r10),
		cmocka_unit_test(test_f1_in_envelope),
		cmocka_unit_test(test_r11),
		cmocka_unit_test(test_r12),
		cmocka_unit_test(test_r13),
		cmocka_unit_test(test_r14),
		cmocka_unit_test(test_rule_order),
		cmocka_unit_test(test_f3_pin),
		cmocka_unit_test(test_f3_payload_rules),
		cmocka_unit_test(test_f3_chain),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_layout_envelope),
		cmocka_unit_test(test_layout_header),
		cmocka_unit_test(test_refresh_memo),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_jwt_jwk_text),
		cmocka_unit_test(test_x509_parse),
		cmocka_unit_test(test_b64_edges),
		cmocka_unit_test(test_codes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
