#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <syslog.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "domain.h"
#include "error.h"
#include "jose.h"
#include "pin.h"
#include "util.h"

/* Certificates start a little in the past so that relying parties whose
 * clocks run slightly behind accept them at once. */
#define CA_BACKDATE 300

static int
fail(struct anchor_domain *d, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct anchor_domain *d, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->detail, sizeof(d->detail), fmt, ap);
	va_end(ap);
	return r;
}

const char *
anchor_domain_errdetail(const struct anchor_domain *d)
{
	return d->detail[0] ? d->detail : NULL;
}

static int
pin_cb(void *arg, char **pin, size_t *len)
{
	struct anchor_domain *d = arg;
	char err[256] = "";
	int r;

	r = anchor_pin_read(d->conf->pin_source, d->pin_in, pin, len, err,
	    sizeof(err));
	if (r != ANCHOR_OK)
		fail(d, r, "PIN source %s: %s", d->conf->pin_source,
		    err[0] ? err : anchor_strerror(r));
	return r;
}

int
anchor_domain_open(const struct anchor_conf *conf, unsigned flags,
    FILE *pin_in, struct anchor_domain **out)
{
	struct anchor_domain *d;
	int r = ANCHOR_E_INTERNAL;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return ANCHOR_E_NOMEM;
	d->conf = conf;
	d->lock_fd = -1;
	d->pin_in = pin_in;

	if (flags & ANCHOR_OPEN_LOCK) {
		/* The lock lives in the state directory: make it first. */
		if ((flags & ANCHOR_OPEN_CREATE) &&
		    mkdir(conf->state_dir, 0700) != 0 && errno != EEXIST) {
			r = fail(d, ANCHOR_E_IO, "cannot create %s: %s",
			    conf->state_dir, strerror(errno));
			goto out;
		}
		r = anchor_store_lock(conf->state_dir,
		    (flags & ANCHOR_OPEN_NOWAIT) == 0, &d->lock_fd);
		if (r != ANCHOR_OK) {
			fail(d, r, "writer lock %s/lock", conf->state_dir);
			goto out;
		}
	}
	if (d->store == NULL) {
		r = anchor_store_open(conf->state_dir,
		    (flags & ANCHOR_OPEN_CREATE) != 0, &d->store);
		if (r != ANCHOR_OK) {
			fail(d, r, "state database %s/anchor.db", conf->state_dir);
			goto out;
		}
	}
	if ((flags & ANCHOR_OPEN_TOKEN) &&
	    (r = anchor_domain_open_token(d)) != ANCHOR_OK)
		goto out;
	r = ANCHOR_OK;
 out:
	*out = d;	/* even on failure, so the caller can read the detail */
	return r;
}

