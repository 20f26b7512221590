/*
 * anchord's signer process: the only one that loads the PKCS#11 module.
 *
 * It reads the store (PRAGMA data_version a few times a second tells it
 * when another process committed), pushes what the network process serves,
 * probes the token, re-signs the bundle at half of signature_validity and
 * issues the endpoint's X509-SVID.  A token in trouble is closed and opened
 * again with a doubling back-off; the store side keeps working meanwhile,
 * so the last good signed bundle stays served.
 *
 * An https_web key named by a pkcs11: URI is looked up once the token is
 * open (and again after a reload); from then on it is named by its CKA_ID,
 * which survives a reconnect.  TLS_SIGN requests carry a digest and an id,
 * never a key: they are signed with that key or not at all.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "anchord.h"
#include "domain.h"
#include "error.h"
#include "ipc.h"
#include "keyuri.h"
#include "log.h"
#include "util.h"

#define POLL_MS			250	/* store change detection */
#define RESIGN_RETRY_MS		1000	/* writer lock held by someone else */
#define RESIGN_FAIL_MS		60000	/* a failure that is not the token's */
#define SVID_MIN_INTERVAL_MS	5000	/* at most one certificate per 5 s */

static const uint8_t probe_msg[] = "anchord token probe";

struct signer {
	const struct anchord_opts *o;
	struct anchor_conf *conf;	/* owned */
	int fd;				/* socketpair to the network process */
	int sigfd;
	struct anchord_ipc_in in;

	struct anchor_domain *d;	/* store only: reads */
	struct anchor_domain *dt;	/* store and token, or NULL */

	/* What the network process has. */
	bool sent;
	uint8_t sent_hash[32];
	uint64_t sequence;
	int64_t iat, exp;
	bool have_signature;
	bool warned_unsigned;
	int64_t data_version;
	bool refresh;			/* re-read the store at the next tick */

	enum anchord_token_state tstate;
	bool pin_refused;		/* no automatic retry: it counts */
	int64_t next_token_ms;		/* next open or probe */
	unsigned backoff_s;
	uint64_t token_errors, signed_ok, signed_fail;
	int64_t next_resign_ms;
	int64_t last_svid_ms;
	bool status_dirty;

	/* https_web with a pkcs11: key */
	bool tls_token;			/* the key is in the token */
	bool tls_pending;		/* look it up once the token answers */
	bool fatal;			/* a configuration error: stop */
	struct {
		bool set;
		uint8_t id[A11_ID_LEN];
		a11_keytype type;
	} tk;
	int64_t bucket;			/* rate limit, in thousandths */
	int64_t bucket_ms;
	int64_t limit_logged_ms;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Errors that mean the token (or its module) is not answering as it should. */
static bool
token_error(int r)
{
	switch (r) {
	case ANCHOR_E_MODULE:
	case ANCHOR_E_TOKEN_NOT_FOUND:
	case ANCHOR_E_TOKEN_GONE:
	case ANCHOR_E_TOKEN:
	case ANCHOR_E_PIN_INCORRECT:
	case ANCHOR_E_PIN_LOCKED:
	case ANCHOR_E_PIN_SOURCE:
	case ANCHOR_E_KEY_NOT_FOUND:
		return true;
	default:
		return false;
	}
}

static int
send_msg(struct signer *s, uint32_t type, const struct anchord_buf *b)
{
	int r = anchord_ipc_send(s->fd, type, b, ANCHORD_IPC_TIMEOUT_MS);

	if (r != ANCHOR_OK)
		error_f("sending %s to the network process: %s",
		    anchord_ipc_type_name(type), anchor_strerror(r));
	return r;
}

static int
send_status(struct signer *s)
{
	struct anchord_buf b = { 0 };
	struct anchor_key_row *rows = NULL;
	uint32_t keys[ANCHOR_ROLE_COUNT][ANCHORD_KEY_STATES];
	size_t n = 0, i, j;
	int r;

	memset(keys, 0, sizeof(keys));
	if (anchor_store_keys(s->d->store, &rows, &n) == ANCHOR_OK) {
		for (i = 0; i < n; i++)
			if ((unsigned)rows[i].role < ANCHOR_ROLE_COUNT &&
			    (unsigned)rows[i].state < ANCHORD_KEY_STATES)
				keys[rows[i].role][rows[i].state]++;
	}
	anchor_key_rows_free(rows, n);
	anchord_buf_put_u32(&b, (uint32_t)s->tstate);
	anchord_buf_put_u64(&b, s->token_errors);
	anchord_buf_put_u64(&b, s->signed_ok);
	anchord_buf_put_u64(&b, s->signed_fail);
	for (i = 0; i < ANCHOR_ROLE_COUNT; i++)
		for (j = 0; j < ANCHORD_KEY_STATES; j++)
			anchord_buf_put_u32(&b, keys[i][j]);
	r = send_msg(s, IPC_STATUS, &b);
	anchord_buf_clear(&b);
	if (r == ANCHOR_OK)
		s->status_dirty = false;
	return r;
}

static int
data_version(struct signer *s, int64_t *v)
{
	sqlite3 *db = anchor_store_sqlite(s->d->store);
	sqlite3_stmt *st = NULL;
	int r = ANCHOR_E_STATE;

	if (sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &st, NULL) !=
	    SQLITE_OK)
		goto out;
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	*v = sqlite3_column_int64(st, 0);
	r = ANCHOR_OK;
 out:
	sqlite3_finalize(st);
	return r;
}

