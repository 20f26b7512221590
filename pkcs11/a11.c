#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "a11.h"
#include "error.h"
#include "util.h"

/*
 * Internal result of an operation that failed in a way a reconnect may
 * cure.  Positive, so it never collides with ANCHOR_E_*; run() turns it
 * into a retry or ANCHOR_E_TOKEN_GONE and it never leaves this file.
 */
#define A11_RETRY 1

#define A11_DEFAULT_RETRIES 2
#define A11_DEFAULT_BACKOFF_MS 100
#define A11_MAX_BACKOFF_MS 60000UL
#define A11_KEY_CACHE 8
#define A11_KEY_RECHECK_MS 1000

/*
 * Private key handles of the current session.  C_FindObjects costs SoftHSM
 * more than ten signatures, and even one attribute read a fifth of one, so
 * a signer looks each key up once per session and checks the handle again
 * at most once a second.
 */
struct cached_key {
	bool used;
	uint8_t id[A11_ID_LEN];
	CK_OBJECT_HANDLE obj;
	a11_keytype type;
	uint64_t checked_ms;
};

struct a11_token {
	CK_FUNCTION_LIST *fl;
	P11KitUri *uri;
	bool own_init;		/* our C_Initialize did it: we C_Finalize */
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	bool have_session;
	bool logged_in;
	a11_pin_cb pin_cb;
	void *pin_arg;
	unsigned max_retries;
	unsigned backoff_ms;
	struct cached_key cache[A11_KEY_CACHE];
	unsigned cache_next;
	char label[sizeof(((CK_TOKEN_INFO *)0)->label) + 1];
	char serial[sizeof(((CK_TOKEN_INFO *)0)->serialNumber) + 1];
};

/* DER OIDs, as CKA_EC_PARAMS holds them. */
static const uint8_t oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07
};
static const uint8_t oid_p384[] = {
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22
};

/* DER DigestInfo prefix for SHA-256 (RFC 8017, 9.2 note 1). */
static const uint8_t digestinfo_sha256[] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20
};

static const uint8_t rsa_f4[] = { 0x01, 0x00, 0x01 };

#define RSA_3072_BYTES 384

static int
ck_error(const a11_token *t, CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
		return ANCHOR_OK;
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SLOT_ID_INVALID:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
		return A11_RETRY;
	case CKR_USER_NOT_LOGGED_IN:
		/* Login lost: token re-inserted, module re-initialized. */
		return t->pin_cb != NULL ? A11_RETRY : ANCHOR_E_TOKEN;
	case CKR_HOST_MEMORY:
		return ANCHOR_E_NOMEM;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_LEN_RANGE:
		return ANCHOR_E_PIN_INCORRECT;
	case CKR_PIN_LOCKED:
		return ANCHOR_E_PIN_LOCKED;
	case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
	case CKR_CURVE_NOT_SUPPORTED:
	case CKR_DOMAIN_PARAMS_INVALID:
	case CKR_KEY_SIZE_RANGE:
	case CKR_FUNCTION_NOT_SUPPORTED:
		return ANCHOR_E_UNSUPPORTED;
	case CKR_KEY_HANDLE_INVALID:
	case CKR_OBJECT_HANDLE_INVALID:
		return ANCHOR_E_KEY_NOT_FOUND;
	default:
		return ANCHOR_E_TOKEN;
	}
}

