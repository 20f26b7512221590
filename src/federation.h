/*
 * Federation (DESIGN.md §6): the peers a trust domain trusts, fetching
 * their bundles, verifying them, and keeping the last good one of each for
 * local consumers (<state_dir>/federated/<td>.json, `anchorctl federation
 * show`).  docs/federation.md explains the rules and the decisions behind
 * them.
 *
 * A refresh is a small state machine over HTTP requests so that a caller
 * can drive many at once with one curl multi handle:
 *
 *	anchor_fed_refresh_new(peer, bundle, opts, &f);
 *	while (anchor_fed_refresh_next(f, &easy) == ANCHOR_OK && easy != NULL) {
 *		... perform easy (curl_easy_perform, or a multi handle) ...
 *		anchor_fed_refresh_done(f, result);
 *	}
 *	(take the writer lock)  anchor_fed_refresh_apply(d, f);
 *
 * Fetching never touches the store, so no lock is held while the network
 * is slow; apply checks that the peer did not change meanwhile.
 *
 * Functions return ANCHOR_OK or a negative ANCHOR_E_* code.  Those taking
 * a domain leave a detail in anchor_domain_errdetail(d).  Nothing here logs:
 * warnings for the operator go through an anchor_say_fn.
 */
#ifndef ANCHOR_FEDERATION_H
#define ANCHOR_FEDERATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "domain.h"
#include "rotate.h"
#include "store.h"

#define ANCHOR_FED_MAX_BYTES		(1024 * 1024)	/* one response */
#define ANCHOR_FED_CONNECT_TIMEOUT_MS	10000
#define ANCHOR_FED_TIMEOUT_MS		30000		/* one request, all of it */
#define ANCHOR_FED_MAX_REDIRECTS	3
#define ANCHOR_FED_MAX_SIGNER_STEPS	256		/* signers/N.jws per refresh */
#define ANCHOR_FED_DEFAULT_REFRESH	300		/* seconds, without a hint */

struct anchor_fed_opts {
	int64_t now;			/* UNIX seconds, read once: R13 and TLS validity */
	long connect_timeout_ms;	/* 0: ANCHOR_FED_CONNECT_TIMEOUT_MS */
	long timeout_ms;		/* 0: ANCHOR_FED_TIMEOUT_MS */
	size_t max_bytes;		/* 0: ANCHOR_FED_MAX_BYTES */
	bool allow_insecure_http;	/* federation.allow_insecure_http */
};

/*
 * A peer as an operator gives it: from federates_with or from
 * `anchorctl federation add`.  Paths are read when the peer is added.
 */
struct anchor_fed_peer_spec {
	const char *trust_domain;
	const char *url;
	const char *profile;		/* "https_web" or "https_spiffe" */
	const char *endpoint_spiffe_id;	/* https_spiffe */
	const char *signers_path;	/* the peer's signer set to pin, or NULL */
	const char *ca_file;		/* https_web: PEM trust anchors, or NULL */
	const char *const *allow;	/* SPIFFE ID patterns in the peer's domain */
	size_t n_allow;
};

/* ---- Peers (the caller holds the writer lock) ------------------------ */

/*
 * Bring the configuration's peers into the store: a new one is added, a
 * changed one updated (each with an audit record), one that left the
 * configuration removed.  A peer removed with `anchorctl federation remove`
 * stays removed while the configuration still lists it: say is told so.
 * A configuration peer that cannot be taken (unreadable signers file, ...)
 * is reported through say and skipped; *errors counts them (may be NULL).
 */
int anchor_fed_sync(struct anchor_domain *d, int64_t now, anchor_say_fn say,
    void *arg, unsigned *errors);

/*
 * Add a peer (spec->url set), or bring back a removed configuration peer
 * from the configuration (spec->url NULL).  bootstrap_path, when set, is a
 * SPIFFE bundle of the peer given out of band: stored as its bundle until
 * the first fetch (https_spiffe needs one to authenticate the endpoint).
 * Refused with a detail: our own trust domain, an invalid name, URL or
 * SPIFFE ID, http:// without signers or without allow_insecure_http, a
 * signer set of another trust domain, a peer already in force, a peer the
 * configuration defines.  Nothing is stored on a refusal.  say gets what
 * was added, with the pinned signer set's version and fingerprint (to
 * compare with the one the peer gave out of band).
 */
int anchor_fed_add(struct anchor_domain *d, const struct anchor_fed_peer_spec *spec,
    const char *bootstrap_path, const char *operator_name, int64_t now,
    anchor_say_fn say, void *arg);

