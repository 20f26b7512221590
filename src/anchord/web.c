/*
 * anchord's network process: libmicrohttpd serving bytes the signer pushed.
 *
 * Every response is built once per content version (a 200 with the body
 * and a 304 for each resource) and queued by reference; a new version is
 * swapped in under a write lock and the old responses are released (MHD
 * frees each when its last connection is done with it).  Request counters
 * are per thread.  No allocation on the path of a bundle request.
 *
 * One single-threaded MHD daemon (epoll) per HTTP thread, each on its own
 * socket of a SO_REUSEPORT group: with one shared listening socket MHD's
 * thread pool lets one thread take most connections.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "anchord.h"
#include "error.h"
#include "ipc.h"
#include "log.h"
#include "tls.h"
#include "tlskey.h"
#include "util.h"

#define TLS_PRIORITIES	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define DRAIN_MS	3000	/* SIGTERM: time for requests in flight */
#define SIGNER_WAIT_MS	5000
#define SVID_ANSWER_MS	30000	/* ask again when no answer came */
#define CORK_MAX	8192	/* largest body sent corked over TLS */

enum path_id {
	P_ROOT, P_BUNDLE, P_SIGNERS, P_SIGNERS_N, P_HEALTHZ, P_METRICS,
	P_OTHER, P_COUNT
};
static const char *const path_label[P_COUNT] = {
	"/", "/bundle.jws", "/signers.jws", "/signers/{version}.jws",
	"/healthz", "/metrics", "other"
};

enum code_id { C_200, C_304, C_404, C_405, C_413, C_503, C_COUNT };
static const unsigned code_num[C_COUNT] = { 200, 304, 404, 405, 413, 503 };

/* Why /healthz says what it says. */
enum health {
	H_OK, H_NO_BUNDLE, H_EXPIRED, H_STALE, H_TOKEN_STARTING, H_TOKEN,
	H_SIGNER, H_COUNT
};
static const char *const health_text[H_COUNT] = {
	"ok\n",
	"unhealthy: no signed bundle yet\n",
	"unhealthy: the bundle signature has expired\n",
	"unhealthy: the bundle signature was not refreshed in time\n",
	"unhealthy: the token is not open yet\n",
	"unhealthy: the token does not answer\n",
	"unhealthy: the signer process is gone\n",
};

struct resource {
	struct MHD_Response *ok;	/* 200 with the body */
	struct MHD_Response *nm;	/* 304 */
	size_t len;			/* of the body */
	char etag[36];			/* "<32 hex digits>" with the quotes */
};

struct content {
	uint64_t sequence;
	int64_t iat, exp;
	struct resource f1, f2;
	struct resource *versions;	/* [0] is version 1 */
	uint32_t nversions;
};

struct counters {
	uint64_t n[P_COUNT][C_COUNT];
	struct counters *next;
};

/* Shared with the MHD threads. */
static pthread_rwlock_t content_lock;
static struct content *current;		/* under content_lock */
static int token_state = ANCHORD_TOKEN_STARTING;	/* atomic */
static int signer_alive = 1;				/* atomic */
static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint64_t token_errors, signed_ok, signed_fail;
	uint32_t keys[ANCHOR_ROLE_COUNT][ANCHORD_KEY_STATES];
	bool have;
} status;				/* under status_lock */

/* Federation peers as the fetcher last reported them. */
struct peer_status {
	char td[256];
	int64_t last_success, last_failure;
	uint64_t failures, seq;
	bool has_seq;
	uint64_t n_ok, n_rejected, n_error;
};
static struct peer_status *peers;	/* under status_lock */
static size_t npeers;			/* under status_lock */
static bool have_peers;			/* under status_lock */
static int fetcher_alive = 1;		/* atomic */
static pthread_mutex_t counters_lock = PTHREAD_MUTEX_INITIALIZER;
static struct counters *all_counters;
static __thread struct counters *my_counters;

static bool tls_mode;			/* set before the daemon starts */
static int token_key;			/* atomic: https_web key in the token */
static unsigned sign_limit;		/* the signer's TLS signatures per second */

/* Fixed responses, built at start. */
static struct MHD_Response *r_not_found, *r_method, *r_too_large,
    *r_not_ready, *r_expired, *r_health[H_COUNT];

/* The network process's own state (main thread only). */
struct web {
	const struct anchord_opts *o;
	const struct anchor_conf *conf;
	int fd, sigfd;
	pid_t signer;
	struct anchord_ipc_in in;
	int ffd;			/* the fetcher's channel */
	pid_t fetcher;
	struct anchord_ipc_in fin;
	/* One single-threaded daemon per listening socket. */
	struct MHD_Daemon *daemons[ANCHORD_MAX_THREADS];
	int *listen_fds;		/* o->threads of them; -1 once MHD has one */
	unsigned n;
	bool tls, spiffe;
	int64_t refresh_hint;
	uint8_t *raw;			/* last CONTENT payload, to rebuild */
	size_t raw_len;
	/* https_spiffe */
	uint32_t svid_id;
	bool svid_pending;
	int64_t svid_asked_ms;
	int64_t svid_retry_ms;		/* monotonic: ask again from then */
	int64_t svid_renew_at;		/* UNIX seconds: half of its life */
	bool stopping;
	int rc;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
count(enum path_id p, enum code_id c)
{
	struct counters *k = my_counters;

	if (k == NULL) {
		if ((k = calloc(1, sizeof(*k))) == NULL)
			return;
		pthread_mutex_lock(&counters_lock);
		k->next = all_counters;
		all_counters = k;
		pthread_mutex_unlock(&counters_lock);
		my_counters = k;
	}
	/* One writer per block: a relaxed load and store, no locked add. */
	__atomic_store_n(&k->n[p][c],
	    __atomic_load_n(&k->n[p][c], __ATOMIC_RELAXED) + 1,
	    __ATOMIC_RELAXED);
}

static struct MHD_Response *
fixed(const char *body, const char *ctype)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body,
	    MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return NULL;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    ctype) != MHD_YES ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store") != MHD_YES) {
		MHD_destroy_response(r);
		return NULL;
	}
	return r;
}

static void
fixed_free(void)
{
	size_t i;

	MHD_destroy_response(r_not_found);
	MHD_destroy_response(r_method);
	MHD_destroy_response(r_too_large);
	MHD_destroy_response(r_not_ready);
	MHD_destroy_response(r_expired);
	for (i = 0; i < H_COUNT; i++)
		MHD_destroy_response(r_health[i]);
}

