/*
 * Federation: peers, fetching and verifying their bundles, consumer files.
 * The rules are in DESIGN.md §6 and docs/federation.md.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <anchor/verify.h>

#include "error.h"
#include "federation.h"
#include "jose.h"
#include "util.h"

/* CURLOPT_PROTOCOLS_STR and CURLOPT_REDIR_PROTOCOLS_STR came in 7.85.0. */
#if LIBCURL_VERSION_NUM < 0x075500
#error "federation needs libcurl 7.85.0 or later"
#endif

#define FED_DIR			"federated"
#define FILE_MAX		(1024 * 1024)	/* signers, CA and bundle files */
#define URL_MAX			2048
#define SPIFFE_ID_MAX		2048
#define REASON_MAX		400
#define SIGNER_BYTES_MAX	(4 * 1024 * 1024) /* all signers/N.jws of a refresh */
#define HINT_MIN		30
#define HINT_MAX		86400

static int __attribute__((format(printf, 3, 4)))
fail(struct anchor_domain *d, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->detail, sizeof(d->detail), fmt, ap);
	va_end(ap);
	return r;
}

static void __attribute__((format(printf, 3, 4)))
say(anchor_say_fn fn, void *arg, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fn(arg, line);
}

/* Bytes from the network or a file go into messages printable and short. */
static void
sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

static int
sha256(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 0;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return ANCHOR_E_CRYPTO;
	return ANCHOR_OK;
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

/* A hex SHA-256 in groups of four digits, as anchor_fingerprint() prints. */
static void
group_fp(const char hex[65], char out[80])
{
	size_t i, o = 0;

	for (i = 0; i < 64 && hex[i] != '\0'; i += 4) {
		if (i > 0)
			out[o++] = ' ';
		memcpy(out + o, hex + i, 4);
		o += 4;
	}
	out[o] = '\0';
}

/* ---- Names ----------------------------------------------------------- */

static bool
path_char(int c, bool patterns)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
	    (patterns && c == '*');
}

/*
 * A SPIFFE ID "spiffe://TD/SEG/..." in trust domain td (SPIFFE-ID §2);
 * with patterns, '*' may stand in path segments; need_path refuses the
 * bare trust domain ID.
 */
static bool
spiffe_id_in(const char *id, const char *td, bool patterns, bool need_path)
{
	static const char scheme[] = "spiffe://";
	size_t tdlen = strlen(td), n;
	const char *p, *seg;

	if (strlen(id) > SPIFFE_ID_MAX ||
	    strncmp(id, scheme, sizeof(scheme) - 1) != 0)
		return false;
	p = id + sizeof(scheme) - 1;
	if (strncmp(p, td, tdlen) != 0 || (p[tdlen] != '\0' && p[tdlen] != '/'))
		return false;
	p += tdlen;
	if (*p == '\0')
		return !need_path;
	while (*p == '/') {
		seg = ++p;
		while (path_char((unsigned char)*p, patterns))
			p++;
		n = (size_t)(p - seg);
		if (n == 0 || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
	}
	return *p == '\0';
}

static bool
is_http(const char *url)
{
	return strncmp(url, "http://", 7) == 0;
}

/*
 * A bundle endpoint URL (SPIFFE federation §5.2.1.1, §5.2.2.1): https://
 * (or http:// for a signed peer where allowed) with a host, without
 * userinfo or fragment; a signed peer's URL is a base for /bundle.jws and
 * /signers/N.jws, so it has no query either.
 */
static int
check_url(const char *url, bool is_signed, bool allow_http,
    enum anchor_peer_profile profile, char *why, size_t whylen)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL, *part = NULL;
	const char *p;
	int r = ANCHOR_E_INVAL;

	if (strlen(url) > URL_MAX) {
		snprintf(why, whylen, "the URL is longer than %d bytes", URL_MAX);
		goto out;
	}
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			snprintf(why, whylen, "the URL contains a space or a "
			    "control character");
			goto out;
		}
	if ((u = curl_url()) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    *host == '\0') {
		snprintf(why, whylen, "\"%.100s\" is not a URL", url);
		goto out;
	}
	if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0) {
		snprintf(why, whylen, "\"%.100s\" is not an https:// URL", url);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &part, 0) != CURLUE_NO_USER) {
		snprintf(why, whylen, "the URL must not carry userinfo");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) != CURLUE_NO_FRAGMENT) {
		snprintf(why, whylen, "the URL must not carry a fragment");
		goto out;
	}
	if (is_signed &&
	    curl_url_get(u, CURLUPART_QUERY, &part, 0) != CURLUE_NO_QUERY) {
		snprintf(why, whylen, "the URL of a peer with signers is a base "
		    "for /bundle.jws and /signers/N.jws: no query");
		goto out;
	}
	if (strcmp(scheme, "http") == 0) {
		if (profile == ANCHOR_PEER_HTTPS_SPIFFE) {
			snprintf(why, whylen, "https_spiffe needs an https:// URL");
			goto out;
		}
		if (!is_signed) {
			snprintf(why, whylen, "an http:// URL is accepted only "
			    "for a peer with signers (a pinned signer set)");
			goto out;
		}
		if (!allow_http) {
			snprintf(why, whylen, "an http:// URL needs "
			    "federation.allow_insecure_http: true");
			goto out;
		}
	}
	r = ANCHOR_OK;
 out:
	curl_free(part);
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(u);
	return r;
}

/* Pin an F3 for td: its version and fingerprint, or why not. */
static int
check_signers(const char *td, const uint8_t *f3, size_t len, unsigned *version,
    char fp[80], char *why, size_t whylen)
{
	struct anchor_verify_options vo;
	struct anchor_verify_signers *sg = NULL;
	struct anchor_verify_diag dg;
	char hex[65];
	int v;

	memset(&vo, 0, sizeof(vo));
	vo.trust_domain = td;
	dg.text[0] = '\0';
	v = anchor_verify_signers_pin(&vo, f3, len, &sg, &dg);
	if (v != ANCHOR_VERIFY_OK) {
		snprintf(why, whylen, "%s", v < 0 || dg.text[0] == '\0' ?
		    anchor_verify_strerror(v) : dg.text);
		sanitize(why);
		return v == ANCHOR_VERIFY_E_NOMEM ? ANCHOR_E_NOMEM : ANCHOR_E_INVAL;
	}
	*version = (unsigned)anchor_verify_signers_version(sg);
	anchor_verify_signers_fingerprint(sg, hex);
	group_fp(hex, fp);
	anchor_verify_signers_free(sg);
	return ANCHOR_OK;
}

/* PEM text with at least one certificate and nothing that is not PEM. */
static int
check_ca_pem(const char *pem, size_t len, char *why, size_t whylen)
{
	BIO *bio;
	X509 *x;
	unsigned n = 0;

	if (memchr(pem, '\0', len) != NULL) {
		snprintf(why, whylen, "the CA file is not PEM text");
		return ANCHOR_E_INVAL;
	}
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return ANCHOR_E_NOMEM;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		n++;
		X509_free(x);
	}
	BIO_free(bio);
	if (n == 0) {
		snprintf(why, whylen, "the CA file holds no PEM certificate");
		return ANCHOR_E_INVAL;
	}
	return ANCHOR_OK;
}

/* ---- Consumer files ---------------------------------------------------- */

int
anchor_fed_consumer_path(const struct anchor_conf *conf, const char *td,
    char *buf, size_t len)
{
	int n;

	if (!anchor_trust_domain_valid(td))
		return ANCHOR_E_INVAL;
	n = snprintf(buf, len, "%s/%s/%s.json", conf->state_dir, FED_DIR, td);
	return n < 0 || (size_t)n >= len ? ANCHOR_E_INVAL : ANCHOR_OK;
}

static int
fsync_path(const char *path)
{
	int fd, r = ANCHOR_OK;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return ANCHOR_E_IO;
	if (fsync(fd) != 0)
		r = ANCHOR_E_IO;
	close(fd);
	return r;
}

/* Write the consumer file of td unless it already holds these bytes. */
static int
consumer_write(struct anchor_domain *d, const char *td, const uint8_t *data,
    size_t len)
{
	char dir[PATH_MAX], path[PATH_MAX];
	uint8_t *old = NULL;
	size_t oldlen = 0;
	int n, r;

	n = snprintf(dir, sizeof(dir), "%s/%s", d->conf->state_dir, FED_DIR);
	if (n < 0 || (size_t)n >= sizeof(dir) ||
	    anchor_fed_consumer_path(d->conf, td, path, sizeof(path)) != ANCHOR_OK)
		return fail(d, ANCHOR_E_INVAL, "consumer file path of %.100s", td);
	if (mkdir(dir, 0755) == 0) {
		/* mkdir() applies the umask; consumers read this directory. */
		if (chmod(dir, 0755) != 0 || fsync_path(d->conf->state_dir) !=
		    ANCHOR_OK)
			return fail(d, ANCHOR_E_IO, "%s: %s", dir, strerror(errno));
	} else if (errno != EEXIST)
		return fail(d, ANCHOR_E_IO, "cannot create %s: %s", dir,
		    strerror(errno));
	if (anchor_read_file(path, FILE_MAX, &old, &oldlen) == ANCHOR_OK &&
	    oldlen == len && memcmp(old, data, len) == 0) {
		free(old);
		return ANCHOR_OK;
	}
	free(old);
	if ((r = anchor_write_atomic(path, data, len, 0644)) != ANCHOR_OK)
		return fail(d, r, "writing %s: %s", path, strerror(errno));
	return ANCHOR_OK;
}

static int
consumer_unlink(struct anchor_domain *d, const char *td)
{
	char dir[PATH_MAX], path[PATH_MAX];
	int n;

	n = snprintf(dir, sizeof(dir), "%s/%s", d->conf->state_dir, FED_DIR);
	if (n < 0 || (size_t)n >= sizeof(dir) ||
	    anchor_fed_consumer_path(d->conf, td, path, sizeof(path)) != ANCHOR_OK)
		return fail(d, ANCHOR_E_INVAL, "consumer file path of %.100s", td);
	if (unlink(path) != 0) {
		if (errno == ENOENT)
			return ANCHOR_OK;
		return fail(d, ANCHOR_E_IO, "cannot remove %s: %s", path,
		    strerror(errno));
	}
	if (fsync_path(dir) != ANCHOR_OK)
		return fail(d, ANCHOR_E_IO, "%s: %s", dir, strerror(errno));
	return ANCHOR_OK;
}

/* ---- Bundles --------------------------------------------------------- */

/*
 * The RFC 7638 thumbprint of the public key of X.509 authority i: the id
 * the peer's own audit log gives it (bundle.published).
 */
