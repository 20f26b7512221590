/*
 * Tests of the token layer against a private SoftHSM token, directly and
 * through the fault-injecting module (pkcs11/fault.c).
 */
#include "config.h"

#include <dlfcn.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "a11.h"
#include "error.h"

#define LABEL "a11-test"
#define OTHER_LABEL "a11-other"
#define DUP_LABEL "a11-dup"
#define PIN "4711-user"
#define SO_PIN "4711-so-pin"
#define FAULT_MODULE BUILDDIR "/pkcs11/.libs/anchor-fault.so"
#define URI "pkcs11:token=" LABEL

static char tmpdir[PATH_MAX];
static char fault_file[PATH_MAX + 16];
static const char *module;

struct pin {
	const char *value;
	int calls;
};

static int
pin_cb(void *arg, char **pin, size_t *len)
{
	struct pin *p = arg;

	p->calls++;
	if ((*pin = strdup(p->value)) == NULL)
		return ANCHOR_E_NOMEM;
	*len = strlen(p->value);
	return ANCHOR_OK;
}

static int
pin_fail_cb(void *arg, char **pin, size_t *len)
{
	(void)arg;
	(void)pin;
	(void)len;
	return ANCHOR_E_PIN_SOURCE;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
init_token(const char *label)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "softhsm2-util --init-token --free "
	    "--label '%s' --pin '%s' --so-pin '%s' >/dev/null 2>&1",
	    label, PIN, SO_PIN);
	return system(cmd) == 0 ? 0 : -1;
}

static int
group_setup(void **state)
{
	char path[PATH_MAX + 32];
	const char *base = getenv("TMPDIR");
	FILE *f;

	(void)state;
	if ((module = getenv("SOFTHSM_MODULE")) == NULL || *module == '\0')
		module = "/usr/lib/softhsm/libsofthsm2.so";
	snprintf(tmpdir, sizeof(tmpdir), "%s/test-a11.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/tokens", tmpdir);
	if (mkdir(path, 0700) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/softhsm2.conf", tmpdir);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fprintf(f, "directories.tokendir = %s/tokens\n"
	    "objectstore.backend = file\n"
	    "log.level = ERROR\n", tmpdir);
	fclose(f);
	if (setenv("SOFTHSM2_CONF", path, 1) != 0)
		return -1;
	snprintf(fault_file, sizeof(fault_file), "%s/fault", tmpdir);
	if (setenv("ANCHOR_FAULT_MODULE", module, 1) != 0 ||
	    setenv("ANCHOR_FAULT_FILE", fault_file, 1) != 0)
		return -1;
	unsetenv("ANCHOR_FAULT");
	if (init_token(LABEL) != 0 || init_token(OTHER_LABEL) != 0 ||
	    init_token(DUP_LABEL) != 0 || init_token(DUP_LABEL) != 0)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	if (tmpdir[0] != '\0')
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void
set_fault(const char *rule)
{
	FILE *f = fopen(fault_file, "w");

	assert_non_null(f);
	fputs(rule, f);
	assert_int_equal(fclose(f), 0);
}

static unsigned long
faults_injected(void)
{
	void *h = dlopen(FAULT_MODULE, RTLD_NOW | RTLD_NOLOAD);
	unsigned long (*fn)(void);
	unsigned long n;

	assert_non_null(h);
	*(void **)&fn = dlsym(h, "anchor_fault_injected");
	assert_non_null(fn);
	n = fn();
	dlclose(h);
	return n;
}

static a11_token *
open_login(const char *mod, const char *uri, struct pin *pin)
{
	a11_token *t = NULL;

	assert_int_equal(a11_open(mod, uri, &t), ANCHOR_OK);
	assert_non_null(t);
	assert_int_equal(a11_login(t, pin_cb, pin), ANCHOR_OK);
	return t;
}

static size_t
sig_size(a11_keytype type)
{
	switch (type) {
	case A11_KEY_EC_P256:
		return 64;
	case A11_KEY_EC_P384:
		return 96;
	case A11_KEY_RSA_3072:
		return 384;
	}
	return 0;
}

/* Verify a11_sign output with OpenSSL; r||s is turned into DER first. */
static int
verify_sig(EVP_PKEY *pub, a11_keytype type, const uint8_t *msg,
    size_t msglen, const uint8_t *sig, size_t siglen)
{
	const EVP_MD *md = type == A11_KEY_EC_P384 ? EVP_sha384() :
	    EVP_sha256();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ECDSA_SIG *es = NULL;
	uint8_t *der = NULL;
	int derlen, ok;

	assert_non_null(ctx);
	if (type == A11_KEY_RSA_3072) {
		der = OPENSSL_memdup(sig, siglen);
		derlen = (int)siglen;
	} else {
		size_t half = siglen / 2;

		es = ECDSA_SIG_new();
		assert_non_null(es);
		assert_int_equal(ECDSA_SIG_set0(es,
		    BN_bin2bn(sig, (int)half, NULL),
		    BN_bin2bn(sig + half, (int)half, NULL)), 1);
		derlen = i2d_ECDSA_SIG(es, &der);
	}
	assert_non_null(der);
	assert_true(derlen > 0);
	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub), 1);
	ok = EVP_DigestVerify(ctx, der, (size_t)derlen, msg, msglen);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(ctx);
	return ok == 1;
}

