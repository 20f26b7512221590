/*
 * anchor-fault.so: a PKCS#11 module for tests.  It forwards every call to a
 * real module and fails chosen calls with a chosen CKR_ code, before the real
 * module sees them.
 *
 * Environment:
 *	ANCHOR_FAULT_MODULE	path of the real module (required),
 *				e.g. /usr/lib/softhsm/libsofthsm2.so
 *	ANCHOR_FAULT_FILE	file holding the rules, re-read on every call
 *				so a test can switch faults on and off while
 *				a process uses the module; missing or empty
 *				means no fault.  Takes precedence over:
 *	ANCHOR_FAULT		the rules themselves.
 *
 * Rules, separated by newlines, commas or semicolons (the first that
 * fires wins; blank lines and lines starting with '#' are ignored):
 *
 *	FUNCTION:N:CKR		fail only the N-th call (1-based) of FUNCTION
 *	FUNCTION:N+:CKR		fail the N-th call and every later one
 *
 * FUNCTION is a PKCS#11 function name (C_Sign) or "*" for every function
 * except C_GetFunctionList, C_Initialize, C_Finalize and C_GetInfo (which
 * can still be named on their own).  Calls are counted per rule from the
 * moment the rule text last changed.  CKR is a number (0x30, 48) or a name
 * (CKR_DEVICE_ERROR).  Examples:
 *
 *	C_Sign:2:0x30			the second C_Sign fails (device error)
 *	C_Sign:1+:CKR_TOKEN_NOT_PRESENT	every C_Sign fails: the token is gone
 *	C_Login:1:CKR_PIN_INCORRECT
 *
 * CKR may also be KILL (the process is killed with SIGKILL before the call
 * reaches the real module) or KILL-AFTER (killed right after the real module
 * returned), to crash a program at a chosen token call:
 *
 *	*:7:KILL			die at the seventh token call
 *	C_GenerateKeyPair:1:KILL-AFTER	die with a new key in the token
 *
 * ANCHOR_FAULT_TRACE names a file to which the name of every call is
 * appended (one per line), so a test can count a program's token calls.
 *
 * A malformed rule text makes every call (but the four above) fail with
 * CKR_GENERAL_ERROR, so a typo in a test does not pass unnoticed.
 *
 * anchor_fault_injected() returns how many calls have been failed so far.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define FAULT_MAX_RULES 8
#define FAULT_MAX_TEXT 4096

unsigned long anchor_fault_injected(void);

struct rule {
	char func[64];
	unsigned long n;
	bool persistent;
	CK_RV rv;
	unsigned long calls;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char rule_text[FAULT_MAX_TEXT];
static struct rule rules[FAULT_MAX_RULES];
static size_t nrules;
static bool rules_bad;
static unsigned long injected;

static void *real_handle;
static CK_FUNCTION_LIST *real;

#define RV(x) { #x, x }
static const struct {
	const char *name;
	CK_RV rv;
} rv_names[] = {
	RV(CKR_OK), RV(CKR_CANCEL), RV(CKR_HOST_MEMORY),
	RV(CKR_SLOT_ID_INVALID), RV(CKR_GENERAL_ERROR),
	RV(CKR_FUNCTION_FAILED), RV(CKR_ARGUMENTS_BAD),
	RV(CKR_ATTRIBUTE_SENSITIVE), RV(CKR_ATTRIBUTE_TYPE_INVALID),
	RV(CKR_ATTRIBUTE_VALUE_INVALID), RV(CKR_DATA_INVALID),
	RV(CKR_DATA_LEN_RANGE), RV(CKR_DEVICE_ERROR), RV(CKR_DEVICE_MEMORY),
	RV(CKR_DEVICE_REMOVED), RV(CKR_FUNCTION_CANCELED),
	RV(CKR_FUNCTION_NOT_SUPPORTED), RV(CKR_KEY_HANDLE_INVALID),
	RV(CKR_KEY_SIZE_RANGE), RV(CKR_KEY_TYPE_INCONSISTENT),
	RV(CKR_KEY_FUNCTION_NOT_PERMITTED), RV(CKR_MECHANISM_INVALID),
	RV(CKR_MECHANISM_PARAM_INVALID), RV(CKR_OBJECT_HANDLE_INVALID),
	RV(CKR_OPERATION_ACTIVE), RV(CKR_OPERATION_NOT_INITIALIZED),
	RV(CKR_PIN_INCORRECT), RV(CKR_PIN_INVALID), RV(CKR_PIN_LEN_RANGE),
	RV(CKR_PIN_EXPIRED), RV(CKR_PIN_LOCKED), RV(CKR_SESSION_CLOSED),
	RV(CKR_SESSION_COUNT), RV(CKR_SESSION_HANDLE_INVALID),
	RV(CKR_SESSION_READ_ONLY), RV(CKR_SIGNATURE_INVALID),
	RV(CKR_TEMPLATE_INCOMPLETE), RV(CKR_TEMPLATE_INCONSISTENT),
	RV(CKR_TOKEN_NOT_PRESENT), RV(CKR_TOKEN_NOT_RECOGNIZED),
	RV(CKR_TOKEN_WRITE_PROTECTED), RV(CKR_USER_ALREADY_LOGGED_IN),
	RV(CKR_USER_NOT_LOGGED_IN), RV(CKR_USER_PIN_NOT_INITIALIZED),
	RV(CKR_USER_TYPE_INVALID), RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
	RV(CKR_DOMAIN_PARAMS_INVALID), RV(CKR_CURVE_NOT_SUPPORTED),
	RV(CKR_BUFFER_TOO_SMALL), RV(CKR_CRYPTOKI_NOT_INITIALIZED),
	RV(CKR_CRYPTOKI_ALREADY_INITIALIZED), RV(CKR_FUNCTION_REJECTED),
};
#undef RV

/* Not CK_RV values: the actions KILL and KILL-AFTER. */
#define FAULT_KILL ((CK_RV)-1)
#define FAULT_KILL_AFTER ((CK_RV)-2)

