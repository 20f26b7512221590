/*
 * anchor-ceremony: create a trust domain's keys in the token, its CA
 * certificate, signer set version 1 and bundle sequence 1, with a sealed
 * transcript; verify transcripts; split and join PIN shares.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "conf.h"
#include "domain.h"
#include "error.h"
#include "jose.h"
#include "log.h"
#include "pin.h"
#include "store.h"
#include "transcript.h"
#include "util.h"

#define EXIT_USAGE 2

#define MAX_WITNESSES 16

struct init_opts {
	const char *operator_name;
	const char *witnesses[MAX_WITNESSES];
	size_t n_witnesses;
	bool yes;
	const char *out_dir;
	int64_t now;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: anchor-ceremony [-c FILE] init --operator NAME [--witness NAME ...]\n"
	    "                       [--yes] [--out-dir DIR] [--now UNIX_SECONDS]\n"
	    "       anchor-ceremony verify-transcript [--fingerprint FP] FILE\n"
	    "       anchor-ceremony pin split --shares N --threshold K\n"
	    "                       [--pin-source SOURCE] [--out-dir DIR]\n"
	    "       anchor-ceremony pin join --out FILE\n");
}

/* Ask for a typed "yes" unless --yes; anything else cancels. */
static bool
confirm(const struct init_opts *o, const char *what)
{
	char line[64];

	printf("\n  %s\n", what);
	if (o->yes) {
		printf("  Confirmed by --yes.\n");
		return true;
	}
	printf("  Type 'yes' to continue: ");
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return false;
	line[strcspn(line, "\r\n")] = '\0';
	return strcmp(line, "yes") == 0;
}

static void
step(unsigned n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
step(unsigned n, const char *fmt, ...)
{
	va_list ap;

	printf("[%u] ", n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static int
mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return ANCHOR_E_INVAL;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return ANCHOR_E_IO;
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return ANCHOR_E_IO;
	return ANCHOR_OK;
}

static const struct anchor_key_row *
find_role(const struct anchor_key_row *rows, size_t n, enum anchor_role role)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (rows[i].role == role && rows[i].state == ANCHOR_KEY_ACTIVE)
			return &rows[i];
	return NULL;
}

static json_t *
key_detail(const struct anchor_key_row *k)
{
	char idhex[33];

	anchor_hex(k->ckaid, sizeof(k->ckaid), idhex);
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "role",
	    anchor_role_name(k->role), "label", k->label, "kid", k->kid,
	    "ckaid", idhex, "algorithm", anchor_alg_name(k->alg));
}

