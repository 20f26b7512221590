/*
 * Producing anchor's signed formats (DESIGN.md §2):
 *   F1  SPIFFE bundle (deterministic JSON, the JWS payload of F2)
 *   F2  signed bundle, JWS General JSON Serialization
 *   F3  signer set
 * plus base64url, JWKs and RFC 7638 thumbprints.
 *
 * Output is deterministic: the same inputs give the same bytes.  Strings
 * returned through char ** are malloc'd, NUL-terminated, freed by the
 * caller with free().  Nothing here touches a token: signatures come from
 * a callback.
 */
#ifndef ANCHOR_JOSE_H
#define ANCHOR_JOSE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "conf.h"

#define ANCHOR_KID_LEN 43	/* base64url of a SHA-256, without NUL */

/* base64url without padding. */
int anchor_b64url_encode(const uint8_t *in, size_t len, char **out);
/* Standard padded base64 (RFC 4648 §4), as x5c carries certificates. */
int anchor_b64_std(const uint8_t *in, size_t len, char **out);
/* Strict: no padding, no whitespace, only the url-safe alphabet, canonical trailing bits. */
int anchor_b64url_decode(const char *in, size_t len, uint8_t **out, size_t *outlen);

/*
 * The public JWK of pk (EC P-256/P-384 or RSA), members in RFC 7638 order
 * followed by the extras: `use` (NULL to omit), `kid` (NULL to omit),
 * `alg` (NULL to omit), `x5c` (one DER certificate, NULL to omit).
 * Order: kty, use, kid, crv, x, y (EC) or n, e (RSA), x5c, alg.
 */
int anchor_jwk(EVP_PKEY *pk, const char *use, const char *kid, const char *alg,
    const uint8_t *x5c_der, size_t x5c_len, char **out);

/* RFC 7638 SHA-256 thumbprint of pk, base64url, into out (ANCHOR_KID_LEN + 1 bytes). */
int anchor_jwk_thumbprint(EVP_PKEY *pk, char out[ANCHOR_KID_LEN + 1]);

/* "ES256" (P-256), "ES384" (P-384), "RS256" (RSA); NULL otherwise. */
const char *anchor_jws_alg(EVP_PKEY *pk);

/* One authority in an F1 bundle. */
struct anchor_authority {
	enum anchor_role role;		/* ANCHOR_ROLE_X509_CA or ANCHOR_ROLE_JWT */
	EVP_PKEY *pub;
	const uint8_t *cert_der;	/* x509-ca: the CA certificate */
	size_t cert_len;
	const char *kid;		/* jwt: RFC 7638 thumbprint */
};

/*
 * F1: {"keys":[...],"spiffe_sequence":N,"spiffe_refresh_hint":H}, compact.
 * x509-svid entries: kty, use, crv, x, y (or n, e), x5c; no kid.
 * jwt-svid entries: kty, use, kid, crv, x, y (or n, e).
 * Authorities are written in the order given.
 */
int anchor_f1_bundle(const struct anchor_authority *auth, size_t n,
    uint64_t sequence, int64_t refresh_hint, char **out, size_t *outlen);

/*
 * Produces a signature over msg (the JWS signing input) for the key with
 * this kid: raw r||s for ES256/ES384.  *siglen is the size of sig on entry.
 */
typedef int (*anchor_sign_fn)(void *arg, const char *kid,
    const uint8_t *msg, size_t msglen, uint8_t *sig, size_t *siglen);

struct anchor_jws_signer {
	const char *kid;
	const char *alg;		/* "ES256" or "ES384" */
	anchor_sign_fn sign;
	void *arg;
};

/*
 * F2: one signature per signer (1..8), protected header exactly
 * {"alg","kid","typ":"spiffe-bundle+jws","crit":[...],
 *  "spiffe_trust_domain","spiffe_sequence","iat","exp"} in that order.
 */
int anchor_f2_sign(const char *trust_domain, uint64_t sequence, int64_t iat,
    int64_t exp, const uint8_t *payload, size_t len,
    const struct anchor_jws_signer *signers, size_t n, char **out, size_t *outlen);

/*
 * F3 payload: {"spiffe_trust_domain","version","threshold","min_sequence",
 * "keys":[{kty,crv,x,y,kid,alg}, ...]} in that order.
 */
int anchor_f3_payload(const char *trust_domain, unsigned version,
    unsigned threshold, uint64_t min_sequence, EVP_PKEY *const *keys, size_t n,
    char **out, size_t *outlen);

/* F3 envelope: typ "spiffe-signers+jws", crit ["spiffe_trust_domain","signers_version"]. */
int anchor_f3_sign(const char *trust_domain, unsigned version,
    const uint8_t *payload, size_t len,
    const struct anchor_jws_signer *signers, size_t n, char **out, size_t *outlen);

/*
 * The EC public key of a JWK's members (kty "EC", crv "P-256" or "P-384",
 * base64url x and y of the field size).  Free with EVP_PKEY_free().
 */
int anchor_jwk_ec_public(const char *kty, const char *crv, const char *x,
    const char *y, EVP_PKEY **out);

/*
 * Verify a raw r||s signature (ES256: SHA-256, 64 bytes; ES384: SHA-384,
 * 96 bytes) over msg.  ANCHOR_OK or ANCHOR_E_TAMPERED.
 */
int anchor_verify_raw(EVP_PKEY *pk, const char *alg, const uint8_t *msg,
    size_t msglen, const uint8_t *sig, size_t siglen);

#endif /* ANCHOR_JOSE_H */
