/*
 * anchord's fetcher process: fetches the bundles of the federation peers
 * (src/federation.h), each on its own schedule, all on one curl multi
 * handle, and stores the outcomes under the writer lock.
 *
 * It runs as the signer's user (it writes the store and the consumer
 * files) but never loads the PKCS#11 module and never reads the PIN: the
 * code that parses what peers send shares no memory with the token
 * session.  It reports the peers' status to the network process for
 * /metrics (IPC_PEER_STATUS) and takes RELOAD and SHUTDOWN from it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "anchord.h"
#include "domain.h"
#include "error.h"
#include "federation.h"
#include "ipc.h"
#include "log.h"
#include "util.h"

#define TICK_MS		1000	/* store changes, due peers, the writer lock */
#define RETRY_MIN_S	10	/* first retry after a failure */
#define RETRY_ERROR_S	60	/* a refresh that could not start or be stored */

struct peer {
	char td[256];
	bool live;			/* in force at the last read */
	bool scheduled;
	int64_t due;			/* UNIX seconds */
	int64_t sched_attempt;		/* the last attempt due was computed from */
	struct anchor_fed_refresh *f;	/* fetching, or finished until applied */
	CURL *easy;			/* f's request in the multi handle */
	bool finished;
	/* for /metrics */
	int64_t last_success, last_failure;
	uint64_t failures;
	bool has_seq;
	uint64_t seq;
	uint64_t n_ok, n_rejected, n_error;
};

struct fetcher {
	const struct anchord_opts *o;
	struct anchor_conf *conf;	/* owned */
	int fd;				/* socketpair to the network process */
	int sigfd;
	struct anchord_ipc_in in;
	struct anchor_domain *d;	/* store only */
	CURLM *m;
	struct peer *peers;
	size_t n, cap;
	int64_t data_version;
	bool sync;			/* bring the configuration's peers in */
	bool reread;			/* read the peers again */
	bool status_dirty;
	bool stop;
	int rc;
};

static void
say_log(void *arg, const char *line)
{
	(void)arg;
	info_f("%s", line);
}

static struct peer *
peer_find(struct fetcher *s, const char *td)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->peers[i].td, td) == 0)
			return &s->peers[i];
	return NULL;
}

static struct peer *
peer_add(struct fetcher *s, const char *td)
{
	struct peer *np;
	size_t ncap;

	if (strlen(td) >= sizeof(np->td))
		return NULL;
	if (s->n == s->cap) {
		ncap = s->cap ? s->cap * 2 : 8;
		if (ncap > ANCHORD_MAX_PEERS)
			ncap = ANCHORD_MAX_PEERS;
		if (s->n >= ncap ||
		    (np = realloc(s->peers, ncap * sizeof(*np))) == NULL)
			return NULL;
		s->peers = np;
		s->cap = ncap;
	}
	np = &s->peers[s->n++];
	memset(np, 0, sizeof(*np));
	memcpy(np->td, td, strlen(td) + 1);
	return np;
}

