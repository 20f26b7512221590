/*
 * The https_web key as an RFC 7512 "pkcs11:" URI, parsed for the signer
 * process: which token (token=, serial=) and which key (object=, id=).
 * Pure: no token, no logging.
 */
#ifndef ANCHORD_KEYURI_H
#define ANCHORD_KEYURI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ANCHORD_KEY_URI_ID_MAX	64

struct anchord_key_uri {
	char *token;		/* token label, or NULL: any (the configured one) */
	char *serial;		/* token serial, or NULL */
	char *object;		/* CKA_LABEL, or NULL */
	uint8_t id[ANCHORD_KEY_URI_ID_MAX];	/* CKA_ID when has_id */
	size_t id_len;
	bool has_id;
};

/*
 * Parse uri into *out (cleared first; free with anchord_key_uri_clear(),
 * also after a failure).  Accepts the path attributes token, serial,
 * object, id and type (only "private"), percent-encoded; refuses any other
 * attribute, a repeated one, a query part (the module and the PIN come from
 * the configuration) and a URI naming no key (neither object nor id).
 * Returns ANCHOR_OK or ANCHOR_E_CONFIG with a reason in err.
 */
int anchord_key_uri_parse(const char *uri, struct anchord_key_uri *out,
    char *err, size_t errlen);
void anchord_key_uri_clear(struct anchord_key_uri *u);	/* accepts NULL */

#endif /* ANCHORD_KEYURI_H */
