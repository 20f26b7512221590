/*
 * libanchor-verify: verify a SPIFFE trust domain's signed bundles against a
 * pinned signer set.
 *
 * Formats (anchor DESIGN.md §2):
 *   F1  SPIFFE bundle: a JWK Set with spiffe_sequence and spiffe_refresh_hint
 *   F2  signed bundle: JWS General JSON Serialization of F1, typ
 *       "spiffe-bundle+jws", rules R1 to R14
 *   F3  signer set: the relying party's root of trust, rotated like TUF root
 *       metadata (version N+1 is signed by a threshold of N and of itself)
 *   F4  verifier state: trust domain, current signer set, last sequence,
 *       last payload SHA-256, last iat
 *
 * The verifier is a pure function from (state, bytes, now, options) to
 * (result, new state).  It never reads the clock, the disk or the
 * environment, never logs, and keeps no global state but read-only
 * objects made once, on first use, for every thread (EC groups, digest
 * implementations, an OpenSSL library context without providers): every
 * function is thread-safe as long as one object is not written by two
 * threads at once.  Objects passed as const may be shared between threads.
 *
 * Return values: ANCHOR_VERIFY_OK (0), a positive code naming the rule that
 * failed (enum anchor_verify_code), or a negative ANCHOR_VERIFY_E_* code for
 * a caller mistake or a resource failure.  When a function fails, its output
 * pointers are set to NULL.  Functions taking a struct anchor_verify_diag *
 * accept NULL there; otherwise they write a one-line message naming the rule
 * ("R14 rollback: sequence 3 is not greater than stored 5").
 *
 * Ownership: every object handed out through a pointer-to-pointer belongs to
 * the caller and is freed with the _free() function named next to it; every
 * _free() accepts NULL.  Pointers returned by accessors point into the object
 * they were read from and live as long as it does.
 *
 * JSON is parsed with jansson: duplicate members are refused everywhere (R2),
 * nesting deeper than 64 levels, invalid UTF-8 and numbers that are not
 * integers where an integer is required are malformed.  jansson keeps
 * integers in int64_t: a number above INT64_MAX (9223372036854775807) is
 * refused as malformed, so sequence numbers, versions and times are at most
 * INT64_MAX even where the formats say uint64.  An envelope, or an F2
 * protected header, laid out exactly as anchor writes it (no whitespace,
 * its member order, strings without escapes) is read without jansson, with
 * the same outcome.
 */
#ifndef ANCHOR_VERIFY_H
#define ANCHOR_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Results.  Each positive code names one rule; see anchor_verify_strerror(). */
enum anchor_verify_code {
	ANCHOR_VERIFY_OK = 0,
	ANCHOR_VERIFY_R1_SIZE = 1,		/* input larger than max_bytes */
	ANCHOR_VERIFY_R2_DUPLICATE = 2,		/* duplicate JSON member */
	ANCHOR_VERIFY_R3_ENVELOPE = 3,		/* not {payload, signatures[1..8]} */
	ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS = 4,	/* not {protected, signature} */
	ANCHOR_VERIFY_R5_ALG = 5,		/* alg not the pinned key's */
	ANCHOR_VERIFY_R6_UNTRUSTED = 6,		/* no signature by a trusted kid */
	ANCHOR_VERIFY_R7_TYP = 7,		/* wrong typ */
	ANCHOR_VERIFY_R8_HEADER = 8,		/* wrong crit or header members */
	ANCHOR_VERIFY_R9_KID = 9,		/* repeated kid, or threshold not met */
	ANCHOR_VERIFY_R10_SIGNATURE = 10,	/* a trusted signature does not verify */
	ANCHOR_VERIFY_R11_DISAGREE = 11,	/* counted signatures disagree */
	ANCHOR_VERIFY_R12_MISMATCH = 12,	/* trust domain or sequence mismatch */
	ANCHOR_VERIFY_R13_TIME = 13,		/* not yet valid, expired, too long */
	ANCHOR_VERIFY_R14_ROLLBACK = 14,	/* rollback, equivocation, min_sequence */
	ANCHOR_VERIFY_MALFORMED = 20,		/* bad JSON, UTF-8, nesting, types, base64url */
	ANCHOR_VERIFY_F1_BUNDLE = 21,		/* payload is not a valid SPIFFE bundle */
	ANCHOR_VERIFY_F3_SIGNERS = 22,		/* signer set invalid or chain step refused */
	ANCHOR_VERIFY_F4_STATE = 23,		/* state corrupt or for another trust domain */

