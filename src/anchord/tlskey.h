/*
 * The network process's side of the channel to the signer, shared by the
 * main thread and the TLS threads, and the https_web private key that stays
 * in the signer's token: a GnuTLS external key whose signing callback asks
 * the signer over the channel (IPC_TLS_SIGN) and waits for the answer
 * (IPC_TLS_SIGNATURE), at most ANCHORD_TLS_SIGN_WAIT_MS.
 */
#ifndef ANCHORD_TLSKEY_H
#define ANCHORD_TLSKEY_H

#include <stdint.h>
#include <stdio.h>

#include <gnutls/abstract.h>

#include "ipc.h"

#define ANCHORD_TLS_SIGN_WAIT_MS	2000
#define ANCHORD_TLS_SIGN_SLOTS		32	/* requests in flight */

/* Use fd (the socketpair) for sending; before any TLS thread starts. */
void anchord_chan_init(int fd);
/*
 * Send one message to the signer; messages from several threads never
 * interleave.  As anchord_ipc_send(); ANCHOR_E_IO once the channel closed.
 */
int anchord_chan_send(uint32_t type, const struct anchord_buf *b,
    int timeout_ms);
/* No more sending: requests waiting for a signature fail at once.  The
 * caller closes the fd afterwards. */
void anchord_chan_close(void);

/*
 * A private key for GnuTLS whose signatures the signer makes: ECDSA with
 * the curve of bits (256: P-256 and SHA-256, 384: P-384 and SHA-384).
 * Free with gnutls_privkey_deinit().
 */
int anchord_tlskey_new(unsigned bits, gnutls_privkey_t *out);

/* An IPC_TLS_SIGNATURE payload from the signer; ANCHOR_E_INVAL if malformed. */
int anchord_tlskey_answer(const uint8_t *p, size_t len);

/* The signature counters for /metrics; limit is the signer's rate. */
void anchord_tlskey_metrics(FILE *f, unsigned limit);

#endif /* ANCHORD_TLSKEY_H */
