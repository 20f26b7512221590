#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Messages may quote untrusted bytes: keep them printable ASCII. */
static void
printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

int
av_fail(struct anchor_verify_diag *d, int code, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(d->text, sizeof(d->text), fmt, ap);
	va_end(ap);
	printable(d->text);
	return code;
}

void
av_diag_clear(struct anchor_verify_diag *d)
{
	if (d == NULL)
		return;
	d->text[0] = '\0';
	d->item = SIZE_MAX;
}

void
av_diag_prefix(struct anchor_verify_diag *d, const char *fmt, ...)
{
	char inner[sizeof(d->text)];
	size_t n, m;
	va_list ap;

	if (d == NULL)
		return;
	memcpy(inner, d->text, sizeof(inner));
	inner[sizeof(inner) - 1] = '\0';
	va_start(ap, fmt);
	vsnprintf(d->text, sizeof(d->text), fmt, ap);
	va_end(ap);
	n = strlen(d->text);
	if (n + 2 >= sizeof(d->text))
		return;
	memcpy(d->text + n, ": ", 2);
	n += 2;
	m = strlen(inner);
	if (m > sizeof(d->text) - 1 - n)
		m = sizeof(d->text) - 1 - n;
	memcpy(d->text + n, inner, m);
	d->text[n + m] = '\0';
	printable(d->text);
}

int
av_strset_init(struct av_strset *ss, size_t n)
{
	size_t cap = 16, i;

	ss->slot = NULL;
	ss->mask = 0;
	while (cap < 2 * n) {
		if (cap > SIZE_MAX / 2 / sizeof(*ss->slot))
			return ANCHOR_VERIFY_E_NOMEM;
		cap *= 2;
	}
	if ((ss->slot = malloc(cap * sizeof(*ss->slot))) == NULL)
		return ANCHOR_VERIFY_E_NOMEM;
	for (i = 0; i < cap; i++)
		ss->slot[i] = NULL;
	ss->mask = cap - 1;
	return ANCHOR_VERIFY_OK;
}

