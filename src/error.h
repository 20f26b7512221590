/*
 * anchor: one error space for every part of the product.
 *
 * Functions return ANCHOR_OK (0) or a negative ANCHOR_E_* code.  PKCS#11
 * return values are translated at the pkcs11/ boundary and never leave it.
 */
#ifndef ANCHOR_ERROR_H
#define ANCHOR_ERROR_H

enum anchor_error {
	ANCHOR_OK = 0,
	ANCHOR_E_INTERNAL = -1,		/* a bug or an unexpected library failure */
	ANCHOR_E_NOMEM = -2,
	ANCHOR_E_INVAL = -3,		/* bad argument or malformed input */
	ANCHOR_E_IO = -4,		/* file or socket I/O */
	ANCHOR_E_CONFIG = -5,		/* configuration error */
	ANCHOR_E_MODULE = -6,		/* PKCS#11 module cannot be loaded */
	ANCHOR_E_TOKEN_NOT_FOUND = -7,	/* no token matches the URI */
	ANCHOR_E_TOKEN_GONE = -8,	/* token removed, device error, session lost */
	ANCHOR_E_TOKEN = -9,		/* other token failure */
	ANCHOR_E_PIN_INCORRECT = -10,
	ANCHOR_E_PIN_LOCKED = -11,
	ANCHOR_E_PIN_SOURCE = -12,	/* PIN file missing, readable by others, ... */
	ANCHOR_E_KEY_NOT_FOUND = -13,
	ANCHOR_E_UNSUPPORTED = -14,	/* algorithm or mechanism not supported */
	ANCHOR_E_STATE = -15,		/* state database failure */
	ANCHOR_E_BUSY = -16,		/* writer lock held by another process */
	ANCHOR_E_EXISTS = -17,
	ANCHOR_E_NOT_FOUND = -18,
	ANCHOR_E_CRYPTO = -19,		/* OpenSSL failure */
	ANCHOR_E_CANCELLED = -20,	/* operator declined */
	ANCHOR_E_TAMPERED = -21,	/* hash chain or signature does not verify */
	ANCHOR_E_SCHEMA = -22,		/* database schema newer than this build */
};

/* A static, human-readable message for an ANCHOR_E_* code. */
const char *anchor_strerror(int r);

#endif /* ANCHOR_ERROR_H */