static int
fixed_init(void)
{
	size_t i;

	if ((r_not_found = fixed("not found\n", "text/plain")) == NULL ||
	    (r_method = fixed("method not allowed\n", "text/plain")) == NULL ||
	    (r_too_large = fixed("request bodies are not accepted\n",
	    "text/plain")) == NULL ||
	    (r_not_ready = fixed("no signed bundle yet\n",
	    "text/plain")) == NULL ||
	    (r_expired = fixed("the bundle signature has expired\n",
	    "text/plain")) == NULL)
		return ANCHOR_E_NOMEM;
	for (i = 0; i < H_COUNT; i++)
		if ((r_health[i] = fixed(health_text[i], "text/plain")) == NULL)
			return ANCHOR_E_NOMEM;
	if (MHD_add_response_header(r_method, MHD_HTTP_HEADER_ALLOW,
	    "GET, HEAD") != MHD_YES ||
	    MHD_add_response_header(r_too_large, MHD_HTTP_HEADER_CONNECTION,
	    "close") != MHD_YES ||
	    MHD_add_response_header(r_not_ready, MHD_HTTP_HEADER_RETRY_AFTER,
	    "5") != MHD_YES ||
	    MHD_add_response_header(r_expired, MHD_HTTP_HEADER_RETRY_AFTER,
	    "60") != MHD_YES)
		return ANCHOR_E_NOMEM;
	return ANCHOR_OK;
}

static void
resource_clear(struct resource *res)
{
	if (res->ok != NULL)
		MHD_destroy_response(res->ok);
	if (res->nm != NULL)
		MHD_destroy_response(res->nm);
	res->ok = res->nm = NULL;
}

static int
resource_build(struct resource *res, const uint8_t *body, size_t len,
    const char *ctype, int64_t max_age)
{
	uint8_t sha[32];
	char hex[33], cc[64];
	void *copy;

	res->len = len;
	/* GnuTLS, loaded anyway: OpenSSL stays untouched in this process. */
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, body, len, sha) != 0)
		return ANCHOR_E_CRYPTO;
	anchor_hex(sha, 16, hex);
	snprintf(res->etag, sizeof(res->etag), "\"%s\"", hex);
	snprintf(cc, sizeof(cc), "public, max-age=%" PRId64, max_age);
	if ((copy = malloc(len ? len : 1)) == NULL)
		return ANCHOR_E_NOMEM;
	memcpy(copy, body, len);
	/* MHD frees the copy when the last connection releases it. */
	if ((res->ok = MHD_create_response_from_buffer(len, copy,
	    MHD_RESPMEM_MUST_FREE)) == NULL) {
		free(copy);
		return ANCHOR_E_NOMEM;
	}
	if ((res->nm = MHD_create_response_from_buffer(0, NULL,
	    MHD_RESPMEM_PERSISTENT)) == NULL)
		return ANCHOR_E_NOMEM;
	if (MHD_add_response_header(res->ok, MHD_HTTP_HEADER_CONTENT_TYPE,
	    ctype) != MHD_YES ||
	    MHD_add_response_header(res->ok, MHD_HTTP_HEADER_ETAG,
	    res->etag) != MHD_YES ||
	    MHD_add_response_header(res->ok, MHD_HTTP_HEADER_CACHE_CONTROL,
	    cc) != MHD_YES ||
	    MHD_add_response_header(res->nm, MHD_HTTP_HEADER_ETAG,
	    res->etag) != MHD_YES ||
	    MHD_add_response_header(res->nm, MHD_HTTP_HEADER_CACHE_CONTROL,
	    cc) != MHD_YES)
		return ANCHOR_E_NOMEM;
	return ANCHOR_OK;
}

static void
content_free(struct content *c)
{
	uint32_t i;

	if (c == NULL)
		return;
	resource_clear(&c->f1);
	resource_clear(&c->f2);
	for (i = 0; c->versions != NULL && i < c->nversions; i++)
		resource_clear(&c->versions[i]);
	free(c->versions);
	free(c);
}

/* Parse and check a CONTENT payload and build its responses. */
static int
content_build(const uint8_t *p, size_t len, int64_t max_age,
    struct content **out)
{
	struct anchord_reader rd;
	struct content *c = NULL;
	const uint8_t *f1, *f2, *f3;
	size_t f1_len, f2_len, f3_len;
	uint32_t n, i, v;
	int r = ANCHOR_E_INVAL;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return ANCHOR_E_NOMEM;
	anchord_reader_init(&rd, p, len);
	if (!anchord_get_u64(&rd, &c->sequence) ||
	    !anchord_get_i64(&rd, &c->iat) || !anchord_get_i64(&rd, &c->exp) ||
	    !anchord_get_bytes(&rd, &f1, &f1_len, ANCHORD_MAX_F1) ||
	    !anchord_get_bytes(&rd, &f2, &f2_len, ANCHORD_MAX_F1) ||
	    !anchord_get_u32(&rd, &n))
		goto out;
	if (f1_len == 0 || f2_len == 0 || c->exp <= c->iat ||
	    n > ANCHORD_MAX_VERSIONS)
		goto out;
	if ((r = resource_build(&c->f1, f1, f1_len, "application/json",
	    max_age)) != ANCHOR_OK ||
	    (r = resource_build(&c->f2, f2, f2_len, "application/jose+json",
	    max_age)) != ANCHOR_OK)
		goto out;
	r = ANCHOR_E_NOMEM;
	if (n > 0 && (c->versions = calloc(n, sizeof(*c->versions))) == NULL)
		goto out;
	c->nversions = n;
	for (i = 0; i < n; i++) {
		r = ANCHOR_E_INVAL;
		if (!anchord_get_u32(&rd, &v) || v != i + 1 ||
		    !anchord_get_bytes(&rd, &f3, &f3_len, ANCHORD_MAX_F3) ||
		    f3_len == 0)
			goto out;
		if ((r = resource_build(&c->versions[i], f3, f3_len,
		    "application/jose+json", max_age)) != ANCHOR_OK)
			goto out;
	}
	r = ANCHOR_E_INVAL;
	if (!anchord_reader_done(&rd))
		goto out;
	*out = c;
	c = NULL;
	r = ANCHOR_OK;
 out:
	content_free(c);
	return r;
}

static void
content_swap(struct content *c)
{
	struct content *old;

	pthread_rwlock_wrlock(&content_lock);
	old = current;
	current = c;
	pthread_rwlock_unlock(&content_lock);
	content_free(old);
}