	ANCHOR_VERIFY_E_INVAL = -1,		/* caller mistake: bad argument */
	ANCHOR_VERIFY_E_NOMEM = -2,
	ANCHOR_VERIFY_E_INTERNAL = -3,		/* unexpected OpenSSL or jansson failure */
};

/*
 * The rule behind a code, as static text: its label ("R14") and what it
 * demands.  Unknown codes give "unknown error".
 */
const char *anchor_verify_strerror(int code);

/* Just the label: "R1" ... "R14", "JSON", "F1", "F3", "F4", "error". */
const char *anchor_verify_rule(int code);

/*
 * The anchor-verify exit status for a code: 0 accepted; 2 usage, I/O,
 * state (F4) and E_* codes; 3 malformed (R1-R4, R8, JSON, F1); 4 not
 * trusted (R5, R6, R9, R10); 5 rollback or equivocation (R14); 6 time
 * (R13); 7 wrong domain, type or mismatch (R7, R11, R12); 8 signer-set
 * chain failure (F3).
 */
int anchor_verify_exit_class(int code);

#define ANCHOR_VERIFY_DEFAULT_MAX_BYTES		(1024 * 1024)
#define ANCHOR_VERIFY_DEFAULT_MAX_VALIDITY	(30 * 86400)	/* seconds */
#define ANCHOR_VERIFY_CLOCK_SKEW		300		/* R13: iat <= now + 300 */
#define ANCHOR_VERIFY_MAX_DEPTH			64		/* JSON nesting */
#define ANCHOR_VERIFY_MAX_SIGNATURES		8		/* R3 */
#define ANCHOR_VERIFY_MAX_CHAIN			256		/* F3 steps per update */
#define ANCHOR_VERIFY_KID_LEN			43		/* RFC 7638 SHA-256, base64url */

/*
 * Options.  trust_domain is the expected trust domain name (required
 * wherever a function takes options, except anchor_verify_bundle_parse());
 * it must be a valid SPIFFE trust domain name.  A zero max_bytes or
 * max_validity means the default.  The struct is read, never kept.
 */
struct anchor_verify_options {
	const char *trust_domain;
	size_t max_bytes;		/* R1, every input */
	int64_t max_validity;		/* R13: exp - iat, seconds */
};

/* A failure's explanation, filled by the function that fails. */
struct anchor_verify_diag {
	char text[256];			/* "R9 threshold: 1 of 2 trusted signatures verified" */
	size_t item;			/* chain steps: index of the input that failed, else SIZE_MAX */
};

/* One input buffer (a chain step). */
struct anchor_verify_buf {
	const uint8_t *data;
	size_t len;
};

/* ---- Signer sets (F3) ------------------------------------------------ */

struct anchor_verify_signers;

/*
 * Pin a signer set: f3 is an F3 envelope (any version) whose payload names
 * opt->trust_domain and that verifies with a threshold of its own keys.  On
 * success *out is set; free it with anchor_verify_signers_free().  Every
 * failure is ANCHOR_VERIFY_F3_SIGNERS (or an E_* code); the diag names the
 * inner rule.
 */
int anchor_verify_signers_pin(const struct anchor_verify_options *opt,
    const uint8_t *f3, size_t len, struct anchor_verify_signers **out,
    struct anchor_verify_diag *diag);