/* A random number in [0, n]. */
static int64_t
random_upto(int64_t n)
{
	uint32_t v = 0;

	if (n <= 0 || RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		return 0;
	return (int64_t)(v % ((uint64_t)n + 1));
}

/*
 * When to fetch next: the refresh hint (anchor_fed_next_due, at most
 * --fetch-interval-max), after failures a back-off doubling from
 * RETRY_MIN_S up to that, less up to a tenth as jitter so that peers
 * fetched together drift apart.  Never later than the hint says.
 */
static int64_t
schedule(const struct fetcher *s, const struct anchor_peer_row *p,
    const struct anchor_peer_bundle_row *b)
{
	int64_t next = anchor_fed_next_due(p, b), iv, back;
	unsigned k;

	if (next == 0 || p->last_attempt <= 0)
		return 0;
	iv = next - p->last_attempt;
	if (iv > (int64_t)s->o->fetch_interval_max)
		iv = (int64_t)s->o->fetch_interval_max;
	if (p->failures > 0) {
		k = p->failures > 16 ? 16 : (unsigned)p->failures - 1;
		back = (int64_t)RETRY_MIN_S << k;
		if (back < iv)
			iv = back;
	}
	if (iv < 1)
		iv = 1;
	return p->last_attempt + iv - random_upto(iv / 10);
}

/* Read the peers in force, their status and sequence, and (re)schedule. */
static int
read_peers(struct fetcher *s)
{
	struct anchor_peer_row *rows = NULL;
	struct anchor_peer_bundle_row b;
	struct peer *p;
	size_t n = 0, i, j;
	int r;

	memset(&b, 0, sizeof(b));
	if ((r = anchor_store_peers(s->d->store, &rows, &n)) != ANCHOR_OK) {
		error_f("reading peers: %s", anchor_store_errmsg(s->d->store));
		goto out;
	}
	for (i = 0; i < s->n; i++)
		s->peers[i].live = false;
	for (i = 0; i < n; i++) {
		if (rows[i].removed_at != 0)
			continue;
		if ((p = peer_find(s, rows[i].trust_domain)) == NULL &&
		    (p = peer_add(s, rows[i].trust_domain)) == NULL) {
			error_f("peer %.100s: more peers than anchord fetches "
			    "(%d)", rows[i].trust_domain, ANCHORD_MAX_PEERS);
			continue;
		}
		anchor_peer_bundle_row_clear(&b);
		memset(&b, 0, sizeof(b));
		r = anchor_store_peer_bundle_get(s->d->store,
		    rows[i].trust_domain, &b);
		if (r != ANCHOR_OK && r != ANCHOR_E_NOT_FOUND) {
			error_f("reading the bundle of %.100s: %s",
			    rows[i].trust_domain,
			    anchor_store_errmsg(s->d->store));
			continue;
		}
		p->live = true;
		p->last_success = rows[i].last_success;
		p->last_failure = rows[i].last_failure;
		p->failures = rows[i].failures;
		p->has_seq = r == ANCHOR_OK && b.has_sequence;
		p->seq = p->has_seq ? b.sequence : 0;
		/* Another writer's fetch (anchorctl) counts as an attempt too. */
		if (!p->scheduled || p->sched_attempt != rows[i].last_attempt) {
			p->due = schedule(s, &rows[i], r == ANCHOR_OK ? &b :
			    NULL);
			p->sched_attempt = rows[i].last_attempt;
			p->scheduled = true;
		}
	}
	/* Forget removed peers, but not while their refresh runs. */
	for (i = 0, j = 0; i < s->n; i++) {
		if (!s->peers[i].live && s->peers[i].f == NULL)
			continue;
		if (i != j)
			s->peers[j] = s->peers[i];
		j++;
	}
	s->n = j;
	s->status_dirty = true;
	r = ANCHOR_OK;
 out:
	anchor_peer_bundle_row_clear(&b);
	anchor_peer_rows_free(rows, n);
	return r;
}

/* End a peer's refresh; its request leaves the multi handle first. */
static void
refresh_drop(struct fetcher *s, struct peer *p)
{
	if (p->easy != NULL)
		curl_multi_remove_handle(s->m, p->easy);
	p->easy = NULL;
	anchor_fed_refresh_free(p->f);
	p->f = NULL;
	p->finished = false;
}

/* Hand the refresh's next request to the multi handle, or mark it done. */
static int
advance(struct fetcher *s, struct peer *p)
{
	CURL *e = NULL;
	int r;

	if ((r = anchor_fed_refresh_next(p->f, &e)) != ANCHOR_OK)
		return r;
	if (e == NULL) {
		p->finished = true;
		return ANCHOR_OK;
	}
	if (curl_multi_add_handle(s->m, e) != CURLM_OK)
		return ANCHOR_E_INTERNAL;
	p->easy = e;
	return ANCHOR_OK;
}

static void
start(struct fetcher *s, struct peer *p, int64_t now)
{
	struct anchor_peer_row row;
	struct anchor_peer_bundle_row b;
	struct anchor_fed_opts fo;
	int r;

	memset(&row, 0, sizeof(row));
	memset(&b, 0, sizeof(b));
	memset(&fo, 0, sizeof(fo));
	if ((r = anchor_store_peer_get(s->d->store, p->td, &row)) != ANCHOR_OK ||
	    row.removed_at != 0) {
		if (r != ANCHOR_OK && r != ANCHOR_E_NOT_FOUND)
			goto fail;
		p->live = false;
		s->reread = true;
		goto out;
	}
	r = anchor_store_peer_bundle_get(s->d->store, p->td, &b);
	if (r != ANCHOR_OK && r != ANCHOR_E_NOT_FOUND)
		goto fail;
	fo.now = now;
	fo.allow_insecure_http = s->conf->allow_insecure_http;
	if ((r = anchor_fed_refresh_new(&row, r == ANCHOR_OK ? &b : NULL, &fo,
	    &p->f)) != ANCHOR_OK)
		goto fail;
	if ((r = advance(s, p)) != ANCHOR_OK)
		goto fail;
	debug_f("fetching the bundle of %.100s", p->td);
	goto out;
 fail:
	error_f("fetching the bundle of %.100s: %s; trying again in %d s",
	    p->td, anchor_strerror(r), RETRY_ERROR_S);
	refresh_drop(s, p);
	p->due = now + RETRY_ERROR_S;
 out:
	anchor_peer_bundle_row_clear(&b);
	anchor_peer_row_clear(&row);
}

static void
start_due(struct fetcher *s)
{
	int64_t now = anchor_now();
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->peers[i].live && s->peers[i].f == NULL &&
		    s->peers[i].due <= now)
			start(s, &s->peers[i], now);
}

