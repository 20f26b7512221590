#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const envelope_members[] = { "payload", "signatures" };
static const char *const signature_members[] = { "protected", "signature" };

static const char *const f2_header[] = {
	"alg", "kid", "typ", "crit", "spiffe_trust_domain", "spiffe_sequence",
	"iat", "exp",
};
static const char *const f2_crit[] = {
	"spiffe_trust_domain", "spiffe_sequence", "iat", "exp",
};
static const char *const f3_header[] = {
	"alg", "kid", "typ", "crit", "spiffe_trust_domain", "signers_version",
};
static const char *const f3_crit[] = { "spiffe_trust_domain", "signers_version" };

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

void
av_jws_clear(struct av_jws *j)
{
	size_t i;

	for (i = 0; i < j->nsig; i++) {
		json_decref(j->sig[i].header);
		free(j->sig[i].sig);
	}
	free(j->payload);
	json_decref(j->payload_json);
	json_decref(j->env);
	memset(j, 0, sizeof(*j));
}

/* An untrusted string for a message: at most 100 bytes, printable ASCII. */
static const char *
safe(const char *s, size_t len, char buf[101])
{
	size_t i, n = len < 100 ? len : 100;

	if (s == NULL)
		return "(none)";
	for (i = 0; i < n; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[n] = '\0';
	return buf;
}

int
av_jws_parse(const uint8_t *buf, size_t len, size_t max_bytes,
    struct av_jws *j, struct anchor_verify_diag *d)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	json_t *sigs, *e;
	size_t i, n;
	char what[32];

	memset(j, 0, sizeof(*j));
	if (buf == NULL)
		return ANCHOR_VERIFY_E_INVAL;
	/* R1 */
	if (len > max_bytes)
		return av_fail(d, ANCHOR_VERIFY_R1_SIZE,
		    "R1 size: %zu bytes is more than the cap of %zu", len,
		    max_bytes);
	/* R2 (envelope) */
	if ((r = av_json_parse(buf, len, "envelope", &j->env, d)) !=
	    ANCHOR_VERIFY_OK)
		return r;
	/* R3 */
	if (!av_members_exact(j->env, envelope_members, NELEM(envelope_members)))
		return av_fail(d, ANCHOR_VERIFY_R3_ENVELOPE,
		    "R3 envelope: the top level is not exactly {payload, "
		    "signatures} (compact and flattened forms are refused)");
	j->payload_b64 = av_str(json_object_get(j->env, "payload"),
	    &j->payload_b64_len);
	if (j->payload_b64 == NULL)
		return av_fail(d, ANCHOR_VERIFY_R3_ENVELOPE,
		    "R3 envelope: payload is not a string");
	sigs = json_object_get(j->env, "signatures");
	if (!json_is_array(sigs) || (n = json_array_size(sigs)) < 1 ||
	    n > ANCHOR_VERIFY_MAX_SIGNATURES)
		return av_fail(d, ANCHOR_VERIFY_R3_ENVELOPE,
		    "R3 envelope: signatures is not an array of 1 to %d",
		    ANCHOR_VERIFY_MAX_SIGNATURES);
	/* R4 */
	for (i = 0; i < n; i++) {
		struct av_sig *s = &j->sig[i];

		e = json_array_get(sigs, i);
		j->nsig = i + 1;
		if (!av_members_exact(e, signature_members,
		    NELEM(signature_members)))
			return av_fail(d, ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS,
			    "R4 signature %zu: not exactly {protected, "
			    "signature} (no unprotected header)", i);
		s->protected_b64 = av_str(json_object_get(e, "protected"),
		    &s->protected_len);
		s->signature_b64 = av_str(json_object_get(e, "signature"),
		    &s->signature_len);
		if (s->protected_b64 == NULL || s->signature_b64 == NULL)
			return av_fail(d, ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS,
			    "R4 signature %zu: protected or signature is not "
			    "a string", i);
		r = av_b64url_decode(s->signature_b64, s->signature_len,
		    &s->sig, &s->siglen);
		if (r == ANCHOR_VERIFY_MALFORMED)
			return av_fail(d, ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS,
			    "R4 signature %zu: signature is not unpadded "
			    "base64url", i);
		if (r != ANCHOR_VERIFY_OK)
			return r;
	}
	r = av_b64url_decode(j->payload_b64, j->payload_b64_len, &j->payload,
	    &j->payload_len);
	if (r == ANCHOR_VERIFY_MALFORMED)
		return av_fail(d, r, "malformed: payload is not unpadded "
		    "base64url");
	if (r != ANCHOR_VERIFY_OK)
		return r;
	/* R2 and JSON validity of every protected header, then the payload */
	for (i = 0; i < n; i++) {
		struct av_sig *s = &j->sig[i];
		uint8_t *raw = NULL;
		size_t rawlen;

		r = av_b64url_decode(s->protected_b64, s->protected_len, &raw,
		    &rawlen);
		if (r == ANCHOR_VERIFY_MALFORMED)
			return av_fail(d, r, "malformed: protected header %zu "
			    "is not unpadded base64url", i);
		if (r != ANCHOR_VERIFY_OK)
			return r;
		snprintf(what, sizeof(what), "protected header %zu", i);
		r = av_json_parse(raw, rawlen, what, &s->header, d);
		free(raw);
		if (r != ANCHOR_VERIFY_OK)
			return r;
		if (!json_is_object(s->header))
			return av_fail(d, ANCHOR_VERIFY_MALFORMED,
			    "malformed: protected header %zu is not a JSON "
			    "object", i);
		s->kid = av_str(json_object_get(s->header, "kid"), &s->kid_len);
		s->alg = av_str(json_object_get(s->header, "alg"), &s->alg_len);
	}
	return av_json_parse(j->payload, j->payload_len, "payload",
	    &j->payload_json, d);
}