/*
 * Follow the chain from cur with up to ANCHOR_VERIFY_MAX_CHAIN F3
 * envelopes given in any order.  They are applied in ascending version
 * order; versions at or below the current one are ignored (two different
 * envelopes claiming one version are refused); each applied version must
 * be exactly current + 1 and verify with a threshold of the current set's
 * keys and a threshold of its own.  *out is the last set reached (when
 * nothing applies, cur itself under a new reference: a signer set never
 * changes once made); free it with anchor_verify_signers_free().
 * Failures are ANCHOR_VERIFY_F3_SIGNERS; diag->item is the failing input.
 */
int anchor_verify_signers_chain(const struct anchor_verify_signers *cur,
    const struct anchor_verify_buf *steps, size_t n,
    const struct anchor_verify_options *opt,
    struct anchor_verify_signers **out, struct anchor_verify_diag *diag);

void anchor_verify_signers_free(struct anchor_verify_signers *s);

const char *anchor_verify_signers_trust_domain(const struct anchor_verify_signers *s);
uint64_t anchor_verify_signers_version(const struct anchor_verify_signers *s);
unsigned anchor_verify_signers_threshold(const struct anchor_verify_signers *s);
uint64_t anchor_verify_signers_min_sequence(const struct anchor_verify_signers *s);
size_t anchor_verify_signers_key_count(const struct anchor_verify_signers *s);
/* The kid (RFC 7638 thumbprint) and alg ("ES256"/"ES384") of key i; NULL past the end. */
const char *anchor_verify_signers_kid(const struct anchor_verify_signers *s, size_t i);
const char *anchor_verify_signers_alg(const struct anchor_verify_signers *s, size_t i);
/* The payload bytes, exactly as signed. */
const uint8_t *anchor_verify_signers_payload(const struct anchor_verify_signers *s,
    size_t *len);
/* Lowercase hex SHA-256 of the payload: the fingerprint read aloud. */
void anchor_verify_signers_fingerprint(const struct anchor_verify_signers *s,
    char out[65]);

/* ---- State (F4) ------------------------------------------------------ */

struct anchor_verify_state;

/*
 * A fresh state rooted at a pinned signer set, with no bundle yet (any
 * sequence >= the set's min_sequence is accepted).  The state keeps its own
 * reference to pinned (signer sets never change), so the caller still
 * frees pinned.  Free *out with anchor_verify_state_free().
 */
int anchor_verify_state_new(const struct anchor_verify_signers *pinned,
    struct anchor_verify_state **out);

/*
 * Read a state saved by anchor_verify_state_save().  A corrupt state, or
 * one for another trust domain than opt->trust_domain, is
 * ANCHOR_VERIFY_F4_STATE.  Free *out with anchor_verify_state_free().
 */
int anchor_verify_state_load(const struct anchor_verify_options *opt,
    const uint8_t *json, size_t len, struct anchor_verify_state **out,
    struct anchor_verify_diag *diag);

/*
 * Serialize st: compact JSON, fixed member order, a final newline.  *out
 * is malloc'd and NUL-terminated (not counted in *len); free() it.  Write
 * it atomically (temporary file, fsync, rename) only once a bundle was
 * accepted.
 */
int anchor_verify_state_save(const struct anchor_verify_state *st, char **out,
    size_t *len);

/*
 * Apply chain steps (see anchor_verify_signers_chain()) to st's signer set.
 * When the version moves, the new state forgets the stored sequence,
 * payload hash and iat (and the accepted payload kept in memory): the next
 * bundle needs only sequence >= the new set's min_sequence.  *out is a new
 * state (a copy of st when nothing applies); st is not changed.  Free
 * *out with anchor_verify_state_free().
 */
int anchor_verify_state_update_signers(const struct anchor_verify_state *st,
    const struct anchor_verify_buf *steps, size_t n,
    const struct anchor_verify_options *opt, struct anchor_verify_state **out,
    struct anchor_verify_diag *diag);

void anchor_verify_state_free(struct anchor_verify_state *st);

const struct anchor_verify_signers *anchor_verify_state_signers(
    const struct anchor_verify_state *st);