/*
 * Read the newest signed bundle and every signer set in one read
 * transaction and send them when they differ from what was sent.
 */
static int
push_content(struct signer *s, bool force)
{
	sqlite3 *db = anchor_store_sqlite(s->d->store);
	struct anchor_bundle_row b;
	struct anchor_signers_row latest, sg;
	struct anchord_buf buf = { 0 };
	uint8_t hash[32];
	unsigned v;
	bool in_tx = false;
	int r = ANCHOR_E_INTERNAL;

	memset(&b, 0, sizeof(b));
	memset(&latest, 0, sizeof(latest));
	memset(&sg, 0, sizeof(sg));
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK)
		in_tx = true;
	if ((r = anchor_store_bundle_latest(s->d->store, &b)) != ANCHOR_OK) {
		error_f("reading the latest bundle: %s",
		    anchor_store_errmsg(s->d->store));
		goto out;
	}
	if (b.jws == NULL) {
		/* Never serve an unsigned bundle: keep the last signed one. */
		if (!s->warned_unsigned)
			warn_f("bundle %" PRIu64 " has no signature yet; "
			    "serving the previous one", b.sequence);
		s->warned_unsigned = true;
		s->have_signature = false;	/* due for signing */
		r = ANCHOR_OK;
		goto out;
	}
	s->warned_unsigned = false;
	if ((r = anchor_store_signers_get(s->d->store, 0, &latest)) != ANCHOR_OK) {
		error_f("reading the latest signer set: %s",
		    anchor_store_errmsg(s->d->store));
		goto out;
	}
	if (latest.version > ANCHORD_MAX_VERSIONS) {
		r = ANCHOR_E_STATE;
		error_f("%u signer-set versions: more than anchord serves",
		    latest.version);
		goto out;
	}
	if (b.payload_len > ANCHORD_MAX_F1 || b.jws_len > ANCHORD_MAX_F1) {
		r = ANCHOR_E_STATE;
		error_f("bundle %" PRIu64 " is larger than anchord serves",
		    b.sequence);
		goto out;
	}
	anchord_buf_put_u64(&buf, b.sequence);
	anchord_buf_put_u64(&buf, (uint64_t)b.iat);
	anchord_buf_put_u64(&buf, (uint64_t)b.exp);
	anchord_buf_put_bytes(&buf, b.payload, b.payload_len);
	anchord_buf_put_bytes(&buf, b.jws, b.jws_len);
	anchord_buf_put_u32(&buf, latest.version);
	for (v = 1; v <= latest.version; v++) {
		const struct anchor_signers_row *row = &latest;

		if (v < latest.version) {
			anchor_signers_row_clear(&sg);
			if ((r = anchor_store_signers_get(s->d->store, v,
			    &sg)) != ANCHOR_OK) {
				error_f("reading signer set %u: %s", v,
				    anchor_store_errmsg(s->d->store));
				goto out;
			}
			row = &sg;
		}
		if (row->jws_len > ANCHORD_MAX_F3) {
			r = ANCHOR_E_STATE;
			error_f("signer set %u is larger than anchord serves", v);
			goto out;
		}
		anchord_buf_put_u32(&buf, v);
		anchord_buf_put_bytes(&buf, row->jws, row->jws_len);
	}
	if (buf.bad) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	s->sequence = b.sequence;
	s->iat = b.iat;
	s->exp = b.exp;
	s->have_signature = true;
	SHA256(buf.data, buf.len, hash);
	if (!force && s->sent && memcmp(hash, s->sent_hash, sizeof(hash)) == 0) {
		r = ANCHOR_OK;
		goto out;
	}
	if ((r = send_msg(s, IPC_CONTENT, &buf)) != ANCHOR_OK)
		goto out;
	if (!s->sent || memcmp(hash, s->sent_hash, sizeof(hash)) != 0)
		info_f("serving bundle %" PRIu64 " signed at %" PRId64
		    " until %" PRId64 ", signer set %u", b.sequence, b.iat,
		    b.exp, latest.version);
	memcpy(s->sent_hash, hash, sizeof(hash));
	s->sent = true;
	s->status_dirty = true;		/* keys may have changed too */
	r = ANCHOR_OK;
 out:
	if (in_tx)
		(void)sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	anchord_buf_clear(&buf);
	anchor_signers_row_clear(&sg);
	anchor_signers_row_clear(&latest);
	anchor_bundle_row_clear(&b);
	return r;
}