static struct anchor_verify_key *
find_key(const struct av_keyset *set, const struct av_sig *s)
{
	size_t i;

	if (s->kid == NULL || s->kid_len != ANCHOR_VERIFY_KID_LEN)
		return NULL;
	for (i = 0; i < set->n; i++)
		if (memcmp(set->keys[i]->kid, s->kid, ANCHOR_VERIFY_KID_LEN) == 0)
			return set->keys[i];
	return NULL;
}

static int
check_crit(const json_t *crit, const char *const *want, size_t n)
{
	size_t i;

	if (!json_is_array(crit) || json_array_size(crit) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (!av_str_eq(json_array_get(crit, i), want[i]))
			return 0;
	return 1;
}

/* R8 plus the types of the header values. */
static int
check_header(struct av_sig *s, size_t i, enum av_kind kind,
    struct anchor_verify_diag *d)
{
	const json_t *h = s->header;

	if (kind == AV_F2) {
		if (!check_crit(json_object_get(h, "crit"), f2_crit,
		    NELEM(f2_crit)))
			return av_fail(d, ANCHOR_VERIFY_R8_HEADER,
			    "R8 header %zu: crit is not [\"spiffe_trust_domain\","
			    "\"spiffe_sequence\",\"iat\",\"exp\"]", i);
		if (!av_members_exact(h, f2_header, NELEM(f2_header)))
			return av_fail(d, ANCHOR_VERIFY_R8_HEADER,
			    "R8 header %zu: members are not exactly alg, kid, "
			    "typ, crit, spiffe_trust_domain, spiffe_sequence, "
			    "iat, exp", i);
	} else {
		if (!check_crit(json_object_get(h, "crit"), f3_crit,
		    NELEM(f3_crit)))
			return av_fail(d, ANCHOR_VERIFY_R8_HEADER,
			    "R8 header %zu: crit is not [\"spiffe_trust_domain\","
			    "\"signers_version\"]", i);
		if (!av_members_exact(h, f3_header, NELEM(f3_header)))
			return av_fail(d, ANCHOR_VERIFY_R8_HEADER,
			    "R8 header %zu: members are not exactly alg, kid, "
			    "typ, crit, spiffe_trust_domain, signers_version", i);
	}
	if (s->kid == NULL)
		return av_fail(d, ANCHOR_VERIFY_R8_HEADER,
		    "R8 header %zu: kid is not a string", i);
	s->td = av_str(json_object_get(h, "spiffe_trust_domain"), &s->td_len);
	if (s->td == NULL)
		return av_fail(d, ANCHOR_VERIFY_MALFORMED,
		    "malformed: header %zu: spiffe_trust_domain is not a string",
		    i);
	if (kind == AV_F2) {
		if (!av_int(json_object_get(h, "spiffe_sequence"), &s->number) ||
		    s->number < 0)
			return av_fail(d, ANCHOR_VERIFY_MALFORMED,
			    "malformed: header %zu: spiffe_sequence is not a "
			    "non-negative integer", i);
		if (!av_int(json_object_get(h, "iat"), &s->iat) ||
		    !av_int(json_object_get(h, "exp"), &s->exp))
			return av_fail(d, ANCHOR_VERIFY_MALFORMED,
			    "malformed: header %zu: iat or exp is not an integer",
			    i);
	} else {
		if (!av_int(json_object_get(h, "signers_version"), &s->number) ||
		    s->number < 1)
			return av_fail(d, ANCHOR_VERIFY_MALFORMED,
			    "malformed: header %zu: signers_version is not a "
			    "positive integer", i);
	}
	return ANCHOR_VERIFY_OK;
}

/* Digest input pieces: protected "." payload, exactly as received. */
static int
verify_one(const struct av_jws *j, const struct av_sig *s,
    const struct anchor_verify_key *k)
{
	int r = ANCHOR_VERIFY_E_NOMEM;
	uint8_t *msg;
	size_t len = s->protected_len + 1 + j->payload_b64_len;

	if ((msg = malloc(len)) == NULL)
		return r;
	memcpy(msg, s->protected_b64, s->protected_len);
	msg[s->protected_len] = '.';
	memcpy(msg + s->protected_len + 1, j->payload_b64, j->payload_b64_len);
	r = av_sig_verify(k, msg, len, s->sig, s->siglen);
	free(msg);
	return r;
}

int
av_jws_check(struct av_jws *j, enum av_kind kind, const struct av_keyset *sets,
    size_t nsets, struct av_sig **first, struct anchor_verify_diag *d)
{
	const char *typ = kind == AV_F2 ? "spiffe-bundle+jws" : "spiffe-signers+jws";
	char b1[101];
	size_t i, k, m;
	int r;

	*first = NULL;
	/* R5 */
	for (i = 0; i < j->nsig; i++) {
		struct av_sig *s = &j->sig[i];

		if (s->alg == NULL)
			return av_fail(d, ANCHOR_VERIFY_R5_ALG,
			    "R5 alg: header %zu has no alg string", i);
		if (!(s->alg_len == 5 && (memcmp(s->alg, "ES256", 5) == 0 ||
		    memcmp(s->alg, "ES384", 5) == 0)))
			return av_fail(d, ANCHOR_VERIFY_R5_ALG,
			    "R5 alg: header %zu has alg \"%s\"; only ES256 and "
			    "ES384 are accepted", i, safe(s->alg, s->alg_len, b1));
		for (k = 0; k < nsets; k++) {
			const struct anchor_verify_key *key = find_key(&sets[k], s);

			if (key != NULL && strcmp(key->alg, s->alg) != 0)
				return av_fail(d, ANCHOR_VERIFY_R5_ALG,
				    "R5 alg: header %zu has alg %s but the pinned "
				    "key %s is %s", i, safe(s->alg, s->alg_len, b1),
				    key->kid, key->alg);
		}
	}
	/* R7 */
	for (i = 0; i < j->nsig; i++) {
		const json_t *t = json_object_get(j->sig[i].header, "typ");
		size_t tl = 0;
		const char *ts = av_str(t, &tl);

		if (!av_str_eq(t, typ))
			return av_fail(d, ANCHOR_VERIFY_R7_TYP,
			    "R7 typ: header %zu has typ \"%s\", not \"%s\"", i,
			    safe(ts, tl, b1), typ);
	}
	/* R8 */
	for (i = 0; i < j->nsig; i++)
		if ((r = check_header(&j->sig[i], i, kind, d)) != ANCHOR_VERIFY_OK)
			return r;
	/* R9: a repeated kid, trusted or not */
	for (i = 0; i < j->nsig; i++)
		for (k = 0; k < i; k++)
			if (j->sig[i].kid_len == j->sig[k].kid_len &&
			    memcmp(j->sig[i].kid, j->sig[k].kid,
			    j->sig[i].kid_len) == 0)
				return av_fail(d, ANCHOR_VERIFY_R9_KID,
				    "R9 repeated kid: headers %zu and %zu both "
				    "have kid %s", k, i,
				    safe(j->sig[i].kid, j->sig[i].kid_len, b1));
	/* R10: every trusted signature */
	for (i = 0; i < j->nsig; i++) {
		struct av_sig *s = &j->sig[i];
		const struct anchor_verify_key *key = NULL;

		for (k = 0; k < nsets && key == NULL; k++)
			key = find_key(&sets[k], s);
		if (key == NULL)
			continue;	/* R6: not a trusted signer */
		r = verify_one(j, s, key);
		if (r == ANCHOR_VERIFY_R10_SIGNATURE) {
			size_t want = key->type == AV_KEY_P256 ? 64 : 96;

			if (s->siglen != want)
				return av_fail(d, r, "R10 signature: kid %s: "
				    "%zu bytes, %s needs raw r||s of %zu",
				    key->kid, s->siglen, key->alg, want);
			return av_fail(d, r, "R10 signature: kid %s does not "
			    "verify", key->kid);
		}
		if (r != ANCHOR_VERIFY_OK)
			return r;
		s->counted = 1;
		if (*first == NULL)
			*first = s;
	}
	/* R6 and R9: each set's threshold of distinct trusted kids */
	for (k = 0; k < nsets; k++) {
		size_t present = 0;

		for (i = 0, m = 0; i < j->nsig; i++) {
			if (find_key(&sets[k], &j->sig[i]) != NULL) {
				present++;
				m += j->sig[i].counted;
			}
		}
		if (present == 0)
			return av_fail(d, ANCHOR_VERIFY_R6_UNTRUSTED,
			    "R6 untrusted: no signature has a kid of the %s"
			    "signer set (threshold %" PRIu64 ")",
			    nsets > 1 ? (k == 0 ? "current " : "new ") : "",
			    sets[k].threshold);
		if (m < sets[k].threshold)
			return av_fail(d, ANCHOR_VERIFY_R9_KID,
			    "R9 threshold: %zu of %" PRIu64 " required trusted "
			    "signatures of the %ssigner set", m,
			    sets[k].threshold,
			    nsets > 1 ? (k == 0 ? "current " : "new ") : "");
	}
	return *first != NULL ? ANCHOR_VERIFY_OK : ANCHOR_VERIFY_E_INTERNAL;
}

int
av_jws_agree(const struct av_jws *j, const struct av_sig *first,
    struct anchor_verify_diag *d)
{
	size_t i;

	for (i = 0; i < j->nsig; i++) {
		const struct av_sig *s = &j->sig[i];

		if (!s->counted || s == first)
			continue;
		if (s->td_len != first->td_len ||
		    memcmp(s->td, first->td, s->td_len) != 0 ||
		    s->number != first->number || s->iat != first->iat ||
		    s->exp != first->exp)
			return av_fail(d, ANCHOR_VERIFY_R11_DISAGREE,
			    "R11 disagreement: counted headers %zu and %zu "
			    "differ in trust domain, sequence or version, iat "
			    "or exp", (size_t)(first - j->sig), i);
	}
	return ANCHOR_VERIFY_OK;
}
