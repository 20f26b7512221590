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
		free(j->sig[i].raw);
		free(j->sig[i].sig);
	}
	free(j->payload_buf);
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

/* The literal lit (n bytes) at b + *at: advance past it. */
static int
lit(const char *b, size_t len, size_t *at, const char *l, size_t n)
{
	if (len - *at < n || memcmp(b + *at, l, n) != 0)
		return 0;
	*at += n;
	return 1;
}

#define LIT(s) lit(b, len, &at, (s), sizeof(s) - 1)

/* A run of base64url characters at b + *at: its start and length. */
static const char *
run(const char *b, size_t len, size_t *at, size_t *n)
{
	const char *start = b + *at;

	*n = av_b64url_span(start, len - *at);
	*at += *n;
	return start;
}

/*
 * The envelope exactly as src/jose.c writes it, with nothing between the
 * tokens:
 *
 *   {"payload":"P","signatures":[{"protected":"H","signature":"S"},...]}
 *
 * with P, each H and each S made of base64url characters only, and 1 to 8
 * signatures.  Every text of this form is valid JSON, without duplicate
 * members or escapes, nested 3 deep, and meets R3 and the member rules of
 * R4: jansson would accept it and give the same strings, so it need not
 * read it (most of an envelope is the payload string, and jansson reads
 * strings byte by byte).  Returns 1 and fills j's string pointers (into b),
 * or 0 for any other text, which then goes through jansson.
 */
static int
layout(const char *b, size_t len, const struct av_accepted *memo,
    struct av_jws *j)
{
	size_t at = 0, n = 0;

	if (!LIT("{\"payload\":\""))
		return 0;
	/* the memo's text is base64url: no need to look at each character */
	if (memo != NULL && len - at > memo->b64_len &&
	    b[at + memo->b64_len] == '"' &&
	    memcmp(b + at, memo->b64, memo->b64_len) == 0) {
		j->payload_b64 = b + at;
		j->payload_b64_len = memo->b64_len;
		j->hit = memo;
		at += memo->b64_len;
	} else
		j->payload_b64 = run(b, len, &at, &j->payload_b64_len);
	if (!LIT("\",\"signatures\":["))
		return 0;
	do {
		struct av_sig *s = &j->sig[n];

		if (n == ANCHOR_VERIFY_MAX_SIGNATURES ||
		    !LIT("{\"protected\":\""))
			return 0;
		s->protected_b64 = run(b, len, &at, &s->protected_len);
		if (!LIT("\",\"signature\":\""))
			return 0;
		s->signature_b64 = run(b, len, &at, &s->signature_len);
		if (!LIT("\"}"))
			return 0;
		n++;
	} while (LIT(","));
	if (!LIT("]}") || at != len)
		return 0;
	j->nsig = n;
	return 1;
}

/* Characters a JSON string holds as they are: printable ASCII but " and \. */
static const char *
plain(const char *b, size_t len, size_t *at, size_t *n)
{
	const char *start = b + *at;

	while (*at < len && b[*at] >= 0x20 && b[*at] < 0x7f && b[*at] != '"' &&
	    b[*at] != '\\')
		(*at)++;
	*n = (size_t)(b + *at - start);
	return start;
}

/* 1 to 18 digits, no leading zero: a JSON integer jansson reads alike. */
static int
digits(const char *b, size_t len, size_t *at, int64_t *v)
{
	size_t i = *at;
	uint64_t x = 0;

	while (i < len && i - *at < 19 && b[i] >= '0' && b[i] <= '9')
		x = x * 10 + (uint64_t)(b[i++] - '0');
	if (i == *at || i - *at > 18 || (i - *at > 1 && b[*at] == '0'))
		return 0;
	*at = i;
	*v = (int64_t)x;	/* below 10^18 */
	return 1;
}