/* "/signers/N.jws": N a decimal version without leading zeros. */
static bool
parse_version(const char *url, uint32_t *v)
{
	const char *p = url + strlen("/signers/");
	uint64_t n = 0;
	size_t i;

	if (strncmp(url, "/signers/", 9) != 0 || p[0] < '1' || p[0] > '9')
		return false;
	for (i = 0; p[i] >= '0' && p[i] <= '9'; i++) {
		if (i >= 9)
			return false;
		n = n * 10 + (uint64_t)(p[i] - '0');
	}
	if (strcmp(p + i, ".jws") != 0)
		return false;
	*v = (uint32_t)n;
	return true;
}

/* If-None-Match (RFC 9110 §13.1.2): "*" or a list; weak comparison. */
static bool
etag_matches(const char *inm, const char *etag)
{
	size_t el = strlen(etag);
	const char *p = inm;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		if (strncmp(p, etag, el) == 0 &&
		    (p[el] == '\0' || p[el] == ',' || p[el] == ' ' ||
		    p[el] == '\t'))
			return true;
		while (*p != '\0' && *p != ',')
			p++;
	}
	return false;
}

static enum health
health_now(const struct content *c, int64_t now)
{
	if (!__atomic_load_n(&signer_alive, __ATOMIC_RELAXED))
		return H_SIGNER;
	if (c == NULL)
		return H_NO_BUNDLE;
	if (now >= c->exp)
		return H_EXPIRED;
	/* Refreshed at half of its validity; a quarter left means the
	 * refresh has been failing for a long time. */
	if (now >= c->exp - (c->exp - c->iat) / 4)
		return H_STALE;
	switch (__atomic_load_n(&token_state, __ATOMIC_RELAXED)) {
	case ANCHORD_TOKEN_OK:
		return H_OK;
	case ANCHORD_TOKEN_STARTING:
		return H_TOKEN_STARTING;
	default:
		return H_TOKEN;
	}
}

static void
metric(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
peer_metrics(FILE *f)
{
	static const char *const result_label[3] = { "ok", "rejected",
		"error" };
	const struct peer_status *p;
	uint64_t v[3];
	size_t i, j;

	metric(f, "anchord_peer_fetcher_up", "gauge",
	    "1 while the fetcher process runs.");
	fprintf(f, "anchord_peer_fetcher_up %d\n",
	    __atomic_load_n(&fetcher_alive, __ATOMIC_RELAXED));
	pthread_mutex_lock(&status_lock);
	if (!have_peers || npeers == 0)
		goto out;
	metric(f, "anchord_peer_last_success_timestamp_seconds", "gauge",
	    "When a peer's bundle was last fetched and accepted (0: never).");
	for (i = 0; i < npeers; i++)
		fprintf(f, "anchord_peer_last_success_timestamp_seconds"
		    "{trust_domain=\"%s\"} %" PRId64 "\n", peers[i].td,
		    peers[i].last_success);
	metric(f, "anchord_peer_last_failure_timestamp_seconds", "gauge",
	    "When a fetch of a peer's bundle last failed (0: never).");
	for (i = 0; i < npeers; i++)
		fprintf(f, "anchord_peer_last_failure_timestamp_seconds"
		    "{trust_domain=\"%s\"} %" PRId64 "\n", peers[i].td,
		    peers[i].last_failure);
	metric(f, "anchord_peer_consecutive_failures", "gauge",
	    "Failed fetches of a peer's bundle since its last success.");
	for (i = 0; i < npeers; i++)
		fprintf(f, "anchord_peer_consecutive_failures"
		    "{trust_domain=\"%s\"} %" PRIu64 "\n", peers[i].td,
		    peers[i].failures);
	metric(f, "anchord_peer_sequence", "gauge",
	    "spiffe_sequence of a peer's stored bundle.");
	for (i = 0; i < npeers; i++)
		if (peers[i].has_seq)
			fprintf(f, "anchord_peer_sequence{trust_domain=\"%s\"} %"
			    PRIu64 "\n", peers[i].td, peers[i].seq);
	metric(f, "anchord_peer_fetch_total", "counter",
	    "Fetches of a peer's bundle by this process, by result: ok "
	    "(accepted or unchanged), rejected (did not verify), error "
	    "(transport).");
	for (i = 0; i < npeers; i++) {
		p = &peers[i];
		v[0] = p->n_ok;
		v[1] = p->n_rejected;
		v[2] = p->n_error;
		for (j = 0; j < 3; j++)
			fprintf(f, "anchord_peer_fetch_total{trust_domain=\"%s\","
			    "result=\"%s\"} %" PRIu64 "\n", p->td,
			    result_label[j], v[j]);
	}
 out:
	pthread_mutex_unlock(&status_lock);
}

static struct MHD_Response *
metrics_response(void)
{
	static const char *const state_label[ANCHORD_KEY_STATES] = {
		"published", "active", "retired", "removed", "revoked",
		"destroyed"
	};
	uint64_t sum[P_COUNT][C_COUNT];
	struct counters *k;
	struct MHD_Response *resp = NULL;
	char *text = NULL;
	size_t len = 0, i, j;
	int64_t now = anchor_now();
	FILE *f;

	memset(sum, 0, sizeof(sum));
	pthread_mutex_lock(&counters_lock);
	for (k = all_counters; k != NULL; k = k->next)
		for (i = 0; i < P_COUNT; i++)
			for (j = 0; j < C_COUNT; j++)
				sum[i][j] += __atomic_load_n(&k->n[i][j],
				    __ATOMIC_RELAXED);
	pthread_mutex_unlock(&counters_lock);

	if ((f = open_memstream(&text, &len)) == NULL)
		return NULL;
	metric(f, "anchord_http_requests_total", "counter",
	    "HTTP requests answered, by path and status code.");
	for (i = 0; i < P_COUNT; i++)
		for (j = 0; j < C_COUNT; j++)
			if (sum[i][j] > 0)
				fprintf(f, "anchord_http_requests_total{path=\"%s\","
				    "code=\"%u\"} %" PRIu64 "\n", path_label[i],
				    code_num[j], sum[i][j]);
	pthread_rwlock_rdlock(&content_lock);
	if (current != NULL) {
		metric(f, "anchord_bundle_sequence", "gauge",
		    "spiffe_sequence of the served bundle.");
		fprintf(f, "anchord_bundle_sequence %" PRIu64 "\n",
		    current->sequence);
		metric(f, "anchord_bundle_signature_expiry_seconds", "gauge",
		    "Seconds until the served bundle signature expires.");
		fprintf(f, "anchord_bundle_signature_expiry_seconds %" PRId64
		    "\n", current->exp - now);
		metric(f, "anchord_signers_version", "gauge",
		    "Latest signer-set version served.");
		fprintf(f, "anchord_signers_version %" PRIu32 "\n",
		    current->nversions);
	}
	fprintf(f, "# HELP anchord_healthy 1 when /healthz answers 200.\n"
	    "# TYPE anchord_healthy gauge\nanchord_healthy %d\n",
	    health_now(current, now) == H_OK);
	pthread_rwlock_unlock(&content_lock);
	metric(f, "anchord_token_up", "gauge",
	    "1 while the token answers the signer process.");
	fprintf(f, "anchord_token_up %d\n",
	    __atomic_load_n(&token_state, __ATOMIC_RELAXED) == ANCHORD_TOKEN_OK);
	pthread_mutex_lock(&status_lock);
	if (status.have) {
		metric(f, "anchord_token_errors_total", "counter",
		    "Token operations that failed (open, probe, signing).");
		fprintf(f, "anchord_token_errors_total %" PRIu64 "\n",
		    status.token_errors);
		metric(f, "anchord_bundle_signatures_total", "counter",
		    "Bundle signature refreshes, by result.");
		fprintf(f, "anchord_bundle_signatures_total{result=\"ok\"} %"
		    PRIu64 "\n", status.signed_ok);
		fprintf(f, "anchord_bundle_signatures_total{result=\"error\"} %"
		    PRIu64 "\n", status.signed_fail);
		metric(f, "anchord_keys", "gauge", "Keys by role and state.");
		for (i = 0; i < ANCHOR_ROLE_COUNT; i++)
			for (j = 0; j < ANCHORD_KEY_STATES; j++)
				fprintf(f, "anchord_keys{role=\"%s\",state=\"%s\"}"
				    " %" PRIu32 "\n",
				    anchor_role_name((enum anchor_role)i),
				    state_label[j], status.keys[i][j]);
	}
	pthread_mutex_unlock(&status_lock);
	if (__atomic_load_n(&token_key, __ATOMIC_RELAXED))
		anchord_tlskey_metrics(f, sign_limit);
	peer_metrics(f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return NULL;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain; version=0.0.4; charset=utf-8") != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store") != MHD_YES) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

static enum MHD_Result
queue(struct MHD_Connection *conn, enum path_id p, enum code_id c,
    struct MHD_Response *r)
{
	count(p, c);
	return MHD_queue_response(conn, code_num[c], r);
}

/*
 * Over TLS, MHD 0.9.75 hands the header and the body of a response to GnuTLS
 * in two calls: two records, two system calls.  For a small response we
 * cork the session so that both leave as one record in one send, and the
 * request-completed callback uncorks it.  Only when nothing waits in the
 * socket's send queue, so that the flush finds room; a client that does
 * not read takes MHD's normal path.
 */
static int corked;		/* its address marks a corked request */

static void
maybe_cork(struct MHD_Connection *conn, size_t body_len, void **con_cls)
{
	const union MHD_ConnectionInfo *si, *fi;
	int outq = 1;

	if (!tls_mode || body_len > CORK_MAX)
		return;
	si = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	fi = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (si == NULL || si->tls_session == NULL || fi == NULL)
		return;
	if (ioctl(fi->connect_fd, SIOCOUTQ, &outq) != 0 || outq != 0)
		return;
	gnutls_record_cork((gnutls_session_t)si->tls_session);
	*con_cls = &corked;
}

static void
request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	const union MHD_ConnectionInfo *si, *fi;
	gnutls_session_t session;
	struct pollfd pfd;
	int r;

	(void)cls;
	if (*con_cls != &corked)
		return;
	*con_cls = NULL;
	si = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	fi = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (si == NULL || si->tls_session == NULL || fi == NULL ||
	    toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		return;
	session = (gnutls_session_t)si->tls_session;
	r = gnutls_record_uncork(session, 0);
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
		/* Only under memory pressure: wait a little, then give up on
		 * the connection rather than leave a reply unsent. */
		pfd.fd = fi->connect_fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		(void)poll(&pfd, 1, 1000);
		r = gnutls_record_uncork(session, 0);
		if (r < 0)
			(void)shutdown(fi->connect_fd, SHUT_RDWR);
	}
}

