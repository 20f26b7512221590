#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "policy.h"

struct plan {
	struct anchor_action *a;
	size_t n, cap;
};

static int
push(struct plan *p, enum anchor_action_kind kind, enum anchor_role role,
    size_t key, bool activate, int64_t due)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct anchor_action *na = realloc(p->a, cap * sizeof(*na));

		if (na == NULL)
			return ANCHOR_E_NOMEM;
		p->a = na;
		p->cap = cap;
	}
	p->a[p->n].kind = kind;
	p->a[p->n].role = role;
	p->a[p->n].key = key;
	p->a[p->n].activate = activate;
	p->a[p->n].due = due;
	p->n++;
	return ANCHOR_OK;
}

const char *
anchor_action_name(enum anchor_action_kind kind)
{
	switch (kind) {
	case ANCHOR_ACT_GENERATE:	return "generate";
	case ANCHOR_ACT_ACTIVATE:	return "activate";
	case ANCHOR_ACT_RETIRE:		return "retire";
	case ANCHOR_ACT_REMOVE:		return "remove";
	case ANCHOR_ACT_DESTROY:	return "destroy";
	case ANCHOR_ACT_SIGNERS:	return "signers";
	case ANCHOR_ACT_BUNDLE:		return "bundle";
	case ANCHOR_ACT_RESIGN:		return "resign";
	}
	return "unknown";
}

int64_t
anchor_policy_eol(const struct anchor_key_row *active,
    const struct anchor_key_policy *p, int64_t rollover_at)
{
	int64_t eol = active->activated_at + p->lifetime;

	/* A rollover asked for since this key took over ends it early (the
	 * request is cleared when its successor is activated). */
	if (rollover_at != 0 && rollover_at >= active->activated_at &&
	    rollover_at < eol)
		eol = rollover_at;
	return eol;
}

static bool
in_force(enum anchor_key_state s)
{
	return s == ANCHOR_KEY_PUBLISHED || s == ANCHOR_KEY_ACTIVE ||
	    s == ANCHOR_KEY_RETIRED;
}

static bool
listed(const char *const *kids, size_t n, const char *kid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(kids[i], kid) == 0)
			return true;
	return false;
}

/*
 * Do the keys of these roles in force (after the planned transitions) equal
 * the listed set?  Keys are distinct, so equal counts and inclusion suffice.
 */
static bool
same_set(const struct anchor_key_row *keys, const enum anchor_key_state *st,
    size_t n, bool bundle_signing, const char *const *kids, size_t nkids)
{
	size_t i, count = 0;

	for (i = 0; i < n; i++) {
		if ((keys[i].role == ANCHOR_ROLE_BUNDLE_SIGNING) != bundle_signing ||
		    !in_force(st[i]))
			continue;
		if (!listed(kids, nkids, keys[i].kid))
			return false;
		count++;
	}
	return count == nkids;
}

static int
plan_role(const struct anchor_policy_input *in, enum anchor_role role,
    enum anchor_key_state *st, struct plan *p, bool *generated)
{
	const struct anchor_key_policy *pol = &in->policy[role];
	const struct anchor_key_row *keys = in->keys;
	size_t i, active = SIZE_MAX, pub = SIZE_MAX;
	int64_t now = in->now, eol, t;
	int r;

	for (i = 0; i < in->n_keys; i++) {
		if (keys[i].role != role)
			continue;
		if (st[i] == ANCHOR_KEY_ACTIVE)
			active = i;
		/* The newest published key is the successor. */
		if (st[i] == ANCHOR_KEY_PUBLISHED &&
		    (pub == SIZE_MAX || keys[i].serial > keys[pub].serial))
			pub = i;
	}

	if (active == SIZE_MAX) {
		/* No key in use (revoked): take over at once. */
		if (pub != SIZE_MAX) {
			if ((r = push(p, ANCHOR_ACT_ACTIVATE, role, pub, false, now)) != ANCHOR_OK)
				return r;
			st[pub] = ANCHOR_KEY_ACTIVE;
		} else {
			if ((r = push(p, ANCHOR_ACT_GENERATE, role, SIZE_MAX, true, now)) != ANCHOR_OK)
				return r;
			*generated = true;
		}
	} else {
		eol = anchor_policy_eol(&keys[active], pol, in->rollover_at[role]);
		if (pub != SIZE_MAX) {
			t = keys[pub].published_at + pol->prepublish;
			if (t < eol)
				t = eol;
			if (now >= t) {
				if ((r = push(p, ANCHOR_ACT_RETIRE, role, active, false,
				    eol)) != ANCHOR_OK ||
				    (r = push(p, ANCHOR_ACT_ACTIVATE, role, pub, false,
				    t)) != ANCHOR_OK)
					return r;
				st[active] = ANCHOR_KEY_RETIRED;
				st[pub] = ANCHOR_KEY_ACTIVE;
				pub = SIZE_MAX;
			}
		} else if (now >= eol - pol->prepublish) {
			if ((r = push(p, ANCHOR_ACT_GENERATE, role, SIZE_MAX, false,
			    eol - pol->prepublish)) != ANCHOR_OK)
				return r;
			*generated = true;
		}
	}

