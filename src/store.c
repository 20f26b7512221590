#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "error.h"
#include "store.h"
#include "util.h"

#define DB_NAME "anchor.db"
#define LOCK_NAME "lock"
#define BUSY_TIMEOUT_MS 10000
#define APPLICATION_ID 0x414e4348 /* "ANCH" */
#define MAX_EVENT_LEN 128

/* High-water marks in meta: raised with every insert, never lowered. */
#define HWM_PREFIX "hwm."
#define HWM_BUNDLE "hwm.bundle_sequence"
#define HWM_AUDIT "hwm.audit_seq"
#define HWM_SERIAL "hwm.key_serial."

struct anchor_store {
	sqlite3 *db;
	char errmsg[256];
};

static const char *const role_names[] = {
    [ANCHOR_ROLE_X509_CA] = "x509-ca",
    [ANCHOR_ROLE_JWT] = "jwt",
    [ANCHOR_ROLE_BUNDLE_SIGNING] = "bundle-signing",
};

static const char *const alg_names[] = {
    [ANCHOR_ALG_EC_P256] = "ec-p256",
    [ANCHOR_ALG_EC_P384] = "ec-p384",
    [ANCHOR_ALG_RSA_3072] = "rsa-3072",
};

static const char *const state_names[] = {
    [ANCHOR_KEY_PUBLISHED] = "published", [ANCHOR_KEY_ACTIVE] = "active",
    [ANCHOR_KEY_RETIRED] = "retired",	  [ANCHOR_KEY_REMOVED] = "removed",
    [ANCHOR_KEY_REVOKED] = "revoked",	  [ANCHOR_KEY_DESTROYED] = "destroyed",
};

/*
 * Version 1.  Names of roles, algorithms and states are stored as text so
 * that an operator can read the database with the sqlite3 shell.
 */
static const char schema_v1[] =
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY NOT NULL CHECK (length(key) > 0),"
    "  value TEXT NOT NULL"
    ");"
    "CREATE TRIGGER meta_hwm_rises BEFORE UPDATE ON meta"
    "  WHEN substr(OLD.key, 1, 4) = 'hwm.' AND (NEW.key IS NOT OLD.key"
    "    OR CAST(NEW.value AS INTEGER) < CAST(OLD.value AS INTEGER))"
    "  BEGIN SELECT RAISE(ABORT, 'a high-water mark never decreases'); END;"
    "CREATE TRIGGER meta_hwm_stays BEFORE DELETE ON meta"
    "  WHEN substr(OLD.key, 1, 4) = 'hwm.'"
    "  BEGIN SELECT RAISE(ABORT, 'a high-water mark is never deleted'); END;"

    "CREATE TABLE keys ("
    "  id INTEGER PRIMARY KEY,"
    "  role TEXT NOT NULL"
    "    CHECK (role IN ('x509-ca', 'jwt', 'bundle-signing')),"
    "  serial INTEGER NOT NULL"
    "    CHECK (typeof(serial) = 'integer'"
    "      AND serial BETWEEN 1 AND 4294967295),"
    "  label TEXT NOT NULL UNIQUE CHECK (length(label) > 0),"
    "  ckaid BLOB NOT NULL UNIQUE"
    "    CHECK (typeof(ckaid) = 'blob' AND length(ckaid) = 16),"
    "  alg TEXT NOT NULL CHECK (alg IN ('ec-p256', 'ec-p384', 'rsa-3072')),"
    "  kid TEXT NOT NULL UNIQUE CHECK (length(kid) > 0),"
    "  jwk TEXT NOT NULL CHECK (length(jwk) > 0),"
    "  cert_der BLOB CHECK (cert_der IS NULL OR"
    "    (typeof(cert_der) = 'blob' AND length(cert_der) > 0)),"
    "  state TEXT NOT NULL CHECK (state IN ('published', 'active',"
    "    'retired', 'removed', 'revoked', 'destroyed')),"
    "  created_at INTEGER NOT NULL CHECK (created_at >= 0),"
    "  published_at INTEGER NOT NULL DEFAULT 0 CHECK (published_at >= 0),"
    "  activated_at INTEGER NOT NULL DEFAULT 0 CHECK (activated_at >= 0),"
    "  retired_at INTEGER NOT NULL DEFAULT 0 CHECK (retired_at >= 0),"
    "  removed_at INTEGER NOT NULL DEFAULT 0 CHECK (removed_at >= 0),"
    "  revoked_at INTEGER NOT NULL DEFAULT 0 CHECK (revoked_at >= 0),"
    "  destroyed_at INTEGER NOT NULL DEFAULT 0 CHECK (destroyed_at >= 0),"
    "  revoke_reason TEXT,"
    "  UNIQUE (role, serial),"
    "  CHECK (role <> 'bundle-signing' OR alg <> 'rsa-3072'),"
    "  CHECK (cert_der IS NULL OR role = 'x509-ca')"
    ");"
    /* DESIGN §4: exactly one active key per role, never two. */
    "CREATE UNIQUE INDEX keys_one_active ON keys (role) WHERE state = 'active';"
    "CREATE TRIGGER keys_identity_fixed"
    "  BEFORE UPDATE OF role, serial, label, ckaid, alg, kid, jwk, created_at"
    "  ON keys"
    "  BEGIN SELECT RAISE(ABORT, 'the identity of a key never changes'); END;"
    /* States only move forward: a revoked key is never active again. */
    "CREATE TRIGGER keys_state_forward BEFORE UPDATE OF state ON keys"
    "  WHEN (CASE NEW.state WHEN 'published' THEN 0 WHEN 'active' THEN 1"
    "    WHEN 'retired' THEN 2 WHEN 'removed' THEN 3 WHEN 'revoked' THEN 4"
    "    ELSE 5 END) <"
    "   (CASE OLD.state WHEN 'published' THEN 0 WHEN 'active' THEN 1"
    "    WHEN 'retired' THEN 2 WHEN 'removed' THEN 3 WHEN 'revoked' THEN 4"
    "    ELSE 5 END)"
    "  BEGIN SELECT RAISE(ABORT, 'a key never returns to an earlier state');"
    "  END;"

    "CREATE TABLE bundles ("
    "  sequence INTEGER PRIMARY KEY CHECK (sequence > 0),"
    "  payload BLOB NOT NULL"
    "    CHECK (typeof(payload) = 'blob' AND length(payload) > 0),"
    "  sha256 BLOB NOT NULL"
    "    CHECK (typeof(sha256) = 'blob' AND length(sha256) = 32),"
    "  created_at INTEGER NOT NULL CHECK (created_at >= 0)"
    ");"
    "CREATE TABLE bundle_signatures ("
    "  id INTEGER PRIMARY KEY,"
    "  sequence INTEGER NOT NULL REFERENCES bundles (sequence),"
    "  iat INTEGER NOT NULL,"
    "  exp INTEGER NOT NULL,"
    "  jws TEXT NOT NULL CHECK (length(jws) > 0),"
    "  CHECK (exp > iat)"
    ");"
    "CREATE INDEX bundle_signatures_by_sequence"
    "  ON bundle_signatures (sequence, id);"

    "CREATE TABLE signer_sets ("
    "  version INTEGER PRIMARY KEY CHECK (version BETWEEN 1 AND 4294967295),"
    "  min_sequence INTEGER NOT NULL CHECK (min_sequence >= 0),"
    "  payload BLOB NOT NULL"
    "    CHECK (typeof(payload) = 'blob' AND length(payload) > 0),"
    "  jws TEXT NOT NULL CHECK (length(jws) > 0),"
    "  created_at INTEGER NOT NULL CHECK (created_at >= 0)"
    ");"
    /* F3: version N+1 only follows N; a gap would strand verifiers. */
    "CREATE TRIGGER signer_sets_no_gap BEFORE INSERT ON signer_sets"
    "  WHEN NEW.version >"
    "    1 + coalesce((SELECT max(version) FROM signer_sets), 0)"
    "  BEGIN SELECT RAISE(ABORT, 'signer set versions follow one another');"
    "  END;"

    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY CHECK (seq > 0),"
    "  ts INTEGER NOT NULL CHECK (ts >= 0),"
    "  event TEXT NOT NULL CHECK (length(event) > 0),"
    "  record TEXT NOT NULL CHECK (length(record) > 0),"
    "  prev_hash BLOB NOT NULL"
    "    CHECK (typeof(prev_hash) = 'blob' AND length(prev_hash) = 32),"
    "  hash BLOB NOT NULL CHECK (typeof(hash) = 'blob' AND length(hash) = 32)"
    ");"
    "CREATE INDEX audit_by_ts ON audit (ts);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    /* hash: the record hash that was signed, kept to spot a rewritten chain. */
    "CREATE TABLE audit_checkpoints ("
    "  id INTEGER PRIMARY KEY,"
    "  seq INTEGER NOT NULL REFERENCES audit (seq),"
    "  hash BLOB NOT NULL CHECK (typeof(hash) = 'blob' AND length(hash) = 32),"
    "  kid TEXT NOT NULL CHECK (length(kid) > 0),"
    "  sig BLOB NOT NULL CHECK (typeof(sig) = 'blob' AND length(sig) > 0),"
    "  ts INTEGER NOT NULL CHECK (ts >= 0)"
    ");"
    "CREATE INDEX audit_checkpoints_by_seq ON audit_checkpoints (seq);"
    "CREATE TRIGGER audit_checkpoints_no_update"
    "  BEFORE UPDATE ON audit_checkpoints"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER audit_checkpoints_no_delete"
    "  BEFORE DELETE ON audit_checkpoints"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"

    "PRAGMA application_id = 1095648072;" /* APPLICATION_ID */
    "PRAGMA user_version = 1;";

/*
 * Version 2: federation peers (DESIGN.md §6).  A peer row is kept after its
 * removal (removed_at, reason, operator) so that a removed configuration
 * peer stays removed; its bundle is not.  Peer bundles only move forward
 * under one signer-set version (R14 for signed peers, the sequence rules of
 * docs/federation.md for plain ones).
 */