static int
x509_kid(const struct anchor_verify_bundle *b, size_t i,
    char kid[ANCHOR_KID_LEN + 1])
{
	const uint8_t *der;
	const unsigned char *p;
	size_t len;
	X509 *x;
	int r;

	if ((der = anchor_verify_bundle_x509_der(b, i, &len)) == NULL ||
	    len > LONG_MAX)
		return ANCHOR_E_INVAL;
	p = der;
	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL)
		return ANCHOR_E_CRYPTO;
	r = anchor_jwk_thumbprint(X509_get0_pubkey(x), kid);
	X509_free(x);
	return r;
}

/* The key ids of a bundle's X.509 and JWT authorities. */
static int
authority_ids(const struct anchor_verify_bundle *b, json_t **x509, json_t **jwt)
{
	char kid[ANCHOR_KID_LEN + 1];
	size_t i;
	json_t *xs = json_array(), *js = json_array();
	int r = ANCHOR_E_NOMEM;

	*x509 = NULL;
	*jwt = NULL;
	if (xs == NULL || js == NULL)
		goto out;
	for (i = 0; i < anchor_verify_bundle_x509_count(b); i++) {
		if ((r = x509_kid(b, i, kid)) != ANCHOR_OK)
			goto out;
		if (json_array_append_new(xs, json_string(kid)) != 0) {
			r = ANCHOR_E_NOMEM;
			goto out;
		}
	}
	for (i = 0; i < anchor_verify_bundle_jwt_count(b); i++)
		if (json_array_append_new(js,
		    json_string(anchor_verify_bundle_jwt_kid(b, i))) != 0) {
			r = ANCHOR_E_NOMEM;
			goto out;
		}
	*x509 = xs;
	*jwt = js;
	xs = js = NULL;
	r = ANCHOR_OK;
 out:
	json_decref(xs);
	json_decref(js);
	return r;
}