const char *anchor_verify_state_trust_domain(const struct anchor_verify_state *st);
/* 1 when a bundle was accepted under the current signer set, else 0. */
int anchor_verify_state_has_bundle(const struct anchor_verify_state *st);
uint64_t anchor_verify_state_sequence(const struct anchor_verify_state *st);
int64_t anchor_verify_state_iat(const struct anchor_verify_state *st);
/* 32 bytes, or NULL without a bundle. */
const uint8_t *anchor_verify_state_payload_sha256(const struct anchor_verify_state *st);

/* ---- Bundles (F1) ---------------------------------------------------- */

struct anchor_verify_bundle;

/*
 * Parse a SPIFFE bundle as the SPIFFE Trust Domain and Bundle spec says:
 * `keys` must be an array of objects; an entry with an unknown or missing
 * kty or use is skipped; an x509-svid entry gives the first x5c
 * certificate (DER, the JWK key members must match it); a jwt-svid entry
 * needs a kid; an entry of a known kty and use whose key is unusable
 * (point not on the curve, wrong length or curve, alg not matching, private
 * members, bad certificate) is dropped as the spec's "does not pass
 * validation" and counted; an empty keys array is a valid bundle in which
 * every key is revoked.  Two jwt-svid entries with one kid refuse the
 * bundle.  spiffe_sequence and spiffe_refresh_hint are optional
 * non-negative JSON integers (no sign, fraction or exponent); unknown
 * members are ignored.  opt may be NULL (only max_bytes is read).  Failures
 * are R1, R2, MALFORMED or F1_BUNDLE.  Free *out with
 * anchor_verify_bundle_free().
 */
int anchor_verify_bundle_parse(const uint8_t *json, size_t len,
    const struct anchor_verify_options *opt, struct anchor_verify_bundle **out,
    struct anchor_verify_diag *diag);

void anchor_verify_bundle_free(struct anchor_verify_bundle *b);

/* 1 when present; the value is then stored through the pointer. */
int anchor_verify_bundle_sequence(const struct anchor_verify_bundle *b,
    uint64_t *sequence);
int anchor_verify_bundle_refresh_hint(const struct anchor_verify_bundle *b,
    int64_t *seconds);

size_t anchor_verify_bundle_x509_count(const struct anchor_verify_bundle *b);
/* The DER CA certificate of x509-svid authority i; NULL past the end. */
const uint8_t *anchor_verify_bundle_x509_der(const struct anchor_verify_bundle *b,
    size_t i, size_t *len);

size_t anchor_verify_bundle_jwt_count(const struct anchor_verify_bundle *b);
const char *anchor_verify_bundle_jwt_kid(const struct anchor_verify_bundle *b,
    size_t i);
/* The public JWK, compact: {"kty","use","kid","crv","x","y"} or {"kty","use","kid","n","e"}. */
const char *anchor_verify_bundle_jwt_jwk(const struct anchor_verify_bundle *b,
    size_t i);
/* Its DER SubjectPublicKeyInfo (for d2i_PUBKEY). */
const uint8_t *anchor_verify_bundle_jwt_spki(const struct anchor_verify_bundle *b,
    size_t i, size_t *len);

/* Entries skipped for an unknown kty or use, and entries dropped as unusable. */
size_t anchor_verify_bundle_skipped_count(const struct anchor_verify_bundle *b);
size_t anchor_verify_bundle_invalid_count(const struct anchor_verify_bundle *b);

/* ---- Signed bundles (F2) --------------------------------------------- */

struct anchor_verify_result;