/* Sign msg with key id and check the signature with the token's public key. */
static void
sign_and_verify(a11_token *t, const a11_key *k)
{
	static const uint8_t msg[] = "spiffe bundle bytes";
	uint8_t sig[A11_MAX_SIG];
	size_t siglen = sizeof(sig);
	EVP_PKEY *pub = NULL;

	assert_int_equal(a11_sign(t, k->id, msg, sizeof(msg) - 1, sig,
	    &siglen), ANCHOR_OK);
	assert_int_equal(siglen, sig_size(k->type));
	assert_int_equal(a11_public_key(t, k->id, &pub), ANCHOR_OK);
	assert_non_null(pub);
	assert_true(verify_sig(pub, k->type, msg, sizeof(msg) - 1, sig,
	    siglen));
	/* A different message must not verify. */
	assert_false(verify_sig(pub, k->type, msg, sizeof(msg) - 2, sig,
	    siglen));
	sig[siglen / 4] ^= 0x01;
	assert_false(verify_sig(pub, k->type, msg, sizeof(msg) - 1, sig,
	    siglen));
	EVP_PKEY_free(pub);
}

static void
test_open_by_label(void **state)
{
	a11_token *t = NULL;

	(void)state;
	assert_int_equal(a11_open(module, URI, &t), ANCHOR_OK);
	assert_non_null(t);
	assert_string_equal(a11_token_label(t), LABEL);
	assert_int_equal(strlen(a11_token_serial(t)), 16);
	a11_close(t);

	assert_int_equal(a11_open(module, "pkcs11:token=" OTHER_LABEL, &t),
	    ANCHOR_OK);
	assert_string_equal(a11_token_label(t), OTHER_LABEL);
	a11_close(t);
	a11_close(NULL);
}

static void
test_open_by_serial(void **state)
{
	a11_token *t = NULL, *o = NULL;
	char serial[64], other[64], uri[160];

	(void)state;
	assert_int_equal(a11_open(module, URI, &t), ANCHOR_OK);
	snprintf(serial, sizeof(serial), "%s", a11_token_serial(t));
	a11_close(t);
	assert_int_equal(a11_open(module, "pkcs11:token=" OTHER_LABEL, &o),
	    ANCHOR_OK);
	snprintf(other, sizeof(other), "%s", a11_token_serial(o));
	a11_close(o);
	assert_string_not_equal(serial, other);

	snprintf(uri, sizeof(uri), "pkcs11:serial=%s", serial);
	assert_int_equal(a11_open(module, uri, &t), ANCHOR_OK);
	assert_string_equal(a11_token_label(t), LABEL);
	assert_string_equal(a11_token_serial(t), serial);
	a11_close(t);

	snprintf(uri, sizeof(uri), "pkcs11:token=%s;serial=%s", LABEL,
	    serial);
	assert_int_equal(a11_open(module, uri, &t), ANCHOR_OK);
	a11_close(t);

	/* Label and serial of two different tokens: nothing matches. */
	snprintf(uri, sizeof(uri), "pkcs11:token=%s;serial=%s", LABEL, other);
	t = (a11_token *)uri;	/* must come back NULL */
	assert_int_equal(a11_open(module, uri, &t),
	    ANCHOR_E_TOKEN_NOT_FOUND);
	assert_null(t);
}

static void
test_open_by_module_name(void **state)
{
	a11_token *t = NULL;

	(void)state;
	if (access("/usr/share/p11-kit/modules/softhsm2.module", R_OK) != 0)
		skip();
	assert_int_equal(a11_open("softhsm2", URI, &t), ANCHOR_OK);
	assert_string_equal(a11_token_label(t), LABEL);
	a11_close(t);
}

static void
test_unknown_label(void **state)
{
	a11_token *t = NULL;

	(void)state;
	assert_int_equal(a11_open(module, "pkcs11:token=no-such-token", &t),
	    ANCHOR_E_TOKEN_NOT_FOUND);
	assert_null(t);
	assert_int_equal(a11_open(module, "pkcs11:serial=0000000000000000",
	    &t), ANCHOR_E_TOKEN_NOT_FOUND);
	assert_null(t);
}

static void
test_ambiguous_label(void **state)
{
	a11_token *t = NULL;

	(void)state;
	assert_int_equal(a11_open(module, "pkcs11:token=" DUP_LABEL, &t),
	    ANCHOR_E_CONFIG);
	assert_null(t);
}