static int
write_pem_cert(const char *path, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = NULL;
	BIO *bio = NULL;
	BUF_MEM *mem;
	int r = ANCHOR_E_CRYPTO;

	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL ||
	    (bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509(bio, x))
		goto out;
	BIO_get_mem_ptr(bio, &mem);
	r = anchor_write_atomic(path, mem->data, mem->length, 0644);
 out:
	BIO_free(bio);
	X509_free(x);
	return r;
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
cmd_init(const struct anchor_conf *conf, const struct init_opts *o)
{
	struct anchor_domain *d = NULL;
	struct anchor_transcript *tr = NULL;
	struct anchor_key_row *rows = NULL, k;
	struct anchor_signers_row signers;
	struct anchor_bundle_row bundle;
	const struct anchor_key_row *bs;
	size_t nrows = 0, i, siglen;
	char *state = NULL, *td = NULL, path[PATH_MAX], out_dir[PATH_MAX];
	char fp[80], shahex[65];
	uint8_t head[32], sig[A11_MAX_SIG], sha[32];
	unsigned destroyed = 0, missing = 0, version = 0, n = 1;
	uint64_t seq = 0;
	bool resumed = false, in_tx = false;
	json_t *wit = NULL;
	int r = ANCHOR_E_INTERNAL;
	static const enum anchor_role roles[] = {
		ANCHOR_ROLE_X509_CA, ANCHOR_ROLE_JWT, ANCHOR_ROLE_BUNDLE_SIGNING,
	};

	memset(&k, 0, sizeof(k));
	memset(&signers, 0, sizeof(signers));
	memset(&bundle, 0, sizeof(bundle));
	if (snprintf(out_dir, sizeof(out_dir), "%s",
	    o->out_dir ? o->out_dir : conf->state_dir) >= (int)sizeof(out_dir))
		return ANCHOR_E_INVAL;
	if (o->out_dir == NULL)
		strncat(out_dir, "/ceremony", sizeof(out_dir) - strlen(out_dir) - 1);

	printf("anchor key ceremony for trust domain %s\n", conf->trust_domain);
	printf("  operator:  %s\n", o->operator_name);
	for (i = 0; i < o->n_witnesses; i++)
		printf("  witness:   %s\n", o->witnesses[i]);
	printf("  state:     %s\n  token:     %s\n  module:    %s\n\n",
	    conf->state_dir, conf->pkcs11_token, conf->pkcs11_module);

	if ((r = mkdir_p(conf->state_dir, 0700)) != ANCHOR_OK) {
		error_f("cannot create %s: %s", conf->state_dir, strerror(errno));
		goto out;
	}
	/* Refuse before the token is touched when the domain exists. */
	r = anchor_domain_open(conf, ANCHOR_OPEN_LOCK | ANCHOR_OPEN_CREATE |
	    ANCHOR_OPEN_NOWAIT, stdin, &d);
	if (r != ANCHOR_OK) {
		report(d, r, "opening the state");
		goto out;
	}
	if (anchor_store_meta_get(d->store, "trust_domain", &td) == ANCHOR_OK &&
	    strcmp(td, conf->trust_domain) != 0) {
		error_f("%s holds trust domain %.255s, not %s; nothing changed",
		    conf->state_dir, td, conf->trust_domain);
		r = ANCHOR_E_EXISTS;
		goto out;
	}
	if (anchor_store_meta_get(d->store, "ceremony", &state) == ANCHOR_OK) {
		if (strcmp(state, "complete") == 0) {
			error_f("trust domain %s already exists in %s; "
			    "nothing changed", conf->trust_domain, conf->state_dir);
			r = ANCHOR_E_EXISTS;
			goto out;
		}
		resumed = true;
	}
	anchor_domain_close(d);
	d = NULL;

	if ((r = anchor_transcript_new(conf->trust_domain, &tr)) != ANCHOR_OK)
		goto out;
	wit = json_array();
	for (i = 0; wit != NULL && i < o->n_witnesses; i++)
		json_array_append_new(wit, json_string(o->witnesses[i]));
	anchor_transcript_add(tr, o->now, "ceremony.started",
	    json_pack("{s:s, s:s, s:o, s:s, s:s, s:b}", "trust_domain",
	    conf->trust_domain, "operator", o->operator_name, "witnesses", wit,
	    "token", conf->pkcs11_token, "module", conf->pkcs11_module,
	    "resumed", resumed));
	wit = NULL;

	if (resumed)
		printf("An earlier ceremony for %s stopped before the end; "
		    "this run completes it.\n", conf->trust_domain);
	if (!confirm(o, "The next step logs in to the token and generates the "
	    "x509-ca, jwt and bundle-signing keys in it.")) {
		error_f("cancelled; nothing was generated");
		r = ANCHOR_E_CANCELLED;
		goto out;
	}

	r = anchor_domain_open(conf, ANCHOR_OPEN_LOCK | ANCHOR_OPEN_CREATE |
	    ANCHOR_OPEN_NOWAIT | ANCHOR_OPEN_TOKEN, stdin, &d);
	if (r != ANCHOR_OK) {
		report(d, r, "opening the token");
		goto out;
	}
	step(n++, "Logged in to token %s (serial %s)", a11_token_label(d->token),
	    a11_token_serial(d->token));
	anchor_transcript_add(tr, o->now, "token.login",
	    json_pack("{s:s, s:s}", "label", a11_token_label(d->token),
	    "serial", a11_token_serial(d->token)));

	if ((r = anchor_domain_begin(d)) != ANCHOR_OK)
		goto out;
	in_tx = true;
	if ((r = anchor_store_meta_set(d->store, "trust_domain",
	    conf->trust_domain)) != ANCHOR_OK ||
	    (r = anchor_store_meta_set(d->store, "ceremony", "in-progress")) != ANCHOR_OK)
		goto out;
	wit = json_array();
	for (i = 0; wit != NULL && i < o->n_witnesses; i++)
		json_array_append_new(wit, json_string(o->witnesses[i]));
	{
		json_t *data = json_pack("{s:s, s:o, s:b}", "operator",
		    o->operator_name, "witnesses", wit, "resumed", resumed);

		wit = NULL;
		r = anchor_domain_audit(d, o->now, "ceremony.started", data);
		json_decref(data);
		if (r != ANCHOR_OK)
			goto out;
	}
	in_tx = false;
	if ((r = anchor_domain_commit(d)) != ANCHOR_OK)
		goto out;

	/* A run that died after generating a key but before storing it left
	 * an object no row knows: destroy it before anything else. */
	if ((r = anchor_domain_reconcile(d, o->now, &destroyed, &missing)) != ANCHOR_OK) {
		report(d, r, "comparing token and state");
		goto out;
	}
	if (destroyed > 0) {
		step(n++, "Destroyed %u token object(s) left by an interrupted run",
		    destroyed);
		anchor_transcript_add(tr, o->now, "token.orphans_destroyed",
		    json_pack("{s:i}", "count", destroyed));
	}
	if (missing > 0) {
		error_f("%u stored key(s) are missing from token %s; refusing to "
		    "continue", missing, a11_token_label(d->token));
		r = ANCHOR_E_KEY_NOT_FOUND;
		goto out;
	}

	if ((r = anchor_store_keys(d->store, &rows, &nrows)) != ANCHOR_OK)
		goto out;
	for (i = 0; i < ANCHOR_ARRAY_SIZE(roles); i++) {
		const struct anchor_key_row *have = find_role(rows, nrows, roles[i]);

		if (have != NULL) {
			step(n++, "%s key %s already generated (kid %s)",
			    anchor_role_name(roles[i]), have->label, have->kid);
			anchor_transcript_add(tr, o->now, "key.resumed",
			    key_detail(have));
			continue;
		}
		r = anchor_domain_new_key(d, roles[i], o->now, true, &k);
		if (r != ANCHOR_OK) {
			report(d, r, "generating the key");
			goto out;
		}
		step(n++, "%s key generated in the token: %s (%s, kid %s)",
		    anchor_role_name(roles[i]), k.label, anchor_alg_name(k.alg),
		    k.kid);
		if (roles[i] == ANCHOR_ROLE_X509_CA) {
			SHA256(k.cert_der, k.cert_len, sha);
			anchor_hex(sha, sizeof(sha), shahex);
			step(n++, "CA certificate signed in the token, SHA-256 %s",
			    shahex);
		}
		{
			json_t *detail = key_detail(&k);

			if (roles[i] == ANCHOR_ROLE_X509_CA)
				json_object_set_new(detail, "certificate_sha256",
				    json_string(shahex));
			anchor_transcript_add(tr, o->now, "key.generated", detail);
		}
		anchor_key_row_clear(&k);
	}
	anchor_key_rows_free(rows, nrows);
	rows = NULL;
	if ((r = anchor_store_keys(d->store, &rows, &nrows)) != ANCHOR_OK)
		goto out;

	if (!confirm(o, "The next step publishes signer set version 1, the root "
	    "of trust that relying parties pin, and bundle sequence 1.")) {
		error_f("cancelled; the keys stay in the token and a later run "
		    "continues from here");
		r = ANCHOR_E_CANCELLED;
		goto out;
	}
	if ((r = anchor_domain_begin(d)) != ANCHOR_OK)
		goto out;
	in_tx = true;
	if (anchor_store_signers_get(d->store, 0, &signers) != ANCHOR_OK &&
	    (r = anchor_domain_publish_signers(d, o->now, &version)) != ANCHOR_OK) {
		report(d, r, "publishing the signer set");
		goto out;
	}
	if (anchor_store_bundle_latest(d->store, &bundle) != ANCHOR_OK &&
	    (r = anchor_domain_publish_bundle(d, o->now, &seq)) != ANCHOR_OK) {
		report(d, r, "publishing the bundle");
		goto out;
	}
	in_tx = false;
	if ((r = anchor_domain_commit(d)) != ANCHOR_OK)
		goto out;

	anchor_signers_row_clear(&signers);
	anchor_bundle_row_clear(&bundle);
	if ((r = anchor_store_signers_get(d->store, 1, &signers)) != ANCHOR_OK ||
	    (r = anchor_store_bundle_latest(d->store, &bundle)) != ANCHOR_OK)
		goto out;
	anchor_fingerprint(signers.payload, signers.payload_len, fp);
	step(n++, "Signer set version 1 published (threshold %u)",
	    conf->keys[ANCHOR_ROLE_BUNDLE_SIGNING].threshold);
	step(n++, "Bundle sequence %" PRIu64 " published and signed",
	    bundle.sequence);
	anchor_transcript_add(tr, o->now, "signers.published",
	    json_pack("{s:i, s:s}", "version", 1, "fingerprint", fp));
	SHA256(bundle.payload, bundle.payload_len, sha);
	anchor_hex(sha, sizeof(sha), shahex);
	anchor_transcript_add(tr, o->now, "bundle.published",
	    json_pack("{s:I, s:s}", "sequence", (json_int_t)bundle.sequence,
	    "sha256", shahex));

	/* Exports for relying parties and the record of the ceremony. */
	if ((r = mkdir_p(out_dir, 0755)) != ANCHOR_OK) {
		error_f("cannot create %s", out_dir);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/signers-1.jws", out_dir);
	if ((r = anchor_write_atomic(path, signers.jws, signers.jws_len, 0644)) != ANCHOR_OK) {
		error_f("writing %s: %s", path, anchor_strerror(r));
		goto out;
	}
	step(n++, "Wrote %s", path);
	for (i = 0; i < nrows; i++) {
		if (rows[i].role != ANCHOR_ROLE_X509_CA || rows[i].cert_der == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/ca-%u.pem", out_dir, rows[i].serial);
		if ((r = write_pem_cert(path, rows[i].cert_der,
		    rows[i].cert_len)) != ANCHOR_OK) {
			error_f("writing %s: %s", path, anchor_strerror(r));
			goto out;
		}
		step(n++, "Wrote %s", path);
	}

	anchor_transcript_add(tr, o->now, "ceremony.completed", NULL);
	if ((bs = find_role(rows, nrows, ANCHOR_ROLE_BUNDLE_SIGNING)) == NULL) {
		r = ANCHOR_E_KEY_NOT_FOUND;
		goto out;
	}
	anchor_transcript_head(tr, head);
	siglen = sizeof(sig);
	if ((r = anchor_domain_sign_cb(d, bs->kid, head, sizeof(head), sig,
	    &siglen)) != ANCHOR_OK) {
		report(d, r, "sealing the transcript");
		goto out;
	}
	if ((r = anchor_transcript_seal(tr, bs->kid,
	    bs->alg == ANCHOR_ALG_EC_P384 ? "ES384" : "ES256", bs->jwk, sig,
	    siglen, signers.payload, signers.payload_len)) != ANCHOR_OK)
		goto out;
	snprintf(path, sizeof(path), "%s/transcript-%" PRId64 ".json", out_dir,
	    o->now);
	if ((r = anchor_transcript_write(tr, path)) != ANCHOR_OK) {
		error_f("writing %s: %s", path, anchor_strerror(r));
		goto out;
	}
	step(n++, "Transcript sealed and written to %s", path);

	/* Complete only now: a run that dies before this point is completed
	 * by the next one, transcript included. */
	if ((r = anchor_domain_begin(d)) != ANCHOR_OK)
		goto out;
	in_tx = true;
	if ((r = anchor_store_meta_set(d->store, "ceremony", "complete")) != ANCHOR_OK ||
	    (r = anchor_domain_audit(d, o->now, "ceremony.completed", NULL)) != ANCHOR_OK)
		goto out;
	in_tx = false;
	if ((r = anchor_domain_commit(d)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_domain_checkpoint(d, o->now)) != ANCHOR_OK) {
		/* The domain is complete; the next writer signs a checkpoint. */
		report(d, r, "signing the audit checkpoint");
		r = ANCHOR_OK;
	}

	printf("\nSigner set version 1 fingerprint (SHA-256 of its payload).\n"
	    "Read it aloud; every relying party compares it before pinning:\n\n"
	    "    %s\n\n", fp);
	r = ANCHOR_OK;
 out:
	if (in_tx)
		anchor_domain_rollback(d);
	json_decref(wit);
	anchor_key_row_clear(&k);
	anchor_key_rows_free(rows, nrows);
	anchor_signers_row_clear(&signers);
	anchor_bundle_row_clear(&bundle);
	anchor_transcript_free(tr);
	anchor_domain_close(d);
	free(state);
	free(td);
	return r;
}

static int
cmd_verify_transcript(const char *file, const char *expect_fp)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char fp[80], err[512] = "";
	int r;

	if ((r = anchor_read_file(file, 4 * 1024 * 1024, &buf, &len)) != ANCHOR_OK) {
		error_f("%s: %s", file, anchor_strerror(r));
		return EXIT_USAGE;
	}
	r = anchor_transcript_verify(buf, len, expect_fp, fp, err, sizeof(err));
	free(buf);
	if (r != ANCHOR_OK) {
		error_f("%s: NOT VALID: %s", file, err);
		return EXIT_FAILURE;
	}
	printf("%s: valid\nsigner set version 1 fingerprint: %s\n", file, fp);
	return EXIT_SUCCESS;
}

static int
cmd_pin_split(const char *source, unsigned nshares, unsigned k,
    const char *out_dir)
{
	char *pin = NULL, **shares = NULL, err[256] = "", path[PATH_MAX];
	size_t len = 0;
	unsigned i;
	int r;

	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if ((r = anchor_pin_read(source, stdin, &pin, &len, err,
	    sizeof(err))) != ANCHOR_OK) {
		error_f("PIN source %s: %s", source, err[0] ? err : anchor_strerror(r));
		return EXIT_FAILURE;
	}
	r = anchor_pin_split(pin, len, nshares, k, &shares);
	anchor_pin_free(pin, len);
	if (r != ANCHOR_OK) {
		error_f("cannot split into %u shares with threshold %u: %s",
		    nshares, k, anchor_strerror(r));
		return EXIT_FAILURE;
	}
	for (i = 0; i < nshares; i++) {
		if (out_dir != NULL) {
			snprintf(path, sizeof(path), "%s/pin-share-%u.txt", out_dir,
			    i + 1);
			if (r == ANCHOR_OK &&
			    (r = anchor_write_atomic(path, shares[i],
			    strlen(shares[i]), 0600)) != ANCHOR_OK)
				error_f("writing %s: %s", path, anchor_strerror(r));
			else if (r == ANCHOR_OK)
				printf("share %u of %u written to %s\n", i + 1,
				    nshares, path);
		} else
			printf("%s\n", shares[i]);
		OPENSSL_cleanse(shares[i], strlen(shares[i]));
		free(shares[i]);
	}
	free(shares);
	if (r == ANCHOR_OK)
		fprintf(stderr, "any %u of these %u shares rebuild the PIN\n", k,
		    nshares);
	return r == ANCHOR_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int
cmd_pin_join(const char *out)
{
	char *lines[256], *secret = NULL, buf[1024];
	size_t n = 0, len = 0, i;
	int r, rc = EXIT_FAILURE;

	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "enter one share per line, then end of input:\n");
	while (n < ANCHOR_ARRAY_SIZE(lines) && fgets(buf, sizeof(buf), stdin)) {
		buf[strcspn(buf, "\r\n")] = '\0';
		if (buf[0] == '\0')
			continue;
		if ((lines[n] = strdup(buf)) == NULL)
			break;
		n++;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	r = anchor_pin_join((const char *const *)lines, n, &secret, &len);
	if (r != ANCHOR_OK) {
		error_f("cannot rebuild the PIN from %zu share(s): %s", n,
		    anchor_strerror(r));
		goto out;
	}
	if ((r = anchor_write_atomic(out, secret, len, 0600)) != ANCHOR_OK) {
		error_f("writing %s: %s", out, anchor_strerror(r));
		goto out;
	}
	printf("PIN rebuilt from %zu shares and written to %s (mode 0600)\n", n, out);
	rc = EXIT_SUCCESS;
 out:
	anchor_pin_free(secret, len);
	for (i = 0; i < n; i++) {
		OPENSSL_cleanse(lines[i], strlen(lines[i]));
		free(lines[i]);
	}
	return rc;
}

static int
parse_uint(const char *s, unsigned max, unsigned *out)
{
	uint64_t v;

	if (anchor_parse_u64(s, &v) != ANCHOR_OK || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *config = ANCHOR_DEFAULT_CONFIG, *cmd;
	struct anchor_conf *conf = NULL;
	char err[512];
	int r, rc = EXIT_USAGE, c;

	if ((rc = anchor_cli_start(&argc, &argv, &config, usage)) >= 0)
		return rc;
	rc = EXIT_USAGE;
	cmd = argv[0];

	if (strcmp(cmd, "init") == 0) {
		struct init_opts o;
		static const struct option lo[] = {
			{ "operator", required_argument, NULL, 'o' },
			{ "witness", required_argument, NULL, 'w' },
			{ "yes", no_argument, NULL, 'y' },
			{ "out-dir", required_argument, NULL, 'd' },
			{ "now", required_argument, NULL, 'n' },
			{ NULL, 0, NULL, 0 },
		};
		uint64_t now;

		memset(&o, 0, sizeof(o));
		o.now = anchor_now();
		while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
			switch (c) {
			case 'o':
				o.operator_name = optarg;
				break;
			case 'w':
				if (o.n_witnesses == MAX_WITNESSES) {
					error_f("at most %d witnesses", MAX_WITNESSES);
					return EXIT_USAGE;
				}
				o.witnesses[o.n_witnesses++] = optarg;
				break;
			case 'y':
				o.yes = true;
				break;
			case 'd':
				o.out_dir = optarg;
				break;
			case 'n':
				if (anchor_parse_u64(optarg, &now) != ANCHOR_OK ||
				    now > INT64_MAX / 2) {
					error_f("--now: not UNIX seconds: %.40s", optarg);
					return EXIT_USAGE;
				}
				o.now = (int64_t)now;
				break;
			default:
				usage(stderr);
				return EXIT_USAGE;
			}
		}
		if (optind != argc || o.operator_name == NULL ||
		    o.operator_name[0] == '\0') {
			error_f("init needs --operator NAME");
			usage(stderr);
			return EXIT_USAGE;
		}
		if ((r = anchor_conf_load(config, &conf, err, sizeof(err))) != ANCHOR_OK) {
			error_f("%s", err);
			return EXIT_USAGE;
		}
		r = cmd_init(conf, &o);
		rc = r == ANCHOR_OK ? EXIT_SUCCESS : EXIT_FAILURE;
	} else if (strcmp(cmd, "verify-transcript") == 0) {
		static const struct option lo[] = {
			{ "fingerprint", required_argument, NULL, 'f' },
			{ NULL, 0, NULL, 0 },
		};
		const char *fp = NULL;

		while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
			if (c != 'f') {
				usage(stderr);
				return EXIT_USAGE;
			}
			fp = optarg;
		}
		if (optind + 1 != argc) {
			usage(stderr);
			return EXIT_USAGE;
		}
		rc = cmd_verify_transcript(argv[optind], fp);
	} else if (strcmp(cmd, "pin") == 0 && argc >= 2 &&
	    strcmp(argv[1], "split") == 0) {
		static const struct option lo[] = {
			{ "shares", required_argument, NULL, 'n' },
			{ "threshold", required_argument, NULL, 'k' },
			{ "pin-source", required_argument, NULL, 's' },
			{ "out-dir", required_argument, NULL, 'd' },
			{ NULL, 0, NULL, 0 },
		};
		unsigned n = 0, k = 0;
		const char *source = "prompt", *out_dir = NULL;

		optind = 2;
		while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
			switch (c) {
			case 'n':
				if (parse_uint(optarg, 255, &n) != 0)
					n = 0;
				break;
			case 'k':
				if (parse_uint(optarg, 255, &k) != 0)
					k = 0;
				break;
			case 's':
				source = optarg;
				break;
			case 'd':
				out_dir = optarg;
				break;
			default:
				usage(stderr);
				return EXIT_USAGE;
			}
		}
		if (optind != argc || n < 2 || k < 2 || k > n) {
			error_f("pin split needs --shares N and --threshold K with "
			    "2 <= K <= N <= 255");
			return EXIT_USAGE;
		}
		rc = cmd_pin_split(source, n, k, out_dir);
	} else if (strcmp(cmd, "pin") == 0 && argc >= 2 &&
	    strcmp(argv[1], "join") == 0) {
		static const struct option lo[] = {
			{ "out", required_argument, NULL, 'o' },
			{ NULL, 0, NULL, 0 },
		};
		const char *out = NULL;

		optind = 2;
		while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
			if (c != 'o') {
				usage(stderr);
				return EXIT_USAGE;
			}
			out = optarg;
		}
		if (optind != argc || out == NULL) {
			error_f("pin join needs --out FILE (the PIN is never printed)");
			return EXIT_USAGE;
		}
		rc = cmd_pin_join(out);
	} else {
		error_f("unknown command: %.40s", cmd);
		usage(stderr);
		rc = EXIT_USAGE;
	}
	anchor_conf_free(conf);
	return rc;
}