static const char schema_v2[] =
    "CREATE TABLE peers ("
    "  trust_domain TEXT PRIMARY KEY NOT NULL"
    "    CHECK (length(trust_domain) BETWEEN 1 AND 255"
    "      AND trust_domain NOT GLOB '*[^a-z0-9._-]*'),"
    "  url TEXT NOT NULL"
    "    CHECK ((substr(url, 1, 8) = 'https://' AND length(url) > 8)"
    "      OR (substr(url, 1, 7) = 'http://' AND length(url) > 7)),"
    "  profile TEXT NOT NULL CHECK (profile IN ('https_web', 'https_spiffe')),"
    "  endpoint_spiffe_id TEXT CHECK (endpoint_spiffe_id IS NULL"
    "    OR substr(endpoint_spiffe_id, 1, 9) = 'spiffe://'),"
    "  signers BLOB CHECK (signers IS NULL"
    "    OR (typeof(signers) = 'blob' AND length(signers) > 0)),"
    "  ca_pem TEXT CHECK (ca_pem IS NULL OR length(ca_pem) > 0),"
    "  allow TEXT NOT NULL DEFAULT '[]'"
    "    CHECK (json_valid(allow) AND json_type(allow) = 'array'),"
    "  source TEXT NOT NULL CHECK (source IN ('config', 'cli')),"
    "  added_at INTEGER NOT NULL CHECK (added_at >= 0),"
    "  added_by TEXT NOT NULL DEFAULT '',"
    "  removed_at INTEGER NOT NULL DEFAULT 0 CHECK (removed_at >= 0),"
    "  removed_reason TEXT,"
    "  removed_by TEXT,"
    "  verifier_state TEXT CHECK (verifier_state IS NULL"
    "    OR (signers IS NOT NULL AND json_valid(verifier_state))),"
    "  last_attempt INTEGER NOT NULL DEFAULT 0 CHECK (last_attempt >= 0),"
    "  last_success INTEGER NOT NULL DEFAULT 0 CHECK (last_success >= 0),"
    "  last_failure INTEGER NOT NULL DEFAULT 0 CHECK (last_failure >= 0),"
    "  last_error TEXT,"
    "  failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),"
    /* https_spiffe names the endpoint's SPIFFE ID; nothing else does. */
    "  CHECK ((profile = 'https_spiffe') = (endpoint_spiffe_id IS NOT NULL)),"
    "  CHECK (profile = 'https_web' OR substr(url, 1, 8) = 'https://'),"
    /* Plain HTTP only carries signed bundles. */
    "  CHECK (substr(url, 1, 7) <> 'http://' OR signers IS NOT NULL),"
    "  CHECK (ca_pem IS NULL OR profile = 'https_web'),"
    "  CHECK ((removed_at = 0) = (removed_reason IS NULL)),"
    "  CHECK (removed_at = 0 OR verifier_state IS NULL)"
    ");"
    "CREATE TRIGGER peers_not_ourselves BEFORE INSERT ON peers"
    "  WHEN NEW.trust_domain ="
    "    (SELECT value FROM meta WHERE key = 'trust_domain')"
    "  BEGIN SELECT RAISE(ABORT, 'a trust domain does not federate with"
    " itself'); END;"
    "CREATE TRIGGER peers_name_fixed BEFORE UPDATE OF trust_domain ON peers"
    "  BEGIN SELECT RAISE(ABORT, 'the trust domain of a peer never"
    " changes'); END;"
    "CREATE TRIGGER peers_removed_bundle_first"
    "  BEFORE UPDATE OF removed_at ON peers"
    "  WHEN NEW.removed_at <> 0 AND EXISTS (SELECT 1 FROM peer_bundles"
    "    WHERE trust_domain = NEW.trust_domain)"
    "  BEGIN SELECT RAISE(ABORT, 'a removed peer keeps no bundle'); END;"

    "CREATE TABLE peer_bundles ("
    "  trust_domain TEXT PRIMARY KEY NOT NULL"
    "    REFERENCES peers (trust_domain),"
    "  sequence INTEGER CHECK (sequence IS NULL OR sequence >= 0),"
    "  signers_version INTEGER NOT NULL DEFAULT 0"
    "    CHECK (signers_version BETWEEN 0 AND 4294967295),"
    "  payload BLOB NOT NULL"
    "    CHECK (typeof(payload) = 'blob' AND length(payload) > 0),"
    "  sha256 BLOB NOT NULL"
    "    CHECK (typeof(sha256) = 'blob' AND length(sha256) = 32),"
    "  refresh_hint INTEGER CHECK (refresh_hint IS NULL OR refresh_hint >= 0),"
    "  origin TEXT NOT NULL CHECK (origin IN ('fetched', 'bootstrap')),"
    "  stored_at INTEGER NOT NULL CHECK (stored_at >= 0),"
    "  CHECK (signers_version = 0 OR sequence IS NOT NULL)"
    ");"
    "CREATE TRIGGER peer_bundles_peer_in_force BEFORE INSERT ON peer_bundles"
    "  WHEN (SELECT removed_at FROM peers"
    "    WHERE trust_domain = NEW.trust_domain) <> 0"
    "  BEGIN SELECT RAISE(ABORT, 'a removed peer keeps no bundle'); END;"
    /* A fetched bundle never goes back after a fetched one: under one
     * signer-set version not to a lower sequence, nor to none, nor to other
     * bytes under the same sequence; nor to a lower signer-set version
     * unless an operator reset the peer's chain (verifier state gone).  An
     * operator's bootstrap bundle is the latest only until the next fetch. */
    "CREATE TRIGGER peer_bundles_forward BEFORE UPDATE ON peer_bundles"
    "  WHEN NEW.origin = 'fetched' AND OLD.origin = 'fetched' AND ("
    "    (NEW.signers_version < OLD.signers_version AND"
    "      (SELECT verifier_state FROM peers"
    "        WHERE trust_domain = NEW.trust_domain) IS NOT NULL)"
    "    OR (NEW.signers_version = OLD.signers_version AND ("
    "      (OLD.sequence IS NOT NULL AND (NEW.sequence IS NULL"
    "        OR NEW.sequence < OLD.sequence))"
    "      OR (NEW.sequence = OLD.sequence AND NEW.sha256 <> OLD.sha256))))"
    "  BEGIN SELECT RAISE(ABORT, 'a peer bundle never goes back'); END;"
    "CREATE TRIGGER peer_bundles_name_fixed"
    "  BEFORE UPDATE OF trust_domain ON peer_bundles"
    "  BEGIN SELECT RAISE(ABORT, 'the trust domain of a peer never"
    " changes'); END;"

    "PRAGMA user_version = 2;";

/* Each entry ends by setting user_version to its version. */
static const struct migration {
	int64_t version;
	const char *sql;
} migrations[] = {
    {1, schema_v1},
    {2, schema_v2},
};

static const char *
name_of(const char *const *names, size_t n, unsigned v)
{
	return v < n ? names[v] : NULL;
}

static int
parse_name(const char *const *names, size_t n, const char *s, unsigned *v)
{
	size_t i;

	for (i = 0; s != NULL && i < n; i++) {
		if (names[i] != NULL && strcmp(names[i], s) == 0) {
			*v = (unsigned)i;
			return ANCHOR_OK;
		}
	}
	return ANCHOR_E_STATE;
}

const char *
anchor_key_state_name(enum anchor_key_state s)
{
	return name_of(state_names, ANCHOR_ARRAY_SIZE(state_names),
		       (unsigned)s);
}

static const char *
role_name(enum anchor_role role)
{
	return name_of(role_names, ANCHOR_ARRAY_SIZE(role_names),
		       (unsigned)role);
}

static int
map_rc(int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return ANCHOR_E_EXISTS;
	}
	switch (rc & 0xff) {
	case SQLITE_OK:
		return ANCHOR_OK;
	case SQLITE_CONSTRAINT:
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
	case SQLITE_MISMATCH:
		return ANCHOR_E_INVAL;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return ANCHOR_E_BUSY;
	case SQLITE_NOMEM:
		return ANCHOR_E_NOMEM;
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return ANCHOR_E_IO;
	}
	return ANCHOR_E_STATE;
}

static int __attribute__((format(printf, 3, 4)))
fail(struct anchor_store *s, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
	return r;
}

/* Keep SQLite's message before a cleanup statement replaces it. */
static int
db_fail(struct anchor_store *s, int rc)
{
	return fail(s, map_rc(rc), "%s", sqlite3_errmsg(s->db));
}

static int
exec(struct anchor_store *s, const char *sql)
{
	int rc;

	if ((rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL)) != SQLITE_OK)
		return db_fail(s, rc);
	return ANCHOR_OK;
}

static int
prepare(struct anchor_store *s, const char *sql, sqlite3_stmt **st)
{
	int rc;

	if ((rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL)) != SQLITE_OK) {
		*st = NULL;
		return db_fail(s, rc);
	}
	return ANCHOR_OK;
}

/* Step a statement that returns no row. */
static int
step_done(struct anchor_store *s, sqlite3_stmt *st)
{
	int rc;

	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		return db_fail(s, rc == SQLITE_ROW ? SQLITE_MISUSE : rc);
	return ANCHOR_OK;
}

/* The integer in the first column of the one row of a bound statement. */
static int
query_int(struct anchor_store *s, sqlite3_stmt *st, int64_t *v)
{
	int rc;

	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		return db_fail(s, rc == SQLITE_DONE ? SQLITE_MISUSE : rc);
	*v = sqlite3_column_int64(st, 0);
	return ANCHOR_OK;
}

static int
scalar_int(struct anchor_store *s, const char *sql, int64_t *v)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = prepare(s, sql, &st)) == ANCHOR_OK)
		r = query_int(s, st, v);
	sqlite3_finalize(st);
	return r;
}

/*
 * Make a change of several statements atomic: its own transaction, or a
 * savepoint inside the caller's, so that a failure leaves the caller's
 * transaction usable.
 */
static int
op_begin(struct anchor_store *s, bool *own)
{
	*own = sqlite3_get_autocommit(s->db) != 0;
	return exec(s, *own ? "BEGIN IMMEDIATE" : "SAVEPOINT anchor_op");
}

static int
op_end(struct anchor_store *s, bool own, int r)
{
	if (r == ANCHOR_OK &&
	    (r = exec(s, own ? "COMMIT" : "RELEASE anchor_op")) == ANCHOR_OK)
		return ANCHOR_OK;
	/* SQLite may have rolled back already; errors here change nothing. */
	if (own) {
		if (!sqlite3_get_autocommit(s->db))
			(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	} else {
		(void)sqlite3_exec(s->db,
				   "ROLLBACK TO anchor_op; RELEASE anchor_op",
				   NULL, NULL, NULL);
	}
	return r;
}

static int
sha256(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
	EVP_MD_CTX *ctx;
	unsigned int n = 0;
	int r = ANCHOR_E_CRYPTO;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return ANCHOR_E_NOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, a, alen) == 1 &&
	    EVP_DigestUpdate(ctx, b, blen) == 1 &&
	    EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32)
		r = ANCHOR_OK;
	EVP_MD_CTX_free(ctx);
	return r;
}

/* A copy of column i with a NUL byte after it; a NULL column gives NULL. */
static int
col_copy(sqlite3_stmt *st, int i, bool text, void **out, size_t *len)
{
	const void *p;
	size_t n;
	uint8_t *buf;

	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return ANCHOR_OK;
	p = text ? (const void *)sqlite3_column_text(st, i)
		 : sqlite3_column_blob(st, i);
	n = (size_t)sqlite3_column_bytes(st, i);
	if (p == NULL && n > 0)
		return ANCHOR_E_NOMEM;
	if ((buf = malloc(n + 1)) == NULL)
		return ANCHOR_E_NOMEM;
	if (n > 0)
		memcpy(buf, p, n);
	buf[n] = '\0';
	*out = buf;
	if (len != NULL)
		*len = n;
	return ANCHOR_OK;
}

static int
col_text(sqlite3_stmt *st, int i, char **out, size_t *len)
{
	void *p = NULL;
	int r = col_copy(st, i, true, &p, len);

	*out = p;
	return r;
}

static int
col_blob(sqlite3_stmt *st, int i, uint8_t **out, size_t *len)
{
	void *p = NULL;
	int r = col_copy(st, i, false, &p, len);

	*out = p;
	return r;
}

/* A non-empty text column into a fixed buffer. */
static int
col_str(sqlite3_stmt *st, int i, char *buf, size_t size)
{
	const unsigned char *p = sqlite3_column_text(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);

	if (p == NULL || n == 0 || n >= size || memchr(p, '\0', n) != NULL)
		return ANCHOR_E_STATE;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return ANCHOR_OK;
}

static int
col_fixed(sqlite3_stmt *st, int i, uint8_t *buf, size_t size)
{
	const void *p = sqlite3_column_blob(st, i);

	if (p == NULL || (size_t)sqlite3_column_bytes(st, i) != size)
		return ANCHOR_E_STATE;
	memcpy(buf, p, size);
	return ANCHOR_OK;
}

/* A field that must be a NUL-terminated, non-empty string within size. */
static bool
fixed_str_ok(const char *buf, size_t size)
{
	return buf[0] != '\0' && memchr(buf, '\0', size) != NULL;
}

/* The high-water mark called name; 0 when it was never raised. */
static int
read_hwm(struct anchor_store *s, const char *name, int64_t *v)
{
	static const char sql[] =
	    "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM meta"
	    " WHERE key = ?1), 0)";
	sqlite3_stmt *st = NULL;
	int rc, r;

	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC)) !=
	    SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	r = query_int(s, st, v);