static void
test_uri_refused(void **state)
{
	static const char *bad[] = {
		"pkcs11:token=" LABEL "?pin-value=" PIN,
		"pkcs11:token=" LABEL ";pin-value=" PIN,
		"pkcs11:token=" LABEL "?pin-source=file:/etc/anchor/pin",
		"pkcs11:token=" LABEL ";slot-id=0",
		"pkcs11:",
		"pkcs11:object=key",
		"pkcs11:token=" LABEL ";no-such-attribute=1",
		("file:token=" LABEL),
		"",
	};
	a11_token *t = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(a11_open(module, bad[i], &t),
		    ANCHOR_E_CONFIG);
		assert_null(t);
	}
	assert_int_equal(a11_open(module, NULL, &t), ANCHOR_E_INVAL);
	assert_int_equal(a11_open(NULL, URI, &t), ANCHOR_E_INVAL);
}

static void
test_bad_module(void **state)
{
	char path[PATH_MAX + 32];
	a11_token *t = NULL;

	(void)state;
	assert_int_equal(a11_open("/nonexistent/libpkcs11.so", URI, &t),
	    ANCHOR_E_MODULE);
	assert_null(t);
	assert_int_equal(a11_open("no-such-registered-module", URI, &t),
	    ANCHOR_E_MODULE);
	assert_null(t);
	/* A file that is not a shared object. */
	snprintf(path, sizeof(path), "%s/softhsm2.conf", tmpdir);
	assert_int_equal(a11_open(path, URI, &t), ANCHOR_E_MODULE);
	assert_null(t);
}

static void
test_wrong_pin(void **state)
{
	struct pin wrong = { "not-the-pin", 0 }, right = { PIN, 0 };
	a11_token *t = NULL;
	a11_key k;

	(void)state;
	assert_int_equal(a11_open(module, URI, &t), ANCHOR_OK);
	assert_int_equal(a11_login(t, pin_cb, &wrong),
	    ANCHOR_E_PIN_INCORRECT);
	assert_int_equal(wrong.calls, 1);
	/* Not logged in: private objects cannot be made. */
	assert_int_not_equal(a11_generate(t, A11_KEY_EC_P256, "anchor/x/y/1",
	    &k), ANCHOR_OK);
	assert_int_equal(wrong.calls, 1);
	assert_int_equal(a11_login(t, pin_fail_cb, NULL), ANCHOR_E_PIN_SOURCE);
	assert_int_equal(a11_login(t, pin_cb, &right), ANCHOR_OK);
	assert_int_equal(right.calls, 1);
	a11_close(t);
}

static void
check_keytype(a11_keytype type, const char *label)
{
	struct pin pin = { PIN, 0 };
	a11_token *t = open_login(module, URI, &pin);
	a11_key k, f;
	a11_attrs at;
	EVP_PKEY *pub = NULL;
	static const uint8_t zero[A11_ID_LEN];

	assert_int_equal(a11_generate(t, type, label, &k), ANCHOR_OK);
	assert_int_equal(k.type, type);
	assert_string_equal(k.label, label);
	assert_memory_not_equal(k.id, zero, A11_ID_LEN);

	assert_int_equal(a11_find(t, k.id, &f), ANCHOR_OK);
	assert_int_equal(f.type, type);
	assert_string_equal(f.label, label);
	assert_memory_equal(f.id, k.id, A11_ID_LEN);

	memset(&at, 0xff, sizeof(at));
	assert_int_equal(a11_attributes(t, k.id, &at), ANCHOR_OK);
	assert_true(at.token);
	assert_true(at.private_);
	assert_true(at.sensitive);
	assert_true(at.always_sensitive);
	assert_false(at.extractable);
	assert_true(at.never_extractable);
	assert_true(at.sign);
	assert_false(at.decrypt);
	assert_false(at.unwrap);
	assert_false(at.derive);
	assert_false(at.value_readable);

	assert_int_equal(a11_public_key(t, k.id, &pub), ANCHOR_OK);
	switch (type) {
	case A11_KEY_EC_P256:
		assert_true(EVP_PKEY_is_a(pub, "EC"));
		assert_int_equal(EVP_PKEY_get_bits(pub), 256);
		break;
	case A11_KEY_EC_P384:
		assert_true(EVP_PKEY_is_a(pub, "EC"));
		assert_int_equal(EVP_PKEY_get_bits(pub), 384);
		break;
	case A11_KEY_RSA_3072:
		assert_true(EVP_PKEY_is_a(pub, "RSA"));
		assert_int_equal(EVP_PKEY_get_bits(pub), 3072);
		break;
	}
	EVP_PKEY_free(pub);

	sign_and_verify(t, &k);

	assert_int_equal(a11_destroy(t, k.id), ANCHOR_OK);
	assert_int_equal(a11_find(t, k.id, &f), ANCHOR_E_KEY_NOT_FOUND);
	assert_int_equal(a11_public_key(t, k.id, &pub), ANCHOR_E_KEY_NOT_FOUND);
	assert_null(pub);
	assert_int_equal(a11_destroy(t, k.id), ANCHOR_E_KEY_NOT_FOUND);
	{
		uint8_t sig[A11_MAX_SIG];
		size_t siglen = sizeof(sig);

		assert_int_equal(a11_sign(t, k.id, (const uint8_t *)"m", 1,
		    sig, &siglen), ANCHOR_E_KEY_NOT_FOUND);
	}
	a11_close(t);
}