int
anchor_domain_open_token(struct anchor_domain *d)
{
	const struct anchor_conf *conf = d->conf;
	int r;

	if (d->token != NULL)
		return ANCHOR_OK;
	/* This process is about to hold a PIN and a logged-in session. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	r = a11_open(conf->pkcs11_module, conf->pkcs11_token, &d->token);
	if (r != ANCHOR_OK)
		return fail(d, r, "token %s (module %s)", conf->pkcs11_token,
		    conf->pkcs11_module);
	r = a11_login(d->token, pin_cb, d);
	if (r != ANCHOR_OK) {
		if (d->detail[0] == '\0')
			fail(d, r, "login to token %s", a11_token_label(d->token));
		a11_close(d->token);
		d->token = NULL;
	}
	return r;
}

/* Send (commit) or drop (rollback) the syslog copies of a transaction. */
static void
audit_flush(struct anchor_domain *d, bool send)
{
	size_t i;

	for (i = 0; i < d->n_audit_pending; i++) {
		if (send)
			syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", d->audit_pending[i]);
		free(d->audit_pending[i]);
	}
	free(d->audit_pending);
	d->audit_pending = NULL;
	d->n_audit_pending = 0;
}

void
anchor_domain_close(struct anchor_domain *d)
{
	if (d == NULL)
		return;
	audit_flush(d, false);
	if (d->tx_depth > 0)
		anchor_store_rollback(d->store);
	a11_close(d->token);
	anchor_store_close(d->store);
	anchor_store_unlock(d->lock_fd);
	free(d);
}

int
anchor_domain_begin(struct anchor_domain *d)
{
	int r;

	if (d->tx_depth == 0 && (r = anchor_store_begin(d->store)) != ANCHOR_OK)
		return fail(d, r, "begin: %s", anchor_store_errmsg(d->store));
	d->tx_depth++;
	return ANCHOR_OK;
}

int
anchor_domain_commit(struct anchor_domain *d)
{
	int r;

	if (d->tx_depth == 0)
		return fail(d, ANCHOR_E_STATE, "commit after rollback");
	if (--d->tx_depth > 0)
		return ANCHOR_OK;
	if ((r = anchor_store_commit(d->store)) != ANCHOR_OK) {
		audit_flush(d, false);
		return fail(d, r, "commit: %s", anchor_store_errmsg(d->store));
	}
	audit_flush(d, true);
	return ANCHOR_OK;
}

void
anchor_domain_rollback(struct anchor_domain *d)
{
	if (d->tx_depth > 0)
		anchor_store_rollback(d->store);
	d->tx_depth = 0;
	audit_flush(d, false);
}

int
anchor_key_label(const char *td, enum anchor_role role, unsigned serial,
    char *buf, size_t len)
{
	int n;

	n = snprintf(buf, len, "anchor/%s/%s/%u", td, anchor_role_name(role),
	    serial);
	if (n < 0 || (size_t)n >= len)
		return ANCHOR_E_INVAL;
	return ANCHOR_OK;
}

void
anchor_key_row_clear(struct anchor_key_row *k)
{
	if (k == NULL)
		return;
	free(k->jwk);
	free(k->cert_der);
	free(k->revoke_reason);
	memset(k, 0, sizeof(*k));
}

static a11_keytype
keytype_of(enum anchor_alg alg)
{
	switch (alg) {
	case ANCHOR_ALG_EC_P384:
		return A11_KEY_EC_P384;
	case ANCHOR_ALG_RSA_3072:
		return A11_KEY_RSA_3072;
	case ANCHOR_ALG_EC_P256:
		break;
	}
	return A11_KEY_EC_P256;
}

static int
add_name_entries(X509_NAME *name, const char *field, char **values)
{
	size_t i;

	for (i = 0; values != NULL && values[i] != NULL; i++) {
		if (!X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
		    (const unsigned char *)values[i], -1, -1, 0))
			return ANCHOR_E_CRYPTO;
	}
	return ANCHOR_OK;
}

static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return ANCHOR_E_CRYPTO;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? ANCHOR_OK : ANCHOR_E_CRYPTO;
}

/*
 * The self-signed CA certificate of an x509-ca key: valid from its creation
 * until the key leaves the bundle (prepublish + lifetime + overlap).
 */
static int
make_ca_cert(struct anchor_domain *d, EVP_PKEY *pub, const uint8_t *id,
    unsigned serial, int64_t now, bool activate, uint8_t **der, size_t *derlen)
{
	const struct anchor_conf *c = d->conf;
	const struct anchor_key_policy *pol = &c->keys[ANCHOR_ROLE_X509_CA];
	X509 *x = NULL;
	X509_NAME *name = NULL;
	BIGNUM *bn = NULL;
	ASN1_INTEGER *sn = NULL;
	uint8_t rnd[16];
	unsigned char *p = NULL;
	char buf[600];
	int64_t until;
	int len, r = ANCHOR_E_CRYPTO;

	*der = NULL;
	*derlen = 0;
	until = now + (activate ? 0 : pol->prepublish) + pol->lifetime +
	    pol->overlap;
	if ((x = X509_new()) == NULL || (name = X509_NAME_new()) == NULL)
		goto out;
	if (!X509_set_version(x, X509_VERSION_3))
		goto out;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		goto out;
	rnd[0] &= 0x7f;		/* a positive serial of 127 bits */
	rnd[0] |= 0x40;
	if ((bn = BN_bin2bn(rnd, sizeof(rnd), NULL)) == NULL ||
	    (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    !X509_set_serialNumber(x, sn))
		goto out;
	if (X509_time_adj_ex(X509_getm_notBefore(x), 0, -CA_BACKDATE,
	    &(time_t){ (time_t)now }) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), 0, 0,
	    &(time_t){ (time_t)until }) == NULL)
		goto out;
	if ((r = add_name_entries(name, "C", c->subj_country)) != ANCHOR_OK ||
	    (r = add_name_entries(name, "ST", c->subj_province)) != ANCHOR_OK ||
	    (r = add_name_entries(name, "L", c->subj_locality)) != ANCHOR_OK ||
	    (r = add_name_entries(name, "O", c->subj_organization)) != ANCHOR_OK ||
	    (r = add_name_entries(name, "OU",
	    c->subj_organizational_unit)) != ANCHOR_OK)
		goto out;
	r = ANCHOR_E_CRYPTO;
	if (c->subj_common_name != NULL && c->subj_common_name[0] != NULL) {
		if ((r = add_name_entries(name, "CN",
		    c->subj_common_name)) != ANCHOR_OK)
			goto out;
		r = ANCHOR_E_CRYPTO;
	} else {
		/* A CA needs a non-empty subject (RFC 5280 §4.1.2.6). */
		snprintf(buf, sizeof(buf), "%.200s x509-ca %u", c->trust_domain,
		    serial);
		if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
		    (const unsigned char *)buf, -1, -1, 0))
			goto out;
	}
	if (!X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name))
		goto out;
	if (!X509_set_pubkey(x, pub))
		goto out;
	snprintf(buf, sizeof(buf), "URI:spiffe://%s", c->trust_domain);
	if ((r = add_ext(x, NID_basic_constraints, "critical,CA:TRUE")) != ANCHOR_OK ||
	    (r = add_ext(x, NID_key_usage,
	    "critical,keyCertSign,cRLSign")) != ANCHOR_OK ||
	    (r = add_ext(x, NID_subject_key_identifier, "hash")) != ANCHOR_OK ||
	    (r = add_ext(x, NID_authority_key_identifier,
	    "keyid:always")) != ANCHOR_OK ||
	    (r = add_ext(x, NID_subject_alt_name, buf)) != ANCHOR_OK)
		goto out;
	if ((r = a11_sign_x509(d->token, id, x)) != ANCHOR_OK) {
		fail(d, r, "signing the CA certificate in the token");
		goto out;
	}
	r = ANCHOR_E_CRYPTO;
	if ((len = i2d_X509(x, &p)) <= 0)
		goto out;
	*der = p;
	*derlen = (size_t)len;
	p = NULL;
	r = ANCHOR_OK;
 out:
	OPENSSL_free(p);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	X509_NAME_free(name);
	X509_free(x);
	return r;
}

