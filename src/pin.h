/*
 * PIN sources and k-of-n PIN shares.
 *
 * A PIN is read from a 0600 file ("file:PATH"), from the terminal
 * ("prompt"), or rebuilt from k shares typed by their custodians
 * ("shares").  It is never taken from argv or the environment.  Every
 * buffer that held a PIN is wiped with OPENSSL_cleanse before it is freed.
 */
#ifndef ANCHOR_PIN_H
#define ANCHOR_PIN_H

#include <stddef.h>
#include <stdio.h>

/*
 * Read the PIN named by `source`.  *pin is malloc'd, NUL-terminated, *len
 * its length without the NUL; the caller wipes and frees it with
 * anchor_pin_free().  A file that is not a regular file, not owned by the
 * caller, or readable/writable by group or others is refused with
 * ANCHOR_E_PIN_SOURCE and a message in err.  A trailing newline is removed.
 * "prompt" reads /dev/tty with echo off; if there is no terminal it reads
 * one line from `in` (stdin when NULL).  "shares" reads share lines the
 * same way (the terminal with echo off, else `in`) until k shares of one
 * split are present.
 */
int anchor_pin_read(const char *source, FILE *in, char **pin, size_t *len,
    char *err, size_t errlen);

/* Wipe and free a PIN buffer; accepts NULL. */
void anchor_pin_free(char *pin, size_t len);

/*
 * Split secret (len bytes) into n shares, any k of which rebuild it
 * (libgfshare, 2 <= k <= n <= 255, 1 <= len <= 1024).  Each share is a
 * text line "anchor-pin-share:1:<k>:<n>:<index>:<check>:<hex>": <index> is
 * 1..n, <check> 8 hex digits naming the split (random, so that a share
 * says nothing about the PIN), <hex> the share of the PIN followed by the
 * first 4 bytes of its SHA-256.  shares[i] are malloc'd strings, the
 * caller frees each and the array (calloc'd, n entries).
 */
int anchor_pin_split(const char *secret, size_t len, unsigned n, unsigned k,
    char ***shares);

/*
 * Rebuild a secret from share lines.  Needs at least k distinct valid
 * shares of one split; fewer, a malformed line, a repeated index or a
 * share of another split gives ANCHOR_E_INVAL.  All shares given take
 * part; a result whose SHA-256 does not match (a wrong or damaged share)
 * gives ANCHOR_E_TAMPERED.  *secret is malloc'd, NUL-terminated, wiped and
 * freed by the caller with anchor_pin_free().
 */
int anchor_pin_join(const char *const *shares, size_t n_shares,
    char **secret, size_t *len);

#endif /* ANCHOR_PIN_H */
