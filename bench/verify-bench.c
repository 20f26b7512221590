/*
 * bench/verify-bench: verifications per second of signed bundles (F2)
 * through libanchor-verify's public API (DESIGN.md §11, P3 and P7).  Built
 * and run by bench/verify, which compares the numbers with `openssl speed`.
 *
 * The inputs are made with src/jose.c, the producer anchord uses, and
 * software keys (all P-256):
 *   - the signer set: version 1, threshold 1, one key, pinned;
 *   - a bundle of N authorities: N/2 x509-svid entries, each a self-signed
 *     CA certificate the way a SPIFFE CA looks (CA:TRUE, keyCertSign and
 *     cRLSign, a subject key identifier, a spiffe:// URI SAN), and N - N/2
 *     jwt-svid entries (kid = thumbprint);
 *   - the F2 envelope: one ES256 signature.
 *
 * usage: verify-bench [-t SECONDS] MODE KEYS
 *   cold    every verification against a state that holds no bundle: the
 *           whole payload is validated each time
 *   steady  a relying party's refresh: the same payload re-signed (same
 *           sequence, new iat and exp, new signature) against the state the
 *           previous verification returned
 *   load    steady, but the state is read from its saved JSON before each
 *           verification and saved after it (anchor-verify's case)
 *   ref     no bundle: EVP_PKEY_verify() of one P-256 signature over a
 *           digest with one context, the loop `openssl speed ecdsap256`
 *           times
 *   interleaved
 *           ref, cold and steady in turns of SECONDS / 15 each, 15 turns:
 *           noise on a shared machine hits the three alike
 *   dump    write the inputs to signers.jws and bundle.jws in the current
 *           directory, and exit
 *
 * Rates are per second of the process's CPU time, as `openssl speed`
 * counts them; each measurement runs for SECONDS of wall time.  Output,
 * one line: MODE keys=N payload=BYTES envelope=BYTES runs=R seconds=WALL
 * cpu_seconds=CPU per_s=V us=U wall_per_s=V; for interleaved:
 * interleaved keys=N payload=BYTES envelope=BYTES ref_per_s=V
 * cold_per_s=V steady_per_s=V.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "anchor/verify.h"
#include "error.h"
#include "jose.h"

#define TD	"bench.example.com"
#define T0	1767225600
#define DAY	86400
#define NRESIGN	64		/* distinct re-signed envelopes for steady */

static void
die(const char *what)
{
	fprintf(stderr, "verify-bench: %s\n", what);
	exit(1);
}

static double
clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall time: how long to run. */
static double
now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/*
 * The process's CPU time (user and system): what a rate is counted in.
 * `openssl speed` divides by its user CPU time too (unless -elapsed), so
 * time lost to other processes counts against neither side.
 */
static double
cpu_s(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static int
soft_sign(void *arg, const char *kid, const uint8_t *msg, size_t msglen,
    uint8_t *sig, size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t der[128];
	size_t derlen = sizeof(der);
	const unsigned char *p = der;
	ECDSA_SIG *es = NULL;
	const BIGNUM *r, *s;
	int ok;

	(void)kid;
	ok = ctx != NULL && *siglen >= 64 &&
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, arg) == 1 &&
	    EVP_DigestSign(ctx, der, &derlen, msg, msglen) == 1 &&
	    (es = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) != NULL;
	if (ok) {
		ECDSA_SIG_get0(es, &r, &s);
		ok = BN_bn2binpad(r, sig, 32) == 32 &&
		    BN_bn2binpad(s, sig + 32, 32) == 32;
		*siglen = 64;
	}
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(ctx);
	return ok ? ANCHOR_OK : ANCHOR_E_CRYPTO;
}

static void
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL ||
	    !X509_add_ext(x, e, -1))
		die("certificate extension");
	X509_EXTENSION_free(e);
}