out:
	sqlite3_finalize(st);
	return r;
}

static int
raise_hwm(struct anchor_store *s, const char *name, int64_t v)
{
	static const char sql[] =
	    "INSERT INTO meta (key, value) VALUES (?1, CAST(?2 AS TEXT))"
	    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
	    " WHERE CAST(excluded.value AS INTEGER) >"
	    "  CAST(meta.value AS INTEGER)";
	sqlite3_stmt *st = NULL;
	int rc, r;

	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 2, v)) != SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	r = step_done(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

/* --- open, close, lock --- */

static int
check_state_dir(const char *dir, bool create)
{
	struct stat st;

	if (stat(dir, &st) != 0) {
		if (errno != ENOENT)
			return ANCHOR_E_IO;
		if (!create)
			return ANCHOR_E_NOT_FOUND;
		if (mkdir(dir, 0700) == 0) {
			/* mkdir() applies the umask; the mode must be exact. */
			if (chmod(dir, 0700) != 0)
				return ANCHOR_E_IO;
		} else if (errno != EEXIST) {
			return errno == ENOENT ? ANCHOR_E_NOT_FOUND
					       : ANCHOR_E_IO;
		}
		if (stat(dir, &st) != 0)
			return ANCHOR_E_IO;
	}
	/* Whoever can write the directory can replace the database. */
	if (!S_ISDIR(st.st_mode) || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return ANCHOR_E_STATE;
	return ANCHOR_OK;
}

static int
apply_migration(struct anchor_store *s, const struct migration *m)
{
	int64_t version, n;
	int r;

	if ((r = exec(s, "BEGIN IMMEDIATE")) != ANCHOR_OK)
		return r;
	/* Another process may have migrated while this one waited. */
	if ((r = scalar_int(s, "PRAGMA user_version", &version)) != ANCHOR_OK)
		goto out;
	if (version > ANCHOR_SCHEMA_VERSION) {
		r = fail(s, ANCHOR_E_SCHEMA,
			 "schema version %" PRId64 " is newer than %d", version,
			 ANCHOR_SCHEMA_VERSION);
		goto out;
	}
	if (version >= m->version)
		goto out;
	if (version != m->version - 1) {
		r = fail(s, ANCHOR_E_STATE,
			 "schema version %" PRId64
			 " cannot be migrated to %" PRId64,
			 version, m->version);
		goto out;
	}
	if (version == 0) {
		if ((r = scalar_int(s, "SELECT count(*) FROM sqlite_master",
				    &n)) != ANCHOR_OK)
			goto out;
		if (n != 0) {
			r = fail(s, ANCHOR_E_STATE, "not an anchor database");
			goto out;
		}
	}
	if ((r = exec(s, m->sql)) != ANCHOR_OK)
		goto out;
	r = exec(s, "COMMIT");
out:
	if (!sqlite3_get_autocommit(s->db))
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static int
set_pragmas(struct anchor_store *s)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *mode;
	int64_t v;
	int rc, r;

	if ((r = exec(s, "PRAGMA foreign_keys = ON")) != ANCHOR_OK ||
	    (r = exec(s, "PRAGMA synchronous = FULL")) != ANCHOR_OK)
		goto out;
	if ((r = scalar_int(s, "PRAGMA foreign_keys", &v)) != ANCHOR_OK)
		goto out;
	if (v != 1) {
		r = fail(s, ANCHOR_E_STATE, "foreign keys cannot be enabled");
		goto out;
	}
	if ((r = prepare(s, "PRAGMA journal_mode = WAL", &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		r = db_fail(s, rc);
		goto out;
	}
	mode = sqlite3_column_text(st, 0);
	if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
		r = fail(s, ANCHOR_E_STATE, "journal mode %s instead of wal",
			 mode != NULL ? (const char *)mode : "unknown");
		goto out;
	}
	r = ANCHOR_OK;
out:
	sqlite3_finalize(st);
	return r;
}

int
anchor_store_open(const char *state_dir, bool create, struct anchor_store **out)
{
	struct anchor_store *s = NULL;
	char *path = NULL;
	struct stat st;
	mode_t mask;
	int64_t version = 0, app_id = 0;
	size_t i;
	int flags, rc, r = ANCHOR_E_INTERNAL;

	*out = NULL;
	if (state_dir == NULL || *state_dir == '\0')
		return ANCHOR_E_INVAL;
	if ((r = check_state_dir(state_dir, create)) != ANCHOR_OK)
		goto out;
	if (asprintf(&path, "%s/%s", state_dir, DB_NAME) < 0) {
		path = NULL;
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	if (!create && stat(path, &st) != 0) {
		r = errno == ENOENT ? ANCHOR_E_NOT_FOUND : ANCHOR_E_IO;
		goto out;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW |
		(create ? SQLITE_OPEN_CREATE : 0);
	mask = umask(077);
	rc = sqlite3_open_v2(path, &s->db, flags, NULL);
	umask(mask);
	if (rc != SQLITE_OK) {
		r = s->db != NULL ? db_fail(s, rc) : ANCHOR_E_NOMEM;
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	if ((rc = sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS)) != SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}

	/* Read-only checks first: a newer schema is not touched at all. */
	if ((r = scalar_int(s, "PRAGMA user_version", &version)) != ANCHOR_OK ||
	    (r = scalar_int(s, "PRAGMA application_id", &app_id)) != ANCHOR_OK)
		goto out;
	if (version != 0 && app_id != APPLICATION_ID) {
		r = fail(s, ANCHOR_E_STATE, "not an anchor database");
		goto out;
	}
	if (version > ANCHOR_SCHEMA_VERSION) {
		r = ANCHOR_E_SCHEMA;
		goto out;
	}
	if (version == 0 && !create) {
		r = ANCHOR_E_NOT_FOUND;
		goto out;
	}

	if (stat(path, &st) != 0) {
		r = ANCHOR_E_IO;
		goto out;
	}
	if ((st.st_mode & 077) != 0 && chmod(path, 0600) != 0) {
		r = ANCHOR_E_IO;
		goto out;
	}
	if ((r = set_pragmas(s)) != ANCHOR_OK)
		goto out;
	for (i = 0; i < ANCHOR_ARRAY_SIZE(migrations); i++)
		if ((r = apply_migration(s, &migrations[i])) != ANCHOR_OK)
			goto out;
	*out = s;
	s = NULL;
	r = ANCHOR_OK;
out:
	anchor_store_close(s);
	free(path);
	return r;
}

void
anchor_store_close(struct anchor_store *s)
{
	if (s == NULL)
		return;
	/* v2: a statement left unfinalized by a bug must not leak the handle.
	 */
	sqlite3_close_v2(s->db);
	free(s);
}

const char *
anchor_store_errmsg(const struct anchor_store *s)
{
	if (s == NULL)
		return "no state database";
	if (s->errmsg[0] != '\0')
		return s->errmsg;
	return s->db != NULL ? sqlite3_errmsg(s->db) : "no error";
}

struct sqlite3 *
anchor_store_sqlite(struct anchor_store *s)
{
	return s != NULL ? s->db : NULL;
}

int
anchor_store_lock(const char *state_dir, bool wait, int *fd)
{
	char path[PATH_MAX];
	int n, lfd = -1, r = ANCHOR_E_INTERNAL;

	*fd = -1;
	if (state_dir == NULL || *state_dir == '\0')
		return ANCHOR_E_INVAL;
	n = snprintf(path, sizeof(path), "%s/%s", state_dir, LOCK_NAME);
	if (n < 0 || (size_t)n >= sizeof(path))
		return ANCHOR_E_INVAL;
	lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lfd < 0) {
		r = errno == ENOENT ? ANCHOR_E_NOT_FOUND : ANCHOR_E_IO;
		goto out;
	}
	while (flock(lfd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
		if (errno == EINTR)
			continue;
		r = errno == EWOULDBLOCK ? ANCHOR_E_BUSY : ANCHOR_E_IO;
		goto out;
	}
	*fd = lfd;
	lfd = -1;
	r = ANCHOR_OK;
out:
	if (lfd >= 0)
		close(lfd);
	return r;
}

void
anchor_store_unlock(int fd)
{
	if (fd < 0)
		return;
	/* Explicitly: a forked child may still hold a copy of fd. */
	(void)flock(fd, LOCK_UN);
	close(fd);
}

/* --- transactions and checks --- */

int
anchor_store_begin(struct anchor_store *s)
{
	return exec(s, "BEGIN IMMEDIATE");
}

int
anchor_store_commit(struct anchor_store *s)
{
	int r;

	/* Either committed or rolled back: never left open. */
	if ((r = exec(s, "COMMIT")) != ANCHOR_OK)
		anchor_store_rollback(s);
	return r;
}

void
anchor_store_rollback(struct anchor_store *s)
{
	if (s != NULL && s->db != NULL && !sqlite3_get_autocommit(s->db))
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int
anchor_store_integrity(struct anchor_store *s)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *msg;
	int rc, r;

	if ((r = prepare(s, "PRAGMA integrity_check", &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		r = db_fail(s, rc);
		goto out;
	}
	msg = sqlite3_column_text(st, 0);
	if (msg == NULL || strcmp((const char *)msg, "ok") != 0) {
		r = fail(s, ANCHOR_E_STATE, "integrity check: %.200s",
			 msg != NULL ? (const char *)msg : "no answer");
		goto out;
	}
	sqlite3_finalize(st);
	if ((r = prepare(s, "PRAGMA foreign_key_check", &st)) != ANCHOR_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		msg = sqlite3_column_text(st, 0);
		r = fail(s, ANCHOR_E_STATE, "foreign key check: table %.100s",
			 msg != NULL ? (const char *)msg : "?");
		goto out;
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(s, rc);
		goto out;
	}
	r = ANCHOR_OK;
out:
	sqlite3_finalize(st);
	return r;
}

/* --- meta --- */

int
anchor_store_meta_get(struct anchor_store *s, const char *key, char **value)
{
	sqlite3_stmt *st = NULL;
	char *v = NULL;
	int rc, r;

	*value = NULL;
	if (key == NULL || *key == '\0')
		return fail(s, ANCHOR_E_INVAL, "empty meta key");
	if ((r = prepare(s, "SELECT value FROM meta WHERE key = ?1", &st)) !=
	    ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC)) !=
	    SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = fail(s, ANCHOR_E_NOT_FOUND, "meta %.100s is not set", key);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(s, rc);
		goto out;
	}
	if ((r = col_text(st, 0, &v, NULL)) != ANCHOR_OK)
		goto out;
	*value = v;
	v = NULL;
	r = ANCHOR_OK;
out:
	free(v);
	sqlite3_finalize(st);
	return r;
}

int
anchor_store_meta_set(struct anchor_store *s, const char *key,
		      const char *value)
{
	static const char sql[] =
	    "INSERT INTO meta (key, value) VALUES (?1, ?2)"
	    " ON CONFLICT (key) DO UPDATE SET value = excluded.value";
	sqlite3_stmt *st = NULL;
	int rc, r;

	if (key == NULL || *key == '\0' || value == NULL)
		return fail(s, ANCHOR_E_INVAL, "empty meta key or value");
	if (strncmp(key, HWM_PREFIX, strlen(HWM_PREFIX)) == 0)
		return fail(s, ANCHOR_E_INVAL,
			    "meta %.100s is kept by the store", key);
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC)) !=
		SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	r = step_done(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

/* --- keys --- */

static int
serial_hwm_name(enum anchor_role role, char *buf, size_t size)
{
	const char *name = role_name(role);
	int n;

	if (name == NULL)
		return ANCHOR_E_INVAL;
	n = snprintf(buf, size, "%s%s", HWM_SERIAL, name);
	return n < 0 || (size_t)n >= size ? ANCHOR_E_INTERNAL : ANCHOR_OK;
}

/* 1 + the larger of the high-water mark and the highest stored serial. */
static int
next_serial(struct anchor_store *s, enum anchor_role role, int64_t *next)
{
	static const char sql[] =
	    "SELECT max("
	    " coalesce((SELECT max(serial) FROM keys WHERE role = ?1), 0),"
	    " coalesce((SELECT CAST(value AS INTEGER) FROM meta"
	    "  WHERE key = ?2), 0))";
	sqlite3_stmt *st = NULL;
	char hwm[64];
	int64_t v = 0;
	int rc, r;

	if ((r = serial_hwm_name(role, hwm, sizeof(hwm))) != ANCHOR_OK)
		return fail(s, r, "unknown key role %d", (int)role);
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_text(st, 1, role_name(role), -1,
				    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 2, hwm, -1, SQLITE_STATIC)) !=
		SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	if ((r = query_int(s, st, &v)) != ANCHOR_OK)
		goto out;
	if (v < 0 || v >= (int64_t)UINT_MAX) {
		r = fail(s, ANCHOR_E_STATE, "no key serial left for %s",
			 role_name(role));
		goto out;
	}
	*next = v + 1;
out:
	sqlite3_finalize(st);
	return r;
}

static int
key_row_valid(struct anchor_store *s, const struct anchor_key_row *k)
{
	if (role_name(k->role) == NULL)
		return fail(s, ANCHOR_E_INVAL, "unknown key role %d",
			    (int)k->role);
	if (name_of(alg_names, ANCHOR_ARRAY_SIZE(alg_names),
		    (unsigned)k->alg) == NULL)
		return fail(s, ANCHOR_E_INVAL, "unknown algorithm %d",
			    (int)k->alg);
	if (anchor_key_state_name(k->state) == NULL)
		return fail(s, ANCHOR_E_INVAL, "unknown key state %d",
			    (int)k->state);
	if (k->serial == 0 || !fixed_str_ok(k->label, sizeof(k->label)) ||
	    !fixed_str_ok(k->kid, sizeof(k->kid)) || k->jwk == NULL ||
	    *k->jwk == '\0')
		return fail(s, ANCHOR_E_INVAL,
			    "key row: missing serial, label,"
			    " kid or jwk");
	if ((k->cert_der == NULL) != (k->cert_len == 0))
		return fail(s, ANCHOR_E_INVAL,
			    "key row: certificate and length"
			    " disagree");
	return ANCHOR_OK;
}

/* Bind state, certificate, timestamps and reason from ?first on. */
static int
bind_key_mutable(sqlite3_stmt *st, int first, const struct anchor_key_row *k)
{
	const int64_t ts[] = {k->published_at, k->activated_at,
			      k->retired_at,   k->removed_at,
			      k->revoked_at,   k->destroyed_at};
	size_t i;
	int rc;

	if ((rc = sqlite3_bind_text(st, first, anchor_key_state_name(k->state),
				    -1, SQLITE_STATIC)) != SQLITE_OK)
		return rc;
	if (k->cert_der != NULL)
		rc = sqlite3_bind_blob64(st, first + 1, k->cert_der,
					 k->cert_len, SQLITE_STATIC);
	else
		rc = sqlite3_bind_null(st, first + 1);
	if (rc != SQLITE_OK)
		return rc;
	for (i = 0; i < ANCHOR_ARRAY_SIZE(ts); i++)
		if ((rc = sqlite3_bind_int64(st, first + 2 + (int)i, ts[i])) !=
		    SQLITE_OK)
			return rc;
	if (k->revoke_reason != NULL)
		return sqlite3_bind_text(st, first + 8, k->revoke_reason, -1,
					 SQLITE_STATIC);
	return sqlite3_bind_null(st, first + 8);
}

int
anchor_store_key_insert(struct anchor_store *s, struct anchor_key_row *k)
{
	static const char sql[] =
	    "INSERT INTO keys (role, serial, label, ckaid, alg, kid, jwk,"
	    " created_at, state, cert_der, published_at, activated_at,"
	    " retired_at, removed_at, revoked_at, destroyed_at, revoke_reason)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
	    " ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";
	sqlite3_stmt *st = NULL;
	char hwm[64];
	int64_t next = 0, id = 0;
	bool own = false, in_op = false;
	int rc, r;

	if ((r = key_row_valid(s, k)) != ANCHOR_OK)
		return r;
	if ((r = serial_hwm_name(k->role, hwm, sizeof(hwm))) != ANCHOR_OK)
		return fail(s, r, "unknown key role");
	if ((r = op_begin(s, &own)) != ANCHOR_OK)
		goto out;
	in_op = true;
	if ((r = next_serial(s, k->role, &next)) != ANCHOR_OK)
		goto out;
	if ((int64_t)k->serial < next) {
		r = fail(s, ANCHOR_E_EXISTS, "%s serial %u was used before",
			 role_name(k->role), k->serial);
		goto out;
	}
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_text(st, 1, role_name(k->role), -1,
				    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 2, k->serial)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 3, k->label, -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (rc = sqlite3_bind_blob(st, 4, k->ckaid, (int)sizeof(k->ckaid),
				    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 5, alg_names[k->alg], -1,
				    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 6, k->kid, -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 7, k->jwk, -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 8, k->created_at)) != SQLITE_OK ||
	    (rc = bind_key_mutable(st, 9, k)) != SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	if ((r = step_done(s, st)) != ANCHOR_OK)
		goto out;
	id = sqlite3_last_insert_rowid(s->db);
	if ((r = raise_hwm(s, hwm, k->serial)) != ANCHOR_OK)
		goto out;
	in_op = false;
	if ((r = op_end(s, own, ANCHOR_OK)) != ANCHOR_OK)
		goto out;
	k->id = id;
out:
	sqlite3_finalize(st);
	if (in_op)
		r = op_end(s, own, r);
	return r;
}

int
anchor_store_key_update(struct anchor_store *s, const struct anchor_key_row *k)
{
	static const char sql[] =
	    "UPDATE keys SET state = ?2, cert_der = ?3, published_at = ?4,"
	    " activated_at = ?5, retired_at = ?6, removed_at = ?7,"
	    " revoked_at = ?8, destroyed_at = ?9, revoke_reason = ?10"
	    " WHERE id = ?1";
	sqlite3_stmt *st = NULL;
	int rc, r;

	if (anchor_key_state_name(k->state) == NULL)
		return fail(s, ANCHOR_E_INVAL, "unknown key state %d",
			    (int)k->state);
	if ((k->cert_der == NULL) != (k->cert_len == 0))
		return fail(s, ANCHOR_E_INVAL,
			    "key row: certificate and length"
			    " disagree");
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_int64(st, 1, k->id)) != SQLITE_OK ||
	    (rc = bind_key_mutable(st, 2, k)) != SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	if ((r = step_done(s, st)) != ANCHOR_OK)
		goto out;
	if (sqlite3_changes(s->db) == 0)
		r = fail(s, ANCHOR_E_NOT_FOUND, "no key with id %" PRId64,
			 k->id);
out:
	sqlite3_finalize(st);
	return r;
}

static void
key_row_free_members(struct anchor_key_row *k)
{
	free(k->jwk);
	free(k->cert_der);
	free(k->revoke_reason);
	k->jwk = NULL;
	k->cert_der = NULL;
	k->revoke_reason = NULL;
}

void
anchor_key_rows_free(struct anchor_key_row *keys, size_t n)
{
	size_t i;

	if (keys == NULL)
		return;
	for (i = 0; i < n; i++)
		key_row_free_members(&keys[i]);
	free(keys);
}

static int
read_key(sqlite3_stmt *st, struct anchor_key_row *k)
{
	int64_t *const ts[] = {
	    &k->created_at, &k->published_at, &k->activated_at, &k->retired_at,
	    &k->removed_at, &k->revoked_at,   &k->destroyed_at};
	unsigned v;
	int64_t serial;
	size_t i;
	int r;

	memset(k, 0, sizeof(*k));
	k->id = sqlite3_column_int64(st, 0);
	if ((r = parse_name(role_names, ANCHOR_ARRAY_SIZE(role_names),
			    (const char *)sqlite3_column_text(st, 1), &v)) !=
	    ANCHOR_OK)
		return r;
	k->role = (enum anchor_role)v;
	serial = sqlite3_column_int64(st, 2);
	if (serial <= 0 || serial > (int64_t)UINT_MAX)
		return ANCHOR_E_STATE;
	k->serial = (unsigned)serial;
	if ((r = col_str(st, 3, k->label, sizeof(k->label))) != ANCHOR_OK ||
	    (r = col_fixed(st, 4, k->ckaid, sizeof(k->ckaid))) != ANCHOR_OK)
		return r;
	if ((r = parse_name(alg_names, ANCHOR_ARRAY_SIZE(alg_names),
			    (const char *)sqlite3_column_text(st, 5), &v)) !=
	    ANCHOR_OK)
		return r;
	k->alg = (enum anchor_alg)v;
	if ((r = col_str(st, 6, k->kid, sizeof(k->kid))) != ANCHOR_OK ||
	    (r = col_text(st, 7, &k->jwk, NULL)) != ANCHOR_OK ||
	    (r = col_blob(st, 8, &k->cert_der, &k->cert_len)) != ANCHOR_OK)
		return r;
	if (k->jwk == NULL)
		return ANCHOR_E_STATE;
	if ((r = parse_name(state_names, ANCHOR_ARRAY_SIZE(state_names),
			    (const char *)sqlite3_column_text(st, 9), &v)) !=
	    ANCHOR_OK)
		return r;
	k->state = (enum anchor_key_state)v;
	for (i = 0; i < ANCHOR_ARRAY_SIZE(ts); i++)
		*ts[i] = sqlite3_column_int64(st, 10 + (int)i);
	return col_text(st, 17, &k->revoke_reason, NULL);
}

int
anchor_store_keys(struct anchor_store *s, struct anchor_key_row **keys,
		  size_t *n)
{
	static const char sql[] =
	    "SELECT id, role, serial, label, ckaid, alg, kid, jwk, cert_der,"
	    " state, created_at, published_at, activated_at, retired_at,"
	    " removed_at, revoked_at, destroyed_at, revoke_reason FROM keys"
	    " ORDER BY CASE role WHEN 'x509-ca' THEN 0 WHEN 'jwt' THEN 1"
	    " ELSE 2 END, serial";
	sqlite3_stmt *st = NULL;
	struct anchor_key_row *rows = NULL, *tmp, k;
	size_t have = 0, cap = 0;
	int rc, r;

	*keys = NULL;
	*n = 0;
	memset(&k, 0, sizeof(k));
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (have == cap) {
			cap = cap ? cap * 2 : 8;
			if (cap > SIZE_MAX / sizeof(*rows) ||
			    (tmp = realloc(rows, cap * sizeof(*rows))) ==
				NULL) {
				r = ANCHOR_E_NOMEM;
				goto out;
			}
			rows = tmp;
		}
		if ((r = read_key(st, &k)) != ANCHOR_OK) {
			fail(s, r, "reading key row %" PRId64 ": %s", k.id,
			     anchor_strerror(r));
			goto out;
		}
		rows[have++] = k;
		memset(&k, 0, sizeof(k));
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(s, rc);
		goto out;
	}
	*keys = rows;
	*n = have;
	rows = NULL;
	have = 0;
	r = ANCHOR_OK;
out:
	key_row_free_members(&k);
	anchor_key_rows_free(rows, have);
	sqlite3_finalize(st);
	return r;
}

int
anchor_store_key_next_serial(struct anchor_store *s, enum anchor_role role,
			     unsigned *serial)
{
	int64_t next = 0;
	int r;

	if ((r = next_serial(s, role, &next)) != ANCHOR_OK)
		return r;
	*serial = (unsigned)next;
	return ANCHOR_OK;
}

/* --- bundles --- */

static int
next_sequence(struct anchor_store *s, int64_t *next)
{
	static const char sql[] =
	    "SELECT max(coalesce((SELECT max(sequence) FROM bundles), 0),"
	    " coalesce((SELECT CAST(value AS INTEGER) FROM meta"
	    "  WHERE key = ?1), 0))";
	sqlite3_stmt *st = NULL;
	int64_t v = 0;
	int rc, r;

	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_text(st, 1, HWM_BUNDLE, -1, SQLITE_STATIC)) !=
	    SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	if ((r = query_int(s, st, &v)) != ANCHOR_OK)
		goto out;
	if (v < 0 || v == INT64_MAX) {
		r = fail(s, ANCHOR_E_STATE, "no bundle sequence left");
		goto out;
	}
	*next = v + 1;
out:
	sqlite3_finalize(st);
	return r;
}

int
anchor_store_next_sequence(struct anchor_store *s, uint64_t *seq)
{
	int64_t next = 0;
	int r;

	if ((r = next_sequence(s, &next)) != ANCHOR_OK)
		return r;
	*seq = (uint64_t)next;
	return ANCHOR_OK;
}

int
anchor_store_bundle_insert(struct anchor_store *s, uint64_t seq,
			   const uint8_t *payload, size_t len, int64_t now)
{
	static const char sql[] =
	    "INSERT INTO bundles (sequence, payload, sha256, created_at)"
	    " VALUES (?1, ?2, ?3, ?4)";
	sqlite3_stmt *st = NULL;
	uint8_t sha[32];
	int64_t next = 0;
	bool own = false, in_op = false;
	int rc, r;

	if (seq == 0 || seq > INT64_MAX || payload == NULL || len == 0 ||
	    now < 0)
		return fail(s, ANCHOR_E_INVAL,
			    "bundle: bad sequence, payload"
			    " or time");
	if ((r = sha256(payload, len, NULL, 0, sha)) != ANCHOR_OK)
		return fail(s, r, "SHA-256 failed");
	if ((r = op_begin(s, &own)) != ANCHOR_OK)
		goto out;
	in_op = true;
	/* Taken also means used once and deleted since. */
	if ((r = next_sequence(s, &next)) != ANCHOR_OK)
		goto out;
	if ((int64_t)seq < next) {
		r = fail(s, ANCHOR_E_EXISTS,
			 "bundle sequence %" PRIu64 " was used before", seq);
		goto out;
	}
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_int64(st, 1, (int64_t)seq)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob64(st, 2, payload, len, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (rc = sqlite3_bind_blob(st, 3, sha, (int)sizeof(sha),
				    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 4, now)) != SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	if ((r = step_done(s, st)) != ANCHOR_OK ||
	    (r = raise_hwm(s, HWM_BUNDLE, (int64_t)seq)) != ANCHOR_OK)
		goto out;
	in_op = false;
	r = op_end(s, own, ANCHOR_OK);
out:
	sqlite3_finalize(st);
	if (in_op)
		r = op_end(s, own, r);
	return r;
}

int
anchor_store_bundle_add_signature(struct anchor_store *s, uint64_t seq,
				  int64_t iat, int64_t exp, const char *jws,
				  size_t len)
{
	static const char sql[] =
	    "INSERT INTO bundle_signatures (sequence, iat, exp, jws)"
	    " SELECT sequence, ?2, ?3, ?4 FROM bundles WHERE sequence = ?1";
	sqlite3_stmt *st = NULL;
	int rc, r;

	if (seq == 0 || seq > INT64_MAX || jws == NULL || len == 0 ||
	    memchr(jws, '\0', len) != NULL || exp <= iat)
		return fail(s, ANCHOR_E_INVAL,
			    "bundle signature: bad sequence,"
			    " envelope or validity");
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_int64(st, 1, (int64_t)seq)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 2, iat)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 3, exp)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text64(st, 4, jws, len, SQLITE_STATIC,
				      SQLITE_UTF8)) != SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	if ((r = step_done(s, st)) != ANCHOR_OK)
		goto out;
	if (sqlite3_changes(s->db) == 0)
		r = fail(s, ANCHOR_E_NOT_FOUND,
			 "no bundle with sequence %" PRIu64, seq);
