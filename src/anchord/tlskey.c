/*
 * The https_web key in the signer's token, seen from the network process.
 *
 * GnuTLS 3.7 hands an external ECDSA key the digest, never the data (an
 * external key's sign_data callback is used for EdDSA only), so the signer
 * signs a digest: SHA-256 for a P-256 key, SHA-384 for a P-384 key, the
 * only signature schemes the key announces.  Every TLS thread that needs a
 * signature takes a slot, sends a request with the slot's id, and sleeps
 * on a condition variable until the main thread, which reads the channel,
 * posts the answer to the slot with that id, or the wait times out.  An
 * answer that comes too late finds no slot and is dropped.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <linux/sockios.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "error.h"
#include "tlskey.h"

/* Requests queued in the socket beyond this: the signer is not reading. */
#define QUEUE_MAX	(64 * 1024)

enum { R_TIMEOUT = TLS_SIGN_RESULTS, R_BUSY, R_COUNT };
static const char *const result_label[R_COUNT] = {
	"ok", "refused", "rate_limited", "token", "timeout", "unavailable"
};

struct slot {
	uint32_t id;
	bool used, done;
	uint32_t result;
	uint8_t sig[ANCHORD_TLS_SIG_MAX];
	size_t sig_len;
};

/* Lock order: send_lock, then lock. */
static pthread_mutex_t send_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t answered;
static int chan_fd = -1;		/* under both locks to change */
static uint32_t next_id;
static struct slot slots[ANCHORD_TLS_SIGN_SLOTS];
static uint64_t results[R_COUNT];	/* atomic */

struct keyinfo {
	unsigned bits;
	size_t digest_len;
	gnutls_sign_algorithm_t tls12, tls13;
};

static void
counted(unsigned r)
{
	__atomic_add_fetch(&results[r], 1, __ATOMIC_RELAXED);
}

void
anchord_chan_init(int fd)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&answered, &ca);
	pthread_condattr_destroy(&ca);
	chan_fd = fd;
}

void
anchord_chan_close(void)
{
	pthread_mutex_lock(&send_lock);
	pthread_mutex_lock(&lock);
	chan_fd = -1;
	pthread_cond_broadcast(&answered);
	pthread_mutex_unlock(&lock);
	pthread_mutex_unlock(&send_lock);
}

int
anchord_chan_send(uint32_t type, const struct anchord_buf *b, int timeout_ms)
{
	int r = ANCHOR_E_IO;

	pthread_mutex_lock(&send_lock);
	if (chan_fd >= 0)
		r = anchord_ipc_send(chan_fd, type, b, timeout_ms);
	pthread_mutex_unlock(&send_lock);
	return r;
}