/* A resource of the current content: 200, 304, 503 or 404. */
static enum MHD_Result
serve(struct MHD_Connection *conn, enum path_id p, uint32_t version,
    void **con_cls)
{
	const struct resource *res = NULL;
	const char *inm;
	enum MHD_Result ret;

	pthread_rwlock_rdlock(&content_lock);
	if (current == NULL) {
		ret = queue(conn, p, C_503, r_not_ready);
		goto out;
	}
	switch (p) {
	case P_ROOT:
		res = &current->f1;
		break;
	case P_BUNDLE:
		/* Never an expired signature. */
		if (time(NULL) >= current->exp) {
			ret = queue(conn, p, C_503, r_expired);
			goto out;
		}
		res = &current->f2;
		break;
	case P_SIGNERS:
		if (current->nversions > 0)
			res = &current->versions[current->nversions - 1];
		break;
	case P_SIGNERS_N:
		if (version >= 1 && version <= current->nversions)
			res = &current->versions[version - 1];
		break;
	default:
		break;
	}
	if (res == NULL) {
		ret = queue(conn, p, C_404, r_not_found);
		goto out;
	}
	maybe_cork(conn, res->len, con_cls);
	inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (inm != NULL && etag_matches(inm, res->etag))
		ret = queue(conn, p, C_304, res->nm);
	else
		ret = queue(conn, p, C_200, res->ok);
 out:
	pthread_rwlock_unlock(&content_lock);
	return ret;
}

static int first_call;		/* its address marks a request seen once */

