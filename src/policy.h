/*
 * The rotation policy (DESIGN.md §3) as a pure function: from the keys with
 * their stored timestamps, the policy and the time, the list of actions
 * that are due.  No token, clock or disk: the caller passes everything in,
 * which makes `anchorctl rotate` idempotent and safe to run late, early or
 * twice, and lets long timelines be simulated in a unit test.
 *
 * Per role, with A the active key and P its published successor:
 *   end of life   eol(A) = A.activated + lifetime, or earlier when an
 *                 operator asked for a rollover (rotate --force) since A's
 *                 activation (the request is cleared when a successor of
 *                 the role is activated);
 *   successor     generated and published at eol(A) - prepublish;
 *   activation    P becomes active (A retires) at
 *                 max(eol(A), P.published + prepublish): a late successor
 *                 keeps its full prepublish, A stays active meanwhile;
 *   removal       a retired key leaves the bundle at retired + overlap;
 *   destruction   a removed or revoked key is destroyed at removed + purge.
 * A role with no active key (after a revocation) activates its successor at
 * once, or generates and activates one.
 *
 * The bundle and the signer set are compared as sets of key ids: a new
 * signer-set version is due when the bundle-signing keys in force differ
 * from the latest signer set's, a new bundle when the x509-ca and jwt keys
 * in the bundle differ from the latest bundle's, or after a new signer set.
 * Otherwise the bundle is signed again once half of signature_validity has
 * passed since its newest signature.
 */
#ifndef ANCHOR_POLICY_H
#define ANCHOR_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "store.h"

enum anchor_action_kind {
	ANCHOR_ACT_GENERATE = 1,	/* new key for role; published (or active, see activate) */
	ANCHOR_ACT_ACTIVATE,		/* keys[key] becomes active */
	ANCHOR_ACT_RETIRE,		/* keys[key] stops being used, stays in the bundle */
	ANCHOR_ACT_REMOVE,		/* keys[key] leaves the bundle */
	ANCHOR_ACT_DESTROY,		/* keys[key]'s token objects are destroyed */
	ANCHOR_ACT_SIGNERS,		/* publish a new signer-set version */
	ANCHOR_ACT_BUNDLE,		/* publish a new bundle sequence */
	ANCHOR_ACT_RESIGN,		/* sign the latest bundle again */
};

struct anchor_action {
	enum anchor_action_kind kind;
	enum anchor_role role;
	size_t key;			/* index into the input keys; SIZE_MAX if none */
	bool activate;			/* GENERATE: activate at once (no active key) */
	int64_t due;			/* when it became due */
};

struct anchor_policy_input {
	const struct anchor_key_row *keys;
	size_t n_keys;
	const struct anchor_key_policy *policy;		/* [ANCHOR_ROLE_COUNT] */
	int64_t now;
	/* rollover requested by an operator at this time, 0 if none */
	int64_t rollover_at[ANCHOR_ROLE_COUNT];
	/* the latest bundle: its key ids (x509-ca and jwt) and newest signature */
	bool have_bundle;
	const char *const *bundle_kids;
	size_t n_bundle_kids;
	int64_t bundle_iat;
	int64_t signature_validity;
	/* the latest signer set's key ids */
	bool have_signers;
	const char *const *signer_kids;
	size_t n_signer_kids;
};

/*
 * The actions due at in->now, in the order they must be carried out:
 * GENERATE, then RETIRE/ACTIVATE/REMOVE/DESTROY, then SIGNERS, BUNDLE or
 * RESIGN.  *acts is malloc'd (free()), NULL when *n is 0.
 */
int anchor_policy_plan(const struct anchor_policy_input *in,
    struct anchor_action **acts, size_t *n);

/* "generate", "activate", ... */
const char *anchor_action_name(enum anchor_action_kind kind);

/* The end of life of an active key under the policy and a rollover request. */
int64_t anchor_policy_eol(const struct anchor_key_row *active,
    const struct anchor_key_policy *p, int64_t rollover_at);

#endif /* ANCHOR_POLICY_H */