static void
test_generate_p256(void **state)
{
	(void)state;
	check_keytype(A11_KEY_EC_P256, "anchor/example.org/bundle-signing/1");
}

static void
test_generate_p384(void **state)
{
	(void)state;
	check_keytype(A11_KEY_EC_P384, "anchor/example.org/jwt/1");
}

static void
test_generate_rsa3072(void **state)
{
	(void)state;
	check_keytype(A11_KEY_RSA_3072, "anchor/example.org/x509-ca/1");
}

static void
test_sign_errors(void **state)
{
	struct pin pin = { PIN, 0 };
	a11_token *t = open_login(module, URI, &pin);
	uint8_t sig[A11_MAX_SIG], missing[A11_ID_LEN] = { 1, 2, 3 };
	size_t siglen = sizeof(sig);
	a11_key k;

	(void)state;
	assert_int_equal(a11_sign(t, missing, (const uint8_t *)"x", 1, sig,
	    &siglen), ANCHOR_E_KEY_NOT_FOUND);
	assert_int_equal(a11_generate(t, A11_KEY_EC_P256, "anchor/sign/1",
	    &k), ANCHOR_OK);
	siglen = 63;
	assert_int_equal(a11_sign(t, k.id, (const uint8_t *)"x", 1, sig,
	    &siglen), ANCHOR_E_INVAL);
	/* The empty message is a message. */
	siglen = sizeof(sig);
	assert_int_equal(a11_sign(t, k.id, NULL, 0, sig, &siglen), ANCHOR_OK);
	assert_int_equal(siglen, 64);
	assert_int_equal(a11_generate(t, (a11_keytype)99, "anchor/sign/2",
	    &k), ANCHOR_E_UNSUPPORTED);
	assert_int_equal(a11_destroy(t, k.id), ANCHOR_OK);
	a11_close(t);
}

/* A digest made elsewhere (as a TLS stack hands it over) is signed as is. */
static void
test_sign_digest(void **state)
{
	static const uint8_t msg[] = "tls handshake transcript";
	struct pin pin = { PIN, 0 };
	a11_token *t = open_login(module, URI, &pin);
	uint8_t sig[A11_MAX_SIG], md[48];
	size_t siglen;
	EVP_PKEY *pub = NULL;
	a11_key k;
	int i;
	static const a11_keytype types[] = { A11_KEY_EC_P256, A11_KEY_EC_P384 };

	(void)state;
	for (i = 0; i < 2; i++) {
		size_t mdlen = types[i] == A11_KEY_EC_P256 ? 32 : 48;

		assert_int_equal(a11_generate(t, types[i], "anchor/digest/1", &k),
		    ANCHOR_OK);
		assert_int_equal(EVP_Digest(msg, sizeof(msg) - 1, md, NULL,
		    mdlen == 32 ? EVP_sha256() : EVP_sha384(), NULL), 1);
		siglen = sizeof(sig);
		assert_int_equal(a11_sign_digest(t, k.id, md, mdlen, sig, &siglen),
		    ANCHOR_OK);
		assert_int_equal(siglen, 2 * mdlen);
		assert_int_equal(a11_public_key(t, k.id, &pub), ANCHOR_OK);
		assert_true(verify_sig(pub, k.type, msg, sizeof(msg) - 1, sig,
		    siglen));
		EVP_PKEY_free(pub);
		/* A digest of the wrong size for the curve is refused. */
		siglen = sizeof(sig);
		assert_int_equal(a11_sign_digest(t, k.id, md, mdlen == 32 ? 48 : 32,
		    sig, &siglen), ANCHOR_E_INVAL);
		assert_int_equal(a11_destroy(t, k.id), ANCHOR_OK);
	}
	assert_int_equal(a11_generate(t, A11_KEY_RSA_3072, "anchor/digest/2", &k),
	    ANCHOR_OK);
	siglen = sizeof(sig);
	assert_int_equal(a11_sign_digest(t, k.id, md, 32, sig, &siglen),
	    ANCHOR_E_UNSUPPORTED);
	assert_int_equal(a11_destroy(t, k.id), ANCHOR_OK);
	a11_close(t);
}

