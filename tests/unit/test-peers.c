/*
 * The store's federation peers (schema version 2): the migration from
 * version 1, adding, re-adding and removing peers, fetch status, and the
 * invariants the database itself guards.
 */
#include "config.h"

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "error.h"
#include "store.h"
#include "util.h"

struct fx {
	char tmp[64];
	char dir[128];
	char db[160];
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
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/anchor-test-peers.XXXXXX");
	if (mkdtemp(f->tmp) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/state", f->tmp);
	snprintf(f->db, sizeof(f->db), "%s/anchor.db", f->dir);
	if (anchor_store_open(f->dir, true, &f->s) != ANCHOR_OK ||
	    anchor_store_meta_set(f->s, "trust_domain", "a.example") !=
		ANCHOR_OK) {
		nftw(f->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		free(f);
		return -1;
	}
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

static int
raw_exec(struct fx *f, const char *sql)
{
	return sqlite3_exec(anchor_store_sqlite(f->s), sql, NULL, NULL, NULL);
}

static int64_t
raw_int(struct fx *f, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(
	    sqlite3_prepare_v2(anchor_store_sqlite(f->s), sql, -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* A peer row with borrowed strings (never cleared). */
static struct anchor_peer_row
peer(const char *td, const char *url, bool with_signers)
{
	static uint8_t signers[] = "{\"payload\":\"e30\",\"signatures\":[]}";
	struct anchor_peer_row p;

	memset(&p, 0, sizeof(p));
	snprintf(p.trust_domain, sizeof(p.trust_domain), "%s", td);
	p.url = (char *)url;
	p.profile = ANCHOR_PEER_HTTPS_WEB;
	p.allow = (char *)"[\"spiffe://b.example/ns/*\"]";
	p.source = ANCHOR_PEER_FROM_CLI;
	p.added_at = 100;
	p.added_by = (char *)"alice";
	if (with_signers) {
		p.signers = signers;
		p.signers_len = sizeof(signers) - 1;
	}
	return p;
}

static struct anchor_peer_bundle_row
bundle(const char *td, bool has_seq, uint64_t seq, unsigned sv,
       const char *payload)
{
	struct anchor_peer_bundle_row b;

	memset(&b, 0, sizeof(b));
	snprintf(b.trust_domain, sizeof(b.trust_domain), "%s", td);
	b.has_sequence = has_seq;
	b.sequence = seq;
	b.signers_version = sv;
	b.payload = (uint8_t *)payload;
	b.payload_len = strlen(payload);
	b.refresh_hint = -1;
	b.stored_at = 200;
	return b;
}

static void
test_migration_from_v1(void **state)
{
	struct fx *f = *state;

	/* A version 1 database: the peer tables did not exist. */
	assert_int_equal(raw_exec(f,
				  "DROP TABLE peer_bundles; DROP TABLE peers;"
				  " PRAGMA user_version = 1"),
			 SQLITE_OK);
	anchor_store_close(f->s);
	f->s = NULL;
	assert_int_equal(anchor_store_open(f->dir, false, &f->s), ANCHOR_OK);
	assert_int_equal(raw_int(f, "PRAGMA user_version"), 2);
	assert_int_equal(ANCHOR_SCHEMA_VERSION, 2);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM sqlite_master WHERE"
				    " name IN ('peers', 'peer_bundles')"),
			 2);
}

static void
test_add_get_remove_readd(void **state)
{
	struct fx *f = *state;
	struct anchor_peer_row p =
	    peer("b.example", "https://b.example/", false);
	struct anchor_peer_row got, *rows = NULL;
	struct anchor_peer_bundle_row b = bundle("b.example", true, 3, 0, "{}");
	struct anchor_peer_bundle_row gb;
	size_t n = 0;

	assert_int_equal(anchor_store_peer_insert(f->s, &p), ANCHOR_OK);
	assert_int_equal(anchor_store_peer_insert(f->s, &p), ANCHOR_E_EXISTS);
	assert_int_equal(anchor_store_peer_get(f->s, "b.example", &got),
			 ANCHOR_OK);
	assert_string_equal(got.url, "https://b.example/");
	assert_string_equal(got.added_by, "alice");
	assert_int_equal(got.removed_at, 0);
	assert_null(got.signers);
	anchor_peer_row_clear(&got);
	assert_int_equal(anchor_store_peer_get(f->s, "c.example", &got),
			 ANCHOR_E_NOT_FOUND);

	assert_int_equal(anchor_store_peer_bundle_put(f->s, &b), ANCHOR_OK);
	assert_int_equal(anchor_store_peer_bundle_get(f->s, "b.example", &gb),
			 ANCHOR_OK);
	assert_true(gb.has_sequence);
	assert_int_equal(gb.sequence, 3);
	assert_int_equal(gb.payload_len, 2);
	assert_int_equal(gb.refresh_hint, -1);
	anchor_peer_bundle_row_clear(&gb);

	assert_int_equal(anchor_store_peer_remove(f->s, "b.example", 300,
						  "offboarded", "bob"),
			 ANCHOR_OK);
	assert_int_equal(
	    anchor_store_peer_remove(f->s, "b.example", 301, "again", "bob"),
	    ANCHOR_E_NOT_FOUND);
	assert_int_equal(anchor_store_peer_bundle_get(f->s, "b.example", &gb),
			 ANCHOR_E_NOT_FOUND);
	assert_int_equal(anchor_store_peer_get(f->s, "b.example", &got),
			 ANCHOR_OK);
	assert_int_equal(got.removed_at, 300);
	assert_string_equal(got.removed_reason, "offboarded");
	assert_string_equal(got.removed_by, "bob");
	anchor_peer_row_clear(&got);
	/* A removed peer keeps no bundle. */
	assert_int_equal(anchor_store_peer_bundle_put(f->s, &b),
			 ANCHOR_E_INVAL);
	/* nor fetch status */
	assert_int_equal(anchor_store_peer_failed(f->s, "b.example", 310, "x"),
			 ANCHOR_E_NOT_FOUND);

	/* Re-adding replaces the removed row. */
	p.url = (char *)"https://b2.example/";
	p.added_at = 400;
	assert_int_equal(anchor_store_peer_insert(f->s, &p), ANCHOR_OK);
	assert_int_equal(anchor_store_peers(f->s, &rows, &n), ANCHOR_OK);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].url, "https://b2.example/");
	assert_int_equal(rows[0].removed_at, 0);
	assert_null(rows[0].removed_reason);
	assert_int_equal(rows[0].added_at, 400);
	anchor_peer_rows_free(rows, n);
}

static void
test_status(void **state)
{
	struct fx *f = *state;
	struct anchor_peer_row p = peer("b.example", "http://b.example/", true);
	struct anchor_peer_row got;

	assert_int_equal(anchor_store_peer_insert(f->s, &p), ANCHOR_OK);
	assert_int_equal(
	    anchor_store_peer_failed(f->s, "b.example", 10, "HTTP status 500"),
	    ANCHOR_OK);
	assert_int_equal(
	    anchor_store_peer_failed(f->s, "b.example", 20, "timed out"),
	    ANCHOR_OK);
	assert_int_equal(anchor_store_peer_get(f->s, "b.example", &got),
			 ANCHOR_OK);
	assert_int_equal(got.failures, 2);
	assert_int_equal(got.last_failure, 20);
	assert_int_equal(got.last_attempt, 20);
	assert_string_equal(got.last_error, "timed out");
	assert_null(got.verifier_state);
	anchor_peer_row_clear(&got);
	assert_int_equal(
	    anchor_store_peer_succeeded(f->s, "b.example", 30, "{\"v\":1}"),
	    ANCHOR_OK);
	assert_int_equal(
	    anchor_store_peer_succeeded(f->s, "b.example", 40, NULL),
	    ANCHOR_OK);
	assert_int_equal(anchor_store_peer_get(f->s, "b.example", &got),
			 ANCHOR_OK);
	assert_int_equal(got.failures, 0);
	assert_int_equal(got.last_success, 40);
	assert_int_equal(got.last_failure, 20);
	assert_string_equal(got.verifier_state, "{\"v\":1}");
	anchor_peer_row_clear(&got);
	/* A verifier state belongs to a peer with signers. */
	assert_int_equal(raw_exec(f, "UPDATE peers SET signers = NULL"),
			 SQLITE_CONSTRAINT_CHECK);
}

static void
test_constraints(void **state)
{
	struct fx *f = *state;
	struct anchor_peer_row p;

	/* Never our own trust domain. */
	p = peer("a.example", "https://a.example/", false);
	assert_int_equal(anchor_store_peer_insert(f->s, &p), ANCHOR_E_INVAL);
	assert_non_null(strstr(anchor_store_errmsg(f->s), "itself"));
	/* Plain http only with signers. */
	p = peer("b.example", "http://b.example/", false);
	assert_int_equal(anchor_store_peer_insert(f->s, &p), ANCHOR_E_INVAL);
	/* https_spiffe: an https URL and an endpoint ID. */
	p = peer("b.example", "https://b.example/", false);
	p.profile = ANCHOR_PEER_HTTPS_SPIFFE;
	assert_int_equal(anchor_store_peer_insert(f->s, &p), ANCHOR_E_INVAL);
	p.endpoint_spiffe_id = (char *)"spiffe://b.example/server";
	p.url = (char *)"http://b.example/";
	p.signers = (uint8_t *)"x";
	p.signers_len = 1;
	assert_int_equal(anchor_store_peer_insert(f->s, &p), ANCHOR_E_INVAL);
	/* Names are trust domain names; allow is a JSON array. */
	p = peer("B.Example", "https://b.example/", false);
	assert_int_equal(anchor_store_peer_insert(f->s, &p), ANCHOR_E_INVAL);
	p = peer("b.example", "https://b.example/", false);
	p.allow = (char *)"{}";
	assert_int_equal(anchor_store_peer_insert(f->s, &p), ANCHOR_E_INVAL);
	p = peer("b.example", "ftp://b.example/", false);
	assert_int_equal(anchor_store_peer_insert(f->s, &p), ANCHOR_E_INVAL);
	assert_int_equal(raw_int(f, "SELECT count(*) FROM peers"), 0);

	p = peer("b.example", "https://b.example/", false);
	assert_int_equal(anchor_store_peer_insert(f->s, &p), ANCHOR_OK);
	assert_int_equal(raw_exec(f, "UPDATE peers SET trust_domain ="
				     " 'c.example'"),
			 SQLITE_CONSTRAINT_TRIGGER);
	/* A removal needs a reason. */
	assert_int_equal(
	    anchor_store_peer_remove(f->s, "b.example", 5, "", NULL),
	    ANCHOR_E_INVAL);
}

static void
test_bundle_forward(void **state)
{
	struct fx *f = *state;
	struct anchor_peer_row p =
	    peer("b.example", "https://b.example/", false);
	struct anchor_peer_bundle_row b;

	assert_int_equal(anchor_store_peer_insert(f->s, &p), ANCHOR_OK);
	/* Without a sequence: the latest is taken. */
	b = bundle("b.example", false, 0, 0, "{\"keys\":[]}");
	assert_int_equal(anchor_store_peer_bundle_put(f->s, &b), ANCHOR_OK);
	b = bundle("b.example", false, 0, 0, "{\"keys\": []}");
	assert_int_equal(anchor_store_peer_bundle_put(f->s, &b), ANCHOR_OK);
	b = bundle("b.example", true, 5, 0, "five");
	assert_int_equal(anchor_store_peer_bundle_put(f->s, &b), ANCHOR_OK);
	/* Then never back, never without, never other bytes under one. */
	b = bundle("b.example", true, 4, 0, "four");
	assert_int_equal(anchor_store_peer_bundle_put(f->s, &b),
			 ANCHOR_E_INVAL);
	b = bundle("b.example", false, 0, 0, "none");
	assert_int_equal(anchor_store_peer_bundle_put(f->s, &b),
			 ANCHOR_E_INVAL);
	b = bundle("b.example", true, 5, 0, "five, other");
	assert_int_equal(anchor_store_peer_bundle_put(f->s, &b),
			 ANCHOR_E_INVAL);
	b = bundle("b.example", true, 5, 0, "five");
	assert_int_equal(anchor_store_peer_bundle_put(f->s, &b), ANCHOR_OK);
	b = bundle("b.example", true, 6, 0, "six");
	assert_int_equal(anchor_store_peer_bundle_put(f->s, &b), ANCHOR_OK);
	/* An operator's bundle may go anywhere, and the next fetch too. */
	b = bundle("b.example", true, 2, 0, "two, by hand");
	b.bootstrap = true;
	assert_int_equal(anchor_store_peer_bundle_put(f->s, &b), ANCHOR_OK);
	b = bundle("b.example", true, 1, 0, "one");
	assert_int_equal(anchor_store_peer_bundle_put(f->s, &b), ANCHOR_OK);
	/* A new signer-set version may restart lower (min_sequence). */
	b = bundle("b.example", true, 9, 1, "nine");
	assert_int_equal(anchor_store_peer_bundle_put(f->s, &b), ANCHOR_OK);
	b = bundle("b.example", true, 7, 2, "seven");
	assert_int_equal(anchor_store_peer_bundle_put(f->s, &b), ANCHOR_OK);
	assert_int_equal(raw_int(f, "SELECT sequence FROM peer_bundles"), 7);
	/* A bundle needs a peer. */
	b = bundle("c.example", true, 1, 0, "c");
	assert_int_not_equal(anchor_store_peer_bundle_put(f->s, &b), ANCHOR_OK);
}

static void
test_names_and_null(void **state)
{
	enum anchor_peer_profile pr;

	(void)state;
	assert_string_equal(anchor_peer_profile_name(ANCHOR_PEER_HTTPS_WEB),
			    "https_web");
	assert_string_equal(anchor_peer_profile_name(ANCHOR_PEER_HTTPS_SPIFFE),
			    "https_spiffe");
	assert_null(anchor_peer_profile_name((enum anchor_peer_profile)7));
	assert_int_equal(anchor_peer_profile_parse("https_spiffe", &pr),
			 ANCHOR_OK);
	assert_int_equal(pr, ANCHOR_PEER_HTTPS_SPIFFE);
	assert_int_equal(anchor_peer_profile_parse("http", &pr),
			 ANCHOR_E_INVAL);
	anchor_peer_row_clear(NULL);
	anchor_peer_rows_free(NULL, 0);
	anchor_peer_bundle_row_clear(NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_migration_from_v1),
	    T(test_add_get_remove_readd),
	    T(test_status),
	    T(test_constraints),
	    T(test_bundle_forward),
	    T(test_names_and_null),
	};

	return cmocka_run_group_tests_name("peers", tests, NULL, NULL);
}
