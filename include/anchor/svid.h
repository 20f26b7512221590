/*
 * libanchor-verify: selective trust in federated X509-SVIDs.
 *
 * A workload of a peer trust domain presents an X509-SVID chain.  It is
 * accepted only when (1) its SPIFFE ID names a trust domain among the peers
 * given, (2) the chain verifies up to an x509 authority of THAT peer's
 * stored bundle (never another domain's: trust is not transitive), at the
 * given time, and (3) the SPIFFE ID matches one of that peer's `allow`
 * patterns, in which a path segment that is a lone '*' matches exactly one
 * non-empty segment of the ID (nothing else is a wildcard).
 *
 * No globals, thread-safe, never logs.
 */
#ifndef ANCHOR_SVID_H
#define ANCHOR_SVID_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum anchor_svid_result {
	ANCHOR_SVID_OK = 0,
	ANCHOR_SVID_MALFORMED = 1,	/* not an X509-SVID: no/several URI SANs, a CA leaf, bad DER */
	ANCHOR_SVID_UNKNOWN_DOMAIN = 2,	/* its trust domain is not a peer (or was removed) */
	ANCHOR_SVID_CHAIN_INVALID = 3,	/* does not chain to the peer's bundle */
	ANCHOR_SVID_EXPIRED = 4,	/* outside a certificate's validity */
	ANCHOR_SVID_NOT_ALLOWED = 5,	/* the SPIFFE ID matches no allow pattern */
	ANCHOR_SVID_BAD_BUNDLE = 6,	/* the peer's stored bundle does not parse */
	ANCHOR_SVID_E_INVAL = -1,	/* caller mistake */
	ANCHOR_SVID_E_NOMEM = -2,
};

/* One federated peer: its stored SPIFFE bundle (F1 bytes) and allow list. */
struct anchor_svid_peer {
	const char *trust_domain;
	const uint8_t *bundle;
	size_t bundle_len;
	const char *const *allow;
	size_t n_allow;
};

/*
 * Verify the chain (DER certificates, leaf first, then intermediates)
 * against the peers at time now (UNIX seconds).  On ANCHOR_SVID_OK *id
 * receives the SPIFFE ID (malloc'd, free() it); otherwise *id is NULL and
 * reason (if not NULL, reason_len bytes) says why in words.
 */
int anchor_verify_svid(const uint8_t *const *chain, const size_t *chain_len,
    size_t n_chain, const struct anchor_svid_peer *peers, size_t n_peers,
    int64_t now, char **id, char *reason, size_t reason_len);

/* 1 if the SPIFFE ID matches the pattern ('*' = one path segment), else 0. */
int anchor_verify_svid_id_matches(const char *pattern, const char *id);

/* A static text for a result code. */
const char *anchor_verify_svid_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* ANCHOR_SVID_H */