/* A self-signed CA certificate for k, DER. */
static uint8_t *
ca_cert(EVP_PKEY *k, long serial, size_t *len)
{
	X509 *x = X509_new();
	X509_NAME *n;
	unsigned char *der = NULL;
	uint8_t *out;
	int l;

	if (x == NULL)
		die("X509_new");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * DAY);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC,
	    (const unsigned char *)"US", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	    (const unsigned char *)"SPIFFE", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "serialNumber", MBSTRING_ASC,
	    (const unsigned char *)"1234567890", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, k);
	add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(x, NID_key_usage, "critical,keyCertSign,cRLSign");
	add_ext(x, NID_subject_key_identifier, "hash");
	add_ext(x, NID_subject_alt_name, "URI:spiffe://" TD);
	if (X509_sign(x, k, EVP_sha256()) <= 0 || (l = i2d_X509(x, &der)) <= 0)
		die("certificate");
	if ((out = malloc((size_t)l)) == NULL)
		die("out of memory");
	memcpy(out, der, (size_t)l);
	*len = (size_t)l;
	OPENSSL_free(der);
	X509_free(x);
	return out;
}

struct domain {
	EVP_PKEY *signer;
	char kid[ANCHOR_KID_LEN + 1];
	char *f3;				/* the pinned signer set */
	size_t f3_len;
	struct anchor_verify_state *st;		/* pinned, no bundle */
	char *payload;
	size_t payload_len;
	char *env[NRESIGN];			/* iat T0 + i, same payload */
	size_t env_len[NRESIGN];
};

static char *
sign_f2(struct domain *dm, uint64_t seq, int64_t iat, size_t *len)
{
	struct anchor_jws_signer s = {
		dm->kid, "ES256", soft_sign, dm->signer
	};
	char *env = NULL;

	if (anchor_f2_sign(TD, seq, iat, iat + 7 * DAY,
	    (const uint8_t *)dm->payload, dm->payload_len, &s, 1, &env,
	    len) != ANCHOR_OK)
		die("anchor_f2_sign");
	return env;
}

static void
domain_make(struct domain *dm, size_t nkeys, size_t nresign)
{
	struct anchor_authority *auth;
	struct anchor_jws_signer s;
	struct anchor_verify_options o = { TD, 0, 0 };
	struct anchor_verify_signers *pinned = NULL;
	struct anchor_verify_diag d;
	char *f3p = NULL;
	size_t i, f3plen;

	memset(dm, 0, sizeof(*dm));
	if ((dm->signer = EVP_EC_gen("P-256")) == NULL ||
	    anchor_jwk_thumbprint(dm->signer, dm->kid) != ANCHOR_OK)
		die("signer key");
	if (anchor_f3_payload(TD, 1, 1, 1, &dm->signer, 1, &f3p,
	    &f3plen) != ANCHOR_OK)
		die("anchor_f3_payload");
	s.kid = dm->kid;
	s.alg = "ES256";
	s.sign = soft_sign;
	s.arg = dm->signer;
	if (anchor_f3_sign(TD, 1, (const uint8_t *)f3p, f3plen, &s, 1, &dm->f3,
	    &dm->f3_len) != ANCHOR_OK)
		die("anchor_f3_sign");
	if (anchor_verify_signers_pin(&o, (const uint8_t *)dm->f3, dm->f3_len,
	    &pinned, &d) != ANCHOR_VERIFY_OK)
		die(d.text);
	if (anchor_verify_state_new(pinned, &dm->st) != ANCHOR_VERIFY_OK)
		die("anchor_verify_state_new");
	anchor_verify_signers_free(pinned);
	free(f3p);

	if ((auth = calloc(nkeys, sizeof(*auth))) == NULL)
		die("out of memory");
	for (i = 0; i < nkeys; i++) {
		if ((auth[i].pub = EVP_EC_gen("P-256")) == NULL)
			die("EVP_EC_gen");
		if (i < nkeys / 2) {
			auth[i].role = ANCHOR_ROLE_X509_CA;
			auth[i].cert_der = ca_cert(auth[i].pub, (long)i + 1,
			    &auth[i].cert_len);
		} else {
			auth[i].role = ANCHOR_ROLE_JWT;
		}
	}
	if (anchor_f1_bundle(auth, nkeys, 7, 300, &dm->payload,
	    &dm->payload_len) != ANCHOR_OK)
		die("anchor_f1_bundle");
	for (i = 0; i < nkeys; i++) {
		EVP_PKEY_free(auth[i].pub);
		free((void *)auth[i].cert_der);
	}
	free(auth);
	for (i = 0; i < nresign; i++)
		dm->env[i] = sign_f2(dm, 7, T0 + (int64_t)i, &dm->env_len[i]);
}