static bool
parse_rv(const char *s, CK_RV *out)
{
	char *end;
	unsigned long v;
	size_t i;

	if (strcmp(s, "KILL") == 0 || strcmp(s, "KILL-AFTER") == 0) {
		*out = s[4] == '\0' ? FAULT_KILL : FAULT_KILL_AFTER;
		return true;
	}

	for (i = 0; i < sizeof(rv_names) / sizeof(rv_names[0]); i++) {
		if (strcasecmp(s, rv_names[i].name) == 0) {
			*out = rv_names[i].rv;
			return true;
		}
	}
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static void
trim(char *s)
{
	size_t n = strlen(s), i = 0;

	while (n > 0 && strchr(" \t\r", s[n - 1]) != NULL)
		s[--n] = '\0';
	while (s[i] != '\0' && strchr(" \t\r", s[i]) != NULL)
		i++;
	memmove(s, s + i, n - i + 1);
}

/* Parse one rule "FUNCTION:N[+]:CKR". */
static bool
parse_rule(char *s, struct rule *r)
{
	char *func, *count, *code, *end;

	memset(r, 0, sizeof(*r));
	func = s;
	if ((count = strchr(func, ':')) == NULL)
		return false;
	*count++ = '\0';
	if ((code = strchr(count, ':')) == NULL)
		return false;
	*code++ = '\0';
	trim(func);
	trim(count);
	trim(code);
	if (*func == '\0' || strlen(func) >= sizeof(r->func))
		return false;
	strcpy(r->func, func);
	if (*count < '0' || *count > '9')
		return false;
	errno = 0;
	r->n = strtoul(count, &end, 10);
	if (errno != 0 || r->n == 0)
		return false;
	if (*end == '+') {
		r->persistent = true;
		end++;
	}
	if (*end != '\0')
		return false;
	return parse_rv(code, &r->rv);
}

/* Replace the rules when the text changed; counters restart. */
static void
set_rules(const char *text)
{
	char buf[FAULT_MAX_TEXT], *p, *tok, *save = NULL;

	if (strcmp(text, rule_text) == 0)
		return;
	strcpy(rule_text, text);
	strcpy(buf, text);
	nrules = 0;
	rules_bad = false;
	for (p = buf; (tok = strtok_r(p, "\n,;", &save)) != NULL; p = NULL) {
		trim(tok);
		if (*tok == '\0' || *tok == '#')
			continue;
		if (nrules == FAULT_MAX_RULES ||
		    !parse_rule(tok, &rules[nrules])) {
			rules_bad = true;
			nrules = 0;
			return;
		}
		nrules++;
	}
}

/* The current rule text: the file if one is named, else the variable. */
static void
read_rules(char *out, size_t max)
{
	const char *path = getenv("ANCHOR_FAULT_FILE");
	const char *env;
	size_t have = 0;
	ssize_t got;
	int fd;

	out[0] = '\0';
	if (path == NULL) {
		if ((env = getenv("ANCHOR_FAULT")) != NULL &&
		    strlen(env) < max)
			strcpy(out, env);
		return;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	while (have < max - 1) {
		got = read(fd, out + have, max - 1 - have);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		have += (size_t)got;
	}
	out[have] = '\0';
	close(fd);
}

static bool
is_setup(const char *func)
{
	return strcmp(func, "C_GetFunctionList") == 0 ||
	    strcmp(func, "C_Initialize") == 0 ||
	    strcmp(func, "C_Finalize") == 0 ||
	    strcmp(func, "C_GetInfo") == 0;
}

static void
trace(const char *func)
{
	const char *path = getenv("ANCHOR_FAULT_TRACE");
	char line[80];
	int fd, n;

	if (path == NULL || is_setup(func))
		return;
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return;
	n = snprintf(line, sizeof(line), "%s\n", func);
	if (n > 0 && write(fd, line, (size_t)n) < 0)
		n = 0;
	close(fd);
}

/* CKR_OK to forward the call, or the code it fails with. */
static CK_RV
fault_check(const char *func)
{
	char text[FAULT_MAX_TEXT];
	CK_RV rv = CKR_OK;
	size_t i;

	read_rules(text, sizeof(text));
	trace(func);
	pthread_mutex_lock(&lock);
	set_rules(text);
	if (rules_bad) {
		if (!is_setup(func)) {
			rv = CKR_GENERAL_ERROR;
			injected++;
		}
		goto out;
	}
	for (i = 0; i < nrules; i++) {
		struct rule *r = &rules[i];

		if (strcmp(r->func, func) != 0 &&
		    (strcmp(r->func, "*") != 0 || is_setup(func)))
			continue;
		r->calls++;
		if (rv == CKR_OK && (r->calls == r->n ||
		    (r->persistent && r->calls > r->n))) {
			rv = r->rv;
			injected++;
		}
	}
 out:
	pthread_mutex_unlock(&lock);
	if (rv == FAULT_KILL)
		kill(getpid(), SIGKILL);
	return rv;
}

unsigned long
anchor_fault_injected(void)
{
	unsigned long n;

	pthread_mutex_lock(&lock);
	n = injected;
	pthread_mutex_unlock(&lock);
	return n;
}

static CK_RV
load_real(void)
{
	const char *path = getenv("ANCHOR_FAULT_MODULE");
	CK_C_GetFunctionList get;

	if (real != NULL)
		return CKR_OK;
	if (path == NULL)
		return CKR_GENERAL_ERROR;
	if ((real_handle = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return CKR_GENERAL_ERROR;
	get = (CK_C_GetFunctionList)dlsym(real_handle, "C_GetFunctionList");
	if (get == NULL || get(&real) != CKR_OK || real == NULL) {
		real = NULL;
		dlclose(real_handle);
		real_handle = NULL;
		return CKR_GENERAL_ERROR;
	}
	return CKR_OK;
}

__attribute__((destructor)) static void
unload_real(void)
{
	if (real_handle != NULL)
		dlclose(real_handle);
	real_handle = NULL;
	real = NULL;
}

#define FORWARD(name, params, args)					\
static CK_RV								\
fault_##name params							\
{									\
	CK_RV rv;							\
									\
	if ((rv = fault_check(#name)) == FAULT_KILL_AFTER) {		\
		(void)real->name args;					\
		kill(getpid(), SIGKILL);				\
	}								\
	if (rv != CKR_OK)						\
		return rv;						\
	return real->name args;						\
}

FORWARD(C_Initialize, (void *a), (a))
FORWARD(C_Finalize, (void *a), (a))
FORWARD(C_GetInfo, (CK_INFO_PTR a), (a))
FORWARD(C_GetSlotList, (CK_BBOOL a, CK_SLOT_ID_PTR b, CK_ULONG_PTR c),
    (a, b, c))
FORWARD(C_GetSlotInfo, (CK_SLOT_ID a, CK_SLOT_INFO_PTR b), (a, b))
FORWARD(C_GetTokenInfo, (CK_SLOT_ID a, CK_TOKEN_INFO_PTR b), (a, b))
FORWARD(C_GetMechanismList, (CK_SLOT_ID a, CK_MECHANISM_TYPE_PTR b,
    CK_ULONG_PTR c), (a, b, c))
FORWARD(C_GetMechanismInfo, (CK_SLOT_ID a, CK_MECHANISM_TYPE b,
    CK_MECHANISM_INFO_PTR c), (a, b, c))
FORWARD(C_InitToken, (CK_SLOT_ID a, CK_UTF8CHAR_PTR b, CK_ULONG c,
    CK_UTF8CHAR_PTR d), (a, b, c, d))
FORWARD(C_InitPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c),
    (a, b, c))
FORWARD(C_SetPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c,
    CK_UTF8CHAR_PTR d, CK_ULONG e), (a, b, c, d, e))
FORWARD(C_OpenSession, (CK_SLOT_ID a, CK_FLAGS b, CK_VOID_PTR c,
    CK_NOTIFY d, CK_SESSION_HANDLE_PTR e), (a, b, c, d, e))
FORWARD(C_CloseSession, (CK_SESSION_HANDLE a), (a))
FORWARD(C_CloseAllSessions, (CK_SLOT_ID a), (a))
FORWARD(C_GetSessionInfo, (CK_SESSION_HANDLE a, CK_SESSION_INFO_PTR b),
    (a, b))
FORWARD(C_GetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,
    CK_ULONG_PTR c), (a, b, c))
FORWARD(C_SetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,
    CK_ULONG c, CK_OBJECT_HANDLE d, CK_OBJECT_HANDLE e), (a, b, c, d, e))
FORWARD(C_Login, (CK_SESSION_HANDLE a, CK_USER_TYPE b, CK_UTF8CHAR_PTR c,
    CK_ULONG d), (a, b, c, d))
FORWARD(C_Logout, (CK_SESSION_HANDLE a), (a))
FORWARD(C_CreateObject, (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b,
    CK_ULONG c, CK_OBJECT_HANDLE_PTR d), (a, b, c, d))
FORWARD(C_CopyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b,
    CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e), (a, b, c, d, e))
FORWARD(C_DestroyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b), (a, b))
FORWARD(C_GetObjectSize, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b,
    CK_ULONG_PTR c), (a, b, c))
