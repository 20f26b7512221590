#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "internal.h"

struct anchor_verify_result {
	uint8_t *payload;
	size_t payload_len;
	struct anchor_verify_bundle *bundle;
	uint64_t sequence;
	int64_t iat, exp;
	int refresh;
	size_t signatures;
};

void
anchor_verify_result_free(struct anchor_verify_result *r)
{
	if (r == NULL)
		return;
	free(r->payload);
	anchor_verify_bundle_free(r->bundle);
	free(r);
}

/* R13, with now read once by the caller.  No arithmetic can overflow. */
static int
check_time(int64_t iat, int64_t exp, int64_t now, int64_t max_validity,
    struct anchor_verify_diag *d)
{
	if (exp <= iat)
		return av_fail(d, ANCHOR_VERIFY_R13_TIME, "R13 time: exp %" PRId64
		    " is not after iat %" PRId64, exp, iat);
	if (iat > now && (uint64_t)iat - (uint64_t)now > ANCHOR_VERIFY_CLOCK_SKEW)
		return av_fail(d, ANCHOR_VERIFY_R13_TIME, "R13 not yet valid: "
		    "iat %" PRId64 " is more than %d s after now %" PRId64, iat,
		    ANCHOR_VERIFY_CLOCK_SKEW, now);
	if (now >= exp)
		return av_fail(d, ANCHOR_VERIFY_R13_TIME, "R13 expired: exp %"
		    PRId64 " is not after now %" PRId64, exp, now);
	if ((uint64_t)exp - (uint64_t)iat > (uint64_t)max_validity)
		return av_fail(d, ANCHOR_VERIFY_R13_TIME, "R13 validity too long: "
		    "exp - iat is %" PRIu64 " s, at most %" PRId64 " s",
		    (uint64_t)exp - (uint64_t)iat, max_validity);
	return ANCHOR_VERIFY_OK;
}

/* R14 against the stored sequence and hash and the signer set's min_sequence. */
static int
check_sequence(const struct anchor_verify_state *st, uint64_t seq,
    const uint8_t sha[32], int *refresh, struct anchor_verify_diag *d)
{
	*refresh = 0;
	if (st->has_bundle) {
		if (seq < st->sequence)
			return av_fail(d, ANCHOR_VERIFY_R14_ROLLBACK,
			    "R14 rollback: sequence %" PRIu64 " is not greater "
			    "than stored %" PRIu64, seq, st->sequence);
		if (seq == st->sequence) {
			if (memcmp(sha, st->sha256, 32) != 0)
				return av_fail(d, ANCHOR_VERIFY_R14_ROLLBACK,
				    "R14 equivocation: sequence %" PRIu64 " is "
				    "the stored one but the payload differs",
				    seq);
			*refresh = 1;
		}
	}
	if (seq < st->signers->min_sequence)
		return av_fail(d, ANCHOR_VERIFY_R14_ROLLBACK,
		    "R14 rollback: sequence %" PRIu64 " is below min_sequence %"
		    PRIu64 " of signer set version %" PRIu64, seq,
		    st->signers->min_sequence, st->signers->version);
	return ANCHOR_VERIFY_OK;
}