out:
	sqlite3_finalize(st);
	return r;
}

/* The bundle of sequence seq, or the latest with seq 0. */
static int
bundle_read(struct anchor_store *s, uint64_t seq, struct anchor_bundle_row *out)
{
	static const char sql[] =
	    "SELECT b.sequence, b.payload, b.sha256, b.created_at,"
	    " g.jws, g.iat, g.exp FROM bundles AS b"
	    " LEFT JOIN bundle_signatures AS g ON g.id ="
	    "  (SELECT max(id) FROM bundle_signatures"
	    "   WHERE sequence = b.sequence)"
	    " WHERE b.sequence = CASE WHEN ?1 = 0"
	    "  THEN (SELECT max(sequence) FROM bundles) ELSE ?1 END";
	sqlite3_stmt *st = NULL;
	struct anchor_bundle_row b;
	uint8_t sha[32];
	int64_t v;
	int rc, r;

	memset(out, 0, sizeof(*out));
	memset(&b, 0, sizeof(b));
	if (seq > INT64_MAX)
		return fail(s, ANCHOR_E_INVAL, "bundle sequence out of range");
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_int64(st, 1, (int64_t)seq)) != SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = seq == 0 ? fail(s, ANCHOR_E_NOT_FOUND, "no bundle")
			     : fail(s, ANCHOR_E_NOT_FOUND,
				    "no bundle with sequence %" PRIu64, seq);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(s, rc);
		goto out;
	}
	v = sqlite3_column_int64(st, 0);
	b.sequence = (uint64_t)v;
	b.created_at = sqlite3_column_int64(st, 3);
	if ((r = col_blob(st, 1, &b.payload, &b.payload_len)) != ANCHOR_OK ||
	    (r = col_text(st, 4, &b.jws, &b.jws_len)) != ANCHOR_OK)
		goto out;
	if (v <= 0 || b.payload == NULL || b.payload_len == 0 ||
	    col_fixed(st, 2, b.sha256, sizeof(b.sha256)) != ANCHOR_OK) {
		r = fail(s, ANCHOR_E_STATE, "malformed bundle row %" PRId64, v);
		goto out;
	}
	if (b.jws != NULL) {
		b.iat = sqlite3_column_int64(st, 5);
		b.exp = sqlite3_column_int64(st, 6);
	}
	/* Never hand out bytes that are not the ones stored. */
	if ((r = sha256(b.payload, b.payload_len, NULL, 0, sha)) != ANCHOR_OK) {
		fail(s, r, "SHA-256 failed");
		goto out;
	}
	if (memcmp(sha, b.sha256, sizeof(sha)) != 0) {
		r = fail(s, ANCHOR_E_STATE,
			 "bundle %" PRId64 ": payload does"
			 " not match its SHA-256",
			 v);
		goto out;
	}
	*out = b;
	memset(&b, 0, sizeof(b));
	r = ANCHOR_OK;
