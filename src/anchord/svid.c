/*
 * The endpoint's X509-SVID, issued in the signer process by the active
 * x509-ca key for an ephemeral key that the network process generated.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "anchord.h"
#include "domain.h"
#include "error.h"

/* Clocks of relying parties may run a little behind. */
#define SVID_BACKDATE 60

bool
anchord_spiffe_id_in(const char *id, const char *td)
{
	size_t n = strlen("spiffe://"), tl = strlen(td), seg = 0, i;
	const char *path;

	if (strlen(id) > 2048 || strncmp(id, "spiffe://", n) != 0 ||
	    strncmp(id + n, td, tl) != 0)
		return false;
	path = id + n + tl;
	/* SPIFFE ID §2.2: "/" segments of [A-Za-z0-9._-], none empty, "." or "..". */
	if (path[0] != '/')
		return false;
	for (i = 1;; i++) {
		unsigned char ch = (unsigned char)path[i];

		if (ch == '/' || ch == '\0') {
			if (seg == 0 || (seg == 1 && path[i - 1] == '.') ||
			    (seg == 2 && path[i - 1] == '.' && path[i - 2] == '.'))
				return false;
			if (ch == '\0')
				return true;
			seg = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
		    ch == '_'))
			return false;
		seg++;
	}
}

/* The public key of a request: EC P-256 or P-384, DER re-encodes exactly. */
static int
parse_spki(const uint8_t *spki, size_t len, EVP_PKEY **out)
{
	const unsigned char *p = spki;
	unsigned char *again = NULL;
	EVP_PKEY *pk = NULL;
	char group[32];
	size_t glen = 0;
	int n, r = ANCHOR_E_INVAL;

	*out = NULL;
	if (len == 0 || len > 1024)
		goto out;
	if ((pk = d2i_PUBKEY(NULL, &p, (long)len)) == NULL ||
	    p != spki + len)
		goto out;
	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
	    !EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof(group),
	    &glen) ||
	    (strcmp(group, "prime256v1") != 0 && strcmp(group, "secp384r1") != 0))
		goto out;
	if ((n = i2d_PUBKEY(pk, &again)) <= 0 || (size_t)n != len ||
	    memcmp(again, spki, len) != 0)
		goto out;
	*out = pk;
	pk = NULL;
	r = ANCHOR_OK;
 out:
	OPENSSL_free(again);
	EVP_PKEY_free(pk);
	return r;
}

static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return ANCHOR_E_CRYPTO;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? ANCHOR_OK : ANCHOR_E_CRYPTO;
}

static int
add_names(X509_NAME *name, const char *field, char **values)
{
	size_t i;

	for (i = 0; values != NULL && values[i] != NULL; i++)
		if (!X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
		    (const unsigned char *)values[i], -1, -1, 0))
			return ANCHOR_E_CRYPTO;
	return ANCHOR_OK;
}

/* UNIX seconds of an ASN1_TIME. */
static int
asn1_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!ASN1_TIME_to_tm(t, &tm))
		return ANCHOR_E_CRYPTO;
	*out = (int64_t)timegm(&tm);
	return ANCHOR_OK;
}

