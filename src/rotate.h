/*
 * Carrying out the rotation policy (src/policy.h) and revocations on a
 * trust domain: token first, database second, one transaction for all
 * state changes and publications of a run.
 */
#ifndef ANCHOR_ROTATE_H
#define ANCHOR_ROTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "domain.h"
#include "policy.h"

/* Receives one human-readable line per thing done (or planned). */
typedef void (*anchor_say_fn)(void *arg, const char *line);

struct anchor_rotate_opts {
	int64_t now;
	bool dry_run;			/* plan and print, change nothing */
	bool force[ANCHOR_ROLE_COUNT];	/* start an early rollover of the role */
	anchor_say_fn say;
	void *arg;
};

/*
 * Plan from the stored state.  d needs the store only.  *acts as in
 * anchor_policy_plan(); *keys are the rows the action indexes refer to
 * (free with anchor_key_rows_free()).
 */
int anchor_rotate_plan(struct anchor_domain *d, int64_t now,
    const bool force[ANCHOR_ROLE_COUNT], struct anchor_key_row **keys,
    size_t *n_keys, struct anchor_action **acts, size_t *n_acts);

/*
 * One run of `anchorctl rotate`.  d must hold the writer lock.  The token is
 * opened (anchor_domain_open_token) only when something is due, so a run
 * with nothing to do touches neither the token nor the database.  *done
 * counts the actions carried out.
 */
int anchor_rotate(struct anchor_domain *d, const struct anchor_rotate_opts *o,
    unsigned *done);

/*
 * Revoke the key with this kid at once: it leaves the bundle (new
 * sequence); if it was active its published successor takes over, or a new
 * key is generated and activated (x509-ca, jwt).  A bundle-signing key can
 * be revoked only when another bundle-signing key of the current signer set
 * remains to sign.  d must hold the writer lock and the token.
 */
int anchor_revoke(struct anchor_domain *d, const char *kid, const char *reason,
    const char *operator_name, int64_t now, anchor_say_fn say, void *arg);

/* The meta key recording an operator's rollover request for a role. */
const char *anchor_rollover_meta_key(enum anchor_role role);

#endif /* ANCHOR_ROTATE_H */