int
anchor_fed_bundle_pem(const uint8_t *payload, size_t len, char **pem,
    size_t *pemlen)
{
	struct anchor_verify_bundle *b = NULL;
	const uint8_t *der;
	const unsigned char *p;
	BIO *bio = NULL;
	X509 *x = NULL;
	char *data, *out = NULL;
	size_t i, dlen;
	long n;
	int r = ANCHOR_E_INTERNAL;

	*pem = NULL;
	*pemlen = 0;
	if (anchor_verify_bundle_parse(payload, len, NULL, &b, NULL) !=
	    ANCHOR_VERIFY_OK) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	for (i = 0; i < anchor_verify_bundle_x509_count(b); i++) {
		if ((der = anchor_verify_bundle_x509_der(b, i, &dlen)) == NULL ||
		    dlen > LONG_MAX)
			goto out;
		p = der;
		if ((x = d2i_X509(NULL, &p, (long)dlen)) == NULL) {
			r = ANCHOR_E_CRYPTO;
			goto out;
		}
		if (PEM_write_bio_X509(bio, x) != 1) {
			r = ANCHOR_E_CRYPTO;
			goto out;
		}
		X509_free(x);
		x = NULL;
	}
	n = BIO_get_mem_data(bio, &data);
	if (n < 0 || (out = malloc((size_t)n + 1)) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	if (n > 0)
		memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*pem = out;
	*pemlen = (size_t)n;
	out = NULL;
	r = ANCHOR_OK;
 out:
	free(out);
	X509_free(x);
	BIO_free(bio);
	anchor_verify_bundle_free(b);
	return r;
}

/* ---- Peers ----------------------------------------------------------- */

static json_t *
allow_json(const char *const *allow, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		if (json_array_append_new(a, json_string(allow[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/*
 * Check a spec and make a peer row of it (signers and CA file read).
 * version and fp describe the pinned signer set (0 and "" without one).
 */
static int
spec_to_row(struct anchor_domain *d, const struct anchor_fed_peer_spec *sp,
    enum anchor_peer_source src, const char *operator_name, int64_t now,
    struct anchor_peer_row *out, unsigned *version, char fp[80])
{
	const struct anchor_conf *conf = d->conf;
	struct anchor_peer_row p;
	enum anchor_peer_profile profile = ANCHOR_PEER_HTTPS_WEB;
	uint8_t *ca = NULL;
	size_t calen = 0, i;
	json_t *allow = NULL;
	char why[300];
	const char *td = sp->trust_domain;
	int r;

	memset(&p, 0, sizeof(p));
	memset(out, 0, sizeof(*out));
	*version = 0;
	fp[0] = '\0';
	if (td == NULL || !anchor_trust_domain_valid(td) ||
	    strlen(td) >= sizeof(p.trust_domain)) {
		r = fail(d, ANCHOR_E_INVAL, "\"%.100s\" is not a trust domain "
		    "name (lowercase letters, digits, '.', '-', '_')",
		    td != NULL ? td : "");
		goto out;
	}
	if (strcmp(td, conf->trust_domain) == 0) {
		r = fail(d, ANCHOR_E_INVAL, "%s is our own trust domain: a "
		    "trust domain does not federate with itself", td);
		goto out;
	}
	memcpy(p.trust_domain, td, strlen(td) + 1);
	if (sp->profile != NULL &&
	    anchor_peer_profile_parse(sp->profile, &profile) != ANCHOR_OK) {
		r = fail(d, ANCHOR_E_INVAL, "unknown profile \"%.40s\": use "
		    "https_web or https_spiffe", sp->profile);
		goto out;
	}
	p.profile = profile;
	if (profile == ANCHOR_PEER_HTTPS_SPIFFE) {
		if (sp->endpoint_spiffe_id == NULL) {
			r = fail(d, ANCHOR_E_INVAL, "https_spiffe needs the "
			    "endpoint's SPIFFE ID");
			goto out;
		}
		/* Only the peer's own bundle authenticates its endpoint. */
		if (!spiffe_id_in(sp->endpoint_spiffe_id, td, false, true)) {
			r = fail(d, ANCHOR_E_INVAL, "endpoint SPIFFE ID "
			    "\"%.100s\" must be a workload ID in trust domain "
			    "%s: only self-serving https_spiffe endpoints are "
			    "supported (trust is not transitive)",
			    sp->endpoint_spiffe_id, td);
			goto out;
		}
	} else if (sp->endpoint_spiffe_id != NULL) {
		r = fail(d, ANCHOR_E_INVAL, "an endpoint SPIFFE ID goes only "
		    "with profile https_spiffe");
		goto out;
	}
	if (sp->url == NULL) {
		r = fail(d, ANCHOR_E_INVAL, "no bundle endpoint URL");
		goto out;
	}
	if ((r = check_url(sp->url, sp->signers_path != NULL,
	    conf->allow_insecure_http, profile, why, sizeof(why))) != ANCHOR_OK) {
		fail(d, r, "%s", why);
		goto out;
	}
	if (sp->signers_path != NULL) {
		if ((r = anchor_read_file(sp->signers_path, FILE_MAX, &p.signers,
		    &p.signers_len)) != ANCHOR_OK) {
			fail(d, r, "signers file %s: %s", sp->signers_path,
			    r == ANCHOR_E_NOT_FOUND ? "not found" :
			    anchor_strerror(r));
			goto out;
		}
		if ((r = check_signers(td, p.signers, p.signers_len, version, fp,
		    why, sizeof(why))) != ANCHOR_OK) {
			fail(d, r, "signers file %s is not a signer set of %s: "
			    "%s", sp->signers_path, td, why);
			goto out;
		}
	}
	if (sp->ca_file != NULL) {
		if (profile != ANCHOR_PEER_HTTPS_WEB) {
			r = fail(d, ANCHOR_E_INVAL, "a CA file goes only with "
			    "profile https_web (https_spiffe trusts the peer's "
			    "bundle)");
			goto out;
		}
		if ((r = anchor_read_file(sp->ca_file, FILE_MAX, &ca, &calen)) !=
		    ANCHOR_OK) {
			fail(d, r, "CA file %s: %s", sp->ca_file,
			    anchor_strerror(r));
			goto out;
		}
		if ((r = check_ca_pem((const char *)ca, calen, why,
		    sizeof(why))) != ANCHOR_OK) {
			fail(d, r, "%s: %s", sp->ca_file, why);
			goto out;
		}
		p.ca_pem = (char *)ca;
		ca = NULL;
	}
	for (i = 0; i < sp->n_allow; i++)
		if (!spiffe_id_in(sp->allow[i], td, true, false)) {
			r = fail(d, ANCHOR_E_INVAL, "allow pattern \"%.100s\" is "
			    "not a SPIFFE ID pattern in trust domain %s (trust "
			    "is not transitive)", sp->allow[i], td);
			goto out;
		}
	if ((allow = allow_json(sp->allow, sp->n_allow)) == NULL ||
	    (p.allow = json_dumps(allow, JSON_COMPACT)) == NULL ||
	    (p.url = strdup(sp->url)) == NULL ||
	    (sp->endpoint_spiffe_id != NULL && (p.endpoint_spiffe_id =
	    strdup(sp->endpoint_spiffe_id)) == NULL) ||
	    (p.added_by = strdup(operator_name != NULL ? operator_name : "")) ==
	    NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	p.source = src;
	p.added_at = now;
	*out = p;
	memset(&p, 0, sizeof(p));
	r = ANCHOR_OK;
 out:
	free(ca);
	json_decref(allow);
	anchor_peer_row_clear(&p);
	return r;
}

static const struct anchor_peer *
conf_peer(const struct anchor_conf *conf, const char *td)
{
	size_t i;

	for (i = 0; i < conf->n_peers; i++)
		if (strcmp(conf->peers[i].trust_domain, td) == 0)
			return &conf->peers[i];
	return NULL;
}

static void
spec_of_conf(const struct anchor_peer *cp, struct anchor_fed_peer_spec *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->trust_domain = cp->trust_domain;
	sp->url = cp->bundle_endpoint_url;
	sp->profile = cp->profile;
	sp->endpoint_spiffe_id = cp->endpoint_spiffe_id;
	sp->signers_path = cp->signers;
	sp->allow = (const char *const *)cp->allow;
	sp->n_allow = cp->n_allow;
}

static int
audit_added(struct anchor_domain *d, const struct anchor_peer_row *p,
    unsigned version, const char *fp, const char *operator_name, int64_t now)
{
	json_t *data, *allow;
	int r;

	allow = json_loads(p->allow, 0, NULL);
	data = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}",
	    "trust_domain", p->trust_domain, "url", p->url,
	    "profile", anchor_peer_profile_name(p->profile),
	    "source", p->source == ANCHOR_PEER_FROM_CONFIG ? "config" : "cli",
	    "allow", allow != NULL ? allow : json_array(),
	    "operator", operator_name != NULL ? operator_name : "");
	if (data == NULL)
		return ANCHOR_E_NOMEM;
	if (p->endpoint_spiffe_id != NULL)
		json_object_set_new(data, "endpoint_spiffe_id",
		    json_string(p->endpoint_spiffe_id));
	if (p->signers != NULL) {
		json_object_set_new(data, "signers_version", json_integer(version));
		json_object_set_new(data, "signers_fingerprint", json_string(fp));
	}
	if (p->ca_pem != NULL)
		json_object_set_new(data, "ca_file", json_true());
	r = anchor_domain_audit(d, now, "federation.added", data);
	json_decref(data);
	return r;
}

static int
audit_removed(struct anchor_domain *d, const char *td, const char *reason,
    const char *operator_name, int64_t now)
{
	json_t *data;
	int r;

	data = json_pack("{s:s, s:s, s:s}", "trust_domain", td, "reason",
	    reason, "operator", operator_name != NULL ? operator_name : "");
	if (data == NULL)
		return ANCHOR_E_NOMEM;
	r = anchor_domain_audit(d, now, "federation.removed", data);
	json_decref(data);
	return r;
}

static bool
str_eq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
blob_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/*
 * Bring a stored configuration peer in line with the configuration.  The
 * pinned signer set changes only while no bundle was verified with it:
 * afterwards the stored chain is the root of trust.
 */
static int
sync_one(struct anchor_domain *d, struct anchor_peer_row *have,
    struct anchor_peer_row *want, int64_t now, anchor_say_fn sayfn, void *arg)
{
	json_t *changed = NULL, *data = NULL;
	bool same_signers, keep_signers;
	int r;

	if ((changed = json_array()) == NULL)
		return ANCHOR_E_NOMEM;
	same_signers = blob_eq(have->signers, have->signers_len, want->signers,
	    want->signers_len);
	keep_signers = !same_signers && want->signers != NULL &&
	    have->verifier_state != NULL;
	if (keep_signers)
		say(sayfn, arg, "warning: %s: the signer set in %s differs from "
		    "the one pinned when the peer was added; the stored chain "
		    "stays the root of trust (to pin the file again, remove "
		    "the peer and add it back)", have->trust_domain,
		    d->conf->path);
	if (!str_eq(have->url, want->url))
		json_array_append_new(changed, json_string("url"));
	if (have->profile != want->profile)
		json_array_append_new(changed, json_string("profile"));
	if (!str_eq(have->endpoint_spiffe_id, want->endpoint_spiffe_id))
		json_array_append_new(changed, json_string("endpoint_spiffe_id"));
	if (!str_eq(have->allow, want->allow))
		json_array_append_new(changed, json_string("allow"));
	if (!str_eq(have->ca_pem, want->ca_pem))
		json_array_append_new(changed, json_string("ca_file"));
	if (have->source != want->source)
		json_array_append_new(changed, json_string("source"));
	if (!same_signers && !keep_signers)
		json_array_append_new(changed, json_string("signers"));
	if (json_array_size(changed) == 0) {
		r = ANCHOR_OK;
		goto out;
	}
	if (keep_signers) {
		free(want->signers);
		want->signers = have->signers;
		want->signers_len = have->signers_len;
		have->signers = NULL;
		have->signers_len = 0;
	}
	/* New signers, or none, forget the verified chain. */
	if (same_signers || keep_signers) {
		want->verifier_state = have->verifier_state;
		have->verifier_state = NULL;
	}
	if ((r = anchor_store_peer_update(d->store, want)) != ANCHOR_OK) {
		fail(d, r, "updating peer %s: %s", want->trust_domain,
		    anchor_store_errmsg(d->store));
		goto out;
	}
	data = json_pack("{s:s, s:O, s:s, s:s}", "trust_domain",
	    want->trust_domain, "changed", changed, "url", want->url,
	    "profile", anchor_peer_profile_name(want->profile));
	if (data == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	if ((r = anchor_domain_audit(d, now, "federation.changed", data)) !=
	    ANCHOR_OK)
		goto out;
	say(sayfn, arg, "%s: parameters changed in %s", want->trust_domain,
	    d->conf->path);
 out:
	json_decref(data);
	json_decref(changed);
	return r;
}

int
anchor_fed_sync(struct anchor_domain *d, int64_t now, anchor_say_fn sayfn,
    void *arg, unsigned *errors)
{
	const struct anchor_conf *conf = d->conf;
	struct anchor_fed_peer_spec sp;
	struct anchor_peer_row *rows = NULL, want, have;
	size_t n = 0, i;
	unsigned version, nerr = 0;
	char fp[80], t[32];
	bool in_tx = false;
	int r;

	memset(&want, 0, sizeof(want));
	memset(&have, 0, sizeof(have));
	if (errors != NULL)
		*errors = 0;
	if ((r = anchor_domain_begin(d)) != ANCHOR_OK)
		goto out;
	in_tx = true;
	for (i = 0; i < conf->n_peers; i++) {
		const struct anchor_peer *cp = &conf->peers[i];

		anchor_peer_row_clear(&want);
		anchor_peer_row_clear(&have);
		spec_of_conf(cp, &sp);
		if (spec_to_row(d, &sp, ANCHOR_PEER_FROM_CONFIG, "config", now,
		    &want, &version, fp) != ANCHOR_OK) {
			say(sayfn, arg, "error: peer %.100s in %s: %s",
			    cp->trust_domain, conf->path, d->detail);
			nerr++;
			continue;
		}
		r = anchor_store_peer_get(d->store, cp->trust_domain, &have);
		if (r == ANCHOR_E_NOT_FOUND) {
			if ((r = anchor_store_peer_insert(d->store, &want)) !=
			    ANCHOR_OK) {
				say(sayfn, arg, "error: peer %.100s in %s: %s",
				    cp->trust_domain, conf->path,
				    anchor_store_errmsg(d->store));
				nerr++;
				continue;
			}
			if ((r = audit_added(d, &want, version, fp, "config",
			    now)) != ANCHOR_OK)
				goto out;
			if (want.signers != NULL)
				say(sayfn, arg, "%s: added from %s, signer set "
				    "version %u pinned, fingerprint %s",
				    cp->trust_domain, conf->path, version, fp);
			else
				say(sayfn, arg, "%s: added from %s",
				    cp->trust_domain, conf->path);
			continue;
		}
		if (r != ANCHOR_OK) {
			fail(d, r, "reading peer %s: %s", cp->trust_domain,
			    anchor_store_errmsg(d->store));
			goto out;
		}
		if (have.removed_at != 0) {
			fmt_time(have.removed_at, t, sizeof(t));
			say(sayfn, arg, "warning: %s was removed on %s by %.100s "
			    "(%.200s) and stays removed although %s lists it: "
			    "delete it from the configuration, or bring it back "
			    "with 'anchorctl federation add %s'",
			    have.trust_domain, t, have.removed_by != NULL &&
			    *have.removed_by ? have.removed_by : "an operator",
			    have.removed_reason != NULL ? have.removed_reason : "",
			    conf->path, have.trust_domain);
			continue;
		}
		if ((r = sync_one(d, &have, &want, now, sayfn, arg)) != ANCHOR_OK)
			goto out;
	}

	/* Configuration peers that left the configuration. */
	if ((r = anchor_store_peers(d->store, &rows, &n)) != ANCHOR_OK) {
		fail(d, r, "reading peers: %s", anchor_store_errmsg(d->store));
		goto out;
	}
	for (i = 0; i < n; i++) {
		static const char reason[] = "no longer in the configuration";

		if (rows[i].removed_at != 0 ||
		    rows[i].source != ANCHOR_PEER_FROM_CONFIG ||
		    conf_peer(conf, rows[i].trust_domain) != NULL)
			continue;
		if ((r = consumer_unlink(d, rows[i].trust_domain)) != ANCHOR_OK)
			goto out;
		if ((r = anchor_store_peer_remove(d->store, rows[i].trust_domain,
		    now, reason, "config")) != ANCHOR_OK) {
			fail(d, r, "removing peer %s: %s", rows[i].trust_domain,
			    anchor_store_errmsg(d->store));
			goto out;
		}
		if ((r = audit_removed(d, rows[i].trust_domain, reason, "config",
		    now)) != ANCHOR_OK)
			goto out;
		say(sayfn, arg, "%s: removed (%s)", rows[i].trust_domain, reason);
	}
	in_tx = false;
	if ((r = anchor_domain_commit(d)) != ANCHOR_OK) {
		fail(d, r, "storing the peers: %s", anchor_store_errmsg(d->store));
		goto out;
	}
	/* A removal whose file outlived it (a crash in between) is finished. */
	for (i = 0; i < n; i++)
		if (rows[i].removed_at != 0 &&
		    (r = consumer_unlink(d, rows[i].trust_domain)) != ANCHOR_OK)
			goto out;
	r = ANCHOR_OK;
 out:
	if (in_tx)
		anchor_domain_rollback(d);
	if (errors != NULL)
		*errors = nerr;
	anchor_peer_row_clear(&want);
	anchor_peer_row_clear(&have);
	anchor_peer_rows_free(rows, n);
	return r;
}

/* A bundle given by an operator, as a row for td. */
static int
read_bootstrap(struct anchor_domain *d, const char *td, const char *path,
    int64_t now, struct anchor_peer_bundle_row *out, size_t *n_x509)
{
	struct anchor_verify_bundle *vb = NULL;
	struct anchor_verify_diag dg;
	uint8_t *data = NULL;
	size_t len = 0;
	int64_t hint;
	int v, r;

	memset(out, 0, sizeof(*out));
	if ((r = anchor_read_file(path, FILE_MAX, &data, &len)) != ANCHOR_OK) {
		fail(d, r, "bundle file %s: %s", path, anchor_strerror(r));
		goto out;
	}
	dg.text[0] = '\0';
	if ((v = anchor_verify_bundle_parse(data, len, NULL, &vb, &dg)) !=
	    ANCHOR_VERIFY_OK) {
		sanitize(dg.text);
		r = fail(d, ANCHOR_E_INVAL, "%s is not a SPIFFE bundle: %s", path,
		    dg.text[0] != '\0' ? dg.text : anchor_verify_strerror(v));
		goto out;
	}
	memcpy(out->trust_domain, td, strlen(td) + 1);
	out->has_sequence = anchor_verify_bundle_sequence(vb, &out->sequence) == 1;
	out->refresh_hint = anchor_verify_bundle_refresh_hint(vb, &hint) == 1 ?
	    hint : -1;
	out->bootstrap = true;
	out->stored_at = now;
	out->payload = data;
	out->payload_len = len;
	data = NULL;
	*n_x509 = anchor_verify_bundle_x509_count(vb);
	r = ANCHOR_OK;
 out:
	free(data);
	anchor_verify_bundle_free(vb);
	return r;
}

static int
store_bootstrap(struct anchor_domain *d, const struct anchor_peer_bundle_row *b,
    const char *operator_name, int64_t now)
{
	json_t *data;
	int r;

	if ((r = anchor_store_peer_bundle_put(d->store, b)) != ANCHOR_OK)
		return fail(d, r, "storing the bundle of %s: %s", b->trust_domain,
		    anchor_store_errmsg(d->store));
	data = json_pack("{s:s, s:o, s:s}", "trust_domain", b->trust_domain,
	    "sequence", b->has_sequence ? json_integer((json_int_t)b->sequence) :
	    json_null(), "operator", operator_name != NULL ? operator_name : "");
	if (data == NULL)
		return ANCHOR_E_NOMEM;
	r = anchor_domain_audit(d, now, "peer.bundle.bootstrap", data);
	json_decref(data);
	return r;
}

int
anchor_fed_add(struct anchor_domain *d, const struct anchor_fed_peer_spec *spec,
    const char *bootstrap_path, const char *operator_name, int64_t now,
    anchor_say_fn sayfn, void *arg)
{
	const struct anchor_conf *conf = d->conf;
	const struct anchor_peer *cp;
	struct anchor_fed_peer_spec sp = *spec;
	struct anchor_peer_row row, have;
	struct anchor_peer_bundle_row boot;
	unsigned version = 0;
	size_t n_x509 = 0;
	char fp[80], t[32];
	bool in_tx = false;
	int r;

	memset(&row, 0, sizeof(row));
	memset(&have, 0, sizeof(have));
	memset(&boot, 0, sizeof(boot));
	if (spec->trust_domain == NULL) {
		r = fail(d, ANCHOR_E_INVAL, "no trust domain");
		goto out;
	}
	cp = conf_peer(conf, spec->trust_domain);
	if (cp != NULL && (spec->url != NULL || spec->profile != NULL ||
	    spec->endpoint_spiffe_id != NULL || spec->signers_path != NULL ||
	    spec->ca_file != NULL || spec->n_allow > 0)) {
		r = fail(d, ANCHOR_E_EXISTS, "%s is configured in %s: change it "
		    "there", spec->trust_domain, conf->path);
		goto out;
	}
	if (cp == NULL && spec->url == NULL) {
		r = fail(d, ANCHOR_E_INVAL, "%.100s: give its bundle endpoint "
		    "URL (--url)", spec->trust_domain);
		goto out;
	}
	if (cp != NULL)
		spec_of_conf(cp, &sp);
	if ((r = spec_to_row(d, &sp, cp != NULL ? ANCHOR_PEER_FROM_CONFIG :
	    ANCHOR_PEER_FROM_CLI, operator_name, now, &row, &version, fp)) !=
	    ANCHOR_OK)
		goto out;
	if (bootstrap_path != NULL) {
		if ((r = read_bootstrap(d, row.trust_domain, bootstrap_path, now,
		    &boot, &n_x509)) != ANCHOR_OK)
			goto out;
		if (row.profile == ANCHOR_PEER_HTTPS_SPIFFE && n_x509 == 0) {
			r = fail(d, ANCHOR_E_INVAL, "%s has no X.509 authority to "
			    "authenticate the https_spiffe endpoint",
			    bootstrap_path);
			goto out;
		}
	}
	if ((r = anchor_domain_begin(d)) != ANCHOR_OK)
		goto out;
	in_tx = true;
	if ((r = anchor_store_peer_insert(d->store, &row)) != ANCHOR_OK) {
		if (r == ANCHOR_E_EXISTS &&
		    anchor_store_peer_get(d->store, row.trust_domain, &have) ==
		    ANCHOR_OK) {
			fmt_time(have.added_at, t, sizeof(t));
			fail(d, r, "%s is already a peer (added %s): remove it "
			    "first", row.trust_domain, t);
		} else
			fail(d, r, "adding %s: %s", row.trust_domain,
			    anchor_store_errmsg(d->store));
		goto out;
	}
	if ((r = audit_added(d, &row, version, fp, operator_name, now)) !=
	    ANCHOR_OK)
		goto out;
	if (bootstrap_path != NULL &&
	    (r = store_bootstrap(d, &boot, operator_name, now)) != ANCHOR_OK)
		goto out;
	in_tx = false;
	if ((r = anchor_domain_commit(d)) != ANCHOR_OK) {
		fail(d, r, "storing peer %s: %s", row.trust_domain,
		    anchor_store_errmsg(d->store));
		goto out;
	}
	say(sayfn, arg, "added %s (%s, %s)", row.trust_domain, row.url,
	    anchor_peer_profile_name(row.profile));
	if (row.signers != NULL)
		say(sayfn, arg, "pinned signer set version %u of %s, fingerprint "
		    "%s: compare it with the one %s gave you", version,
		    row.trust_domain, fp, row.trust_domain);
	if (bootstrap_path != NULL) {
		say(sayfn, arg, "stored the bundle in %s until the first fetch",
		    bootstrap_path);
		r = consumer_write(d, boot.trust_domain, boot.payload,
		    boot.payload_len);
	}
 out:
	if (in_tx)
		anchor_domain_rollback(d);
	anchor_peer_bundle_row_clear(&boot);
	anchor_peer_row_clear(&row);
	anchor_peer_row_clear(&have);
	return r;
}

/* The peer td, in force. */
static int
peer_in_force(struct anchor_domain *d, const char *td, struct anchor_peer_row *p)
{
	char t[32];
	int r;

	if ((r = anchor_store_peer_get(d->store, td, p)) == ANCHOR_E_NOT_FOUND)
		return fail(d, r, "no peer %.100s", td);
	if (r != ANCHOR_OK)
		return fail(d, r, "reading peer %.100s: %s", td,
		    anchor_store_errmsg(d->store));
	if (p->removed_at != 0) {
		fmt_time(p->removed_at, t, sizeof(t));
		anchor_peer_row_clear(p);
		return fail(d, ANCHOR_E_NOT_FOUND, "%.100s was removed on %s",
		    td, t);
	}
	return ANCHOR_OK;
}

int
anchor_fed_bootstrap(struct anchor_domain *d, const char *td,
    const char *bundle_path, const char *operator_name, int64_t now)
{
	struct anchor_peer_row p;
	struct anchor_peer_bundle_row boot;
	size_t n_x509 = 0;
	bool in_tx = false;
	int r;

	memset(&p, 0, sizeof(p));
	memset(&boot, 0, sizeof(boot));
	if ((r = peer_in_force(d, td, &p)) != ANCHOR_OK)
		goto out;
	if ((r = read_bootstrap(d, p.trust_domain, bundle_path, now, &boot,
	    &n_x509)) != ANCHOR_OK)
		goto out;
	if (p.profile == ANCHOR_PEER_HTTPS_SPIFFE && n_x509 == 0) {
		r = fail(d, ANCHOR_E_INVAL, "%s has no X.509 authority to "
		    "authenticate the https_spiffe endpoint", bundle_path);
		goto out;
	}
	if ((r = anchor_domain_begin(d)) != ANCHOR_OK)
		goto out;
	in_tx = true;
	if ((r = store_bootstrap(d, &boot, operator_name, now)) != ANCHOR_OK)
		goto out;
	in_tx = false;
	if ((r = anchor_domain_commit(d)) != ANCHOR_OK) {
		fail(d, r, "storing the bundle of %s: %s", td,
		    anchor_store_errmsg(d->store));
		goto out;
	}
	r = consumer_write(d, boot.trust_domain, boot.payload, boot.payload_len);
 out:
	if (in_tx)
		anchor_domain_rollback(d);
	anchor_peer_bundle_row_clear(&boot);
	anchor_peer_row_clear(&p);
	return r;
}

int
anchor_fed_remove(struct anchor_domain *d, const char *td, const char *reason,
    const char *operator_name, int64_t now, anchor_say_fn sayfn, void *arg)
{
	struct anchor_peer_row p;
	bool in_tx = false;
	int r;

	memset(&p, 0, sizeof(p));
	if (reason == NULL || *reason == '\0') {
		r = fail(d, ANCHOR_E_INVAL, "a removal needs a reason");
		goto out;
	}
	if ((r = peer_in_force(d, td, &p)) != ANCHOR_OK)
		goto out;
	/* Consumers lose the bundle first: a removal is a revocation. */
	if ((r = consumer_unlink(d, p.trust_domain)) != ANCHOR_OK)
		goto out;
	if ((r = anchor_domain_begin(d)) != ANCHOR_OK)
		goto out;
	in_tx = true;
	if ((r = anchor_store_peer_remove(d->store, p.trust_domain, now, reason,
	    operator_name)) != ANCHOR_OK) {
		fail(d, r, "removing %s: %s", p.trust_domain,
		    anchor_store_errmsg(d->store));
		goto out;
	}
	if ((r = audit_removed(d, p.trust_domain, reason, operator_name, now)) !=
	    ANCHOR_OK)
		goto out;
	in_tx = false;
	if ((r = anchor_domain_commit(d)) != ANCHOR_OK) {
		fail(d, r, "removing %s: %s", p.trust_domain,
		    anchor_store_errmsg(d->store));
		goto out;
	}
	if (p.source == ANCHOR_PEER_FROM_CONFIG &&
	    conf_peer(d->conf, p.trust_domain) != NULL)
		say(sayfn, arg, "warning: %s is still listed in %s: it stays "
		    "removed until you add it back with 'anchorctl federation "
		    "add %s'; delete it from the configuration",
		    p.trust_domain, d->conf->path, p.trust_domain);
 out:
	if (in_tx)
		anchor_domain_rollback(d);
	anchor_peer_row_clear(&p);
	return r;
}

/* ---- Fetching -------------------------------------------------------- */

enum fed_step {
	STEP_BUNDLE,		/* the bundle: <url> or <url>/bundle.jws */
	STEP_SIGNERS,		/* <url>/signers/N.jws, N = next_version */
	STEP_DONE,
};

struct anchor_fed_refresh {
	struct anchor_fed_opts o;
	char td[256];
	char *url;			/* as configured */
	char *base;			/* url without trailing '/' */
	enum anchor_peer_profile profile;
	char *endpoint_id;
	bool is_signed;
	char *trust_pem;		/* TLS trust anchors, or NULL: system CAs */

	/* what the store held, to find a change made while fetching */
	char *state_snapshot;
	bool had_bundle;
	uint8_t stored_sha[32];
	bool stored_has_seq, stored_bootstrap;
	uint64_t stored_seq;
	unsigned stored_signers_version;

	struct anchor_verify_state *st;	/* signed peers */
	CURL *easy;
	struct curl_slist *headers;
	char *cur_url;
	char errbuf[CURL_ERROR_SIZE];
	char tls_why[256];		/* why the https_spiffe check refused */
	uint8_t *body;
	size_t body_len, body_cap;
	bool too_big;

	enum fed_step step;
	uint8_t *jws;			/* the F2 while signer sets are fetched */
	size_t jws_len;
	char first_failure[300];	/* the verifier's "not trusted" reason */
	uint64_t next_version;
	uint8_t *step_data[ANCHOR_FED_MAX_SIGNER_STEPS];
	size_t step_len[ANCHOR_FED_MAX_SIGNER_STEPS];
	size_t n_steps, steps_bytes;

	/* the outcome */
	bool accepted, changed, transport;
	char reason[REASON_MAX];
	uint8_t *payload;
	size_t payload_len;
	uint8_t sha[32];
	bool has_seq;
	uint64_t seq;
	int64_t hint;
	unsigned signers_version;
	char *new_state;
};

static void __attribute__((format(printf, 3, 4)))
reject(struct anchor_fed_refresh *f, bool transport, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->reason, sizeof(f->reason), fmt, ap);
	va_end(ap);
	sanitize(f->reason);
	f->accepted = false;
	f->transport = transport;
	f->step = STEP_DONE;
}

/* The name of what the current request fetches, for messages. */
static const char *
what(const struct anchor_fed_refresh *f)
{
	return f->cur_url != NULL ? f->cur_url : f->url;
}

static char *
pem_of_bundle(const struct anchor_peer_bundle_row *b, size_t *n)
{
	char *pem = NULL;
	size_t len = 0;

	*n = 0;
	if (anchor_fed_bundle_pem(b->payload, b->payload_len, &pem, &len) !=
	    ANCHOR_OK)
		return NULL;
	if (len == 0) {
		free(pem);
		return NULL;
	}
	*n = len;
	return pem;
}

/* The verifier state of a signed peer: stored, or the pinned set. */
static void
load_state(struct anchor_fed_refresh *f, const struct anchor_peer_row *p)
{
	struct anchor_verify_options vo;
	struct anchor_verify_signers *pinned = NULL;
	struct anchor_verify_diag dg;
	int v;

	memset(&vo, 0, sizeof(vo));
	vo.trust_domain = f->td;
	dg.text[0] = '\0';
	if (p->verifier_state != NULL) {
		v = anchor_verify_state_load(&vo,
		    (const uint8_t *)p->verifier_state,
		    strlen(p->verifier_state), &f->st, &dg);
		if (v != ANCHOR_VERIFY_OK)
			reject(f, false, "stored verifier state: %s", dg.text[0] ?
			    dg.text : anchor_verify_strerror(v));
		return;
	}
	v = anchor_verify_signers_pin(&vo, p->signers, p->signers_len, &pinned,
	    &dg);
	if (v == ANCHOR_VERIFY_OK)
		v = anchor_verify_state_new(pinned, &f->st);
	if (v != ANCHOR_VERIFY_OK)
		reject(f, false, "pinned signer set: %s", dg.text[0] ? dg.text :
		    anchor_verify_strerror(v));
	anchor_verify_signers_free(pinned);
}

int
anchor_fed_refresh_new(const struct anchor_peer_row *p,
    const struct anchor_peer_bundle_row *b, const struct anchor_fed_opts *o,
    struct anchor_fed_refresh **out)
{
	struct anchor_fed_refresh *f = NULL;
	size_t n, pemlen;
	int r = ANCHOR_E_NOMEM;

	*out = NULL;
	if (p == NULL || o == NULL || p->removed_at != 0 || p->url == NULL ||
	    memchr(p->trust_domain, '\0', sizeof(p->trust_domain)) == NULL ||
	    !anchor_trust_domain_valid(p->trust_domain))
		return ANCHOR_E_INVAL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		goto out;
	f->o = *o;
	if (f->o.connect_timeout_ms <= 0)
		f->o.connect_timeout_ms = ANCHOR_FED_CONNECT_TIMEOUT_MS;
	if (f->o.timeout_ms <= 0)
		f->o.timeout_ms = ANCHOR_FED_TIMEOUT_MS;
	if (f->o.connect_timeout_ms > f->o.timeout_ms)
		f->o.connect_timeout_ms = f->o.timeout_ms;
	if (f->o.max_bytes == 0)
		f->o.max_bytes = ANCHOR_FED_MAX_BYTES;
	memcpy(f->td, p->trust_domain, strlen(p->trust_domain) + 1);
	f->profile = p->profile;
	f->is_signed = p->signers != NULL;
	f->hint = -1;
	if ((f->url = strdup(p->url)) == NULL ||
	    (f->base = strdup(p->url)) == NULL ||
	    (p->endpoint_spiffe_id != NULL &&
	    (f->endpoint_id = strdup(p->endpoint_spiffe_id)) == NULL) ||
	    (p->verifier_state != NULL &&
	    (f->state_snapshot = strdup(p->verifier_state)) == NULL))
		goto out;
	for (n = strlen(f->base); n > 0 && f->base[n - 1] == '/'; n--)
		f->base[n - 1] = '\0';
	if (b != NULL) {
		f->had_bundle = true;
		memcpy(f->stored_sha, b->sha256, sizeof(f->stored_sha));
		f->stored_has_seq = b->has_sequence;
		f->stored_seq = b->sequence;
		f->stored_bootstrap = b->bootstrap;
		f->stored_signers_version = b->signers_version;
	}
	f->step = STEP_BUNDLE;

	/* Refusals before any request; apply records them like any other. */
	if (is_http(f->url) && !f->is_signed)
		reject(f, false, "an http:// URL is accepted only for a peer "
		    "with signers");
	else if (is_http(f->url) && !f->o.allow_insecure_http)
		reject(f, false, "http:// refused: federation."
		    "allow_insecure_http is not set");
	else if (f->profile == ANCHOR_PEER_HTTPS_SPIFFE) {
		if (f->endpoint_id == NULL ||
		    !spiffe_id_in(f->endpoint_id, f->td, false, true))
			reject(f, false, "endpoint SPIFFE ID %.100s is not in "
			    "trust domain %s", f->endpoint_id ? f->endpoint_id :
			    "(none)", f->td);
		else if (b == NULL || (f->trust_pem = pem_of_bundle(b,
		    &pemlen)) == NULL)
			reject(f, false, "no bundle of %s with an X.509 authority "
			    "to authenticate its https_spiffe endpoint: give one "
			    "with 'anchorctl federation bootstrap %s --bundle "
			    "FILE'", f->td, f->td);
	} else if (p->ca_pem != NULL &&
	    (f->trust_pem = strdup(p->ca_pem)) == NULL)
		goto out;
	if (f->step != STEP_DONE && f->is_signed)
		load_state(f, p);
	*out = f;
	f = NULL;
	r = ANCHOR_OK;
 out:
	anchor_fed_refresh_free(f);
	return r;
}

void
anchor_fed_refresh_free(struct anchor_fed_refresh *f)
{
	size_t i;

	if (f == NULL)
		return;
	curl_easy_cleanup(f->easy);
	curl_slist_free_all(f->headers);
	anchor_verify_state_free(f->st);
	for (i = 0; i < f->n_steps; i++)
		free(f->step_data[i]);
	free(f->url);
	free(f->base);
	free(f->endpoint_id);
	free(f->trust_pem);
	free(f->state_snapshot);
	free(f->cur_url);
	free(f->body);
	free(f->jws);
	free(f->payload);
	free(f->new_state);
	free(f);
}

const char *
anchor_fed_refresh_trust_domain(const struct anchor_fed_refresh *f)
{
	return f->td;
}

bool
anchor_fed_refresh_accepted(const struct anchor_fed_refresh *f)
{
	return f->step == STEP_DONE && f->accepted;
}

const char *
anchor_fed_refresh_reason(const struct anchor_fed_refresh *f)
{
	if (f->step != STEP_DONE)
		return "not finished";
	return f->accepted ? "accepted" : f->reason;
}

bool
anchor_fed_refresh_transport(const struct anchor_fed_refresh *f)
{
	return f->step == STEP_DONE && !f->accepted && f->transport;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct anchor_fed_refresh *f = arg;
	size_t n, cap;
	uint8_t *p;

	if (nmemb != 0 && size > SIZE_MAX / nmemb) {
		f->too_big = true;
		return 0;
	}
	n = size * nmemb;
	/* R1 before parsing: the transfer ends at the cap. */
	if (n > f->o.max_bytes - f->body_len) {
		f->too_big = true;
		return 0;
	}
	if (f->body_len + n > f->body_cap) {
		cap = f->body_cap ? f->body_cap : 4096;
		while (cap < f->body_len + n)
			cap *= 2;
		if (cap > f->o.max_bytes)
			cap = f->o.max_bytes;
		if ((p = realloc(f->body, cap)) == NULL)
			return 0;
		f->body = p;
		f->body_cap = cap;
	}
	memcpy(f->body + f->body_len, data, n);
	f->body_len += n;
	return n;
}

/*
 * The endpoint's certificate is an X509-SVID for the configured SPIFFE ID
 * (X509-SVID §4, §5): one URI SAN equal to it, not a CA, digitalSignature
 * and neither keyCertSign nor cRLSign.  The chain was verified against the
 * peer's stored bundle.
 */
static int
svid_check(X509 *leaf, const char *want, char *why, size_t len)
{
	GENERAL_NAMES *sans;
	const GENERAL_NAME *gn;
	const unsigned char *uri = NULL;
	char got[128];
	int i, n_uri = 0, ulen = 0, r = -1;

	if ((X509_get_extension_flags(leaf) & EXFLAG_CA) != 0 ||
	    X509_check_ca(leaf) != 0) {
		snprintf(why, len, "the endpoint presents a CA certificate, not "
		    "an X509-SVID");
		return -1;
	}
	if ((X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) == 0 ||
	    (X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE) == 0) {
		snprintf(why, len, "the endpoint's certificate lacks the "
		    "digitalSignature key usage of an X509-SVID");
		return -1;
	}
	if ((X509_get_key_usage(leaf) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) != 0) {
		snprintf(why, len, "the endpoint's certificate may sign "
		    "certificates or CRLs: not an X509-SVID");
		return -1;
	}
	sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type != GEN_URI)
			continue;
		n_uri++;
		uri = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		ulen = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
	}
	if (n_uri != 1) {
		snprintf(why, len, "the endpoint's certificate has %d URI SANs; "
		    "an X509-SVID has exactly one", n_uri);
		goto out;
	}
	if (ulen < 0 || (size_t)ulen != strlen(want) ||
	    memcmp(uri, want, (size_t)ulen) != 0) {
		snprintf(got, sizeof(got), "%.*s", ulen < 100 ? ulen : 100,
		    (const char *)uri);
		sanitize(got);
		snprintf(why, len, "the endpoint presents %s, not %.100s", got,
		    want);
		goto out;
	}
	r = 0;
 out:
	GENERAL_NAMES_free(sans);
	return r;
}

static int
svid_verify_cb(X509_STORE_CTX *xs, void *arg)
{
	struct anchor_fed_refresh *f = arg;
	X509 *leaf;

	if (X509_verify_cert(xs) != 1) {
		snprintf(f->tls_why, sizeof(f->tls_why), "the endpoint's "
		    "certificate does not chain to the stored bundle of %.60s: "
		    "%s", f->td, X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(xs)));
		return 0;
	}
	if ((leaf = X509_STORE_CTX_get0_cert(xs)) == NULL ||
	    svid_check(leaf, f->endpoint_id, f->tls_why, sizeof(f->tls_why)) !=
	    0) {
		if (leaf == NULL)
			snprintf(f->tls_why, sizeof(f->tls_why), "no certificate");
		X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	return 1;
}

static CURLcode
ssl_ctx_cb(CURL *easy, void *sslctx, void *arg)
{
	struct anchor_fed_refresh *f = arg;
	SSL_CTX *ctx = sslctx;

	(void)easy;
	/* Certificates are checked at the time the whole refresh uses. */
	X509_VERIFY_PARAM_set_time(SSL_CTX_get0_param(ctx), (time_t)f->o.now);
	if (f->profile == ANCHOR_PEER_HTTPS_SPIFFE)
		SSL_CTX_set_cert_verify_callback(ctx, svid_verify_cb, f);
	return CURLE_OK;
}

/* Configure f->easy for f->cur_url. */
static CURLcode
setup_easy(struct anchor_fed_refresh *f)
{
	const char *scheme = is_http(f->url) ? "http" : "https";
	struct curl_blob blob;
	CURL *e = f->easy;
	CURLcode c;

	f->errbuf[0] = '\0';
	f->tls_why[0] = '\0';
#define SET(opt, val) \
	if ((c = curl_easy_setopt(e, opt, val)) != CURLE_OK) \
		return c
	SET(CURLOPT_URL, f->cur_url);
	SET(CURLOPT_PRIVATE, f);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, f->errbuf);
	SET(CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	SET(CURLOPT_HTTPHEADER, f->headers);
	/* Never another scheme, also after a redirect; redirects are
	 * followed (a few) but never remembered. */
	SET(CURLOPT_PROTOCOLS_STR, scheme);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, scheme);
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, (long)ANCHOR_FED_MAX_REDIRECTS);
	SET(CURLOPT_CONNECTTIMEOUT_MS, f->o.connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, f->o.timeout_ms);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->o.max_bytes);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, f);
	/* Every request on a fresh, fully verified connection. */
	SET(CURLOPT_FORBID_REUSE, 1L);
	SET(CURLOPT_FRESH_CONNECT, 1L);
	if (strcmp(scheme, "https") == 0) {
		SET(CURLOPT_SSL_SESSIONID_CACHE, 0L);
		SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
		SET(CURLOPT_SSL_VERIFYPEER, 1L);
		/* An SVID names no host: https_spiffe checks the SPIFFE ID. */
		SET(CURLOPT_SSL_VERIFYHOST,
		    f->profile == ANCHOR_PEER_HTTPS_SPIFFE ? 0L : 2L);
		SET(CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
		SET(CURLOPT_SSL_CTX_DATA, f);
		if (f->trust_pem != NULL) {
			blob.data = f->trust_pem;
			blob.len = strlen(f->trust_pem);
			blob.flags = CURL_BLOB_COPY;
			SET(CURLOPT_CAINFO_BLOB, &blob);
			/* The only trust anchors: no system store. */
			SET(CURLOPT_CAINFO, NULL);
			SET(CURLOPT_CAPATH, NULL);
		}
	}
#undef SET
	return CURLE_OK;
}

