/*
 * anchord's TLS credentials: generations handed to GnuTLS by callback.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tls.h"
#include "tlskey.h"

#define MAX_CHAIN	8
#define MAX_EPOCHS	64

struct gen {
	gnutls_pcert_st pcerts[MAX_CHAIN];
	unsigned npcerts;
	gnutls_privkey_t key;
	uint64_t epoch;
	struct gen *next;		/* retired list */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct gen *current;
static struct gen *retired;
static uint64_t epoch = 1;		/* of the next generation installed */
/* Open connections by the epoch that was current when they started. */
static struct {
	uint64_t epoch;
	unsigned count;
} open_conns[MAX_EPOCHS];
static gnutls_privkey_t pending;	/* https_spiffe key awaiting its certificate */

static void
gen_free(struct gen *g)
{
	unsigned i;

	if (g == NULL)
		return;
	for (i = 0; i < g->npcerts; i++)
		gnutls_pcert_deinit(&g->pcerts[i]);
	if (g->key != NULL)
		gnutls_privkey_deinit(g->key);
	free(g);
}

int
anchord_tls_init(void)
{
	return gnutls_global_init() == GNUTLS_E_SUCCESS ? ANCHOR_OK :
	    ANCHOR_E_CRYPTO;
}

void
anchord_tls_free(void)
{
	struct gen *g;

	pthread_mutex_lock(&lock);
	gen_free(current);
	current = NULL;
	while ((g = retired) != NULL) {
		retired = g->next;
		gen_free(g);
	}
	if (pending != NULL)
		gnutls_privkey_deinit(pending);
	pending = NULL;
	pthread_mutex_unlock(&lock);
	gnutls_global_deinit();
}

bool
anchord_tls_ready(void)
{
	bool ready;

	pthread_mutex_lock(&lock);
	ready = current != NULL;
	pthread_mutex_unlock(&lock);
	return ready;
}

static void
install(struct gen *g)
{
	pthread_mutex_lock(&lock);
	g->epoch = epoch++;
	if (current != NULL) {
		current->next = retired;
		retired = current;
	}
	current = g;
	pthread_mutex_unlock(&lock);
	anchord_tls_gc();
}

void
anchord_tls_gc(void)
{
	struct gen **pp, *g;
	uint64_t oldest = UINT64_MAX;
	unsigned i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < MAX_EPOCHS; i++)
		if (open_conns[i].count > 0 && open_conns[i].epoch < oldest)
			oldest = open_conns[i].epoch;
	/* A connection that started under epoch e took generation e or a
	 * later one; a generation older than every such e is unused. */
	for (pp = &retired; (g = *pp) != NULL;) {
		if (g->epoch < oldest) {
			*pp = g->next;
			gen_free(g);
		} else {
			pp = &g->next;
		}
	}
	pthread_mutex_unlock(&lock);
}

void
anchord_tls_conn_started(void **socket_context)
{
	uint64_t e;
	unsigned i, slot = MAX_EPOCHS;

	pthread_mutex_lock(&lock);
	e = current != NULL ? current->epoch : epoch;
	for (i = 0; i < MAX_EPOCHS; i++) {
		if (open_conns[i].count > 0 && open_conns[i].epoch == e) {
			slot = i;
			break;
		}
		if (open_conns[i].count == 0 && slot == MAX_EPOCHS)
			slot = i;
	}
	if (slot == MAX_EPOCHS) {
		/* No room: count it under the oldest epoch, which only keeps
		 * old generations longer. */
		slot = 0;
		for (i = 1; i < MAX_EPOCHS; i++)
			if (open_conns[i].epoch < open_conns[slot].epoch)
				slot = i;
		e = open_conns[slot].epoch;
	}
	open_conns[slot].epoch = e;
	open_conns[slot].count++;
	*socket_context = (void *)(uintptr_t)e;
	pthread_mutex_unlock(&lock);
}