static void
sleep_ms(unsigned long ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void
copy_padded(char *dst, const CK_UTF8CHAR *src, size_t max)
{
	size_t n = p11_kit_space_strlen(src, max);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Drop the session and, when the initialization is ours, the module state. */
static void
token_disconnect(a11_token *t)
{
	if (t->have_session)
		(void)t->fl->C_CloseSession(t->session);
	t->have_session = false;
	t->logged_in = false;
	if (t->own_init)
		(void)t->fl->C_Finalize(NULL);
	t->own_init = false;
	/* Object handles die with the session. */
	memset(t->cache, 0, sizeof(t->cache));
}

static int
select_slot(a11_token *t)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG nslots = 0, i, matches = 0;
	CK_TOKEN_INFO ti;
	CK_RV rv;
	int r = ANCHOR_E_INTERNAL;

	for (;;) {
		CK_SLOT_ID *ns;

		rv = t->fl->C_GetSlotList(CK_TRUE, NULL, &nslots);
		if (rv != CKR_OK) {
			r = ck_error(t, rv);
			goto out;
		}
		if (nslots == 0)
			break;
		if ((ns = reallocarray(slots, nslots, sizeof(*slots))) ==
		    NULL) {
			r = ANCHOR_E_NOMEM;
			goto out;
		}
		slots = ns;
		rv = t->fl->C_GetSlotList(CK_TRUE, slots, &nslots);
		if (rv == CKR_OK)
			break;
		if (rv != CKR_BUFFER_TOO_SMALL) {
			r = ck_error(t, rv);
			goto out;
		}
	}
	for (i = 0; i < nslots; i++) {
		/* A slot that cannot answer is not the one we look for. */
		if (t->fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if ((ti.flags & CKF_TOKEN_INITIALIZED) == 0)
			continue;
		if (!p11_kit_uri_match_token_info(t->uri, &ti))
			continue;
		if (matches++ == 0) {
			t->slot = slots[i];
			copy_padded(t->label, ti.label, sizeof(ti.label));
			copy_padded(t->serial, ti.serialNumber,
			    sizeof(ti.serialNumber));
		}
	}
	if (matches == 0)
		r = ANCHOR_E_TOKEN_NOT_FOUND;
	else if (matches > 1)
		r = ANCHOR_E_CONFIG;	/* ambiguous: name the serial too */
	else
		r = ANCHOR_OK;
 out:
	free(slots);
	return r;
}

static int
do_login(a11_token *t)
{
	char *pin = NULL;
	size_t len = 0;
	CK_RV rv;
	int r = ANCHOR_E_INTERNAL;

	if (t->logged_in)
		return ANCHOR_OK;
	if ((r = t->pin_cb(t->pin_arg, &pin, &len)) != ANCHOR_OK)
		goto out;
	if (pin == NULL) {
		r = ANCHOR_E_PIN_SOURCE;
		goto out;
	}
	rv = t->fl->C_Login(t->session, CKU_USER, (CK_UTF8CHAR *)pin,
	    (CK_ULONG)len);
	OPENSSL_cleanse(pin, len);
	free(pin);
	pin = NULL;
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
		t->logged_in = true;
		r = ANCHOR_OK;
		goto out;
	}
	r = ck_error(t, rv);
	/* Never replay a refused PIN: each try counts toward the lockout. */
	if (r == ANCHOR_E_PIN_INCORRECT || r == ANCHOR_E_PIN_LOCKED) {
		t->pin_cb = NULL;
		t->pin_arg = NULL;
	}
 out:
	if (pin != NULL) {
		OPENSSL_cleanse(pin, len);
		free(pin);
	}
	return r;
}

/*
 * Initialize the module, find the token by the URI, open a session and log
 * in again if a PIN callback is known.
 */
static int
token_connect(a11_token *t)
{
	CK_C_INITIALIZE_ARGS args;
	CK_INFO info;
	CK_RV rv;
	int r;

	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = t->fl->C_Initialize(&args);
	if (rv == CKR_OK)
		t->own_init = true;
	else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		return ck_error(t, rv) == A11_RETRY ? A11_RETRY :
		    ANCHOR_E_MODULE;
	if ((rv = t->fl->C_GetInfo(&info)) != CKR_OK)
		return ck_error(t, rv);
	if (!p11_kit_uri_match_module_info(t->uri, &info))
		return ANCHOR_E_TOKEN_NOT_FOUND;
	if ((r = select_slot(t)) != ANCHOR_OK)
		return r;
	rv = t->fl->C_OpenSession(t->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &t->session);
	if (rv != CKR_OK)
		return ck_error(t, rv);
	t->have_session = true;
	if (t->pin_cb != NULL)
		return do_login(t);
	return ANCHOR_OK;
}

/*
 * Run op, reconnecting and retrying while it fails in a way a reconnect
 * may cure, at most max_retries times with a doubling back-off.
 */
static int
run(a11_token *t, int (*op)(a11_token *, void *), void *arg)
{
	unsigned attempt = 0;
	unsigned long delay = t->backoff_ms;
	int r;

	for (;;) {
		r = ANCHOR_OK;
		if (!t->have_session) {
			r = token_connect(t);
			/* A token that vanished may come back. */
			if (r == ANCHOR_E_TOKEN_NOT_FOUND)
				r = A11_RETRY;
		}
		if (r == ANCHOR_OK)
			r = op(t, arg);
		if (r != A11_RETRY)
			return r;
		token_disconnect(t);
		if (attempt++ >= t->max_retries)
			return ANCHOR_E_TOKEN_GONE;
		sleep_ms(delay);
		delay = delay > A11_MAX_BACKOFF_MS / 2 ? A11_MAX_BACKOFF_MS :
		    delay * 2;
	}
}

static int
module_load(const char *module, CK_FUNCTION_LIST **out)
{
	CK_FUNCTION_LIST **all = NULL, *fl = NULL;
	char *path = NULL;
	size_t i;

	*out = NULL;
	if (strchr(module, '/') == NULL) {
		/* A p11-kit registered module name: look its file up. */
		all = p11_kit_modules_load(NULL, P11_KIT_MODULE_UNMANAGED);
		if (all != NULL) {
			for (i = 0; all[i] != NULL; i++) {
				char *name = p11_kit_module_get_name(all[i]);
				bool match = name != NULL &&
				    strcmp(name, module) == 0;

				free(name);
				if (match) {
					path = p11_kit_module_get_filename(
					    all[i]);
					break;
				}
			}
			p11_kit_modules_release(all);
		}
	}
	fl = p11_kit_module_load(path != NULL ? path : module,
	    P11_KIT_MODULE_UNMANAGED);
	free(path);
	if (fl == NULL)
		return ANCHOR_E_MODULE;
	*out = fl;
	return ANCHOR_OK;
}

int
a11_open(const char *module, const char *token_uri, a11_token **out)
{
	a11_token *t = NULL;
	CK_TOKEN_INFO *ti;
	int r = ANCHOR_E_INTERNAL;

	if (out == NULL)
		return ANCHOR_E_INVAL;
	*out = NULL;
	if (module == NULL || token_uri == NULL || *module == '\0')
		return ANCHOR_E_INVAL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return ANCHOR_E_NOMEM;
	t->max_retries = A11_DEFAULT_RETRIES;
	t->backoff_ms = A11_DEFAULT_BACKOFF_MS;
	if ((t->uri = p11_kit_uri_new()) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	if (p11_kit_uri_parse(token_uri, P11_KIT_URI_FOR_ANY, t->uri) !=
	    P11_KIT_URI_OK) {
		r = ANCHOR_E_CONFIG;
		goto out;
	}
	/*
	 * A PIN never travels in configuration; unknown attributes and slot
	 * ids (renumbered by softhsm2-util --init-token) are mistakes too.
	 */
	ti = p11_kit_uri_get_token_info(t->uri);
	if (p11_kit_uri_get_pin_value(t->uri) != NULL ||
	    p11_kit_uri_get_pin_source(t->uri) != NULL ||
	    p11_kit_uri_any_unrecognized(t->uri) ||
	    p11_kit_uri_get_slot_id(t->uri) != (CK_SLOT_ID)-1 ||
	    (ti->label[0] == 0 && ti->serialNumber[0] == 0)) {
		r = ANCHOR_E_CONFIG;
		goto out;
	}
	p11_kit_be_quiet();
	if ((r = module_load(module, &t->fl)) != ANCHOR_OK)
		goto out;
	if ((r = token_connect(t)) != ANCHOR_OK) {
		if (r == A11_RETRY)
			r = ANCHOR_E_TOKEN_GONE;
		goto out;
	}
	*out = t;
	t = NULL;
	r = ANCHOR_OK;
 out:
	a11_close(t);
	return r;
}

static int
op_login(a11_token *t, void *arg)
{
	(void)arg;
	return do_login(t);
}

int
a11_login(a11_token *t, a11_pin_cb cb, void *arg)
{
	if (t == NULL || cb == NULL)
		return ANCHOR_E_INVAL;
	t->pin_cb = cb;
	t->pin_arg = arg;
	t->logged_in = false;
	return run(t, op_login, NULL);
}

void
a11_set_recovery(a11_token *t, unsigned max_retries, unsigned backoff_ms)
{
	if (t == NULL)
		return;
	t->max_retries = max_retries;
	t->backoff_ms = backoff_ms;
}

void
a11_close(a11_token *t)
{
	if (t == NULL)
		return;
	if (t->fl != NULL) {
		token_disconnect(t);
		p11_kit_module_release(t->fl);
	}
	p11_kit_uri_free(t->uri);
	free(t);
}

const char *
a11_token_label(const a11_token *t)
{
	return t->label;
}

const char *
a11_token_serial(const a11_token *t)
{
	return t->serial;
}

/* All objects matching tmpl; *out is malloc'd. */
static int
find_objects(a11_token *t, CK_ATTRIBUTE *tmpl, CK_ULONG ntmpl,
    CK_OBJECT_HANDLE **out, size_t *count)
{
	CK_OBJECT_HANDLE *objs = NULL;
	size_t have = 0, cap = 0;
	bool active = false;
	CK_RV rv;
	int r = ANCHOR_E_INTERNAL;

	*out = NULL;
	*count = 0;
	if ((rv = t->fl->C_FindObjectsInit(t->session, tmpl, ntmpl)) !=
	    CKR_OK) {
		r = ck_error(t, rv);
		goto out;
	}
	active = true;
	for (;;) {
		CK_ULONG got = 0;

		if (cap - have < 16) {
			CK_OBJECT_HANDLE *n;

			if ((n = reallocarray(objs, cap + 64,
			    sizeof(*objs))) == NULL) {
				r = ANCHOR_E_NOMEM;
				goto out;
			}
			objs = n;
			cap += 64;
		}
		rv = t->fl->C_FindObjects(t->session, objs + have,
		    (CK_ULONG)(cap - have), &got);
		if (rv != CKR_OK) {
			r = ck_error(t, rv);
			goto out;
		}
		if (got > cap - have) {
			r = ANCHOR_E_TOKEN;
			goto out;
		}
		if (got == 0)
			break;
		have += got;
	}
	active = false;
	if ((rv = t->fl->C_FindObjectsFinal(t->session)) != CKR_OK) {
		r = ck_error(t, rv);
		goto out;
	}
	*out = objs;
	objs = NULL;
	*count = have;
	r = ANCHOR_OK;
 out:
	if (active)
		(void)t->fl->C_FindObjectsFinal(t->session);
	free(objs);
	return r;
}

static int
find_key(a11_token *t, const uint8_t id[A11_ID_LEN], CK_OBJECT_CLASS cls,
    CK_OBJECT_HANDLE *obj)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)id, A11_ID_LEN },
	};
	CK_OBJECT_HANDLE *objs = NULL;
	size_t n = 0;
	int r;

	if ((r = find_objects(t, tmpl, ANCHOR_ARRAY_SIZE(tmpl), &objs,
	    &n)) != ANCHOR_OK)
		goto out;
	if (n == 0) {
		r = ANCHOR_E_KEY_NOT_FOUND;
		goto out;
	}
	*obj = objs[0];
	r = ANCHOR_OK;
 out:
	free(objs);
	return r;
}

