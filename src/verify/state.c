#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define STATE_FORMAT 1

void
anchor_verify_state_free(struct anchor_verify_state *st)
{
	if (st == NULL)
		return;
	anchor_verify_signers_free(st->signers);
	av_accepted_unref(st->accepted);
	free(st);
}

int
anchor_verify_state_new(const struct anchor_verify_signers *pinned,
    struct anchor_verify_state **out)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	struct anchor_verify_state *st = NULL;

	if (out == NULL)
		return ANCHOR_VERIFY_E_INVAL;
	*out = NULL;
	if (pinned == NULL) {
		r = ANCHOR_VERIFY_E_INVAL;
		goto out;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	st->signers = av_signers_ref(pinned);
	r = ANCHOR_VERIFY_OK;
	*out = st;
	st = NULL;
 out:
	anchor_verify_state_free(st);
	return r;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
state_fail(struct anchor_verify_diag *d, const char *why)
{
	return av_fail(d, ANCHOR_VERIFY_F4_STATE, "F4 state: %s", why);
}

int
anchor_verify_state_load(const struct anchor_verify_options *opt,
    const uint8_t *json, size_t len, struct anchor_verify_state **out,
    struct anchor_verify_diag *diag)
{
	static const char *const base[] = {
		"anchor_verify_state", "spiffe_trust_domain", "signers_version",
		"signers_payload",
	};
	static const char *const full[] = {
		"anchor_verify_state", "spiffe_trust_domain", "signers_version",
		"signers_payload", "last_sequence", "last_payload_sha256",
		"last_iat",
	};
	int r = ANCHOR_VERIFY_E_INTERNAL;
	struct anchor_verify_options o;
	struct anchor_verify_state *st = NULL;
	json_t *root = NULL, *pj = NULL;
	uint8_t *payload = NULL;
	size_t plen, slen, i;
	const char *s;
	int64_t v;

	av_diag_clear(diag);
	if (out == NULL)
		return ANCHOR_VERIFY_E_INVAL;
	*out = NULL;
	if (json == NULL || av_options(opt, 1, &o) != ANCHOR_VERIFY_OK) {
		r = ANCHOR_VERIFY_E_INVAL;
		goto out;
	}
	if (len > o.max_bytes) {
		r = state_fail(diag, "larger than the size cap");
		goto out;
	}
	if ((r = av_json_parse(json, len, "state", &root, diag)) !=
	    ANCHOR_VERIFY_OK) {
		if (r > 0) {
			av_diag_prefix(diag, "F4 state");
			r = ANCHOR_VERIFY_F4_STATE;
		}
		goto out;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	if (av_members_exact(root, full, sizeof(full) / sizeof(full[0])))
		st->has_bundle = 1;
	else if (!av_members_exact(root, base, sizeof(base) / sizeof(base[0]))) {
		r = state_fail(diag, "members are not those of an "
		    "anchor-verify state");
		goto out;
	}
	if (!av_int(json_object_get(root, "anchor_verify_state"), &v) ||
	    v != STATE_FORMAT) {
		r = state_fail(diag, "unknown state format");
		goto out;
	}
	if (!av_str_eq(json_object_get(root, "spiffe_trust_domain"),
	    o.trust_domain)) {
		r = state_fail(diag, "the state is for another trust domain");
		goto out;
	}
	if ((s = av_str(json_object_get(root, "signers_payload"), &slen)) == NULL ||
	    av_b64url_decode(s, slen, &payload, &plen) != ANCHOR_VERIFY_OK ||
	    av_json_parse(payload, plen, "signers_payload", &pj, NULL) !=
	    ANCHOR_VERIFY_OK) {
		r = state_fail(diag, "signers_payload is not a signer-set "
		    "payload");
		goto out;
	}
	r = av_signers_from_payload(o.trust_domain, pj, payload, plen,
	    &st->signers, diag);
	if (r > 0) {
		av_diag_prefix(diag, "F4 state: signers_payload");
		r = ANCHOR_VERIFY_F4_STATE;
	}
	if (r != ANCHOR_VERIFY_OK)
		goto out;
	if (!av_int(json_object_get(root, "signers_version"), &v) || v < 1 ||
	    (uint64_t)v != st->signers->version) {
		r = state_fail(diag, "signers_version is not the payload's");
		goto out;
	}
	if (st->has_bundle) {
		if (!av_int(json_object_get(root, "last_sequence"), &v) ||
		    v < 0) {
			r = state_fail(diag, "last_sequence is not a "
			    "non-negative integer");
			goto out;
		}
		st->sequence = (uint64_t)v;
		if (!av_int(json_object_get(root, "last_iat"), &st->iat)) {
			r = state_fail(diag, "last_iat is not an integer");
			goto out;
		}
		s = av_str(json_object_get(root, "last_payload_sha256"), &slen);
		if (s == NULL || slen != 64) {
			r = state_fail(diag, "last_payload_sha256 is not 64 "
			    "lowercase hex digits");
			goto out;
		}
		for (i = 0; i < 32; i++) {
			int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

			if (hi < 0 || lo < 0) {
				r = state_fail(diag, "last_payload_sha256 is not "
				    "64 lowercase hex digits");
				goto out;
			}
			st->sha256[i] = (uint8_t)(hi << 4 | lo);
		}
	}
	*out = st;
	st = NULL;
	r = ANCHOR_VERIFY_OK;
 out:
	anchor_verify_state_free(st);
	json_decref(pj);
	json_decref(root);
	free(payload);
	return r;
}

int
anchor_verify_state_save(const struct anchor_verify_state *st, char **out,
    size_t *len)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	char *b64 = NULL, *text = NULL, *res = NULL;
	char hex[65];
	json_t *o = NULL;
	size_t i, n;

	if (out == NULL)
		return ANCHOR_VERIFY_E_INVAL;
	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (st == NULL) {
		r = ANCHOR_VERIFY_E_INVAL;
		goto out;
	}
	if ((r = av_b64url_encode(st->signers->payload, st->signers->payload_len,
	    &b64)) != ANCHOR_VERIFY_OK)
		goto out;
	r = ANCHOR_VERIFY_E_NOMEM;
	if ((o = json_object()) == NULL ||
	    json_object_set_new(o, "anchor_verify_state",
	    json_integer(STATE_FORMAT)) != 0 ||
	    json_object_set_new(o, "spiffe_trust_domain",
	    json_string(st->signers->trust_domain)) != 0 ||
	    json_object_set_new(o, "signers_version",
	    json_integer((json_int_t)st->signers->version)) != 0 ||
	    json_object_set_new(o, "signers_payload", json_string(b64)) != 0)
		goto out;
	if (st->has_bundle) {
		for (i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", st->sha256[i]);
		if (json_object_set_new(o, "last_sequence",
		    json_integer((json_int_t)st->sequence)) != 0 ||
		    json_object_set_new(o, "last_payload_sha256",
		    json_string(hex)) != 0 ||
		    json_object_set_new(o, "last_iat",
		    json_integer((json_int_t)st->iat)) != 0)
			goto out;
	}
	if ((text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		goto out;
	n = strlen(text);
	if ((res = malloc(n + 2)) == NULL)
		goto out;
	memcpy(res, text, n);
	res[n] = '\n';
	res[n + 1] = '\0';
	*out = res;
	res = NULL;
	if (len != NULL)
		*len = n + 1;
	r = ANCHOR_VERIFY_OK;
 out:
	free(res);
	free(text);
	free(b64);
	json_decref(o);
	return r;
}

int
anchor_verify_state_update_signers(const struct anchor_verify_state *st,
    const struct anchor_verify_buf *steps, size_t n,
    const struct anchor_verify_options *opt, struct anchor_verify_state **out,
    struct anchor_verify_diag *diag)
{
	int r = ANCHOR_VERIFY_E_INTERNAL;
	struct anchor_verify_state *ns = NULL;

	av_diag_clear(diag);
	if (out == NULL)
		return ANCHOR_VERIFY_E_INVAL;
	*out = NULL;
	if (st == NULL) {
		r = ANCHOR_VERIFY_E_INVAL;
		goto out;
	}
	if ((ns = calloc(1, sizeof(*ns))) == NULL) {
		r = ANCHOR_VERIFY_E_NOMEM;
		goto out;
	}
	r = anchor_verify_signers_chain(st->signers, steps, n, opt, &ns->signers,
	    diag);
	if (r != ANCHOR_VERIFY_OK)
		goto out;
	if (ns->signers->version == st->signers->version) {
		ns->has_bundle = st->has_bundle;
		ns->sequence = st->sequence;
		ns->iat = st->iat;
		memcpy(ns->sha256, st->sha256, sizeof(ns->sha256));
		ns->accepted = av_accepted_ref(st->accepted);
	}
	/* else a new version: forget sequence, hash and iat */
	*out = ns;
	ns = NULL;
 out:
	anchor_verify_state_free(ns);
	return r;
}

const struct anchor_verify_signers *
anchor_verify_state_signers(const struct anchor_verify_state *st)
{
	return st != NULL ? st->signers : NULL;
}

const char *
anchor_verify_state_trust_domain(const struct anchor_verify_state *st)
{
	return st != NULL ? st->signers->trust_domain : NULL;
}

int
anchor_verify_state_has_bundle(const struct anchor_verify_state *st)
{
	return st != NULL && st->has_bundle;
}

uint64_t
anchor_verify_state_sequence(const struct anchor_verify_state *st)
{
	return st != NULL && st->has_bundle ? st->sequence : 0;
}

int64_t
anchor_verify_state_iat(const struct anchor_verify_state *st)
{
	return st != NULL && st->has_bundle ? st->iat : 0;
}

const uint8_t *
anchor_verify_state_payload_sha256(const struct anchor_verify_state *st)
{
	return st != NULL && st->has_bundle ? st->sha256 : NULL;
}