FORWARD(C_GetAttributeValue, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b,
    CK_ATTRIBUTE_PTR c, CK_ULONG d), (a, b, c, d))
FORWARD(C_SetAttributeValue, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b,
    CK_ATTRIBUTE_PTR c, CK_ULONG d), (a, b, c, d))
FORWARD(C_FindObjectsInit, (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b,
    CK_ULONG c), (a, b, c))
FORWARD(C_FindObjects, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE_PTR b,
    CK_ULONG c, CK_ULONG_PTR d), (a, b, c, d))
FORWARD(C_FindObjectsFinal, (CK_SESSION_HANDLE a), (a))
FORWARD(C_EncryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,
    CK_OBJECT_HANDLE c), (a, b, c))
FORWARD(C_Encrypt, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
    CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_EncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
    CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_EncryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,
    CK_ULONG_PTR c), (a, b, c))
FORWARD(C_DecryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,
    CK_OBJECT_HANDLE c), (a, b, c))
FORWARD(C_Decrypt, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
    CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_DecryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
    CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_DecryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,
    CK_ULONG_PTR c), (a, b, c))
FORWARD(C_DigestInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b), (a, b))
FORWARD(C_Digest, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
    CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_DigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c),
    (a, b, c))
FORWARD(C_DigestKey, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b), (a, b))
FORWARD(C_DigestFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c),
    (a, b, c))