/* One attribute into a malloc'd buffer, NUL-terminated (not counted). */
static int
get_attr(a11_token *t, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
    uint8_t **out, size_t *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	uint8_t *buf = NULL;
	CK_RV rv;
	int r = ANCHOR_E_INTERNAL;

	*out = NULL;
	*len = 0;
	if ((rv = t->fl->C_GetAttributeValue(t->session, obj, &a, 1)) !=
	    CKR_OK) {
		r = ck_error(t, rv);
		goto out;
	}
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION ||
	    a.ulValueLen > 65536) {
		r = ANCHOR_E_TOKEN;
		goto out;
	}
	if ((buf = malloc(a.ulValueLen + 1)) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	a.pValue = buf;
	if ((rv = t->fl->C_GetAttributeValue(t->session, obj, &a, 1)) !=
	    CKR_OK) {
		r = ck_error(t, rv);
		goto out;
	}
	buf[a.ulValueLen] = '\0';
	*out = buf;
	*len = a.ulValueLen;
	buf = NULL;
	r = ANCHOR_OK;
 out:
	free(buf);
	return r;
}

static int
curve_of(const uint8_t *params, size_t len, a11_keytype *type)
{
	if (len == sizeof(oid_p256) && memcmp(params, oid_p256, len) == 0)
		*type = A11_KEY_EC_P256;
	else if (len == sizeof(oid_p384) &&
	    memcmp(params, oid_p384, len) == 0)
		*type = A11_KEY_EC_P384;
	else
		return ANCHOR_E_UNSUPPORTED;
	return ANCHOR_OK;
}

/* The a11_keytype of a key object (private or public). */
static int
key_type(a11_token *t, CK_OBJECT_HANDLE obj, a11_keytype *type)
{
	CK_KEY_TYPE kt;
	CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof(kt) };
	uint8_t *val = NULL;
	size_t len = 0, i;
	CK_RV rv;
	int r = ANCHOR_E_INTERNAL;

	if ((rv = t->fl->C_GetAttributeValue(t->session, obj, &a, 1)) !=
	    CKR_OK) {
		r = ck_error(t, rv);
		goto out;
	}
	switch (kt) {
	case CKK_EC:
		if ((r = get_attr(t, obj, CKA_EC_PARAMS, &val, &len)) !=
		    ANCHOR_OK)
			goto out;
		r = curve_of(val, len, type);
		break;
	case CKK_RSA:
		if ((r = get_attr(t, obj, CKA_MODULUS, &val, &len)) !=
		    ANCHOR_OK)
			goto out;
		for (i = 0; i < len && val[i] == 0; i++)
			;
		if (len - i == RSA_3072_BYTES)
			*type = A11_KEY_RSA_3072;
		else
			r = ANCHOR_E_UNSUPPORTED;
		break;
	default:
		r = ANCHOR_E_UNSUPPORTED;
		break;
	}
 out:
	free(val);
	return r;
}