/*
 * A protected header exactly as src/jose.c writes it for F2:
 *
 *   {"alg":"A","kid":"K","typ":"T","crit":["spiffe_trust_domain",
 *    "spiffe_sequence","iat","exp"],"spiffe_trust_domain":"D",
 *    "spiffe_sequence":N,"iat":N,"exp":N}
 *
 * on one line, with A, K, T, D printable ASCII without " or \ and each N
 * 1 to 18 digits.  Every such text is a JSON object with exactly R8's
 * members and crit, no escapes and integer values that jansson would read
 * alike: the values are taken from it directly and jansson need not read
 * it.  Any other text (an F3 header among them) goes through jansson.
 */
static int
f2_header_layout(struct av_sig *s)
{
	const char *b = (const char *)s->raw;
	size_t len = s->raw_len, at = 0;

	if (!LIT("{\"alg\":\""))
		return 0;
	s->alg = plain(b, len, &at, &s->alg_len);
	if (!LIT("\",\"kid\":\""))
		return 0;
	s->kid = plain(b, len, &at, &s->kid_len);
	if (!LIT("\",\"typ\":\""))
		return 0;
	s->typ = plain(b, len, &at, &s->typ_len);
	if (!LIT("\",\"crit\":[\"spiffe_trust_domain\",\"spiffe_sequence\","
	    "\"iat\",\"exp\"],\"spiffe_trust_domain\":\""))
		return 0;
	s->td = plain(b, len, &at, &s->td_len);
	if (!LIT("\",\"spiffe_sequence\":") ||
	    !digits(b, len, &at, &s->number) ||
	    !LIT(",\"iat\":") || !digits(b, len, &at, &s->iat) ||
	    !LIT(",\"exp\":") || !digits(b, len, &at, &s->exp) ||
	    !LIT("}") || at != len)
		return 0;
	return 1;
}

#undef LIT

/* R4: the signature value is base64url. */
static int
decode_sig(struct av_jws *j, size_t i, struct anchor_verify_diag *d)
{
	struct av_sig *s = &j->sig[i];
	int r;

	r = av_b64url_decode(s->signature_b64, s->signature_len, &s->sig,
	    &s->siglen);
	if (r == ANCHOR_VERIFY_MALFORMED)
		return av_fail(d, ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS,
		    "R4 signature %zu: signature is not unpadded base64url", i);
	return r;
}

/* R2 to R4 through jansson: fills j's string pointers (into j->env). */
static int
parse_envelope(const uint8_t *buf, size_t len, struct av_jws *j,
    struct anchor_verify_diag *d)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	json_t *sigs, *e;
	size_t i, n;

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
		if ((r = decode_sig(j, i, d)) != ANCHOR_VERIFY_OK)
			return r;
	}
	return ANCHOR_VERIFY_OK;
}