int
anchor_fed_refresh_next(struct anchor_fed_refresh *f, CURL **easy)
{
	const char *accept;
	char hdr[64];
	CURLcode c;
	int n;

	*easy = NULL;
	if (f->step == STEP_DONE)
		return ANCHOR_OK;
	free(f->cur_url);
	f->cur_url = NULL;
	if (f->step == STEP_BUNDLE)
		n = f->is_signed ? asprintf(&f->cur_url, "%s/bundle.jws", f->base) :
		    asprintf(&f->cur_url, "%s", f->url);
	else
		n = asprintf(&f->cur_url, "%s/signers/%" PRIu64 ".jws", f->base,
		    f->next_version);
	if (n < 0) {
		f->cur_url = NULL;
		return ANCHOR_E_NOMEM;
	}
	f->body_len = 0;
	f->too_big = false;
	if (f->headers == NULL) {
		accept = f->is_signed ? "application/jose+json" :
		    "application/json";
		snprintf(hdr, sizeof(hdr), "Accept: %s", accept);
		if ((f->headers = curl_slist_append(NULL, hdr)) == NULL)
			return ANCHOR_E_NOMEM;
	}
	if (f->easy == NULL) {
		if ((f->easy = curl_easy_init()) == NULL)
			return ANCHOR_E_NOMEM;
	} else
		curl_easy_reset(f->easy);
	if ((c = setup_easy(f)) != CURLE_OK) {
		reject(f, false, "libcurl cannot be set up: %s",
		    curl_easy_strerror(c));
		return ANCHOR_OK;
	}
	*easy = f->easy;
	return ANCHOR_OK;
}

