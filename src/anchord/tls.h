/*
 * TLS credentials of anchord's network process (GnuTLS, through
 * libmicrohttpd's certificate callback), replaced while the server runs:
 * an https_web certificate after SIGHUP, an https_spiffe X509-SVID at half
 * its life.  A replaced set is freed only once every connection that was
 * open when it was current has closed.
 */
#ifndef ANCHORD_TLS_H
#define ANCHORD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

int anchord_tls_init(void);
/* Frees everything; only after the HTTP daemon has stopped. */
void anchord_tls_free(void);
/* Is a certificate installed? */
bool anchord_tls_ready(void);

/* https_web: a PEM certificate chain (leaf first) and its PEM private key. */
int anchord_tls_set_pem(const uint8_t *cert, size_t cert_len,
    const uint8_t *key, size_t key_len, char *err, size_t errlen);

/*
 * https_web with the key in the signer's token: a PEM certificate chain
 * (leaf first) and the DER SubjectPublicKeyInfo of the token key, which
 * must be the leaf's.  Signatures are made by the signer (tlskey.h).
 */
int anchord_tls_set_token(const uint8_t *cert, size_t cert_len,
    const uint8_t *spki, size_t spki_len, char *err, size_t errlen);

/*
 * https_spiffe: make a new ephemeral P-256 key (it replaces any pending
 * one) and return its SubjectPublicKeyInfo, DER, malloc'd (free()).
 */
int anchord_tls_new_key(uint8_t **spki, size_t *spki_len);
/* Install the certificate issued for the pending key. */
int anchord_tls_set_svid(const uint8_t *der, size_t der_len, char *err,
    size_t errlen);

/* Free replaced credentials that no open connection can still use. */
void anchord_tls_gc(void);

/* For MHD_OPTION_HTTPS_CERT_CALLBACK. */
gnutls_certificate_retrieve_function2 anchord_tls_cert_cb;
/* For MHD_OPTION_NOTIFY_CONNECTION: pass (started, socket_context). */
void anchord_tls_conn_started(void **socket_context);
void anchord_tls_conn_closed(void *socket_context);

#endif /* ANCHORD_TLS_H */