int
av_strset_add(struct av_strset *ss, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */
	size_t at;

	for (; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ULL;
	/* open addressing; the table is never more than half full */
	for (at = (size_t)h & ss->mask; ss->slot[at] != NULL;
	    at = (at + 1) & ss->mask)
		if (strcmp(ss->slot[at], s) == 0)
			return 0;
	ss->slot[at] = s;
	return 1;
}

void
av_strset_clear(struct av_strset *ss)
{
	free(ss->slot);
	ss->slot = NULL;
	ss->mask = 0;
}

int
av_trust_domain_valid(const char *td)
{
	size_t i, n;

	if (td == NULL || (n = strlen(td)) == 0 || n > 255)
		return 0;
	for (i = 0; i < n; i++) {
		char c = td[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

int
av_options(const struct anchor_verify_options *in, int need_td,
    struct anchor_verify_options *out)
{
	memset(out, 0, sizeof(*out));
	if (in != NULL)
		*out = *in;
	if (out->max_bytes == 0)
		out->max_bytes = ANCHOR_VERIFY_DEFAULT_MAX_BYTES;
	if (out->max_validity == 0)
		out->max_validity = ANCHOR_VERIFY_DEFAULT_MAX_VALIDITY;
	if (out->max_validity < 0)
		return ANCHOR_VERIFY_E_INVAL;
	if (need_td && !av_trust_domain_valid(out->trust_domain))
		return ANCHOR_VERIFY_E_INVAL;
	return ANCHOR_VERIFY_OK;
}

const char *
anchor_verify_strerror(int code)
{
	switch (code) {
	case ANCHOR_VERIFY_OK:
		return "accepted";
	case ANCHOR_VERIFY_R1_SIZE:
		return "R1: the input is larger than the size cap";
	case ANCHOR_VERIFY_R2_DUPLICATE:
		return "R2: a JSON object repeats a member name";
	case ANCHOR_VERIFY_R3_ENVELOPE:
		return "R3: the top level is not exactly {payload, signatures} "
		    "with 1 to 8 signatures";
	case ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS:
		return "R4: a signature is not exactly {protected, signature}";
	case ANCHOR_VERIFY_R5_ALG:
		return "R5: alg is not the algorithm of the pinned key with "
		    "that kid (none, HS*, RS* are never accepted)";
	case ANCHOR_VERIFY_R6_UNTRUSTED:
		return "R6: no signature has a kid of the trusted signer set";
	case ANCHOR_VERIFY_R7_TYP:
		return "R7: typ is not the expected type";
	case ANCHOR_VERIFY_R8_HEADER:
		return "R8: crit or the protected header members are not "
		    "exactly the profile's";
	case ANCHOR_VERIFY_R9_KID:
		return "R9: a kid is repeated, or fewer than threshold distinct "
		    "trusted kids verify";
	case ANCHOR_VERIFY_R10_SIGNATURE:
		return "R10: a trusted signature has the wrong length or does "
		    "not verify";
	case ANCHOR_VERIFY_R11_DISAGREE:
		return "R11: the counted signatures disagree on trust domain, "
		    "sequence, iat or exp";
	case ANCHOR_VERIFY_R12_MISMATCH:
		return "R12: wrong trust domain, or the header sequence is not "
		    "the payload's";
	case ANCHOR_VERIFY_R13_TIME:
		return "R13: not yet valid, expired, or valid for too long";
	case ANCHOR_VERIFY_R14_ROLLBACK:
		return "R14: the sequence is not above the stored one "
		    "(rollback), equal with other bytes (equivocation), or "
		    "below the signer set's min_sequence";
	case ANCHOR_VERIFY_MALFORMED:
		return "malformed: not JSON, invalid UTF-8, nested too deep, a "
		    "wrong type or bad base64url";
	case ANCHOR_VERIFY_F1_BUNDLE:
		return "F1: the payload is not a valid SPIFFE bundle";
	case ANCHOR_VERIFY_F3_SIGNERS:
		return "F3: the signer set is invalid or does not chain from "
		    "the trusted one";
	case ANCHOR_VERIFY_F4_STATE:
		return "F4: the state is corrupt or for another trust domain";
	case ANCHOR_VERIFY_E_INVAL:
		return "invalid argument";
	case ANCHOR_VERIFY_E_NOMEM:
		return "out of memory";
	case ANCHOR_VERIFY_E_INTERNAL:
		return "internal error";
	default:
		return "unknown error";
	}
}

const char *
anchor_verify_rule(int code)
{
	static const char *const r[] = {
		"OK", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9",
		"R10", "R11", "R12", "R13", "R14",
	};

	if (code >= 0 && code <= ANCHOR_VERIFY_R14_ROLLBACK)
		return r[code];
	switch (code) {
	case ANCHOR_VERIFY_MALFORMED:
		return "JSON";
	case ANCHOR_VERIFY_F1_BUNDLE:
		return "F1";
	case ANCHOR_VERIFY_F3_SIGNERS:
		return "F3";
	case ANCHOR_VERIFY_F4_STATE:
		return "F4";
	default:
		return "error";
	}
}

int
anchor_verify_exit_class(int code)
{
	switch (code) {
	case ANCHOR_VERIFY_OK:
		return 0;
	case ANCHOR_VERIFY_R1_SIZE:
	case ANCHOR_VERIFY_R2_DUPLICATE:
	case ANCHOR_VERIFY_R3_ENVELOPE:
	case ANCHOR_VERIFY_R4_SIGNATURE_MEMBERS:
	case ANCHOR_VERIFY_R8_HEADER:
	case ANCHOR_VERIFY_MALFORMED:
	case ANCHOR_VERIFY_F1_BUNDLE:
		return 3;
	case ANCHOR_VERIFY_R5_ALG:
	case ANCHOR_VERIFY_R6_UNTRUSTED:
	case ANCHOR_VERIFY_R9_KID:
	case ANCHOR_VERIFY_R10_SIGNATURE:
		return 4;
	case ANCHOR_VERIFY_R14_ROLLBACK:
		return 5;
	case ANCHOR_VERIFY_R13_TIME:
		return 6;
	case ANCHOR_VERIFY_R7_TYP:
	case ANCHOR_VERIFY_R11_DISAGREE:
	case ANCHOR_VERIFY_R12_MISMATCH:
		return 7;
	case ANCHOR_VERIFY_F3_SIGNERS:
		return 8;
	default:
		return 2;
	}
}
