/*
 * The rotation policy over long simulated timelines, with no token, clock
 * or disk: 400 days at 15-minute steps with the default policy, runs at
 * random late intervals, a clock that goes backwards, forced rollovers and
 * revocations.  At every step: exactly one active key per role, every key
 * in the bundle at least `prepublish` before it is used and at least
 * `overlap` after it stops, one new sequence per content change, nothing
 * published twice.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "error.h"
#include "policy.h"
#include "store.h"

#define MAX_KEYS 2048
#define DAY 86400
#define HOUR 3600

struct sim {
	struct anchor_key_policy pol[ANCHOR_ROLE_COUNT];
	struct anchor_key_row keys[MAX_KEYS];
	size_t n;
	unsigned serial[ANCHOR_ROLE_COUNT];
	int64_t rollover_at[ANCHOR_ROLE_COUNT];
	/* the published bundle and signer set, as key id sets */
	char *bundle[MAX_KEYS];
	size_t nbundle;
	char *signers[MAX_KEYS];
	size_t nsigners;
	int64_t bundle_iat;
	bool have_bundle, have_signers;
	int64_t validity;
	/* bookkeeping for the checks */
	int64_t in_bundle_since[MAX_KEYS];	/* 0 = not yet */
	int64_t left_bundle_at[MAX_KEYS];
	uint64_t sequence;
	unsigned signers_version;
	unsigned resigns;
	unsigned created[ANCHOR_ROLE_COUNT];
	int64_t min_prepublish[ANCHOR_ROLE_COUNT], min_overlap[ANCHOR_ROLE_COUNT];
	int64_t last_now;
};

/* Large: static, so a failing assertion leaks nothing. */
static struct sim the_sim;

static void
default_policy(struct anchor_key_policy pol[ANCHOR_ROLE_COUNT])
{
	/* DESIGN.md §3 defaults */
	pol[ANCHOR_ROLE_X509_CA] = (struct anchor_key_policy){
	    ANCHOR_ALG_EC_P256, 30 * DAY, 2 * HOUR, 3 * HOUR, 14 * DAY, 1 };
	pol[ANCHOR_ROLE_JWT] = (struct anchor_key_policy){
	    ANCHOR_ALG_EC_P256, 7 * DAY, 2 * HOUR, 2 * HOUR, 14 * DAY, 1 };
	pol[ANCHOR_ROLE_BUNDLE_SIGNING] = (struct anchor_key_policy){
	    ANCHOR_ALG_EC_P256, 365 * DAY, 7 * DAY, 7 * DAY, 14 * DAY, 1 };
}

static bool
in_force(enum anchor_key_state s)
{
	return s == ANCHOR_KEY_PUBLISHED || s == ANCHOR_KEY_ACTIVE ||
	    s == ANCHOR_KEY_RETIRED;
}

static size_t
new_key(struct sim *s, enum anchor_role role, int64_t now, bool activate)
{
	struct anchor_key_row *k;

	assert_true(s->n < MAX_KEYS);
	k = &s->keys[s->n];
	memset(k, 0, sizeof(*k));
	k->role = role;
	k->serial = ++s->serial[role];
	snprintf(k->kid, sizeof(k->kid), "%d-%u", (int)role, k->serial);
	snprintf(k->label, sizeof(k->label), "anchor/sim/%s/%u",
	    anchor_role_name(role), k->serial);
	k->state = activate ? ANCHOR_KEY_ACTIVE : ANCHOR_KEY_PUBLISHED;
	k->created_at = k->published_at = now;
	k->activated_at = activate ? now : 0;
	s->created[role]++;
	return s->n++;
}

static void
sim_init(struct sim *s, int64_t t0)
{
	int role;

	memset(s, 0, sizeof(*s));
	default_policy(s->pol);
	s->validity = DAY;
	for (role = 0; role < ANCHOR_ROLE_COUNT; role++) {
		s->min_prepublish[role] = INT64_MAX;
		s->min_overlap[role] = INT64_MAX;
		new_key(s, (enum anchor_role)role, t0, true);
	}
	s->last_now = t0;
}

