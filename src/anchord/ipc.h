/*
 * The channels between anchord's network process and its signer and
 * fetcher processes: SOCK_STREAM socketpairs carrying messages of
 *
 *	type	 u32, big-endian
 *	length	 u32, big-endian, at most ANCHORD_IPC_MAX
 *	payload	 length bytes
 *
 * Payloads are built from u32, u64 (big-endian) and byte strings (a u32
 * length, then the bytes).  A reader refuses an unknown type, a type meant
 * for the other direction, a length over the cap, a field running past the
 * end and trailing bytes.  Nothing here logs.
 */
#ifndef ANCHORD_IPC_H
#define ANCHORD_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ANCHORD_IPC_MAX		(16u * 1024 * 1024)
#define ANCHORD_IPC_HDR		8

enum anchord_ipc_type {
	/* signer -> network */
	IPC_CONTENT = 1,	/* bundle, signature and signer sets (a snapshot) */
	IPC_STATUS = 2,		/* token state, counters, keys by role and state */
	IPC_TLS_CREDS = 3,	/* https_web: certificate chain and key, PEM */
	IPC_SVID = 4,		/* https_spiffe: an issued certificate */
	IPC_SVID_FAIL = 5,	/* https_spiffe: the request could not be served */
	IPC_CONFIG = 6,		/* settings after a reload */
	IPC_TLS_TOKEN_CREDS = 7, /* https_web: chain; the key stays in the token */
	IPC_TLS_SIGNATURE = 8,	/* https_web: the answer to a TLS_SIGN */
	/* fetcher -> network */
	IPC_PEER_STATUS = 9,	/* federation peers: status and fetch counts */
	/* network -> signer (and RELOAD, SHUTDOWN: network -> fetcher) */
	IPC_RELOAD = 16,	/* SIGHUP reached the network process */
	IPC_SVID_REQUEST = 17,	/* sign a certificate for this public key */
	IPC_SHUTDOWN = 18,	/* stop now */
	IPC_TLS_SIGN = 19,	/* https_web: sign a handshake digest */
};

/* The result field of IPC_TLS_SIGNATURE. */
enum anchord_tls_sign_result {
	TLS_SIGN_OK = 0,		/* the signature follows */
	TLS_SIGN_REFUSED = 1,		/* no token key configured, bad request */
	TLS_SIGN_RATE_LIMITED = 2,	/* over the signer's signatures per second */
	TLS_SIGN_TOKEN = 3,		/* the token is not available */
};
#define TLS_SIGN_RESULTS	4
/* Largest digest in a TLS_SIGN (SHA-512) and signature in a TLS_SIGNATURE
 * (raw r||s of P-521, more than the P-256 and P-384 keys accepted). */
#define ANCHORD_TLS_DIGEST_MAX	64
#define ANCHORD_TLS_SIG_MAX	132

/* Which end of which channel reads a message. */
enum anchord_ipc_side {
	IPC_SIDE_NETWORK = 1,		/* the signer's channel, network end */
	IPC_SIDE_SIGNER = 2,
	IPC_SIDE_FETCHER = 3,
	IPC_SIDE_NETWORK_FETCHER = 4,	/* the fetcher's channel, network end */
};

/* Is type a message that side may receive? */
bool anchord_ipc_type_ok(enum anchord_ipc_side side, uint32_t type);
const char *anchord_ipc_type_name(uint32_t type);

/* A growing payload.  On allocation failure the buffer is marked bad and
 * later puts do nothing; anchord_ipc_send() refuses a bad buffer. */
struct anchord_buf {
	uint8_t *data;
	size_t len, cap;
	bool bad;
};

void anchord_buf_put_u32(struct anchord_buf *b, uint32_t v);
void anchord_buf_put_u64(struct anchord_buf *b, uint64_t v);
void anchord_buf_put_bytes(struct anchord_buf *b, const void *p, size_t len);
void anchord_buf_put_str(struct anchord_buf *b, const char *s);	/* NULL: "" */
/* Wipes and frees the data; accepts NULL. */
void anchord_buf_clear(struct anchord_buf *b);

/* Reading a payload: the getters fail (return false) once anything was
 * short or over a cap, and keep failing. */
struct anchord_reader {
	const uint8_t *p;
	size_t left;
	bool bad;
};

void anchord_reader_init(struct anchord_reader *r, const uint8_t *p, size_t len);
bool anchord_get_u32(struct anchord_reader *r, uint32_t *v);
bool anchord_get_u64(struct anchord_reader *r, uint64_t *v);
bool anchord_get_i64(struct anchord_reader *r, int64_t *v);
/* Points into the payload (no copy); max is the largest length accepted. */
bool anchord_get_bytes(struct anchord_reader *r, const uint8_t **p, size_t *len,
    size_t max);
/* A string without NUL bytes, copied into a malloc'd NUL-terminated buffer
 * (free() it). */
bool anchord_get_str(struct anchord_reader *r, char **s, size_t max);
/* True when everything was read and nothing was left over. */
bool anchord_reader_done(const struct anchord_reader *r);

/*
 * Send one message on fd, waiting (poll) while the socket is full, for at
 * most timeout_ms in all.  Returns ANCHOR_OK, ANCHOR_E_INVAL (over the cap,
 * a bad buffer) or ANCHOR_E_IO (peer gone, timeout).
 */
int anchord_ipc_send(int fd, uint32_t type, const struct anchord_buf *payload,
    int timeout_ms);

/*
 * Incoming messages on a non-blocking fd.  anchord_ipc_read() reads what
 * is there; then anchord_ipc_next() hands out complete messages one by one.
 */
struct anchord_ipc_in {
	enum anchord_ipc_side side;
	uint8_t hdr[ANCHORD_IPC_HDR];
	size_t hdr_have;
	uint32_t type, len;
	uint8_t *payload;	/* len bytes once complete */
	size_t have;
	bool complete;
};

void anchord_ipc_in_init(struct anchord_ipc_in *in, enum anchord_ipc_side side);
/* Wipes and frees a pending payload; accepts NULL. */
void anchord_ipc_in_clear(struct anchord_ipc_in *in);

/*
 * Read from fd until it would block or one message is complete.
 * Returns ANCHOR_OK (call anchord_ipc_next()), ANCHOR_E_IO with *eof set
 * when the peer closed, ANCHOR_E_INVAL for a malformed header (unknown or
 * wrong-direction type, length over the cap), ANCHOR_E_NOMEM.
 */
int anchord_ipc_read(struct anchord_ipc_in *in, int fd, bool *eof);

/*
 * A complete message, if one is ready: true and *type, *payload (owned by
 * in, valid until the next read or anchord_ipc_done()), *len.
 */
bool anchord_ipc_next(struct anchord_ipc_in *in, uint32_t *type,
    const uint8_t **payload, size_t *len);
/* Release the message returned by anchord_ipc_next() (wiping it). */
void anchord_ipc_done(struct anchord_ipc_in *in);

#endif /* ANCHORD_IPC_H */