static uint64_t
monotonic_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
cache_forget(a11_token *t, const uint8_t id[A11_ID_LEN])
{
	size_t i;

	for (i = 0; i < A11_KEY_CACHE; i++)
		if (t->cache[i].used &&
		    memcmp(t->cache[i].id, id, A11_ID_LEN) == 0)
			memset(&t->cache[i], 0, sizeof(t->cache[i]));
}

/*
 * The private key object of id and its type.  A cached handle is checked
 * against its CKA_ID when it was not checked within the last second:
 * another process may have destroyed the key, and some modules hand the
 * same handle to a new object.
 */
static int
private_key(a11_token *t, const uint8_t id[A11_ID_LEN], CK_OBJECT_HANDLE *obj,
    a11_keytype *type)
{
	struct cached_key *c;
	uint64_t now = monotonic_ms();
	CK_OBJECT_CLASS cls;
	uint8_t have[A11_ID_LEN];
	CK_ATTRIBUTE a[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, have, sizeof(have) },
	};
	size_t i;
	CK_RV rv;
	int r;

	for (i = 0; i < A11_KEY_CACHE; i++) {
		c = &t->cache[i];
		if (!c->used || memcmp(c->id, id, A11_ID_LEN) != 0)
			continue;
		if (now >= c->checked_ms &&
		    now - c->checked_ms < A11_KEY_RECHECK_MS) {
			*obj = c->obj;
			*type = c->type;
			return ANCHOR_OK;
		}
		rv = t->fl->C_GetAttributeValue(t->session, c->obj, a,
		    ANCHOR_ARRAY_SIZE(a));
		if (rv == CKR_OK && cls == CKO_PRIVATE_KEY &&
		    a[1].ulValueLen == A11_ID_LEN &&
		    memcmp(have, id, A11_ID_LEN) == 0) {
			c->checked_ms = now;
			*obj = c->obj;
			*type = c->type;
			return ANCHOR_OK;
		}
		/* Another object now, or none: look the key up again. */
		if (rv != CKR_OK && rv != CKR_OBJECT_HANDLE_INVALID &&
		    rv != CKR_KEY_HANDLE_INVALID &&
		    rv != CKR_BUFFER_TOO_SMALL)
			return ck_error(t, rv);
		memset(c, 0, sizeof(*c));
	}
	if ((r = find_key(t, id, CKO_PRIVATE_KEY, obj)) != ANCHOR_OK)
		return r;
	if ((r = key_type(t, *obj, type)) != ANCHOR_OK)
		return r;
	c = &t->cache[t->cache_next++ % A11_KEY_CACHE];
	c->used = true;
	memcpy(c->id, id, A11_ID_LEN);
	c->obj = *obj;
	c->type = *type;
	c->checked_ms = now;
	return ANCHOR_OK;
}

/* Fill an a11_key from a private key object. */
static int
key_info(a11_token *t, CK_OBJECT_HANDLE obj, a11_key *out)
{
	uint8_t *label = NULL, *id = NULL;
	size_t labellen = 0, idlen = 0;
	int r = ANCHOR_E_INTERNAL;

	memset(out, 0, sizeof(*out));
	if ((r = key_type(t, obj, &out->type)) != ANCHOR_OK)
		goto out;
	if ((r = get_attr(t, obj, CKA_ID, &id, &idlen)) != ANCHOR_OK)
		goto out;
	if ((r = get_attr(t, obj, CKA_LABEL, &label, &labellen)) != ANCHOR_OK)
		goto out;
	if (idlen != A11_ID_LEN) {
		r = ANCHOR_E_UNSUPPORTED;
		goto out;
	}
	if (labellen >= sizeof(out->label) ||
	    memchr(label, '\0', labellen) != NULL) {
		r = ANCHOR_E_UNSUPPORTED;
		goto out;
	}
	memcpy(out->id, id, A11_ID_LEN);
	memcpy(out->label, label, labellen + 1);
	r = ANCHOR_OK;
 out:
	free(label);
	free(id);
	return r;
}

struct gen_ctx {
	a11_keytype type;
	const char *label;
	uint8_t id[A11_ID_LEN];
	bool tried;
	a11_key *out;
};

/* Remove what an interrupted C_GenerateKeyPair may have left behind. */
static int
destroy_id(a11_token *t, const uint8_t id[A11_ID_LEN], size_t *destroyed)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_ID, (void *)id, A11_ID_LEN },
	};
	CK_OBJECT_HANDLE *objs = NULL;
	size_t n = 0, i;
	CK_RV rv;
	int r;

	*destroyed = 0;
	cache_forget(t, id);
	if ((r = find_objects(t, tmpl, ANCHOR_ARRAY_SIZE(tmpl), &objs,
	    &n)) != ANCHOR_OK)
		goto out;
	for (i = 0; i < n; i++) {
		CK_OBJECT_CLASS cls;
		CK_ATTRIBUTE a = { CKA_CLASS, &cls, sizeof(cls) };

		if ((rv = t->fl->C_GetAttributeValue(t->session, objs[i], &a,
		    1)) != CKR_OK) {
			r = ck_error(t, rv);
			goto out;
		}
		if (cls != CKO_PRIVATE_KEY && cls != CKO_PUBLIC_KEY)
			continue;
		if ((rv = t->fl->C_DestroyObject(t->session, objs[i])) !=
		    CKR_OK) {
			r = ck_error(t, rv);
			goto out;
		}
		(*destroyed)++;
	}
	r = ANCHOR_OK;
 out:
	free(objs);
	return r;
}