	/* Keys already retired before this run leave after the overlap;
	 * removed and revoked ones are destroyed after the purge delay. */
	for (i = 0; i < in->n_keys; i++) {
		if (keys[i].role != role)
			continue;
		if (keys[i].state == ANCHOR_KEY_RETIRED &&
		    now >= (t = keys[i].retired_at + pol->overlap)) {
			if ((r = push(p, ANCHOR_ACT_REMOVE, role, i, false, t)) != ANCHOR_OK)
				return r;
			st[i] = ANCHOR_KEY_REMOVED;
		} else if ((keys[i].state == ANCHOR_KEY_REMOVED ||
		    keys[i].state == ANCHOR_KEY_REVOKED)) {
			t = (keys[i].state == ANCHOR_KEY_REMOVED ?
			    keys[i].removed_at : keys[i].revoked_at) + pol->purge;
			if (now >= t) {
				if ((r = push(p, ANCHOR_ACT_DESTROY, role, i, false,
				    t)) != ANCHOR_OK)
					return r;
				st[i] = ANCHOR_KEY_DESTROYED;
			}
		}
	}
	return ANCHOR_OK;
}

/* Order: GENERATE first (token before database), then the transitions in
 * the order planned, then publication. */
static int
action_rank(const struct anchor_action *a)
{
	switch (a->kind) {
	case ANCHOR_ACT_GENERATE:
		return 0;
	case ANCHOR_ACT_SIGNERS:
		return 2;
	case ANCHOR_ACT_BUNDLE:
	case ANCHOR_ACT_RESIGN:
		return 3;
	default:
		return 1;
	}
}

int
anchor_policy_plan(const struct anchor_policy_input *in,
    struct anchor_action **acts, size_t *n)
{
	struct plan p = { NULL, 0, 0 }, sorted = { NULL, 0, 0 };
	enum anchor_key_state *st = NULL;
	bool gen[ANCHOR_ROLE_COUNT] = { false, false, false };
	bool signers = false, bundle = false;
	size_t i;
	int rank, r = ANCHOR_E_INTERNAL;

	*acts = NULL;
	*n = 0;
	if ((st = calloc(in->n_keys + 1, sizeof(*st))) == NULL)
		return ANCHOR_E_NOMEM;
	for (i = 0; i < in->n_keys; i++)
		st[i] = in->keys[i].state;
	for (i = 0; i < ANCHOR_ROLE_COUNT; i++)
		if ((r = plan_role(in, (enum anchor_role)i, st, &p, &gen[i])) != ANCHOR_OK)
			goto out;

	signers = !in->have_signers || gen[ANCHOR_ROLE_BUNDLE_SIGNING] ||
	    !same_set(in->keys, st, in->n_keys, true, in->signer_kids,
	    in->n_signer_kids);
	bundle = signers || !in->have_bundle || gen[ANCHOR_ROLE_X509_CA] ||
	    gen[ANCHOR_ROLE_JWT] || !same_set(in->keys, st, in->n_keys, false,
	    in->bundle_kids, in->n_bundle_kids);
	if (signers &&
	    (r = push(&p, ANCHOR_ACT_SIGNERS, ANCHOR_ROLE_BUNDLE_SIGNING, SIZE_MAX,
	    false, in->now)) != ANCHOR_OK)
		goto out;
	if (bundle) {
		if ((r = push(&p, ANCHOR_ACT_BUNDLE, ANCHOR_ROLE_X509_CA, SIZE_MAX,
		    false, in->now)) != ANCHOR_OK)
			goto out;
	} else if (in->now >= in->bundle_iat + in->signature_validity / 2) {
		if ((r = push(&p, ANCHOR_ACT_RESIGN, ANCHOR_ROLE_X509_CA, SIZE_MAX,
		    false, in->bundle_iat + in->signature_validity / 2)) != ANCHOR_OK)
			goto out;
	}

	/* A stable order by rank keeps each role's RETIRE before its ACTIVATE. */
	for (rank = 0; rank <= 3; rank++)
		for (i = 0; i < p.n; i++)
			if (action_rank(&p.a[i]) == rank &&
			    (r = push(&sorted, p.a[i].kind, p.a[i].role, p.a[i].key,
			    p.a[i].activate, p.a[i].due)) != ANCHOR_OK)
				goto out;
	*acts = sorted.a;
	*n = sorted.n;
	sorted.a = NULL;
	r = ANCHOR_OK;
 out:
	free(sorted.a);
	free(p.a);
	free(st);
	return r;
}
