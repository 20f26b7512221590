/*
 * libanchor-verify internals, shared by the sources in src/verify/, the
 * unit tests and the fuzz targets.  Not installed; only anchor_verify_*
 * symbols are exported from the shared library.
 */
#ifndef ANCHOR_VERIFY_INTERNAL_H
#define ANCHOR_VERIFY_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "anchor/verify.h"

/* ---- diag.c ---------------------------------------------------------- */

/* Fill d (may be NULL) with a message and return code. */
int av_fail(struct anchor_verify_diag *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reset d (may be NULL): empty text, item SIZE_MAX. */
void av_diag_clear(struct anchor_verify_diag *d);

/* Prefix d's text with "prefix: " (for errors inside a signer set). */
void av_diag_prefix(struct anchor_verify_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The options with defaults filled in; E_INVAL when need_td and no valid td. */
int av_options(const struct anchor_verify_options *in, int need_td,
    struct anchor_verify_options *out);

/* A SPIFFE trust domain name: [a-z0-9._-]{1,255}. */
int av_trust_domain_valid(const char *td);

/* ---- json.c ---------------------------------------------------------- */

/*
 * Parse len bytes as one JSON text of any type: duplicate members are R2;
 * any other syntax error, invalid UTF-8 or nesting deeper than
 * ANCHOR_VERIFY_MAX_DEPTH is MALFORMED.  Strings may contain U+0000 (use
 * av_str() to read them).  `what` names the text in the message.
 */
int av_json_parse(const uint8_t *buf, size_t len, const char *what,
    json_t **out, struct anchor_verify_diag *d);

/* Nesting depth of v (a scalar is 0, [] is 1), stopping past limit. */
size_t av_json_depth(const json_t *v, size_t limit);

/* A string without U+0000: its bytes and length, else NULL. */
const char *av_str(const json_t *v, size_t *len);

/* v is a string equal to lit, byte for byte. */
int av_str_eq(const json_t *v, const char *lit);

/* v is a JSON integer (not a real); stores it. */
int av_int(const json_t *v, int64_t *out);

/* obj is an object whose members are exactly names[0..n-1]. */
int av_members_exact(const json_t *obj, const char *const *names, size_t n);

/* ---- b64.c ----------------------------------------------------------- */

/* Strict base64url: unpadded, url-safe alphabet, canonical trailing bits. */
int av_b64url_decode(const char *in, size_t len, uint8_t **out, size_t *outlen);
/* Strict standard base64 (RFC 4648 §4) with padding, as x5c uses. */
int av_b64std_decode(const char *in, size_t len, uint8_t **out, size_t *outlen);
/* Unpadded base64url; *out is malloc'd and NUL-terminated. */
int av_b64url_encode(const uint8_t *in, size_t len, char **out);

/* ---- key.c ----------------------------------------------------------- */

enum av_key_type {
	AV_KEY_P256 = 1,
	AV_KEY_P384,
	AV_KEY_P521,
	AV_KEY_RSA,
};

struct anchor_verify_key {
	enum av_key_type type;
	EVP_PKEY *pkey;			/* NULL for bundle EC authorities */
	char alg[8];			/* ES256, ES384, ES512, RS256 */
	char kid[ANCHOR_VERIFY_KID_LEN + 1];	/* RFC 7638 thumbprint */
	uint8_t *spki;			/* DER SubjectPublicKeyInfo */
	size_t spki_len;
};

/* EC groups made on first use while parsing one bundle; see av_key_from_json(). */
struct av_groups {
	EC_GROUP *g[3];			/* P-256, P-384, P-521 */
	EC_POINT *pt;
	BN_CTX *bn;
};

void av_groups_clear(struct av_groups *gc);

/*
 * The public key of a JWK object.  Reads kty, crv/x/y (EC P-256, P-384,
 * P-521) or n/e (RSA, 2048 to 16384 bits); refuses private members.
 * Returns OK, ANCHOR_VERIFY_E_NOMEM/E_INTERNAL, or 1 with a reason in
 * *why when the key is unusable.  The caller checks alg, use and kid.
 * Without gc an EC key gets an EVP_PKEY (for signature checks); with gc
 * only its point is checked, against gc's groups, and pkey stays NULL:
 * enough for bundle authorities, and far cheaper.
 */
int av_key_from_json(const json_t *jwk, struct av_groups *gc,
    struct anchor_verify_key **out, const char **why);

/* A copy of k sharing its EVP_PKEY (never modified after parsing). */
int av_key_dup(const struct anchor_verify_key *k, struct anchor_verify_key **out);

/* The JWS alg of a key type: "ES256", "ES384", "ES512" or "RS256". */
const char *av_key_type_alg(enum av_key_type t);

/* Verify raw r||s over msg with an EC key (ES256/ES384): OK or R10. */
int av_sig_verify(const struct anchor_verify_key *k, const uint8_t *msg,
    size_t msglen, const uint8_t *sig, size_t siglen);

/* ---- jws.c ----------------------------------------------------------- */

enum av_kind {
	AV_F2 = 2,
	AV_F3 = 3,
};

struct av_sig {
	const char *protected_b64;	/* as received */
	size_t protected_len;
	const char *signature_b64;
	size_t signature_len;
	uint8_t *sig;			/* decoded signature */
	size_t siglen;
	json_t *header;			/* the parsed protected header */
	const char *kid;		/* NULL when absent or not a string */
	size_t kid_len;
	const char *alg;
	size_t alg_len;
	/* header values, set by av_jws_check() */
	const char *td;
	size_t td_len;
	int64_t number;			/* F2 spiffe_sequence, F3 signers_version */
	int64_t iat, exp;		/* F2 only */
	int counted;			/* verified and trusted by at least one set */
};

struct av_jws {
	json_t *env;
	const char *payload_b64;
	size_t payload_b64_len;
	uint8_t *payload;
	size_t payload_len;
	json_t *payload_json;
	size_t nsig;
	struct av_sig sig[ANCHOR_VERIFY_MAX_SIGNATURES];
};

/* A trusted key set with its threshold. */
struct av_keyset {
	struct anchor_verify_key *const *keys;
	size_t n;
	uint64_t threshold;
};

/*
 * R1 to R4 and the JSON of every header and of the payload (R2, MALFORMED).
 * Free *j with av_jws_clear() whatever the result.
 */
int av_jws_parse(const uint8_t *buf, size_t len, size_t max_bytes,
    struct av_jws *j, struct anchor_verify_diag *d);

/*
 * R5, R7, R8, R9 (repeated kid) for every signature, then R10 for every
 * signature whose kid is in one of the sets, then each set's threshold
 * (R6 when no signature names a trusted kid, else R9).  Marks counted
 * signatures; *first is the first counted one.
 */
int av_jws_check(struct av_jws *j, enum av_kind kind,
    const struct av_keyset *sets, size_t nsets, struct av_sig **first,
    struct anchor_verify_diag *d);

/* R11: every counted signature agrees with first. */
int av_jws_agree(const struct av_jws *j, const struct av_sig *first,
    struct anchor_verify_diag *d);

void av_jws_clear(struct av_jws *j);

/* ---- signers.c -------------------------------------------------------- */

struct anchor_verify_signers {
	char *trust_domain;
	uint64_t version;
	uint64_t threshold;
	uint64_t min_sequence;
	size_t nkeys;
	struct anchor_verify_key **keys;
	uint8_t *payload;
	size_t payload_len;
};

/*
 * An F3 payload (already parsed as pj, bytes payload) for trust domain td:
 * exactly the five members, keys of exactly kty, crv, x, y, kid, alg with
 * alg matching crv and kid the thumbprint, unique kids, 1 <= threshold <=
 * min(number of keys, 8).  Failures are F3_SIGNERS (or E_*).
 */
int av_signers_from_payload(const char *td, const json_t *pj,
    const uint8_t *payload, size_t len, struct anchor_verify_signers **out,
    struct anchor_verify_diag *d);

/* A deep copy of s. */
int av_signers_dup(const struct anchor_verify_signers *s,
    struct anchor_verify_signers **out);

/* ---- bundle.c --------------------------------------------------------- */

struct av_x509 {
	uint8_t *der;
	size_t len;
};

struct av_jwt {
	struct anchor_verify_key *key;	/* key->kid is the thumbprint */
	char *kid;			/* the bundle's kid */
	char *jwk;			/* public JWK, compact */
};

struct anchor_verify_bundle {
	int has_sequence, has_refresh_hint;
	uint64_t sequence;
	int64_t refresh_hint;
	struct av_x509 *x509;
	size_t nx509;
	struct av_jwt *jwt;
	size_t njwt;
	size_t skipped, invalid;
};

/* F1 from an already parsed JSON value: F1_BUNDLE or MALFORMED on failure. */
int av_bundle_from_json(const json_t *root, struct anchor_verify_bundle **out,
    struct anchor_verify_diag *d);

/* ---- state.c ---------------------------------------------------------- */

struct anchor_verify_state {
	struct anchor_verify_signers *signers;
	int has_bundle;
	uint64_t sequence;
	uint8_t sha256[32];
	int64_t iat;
};

#endif /* ANCHOR_VERIFY_INTERNAL_H */