FORWARD(C_SignInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,
    CK_OBJECT_HANDLE c), (a, b, c))
FORWARD(C_Sign, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
    CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_SignUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c),
    (a, b, c))
FORWARD(C_SignFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c),
    (a, b, c))
FORWARD(C_SignRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,
    CK_OBJECT_HANDLE c), (a, b, c))
FORWARD(C_SignRecover, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
    CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_VerifyInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,
    CK_OBJECT_HANDLE c), (a, b, c))
FORWARD(C_Verify, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
    CK_BYTE_PTR d, CK_ULONG e), (a, b, c, d, e))
FORWARD(C_VerifyUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c),
    (a, b, c))
FORWARD(C_VerifyFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c),
    (a, b, c))
FORWARD(C_VerifyRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,
    CK_OBJECT_HANDLE c), (a, b, c))
FORWARD(C_VerifyRecover, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,
    CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_DigestEncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,
    CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_DecryptDigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,
    CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_SignEncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,
    CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,
    CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
FORWARD(C_GenerateKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,
    CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e), (a, b, c, d, e))
FORWARD(C_GenerateKeyPair, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,
    CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_ATTRIBUTE_PTR e, CK_ULONG f,
    CK_OBJECT_HANDLE_PTR g, CK_OBJECT_HANDLE_PTR h), (a, b, c, d, e, f, g, h))