static int
op_generate(a11_token *t, void *arg)
{
	struct gen_ctx *g = arg;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = 3072;
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ULONG labellen = (CK_ULONG)strlen(g->label);
	CK_ATTRIBUTE priv[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) },
		{ CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_UNWRAP, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
		{ CKA_LABEL, (void *)g->label, labellen },
		{ CKA_ID, g->id, A11_ID_LEN },
	};
	CK_ATTRIBUTE pub[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &no, sizeof(no) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &no, sizeof(no) },
		{ CKA_WRAP, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
		{ CKA_LABEL, (void *)g->label, labellen },
		{ CKA_ID, g->id, A11_ID_LEN },
		{ 0, NULL, 0 },		/* key-type specific, set below */
		{ 0, NULL, 0 },
	};
	CK_ULONG npub = ANCHOR_ARRAY_SIZE(pub) - 2;
	CK_OBJECT_HANDLE hpub, hpriv;
	CK_RV rv;
	int r;

	switch (g->type) {
	case A11_KEY_EC_P256:
		pub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid_p256,
		    sizeof(oid_p256) };
		break;
	case A11_KEY_EC_P384:
		pub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid_p384,
		    sizeof(oid_p384) };
		break;
	case A11_KEY_RSA_3072:
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		pub[npub++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits,
		    sizeof(bits) };
		pub[npub++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT,
		    (void *)rsa_f4, sizeof(rsa_f4) };
		break;
	default:
		return ANCHOR_E_UNSUPPORTED;
	}
	/* A retry after a lost reply must not leave a second pair behind. */
	if (g->tried) {
		size_t gone;

		if ((r = destroy_id(t, g->id, &gone)) != ANCHOR_OK)
			return r;
	}
	g->tried = true;
	rv = t->fl->C_GenerateKeyPair(t->session, &mech, pub, npub, priv,
	    ANCHOR_ARRAY_SIZE(priv), &hpub, &hpriv);
	if (rv != CKR_OK)
		return ck_error(t, rv);
	return key_info(t, hpriv, g->out);
}

int
a11_generate(a11_token *t, a11_keytype type, const char *label, a11_key *out)
{
	struct gen_ctx g;
	int r;

	if (t == NULL || label == NULL || out == NULL ||
	    strlen(label) >= sizeof(out->label))
		return ANCHOR_E_INVAL;
	if (type != A11_KEY_EC_P256 && type != A11_KEY_EC_P384 &&
	    type != A11_KEY_RSA_3072)
		return ANCHOR_E_UNSUPPORTED;
	memset(&g, 0, sizeof(g));
	g.type = type;
	g.label = label;
	g.out = out;
	if (RAND_bytes(g.id, sizeof(g.id)) != 1)
		return ANCHOR_E_CRYPTO;
	if ((r = run(t, op_generate, &g)) != ANCHOR_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

struct find_ctx {
	const uint8_t *id;
	a11_key *out;
};

static int
op_find(a11_token *t, void *arg)
{
	struct find_ctx *f = arg;
	CK_OBJECT_HANDLE obj;
	int r;

	if ((r = find_key(t, f->id, CKO_PRIVATE_KEY, &obj)) != ANCHOR_OK)
		return r;
	return key_info(t, obj, f->out);
}

int
a11_find(a11_token *t, const uint8_t id[A11_ID_LEN], a11_key *out)
{
	struct find_ctx f = { id, out };

	if (t == NULL || id == NULL || out == NULL)
		return ANCHOR_E_INVAL;
	return run(t, op_find, &f);
}

struct list_ctx {
	const char *prefix;
	a11_key *keys;
	size_t n;
};

static int
op_list(a11_token *t, void *arg)
{
	struct list_ctx *l = arg;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
	};
	CK_OBJECT_HANDLE *objs = NULL;
	size_t n = 0, i, plen = strlen(l->prefix);
	int r;

	/* Start afresh: an earlier attempt may have stopped half way. */
	free(l->keys);
	l->keys = NULL;
	l->n = 0;
	if ((r = find_objects(t, tmpl, ANCHOR_ARRAY_SIZE(tmpl), &objs,
	    &n)) != ANCHOR_OK)
		goto out;
	if (n > 0 && (l->keys = calloc(n, sizeof(*l->keys))) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		a11_key *k = &l->keys[l->n];

		r = key_info(t, objs[i], k);
		/* Keys anchor cannot use (type, id, label) are left out. */
		if (r == ANCHOR_E_UNSUPPORTED)
			continue;
		if (r != ANCHOR_OK)
			goto out;
		if (strncmp(k->label, l->prefix, plen) == 0)
			l->n++;
	}
	if (l->n == 0) {
		free(l->keys);
		l->keys = NULL;
	}
	r = ANCHOR_OK;
 out:
	free(objs);
	return r;
}

int
a11_list(a11_token *t, const char *prefix, a11_key **keys, size_t *n)
{
	struct list_ctx l;
	int r;

	if (keys != NULL)
		*keys = NULL;
	if (n != NULL)
		*n = 0;
	if (t == NULL || prefix == NULL || keys == NULL || n == NULL)
		return ANCHOR_E_INVAL;
	memset(&l, 0, sizeof(l));
	l.prefix = prefix;
	if ((r = run(t, op_list, &l)) != ANCHOR_OK) {
		free(l.keys);
		return r;
	}
	*keys = l.keys;
	*n = l.n;
	return ANCHOR_OK;
}

struct sign_ctx {
	const uint8_t *id;
	const uint8_t *msg;
	size_t msglen;
	uint8_t *sig;
	size_t *siglen;
	bool prehashed;		/* msg is the digest (EC keys only) */
};

static int
op_sign(a11_token *t, void *arg)
{
	struct sign_ctx *s = arg;
	CK_OBJECT_HANDLE obj;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	a11_keytype type = (a11_keytype)0;
	const EVP_MD *md = EVP_sha256();
	uint8_t in[sizeof(digestinfo_sha256) + EVP_MAX_MD_SIZE];
	uint8_t out[A11_MAX_SIG];
	unsigned int mdlen = 0;
	size_t inlen = 0, want;
	CK_ULONG outlen = sizeof(out);
	CK_RV rv;
	int r;

	if ((r = private_key(t, s->id, &obj, &type)) != ANCHOR_OK)
		return r;
	switch (type) {
	case A11_KEY_EC_P256:
		want = 64;
		break;
	case A11_KEY_EC_P384:
		md = EVP_sha384();
		want = 96;
		break;
	case A11_KEY_RSA_3072:
		mech.mechanism = CKM_RSA_PKCS;
		memcpy(in, digestinfo_sha256, sizeof(digestinfo_sha256));
		inlen = sizeof(digestinfo_sha256);
		want = RSA_3072_BYTES;
		break;
	default:
		return ANCHOR_E_UNSUPPORTED;
	}
	if (*s->siglen < want)
		return ANCHOR_E_INVAL;
	if (s->prehashed) {
		if (type == A11_KEY_RSA_3072)
			return ANCHOR_E_UNSUPPORTED;
		if (s->msglen != (size_t)EVP_MD_get_size(md))
			return ANCHOR_E_INVAL;
		memcpy(in, s->msg, s->msglen);
		inlen = s->msglen;
	} else {
		if (EVP_Digest(s->msg, s->msglen, in + inlen, &mdlen, md,
		    NULL) != 1)
			return ANCHOR_E_CRYPTO;
		inlen += mdlen;
	}
	if ((rv = t->fl->C_SignInit(t->session, &mech, obj)) != CKR_OK) {
		/* Destroyed since it was cached: the next call looks again. */
		if (rv == CKR_KEY_HANDLE_INVALID ||
		    rv == CKR_OBJECT_HANDLE_INVALID)
			cache_forget(t, s->id);
		return ck_error(t, rv);
	}
	if ((rv = t->fl->C_Sign(t->session, in, (CK_ULONG)inlen, out,
	    &outlen)) != CKR_OK)
		return ck_error(t, rv);
	/* ECDSA must be raw r||s, never DER; RSA exactly the modulus size. */
	if (outlen != want)
		return ANCHOR_E_TOKEN;
	memcpy(s->sig, out, want);
	*s->siglen = want;
	return ANCHOR_OK;
}

int
a11_sign(a11_token *t, const uint8_t id[A11_ID_LEN],
    const uint8_t *msg, size_t msglen, uint8_t *sig, size_t *siglen)
{
	struct sign_ctx s = { id, msg, msglen, sig, siglen, false };

	if (t == NULL || id == NULL || (msg == NULL && msglen > 0) ||
	    sig == NULL || siglen == NULL)
		return ANCHOR_E_INVAL;
	if (msg == NULL)
		s.msg = (const uint8_t *)"";
	return run(t, op_sign, &s);
}

int
a11_sign_digest(a11_token *t, const uint8_t id[A11_ID_LEN],
    const uint8_t *digest, size_t digestlen, uint8_t *sig, size_t *siglen)
{
	struct sign_ctx s = { id, digest, digestlen, sig, siglen, true };

	if (t == NULL || id == NULL || digest == NULL || sig == NULL ||
	    siglen == NULL)
		return ANCHOR_E_INVAL;
	return run(t, op_sign, &s);
}

static int
ec_public(const char *group, const uint8_t *point, size_t pointlen,
    EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int r = ANCHOR_E_CRYPTO;

	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    point, pointlen) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	*out = pkey;
	pkey = NULL;
	r = ANCHOR_OK;
 out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return r;
}