static void token_failed(struct signer *s, int r, const char *what);

/* The key URI without a query part, for log lines (it never has a PIN:
 * the configuration refuses pin-value, the key URI any query). */
#define URI_LOG(u)	(int)(strcspn((u), "?") > 200 ? 200 : strcspn((u), "?")), (u)

/* Is id one of the domain's own keys (CA, bundle signing, any state)? */
static bool
domain_key(struct signer *s, const uint8_t id[A11_ID_LEN])
{
	struct anchor_key_row *rows = NULL;
	size_t n = 0, i;
	bool found = false;

	if (anchor_store_keys(s->d->store, &rows, &n) != ANCHOR_OK)
		return true;	/* cannot tell: refuse */
	for (i = 0; i < n && !found; i++)
		found = memcmp(rows[i].ckaid, id, A11_ID_LEN) == 0;
	anchor_key_rows_free(rows, n);
	return found;
}

/* The public key of the first certificate in a PEM file. */
static int
leaf_public_key(const char *path, EVP_PKEY **out)
{
	uint8_t *pem = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	X509 *x = NULL;
	int r;

	*out = NULL;
	if ((r = anchor_read_file(path, ANCHORD_MAX_PEM, &pem, &len)) !=
	    ANCHOR_OK)
		goto out;
	r = ANCHOR_E_CRYPTO;
	if (len > INT32_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		goto out;
	if ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL)
		goto out;
	if ((*out = X509_get_pubkey(x)) == NULL)
		goto out;
	r = ANCHOR_OK;
 out:
	X509_free(x);
	BIO_free(bio);
	free(pem);
	return r;
}

/*
 * Find the https_web key named by the URI in the open token and check it
 * against the certificate.  ANCHOR_E_CONFIG (logged) for what the operator
 * must fix; token errors are returned as they are, not logged.
 * *spki: DER SubjectPublicKeyInfo, malloc'd (free()).
 */
