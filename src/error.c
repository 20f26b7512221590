#include "config.h"

#include "error.h"

const char *
anchor_strerror(int r)
{
	switch (r) {
	case ANCHOR_OK:			return "success";
	case ANCHOR_E_INTERNAL:		return "internal error";
	case ANCHOR_E_NOMEM:		return "out of memory";
	case ANCHOR_E_INVAL:		return "invalid argument or input";
	case ANCHOR_E_IO:		return "input/output error";
	case ANCHOR_E_CONFIG:		return "configuration error";
	case ANCHOR_E_MODULE:		return "PKCS#11 module cannot be loaded";
	case ANCHOR_E_TOKEN_NOT_FOUND:	return "no token matches the configured URI";
	case ANCHOR_E_TOKEN_GONE:	return "token not present or not answering";
	case ANCHOR_E_TOKEN:		return "token operation failed";
	case ANCHOR_E_PIN_INCORRECT:	return "PIN incorrect";
	case ANCHOR_E_PIN_LOCKED:	return "PIN locked: the token refuses further login attempts";
	case ANCHOR_E_PIN_SOURCE:	return "PIN source unusable";
	case ANCHOR_E_KEY_NOT_FOUND:	return "key not found in the token";
	case ANCHOR_E_UNSUPPORTED:	return "not supported";
	case ANCHOR_E_STATE:		return "state database error";
	case ANCHOR_E_BUSY:		return "another anchor process holds the writer lock";
	case ANCHOR_E_EXISTS:		return "already exists";
	case ANCHOR_E_NOT_FOUND:	return "not found";
	case ANCHOR_E_CRYPTO:		return "cryptographic operation failed";
	case ANCHOR_E_CANCELLED:	return "cancelled by the operator";
	case ANCHOR_E_TAMPERED:		return "integrity check failed";
	case ANCHOR_E_SCHEMA:		return "state database schema is newer than this program";
	}
	return "unknown error";
}
