#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "anchor/svid.h"
#include "anchor/verify.h"

#define SPIFFE_PREFIX "spiffe://"
#define SPIFFE_ID_MAX 2048
#define CHAIN_MAX 8

static int
why(char *reason, size_t len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
why(char *reason, size_t len, int code, const char *fmt, ...)
{
	va_list ap;

	if (reason != NULL && len > 0) {
		va_start(ap, fmt);
		vsnprintf(reason, len, fmt, ap);
		va_end(ap);
	}
	return code;
}

const char *
anchor_verify_svid_strerror(int code)
{
	switch (code) {
	case ANCHOR_SVID_OK:			return "accepted";
	case ANCHOR_SVID_MALFORMED:		return "not an X509-SVID";
	case ANCHOR_SVID_UNKNOWN_DOMAIN:	return "trust domain is not a federated peer";
	case ANCHOR_SVID_CHAIN_INVALID:		return "chain does not verify against the peer's bundle";
	case ANCHOR_SVID_EXPIRED:		return "certificate expired or not yet valid";
	case ANCHOR_SVID_NOT_ALLOWED:		return "SPIFFE ID not allowed for this peer";
	case ANCHOR_SVID_BAD_BUNDLE:		return "the peer's stored bundle is unusable";
	case ANCHOR_SVID_E_INVAL:		return "invalid argument";
	case ANCHOR_SVID_E_NOMEM:		return "out of memory";
	}
	return "unknown result";
}

/* Length of the next path segment of s (up to '/' or the end). */
static size_t
segment(const char *s)
{
	const char *slash = strchr(s, '/');

	return slash ? (size_t)(slash - s) : strlen(s);
}

int
anchor_verify_svid_id_matches(const char *pattern, const char *id)
{
	size_t pl, il;

	if (pattern == NULL || id == NULL ||
	    strncmp(pattern, SPIFFE_PREFIX, strlen(SPIFFE_PREFIX)) != 0 ||
	    strncmp(id, SPIFFE_PREFIX, strlen(SPIFFE_PREFIX)) != 0)
		return 0;
	pattern += strlen(SPIFFE_PREFIX);
	id += strlen(SPIFFE_PREFIX);
	/* The trust domain is compared literally, never as a wildcard. */
	pl = segment(pattern);
	il = segment(id);
	if (pl == 0 || pl != il || memcmp(pattern, id, pl) != 0)
		return 0;
	for (;;) {
		pattern += pl;
		id += il;
		if (*pattern == '\0' || *id == '\0')
			return *pattern == '\0' && *id == '\0';
		pattern++;
		id++;
		pl = segment(pattern);
		il = segment(id);
		if (pl == 1 && pattern[0] == '*') {
			if (il == 0)
				return 0;
		} else if (pl != il || memcmp(pattern, id, pl) != 0)
			return 0;
	}
}

/*
 * The one URI SAN of an X509-SVID leaf, checked: spiffe://, a trust domain,
 * a non-empty path, no query or fragment.  *td_len is the trust domain's
 * length after "spiffe://".
 */
static int
leaf_id(X509 *leaf, char *id, size_t idlen, size_t *td_len, char *reason,
    size_t rlen)
{
	GENERAL_NAMES *sans;
	BASIC_CONSTRAINTS *bc;
	int i, uris = 0, r = ANCHOR_SVID_MALFORMED;
	const char *td, *p;
	uint32_t ku;

	sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		const ASN1_IA5STRING *u;

		if (gn->type != GEN_URI)
			continue;
		if (++uris > 1)
			break;
		u = gn->d.uniformResourceIdentifier;
		if (u->length <= 0 || (size_t)u->length >= idlen ||
		    memchr(u->data, '\0', (size_t)u->length) != NULL) {
			r = why(reason, rlen, ANCHOR_SVID_MALFORMED,
			    "URI SAN empty or too long");
			goto out;
		}
		memcpy(id, u->data, (size_t)u->length);
		id[u->length] = '\0';
	}
	if (uris != 1) {
		r = why(reason, rlen, ANCHOR_SVID_MALFORMED,
		    "an X509-SVID has exactly one URI SAN (found %d)", uris);
		goto out;
	}
	if (strncmp(id, SPIFFE_PREFIX, strlen(SPIFFE_PREFIX)) != 0) {
		r = why(reason, rlen, ANCHOR_SVID_MALFORMED,
		    "URI SAN %.100s is not a SPIFFE ID", id);
		goto out;
	}
	td = id + strlen(SPIFFE_PREFIX);
	*td_len = segment(td);
	for (p = td; *p; p++) {
		if (*p == '?' || *p == '#' || *p == '%' ||
		    (p < td + *td_len && !((*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' ||
		    *p == '_'))) {
			r = why(reason, rlen, ANCHOR_SVID_MALFORMED,
			    "SPIFFE ID %.100s has a character it may not have",
			    id);
			goto out;
		}
	}
	if (*td_len == 0 || td[*td_len] != '/' || td[*td_len + 1] == '\0') {
		r = why(reason, rlen, ANCHOR_SVID_MALFORMED,
		    "SPIFFE ID %.100s of a workload needs a trust domain and "
		    "a path", id);
		goto out;
	}
	/* A leaf SVID is no CA and signs no certificates. */
	bc = X509_get_ext_d2i(leaf, NID_basic_constraints, NULL, NULL);
	if (bc != NULL && bc->ca) {
		BASIC_CONSTRAINTS_free(bc);
		r = why(reason, rlen, ANCHOR_SVID_MALFORMED,
		    "the leaf is a CA certificate");
		goto out;
	}
	BASIC_CONSTRAINTS_free(bc);
	ku = X509_get_key_usage(leaf);
	if (ku != UINT32_MAX && ((ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) ||
	    !(ku & KU_DIGITAL_SIGNATURE))) {
		r = why(reason, rlen, ANCHOR_SVID_MALFORMED,
		    "the leaf's key usage is not that of an X509-SVID");
		goto out;
	}
	r = ANCHOR_SVID_OK;
 out:
	GENERAL_NAMES_free(sans);
	return r;
}

int
anchor_verify_svid(const uint8_t *const *chain, const size_t *chain_len,
    size_t n_chain, const struct anchor_svid_peer *peers, size_t n_peers,
    int64_t now, char **out, char *reason, size_t rlen)
{
	struct anchor_verify_bundle *b = NULL;
	const struct anchor_svid_peer *peer = NULL;
	STACK_OF(X509) *untrusted = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509 *leaf = NULL, *x = NULL;
	char id[SPIFFE_ID_MAX];
	const unsigned char *p;
	size_t td_len = 0, i, roots = 0;
	int r = ANCHOR_SVID_E_NOMEM, err;

	if (out == NULL)
		return ANCHOR_SVID_E_INVAL;
	*out = NULL;
	if (reason != NULL && rlen > 0)
		reason[0] = '\0';
	if (chain == NULL || chain_len == NULL || n_chain == 0 ||
	    (peers == NULL && n_peers > 0))
		return ANCHOR_SVID_E_INVAL;
	if (n_chain > CHAIN_MAX)
		return why(reason, rlen, ANCHOR_SVID_MALFORMED,
		    "a chain of more than %d certificates", CHAIN_MAX);

	p = chain[0];
	if (chain_len[0] > LONG_MAX ||
	    (leaf = d2i_X509(NULL, &p, (long)chain_len[0])) == NULL ||
	    p != chain[0] + chain_len[0]) {
		r = why(reason, rlen, ANCHOR_SVID_MALFORMED,
		    "the leaf is not one DER certificate");
		goto out;
	}
	if ((r = leaf_id(leaf, id, sizeof(id), &td_len, reason, rlen)) !=
	    ANCHOR_SVID_OK)
		goto out;

	/* Only the peer of the ID's own trust domain can vouch for it. */
	for (i = 0; i < n_peers; i++)
		if (peers[i].trust_domain != NULL &&
		    strlen(peers[i].trust_domain) == td_len &&
		    memcmp(peers[i].trust_domain, id + strlen(SPIFFE_PREFIX),
		    td_len) == 0)
			peer = &peers[i];
	if (peer == NULL) {
		r = why(reason, rlen, ANCHOR_SVID_UNKNOWN_DOMAIN,
		    "%.*s is not a federated trust domain", (int)td_len,
		    id + strlen(SPIFFE_PREFIX));
		goto out;
	}
	if (anchor_verify_bundle_parse(peer->bundle, peer->bundle_len, NULL, &b,
	    NULL) != 0) {
		r = why(reason, rlen, ANCHOR_SVID_BAD_BUNDLE,
		    "the stored bundle of %.100s does not parse",
		    peer->trust_domain);
		goto out;
	}

	r = ANCHOR_SVID_E_NOMEM;
	if ((store = X509_STORE_new()) == NULL ||
	    (untrusted = sk_X509_new_null()) == NULL ||
	    (ctx = X509_STORE_CTX_new()) == NULL)
		goto out;
	for (i = 0; i < anchor_verify_bundle_x509_count(b); i++) {
		size_t len = 0;
		const uint8_t *der = anchor_verify_bundle_x509_der(b, i, &len);

		p = der;
		if (der == NULL || (x = d2i_X509(NULL, &p, (long)len)) == NULL)
			continue;
		if (X509_STORE_add_cert(store, x) == 1)
			roots++;
		X509_free(x);
		x = NULL;
	}
	if (roots == 0) {
		r = why(reason, rlen, ANCHOR_SVID_CHAIN_INVALID,
		    "the bundle of %.100s has no x509 authority (all revoked)",
		    peer->trust_domain);
		goto out;
	}
	for (i = 1; i < n_chain; i++) {
		p = chain[i];
		if (chain_len[i] > LONG_MAX ||
		    (x = d2i_X509(NULL, &p, (long)chain_len[i])) == NULL) {
			r = why(reason, rlen, ANCHOR_SVID_MALFORMED,
			    "certificate %zu of the chain is not DER", i);
			goto out;
		}
		if (!sk_X509_push(untrusted, x))
			goto out;
		x = NULL;
	}
	if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1)
		goto out;
	X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
	/* The bundle's authorities are the only anchors: partial chains to
	 * one of them are fine, the system's roots never count. */
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN |
	    X509_V_FLAG_X509_STRICT);
	if (X509_verify_cert(ctx) != 1) {
		err = X509_STORE_CTX_get_error(ctx);
		r = err == X509_V_ERR_CERT_HAS_EXPIRED ||
		    err == X509_V_ERR_CERT_NOT_YET_VALID ?
		    ANCHOR_SVID_EXPIRED : ANCHOR_SVID_CHAIN_INVALID;
		why(reason, rlen, r, "%.100s: %s", id,
		    X509_verify_cert_error_string(err));
		goto out;
	}
	for (i = 0; i < peer->n_allow; i++)
		if (anchor_verify_svid_id_matches(peer->allow[i], id))
			break;
	if (i == peer->n_allow) {
		r = why(reason, rlen, ANCHOR_SVID_NOT_ALLOWED,
		    "%.100s matches none of the %zu allow pattern(s) of %.100s",
		    id, peer->n_allow, peer->trust_domain);
		goto out;
	}
	if ((*out = strdup(id)) == NULL)
		goto out;
	r = ANCHOR_SVID_OK;
 out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(untrusted, X509_free);
	X509_free(x);
	X509_free(leaf);
	anchor_verify_bundle_free(b);
	return r;
}
