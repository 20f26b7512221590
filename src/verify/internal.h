/*
 * libanchor-verify internals, shared by the sources in src/verify/, the
 * unit tests and the fuzz targets.  Not installed; only anchor_verify_*
 * symbols are exported from the shared library.
 */
#ifndef ANCHOR_VERIFY_INTERNAL_H
#define ANCHOR_VERIFY_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

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

/*
 * A set of strings, to find a repeated kid in linear time.  The strings
 * are not copied and must outlive the set.  Their hash is not keyed: a
 * hostile input can make its strings collide, which costs at worst the
 * quadratic time of comparing each string with every earlier one.
 */
struct av_strset {
	const char **slot;		/* NULL: empty */
	size_t mask;
};

/*
 * Room for n strings (add no more: the table stays at most half full).
 * Clear with av_strset_clear() whatever the result.
 */
int av_strset_init(struct av_strset *ss, size_t n);
/* Add s; 0 when an equal string is in the set already (s is not added). */
int av_strset_add(struct av_strset *ss, const char *s);
void av_strset_clear(struct av_strset *ss);

/* A SPIFFE trust domain name: [a-z0-9._-]{1,255}. */
int av_trust_domain_valid(const char *td);

/* ---- shared.c -------------------------------------------------------- */

#define AV_NCURVES 3			/* P-256, P-384, P-521 */

/* Read-only objects shared by every thread, made on first use. */
struct av_shared {
	EC_GROUP *group[AV_NCURVES];
	EVP_MD *sha256, *sha384;	/* fetched once, not per digest */
	OSSL_LIB_CTX *x509_ctx;		/* no providers: see av_d2i_x509() */
};

/* The shared objects, or NULL when they cannot be made (out of memory). */
const struct av_shared *av_shared(void);

/*
 * d2i_X509() without OpenSSL 3's opportunistic decoding of the public key
 * into an EVP_PKEY: the same ASN.1 templates, so the same certificates
 * parse.  Read the key with X509_get_X509_PUBKEY(); X509_get0_pubkey()
 * gives NULL.  Free with X509_free().
 */
X509 *av_d2i_x509(const struct av_shared *sh, const uint8_t **p, long len);

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
/* How many of the first len characters are in the base64url alphabet. */
size_t av_b64url_span(const char *in, size_t len);
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
	char kid[ANCHOR_VERIFY_KID_LEN + 1];	/* RFC 7638 thumbprint, or "" */
	uint8_t *spki;			/* DER SubjectPublicKeyInfo */
	size_t spki_len;
	/*
	 * Keys with a pkey: a verify context made on first use and reused,
	 * as openssl speed does, by the thread that holds vlock; a thread
	 * that finds vlock taken makes a context of its own.
	 */
	int has_vlock;
	pthread_mutex_t vlock;
	EVP_PKEY_CTX *vctx;
};

/* Scratch for checking many EC points; see av_key_from_json(). */
struct av_groups {
	const struct av_shared *sh;
	EC_POINT *pt[AV_NCURVES];
	BN_CTX *bn;
};

void av_groups_clear(struct av_groups *gc);

/*
 * The public key of a JWK object.  Reads kty, crv/x/y (EC P-256, P-384,
 * P-521) or n/e (RSA, 2048 to 16384 bits); refuses private members.
 * Returns OK, ANCHOR_VERIFY_E_NOMEM/E_INTERNAL, or 1 with a reason in
 * *why when the key is unusable.  The caller checks alg, use and kid.
 * Without gc an EC key gets an EVP_PKEY (for signature checks) and kid its
 * thumbprint; with gc an EC key's point is only checked, against the
 * shared groups, pkey stays NULL and kid empty: enough for bundle
 * authorities, and far cheaper.
 */
int av_key_from_json(const json_t *jwk, struct av_groups *gc,
    struct anchor_verify_key **out, const char **why);

/* The JWS alg of a key type: "ES256", "ES384", "ES512" or "RS256". */
const char *av_key_type_alg(enum av_key_type t);

