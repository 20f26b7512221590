#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "internal.h"

struct anchor_verify_result {
	struct av_accepted *accepted;	/* payload and bundle */
	uint64_t sequence;
	int64_t iat, exp;
	int refresh;
	size_t signatures;
};

struct av_accepted *
av_accepted_ref(const struct av_accepted *a)
{
	struct av_accepted *m = (struct av_accepted *)a;

	if (m != NULL)
		__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	return m;
}

void
av_accepted_unref(const struct av_accepted *a)
{
	struct av_accepted *m = (struct av_accepted *)a;

	if (m == NULL || __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(m->b64);
	free(m->payload);
	anchor_verify_bundle_free(m->bundle);
	free(m);
}

/*
 * A new accepted payload from j (its text, and its bytes, which move) and
 * the bundle b (which moves).
 */
static int
accepted_new(struct av_jws *j, struct anchor_verify_bundle **b,
    struct av_accepted **out)
{
	int r = ANCHOR_VERIFY_E_NOMEM;
	struct av_accepted *a = NULL;
	unsigned int shalen = 0;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		goto out;
	a->refs = 1;
	if ((a->b64 = malloc(j->payload_b64_len + 1)) == NULL)
		goto out;
	memcpy(a->b64, j->payload_b64, j->payload_b64_len);
	a->b64[j->payload_b64_len] = '\0';
	a->b64_len = j->payload_b64_len;
	if (!EVP_Digest(j->payload, j->payload_len, a->sha256, &shalen,
	    EVP_sha256(), NULL) || shalen != sizeof(a->sha256)) {
		r = ANCHOR_VERIFY_E_INTERNAL;
		goto out;
	}
	a->payload = j->payload_buf;
	a->payload_len = j->payload_len;
	j->payload_buf = NULL;
	a->bundle = *b;
	*b = NULL;
	*out = a;
	a = NULL;
	r = ANCHOR_VERIFY_OK;
 out:
	av_accepted_unref(a);
	return r;
}

void
anchor_verify_result_free(struct anchor_verify_result *r)
{
	if (r == NULL)
		return;
	av_accepted_unref(r->accepted);
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
	struct av_accepted *acc = NULL;
	const struct anchor_verify_bundle *bundle;
	struct av_keyset set;
	struct av_sig *first = NULL;
	struct av_jws j;
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
	/*
	 * R1 ... R4 and the JSON of headers and payload (R2).  A payload
	 * whose text is the last accepted one's (a refresh, or the same
	 * bundle again) is not decoded, parsed or validated again: all of
	 * that depends on its bytes only, and it passed.  Every rule that
	 * involves the envelope, the signatures, the time or the state still
	 * runs below.
	 */
	if ((r = av_jws_parse(jws, len, o.max_bytes, st->accepted, 0, &j,
	    diag)) !=
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
	if (j.hit != NULL)
		acc = av_accepted_ref(j.hit);
	else {
		if ((r = av_bundle_from_json(j.payload_json, &b, diag)) !=
		    ANCHOR_VERIFY_OK)
			goto out;
		if ((r = accepted_new(&j, &b, &acc)) != ANCHOR_VERIFY_OK)
			goto out;
	}
	bundle = acc->bundle;
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
	if (!bundle->has_sequence) {
		r = av_fail(diag, ANCHOR_VERIFY_R12_MISMATCH, "R12 sequence "
		    "mismatch: header spiffe_sequence %" PRId64 ", the payload "
		    "has none", first->number);
		goto out;
	}
	if (bundle->sequence != (uint64_t)first->number) {
		r = av_fail(diag, ANCHOR_VERIFY_R12_MISMATCH, "R12 sequence "
		    "mismatch: header spiffe_sequence %" PRId64 ", payload %"
		    PRIu64, first->number, bundle->sequence);
		goto out;
	}
	/* R13 */
	if ((r = check_time(first->iat, first->exp, now, o.max_validity,
	    diag)) != ANCHOR_VERIFY_OK)
		goto out;
	/* R14 */
	if ((r = check_sequence(st, bundle->sequence, acc->sha256, &refresh,
	    diag)) != ANCHOR_VERIFY_OK)
		goto out;

	if ((ns = calloc(1, sizeof(*ns))) == NULL ||
	    (res = calloc(1, sizeof(*res))) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	ns->signers = av_signers_ref(st->signers);
	ns->has_bundle = 1;
	ns->sequence = bundle->sequence;
	ns->iat = first->iat;
	memcpy(ns->sha256, acc->sha256, sizeof(ns->sha256));
	ns->accepted = av_accepted_ref(acc);
	res->sequence = bundle->sequence;
	res->iat = first->iat;
	res->exp = first->exp;
	res->refresh = refresh;
	for (i = 0; i < j.nsig; i++)
		res->signatures += j.sig[i].counted;
	res->accepted = acc;
	acc = NULL;
	*result = res;
	*new_state = ns;
	res = NULL;
	ns = NULL;
	r = ANCHOR_VERIFY_OK;
 out:
	anchor_verify_bundle_free(b);
	av_accepted_unref(acc);
	anchor_verify_result_free(res);
	anchor_verify_state_free(ns);
	av_jws_clear(&j);
	return r;
}

const uint8_t *
anchor_verify_result_payload(const struct anchor_verify_result *r, size_t *len)
{
	if (len != NULL)
		*len = r != NULL ? r->accepted->payload_len : 0;
	return r != NULL ? r->accepted->payload : NULL;
}

const struct anchor_verify_bundle *
anchor_verify_result_bundle(const struct anchor_verify_result *r)
{
	return r != NULL ? r->accepted->bundle : NULL;
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