static int
rsa_public(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen,
    EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *bn = NULL, *be = NULL;
	int r = ANCHOR_E_CRYPTO;

	if ((bn = BN_bin2bn(n, (int)nlen, NULL)) == NULL ||
	    (be = BN_bin2bn(e, (int)elen, NULL)) == NULL)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	*out = pkey;
	pkey = NULL;
	r = ANCHOR_OK;
 out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return r;
}

struct pub_ctx {
	const uint8_t *id;
	EVP_PKEY *pkey;
};

static int
op_public_key(a11_token *t, void *arg)
{
	struct pub_ctx *p = arg;
	CK_OBJECT_HANDLE obj;
	a11_keytype type = (a11_keytype)0;
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	ASN1_OCTET_STRING *os = NULL;
	const unsigned char *q;
	int r;

	if ((r = find_key(t, p->id, CKO_PUBLIC_KEY, &obj)) != ANCHOR_OK)
		goto out;
	if ((r = key_type(t, obj, &type)) != ANCHOR_OK)
		goto out;
	if (type == A11_KEY_RSA_3072) {
		if ((r = get_attr(t, obj, CKA_MODULUS, &a, &alen)) !=
		    ANCHOR_OK ||
		    (r = get_attr(t, obj, CKA_PUBLIC_EXPONENT, &b, &blen)) !=
		    ANCHOR_OK)
			goto out;
		r = rsa_public(a, alen, b, blen, &p->pkey);
		goto out;
	}
	/* CKA_EC_POINT is a DER OCTET STRING around the uncompressed point. */
	if ((r = get_attr(t, obj, CKA_EC_POINT, &a, &alen)) != ANCHOR_OK)
		goto out;
	q = a;
	if ((os = d2i_ASN1_OCTET_STRING(NULL, &q, (long)alen)) == NULL ||
	    q != a + alen) {
		r = ANCHOR_E_TOKEN;
		goto out;
	}
	r = ec_public(type == A11_KEY_EC_P256 ? "prime256v1" : "secp384r1",
	    ASN1_STRING_get0_data(os), (size_t)ASN1_STRING_length(os),
	    &p->pkey);
 out:
	ASN1_OCTET_STRING_free(os);
	free(a);
	free(b);
	return r;
}

int
a11_public_key(a11_token *t, const uint8_t id[A11_ID_LEN], EVP_PKEY **out)
{
	struct pub_ctx p = { id, NULL };
	int r;

	if (out != NULL)
		*out = NULL;
	if (t == NULL || id == NULL || out == NULL)
		return ANCHOR_E_INVAL;
	if ((r = run(t, op_public_key, &p)) != ANCHOR_OK)
		return r;
	*out = p.pkey;
	return ANCHOR_OK;
}