/*
 * Store an operator's bundle for a peer in force (bootstrap, or recovery
 * of an https_spiffe peer whose endpoint no longer chains to the stored
 * bundle).  It counts as the latest bundle until a fetch replaces it.
 */
int anchor_fed_bootstrap(struct anchor_domain *d, const char *td,
    const char *bundle_path, const char *operator_name, int64_t now);

/*
 * Remove a peer at once: its consumer file first, then its bundle and
 * verifier state, with an audit record of domain, reason and operator.
 */
int anchor_fed_remove(struct anchor_domain *d, const char *td,
    const char *reason, const char *operator_name, int64_t now,
    anchor_say_fn say, void *arg);

/* ---- Fetching ------------------------------------------------------- */

struct anchor_fed_refresh;

/*
 * Start a refresh of peer (a row in force) whose stored bundle is bundle
 * (NULL when there is none).  Both are copied.  A refresh that cannot start
 * (http:// refused, no bundle for https_spiffe, a corrupt verifier state)
 * is finished at once as rejected, so that apply records why.  Free with
 * anchor_fed_refresh_free().
 */
int anchor_fed_refresh_new(const struct anchor_peer_row *peer,
    const struct anchor_peer_bundle_row *bundle,
    const struct anchor_fed_opts *o, struct anchor_fed_refresh **out);
void anchor_fed_refresh_free(struct anchor_fed_refresh *f);	/* accepts NULL */

/*
 * The next request: *easy is a configured handle owned by f (its
 * CURLOPT_PRIVATE is f), or NULL once the refresh is finished.  Perform
 * it, then call anchor_fed_refresh_done() (with a multi handle: remove the
 * handle from the multi handle first).
 */
int anchor_fed_refresh_next(struct anchor_fed_refresh *f, CURL **easy);
/* The transfer of the handle from _next ended with result. */
void anchor_fed_refresh_done(struct anchor_fed_refresh *f, CURLcode result);

/* Drive n refreshes to their end on one multi handle. */
int anchor_fed_refresh_run(struct anchor_fed_refresh **fs, size_t n);

/* Once finished: the peer, whether its bundle was accepted, and why not. */
const char *anchor_fed_refresh_trust_domain(const struct anchor_fed_refresh *f);
bool anchor_fed_refresh_accepted(const struct anchor_fed_refresh *f);
const char *anchor_fed_refresh_reason(const struct anchor_fed_refresh *f);
/* Once finished and not accepted: true for a transport failure
 * (no connection, a timeout, an HTTP error status), false when what was
 * served or the endpoint's identity was refused. */
bool anchor_fed_refresh_transport(const struct anchor_fed_refresh *f);

/*
 * Store the outcome (the caller holds the writer lock): an accepted bundle
 * that differs from the stored one is stored with its verifier state and
 * an audit record (peer.bundle.accepted), and the consumer file rewritten;
 * a rejection updates the status and is audited (peer.bundle.rejected;
 * a transport failure repeating the previous one is counted, not audited
 * again).  summary (may be NULL) gets one line for the operator.
 * ANCHOR_E_BUSY when the peer changed while fetching (nothing stored),
 * ANCHOR_E_NOT_FOUND when it was removed.
 */
int anchor_fed_refresh_apply(struct anchor_domain *d, struct anchor_fed_refresh *f,
    char *summary, size_t len);

/*
 * When the next fetch of a peer is due: its last attempt plus the stored
 * bundle's refresh hint (ANCHOR_FED_DEFAULT_REFRESH without one), the
 * hint bounded to 30 s ... 1 day.  0 (at once) before the first attempt.
 */
int64_t anchor_fed_next_due(const struct anchor_peer_row *p,
    const struct anchor_peer_bundle_row *b);

/* ---- Consumers ------------------------------------------------------- */

/* <state_dir>/federated/<td>.json into buf. */
int anchor_fed_consumer_path(const struct anchor_conf *conf, const char *td,
    char *buf, size_t len);

/*
 * The CA certificates (x509-svid authorities) of a SPIFFE bundle as PEM.
 * *pem is malloc'd and NUL-terminated; free() it.  An empty string when the
 * bundle has none.
 */
int anchor_fed_bundle_pem(const uint8_t *payload, size_t len, char **pem,
    size_t *pemlen);

/*
 * A description of a peer and its bundle (bundle may be NULL) for `show
 * --format json` and `list --json`: parameters, status, sequence, signer
 * set version and fingerprint, authorities.  New reference, NULL on
 * failure.
 */
json_t *anchor_fed_peer_json(const struct anchor_peer_row *p,
    const struct anchor_peer_bundle_row *b);

#endif /* ANCHOR_FEDERATION_H */