/* Take ownership of the response body. */
static uint8_t *
take_body(struct anchor_fed_refresh *f, size_t *len)
{
	uint8_t *p = f->body;

	if (p == NULL && (p = malloc(1)) == NULL)
		return NULL;
	*len = f->body_len;
	f->body = NULL;
	f->body_len = f->body_cap = 0;
	return p;
}

static void
set_changed(struct anchor_fed_refresh *f)
{
	f->changed = !f->had_bundle || f->stored_bootstrap ||
	    memcmp(f->sha, f->stored_sha, sizeof(f->sha)) != 0 ||
	    f->signers_version != f->stored_signers_version;
}

static void
accept_signed(struct anchor_fed_refresh *f, struct anchor_verify_result *res,
    struct anchor_verify_state *nst)
{
	const struct anchor_verify_bundle *vb = anchor_verify_result_bundle(res);
	const uint8_t *p;
	size_t len = 0, slen = 0;
	int64_t hint;

	p = anchor_verify_result_payload(res, &len);
	if (p == NULL || len == 0 || (f->payload = malloc(len)) == NULL ||
	    anchor_verify_state_save(nst, &f->new_state, &slen) !=
	    ANCHOR_VERIFY_OK || sha256(p, len, f->sha) != ANCHOR_OK) {
		reject(f, false, "out of memory");
		return;
	}
	memcpy(f->payload, p, len);
	f->payload_len = len;
	f->has_seq = true;
	f->seq = anchor_verify_result_sequence(res);
	f->hint = anchor_verify_bundle_refresh_hint(vb, &hint) == 1 ? hint : -1;
	f->signers_version = (unsigned)anchor_verify_signers_version(
	    anchor_verify_state_signers(nst));
	set_changed(f);
	f->accepted = true;
	f->step = STEP_DONE;
}