static json_t *
kid_array(const struct anchor_key_row *keys, size_t n, enum anchor_role role,
    bool (*pick)(const struct anchor_key_row *))
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		if (keys[i].role == role && pick(&keys[i]))
			json_array_append_new(a, json_string(keys[i].kid));
	return a;
}

int
anchor_domain_new_key(struct anchor_domain *d, enum anchor_role role,
    int64_t now, bool activate, struct anchor_key_row *out)
{
	const struct anchor_key_policy *pol = &d->conf->keys[role];
	struct anchor_key_row k;
	a11_key tk;
	EVP_PKEY *pub = NULL;
	json_t *data = NULL;
	char idhex[2 * A11_ID_LEN + 1];
	bool in_tx = false;
	int r = ANCHOR_E_INTERNAL;

	memset(&k, 0, sizeof(k));
	memset(out, 0, sizeof(*out));
	if (d->token == NULL)
		return fail(d, ANCHOR_E_INTERNAL, "no token open");
	k.role = role;
	k.alg = pol->algorithm;
	if ((r = anchor_store_key_next_serial(d->store, role, &k.serial)) != ANCHOR_OK) {
		fail(d, r, "next key serial: %s", anchor_store_errmsg(d->store));
		goto out;
	}
	if ((r = anchor_key_label(d->conf->trust_domain, role, k.serial,
	    k.label, sizeof(k.label))) != ANCHOR_OK)
		goto out;

	/* Token first: a crash after this leaves an object that
	 * anchor_domain_reconcile() destroys; no row points at nothing. */
	if ((r = a11_generate(d->token, keytype_of(k.alg), k.label, &tk)) != ANCHOR_OK) {
		fail(d, r, "generating %s in token %s", k.label,
		    a11_token_label(d->token));
		goto out;
	}
	memcpy(k.ckaid, tk.id, sizeof(k.ckaid));
	if ((r = a11_public_key(d->token, k.ckaid, &pub)) != ANCHOR_OK) {
		fail(d, r, "reading the public key of %s", k.label);
		goto out;
	}
	if ((r = anchor_jwk_thumbprint(pub, k.kid)) != ANCHOR_OK ||
	    (r = anchor_jwk(pub, NULL, NULL, NULL, NULL, 0, &k.jwk)) != ANCHOR_OK) {
		fail(d, r, "public key of %s", k.label);
		goto out;
	}
	if (role == ANCHOR_ROLE_X509_CA &&
	    (r = make_ca_cert(d, pub, k.ckaid, k.serial, now, activate,
	    &k.cert_der, &k.cert_len)) != ANCHOR_OK) {
		if (d->detail[0] == '\0')
			fail(d, r, "CA certificate for %s", k.label);
		goto out;
	}
	k.state = activate ? ANCHOR_KEY_ACTIVE : ANCHOR_KEY_PUBLISHED;
	k.created_at = now;
	k.published_at = now;
	k.activated_at = activate ? now : 0;

	if ((r = anchor_domain_begin(d)) != ANCHOR_OK)
		goto out;
	in_tx = true;
	if ((r = anchor_store_key_insert(d->store, &k)) != ANCHOR_OK) {
		fail(d, r, "storing key %s: %s", k.label,
		    anchor_store_errmsg(d->store));
		goto out;
	}
	anchor_hex(k.ckaid, sizeof(k.ckaid), idhex);
	data = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s}",
	    "role", anchor_role_name(role), "kid", k.kid, "label", k.label,
	    "serial", (json_int_t)k.serial, "algorithm", anchor_alg_name(k.alg),
	    "ckaid", idhex, "token", a11_token_label(d->token));
	if (data == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	if ((r = anchor_domain_audit(d, now, "key.generated", data)) != ANCHOR_OK ||
	    (r = anchor_domain_audit(d, now, "key.published", data)) != ANCHOR_OK)
		goto out;
	if (activate &&
	    (r = anchor_domain_audit(d, now, "key.activated", data)) != ANCHOR_OK)
		goto out;
	in_tx = false;
	if ((r = anchor_domain_commit(d)) != ANCHOR_OK)
		goto out;
	*out = k;
	memset(&k, 0, sizeof(k));
	r = ANCHOR_OK;
 out:
	if (in_tx)
		anchor_domain_rollback(d);
	json_decref(data);
	EVP_PKEY_free(pub);
	anchor_key_row_clear(&k);
	return r;
}

