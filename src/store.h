/*
 * The state store: <state_dir>/anchor.db (SQLite, WAL, synchronous=FULL,
 * foreign keys, schema version with migrations) and the writer lock
 * <state_dir>/lock.
 *
 * Every writer holds the lock for its whole run.  A change of state is one
 * transaction (anchor_store_begin ... anchor_store_commit): the bundle
 * sequence is allocated in the same transaction that stores the bundle.
 * Functions return ANCHOR_OK or a negative ANCHOR_E_* code; the store never
 * logs.  anchor_store_errmsg() gives SQLite's last message.
 */
#ifndef ANCHOR_STORE_H
#define ANCHOR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define ANCHOR_SCHEMA_VERSION 2

struct anchor_store;
struct sqlite3;

enum anchor_key_state {
	ANCHOR_KEY_PUBLISHED = 0,	/* in the bundle, not yet used */
	ANCHOR_KEY_ACTIVE = 1,		/* issuing / signing */
	ANCHOR_KEY_RETIRED = 2,		/* in the bundle, no longer used */
	ANCHOR_KEY_REMOVED = 3,		/* out of the bundle, object still in the token */
	ANCHOR_KEY_REVOKED = 4,		/* out of the bundle at once, by an operator */
	ANCHOR_KEY_DESTROYED = 5,	/* token object destroyed */
};

/* "published", "active", ...; NULL for an unknown value. */
const char *anchor_key_state_name(enum anchor_key_state s);

struct anchor_key_row {
	int64_t id;			/* rowid, set by insert */
	enum anchor_role role;
	unsigned serial;		/* n in anchor/<td>/<role>/<n> */
	char label[320];		/* CKA_LABEL: anchor/<td>/<role>/<n> */
	uint8_t ckaid[16];
	enum anchor_alg alg;
	char kid[64];			/* RFC 7638 thumbprint, base64url */
	char *jwk;			/* public JWK, compact JSON (malloc'd) */
	uint8_t *cert_der;		/* x509-ca: the CA certificate (malloc'd) */
	size_t cert_len;
	enum anchor_key_state state;
	/* UNIX seconds; 0 = has not happened */
	int64_t created_at, published_at, activated_at, retired_at;
	int64_t removed_at, revoked_at, destroyed_at;
	char *revoke_reason;		/* malloc'd or NULL */
};

struct anchor_bundle_row {
	uint64_t sequence;
	uint8_t *payload;		/* F1 bytes (malloc'd) */
	size_t payload_len;
	uint8_t sha256[32];
	int64_t created_at;
	/* the newest signed envelope of this sequence, if any */
	char *jws;			/* F2 (malloc'd) or NULL */
	size_t jws_len;
	int64_t iat, exp;
};

struct anchor_signers_row {
	unsigned version;
	uint64_t min_sequence;
	uint8_t *payload;		/* F3 payload bytes (malloc'd) */
	size_t payload_len;
	char *jws;			/* F3 envelope (malloc'd) */
	size_t jws_len;
	int64_t created_at;
};

struct anchor_audit_row {
	int64_t seq;			/* 1, 2, 3, ... */
	int64_t ts;
	char *event;			/* "key.generated", ... (malloc'd) */
	char *record;			/* canonical JSON of {seq,ts,event,data} (malloc'd) */
	uint8_t prev_hash[32];
	uint8_t hash[32];		/* SHA-256(prev_hash || record) */
};

/*
 * Open (and with create, make: state_dir mode 0700, anchor.db mode 0600)
 * the store and bring its schema to ANCHOR_SCHEMA_VERSION.  A schema newer
 * than this build gives ANCHOR_E_SCHEMA.  Without create, a missing
 * database gives ANCHOR_E_NOT_FOUND.  Free with anchor_store_close().
 */
int anchor_store_open(const char *state_dir, bool create, struct anchor_store **out);
void anchor_store_close(struct anchor_store *s);	/* accepts NULL */
const char *anchor_store_errmsg(const struct anchor_store *s);
/* The SQLite handle (owned by s), for tests and read-only diagnostics. */
struct sqlite3 *anchor_store_sqlite(struct anchor_store *s);

/*
 * Take flock(<state_dir>/lock) exclusively.  wait=false: ANCHOR_E_BUSY when
 * another process holds it.  *fd is released by anchor_store_unlock().
 */
int anchor_store_lock(const char *state_dir, bool wait, int *fd);
void anchor_store_unlock(int fd);			/* accepts -1 */

/*
 * BEGIN IMMEDIATE / COMMIT / ROLLBACK.  A failed commit rolls back; rollback
 * accepts no open transaction.
 */
int anchor_store_begin(struct anchor_store *s);
int anchor_store_commit(struct anchor_store *s);
void anchor_store_rollback(struct anchor_store *s);

/* PRAGMA integrity_check: ANCHOR_OK or ANCHOR_E_STATE. */
int anchor_store_integrity(struct anchor_store *s);

