#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>

#include "domain.h"
#include "error.h"
#include "jose.h"
#include "transcript.h"
#include "util.h"

#define TRANSCRIPT_FORMAT "anchor-ceremony-transcript/1"
#define TRANSCRIPT_MAX (4 * 1024 * 1024)

struct anchor_transcript {
	json_t *root;
	json_t *entries;		/* borrowed from root */
	uint8_t head[32];
	int64_t n;
};

static int
verr(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
verr(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return r;
}

int
anchor_transcript_new(const char *trust_domain, struct anchor_transcript **out)
{
	struct anchor_transcript *t;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return ANCHOR_E_NOMEM;
	t->root = json_pack("{s:s, s:s, s:[]}", "format", TRANSCRIPT_FORMAT,
	    "trust_domain", trust_domain, "entries");
	if (t->root == NULL) {
		free(t);
		return ANCHOR_E_NOMEM;
	}
	t->entries = json_object_get(t->root, "entries");
	*out = t;
	return ANCHOR_OK;
}

void
anchor_transcript_free(struct anchor_transcript *t)
{
	if (t == NULL)
		return;
	json_decref(t->root);
	free(t);
}

/* SHA-256(prev || canonical {n, ts, step, detail}). */
static int
link_hash(const uint8_t prev[32], json_int_t n, json_int_t ts, const char *step,
    json_t *detail, uint8_t out[32])
{
	json_t *rec;
	char *text = NULL;
	EVP_MD_CTX *md = NULL;
	int r = ANCHOR_E_NOMEM;

	rec = json_pack("{s:I, s:I, s:s, s:O}", "n", n, "ts", ts, "step", step,
	    "detail", detail);
	if (rec == NULL ||
	    (text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		goto out;
	r = ANCHOR_E_CRYPTO;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, prev, 32) != 1 ||
	    EVP_DigestUpdate(md, text, strlen(text)) != 1 ||
	    EVP_DigestFinal_ex(md, out, NULL) != 1)
		goto out;
	r = ANCHOR_OK;
 out:
	EVP_MD_CTX_free(md);
	free(text);
	json_decref(rec);
	return r;
}

int
anchor_transcript_add(struct anchor_transcript *t, int64_t ts, const char *step,
    json_t *detail)
{
	uint8_t hash[32];
	char prevhex[65], hashhex[65];
	json_t *entry;
	int r;

	if (detail == NULL && (detail = json_object()) == NULL)
		return ANCHOR_E_NOMEM;
	if ((r = link_hash(t->head, t->n + 1, ts, step, detail, hash)) != ANCHOR_OK)
		goto out;
	anchor_hex(t->head, 32, prevhex);
	anchor_hex(hash, 32, hashhex);
	entry = json_pack("{s:I, s:I, s:s, s:O, s:s, s:s}", "n",
	    (json_int_t)(t->n + 1), "ts", (json_int_t)ts, "step", step,
	    "detail", detail, "prev", prevhex, "hash", hashhex);
	if (entry == NULL || json_array_append_new(t->entries, entry) != 0) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	memcpy(t->head, hash, 32);
	t->n++;
	r = ANCHOR_OK;
 out:
	json_decref(detail);
	return r;
}

void
anchor_transcript_head(const struct anchor_transcript *t, uint8_t hash[32])
{
	memcpy(hash, t->head, 32);
}

int
anchor_transcript_seal(struct anchor_transcript *t, const char *kid,
    const char *alg, const char *jwk, const uint8_t *sig, size_t siglen,
    const uint8_t *signers_payload, size_t payload_len)
{
	char *sigb64 = NULL, *payb64 = NULL, fp[80];
	json_t *jwkj = NULL, *seal = NULL;
	int r;

	if ((r = anchor_b64url_encode(sig, siglen, &sigb64)) != ANCHOR_OK ||
	    (r = anchor_b64url_encode(signers_payload, payload_len,
	    &payb64)) != ANCHOR_OK)
		goto out;
	r = ANCHOR_E_INVAL;
	if ((jwkj = json_loads(jwk, 0, NULL)) == NULL)
		goto out;
	anchor_fingerprint(signers_payload, payload_len, fp);
	seal = json_pack("{s:s, s:s, s:O, s:s, s:s, s:s}", "kid", kid, "alg",
	    alg, "jwk", jwkj, "signature", sigb64, "signers_payload", payb64,
	    "fingerprint", fp);
	r = ANCHOR_E_NOMEM;
	if (seal == NULL || json_object_set_new(t->root, "seal", seal) != 0)
		goto out;
	seal = NULL;
	r = ANCHOR_OK;
 out:
	json_decref(seal);
	json_decref(jwkj);
	free(sigb64);
	free(payb64);
	return r;
}

int
anchor_transcript_write(const struct anchor_transcript *t, const char *path)
{
	char *text;
	int r;

	if ((text = json_dumps(t->root, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) == NULL)
		return ANCHOR_E_NOMEM;
	r = anchor_write_atomic(path, text, strlen(text), 0644);
	free(text);
	return r;
}



static void
normalize_fp(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *in && o + 1 < outlen; in++)
		if (!isspace((unsigned char)*in))
			out[o++] = (char)tolower((unsigned char)*in);
	out[o] = '\0';
}

static bool
payload_lists_kid(const uint8_t *payload, size_t len, const char *td,
    const char *kid)
{
	json_t *root, *k;
	size_t i;
	bool found = false;
	const char *ptd;

	root = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, NULL);
	ptd = json_string_value(json_object_get(root, "spiffe_trust_domain"));
	if (ptd == NULL || strcmp(ptd, td) != 0) {
		json_decref(root);
		return false;
	}
	json_array_foreach(json_object_get(root, "keys"), i, k) {
		const char *v = json_string_value(json_object_get(k, "kid"));

		if (v != NULL && strcmp(v, kid) == 0)
			found = true;
	}
	json_decref(root);
	return found;
}