/* Publish the key id sets as the service would: the keys in force. */
static void
publish(struct sim *s, bool bundle_signing, int64_t now)
{
	char **set = bundle_signing ? s->signers : s->bundle;
	size_t *n = bundle_signing ? &s->nsigners : &s->nbundle;
	size_t i;

	*n = 0;
	for (i = 0; i < s->n; i++) {
		struct anchor_key_row *k = &s->keys[i];

		if ((k->role == ANCHOR_ROLE_BUNDLE_SIGNING) != bundle_signing)
			continue;
		if (in_force(k->state)) {
			set[(*n)++] = k->kid;
			if (s->in_bundle_since[i] == 0)
				s->in_bundle_since[i] = now;
		} else if (s->in_bundle_since[i] != 0 && s->left_bundle_at[i] == 0)
			s->left_bundle_at[i] = now;
	}
}

/* Plan at now and carry the actions out; returns the number of actions. */
static size_t
step(struct sim *s, int64_t now)
{
	struct anchor_policy_input in;
	struct anchor_action *acts = NULL;
	size_t nacts = 0, i, nkeys_before = s->n;
	bool bundle = false, signers = false;
	bool retired_now[ANCHOR_ROLE_COUNT] = { false, false, false };
	int role;

	memset(&in, 0, sizeof(in));
	in.keys = s->keys;
	in.n_keys = s->n;
	in.policy = s->pol;
	in.now = now;
	memcpy(in.rollover_at, s->rollover_at, sizeof(in.rollover_at));
	in.have_bundle = s->have_bundle;
	in.bundle_kids = (const char *const *)s->bundle;
	in.n_bundle_kids = s->nbundle;
	in.bundle_iat = s->bundle_iat;
	in.signature_validity = s->validity;
	in.have_signers = s->have_signers;
	in.signer_kids = (const char *const *)s->signers;
	in.n_signer_kids = s->nsigners;
	assert_int_equal(anchor_policy_plan(&in, &acts, &nacts), ANCHOR_OK);

	for (i = 0; i < nacts; i++) {
		struct anchor_action *a = &acts[i];
		struct anchor_key_row *k = a->key != SIZE_MAX ? &s->keys[a->key] : NULL;

		/* Indexes refer to the keys as they were when planned. */
		assert_true(a->key == SIZE_MAX || a->key < nkeys_before);
		switch (a->kind) {
		case ANCHOR_ACT_GENERATE:
			new_key(s, a->role, now, a->activate);
			break;
		case ANCHOR_ACT_ACTIVATE:
			assert_int_equal(k->state, ANCHOR_KEY_PUBLISHED);
			/* In the bundle at least prepublish before use, unless no
			 * key at all was active (after a revocation). */
			if (s->in_bundle_since[a->key] != 0) {
				int64_t pre = now - s->in_bundle_since[a->key];

				if (retired_now[k->role]) {
					assert_true(pre >= s->pol[k->role].prepublish);
					if (pre < s->min_prepublish[k->role])
						s->min_prepublish[k->role] = pre;
				}
			}
			k->state = ANCHOR_KEY_ACTIVE;
			k->activated_at = now;
			break;
		case ANCHOR_ACT_RETIRE:
			assert_int_equal(k->state, ANCHOR_KEY_ACTIVE);
			k->state = ANCHOR_KEY_RETIRED;
			k->retired_at = now;
			retired_now[k->role] = true;
			break;
		case ANCHOR_ACT_REMOVE:
			assert_int_equal(k->state, ANCHOR_KEY_RETIRED);
			assert_true(now - k->retired_at >= s->pol[k->role].overlap);
			if (now - k->retired_at < s->min_overlap[k->role])
				s->min_overlap[k->role] = now - k->retired_at;
			k->state = ANCHOR_KEY_REMOVED;
			k->removed_at = now;
			break;
		case ANCHOR_ACT_DESTROY:
			assert_true(k->state == ANCHOR_KEY_REMOVED ||
			    k->state == ANCHOR_KEY_REVOKED);
			assert_true(now - (k->state == ANCHOR_KEY_REMOVED ?
			    k->removed_at : k->revoked_at) >= s->pol[k->role].purge);
			k->state = ANCHOR_KEY_DESTROYED;
			k->destroyed_at = now;
			break;
		case ANCHOR_ACT_SIGNERS:
			signers = true;
			break;
		case ANCHOR_ACT_BUNDLE:
			bundle = true;
			break;
		case ANCHOR_ACT_RESIGN:
			assert_true(now >= s->bundle_iat + s->validity / 2);
			s->bundle_iat = now;
			s->resigns++;
			break;
		}
	}
	/* A signer-set change always comes with a new bundle. */
	assert_true(!signers || bundle);
	if (signers) {
		publish(s, true, now);
		s->have_signers = true;
		s->signers_version++;
	}
	if (bundle) {
		publish(s, false, now);
		s->have_bundle = true;
		s->bundle_iat = now;
		s->sequence++;
	}

	/* Exactly one active key per role; a retired key was in the bundle
	 * for at least overlap after it stopped (checked at removal). */
	for (role = 0; role < ANCHOR_ROLE_COUNT; role++) {
		unsigned active = 0;

		for (i = 0; i < s->n; i++)
			if ((int)s->keys[i].role == role &&
			    s->keys[i].state == ANCHOR_KEY_ACTIVE)
				active++;
		assert_int_equal(active, 1);
	}
	/* The published sets match the keys in force after every run. */
	for (i = 0; i < s->n; i++)
		if (in_force(s->keys[i].state))
			assert_true(s->in_bundle_since[i] != 0);
	s->last_now = now;
	free(acts);
	return nacts;
}

