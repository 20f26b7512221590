/*
 * Selective trust in federated X509-SVIDs (include/anchor/svid.h): allowed
 * IDs accepted; IDs outside `allow`, unknown or removed peers, chains from a
 * key the peer dropped, another domain's CA (no transitive trust), expired
 * and malformed SVIDs refused.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "anchor/svid.h"
#include "error.h"
#include "jose.h"

#define NOW 1767225600

struct cert {
	EVP_PKEY *key;
	X509 *x;
	uint8_t *der;
	size_t len;
};

static EVP_PKEY *
ec_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *v)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for a new key, signed by issuer (or itself when NULL). */
static void
make_cert(struct cert *c, const struct cert *issuer, const char *cn,
    const char *san, bool ca, int64_t nb, int64_t na)
{
	X509_NAME *name = X509_NAME_new();
	unsigned char *p = NULL;
	static long serial = 1;
	int len;

	memset(c, 0, sizeof(*c));
	c->key = ec_key();
	c->x = X509_new();
	assert_non_null(c->x);
	X509_set_version(c->x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(c->x), serial++);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(c->x, name);
	X509_set_issuer_name(c->x, issuer ? X509_get_subject_name(issuer->x) :
	    name);
	X509_time_adj_ex(X509_getm_notBefore(c->x), 0, 0, &(time_t){ nb });
	X509_time_adj_ex(X509_getm_notAfter(c->x), 0, 0, &(time_t){ na });
	X509_set_pubkey(c->x, c->key);
	add_ext(c->x, issuer ? issuer->x : c->x, NID_subject_key_identifier, "hash");
	add_ext(c->x, issuer ? issuer->x : c->x, NID_authority_key_identifier,
	    "keyid:always");
	if (ca) {
		add_ext(c->x, c->x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(c->x, c->x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(c->x, c->x, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(c->x, c->x, NID_key_usage, "critical,digitalSignature");
	}
	if (san != NULL)
		add_ext(c->x, c->x, NID_subject_alt_name, san);
	assert_true(X509_sign(c->x, issuer ? issuer->key : c->key,
	    EVP_sha256()) > 0);
	len = i2d_X509(c->x, &p);
	assert_true(len > 0);
	c->der = p;
	c->len = (size_t)len;
	X509_NAME_free(name);
}

static void
free_cert(struct cert *c)
{
	EVP_PKEY_free(c->key);
	X509_free(c->x);
	OPENSSL_free(c->der);
}

/* An F1 bundle whose x509 authorities are these CA certificates. */
static char *
bundle_of(const struct cert *cas, size_t n, size_t *len)
{
	struct anchor_authority auth[4];
	char *out = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		memset(&auth[i], 0, sizeof(auth[i]));
		auth[i].role = ANCHOR_ROLE_X509_CA;
		auth[i].pub = cas[i].key;
		auth[i].cert_der = cas[i].der;
		auth[i].cert_len = cas[i].len;
	}
	assert_int_equal(anchor_f1_bundle(auth, n, 7, 300, &out, len), ANCHOR_OK);
	return out;
}

static int
check(const struct cert *leaf, const struct cert *mid,
    const struct anchor_svid_peer *peers, size_t n, int64_t now, char **id)
{
	const uint8_t *chain[2] = { leaf->der, mid ? mid->der : NULL };
	size_t lens[2] = { leaf->len, mid ? mid->len : 0 };
	char reason[256];
	int r;

	r = anchor_verify_svid(chain, lens, mid ? 2 : 1, peers, n, now, id,
	    reason, sizeof(reason));
	print_message("# %s: %s\n", anchor_verify_svid_strerror(r), reason);
	return r;
}

static void
test_patterns(void **state)
{
	(void)state;
	assert_true(anchor_verify_svid_id_matches("spiffe://b.example/ns/*/sa/*",
	    "spiffe://b.example/ns/prod/sa/web"));
	assert_false(anchor_verify_svid_id_matches("spiffe://b.example/ns/*/sa/*",
	    "spiffe://b.example/ns/prod/extra/sa/web"));
	assert_false(anchor_verify_svid_id_matches("spiffe://b.example/ns/*/sa/*",
	    "spiffe://b.example/ns//sa/web"));
	assert_false(anchor_verify_svid_id_matches("spiffe://b.example/ns/*/sa/*",
	    "spiffe://b.example/ns/prod/sa"));
	assert_false(anchor_verify_svid_id_matches("spiffe://*/ns/prod",
	    "spiffe://b.example/ns/prod"));
	assert_false(anchor_verify_svid_id_matches("spiffe://b.example/ns/prod",
	    "spiffe://c.example/ns/prod"));
	assert_true(anchor_verify_svid_id_matches("spiffe://b.example/api",
	    "spiffe://b.example/api"));
	assert_false(anchor_verify_svid_id_matches("spiffe://b.example/api",
	    "spiffe://b.example/api2"));
	assert_false(anchor_verify_svid_id_matches("spiffe://b.example/a*",
	    "spiffe://b.example/ab"));
}

static void
test_selective_trust(void **state)
{
	struct cert ca_b, ca_b2, ca_a, mid, ok, other, expired, leaf_ca, two,
	    via_mid, forged;
	static const char *const allow_b[] = { "spiffe://b.example/ns/*/sa/web" };
	struct anchor_svid_peer peers[2];
	size_t len_b = 0, len_a = 0;
	char *bundle_b, *bundle_a, *id = NULL;

	(void)state;
	make_cert(&ca_b, NULL, "B CA 1", "URI:spiffe://b.example", true,
	    NOW - 86400, NOW + 86400);
	make_cert(&ca_b2, NULL, "B CA 2", "URI:spiffe://b.example", true,
	    NOW - 86400, NOW + 86400);
	make_cert(&ca_a, NULL, "A CA", "URI:spiffe://a.example", true,
	    NOW - 86400, NOW + 86400);
	make_cert(&ok, &ca_b, "w", "URI:spiffe://b.example/ns/prod/sa/web",
	    false, NOW - 60, NOW + 3600);
	make_cert(&other, &ca_b, "w", "URI:spiffe://b.example/ns/prod/sa/db",
	    false, NOW - 60, NOW + 3600);
	make_cert(&expired, &ca_b, "w", "URI:spiffe://b.example/ns/prod/sa/web",
	    false, NOW - 7200, NOW - 3600);
	make_cert(&leaf_ca, &ca_b, "w", "URI:spiffe://b.example/ns/prod/sa/web",
	    true, NOW - 60, NOW + 3600);
	make_cert(&two, &ca_b, "w", "URI:spiffe://b.example/ns/prod/sa/web,"
	    "URI:spiffe://b.example/ns/x/sa/web", false, NOW - 60, NOW + 3600);
	make_cert(&mid, &ca_b, "B intermediate", "URI:spiffe://b.example", true,
	    NOW - 60, NOW + 3600);
	make_cert(&via_mid, &mid, "w", "URI:spiffe://b.example/ns/dev/sa/web",
	    false, NOW - 60, NOW + 3600);
	/* A's CA signs an SVID naming B's domain: A cannot speak for B. */
	make_cert(&forged, &ca_a, "w", "URI:spiffe://b.example/ns/prod/sa/web",
	    false, NOW - 60, NOW + 3600);

	bundle_b = bundle_of(&ca_b, 1, &len_b);
	bundle_a = bundle_of(&ca_a, 1, &len_a);
	peers[0] = (struct anchor_svid_peer){ "b.example",
	    (const uint8_t *)bundle_b, len_b, allow_b, 1 };
	peers[1] = (struct anchor_svid_peer){ "a.example",
	    (const uint8_t *)bundle_a, len_a, NULL, 0 };

	assert_int_equal(check(&ok, NULL, peers, 2, NOW, &id), ANCHOR_SVID_OK);
	assert_string_equal(id, "spiffe://b.example/ns/prod/sa/web");
	free(id);
	assert_int_equal(check(&via_mid, &mid, peers, 2, NOW, &id), ANCHOR_SVID_OK);
	free(id);
	assert_int_equal(check(&other, NULL, peers, 2, NOW, &id),
	    ANCHOR_SVID_NOT_ALLOWED);
	assert_null(id);
	assert_int_equal(check(&forged, NULL, peers, 2, NOW, &id),
	    ANCHOR_SVID_CHAIN_INVALID);
	assert_int_equal(check(&expired, NULL, peers, 2, NOW, &id),
	    ANCHOR_SVID_EXPIRED);
	assert_int_equal(check(&ok, NULL, peers, 2, NOW + 7200, &id),
	    ANCHOR_SVID_EXPIRED);
	assert_int_equal(check(&leaf_ca, NULL, peers, 2, NOW, &id),
	    ANCHOR_SVID_MALFORMED);
	assert_int_equal(check(&two, NULL, peers, 2, NOW, &id),
	    ANCHOR_SVID_MALFORMED);
	assert_int_equal(check(&ca_b, NULL, peers, 2, NOW, &id),
	    ANCHOR_SVID_MALFORMED);
	/* B removed from the peers: its SVIDs mean nothing. */
	assert_int_equal(check(&ok, NULL, &peers[1], 1, NOW, &id),
	    ANCHOR_SVID_UNKNOWN_DOMAIN);
	/* B rotated its CA and dropped the old key: chains to it fail. */
	free(bundle_b);
	bundle_b = bundle_of(&ca_b2, 1, &len_b);
	peers[0].bundle = (const uint8_t *)bundle_b;
	peers[0].bundle_len = len_b;
	assert_int_equal(check(&ok, NULL, peers, 2, NOW, &id),
	    ANCHOR_SVID_CHAIN_INVALID);
	/* A bundle with every key revoked trusts nothing. */
	free(bundle_b);
	bundle_b = bundle_of(NULL, 0, &len_b);
	peers[0].bundle = (const uint8_t *)bundle_b;
	peers[0].bundle_len = len_b;
	assert_int_equal(check(&ok, NULL, peers, 2, NOW, &id),
	    ANCHOR_SVID_CHAIN_INVALID);

	free(bundle_a);
	free(bundle_b);
	free_cert(&ca_b);
	free_cert(&ca_b2);
	free_cert(&ca_a);
	free_cert(&mid);
	free_cert(&ok);
	free_cert(&other);
	free_cert(&expired);
	free_cert(&leaf_ca);
	free_cert(&two);
	free_cert(&via_mid);
	free_cert(&forged);
}

static void
test_bad_arguments(void **state)
{
	char *id = (char *)1;
	const uint8_t junk[] = { 0x30, 0x03, 0x01, 0x01, 0xff };
	const uint8_t *chain[1] = { junk };
	size_t lens[1] = { sizeof(junk) };

	(void)state;
	assert_int_equal(anchor_verify_svid(NULL, NULL, 0, NULL, 0, NOW, &id,
	    NULL, 0), ANCHOR_SVID_E_INVAL);
	assert_null(id);
	assert_int_equal(anchor_verify_svid(chain, lens, 1, NULL, 0, NOW, &id,
	    NULL, 0), ANCHOR_SVID_MALFORMED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_selective_trust),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