int
av_jws_parse(const uint8_t *buf, size_t len, size_t max_bytes,
    const struct av_accepted *memo, unsigned flags, struct av_jws *j,
    struct anchor_verify_diag *d)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	size_t i;
	char what[48];

	memset(j, 0, sizeof(*j));
	if (buf == NULL)
		return ANCHOR_VERIFY_E_INVAL;
	/* R1 */
	if (len > max_bytes)
		return av_fail(d, ANCHOR_VERIFY_R1_SIZE,
		    "R1 size: %zu bytes is more than the cap of %zu", len,
		    max_bytes);
	/* R2 to R4 */
	if (!(flags & AV_JWS_GENERIC) &&
	    layout((const char *)buf, len, memo, j)) {
		for (i = 0; i < j->nsig; i++)
			if ((r = decode_sig(j, i, d)) != ANCHOR_VERIFY_OK)
				return r;
	} else {
		memset(j, 0, sizeof(*j));
		if ((r = parse_envelope(buf, len, j, d)) != ANCHOR_VERIFY_OK)
			return r;
		if (memo != NULL && memo->b64_len == j->payload_b64_len &&
		    memcmp(memo->b64, j->payload_b64, memo->b64_len) == 0)
			j->hit = memo;
	}
	/*
	 * The payload text the memo was made from: the same bytes, already
	 * decoded, parsed and found valid (base64url decoding is one to one).
	 */
	if (j->hit != NULL) {
		j->payload = memo->payload;
		j->payload_len = memo->payload_len;
	} else {
		r = av_b64url_decode(j->payload_b64, j->payload_b64_len,
		    &j->payload_buf, &j->payload_len);
		if (r == ANCHOR_VERIFY_MALFORMED)
			return av_fail(d, r, "malformed: payload is not "
			    "unpadded base64url");
		if (r != ANCHOR_VERIFY_OK)
			return r;
		j->payload = j->payload_buf;
	}
	/* R2 and JSON validity of every protected header, then the payload */
	for (i = 0; i < j->nsig; i++) {
		struct av_sig *s = &j->sig[i];

		r = av_b64url_decode(s->protected_b64, s->protected_len,
		    &s->raw, &s->raw_len);
		if (r == ANCHOR_VERIFY_MALFORMED)
			return av_fail(d, r, "malformed: protected header %zu "
			    "is not unpadded base64url", i);
		if (r != ANCHOR_VERIFY_OK)
			return r;
		if (!(flags & AV_JWS_GENERIC) && f2_header_layout(s)) {
			s->f2_layout = 1;
			continue;
		}
		/* what a partial match set */
		s->alg = s->kid = s->typ = s->td = NULL;
		s->alg_len = s->kid_len = s->typ_len = s->td_len = 0;
		s->number = s->iat = s->exp = 0;
		snprintf(what, sizeof(what), "protected header %zu", i);
		r = av_json_parse(s->raw, s->raw_len, what, &s->header, d);
		if (r != ANCHOR_VERIFY_OK)
			return r;
		if (!json_is_object(s->header))
			return av_fail(d, ANCHOR_VERIFY_MALFORMED,
			    "malformed: protected header %zu is not a JSON "
			    "object", i);
		s->kid = av_str(json_object_get(s->header, "kid"), &s->kid_len);
		s->alg = av_str(json_object_get(s->header, "alg"), &s->alg_len);
		s->typ = av_str(json_object_get(s->header, "typ"), &s->typ_len);
	}
	if (j->hit != NULL)
		return ANCHOR_VERIFY_OK;
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

	if (s->f2_layout) {
		/* F2's members and crit, the values read already */
		if (kind != AV_F2)
			return av_fail(d, ANCHOR_VERIFY_R8_HEADER, "R8 header "
			    "%zu: crit is not [\"spiffe_trust_domain\","
			    "\"signers_version\"]", i);
		return ANCHOR_VERIFY_OK;
	}
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

/* The signing input: protected "." payload, exactly as received. */
static int
verify_one(const struct av_jws *j, const struct av_sig *s,
    const struct anchor_verify_key *k)
{
	struct av_part msg[3] = {
		{ s->protected_b64, s->protected_len },
		{ ".", 1 },
		{ j->payload_b64, j->payload_b64_len },
	};

	return av_sig_verify_parts(k, msg, 3, s->sig, s->siglen);
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

			if (key != NULL && (strlen(key->alg) != s->alg_len ||
			    memcmp(key->alg, s->alg, s->alg_len) != 0))
				return av_fail(d, ANCHOR_VERIFY_R5_ALG,
				    "R5 alg: header %zu has alg %s but the pinned "
				    "key %s is %s", i, safe(s->alg, s->alg_len, b1),
				    key->kid, key->alg);
		}
	}
	/* R7 */
	for (i = 0; i < j->nsig; i++) {
		const struct av_sig *s = &j->sig[i];

		if (s->typ == NULL || s->typ_len != strlen(typ) ||
		    memcmp(s->typ, typ, s->typ_len) != 0)
			return av_fail(d, ANCHOR_VERIFY_R7_TYP,
			    "R7 typ: header %zu has typ \"%s\", not \"%s\"", i,
			    safe(s->typ, s->typ_len, b1), typ);
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