out:
	anchor_bundle_row_clear(&b);
	sqlite3_finalize(st);
	return r;
}

int
anchor_store_bundle_latest(struct anchor_store *s,
			   struct anchor_bundle_row *out)
{
	return bundle_read(s, 0, out);
}

int
anchor_store_bundle_get(struct anchor_store *s, uint64_t seq,
			struct anchor_bundle_row *out)
{
	if (seq == 0) {
		memset(out, 0, sizeof(*out));
		return fail(s, ANCHOR_E_INVAL, "bundle sequence 0");
	}
	return bundle_read(s, seq, out);
}

void
anchor_bundle_row_clear(struct anchor_bundle_row *b)
{
	if (b == NULL)
		return;
	free(b->payload);
	free(b->jws);
	memset(b, 0, sizeof(*b));
}

/* --- signer sets --- */

int
anchor_store_signers_insert(struct anchor_store *s,
			    const struct anchor_signers_row *row)
{
	static const char sql[] =
	    "INSERT INTO signer_sets (version, min_sequence, payload, jws,"
	    " created_at) VALUES (?1, ?2, ?3, ?4, ?5)";
	sqlite3_stmt *st = NULL;
	int rc, r;

	if (row->version == 0 || row->min_sequence > INT64_MAX ||
	    row->payload == NULL || row->payload_len == 0 || row->jws == NULL ||
	    row->jws_len == 0 || memchr(row->jws, '\0', row->jws_len) != NULL ||
	    row->created_at < 0)
		return fail(s, ANCHOR_E_INVAL,
			    "signer set: bad version,"
			    " payload or envelope");
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_int64(st, 1, row->version)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 2, (int64_t)row->min_sequence)) !=
		SQLITE_OK ||
	    (rc = sqlite3_bind_blob64(st, 3, row->payload, row->payload_len,
				      SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text64(st, 4, row->jws, row->jws_len,
				      SQLITE_STATIC, SQLITE_UTF8)) !=
		SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 5, row->created_at)) != SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	r = step_done(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

int
anchor_store_signers_get(struct anchor_store *s, unsigned version,
			 struct anchor_signers_row *out)
{
	static const char sql[] =
	    "SELECT version, min_sequence, payload, jws, created_at"
	    " FROM signer_sets WHERE version = CASE WHEN ?1 = 0"
	    "  THEN (SELECT max(version) FROM signer_sets) ELSE ?1 END";
	sqlite3_stmt *st = NULL;
	struct anchor_signers_row g;
	int64_t v, min_seq;
	int rc, r;

	memset(out, 0, sizeof(*out));
	memset(&g, 0, sizeof(g));
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_int64(st, 1, version)) != SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = fail(s, ANCHOR_E_NOT_FOUND, "no signer set version %u",
			 version);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(s, rc);
		goto out;
	}
	v = sqlite3_column_int64(st, 0);
	min_seq = sqlite3_column_int64(st, 1);
	g.created_at = sqlite3_column_int64(st, 4);
	if ((r = col_blob(st, 2, &g.payload, &g.payload_len)) != ANCHOR_OK ||
	    (r = col_text(st, 3, &g.jws, &g.jws_len)) != ANCHOR_OK)
		goto out;
	if (v <= 0 || v > (int64_t)UINT_MAX || min_seq < 0 ||
	    g.payload == NULL || g.jws == NULL) {
		r = fail(s, ANCHOR_E_STATE, "malformed signer set row %" PRId64,
			 v);
		goto out;
	}
	g.version = (unsigned)v;
	g.min_sequence = (uint64_t)min_seq;
	*out = g;
	memset(&g, 0, sizeof(g));
	r = ANCHOR_OK;
out:
	anchor_signers_row_clear(&g);
	sqlite3_finalize(st);
	return r;
}

void
anchor_signers_row_clear(struct anchor_signers_row *row)
{
	if (row == NULL)
		return;
	free(row->payload);
	free(row->jws);
	memset(row, 0, sizeof(*row));
}

/* --- audit --- */

/* The last record's seq and hash; 0 and zeros when there is none. */
static int
audit_last(struct anchor_store *s, int64_t *seq, uint8_t hash[32])
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	*seq = 0;
	memset(hash, 0, 32);
	if ((r = prepare(s,
			 "SELECT seq, hash FROM audit ORDER BY seq DESC"
			 " LIMIT 1",
			 &st)) != ANCHOR_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*seq = sqlite3_column_int64(st, 0);
		if (col_fixed(st, 1, hash, 32) != ANCHOR_OK) {
			r = fail(s, ANCHOR_E_STATE,
				 "malformed audit row %" PRId64, *seq);
			goto out;
		}
	} else if (rc != SQLITE_DONE) {
		r = db_fail(s, rc);
		goto out;
	}
	r = ANCHOR_OK;
