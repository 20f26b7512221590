/*
 * anchor-verify: verify a trust domain's signed bundle (F2) against a
 * pinned signer set (F3), following signer-set updates, with rollback
 * protection through a state file (F4).  See anchor-verify(1).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <anchor/verify.h>

#include "error.h"
#include "util.h"

#define EXIT_USAGE 2

static const char *progname = "anchor-verify";

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: anchor-verify --trust-domain TD [--signers FILE ...] "
	    "[--state FILE]\n"
	    "                     [--now UNIX_SECONDS] [--max-bytes N] "
	    "[--max-validity SECONDS]\n"
	    "                     [--out FILE] BUNDLE.jws\n");
}

static void
msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
msg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A file for --signers, --state or the bundle, capped at max bytes. */
struct input {
	const char *path;
	uint8_t *data;
	size_t len;
};

static int
number(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (anchor_parse_u64(s, &v) != ANCHOR_OK || v == 0 || v > max) {
		msg("%s: not a number from 1 to %" PRIu64 ": %.40s", opt, max, s);
		return 0;
	}
	*out = v;
	return 1;
}

static int
write_stdout(const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(STDOUT_FILENO, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		p += w;
		len -= (size_t)w;
	}
	return 1;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "trust-domain", required_argument, NULL, 't' },
		{ "signers", required_argument, NULL, 's' },
		{ "state", required_argument, NULL, 'S' },
		{ "now", required_argument, NULL, 'n' },
		{ "max-bytes", required_argument, NULL, 'b' },
		{ "max-validity", required_argument, NULL, 'v' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int rc = EXIT_USAGE, r, c;
	struct anchor_verify_options opt;
	struct anchor_verify_diag diag;
	struct input *signers = NULL, state_in = { 0 }, bundle = { 0 };
	struct anchor_verify_buf *steps = NULL;
	struct anchor_verify_signers *pinned = NULL;
	struct anchor_verify_state *st = NULL, *chained = NULL, *next = NULL;
	struct anchor_verify_result *res = NULL;
	const char *state_path = NULL, *out_path = NULL;
	size_t nsigners = 0, nsteps = 0, first_step = 0, i, len;
	uint64_t v, now = 0;
	int have_now = 0, have_state = 0;
	const uint8_t *payload;
	char *saved = NULL;

	memset(&opt, 0, sizeof(opt));
	opt.max_bytes = ANCHOR_VERIFY_DEFAULT_MAX_BYTES;
	opt.max_validity = ANCHOR_VERIFY_DEFAULT_MAX_VALIDITY;
	if ((signers = calloc((size_t)argc, sizeof(*signers))) == NULL) {
		msg("out of memory");
		goto out;
	}
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			opt.trust_domain = optarg;
			break;
		case 's':
			signers[nsigners++].path = optarg;
			break;
		case 'S':
			state_path = optarg;
			break;
		case 'n':
			/* 0 is a valid time: parse without the lower bound */
			if (anchor_parse_u64(optarg, &now) != ANCHOR_OK ||
			    now > INT64_MAX) {
				msg("--now: not UNIX seconds: %.40s", optarg);
				goto out;
			}
			have_now = 1;
			break;
		case 'b':
			if (!number("--max-bytes", optarg, SIZE_MAX - 1, &v))
				goto out;
			opt.max_bytes = (size_t)v;
			break;
		case 'v':
			if (!number("--max-validity", optarg, INT64_MAX, &v))
				goto out;
			opt.max_validity = (int64_t)v;
			break;
		case 'o':
			out_path = optarg;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (optind != argc - 1) {
		msg("exactly one BUNDLE.jws is needed");
		usage(stderr);
		goto out;
	}
	bundle.path = argv[optind];
	if (opt.trust_domain == NULL) {
		msg("--trust-domain is required");
		usage(stderr);
		goto out;
	}
	if (strlen(opt.trust_domain) == 0 || strlen(opt.trust_domain) > 255 ||
	    strspn(opt.trust_domain, "abcdefghijklmnopqrstuvwxyz0123456789.-_")
	    != strlen(opt.trust_domain)) {
		msg("--trust-domain: not a SPIFFE trust domain name: %.100s",
		    opt.trust_domain);
		goto out;
	}
	if (!have_now)
		now = (uint64_t)anchor_now();	/* read once */

	/* The root of trust: the state's signer set, or the first --signers. */
	if (state_path != NULL) {
		state_in.path = state_path;
		r = anchor_read_file(state_path, opt.max_bytes, &state_in.data,
		    &state_in.len);
		if (r == ANCHOR_OK)
			have_state = 1;
		else if (r != ANCHOR_E_NOT_FOUND) {
			msg("state %.200s: %s", state_path, r == ANCHOR_E_INVAL ?
			    "larger than --max-bytes" : anchor_strerror(r));
			goto out;
		}
	}
	for (i = 0; i < nsigners; i++) {
		r = anchor_read_file(signers[i].path, opt.max_bytes,
		    &signers[i].data, &signers[i].len);
		if (r != ANCHOR_OK) {
			msg("signer set %.200s: %s", signers[i].path,
			    r == ANCHOR_E_INVAL ? "R1 size: larger than "
			    "--max-bytes" : anchor_strerror(r));
			rc = anchor_verify_exit_class(ANCHOR_VERIFY_F3_SIGNERS);
			goto out;
		}
	}
	if (have_state) {
		r = anchor_verify_state_load(&opt, state_in.data, state_in.len,
		    &st, &diag);
		if (r != ANCHOR_VERIFY_OK) {
			msg("state %.200s: %s", state_path, r > 0 ? diag.text :
			    anchor_verify_strerror(r));
			rc = EXIT_USAGE;
			goto out;
		}
	} else {
		if (nsigners == 0) {
			msg("no root of trust: give --signers FILE (or an "
			    "existing --state FILE)");
			usage(stderr);
			goto out;
		}
		r = anchor_verify_signers_pin(&opt, signers[0].data,
		    signers[0].len, &pinned, &diag);
		if (r != ANCHOR_VERIFY_OK) {
			msg("%.200s: %s", signers[0].path, r > 0 ? diag.text :
			    anchor_verify_strerror(r));
			rc = anchor_verify_exit_class(r);
			goto out;
		}
		if ((r = anchor_verify_state_new(pinned, &st)) != ANCHOR_VERIFY_OK) {
			msg("%s", anchor_verify_strerror(r));
			goto out;
		}
		first_step = 1;
	}

	/* Chain steps, applied in ascending version order by the library. */
	if (nsigners > first_step) {
		nsteps = nsigners - first_step;
		if ((steps = calloc(nsteps, sizeof(*steps))) == NULL) {
			msg("out of memory");
			goto out;
		}
		for (i = 0; i < nsteps; i++) {
			steps[i].data = signers[first_step + i].data;
			steps[i].len = signers[first_step + i].len;
		}
	}
	r = anchor_verify_state_update_signers(st, steps, nsteps, &opt, &chained,
	    &diag);
	if (r != ANCHOR_VERIFY_OK) {
		if (r > 0 && diag.item < nsteps)
			msg("%.200s: %s", signers[first_step + diag.item].path,
			    diag.text);
		else
			msg("%s", r > 0 ? diag.text : anchor_verify_strerror(r));
		rc = anchor_verify_exit_class(r);
		goto out;
	}

	/* The bundle. */
	r = anchor_read_file(bundle.path, opt.max_bytes, &bundle.data,
	    &bundle.len);
	if (r == ANCHOR_E_INVAL) {
		msg("%.200s: R1 size: larger than %zu bytes", bundle.path,
		    opt.max_bytes);
		rc = anchor_verify_exit_class(ANCHOR_VERIFY_R1_SIZE);
		goto out;
	}
	if (r != ANCHOR_OK) {
		msg("%.200s: %s", bundle.path, anchor_strerror(r));
		goto out;
	}
	r = anchor_verify_signed_bundle(chained, bundle.data, bundle.len,
	    (int64_t)now, &opt, &res, &next, &diag);
	if (r != ANCHOR_VERIFY_OK) {
		msg("%.200s: %s", bundle.path, r > 0 ? diag.text :
		    anchor_verify_strerror(r));
		rc = anchor_verify_exit_class(r);
		goto out;
	}

	/* Accepted: persist the state first, then hand out the bytes. */
	if (state_path != NULL) {
		if ((r = anchor_verify_state_save(next, &saved, &len)) !=
		    ANCHOR_VERIFY_OK) {
			msg("state: %s", anchor_verify_strerror(r));
			goto out;
		}
		if ((r = anchor_write_atomic(state_path, saved, len, 0644)) !=
		    ANCHOR_OK) {
			msg("state %.200s: %s", state_path, anchor_strerror(r));
			goto out;
		}
	}
	payload = anchor_verify_result_payload(res, &len);
	if (out_path != NULL) {
		if ((r = anchor_write_atomic(out_path, payload, len, 0644)) !=
		    ANCHOR_OK) {
			msg("%.200s: %s", out_path, anchor_strerror(r));
			goto out;
		}
	} else if (!write_stdout(payload, len)) {
		msg("standard output: %s", strerror(errno));
		goto out;
	}
	rc = 0;
 out:
	free(saved);
	anchor_verify_result_free(res);
	anchor_verify_state_free(next);
	anchor_verify_state_free(chained);
	anchor_verify_state_free(st);
	anchor_verify_signers_free(pinned);
	free(steps);
	for (i = 0; signers != NULL && i < nsigners; i++)
		free(signers[i].data);
	free(signers);
	free(state_in.data);
	free(bundle.data);
	return rc;
}