int
anchor_domain_reconcile(struct anchor_domain *d, int64_t now,
    unsigned *destroyed, unsigned *missing)
{
	struct anchor_key_row *rows = NULL;
	uint8_t (*keep)[A11_ID_LEN] = NULL;
	size_t nrows = 0, nkeep = 0, ngone = 0, i;
	a11_key *gone = NULL, probe;
	json_t *data = NULL;
	char prefix[ANCHOR_LABEL_MAX], idhex[2 * A11_ID_LEN + 1];
	unsigned nmissing = 0;
	int r = ANCHOR_E_INTERNAL;

	if (snprintf(prefix, sizeof(prefix), "anchor/%s/",
	    d->conf->trust_domain) >= (int)sizeof(prefix))
		return ANCHOR_E_INVAL;
	if ((r = anchor_store_keys(d->store, &rows, &nrows)) != ANCHOR_OK) {
		fail(d, r, "listing keys: %s", anchor_store_errmsg(d->store));
		goto out;
	}
	if ((keep = calloc(nrows + 1, sizeof(*keep))) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	for (i = 0; i < nrows; i++)
		if (rows[i].state != ANCHOR_KEY_DESTROYED)
			memcpy(keep[nkeep++], rows[i].ckaid, A11_ID_LEN);
	/* Objects of a run that died before its row was committed (no bundle
	 * ever carried them), half-made ones included, and objects of keys
	 * destroyed in the store but not yet in the token. */
	if ((r = a11_destroy_orphans(d->token, prefix,
	    (const uint8_t (*)[A11_ID_LEN])keep, nkeep, &gone, &ngone)) != ANCHOR_OK) {
		fail(d, r, "destroying orphaned token objects");
		goto out;
	}
	for (i = 0; i < ngone; i++) {
		anchor_hex(gone[i].id, A11_ID_LEN, idhex);
		json_decref(data);
		data = json_pack("{s:s, s:s, s:s}", "label", gone[i].label,
		    "ckaid", idhex, "reason",
		    "token object without a committed row");
		if (data == NULL) {
			r = ANCHOR_E_NOMEM;
			goto out;
		}
		if ((r = anchor_domain_audit(d, now, "key.destroyed", data)) != ANCHOR_OK)
			goto out;
	}
	for (i = 0; i < nrows; i++) {
		if (rows[i].state == ANCHOR_KEY_DESTROYED)
			continue;
		r = a11_find(d->token, rows[i].ckaid, &probe);
		if (r == ANCHOR_E_KEY_NOT_FOUND)
			nmissing++;
		else if (r != ANCHOR_OK)
			goto out;
	}
	if (destroyed)
		*destroyed = (unsigned)ngone;
	if (missing)
		*missing = nmissing;
	r = ANCHOR_OK;
 out:
	json_decref(data);
	free(gone);
	free(keep);
	anchor_key_rows_free(rows, nrows);
	return r;
}

int
anchor_domain_sign_cb(void *arg, const char *kid, const uint8_t *msg,
    size_t msglen, uint8_t *sig, size_t *siglen)
{
	struct anchor_domain *d = arg;
	struct anchor_key_row *rows = NULL;
	size_t n = 0, i;
	int r;

	if ((r = anchor_store_keys(d->store, &rows, &n)) != ANCHOR_OK)
		return r;
	r = ANCHOR_E_KEY_NOT_FOUND;
	for (i = 0; i < n; i++) {
		if (strcmp(rows[i].kid, kid) != 0)
			continue;
		r = a11_sign(d->token, rows[i].ckaid, msg, msglen, sig, siglen);
		if (r != ANCHOR_OK)
			fail(d, r, "signing with %s", rows[i].label);
		break;
	}
	anchor_key_rows_free(rows, n);
	return r;
}

static bool
in_bundle(const struct anchor_key_row *k)
{
	return k->state == ANCHOR_KEY_PUBLISHED || k->state == ANCHOR_KEY_ACTIVE ||
	    k->state == ANCHOR_KEY_RETIRED;
}

static bool
is_active(const struct anchor_key_row *k)
{
	return k->state == ANCHOR_KEY_ACTIVE;
}

static const char *
alg_of(enum anchor_alg alg)
{
	return alg == ANCHOR_ALG_EC_P384 ? "ES384" : "ES256";
}

/* The bundle-signing keys in force, as JWS signers (at most 8). */
static int
bundle_signers(struct anchor_domain *d, const struct anchor_key_row *rows,
    size_t n, struct anchor_jws_signer *out, size_t *nout)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (rows[i].role != ANCHOR_ROLE_BUNDLE_SIGNING || !in_bundle(&rows[i]))
			continue;
		if (k == 8)
			return fail(d, ANCHOR_E_INVAL,
			    "more than 8 bundle-signing keys in force");
		out[k].kid = rows[i].kid;
		out[k].alg = alg_of(rows[i].alg);
		out[k].sign = anchor_domain_sign_cb;
		out[k].arg = d;
		k++;
	}
	if (k == 0)
		return fail(d, ANCHOR_E_KEY_NOT_FOUND,
		    "no bundle-signing key in force");
	*nout = k;
	return ANCHOR_OK;
}