out:
	sqlite3_finalize(st);
	return r;
}

/* {"seq":N,"ts":T,"event":E,"data":D}: members in this order, D sorted. */
static int
audit_record(int64_t seq, int64_t ts, const char *event, const json_t *data,
	     char **out)
{
	json_t *ev = NULL;
	char *ev_txt = NULL, *data_txt = NULL, *rec = NULL;
	int r = ANCHOR_E_INTERNAL;

	*out = NULL;
	/* json_string() refuses invalid UTF-8. */
	if ((ev = json_string(event)) == NULL) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	if ((ev_txt = json_dumps(ev, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL ||
	    (data_txt = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS)) ==
		NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	if (asprintf(&rec,
		     "{\"seq\":%" PRId64 ",\"ts\":%" PRId64
		     ",\"event\":%s,\"data\":%s}",
		     seq, ts, ev_txt, data_txt) < 0) {
		rec = NULL;
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	*out = rec;
	rec = NULL;
	r = ANCHOR_OK;
out:
	free(rec);
	free(data_txt);
	free(ev_txt);
	json_decref(ev);
	return r;
}

int
anchor_store_audit_append(struct anchor_store *s, int64_t ts, const char *event,
			  const char *data_json)
{
	static const char sql[] =
	    "INSERT INTO audit (seq, ts, event, record, prev_hash, hash)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
	sqlite3_stmt *st = NULL;
	json_t *data = NULL;
	json_error_t jerr;
	char *record = NULL;
	uint8_t prev[32], hash[32];
	int64_t last = 0, hwm = 0, seq;
	size_t elen;
	bool own = false, in_op = false;
	int rc, r;

	if (ts < 0 || event == NULL || (elen = strlen(event)) == 0 ||
	    elen > MAX_EVENT_LEN)
		return fail(s, ANCHOR_E_INVAL, "audit: bad time or event name");
	data = json_loads(data_json != NULL ? data_json : "{}",
			  JSON_REJECT_DUPLICATES, &jerr);
	if (data == NULL || !json_is_object(data)) {
		r = fail(s, ANCHOR_E_INVAL,
			 "audit data is not a JSON object: %s",
			 data == NULL ? jerr.text : "another type");
		goto out;
	}
	if ((r = op_begin(s, &own)) != ANCHOR_OK)
		goto out;
	in_op = true;
	if ((r = audit_last(s, &last, prev)) != ANCHOR_OK ||
	    (r = read_hwm(s, HWM_AUDIT, &hwm)) != ANCHOR_OK)
		goto out;
	/* After a truncated tail the gap stays visible to verify. */
	seq = (last > hwm ? last : hwm);
	if (seq < 0 || seq == INT64_MAX) {
		r = fail(s, ANCHOR_E_STATE, "no audit sequence left");
		goto out;
	}
	seq++;
	if ((r = audit_record(seq, ts, event, data, &record)) != ANCHOR_OK) {
		fail(s, r, "audit record for event %.100s", event);
		goto out;
	}
	if ((r = sha256(prev, sizeof(prev), record, strlen(record), hash)) !=
	    ANCHOR_OK) {
		fail(s, r, "SHA-256 failed");
		goto out;
	}
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_int64(st, 1, seq)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 2, ts)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 3, event, -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 4, record, -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (rc = sqlite3_bind_blob(st, 5, prev, (int)sizeof(prev),
				    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob(st, 6, hash, (int)sizeof(hash),
				    SQLITE_STATIC)) != SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	if ((r = step_done(s, st)) != ANCHOR_OK ||
	    (r = raise_hwm(s, HWM_AUDIT, seq)) != ANCHOR_OK)
		goto out;
	in_op = false;
	r = op_end(s, own, ANCHOR_OK);
out:
	sqlite3_finalize(st);
	if (in_op)
		r = op_end(s, own, r);
	free(record);
	json_decref(data);
	return r;
}

/* The record names the same seq, ts and event as its row. */
static bool
record_matches(const char *record, size_t len, int64_t seq, int64_t ts,
	       const char *event)
{
	json_t *o, *v;
	bool ok = false;

	if ((o = json_loadb(record, len, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return false;
	if (!json_is_object(o) || json_object_size(o) != 4)
		goto out;
	if ((v = json_object_get(o, "seq")) == NULL || !json_is_integer(v) ||
	    json_integer_value(v) != seq)
		goto out;
	if ((v = json_object_get(o, "ts")) == NULL || !json_is_integer(v) ||
	    json_integer_value(v) != ts)
		goto out;
	if ((v = json_object_get(o, "event")) == NULL || !json_is_string(v) ||
	    event == NULL || strcmp(json_string_value(v), event) != 0)
		goto out;
	if ((v = json_object_get(o, "data")) == NULL || !json_is_object(v))
		goto out;
	ok = true;
out:
	json_decref(o);
	return ok;
}

/* The first checkpoint whose hash is not the hash of its record now. */
static int
checkpoint_mismatch(struct anchor_store *s, int64_t *seq)
{
	static const char sql[] =
	    "SELECT coalesce(min(c.seq), 0) FROM audit_checkpoints AS c"
	    " LEFT JOIN audit AS a ON a.seq = c.seq"
	    " WHERE a.hash IS NULL OR a.hash <> c.hash";

	return scalar_int(s, sql, seq);
}

int
anchor_store_audit_verify(struct anchor_store *s, int64_t *bad_seq)
{
	static const char sql[] =
	    "SELECT seq, ts, event, record, prev_hash, hash FROM audit"
	    " ORDER BY seq";
	sqlite3_stmt *st = NULL;
	uint8_t prev[32], hash[32], want[32];
	const char *record;
	int64_t expect = 1, seq, hwm = 0, cp = 0, bad = 0;
	size_t len;
	bool own = false;
	int rc, r;

	*bad_seq = 0;
	memset(prev, 0, sizeof(prev));
	/* One snapshot for the chain, the high-water mark and checkpoints. */
	if (sqlite3_get_autocommit(s->db)) {
		if ((r = exec(s, "BEGIN")) != ANCHOR_OK)
			goto out;
		own = true;
	}
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		seq = sqlite3_column_int64(st, 0);
		/* A deleted row shows as the next one's seq. */
		if (seq != expect ||
		    col_fixed(st, 4, want, sizeof(want)) != ANCHOR_OK ||
		    memcmp(want, prev, sizeof(prev)) != 0 ||
		    col_fixed(st, 5, hash, sizeof(hash)) != ANCHOR_OK) {
			bad = seq;
			break;
		}
		record = (const char *)sqlite3_column_text(st, 3);
		len = (size_t)sqlite3_column_bytes(st, 3);
		if (record == NULL ||
		    !record_matches(record, len, seq,
				    sqlite3_column_int64(st, 1),
				    (const char *)sqlite3_column_text(st, 2))) {
			bad = seq;
			break;
		}
		if ((r = sha256(prev, sizeof(prev), record, len, want)) !=
		    ANCHOR_OK) {
			fail(s, r, "SHA-256 failed");
			goto out;
		}
		if (memcmp(want, hash, sizeof(hash)) != 0) {
			bad = seq;
			break;
		}
		memcpy(prev, hash, sizeof(prev));
		expect++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = db_fail(s, rc);
		goto out;
	}
	/* Records cut off the end leave the high-water mark above the last. */
	if (bad == 0) {
		if ((r = read_hwm(s, HWM_AUDIT, &hwm)) != ANCHOR_OK)
			goto out;
		if (hwm >= expect)
			bad = expect;
	}
	if ((r = checkpoint_mismatch(s, &cp)) != ANCHOR_OK)
		goto out;
	if (cp > 0 && (bad == 0 || cp < bad))
		bad = cp;
	if (bad != 0) {
		*bad_seq = bad;
		r = fail(s, ANCHOR_E_TAMPERED,
			 "audit record %" PRId64 " does not match the chain",
			 bad);
		goto out;
	}
	r = ANCHOR_OK;
out:
	sqlite3_finalize(st);
	if (own)
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static void
audit_row_free_members(struct anchor_audit_row *a)
{
	free(a->event);
	free(a->record);
	a->event = NULL;
	a->record = NULL;
}

void
anchor_audit_rows_free(struct anchor_audit_row *rows, size_t n)
{
	size_t i;

	if (rows == NULL)
		return;
	for (i = 0; i < n; i++)
		audit_row_free_members(&rows[i]);
	free(rows);
}

int
anchor_store_audit_list(struct anchor_store *s, int64_t after_seq,
			int64_t since, struct anchor_audit_row **rows,
			size_t *n)
{
	static const char sql[] =
	    "SELECT seq, ts, event, record, prev_hash, hash FROM audit"
	    " WHERE seq > ?1 AND ts >= ?2 ORDER BY seq";
	sqlite3_stmt *st = NULL;
	struct anchor_audit_row *list = NULL, *tmp, a;
	size_t have = 0, cap = 0;
	int rc, r;

	*rows = NULL;
	*n = 0;
	memset(&a, 0, sizeof(a));
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_int64(st, 1, after_seq)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 2, since)) != SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (have == cap) {
			cap = cap ? cap * 2 : 16;
			if (cap > SIZE_MAX / sizeof(*list) ||
			    (tmp = realloc(list, cap * sizeof(*list))) ==
				NULL) {
				r = ANCHOR_E_NOMEM;
				goto out;
			}
			list = tmp;
		}
		a.seq = sqlite3_column_int64(st, 0);
		a.ts = sqlite3_column_int64(st, 1);
		if ((r = col_text(st, 2, &a.event, NULL)) != ANCHOR_OK ||
		    (r = col_text(st, 3, &a.record, NULL)) != ANCHOR_OK)
			goto out;
		if (a.event == NULL || a.record == NULL ||
		    col_fixed(st, 4, a.prev_hash, 32) != ANCHOR_OK ||
		    col_fixed(st, 5, a.hash, 32) != ANCHOR_OK) {
			r = fail(s, ANCHOR_E_STATE,
				 "malformed audit row %" PRId64, a.seq);
			goto out;
		}
		list[have++] = a;
		memset(&a, 0, sizeof(a));
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(s, rc);
		goto out;
	}
	*rows = list;
	*n = have;
	list = NULL;
	have = 0;
	r = ANCHOR_OK;
out:
	audit_row_free_members(&a);
	anchor_audit_rows_free(list, have);
	sqlite3_finalize(st);
	return r;
}

int
anchor_store_audit_head(struct anchor_store *s, int64_t *seq, uint8_t hash[32])
{
	return audit_last(s, seq, hash);
}

int
anchor_store_checkpoint_insert(struct anchor_store *s, int64_t seq,
			       const char *kid, const uint8_t *sig,
			       size_t siglen, int64_t ts)
{
	/* The hash is taken from the row, so it is the one that was signed. */
	static const char sql[] =
	    "INSERT INTO audit_checkpoints (seq, hash, kid, sig, ts)"
	    " SELECT seq, hash, ?2, ?3, ?4 FROM audit WHERE seq = ?1";
	sqlite3_stmt *st = NULL;
	int rc, r;

	if (seq <= 0 || kid == NULL || *kid == '\0' || sig == NULL ||
	    siglen == 0 || ts < 0)
		return fail(s, ANCHOR_E_INVAL,
			    "checkpoint: bad seq, kid,"
			    " signature or time");
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_int64(st, 1, seq)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 2, kid, -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (rc = sqlite3_bind_blob64(st, 3, sig, siglen, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 4, ts)) != SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	if ((r = step_done(s, st)) != ANCHOR_OK)
		goto out;
	if (sqlite3_changes(s->db) == 0)
		r = fail(s, ANCHOR_E_NOT_FOUND, "no audit record %" PRId64,
			 seq);
out:
	sqlite3_finalize(st);
	return r;
}

void
anchor_checkpoint_rows_free(struct anchor_checkpoint_row *rows, size_t n)
{
	size_t i;

	if (rows == NULL)
		return;
	for (i = 0; i < n; i++)
		free(rows[i].sig);
	free(rows);
}

int
anchor_store_checkpoints(struct anchor_store *s,
			 struct anchor_checkpoint_row **rows, size_t *n)
{
	static const char sql[] =
	    "SELECT seq, hash, kid, sig, ts FROM audit_checkpoints ORDER BY id";
	sqlite3_stmt *st = NULL;
	struct anchor_checkpoint_row *list = NULL, *tmp;
	size_t have = 0, cap = 0;
	const unsigned char *kid;
	const void *sig;
	int rc, r, siglen;

	*rows = NULL;
	*n = 0;
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct anchor_checkpoint_row *c;

		if (have == cap) {
			cap = cap ? cap * 2 : 16;
			if ((tmp = realloc(list, cap * sizeof(*list))) == NULL) {
				r = ANCHOR_E_NOMEM;
				goto out;
			}
			list = tmp;
		}
		c = &list[have];
		memset(c, 0, sizeof(*c));
		c->seq = sqlite3_column_int64(st, 0);
		c->ts = sqlite3_column_int64(st, 4);
		kid = sqlite3_column_text(st, 2);
		sig = sqlite3_column_blob(st, 3);
		siglen = sqlite3_column_bytes(st, 3);
		if (col_fixed(st, 1, c->hash, 32) != ANCHOR_OK || kid == NULL ||
		    strlen((const char *)kid) >= sizeof(c->kid) || sig == NULL ||
		    siglen <= 0) {
			r = fail(s, ANCHOR_E_STATE, "malformed checkpoint");
			goto out;
		}
		memcpy(c->kid, kid, strlen((const char *)kid) + 1);
		if ((c->sig = malloc((size_t)siglen)) == NULL) {
			r = ANCHOR_E_NOMEM;
			goto out;
		}
		memcpy(c->sig, sig, (size_t)siglen);
		c->siglen = (size_t)siglen;
		have++;
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(s, rc);
		goto out;
	}
	*rows = list;
	*n = have;
	list = NULL;
	have = 0;
	r = ANCHOR_OK;
out:
	anchor_checkpoint_rows_free(list, have);
	sqlite3_finalize(st);
	return r;
}

/* --- federation peers --- */

static const char *const profile_names[] = {
    [ANCHOR_PEER_HTTPS_WEB] = "https_web",
    [ANCHOR_PEER_HTTPS_SPIFFE] = "https_spiffe",
};

static const char *const source_names[] = {
    [ANCHOR_PEER_FROM_CONFIG] = "config",
    [ANCHOR_PEER_FROM_CLI] = "cli",
};

const char *
anchor_peer_profile_name(enum anchor_peer_profile p)
{
	return name_of(profile_names, ANCHOR_ARRAY_SIZE(profile_names),
		       (unsigned)p);
}

int
anchor_peer_profile_parse(const char *s, enum anchor_peer_profile *out)
{
	unsigned v;

	if (parse_name(profile_names, ANCHOR_ARRAY_SIZE(profile_names), s,
		       &v) != ANCHOR_OK)
		return ANCHOR_E_INVAL;
	*out = (enum anchor_peer_profile)v;
	return ANCHOR_OK;
}

static const char *
source_name(enum anchor_peer_source src)
{
	return name_of(source_names, ANCHOR_ARRAY_SIZE(source_names),
		       (unsigned)src);
}

static int
bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static int
peer_row_valid(struct anchor_store *s, const struct anchor_peer_row *p)
{
	if (!fixed_str_ok(p->trust_domain, sizeof(p->trust_domain)))
		return fail(s, ANCHOR_E_INVAL, "peer: no trust domain");
	if (p->url == NULL || anchor_peer_profile_name(p->profile) == NULL ||
	    source_name(p->source) == NULL)
		return fail(s, ANCHOR_E_INVAL,
			    "peer %.100s: missing URL, profile or source",
			    p->trust_domain);
	if ((p->signers == NULL) != (p->signers_len == 0))
		return fail(s, ANCHOR_E_INVAL,
			    "peer %.100s: signers and length disagree",
			    p->trust_domain);
	return ANCHOR_OK;
}

/* Bind url, profile, endpoint, signers, ca_pem, allow, source from ?first on.
 */
static int
bind_peer_params(sqlite3_stmt *st, int first, const struct anchor_peer_row *p)
{
	int rc;

	if ((rc = sqlite3_bind_text(st, first, p->url, -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, first + 1,
				    anchor_peer_profile_name(p->profile), -1,
				    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = bind_opt_text(st, first + 2, p->endpoint_spiffe_id)) !=
		SQLITE_OK)
		return rc;
	if (p->signers != NULL)
		rc = sqlite3_bind_blob64(st, first + 3, p->signers,
					 p->signers_len, SQLITE_STATIC);
	else
		rc = sqlite3_bind_null(st, first + 3);
	if (rc != SQLITE_OK ||
	    (rc = bind_opt_text(st, first + 4, p->ca_pem)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, first + 5,
				    p->allow != NULL ? p->allow : "[]", -1,
				    SQLITE_STATIC)) != SQLITE_OK)
		return rc;
	return sqlite3_bind_text(st, first + 6, source_name(p->source), -1,
				 SQLITE_STATIC);
}

int
anchor_store_peer_insert(struct anchor_store *s,
			 const struct anchor_peer_row *p)
{
	/* A removed peer's row is taken over; one in force is left alone. */
	static const char sql[] =
	    "INSERT INTO peers (trust_domain, url, profile, endpoint_spiffe_id,"
	    " signers, ca_pem, allow, source, added_at, added_by)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
	    " ON CONFLICT (trust_domain) DO UPDATE SET url = excluded.url,"
	    " profile = excluded.profile,"
	    " endpoint_spiffe_id = excluded.endpoint_spiffe_id,"
	    " signers = excluded.signers, ca_pem = excluded.ca_pem,"
	    " allow = excluded.allow, source = excluded.source,"
	    " added_at = excluded.added_at, added_by = excluded.added_by,"
	    " removed_at = 0, removed_reason = NULL, removed_by = NULL,"
	    " verifier_state = NULL, last_attempt = 0, last_success = 0,"
	    " last_failure = 0, last_error = NULL, failures = 0"
	    " WHERE peers.removed_at <> 0";
	sqlite3_stmt *st = NULL;
	int rc, r;

	if ((r = peer_row_valid(s, p)) != ANCHOR_OK)
		return r;
	if (p->added_at < 0)
		return fail(s, ANCHOR_E_INVAL, "peer %.100s: bad time",
			    p->trust_domain);
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_text(st, 1, p->trust_domain, -1,
				    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = bind_peer_params(st, 2, p)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 9, p->added_at)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 10,
				    p->added_by != NULL ? p->added_by : "", -1,
				    SQLITE_STATIC)) != SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	if ((r = step_done(s, st)) != ANCHOR_OK)
		goto out;
	if (sqlite3_changes(s->db) == 0)
		r = fail(s, ANCHOR_E_EXISTS, "%.100s is already a peer",
			 p->trust_domain);
out:
	sqlite3_finalize(st);
	return r;
}

