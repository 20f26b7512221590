/*
 * anchord: the signing and bundle server (DESIGN.md §5).
 *
 * Three processes.  The parent reads the configuration, forks the signer
 * and the fetcher and becomes the network process:
 *
 *   signer   loads the PKCS#11 module, holds the token session, reads the
 *            state store, re-signs the bundle at half of its validity,
 *            issues the endpoint's X509-SVID (https_spiffe), reads the TLS
 *            files (https_web) or finds the TLS key in the token and signs
 *            handshakes with it, and pushes everything the network
 *            process serves over the socketpair (ipc.h).  Not dumpable.
 *   fetcher  fetches the federation peers' bundles on their schedules
 *            (one curl multi handle), stores the outcomes and the consumer
 *            files, and reports the peers' status to the network process
 *            over a socketpair of its own.  Runs as the signer's user with
 *            no_new_privs; never loads the module, never reads the PIN.
 *   network  never loads the module and never opens the store; drops to
 *            --user, sets no_new_privs, and serves the pushed bytes from
 *            memory with libmicrohttpd.
 *
 * The signer reads the store, not the network process: a reader of a WAL
 * database needs write access to its -shm file, the state directory stays
 * the signer user's alone (0700), and the process that faces the network
 * opens no file at all after it starts.  The only private key the network
 * process holds is the TLS key (https_web: the operator's from a file;
 * https_spiffe: an ephemeral one that never leaves it).  An https_web key
 * named by a pkcs11: URI stays in the token: the network process sends the
 * digest of each handshake signature (TLS_SIGN) and the signer signs it
 * with the key its configuration names (the request names no key), at
 * most --tls-sign-rate times a second.
 *
 * Payload layouts of the messages (ipc.h has the framing):
 *
 *   CONTENT       u64 sequence, i64 iat, i64 exp, bytes F1, bytes F2,
 *                 u32 n, n x (u32 version, bytes F3)   versions 1..n in order
 *   STATUS        u32 token state (enum anchord_token_state),
 *                 u64 token errors, u64 signatures made, u64 signing failures,
 *                 u32 keys[ANCHOR_ROLE_COUNT][ANCHORD_KEY_STATES]
 *   TLS_CREDS     bytes certificate chain (PEM), bytes private key (PEM)
 *   SVID          u32 request id, bytes certificate (DER), i64 notBefore,
 *                 i64 notAfter
 *   SVID_FAIL     u32 request id, u32 seconds before asking again
 *   CONFIG        i64 refresh hint, str address, u32 port, str profile
 *   TLS_TOKEN_CREDS  bytes certificate chain (PEM), bytes SubjectPublicKeyInfo
 *                 (DER) of the token key, the leaf's
 *   TLS_SIGNATURE u32 request id, u32 result (enum anchord_tls_sign_result),
 *                 bytes signature (raw r||s; empty unless the result is OK)
 *   PEER_STATUS   (from the fetcher) u32 n (at most ANCHORD_MAX_PEERS),
 *                 n x (str trust domain, i64 last success, i64 last failure,
 *                 u64 consecutive failures, u32 has sequence, u64 sequence,
 *                 u64 fetches ok, u64 rejected, u64 error)
 *   RELOAD        empty (to the signer and to the fetcher)
 *   SVID_REQUEST  u32 request id, bytes SubjectPublicKeyInfo (DER)
 *   SHUTDOWN      empty (to the signer and to the fetcher)
 *   TLS_SIGN      u32 request id, bytes digest (SHA-256 for a P-256 key,
 *                 SHA-384 for P-384)
 */
#ifndef ANCHORD_H
#define ANCHORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf.h"

#define ANCHORD_KEY_STATES	6	/* enum anchor_key_state */
#define ANCHORD_MAX_F1		(4u * 1024 * 1024)
#define ANCHORD_MAX_F3		(256u * 1024)
#define ANCHORD_MAX_VERSIONS	4096
#define ANCHORD_MAX_PEM		(1024u * 1024)
#define ANCHORD_IPC_TIMEOUT_MS	10000
#define ANCHORD_MAX_PEERS	1024	/* federation peers fetched */

enum anchord_token_state {
	ANCHORD_TOKEN_STARTING = 0,	/* not opened yet */
	ANCHORD_TOKEN_OK = 1,
	ANCHORD_TOKEN_FAILING = 2,
};

struct anchord_opts {
	const char *config_path;
	bool foreground;
	bool verbose;
	const char *user;		/* network process runs as this user */
	const char *signer_user;	/* signer process runs as this user */
	const char *pid_file;
	unsigned max_connections;	/* MHD connection cap */
	unsigned max_per_ip;		/* MHD per-IP cap */
	size_t conn_memory;		/* MHD memory per connection */
	unsigned threads;		/* MHD thread pool */
	unsigned timeout;		/* seconds a connection may idle */
	unsigned probe_interval;	/* seconds between token probes */
	unsigned backoff_max;		/* seconds, cap of the reconnect back-off */
	int64_t svid_ttl;		/* seconds, https_spiffe certificate */
	unsigned tls_sign_rate;		/* token TLS signatures per second */
	unsigned fetch_interval_max;	/* seconds, longest wait between fetches */
};

/* The signer process; returns its exit status. */
int anchord_signer_main(const struct anchord_opts *o, struct anchor_conf *conf,
    int fd);

/* The fetcher process; returns its exit status.  fd is its channel to
 * the network process; it owns conf from here on. */
int anchord_fetcher_main(const struct anchord_opts *o,
    struct anchor_conf *conf, int fd);

#define ANCHORD_MAX_THREADS	64

/* The network process; returns its exit status.  listen_fds holds
 * o->threads sockets, bound and listening (one SO_REUSEPORT group when
 * more than one); privileges are already dropped.  fd is the signer's
 * channel, ffd the fetcher's. */
int anchord_web_main(const struct anchord_opts *o,
    const struct anchor_conf *conf, int fd, int *listen_fds, pid_t signer,
    int ffd, pid_t fetcher);

/*
 * Issue the endpoint X509-SVID (signer side): a leaf certificate for the
 * public key spki (DER SubjectPublicKeyInfo, EC P-256 or P-384), URI SAN
 * spiffe_id, valid from now - 60 s for ttl seconds but never past the CA
 * certificate, signed in the token by the active x509-ca key of d.
 * *der is malloc'd (free()); *not_before / *not_after are UNIX seconds.
 */
struct anchor_domain;
int anchord_svid_issue(struct anchor_domain *d, const uint8_t *spki,
    size_t spki_len, const char *spiffe_id, int64_t now, int64_t ttl,
    uint8_t **der, size_t *der_len, int64_t *not_before, int64_t *not_after);

/* Is id a SPIFFE ID in trust domain td ("spiffe://td/path")? */
bool anchord_spiffe_id_in(const char *id, const char *td);

#endif /* ANCHORD_H */