/* Verify the F2 with st; 0 when done (accepted or refused), else the code. */
static int
verify_signed(struct anchor_fed_refresh *f, const struct anchor_verify_state *st,
    struct anchor_verify_diag *dg)
{
	struct anchor_verify_options vo;
	struct anchor_verify_result *res = NULL;
	struct anchor_verify_state *nst = NULL;
	int v;

	memset(&vo, 0, sizeof(vo));
	vo.trust_domain = f->td;
	vo.max_bytes = f->o.max_bytes;
	dg->text[0] = '\0';
	v = anchor_verify_signed_bundle(st, f->jws, f->jws_len, f->o.now, &vo,
	    &res, &nst, dg);
	if (v == ANCHOR_VERIFY_OK)
		accept_signed(f, res, nst);
	anchor_verify_result_free(res);
	anchor_verify_state_free(nst);
	if (dg->text[0] == '\0')
		snprintf(dg->text, sizeof(dg->text), "%s",
		    anchor_verify_strerror(v));
	return v;
}

static void
take_signed(struct anchor_fed_refresh *f)
{
	struct anchor_verify_diag dg;
	int v;

	free(f->jws);
	if ((f->jws = take_body(f, &f->jws_len)) == NULL) {
		reject(f, false, "out of memory");
		return;
	}
	v = verify_signed(f, f->st, &dg);
	if (v == ANCHOR_VERIFY_OK)
		return;
	/* A signature that stops counting may be a signer-set rollover. */
	if (anchor_verify_exit_class(v) == 4) {
		snprintf(f->first_failure, sizeof(f->first_failure), "%s",
		    dg.text);
		f->next_version = anchor_verify_signers_version(
		    anchor_verify_state_signers(f->st)) + 1;
		f->step = STEP_SIGNERS;
		return;
	}
	reject(f, false, "%s: %s", what(f), dg.text);
}