static int
tls_key_find(struct signer *s, uint8_t id[A11_ID_LEN], a11_keytype *type,
    uint8_t **spki, size_t *spki_len)
{
	const struct anchor_conf *c = s->conf;
	a11_token *t = s->dt->token;
	struct anchord_key_uri u;
	a11_key *keys = NULL, *k = NULL;
	EVP_PKEY *pub = NULL, *leaf = NULL;
	unsigned char *der = NULL;
	char err[256] = "";
	size_t n = 0, i, matches = 0;
	int len, r = ANCHOR_E_CONFIG;

	*spki = NULL;
	*spki_len = 0;
	if (anchord_key_uri_parse(c->key, &u, err, sizeof(err)) != ANCHOR_OK) {
		error_f("https_web key %.*s: %s", URI_LOG(c->key), err);
		goto out;
	}
	if ((u.token != NULL && strcmp(u.token, a11_token_label(t)) != 0) ||
	    (u.serial != NULL && strcmp(u.serial, a11_token_serial(t)) != 0)) {
		error_f("https_web key %.*s names another token than the "
		    "configured one (%.100s): the key must be in that token",
		    URI_LOG(c->key), a11_token_label(t));
		goto out;
	}
	if (u.has_id && u.id_len != A11_ID_LEN) {
		error_f("https_web key %.*s: id= has %zu bytes; anchor finds "
		    "keys with a %d-byte CKA_ID", URI_LOG(c->key), u.id_len,
		    A11_ID_LEN);
		goto out;
	}
	if ((r = a11_list(t, u.object != NULL ? u.object : "", &keys, &n)) !=
	    ANCHOR_OK)
		goto out;
	r = ANCHOR_E_CONFIG;
	for (i = 0; i < n; i++) {
		if (u.object != NULL && strcmp(keys[i].label, u.object) != 0)
			continue;
		if (u.has_id && memcmp(keys[i].id, u.id, A11_ID_LEN) != 0)
			continue;
		k = &keys[i];
		matches++;
	}
	if (matches == 0) {
		error_f("https_web key %.*s: no private key in token %.100s "
		    "matches (anchor uses EC P-256 or P-384 keys with a "
		    "%d-byte CKA_ID)", URI_LOG(c->key), a11_token_label(t),
		    A11_ID_LEN);
		goto out;
	}
	if (matches > 1) {
		error_f("https_web key %.*s is ambiguous: %zu private keys in "
		    "token %.100s match; name one by id=", URI_LOG(c->key),
		    matches, a11_token_label(t));
		goto out;
	}
	if (k->type != A11_KEY_EC_P256 && k->type != A11_KEY_EC_P384) {
		error_f("https_web key %.*s is an RSA key: TLS 1.3 signs with "
		    "RSA-PSS, which anchor's token layer does not offer; use "
		    "an EC P-256 or P-384 key", URI_LOG(c->key));
		goto out;
	}
	if (strncmp(k->label, "anchor/", 7) == 0 || domain_key(s, k->id)) {
		error_f("https_web key %.*s is one of the domain's own keys "
		    "(%.100s): the TLS key must be a key of its own",
		    URI_LOG(c->key), k->label);
		goto out;
	}
	if ((r = a11_public_key(t, k->id, &pub)) != ANCHOR_OK)
		goto out;
	r = ANCHOR_E_CONFIG;
	if (leaf_public_key(c->cert_file, &leaf) != ANCHOR_OK) {
		error_f("certificate file %.200s: no PEM certificate",
		    c->cert_file);
		goto out;
	}
	if (EVP_PKEY_eq(pub, leaf) != 1) {
		error_f("the certificate %.200s is not for the https_web key "
		    "%.*s", c->cert_file, URI_LOG(c->key));
		goto out;
	}
	if ((len = i2d_PUBKEY(pub, &der)) <= 0) {
		r = ANCHOR_E_CRYPTO;
		goto out;
	}
	if ((*spki = malloc((size_t)len)) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	memcpy(*spki, der, (size_t)len);
	*spki_len = (size_t)len;
	memcpy(id, k->id, A11_ID_LEN);
	*type = k->type;
	r = ANCHOR_OK;
 out:
	OPENSSL_free(der);
	EVP_PKEY_free(leaf);
	EVP_PKEY_free(pub);
	free(keys);
	anchord_key_uri_clear(&u);
	return r;
}

/*
 * https_web with the key in the token: find it and send the chain and its
 * public key.  Waits for the token when it is not open.  ANCHOR_E_CONFIG
 * when the operator must fix something (the key in use, if any, stays).
 */
static int
push_token_creds(struct signer *s)
{
	const struct anchor_conf *c = s->conf;
	struct anchord_buf b = { 0 };
	uint8_t id[A11_ID_LEN] = { 0 }, *cert = NULL, *spki = NULL;
	size_t cert_len = 0, spki_len = 0;
	a11_keytype type = (a11_keytype)0;
	int r;

	if (s->dt == NULL || s->tstate != ANCHORD_TOKEN_OK) {
		s->tls_pending = true;
		return ANCHOR_OK;
	}
	r = tls_key_find(s, id, &type, &spki, &spki_len);
	if (r != ANCHOR_OK && r != ANCHOR_E_CONFIG) {
		if (token_error(r)) {
			s->tls_pending = true;
			token_failed(s, r, "finding the https_web key");
			r = ANCHOR_OK;
		} else {
			error_f("finding the https_web key: %s",
			    anchor_strerror(r));
		}
		goto out;
	}
	if (r != ANCHOR_OK)
		goto out;
	if ((r = anchor_read_file(c->cert_file, ANCHORD_MAX_PEM, &cert,
	    &cert_len)) != ANCHOR_OK) {
		error_f("certificate file %.200s: %s", c->cert_file,
		    anchor_strerror(r));
		goto out;
	}
	anchord_buf_put_bytes(&b, cert, cert_len);
	anchord_buf_put_bytes(&b, spki, spki_len);
	if ((r = send_msg(s, IPC_TLS_TOKEN_CREDS, &b)) != ANCHOR_OK)
		goto out;
	memcpy(s->tk.id, id, sizeof(id));
	s->tk.type = type;
	s->tk.set = true;
	s->tls_pending = false;
	info_f("https_web key %.*s found in token %.100s",
	    URI_LOG(c->key), a11_token_label(s->dt->token));
 out:
	anchord_buf_clear(&b);
	free(spki);
	free(cert);
	return r;
}

/* A token bucket: tls_sign_rate a second, as many at once at most. */
static bool
sign_allowed(struct signer *s)
{
	int64_t now = mono_ms(), cap = (int64_t)s->o->tls_sign_rate * 1000;

	if (s->bucket_ms == 0)
		s->bucket = cap;
	else
		s->bucket += (now - s->bucket_ms) * (int64_t)s->o->tls_sign_rate;
	if (s->bucket > cap)
		s->bucket = cap;
	s->bucket_ms = now;
	if (s->bucket < 1000)
		return false;
	s->bucket -= 1000;
	return true;
}

/* Sign a TLS handshake digest with the https_web key, and only with it. */
static void
tls_sign(struct signer *s, const uint8_t *p, size_t len)
{
	struct anchord_reader rd;
	struct anchord_buf b = { 0 };
	const uint8_t *digest = NULL;
	uint8_t sig[A11_MAX_SIG];
	size_t digest_len = 0, siglen = sizeof(sig), want;
	uint32_t id = 0, result = TLS_SIGN_REFUSED;
	int64_t now_m;
	int r;

	anchord_reader_init(&rd, p, len);
	if (!anchord_get_u32(&rd, &id) ||
	    !anchord_get_bytes(&rd, &digest, &digest_len,
	    ANCHORD_TLS_DIGEST_MAX) || !anchord_reader_done(&rd)) {
		error_f("malformed tls-sign request from the network process");
		goto answer;
	}
	if (!s->tls_token || !s->tk.set) {
		error_f("tls-sign request without an https_web key in the "
		    "token");
		goto answer;
	}
	want = s->tk.type == A11_KEY_EC_P384 ? 48 : 32;
	if (digest_len != want) {
		error_f("tls-sign request with a %zu-byte digest for a %s key",
		    digest_len, want == 48 ? "P-384" : "P-256");
		goto answer;
	}
	if (!sign_allowed(s)) {
		result = TLS_SIGN_RATE_LIMITED;
		now_m = mono_ms();
		if (now_m - s->limit_logged_ms >= 10000) {
			warn_f("TLS handshakes ask for more than %u token "
			    "signatures a second; refusing the excess",
			    s->o->tls_sign_rate);
			s->limit_logged_ms = now_m;
		}
		goto answer;
	}
	if (s->dt == NULL || s->tstate != ANCHORD_TOKEN_OK) {
		result = TLS_SIGN_TOKEN;
		goto answer;
	}
	r = a11_sign_digest(s->dt->token, s->tk.id, digest, digest_len, sig,
	    &siglen);
	if (r != ANCHOR_OK) {
		result = TLS_SIGN_TOKEN;
		if (token_error(r))
			token_failed(s, r, "signing a TLS handshake");
		else
			error_f("signing a TLS handshake: %s",
			    anchor_strerror(r));
		goto answer;
	}
	result = TLS_SIGN_OK;
 answer:
	anchord_buf_put_u32(&b, id);
	anchord_buf_put_u32(&b, result);
	anchord_buf_put_bytes(&b, sig, result == TLS_SIGN_OK ? siglen : 0);
	(void)send_msg(s, IPC_TLS_SIGNATURE, &b);
	anchord_buf_clear(&b);
}

/* https_web: the certificate chain and key files, read with our rights. */
static int
push_tls_creds(struct signer *s)
{
	const struct anchor_conf *c = s->conf;
	struct anchord_buf b = { 0 };
	uint8_t *cert = NULL, *key = NULL;
	size_t cert_len = 0, key_len = 0;
	int r = ANCHOR_OK;

	if (c->endpoint_profile == NULL ||
	    strcmp(c->endpoint_profile, "https_web") != 0)
		goto out;
	if (c->cert_file == NULL || c->key == NULL) {
		error_f("profile https_web needs cert_file and key");
		r = ANCHOR_E_CONFIG;
		goto out;
	}
	if (strncmp(c->key, "pkcs11:", 7) == 0) {
		s->tls_token = true;
		r = push_token_creds(s);
		goto out;
	}
	s->tls_token = false;
	s->tk.set = false;
	if ((r = anchor_read_file(c->cert_file, ANCHORD_MAX_PEM, &cert,
	    &cert_len)) != ANCHOR_OK) {
		error_f("certificate file %.200s: %s", c->cert_file,
		    anchor_strerror(r));
		goto out;
	}
	if ((r = anchor_read_file(c->key, ANCHORD_MAX_PEM, &key,
	    &key_len)) != ANCHOR_OK) {
		error_f("key file %.200s: %s", c->key, anchor_strerror(r));
		goto out;
	}
	anchord_buf_put_bytes(&b, cert, cert_len);
	anchord_buf_put_bytes(&b, key, key_len);
	r = send_msg(s, IPC_TLS_CREDS, &b);
 out:
	anchord_buf_clear(&b);
	if (key != NULL)
		OPENSSL_cleanse(key, key_len);
	free(key);
	free(cert);
	return r;
}

static int
push_config(struct signer *s)
{
	const struct anchor_conf *c = s->conf;
	struct anchord_buf b = { 0 };
	int r;

	anchord_buf_put_u64(&b, (uint64_t)c->refresh_hint);
	anchord_buf_put_str(&b, c->listen_address);
	anchord_buf_put_u32(&b, c->listen_port);
	anchord_buf_put_str(&b, c->endpoint_profile);
	r = send_msg(s, IPC_CONFIG, &b);
	anchord_buf_clear(&b);
	return r;
}

static void
schedule_token_retry(struct signer *s)
{
	int64_t now = mono_ms();

	if (s->backoff_s == 0)
		s->backoff_s = 1;
	s->next_token_ms = now + (int64_t)s->backoff_s * 1000;
	s->backoff_s = s->backoff_s * 2 > s->o->backoff_max ?
	    s->o->backoff_max : s->backoff_s * 2;
	if (s->backoff_s == 0)
		s->backoff_s = 1;
}

/* The token failed: close it, report, and try again after the back-off. */
static void
token_failed(struct signer *s, int r, const char *what)
{
	const char *detail = s->dt != NULL ? anchor_domain_errdetail(s->dt) :
	    NULL;

	s->token_errors++;
	if (s->tstate != ANCHORD_TOKEN_FAILING)
		error_f("%s: %s%s%s; serving the last signed bundle, "
		    "retrying with back-off", what, anchor_strerror(r),
		    detail ? ": " : "", detail ? detail : "");
	else
		debug_f("%s: %s", what, anchor_strerror(r));
	s->tstate = ANCHORD_TOKEN_FAILING;
	s->status_dirty = true;
	anchor_domain_close(s->dt);
	s->dt = NULL;
	if (r == ANCHOR_E_PIN_INCORRECT || r == ANCHOR_E_PIN_LOCKED) {
		/* Every try counts toward the lockout: wait for SIGHUP. */
		error_f("the token refused the PIN; not trying again until "
		    "reloaded (SIGHUP)");
		s->pin_refused = true;
		return;
	}
	schedule_token_retry(s);
}

static void
token_ok(struct signer *s)
{
	if (s->tstate != ANCHORD_TOKEN_OK) {
		info_f("token %s answers", a11_token_label(s->dt->token));
		s->status_dirty = true;
	}
	s->tstate = ANCHORD_TOKEN_OK;
	s->backoff_s = 0;
	s->next_token_ms = mono_ms() + (int64_t)s->o->probe_interval * 1000;
}

static void
token_open(struct signer *s)
{
	struct anchor_domain *dt = NULL;
	int r;

	r = anchor_domain_open(s->conf, ANCHOR_OPEN_TOKEN, NULL, &dt);
	s->dt = dt;
	if (r != ANCHOR_OK) {
		token_failed(s, r, "opening the token");
		return;
	}
	token_ok(s);
}

/* Sign a fixed message with the active bundle-signing key. */
static void
token_probe(struct signer *s)
{
	struct anchor_key_row *rows = NULL;
	uint8_t sig[A11_MAX_SIG];
	size_t n = 0, i, siglen = sizeof(sig);
	int r;

	if ((r = anchor_store_keys(s->dt->store, &rows, &n)) != ANCHOR_OK) {
		error_f("reading keys: %s", anchor_store_errmsg(s->dt->store));
		s->next_token_ms = mono_ms() + (int64_t)s->o->probe_interval * 1000;
		goto out;
	}
	for (i = 0; i < n; i++)
		if (rows[i].role == ANCHOR_ROLE_BUNDLE_SIGNING &&
		    rows[i].state == ANCHOR_KEY_ACTIVE)
			break;
	if (i == n) {
		token_failed(s, ANCHOR_E_KEY_NOT_FOUND,
		    "no active bundle-signing key");
		goto out;
	}
	r = a11_sign(s->dt->token, rows[i].ckaid, probe_msg,
	    sizeof(probe_msg) - 1, sig, &siglen);
	if (r != ANCHOR_OK) {
		token_failed(s, r, "token probe");
		goto out;
	}
	token_ok(s);
 out:
	anchor_key_rows_free(rows, n);
}

/* Half of signature_validity has passed, or there is no signature. */
static bool
resign_due(const struct signer *s, int64_t now)
{
	return !s->have_signature ||
	    now >= s->iat + s->conf->signature_validity / 2 || now >= s->exp;
}

/* Same sequence and bytes, new iat/exp, under the writer lock. */
static void
resign(struct signer *s)
{
	struct anchor_bundle_row b;
	int64_t now = anchor_now();
	int lock_fd = -1, r;

	memset(&b, 0, sizeof(b));
	r = anchor_store_lock(s->conf->state_dir, false, &lock_fd);
	if (r == ANCHOR_E_BUSY) {
		s->next_resign_ms = mono_ms() + RESIGN_RETRY_MS;
		goto out;
	}
	if (r != ANCHOR_OK) {
		error_f("writer lock %.200s/lock: %s", s->conf->state_dir,
		    anchor_strerror(r));
		s->next_resign_ms = mono_ms() + RESIGN_FAIL_MS;
		goto out;
	}
	/* Another writer may have signed it while we waited for the lock. */
	if (anchor_store_bundle_latest(s->dt->store, &b) == ANCHOR_OK &&
	    b.jws != NULL && now < b.iat + s->conf->signature_validity / 2 &&
	    now < b.exp) {
		s->refresh = true;
		goto out;
	}
	if ((r = anchor_domain_resign_bundle(s->dt, now)) != ANCHOR_OK) {
		s->signed_fail++;
		s->status_dirty = true;
		if (token_error(r)) {
			token_failed(s, r, "signing the bundle again");
		} else {
			const char *detail = anchor_domain_errdetail(s->dt);

			error_f("signing the bundle again: %s%s%s",
			    anchor_strerror(r), detail ? ": " : "",
			    detail ? detail : "");
			s->next_resign_ms = mono_ms() + RESIGN_FAIL_MS;
		}
		goto out;
	}
	s->signed_ok++;
	s->status_dirty = true;
	if (anchor_domain_checkpoint(s->dt, now) != ANCHOR_OK) {
		const char *detail = anchor_domain_errdetail(s->dt);

		warn_f("audit checkpoint: %s", detail ? detail : "failed");
	}
	info_f("bundle %" PRIu64 " signed again, valid until %" PRId64,
	    s->sequence, now + s->conf->signature_validity);
	s->refresh = true;
 out:
	anchor_bundle_row_clear(&b);
	anchor_store_unlock(lock_fd);
}

static void
svid_request(struct signer *s, const uint8_t *p, size_t len)
{
	struct anchord_reader rd;
	struct anchord_buf b = { 0 };
	const uint8_t *spki = NULL;
	uint8_t *der = NULL;
	size_t spki_len = 0, der_len = 0;
	int64_t nb = 0, na = 0, now_m = mono_ms();
	uint32_t id = 0, retry = 0;
	int r;

	anchord_reader_init(&rd, p, len);
	if (!anchord_get_u32(&rd, &id) ||
	    !anchord_get_bytes(&rd, &spki, &spki_len, 1024) ||
	    !anchord_reader_done(&rd)) {
		error_f("malformed certificate request from the network "
		    "process");
		retry = 60;
		goto fail;
	}
	if (s->conf->endpoint_profile == NULL ||
	    strcmp(s->conf->endpoint_profile, "https_spiffe") != 0 ||
	    s->conf->endpoint_spiffe_id == NULL) {
		error_f("certificate request without profile https_spiffe");
		retry = 60;
		goto fail;
	}
	if (s->dt == NULL || s->tstate != ANCHORD_TOKEN_OK) {
		retry = s->backoff_s ? s->backoff_s : 1;
		goto fail;
	}
	if (s->last_svid_ms != 0 &&
	    now_m - s->last_svid_ms < SVID_MIN_INTERVAL_MS) {
		retry = SVID_MIN_INTERVAL_MS / 1000;
		goto fail;
	}
	r = anchord_svid_issue(s->dt, spki, spki_len,
	    s->conf->endpoint_spiffe_id, anchor_now(), s->o->svid_ttl, &der,
	    &der_len, &nb, &na);
	if (r != ANCHOR_OK) {
		if (token_error(r) && r != ANCHOR_E_KEY_NOT_FOUND)
			token_failed(s, r, "issuing the endpoint certificate");
		else
			error_f("issuing the endpoint certificate for "
			    "%.200s: %s", s->conf->endpoint_spiffe_id,
			    anchor_strerror(r));
		retry = s->backoff_s ? s->backoff_s : 5;
		goto fail;
	}
	s->last_svid_ms = now_m;
	info_f("issued the endpoint certificate for %.200s, valid until %"
	    PRId64, s->conf->endpoint_spiffe_id, na);
	anchord_buf_put_u32(&b, id);
	anchord_buf_put_bytes(&b, der, der_len);
	anchord_buf_put_u64(&b, (uint64_t)nb);
	anchord_buf_put_u64(&b, (uint64_t)na);
	(void)send_msg(s, IPC_SVID, &b);
	goto out;
 fail:
	anchord_buf_put_u32(&b, id);
	anchord_buf_put_u32(&b, retry);
	(void)send_msg(s, IPC_SVID_FAIL, &b);
 out:
	anchord_buf_clear(&b);
	free(der);
}

static bool
same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* SIGHUP: read the configuration again; on any error keep the running one. */
static void
reload(struct signer *s)
{
	struct anchor_conf *nc = NULL;
	struct anchor_domain *nd = NULL;
	char err[512] = "";
	bool reopen;
	int r;

	info_f("reloading %.200s", s->o->config_path);
	if ((r = anchor_conf_load(s->o->config_path, &nc, err,
	    sizeof(err))) != ANCHOR_OK) {
		error_f("reload: %s; keeping the running configuration",
		    err[0] ? err : anchor_strerror(r));
		goto out;
	}
	reopen = !same_str(nc->state_dir, s->conf->state_dir) ||
	    !same_str(nc->trust_domain, s->conf->trust_domain) ||
	    !same_str(nc->pkcs11_module, s->conf->pkcs11_module) ||
	    !same_str(nc->pkcs11_token, s->conf->pkcs11_token) ||
	    !same_str(nc->pin_source, s->conf->pin_source);
	if (reopen) {
		if ((r = anchor_domain_open(nc, 0, NULL, &nd)) != ANCHOR_OK) {
			error_f("reload: %s: %s; keeping the running "
			    "configuration", anchor_domain_errdetail(nd) ?
			    anchor_domain_errdetail(nd) : "state",
			    anchor_strerror(r));
			goto out;
		}
		anchor_domain_close(s->d);
		anchor_domain_close(s->dt);
		s->d = nd;
		s->dt = NULL;
		nd = NULL;
		s->tstate = ANCHORD_TOKEN_STARTING;
		s->sent = false;
	} else {
		s->d->conf = nc;
		if (s->dt != NULL)
			s->dt->conf = nc;
	}
	anchor_conf_free(s->conf);
	s->conf = nc;
	nc = NULL;
	/* A reload is the operator's word that the PIN may be tried again. */
	s->pin_refused = false;
	s->backoff_s = 0;
	if (s->dt == NULL)
		s->next_token_ms = 0;
	(void)push_config(s);
	(void)push_tls_creds(s);
	s->refresh = true;
	s->status_dirty = true;
 out:
	anchor_domain_close(nd);
	anchor_conf_free(nc);
}

/* Returns false when the loop should end (*rc set). */
static bool
handle_messages(struct signer *s, int *rc)
{
	const uint8_t *p;
	uint32_t type;
	size_t len;
	bool eof;
	int r;

	for (;;) {
		r = anchord_ipc_read(&s->in, s->fd, &eof);
		if (eof) {
			debug_f("the network process closed the channel");
			*rc = 0;
			return false;
		}
		if (r != ANCHOR_OK) {
			error_f("channel from the network process: %s",
			    anchor_strerror(r));
			*rc = 1;
			return false;
		}
		if (!anchord_ipc_next(&s->in, &type, &p, &len))
			return true;
		switch (type) {
		case IPC_RELOAD:
			if (len == 0)
				reload(s);
			break;
		case IPC_SVID_REQUEST:
			svid_request(s, p, len);
			break;
		case IPC_TLS_SIGN:
			tls_sign(s, p, len);
			break;
		case IPC_SHUTDOWN:
			anchord_ipc_done(&s->in);
			*rc = 0;
			return false;
		default:
			break;
		}
		anchord_ipc_done(&s->in);
	}
}

static bool
handle_signals(struct signer *s, int *rc)
{
	struct signalfd_siginfo si;
	ssize_t n;

	while ((n = read(s->sigfd, &si, sizeof(si))) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			reload(s);
			break;
		case SIGTERM:
		case SIGINT:
			*rc = 0;
			return false;
		default:
			break;
		}
	}
	return true;
}

