/*
 * A trust domain: its configuration, state store, writer lock and token,
 * and the operations that change it (keys, signer sets, bundles, audit).
 *
 * Order of writes (DESIGN.md §4): token first, database second.  A key is
 * generated in the token, then its row is committed; a run that finds a
 * token object with an "anchor/<td>/" label and no row destroys it and
 * records why (anchor_domain_reconcile).
 *
 * Functions return ANCHOR_OK or a negative ANCHOR_E_* code; a detail for
 * the operator is kept in anchor_domain_errdetail().  They do not log.
 */
#ifndef ANCHOR_DOMAIN_H
#define ANCHOR_DOMAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "a11.h"
#include "conf.h"
#include "store.h"

#define ANCHOR_OPEN_TOKEN	0x1	/* load the module and log in */
#define ANCHOR_OPEN_LOCK	0x2	/* take the writer lock */
#define ANCHOR_OPEN_CREATE	0x4	/* create the state directory and database */
#define ANCHOR_OPEN_NOWAIT	0x8	/* with LOCK: ANCHOR_E_BUSY instead of waiting */

struct anchor_domain {
	const struct anchor_conf *conf;	/* borrowed */
	struct anchor_store *store;
	a11_token *token;		/* NULL unless opened with ANCHOR_OPEN_TOKEN */
	int lock_fd;			/* -1 unless opened with ANCHOR_OPEN_LOCK */
	FILE *pin_in;			/* where "prompt"/"shares" read without a tty */
	unsigned tx_depth;		/* nested anchor_domain_begin() calls */
	char **audit_pending;		/* syslog copies waiting for the commit */
	size_t n_audit_pending;
	char detail[512];		/* what went wrong, for the operator */
};

/*
 * Open the domain of conf.  The lock is taken before the store is opened
 * and the token last.  Free with anchor_domain_close().
 */
int anchor_domain_open(const struct anchor_conf *conf, unsigned flags,
    FILE *pin_in, struct anchor_domain **out);
void anchor_domain_close(struct anchor_domain *d);	/* accepts NULL */

/* Open and log in to the token later (as ANCHOR_OPEN_TOKEN would); no-op if open. */
int anchor_domain_open_token(struct anchor_domain *d);
const char *anchor_domain_errdetail(const struct anchor_domain *d);

/*
 * Transactions that nest: only the outermost begin/commit reaches the
 * store; rollback at any depth abandons the whole transaction.
 */
int anchor_domain_begin(struct anchor_domain *d);
int anchor_domain_commit(struct anchor_domain *d);
void anchor_domain_rollback(struct anchor_domain *d);

/* Key label "anchor/<td>/<role>/<serial>" into buf. */
int anchor_key_label(const char *td, enum anchor_role role, unsigned serial,
    char *buf, size_t len);

/*
 * Generate a key for role in the token (algorithm from the policy), read
 * its public key, compute its kid and, for x509-ca, make and sign the CA
 * certificate; then store the row as published (active too when activate
 * is true) with its audit records, in one transaction.  *out is filled
 * (free its members with anchor_key_rows_free(out, 1) semantics: use
 * anchor_key_row_clear()).
 */
int anchor_domain_new_key(struct anchor_domain *d, enum anchor_role role,
    int64_t now, bool activate, struct anchor_key_row *out);
void anchor_key_row_clear(struct anchor_key_row *k);

/*
 * Compare the token with the rows: destroy token objects labelled
 * "anchor/<td>/" that no row knows (a run that died between token and
 * database), with an audit record each; count rows whose token object is
 * missing in *missing (may be NULL).
 */
int anchor_domain_reconcile(struct anchor_domain *d, int64_t now,
    unsigned *destroyed, unsigned *missing);

/*
 * Publish a new signer-set version from the bundle-signing keys in force
 * (published, active, retired), with min_sequence the next bundle sequence,
 * signed by every key of the previous version still in the token and by its
 * own keys.  Runs inside the caller's transaction when one is open.
 */
int anchor_domain_publish_signers(struct anchor_domain *d, int64_t now,
    unsigned *version);

/*
 * Publish a new bundle: F1 from the x509-ca and jwt keys in the bundle,
 * under the next sequence, signed (F2) by the bundle-signing keys in force,
 * stored with an audit record.  Runs inside the caller's transaction when
 * one is open.
 */
int anchor_domain_publish_bundle(struct anchor_domain *d, int64_t now,
    uint64_t *sequence);

/* Sign the latest bundle again: same sequence and bytes, new iat/exp. */
int anchor_domain_resign_bundle(struct anchor_domain *d, int64_t now);

/*
 * Append an audit record (data: a JSON object, borrowed; NULL for {}), and
 * sign a checkpoint of the chain head with the active bundle-signing key.
 * With audit.syslog the record is also sent to syslog (LOG_AUTHPRIV), once
 * its transaction has committed: a rolled-back record is never copied.
 */
int anchor_domain_audit(struct anchor_domain *d, int64_t now,
    const char *event, json_t *data);
int anchor_domain_checkpoint(struct anchor_domain *d, int64_t now);

/*
 * Signing through the token for anchor_jws_signer: arg is the domain, kid
 * names a stored key.
 */
int anchor_domain_sign_cb(void *arg, const char *kid, const uint8_t *msg,
    size_t msglen, uint8_t *sig, size_t *siglen);

/* SHA-256 fingerprint of data in groups of four hex digits, for reading aloud. */
void anchor_fingerprint(const uint8_t *data, size_t len, char out[80]);

#endif /* ANCHOR_DOMAIN_H */