static void
test_list(void **state)
{
	struct pin pin = { PIN, 0 };
	a11_token *t = open_login(module, URI, &pin);
	a11_key a, b, c, *keys = NULL;
	size_t n = 0, i;
	bool seen_a = false, seen_b = false;

	(void)state;
	assert_int_equal(a11_generate(t, A11_KEY_EC_P256, "anchor/list/a/1",
	    &a), ANCHOR_OK);
	assert_int_equal(a11_generate(t, A11_KEY_EC_P384, "anchor/list/b/1",
	    &b), ANCHOR_OK);
	assert_int_equal(a11_generate(t, A11_KEY_EC_P256, "other/list/c/1",
	    &c), ANCHOR_OK);

	assert_int_equal(a11_list(t, "anchor/list/", &keys, &n), ANCHOR_OK);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		if (memcmp(keys[i].id, a.id, A11_ID_LEN) == 0) {
			seen_a = true;
			assert_int_equal(keys[i].type, A11_KEY_EC_P256);
			assert_string_equal(keys[i].label, "anchor/list/a/1");
		}
		if (memcmp(keys[i].id, b.id, A11_ID_LEN) == 0) {
			seen_b = true;
			assert_int_equal(keys[i].type, A11_KEY_EC_P384);
		}
	}
	assert_true(seen_a && seen_b);
	free(keys);

	assert_int_equal(a11_list(t, "", &keys, &n), ANCHOR_OK);
	assert_true(n >= 3);
	free(keys);

	assert_int_equal(a11_list(t, "nothing/", &keys, &n), ANCHOR_OK);
	assert_int_equal(n, 0);
	assert_null(keys);

	assert_int_equal(a11_destroy(t, a.id), ANCHOR_OK);
	assert_int_equal(a11_list(t, "anchor/list/", &keys, &n), ANCHOR_OK);
	assert_int_equal(n, 1);
	assert_memory_equal(keys[0].id, b.id, A11_ID_LEN);
	free(keys);
	assert_int_equal(a11_destroy(t, b.id), ANCHOR_OK);
	assert_int_equal(a11_destroy(t, c.id), ANCHOR_OK);
	assert_int_equal(a11_list(t, "anchor/list/", &keys, &n), ANCHOR_OK);
	assert_int_equal(n, 0);
	a11_close(t);
}

static void
add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(cert, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

static X509 *
make_ca(EVP_PKEY *pub)
{
	X509 *cert = X509_new();
	X509_NAME *name = X509_NAME_new();

	assert_non_null(cert);
	assert_non_null(name);
	assert_int_equal(X509_set_version(cert, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(cert),
	    0x4711), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	    (const unsigned char *)"Example Corp", -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"anchor test CA", -1, -1, 0), 1);
	assert_int_equal(X509_set_subject_name(cert, name), 1);
	assert_int_equal(X509_set_issuer_name(cert, name), 1);
	X509_NAME_free(name);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(cert), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(cert), 86400));
	assert_int_equal(X509_set_pubkey(cert, pub), 1);
	add_ext(cert, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(cert, NID_key_usage, "critical,keyCertSign,cRLSign");
	add_ext(cert, NID_subject_key_identifier, "hash");
	add_ext(cert, NID_subject_alt_name, "URI:spiffe://example.org");
	return cert;
}

static int
store_verify(X509 *cert)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	assert_non_null(store);
	assert_non_null(ctx);
	assert_int_equal(X509_STORE_add_cert(store, cert), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, cert, NULL), 1);
	ok = X509_verify_cert(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok == 1;
}

static void
check_x509(a11_keytype type, int signid)
{
	struct pin pin = { PIN, 0 };
	a11_token *t = open_login(module, URI, &pin);
	char path[PATH_MAX + 32], cmd[2 * PATH_MAX + 128];
	EVP_PKEY *pub = NULL, *other = NULL;
	X509 *cert, *copy;
	uint8_t *der = NULL;
	const uint8_t *p;
	a11_key k, o;
	int derlen;
	FILE *f;

	assert_int_equal(a11_generate(t, type, "anchor/example.org/x509-ca/9",
	    &k), ANCHOR_OK);
	assert_int_equal(a11_generate(t, A11_KEY_EC_P256, "anchor/other/1",
	    &o), ANCHOR_OK);
	assert_int_equal(a11_public_key(t, k.id, &pub), ANCHOR_OK);
	assert_int_equal(a11_public_key(t, o.id, &other), ANCHOR_OK);
	cert = make_ca(pub);

	assert_int_equal(a11_sign_x509(t, k.id, cert), ANCHOR_OK);
	assert_int_equal(X509_get_signature_nid(cert), signid);
	assert_int_equal(X509_verify(cert, pub), 1);
	assert_int_not_equal(X509_verify(cert, other), 1);
	assert_true(store_verify(cert));

	/* The DER survives a round trip and still verifies. */
	derlen = i2d_X509(cert, &der);
	assert_true(derlen > 0);
	p = der;
	copy = d2i_X509(NULL, &p, derlen);
	assert_non_null(copy);
	assert_int_equal(X509_verify(copy, pub), 1);
	assert_true(store_verify(copy));
	X509_free(copy);
	OPENSSL_free(der);

	/* And the openssl command agrees: a self-signed CA. */
	snprintf(path, sizeof(path), "%s/ca.pem", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, cert), 1);
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "openssl verify -x509_strict -CAfile '%s' "
	    "'%s' >/dev/null 2>&1", path, path);
	assert_int_equal(system(cmd), 0);

	/* Re-signing an already signed certificate works as well. */
	assert_int_equal(a11_sign_x509(t, k.id, cert), ANCHOR_OK);
	assert_int_equal(X509_verify(cert, pub), 1);

	X509_free(cert);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(other);
	assert_int_equal(a11_destroy(t, k.id), ANCHOR_OK);
	assert_int_equal(a11_destroy(t, o.id), ANCHOR_OK);
	a11_close(t);
}