/* Small key/value settings (trust_domain, ...).  get: *value malloc'd, ANCHOR_E_NOT_FOUND if unset. */
int anchor_store_meta_get(struct anchor_store *s, const char *key, char **value);
int anchor_store_meta_set(struct anchor_store *s, const char *key, const char *value);

/* Keys.  insert sets k->id; update writes state, timestamps, cert, reason. */
int anchor_store_key_insert(struct anchor_store *s, struct anchor_key_row *k);
int anchor_store_key_update(struct anchor_store *s, const struct anchor_key_row *k);
/* All keys ordered by role, then serial.  Free with anchor_key_rows_free(). */
int anchor_store_keys(struct anchor_store *s, struct anchor_key_row **keys, size_t *n);
void anchor_key_rows_free(struct anchor_key_row *keys, size_t n);
/* The next serial for a role: 1 + the highest ever used (never reused). */
int anchor_store_key_next_serial(struct anchor_store *s, enum anchor_role role, unsigned *serial);

/*
 * Bundles.  next_sequence gives 1 + the highest sequence ever stored (never
 * reused); insert stores F1 bytes under that sequence and fails with
 * ANCHOR_E_EXISTS if it is taken.  add_signature records a newer F2 for a
 * stored sequence.  latest gives the highest sequence (ANCHOR_E_NOT_FOUND if
 * none); get a given one.  Free rows with anchor_bundle_row_clear().
 */
int anchor_store_next_sequence(struct anchor_store *s, uint64_t *seq);
int anchor_store_bundle_insert(struct anchor_store *s, uint64_t seq,
    const uint8_t *payload, size_t len, int64_t now);
int anchor_store_bundle_add_signature(struct anchor_store *s, uint64_t seq,
    int64_t iat, int64_t exp, const char *jws, size_t len);
int anchor_store_bundle_latest(struct anchor_store *s, struct anchor_bundle_row *out);
int anchor_store_bundle_get(struct anchor_store *s, uint64_t seq, struct anchor_bundle_row *out);
void anchor_bundle_row_clear(struct anchor_bundle_row *b);

/* Signer sets.  get with version 0 gives the latest. */
int anchor_store_signers_insert(struct anchor_store *s, const struct anchor_signers_row *r);
int anchor_store_signers_get(struct anchor_store *s, unsigned version, struct anchor_signers_row *out);
void anchor_signers_row_clear(struct anchor_signers_row *r);

/*
 * Audit chain.  append builds the record {"seq":N,"ts":T,"event":E,"data":D}
 * (data_json a JSON object text, "{}" when NULL), links it to the previous
 * hash (32 zero bytes for the first) and stores it.  verify walks the chain
 * from the start: ANCHOR_E_TAMPERED and *bad_seq set to the first record
 * that does not match (edited, deleted or reordered).
 */
int anchor_store_audit_append(struct anchor_store *s, int64_t ts,
    const char *event, const char *data_json);
int anchor_store_audit_verify(struct anchor_store *s, int64_t *bad_seq);
/* Records with seq > after_seq and ts >= since, in order.  Free with anchor_audit_rows_free(). */
int anchor_store_audit_list(struct anchor_store *s, int64_t after_seq, int64_t since,
    struct anchor_audit_row **rows, size_t *n);
void anchor_audit_rows_free(struct anchor_audit_row *rows, size_t n);
/*
 * Checkpoints: a signature by a bundle-signing key over the hash of record
 * seq.  head gives the last record's seq and hash (seq 0 when empty).
 */
int anchor_store_audit_head(struct anchor_store *s, int64_t *seq, uint8_t hash[32]);
int anchor_store_checkpoint_insert(struct anchor_store *s, int64_t seq,
    const char *kid, const uint8_t *sig, size_t siglen, int64_t ts);

/* Every checkpoint, oldest first.  Free with anchor_checkpoint_rows_free(). */
struct anchor_checkpoint_row {
	int64_t seq;			/* the audit record it covers */
	uint8_t hash[32];		/* that record's hash when signed */
	char kid[64];			/* the bundle-signing key that signed */
	uint8_t *sig;			/* raw signature over hash (malloc'd) */
	size_t siglen;
	int64_t ts;
};
int anchor_store_checkpoints(struct anchor_store *s,
    struct anchor_checkpoint_row **rows, size_t *n);
void anchor_checkpoint_rows_free(struct anchor_checkpoint_row *rows, size_t n);

/*
 * Federation peers (schema version 2).  A peer comes from the configuration
 * (federates_with) or from `anchorctl federation add`; its row stays after
 * removal (removed_at != 0) so that a removed configuration peer is not
 * brought back by the next run.  Text members are malloc'd (NULL where
 * noted); free a row's members with anchor_peer_row_clear().
 */