/* A second run at the same moment finds nothing to do. */
static void
assert_idempotent(struct sim *s, int64_t now)
{
	uint64_t seq = s->sequence;

	assert_int_equal(step(s, now), 0);
	assert_int_equal(s->sequence, seq);
}

static void
test_400_days_default_policy(void **state)
{
	struct sim *s = &the_sim;
	int64_t t0 = 1767225600, now;
	int role;

	(void)state;
	sim_init(s, t0);
	step(s, t0);
	assert_int_equal(s->sequence, 1);
	for (now = t0 + 900; now <= t0 + 400 * DAY; now += 900) {
		step(s, now);
		if (now % (7 * 3600) == 0)
			assert_idempotent(s, now);
	}
	/* 400 days: CA keys every 30 days, JWT every 7, bundle-signing every
	 * 365, each rotated on time. */
	assert_int_equal(s->created[ANCHOR_ROLE_X509_CA], 1 + 13);
	assert_int_equal(s->created[ANCHOR_ROLE_JWT], 1 + 57);
	assert_int_equal(s->created[ANCHOR_ROLE_BUNDLE_SIGNING], 2);
	for (role = 0; role < ANCHOR_ROLE_COUNT; role++) {
		assert_int_equal(s->min_prepublish[role], s->pol[role].prepublish);
		assert_int_equal(s->min_overlap[role], s->pol[role].overlap);
		print_message("# %s: %u keys, shortest prepublish %llds, shortest overlap %llds\n",
		    anchor_role_name((enum anchor_role)role), s->created[role],
		    (long long)s->min_prepublish[role],
		    (long long)s->min_overlap[role]);
	}
	/* bundle-signing rollover: set N+1 with both keys, then N+2 without
	 * the old one. */
	assert_int_equal(s->signers_version, 3);
	print_message("# %llu bundles published, %u signer-set versions, %u re-signatures\n",
	    (unsigned long long)s->sequence, s->signers_version, s->resigns);
}

static void
test_late_and_irregular_runs(void **state)
{
	struct sim *s = &the_sim;
	int64_t t0 = 1767225600, now = t0;
	unsigned seed = 12345;

	(void)state;
	sim_init(s, t0);
	step(s, t0);
	while (now < t0 + 400 * DAY) {
		/* from one minute to four days between runs */
		seed = seed * 1103515245u + 12345u;
		now += 60 + (int64_t)(seed >> 8) % (4 * DAY);
		step(s, now);
		assert_idempotent(s, now);
	}
	assert_true(s->created[ANCHOR_ROLE_JWT] > 30);
}