static void
tick(struct signer *s)
{
	int64_t dv = 0, now_m = mono_ms();

	if (data_version(s, &dv) == ANCHOR_OK && dv != s->data_version) {
		s->data_version = dv;
		s->refresh = true;
	}
	if (s->refresh) {
		s->refresh = false;
		(void)push_content(s, false);
	}
	if (!s->pin_refused && now_m >= s->next_token_ms) {
		if (s->dt == NULL)
			token_open(s);
		else
			token_probe(s);
	}
	if (s->tls_pending && s->dt != NULL && s->tstate == ANCHORD_TOKEN_OK &&
	    push_token_creds(s) == ANCHOR_E_CONFIG && !s->tk.set)
		s->fatal = true;	/* nothing to serve TLS with */
	if (s->dt != NULL && s->tstate == ANCHORD_TOKEN_OK &&
	    now_m >= s->next_resign_ms && resign_due(s, anchor_now()))
		resign(s);
	if (s->refresh) {
		s->refresh = false;
		(void)push_content(s, false);
	}
	if (s->status_dirty)
		(void)send_status(s);
}

int
anchord_signer_main(const struct anchord_opts *o, struct anchor_conf *conf,
    int fd)
{
	struct signer s;
	struct pollfd pfd[2];
	sigset_t set;
	int rc = 1, r;

	memset(&s, 0, sizeof(s));
	s.o = o;
	s.conf = conf;
	s.fd = fd;
	s.sigfd = -1;
	s.data_version = -1;
	anchord_ipc_in_init(&s.in, IPC_SIDE_SIGNER);

	/* It will hold a PIN and a logged-in session. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if ((s.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		error_f("signalfd: %s", strerror(errno));
		goto out;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		error_f("channel: %s", strerror(errno));
		goto out;
	}
	if ((r = anchor_domain_open(s.conf, 0, NULL, &s.d)) != ANCHOR_OK) {
		const char *detail = anchor_domain_errdetail(s.d);

		error_f("%s: %s", detail ? detail : "state",
		    anchor_strerror(r));
		goto out;
	}
	/* A TLS key in the token: open it now, to refuse a bad key at start. */
	if (s.conf->key != NULL && strncmp(s.conf->key, "pkcs11:", 7) == 0 &&
	    s.conf->endpoint_profile != NULL &&
	    strcmp(s.conf->endpoint_profile, "https_web") == 0)
		token_open(&s);
	if (push_tls_creds(&s) != ANCHOR_OK)
		goto out;
	s.refresh = true;
	s.status_dirty = true;

	for (;;) {
		tick(&s);
		if (s.fatal)
			goto out;
		pfd[0].fd = s.fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = s.sigfd;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, POLL_MS) < 0 && errno != EINTR) {
			error_f("poll: %s", strerror(errno));
			goto out;
		}
		if (pfd[1].revents != 0 && !handle_signals(&s, &rc))
			goto out;
		if (pfd[0].revents != 0 && !handle_messages(&s, &rc))
			goto out;
	}
 out:
	anchord_ipc_in_clear(&s.in);
	anchor_domain_close(s.dt);
	anchor_domain_close(s.d);
	anchor_conf_free(s.conf);
	if (s.sigfd >= 0)
		close(s.sigfd);
	return rc;
}