/*
 * X.509 signing without libp11: libp11 would dlopen and C_Initialize the
 * module a second time in this process, its PKCS11_CTX_unload would
 * C_Finalize it under our sessions, and its keys would bypass the recovery
 * above.  So OpenSSL encodes the TBSCertificate, a11_sign signs those bytes,
 * and the signature (DER ECDSA-Sig-Value for EC) is put into the
 * certificate.  OpenSSL 3 has no setter for a certificate's algorithm
 * identifiers or signature, so the internal pointers it hands out are
 * written, as its own X509_sign does.
 */
int
a11_sign_x509(a11_token *t, const uint8_t id[A11_ID_LEN], X509 *cert)
{
	a11_key key;
	EVP_PKEY *pub = NULL;
	ECDSA_SIG *esig = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	const ASN1_BIT_STRING *csig;
	const X509_ALGOR *calg;
	X509_ALGOR *tbsalg;
	ASN1_BIT_STRING *bits;
	uint8_t *tbs = NULL, *der = NULL;
	uint8_t sig[A11_MAX_SIG];
	size_t siglen = sizeof(sig), half;
	int nid, ptype = V_ASN1_UNDEF, tbslen, derlen;
	int r = ANCHOR_E_INTERNAL;

	if (t == NULL || id == NULL || cert == NULL)
		return ANCHOR_E_INVAL;
	if ((r = a11_find(t, id, &key)) != ANCHOR_OK)
		goto out;
	switch (key.type) {
	case A11_KEY_EC_P256:
		nid = NID_ecdsa_with_SHA256;
		break;
	case A11_KEY_EC_P384:
		nid = NID_ecdsa_with_SHA384;
		break;
	case A11_KEY_RSA_3072:
		nid = NID_sha256WithRSAEncryption;
		ptype = V_ASN1_NULL;
		break;
	default:
		r = ANCHOR_E_UNSUPPORTED;
		goto out;
	}
	X509_get0_signature(&csig, &calg, cert);
	tbsalg = (X509_ALGOR *)X509_get0_tbs_sigalg(cert);
	if (X509_ALGOR_set0(tbsalg, OBJ_nid2obj(nid), ptype, NULL) != 1 ||
	    X509_ALGOR_copy((X509_ALGOR *)calg, tbsalg) != 1) {
		r = ANCHOR_E_CRYPTO;
		goto out;
	}
	if ((tbslen = i2d_re_X509_tbs(cert, &tbs)) <= 0) {
		r = ANCHOR_E_CRYPTO;
		goto out;
	}
	if ((r = a11_sign(t, id, tbs, (size_t)tbslen, sig, &siglen)) !=
	    ANCHOR_OK)
		goto out;
	if (key.type != A11_KEY_RSA_3072) {
		half = siglen / 2;
		if ((esig = ECDSA_SIG_new()) == NULL ||
		    (br = BN_bin2bn(sig, (int)half, NULL)) == NULL ||
		    (bs = BN_bin2bn(sig + half, (int)half, NULL)) == NULL ||
		    ECDSA_SIG_set0(esig, br, bs) != 1) {
			r = ANCHOR_E_CRYPTO;
			goto out;
		}
		br = bs = NULL;
		if ((derlen = i2d_ECDSA_SIG(esig, &der)) <= 0) {
			r = ANCHOR_E_CRYPTO;
			goto out;
		}
	} else {
		if ((der = OPENSSL_memdup(sig, siglen)) == NULL) {
			r = ANCHOR_E_NOMEM;
			goto out;
		}
		derlen = (int)siglen;
	}
	bits = (ASN1_BIT_STRING *)csig;
	ASN1_STRING_set0(bits, der, derlen);
	der = NULL;
	/* No unused bits in the BIT STRING. */
	bits->flags &= ~0x07;
	bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	/* A token that signs with some other key must not go unnoticed. */
	if ((r = a11_public_key(t, id, &pub)) != ANCHOR_OK)
		goto out;
	if (X509_verify(cert, pub) != 1) {
		r = ANCHOR_E_TOKEN;
		goto out;
	}
	r = ANCHOR_OK;
 out:
	OPENSSL_free(tbs);
	OPENSSL_free(der);
	ECDSA_SIG_free(esig);
	BN_free(br);
	BN_free(bs);
	EVP_PKEY_free(pub);
	return r;
}

struct attr_ctx {
	const uint8_t *id;
	a11_attrs *out;
};

static int
op_attributes(a11_token *t, void *arg)
{
	struct attr_ctx *c = arg;
	a11_attrs *out = c->out;
	CK_OBJECT_HANDLE obj;
	CK_BBOOL v[10];
	CK_ATTRIBUTE a[] = {
		{ CKA_TOKEN, &v[0], sizeof(v[0]) },
		{ CKA_PRIVATE, &v[1], sizeof(v[1]) },
		{ CKA_SENSITIVE, &v[2], sizeof(v[2]) },
		{ CKA_ALWAYS_SENSITIVE, &v[3], sizeof(v[3]) },
		{ CKA_EXTRACTABLE, &v[4], sizeof(v[4]) },
		{ CKA_NEVER_EXTRACTABLE, &v[5], sizeof(v[5]) },
		{ CKA_SIGN, &v[6], sizeof(v[6]) },
		{ CKA_DECRYPT, &v[7], sizeof(v[7]) },
		{ CKA_UNWRAP, &v[8], sizeof(v[8]) },
		{ CKA_DERIVE, &v[9], sizeof(v[9]) },
	};
	/* Length queries only: a readable secret is never copied out. */
	CK_ATTRIBUTE secret[] = {
		{ CKA_VALUE, NULL, 0 },
		{ CKA_PRIVATE_EXPONENT, NULL, 0 },
		{ CKA_PRIME_1, NULL, 0 },
	};
	bool *dst[] = {
		&out->token, &out->private_, &out->sensitive,
		&out->always_sensitive, &out->extractable,
		&out->never_extractable, &out->sign, &out->decrypt,
		&out->unwrap, &out->derive,
	};
	size_t i;
	CK_RV rv;
	int r;

	memset(out, 0, sizeof(*out));
	memset(v, 0, sizeof(v));
	if ((r = find_key(t, c->id, CKO_PRIVATE_KEY, &obj)) != ANCHOR_OK)
		return r;
	/*
	 * An attribute the object lacks comes back as
	 * CK_UNAVAILABLE_INFORMATION with CKR_ATTRIBUTE_TYPE_INVALID (or
	 * _SENSITIVE); the others are still filled in.
	 */
	rv = t->fl->C_GetAttributeValue(t->session, obj, a,
	    ANCHOR_ARRAY_SIZE(a));
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_ATTRIBUTE_SENSITIVE)
		return ck_error(t, rv);
	for (i = 0; i < ANCHOR_ARRAY_SIZE(a); i++)
		*dst[i] = a[i].ulValueLen == sizeof(CK_BBOOL) &&
		    v[i] != CK_FALSE;
	for (i = 0; i < ANCHOR_ARRAY_SIZE(secret); i++) {
		rv = t->fl->C_GetAttributeValue(t->session, obj, &secret[i], 1);
		if (rv == CKR_OK &&
		    secret[i].ulValueLen != CK_UNAVAILABLE_INFORMATION)
			out->value_readable = true;
		else if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE &&
		    rv != CKR_ATTRIBUTE_TYPE_INVALID)
			return ck_error(t, rv);
	}
	return ANCHOR_OK;
}