static void
test_sign_x509_p256(void **state)
{
	(void)state;
	check_x509(A11_KEY_EC_P256, NID_ecdsa_with_SHA256);
}

static void
test_sign_x509_p384(void **state)
{
	(void)state;
	check_x509(A11_KEY_EC_P384, NID_ecdsa_with_SHA384);
}

static void
test_sign_x509_rsa3072(void **state)
{
	(void)state;
	check_x509(A11_KEY_RSA_3072, NID_sha256WithRSAEncryption);
}

static void
test_two_handles(void **state)
{
	struct pin pa = { PIN, 0 }, pb = { PIN, 0 };
	a11_token *a = open_login(module, URI, &pa);
	a11_token *b = open_login(module, "pkcs11:token=" OTHER_LABEL, &pb);
	a11_key ka, kb;

	(void)state;
	a11_set_recovery(b, 2, 10);
	assert_int_equal(a11_generate(a, A11_KEY_EC_P256, "anchor/a/1", &ka),
	    ANCHOR_OK);
	assert_int_equal(a11_generate(b, A11_KEY_EC_P256, "anchor/b/1", &kb),
	    ANCHOR_OK);
	assert_int_equal(a11_find(a, kb.id, &ka), ANCHOR_E_KEY_NOT_FOUND);
	assert_int_equal(a11_find(a, ka.id, &ka), ANCHOR_OK);
	assert_int_equal(a11_destroy(a, ka.id), ANCHOR_OK);
	/* Closing the first handle finalizes the module under the second. */
	a11_close(a);
	sign_and_verify(b, &kb);
	assert_int_equal(pb.calls, 2);
	assert_int_equal(a11_destroy(b, kb.id), ANCHOR_OK);
	a11_close(b);
}

static void
test_key_destroyed_elsewhere(void **state)
{
	struct pin pa = { PIN, 0 }, pb = { PIN, 0 };
	a11_token *a = open_login(module, URI, &pa);
	a11_token *b = open_login(module, URI, &pb);
	uint8_t sig[A11_MAX_SIG];
	size_t siglen = sizeof(sig);
	a11_key k, n;

	(void)state;
	assert_int_equal(a11_generate(a, A11_KEY_EC_P256, "anchor/cache/1",
	    &k), ANCHOR_OK);
	sign_and_verify(a, &k);
	/* After a second the remembered key handle is checked again. */
	usleep(1100 * 1000);
	sign_and_verify(a, &k);

	/* Another handle destroys the key, then makes a new one. */
	assert_int_equal(a11_destroy(b, k.id), ANCHOR_OK);
	assert_int_equal(a11_generate(b, A11_KEY_EC_P256, "anchor/cache/2",
	    &n), ANCHOR_OK);
	assert_int_equal(a11_sign(a, k.id, (const uint8_t *)"m", 1, sig,
	    &siglen), ANCHOR_E_KEY_NOT_FOUND);
	assert_int_equal(a11_sign(a, k.id, (const uint8_t *)"m", 1, sig,
	    &siglen), ANCHOR_E_KEY_NOT_FOUND);
	sign_and_verify(a, &n);
	assert_int_equal(a11_destroy(a, n.id), ANCHOR_OK);
	siglen = sizeof(sig);
	assert_int_equal(a11_sign(b, n.id, (const uint8_t *)"m", 1, sig,
	    &siglen), ANCHOR_E_KEY_NOT_FOUND);
	a11_close(b);
	a11_close(a);
}

/* A token behind the fault module, logged in, with one fresh P-256 key. */
static a11_token *
fault_open(struct pin *pin, a11_key *k)
{
	a11_token *t;

	set_fault("");
	t = open_login(FAULT_MODULE, URI, pin);
	a11_set_recovery(t, 2, 10);
	assert_int_equal(a11_generate(t, A11_KEY_EC_P256,
	    "anchor/example.org/bundle-signing/7", k), ANCHOR_OK);
	return t;
}

static void
fault_close(a11_token *t, const a11_key *k)
{
	set_fault("");
	assert_int_equal(a11_destroy(t, k->id), ANCHOR_OK);
	a11_close(t);
}