/* Move the transfers on; a finished one gets its next request. */
static void
drive(struct fetcher *s)
{
	CURLMsg *msg;
	CURL *e;
	CURLcode res;
	struct anchor_fed_refresh *f;
	struct peer *p;
	char *priv;
	int running = 0, left, r;

	if (curl_multi_perform(s->m, &running) != CURLM_OK)
		error_f("curl_multi_perform failed");
	while ((msg = curl_multi_info_read(s->m, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		e = msg->easy_handle;
		res = msg->data.result;
		priv = NULL;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
		f = (struct anchor_fed_refresh *)(void *)priv;
		curl_multi_remove_handle(s->m, e);
		if (f == NULL ||
		    (p = peer_find(s, anchor_fed_refresh_trust_domain(f))) ==
		    NULL || p->f != f)
			continue;	/* cannot happen: every handle is a peer's */
		p->easy = NULL;
		anchor_fed_refresh_done(f, res);
		if ((r = advance(s, p)) != ANCHOR_OK) {
			error_f("fetching the bundle of %.100s: %s", p->td,
			    anchor_strerror(r));
			refresh_drop(s, p);
			p->due = anchor_now() + RETRY_ERROR_S;
		}
	}
}

static void
apply_one(struct fetcher *s, struct peer *p)
{
	char line[1200];
	int r;

	line[0] = '\0';
	r = anchor_fed_refresh_apply(s->d, p->f, line, sizeof(line));
	if (r == ANCHOR_OK) {
		if (anchor_fed_refresh_accepted(p->f)) {
			p->n_ok++;
			if (strstr(line, ": unchanged ") != NULL)
				debug_f("%s", line);
			else
				info_f("%s", line);
		} else if (anchor_fed_refresh_transport(p->f)) {
			p->n_error++;
			warn_f("%s; keeping the last good bundle", line);
		} else {
			p->n_rejected++;
			error_f("%s; keeping the last good bundle", line);
		}
	} else if (r == ANCHOR_E_BUSY) {
		debug_f("%s", line);
		p->due = 0;		/* fetch again at once */
	} else if (r == ANCHOR_E_NOT_FOUND) {
		debug_f("%s", line);
		p->live = false;
	} else {
		error_f("%s: %s; trying again in %d s", line,
		    anchor_strerror(r), RETRY_ERROR_S);
		p->due = anchor_now() + RETRY_ERROR_S;
	}
	refresh_drop(s, p);
}

/* Store the finished refreshes when the writer lock is free. */
static void
apply_finished(struct fetcher *s)
{
	size_t i;
	bool any = false;
	int r;

	for (i = 0; i < s->n && !any; i++)
		any = s->peers[i].f != NULL && s->peers[i].finished;
	if (!any)
		return;
	r = anchor_store_lock(s->conf->state_dir, false, &s->d->lock_fd);
	if (r == ANCHOR_E_BUSY)
		return;		/* another writer: next tick */
	if (r != ANCHOR_OK) {
		error_f("writer lock %.200s/lock: %s", s->conf->state_dir,
		    anchor_strerror(r));
		return;
	}
	for (i = 0; i < s->n; i++)
		if (s->peers[i].f != NULL && s->peers[i].finished)
			apply_one(s, &s->peers[i]);
	anchor_store_unlock(s->d->lock_fd);
	s->d->lock_fd = -1;
	s->reread = true;
}

/* Configuration peers into the store, as every writer does. */
static void
sync_peers(struct fetcher *s)
{
	unsigned errors = 0;
	int r;

	r = anchor_store_lock(s->conf->state_dir, false, &s->d->lock_fd);
	if (r == ANCHOR_E_BUSY)
		return;		/* next tick */
	s->sync = false;
	if (r != ANCHOR_OK) {
		error_f("writer lock %.200s/lock: %s", s->conf->state_dir,
		    anchor_strerror(r));
		return;
	}
	if ((r = anchor_fed_sync(s->d, anchor_now(), say_log, NULL,
	    &errors)) != ANCHOR_OK) {
		const char *detail = anchor_domain_errdetail(s->d);

		error_f("configuration peers: %s%s%s", anchor_strerror(r),
		    detail ? ": " : "", detail ? detail : "");
	} else if (errors > 0) {
		warn_f("%u configuration peer(s) could not be taken in", errors);
	}
	anchor_store_unlock(s->d->lock_fd);
	s->d->lock_fd = -1;
	s->reread = true;
}

static int
send_status(struct fetcher *s)
{
	struct anchord_buf b = { 0 };
	const struct peer *p;
	uint32_t n = 0;
	size_t i;
	int r;

	for (i = 0; i < s->n; i++)
		n += s->peers[i].live;
	anchord_buf_put_u32(&b, n);
	for (i = 0; i < s->n; i++) {
		p = &s->peers[i];
		if (!p->live)
			continue;
		anchord_buf_put_str(&b, p->td);
		anchord_buf_put_u64(&b, (uint64_t)p->last_success);
		anchord_buf_put_u64(&b, (uint64_t)p->last_failure);
		anchord_buf_put_u64(&b, p->failures);
		anchord_buf_put_u32(&b, p->has_seq);
		anchord_buf_put_u64(&b, p->seq);
		anchord_buf_put_u64(&b, p->n_ok);
		anchord_buf_put_u64(&b, p->n_rejected);
		anchord_buf_put_u64(&b, p->n_error);
	}
	r = anchord_ipc_send(s->fd, IPC_PEER_STATUS, &b,
	    ANCHORD_IPC_TIMEOUT_MS);
	anchord_buf_clear(&b);
	if (r != ANCHOR_OK)
		error_f("sending peer status to the network process: %s",
		    anchor_strerror(r));
	else
		s->status_dirty = false;
	return r;
}

static int
data_version(struct fetcher *s, int64_t *v)
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

static void
drop_all(struct fetcher *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		refresh_drop(s, &s->peers[i]);
	s->n = 0;
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
reload(struct fetcher *s)
{
	struct anchor_conf *nc = NULL;
	struct anchor_domain *nd = NULL;
	char err[512] = "";
	int r;

	if ((r = anchor_conf_load(s->o->config_path, &nc, err,
	    sizeof(err))) != ANCHOR_OK) {
		error_f("reload: %s; keeping the running configuration",
		    err[0] ? err : anchor_strerror(r));
		goto out;
	}
	if (!same_str(nc->state_dir, s->conf->state_dir) ||
	    !same_str(nc->trust_domain, s->conf->trust_domain)) {
		if ((r = anchor_domain_open(nc, 0, NULL, &nd)) != ANCHOR_OK) {
			error_f("reload: %s: %s; keeping the running "
			    "configuration", anchor_domain_errdetail(nd) ?
			    anchor_domain_errdetail(nd) : "state",
			    anchor_strerror(r));
			goto out;
		}
		drop_all(s);
		anchor_domain_close(s->d);
		s->d = nd;
		nd = NULL;
		s->data_version = -1;
	} else {
		s->d->conf = nc;
	}
	anchor_conf_free(s->conf);
	s->conf = nc;
	nc = NULL;
	info_f("reloaded %.200s: reading the peers again", s->o->config_path);
	s->sync = true;
	s->reread = true;
 out:
	anchor_domain_close(nd);
	anchor_conf_free(nc);
}

static void
handle_messages(struct fetcher *s)
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
			s->stop = true;
			return;
		}
		if (r != ANCHOR_OK) {
			error_f("channel from the network process: %s",
			    anchor_strerror(r));
			s->rc = 1;
			s->stop = true;
			return;
		}
		if (!anchord_ipc_next(&s->in, &type, &p, &len))
			return;
		if (type == IPC_RELOAD && len == 0)
			reload(s);
		else if (type == IPC_SHUTDOWN)
			s->stop = true;
		anchord_ipc_done(&s->in);
		if (s->stop)
			return;
	}
}