enum anchor_peer_profile {
	ANCHOR_PEER_HTTPS_WEB = 0,
	ANCHOR_PEER_HTTPS_SPIFFE = 1,
};

enum anchor_peer_source {
	ANCHOR_PEER_FROM_CONFIG = 0,
	ANCHOR_PEER_FROM_CLI = 1,
};

/* "https_web", "https_spiffe"; NULL for an unknown value. */
const char *anchor_peer_profile_name(enum anchor_peer_profile p);
int anchor_peer_profile_parse(const char *s, enum anchor_peer_profile *out);

struct anchor_peer_row {
	char trust_domain[256];
	char *url;			/* bundle endpoint URL */
	enum anchor_peer_profile profile;
	char *endpoint_spiffe_id;	/* https_spiffe only, else NULL */
	uint8_t *signers;		/* the pinned F3 envelope, or NULL */
	size_t signers_len;
	char *ca_pem;			/* https_web trust anchors, or NULL: system CAs */
	char *allow;			/* JSON array of SPIFFE ID patterns */
	enum anchor_peer_source source;
	int64_t added_at;
	char *added_by;			/* operator name, may be "" */
	int64_t removed_at;		/* 0 while the peer is in force */
	char *removed_reason;		/* NULL while in force */
	char *removed_by;		/* NULL or the operator */
	char *verifier_state;		/* F4 JSON of a signed peer, or NULL */
	/* status of the fetches */
	int64_t last_attempt, last_success, last_failure;
	char *last_error;		/* NULL before the first failure */
	uint64_t failures;		/* consecutive failed fetches */
};

struct anchor_peer_bundle_row {
	char trust_domain[256];
	bool has_sequence;		/* spiffe_sequence present */
	uint64_t sequence;
	unsigned signers_version;	/* verified under this F3 version; 0: unsigned */
	uint8_t *payload;		/* F1 bytes (malloc'd) */
	size_t payload_len;
	uint8_t sha256[32];
	int64_t refresh_hint;		/* seconds, -1 when the bundle has none */
	bool bootstrap;			/* given by an operator, not fetched */
	int64_t stored_at;
};

/*
 * Add a peer: a new row, or the parameters of a removed peer's row replaced
 * (status, verifier state and removal cleared).  ANCHOR_E_EXISTS when the
 * peer is in force; ANCHOR_E_INVAL when a constraint refuses it (our own
 * trust domain, http:// without signers, ...: anchor_store_errmsg() says).
 * The status and verifier_state members of p are not read.
 */
int anchor_store_peer_insert(struct anchor_store *s, const struct anchor_peer_row *p);
/*
 * Change the parameters (url, profile, endpoint_spiffe_id, signers, ca_pem,
 * allow, source) and the verifier state of a peer in force, as given in p.
 */
int anchor_store_peer_update(struct anchor_store *s, const struct anchor_peer_row *p);
/* One peer, removed or not: ANCHOR_E_NOT_FOUND if never added. */
int anchor_store_peer_get(struct anchor_store *s, const char *td,
    struct anchor_peer_row *out);
/* Every peer row ordered by trust domain.  Free with anchor_peer_rows_free(). */
int anchor_store_peers(struct anchor_store *s, struct anchor_peer_row **rows,
    size_t *n);
void anchor_peer_row_clear(struct anchor_peer_row *p);	/* accepts NULL */
void anchor_peer_rows_free(struct anchor_peer_row *rows, size_t n);
/*
 * Remove a peer in force at once: its bundle is deleted, its verifier state
 * forgotten, and the row marked removed with reason and operator (may be
 * NULL).  ANCHOR_E_NOT_FOUND when no peer of that name is in force.
 */
int anchor_store_peer_remove(struct anchor_store *s, const char *td, int64_t ts,
    const char *reason, const char *operator_name);
/*
 * Record a fetch.  succeeded: last_attempt and last_success become ts, the
 * failure count 0, and the verifier state verifier_state unless it is NULL.
 * failed: last_attempt and last_failure become ts, last_error the reason,
 * and the failure count rises by one.
 */
int anchor_store_peer_succeeded(struct anchor_store *s, const char *td,
    int64_t ts, const char *verifier_state);
int anchor_store_peer_failed(struct anchor_store *s, const char *td,
    int64_t ts, const char *reason);

/*
 * A peer's current bundle: put replaces it (the database refuses a fetched
 * bundle that goes back, see schema version 2), get gives
 * ANCHOR_E_NOT_FOUND when there is none.  Free with
 * anchor_peer_bundle_row_clear().
 */
int anchor_store_peer_bundle_put(struct anchor_store *s,
    const struct anchor_peer_bundle_row *b);
int anchor_store_peer_bundle_get(struct anchor_store *s, const char *td,
    struct anchor_peer_bundle_row *out);
void anchor_peer_bundle_row_clear(struct anchor_peer_bundle_row *b);

#endif /* ANCHOR_STORE_H */
