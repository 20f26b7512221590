#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "error.h"
#include "jose.h"
#include "rotate.h"
#include "util.h"

static void
say(anchor_say_fn fn, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(anchor_say_fn fn, void *arg, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fn(arg, line);
}

const char *
anchor_rollover_meta_key(enum anchor_role role)
{
	switch (role) {
	case ANCHOR_ROLE_X509_CA:
		return "rollover.x509-ca";
	case ANCHOR_ROLE_JWT:
		return "rollover.jwt";
	case ANCHOR_ROLE_BUNDLE_SIGNING:
		break;
	}
	return "rollover.bundle-signing";
}

/* Key ids of the latest F1: jwt entries by kid, x509 entries by certificate. */
static int
bundle_kids(const struct anchor_bundle_row *b, const struct anchor_key_row *keys,
    size_t n, char ***out, size_t *nout)
{
	json_t *root = NULL, *e;
	char **kids = NULL;
	size_t i, j, k = 0;
	int r = ANCHOR_E_STATE;

	*out = NULL;
	*nout = 0;
	root = json_loadb((const char *)b->payload, b->payload_len, 0, NULL);
	if (root == NULL || !json_is_array(json_object_get(root, "keys")))
		goto out;
	if ((kids = calloc(json_array_size(json_object_get(root, "keys")) + 1,
	    sizeof(*kids))) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	json_array_foreach(json_object_get(root, "keys"), i, e) {
		const char *use = json_string_value(json_object_get(e, "use"));
		const char *kid = json_string_value(json_object_get(e, "kid"));
		const char *x5c = json_string_value(
		    json_array_get(json_object_get(e, "x5c"), 0));

		if (use != NULL && strcmp(use, "jwt-svid") == 0 && kid != NULL) {
			kids[k++] = strdup(kid);
			continue;
		}
		if (use == NULL || strcmp(use, "x509-svid") != 0 || x5c == NULL)
			continue;
		for (j = 0; j < n; j++) {
			char *b64 = NULL;
			bool same;

			if (keys[j].cert_der == NULL)
				continue;
			if (anchor_b64_std(keys[j].cert_der, keys[j].cert_len,
			    &b64) != ANCHOR_OK) {
				r = ANCHOR_E_NOMEM;
				goto out;
			}
			same = strcmp(b64, x5c) == 0;
			free(b64);
			if (same) {
				kids[k++] = strdup(keys[j].kid);
				break;
			}
		}
	}
	for (i = 0; i < k; i++)
		if (kids[i] == NULL) {
			r = ANCHOR_E_NOMEM;
			goto out;
		}
	*out = kids;
	*nout = k;
	kids = NULL;
	r = ANCHOR_OK;
 out:
	for (i = 0; kids != NULL && i < k; i++)
		free(kids[i]);
	free(kids);
	json_decref(root);
	return r;
}

static int
signer_kids(const struct anchor_signers_row *s, char ***out, size_t *nout)
{
	json_t *root, *e;
	char **kids = NULL;
	size_t i, k = 0;
	int r = ANCHOR_E_STATE;

	*out = NULL;
	*nout = 0;
	root = json_loadb((const char *)s->payload, s->payload_len, 0, NULL);
	if (root == NULL || !json_is_array(json_object_get(root, "keys")))
		goto out;
	if ((kids = calloc(json_array_size(json_object_get(root, "keys")) + 1,
	    sizeof(*kids))) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	json_array_foreach(json_object_get(root, "keys"), i, e) {
		const char *kid = json_string_value(json_object_get(e, "kid"));

		if (kid != NULL && (kids[k++] = strdup(kid)) == NULL) {
			r = ANCHOR_E_NOMEM;
			goto out;
		}
	}
	*out = kids;
	*nout = k;
	kids = NULL;
	r = ANCHOR_OK;
 out:
	for (i = 0; kids != NULL && i < k; i++)
		free(kids[i]);
	free(kids);
	json_decref(root);
	return r;
}

static void
free_kids(char **kids, size_t n)
{
	size_t i;

	for (i = 0; kids != NULL && i < n; i++)
		free(kids[i]);
	free(kids);
}

int
anchor_rotate_plan(struct anchor_domain *d, int64_t now,
    const bool force[ANCHOR_ROLE_COUNT], struct anchor_key_row **keys_out,
    size_t *n_keys_out, struct anchor_action **acts, size_t *n_acts)
{
	struct anchor_policy_input in;
	struct anchor_key_row *keys = NULL;
	struct anchor_bundle_row b;
	struct anchor_signers_row sg;
	char **bk = NULL, **sk = NULL, *v = NULL;
	size_t nkeys = 0, nbk = 0, nsk = 0;
	uint64_t t;
	int i, r;

	memset(&in, 0, sizeof(in));
	memset(&b, 0, sizeof(b));
	memset(&sg, 0, sizeof(sg));
	*keys_out = NULL;
	*n_keys_out = 0;
	if ((r = anchor_store_keys(d->store, &keys, &nkeys)) != ANCHOR_OK)
		goto out;
	in.keys = keys;
	in.n_keys = nkeys;
	in.policy = d->conf->keys;
	in.now = now;
	in.signature_validity = d->conf->signature_validity;
	for (i = 0; i < ANCHOR_ROLE_COUNT; i++) {
		if (force != NULL && force[i]) {
			in.rollover_at[i] = now;
			continue;
		}
		if (anchor_store_meta_get(d->store, anchor_rollover_meta_key((enum anchor_role)i),
		    &v) == ANCHOR_OK && anchor_parse_u64(v, &t) == ANCHOR_OK)
			in.rollover_at[i] = (int64_t)t;
		free(v);
		v = NULL;
	}
	if (anchor_store_bundle_latest(d->store, &b) == ANCHOR_OK) {
		if ((r = bundle_kids(&b, keys, nkeys, &bk, &nbk)) != ANCHOR_OK)
			goto out;
		in.have_bundle = b.jws != NULL;
		in.bundle_kids = (const char *const *)bk;
		in.n_bundle_kids = nbk;
		in.bundle_iat = b.iat;
	}
	if (anchor_store_signers_get(d->store, 0, &sg) == ANCHOR_OK) {
		if ((r = signer_kids(&sg, &sk, &nsk)) != ANCHOR_OK)
			goto out;
		in.have_signers = true;
		in.signer_kids = (const char *const *)sk;
		in.n_signer_kids = nsk;
	}
	if ((r = anchor_policy_plan(&in, acts, n_acts)) != ANCHOR_OK)
		goto out;
	*keys_out = keys;
	*n_keys_out = nkeys;
	keys = NULL;
	nkeys = 0;
 out:
	free_kids(bk, nbk);
	free_kids(sk, nsk);
	anchor_bundle_row_clear(&b);
	anchor_signers_row_clear(&sg);
	anchor_key_rows_free(keys, nkeys);
	return r;
}

static int
audit_key(struct anchor_domain *d, int64_t now, const char *event,
    const struct anchor_key_row *k, const char *reason)
{
	json_t *data;
	int r;

	data = json_pack("{s:s, s:s, s:s, s:i}", "role", anchor_role_name(k->role),
	    "kid", k->kid, "label", k->label, "serial", k->serial);
	if (data == NULL)
		return ANCHOR_E_NOMEM;
	if (reason != NULL)
		json_object_set_new(data, "reason", json_string(reason));
	r = anchor_domain_audit(d, now, event, data);
	json_decref(data);
	return r;
}

/* Move a stored key to a new state with its timestamp, and audit it. */
static int
transition(struct anchor_domain *d, struct anchor_key_row *k,
    enum anchor_key_state to, int64_t now, const char *reason)
{
	static const char *events[] = {
		"key.published", "key.activated", "key.retired", "key.removed",
		"key.revoked", "key.destroyed",
	};
	int r;

	k->state = to;
	switch (to) {
	case ANCHOR_KEY_ACTIVE:
		k->activated_at = now;
		break;
	case ANCHOR_KEY_RETIRED:
		k->retired_at = now;
		break;
	case ANCHOR_KEY_REMOVED:
		k->removed_at = now;
		break;
	case ANCHOR_KEY_REVOKED:
		k->revoked_at = now;
		free(k->revoke_reason);
		k->revoke_reason = reason ? strdup(reason) : NULL;
		break;
	case ANCHOR_KEY_DESTROYED:
		k->destroyed_at = now;
		break;
	case ANCHOR_KEY_PUBLISHED:
		k->published_at = now;
		break;
	}
	if ((r = anchor_store_key_update(d->store, k)) != ANCHOR_OK) {
		snprintf(d->detail, sizeof(d->detail), "updating %s: %s", k->label,
		    anchor_store_errmsg(d->store));
		return r;
	}
	/* A new active key answers any rollover request for its role. */
	if (to == ANCHOR_KEY_ACTIVE && (r = anchor_store_meta_set(d->store,
	    anchor_rollover_meta_key(k->role), "0")) != ANCHOR_OK)
		return r;
	return audit_key(d, now, events[to], k, reason);
}

int
anchor_rotate(struct anchor_domain *d, const struct anchor_rotate_opts *o,
    unsigned *done)
{
	struct anchor_key_row *keys = NULL, nk;
	struct anchor_action *acts = NULL;
	size_t nkeys = 0, nacts = 0, i;
	unsigned ndone = 0, version = 0, destroyed = 0;
	uint64_t seq = 0;
	bool in_tx = false, any_force = false;
	int r, role;

	memset(&nk, 0, sizeof(nk));
	*done = 0;
	for (role = 0; role < ANCHOR_ROLE_COUNT; role++)
		any_force |= o->force[role];
	if ((r = anchor_rotate_plan(d, o->now, o->force, &keys, &nkeys, &acts,
	    &nacts)) != ANCHOR_OK)
		goto out;
	if (o->dry_run) {
		for (i = 0; i < nacts; i++) {
			const struct anchor_action *a = &acts[i];

			say(o->say, o->arg, "would %s %s%s%s", anchor_action_name(a->kind),
			    a->key != SIZE_MAX ? keys[a->key].label :
			    anchor_role_name(a->role),
			    a->kind == ANCHOR_ACT_GENERATE && a->activate ?
			    " (activated at once)" : "",
			    a->kind == ANCHOR_ACT_GENERATE ? " successor" : "");
		}
		goto out;
	}
	if (nacts == 0 && !any_force)
		goto out;

	if ((r = anchor_domain_open_token(d)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_domain_reconcile(d, o->now, &destroyed, NULL)) != ANCHOR_OK)
		goto out;
	if (destroyed > 0)
		say(o->say, o->arg, "destroyed %u token object(s) left by an "
		    "interrupted run", destroyed);

	if (any_force) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%" PRId64, o->now);
		if ((r = anchor_domain_begin(d)) != ANCHOR_OK)
			goto out;
		in_tx = true;
		for (role = 0; role < ANCHOR_ROLE_COUNT; role++) {
			json_t *data;

			if (!o->force[role])
				continue;
			if ((r = anchor_store_meta_set(d->store,
			    anchor_rollover_meta_key((enum anchor_role)role), buf)) != ANCHOR_OK)
				goto out;
			data = json_pack("{s:s}", "role",
			    anchor_role_name((enum anchor_role)role));
			r = anchor_domain_audit(d, o->now, "rollover.requested", data);
			json_decref(data);
			if (r != ANCHOR_OK)
				goto out;
			say(o->say, o->arg, "early rollover of %s requested",
			    anchor_role_name((enum anchor_role)role));
		}
		in_tx = false;
		if ((r = anchor_domain_commit(d)) != ANCHOR_OK)
			goto out;
	}

	/* Token first: new keys are generated and stored (published) before
	 * any state changes; a crash in between leaves a published key that
	 * the next run's plan picks up. */
	for (i = 0; i < nacts; i++) {
		const struct anchor_action *a = &acts[i];

		if (a->kind != ANCHOR_ACT_GENERATE)
			continue;
		if ((r = anchor_domain_new_key(d, a->role, o->now, a->activate,
		    &nk)) != ANCHOR_OK)
			goto out;
		if (a->activate && (r = anchor_store_meta_set(d->store,
		    anchor_rollover_meta_key(a->role), "0")) != ANCHOR_OK)
			goto out;
		say(o->say, o->arg, "generated %s (%s, kid %s)%s", nk.label,
		    anchor_alg_name(nk.alg), nk.kid,
		    a->activate ? ", active at once" : ", published");
		anchor_key_row_clear(&nk);
		ndone++;
	}

	if ((r = anchor_domain_begin(d)) != ANCHOR_OK)
		goto out;
	in_tx = true;
	for (i = 0; i < nacts; i++) {
		const struct anchor_action *a = &acts[i];
		struct anchor_key_row *k = a->key != SIZE_MAX ? &keys[a->key] : NULL;
		enum anchor_key_state to;

		switch (a->kind) {
		case ANCHOR_ACT_ACTIVATE:
			to = ANCHOR_KEY_ACTIVE;
			break;
		case ANCHOR_ACT_RETIRE:
			to = ANCHOR_KEY_RETIRED;
			break;
		case ANCHOR_ACT_REMOVE:
			to = ANCHOR_KEY_REMOVED;
			break;
		case ANCHOR_ACT_DESTROY:
			to = ANCHOR_KEY_DESTROYED;
			break;
		default:
			continue;
		}
		if ((r = transition(d, k, to, o->now, NULL)) != ANCHOR_OK)
			goto out;
		say(o->say, o->arg, "%s %s", anchor_key_state_name(to), k->label);
		ndone++;
	}
	for (i = 0; i < nacts; i++) {
		switch (acts[i].kind) {
		case ANCHOR_ACT_SIGNERS:
			if ((r = anchor_domain_publish_signers(d, o->now,
			    &version)) != ANCHOR_OK)
				goto out;
			say(o->say, o->arg, "published signer set version %u", version);
			break;
		case ANCHOR_ACT_BUNDLE:
			if ((r = anchor_domain_publish_bundle(d, o->now, &seq)) != ANCHOR_OK)
				goto out;
			say(o->say, o->arg, "published bundle sequence %" PRIu64, seq);
			break;
		case ANCHOR_ACT_RESIGN:
			if ((r = anchor_domain_resign_bundle(d, o->now)) != ANCHOR_OK)
				goto out;
			say(o->say, o->arg, "signed the current bundle again");
			break;
		default:
			continue;
		}
		ndone++;
	}
	in_tx = false;
	if ((r = anchor_domain_commit(d)) != ANCHOR_OK)
		goto out;

	/* Database first for destruction: a crash here leaves a destroyed
	 * row whose object the next reconcile destroys. */
	for (i = 0; i < nacts; i++) {
		if (acts[i].kind != ANCHOR_ACT_DESTROY)
			continue;
		r = a11_destroy(d->token, keys[acts[i].key].ckaid);
		if (r != ANCHOR_OK && r != ANCHOR_E_KEY_NOT_FOUND) {
			snprintf(d->detail, sizeof(d->detail),
			    "destroying %s in the token", keys[acts[i].key].label);
			goto out;
		}
	}
	if (ndone > 0 && (r = anchor_domain_checkpoint(d, o->now)) != ANCHOR_OK)
		goto out;
	r = ANCHOR_OK;
 out:
	if (in_tx)
		anchor_domain_rollback(d);
	*done = ndone;
	anchor_key_row_clear(&nk);
	anchor_key_rows_free(keys, nkeys);
	free(acts);
	return r;
}

int
anchor_revoke(struct anchor_domain *d, const char *kid, const char *reason,
    const char *operator_name, int64_t now, anchor_say_fn sayfn, void *arg)
{
	struct anchor_key_row *keys = NULL, nk, *k = NULL;
	struct anchor_signers_row sg;
	size_t n = 0, i;
	char **sk = NULL;
	size_t nsk = 0;
	size_t succ = SIZE_MAX;
	unsigned version;
	uint64_t seq;
	bool in_tx = false, was_active;
	enum anchor_role role;
	json_t *data = NULL;
	int r;

	memset(&nk, 0, sizeof(nk));
	memset(&sg, 0, sizeof(sg));
	if ((r = anchor_store_keys(d->store, &keys, &n)) != ANCHOR_OK)
		goto out;
	for (i = 0; i < n; i++)
		if (strcmp(keys[i].kid, kid) == 0)
			k = &keys[i];
	if (k == NULL) {
		r = ANCHOR_E_NOT_FOUND;
		snprintf(d->detail, sizeof(d->detail), "no key with kid %.64s", kid);
		goto out;
	}
	if (k->state != ANCHOR_KEY_PUBLISHED && k->state != ANCHOR_KEY_ACTIVE &&
	    k->state != ANCHOR_KEY_RETIRED) {
		r = ANCHOR_E_INVAL;
		snprintf(d->detail, sizeof(d->detail), "%s is %s, not in the bundle",
		    k->label, anchor_key_state_name(k->state));
		goto out;
	}
	was_active = k->state == ANCHOR_KEY_ACTIVE;
	role = k->role;
	for (i = 0; i < n; i++)
		if (&keys[i] != k && keys[i].role == k->role &&
		    keys[i].state == ANCHOR_KEY_PUBLISHED &&
		    (succ == SIZE_MAX || keys[i].serial > keys[succ].serial))
			succ = i;

	if (k->role == ANCHOR_ROLE_BUNDLE_SIGNING) {
		/* Relying parties must be able to follow the signer set that
		 * drops this key: another key of the current set signs it. */
		bool other = false;

		if ((r = anchor_store_signers_get(d->store, 0, &sg)) != ANCHOR_OK ||
		    (r = signer_kids(&sg, &sk, &nsk)) != ANCHOR_OK)
			goto out;
		for (i = 0; i < n; i++) {
			size_t j;

			if (&keys[i] == k || keys[i].role != ANCHOR_ROLE_BUNDLE_SIGNING ||
			    (keys[i].state != ANCHOR_KEY_PUBLISHED &&
			    keys[i].state != ANCHOR_KEY_ACTIVE &&
			    keys[i].state != ANCHOR_KEY_RETIRED))
				continue;
			for (j = 0; j < nsk; j++)
				if (strcmp(sk[j], keys[i].kid) == 0)
					other = true;
		}
		if (!other) {
			r = ANCHOR_E_INVAL;
			snprintf(d->detail, sizeof(d->detail),
			    "%s is the last bundle-signing key relying parties "
			    "trust; run 'anchorctl rotate --force bundle-signing' "
			    "and revoke once its successor is in the signer set",
			    k->label);
			goto out;
		}
	}

	/* Token first: a replacement for an active key without successor. */
	if (was_active && succ == SIZE_MAX && k->role != ANCHOR_ROLE_BUNDLE_SIGNING) {
		if ((r = anchor_domain_new_key(d, k->role, now, false, &nk)) != ANCHOR_OK)
			goto out;
		say(sayfn, arg, "generated %s to replace the revoked key", nk.label);
	}

	if ((r = anchor_domain_begin(d)) != ANCHOR_OK)
		goto out;
	in_tx = true;
	if ((r = transition(d, k, ANCHOR_KEY_REVOKED, now, reason)) != ANCHOR_OK)
		goto out;
	data = json_pack("{s:s, s:s, s:s, s:s}", "kid", k->kid, "label", k->label,
	    "reason", reason, "operator", operator_name ? operator_name : "");
	if (data == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	say(sayfn, arg, "revoked %s (kid %s): %s", k->label, k->kid, reason);
	if (was_active) {
		struct anchor_key_row *s = NULL;

		if (succ != SIZE_MAX)
			s = &keys[succ];
		else if (nk.label[0] != '\0') {
			/* The replacement was stored as published: find its row. */
			anchor_key_rows_free(keys, n);
			keys = NULL;
			k = NULL;
			if ((r = anchor_store_keys(d->store, &keys, &n)) != ANCHOR_OK)
				goto out;
			for (i = 0; i < n; i++)
				if (strcmp(keys[i].kid, nk.kid) == 0)
					s = &keys[i];
		}
		if (s != NULL) {
			if ((r = transition(d, s, ANCHOR_KEY_ACTIVE, now, NULL)) != ANCHOR_OK)
				goto out;
			say(sayfn, arg, "activated %s at once", s->label);
		}
	}
	if (role == ANCHOR_ROLE_BUNDLE_SIGNING) {
		if ((r = anchor_domain_publish_signers(d, now, &version)) != ANCHOR_OK)
			goto out;
		say(sayfn, arg, "published signer set version %u", version);
	}
	if ((r = anchor_domain_publish_bundle(d, now, &seq)) != ANCHOR_OK)
		goto out;
	say(sayfn, arg, "published bundle sequence %" PRIu64, seq);
	if ((r = anchor_domain_audit(d, now, "key.revocation", data)) != ANCHOR_OK)
		goto out;
	in_tx = false;
	if ((r = anchor_domain_commit(d)) != ANCHOR_OK)
		goto out;
	(void)anchor_domain_checkpoint(d, now);
	r = ANCHOR_OK;
 out:
	if (in_tx)
		anchor_domain_rollback(d);
	json_decref(data);
	free_kids(sk, nsk);
	anchor_signers_row_clear(&sg);
	anchor_key_row_clear(&nk);
	anchor_key_rows_free(keys, n);
	return r;
}
