/*
 * anchorctl: read and administer a trust domain's state.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "conf.h"
#include "anchor/svid.h"
#include "domain.h"
#include "error.h"
#include "federation.h"
#include "jose.h"
#include "log.h"
#include "rotate.h"
#include "store.h"
#include "timeline.h"
#include "util.h"

#define EXIT_USAGE 2

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: anchorctl [-c FILE] status [--json] [--now UNIX_SECONDS]\n"
	    "                           [--timeline [--days N]]\n"
	    "       anchorctl [-c FILE] bundle [--format spiffe|jws|pem]\n"
	    "       anchorctl [-c FILE] signers [--version N]\n"
	    "       anchorctl [-c FILE] rotate [--now UNIX_SECONDS] [--dry-run]\n"
	    "                           [--force x509-ca|jwt|bundle-signing ...]\n"
	    "       anchorctl [-c FILE] revoke --key KID --reason TEXT\n"
	    "                           [--operator NAME] [--now UNIX_SECONDS]\n"
	    "       anchorctl [-c FILE] audit list [--json] [--since UNIX_SECONDS]\n"
	    "       anchorctl [-c FILE] audit verify\n"
	    "       anchorctl [-c FILE] federation list [--json]\n"
	    "       anchorctl [-c FILE] federation show TD [--format spiffe|pem|json]\n"
	    "       anchorctl [-c FILE] federation add TD [--url URL]\n"
	    "                           [--profile https_web|https_spiffe]\n"
	    "                           [--endpoint-id SPIFFE_ID] [--signers FILE]\n"
	    "                           [--ca-file FILE] [--bundle FILE]\n"
	    "                           [--allow PATTERN ...] [--operator NAME]\n"
	    "                           [--now UNIX_SECONDS]\n"
	    "       anchorctl [-c FILE] federation bootstrap TD --bundle FILE\n"
	    "                           [--operator NAME] [--now UNIX_SECONDS]\n"
	    "       anchorctl [-c FILE] federation refresh [TD] [--now UNIX_SECONDS]\n"
	    "                           [--timeout SECONDS]\n"
	    "       anchorctl [-c FILE] federation remove TD --reason TEXT\n"
	    "                           [--operator NAME] [--now UNIX_SECONDS]\n"
	    "       anchorctl [-c FILE] verify-svid CHAIN.pem [--now UNIX_SECONDS]\n");
}

static void
fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
		snprintf(buf, len, "-");
		return;
	}
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
fmt_span(int64_t s, char *buf, size_t len)
{
	const char *sign = s < 0 ? "-" : "";

	if (s < 0)
		s = -s;
	if (s >= 86400)
		snprintf(buf, len, "%s%" PRId64 "d %" PRId64 "h", sign, s / 86400,
		    s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, len, "%s%" PRId64 "h %" PRId64 "m", sign, s / 3600,
		    s % 3600 / 60);
	else
		snprintf(buf, len, "%s%" PRId64 "m %" PRId64 "s", sign, s / 60,
		    s % 60);
}

/*
 * The next scheduled event of a key under the policy (DESIGN.md §3):
 * a successor appears at activation + lifetime - prepublish, retirement at
 * activation + lifetime, removal after the overlap, destruction after purge.
 */
static const char *
next_event(const struct anchor_key_row *k, const struct anchor_key_policy *p,
    int64_t now, int64_t *at)
{
	switch (k->state) {
	case ANCHOR_KEY_PUBLISHED:
		*at = k->published_at + p->prepublish;
		return "activate";
	case ANCHOR_KEY_ACTIVE:
		*at = k->activated_at + p->lifetime - p->prepublish;
		if (*at > now)
			return "successor";
		*at = k->activated_at + p->lifetime;
		return "retire";
	case ANCHOR_KEY_RETIRED:
		*at = k->retired_at + p->overlap;
		return "remove";
	case ANCHOR_KEY_REMOVED:
		*at = k->removed_at + p->purge;
		return "destroy";
	case ANCHOR_KEY_REVOKED:
		*at = k->revoked_at + p->purge;
		return "destroy";
	case ANCHOR_KEY_DESTROYED:
		break;
	}
	*at = 0;
	return NULL;
}

static int
open_store(const struct anchor_conf *conf, struct anchor_store **s)
{
	int r = anchor_store_open(conf->state_dir, false, s);

	if (r == ANCHOR_E_NOT_FOUND)
		error_f("no state in %s: run anchor-ceremony init first",
		    conf->state_dir);
	else if (r != ANCHOR_OK)
		error_f("state %s: %s", conf->state_dir, anchor_strerror(r));
	return r;
}

static json_t *
timeline_json(const struct anchor_timeline_key *tk, size_t n)
{
	json_t *a = json_array();
	size_t i, s;

	for (i = 0; a != NULL && i < n; i++) {
		json_t *spans = json_array(), *k;

		for (s = 0; s < tk[i].n_spans; s++) {
			const struct anchor_span *sp = &tk[i].spans[s];
			json_t *j = json_pack("{s:s, s:I, s:b}", "state",
			    anchor_key_state_name(sp->state), "from",
			    (json_int_t)sp->from, "scheduled", sp->scheduled);

			json_object_set_new(j, "to", sp->to == INT64_MAX ?
			    json_null() : json_integer(sp->to));
			json_array_append_new(spans, j);
		}
		k = json_pack("{s:s, s:i, s:s, s:b, s:o}", "role",
		    anchor_role_name(tk[i].role), "serial", tk[i].serial, "kid",
		    tk[i].kid, "projected", tk[i].projected, "spans", spans);
		if (tk[i].revoked_at != 0)
			json_object_set_new(k, "revoked_at",
			    json_integer(tk[i].revoked_at));
		json_array_append_new(a, k);
	}
	return a;
}

static int
load_timeline(const struct anchor_conf *conf, struct anchor_store *s,
    const struct anchor_key_row *keys, size_t n, int64_t now, int64_t until,
    struct anchor_timeline_key **tk, size_t *ntk)
{
	int64_t rollover[ANCHOR_ROLE_COUNT] = { 0, 0, 0 };
	char *v = NULL;
	uint64_t t;
	int i;