void
anchord_tls_conn_closed(void *socket_context)
{
	uint64_t e = (uint64_t)(uintptr_t)socket_context;
	unsigned i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < MAX_EPOCHS; i++) {
		if (open_conns[i].count > 0 && open_conns[i].epoch == e) {
			open_conns[i].count--;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
}

int
anchord_tls_cert_cb(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn,
    int nreqs, const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
    gnutls_pcert_st **pcert, unsigned int *pcert_length,
    gnutls_privkey_t *privkey)
{
	int r = -1;

	(void)session;
	(void)req_ca_rdn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	pthread_mutex_lock(&lock);
	if (current != NULL) {
		*pcert = current->pcerts;
		*pcert_length = current->npcerts;
		*privkey = current->key;
		r = 0;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

/* The DER SubjectPublicKeyInfo of a public key; gnutls_free() it. */
static int
spki_of(gnutls_pubkey_t pub, gnutls_datum_t *out)
{
	return gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, out) == 0 ?
	    ANCHOR_OK : ANCHOR_E_CRYPTO;
}

/* Does the leaf certificate carry the public key of key? */
static bool
key_matches(const gnutls_pcert_st *leaf, gnutls_privkey_t key)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t a = { NULL, 0 }, b = { NULL, 0 };
	bool ok = false;

	if (gnutls_pubkey_init(&pub) != 0)
		return false;
	if (gnutls_pubkey_import_privkey(pub, key, 0, 0) != 0)
		goto out;
	if (spki_of(pub, &a) != ANCHOR_OK || spki_of(leaf->pubkey, &b) != ANCHOR_OK)
		goto out;
	ok = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
 out:
	gnutls_free(a.data);
	gnutls_free(b.data);
	gnutls_pubkey_deinit(pub);
	return ok;
}

int
anchord_tls_set_pem(const uint8_t *cert, size_t cert_len, const uint8_t *key,
    size_t key_len, char *err, size_t errlen)
{
	struct gen *g = NULL;
	gnutls_datum_t cd, kd;
	int rc, r = ANCHOR_E_CRYPTO;

	if (cert_len > UINT32_MAX || key_len > UINT32_MAX)
		return ANCHOR_E_INVAL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return ANCHOR_E_NOMEM;
	cd.data = (unsigned char *)cert;
	cd.size = (unsigned)cert_len;
	kd.data = (unsigned char *)key;
	kd.size = (unsigned)key_len;
	g->npcerts = MAX_CHAIN;
	if ((rc = gnutls_pcert_list_import_x509_raw(g->pcerts, &g->npcerts, &cd,
	    GNUTLS_X509_FMT_PEM, 0)) < 0) {
		g->npcerts = 0;
		snprintf(err, errlen, "certificate chain: %s",
		    gnutls_strerror(rc));
		goto out;
	}
	if (g->npcerts == 0) {
		snprintf(err, errlen, "certificate chain: no certificate");
		goto out;
	}
	if ((rc = gnutls_privkey_init(&g->key)) < 0 ||
	    (rc = gnutls_privkey_import_x509_raw(g->key, &kd,
	    GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		snprintf(err, errlen, "private key: %s", gnutls_strerror(rc));
		goto out;
	}
	if (!key_matches(&g->pcerts[0], g->key)) {
		snprintf(err, errlen, "the private key does not belong to the "
		    "first certificate");
		goto out;
	}
	install(g);
	g = NULL;
	r = ANCHOR_OK;
 out:
	gen_free(g);
	return r;
}

int
anchord_tls_set_token(const uint8_t *cert, size_t cert_len,
    const uint8_t *spki, size_t spki_len, char *err, size_t errlen)
{
	struct gen *g = NULL;
	gnutls_datum_t cd, leaf = { NULL, 0 };
	unsigned bits = 0;
	int rc, r = ANCHOR_E_CRYPTO;

	if (cert_len > UINT32_MAX)
		return ANCHOR_E_INVAL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return ANCHOR_E_NOMEM;
	cd.data = (unsigned char *)cert;
	cd.size = (unsigned)cert_len;
	g->npcerts = MAX_CHAIN;
	if ((rc = gnutls_pcert_list_import_x509_raw(g->pcerts, &g->npcerts, &cd,
	    GNUTLS_X509_FMT_PEM, 0)) < 0) {
		g->npcerts = 0;
		snprintf(err, errlen, "certificate chain: %s",
		    gnutls_strerror(rc));
		goto out;
	}
	if (g->npcerts == 0) {
		snprintf(err, errlen, "certificate chain: no certificate");
		goto out;
	}
	/* The signer compared them already; a second look costs nothing. */
	if (spki_of(g->pcerts[0].pubkey, &leaf) != ANCHOR_OK ||
	    leaf.size != spki_len || memcmp(leaf.data, spki, spki_len) != 0) {
		snprintf(err, errlen, "the token key does not belong to the "
		    "first certificate");
		goto out;
	}
	if (gnutls_pubkey_get_pk_algorithm(g->pcerts[0].pubkey, &bits) !=
	    GNUTLS_PK_ECDSA || (bits != 256 && bits != 384)) {
		snprintf(err, errlen, "the token key is not EC P-256 or P-384");
		r = ANCHOR_E_UNSUPPORTED;
		goto out;
	}
	if ((r = anchord_tlskey_new(bits, &g->key)) != ANCHOR_OK) {
		snprintf(err, errlen, "external key: %s", anchor_strerror(r));
		goto out;
	}
	install(g);
	g = NULL;
	r = ANCHOR_OK;
 out:
	gnutls_free(leaf.data);
	gen_free(g);
	return r;
}

int
anchord_tls_new_key(uint8_t **spki, size_t *spki_len)
{
	gnutls_privkey_t key = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t d = { NULL, 0 };
	uint8_t *copy = NULL;
	int r = ANCHOR_E_CRYPTO;

	*spki = NULL;
	*spki_len = 0;
	if (gnutls_privkey_init(&key) != 0)
		goto out;
	if (gnutls_privkey_generate2(key, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, NULL, 0) != 0)
		goto out;
	if (gnutls_pubkey_init(&pub) != 0 ||
	    gnutls_pubkey_import_privkey(pub, key, 0, 0) != 0 ||
	    spki_of(pub, &d) != ANCHOR_OK)
		goto out;
	if ((copy = malloc(d.size)) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	memcpy(copy, d.data, d.size);
	pthread_mutex_lock(&lock);
	if (pending != NULL)
		gnutls_privkey_deinit(pending);
	pending = key;
	key = NULL;
	pthread_mutex_unlock(&lock);
	*spki = copy;
	*spki_len = d.size;
	copy = NULL;
	r = ANCHOR_OK;
 out:
	free(copy);
	gnutls_free(d.data);
	if (pub != NULL)
		gnutls_pubkey_deinit(pub);
	if (key != NULL)
		gnutls_privkey_deinit(key);
	return r;
}

int
anchord_tls_set_svid(const uint8_t *der, size_t der_len, char *err,
    size_t errlen)
{
	struct gen *g = NULL;
	gnutls_datum_t d;
	int rc, r = ANCHOR_E_CRYPTO;

	if (der_len > UINT32_MAX)
		return ANCHOR_E_INVAL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return ANCHOR_E_NOMEM;
	d.data = (unsigned char *)der;
	d.size = (unsigned)der_len;
	if ((rc = gnutls_pcert_import_x509_raw(&g->pcerts[0], &d,
	    GNUTLS_X509_FMT_DER, 0)) < 0) {
		snprintf(err, errlen, "certificate: %s", gnutls_strerror(rc));
		goto out;
	}
	g->npcerts = 1;
	pthread_mutex_lock(&lock);
	if (pending == NULL || !key_matches(&g->pcerts[0], pending)) {
		pthread_mutex_unlock(&lock);
		snprintf(err, errlen, "the certificate is not for the pending key");
		goto out;
	}
	g->key = pending;
	pending = NULL;
	pthread_mutex_unlock(&lock);
	install(g);
	g = NULL;
	r = ANCHOR_OK;
 out:
	gen_free(g);
	return r;
}