int
anchor_store_peer_update(struct anchor_store *s,
			 const struct anchor_peer_row *p)
{
	static const char sql[] =
	    "UPDATE peers SET url = ?2, profile = ?3, endpoint_spiffe_id = ?4,"
	    " signers = ?5, ca_pem = ?6, allow = ?7, source = ?8,"
	    " verifier_state = ?9 WHERE trust_domain = ?1 AND removed_at = 0";
	sqlite3_stmt *st = NULL;
	int rc, r;

	if ((r = peer_row_valid(s, p)) != ANCHOR_OK)
		return r;
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_text(st, 1, p->trust_domain, -1,
				    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = bind_peer_params(st, 2, p)) != SQLITE_OK ||
	    (rc = bind_opt_text(st, 9, p->verifier_state)) != SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	if ((r = step_done(s, st)) != ANCHOR_OK)
		goto out;
	if (sqlite3_changes(s->db) == 0)
		r = fail(s, ANCHOR_E_NOT_FOUND, "no peer %.100s in force",
			 p->trust_domain);
out:
	sqlite3_finalize(st);
	return r;
}

void
anchor_peer_row_clear(struct anchor_peer_row *p)
{
	if (p == NULL)
		return;
	free(p->url);
	free(p->endpoint_spiffe_id);
	free(p->signers);
	free(p->ca_pem);
	free(p->allow);
	free(p->added_by);
	free(p->removed_reason);
	free(p->removed_by);
	free(p->verifier_state);
	free(p->last_error);
	memset(p, 0, sizeof(*p));
}

void
anchor_peer_rows_free(struct anchor_peer_row *rows, size_t n)
{
	size_t i;

	if (rows == NULL)
		return;
	for (i = 0; i < n; i++)
		anchor_peer_row_clear(&rows[i]);
	free(rows);
}

#define PEER_COLUMNS                                                           \
	"trust_domain, url, profile, endpoint_spiffe_id, signers, ca_pem,"     \
	" allow, source, added_at, added_by, removed_at, removed_reason,"      \
	" removed_by, verifier_state, last_attempt, last_success,"             \
	" last_failure, last_error, failures"

static int
read_peer(sqlite3_stmt *st, struct anchor_peer_row *p)
{
	unsigned v;
	int64_t failures;
	int r;

	memset(p, 0, sizeof(*p));
	if ((r = col_str(st, 0, p->trust_domain, sizeof(p->trust_domain))) !=
		ANCHOR_OK ||
	    (r = col_text(st, 1, &p->url, NULL)) != ANCHOR_OK)
		return r;
	if ((r = parse_name(profile_names, ANCHOR_ARRAY_SIZE(profile_names),
			    (const char *)sqlite3_column_text(st, 2), &v)) !=
	    ANCHOR_OK)
		return r;
	p->profile = (enum anchor_peer_profile)v;
	if ((r = col_text(st, 3, &p->endpoint_spiffe_id, NULL)) != ANCHOR_OK ||
	    (r = col_blob(st, 4, &p->signers, &p->signers_len)) != ANCHOR_OK ||
	    (r = col_text(st, 5, &p->ca_pem, NULL)) != ANCHOR_OK ||
	    (r = col_text(st, 6, &p->allow, NULL)) != ANCHOR_OK)
		return r;
	if ((r = parse_name(source_names, ANCHOR_ARRAY_SIZE(source_names),
			    (const char *)sqlite3_column_text(st, 7), &v)) !=
	    ANCHOR_OK)
		return r;
	p->source = (enum anchor_peer_source)v;
	p->added_at = sqlite3_column_int64(st, 8);
	if ((r = col_text(st, 9, &p->added_by, NULL)) != ANCHOR_OK)
		return r;
	p->removed_at = sqlite3_column_int64(st, 10);
	if ((r = col_text(st, 11, &p->removed_reason, NULL)) != ANCHOR_OK ||
	    (r = col_text(st, 12, &p->removed_by, NULL)) != ANCHOR_OK ||
	    (r = col_text(st, 13, &p->verifier_state, NULL)) != ANCHOR_OK)
		return r;
	p->last_attempt = sqlite3_column_int64(st, 14);
	p->last_success = sqlite3_column_int64(st, 15);
	p->last_failure = sqlite3_column_int64(st, 16);
	if ((r = col_text(st, 17, &p->last_error, NULL)) != ANCHOR_OK)
		return r;
	failures = sqlite3_column_int64(st, 18);
	p->failures = failures > 0 ? (uint64_t)failures : 0;
	if (p->url == NULL || p->allow == NULL || p->added_by == NULL)
		return ANCHOR_E_STATE;
	return ANCHOR_OK;
}