	for (i = 0; i < ANCHOR_ROLE_COUNT; i++) {
		if (anchor_store_meta_get(s, anchor_rollover_meta_key(
		    (enum anchor_role)i), &v) == ANCHOR_OK &&
		    anchor_parse_u64(v, &t) == ANCHOR_OK)
			rollover[i] = (int64_t)t;
		free(v);
		v = NULL;
	}
	return anchor_timeline(keys, n, conf->keys, rollover, now, until, tk, ntk);
}

static int
cmd_status(const struct anchor_conf *conf, bool as_json, int64_t now,
    unsigned timeline_days)
{
	struct anchor_timeline_key *tk = NULL;
	size_t ntk = 0;
	int64_t from = now - (int64_t)timeline_days * 86400 / 4;
	int64_t until = from + (int64_t)timeline_days * 86400;
	struct anchor_store *s = NULL;
	struct anchor_key_row *keys = NULL;
	struct anchor_bundle_row b;
	struct anchor_signers_row sg;
	size_t n = 0, i;
	json_t *root = NULL, *jkeys = NULL;
	char t1[32], t2[32], span[32];
	bool have_bundle, have_signers;
	int r, rc = EXIT_FAILURE;

	memset(&b, 0, sizeof(b));
	memset(&sg, 0, sizeof(sg));
	if ((r = open_store(conf, &s)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_store_keys(s, &keys, &n)) != ANCHOR_OK) {
		error_f("reading keys: %s", anchor_store_errmsg(s));
		goto out;
	}
	have_bundle = anchor_store_bundle_latest(s, &b) == ANCHOR_OK;
	have_signers = anchor_store_signers_get(s, 0, &sg) == ANCHOR_OK;
	if (timeline_days > 0 && (r = load_timeline(conf, s, keys, n, now, until,
	    &tk, &ntk)) != ANCHOR_OK) {
		error_f("projecting the timeline: %s", anchor_strerror(r));
		goto out;
	}

	if (as_json) {
		root = json_pack("{s:s, s:s, s:I}", "trust_domain",
		    conf->trust_domain, "state_dir", conf->state_dir, "now",
		    (json_int_t)now);
		if (have_bundle)
			json_object_set_new(root, "bundle", json_pack(
			    "{s:I, s:I, s:I, s:I}", "sequence",
			    (json_int_t)b.sequence, "iat", (json_int_t)b.iat,
			    "exp", (json_int_t)b.exp, "expires_in",
			    (json_int_t)(b.exp - now)));
		if (have_signers)
			json_object_set_new(root, "signers", json_pack(
			    "{s:i, s:I}", "version", sg.version, "min_sequence",
			    (json_int_t)sg.min_sequence));
		jkeys = json_array();
		for (i = 0; i < n; i++) {
			const struct anchor_key_row *k = &keys[i];
			int64_t at = 0;
			const char *ev = next_event(k, &conf->keys[k->role], now, &at);
			json_t *jk = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, "
			    "s:I, s:I, s:I, s:I, s:I, s:I}",
			    "role", anchor_role_name(k->role), "serial", k->serial,
			    "state", anchor_key_state_name(k->state), "kid", k->kid,
			    "label", k->label, "algorithm", anchor_alg_name(k->alg),
			    "created_at", (json_int_t)k->created_at,
			    "published_at", (json_int_t)k->published_at,
			    "activated_at", (json_int_t)k->activated_at,
			    "retired_at", (json_int_t)k->retired_at,
			    "removed_at", (json_int_t)k->removed_at,
			    "revoked_at", (json_int_t)k->revoked_at);
			if (ev != NULL)
				json_object_set_new(jk, "next", json_pack(
				    "{s:s, s:I}", "event", ev, "at", (json_int_t)at));
			json_array_append_new(jkeys, jk);
		}
		json_object_set_new(root, "keys", jkeys);
		if (timeline_days > 0)
			json_object_set_new(root, "timeline", timeline_json(tk, ntk));
		if (json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
			goto out;
		printf("\n");
		rc = EXIT_SUCCESS;
		goto out;
	}

	printf("trust domain   %s\n", conf->trust_domain);
	printf("state          %s\n", conf->state_dir);
	if (have_bundle) {
		fmt_time(b.iat, t1, sizeof(t1));
		fmt_time(b.exp, t2, sizeof(t2));
		fmt_span(b.exp - now, span, sizeof(span));
		printf("bundle         sequence %" PRIu64 ", signed %s, "
		    "signature expires %s (%s%s)\n", b.sequence, t1, t2,
		    b.exp > now ? "in " : "EXPIRED ", span);
	} else
		printf("bundle         none\n");
	if (have_signers)
		printf("signer set     version %u, min_sequence %" PRIu64 "\n",
		    sg.version, sg.min_sequence);
	else
		printf("signer set     none\n");
	printf("\n%-15s %-3s %-10s %-8s %-43s %s\n", "ROLE", "#", "STATE", "ALG",
	    "KID", "NEXT");
	for (i = 0; i < n; i++) {
		const struct anchor_key_row *k = &keys[i];
		int64_t at = 0;
		const char *ev = next_event(k, &conf->keys[k->role], now, &at);
		char next[96] = "-";

		if (ev != NULL) {
			fmt_time(at, t1, sizeof(t1));
			fmt_span(at - now, span, sizeof(span));
			snprintf(next, sizeof(next), "%s %s (%s%s)", ev, t1,
			    at >= now ? "in " : "due ", span);
		}
		printf("%-15s %-3u %-10s %-8s %-43s %s\n",
		    anchor_role_name(k->role), k->serial,
		    anchor_key_state_name(k->state), anchor_alg_name(k->alg),
		    k->kid, next);
	}
	if (timeline_days > 0) {
		printf("\n");
		anchor_timeline_draw(stdout, tk, ntk, from, until, now, 96);
	}
	rc = EXIT_SUCCESS;
 out:
	free(tk);
	json_decref(root);
	anchor_key_rows_free(keys, n);
	anchor_bundle_row_clear(&b);
	anchor_signers_row_clear(&sg);
	anchor_store_close(s);
	return rc;
}