static void
domain_clear(struct domain *dm)
{
	size_t i;

	for (i = 0; i < NRESIGN; i++)
		free(dm->env[i]);
	free(dm->f3);
	free(dm->payload);
	anchor_verify_state_free(dm->st);
	EVP_PKEY_free(dm->signer);
}

/* Verify envelope i against st; *ns is the new state (ns may be NULL). */
static void
verify_one(const struct domain *dm, const struct anchor_verify_state *st,
    size_t i, struct anchor_verify_state **ns)
{
	struct anchor_verify_options o = { TD, 0, 0 };
	struct anchor_verify_result *res = NULL;
	struct anchor_verify_state *tmp = NULL;
	struct anchor_verify_diag d;

	if (anchor_verify_signed_bundle(st, (const uint8_t *)dm->env[i],
	    dm->env_len[i], T0 + DAY, &o, &res, &tmp, &d) != ANCHOR_VERIFY_OK)
		die(d.text);
	anchor_verify_result_free(res);
	if (ns != NULL)
		*ns = tmp;
	else
		anchor_verify_state_free(tmp);
}

static void
write_file(const char *name, const char *data, size_t len)
{
	FILE *f = fopen(name, "wb");

	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		die(name);
}

/* A state read from JSON, as anchor-verify reads its state file. */
static struct anchor_verify_state *
load(const char *json, size_t len)
{
	struct anchor_verify_options o = { TD, 0, 0 };
	struct anchor_verify_state *out = NULL;
	struct anchor_verify_diag d;

	if (anchor_verify_state_load(&o, (const uint8_t *)json, len, &out,
	    &d) != ANCHOR_VERIFY_OK)
		die(d.text);
	return out;
}

static char *
save(const struct anchor_verify_state *st, size_t *len)
{
	char *json = NULL;

	if (anchor_verify_state_save(st, &json, len) != ANCHOR_VERIFY_OK)
		die("anchor_verify_state_save");
	return json;
}

enum kind {
	COLD,
	STEADY,
	LOAD,
	REF,
};

/* One kind of measurement, which can be run in turns. */
struct runner {
	const struct domain *dm;
	enum kind kind;
	struct anchor_verify_state *st;		/* STEADY, LOAD: the last state */
	char *saved;				/* LOAD: st's JSON */
	size_t saved_len;
	EVP_PKEY *key;				/* REF */
	EVP_PKEY_CTX *ctx;
	uint8_t dgst[32], sig[80];
	size_t siglen;
	uint64_t runs, n;
	double seconds, cpu;			/* wall, CPU */
};

static void
runner_init(struct runner *r, const struct domain *dm, enum kind kind)
{
	memset(r, 0, sizeof(*r));
	r->dm = dm;
	r->kind = kind;
	/* steady and load start from the state that accepted the bundle */
	if (kind == STEADY || kind == LOAD)
		verify_one(dm, dm->st, 0, &r->st);
	if (kind == LOAD)
		r->saved = save(r->st, &r->saved_len);
	if (kind == REF) {
		memset(r->dgst, 7, sizeof(r->dgst));
		r->siglen = sizeof(r->sig);
		if ((r->key = EVP_EC_gen("P-256")) == NULL ||
		    (r->ctx = EVP_PKEY_CTX_new(r->key, NULL)) == NULL ||
		    EVP_PKEY_sign_init(r->ctx) != 1 ||
		    EVP_PKEY_sign(r->ctx, r->sig, &r->siglen, r->dgst,
		    sizeof(r->dgst)) != 1 ||
		    EVP_PKEY_verify_init(r->ctx) != 1)
			die("reference signature");
	}
}

static void
runner_clear(struct runner *r)
{
	anchor_verify_state_free(r->st);
	free(r->saved);
	EVP_PKEY_CTX_free(r->ctx);
	EVP_PKEY_free(r->key);
	memset(r, 0, sizeof(*r));
}