FORWARD(C_WrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,
    CK_OBJECT_HANDLE c, CK_OBJECT_HANDLE d, CK_BYTE_PTR e, CK_ULONG_PTR f),
    (a, b, c, d, e, f))
FORWARD(C_UnwrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,
    CK_OBJECT_HANDLE c, CK_BYTE_PTR d, CK_ULONG e, CK_ATTRIBUTE_PTR f,
    CK_ULONG g, CK_OBJECT_HANDLE_PTR h), (a, b, c, d, e, f, g, h))
FORWARD(C_DeriveKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,
    CK_OBJECT_HANDLE c, CK_ATTRIBUTE_PTR d, CK_ULONG e,
    CK_OBJECT_HANDLE_PTR f), (a, b, c, d, e, f))
FORWARD(C_SeedRandom, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c),
    (a, b, c))
FORWARD(C_GenerateRandom, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c),
    (a, b, c))
FORWARD(C_GetFunctionStatus, (CK_SESSION_HANDLE a), (a))
FORWARD(C_CancelFunction, (CK_SESSION_HANDLE a), (a))
FORWARD(C_WaitForSlotEvent, (CK_FLAGS a, CK_SLOT_ID_PTR b, CK_VOID_PTR c),
    (a, b, c))

static CK_FUNCTION_LIST fault_functions = {
	.version = { CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR },
	.C_Initialize = fault_C_Initialize,
	.C_Finalize = fault_C_Finalize,
	.C_GetInfo = fault_C_GetInfo,
	.C_GetFunctionList = C_GetFunctionList,
	.C_GetSlotList = fault_C_GetSlotList,
	.C_GetSlotInfo = fault_C_GetSlotInfo,
	.C_GetTokenInfo = fault_C_GetTokenInfo,
	.C_GetMechanismList = fault_C_GetMechanismList,
	.C_GetMechanismInfo = fault_C_GetMechanismInfo,
	.C_InitToken = fault_C_InitToken,
	.C_InitPIN = fault_C_InitPIN,
	.C_SetPIN = fault_C_SetPIN,
	.C_OpenSession = fault_C_OpenSession,
	.C_CloseSession = fault_C_CloseSession,
	.C_CloseAllSessions = fault_C_CloseAllSessions,
	.C_GetSessionInfo = fault_C_GetSessionInfo,
	.C_GetOperationState = fault_C_GetOperationState,
	.C_SetOperationState = fault_C_SetOperationState,
	.C_Login = fault_C_Login,
	.C_Logout = fault_C_Logout,
	.C_CreateObject = fault_C_CreateObject,
	.C_CopyObject = fault_C_CopyObject,
	.C_DestroyObject = fault_C_DestroyObject,
	.C_GetObjectSize = fault_C_GetObjectSize,
	.C_GetAttributeValue = fault_C_GetAttributeValue,
	.C_SetAttributeValue = fault_C_SetAttributeValue,
	.C_FindObjectsInit = fault_C_FindObjectsInit,
	.C_FindObjects = fault_C_FindObjects,
	.C_FindObjectsFinal = fault_C_FindObjectsFinal,
	.C_EncryptInit = fault_C_EncryptInit,
	.C_Encrypt = fault_C_Encrypt,
	.C_EncryptUpdate = fault_C_EncryptUpdate,
	.C_EncryptFinal = fault_C_EncryptFinal,
	.C_DecryptInit = fault_C_DecryptInit,
	.C_Decrypt = fault_C_Decrypt,
	.C_DecryptUpdate = fault_C_DecryptUpdate,
	.C_DecryptFinal = fault_C_DecryptFinal,
	.C_DigestInit = fault_C_DigestInit,
	.C_Digest = fault_C_Digest,
	.C_DigestUpdate = fault_C_DigestUpdate,
	.C_DigestKey = fault_C_DigestKey,
	.C_DigestFinal = fault_C_DigestFinal,
	.C_SignInit = fault_C_SignInit,
	.C_Sign = fault_C_Sign,
	.C_SignUpdate = fault_C_SignUpdate,
	.C_SignFinal = fault_C_SignFinal,
	.C_SignRecoverInit = fault_C_SignRecoverInit,
	.C_SignRecover = fault_C_SignRecover,
	.C_VerifyInit = fault_C_VerifyInit,
	.C_Verify = fault_C_Verify,
	.C_VerifyUpdate = fault_C_VerifyUpdate,
	.C_VerifyFinal = fault_C_VerifyFinal,
	.C_VerifyRecoverInit = fault_C_VerifyRecoverInit,
	.C_VerifyRecover = fault_C_VerifyRecover,
	.C_DigestEncryptUpdate = fault_C_DigestEncryptUpdate,
	.C_DecryptDigestUpdate = fault_C_DecryptDigestUpdate,
	.C_SignEncryptUpdate = fault_C_SignEncryptUpdate,
	.C_DecryptVerifyUpdate = fault_C_DecryptVerifyUpdate,
	.C_GenerateKey = fault_C_GenerateKey,
	.C_GenerateKeyPair = fault_C_GenerateKeyPair,
	.C_WrapKey = fault_C_WrapKey,
	.C_UnwrapKey = fault_C_UnwrapKey,
	.C_DeriveKey = fault_C_DeriveKey,
	.C_SeedRandom = fault_C_SeedRandom,
	.C_GenerateRandom = fault_C_GenerateRandom,
	.C_GetFunctionStatus = fault_C_GetFunctionStatus,
	.C_CancelFunction = fault_C_CancelFunction,
	.C_WaitForSlotEvent = fault_C_WaitForSlotEvent,
};

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	CK_RV rv;

	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&lock);
	rv = load_real();
	pthread_mutex_unlock(&lock);
	if (rv != CKR_OK)
		return rv;
	if ((rv = fault_check("C_GetFunctionList")) != CKR_OK)
		return rv;
	*list = &fault_functions;
	return CKR_OK;
}