int
anchor_store_peer_get(struct anchor_store *s, const char *td,
		      struct anchor_peer_row *out)
{
	static const char sql[] =
	    "SELECT " PEER_COLUMNS " FROM peers WHERE trust_domain = ?1";
	sqlite3_stmt *st = NULL;
	struct anchor_peer_row p;
	int rc, r;

	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	if (td == NULL)
		return fail(s, ANCHOR_E_INVAL, "peer: no trust domain");
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_text(st, 1, td, -1, SQLITE_STATIC)) !=
	    SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = fail(s, ANCHOR_E_NOT_FOUND, "no peer %.100s", td);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(s, rc);
		goto out;
	}
	if ((r = read_peer(st, &p)) != ANCHOR_OK) {
		fail(s, r, "reading peer %.100s: %s", td, anchor_strerror(r));
		goto out;
	}
	*out = p;
	memset(&p, 0, sizeof(p));
	r = ANCHOR_OK;
out:
	anchor_peer_row_clear(&p);
	sqlite3_finalize(st);
	return r;
}

int
anchor_store_peers(struct anchor_store *s, struct anchor_peer_row **rows,
		   size_t *n)
{
	static const char sql[] =
	    "SELECT " PEER_COLUMNS " FROM peers ORDER BY trust_domain";
	sqlite3_stmt *st = NULL;
	struct anchor_peer_row *list = NULL, *tmp, p;
	size_t have = 0, cap = 0;
	int rc, r;

	*rows = NULL;
	*n = 0;
	memset(&p, 0, sizeof(p));
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (have == cap) {
			cap = cap ? cap * 2 : 8;
			if (cap > SIZE_MAX / sizeof(*list) ||
			    (tmp = realloc(list, cap * sizeof(*list))) ==
				NULL) {
				r = ANCHOR_E_NOMEM;
				goto out;
			}
			list = tmp;
		}
		if ((r = read_peer(st, &p)) != ANCHOR_OK) {
			fail(s, r, "reading a peer row: %s",
			     anchor_strerror(r));
			goto out;
		}
		list[have++] = p;
		memset(&p, 0, sizeof(p));
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(s, rc);
		goto out;
	}
	*rows = list;
	*n = have;
	list = NULL;
	have = 0;
	r = ANCHOR_OK;
out:
	anchor_peer_row_clear(&p);
	anchor_peer_rows_free(list, have);
	sqlite3_finalize(st);
	return r;
}

/*
 * Run sql with ?1 = td, ?2 = ts, ?3 = t1 and ?4 = t2, as far as the
 * statement has parameters.
 */
static int
peer_exec(struct anchor_store *s, const char *sql, const char *td, int64_t ts,
	  const char *t1, const char *t2, bool must_change)
{
	sqlite3_stmt *st = NULL;
	int n, rc = SQLITE_OK, r;

	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	n = sqlite3_bind_parameter_count(st);
	if ((rc = sqlite3_bind_text(st, 1, td, -1, SQLITE_STATIC)) !=
		SQLITE_OK ||
	    (n >= 2 && (rc = sqlite3_bind_int64(st, 2, ts)) != SQLITE_OK) ||
	    (n >= 3 && (rc = bind_opt_text(st, 3, t1)) != SQLITE_OK) ||
	    (n >= 4 && (rc = bind_opt_text(st, 4, t2)) != SQLITE_OK)) {
		r = db_fail(s, rc);
		goto out;
	}
	if ((r = step_done(s, st)) != ANCHOR_OK)
		goto out;
	if (must_change && sqlite3_changes(s->db) == 0)
		r = fail(s, ANCHOR_E_NOT_FOUND, "no peer %.100s in force", td);
out:
	sqlite3_finalize(st);
	return r;
}

int
anchor_store_peer_remove(struct anchor_store *s, const char *td, int64_t ts,
			 const char *reason, const char *operator_name)
{
	static const char del[] =
	    "DELETE FROM peer_bundles WHERE trust_domain = ?1";
	static const char upd[] =
	    "UPDATE peers SET removed_at = ?2, removed_reason = ?3,"
	    " removed_by = ?4, verifier_state = NULL"
	    " WHERE trust_domain = ?1 AND removed_at = 0";
	bool own = false, in_op = false;
	int r;

	if (td == NULL || reason == NULL || *reason == '\0' || ts <= 0)
		return fail(s, ANCHOR_E_INVAL,
			    "peer removal: no trust domain, reason or time");
	if ((r = op_begin(s, &own)) != ANCHOR_OK)
		goto out;
	in_op = true;
	if ((r = peer_exec(s, del, td, ts, NULL, NULL, false)) != ANCHOR_OK ||
	    (r = peer_exec(s, upd, td, ts, reason, operator_name, true)) !=
		ANCHOR_OK)
		goto out;
	in_op = false;
	r = op_end(s, own, ANCHOR_OK);
out:
	if (in_op)
		r = op_end(s, own, r);
	return r;
}

int
anchor_store_peer_succeeded(struct anchor_store *s, const char *td, int64_t ts,
			    const char *verifier_state)
{
	static const char sql[] =
	    "UPDATE peers SET last_attempt = ?2, last_success = ?2,"
	    " failures = 0, verifier_state = coalesce(?3, verifier_state)"
	    " WHERE trust_domain = ?1 AND removed_at = 0";

	if (td == NULL || ts < 0)
		return fail(s, ANCHOR_E_INVAL, "peer status: bad arguments");
	return peer_exec(s, sql, td, ts, verifier_state, NULL, true);
}

int
anchor_store_peer_failed(struct anchor_store *s, const char *td, int64_t ts,
			 const char *reason)
{
	static const char sql[] =
	    "UPDATE peers SET last_attempt = ?2, last_failure = ?2,"
	    " last_error = ?3, failures = failures + 1"
	    " WHERE trust_domain = ?1 AND removed_at = 0";

	if (td == NULL || ts < 0 || reason == NULL)
		return fail(s, ANCHOR_E_INVAL, "peer status: bad arguments");
	return peer_exec(s, sql, td, ts, reason, NULL, true);
}

int
anchor_store_peer_bundle_put(struct anchor_store *s,
			     const struct anchor_peer_bundle_row *b)
{
	static const char sql[] =
	    "INSERT INTO peer_bundles (trust_domain, sequence, signers_version,"
	    " payload, sha256, refresh_hint, origin, stored_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
	    " ON CONFLICT (trust_domain) DO UPDATE SET"
	    " sequence = excluded.sequence,"
	    " signers_version = excluded.signers_version,"
	    " payload = excluded.payload, sha256 = excluded.sha256,"
	    " refresh_hint = excluded.refresh_hint, origin = excluded.origin,"
	    " stored_at = excluded.stored_at";
	sqlite3_stmt *st = NULL;
	uint8_t sha[32];
	int rc, r;

	if (!fixed_str_ok(b->trust_domain, sizeof(b->trust_domain)) ||
	    b->payload == NULL || b->payload_len == 0 ||
	    (b->has_sequence && b->sequence > INT64_MAX) || b->stored_at < 0)
		return fail(s, ANCHOR_E_INVAL,
			    "peer bundle: bad trust domain, payload,"
			    " sequence or time");
	/* The hash is ours, so that it always matches the bytes. */
	if ((r = sha256(b->payload, b->payload_len, NULL, 0, sha)) != ANCHOR_OK)
		return fail(s, r, "SHA-256 failed");
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_text(st, 1, b->trust_domain, -1,
				    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = b->has_sequence
		      ? sqlite3_bind_int64(st, 2, (int64_t)b->sequence)
		      : sqlite3_bind_null(st, 2)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 3, b->signers_version)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob64(st, 4, b->payload, b->payload_len,
				      SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob(st, 5, sha, (int)sizeof(sha),
				    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = b->refresh_hint >= 0
		      ? sqlite3_bind_int64(st, 6, b->refresh_hint)
		      : sqlite3_bind_null(st, 6)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 7,
				    b->bootstrap ? "bootstrap" : "fetched", -1,
				    SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 8, b->stored_at)) != SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	r = step_done(s, st);
out:
	sqlite3_finalize(st);
	return r;
}

int
anchor_store_peer_bundle_get(struct anchor_store *s, const char *td,
			     struct anchor_peer_bundle_row *out)
{
	static const char sql[] =
	    "SELECT trust_domain, sequence, signers_version, payload, sha256,"
	    " refresh_hint, origin, stored_at FROM peer_bundles"
	    " WHERE trust_domain = ?1";
	sqlite3_stmt *st = NULL;
	struct anchor_peer_bundle_row b;
	const unsigned char *origin;
	uint8_t sha[32];
	int64_t v;
	int rc, r;

	memset(out, 0, sizeof(*out));
	memset(&b, 0, sizeof(b));
	if (td == NULL)
		return fail(s, ANCHOR_E_INVAL, "peer bundle: no trust domain");
	if ((r = prepare(s, sql, &st)) != ANCHOR_OK)
		goto out;
	if ((rc = sqlite3_bind_text(st, 1, td, -1, SQLITE_STATIC)) !=
	    SQLITE_OK) {
		r = db_fail(s, rc);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		r = fail(s, ANCHOR_E_NOT_FOUND, "no bundle for peer %.100s",
			 td);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		r = db_fail(s, rc);
		goto out;
	}
	if ((r = col_str(st, 0, b.trust_domain, sizeof(b.trust_domain))) !=
		ANCHOR_OK ||
	    (r = col_blob(st, 3, &b.payload, &b.payload_len)) != ANCHOR_OK)
		goto out;
	b.has_sequence = sqlite3_column_type(st, 1) != SQLITE_NULL;
	if (b.has_sequence)
		b.sequence = (uint64_t)sqlite3_column_int64(st, 1);
	v = sqlite3_column_int64(st, 2);
	b.signers_version = v > 0 && v <= (int64_t)UINT_MAX ? (unsigned)v : 0;
	b.refresh_hint = sqlite3_column_type(st, 5) == SQLITE_NULL
			     ? -1
			     : sqlite3_column_int64(st, 5);
	origin = sqlite3_column_text(st, 6);
	b.bootstrap =
	    origin != NULL && strcmp((const char *)origin, "bootstrap") == 0;
	b.stored_at = sqlite3_column_int64(st, 7);
	if (b.payload == NULL || b.payload_len == 0 ||
	    col_fixed(st, 4, b.sha256, sizeof(b.sha256)) != ANCHOR_OK) {
		r = fail(s, ANCHOR_E_STATE, "malformed bundle row of %.100s",
			 td);
		goto out;
	}
	/* Never hand out bytes that are not the ones stored. */
	if ((r = sha256(b.payload, b.payload_len, NULL, 0, sha)) != ANCHOR_OK) {
		fail(s, r, "SHA-256 failed");
		goto out;
	}
	if (memcmp(sha, b.sha256, sizeof(sha)) != 0) {
		r = fail(s, ANCHOR_E_STATE,
			 "bundle of %.100s does not match its SHA-256", td);
		goto out;
	}
	*out = b;
	memset(&b, 0, sizeof(b));
	r = ANCHOR_OK;
out:
	anchor_peer_bundle_row_clear(&b);
	sqlite3_finalize(st);
	return r;
}

void
anchor_peer_bundle_row_clear(struct anchor_peer_bundle_row *b)
{
	if (b == NULL)
		return;
	free(b->payload);
	memset(b, 0, sizeof(*b));
}