/*
 * Verify an F2 envelope against st, at time now (UNIX seconds, read once
 * by the caller).  Checks run R1 ... R10, then the payload's F1 validity,
 * then R11 ... R14; the first failure is returned.  Every signature is
 * checked against R4, R5, R7, R8 and R9; a signature whose kid is not in
 * the signer set is ignored; every trusted signature is verified and a
 * trusted one that fails R5 or R10 refuses the envelope.  R13: iat <= now
 * + 300, now < exp, iat < exp, exp - iat <= max_validity.  R14: sequence
 * above the stored one, or equal with a byte-identical payload (a refresh;
 * iat is not compared), and at least the signer set's min_sequence.
 *
 * On success *result (free with anchor_verify_result_free()) holds the
 * verified F1 bytes and the parsed bundle, and *new_state (free with
 * anchor_verify_state_free()) is st advanced to this bundle; persist it.
 * st itself is not changed.  opt->trust_domain must be st's.
 *
 * A state returned here also keeps, in memory only, the payload it
 * accepted and what validating it gave (shared with the result; it is not
 * saved).  When an envelope verified against such a state, or against one
 * derived from it, carries that very payload text (a refresh, or the same
 * bundle again), the payload is not decoded, parsed or validated again:
 * those steps depend on its bytes alone.  Every rule that involves the
 * envelope, a header, a signature, the time or the state still runs, and
 * the outcome is the one a state without that memory would give.  States
 * from anchor_verify_state_new() and anchor_verify_state_load() start
 * without it.
 */
int anchor_verify_signed_bundle(const struct anchor_verify_state *st,
    const uint8_t *jws, size_t len, int64_t now,
    const struct anchor_verify_options *opt,
    struct anchor_verify_result **result, struct anchor_verify_state **new_state,
    struct anchor_verify_diag *diag);

void anchor_verify_result_free(struct anchor_verify_result *r);

/* The verified F1 bytes (the JWS payload), exactly as signed. */
const uint8_t *anchor_verify_result_payload(const struct anchor_verify_result *r,
    size_t *len);
const struct anchor_verify_bundle *anchor_verify_result_bundle(
    const struct anchor_verify_result *r);
uint64_t anchor_verify_result_sequence(const struct anchor_verify_result *r);
int64_t anchor_verify_result_iat(const struct anchor_verify_result *r);
int64_t anchor_verify_result_exp(const struct anchor_verify_result *r);
/* 1 when this was a refresh of the stored bundle (same sequence and bytes). */
int anchor_verify_result_is_refresh(const struct anchor_verify_result *r);
/* How many distinct trusted signatures verified. */
size_t anchor_verify_result_signature_count(const struct anchor_verify_result *r);

/* ---- Keys and signatures -------------------------------------------- */

struct anchor_verify_key;

/*
 * A public JWK usable for JWS verification: kty "EC" with crv "P-256" or
 * "P-384", x and y of the curve's exact length and a point on the curve;
 * alg, when present, must match the curve; use, when present, must be
 * "sig"; key_ops, when present, must contain "verify"; private members
 * (d) are refused; kid is optional and any other member is ignored.
 * Failures are MALFORMED (not JSON or wrong types) or F1_BUNDLE (not a
 * usable key).  Free *out with anchor_verify_key_free().
 */
int anchor_verify_key_from_jwk(const uint8_t *json, size_t len,
    struct anchor_verify_key **out, struct anchor_verify_diag *diag);

void anchor_verify_key_free(struct anchor_verify_key *k);

/* "ES256" or "ES384". */
const char *anchor_verify_key_alg(const struct anchor_verify_key *k);

/* The key's RFC 7638 SHA-256 thumbprint, base64url, NUL-terminated. */
void anchor_verify_key_thumbprint(const struct anchor_verify_key *k,
    char out[ANCHOR_VERIFY_KID_LEN + 1]);

/*
 * The JWS signature check: alg must be the key's alg (else
 * ANCHOR_VERIFY_R5_ALG); sig must be raw r||s of exactly 64 (ES256) or 96
 * (ES384) bytes with r and s in [1, n-1] and verify over the SHA-256 /
 * SHA-384 digest of msg (else ANCHOR_VERIFY_R10_SIGNATURE).
 */
int anchor_verify_signature(const struct anchor_verify_key *k, const char *alg,
    const uint8_t *msg, size_t msglen, const uint8_t *sig, size_t siglen);

#ifdef __cplusplus
}
#endif

#endif /* ANCHOR_VERIFY_H */