/* One verification of r's kind. */
static void
runner_step(struct runner *r)
{
	struct anchor_verify_state *ns = NULL;

	switch (r->kind) {
	case COLD:
		verify_one(r->dm, r->dm->st, 0, NULL);
		break;
	case LOAD:
		/* read, verify, save: nothing kept in memory */
		anchor_verify_state_free(r->st);
		r->st = load(r->saved, r->saved_len);
		free(r->saved);
		r->saved = NULL;
		/* FALLTHROUGH */
	case STEADY:
		verify_one(r->dm, r->st, (size_t)(r->n % NRESIGN), &ns);
		anchor_verify_state_free(r->st);
		r->st = ns;
		if (r->kind == LOAD)
			r->saved = save(r->st, &r->saved_len);
		break;
	case REF:
		if (EVP_PKEY_verify(r->ctx, r->sig, r->siglen, r->dgst,
		    sizeof(r->dgst)) != 1)
			die("reference verification");
		break;
	}
	r->n++;
}

/* Run r for about secs in batches of about a twentieth of it; add the count. */
static void
runner_run(struct runner *r, double secs)
{
	double t0, t1, c0, each;
	uint64_t b, batch;

	/* a few steps first: warm caches, and the size of a batch */
	t0 = now_s();
	for (b = 0; b < 3; b++)
		runner_step(r);
	each = (now_s() - t0) / 3;
	batch = (uint64_t)(secs / 20 / each) + 1;
	t0 = now_s();
	c0 = cpu_s();
	do {
		for (b = 0; b < batch; b++)
			runner_step(r);
		r->runs += batch;
		t1 = now_s();
	} while (t1 - t0 < secs);
	r->cpu += cpu_s() - c0;
	r->seconds += t1 - t0;
}

int
main(int argc, char **argv)
{
	static const char *const names[] = { "cold", "steady", "load", "ref" };
	struct domain dm;
	struct runner run[3];
	const char *mode;
	double secs = 3;
	size_t nkeys, i, turn;
	int c, m = -1;

	while ((c = getopt(argc, argv, "t:")) != -1) {
		switch (c) {
		case 't':
			secs = atof(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 2 || secs <= 0)
		goto usage;
	mode = argv[optind];
	nkeys = strtoul(argv[optind + 1], NULL, 10);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(mode, names[i]) == 0)
			m = (int)i;
	if ((m < 0 && strcmp(mode, "interleaved") != 0 &&
	    strcmp(mode, "dump") != 0) || nkeys == 0 || nkeys > 100000)
		goto usage;

	domain_make(&dm, nkeys, m == COLD || m == REF ? 1 : NRESIGN);
	if (strcmp(mode, "dump") == 0) {
		write_file("signers.jws", dm.f3, dm.f3_len);
		write_file("bundle.jws", dm.env[0], dm.env_len[0]);
	} else if (m >= 0) {
		runner_init(&run[0], &dm, (enum kind)m);
		runner_run(&run[0], secs);
		printf("%s keys=%zu payload=%zu envelope=%zu runs=%" PRIu64
		    " seconds=%.3f cpu_seconds=%.3f per_s=%.1f us=%.2f "
		    "wall_per_s=%.1f\n", mode, nkeys, dm.payload_len,
		    dm.env_len[0], run[0].runs, run[0].seconds, run[0].cpu,
		    (double)run[0].runs / run[0].cpu,
		    run[0].cpu * 1e6 / (double)run[0].runs,
		    (double)run[0].runs / run[0].seconds);
		runner_clear(&run[0]);
	} else {
		runner_init(&run[0], &dm, REF);
		runner_init(&run[1], &dm, COLD);
		runner_init(&run[2], &dm, STEADY);
		for (turn = 0; turn < 15; turn++)
			for (i = 0; i < 3; i++)
				runner_run(&run[i], secs / 15);
		printf("interleaved keys=%zu payload=%zu envelope=%zu "
		    "ref_per_s=%.1f cold_per_s=%.1f steady_per_s=%.1f\n", nkeys,
		    dm.payload_len, dm.env_len[0],
		    (double)run[0].runs / run[0].cpu,
		    (double)run[1].runs / run[1].cpu,
		    (double)run[2].runs / run[2].cpu);
		for (i = 0; i < 3; i++)
			runner_clear(&run[i]);
	}
	domain_clear(&dm);
	return 0;
 usage:
	fprintf(stderr, "usage: verify-bench [-t SECONDS] "
	    "cold|steady|load|ref|interleaved|dump KEYS\n");
	return 2;
}