/* Apply the fetched signer sets as chain steps and verify again. */
static void
chain_and_verify(struct anchor_fed_refresh *f)
{
	struct anchor_verify_options vo;
	struct anchor_verify_buf steps[ANCHOR_FED_MAX_SIGNER_STEPS];
	struct anchor_verify_state *st2 = NULL;
	struct anchor_verify_diag dg;
	size_t i;
	int v;

	if (f->n_steps == 0) {
		reject(f, false, "%s/bundle.jws: %s (and no newer signer set)",
		    f->base, f->first_failure);
		return;
	}
	for (i = 0; i < f->n_steps; i++) {
		steps[i].data = f->step_data[i];
		steps[i].len = f->step_len[i];
	}
	memset(&vo, 0, sizeof(vo));
	vo.trust_domain = f->td;
	vo.max_bytes = f->o.max_bytes;
	dg.text[0] = '\0';
	dg.item = SIZE_MAX;
	v = anchor_verify_state_update_signers(f->st, steps, f->n_steps, &vo,
	    &st2, &dg);
	if (v != ANCHOR_VERIFY_OK) {
		if (dg.item < f->n_steps)
			reject(f, false, "%s/signers/%" PRIu64 ".jws: %s", f->base,
			    f->next_version - f->n_steps + dg.item, dg.text[0] ?
			    dg.text : anchor_verify_strerror(v));
		else
			reject(f, false, "%s/signers: %s", f->base, dg.text[0] ?
			    dg.text : anchor_verify_strerror(v));
		goto out;
	}
	if ((v = verify_signed(f, st2, &dg)) != ANCHOR_VERIFY_OK)
		reject(f, false, "%s/bundle.jws: %s", f->base, dg.text);
 out:
	anchor_verify_state_free(st2);
}

static void
take_plain(struct anchor_fed_refresh *f)
{
	struct anchor_verify_options vo;
	struct anchor_verify_bundle *vb = NULL;
	struct anchor_verify_diag dg;
	int64_t hint;
	int v;

	memset(&vo, 0, sizeof(vo));
	vo.max_bytes = f->o.max_bytes;
	dg.text[0] = '\0';
	if ((v = anchor_verify_bundle_parse(f->body, f->body_len, &vo, &vb,
	    &dg)) != ANCHOR_VERIFY_OK) {
		reject(f, false, "%s: not a SPIFFE bundle: %s", what(f),
		    dg.text[0] ? dg.text : anchor_verify_strerror(v));
		goto out;
	}
	f->has_seq = anchor_verify_bundle_sequence(vb, &f->seq) == 1;
	f->hint = anchor_verify_bundle_refresh_hint(vb, &hint) == 1 ? hint : -1;
	if (sha256(f->body, f->body_len, f->sha) != ANCHOR_OK) {
		reject(f, false, "SHA-256 failed");
		goto out;
	}
	/* The rules of docs/federation.md: after a fetched bundle that names
	 * its sequence, a bundle never goes back, never changes under one
	 * sequence, and never loses its sequence.  An operator's bundle is
	 * the latest only until the next fetch. */
	if (f->had_bundle && f->stored_has_seq && !f->stored_bootstrap) {
		if (!f->has_seq) {
			reject(f, false, "%s: no spiffe_sequence, but the stored "
			    "bundle has sequence %" PRIu64, what(f),
			    f->stored_seq);
			goto out;
		}
		if (f->seq < f->stored_seq) {
			reject(f, false, "%s: rollback: sequence %" PRIu64 " is "
			    "lower than the stored %" PRIu64, what(f), f->seq,
			    f->stored_seq);
			goto out;
		}
		if (f->seq == f->stored_seq &&
		    memcmp(f->sha, f->stored_sha, sizeof(f->sha)) != 0) {
			reject(f, false, "%s: equivocation: sequence %" PRIu64
			    " again with other content", what(f), f->seq);
			goto out;
		}
	}
	if ((f->payload = take_body(f, &f->payload_len)) == NULL) {
		reject(f, false, "out of memory");
		goto out;
	}
	f->signers_version = 0;
	set_changed(f);
	f->accepted = true;
	f->step = STEP_DONE;
 out:
	anchor_verify_bundle_free(vb);
}

void
anchor_fed_refresh_done(struct anchor_fed_refresh *f, CURLcode result)
{
	long code = 0;

	if (f->step == STEP_DONE)
		return;
	if (f->too_big || result == CURLE_FILESIZE_EXCEEDED) {
		reject(f, false, "%s: response larger than %zu bytes (R1)",
		    what(f), f->o.max_bytes);
		return;
	}
	if (result != CURLE_OK) {
		char *eff = NULL;

		if (f->tls_why[0] != '\0')
			reject(f, false, "%s: TLS: %s", what(f), f->tls_why);
		else if (result == CURLE_UNSUPPORTED_PROTOCOL &&
		    curl_easy_getinfo(f->easy, CURLINFO_EFFECTIVE_URL, &eff) ==
		    CURLE_OK && eff != NULL && strcmp(eff, what(f)) != 0)
			reject(f, false, "%s: redirect to %.120s refused: only "
			    "%s:// is followed", what(f), eff, is_http(f->url) ?
			    "http" : "https");
		else
			reject(f, true, "%s: %s", what(f), f->errbuf[0] ?
			    f->errbuf : curl_easy_strerror(result));
		return;
	}
	if (curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code) !=
	    CURLE_OK)
		code = 0;
	if (f->step == STEP_BUNDLE) {
		if (code != 200) {
			reject(f, true, "%s: HTTP status %ld", what(f), code);
			return;
		}
		if (f->body_len == 0) {
			reject(f, false, "%s: empty response", what(f));
			return;
		}
		if (f->is_signed)
			take_signed(f);
		else
			take_plain(f);
		return;
	}
	/* STEP_SIGNERS: newer versions until the first 404. */
	if (code == 404) {
		chain_and_verify(f);
		return;
	}
	if (code != 200) {
		reject(f, true, "%s: HTTP status %ld", what(f), code);
		return;
	}
	if ((f->step_data[f->n_steps] = take_body(f,
	    &f->step_len[f->n_steps])) == NULL) {
		reject(f, false, "out of memory");
		return;
	}
	f->steps_bytes += f->step_len[f->n_steps];
	f->n_steps++;
	f->next_version++;
	if (f->n_steps == ANCHOR_FED_MAX_SIGNER_STEPS ||
	    f->steps_bytes > SIGNER_BYTES_MAX)
		chain_and_verify(f);
}

int
anchor_fed_refresh_run(struct anchor_fed_refresh **fs, size_t n)
{
	CURLM *m;
	CURLMsg *msg;
	CURL *e;
	CURLcode res;
	struct anchor_fed_refresh *f;
	size_t i, active = 0;
	int running, left, r = ANCHOR_E_INTERNAL;
	char *priv;

	if ((m = curl_multi_init()) == NULL)
		return ANCHOR_E_NOMEM;
	for (i = 0; i < n; i++) {
		if ((r = anchor_fed_refresh_next(fs[i], &e)) != ANCHOR_OK)
			goto out;
		if (e != NULL) {
			if (curl_multi_add_handle(m, e) != CURLM_OK) {
				r = ANCHOR_E_INTERNAL;
				goto out;
			}
			active++;
		}
	}
	while (active > 0) {
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			r = ANCHOR_E_INTERNAL;
			goto out;
		}
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			e = msg->easy_handle;
			res = msg->data.result;
			priv = NULL;
			curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
			f = (struct anchor_fed_refresh *)(void *)priv;
			curl_multi_remove_handle(m, e);
			active--;
			anchor_fed_refresh_done(f, res);
			if ((r = anchor_fed_refresh_next(f, &e)) != ANCHOR_OK)
				goto out;
			if (e != NULL) {
				if (curl_multi_add_handle(m, e) != CURLM_OK) {
					r = ANCHOR_E_INTERNAL;
					goto out;
				}
				active++;
			}
		}
		if (active > 0 && curl_multi_poll(m, NULL, 0, 1000, NULL) !=
		    CURLM_OK) {
			r = ANCHOR_E_INTERNAL;
			goto out;
		}
	}
	r = ANCHOR_OK;
 out:
	/* Handles still attached are detached before their owners go. */
	for (i = 0; i < n; i++)
		if (fs[i]->easy != NULL)
			curl_multi_remove_handle(m, fs[i]->easy);
	curl_multi_cleanup(m);
	return r;
}