/* Verify raw r||s over msg with an EC key (ES256/ES384): OK or R10. */
int av_sig_verify(const struct anchor_verify_key *k, const uint8_t *msg,
    size_t msglen, const uint8_t *sig, size_t siglen);

/* One piece of a message. */
struct av_part {
	const void *p;
	size_t len;
};

/* av_sig_verify() over the concatenation of msg[0..nmsg-1]. */
int av_sig_verify_parts(const struct anchor_verify_key *k,
    const struct av_part *msg, size_t nmsg, const uint8_t *sig, size_t siglen);

/* ---- verify.c --------------------------------------------------------- */

/*
 * An accepted F1 payload and what validating it gave.  Never changed after
 * it is made; shared, by reference count, between the result that
 * accepted it and the states derived from that result, which may be read
 * by several threads at once.  Validating F1 is a function of the payload
 * bytes alone, so a later envelope with the same payload text can reuse it
 * (see anchor_verify_signed_bundle()).
 */
struct av_accepted {
	size_t refs;			/* atomic */
	char *b64;			/* the payload member's text */
	size_t b64_len;
	uint8_t *payload;		/* its bytes */
	size_t payload_len;
	uint8_t sha256[32];		/* of payload */
	struct anchor_verify_bundle *bundle;
};

/* Take a reference (a may be NULL); returns a. */
struct av_accepted *av_accepted_ref(const struct av_accepted *a);
/* Drop a reference (a may be NULL). */
void av_accepted_unref(const struct av_accepted *a);

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
	uint8_t *raw;			/* the decoded protected header */
	size_t raw_len;
	json_t *header;			/* parsed, or NULL when f2_layout */
	int f2_layout;			/* raw is jose.c's F2 header layout */
	/* strings: not NUL-terminated; NULL when absent or not a string */
	const char *kid;
	size_t kid_len;
	const char *alg;
	size_t alg_len;
	const char *typ;
	size_t typ_len;
	/* header values, set by av_jws_check() (or with f2_layout) */
	const char *td;
	size_t td_len;
	int64_t number;			/* F2 spiffe_sequence, F3 signers_version */
	int64_t iat, exp;		/* F2 only */
	int counted;			/* verified and trusted by at least one set */
};

struct av_jws {
	json_t *env;			/* NULL: its layout was recognized */
	const char *payload_b64;	/* as received */
	size_t payload_b64_len;
	const uint8_t *payload;		/* payload_buf, or the memo's */
	size_t payload_len;
	uint8_t *payload_buf;		/* owned */
	json_t *payload_json;		/* NULL on a memo hit */
	const struct av_accepted *hit;	/* the memo, when its payload is this */
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
 * When memo (may be NULL) holds this very payload text, the payload is
 * neither decoded nor parsed again: j->hit is memo and j->payload points
 * into it.  buf and memo must outlive *j; free *j with av_jws_clear()
 * whatever the result.
 */
int av_jws_parse(const uint8_t *buf, size_t len, size_t max_bytes,
    const struct av_accepted *memo, unsigned flags, struct av_jws *j,
    struct anchor_verify_diag *d);

/*
 * av_jws_parse() flag: read every JSON text with jansson, even one with
 * the layout src/jose.c writes (for tests: both ways must agree).
 */
#define AV_JWS_GENERIC	1u

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
	size_t refs;			/* atomic; see av_signers_ref() */
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

/*
 * Another reference to s: a signer set never changes once made, so states
 * share it; anchor_verify_signers_free() drops one reference.
 */
struct anchor_verify_signers *av_signers_ref(
    const struct anchor_verify_signers *s);

/* ---- bundle.c --------------------------------------------------------- */

struct av_x509 {
	uint8_t *der;
	size_t len;
};

struct av_jwt {
	struct anchor_verify_key *key;	/* key->kid is empty */
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
	/*
	 * The last accepted payload, in memory only (never saved): NULL in a
	 * state made by anchor_verify_state_new() or _load().
	 */
	struct av_accepted *accepted;
};

#endif /* ANCHOR_VERIFY_INTERNAL_H */