static struct timespec
deadline_after(int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

static int
ms_left(const struct timespec *dl)
{
	struct timespec now;
	int64_t ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(dl->tv_sec - now.tv_sec) * 1000 +
	    (dl->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

/*
 * Send the digest and wait for the raw r||s.  Returns the result (enum
 * anchord_tls_sign_result, R_TIMEOUT or R_BUSY); on TLS_SIGN_OK, sig holds
 * *sig_len bytes.
 */
static unsigned
ask_signer(const uint8_t *digest, size_t len, uint8_t *sig, size_t *sig_len)
{
	struct timespec dl = deadline_after(ANCHORD_TLS_SIGN_WAIT_MS);
	struct anchord_buf b = { 0 };
	struct slot *s = NULL;
	unsigned i, res = R_BUSY;
	int outq = 0, r;

	if (pthread_mutex_clocklock(&send_lock, CLOCK_MONOTONIC, &dl) != 0)
		return R_TIMEOUT;
	pthread_mutex_lock(&lock);
	if (chan_fd >= 0 && ioctl(chan_fd, SIOCOUTQ, &outq) == 0 &&
	    outq <= QUEUE_MAX) {
		for (i = 0; i < ANCHORD_TLS_SIGN_SLOTS; i++)
			if (!slots[i].used) {
				s = &slots[i];
				break;
			}
	}
	if (s != NULL) {
		if (++next_id == 0)
			next_id = 1;
		s->id = next_id;
		s->used = true;
		s->done = false;
		anchord_buf_put_u32(&b, s->id);
		anchord_buf_put_bytes(&b, digest, len);
	}
	pthread_mutex_unlock(&lock);
	if (s == NULL) {
		pthread_mutex_unlock(&send_lock);
		return R_BUSY;
	}
	/* Under send_lock the channel stays open. */
	r = anchord_ipc_send(chan_fd, IPC_TLS_SIGN, &b, ms_left(&dl));
	pthread_mutex_unlock(&send_lock);
	anchord_buf_clear(&b);

	pthread_mutex_lock(&lock);
	if (r != ANCHOR_OK) {
		res = R_TIMEOUT;
		goto out;
	}
	while (!s->done && chan_fd >= 0)
		if (pthread_cond_timedwait(&answered, &lock, &dl) == ETIMEDOUT)
			break;
	if (!s->done) {
		res = chan_fd >= 0 ? R_TIMEOUT : R_BUSY;
		goto out;
	}
	res = s->result;
	if (res == TLS_SIGN_OK) {
		memcpy(sig, s->sig, s->sig_len);
		*sig_len = s->sig_len;
	}
 out:
	s->used = false;
	pthread_mutex_unlock(&lock);
	return res;
}

int
anchord_tlskey_answer(const uint8_t *p, size_t len)
{
	struct anchord_reader rd;
	const uint8_t *sig;
	size_t sig_len;
	uint32_t id, result;
	unsigned i;

	anchord_reader_init(&rd, p, len);
	if (!anchord_get_u32(&rd, &id) || !anchord_get_u32(&rd, &result) ||
	    !anchord_get_bytes(&rd, &sig, &sig_len, ANCHORD_TLS_SIG_MAX) ||
	    !anchord_reader_done(&rd) || result >= TLS_SIGN_RESULTS ||
	    (result == TLS_SIGN_OK) != (sig_len > 0))
		return ANCHOR_E_INVAL;
	pthread_mutex_lock(&lock);
	for (i = 0; i < ANCHORD_TLS_SIGN_SLOTS; i++) {
		struct slot *s = &slots[i];

		if (s->used && !s->done && s->id == id) {
			s->result = result;
			memcpy(s->sig, sig, sig_len);
			s->sig_len = sig_len;
			s->done = true;
			pthread_cond_broadcast(&answered);
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return ANCHOR_OK;
}

static int
sign_hash(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *userdata,
    unsigned int flags, const gnutls_datum_t *hash, gnutls_datum_t *signature)
{
	const struct keyinfo *ki = userdata;
	uint8_t sig[ANCHORD_TLS_SIG_MAX];
	size_t sig_len = 0, half;
	gnutls_datum_t r, s;
	unsigned res;

	(void)key;
	(void)flags;
	if ((algo != ki->tls12 && algo != ki->tls13) ||
	    hash->size != ki->digest_len) {
		counted(TLS_SIGN_REFUSED);
		return GNUTLS_E_INVALID_REQUEST;
	}
	res = ask_signer(hash->data, hash->size, sig, &sig_len);
	counted(res);
	if (res != TLS_SIGN_OK)
		return GNUTLS_E_PK_SIGN_FAILED;
	half = ki->digest_len;		/* the field size of P-256, P-384 */
	if (sig_len != 2 * half)
		return GNUTLS_E_PK_SIGN_FAILED;
	/* TLS wants a DER ECDSA-Sig-Value, the token gives raw r||s. */
	r.data = sig;
	r.size = (unsigned)half;
	s.data = sig + half;
	s.size = (unsigned)half;
	return gnutls_encode_rs_value(signature, &r, &s) == 0 ? 0 :
	    GNUTLS_E_PK_SIGN_FAILED;
}

static int
key_info(gnutls_privkey_t key, unsigned int flags, void *userdata)
{
	const struct keyinfo *ki = userdata;
	unsigned algo;

	(void)key;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO)
		return GNUTLS_PK_ECDSA;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS)
		return (int)ki->bits;
	if (flags & GNUTLS_PRIVKEY_INFO_SIGN_ALGO)
		return (int)ki->tls13;
	if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO) {
		algo = GNUTLS_FLAGS_TO_SIGN_ALGO(flags);
		return algo == (unsigned)ki->tls12 || algo == (unsigned)ki->tls13;
	}
	return GNUTLS_E_UNKNOWN_PK_ALGORITHM;
}

static void
key_deinit(gnutls_privkey_t key, void *userdata)
{
	(void)key;
	free(userdata);
}

int
anchord_tlskey_new(unsigned bits, gnutls_privkey_t *out)
{
	gnutls_privkey_t key = NULL;
	struct keyinfo *ki = NULL;
	int r = ANCHOR_E_CRYPTO;

	*out = NULL;
	if (bits != 256 && bits != 384)
		return ANCHOR_E_UNSUPPORTED;
	if ((ki = calloc(1, sizeof(*ki))) == NULL)
		return ANCHOR_E_NOMEM;
	ki->bits = bits;
	ki->digest_len = bits / 8;
	ki->tls12 = bits == 256 ? GNUTLS_SIGN_ECDSA_SHA256 :
	    GNUTLS_SIGN_ECDSA_SHA384;
	ki->tls13 = bits == 256 ? GNUTLS_SIGN_ECDSA_SECP256R1_SHA256 :
	    GNUTLS_SIGN_ECDSA_SECP384R1_SHA384;
	if (gnutls_privkey_init(&key) != 0)
		goto out;
	if (gnutls_privkey_import_ext4(key, ki, NULL, sign_hash, NULL,
	    key_deinit, key_info, 0) != 0)
		goto out;
	ki = NULL;		/* the key frees it */
	*out = key;
	key = NULL;
	r = ANCHOR_OK;
 out:
	if (key != NULL)
		gnutls_privkey_deinit(key);
	free(ki);
	return r;
}

void
anchord_tlskey_metrics(FILE *f, unsigned limit)
{
	unsigned i;

	fprintf(f, "# HELP anchord_tls_token_signatures_total TLS handshake "
	    "signatures asked of the token, by result.\n"
	    "# TYPE anchord_tls_token_signatures_total counter\n");
	for (i = 0; i < R_COUNT; i++)
		fprintf(f, "anchord_tls_token_signatures_total{result=\"%s\"} %"
		    PRIu64 "\n", result_label[i],
		    __atomic_load_n(&results[i], __ATOMIC_RELAXED));
	fprintf(f, "# HELP anchord_tls_token_signature_limit TLS handshake "
	    "signatures per second the signer makes at most.\n"
	    "# TYPE anchord_tls_token_signature_limit gauge\n"
	    "anchord_tls_token_signature_limit %u\n", limit);
}