static void
test_clock_backwards(void **state)
{
	struct sim *s = &the_sim;
	int64_t t0 = 1767225600, now;
	size_t i;

	(void)state;
	sim_init(s, t0);
	step(s, t0);
	for (now = t0; now <= t0 + 60 * DAY; now += HOUR) {
		enum anchor_key_state before[MAX_KEYS];
		unsigned resigns;
		uint64_t seq;
		size_t n;

		step(s, now);
		/* The clock jumps back a day: nothing is undone, nothing
		 * published or signed again. */
		for (i = 0; i < s->n; i++)
			before[i] = s->keys[i].state;
		seq = s->sequence;
		n = s->n;
		resigns = s->resigns;
		assert_int_equal(step(s, now - DAY), 0);
		assert_int_equal(s->sequence, seq);
		assert_int_equal(s->resigns, resigns);
		assert_int_equal(s->n, n);
		for (i = 0; i < n; i++)
			assert_int_equal(s->keys[i].state, before[i]);
	}
}

static void
test_forced_rollover(void **state)
{
	struct sim *s = &the_sim;
	int64_t t0 = 1767225600, now = t0 + DAY;
	size_t n0;

	(void)state;
	sim_init(s, t0);
	step(s, t0);
	step(s, now);
	n0 = s->created[ANCHOR_ROLE_X509_CA];
	/* Asked at day 1 of a 30-day lifetime: successor now, activation
	 * after its full prepublish, not before. */
	s->rollover_at[ANCHOR_ROLE_X509_CA] = now;
	step(s, now);
	assert_int_equal(s->created[ANCHOR_ROLE_X509_CA], n0 + 1);
	step(s, now + s->pol[ANCHOR_ROLE_X509_CA].prepublish - 1);
	assert_int_equal(s->keys[s->n - 1].state, ANCHOR_KEY_PUBLISHED);
	step(s, now + s->pol[ANCHOR_ROLE_X509_CA].prepublish);
	assert_int_equal(s->keys[s->n - 1].state, ANCHOR_KEY_ACTIVE);
	/* The old request does not end the new key's life early. */
	step(s, now + 2 * DAY);
	assert_int_equal(s->created[ANCHOR_ROLE_X509_CA], n0 + 1);
}

static void
test_revoked_active_key(void **state)
{
	struct sim *s = &the_sim;
	int64_t t0 = 1767225600;
	size_t i, jwt = SIZE_MAX;

	(void)state;
	sim_init(s, t0);
	step(s, t0);
	for (i = 0; i < s->n; i++)
		if (s->keys[i].role == ANCHOR_ROLE_JWT)
			jwt = i;
	/* An operator revoked the active JWT key with no successor. */
	s->keys[jwt].state = ANCHOR_KEY_REVOKED;
	s->keys[jwt].revoked_at = t0 + HOUR;
	assert_true(step(s, t0 + HOUR) > 0);
	assert_int_equal(s->keys[s->n - 1].role, ANCHOR_ROLE_JWT);
	assert_int_equal(s->keys[s->n - 1].state, ANCHOR_KEY_ACTIVE);
	/* The revoked key is out of the next bundle and destroyed after purge. */
	for (i = 0; i < s->nbundle; i++)
		assert_string_not_equal(s->bundle[i], s->keys[jwt].kid);
	step(s, t0 + HOUR + s->pol[ANCHOR_ROLE_JWT].purge);
	assert_int_equal(s->keys[jwt].state, ANCHOR_KEY_DESTROYED);
}

static void
test_action_names(void **state)
{
	(void)state;
	assert_string_equal(anchor_action_name(ANCHOR_ACT_GENERATE), "generate");
	assert_string_equal(anchor_action_name(ANCHOR_ACT_RESIGN), "resign");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_400_days_default_policy),
		cmocka_unit_test(test_late_and_irregular_runs),
		cmocka_unit_test(test_clock_backwards),
		cmocka_unit_test(test_forced_rollover),
		cmocka_unit_test(test_revoked_active_key),
		cmocka_unit_test(test_action_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
