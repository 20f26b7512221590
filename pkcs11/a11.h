/*
 * a11: anchor's token layer.
 *
 * Everything that touches a PKCS#11 module goes through this interface;
 * nothing outside pkcs11/ sees CK_RV, CK_* types or libp11.  Functions
 * return ANCHOR_OK or a negative ANCHOR_E_* code (src/error.h).  The layer
 * never logs and never prints; callers log with the token label.
 *
 * Not thread-safe: one a11_token is used by one thread at a time.
 */
#ifndef ANCHOR_A11_H
#define ANCHOR_A11_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define A11_ID_LEN 16
/* "anchor/" + a 255-byte trust domain + "/bundle-signing/" + a serial */
#define ANCHOR_LABEL_MAX 320

typedef struct a11_token a11_token;

typedef enum {
	A11_KEY_EC_P256 = 1,
	A11_KEY_EC_P384 = 2,
	A11_KEY_RSA_3072 = 3,
} a11_keytype;

/* A key pair in the token, named by its CKA_ID. */
typedef struct {
	a11_keytype type;
	uint8_t id[A11_ID_LEN];
	char label[ANCHOR_LABEL_MAX];	/* CKA_LABEL, NUL-terminated */
} a11_key;

/* Attributes of a private key object, read back from the token. */
typedef struct {
	bool token, private_, sensitive, always_sensitive;
	bool extractable, never_extractable;
	bool sign, decrypt, unwrap, derive;
	bool value_readable;		/* true if CKA_VALUE could be read (must be false) */
} a11_attrs;

/*
 * Supplies the PIN for C_Login.  Store a malloc'd buffer in *pin and its
 * length in *len; a11 wipes it (OPENSSL_cleanse) and frees it right after
 * C_Login.  Called again when the layer has to log in after a reconnect.
 */
typedef int (*a11_pin_cb)(void *arg, char **pin, size_t *len);

/*
 * Load a module and select a token.
 * module:    a path ("/usr/lib/softhsm/libsofthsm2.so") or a p11-kit module
 *            name ("softhsm2").
 * token_uri: an RFC 7512 "pkcs11:" URI naming the token by label
 *            (token=) and/or serial (serial=); a slot id is never used.
 *            A URI with pin-value or pin-source is refused (ANCHOR_E_CONFIG).
 * On success *out must be freed with a11_close().
 */
int a11_open(const char *module, const char *token_uri, a11_token **out);

/*
 * Log in as the user with the PIN from cb.  Keeps cb/arg for re-login after a
 * reconnect.  ANCHOR_E_PIN_INCORRECT / ANCHOR_E_PIN_LOCKED on refusal.
 */
int a11_login(a11_token *t, a11_pin_cb cb, void *arg);

/*
 * Bound the automatic recovery: on CKR_SESSION_HANDLE_INVALID,
 * CKR_SESSION_CLOSED, CKR_DEVICE_ERROR, CKR_DEVICE_REMOVED,
 * CKR_TOKEN_NOT_PRESENT, CKR_CRYPTOKI_NOT_INITIALIZED and the like an
 * operation closes its sessions, finalizes and re-initializes the module,
 * finds the token again, logs in again and retries, at most max_retries
 * times, sleeping backoff_ms, 2 * backoff_ms, ... between tries.
 * Defaults: 2 retries, 100 ms.
 */
void a11_set_recovery(a11_token *t, unsigned max_retries, unsigned backoff_ms);

/* Closes sessions, finalizes and unloads the module.  Accepts NULL. */
void a11_close(a11_token *t);

/* Token label and serial (static strings owned by t). */
const char *a11_token_label(const a11_token *t);
const char *a11_token_serial(const a11_token *t);

/*
 * Generate a key pair inside the token: private key with CKA_TOKEN,
 * CKA_PRIVATE, CKA_SENSITIVE, CKA_SIGN true and CKA_EXTRACTABLE,
 * CKA_DECRYPT, CKA_UNWRAP, CKA_DERIVE false; public key CKA_TOKEN,
 * CKA_VERIFY true.  Both get `label` and a fresh random 16-byte CKA_ID,
 * returned in out->id.
 */
int a11_generate(a11_token *t, a11_keytype type, const char *label, a11_key *out);

/* Find the key pair with this CKA_ID; fills *out (type, id, label). */
int a11_find(a11_token *t, const uint8_t id[A11_ID_LEN], a11_key *out);

/*
 * List private keys whose label starts with prefix ("" for all).  *keys is
 * malloc'd (free() it), *n its length; *keys is NULL when *n is 0.
 */
int a11_list(a11_token *t, const char *prefix, a11_key **keys, size_t *n);

/*
 * Sign msg with the private key `id`, hashing with SHA-256 (P-256, RSA) or
 * SHA-384 (P-384) in software.  EC keys: CKM_ECDSA, the signature is raw r||s
 * (64 or 96 bytes).  RSA: CKM_RSA_PKCS over a DigestInfo (PKCS#1 v1.5,
 * 384 bytes).  *siglen holds the size of sig on entry (A11_MAX_SIG is always
 * enough) and the signature length on return.
 */
#define A11_MAX_SIG 512
int a11_sign(a11_token *t, const uint8_t id[A11_ID_LEN],
    const uint8_t *msg, size_t msglen, uint8_t *sig, size_t *siglen);

/*
 * Sign a digest made elsewhere with the EC private key `id` (CKM_ECDSA):
 * 32 bytes (SHA-256) for a P-256 key, 48 (SHA-384) for P-384; the
 * signature is raw r||s (64 or 96 bytes).  ANCHOR_E_INVAL for another
 * digest length, ANCHOR_E_UNSUPPORTED for an RSA key.  *siglen as for
 * a11_sign().
 */
int a11_sign_digest(a11_token *t, const uint8_t id[A11_ID_LEN],
    const uint8_t *digest, size_t digestlen, uint8_t *sig, size_t *siglen);

/* The public key of `id` as an OpenSSL key; free with EVP_PKEY_free(). */
int a11_public_key(a11_token *t, const uint8_t id[A11_ID_LEN], EVP_PKEY **out);

/*
 * Sign an X.509 certificate (all fields set, no signature yet) with the
 * private key `id`: ecdsa-with-SHA256/384 or sha256WithRSAEncryption.
 */
int a11_sign_x509(a11_token *t, const uint8_t id[A11_ID_LEN], X509 *cert);

/* Read back the private key's attributes. */
int a11_attributes(a11_token *t, const uint8_t id[A11_ID_LEN], a11_attrs *out);

/*
 * Destroy every token object whose label starts with prefix and whose
 * CKA_ID is not in keep: what a run that died between the token and the
 * database left behind, including objects a crash cut short (no key type,
 * no id).  *gone (malloc'd, free()) lists what was destroyed: label, and id
 * when it had a 16-byte one.  prefix must not be empty.
 */
int a11_destroy_orphans(a11_token *t, const char *prefix,
    const uint8_t (*keep)[A11_ID_LEN], size_t nkeep, a11_key **gone,
    size_t *ngone);

/* Destroy the private and public objects with this CKA_ID. */
int a11_destroy(a11_token *t, const uint8_t id[A11_ID_LEN]);

#endif /* ANCHOR_A11_H */