static int
audit_accepted(struct anchor_domain *d, const struct anchor_fed_refresh *f)
{
	struct anchor_verify_bundle *vb = NULL;
	json_t *data = NULL, *x509 = NULL, *jwt = NULL;
	int r;

	if (anchor_verify_bundle_parse(f->payload, f->payload_len, NULL, &vb,
	    NULL) != ANCHOR_VERIFY_OK) {
		r = fail(d, ANCHOR_E_INTERNAL, "an accepted bundle of %s does "
		    "not parse", f->td);
		goto out;
	}
	if ((r = authority_ids(vb, &x509, &jwt)) != ANCHOR_OK)
		goto out;
	data = json_pack("{s:s, s:I, s:o, s:O, s:O, s:s}", "trust_domain", f->td,
	    "time", (json_int_t)f->o.now, "sequence", f->has_seq ?
	    json_integer((json_int_t)f->seq) : json_null(),
	    "x509_authorities", x509, "jwt_authorities", jwt, "url", f->url);
	if (data == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	if (f->is_signed)
		json_object_set_new(data, "signers_version",
		    json_integer(f->signers_version));
	r = anchor_domain_audit(d, f->o.now, "peer.bundle.accepted", data);
 out:
	json_decref(data);
	json_decref(x509);
	json_decref(jwt);
	anchor_verify_bundle_free(vb);
	return r;
}

static int
audit_rejected(struct anchor_domain *d, const struct anchor_fed_refresh *f)
{
	json_t *data;
	int r;

	data = json_pack("{s:s, s:I, s:s, s:s}", "trust_domain", f->td, "time",
	    (json_int_t)f->o.now, "reason", f->reason, "url", f->url);
	if (data == NULL)
		return ANCHOR_E_NOMEM;
	r = anchor_domain_audit(d, f->o.now, "peer.bundle.rejected", data);
	json_decref(data);
	return r;
}

int
anchor_fed_refresh_apply(struct anchor_domain *d, struct anchor_fed_refresh *f,
    char *summary, size_t len)
{
	struct anchor_peer_row p;
	struct anchor_peer_bundle_row b, nb;
	bool in_tx = false, have_b, same, again;
	int64_t now = f->o.now;
	char line[REASON_MAX + sizeof(d->detail) + 300];
	int r;

	memset(&p, 0, sizeof(p));
	memset(&b, 0, sizeof(b));
	memset(&nb, 0, sizeof(nb));
	line[0] = '\0';
	if (f->step != STEP_DONE) {
		r = fail(d, ANCHOR_E_INVAL, "the refresh of %s is not finished",
		    f->td);
		goto out;
	}
	if ((r = anchor_domain_begin(d)) != ANCHOR_OK)
		goto out;
	in_tx = true;
	if ((r = peer_in_force(d, f->td, &p)) != ANCHOR_OK) {
		snprintf(line, sizeof(line), "%s: not stored: %s", f->td,
		    d->detail);
		goto out;
	}
	r = anchor_store_peer_bundle_get(d->store, f->td, &b);
	if (r != ANCHOR_OK && r != ANCHOR_E_NOT_FOUND) {
		fail(d, r, "reading the bundle of %s: %s", f->td,
		    anchor_store_errmsg(d->store));
		goto out;
	}
	have_b = r == ANCHOR_OK;
	same = str_eq(p.verifier_state, f->state_snapshot) &&
	    have_b == f->had_bundle && (!have_b ||
	    memcmp(b.sha256, f->stored_sha, sizeof(b.sha256)) == 0);
	if (!same) {
		r = fail(d, ANCHOR_E_BUSY, "%s changed while its bundle was "
		    "fetched: nothing stored, fetch again", f->td);
		snprintf(line, sizeof(line), "%s: %s", f->td, d->detail);
		goto out;
	}
	if (f->accepted) {
		if (f->changed) {
			memcpy(nb.trust_domain, f->td, strlen(f->td) + 1);
			nb.has_sequence = f->has_seq;
			nb.sequence = f->seq;
			nb.signers_version = f->signers_version;
			nb.payload = f->payload;
			nb.payload_len = f->payload_len;
			nb.refresh_hint = f->hint;
			nb.stored_at = now;
			r = anchor_store_peer_bundle_put(d->store, &nb);
			nb.payload = NULL;
			if (r != ANCHOR_OK) {
				fail(d, r, "storing the bundle of %s: %s", f->td,
				    anchor_store_errmsg(d->store));
				goto out;
			}
			if ((r = audit_accepted(d, f)) != ANCHOR_OK)
				goto out;
		}
		if ((r = anchor_store_peer_succeeded(d->store, f->td, now,
		    f->new_state)) != ANCHOR_OK) {
			fail(d, r, "peer status of %s: %s", f->td,
			    anchor_store_errmsg(d->store));
			goto out;
		}
		if (f->has_seq)
			snprintf(line, sizeof(line), "%s: %s sequence %" PRIu64,
			    f->td, f->changed ? "accepted" : "unchanged", f->seq);
		else
			snprintf(line, sizeof(line), "%s: %s (no sequence)",
			    f->td, f->changed ? "accepted" : "unchanged");
		if (f->is_signed)
			snprintf(line + strlen(line), sizeof(line) - strlen(line),
			    ", signer set version %u", f->signers_version);
	} else {
		/* A transport failure that repeats is counted, not audited. */
		again = f->transport && p.failures > 0 && p.last_error != NULL &&
		    strcmp(p.last_error, f->reason) == 0;
		if ((r = anchor_store_peer_failed(d->store, f->td, now,
		    f->reason)) != ANCHOR_OK) {
			fail(d, r, "peer status of %s: %s", f->td,
			    anchor_store_errmsg(d->store));
			goto out;
		}
		if (!again && (r = audit_rejected(d, f)) != ANCHOR_OK)
			goto out;
		snprintf(line, sizeof(line), "%s: rejected: %s", f->td,
		    f->reason);
	}
	in_tx = false;
	if ((r = anchor_domain_commit(d)) != ANCHOR_OK) {
		fail(d, r, "storing the refresh of %s: %s", f->td,
		    anchor_store_errmsg(d->store));
		goto out;
	}
	/* Rewritten also when unchanged: a lost or damaged file comes back. */
	if (f->accepted)
		r = consumer_write(d, f->td, f->payload, f->payload_len);
 out:
	if (in_tx)
		anchor_domain_rollback(d);
	if (summary != NULL && len > 0)
		snprintf(summary, len, "%s", line[0] ? line : d->detail);
	anchor_peer_bundle_row_clear(&b);
	anchor_peer_row_clear(&p);
	return r;
}

int64_t
anchor_fed_next_due(const struct anchor_peer_row *p,
    const struct anchor_peer_bundle_row *b)
{
	int64_t hint = ANCHOR_FED_DEFAULT_REFRESH;

	if (p->last_attempt <= 0)
		return 0;
	if (b != NULL && b->refresh_hint >= 0)
		hint = b->refresh_hint;
	if (hint < HINT_MIN)
		hint = HINT_MIN;
	if (hint > HINT_MAX)
		hint = HINT_MAX;
	return p->last_attempt + hint;
}

/* ---- Descriptions ---------------------------------------------------- */

static json_t *
int_or_null(int64_t v)
{
	return v > 0 ? json_integer((json_int_t)v) : json_null();
}

static json_t *
signers_json(const struct anchor_peer_row *p)
{
	struct anchor_verify_options vo;
	struct anchor_verify_signers *pinned = NULL;
	struct anchor_verify_state *st = NULL;
	const struct anchor_verify_signers *cur;
	char hex[65], fp[80];
	json_t *o;

	if (p->signers == NULL)
		return json_null();
	memset(&vo, 0, sizeof(vo));
	vo.trust_domain = p->trust_domain;
	if ((o = json_object()) == NULL)
		return NULL;
	if (anchor_verify_signers_pin(&vo, p->signers, p->signers_len, &pinned,
	    NULL) == ANCHOR_VERIFY_OK) {
		anchor_verify_signers_fingerprint(pinned, hex);
		group_fp(hex, fp);
		json_object_set_new(o, "pinned_version", json_integer(
		    (json_int_t)anchor_verify_signers_version(pinned)));
		json_object_set_new(o, "pinned_fingerprint", json_string(fp));
	}
	cur = pinned;
	if (p->verifier_state != NULL && anchor_verify_state_load(&vo,
	    (const uint8_t *)p->verifier_state, strlen(p->verifier_state), &st,
	    NULL) == ANCHOR_VERIFY_OK)
		cur = anchor_verify_state_signers(st);
	if (cur != NULL) {
		anchor_verify_signers_fingerprint(cur, hex);
		group_fp(hex, fp);
		json_object_set_new(o, "version", json_integer(
		    (json_int_t)anchor_verify_signers_version(cur)));
		json_object_set_new(o, "fingerprint", json_string(fp));
		json_object_set_new(o, "min_sequence", json_integer(
		    (json_int_t)anchor_verify_signers_min_sequence(cur)));
	}
	anchor_verify_state_free(st);
	anchor_verify_signers_free(pinned);
	return o;
}

static json_t *
bundle_json(const struct anchor_peer_bundle_row *b)
{
	struct anchor_verify_bundle *vb = NULL;
	const uint8_t *der;
	const unsigned char *q;
	json_t *o, *xs = NULL, *js = NULL;
	X509 *x;
	char hex[65], subj[256], na[32], kid[ANCHOR_KID_LEN + 1];
	uint8_t h[32];
	size_t i, len;

	anchor_hex(b->sha256, sizeof(b->sha256), hex);
	o = json_pack("{s:o, s:i, s:o, s:s, s:s, s:I}", "sequence",
	    b->has_sequence ? json_integer((json_int_t)b->sequence) : json_null(),
	    "signers_version", (int)b->signers_version, "refresh_hint",
	    b->refresh_hint >= 0 ? json_integer(b->refresh_hint) : json_null(),
	    "sha256", hex, "origin", b->bootstrap ? "bootstrap" : "fetched",
	    "stored_at", (json_int_t)b->stored_at);
	if (o == NULL || anchor_verify_bundle_parse(b->payload, b->payload_len,
	    NULL, &vb, NULL) != ANCHOR_VERIFY_OK)
		return o;
	xs = json_array();
	for (i = 0; xs != NULL && i < anchor_verify_bundle_x509_count(vb); i++) {
		if ((der = anchor_verify_bundle_x509_der(vb, i, &len)) == NULL ||
		    sha256(der, len, h) != ANCHOR_OK)
			continue;
		anchor_hex(h, sizeof(h), hex);
		subj[0] = na[0] = '\0';
		q = der;
		if (len <= LONG_MAX && (x = d2i_X509(NULL, &q, (long)len)) !=
		    NULL) {
			struct tm tm;

			X509_NAME_oneline(X509_get_subject_name(x), subj,
			    sizeof(subj));
			if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
				strftime(na, sizeof(na), "%Y-%m-%dT%H:%M:%SZ", &tm);
			X509_free(x);
		}
		sanitize(subj);
		if (x509_kid(vb, i, kid) != ANCHOR_OK)
			kid[0] = '\0';
		json_array_append_new(xs, json_pack("{s:s, s:s, s:s, s:s}", "kid",
		    kid, "sha256", hex, "subject", subj, "not_after", na));
	}
	js = json_array();
	for (i = 0; js != NULL && i < anchor_verify_bundle_jwt_count(vb); i++)
		json_array_append_new(js, json_string(
		    anchor_verify_bundle_jwt_kid(vb, i)));
	json_object_set_new(o, "x509_authorities", xs ? xs : json_null());
	json_object_set_new(o, "jwt_authorities", js ? js : json_null());
	anchor_verify_bundle_free(vb);
	return o;
}

json_t *
anchor_fed_peer_json(const struct anchor_peer_row *p,
    const struct anchor_peer_bundle_row *b)
{
	json_t *o, *allow;

	allow = json_loads(p->allow, 0, NULL);
	o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:I, s:s}",
	    "trust_domain", p->trust_domain, "url", p->url, "profile",
	    anchor_peer_profile_name(p->profile), "endpoint_spiffe_id",
	    p->endpoint_spiffe_id ? json_string(p->endpoint_spiffe_id) :
	    json_null(), "source", p->source == ANCHOR_PEER_FROM_CONFIG ?
	    "config" : "cli", "allow", allow ? allow : json_array(), "signers",
	    signers_json(p), "added_at", (json_int_t)p->added_at, "added_by",
	    p->added_by);
	if (o == NULL)
		return NULL;
	if (p->ca_pem != NULL)
		json_object_set_new(o, "ca_file", json_true());
	if (p->removed_at != 0)
		json_object_set_new(o, "removed", json_pack("{s:I, s:s, s:s}",
		    "at", (json_int_t)p->removed_at, "reason",
		    p->removed_reason ? p->removed_reason : "", "operator",
		    p->removed_by ? p->removed_by : ""));
	json_object_set_new(o, "status", json_pack("{s:o, s:o, s:o, s:o, s:I, "
	    "s:o}", "last_attempt", int_or_null(p->last_attempt),
	    "last_success", int_or_null(p->last_success), "last_failure",
	    int_or_null(p->last_failure), "last_error", p->last_error ?
	    json_string(p->last_error) : json_null(), "consecutive_failures",
	    (json_int_t)p->failures, "next_due", p->removed_at != 0 ?
	    json_null() : json_integer(anchor_fed_next_due(p, b))));
	json_object_set_new(o, "bundle", b != NULL ? bundle_json(b) :
	    json_null());
	return o;
}