static enum MHD_Result
handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	enum path_id p;
	enum health h;
	uint32_t v = 0;
	const char *cl, *te;

	(void)cls;
	(void)version;
	(void)upload_data;
	if (*con_cls == NULL) {
		*con_cls = &first_call;
		/* Refuse a body before reading it. */
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_TRANSFER_ENCODING);
		if (te != NULL || (cl != NULL && strcmp(cl, "0") != 0))
			return queue(conn, P_OTHER, C_413, r_too_large);
		/* Queue on the second call: a response queued on the first
		 * makes MHD 0.9.75 close the connection after it. */
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return MHD_NO;
	}

	if (strcmp(url, "/") == 0)
		p = P_ROOT;
	else if (strcmp(url, "/bundle.jws") == 0)
		p = P_BUNDLE;
	else if (strcmp(url, "/signers.jws") == 0)
		p = P_SIGNERS;
	else if (strcmp(url, "/healthz") == 0)
		p = P_HEALTHZ;
	else if (strcmp(url, "/metrics") == 0)
		p = P_METRICS;
	else if (parse_version(url, &v))
		p = P_SIGNERS_N;
	else
		return queue(conn, P_OTHER, C_404, r_not_found);

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return queue(conn, p, C_405, r_method);

	switch (p) {
	case P_HEALTHZ:
		pthread_rwlock_rdlock(&content_lock);
		h = health_now(current, anchor_now());
		pthread_rwlock_unlock(&content_lock);
		return queue(conn, p, h == H_OK ? C_200 : C_503, r_health[h]);
	case P_METRICS:
		if ((resp = metrics_response()) == NULL)
			return MHD_NO;
		ret = queue(conn, p, C_200, resp);
		MHD_destroy_response(resp);
		return ret;
	default:
		return serve(conn, p, v, con_cls);
	}
}

static void
notify_connection(void *cls, struct MHD_Connection *conn,
    void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)conn;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		anchord_tls_conn_started(socket_context);
	else
		anchord_tls_conn_closed(*socket_context);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	debug_f("microhttpd: %.300s", msg);
}

static unsigned
share(unsigned total, unsigned n)
{
	return (total + n - 1) / n;
}

/*
 * Daemon i on listening socket i.  The kernel spreads connections over the
 * sockets: each daemon takes its part of the connection cap, and enforces
 * the per-address cap on the connections it holds (one address holds at
 * most threads times the cap in all).
 */
static int
start_daemon(struct web *w, unsigned i)
{
	struct MHD_OptionItem opts[16];
	unsigned flags, n = 0;

	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
	    MHD_USE_ERROR_LOG;
	if (w->tls)
		flags |= MHD_USE_TLS;
#define OPT(o, v, p) do { opts[n].option = (o); opts[n].value = (v); \
	opts[n].ptr_value = (p); n++; } while (0)
	OPT(MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL);
	OPT(MHD_OPTION_LISTEN_SOCKET, w->listen_fds[i], NULL);
	OPT(MHD_OPTION_CONNECTION_LIMIT, share(w->o->max_connections, w->n),
	    NULL);
	OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, w->o->max_per_ip, NULL);
	OPT(MHD_OPTION_CONNECTION_TIMEOUT, w->o->timeout, NULL);
	OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)w->o->conn_memory,
	    NULL);
	if (w->tls) {
		OPT(MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
		    (void *)anchord_tls_cert_cb);
		OPT(MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES);
		OPT(MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)notify_connection,
		    NULL);
		OPT(MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)request_completed,
		    NULL);
	}
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
	w->daemons[i] = MHD_start_daemon(flags, 0, NULL, NULL, handler, NULL,
	    MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (w->daemons[i] == NULL) {
		error_f("cannot start the HTTP server");
		return ANCHOR_E_INTERNAL;
	}
	w->listen_fds[i] = -1;	/* MHD owns it now */
	return ANCHOR_OK;
}

static void
svid_ask(struct web *w)
{
	struct anchord_buf b = { 0 };
	uint8_t *spki = NULL;
	size_t len = 0;
	int r;

	if ((r = anchord_tls_new_key(&spki, &len)) != ANCHOR_OK) {
		error_f("generating the endpoint key: %s", anchor_strerror(r));
		w->svid_retry_ms = mono_ms() + 5000;
		return;
	}
	w->svid_id++;
	anchord_buf_put_u32(&b, w->svid_id);
	anchord_buf_put_bytes(&b, spki, len);
	if (anchord_chan_send(IPC_SVID_REQUEST, &b, ANCHORD_IPC_TIMEOUT_MS) ==
	    ANCHOR_OK) {
		w->svid_pending = true;
		w->svid_asked_ms = mono_ms();
	} else {
		w->svid_retry_ms = mono_ms() + 1000;
	}
	anchord_buf_clear(&b);
	free(spki);
}

static void
on_svid(struct web *w, const uint8_t *p, size_t len, bool ok)
{
	struct anchord_reader rd;
	const uint8_t *der;
	size_t der_len;
	uint32_t id, retry;
	int64_t nb, na;
	char err[256] = "";
	int r;

	anchord_reader_init(&rd, p, len);
	if (!anchord_get_u32(&rd, &id))
		goto bad;
	if (!ok) {
		if (!anchord_get_u32(&rd, &retry) || !anchord_reader_done(&rd))
			goto bad;
		if (id == w->svid_id) {
			w->svid_pending = false;
			w->svid_retry_ms = mono_ms() +
			    (int64_t)(retry > 3600 ? 3600 : retry ? retry : 1) *
			    1000;
			debug_f("endpoint certificate refused; asking again "
			    "in %u s", retry);
		}
		return;
	}
	if (!anchord_get_bytes(&rd, &der, &der_len, 16384) ||
	    !anchord_get_i64(&rd, &nb) || !anchord_get_i64(&rd, &na) ||
	    !anchord_reader_done(&rd) || na <= nb)
		goto bad;
	if (id != w->svid_id)
		return;		/* an answer to an older request */
	w->svid_pending = false;
	if ((r = anchord_tls_set_svid(der, der_len, err, sizeof(err))) !=
	    ANCHOR_OK) {
		error_f("endpoint certificate: %s", err[0] ? err :
		    anchor_strerror(r));
		w->svid_retry_ms = mono_ms() + 5000;
		return;
	}
	w->svid_renew_at = nb + (na - nb) / 2;
	info_f("serving an X509-SVID for %.200s valid until %" PRId64
	    ", renewing at %" PRId64, w->conf->endpoint_spiffe_id, na,
	    w->svid_renew_at);
	return;
 bad:
	error_f("malformed %s message from the signer process",
	    ok ? "svid" : "svid-fail");
}