int
anchor_verify_signed_bundle(const struct anchor_verify_state *st,
    const uint8_t *jws, size_t len, int64_t now,
    const struct anchor_verify_options *opt,
    struct anchor_verify_result **result, struct anchor_verify_state **new_state,
    struct anchor_verify_diag *diag)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	struct anchor_verify_options o;
	struct anchor_verify_result *res = NULL;
	struct anchor_verify_state *ns = NULL;
	struct anchor_verify_bundle *b = NULL;
	struct av_keyset set;
	struct av_sig *first = NULL;
	struct av_jws j;
	uint8_t sha[32];
	unsigned int shalen = 0;
	size_t i;
	int refresh = 0;

	memset(&j, 0, sizeof(j));
	av_diag_clear(diag);
	if (result == NULL || new_state == NULL)
		return ANCHOR_VERIFY_E_INVAL;
	*result = NULL;
	*new_state = NULL;
	if (st == NULL || jws == NULL ||
	    av_options(opt, 1, &o) != ANCHOR_VERIFY_OK ||
	    strcmp(o.trust_domain, st->signers->trust_domain) != 0) {
		r = ANCHOR_VERIFY_E_INVAL;
		goto out;
	}
	/* R1 ... R4 and the JSON of headers and payload (R2) */
	if ((r = av_jws_parse(jws, len, o.max_bytes, &j, diag)) !=
	    ANCHOR_VERIFY_OK)
		goto out;
	/* R5 ... R10 */
	set.keys = st->signers->keys;
	set.n = st->signers->nkeys;
	set.threshold = st->signers->threshold;
	if ((r = av_jws_check(&j, AV_F2, &set, 1, &first, diag)) !=
	    ANCHOR_VERIFY_OK)
		goto out;
	/* F1 */
	if ((r = av_bundle_from_json(j.payload_json, &b, diag)) !=
	    ANCHOR_VERIFY_OK)
		goto out;
	/* R11 */
	if ((r = av_jws_agree(&j, first, diag)) != ANCHOR_VERIFY_OK)
		goto out;
	/* R12 */
	if (first->td_len != strlen(o.trust_domain) ||
	    memcmp(first->td, o.trust_domain, first->td_len) != 0) {
		char buf[101];

		for (i = 0; i < first->td_len && i < 100; i++)
			buf[i] = first->td[i] >= 0x20 && first->td[i] < 0x7f ?
			    first->td[i] : '?';
		buf[i] = '\0';
		r = av_fail(diag, ANCHOR_VERIFY_R12_MISMATCH, "R12 wrong trust "
		    "domain: \"%s\", expected %s", buf, o.trust_domain);
		goto out;
	}
	if (!b->has_sequence) {
		r = av_fail(diag, ANCHOR_VERIFY_R12_MISMATCH, "R12 sequence "
		    "mismatch: header spiffe_sequence %" PRId64 ", the payload "
		    "has none", first->number);
		goto out;
	}
	if (b->sequence != (uint64_t)first->number) {
		r = av_fail(diag, ANCHOR_VERIFY_R12_MISMATCH, "R12 sequence "
		    "mismatch: header spiffe_sequence %" PRId64 ", payload %"
		    PRIu64, first->number, b->sequence);
		goto out;
	}
	/* R13 */
	if ((r = check_time(first->iat, first->exp, now, o.max_validity,
	    diag)) != ANCHOR_VERIFY_OK)
		goto out;
	/* R14 */
	if (!EVP_Digest(j.payload, j.payload_len, sha, &shalen, EVP_sha256(),
	    NULL) || shalen != sizeof(sha)) {
		r = ANCHOR_VERIFY_E_INTERNAL;
		goto out;
	}
	if ((r = check_sequence(st, b->sequence, sha, &refresh, diag)) !=
	    ANCHOR_VERIFY_OK)
		goto out;

	if ((ns = calloc(1, sizeof(*ns))) == NULL ||
	    (res = calloc(1, sizeof(*res))) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	if ((r = av_signers_dup(st->signers, &ns->signers)) != ANCHOR_VERIFY_OK)
		goto out;
	ns->has_bundle = 1;
	ns->sequence = b->sequence;
	ns->iat = first->iat;
	memcpy(ns->sha256, sha, sizeof(sha));
	res->payload = j.payload;
	res->payload_len = j.payload_len;
	j.payload = NULL;
	res->sequence = b->sequence;
	res->iat = first->iat;
	res->exp = first->exp;
	res->refresh = refresh;
	for (i = 0; i < j.nsig; i++)
		res->signatures += j.sig[i].counted;
	res->bundle = b;
	b = NULL;
	*result = res;
	*new_state = ns;
	res = NULL;
	ns = NULL;
	r = ANCHOR_VERIFY_OK;
 out:
	anchor_verify_bundle_free(b);
	anchor_verify_result_free(res);
	anchor_verify_state_free(ns);
	av_jws_clear(&j);
	return r;
}

const uint8_t *
anchor_verify_result_payload(const struct anchor_verify_result *r, size_t *len)
{
	if (len != NULL)
		*len = r != NULL ? r->payload_len : 0;
	return r != NULL ? r->payload : NULL;
}

const struct anchor_verify_bundle *
anchor_verify_result_bundle(const struct anchor_verify_result *r)
{
	return r != NULL ? r->bundle : NULL;
}

uint64_t
anchor_verify_result_sequence(const struct anchor_verify_result *r)
{
	return r != NULL ? r->sequence : 0;
}

int64_t
anchor_verify_result_iat(const struct anchor_verify_result *r)
{
	return r != NULL ? r->iat : 0;
}

int64_t
anchor_verify_result_exp(const struct anchor_verify_result *r)
{
	return r != NULL ? r->exp : 0;
}

int
anchor_verify_result_is_refresh(const struct anchor_verify_result *r)
{
	return r != NULL && r->refresh;
}

size_t
anchor_verify_result_signature_count(const struct anchor_verify_result *r)
{
	return r != NULL ? r->signatures : 0;
}