int
anchor_domain_publish_bundle(struct anchor_domain *d, int64_t now,
    uint64_t *sequence)
{
	const struct anchor_conf *c = d->conf;
	struct anchor_key_row *rows = NULL;
	struct anchor_authority *auth = NULL;
	struct anchor_jws_signer signers[8];
	EVP_PKEY **pubs = NULL;
	X509 *cert = NULL;
	size_t nrows = 0, nauth = 0, nsig = 0, i, payload_len = 0, jws_len = 0;
	char *payload = NULL, *jws = NULL, shahex[65];
	uint8_t sha[32];
	json_t *data = NULL;
	uint64_t seq = 0;
	bool in_tx = false;
	int r = ANCHOR_E_INTERNAL;

	if ((r = anchor_domain_begin(d)) != ANCHOR_OK)
		return r;
	in_tx = true;
	if ((r = anchor_store_keys(d->store, &rows, &nrows)) != ANCHOR_OK) {
		fail(d, r, "listing keys: %s", anchor_store_errmsg(d->store));
		goto out;
	}
	if ((auth = calloc(nrows + 1, sizeof(*auth))) == NULL ||
	    (pubs = calloc(nrows + 1, sizeof(*pubs))) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	for (i = 0; i < nrows; i++) {
		const struct anchor_key_row *k = &rows[i];

		if (k->role == ANCHOR_ROLE_BUNDLE_SIGNING || !in_bundle(k))
			continue;
		if (k->role == ANCHOR_ROLE_X509_CA) {
			const unsigned char *p = k->cert_der;

			r = ANCHOR_E_CRYPTO;
			if ((cert = d2i_X509(NULL, &p, (long)k->cert_len)) == NULL ||
			    (pubs[nauth] = X509_get_pubkey(cert)) == NULL) {
				fail(d, r, "stored CA certificate of %s", k->label);
				goto out;
			}
			X509_free(cert);
			cert = NULL;
		} else if ((r = a11_public_key(d->token, k->ckaid,
		    &pubs[nauth])) != ANCHOR_OK) {
			fail(d, r, "public key of %s", k->label);
			goto out;
		}
		auth[nauth].role = k->role;
		auth[nauth].pub = pubs[nauth];
		auth[nauth].cert_der = k->cert_der;
		auth[nauth].cert_len = k->cert_len;
		auth[nauth].kid = k->kid;
		nauth++;
	}
	if ((r = bundle_signers(d, rows, nrows, signers, &nsig)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_store_next_sequence(d->store, &seq)) != ANCHOR_OK) {
		fail(d, r, "next sequence: %s", anchor_store_errmsg(d->store));
		goto out;
	}
	if ((r = anchor_f1_bundle(auth, nauth, seq, c->refresh_hint, &payload,
	    &payload_len)) != ANCHOR_OK) {
		fail(d, r, "building bundle %" PRIu64, seq);
		goto out;
	}
	if ((r = anchor_store_bundle_insert(d->store, seq, (uint8_t *)payload,
	    payload_len, now)) != ANCHOR_OK) {
		fail(d, r, "storing bundle %" PRIu64 ": %s", seq,
		    anchor_store_errmsg(d->store));
		goto out;
	}
	if ((r = anchor_f2_sign(c->trust_domain, seq, now,
	    now + c->signature_validity, (uint8_t *)payload, payload_len,
	    signers, nsig, &jws, &jws_len)) != ANCHOR_OK) {
		if (d->detail[0] == '\0')
			fail(d, r, "signing bundle %" PRIu64, seq);
		goto out;
	}
	if ((r = anchor_store_bundle_add_signature(d->store, seq, now,
	    now + c->signature_validity, jws, jws_len)) != ANCHOR_OK) {
		fail(d, r, "storing signed bundle: %s",
		    anchor_store_errmsg(d->store));
		goto out;
	}
	SHA256((uint8_t *)payload, payload_len, sha);
	anchor_hex(sha, sizeof(sha), shahex);
	data = json_pack("{s:I, s:s, s:o, s:o, s:o}",
	    "sequence", (json_int_t)seq, "sha256", shahex,
	    "x509_authorities", kid_array(rows, nrows, ANCHOR_ROLE_X509_CA, in_bundle),
	    "jwt_authorities", kid_array(rows, nrows, ANCHOR_ROLE_JWT, in_bundle),
	    "signed_by", kid_array(rows, nrows, ANCHOR_ROLE_BUNDLE_SIGNING, in_bundle));
	if (data == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	if ((r = anchor_domain_audit(d, now, "bundle.published", data)) != ANCHOR_OK)
		goto out;
	in_tx = false;
	if ((r = anchor_domain_commit(d)) != ANCHOR_OK)
		goto out;
	if (sequence)
		*sequence = seq;
	r = ANCHOR_OK;
 out:
	if (in_tx)
		anchor_domain_rollback(d);
	json_decref(data);
	X509_free(cert);
	for (i = 0; pubs != NULL && i < nauth; i++)
		EVP_PKEY_free(pubs[i]);
	free(pubs);
	free(auth);
	free(payload);
	free(jws);
	anchor_key_rows_free(rows, nrows);
	return r;
}

int
anchor_domain_resign_bundle(struct anchor_domain *d, int64_t now)
{
	const struct anchor_conf *c = d->conf;
	struct anchor_bundle_row b;
	struct anchor_key_row *rows = NULL;
	struct anchor_jws_signer signers[8];
	size_t nrows = 0, nsig = 0, jws_len = 0;
	char *jws = NULL;
	json_t *data = NULL;
	bool in_tx = false;
	int r = ANCHOR_E_INTERNAL;

	memset(&b, 0, sizeof(b));
	if ((r = anchor_domain_begin(d)) != ANCHOR_OK)
		return r;
	in_tx = true;
	if ((r = anchor_store_bundle_latest(d->store, &b)) != ANCHOR_OK) {
		fail(d, r, "no bundle to sign again");
		goto out;
	}
	if ((r = anchor_store_keys(d->store, &rows, &nrows)) != ANCHOR_OK ||
	    (r = bundle_signers(d, rows, nrows, signers, &nsig)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_f2_sign(c->trust_domain, b.sequence, now,
	    now + c->signature_validity, b.payload, b.payload_len, signers,
	    nsig, &jws, &jws_len)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_store_bundle_add_signature(d->store, b.sequence, now,
	    now + c->signature_validity, jws, jws_len)) != ANCHOR_OK)
		goto out;
	data = json_pack("{s:I, s:I, s:I, s:o}", "sequence",
	    (json_int_t)b.sequence, "iat", (json_int_t)now, "exp",
	    (json_int_t)(now + c->signature_validity), "signed_by",
	    kid_array(rows, nrows, ANCHOR_ROLE_BUNDLE_SIGNING, in_bundle));
	if (data == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	if ((r = anchor_domain_audit(d, now, "bundle.signed", data)) != ANCHOR_OK)
		goto out;
	in_tx = false;
	r = anchor_domain_commit(d);
 out:
	if (in_tx)
		anchor_domain_rollback(d);
	json_decref(data);
	free(jws);
	anchor_key_rows_free(rows, nrows);
	anchor_bundle_row_clear(&b);
	return r;
}

/* Does the payload of a signer set list this kid? */
static bool
signers_payload_has(const struct anchor_signers_row *s, const char *kid)
{
	json_t *root, *keys, *k;
	size_t i;
	bool found = false;

	root = json_loadb((const char *)s->payload, s->payload_len, 0, NULL);
	keys = json_object_get(root, "keys");
	json_array_foreach(keys, i, k) {
		const char *v = json_string_value(json_object_get(k, "kid"));

		if (v != NULL && strcmp(v, kid) == 0)
			found = true;
	}
	json_decref(root);
	return found;
}

int
anchor_domain_publish_signers(struct anchor_domain *d, int64_t now,
    unsigned *version)
{
	const struct anchor_conf *c = d->conf;
	struct anchor_signers_row prev, row;
	struct anchor_key_row *rows = NULL;
	struct anchor_jws_signer signers[16];
	EVP_PKEY **pubs = NULL;
	size_t nrows = 0, npub = 0, nsig = 0, i;
	char *payload = NULL, *jws = NULL, fp[80];
	size_t payload_len = 0, jws_len = 0;
	uint64_t min_seq = 0;
	unsigned ver = 1;
	json_t *data = NULL;
	bool have_prev = false, in_tx = false;
	int r = ANCHOR_E_INTERNAL;

	memset(&prev, 0, sizeof(prev));
	memset(&row, 0, sizeof(row));
	if ((r = anchor_domain_begin(d)) != ANCHOR_OK)
		return r;
	in_tx = true;
	r = anchor_store_signers_get(d->store, 0, &prev);
	if (r == ANCHOR_OK) {
		have_prev = true;
		ver = prev.version + 1;
	} else if (r != ANCHOR_E_NOT_FOUND) {
		fail(d, r, "latest signer set: %s", anchor_store_errmsg(d->store));
		goto out;
	}
	if ((r = anchor_store_keys(d->store, &rows, &nrows)) != ANCHOR_OK ||
	    (r = anchor_store_next_sequence(d->store, &min_seq)) != ANCHOR_OK) {
		fail(d, r, "reading state: %s", anchor_store_errmsg(d->store));
		goto out;
	}
	if ((pubs = calloc(nrows + 1, sizeof(*pubs))) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	for (i = 0; i < nrows; i++) {
		const struct anchor_key_row *k = &rows[i];
		bool mine, previous;

		if (k->role != ANCHOR_ROLE_BUNDLE_SIGNING)
			continue;
		mine = in_bundle(k);
		/* Version N+1 is signed by version N's keys as well, so that a
		 * verifier pinned to N can follow the chain; a revoked key
		 * signs nothing more. */
		previous = have_prev && k->state != ANCHOR_KEY_DESTROYED &&
		    k->state != ANCHOR_KEY_REVOKED &&
		    signers_payload_has(&prev, k->kid);
		if (mine) {
			if ((r = a11_public_key(d->token, k->ckaid,
			    &pubs[npub])) != ANCHOR_OK) {
				fail(d, r, "public key of %s", k->label);
				goto out;
			}
			npub++;
		}
		if ((mine || previous) && nsig < ANCHOR_ARRAY_SIZE(signers)) {
			signers[nsig].kid = k->kid;
			signers[nsig].alg = alg_of(k->alg);
			signers[nsig].sign = anchor_domain_sign_cb;
			signers[nsig].arg = d;
			nsig++;
		}
	}
	if (npub == 0) {
		r = fail(d, ANCHOR_E_KEY_NOT_FOUND, "no bundle-signing key in force");
		goto out;
	}
	if ((r = anchor_f3_payload(c->trust_domain, ver,
	    c->keys[ANCHOR_ROLE_BUNDLE_SIGNING].threshold, min_seq, pubs, npub,
	    &payload, &payload_len)) != ANCHOR_OK) {
		fail(d, r, "building signer set %u (threshold %u, %zu keys)", ver,
		    c->keys[ANCHOR_ROLE_BUNDLE_SIGNING].threshold, npub);
		goto out;
	}
	if ((r = anchor_f3_sign(c->trust_domain, ver, (uint8_t *)payload,
	    payload_len, signers, nsig > 8 ? 8 : nsig, &jws, &jws_len)) != ANCHOR_OK) {
		if (d->detail[0] == '\0')
			fail(d, r, "signing signer set %u", ver);
		goto out;
	}
	row.version = ver;
	row.min_sequence = min_seq;
	row.payload = (uint8_t *)payload;
	row.payload_len = payload_len;
	row.jws = jws;
	row.jws_len = jws_len;
	row.created_at = now;
	if ((r = anchor_store_signers_insert(d->store, &row)) != ANCHOR_OK) {
		fail(d, r, "storing signer set %u: %s", ver,
		    anchor_store_errmsg(d->store));
		goto out;
	}
	anchor_fingerprint((uint8_t *)payload, payload_len, fp);
	data = json_pack("{s:i, s:I, s:i, s:s, s:o}", "version", ver,
	    "min_sequence", (json_int_t)min_seq, "threshold",
	    c->keys[ANCHOR_ROLE_BUNDLE_SIGNING].threshold, "fingerprint", fp,
	    "keys", kid_array(rows, nrows, ANCHOR_ROLE_BUNDLE_SIGNING, in_bundle));
	if (data == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	if ((r = anchor_domain_audit(d, now, "signers.published", data)) != ANCHOR_OK)
		goto out;
	in_tx = false;
	if ((r = anchor_domain_commit(d)) != ANCHOR_OK)
		goto out;
	if (version)
		*version = ver;
	r = ANCHOR_OK;
 out:
	if (in_tx)
		anchor_domain_rollback(d);
	json_decref(data);
	for (i = 0; pubs != NULL && i < npub; i++)
		EVP_PKEY_free(pubs[i]);
	free(pubs);
	free(payload);
	free(jws);
	anchor_signers_row_clear(&prev);
	anchor_key_rows_free(rows, nrows);
	return r;
}

int
anchor_domain_audit(struct anchor_domain *d, int64_t now, const char *event,
    json_t *data)
{
	char *text = NULL;
	int r;

	if (data != NULL &&
	    (text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return ANCHOR_E_NOMEM;
	r = anchor_store_audit_append(d->store, now, event, text);
	if (r != ANCHOR_OK)
		fail(d, r, "audit record %s: %s", event,
		    anchor_store_errmsg(d->store));
	else if (d->conf->audit_syslog) {
		char *line = NULL, **grown;

		/* Untrusted text (peer names, reasons) is capped. */
		if (asprintf(&line, "anchor-audit td=%.255s ts=%" PRId64
		    " event=%.64s data=%.1500s", d->conf->trust_domain, now, event,
		    text ? text : "{}") < 0)
			line = NULL;
		if (line != NULL && d->tx_depth == 0) {
			syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", line);
			free(line);
		} else if (line != NULL && (grown = realloc(d->audit_pending,
		    (d->n_audit_pending + 1) * sizeof(*grown))) != NULL) {
			d->audit_pending = grown;
			d->audit_pending[d->n_audit_pending++] = line;
		} else
			free(line);
	}
	free(text);
	return r;
}

int
anchor_domain_checkpoint(struct anchor_domain *d, int64_t now)
{
	struct anchor_key_row *rows = NULL;
	size_t n = 0, i;
	uint8_t hash[32], sig[A11_MAX_SIG];
	size_t siglen = sizeof(sig);
	int64_t seq = 0;
	int r;

	if ((r = anchor_store_keys(d->store, &rows, &n)) != ANCHOR_OK)
		return r;
	for (i = 0; i < n; i++)
		if (rows[i].role == ANCHOR_ROLE_BUNDLE_SIGNING && is_active(&rows[i]))
			break;
	if (i == n) {
		r = fail(d, ANCHOR_E_KEY_NOT_FOUND,
		    "no active bundle-signing key for the audit checkpoint");
		goto out;
	}
	if ((r = anchor_store_audit_head(d->store, &seq, hash)) != ANCHOR_OK ||
	    seq == 0)
		goto out;
	if ((r = a11_sign(d->token, rows[i].ckaid, hash, sizeof(hash), sig,
	    &siglen)) != ANCHOR_OK) {
		fail(d, r, "signing the audit checkpoint with %s", rows[i].label);
		goto out;
	}
	r = anchor_store_checkpoint_insert(d->store, seq, rows[i].kid, sig,
	    siglen, now);
 out:
	anchor_key_rows_free(rows, n);
	return r;
}

void
anchor_fingerprint(const uint8_t *data, size_t len, char out[80])
{
	uint8_t sha[32];
	char hex[65];
	size_t i, o = 0;

	SHA256(data, len, sha);
	anchor_hex(sha, sizeof(sha), hex);
	for (i = 0; i < 64; i += 4) {
		if (i > 0)
			out[o++] = ' ';
		memcpy(out + o, hex + i, 4);
		o += 4;
	}
	out[o] = '\0';
}