int
a11_attributes(a11_token *t, const uint8_t id[A11_ID_LEN], a11_attrs *out)
{
	struct attr_ctx c = { id, out };

	if (t == NULL || id == NULL || out == NULL)
		return ANCHOR_E_INVAL;
	return run(t, op_attributes, &c);
}

struct destroy_ctx {
	const uint8_t *id;
	size_t destroyed;
};

static int
op_destroy(a11_token *t, void *arg)
{
	struct destroy_ctx *d = arg;
	size_t n = 0;
	int r;

	r = destroy_id(t, d->id, &n);
	d->destroyed += n;
	if (r != ANCHOR_OK)
		return r;
	/* Nothing left may mean an earlier attempt did the work. */
	return d->destroyed > 0 ? ANCHOR_OK : ANCHOR_E_KEY_NOT_FOUND;
}

/* An attribute of at most cap bytes, or false if it is absent or larger. */
static bool
try_attr(a11_token *t, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
    uint8_t *buf, size_t cap, size_t *len)
{
	CK_ATTRIBUTE a = { type, buf, (CK_ULONG)cap };

	if (t->fl->C_GetAttributeValue(t->session, obj, &a, 1) != CKR_OK ||
	    a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > cap)
		return false;
	*len = a.ulValueLen;
	return true;
}

struct orphan_ctx {
	const char *prefix;
	const uint8_t (*keep)[A11_ID_LEN];
	size_t nkeep;
	a11_key *gone;
	size_t ngone;
};

static int
op_destroy_orphans(a11_token *t, void *arg)
{
	struct orphan_ctx *o = arg;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
	};
	CK_OBJECT_HANDLE *objs = NULL;
	uint8_t label[ANCHOR_LABEL_MAX], id[64];
	size_t n = 0, i, j, labellen, idlen, plen = strlen(o->prefix);
	a11_key *grown;
	CK_RV rv;
	int r;

	if ((r = find_objects(t, tmpl, ANCHOR_ARRAY_SIZE(tmpl), &objs,
	    &n)) != ANCHOR_OK)
		goto out;
	for (i = 0; i < n; i++) {
		/* Ours by label; an object cut short by a crash may lack
		 * anything else (key type, parameters, even its id). */
		if (!try_attr(t, objs[i], CKA_LABEL, label, sizeof(label) - 1,
		    &labellen) || labellen < plen ||
		    memcmp(label, o->prefix, plen) != 0)
			continue;
		label[labellen] = '\0';
		if (!try_attr(t, objs[i], CKA_ID, id, sizeof(id), &idlen))
			idlen = 0;
		for (j = 0; idlen == A11_ID_LEN && j < o->nkeep; j++)
			if (memcmp(o->keep[j], id, A11_ID_LEN) == 0)
				break;
		if (idlen == A11_ID_LEN && j < o->nkeep)
			continue;
		if ((rv = t->fl->C_DestroyObject(t->session, objs[i])) != CKR_OK) {
			r = ck_error(t, rv);
			goto out;
		}
		if (idlen == A11_ID_LEN)
			cache_forget(t, id);
		if ((grown = realloc(o->gone, (o->ngone + 1) *
		    sizeof(*grown))) == NULL) {
			r = ANCHOR_E_NOMEM;
			goto out;
		}
		o->gone = grown;
		memset(&o->gone[o->ngone], 0, sizeof(*grown));
		memcpy(o->gone[o->ngone].label, label, labellen + 1);
		if (idlen == A11_ID_LEN)
			memcpy(o->gone[o->ngone].id, id, A11_ID_LEN);
		o->ngone++;
	}
	r = ANCHOR_OK;
 out:
	free(objs);
	return r;
}

int
a11_destroy_orphans(a11_token *t, const char *prefix,
    const uint8_t (*keep)[A11_ID_LEN], size_t nkeep, a11_key **gone,
    size_t *ngone)
{
	struct orphan_ctx o = { prefix, keep, nkeep, NULL, 0 };
	int r;

	*gone = NULL;
	*ngone = 0;
	if (t == NULL || prefix == NULL || prefix[0] == '\0' ||
	    (keep == NULL && nkeep > 0))
		return ANCHOR_E_INVAL;
	/* Objects destroyed before a reconnect are reported as well. */
	if ((r = run(t, op_destroy_orphans, &o)) != ANCHOR_OK) {
		free(o.gone);
		return r;
	}
	*gone = o.gone;
	*ngone = o.ngone;
	return ANCHOR_OK;
}

int
a11_destroy(a11_token *t, const uint8_t id[A11_ID_LEN])
{
	struct destroy_ctx d = { id, 0 };

	if (t == NULL || id == NULL)
		return ANCHOR_E_INVAL;
	return run(t, op_destroy, &d);
}