static void
on_status(struct web *w, const uint8_t *p, size_t len)
{
	struct anchord_reader rd;
	uint32_t ts, keys[ANCHOR_ROLE_COUNT][ANCHORD_KEY_STATES];
	uint64_t errs, ok, fail;
	size_t i, j;

	(void)w;
	anchord_reader_init(&rd, p, len);
	if (!anchord_get_u32(&rd, &ts) || !anchord_get_u64(&rd, &errs) ||
	    !anchord_get_u64(&rd, &ok) || !anchord_get_u64(&rd, &fail))
		goto bad;
	for (i = 0; i < ANCHOR_ROLE_COUNT; i++)
		for (j = 0; j < ANCHORD_KEY_STATES; j++)
			if (!anchord_get_u32(&rd, &keys[i][j]))
				goto bad;
	if (!anchord_reader_done(&rd) || ts > ANCHORD_TOKEN_FAILING)
		goto bad;
	pthread_mutex_lock(&status_lock);
	status.token_errors = errs;
	status.signed_ok = ok;
	status.signed_fail = fail;
	memcpy(status.keys, keys, sizeof(keys));
	status.have = true;
	pthread_mutex_unlock(&status_lock);
	__atomic_store_n(&token_state, (int)ts, __ATOMIC_RELAXED);
	return;
 bad:
	error_f("malformed status message from the signer process");
}

/* A trust domain name as federation.c accepts it: safe in a label value. */
static bool
td_ok(const char *td)
{
	size_t n = strlen(td);

	return n > 0 && n < 256 && strspn(td,
	    "abcdefghijklmnopqrstuvwxyz0123456789.-_") == n;
}

