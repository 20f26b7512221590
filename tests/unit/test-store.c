#include "config.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>
#include <sqlite3.h>

#include "error.h"
#include "store.h"
#include "util.h"

struct fx {
	char tmp[64];  /* a private temp dir, removed afterwards */
	char dir[128]; /* <tmp>/state, the state_dir under test */
	char db[160];  /* <dir>/anchor.db */
	struct anchor_store *s;
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/anchor-test-store.XXXXXX");
	if (mkdtemp(f->tmp) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/state", f->tmp);
	snprintf(f->db, sizeof(f->db), "%s/anchor.db", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	anchor_store_close(f->s);
	nftw(f->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct anchor_store *
open_store(struct fx *f)
{
	assert_int_equal(anchor_store_open(f->dir, true, &f->s), ANCHOR_OK);
	assert_non_null(f->s);
	return f->s;
}

static void
reopen_store(struct fx *f, bool create)
{
	anchor_store_close(f->s);
	f->s = NULL;
	assert_int_equal(anchor_store_open(f->dir, create, &f->s), ANCHOR_OK);
}

/* A second connection, as someone editing the file behind the store's back. */
static sqlite3 *
raw_open(const struct fx *f)
{
	sqlite3 *db = NULL;

	assert_int_equal(
	    sqlite3_open_v2(f->db, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
	    SQLITE_OK);
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static int
raw_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static int64_t
raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static char *
raw_text(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	char *v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = strdup((const char *)sqlite3_column_text(st, 0));
	assert_non_null(v);
	sqlite3_finalize(st);
	return v;
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* --- open, modes, pragmas, schema --- */

static void
test_open_create_reopen(void **state)
{
	struct fx *f = *state;
	char *v = NULL;

	open_store(f);
	assert_int_equal(
	    anchor_store_meta_set(f->s, "trust_domain", "prod.example.com"),
	    ANCHOR_OK);
	assert_int_equal(
	    anchor_store_bundle_insert(f->s, 1, (const uint8_t *)"{}", 2, 10),
	    ANCHOR_OK);
	reopen_store(f, false);
	assert_int_equal(anchor_store_meta_get(f->s, "trust_domain", &v),
			 ANCHOR_OK);
	assert_string_equal(v, "prod.example.com");
	free(v);
	/* create on an existing store opens it as it is */
	reopen_store(f, true);
	assert_int_equal(anchor_store_meta_get(f->s, "trust_domain", &v),
			 ANCHOR_OK);
	free(v);
	assert_int_equal(anchor_store_integrity(f->s), ANCHOR_OK);
}

static void
test_open_missing(void **state)
{
	struct fx *f = *state;
	struct anchor_store *s = (struct anchor_store *)1;

	assert_int_equal(anchor_store_open(f->dir, false, &s),
			 ANCHOR_E_NOT_FOUND);
	assert_null(s);
	assert_false(exists(f->dir));

	assert_int_equal(mkdir(f->dir, 0700), 0);
	assert_int_equal(anchor_store_open(f->dir, false, &s),
			 ANCHOR_E_NOT_FOUND);
	assert_null(s);
	assert_false(exists(f->db));
	assert_int_equal(anchor_store_open("", true, &s), ANCHOR_E_INVAL);
}

static void
test_modes(void **state)
{
	struct fx *f = *state;
	struct anchor_store *s = NULL;
	char path[256];
	mode_t old;

	/* The store sets the modes whatever the umask. */
	old = umask(0);
	open_store(f);
	umask(old);
	assert_int_equal(mode_of(f->dir), 0700);
	assert_int_equal(mode_of(f->db), 0600);
	assert_int_equal(anchor_store_meta_set(f->s, "k", "v"), ANCHOR_OK);
	snprintf(path, sizeof(path), "%s-wal", f->db);
	if (exists(path))
		assert_int_equal(mode_of(path) & 077, 0);

	/* A database made readable by others is closed up again. */
	anchor_store_close(f->s);
	f->s = NULL;
	assert_int_equal(chmod(f->db, 0644), 0);
	reopen_store(f, false);
	assert_int_equal(mode_of(f->db), 0600);

	/* A state_dir that others can write is refused. */
	assert_int_equal(chmod(f->dir, 0770), 0);
	assert_int_equal(anchor_store_open(f->dir, false, &s), ANCHOR_E_STATE);
	assert_null(s);
	assert_int_equal(chmod(f->dir, 0702), 0);
	assert_int_equal(anchor_store_open(f->dir, true, &s), ANCHOR_E_STATE);
	assert_int_equal(chmod(f->dir, 0700), 0);

	/* So is a state_dir that is not a directory. */
	snprintf(path, sizeof(path), "%s/file", f->tmp);
	assert_int_equal(anchor_write_atomic(path, "x", 1, 0600), ANCHOR_OK);
	assert_int_equal(anchor_store_open(path, true, &s), ANCHOR_E_STATE);
	assert_null(s);
}

static void
test_pragmas(void **state)
{
	struct fx *f = *state;
	sqlite3 *db;
	char *mode;

	open_store(f);
	db = anchor_store_sqlite(f->s);
	assert_non_null(db);
	mode = raw_text(db, "PRAGMA journal_mode");
	assert_string_equal(mode, "wal");
	free(mode);
	assert_int_equal(raw_int(db, "PRAGMA synchronous"), 2); /* FULL */
	assert_int_equal(raw_int(db, "PRAGMA foreign_keys"), 1);
	assert_int_equal(raw_int(db, "PRAGMA busy_timeout"), 10000);
	assert_int_equal(raw_int(db, "PRAGMA user_version"),
			 ANCHOR_SCHEMA_VERSION);
	assert_int_equal(raw_int(db, "PRAGMA application_id"), 0x414e4348);

	/* WAL is a property of the file: another connection sees it too. */
	db = raw_open(f);
	mode = raw_text(db, "PRAGMA journal_mode");
	assert_string_equal(mode, "wal");
	free(mode);
	sqlite3_close(db);
}

static void
test_future_schema(void **state)
{
	struct fx *f = *state;
	struct anchor_store *s = (struct anchor_store *)1;
	uint8_t *before = NULL, *after = NULL;
	size_t blen = 0, alen = 0;
	sqlite3 *db;

	open_store(f);
	anchor_store_close(f->s);
	f->s = NULL;
	db = raw_open(f);
	assert_int_equal(raw_exec(db, "PRAGMA user_version = 99"), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(anchor_read_file(f->db, 1 << 24, &before, &blen),
			 ANCHOR_OK);
	assert_int_equal(anchor_store_open(f->dir, false, &s), ANCHOR_E_SCHEMA);
	assert_null(s);
	assert_int_equal(anchor_store_open(f->dir, true, &s), ANCHOR_E_SCHEMA);
	assert_null(s);
	assert_int_equal(anchor_read_file(f->db, 1 << 24, &after, &alen),
			 ANCHOR_OK);
	assert_int_equal(blen, alen);
	assert_memory_equal(before, after, blen);

	db = raw_open(f);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 99);
	sqlite3_close(db);
	free(before);
	free(after);
}

static void
test_foreign_database(void **state)
{
	struct fx *f = *state;
	struct anchor_store *s = NULL;
	sqlite3 *db;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	db = raw_open(f);
	assert_int_equal(raw_exec(db, "CREATE TABLE t (x)"), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(anchor_store_open(f->dir, true, &s), ANCHOR_E_STATE);
	assert_null(s);

	/* a version but not ours */
	db = raw_open(f);
	assert_int_equal(raw_exec(db, "PRAGMA user_version = 1"), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(anchor_store_open(f->dir, false, &s), ANCHOR_E_STATE);
	assert_null(s);
}

static void
test_meta(void **state)
{
	struct fx *f = *state;
	char *v = (char *)1;

	open_store(f);
	assert_int_equal(anchor_store_meta_get(f->s, "trust_domain", &v),
			 ANCHOR_E_NOT_FOUND);
	assert_null(v);
	assert_int_equal(
	    anchor_store_meta_set(f->s, "trust_domain", "a.example"),
	    ANCHOR_OK);
	assert_int_equal(
	    anchor_store_meta_set(f->s, "trust_domain", "b.example"),
	    ANCHOR_OK);
	assert_int_equal(anchor_store_meta_get(f->s, "trust_domain", &v),
			 ANCHOR_OK);
	assert_string_equal(v, "b.example");
	free(v);
	assert_int_equal(anchor_store_meta_set(f->s, "empty", ""), ANCHOR_OK);
	assert_int_equal(anchor_store_meta_get(f->s, "empty", &v), ANCHOR_OK);
	assert_string_equal(v, "");
	free(v);
	/* the high-water marks belong to the store */
	assert_int_equal(
	    anchor_store_meta_set(f->s, "hwm.bundle_sequence", "0"),
	    ANCHOR_E_INVAL);
	assert_int_equal(anchor_store_meta_set(f->s, "", "x"), ANCHOR_E_INVAL);
	assert_int_equal(anchor_store_meta_set(f->s, "k", NULL),
			 ANCHOR_E_INVAL);
}

/* --- keys --- */

static const uint8_t cert1[] = {0x30, 0x82, 0x01, 0x0a, 0x02, 0x01, 0x01};
static const uint8_t cert2[] = {0x30, 0x03, 0x02, 0x01, 0x02};

static void
make_key(struct anchor_key_row *k, enum anchor_role role, unsigned serial,
	 enum anchor_key_state st)
{
	static const char *const roles[] = {"x509-ca", "jwt", "bundle-signing"};
	char jwk[128];
	size_t i;

	memset(k, 0, sizeof(*k));
	k->role = role;
	k->serial = serial;
	snprintf(k->label, sizeof(k->label), "anchor/prod.example.com/%s/%u",
		 roles[role], serial);
	for (i = 0; i < sizeof(k->ckaid); i++)
		k->ckaid[i] = (uint8_t)(i * 17);
	k->ckaid[0] = (uint8_t)role;
	k->ckaid[1] = (uint8_t)serial;
	k->alg = role == ANCHOR_ROLE_X509_CA ? ANCHOR_ALG_RSA_3072
		 : role == ANCHOR_ROLE_JWT   ? ANCHOR_ALG_EC_P384
					     : ANCHOR_ALG_EC_P256;
	snprintf(k->kid, sizeof(k->kid), "kid-%s-%u", roles[role], serial);
	snprintf(jwk, sizeof(jwk), "{\"kty\":\"EC\",\"n\":%u}", serial);
	k->jwk = strdup(jwk);
	assert_non_null(k->jwk);
	if (role == ANCHOR_ROLE_X509_CA) {
		k->cert_der = malloc(sizeof(cert1));
		assert_non_null(k->cert_der);
		memcpy(k->cert_der, cert1, sizeof(cert1));
		k->cert_len = sizeof(cert1);
	}
	k->state = st;
	k->created_at = 1000 + serial;
	k->published_at = 1001 + serial;
	k->activated_at = st == ANCHOR_KEY_ACTIVE ? 1002 + serial : 0;
}

static void
clear_key(struct anchor_key_row *k)
{
	free(k->jwk);
	free(k->cert_der);
	free(k->revoke_reason);
	memset(k, 0, sizeof(*k));
}

static void
assert_key_equal(const struct anchor_key_row *a, const struct anchor_key_row *b)
{
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->role, b->role);
	assert_int_equal(a->serial, b->serial);
	assert_string_equal(a->label, b->label);
	assert_memory_equal(a->ckaid, b->ckaid, sizeof(a->ckaid));
	assert_int_equal(a->alg, b->alg);
	assert_string_equal(a->kid, b->kid);
	assert_string_equal(a->jwk, b->jwk);
	assert_int_equal(a->cert_len, b->cert_len);
	if (a->cert_len > 0)
		assert_memory_equal(a->cert_der, b->cert_der, a->cert_len);
	else
		assert_null(b->cert_der);
	assert_int_equal(a->state, b->state);
	assert_int_equal(a->created_at, b->created_at);
	assert_int_equal(a->published_at, b->published_at);
	assert_int_equal(a->activated_at, b->activated_at);
	assert_int_equal(a->retired_at, b->retired_at);
	assert_int_equal(a->removed_at, b->removed_at);
	assert_int_equal(a->revoked_at, b->revoked_at);
	assert_int_equal(a->destroyed_at, b->destroyed_at);
	if (a->revoke_reason != NULL)
		assert_string_equal(a->revoke_reason, b->revoke_reason);
	else
		assert_null(b->revoke_reason);
}

static void
test_keys_roundtrip(void **state)
{
	struct fx *f = *state;
	struct anchor_key_row k[5], *rows = NULL, bad;
	/* where each inserted key appears in the listing */
	static const size_t pos[5] = {2, 4, 0, 3, 1};
	size_t n = 0, i;

	open_store(f);
	assert_int_equal(anchor_store_keys(f->s, &rows, &n), ANCHOR_OK);
	assert_int_equal(n, 0);
	anchor_key_rows_free(rows, n);

	make_key(&k[0], ANCHOR_ROLE_JWT, 1, ANCHOR_KEY_ACTIVE);
	make_key(&k[1], ANCHOR_ROLE_BUNDLE_SIGNING, 1, ANCHOR_KEY_ACTIVE);
	make_key(&k[2], ANCHOR_ROLE_X509_CA, 1, ANCHOR_KEY_ACTIVE);
	make_key(&k[3], ANCHOR_ROLE_JWT, 2, ANCHOR_KEY_PUBLISHED);
	make_key(&k[4], ANCHOR_ROLE_X509_CA, 2, ANCHOR_KEY_PUBLISHED);
	for (i = 0; i < 5; i++) {
		assert_int_equal(anchor_store_key_insert(f->s, &k[i]),
				 ANCHOR_OK);
		assert_true(k[i].id > 0);
	}

	/* ordered by role (x509-ca, jwt, bundle-signing), then serial */
	assert_int_equal(anchor_store_keys(f->s, &rows, &n), ANCHOR_OK);
	assert_int_equal(n, 5);
	for (i = 0; i < 5; i++)
		assert_key_equal(&k[i], &rows[pos[i]]);
	anchor_key_rows_free(rows, n);

	/* update: state, timestamps, certificate, reason */
	k[0].state = ANCHOR_KEY_RETIRED;
	k[0].retired_at = 2000;
	k[3].state = ANCHOR_KEY_ACTIVE;
	k[3].activated_at = 2000;
	k[2].state = ANCHOR_KEY_REVOKED;
	k[2].revoked_at = 2100;
	k[2].revoke_reason = strdup("key compromise \"test\"");
	k[4].state = ANCHOR_KEY_ACTIVE;
	k[4].activated_at = 2100;
	memcpy(k[4].cert_der, cert2, sizeof(cert2));
	k[4].cert_len = sizeof(cert2);
	k[1].state = ANCHOR_KEY_DESTROYED;
	k[1].removed_at = 2200;
	k[1].destroyed_at = 2300;
	k[1].retired_at = 2150;
	for (i = 0; i < 5; i++)
		assert_int_equal(anchor_store_key_update(f->s, &k[i]),
				 ANCHOR_OK);
	assert_int_equal(anchor_store_keys(f->s, &rows, &n), ANCHOR_OK);
	assert_int_equal(n, 5);
	for (i = 0; i < 5; i++)
		assert_key_equal(&k[i], &rows[pos[i]]);
	anchor_key_rows_free(rows, n);

	/* a row that does not exist */
	make_key(&bad, ANCHOR_ROLE_JWT, 9, ANCHOR_KEY_PUBLISHED);
	bad.id = 999;
	assert_int_equal(anchor_store_key_update(f->s, &bad),
			 ANCHOR_E_NOT_FOUND);
	clear_key(&bad);

	/* what the database refuses */
	make_key(&bad, ANCHOR_ROLE_BUNDLE_SIGNING, 5, ANCHOR_KEY_PUBLISHED);
	bad.alg = ANCHOR_ALG_RSA_3072;
	assert_int_equal(anchor_store_key_insert(f->s, &bad), ANCHOR_E_INVAL);
	clear_key(&bad);
	make_key(&bad, ANCHOR_ROLE_JWT, 5, ANCHOR_KEY_PUBLISHED);
	bad.cert_der = malloc(sizeof(cert1));
	assert_non_null(bad.cert_der);
	memcpy(bad.cert_der, cert1, sizeof(cert1));
	bad.cert_len = sizeof(cert1);
	assert_int_equal(anchor_store_key_insert(f->s, &bad), ANCHOR_E_INVAL);
	clear_key(&bad);
	make_key(&bad, ANCHOR_ROLE_JWT, 5, ANCHOR_KEY_PUBLISHED);
	snprintf(bad.kid, sizeof(bad.kid), "%s", k[0].kid);
	assert_int_equal(anchor_store_key_insert(f->s, &bad), ANCHOR_E_EXISTS);
	clear_key(&bad);
	make_key(&bad, ANCHOR_ROLE_JWT, 5, ANCHOR_KEY_PUBLISHED);
	memcpy(bad.ckaid, k[1].ckaid, sizeof(bad.ckaid));
	assert_int_equal(anchor_store_key_insert(f->s, &bad), ANCHOR_E_EXISTS);
	clear_key(&bad);
	make_key(&bad, ANCHOR_ROLE_JWT, 5, ANCHOR_KEY_PUBLISHED);
	bad.state = (enum anchor_key_state)17;
	assert_int_equal(anchor_store_key_insert(f->s, &bad), ANCHOR_E_INVAL);
	bad.state = ANCHOR_KEY_PUBLISHED;
	bad.label[0] = '\0';
	assert_int_equal(anchor_store_key_insert(f->s, &bad), ANCHOR_E_INVAL);
	clear_key(&bad);

	/* none of the refused inserts left anything behind */
	assert_int_equal(anchor_store_keys(f->s, &rows, &n), ANCHOR_OK);
	assert_int_equal(n, 5);
	anchor_key_rows_free(rows, n);
	for (i = 0; i < 5; i++)
		clear_key(&k[i]);
}

static void
test_keys_one_active(void **state)
{
	struct fx *f = *state;
	struct anchor_key_row a, b, c, x;
	sqlite3 *db;
	int rc;

	open_store(f);
	make_key(&a, ANCHOR_ROLE_JWT, 1, ANCHOR_KEY_ACTIVE);
	make_key(&b, ANCHOR_ROLE_JWT, 2, ANCHOR_KEY_ACTIVE);
	make_key(&x, ANCHOR_ROLE_X509_CA, 1, ANCHOR_KEY_ACTIVE);
	assert_int_equal(anchor_store_key_insert(f->s, &a), ANCHOR_OK);
	assert_int_equal(anchor_store_key_insert(f->s, &b), ANCHOR_E_EXISTS);
	/* another role has its own active key */
	assert_int_equal(anchor_store_key_insert(f->s, &x), ANCHOR_OK);

	/* the refused insert did not use up serial 2 */
	b.state = ANCHOR_KEY_PUBLISHED;
	b.activated_at = 0;
	assert_int_equal(anchor_store_key_insert(f->s, &b), ANCHOR_OK);
	b.state = ANCHOR_KEY_ACTIVE;
	b.activated_at = 3000;
	assert_int_equal(anchor_store_key_update(f->s, &b), ANCHOR_E_EXISTS);

	/* the database refuses it, not only the store's code */
	db = raw_open(f);
	rc = raw_exec(db, "UPDATE keys SET state = 'active'"
			  " WHERE role = 'jwt' AND serial = 2");
	assert_int_equal(rc, SQLITE_CONSTRAINT_UNIQUE);
	rc = raw_exec(
	    db, "INSERT INTO keys (role, serial, label, ckaid, alg,"
		" kid, jwk, state, created_at) VALUES ('jwt', 7, 'l7',"
		" x'00112233445566778899aabbccddeeff', 'ec-p256', 'k7', '{}',"
		" 'active', 1)");
	assert_int_equal(rc, SQLITE_CONSTRAINT_UNIQUE);
	sqlite3_close(db);

	/* a handover in one transaction: retire, then activate */
	assert_int_equal(anchor_store_begin(f->s), ANCHOR_OK);
	a.state = ANCHOR_KEY_RETIRED;
	a.retired_at = 3000;
	assert_int_equal(anchor_store_key_update(f->s, &a), ANCHOR_OK);
	assert_int_equal(anchor_store_key_update(f->s, &b), ANCHOR_OK);
	assert_int_equal(anchor_store_commit(f->s), ANCHOR_OK);

	make_key(&c, ANCHOR_ROLE_JWT, 3, ANCHOR_KEY_PUBLISHED);
	assert_int_equal(anchor_store_key_insert(f->s, &c), ANCHOR_OK);
	clear_key(&a);
	clear_key(&b);
	clear_key(&c);
	clear_key(&x);
}

static void
test_keys_state_forward(void **state)
{
	struct fx *f = *state;
	struct anchor_key_row k;
	sqlite3 *db;

	open_store(f);
	make_key(&k, ANCHOR_ROLE_JWT, 1, ANCHOR_KEY_ACTIVE);
	assert_int_equal(anchor_store_key_insert(f->s, &k), ANCHOR_OK);
	k.state = ANCHOR_KEY_REVOKED;
	k.revoked_at = 5000;
	assert_int_equal(anchor_store_key_update(f->s, &k), ANCHOR_OK);
	/* a revoked key never becomes active or published again */
	k.state = ANCHOR_KEY_ACTIVE;
	assert_int_equal(anchor_store_key_update(f->s, &k), ANCHOR_E_INVAL);
	k.state = ANCHOR_KEY_PUBLISHED;
	assert_int_equal(anchor_store_key_update(f->s, &k), ANCHOR_E_INVAL);
	k.state = ANCHOR_KEY_DESTROYED;
	k.destroyed_at = 6000;
	assert_int_equal(anchor_store_key_update(f->s, &k), ANCHOR_OK);

	/* the identity of a key is fixed */
	db = raw_open(f);
	assert_int_equal(raw_exec(db, "UPDATE keys SET kid = 'other'"),
			 SQLITE_CONSTRAINT_TRIGGER);
	assert_int_equal(raw_exec(db, "UPDATE keys SET ckaid = zeroblob(16)"),
			 SQLITE_CONSTRAINT_TRIGGER);
	sqlite3_close(db);
	clear_key(&k);
}

static void
test_serials_never_reused(void **state)
{
	struct fx *f = *state;
	struct anchor_key_row k;
	unsigned serial = 0, i;
	sqlite3 *db;

	open_store(f);
	assert_int_equal(
	    anchor_store_key_next_serial(f->s, ANCHOR_ROLE_JWT, &serial),
	    ANCHOR_OK);
	assert_int_equal(serial, 1);
	for (i = 1; i <= 3; i++) {
		make_key(&k, ANCHOR_ROLE_JWT, i, ANCHOR_KEY_PUBLISHED);
		assert_int_equal(anchor_store_key_insert(f->s, &k), ANCHOR_OK);
		clear_key(&k);
	}
	assert_int_equal(
	    anchor_store_key_next_serial(f->s, ANCHOR_ROLE_JWT, &serial),
	    ANCHOR_OK);
	assert_int_equal(serial, 4);
	assert_int_equal(
	    anchor_store_key_next_serial(f->s, ANCHOR_ROLE_X509_CA, &serial),
	    ANCHOR_OK);
	assert_int_equal(serial, 1);

	/* a lost row does not give its serial back */
	db = raw_open(f);
	assert_int_equal(raw_exec(db, "DELETE FROM keys"
				      " WHERE role = 'jwt' AND serial = 3"),
			 SQLITE_OK);
	/* nor can the high-water mark be lowered or removed */
	assert_int_equal(raw_exec(db, "UPDATE meta SET value = '1'"
				      " WHERE key = 'hwm.key_serial.jwt'"),
			 SQLITE_CONSTRAINT_TRIGGER);
	assert_int_equal(raw_exec(db, "DELETE FROM meta"),
			 SQLITE_CONSTRAINT_TRIGGER);
	sqlite3_close(db);
	assert_int_equal(
	    anchor_store_key_next_serial(f->s, ANCHOR_ROLE_JWT, &serial),
	    ANCHOR_OK);
	assert_int_equal(serial, 4);
	make_key(&k, ANCHOR_ROLE_JWT, 3, ANCHOR_KEY_PUBLISHED);
	assert_int_equal(anchor_store_key_insert(f->s, &k), ANCHOR_E_EXISTS);
	clear_key(&k);
	make_key(&k, ANCHOR_ROLE_JWT, 4, ANCHOR_KEY_PUBLISHED);
	assert_int_equal(anchor_store_key_insert(f->s, &k), ANCHOR_OK);
	clear_key(&k);
	assert_int_equal(
	    anchor_store_key_next_serial(f->s, ANCHOR_ROLE_JWT, &serial),
	    ANCHOR_OK);
	assert_int_equal(serial, 5);
}

/* --- bundles and signer sets --- */

static void
insert_bundle(struct anchor_store *s, uint64_t seq, int expect)
{
	char payload[64];
	int n = snprintf(payload, sizeof(payload),
			 "{\"keys\":[],\"spiffe_sequence\":%llu}",
			 (unsigned long long)seq);

	assert_int_equal(
	    anchor_store_bundle_insert(s, seq, (const uint8_t *)payload,
				       (size_t)n, 100 + (int64_t)seq),
	    expect);
}

static void
test_bundle_sequence(void **state)
{
	struct fx *f = *state;
	struct anchor_bundle_row b;
	uint64_t seq = 0, i;
	uint8_t sha[32];
	sqlite3 *db;

	open_store(f);
	assert_int_equal(anchor_store_bundle_latest(f->s, &b),
			 ANCHOR_E_NOT_FOUND);
	for (i = 1; i <= 3; i++) {
		assert_int_equal(anchor_store_next_sequence(f->s, &seq),
				 ANCHOR_OK);
		assert_int_equal(seq, i);
		insert_bundle(f->s, seq, ANCHOR_OK);
	}
	assert_int_equal(anchor_store_next_sequence(f->s, &seq), ANCHOR_OK);
	assert_int_equal(seq, 4);
	insert_bundle(f->s, 2, ANCHOR_E_EXISTS);
	insert_bundle(f->s, 3, ANCHOR_E_EXISTS);
	insert_bundle(f->s, 0, ANCHOR_E_INVAL);
	assert_int_equal(
	    anchor_store_bundle_insert(f->s, 4, (const uint8_t *)"", 0, 1),
	    ANCHOR_E_INVAL);

	/* deleting the newest row does not free its sequence */
	db = raw_open(f);
	assert_int_equal(raw_exec(db, "DELETE FROM bundles WHERE sequence = 3"),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(anchor_store_next_sequence(f->s, &seq), ANCHOR_OK);
	assert_int_equal(seq, 4);
	insert_bundle(f->s, 3, ANCHOR_E_EXISTS);
	assert_int_equal(anchor_store_bundle_latest(f->s, &b), ANCHOR_OK);
	assert_int_equal(b.sequence, 2);
	anchor_bundle_row_clear(&b);
	insert_bundle(f->s, 4, ANCHOR_OK);

	assert_int_equal(anchor_store_bundle_get(f->s, 3, &b),
			 ANCHOR_E_NOT_FOUND);
	assert_int_equal(anchor_store_bundle_get(f->s, 1, &b), ANCHOR_OK);
	assert_int_equal(b.sequence, 1);
	assert_int_equal(b.created_at, 101);
	assert_int_equal(b.payload_len,
			 strlen("{\"keys\":[],\"spiffe_sequence\":1}"));
	assert_memory_equal(b.payload, "{\"keys\":[],\"spiffe_sequence\":1}",
			    b.payload_len);
	SHA256(b.payload, b.payload_len, sha);
	assert_memory_equal(b.sha256, sha, 32);
	assert_null(b.jws);
	anchor_bundle_row_clear(&b);

	/* bytes changed behind the store are not handed out */
	db = raw_open(f);
	assert_int_equal(raw_exec(db, "UPDATE bundles SET payload = x'7b7d'"
				      " WHERE sequence = 4"),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(anchor_store_bundle_latest(f->s, &b), ANCHOR_E_STATE);
	assert_null(b.payload);
}

static void
test_bundle_signatures(void **state)
{
	struct fx *f = *state;
	struct anchor_bundle_row b;

	open_store(f);
	insert_bundle(f->s, 1, ANCHOR_OK);
	assert_int_equal(anchor_store_bundle_get(f->s, 1, &b), ANCHOR_OK);
	assert_null(b.jws);
	assert_int_equal(b.iat, 0);
	anchor_bundle_row_clear(&b);

	assert_int_equal(
	    anchor_store_bundle_add_signature(f->s, 1, 100, 200, "jws-a", 5),
	    ANCHOR_OK);
	assert_int_equal(anchor_store_bundle_get(f->s, 1, &b), ANCHOR_OK);
	assert_string_equal(b.jws, "jws-a");
	assert_int_equal(b.jws_len, 5);
	assert_int_equal(b.iat, 100);
	assert_int_equal(b.exp, 200);
	anchor_bundle_row_clear(&b);

	/* a refresh: the newest signature is returned */
	assert_int_equal(anchor_store_bundle_add_signature(f->s, 1, 150, 250,
							   "jws-b-longer", 12),
			 ANCHOR_OK);
	assert_int_equal(anchor_store_bundle_latest(f->s, &b), ANCHOR_OK);
	assert_int_equal(b.sequence, 1);
	assert_string_equal(b.jws, "jws-b-longer");
	assert_int_equal(b.jws_len, 12);
	assert_int_equal(b.iat, 150);
	assert_int_equal(b.exp, 250);
	anchor_bundle_row_clear(&b);

	assert_int_equal(
	    anchor_store_bundle_add_signature(f->s, 2, 100, 200, "x", 1),
	    ANCHOR_E_NOT_FOUND);
	assert_int_equal(
	    anchor_store_bundle_add_signature(f->s, 1, 200, 200, "x", 1),
	    ANCHOR_E_INVAL);
	assert_int_equal(
	    anchor_store_bundle_add_signature(f->s, 1, 100, 200, "", 0),
	    ANCHOR_E_INVAL);

	/* a new bundle starts unsigned; the old one keeps its signature */
	insert_bundle(f->s, 2, ANCHOR_OK);
	assert_int_equal(anchor_store_bundle_latest(f->s, &b), ANCHOR_OK);
	assert_int_equal(b.sequence, 2);
	assert_null(b.jws);
	anchor_bundle_row_clear(&b);
	assert_int_equal(anchor_store_bundle_get(f->s, 1, &b), ANCHOR_OK);
	assert_string_equal(b.jws, "jws-b-longer");
	anchor_bundle_row_clear(&b);
	assert_int_equal(anchor_store_integrity(f->s), ANCHOR_OK);
}

static void
make_signers(struct anchor_signers_row *r, unsigned version, uint64_t min_seq,
	     const char *payload, const char *jws)
{
	memset(r, 0, sizeof(*r));
	r->version = version;
	r->min_sequence = min_seq;
	r->payload = (uint8_t *)(uintptr_t)payload;
	r->payload_len = strlen(payload);
	r->jws = (char *)(uintptr_t)jws;
	r->jws_len = strlen(jws);
	r->created_at = 500 + version;
}

static void
test_signer_sets(void **state)
{
	struct fx *f = *state;
	struct anchor_signers_row in, out;

	open_store(f);
	assert_int_equal(anchor_store_signers_get(f->s, 0, &out),
			 ANCHOR_E_NOT_FOUND);
	make_signers(&in, 1, 1, "{\"version\":1}", "{\"payload\":\"v1\"}");
	assert_int_equal(anchor_store_signers_insert(f->s, &in), ANCHOR_OK);
	make_signers(&in, 2, 17, "{\"version\":2}", "{\"payload\":\"v2\"}");
	assert_int_equal(anchor_store_signers_insert(f->s, &in), ANCHOR_OK);

	assert_int_equal(anchor_store_signers_get(f->s, 0, &out), ANCHOR_OK);
	assert_int_equal(out.version, 2);
	assert_int_equal(out.min_sequence, 17);
	assert_int_equal(out.payload_len, strlen("{\"version\":2}"));
	assert_memory_equal(out.payload, "{\"version\":2}", out.payload_len);
	assert_string_equal(out.jws, "{\"payload\":\"v2\"}");
	assert_int_equal(out.jws_len, strlen("{\"payload\":\"v2\"}"));
	assert_int_equal(out.created_at, 502);
	anchor_signers_row_clear(&out);

	assert_int_equal(anchor_store_signers_get(f->s, 1, &out), ANCHOR_OK);
	assert_int_equal(out.version, 1);
	assert_int_equal(out.min_sequence, 1);
	assert_string_equal(out.jws, "{\"payload\":\"v1\"}");
	anchor_signers_row_clear(&out);
	assert_int_equal(anchor_store_signers_get(f->s, 3, &out),
			 ANCHOR_E_NOT_FOUND);
	assert_null(out.payload);

	/* a taken version, a gap, version 0 */
	make_signers(&in, 2, 20, "{\"version\":2}", "x");
	assert_int_equal(anchor_store_signers_insert(f->s, &in),
			 ANCHOR_E_EXISTS);
	make_signers(&in, 4, 20, "{\"version\":4}", "x");
	assert_int_equal(anchor_store_signers_insert(f->s, &in),
			 ANCHOR_E_INVAL);
	make_signers(&in, 0, 20, "{\"version\":0}", "x");
	assert_int_equal(anchor_store_signers_insert(f->s, &in),
			 ANCHOR_E_INVAL);
	make_signers(&in, 3, 20, "{\"version\":3}", "x");
	assert_int_equal(anchor_store_signers_insert(f->s, &in), ANCHOR_OK);
}

/* --- transactions --- */

static void
test_transaction_rollback(void **state)
{
	struct fx *f = *state;
	struct anchor_key_row k, *rows = NULL;
	struct anchor_bundle_row b;
	struct anchor_signers_row g;
	uint8_t hash[32];
	uint64_t seq = 0;
	int64_t head = -1;
	unsigned serial = 0;
	size_t n = 9;
	char *v = NULL;

	open_store(f);
	anchor_store_rollback(f->s); /* none open: nothing happens */

	assert_int_equal(anchor_store_begin(f->s), ANCHOR_OK);
	assert_int_equal(anchor_store_begin(f->s), ANCHOR_E_STATE);
	assert_int_equal(anchor_store_meta_set(f->s, "trust_domain", "x"),
			 ANCHOR_OK);
	make_key(&k, ANCHOR_ROLE_JWT, 1, ANCHOR_KEY_ACTIVE);
	assert_int_equal(anchor_store_key_insert(f->s, &k), ANCHOR_OK);
	insert_bundle(f->s, 1, ANCHOR_OK);
	assert_int_equal(
	    anchor_store_bundle_add_signature(f->s, 1, 1, 2, "jws", 3),
	    ANCHOR_OK);
	make_signers(&g, 1, 1, "{}", "jws");
	assert_int_equal(anchor_store_signers_insert(f->s, &g), ANCHOR_OK);
	assert_int_equal(anchor_store_audit_append(f->s, 1, "test.event", NULL),
			 ANCHOR_OK);
	anchor_store_rollback(f->s);

	assert_int_equal(anchor_store_meta_get(f->s, "trust_domain", &v),
			 ANCHOR_E_NOT_FOUND);
	assert_int_equal(anchor_store_keys(f->s, &rows, &n), ANCHOR_OK);
	assert_int_equal(n, 0);
	anchor_key_rows_free(rows, n);
	assert_int_equal(
	    anchor_store_key_next_serial(f->s, ANCHOR_ROLE_JWT, &serial),
	    ANCHOR_OK);
	assert_int_equal(serial, 1);
	assert_int_equal(anchor_store_bundle_latest(f->s, &b),
			 ANCHOR_E_NOT_FOUND);
	assert_int_equal(anchor_store_next_sequence(f->s, &seq), ANCHOR_OK);
	assert_int_equal(seq, 1);
	assert_int_equal(anchor_store_signers_get(f->s, 0, &g),
			 ANCHOR_E_NOT_FOUND);
	assert_int_equal(anchor_store_audit_head(f->s, &head, hash), ANCHOR_OK);
	assert_int_equal(head, 0);

	/* a failed step inside a transaction keeps what came before it */
	assert_int_equal(anchor_store_begin(f->s), ANCHOR_OK);
	insert_bundle(f->s, 1, ANCHOR_OK);
	insert_bundle(f->s, 1, ANCHOR_E_EXISTS);
	assert_int_equal(anchor_store_key_insert(f->s, &k), ANCHOR_OK);
	assert_int_equal(anchor_store_commit(f->s), ANCHOR_OK);
	assert_int_equal(anchor_store_bundle_latest(f->s, &b), ANCHOR_OK);
	assert_int_equal(b.sequence, 1);
	anchor_bundle_row_clear(&b);
	assert_int_equal(anchor_store_keys(f->s, &rows, &n), ANCHOR_OK);
	assert_int_equal(n, 1);
	anchor_key_rows_free(rows, n);
	assert_int_equal(anchor_store_commit(f->s), ANCHOR_E_STATE);
	clear_key(&k);
}

/* --- audit --- */

static void
append_n(struct anchor_store *s, int n)
{
	char data[128];
	int i;

	for (i = 1; i <= n; i++) {
		snprintf(data, sizeof(data),
			 "{\"i\":%d,\"b\":\"x\",\"a\":[1,{\"z\":1,\"y\":2}]}",
			 i);
		assert_int_equal(
		    anchor_store_audit_append(s, 100 * i, "test.event", data),
		    ANCHOR_OK);
	}
}

static void
test_audit_record(void **state)
{
	struct fx *f = *state;
	struct anchor_audit_row *rows = NULL;
	static const char want[] =
	    "{\"seq\":1,\"ts\":1000,"
	    "\"event\":\"key.generated\",\"data\":{\"alg\":\"ec-p256\","
	    "\"n\":{\"a\":2,\"z\":1},\"role\":\"jwt\"}}";
	uint8_t buf[32 + sizeof(want)], hash[32], zero[32] = {0};
	int64_t seq = -1, bad = -1;
	size_t n = 0;

	open_store(f);
	assert_int_equal(anchor_store_audit_head(f->s, &seq, hash), ANCHOR_OK);
	assert_int_equal(seq, 0);
	assert_memory_equal(hash, zero, 32);
	assert_int_equal(anchor_store_audit_verify(f->s, &bad), ANCHOR_OK);
	assert_int_equal(bad, 0);

	assert_int_equal(
	    anchor_store_audit_append(f->s, 1000, "key.generated",
				      "{\"role\":\"jwt\",\"alg\":\"ec-p256\","
				      "\"n\":{\"z\":1,\"a\":2}}"),
	    ANCHOR_OK);
	assert_int_equal(
	    anchor_store_audit_append(f->s, 1001, "note \"q\"", NULL),
	    ANCHOR_OK);
	assert_int_equal(anchor_store_audit_list(f->s, 0, 0, &rows, &n),
			 ANCHOR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].seq, 1);
	assert_int_equal(rows[0].ts, 1000);
	assert_string_equal(rows[0].event, "key.generated");
	assert_string_equal(rows[0].record, want);
	assert_memory_equal(rows[0].prev_hash, zero, 32);
	memcpy(buf, zero, 32);
	memcpy(buf + 32, want, strlen(want));
	SHA256(buf, 32 + strlen(want), hash);
	assert_memory_equal(rows[0].hash, hash, 32);
	assert_string_equal(rows[1].record,
			    "{\"seq\":2,\"ts\":1001,"
			    "\"event\":\"note \\\"q\\\"\",\"data\":{}}");
	assert_memory_equal(rows[1].prev_hash, rows[0].hash, 32);
	assert_int_equal(anchor_store_audit_head(f->s, &seq, hash), ANCHOR_OK);
	assert_int_equal(seq, 2);
	assert_memory_equal(hash, rows[1].hash, 32);
	anchor_audit_rows_free(rows, n);

	/* data must be one JSON object */
	assert_int_equal(anchor_store_audit_append(f->s, 1, "e", "[1]"),
			 ANCHOR_E_INVAL);
	assert_int_equal(anchor_store_audit_append(f->s, 1, "e", "nope"),
			 ANCHOR_E_INVAL);
	assert_int_equal(anchor_store_audit_append(f->s, 1, "e", ""),
			 ANCHOR_E_INVAL);
	assert_int_equal(anchor_store_audit_append(f->s, 1, "e", "\"s\""),
			 ANCHOR_E_INVAL);
	assert_int_equal(
	    anchor_store_audit_append(f->s, 1, "e", "{\"a\":1,\"a\":2}"),
	    ANCHOR_E_INVAL);
	assert_int_equal(anchor_store_audit_append(f->s, 1, "", "{}"),
			 ANCHOR_E_INVAL);
	assert_int_equal(anchor_store_audit_append(f->s, 1, "bad \xff", "{}"),
			 ANCHOR_E_INVAL);
	assert_int_equal(anchor_store_audit_append(f->s, -1, "e", "{}"),
			 ANCHOR_E_INVAL);
	assert_int_equal(anchor_store_audit_head(f->s, &seq, hash), ANCHOR_OK);
	assert_int_equal(seq, 2);
	assert_int_equal(anchor_store_audit_verify(f->s, &bad), ANCHOR_OK);
}

static void
test_audit_verify_ok(void **state)
{
	struct fx *f = *state;
	int64_t bad = -1;

	open_store(f);
	append_n(f->s, 10);
	assert_int_equal(anchor_store_audit_verify(f->s, &bad), ANCHOR_OK);
	assert_int_equal(bad, 0);
	/* still so from another process's point of view */
	reopen_store(f, false);
	assert_int_equal(anchor_store_audit_verify(f->s, &bad), ANCHOR_OK);
	assert_int_equal(bad, 0);
}

/* Ten records, and a raw connection with the append-only guards dropped. */
static sqlite3 *
tamper_setup(struct fx *f)
{
	sqlite3 *db;

	open_store(f);
	append_n(f->s, 10);
	db = raw_open(f);
	assert_int_equal(raw_exec(db, "DROP TRIGGER audit_no_update;"
				      " DROP TRIGGER audit_no_delete"),
			 SQLITE_OK);
	return db;
}

static void
assert_tampered(struct fx *f, int64_t want)
{
	int64_t bad = -1;

	assert_int_equal(anchor_store_audit_verify(f->s, &bad),
			 ANCHOR_E_TAMPERED);
	assert_int_equal(bad, want);
}

static void
test_audit_append_only(void **state)
{
	struct fx *f = *state;
	sqlite3 *db;

	open_store(f);
	append_n(f->s, 3);
	db = raw_open(f);
	assert_int_equal(raw_exec(db, "UPDATE audit SET ts = 0 WHERE seq = 2"),
			 SQLITE_CONSTRAINT_TRIGGER);
	assert_int_equal(raw_exec(db, "DELETE FROM audit WHERE seq = 3"),
			 SQLITE_CONSTRAINT_TRIGGER);
	sqlite3_close(db);
}

static void
test_audit_tamper_edit(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = tamper_setup(f);

	assert_int_equal(
	    raw_exec(db,
		     "UPDATE audit SET record ="
		     " replace(record, '\"i\":4}', '\"i\":40}') WHERE seq = 4"),
	    SQLITE_OK);
	assert_int_equal(
	    raw_int(db, "SELECT count(*) FROM audit"
			" WHERE seq = 4 AND record LIKE '%\"i\":40}}'"),
	    1);
	sqlite3_close(db);
	assert_tampered(f, 4);
}

static void
test_audit_tamper_edit_ts(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = tamper_setup(f);

	/* hiding a record from "since" queries by moving its time */
	assert_int_equal(raw_exec(db, "UPDATE audit SET ts = 1 WHERE seq = 8"),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_tampered(f, 8);
}

static void
test_audit_tamper_delete(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = tamper_setup(f);

	assert_int_equal(raw_exec(db, "DELETE FROM audit WHERE seq = 5"),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_tampered(f, 6);
}

static void
test_audit_tamper_delete_tail(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = tamper_setup(f);

	assert_int_equal(raw_exec(db, "DELETE FROM audit WHERE seq >= 9"),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_tampered(f, 9);
	/* appending does not paper over the gap: the new record is 11 */
	assert_int_equal(
	    anchor_store_audit_append(f->s, 2000, "test.event", NULL),
	    ANCHOR_OK);
	assert_tampered(f, 11);
}

static void
test_audit_tamper_swap(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = tamper_setup(f);

	assert_int_equal(
	    raw_exec(db, "CREATE TEMP TABLE t AS SELECT seq, record FROM audit"
			 "  WHERE seq IN (3, 7);"
			 "UPDATE audit SET record ="
			 "  (SELECT record FROM t WHERE t.seq = 10 - audit.seq)"
			 "  WHERE seq IN (3, 7)"),
	    SQLITE_OK);
	assert_int_equal(
	    raw_int(db, "SELECT count(*) FROM audit"
			" WHERE seq = 3 AND record LIKE '{\"seq\":7,%'"),
	    1);
	sqlite3_close(db);
	assert_tampered(f, 3);
}

static void
test_audit_tamper_hash(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = tamper_setup(f);

	assert_int_equal(raw_exec(db, "UPDATE audit SET hash = zeroblob(32)"
				      " WHERE seq = 6"),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_tampered(f, 6);
}

/* Edit record 3 and recompute every later link, as one who knows the scheme. */
static void
rewrite_chain(sqlite3 *db)
{
	sqlite3_stmt *sel = NULL, *upd = NULL;
	uint8_t prev[32], hash[32], buf[1024];
	int64_t seq;

	assert_int_equal(
	    raw_exec(db,
		     "UPDATE audit SET record ="
		     " replace(record, '\"i\":3}', '\"i\":33}') WHERE seq = 3"),
	    SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db,
			       "SELECT seq, record, prev_hash"
			       " FROM audit WHERE seq >= 3 ORDER BY seq",
			       -1, &sel, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "UPDATE audit SET prev_hash = ?1,"
					    " hash = ?2 WHERE seq = ?3",
					    -1, &upd, NULL),
			 SQLITE_OK);
	assert_int_equal(raw_exec(db, "BEGIN"), SQLITE_OK);
	while (sqlite3_step(sel) == SQLITE_ROW) {
		const void *rec = sqlite3_column_text(sel, 1);
		size_t len = (size_t)sqlite3_column_bytes(sel, 1);

		seq = sqlite3_column_int64(sel, 0);
		if (seq == 3)
			memcpy(prev, sqlite3_column_blob(sel, 2), 32);
		assert_true(len <= sizeof(buf) - 32);
		memcpy(buf, prev, 32);
		memcpy(buf + 32, rec, len);
		SHA256(buf, 32 + len, hash);
		sqlite3_bind_blob(upd, 1, prev, 32, SQLITE_TRANSIENT);
		sqlite3_bind_blob(upd, 2, hash, 32, SQLITE_TRANSIENT);
		sqlite3_bind_int64(upd, 3, seq);
		assert_int_equal(sqlite3_step(upd), SQLITE_DONE);
		sqlite3_reset(upd);
		memcpy(prev, hash, 32);
	}
	assert_int_equal(raw_exec(db, "COMMIT"), SQLITE_OK);
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
}

static void
test_audit_tamper_rewritten_chain(void **state)
{
	struct fx *f = *state;
	static const uint8_t sig[64] = {1, 2, 3};
	int64_t bad = -1;
	sqlite3 *db;

	/* without a checkpoint a consistent rewrite cannot be seen */
	db = tamper_setup(f);
	rewrite_chain(db);
	sqlite3_close(db);
	assert_int_equal(anchor_store_audit_verify(f->s, &bad), ANCHOR_OK);
	assert_int_equal(bad, 0);
	anchor_store_close(f->s);
	f->s = NULL;
	assert_int_equal(unlink(f->db), 0);

	/* with one at seq 5, the rewrite shows there */
	db = tamper_setup(f);
	assert_int_equal(anchor_store_checkpoint_insert(f->s, 5, "kid-bs-1",
							sig, sizeof(sig), 600),
			 ANCHOR_OK);
	rewrite_chain(db);
	sqlite3_close(db);
	assert_tampered(f, 5);
}

static void
test_audit_list(void **state)
{
	struct fx *f = *state;
	struct anchor_audit_row *rows = NULL;
	size_t n = 0, i;
	char want[32];

	open_store(f);
	append_n(f->s, 10); /* ts = 100 * seq */

	assert_int_equal(anchor_store_audit_list(f->s, 0, 0, &rows, &n),
			 ANCHOR_OK);
	assert_int_equal(n, 10);
	for (i = 0; i < n; i++) {
		assert_int_equal(rows[i].seq, (int64_t)i + 1);
		assert_int_equal(rows[i].ts, 100 * ((int64_t)i + 1));
		assert_string_equal(rows[i].event, "test.event");
		snprintf(want, sizeof(want), "{\"seq\":%zu,", i + 1);
		assert_true(strncmp(rows[i].record, want, strlen(want)) == 0);
		if (i > 0)
			assert_memory_equal(rows[i].prev_hash, rows[i - 1].hash,
					    32);
	}
	/* nested data is sorted too */
	assert_non_null(strstr(
	    rows[0].record,
	    "\"data\":{\"a\":[1,{\"y\":2,\"z\":1}],\"b\":\"x\",\"i\":1}}"));
	anchor_audit_rows_free(rows, n);

	assert_int_equal(anchor_store_audit_list(f->s, 3, 0, &rows, &n),
			 ANCHOR_OK);
	assert_int_equal(n, 7);
	assert_int_equal(rows[0].seq, 4);
	assert_int_equal(rows[6].seq, 10);
	anchor_audit_rows_free(rows, n);

	assert_int_equal(anchor_store_audit_list(f->s, 0, 550, &rows, &n),
			 ANCHOR_OK);
	assert_int_equal(n, 5);
	assert_int_equal(rows[0].seq, 6);
	anchor_audit_rows_free(rows, n);

	assert_int_equal(anchor_store_audit_list(f->s, 7, 550, &rows, &n),
			 ANCHOR_OK);
	assert_int_equal(n, 3);
	assert_int_equal(rows[0].seq, 8);
	anchor_audit_rows_free(rows, n);

	assert_int_equal(anchor_store_audit_list(f->s, 10, 0, &rows, &n),
			 ANCHOR_OK);
	assert_int_equal(n, 0);
	anchor_audit_rows_free(rows, n);
	assert_int_equal(anchor_store_audit_list(f->s, 0, 5000, &rows, &n),
			 ANCHOR_OK);
	assert_int_equal(n, 0);
	anchor_audit_rows_free(rows, n);
}

static void
test_checkpoint(void **state)
{
	struct fx *f = *state;
	static const uint8_t sig[64] = {0xaa, 0xbb};
	uint8_t hash[32];
	int64_t seq = 0, bad = -1;
	sqlite3 *db;

	open_store(f);
	assert_int_equal(anchor_store_checkpoint_insert(f->s, 1, "kid", sig,
							sizeof(sig), 10),
			 ANCHOR_E_NOT_FOUND);
	append_n(f->s, 3);
	assert_int_equal(anchor_store_audit_head(f->s, &seq, hash), ANCHOR_OK);
	assert_int_equal(seq, 3);
	assert_int_equal(anchor_store_checkpoint_insert(f->s, seq, "kid-bs-1",
							sig, sizeof(sig), 700),
			 ANCHOR_OK);
	/* a second run over the same head is harmless */
	assert_int_equal(anchor_store_checkpoint_insert(f->s, seq, "kid-bs-1",
							sig, sizeof(sig), 701),
			 ANCHOR_OK);
	assert_int_equal(anchor_store_checkpoint_insert(f->s, 9, "kid-bs-1",
							sig, sizeof(sig), 700),
			 ANCHOR_E_NOT_FOUND);
	assert_int_equal(anchor_store_checkpoint_insert(f->s, 0, "kid-bs-1",
							sig, sizeof(sig), 700),
			 ANCHOR_E_INVAL);
	assert_int_equal(
	    anchor_store_checkpoint_insert(f->s, 3, "", sig, sizeof(sig), 700),
	    ANCHOR_E_INVAL);
	assert_int_equal(
	    anchor_store_checkpoint_insert(f->s, 3, "kid", sig, 0, 700),
	    ANCHOR_E_INVAL);

	db = raw_open(f);
	assert_int_equal(
	    raw_int(db, "SELECT count(*) FROM audit_checkpoints AS c"
			" JOIN audit AS a ON a.seq = c.seq AND a.hash = c.hash"
			" WHERE c.seq = 3 AND c.kid = 'kid-bs-1'"
			" AND length(c.sig) = 64"),
	    2);
	assert_int_equal(raw_exec(db, "DELETE FROM audit_checkpoints"),
			 SQLITE_CONSTRAINT_TRIGGER);
	sqlite3_close(db);
	assert_int_equal(anchor_store_audit_verify(f->s, &bad), ANCHOR_OK);
	assert_int_equal(bad, 0);
}

/* --- lock, integrity, names --- */

/* 0: got the lock, 1: busy, 2: something else. */
static int
child_try_lock(const char *dir)
{
	pid_t pid;
	int status = -1;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = -1, r = anchor_store_lock(dir, false, &fd);

		anchor_store_unlock(fd);
		_exit(r == ANCHOR_OK ? 0 : r == ANCHOR_E_BUSY ? 1 : 2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_lock(void **state)
{
	struct fx *f = *state;
	char path[256];
	int fd = -1, fd2 = -1;

	assert_int_equal(anchor_store_lock(f->dir, false, &fd),
			 ANCHOR_E_NOT_FOUND);
	assert_int_equal(fd, -1);
	anchor_store_unlock(-1);

	open_store(f);
	assert_int_equal(anchor_store_lock(f->dir, false, &fd), ANCHOR_OK);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	snprintf(path, sizeof(path), "%s/lock", f->dir);
	assert_int_equal(mode_of(path), 0600);

	assert_int_equal(child_try_lock(f->dir), 1);
	/* a second open file in this process conflicts as well */
	assert_int_equal(anchor_store_lock(f->dir, false, &fd2), ANCHOR_E_BUSY);
	assert_int_equal(fd2, -1);

	anchor_store_unlock(fd);
	assert_int_equal(child_try_lock(f->dir), 0);
	assert_int_equal(anchor_store_lock(f->dir, true, &fd), ANCHOR_OK);
	anchor_store_unlock(fd);
}

static void
test_integrity(void **state)
{
	struct fx *f = *state;
	struct anchor_key_row k;
	sqlite3 *db;

	open_store(f);
	assert_int_equal(anchor_store_integrity(f->s), ANCHOR_OK);
	make_key(&k, ANCHOR_ROLE_X509_CA, 1, ANCHOR_KEY_ACTIVE);
	assert_int_equal(anchor_store_key_insert(f->s, &k), ANCHOR_OK);
	clear_key(&k);
	insert_bundle(f->s, 1, ANCHOR_OK);
	append_n(f->s, 3);
	assert_int_equal(anchor_store_integrity(f->s), ANCHOR_OK);

	/* a signature for a bundle that is not there, written without
	 * foreign keys */
	db = raw_open(f);
	assert_int_equal(
	    raw_exec(db, "INSERT INTO bundle_signatures"
			 " (sequence, iat, exp, jws) VALUES (99, 1, 2, 'x')"),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(anchor_store_integrity(f->s), ANCHOR_E_STATE);
	assert_non_null(strstr(anchor_store_errmsg(f->s), "bundle_signatures"));
}

static void
test_names_and_null(void **state)
{
	(void)state;
	assert_string_equal(anchor_key_state_name(ANCHOR_KEY_PUBLISHED),
			    "published");
	assert_string_equal(anchor_key_state_name(ANCHOR_KEY_ACTIVE), "active");
	assert_string_equal(anchor_key_state_name(ANCHOR_KEY_RETIRED),
			    "retired");
	assert_string_equal(anchor_key_state_name(ANCHOR_KEY_REMOVED),
			    "removed");
	assert_string_equal(anchor_key_state_name(ANCHOR_KEY_REVOKED),
			    "revoked");
	assert_string_equal(anchor_key_state_name(ANCHOR_KEY_DESTROYED),
			    "destroyed");
	assert_null(anchor_key_state_name((enum anchor_key_state)6));
	assert_null(anchor_key_state_name((enum anchor_key_state) - 1));

	anchor_store_close(NULL);
	anchor_key_rows_free(NULL, 0);
	anchor_bundle_row_clear(NULL);
	anchor_signers_row_clear(NULL);
	anchor_audit_rows_free(NULL, 0);
	assert_non_null(anchor_store_errmsg(NULL));
	assert_null(anchor_store_sqlite(NULL));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_open_create_reopen),
	    T(test_open_missing),
	    T(test_modes),
	    T(test_pragmas),
	    T(test_future_schema),
	    T(test_foreign_database),
	    T(test_meta),
	    T(test_keys_roundtrip),
	    T(test_keys_one_active),
	    T(test_keys_state_forward),
	    T(test_serials_never_reused),
	    T(test_bundle_sequence),
	    T(test_bundle_signatures),
	    T(test_signer_sets),
	    T(test_transaction_rollback),
	    T(test_audit_record),
	    T(test_audit_verify_ok),
	    T(test_audit_append_only),
	    T(test_audit_tamper_edit),
	    T(test_audit_tamper_edit_ts),
	    T(test_audit_tamper_delete),
	    T(test_audit_tamper_delete_tail),
	    T(test_audit_tamper_swap),
	    T(test_audit_tamper_hash),
	    T(test_audit_tamper_rewritten_chain),
	    T(test_audit_list),
	    T(test_checkpoint),
	    T(test_lock),
	    T(test_integrity),
	    T(test_names_and_null),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