int
anchord_svid_issue(struct anchor_domain *d, const uint8_t *spki,
    size_t spki_len, const char *spiffe_id, int64_t now, int64_t ttl,
    uint8_t **der, size_t *der_len, int64_t *not_before, int64_t *not_after)
{
	const struct anchor_conf *c = d->conf;
	struct anchor_key_row *rows = NULL;
	const struct anchor_key_row *ca = NULL;
	EVP_PKEY *pub = NULL, *ca_pub = NULL;
	X509 *x = NULL, *cacert = NULL;
	X509_NAME *name = NULL;
	BIGNUM *bn = NULL;
	ASN1_INTEGER *sn = NULL;
	const unsigned char *cp;
	unsigned char *p = NULL;
	uint8_t rnd[16];
	char *san = NULL;
	size_t nrows = 0, i;
	int64_t nb, na, ca_na;
	int len, r = ANCHOR_E_INTERNAL;

	*der = NULL;
	*der_len = 0;
	if (!anchord_spiffe_id_in(spiffe_id, c->trust_domain) || ttl <= 0)
		return ANCHOR_E_CONFIG;
	if ((r = parse_spki(spki, spki_len, &pub)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_store_keys(d->store, &rows, &nrows)) != ANCHOR_OK)
		goto out;
	for (i = 0; i < nrows; i++)
		if (rows[i].role == ANCHOR_ROLE_X509_CA &&
		    rows[i].state == ANCHOR_KEY_ACTIVE && rows[i].cert_der != NULL)
			ca = &rows[i];
	if (ca == NULL) {
		r = ANCHOR_E_KEY_NOT_FOUND;
		goto out;
	}
	r = ANCHOR_E_CRYPTO;
	cp = ca->cert_der;
	if ((cacert = d2i_X509(NULL, &cp, (long)ca->cert_len)) == NULL ||
	    (ca_pub = X509_get_pubkey(cacert)) == NULL)
		goto out;
	if ((r = asn1_unix(X509_get0_notAfter(cacert), &ca_na)) != ANCHOR_OK)
		goto out;
	r = ANCHOR_E_CRYPTO;
	nb = now - SVID_BACKDATE;
	na = now + ttl;
	if (na > ca_na)
		na = ca_na;
	if (na <= now) {
		r = ANCHOR_E_KEY_NOT_FOUND;	/* the CA certificate is expiring */
		goto out;
	}

	if ((x = X509_new()) == NULL || (name = X509_NAME_new()) == NULL ||
	    !X509_set_version(x, X509_VERSION_3))
		goto out;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		goto out;
	rnd[0] &= 0x7f;
	rnd[0] |= 0x40;
	if ((bn = BN_bin2bn(rnd, sizeof(rnd), NULL)) == NULL ||
	    (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    !X509_set_serialNumber(x, sn))
		goto out;
	if (X509_time_adj_ex(X509_getm_notBefore(x), 0, 0,
	    &(time_t){ (time_t)nb }) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), 0, 0,
	    &(time_t){ (time_t)na }) == NULL)
		goto out;
	/* Like SPIRE's SVIDs: country and organization, no common name. */
	if ((r = add_names(name, "C", c->subj_country)) != ANCHOR_OK ||
	    (r = add_names(name, "O", c->subj_organization)) != ANCHOR_OK)
		goto out;
	r = ANCHOR_E_CRYPTO;
	if (!X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(cacert)) ||
	    !X509_set_pubkey(x, pub))
		goto out;
	/* An empty subject makes the SAN critical (RFC 5280 §4.2.1.6). */
	if (asprintf(&san, "%sURI:%s", X509_NAME_entry_count(name) == 0 ?
	    "critical," : "", spiffe_id) < 0) {
		san = NULL;
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	/* Exactly one URI SAN; DNS names beside it let ordinary TLS clients
	 * (curl --cacert) check the host as well (X509-SVID §2). */
	for (i = 0; c->endpoint_dns_names != NULL &&
	    c->endpoint_dns_names[i] != NULL; i++) {
		char *more;

		if (asprintf(&more, "%s,DNS:%s", san, c->endpoint_dns_names[i]) < 0) {
			r = ANCHOR_E_NOMEM;
			goto out;
		}
		free(san);
		san = more;
	}
	if ((r = add_ext(x, cacert, NID_basic_constraints,
	    "critical,CA:FALSE")) != ANCHOR_OK ||
	    (r = add_ext(x, cacert, NID_key_usage,
	    "critical,digitalSignature")) != ANCHOR_OK ||
	    (r = add_ext(x, cacert, NID_ext_key_usage,
	    "serverAuth,clientAuth")) != ANCHOR_OK ||
	    (r = add_ext(x, cacert, NID_subject_key_identifier,
	    "hash")) != ANCHOR_OK ||
	    (r = add_ext(x, cacert, NID_authority_key_identifier,
	    "keyid:always")) != ANCHOR_OK ||
	    (r = add_ext(x, cacert, NID_subject_alt_name, san)) != ANCHOR_OK)
		goto out;
	if ((r = a11_sign_x509(d->token, ca->ckaid, x)) != ANCHOR_OK)
		goto out;
	/* What the token returned must verify under the CA certificate. */
	r = ANCHOR_E_CRYPTO;
	if (X509_verify(x, ca_pub) != 1)
		goto out;
	if ((len = i2d_X509(x, &p)) <= 0)
		goto out;
	*der = p;
	*der_len = (size_t)len;
	p = NULL;
	*not_before = nb;
	*not_after = na;
	r = ANCHOR_OK;
 out:
	free(san);
	OPENSSL_free(p);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	X509_NAME_free(name);
	X509_free(x);
	X509_free(cacert);
	EVP_PKEY_free(ca_pub);
	EVP_PKEY_free(pub);
	anchor_key_rows_free(rows, nrows);
	return r;
}