static void
test_fault_sign_device_error(void **state)
{
	struct pin pin = { PIN, 0 };
	a11_key k;
	a11_token *t = fault_open(&pin, &k);
	unsigned long before = faults_injected();

	(void)state;
	set_fault("C_Sign:1:CKR_DEVICE_ERROR");
	sign_and_verify(t, &k);
	assert_int_equal(faults_injected() - before, 1);
	/* Recovery logged in again through the callback. */
	assert_int_equal(pin.calls, 2);
	sign_and_verify(t, &k);
	assert_int_equal(faults_injected() - before, 1);

	/* The second C_Sign after the rule changed fails; numbers work too. */
	set_fault("C_Sign:2:0x30");
	sign_and_verify(t, &k);
	assert_int_equal(faults_injected() - before, 1);
	sign_and_verify(t, &k);
	assert_int_equal(faults_injected() - before, 2);
	assert_int_equal(pin.calls, 3);
	fault_close(t, &k);
}

static void
test_fault_session_invalid(void **state)
{
	struct pin pin = { PIN, 0 };
	a11_key k, f;
	a11_token *t = fault_open(&pin, &k);
	unsigned long before = faults_injected();

	(void)state;
	set_fault("C_Sign:1:CKR_SESSION_HANDLE_INVALID");
	sign_and_verify(t, &k);
	assert_int_equal(faults_injected() - before, 1);

	set_fault("C_FindObjectsInit:1:CKR_SESSION_CLOSED");
	assert_int_equal(a11_find(t, k.id, &f), ANCHOR_OK);
	assert_memory_equal(f.id, k.id, A11_ID_LEN);

	set_fault("C_GetAttributeValue:1:CKR_USER_NOT_LOGGED_IN");
	assert_int_equal(a11_find(t, k.id, &f), ANCHOR_OK);

	set_fault("C_SignInit:1:CKR_TOKEN_NOT_PRESENT");
	sign_and_verify(t, &k);
	assert_int_equal(faults_injected() - before, 4);
	assert_int_equal(pin.calls, 5);
	fault_close(t, &k);
}

static void
test_fault_persistent(void **state)
{
	struct pin pin = { PIN, 0 };
	a11_key k;
	a11_token *t = fault_open(&pin, &k);
	unsigned long before = faults_injected();
	uint8_t sig[A11_MAX_SIG];
	size_t siglen = sizeof(sig);
	struct timespec t0, t1;
	double ms;

	(void)state;
	a11_set_recovery(t, 2, 50);
	set_fault("C_Sign:1+:CKR_DEVICE_ERROR");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(a11_sign(t, k.id, (const uint8_t *)"m", 1, sig,
	    &siglen), ANCHOR_E_TOKEN_GONE);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	/* One try and two retries, after 50 and 100 ms. */
	assert_int_equal(faults_injected() - before, 3);
	assert_true(ms >= 150.0);
	assert_true(ms < 10000.0);

	/* The token comes back: the same handle works again. */
	set_fault("");
	sign_and_verify(t, &k);

	/* Without retries the first failure is final. */
	a11_set_recovery(t, 0, 0);
	before = faults_injected();
	set_fault("C_Sign:1:CKR_DEVICE_REMOVED");
	assert_int_equal(a11_sign(t, k.id, (const uint8_t *)"m", 1, sig,
	    &siglen), ANCHOR_E_TOKEN_GONE);
	assert_int_equal(faults_injected() - before, 1);
	sign_and_verify(t, &k);

	/* A token that cannot be found again is gone as well. */
	a11_set_recovery(t, 1, 0);
	set_fault("C_Sign:1:CKR_DEVICE_ERROR\n"
	    "C_GetSlotList:1+:CKR_DEVICE_ERROR");
	assert_int_equal(a11_sign(t, k.id, (const uint8_t *)"m", 1, sig,
	    &siglen), ANCHOR_E_TOKEN_GONE);
	set_fault("");
	sign_and_verify(t, &k);
	fault_close(t, &k);
}

static void
test_fault_login(void **state)
{
	struct pin pin = { PIN, 0 };
	a11_token *t = NULL;
	a11_key k;

	(void)state;
	set_fault("C_Login:1:CKR_PIN_INCORRECT");
	assert_int_equal(a11_open(FAULT_MODULE, URI, &t), ANCHOR_OK);
	assert_int_equal(a11_login(t, pin_cb, &pin), ANCHOR_E_PIN_INCORRECT);
	set_fault("C_Login:1:CKR_PIN_LOCKED");
	assert_int_equal(a11_login(t, pin_cb, &pin), ANCHOR_E_PIN_LOCKED);
	set_fault("C_Login:1:CKR_PIN_LEN_RANGE");
	assert_int_equal(a11_login(t, pin_cb, &pin), ANCHOR_E_PIN_INCORRECT);
	set_fault("C_Login:1:CKR_USER_ALREADY_LOGGED_IN");
	assert_int_equal(a11_login(t, pin_cb, &pin), ANCHOR_OK);
	set_fault("");
	assert_int_equal(a11_login(t, pin_cb, &pin), ANCHOR_OK);
	assert_int_equal(pin.calls, 5);

	/*
	 * A PIN refused during recovery is not tried again: the failure is
	 * reported and later operations do not replay it.
	 */
	assert_int_equal(a11_generate(t, A11_KEY_EC_P256, "anchor/login/1",
	    &k), ANCHOR_OK);
	set_fault("C_Sign:1:CKR_DEVICE_ERROR\nC_Login:1+:CKR_PIN_INCORRECT");
	{
		uint8_t sig[A11_MAX_SIG];
		size_t siglen = sizeof(sig);

		assert_int_equal(a11_sign(t, k.id, (const uint8_t *)"m", 1,
		    sig, &siglen), ANCHOR_E_PIN_INCORRECT);
		assert_int_equal(pin.calls, 6);
		siglen = sizeof(sig);
		assert_int_not_equal(a11_sign(t, k.id, (const uint8_t *)"m", 1,
		    sig, &siglen), ANCHOR_OK);
		assert_int_equal(pin.calls, 6);
	}
	set_fault("");
	assert_int_equal(a11_login(t, pin_cb, &pin), ANCHOR_OK);
	sign_and_verify(t, &k);
	assert_int_equal(a11_destroy(t, k.id), ANCHOR_OK);
	a11_close(t);
}

