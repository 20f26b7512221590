/*
 * The ceremony transcript: a hash-chained list of steps sealed by a
 * signature of the new bundle-signing key.
 *
 * File format (JSON):
 *   {"format":"anchor-ceremony-transcript/1","trust_domain":TD,
 *    "entries":[{"n":1,"ts":T,"step":S,"detail":{...},
 *                "prev":HEX,"hash":HEX}, ...],
 *    "seal":{"kid":K,"alg":"ES256","jwk":{...},"signature":B64URL,
 *            "signers_payload":B64URL,"fingerprint":FP}}
 * hash(n) = SHA-256(hash(n-1) || canonical JSON of {n,ts,step,detail})
 * (compact, sorted keys; hash(0) is 32 zero bytes).  The seal signs the
 * last hash; its key must be in the signer set whose payload is embedded,
 * and the fingerprint is that payload's SHA-256, the one read aloud.
 */
#ifndef ANCHOR_TRANSCRIPT_H
#define ANCHOR_TRANSCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct anchor_transcript;

int anchor_transcript_new(const char *trust_domain, struct anchor_transcript **out);
void anchor_transcript_free(struct anchor_transcript *t);	/* accepts NULL */

/* Append a step; detail (may be NULL) is stolen. */
int anchor_transcript_add(struct anchor_transcript *t, int64_t ts,
    const char *step, json_t *detail);

/* The hash of the last entry, which the seal signs. */
void anchor_transcript_head(const struct anchor_transcript *t, uint8_t hash[32]);

/* Seal with a signature (raw r||s) by the key kid/alg/jwk (JSON text). */
int anchor_transcript_seal(struct anchor_transcript *t, const char *kid,
    const char *alg, const char *jwk, const uint8_t *sig, size_t siglen,
    const uint8_t *signers_payload, size_t payload_len);

/* Write atomically, mode 0644 (a transcript holds no secret). */
int anchor_transcript_write(const struct anchor_transcript *t, const char *path);

/*
 * Verify a transcript file's bytes: chain, seal signature, seal key in the
 * embedded signer set, fingerprint.  With expect_fp non-NULL the
 * fingerprint must equal it (spaces and case ignored).  On failure err names
 * the first bad entry or field.  fp receives the fingerprint.
 */
int anchor_transcript_verify(const uint8_t *buf, size_t len,
    const char *expect_fp, char fp[80], char *err, size_t errlen);

#endif /* ANCHOR_TRANSCRIPT_H */