static void
handle_signals(struct fetcher *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			reload(s);
		else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			s->stop = true;
	}
}

static void
tick(struct fetcher *s)
{
	int64_t dv = 0;

	if (s->sync)
		sync_peers(s);
	/* anchorctl federation add/remove/refresh, our own commits aside. */
	if (data_version(s, &dv) == ANCHOR_OK && dv != s->data_version) {
		s->data_version = dv;
		s->reread = true;
	}
	if (s->reread) {
		s->reread = false;
		(void)read_peers(s);
	}
	start_due(s);
	drive(s);
	apply_finished(s);
	if (s->reread) {
		s->reread = false;
		(void)read_peers(s);
	}
	if (s->status_dirty)
		(void)send_status(s);
}

int
anchord_fetcher_main(const struct anchord_opts *o, struct anchor_conf *conf,
    int fd)
{
	struct fetcher s;
	struct curl_waitfd extra[2];
	sigset_t set;
	int r;

	memset(&s, 0, sizeof(s));
	s.o = o;
	s.conf = conf;
	s.fd = fd;
	s.sigfd = -1;
	s.data_version = -1;
	s.rc = 1;
	anchord_ipc_in_init(&s.in, IPC_SIDE_FETCHER);

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
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (s.m = curl_multi_init()) == NULL) {
		error_f("libcurl initialisation failed");
		goto out;
	}
	if ((r = anchor_domain_open(s.conf, 0, NULL, &s.d)) != ANCHOR_OK) {
		const char *detail = anchor_domain_errdetail(s.d);

		error_f("%s: %s", detail ? detail : "state",
		    anchor_strerror(r));
		goto out;
	}
	s.rc = 0;
	s.sync = true;
	s.reread = true;
	while (!s.stop) {
		tick(&s);
		extra[0].fd = s.fd;
		extra[1].fd = s.sigfd;
		extra[0].events = extra[1].events = CURL_WAIT_POLLIN;
		extra[0].revents = extra[1].revents = 0;
		/* libcurl wakes up earlier when a transfer needs it. */
		if (curl_multi_poll(s.m, extra, 2, TICK_MS, NULL) != CURLM_OK) {
			error_f("curl_multi_poll failed");
			s.rc = 1;
			break;
		}
		if (extra[1].revents != 0)
			handle_signals(&s);
		if (extra[0].revents != 0 && !s.stop)
			handle_messages(&s);
	}
 out:
	if (s.m != NULL) {
		drop_all(&s);
		curl_multi_cleanup(s.m);
	}
	free(s.peers);
	curl_global_cleanup();
	anchord_ipc_in_clear(&s.in);
	anchor_domain_close(s.d);
	anchor_conf_free(s.conf);
	if (s.sigfd >= 0)
		close(s.sigfd);
	return s.rc;
}