static void
test_fault_mapping(void **state)
{
	struct pin pin = { PIN, 0 };
	a11_key k, g, *keys = NULL;
	a11_token *t = fault_open(&pin, &k);
	uint8_t sig[A11_MAX_SIG];
	size_t siglen = sizeof(sig), n = 0;
	unsigned long before = faults_injected();

	(void)state;
	set_fault("C_Sign:1:CKR_FUNCTION_FAILED");
	assert_int_equal(a11_sign(t, k.id, (const uint8_t *)"m", 1, sig,
	    &siglen), ANCHOR_E_TOKEN);
	set_fault("C_GenerateKeyPair:1:CKR_MECHANISM_INVALID");
	assert_int_equal(a11_generate(t, A11_KEY_EC_P384, "anchor/map/1", &g),
	    ANCHOR_E_UNSUPPORTED);
	set_fault("C_GenerateKeyPair:1:CKR_HOST_MEMORY");
	assert_int_equal(a11_generate(t, A11_KEY_EC_P384, "anchor/map/1", &g),
	    ANCHOR_E_NOMEM);
	assert_int_equal(faults_injected() - before, 3);

	/* A generation retried after a device error leaves one pair. */
	set_fault("C_GenerateKeyPair:1:CKR_DEVICE_ERROR");
	assert_int_equal(a11_generate(t, A11_KEY_EC_P384, "anchor/map/1", &g),
	    ANCHOR_OK);
	set_fault("");
	assert_int_equal(a11_list(t, "anchor/map/", &keys, &n), ANCHOR_OK);
	assert_int_equal(n, 1);
	assert_memory_equal(keys[0].id, g.id, A11_ID_LEN);
	free(keys);
	assert_int_equal(a11_destroy(t, g.id), ANCHOR_OK);

	/* The rule may also come from the environment. */
	unsetenv("ANCHOR_FAULT_FILE");
	setenv("ANCHOR_FAULT", "*:1+:CKR_DEVICE_REMOVED", 1);
	siglen = sizeof(sig);
	assert_int_equal(a11_sign(t, k.id, (const uint8_t *)"m", 1, sig,
	    &siglen), ANCHOR_E_TOKEN_GONE);
	unsetenv("ANCHOR_FAULT");
	setenv("ANCHOR_FAULT_FILE", fault_file, 1);

	/* A malformed rule fails calls instead of passing silently. */
	set_fault("C_Sign:first:CKR_DEVICE_ERROR");
	siglen = sizeof(sig);
	assert_int_equal(a11_sign(t, k.id, (const uint8_t *)"m", 1, sig,
	    &siglen), ANCHOR_E_TOKEN);
	fault_close(t, &k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_by_label),
		cmocka_unit_test(test_sign_digest),
		cmocka_unit_test(test_open_by_serial),
		cmocka_unit_test(test_open_by_module_name),
		cmocka_unit_test(test_unknown_label),
		cmocka_unit_test(test_ambiguous_label),
		cmocka_unit_test(test_uri_refused),
		cmocka_unit_test(test_bad_module),
		cmocka_unit_test(test_wrong_pin),
		cmocka_unit_test(test_generate_p256),
		cmocka_unit_test(test_generate_p384),
		cmocka_unit_test(test_generate_rsa3072),
		cmocka_unit_test(test_sign_errors),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_sign_x509_p256),
		cmocka_unit_test(test_sign_x509_p384),
		cmocka_unit_test(test_sign_x509_rsa3072),
		cmocka_unit_test(test_two_handles),
		cmocka_unit_test(test_key_destroyed_elsewhere),
		cmocka_unit_test(test_fault_sign_device_error),
		cmocka_unit_test(test_fault_session_invalid),
		cmocka_unit_test(test_fault_persistent),
		cmocka_unit_test(test_fault_login),
		cmocka_unit_test(test_fault_mapping),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