static void
on_peer_status(const uint8_t *p, size_t len)
{
	struct anchord_reader rd;
	struct peer_status *np = NULL, *ps;
	char *td = NULL;
	uint32_t n = 0, i, hs;
	uint64_t ls, lf;

	anchord_reader_init(&rd, p, len);
	if (!anchord_get_u32(&rd, &n) || n > ANCHORD_MAX_PEERS)
		goto bad;
	if (n > 0 && (np = calloc(n, sizeof(*np))) == NULL) {
		error_f("peer status: out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		ps = &np[i];
		free(td);
		td = NULL;
		if (!anchord_get_str(&rd, &td, sizeof(ps->td) - 1) ||
		    !td_ok(td) || !anchord_get_u64(&rd, &ls) ||
		    !anchord_get_u64(&rd, &lf) ||
		    !anchord_get_u64(&rd, &ps->failures) ||
		    !anchord_get_u32(&rd, &hs) || hs > 1 ||
		    !anchord_get_u64(&rd, &ps->seq) ||
		    !anchord_get_u64(&rd, &ps->n_ok) ||
		    !anchord_get_u64(&rd, &ps->n_rejected) ||
		    !anchord_get_u64(&rd, &ps->n_error))
			goto bad;
		memcpy(ps->td, td, strlen(td) + 1);
		ps->last_success = (int64_t)ls;
		ps->last_failure = (int64_t)lf;
		ps->has_seq = hs == 1;
	}
	if (!anchord_reader_done(&rd))
		goto bad;
	pthread_mutex_lock(&status_lock);
	free(peers);
	peers = np;
	npeers = n;
	have_peers = true;
	pthread_mutex_unlock(&status_lock);
	free(td);
	return;
 bad:
	free(td);
	free(np);
	error_f("malformed peer-status message from the fetcher process");
}

static int
rebuild(struct web *w)
{
	struct content *c = NULL;
	int r;

	if (w->raw == NULL)
		return ANCHOR_OK;
	if ((r = content_build(w->raw, w->raw_len, w->refresh_hint, &c)) !=
	    ANCHOR_OK)
		return r;
	content_swap(c);
	return ANCHOR_OK;
}

static void
on_content(struct web *w, const uint8_t *p, size_t len)
{
	struct content *c = NULL;
	uint8_t *copy;
	int r;

	if ((r = content_build(p, len, w->refresh_hint, &c)) != ANCHOR_OK) {
		error_f("content from the signer process: %s; keeping what "
		    "is served", anchor_strerror(r));
		return;
	}
	if ((copy = malloc(len)) != NULL) {
		memcpy(copy, p, len);
		free(w->raw);
		w->raw = copy;
		w->raw_len = len;
	}
	debug_f("serving sequence %" PRIu64 ", signature valid until %"
	    PRId64, c->sequence, c->exp);
	content_swap(c);
}

static void
on_config(struct web *w, const uint8_t *p, size_t len)
{
	struct anchord_reader rd;
	char *addr = NULL, *profile = NULL;
	uint32_t port;
	int64_t hint;

	anchord_reader_init(&rd, p, len);
	if (!anchord_get_i64(&rd, &hint) || !anchord_get_str(&rd, &addr, 256) ||
	    !anchord_get_u32(&rd, &port) ||
	    !anchord_get_str(&rd, &profile, 64) || !anchord_reader_done(&rd) ||
	    hint <= 0) {
		error_f("malformed config message from the signer process");
		goto out;
	}
	if (strcmp(addr, w->conf->listen_address) != 0 ||
	    port != w->conf->listen_port ||
	    strcmp(profile, w->conf->endpoint_profile) != 0)
		warn_f("bundle_endpoint address, port and profile changes "
		    "take effect after a restart");
	if (hint != w->refresh_hint) {
		w->refresh_hint = hint;
		if (rebuild(w) != ANCHOR_OK)
			error_f("rebuilding responses for the new refresh hint");
	}
 out:
	free(addr);
	free(profile);
}

static void
on_tls_creds(struct web *w, const uint8_t *p, size_t len)
{
	struct anchord_reader rd;
	const uint8_t *cert, *key;
	size_t cert_len, key_len;
	char err[256] = "";
	int r;

	anchord_reader_init(&rd, p, len);
	if (!anchord_get_bytes(&rd, &cert, &cert_len, ANCHORD_MAX_PEM) ||
	    !anchord_get_bytes(&rd, &key, &key_len, ANCHORD_MAX_PEM) ||
	    !anchord_reader_done(&rd)) {
		error_f("malformed tls-creds message from the signer process");
		return;
	}
	if (!w->tls || w->spiffe)
		return;
	if ((r = anchord_tls_set_pem(cert, cert_len, key, key_len, err,
	    sizeof(err))) != ANCHOR_OK) {
		error_f("https_web %.200s: %s", w->conf->cert_file,
		    err[0] ? err : anchor_strerror(r));
		if (!anchord_tls_ready()) {
			/* Nothing to serve with: a configuration error. */
			w->stopping = true;
			w->rc = 1;
		}
		return;
	}
	info_f("https_web certificate loaded from %.200s", w->conf->cert_file);
}

/* https_web with the key in the token: the chain and the key's public half. */
static void
on_tls_token_creds(struct web *w, const uint8_t *p, size_t len)
{
	struct anchord_reader rd;
	const uint8_t *cert, *spki;
	size_t cert_len, spki_len;
	char err[256] = "";
	int r;

	anchord_reader_init(&rd, p, len);
	if (!anchord_get_bytes(&rd, &cert, &cert_len, ANCHORD_MAX_PEM) ||
	    !anchord_get_bytes(&rd, &spki, &spki_len, 1024) ||
	    !anchord_reader_done(&rd)) {
		error_f("malformed tls-token-creds message from the signer "
		    "process");
		return;
	}
	if (!w->tls || w->spiffe)
		return;
	if ((r = anchord_tls_set_token(cert, cert_len, spki, spki_len, err,
	    sizeof(err))) != ANCHOR_OK) {
		error_f("https_web %.200s: %s", w->conf->cert_file,
		    err[0] ? err : anchor_strerror(r));
		if (!anchord_tls_ready()) {
			w->stopping = true;
			w->rc = 1;
		}
		return;
	}
	__atomic_store_n(&token_key, 1, __ATOMIC_RELAXED);
	info_f("https_web certificate loaded from %.200s, its key stays in "
	    "the token", w->conf->cert_file);
}

/* The signer is gone: a clean exit (status 0) stops us cleanly too. */
static void
signer_gone(struct web *w)
{
	int st = 0;
	pid_t p;

	if (w->signer <= 0)
		return;
	p = waitpid(w->signer, &st, WNOHANG);
	if (p == 0)
		return;
	w->signer = 0;
	__atomic_store_n(&signer_alive, 0, __ATOMIC_RELAXED);
	if (w->stopping)
		return;
	if (p > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		info_f("the signer process stopped; stopping");
		w->rc = 0;
	} else {
		if (p > 0 && WIFSIGNALED(st))
			error_f("the signer process died of signal %d",
			    WTERMSIG(st));
		else
			error_f("the signer process exited with status %d",
			    p > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		w->rc = 1;
	}
	w->stopping = true;
}

/* The fetcher is gone: serving goes on without it (see anchord(8)). */
static void
fetcher_gone(struct web *w)
{
	int st = 0;
	pid_t p;

	if (w->fetcher <= 0)
		return;
	p = waitpid(w->fetcher, &st, WNOHANG);
	if (p == 0)
		return;
	w->fetcher = 0;
	__atomic_store_n(&fetcher_alive, 0, __ATOMIC_RELAXED);
	if (w->stopping)
		return;
	if (p > 0 && WIFSIGNALED(st))
		error_f("the fetcher process died of signal %d; peers are no "
		    "longer fetched until a restart", WTERMSIG(st));
	else
		error_f("the fetcher process exited with status %d; peers are "
		    "no longer fetched until a restart",
		    p > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static void
handle_fetcher_messages(struct web *w)
{
	const uint8_t *p;
	uint32_t type;
	size_t len;
	bool eof;
	int r;

	for (;;) {
		r = anchord_ipc_read(&w->fin, w->ffd, &eof);
		if (r != ANCHOR_OK) {
			if (!eof)
				error_f("channel from the fetcher process: %s",
				    anchor_strerror(r));
			close(w->ffd);
			w->ffd = -1;
			__atomic_store_n(&fetcher_alive, 0, __ATOMIC_RELAXED);
			fetcher_gone(w);
			return;
		}
		if (!anchord_ipc_next(&w->fin, &type, &p, &len))
			return;
		if (type == IPC_PEER_STATUS)
			on_peer_status(p, len);
		anchord_ipc_done(&w->fin);
	}
}

static void
handle_messages(struct web *w)
{
	const uint8_t *p;
	uint32_t type;
	size_t len;
	bool eof;
	int r;

	for (;;) {
		r = anchord_ipc_read(&w->in, w->fd, &eof);
		if (r != ANCHOR_OK) {
			if (!eof)
				error_f("channel from the signer process: %s",
				    anchor_strerror(r));
			anchord_chan_close();
			close(w->fd);
			w->fd = -1;
			__atomic_store_n(&signer_alive, 0, __ATOMIC_RELAXED);
			/* Wait for its exit status to decide how to stop. */
			if (w->signer > 0) {
				int i;

				for (i = 0; i < 50 && w->signer > 0; i++) {
					signer_gone(w);
					if (w->signer > 0)
						usleep(20000);
				}
			}
			if (!w->stopping) {
				w->stopping = true;
				w->rc = 1;
			}
			return;
		}
		if (!anchord_ipc_next(&w->in, &type, &p, &len))
			return;
		switch (type) {
		case IPC_CONTENT:
			on_content(w, p, len);
			break;
		case IPC_STATUS:
			on_status(w, p, len);
			break;
		case IPC_TLS_CREDS:
			on_tls_creds(w, p, len);
			break;
		case IPC_SVID:
			on_svid(w, p, len, true);
			break;
		case IPC_SVID_FAIL:
			on_svid(w, p, len, false);
			break;
		case IPC_CONFIG:
			on_config(w, p, len);
			break;
		case IPC_TLS_TOKEN_CREDS:
			on_tls_token_creds(w, p, len);
			break;
		case IPC_TLS_SIGNATURE:
			if (anchord_tlskey_answer(p, len) != ANCHOR_OK)
				error_f("malformed tls-signature message from "
				    "the signer process");
			break;
		default:
			break;
		}
		anchord_ipc_done(&w->in);
	}
}

static void
handle_signals(struct web *w)
{
	struct signalfd_siginfo si;

	while (read(w->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			if (!w->stopping)
				info_f("signal %d: draining and stopping",
				    (int)si.ssi_signo);
			w->stopping = true;
			break;
		case SIGHUP:
			info_f("SIGHUP: reloading");
			if (w->fd >= 0 && anchord_chan_send(IPC_RELOAD, NULL,
			    ANCHORD_IPC_TIMEOUT_MS) != ANCHOR_OK)
				error_f("cannot reach the signer process");
			if (w->ffd >= 0 && anchord_ipc_send(w->ffd, IPC_RELOAD,
			    NULL, ANCHORD_IPC_TIMEOUT_MS) != ANCHOR_OK)
				error_f("cannot reach the fetcher process");
			break;
		case SIGCHLD:
			signer_gone(w);
			fetcher_gone(w);
			break;
		default:
			break;
		}
	}
}

static void
tick(struct web *w)
{
	int64_t now_m = mono_ms();

	if (w->spiffe && w->fd >= 0) {
		if (w->svid_pending && now_m - w->svid_asked_ms > SVID_ANSWER_MS)
			w->svid_pending = false;
		if (!w->svid_pending && now_m >= w->svid_retry_ms &&
		    (!anchord_tls_ready() || anchor_now() >= w->svid_renew_at))
			svid_ask(w);
	}
	if (w->tls)
		anchord_tls_gc();
}

/* Stop accepting, let requests in flight finish, stop the signer. */
static void
shutdown_all(struct web *w)
{
	const union MHD_DaemonInfo *info;
	MHD_socket lfd;
	int64_t deadline;
	unsigned i;
	int st;

	for (i = 0; i < w->n; i++) {
		/* From here the listening socket is ours: close it so that
		 * new connections are refused at once. */
		if (w->daemons[i] != NULL &&
		    (lfd = MHD_quiesce_daemon(w->daemons[i])) != MHD_INVALID_SOCKET)
			close(lfd);
	}
	deadline = mono_ms() + DRAIN_MS;
	while (mono_ms() < deadline) {
		unsigned open_conns = 0;

		for (i = 0; i < w->n; i++) {
			if (w->daemons[i] == NULL)
				continue;
			info = MHD_get_daemon_info(w->daemons[i],
			    MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
			if (info != NULL)
				open_conns += info->num_connections;
		}
		if (open_conns == 0)
			break;
		usleep(50000);
	}
	for (i = 0; i < w->n; i++) {
		if (w->daemons[i] != NULL)
			MHD_stop_daemon(w->daemons[i]);
		w->daemons[i] = NULL;
	}
	if (w->fd >= 0) {
		(void)anchord_chan_send(IPC_SHUTDOWN, NULL, 1000);
		anchord_chan_close();
		close(w->fd);
		w->fd = -1;
	}
	if (w->ffd >= 0) {
		(void)anchord_ipc_send(w->ffd, IPC_SHUTDOWN, NULL, 1000);
		close(w->ffd);
		w->ffd = -1;
	}
	if (w->signer > 0) {
		deadline = mono_ms() + SIGNER_WAIT_MS;
		while (mono_ms() < deadline) {
			if (waitpid(w->signer, &st, WNOHANG) != 0) {
				w->signer = 0;
				break;
			}
			usleep(20000);
		}
		if (w->signer > 0)
			warn_f("the signer process (pid %ld) did not stop",
			    (long)w->signer);
	}
	if (w->fetcher > 0) {
		/* A transfer in flight ends within a second or so. */
		deadline = mono_ms() + SIGNER_WAIT_MS;
		while (mono_ms() < deadline) {
			if (waitpid(w->fetcher, &st, WNOHANG) != 0) {
				w->fetcher = 0;
				break;
			}
			usleep(20000);
		}
		if (w->fetcher > 0)
			warn_f("the fetcher process (pid %ld) did not stop",
			    (long)w->fetcher);
	}
}

int
anchord_web_main(const struct anchord_opts *o, const struct anchor_conf *conf,
    int fd, int *listen_fds, pid_t signer, int ffd, pid_t fetcher)
{
	struct web w;
	struct pollfd pfd[3];
	pthread_rwlockattr_t attr;
	sigset_t set;
	struct counters *k;
	unsigned i;

	memset(&w, 0, sizeof(w));
	w.o = o;
	w.conf = conf;
	w.fd = fd;
	w.sigfd = -1;
	w.signer = signer;
	w.ffd = ffd;
	w.fetcher = fetcher;
	w.listen_fds = listen_fds;
	w.n = o->threads;
	w.refresh_hint = conf->refresh_hint;
	w.tls = strcmp(conf->endpoint_profile, "http") != 0;
	w.spiffe = strcmp(conf->endpoint_profile, "https_spiffe") == 0;
	w.rc = 1;
	anchord_ipc_in_init(&w.in, IPC_SIDE_NETWORK);
	anchord_ipc_in_init(&w.fin, IPC_SIDE_NETWORK_FETCHER);
	anchord_chan_init(fd);
	sign_limit = o->tls_sign_rate;

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&content_lock, &attr);
	pthread_rwlockattr_destroy(&attr);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	if ((w.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		error_f("signalfd: %s", strerror(errno));
		goto out;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 ||
	    fcntl(ffd, F_SETFL, fcntl(ffd, F_GETFL) | O_NONBLOCK) != 0) {
		error_f("channel: %s", strerror(errno));
		goto out;
	}
	if (fixed_init() != ANCHOR_OK) {
		error_f("out of memory");
		goto out;
	}
	if (w.tls && anchord_tls_init() != ANCHOR_OK) {
		error_f("GnuTLS initialisation failed");
		goto out;
	}
	if (w.tls)
		tls_mode = true;
	for (i = 0; i < w.n; i++)
		if (start_daemon(&w, i) != ANCHOR_OK)
			goto out;
	info_f("serving %s on %.100s port %u", conf->endpoint_profile,
	    conf->listen_address, conf->listen_port);

	w.rc = 0;
	while (!w.stopping) {
		tick(&w);
		pfd[0].fd = w.fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = w.sigfd;
		pfd[1].events = POLLIN;
		pfd[2].fd = w.ffd;	/* -1 once the fetcher is gone: ignored */
		pfd[2].events = POLLIN;
		pfd[0].revents = pfd[1].revents = pfd[2].revents = 0;
		if (poll(pfd, 3, 1000) < 0 && errno != EINTR) {
			error_f("poll: %s", strerror(errno));
			w.rc = 1;
			break;
		}
		if (pfd[1].revents != 0)
			handle_signals(&w);
		if (pfd[0].revents != 0 && !w.stopping)
			handle_messages(&w);
		if (pfd[2].revents != 0 && !w.stopping && w.ffd >= 0)
			handle_fetcher_messages(&w);
	}
 out:
	shutdown_all(&w);
	for (i = 0; i < w.n; i++)
		if (listen_fds[i] >= 0) {
			close(listen_fds[i]);
			listen_fds[i] = -1;
		}
	content_swap(NULL);
	fixed_free();
	if (w.tls)
		anchord_tls_free();
	anchord_ipc_in_clear(&w.in);
	anchord_ipc_in_clear(&w.fin);
	free(peers);
	peers = NULL;
	npeers = 0;
	free(w.raw);
	while ((k = all_counters) != NULL) {
		all_counters = k->next;
		free(k);
	}
	pthread_rwlock_destroy(&content_lock);
	if (w.sigfd >= 0)
		close(w.sigfd);
	return w.rc;
}