static int
write_all(const void *buf, size_t len)
{
	return fwrite(buf, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : -1;
}

static int
cmd_bundle(const struct anchor_conf *conf, const char *format)
{
	struct anchor_store *s = NULL;
	struct anchor_bundle_row b;
	struct anchor_key_row *keys = NULL;
	size_t n = 0, i;
	int r, rc = EXIT_FAILURE;

	memset(&b, 0, sizeof(b));
	if ((r = open_store(conf, &s)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_store_bundle_latest(s, &b)) != ANCHOR_OK) {
		error_f("no bundle published yet");
		goto out;
	}
	if (strcmp(format, "spiffe") == 0) {
		if (write_all(b.payload, b.payload_len) != 0)
			goto out;
	} else if (strcmp(format, "jws") == 0) {
		if (b.jws == NULL) {
			error_f("bundle %" PRIu64 " has no signature", b.sequence);
			goto out;
		}
		if (write_all(b.jws, b.jws_len) != 0)
			goto out;
	} else {
		/* PEM: the CA certificates the bundle carries. */
		if ((r = anchor_store_keys(s, &keys, &n)) != ANCHOR_OK)
			goto out;
		for (i = 0; i < n; i++) {
			const unsigned char *p = keys[i].cert_der;
			X509 *x;

			if (keys[i].role != ANCHOR_ROLE_X509_CA || p == NULL ||
			    keys[i].state > ANCHOR_KEY_RETIRED)
				continue;
			if ((x = d2i_X509(NULL, &p, (long)keys[i].cert_len)) == NULL)
				goto out;
			PEM_write_X509(stdout, x);
			X509_free(x);
		}
	}
	rc = EXIT_SUCCESS;
 out:
	anchor_key_rows_free(keys, n);
	anchor_bundle_row_clear(&b);
	anchor_store_close(s);
	return rc;
}

static int
cmd_signers(const struct anchor_conf *conf, unsigned version)
{
	struct anchor_store *s = NULL;
	struct anchor_signers_row sg;
	int r, rc = EXIT_FAILURE;

	memset(&sg, 0, sizeof(sg));
	if ((r = open_store(conf, &s)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_store_signers_get(s, version, &sg)) != ANCHOR_OK) {
		if (version)
			error_f("no signer set version %u", version);
		else
			error_f("no signer set published yet");
		goto out;
	}
	if (write_all(sg.jws, sg.jws_len) != 0)
		goto out;
	rc = EXIT_SUCCESS;
 out:
	anchor_signers_row_clear(&sg);
	anchor_store_close(s);
	return rc;
}

static void
print_line(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
	fflush(stdout);
}

static void
report(struct anchor_domain *d, int r, const char *what)
{
	const char *detail = d ? anchor_domain_errdetail(d) : NULL;

	if (detail != NULL)
		error_f("%s: %s: %s", what, detail, anchor_strerror(r));
	else
		error_f("%s: %s", what, anchor_strerror(r));
}

static int
cmd_rotate(const struct anchor_conf *conf, const struct anchor_rotate_opts *o)
{
	struct anchor_domain *d = NULL;
	unsigned done = 0;
	int r;

	/* A dry run only reads; a real run waits for the writer lock, so two
	 * runs started together do the work once. */
	r = anchor_domain_open(conf, o->dry_run ? 0 : ANCHOR_OPEN_LOCK, stdin, &d);
	if (r != ANCHOR_OK) {
		report(d, r, "opening the domain");
		goto out;
	}
	if ((r = anchor_rotate(d, o, &done)) != ANCHOR_OK)
		report(d, r, "rotate");
 out:
	anchor_domain_close(d);
	return r == ANCHOR_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int
cmd_revoke(const struct anchor_conf *conf, const char *kid, const char *reason,
    const char *operator_name, int64_t now)
{
	struct anchor_domain *d = NULL;
	int r;

	r = anchor_domain_open(conf, ANCHOR_OPEN_LOCK | ANCHOR_OPEN_TOKEN, stdin, &d);
	if (r != ANCHOR_OK) {
		report(d, r, "opening the domain");
		goto out;
	}
	if ((r = anchor_revoke(d, kid, reason, operator_name, now, print_line,
	    NULL)) != ANCHOR_OK)
		report(d, r, "revoke");
 out:
	anchor_domain_close(d);
	return r == ANCHOR_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int
cmd_audit_list(const struct anchor_conf *conf, bool as_json, int64_t since)
{
	struct anchor_store *s = NULL;
	struct anchor_audit_row *rows = NULL;
	size_t n = 0, i;
	json_t *all = NULL;
	char t[32], hex[65];
	int r, rc = EXIT_FAILURE;

	if ((r = open_store(conf, &s)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_store_audit_list(s, 0, since, &rows, &n)) != ANCHOR_OK) {
		error_f("reading the audit log: %s", anchor_store_errmsg(s));
		goto out;
	}
	if (as_json && (all = json_array()) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		json_t *rec = json_loads(rows[i].record, JSON_REJECT_DUPLICATES, NULL);
		json_t *data = json_object_get(rec, "data");

		anchor_hex(rows[i].hash, sizeof(rows[i].hash), hex);
		if (as_json) {
			json_array_append_new(all, json_pack("{s:I, s:I, s:s, s:O, s:s}",
			    "seq", (json_int_t)rows[i].seq, "ts", (json_int_t)rows[i].ts,
			    "event", rows[i].event, "data", data ? data : json_null(),
			    "hash", hex));
		} else {
			char *text = data ? json_dumps(data, JSON_COMPACT |
			    JSON_SORT_KEYS) : NULL;

			fmt_time(rows[i].ts, t, sizeof(t));
			printf("%6" PRId64 "  %s  %-22s %s\n", rows[i].seq, t,
			    rows[i].event, text ? text : "{}");
			free(text);
		}
		json_decref(rec);
	}
	if (as_json) {
		json_dumpf(all, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("\n");
	}
	rc = EXIT_SUCCESS;
 out:
	json_decref(all);
	anchor_audit_rows_free(rows, n);
	anchor_store_close(s);
	return rc;
}

/* Does the checkpoint's signature verify with the key it names? */
static int
checkpoint_valid(const struct anchor_checkpoint_row *c,
    const struct anchor_key_row *keys, size_t n)
{
	EVP_PKEY *pk = NULL;
	json_t *jwk = NULL;
	size_t i;
	int r = ANCHOR_E_TAMPERED;

	for (i = 0; i < n; i++)
		if (keys[i].role == ANCHOR_ROLE_BUNDLE_SIGNING &&
		    strcmp(keys[i].kid, c->kid) == 0)
			break;
	if (i == n || (jwk = json_loads(keys[i].jwk, 0, NULL)) == NULL)
		goto out;
	if (anchor_jwk_ec_public(json_string_value(json_object_get(jwk, "kty")),
	    json_string_value(json_object_get(jwk, "crv")),
	    json_string_value(json_object_get(jwk, "x")),
	    json_string_value(json_object_get(jwk, "y")), &pk) != ANCHOR_OK)
		goto out;
	/* a11_sign hashes the message it is given: the record hash. */
	r = anchor_verify_raw(pk, keys[i].alg == ANCHOR_ALG_EC_P384 ? "ES384" :
	    "ES256", c->hash, sizeof(c->hash), c->sig, c->siglen);
 out:
	EVP_PKEY_free(pk);
	json_decref(jwk);
	return r;
}

static int
cmd_audit_verify(const struct anchor_conf *conf)
{
	struct anchor_store *s = NULL;
	struct anchor_checkpoint_row *cps = NULL;
	struct anchor_key_row *keys = NULL;
	size_t ncp = 0, nkeys = 0, i;
	int64_t bad = 0, head = 0;
	uint8_t hash[32];
	int r, rc = EXIT_FAILURE;

	if ((r = open_store(conf, &s)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_store_audit_verify(s, &bad)) != ANCHOR_OK) {
		if (r == ANCHOR_E_TAMPERED)
			error_f("audit chain broken: first bad record is %" PRId64
			    " (%s)", bad, anchor_store_errmsg(s));
		else
			error_f("audit chain: %s", anchor_strerror(r));
		goto out;
	}
	if ((r = anchor_store_checkpoints(s, &cps, &ncp)) != ANCHOR_OK ||
	    (r = anchor_store_keys(s, &keys, &nkeys)) != ANCHOR_OK ||
	    (r = anchor_store_audit_head(s, &head, hash)) != ANCHOR_OK) {
		error_f("reading the audit state: %s", anchor_store_errmsg(s));
		goto out;
	}
	for (i = 0; i < ncp; i++) {
		if (checkpoint_valid(&cps[i], keys, nkeys) != ANCHOR_OK) {
			error_f("audit checkpoint at record %" PRId64 " (key %s) "
			    "does not verify: the chain was rewritten at or "
			    "before record %" PRId64 ", after record %" PRId64,
			    cps[i].seq, cps[i].kid, cps[i].seq,
			    i > 0 ? cps[i - 1].seq : 0);
			goto out;
		}
	}
	printf("audit chain: %" PRId64 " records, %zu signed checkpoints, all verify",
	    head, ncp);
	if (ncp > 0 && cps[ncp - 1].seq < head)
		printf("; %" PRId64 " record(s) after the last checkpoint",
		    head - cps[ncp - 1].seq);
	printf("\n");
	rc = EXIT_SUCCESS;
 out:
	anchor_checkpoint_rows_free(cps, ncp);
	anchor_key_rows_free(keys, nkeys);
	anchor_store_close(s);
	return rc;
}

static int
parse_now(const char *s, int64_t *now)
{
	uint64_t v;

	if (anchor_parse_u64(s, &v) != ANCHOR_OK || v > INT64_MAX / 2) {
		error_f("--now takes UNIX seconds: %.40s", s);
		return -1;
	}
	*now = (int64_t)v;
	return 0;
}

/* ---- federation ---- */

/* The operator named on the command line, else the user running us. */
static const char *
operator_or_user(const char *given)
{
	struct passwd *pw;

	if (given != NULL)
		return given;
	pw = getpwuid(getuid());
	return pw != NULL && pw->pw_name != NULL ? pw->pw_name : "";
}

static void
say_note(void *arg, const char *line)
{
	(void)arg;
	anchor_log(LOG_NOTICE, "federation", "%s", line);
}

/*
 * Open the domain for a federation change: writer lock, the configuration's
 * peers synced (*errors: those that could not be taken; may be NULL).
 */
static int
open_for_peers(const struct anchor_conf *conf, int64_t now,
    struct anchor_domain **d, unsigned *errors)
{
	int r;

	if ((r = anchor_domain_open(conf, ANCHOR_OPEN_LOCK, stdin, d)) !=
	    ANCHOR_OK) {
		report(*d, r, "opening the domain");
		return r;
	}
	if ((r = anchor_fed_sync(*d, now, say_note, NULL, errors)) != ANCHOR_OK)
		report(*d, r, "configuration peers");
	return r;
}

static const char *
peer_status(const struct anchor_peer_row *p, bool have_bundle, char *buf,
    size_t len)
{
	char t[32];

	if (p->removed_at != 0) {
		fmt_time(p->removed_at, t, sizeof(t));
		snprintf(buf, len, "removed %s: %.80s", t,
		    p->removed_reason ? p->removed_reason : "");
	} else if (p->failures > 0)
		snprintf(buf, len, "failing (%" PRIu64 "): %.100s", p->failures,
		    p->last_error ? p->last_error : "");
	else if (!have_bundle)
		snprintf(buf, len, "no bundle yet");
	else
		snprintf(buf, len, "ok");
	return buf;
}

static int
cmd_fed_list(const struct anchor_conf *conf, bool as_json)
{
	struct anchor_store *s = NULL;
	struct anchor_peer_row *rows = NULL;
	struct anchor_peer_bundle_row b;
	size_t n = 0, i, j;
	json_t *all = NULL, *o;
	char t[32], seq[24], sv[16], st[160];
	int r, rc = EXIT_FAILURE;

	memset(&b, 0, sizeof(b));
	if ((r = open_store(conf, &s)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_store_peers(s, &rows, &n)) != ANCHOR_OK) {
		error_f("reading peers: %s", anchor_store_errmsg(s));
		goto out;
	}
	if (as_json && (all = json_array()) == NULL)
		goto out;
	if (!as_json)
		printf("%-30s %-6s %-12s %-7s %-8s %-20s %s\n", "TRUST DOMAIN",
		    "SOURCE", "PROFILE", "SIGNERS", "SEQUENCE", "LAST SUCCESS",
		    "STATUS");
	for (i = 0; i < n; i++) {
		bool have_b;

		anchor_peer_bundle_row_clear(&b);
		r = anchor_store_peer_bundle_get(s, rows[i].trust_domain, &b);
		if (r != ANCHOR_OK && r != ANCHOR_E_NOT_FOUND) {
			error_f("reading the bundle of %s: %s",
			    rows[i].trust_domain, anchor_store_errmsg(s));
			goto out;
		}
		have_b = r == ANCHOR_OK;
		if (as_json) {
			if ((o = anchor_fed_peer_json(&rows[i], have_b ? &b :
			    NULL)) == NULL || json_array_append_new(all, o) != 0)
				goto out;
			continue;
		}
		fmt_time(rows[i].last_success, t, sizeof(t));
		if (have_b && b.has_sequence)
			snprintf(seq, sizeof(seq), "%" PRIu64, b.sequence);
		else
			snprintf(seq, sizeof(seq), "-");
		if (have_b && b.signers_version > 0)
			snprintf(sv, sizeof(sv), "v%u", b.signers_version);
		else
			snprintf(sv, sizeof(sv), "%s", rows[i].signers ?
			    "pinned" : "-");
		printf("%-30s %-6s %-12s %-7s %-8s %-20s %s\n",
		    rows[i].trust_domain, rows[i].source ==
		    ANCHOR_PEER_FROM_CONFIG ? "config" : "cli",
		    anchor_peer_profile_name(rows[i].profile), sv, seq, t,
		    peer_status(&rows[i], have_b, st, sizeof(st)));
	}
	/* Configuration peers a writer has not taken in yet. */
	for (i = 0; i < conf->n_peers; i++) {
		for (j = 0; j < n; j++)
			if (strcmp(rows[j].trust_domain,
			    conf->peers[i].trust_domain) == 0)
				break;
		if (j < n)
			continue;
		if (as_json)
			json_array_append_new(all, json_pack("{s:s, s:s, s:s}",
			    "trust_domain", conf->peers[i].trust_domain, "source",
			    "config", "status", "not yet taken from the "
			    "configuration"));
		else
			printf("%-30s %-6s %-12s %-7s %-8s %-20s %s\n",
			    conf->peers[i].trust_domain, "config",
			    conf->peers[i].profile, conf->peers[i].signers ?
			    "pinned" : "-", "-", "-",
			    "not taken in yet: run 'anchorctl federation refresh'");
	}
	if (as_json) {
		if (json_dumpf(all, stdout, JSON_INDENT(2) |
		    JSON_PRESERVE_ORDER) != 0)
			goto out;
		printf("\n");
	}
	rc = EXIT_SUCCESS;
 out:
	json_decref(all);
	anchor_peer_bundle_row_clear(&b);
	anchor_peer_rows_free(rows, n);
	anchor_store_close(s);
	return rc;
}

static int
cmd_fed_show(const struct anchor_conf *conf, const char *td, const char *format)
{
	struct anchor_store *s = NULL;
	struct anchor_peer_row p;
	struct anchor_peer_bundle_row b;
	json_t *o = NULL;
	char *pem = NULL, t[32];
	size_t pemlen = 0, i;
	bool have_b;
	int r, rc = EXIT_FAILURE;

	memset(&p, 0, sizeof(p));
	memset(&b, 0, sizeof(b));
	if ((r = open_store(conf, &s)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_store_peer_get(s, td, &p)) == ANCHOR_E_NOT_FOUND) {
		for (i = 0; i < conf->n_peers; i++)
			if (strcmp(conf->peers[i].trust_domain, td) == 0)
				break;
		if (i < conf->n_peers)
			error_f("%s is configured but not taken in yet: run "
			    "'anchorctl federation refresh %s'", td, td);
		else
			error_f("no peer %.100s%s", td, strcmp(td,
			    conf->trust_domain) == 0 ?
			    " (that is our own trust domain)" : "");
		goto out;
	}
	if (r != ANCHOR_OK) {
		error_f("reading peer %.100s: %s", td, anchor_store_errmsg(s));
		goto out;
	}
	if (p.removed_at != 0) {
		fmt_time(p.removed_at, t, sizeof(t));
		error_f("%s was removed on %s: %.200s", p.trust_domain, t,
		    p.removed_reason ? p.removed_reason : "");
		goto out;
	}
	r = anchor_store_peer_bundle_get(s, td, &b);
	if (r != ANCHOR_OK && r != ANCHOR_E_NOT_FOUND) {
		error_f("reading the bundle of %s: %s", td, anchor_store_errmsg(s));
		goto out;
	}
	have_b = r == ANCHOR_OK;
	if (strcmp(format, "json") == 0) {
		if ((o = anchor_fed_peer_json(&p, have_b ? &b : NULL)) == NULL ||
		    json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) !=
		    0)
			goto out;
		printf("\n");
		rc = EXIT_SUCCESS;
		goto out;
	}
	if (!have_b) {
		error_f("no bundle of %s yet: run 'anchorctl federation refresh "
		    "%s'", p.trust_domain, p.trust_domain);
		goto out;
	}
	if (strcmp(format, "spiffe") == 0) {
		if (write_all(b.payload, b.payload_len) != 0)
			goto out;
	} else {
		if ((r = anchor_fed_bundle_pem(b.payload, b.payload_len, &pem,
		    &pemlen)) != ANCHOR_OK) {
			error_f("the bundle of %s: %s", td, anchor_strerror(r));
			goto out;
		}
		if (write_all(pem, pemlen) != 0)
			goto out;
	}
	rc = EXIT_SUCCESS;
 out:
	free(pem);
	json_decref(o);
	anchor_peer_bundle_row_clear(&b);
	anchor_peer_row_clear(&p);
	anchor_store_close(s);
	return rc;
}

static int
cmd_fed_add(const struct anchor_conf *conf, const struct anchor_fed_peer_spec *sp,
    const char *bootstrap, const char *op, int64_t now)
{
	struct anchor_domain *d = NULL;
	int r;

	if ((r = open_for_peers(conf, now, &d, NULL)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_fed_add(d, sp, bootstrap, operator_or_user(op), now,
	    print_line, NULL)) != ANCHOR_OK)
		report(d, r, "federation add");
 out:
	anchor_domain_close(d);
	return r == ANCHOR_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int
cmd_fed_bootstrap(const struct anchor_conf *conf, const char *td,
    const char *bundle, const char *op, int64_t now)
{
	struct anchor_domain *d = NULL;
	int r;

	if ((r = open_for_peers(conf, now, &d, NULL)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_fed_bootstrap(d, td, bundle, operator_or_user(op),
	    now)) != ANCHOR_OK) {
		report(d, r, "federation bootstrap");
		goto out;
	}
	printf("stored the bundle of %s from %s\n", td, bundle);
 out:
	anchor_domain_close(d);
	return r == ANCHOR_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int
cmd_fed_remove(const struct anchor_conf *conf, const char *td,
    const char *reason, const char *op, int64_t now)
{
	struct anchor_domain *d = NULL;
	int r;

	if ((r = open_for_peers(conf, now, &d, NULL)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_fed_remove(d, td, reason, operator_or_user(op), now,
	    say_note, NULL)) != ANCHOR_OK) {
		report(d, r, "federation remove");
		goto out;
	}
	printf("removed %s: %s\n", td, reason);
 out:
	anchor_domain_close(d);
	return r == ANCHOR_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * Fetch every peer in force (or one) at once, without the writer lock
 * (fetches may be slow), then store the outcomes under the lock.
 */
static int
cmd_fed_refresh(const struct anchor_conf *conf, const char *td,
    const struct anchor_fed_opts *o)
{
	struct anchor_domain *d = NULL;
	struct anchor_peer_row *rows = NULL;
	struct anchor_peer_bundle_row b;
	struct anchor_fed_refresh **fs = NULL;
	size_t n = 0, nf = 0, i;
	char line[1200];
	unsigned errors = 0;
	bool all_ok;
	int r;

	memset(&b, 0, sizeof(b));
	if ((r = open_for_peers(conf, o->now, &d, &errors)) != ANCHOR_OK)
		goto out;
	/* A configured peer that cannot be taken is a refresh that failed. */
	all_ok = errors == 0;
	if ((r = anchor_store_peers(d->store, &rows, &n)) != ANCHOR_OK) {
		error_f("reading peers: %s", anchor_store_errmsg(d->store));
		goto out;
	}
	if ((fs = calloc(n ? n : 1, sizeof(*fs))) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (rows[i].removed_at != 0 ||
		    (td != NULL && strcmp(rows[i].trust_domain, td) != 0))
			continue;
		anchor_peer_bundle_row_clear(&b);
		r = anchor_store_peer_bundle_get(d->store, rows[i].trust_domain,
		    &b);
		if (r != ANCHOR_OK && r != ANCHOR_E_NOT_FOUND) {
			error_f("reading the bundle of %s: %s",
			    rows[i].trust_domain, anchor_store_errmsg(d->store));
			goto out;
		}
		if ((r = anchor_fed_refresh_new(&rows[i], r == ANCHOR_OK ? &b :
		    NULL, o, &fs[nf])) != ANCHOR_OK) {
			error_f("%s: %s", rows[i].trust_domain, anchor_strerror(r));
			goto out;
		}
		nf++;
	}
	if (td != NULL && nf == 0) {
		r = ANCHOR_E_NOT_FOUND;
		error_f("no peer %.100s in force", td);
		goto out;
	}
	anchor_store_unlock(d->lock_fd);
	d->lock_fd = -1;
	if ((r = anchor_fed_refresh_run(fs, nf)) != ANCHOR_OK) {
		error_f("fetching: %s", anchor_strerror(r));
		goto out;
	}
	if ((r = anchor_store_lock(conf->state_dir, true, &d->lock_fd)) !=
	    ANCHOR_OK) {
		error_f("writer lock %s/lock: %s", conf->state_dir,
		    anchor_strerror(r));
		goto out;
	}
	for (i = 0; i < nf; i++) {
		r = anchor_fed_refresh_apply(d, fs[i], line, sizeof(line));
		if (r != ANCHOR_OK) {
			report(d, r, anchor_fed_refresh_trust_domain(fs[i]));
			all_ok = false;
			continue;
		}
		printf("%s\n", line);
		if (!anchor_fed_refresh_accepted(fs[i]))
			all_ok = false;
	}
	r = all_ok ? ANCHOR_OK : ANCHOR_E_INVAL;
 out:
	for (i = 0; i < nf; i++)
		anchor_fed_refresh_free(fs[i]);
	free(fs);
	anchor_peer_bundle_row_clear(&b);
	anchor_peer_rows_free(rows, n);
	anchor_domain_close(d);
	return r == ANCHOR_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * Check a peer workload's X509-SVID chain (PEM, leaf first) against the
 * stored bundle and allow patterns of the peer its SPIFFE ID names.
 */
static int
cmd_verify_svid(const struct anchor_conf *conf, const char *file, int64_t now)
{
	struct anchor_store *s = NULL;
	struct anchor_peer_row *rows = NULL;
	struct anchor_peer_bundle_row *bundles = NULL;
	struct anchor_svid_peer *peers = NULL;
	const char ***allow = NULL;
	json_t **allow_json = NULL;
	uint8_t *der[8];
	size_t derlen[8], nder = 0, nrows = 0, np = 0, i, j;
	char *id = NULL, reason[512];
	BIO *bio = NULL;
	X509 *x;
	int r, rc = EXIT_FAILURE;

	memset(der, 0, sizeof(der));
	if ((bio = BIO_new_file(file, "r")) == NULL) {
		error_f("%s: cannot read", file);
		rc = EXIT_USAGE;
		goto out;
	}
	while (nder < ANCHOR_ARRAY_SIZE(der) &&
	    (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		int len = i2d_X509(x, &der[nder]);

		X509_free(x);
		if (len <= 0)
			goto out;
		derlen[nder++] = (size_t)len;
	}
	if (nder == 0) {
		error_f("%s: no PEM certificate", file);
		rc = EXIT_USAGE;
		goto out;
	}
	if ((r = open_store(conf, &s)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_store_peers(s, &rows, &nrows)) != ANCHOR_OK) {
		error_f("reading peers: %s", anchor_store_errmsg(s));
		goto out;
	}
	if ((peers = calloc(nrows + 1, sizeof(*peers))) == NULL ||
	    (bundles = calloc(nrows + 1, sizeof(*bundles))) == NULL ||
	    (allow = calloc(nrows + 1, sizeof(*allow))) == NULL ||
	    (allow_json = calloc(nrows + 1, sizeof(*allow_json))) == NULL)
		goto out;
	for (i = 0; i < nrows; i++) {
		json_t *a;

		/* Removed peers and peers without a bundle vouch for nobody. */
		if (rows[i].removed_at != 0 || anchor_store_peer_bundle_get(s,
		    rows[i].trust_domain, &bundles[np]) != ANCHOR_OK)
			continue;
		a = allow_json[np] = json_loads(rows[i].allow ? rows[i].allow :
		    "[]", 0, NULL);
		if ((allow[np] = calloc(json_array_size(a) + 1,
		    sizeof(char *))) == NULL)
			goto out;
		for (j = 0; j < json_array_size(a); j++)
			allow[np][j] = json_string_value(json_array_get(a, j));
		peers[np].trust_domain = rows[i].trust_domain;
		peers[np].bundle = bundles[np].payload;
		peers[np].bundle_len = bundles[np].payload_len;
		peers[np].allow = allow[np];
		peers[np].n_allow = json_array_size(a);
		np++;
	}
	r = anchor_verify_svid((const uint8_t *const *)der, derlen, nder, peers,
	    np, now, &id, reason, sizeof(reason));
	if (r != ANCHOR_SVID_OK) {
		error_f("%s: refused: %s (%s)", file, anchor_verify_svid_strerror(r),
		    reason);
		goto out;
	}
	printf("%s\n", id);
	rc = EXIT_SUCCESS;
 out:
	free(id);
	for (i = 0; i < np; i++) {
		free(allow[i]);
		json_decref(allow_json[i]);
		anchor_peer_bundle_row_clear(&bundles[i]);
	}
	free(allow);
	free(allow_json);
	free(bundles);
	free(peers);
	anchor_peer_rows_free(rows, nrows);
	for (i = 0; i < nder; i++)
		OPENSSL_free(der[i]);
	BIO_free(bio);
	anchor_store_close(s);
	return rc;
}

/* `anchorctl federation SUBCOMMAND ...`; EXIT_USAGE on bad arguments. */
static int
cmd_federation(const struct anchor_conf *conf, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'f' },
		{ "url", required_argument, NULL, 'u' },
		{ "profile", required_argument, NULL, 'p' },
		{ "endpoint-id", required_argument, NULL, 'e' },
		{ "signers", required_argument, NULL, 's' },
		{ "ca-file", required_argument, NULL, 'C' },
		{ "bundle", required_argument, NULL, 'b' },
		{ "allow", required_argument, NULL, 'a' },
		{ "operator", required_argument, NULL, 'o' },
		{ "reason", required_argument, NULL, 'r' },
		{ "now", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct anchor_fed_peer_spec sp;
	struct anchor_fed_opts fo;
	const char *sub, *format = "spiffe", *bundle = NULL, *op = NULL;
	const char *reason = NULL, *td = NULL;
	const char **allow = NULL;
	bool as_json = false;
	int64_t now = anchor_now();
	uint64_t v;
	int c, rc = EXIT_USAGE;

	memset(&sp, 0, sizeof(sp));
	memset(&fo, 0, sizeof(fo));
	if (argc < 2)
		goto out;
	sub = argv[1];
	if ((allow = calloc((size_t)argc, sizeof(*allow))) == NULL) {
		rc = EXIT_FAILURE;
		goto out;
	}
	/* The trust domain comes first or last: the options are parsed in
	 * order (the '+' of the global options). */
	optind = 2;
	if (argc > 2 && argv[2][0] != '-') {
		td = argv[2];
		optind = 3;
	}
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'j':
			as_json = true;
			break;
		case 'f':
			format = optarg;
			break;
		case 'u':
			sp.url = optarg;
			break;
		case 'p':
			sp.profile = optarg;
			break;
		case 'e':
			sp.endpoint_spiffe_id = optarg;
			break;
		case 's':
			sp.signers_path = optarg;
			break;
		case 'C':
			sp.ca_file = optarg;
			break;
		case 'b':
			bundle = optarg;
			break;
		case 'a':
			allow[sp.n_allow++] = optarg;
			break;
		case 'o':
			op = optarg;
			break;
		case 'r':
			reason = optarg;
			break;
		case 'n':
			if (parse_now(optarg, &now) != 0)
				goto out;
			break;
		case 't':
			if (anchor_parse_u64(optarg, &v) != ANCHOR_OK || v == 0 ||
			    v > 3600) {
				error_f("--timeout takes 1 to 3600 seconds");
				goto out;
			}
			fo.timeout_ms = (long)v * 1000;
			break;
		default:
			goto out;
		}
	}
	sp.allow = allow;
	if (td == NULL && optind < argc)
		td = argv[optind++];
	if (optind != argc)
		goto out;

	if (strcmp(sub, "list") == 0 && td == NULL) {
		rc = cmd_fed_list(conf, as_json);
	} else if (strcmp(sub, "show") == 0 && td != NULL) {
		if (strcmp(format, "spiffe") != 0 && strcmp(format, "pem") != 0 &&
		    strcmp(format, "json") != 0) {
			error_f("--format must be spiffe, pem or json");
			goto out;
		}
		rc = cmd_fed_show(conf, td, format);
	} else if (strcmp(sub, "add") == 0 && td != NULL) {
		sp.trust_domain = td;
		rc = cmd_fed_add(conf, &sp, bundle, op, now);
	} else if (strcmp(sub, "bootstrap") == 0 && td != NULL) {
		if (bundle == NULL) {
			error_f("bootstrap needs --bundle FILE");
			goto out;
		}
		rc = cmd_fed_bootstrap(conf, td, bundle, op, now);
	} else if (strcmp(sub, "refresh") == 0) {
		fo.now = now;
		fo.allow_insecure_http = conf->allow_insecure_http;
		rc = cmd_fed_refresh(conf, td, &fo);
	} else if (strcmp(sub, "remove") == 0 && td != NULL) {
		if (reason == NULL || *reason == '\0') {
			error_f("remove needs --reason TEXT");
			goto out;
		}
		rc = cmd_fed_remove(conf, td, reason, op, now);
	} else
		goto out;
 out:
	free(allow);
	if (rc == EXIT_USAGE)
		usage(stderr);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *config = ANCHOR_DEFAULT_CONFIG, *cmd;
	struct anchor_conf *conf = NULL;
	char err[512];
	int rc = EXIT_USAGE, c;

	if ((rc = anchor_cli_start(&argc, &argv, &config, usage)) >= 0)
		return rc;
	rc = EXIT_USAGE;
	cmd = argv[0];
	if (anchor_conf_load(config, &conf, err, sizeof(err)) != ANCHOR_OK) {
		error_f("%s", err);
		return EXIT_USAGE;
	}

	if (strcmp(cmd, "status") == 0) {
		static const struct option lo[] = {
			{ "json", no_argument, NULL, 'j' },
			{ "now", required_argument, NULL, 'n' },
			{ "timeline", no_argument, NULL, 't' },
			{ "days", required_argument, NULL, 'D' },
			{ NULL, 0, NULL, 0 },
		};
		bool as_json = false, timeline = false;
		int64_t now = anchor_now();
		unsigned days = 30;
		uint64_t v;

		while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
			if (c == 'j')
				as_json = true;
			else if (c == 't')
				timeline = true;
			else if (c == 'n') {
				if (parse_now(optarg, &now) != 0)
					goto bad;
			} else if (c == 'D' && anchor_parse_u64(optarg, &v) == ANCHOR_OK &&
			    v >= 1 && v <= 3660)
				days = (unsigned)v;
			else {
				if (c == 'D')
					error_f("--days takes 1 to 3660");
				goto bad;
			}
		}
		if (optind != argc)
			goto bad;
		rc = cmd_status(conf, as_json, now, timeline ? days : 0);
	} else if (strcmp(cmd, "bundle") == 0) {
		static const struct option lo[] = {
			{ "format", required_argument, NULL, 'f' },
			{ NULL, 0, NULL, 0 },
		};
		const char *format = "spiffe";

		while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
			if (c != 'f')
				goto bad;
			format = optarg;
		}
		if (optind != argc || (strcmp(format, "spiffe") != 0 &&
		    strcmp(format, "jws") != 0 && strcmp(format, "pem") != 0)) {
			error_f("--format must be spiffe, jws or pem");
			goto bad;
		}
		rc = cmd_bundle(conf, format);
	} else if (strcmp(cmd, "signers") == 0) {
		static const struct option lo[] = {
			{ "version", required_argument, NULL, 'V' },
			{ NULL, 0, NULL, 0 },
		};
		uint64_t v = 0;

		while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
			if (c != 'V' || anchor_parse_u64(optarg, &v) != ANCHOR_OK ||
			    v == 0 || v > UINT32_MAX) {
				error_f("--version takes a positive integer");
				goto bad;
			}
		}
		if (optind != argc)
			goto bad;
		rc = cmd_signers(conf, (unsigned)v);
	} else if (strcmp(cmd, "rotate") == 0) {
		static const struct option lo[] = {
			{ "now", required_argument, NULL, 'n' },
			{ "dry-run", no_argument, NULL, 'd' },
			{ "force", required_argument, NULL, 'f' },
			{ NULL, 0, NULL, 0 },
		};
		struct anchor_rotate_opts o;
		enum anchor_role role;

		memset(&o, 0, sizeof(o));
		o.now = anchor_now();
		o.say = print_line;
		while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
			if (c == 'n') {
				if (parse_now(optarg, &o.now) != 0)
					goto bad;
			} else if (c == 'd')
				o.dry_run = true;
			else if (c == 'f' && anchor_role_parse(optarg, &role) == ANCHOR_OK)
				o.force[role] = true;
			else {
				if (c == 'f')
					error_f("--force takes x509-ca, jwt or "
					    "bundle-signing, not %.40s", optarg);
				goto bad;
			}
		}
		if (optind != argc)
			goto bad;
		rc = cmd_rotate(conf, &o);
	} else if (strcmp(cmd, "revoke") == 0) {
		static const struct option lo[] = {
			{ "key", required_argument, NULL, 'k' },
			{ "reason", required_argument, NULL, 'r' },
			{ "operator", required_argument, NULL, 'o' },
			{ "now", required_argument, NULL, 'n' },
			{ NULL, 0, NULL, 0 },
		};
		const char *kid = NULL, *reason = NULL, *op = NULL;
		int64_t now = anchor_now();

		while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
			if (c == 'k')
				kid = optarg;
			else if (c == 'r')
				reason = optarg;
			else if (c == 'o')
				op = optarg;
			else if (c == 'n') {
				if (parse_now(optarg, &now) != 0)
					goto bad;
			} else
				goto bad;
		}
		if (optind != argc || kid == NULL || reason == NULL ||
		    reason[0] == '\0') {
			error_f("revoke needs --key KID and --reason TEXT");
			goto bad;
		}
		rc = cmd_revoke(conf, kid, reason, op, now);
	} else if (strcmp(cmd, "audit") == 0 && argc >= 2 &&
	    strcmp(argv[1], "list") == 0) {
		static const struct option lo[] = {
			{ "json", no_argument, NULL, 'j' },
			{ "since", required_argument, NULL, 's' },
			{ NULL, 0, NULL, 0 },
		};
		bool as_json = false;
		int64_t since = 0;

		optind = 2;
		while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
			if (c == 'j')
				as_json = true;
			else if (c == 's') {
				if (parse_now(optarg, &since) != 0)
					goto bad;
			} else
				goto bad;
		}
		if (optind != argc)
			goto bad;
		rc = cmd_audit_list(conf, as_json, since);
	} else if (strcmp(cmd, "audit") == 0 && argc == 2 &&
	    strcmp(argv[1], "verify") == 0) {
		rc = cmd_audit_verify(conf);
	} else if (strcmp(cmd, "verify-svid") == 0) {
		static const struct option lo[] = {
			{ "now", required_argument, NULL, 'n' },
			{ NULL, 0, NULL, 0 },
		};
		int64_t now = anchor_now();

		while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
			if (c != 'n' || parse_now(optarg, &now) != 0)
				goto bad;
		}
		if (optind + 1 != argc)
			goto bad;
		rc = cmd_verify_svid(conf, argv[optind], now);
	} else if (strcmp(cmd, "federation") == 0) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		rc = cmd_federation(conf, argc, argv);
		curl_global_cleanup();
	} else {
		error_f("unknown command: %.40s", cmd);
		goto bad;
	}
	anchor_conf_free(conf);
	return rc;
 bad:
	usage(stderr);
	anchor_conf_free(conf);
	return EXIT_USAGE;
}