int
anchor_transcript_verify(const uint8_t *buf, size_t len, const char *expect_fp,
    char fp[80], char *err, size_t errlen)
{
	json_t *root = NULL, *entries, *e, *seal, *detail;
	json_error_t jerr;
	uint8_t prev[32], hash[32], stored[32], *sig = NULL, *payload = NULL;
	size_t i, siglen = 0, paylen = 0;
	const char *td, *step, *kid, *alg, *sigs, *pays, *sealfp;
	char thumb[ANCHOR_KID_LEN + 1], a[80], b[80];
	EVP_PKEY *pk = NULL;
	int r = ANCHOR_E_TAMPERED;

	fp[0] = '\0';
	if (len > TRANSCRIPT_MAX) {
		r = verr(err, errlen, ANCHOR_E_INVAL, "transcript larger than %d bytes",
		    TRANSCRIPT_MAX);
		goto out;
	}
	root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		r = verr(err, errlen, ANCHOR_E_INVAL, "not valid JSON: line %d: %s",
		    jerr.line, jerr.text);
		goto out;
	}
	td = json_string_value(json_object_get(root, "trust_domain"));
	entries = json_object_get(root, "entries");
	if (json_object_get(root, "format") == NULL ||
	    strcmp(json_string_value(json_object_get(root, "format")) ?
	    json_string_value(json_object_get(root, "format")) : "",
	    TRANSCRIPT_FORMAT) != 0 || td == NULL || !json_is_array(entries) ||
	    json_array_size(entries) == 0) {
		r = verr(err, errlen, ANCHOR_E_INVAL,
		    "not an anchor ceremony transcript (format, trust_domain, entries)");
		goto out;
	}
	memset(prev, 0, sizeof(prev));
	json_array_foreach(entries, i, e) {
		json_t *n = json_object_get(e, "n"), *ts = json_object_get(e, "ts");
		const char *ph = json_string_value(json_object_get(e, "prev"));
		const char *hh = json_string_value(json_object_get(e, "hash"));

		step = json_string_value(json_object_get(e, "step"));
		detail = json_object_get(e, "detail");
		if (!json_is_integer(n) || json_integer_value(n) != (json_int_t)i + 1 ||
		    !json_is_integer(ts) || step == NULL || !json_is_object(detail) ||
		    ph == NULL || hh == NULL || json_object_size(e) != 6) {
			r = verr(err, errlen, ANCHOR_E_TAMPERED,
			    "entry %zu: malformed or out of order", i + 1);
			goto out;
		}
		if (anchor_unhex(ph, stored, 32) != ANCHOR_OK ||
		    memcmp(stored, prev, 32) != 0) {
			r = verr(err, errlen, ANCHOR_E_TAMPERED,
			    "entry %zu: prev does not match the hash of entry %zu",
			    i + 1, i);
			goto out;
		}
		if ((r = link_hash(prev, json_integer_value(n),
		    json_integer_value(ts), step, detail, hash)) != ANCHOR_OK)
			goto out;
		if (anchor_unhex(hh, stored, 32) != ANCHOR_OK ||
		    memcmp(stored, hash, 32) != 0) {
			r = verr(err, errlen, ANCHOR_E_TAMPERED,
			    "entry %zu (%.60s): hash does not match its content",
			    i + 1, step);
			goto out;
		}
		memcpy(prev, hash, 32);
	}
	seal = json_object_get(root, "seal");
	kid = json_string_value(json_object_get(seal, "kid"));
	alg = json_string_value(json_object_get(seal, "alg"));
	sigs = json_string_value(json_object_get(seal, "signature"));
	pays = json_string_value(json_object_get(seal, "signers_payload"));
	sealfp = json_string_value(json_object_get(seal, "fingerprint"));
	if (kid == NULL || alg == NULL || sigs == NULL || pays == NULL ||
	    sealfp == NULL || (strcmp(alg, "ES256") != 0 && strcmp(alg, "ES384") != 0)) {
		r = verr(err, errlen, ANCHOR_E_TAMPERED, "seal missing or malformed");
		goto out;
	}
	if (anchor_jwk_ec_public(json_string_value(json_object_get(json_object_get(seal, "jwk"), "kty")),
	    json_string_value(json_object_get(json_object_get(seal, "jwk"), "crv")),
	    json_string_value(json_object_get(json_object_get(seal, "jwk"), "x")),
	    json_string_value(json_object_get(json_object_get(seal, "jwk"), "y")), &pk) != ANCHOR_OK ||
	    anchor_jwk_thumbprint(pk, thumb) != ANCHOR_OK ||
	    strcmp(thumb, kid) != 0) {
		r = verr(err, errlen, ANCHOR_E_TAMPERED,
		    "seal: the key does not match its kid");
		goto out;
	}
	if (anchor_b64url_decode(sigs, strlen(sigs), &sig, &siglen) != ANCHOR_OK ||
	    anchor_b64url_decode(pays, strlen(pays), &payload, &paylen) != ANCHOR_OK) {
		r = verr(err, errlen, ANCHOR_E_TAMPERED, "seal: bad base64url");
		goto out;
	}
	if (anchor_verify_raw(pk, alg, prev, sizeof(prev), sig, siglen) != ANCHOR_OK) {
		r = verr(err, errlen, ANCHOR_E_TAMPERED,
		    "seal: the signature over the last entry does not verify");
		goto out;
	}
	if (!payload_lists_kid(payload, paylen, td, kid)) {
		r = verr(err, errlen, ANCHOR_E_TAMPERED,
		    "seal: the sealing key is not in the embedded signer set of %.100s",
		    td);
		goto out;
	}
	anchor_fingerprint(payload, paylen, fp);
	if (strcmp(fp, sealfp) != 0) {
		r = verr(err, errlen, ANCHOR_E_TAMPERED,
		    "seal: fingerprint does not match the signer set");
		goto out;
	}
	if (expect_fp != NULL) {
		normalize_fp(expect_fp, a, sizeof(a));
		normalize_fp(fp, b, sizeof(b));
		if (strcmp(a, b) != 0) {
			r = verr(err, errlen, ANCHOR_E_TAMPERED,
			    "fingerprint differs from the one expected");
			goto out;
		}
	}
	r = ANCHOR_OK;
 out:
	EVP_PKEY_free(pk);
	free(sig);
	free(payload);
	json_decref(root);
	return r;
}
