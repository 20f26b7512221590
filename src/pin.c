#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <libgfshare.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "error.h"
#include "pin.h"
#include "util.h"

/* Longer than any token's ulMaxPinLen. */
#define PIN_MAX		1024
#define SHARE_MAGIC	"anchor-pin-share:1:"
/*
 * The split id (the <check> field) is random, not derived from the PIN:
 * anything computed from the PIN alone and printed on every share would
 * let one custodian search a short PIN offline.  A wrong rebuild is told
 * from the right one by SHARE_TAG_LEN bytes of SHA-256(PIN) that are split
 * together with the PIN, so they stay hidden from fewer than k shares.
 */
#define SHARE_ID_LEN	4
#define SHARE_TAG_LEN	4
#define SHARE_MAX_N	255
#define SHARE_PAYLOAD_MAX (PIN_MAX + SHARE_TAG_LEN)
#define SHARE_LINE_MAX	(sizeof(SHARE_MAGIC) + 3 * 4 + 2 * SHARE_ID_LEN + 1 + \
			    2 * SHARE_PAYLOAD_MAX + 1)

struct share {
	unsigned k, n, index;
	char id[2 * SHARE_ID_LEN + 1];
	size_t len;
	uint8_t data[SHARE_PAYLOAD_MAX];
};

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	if (vsnprintf(err, errlen, fmt, ap) < 0)
		err[0] = '\0';
	va_end(ap);
}

void
anchor_pin_free(char *pin, size_t len)
{
	if (pin == NULL)
		return;
	OPENSSL_cleanse(pin, len);
	free(pin);
}

static int
pin_dup(const char *buf, size_t len, char **pin, size_t *plen)
{
	char *p;

	if ((p = malloc(len + 1)) == NULL)
		return ANCHOR_E_NOMEM;
	memcpy(p, buf, len);
	p[len] = '\0';
	*pin = p;
	*plen = len;
	return ANCHOR_OK;
}

/* ---- file ---------------------------------------------------------- */

static int
read_pin_file(const char *path, char **pin, size_t *len, char *err,
    size_t errlen)
{
	int r = ANCHOR_E_PIN_SOURCE;
	int fd = -1;
	struct stat st;
	char buf[PIN_MAX + 3];	/* a PIN, "\r\n", and a byte to see more */
	size_t have = 0;

	/* O_NONBLOCK: opening a FIFO must not hang; fstat refuses it. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			seterr(err, errlen, "PIN file %.200s is a symbolic link",
			    path);
		else if (errno == ENOENT)
			seterr(err, errlen, "PIN file %.200s does not exist",
			    path);
		else
			seterr(err, errlen, "cannot open PIN file %.200s: %s",
			    path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		seterr(err, errlen, "cannot stat PIN file %.200s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errlen, "PIN file %.200s is not a regular file",
		    path);
		goto out;
	}
	if (st.st_uid != geteuid()) {
		seterr(err, errlen, "PIN file %.200s is owned by uid %lu, not "
		    "by uid %lu", path, (unsigned long)st.st_uid,
		    (unsigned long)geteuid());
		goto out;
	}
	if (st.st_mode & 077) {
		seterr(err, errlen, "PIN file %.200s has mode %04o: group or "
		    "others may access it (chmod 600)", path,
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	while (have < sizeof(buf)) {
		ssize_t got = read(fd, buf + have, sizeof(buf) - have);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			seterr(err, errlen, "cannot read PIN file %.200s: %s",
			    path, strerror(errno));
			r = ANCHOR_E_IO;
			goto out;
		}
		if (got == 0)
			break;
		have += (size_t)got;
	}
	if (have == sizeof(buf)) {
		seterr(err, errlen, "PIN file %.200s is longer than %d bytes",
		    path, PIN_MAX);
		goto out;
	}
	if (have > 0 && buf[have - 1] == '\n') {
		have--;
		if (have > 0 && buf[have - 1] == '\r')
			have--;
	}
	if (have == 0) {
		seterr(err, errlen, "PIN file %.200s is empty", path);
		goto out;
	}
	if (memchr(buf, '\n', have) != NULL || memchr(buf, '\0', have) != NULL) {
		seterr(err, errlen, "PIN file %.200s holds more than one line "
		    "or a NUL byte", path);
		goto out;
	}
	r = pin_dup(buf, have, pin, len);
 out:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	return r;
}

/* ---- terminal and line input ---------------------------------------- */

/*
 * Signals that would leave the terminal without echo: caught while echo
 * is off, then delivered again once the terminal is restored.
 */
static const int tty_signals[] = {
	SIGALRM, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN,
	SIGTTOU,
};
#define N_TTY_SIGNALS (sizeof(tty_signals) / sizeof(tty_signals[0]))
static volatile sig_atomic_t tty_caught[N_TTY_SIGNALS];

static void
tty_handler(int sig)
{
	size_t i;

	for (i = 0; i < N_TTY_SIGNALS; i++)
		if (tty_signals[i] == sig)
			tty_caught[i] = 1;
}

struct input {
	int fd;			/* /dev/tty, or -1 */
	FILE *fp;		/* when there is no terminal */
	bool echo_off;
	struct termios saved;
	struct sigaction old[N_TTY_SIGNALS];
};

static bool
tty_interrupted(void)
{
	size_t i;

	for (i = 0; i < N_TTY_SIGNALS; i++)
		if (tty_caught[i])
			return true;
	return false;
}

static void
tty_puts(struct input *in, const char *s)
{
	size_t len = strlen(s);

	while (len > 0) {
		ssize_t w = write(in->fd, s, len);

		if (w < 0 && errno == EINTR && !tty_interrupted())
			continue;
		if (w <= 0)
			return;
		s += w;
		len -= (size_t)w;
	}
}

/* Open /dev/tty with echo off, or fall back to fp (stdin when NULL). */
static int
input_open(struct input *in, FILE *fp, char *err, size_t errlen)
{
	struct termios t;
	struct sigaction sa;
	size_t i;

	memset(in, 0, sizeof(*in));
	in->fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (in->fd < 0) {
		in->fp = fp ? fp : stdin;
		return ANCHOR_OK;
	}
	if (tcgetattr(in->fd, &in->saved) != 0) {
		seterr(err, errlen, "cannot read the terminal settings: %s",
		    strerror(errno));
		close(in->fd);
		in->fd = -1;
		return ANCHOR_E_PIN_SOURCE;
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = tty_handler;	/* no SA_RESTART: read() must return */
	for (i = 0; i < N_TTY_SIGNALS; i++) {
		tty_caught[i] = 0;
		sigaction(tty_signals[i], &sa, &in->old[i]);
	}
	t = in->saved;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	t.c_lflag |= ICANON;
	if (tcsetattr(in->fd, TCSAFLUSH, &t) != 0) {
		seterr(err, errlen, "cannot turn off terminal echo: %s",
		    strerror(errno));
		for (i = 0; i < N_TTY_SIGNALS; i++)
			sigaction(tty_signals[i], &in->old[i], NULL);
		close(in->fd);
		in->fd = -1;
		return ANCHOR_E_PIN_SOURCE;
	}
	in->echo_off = true;
	return ANCHOR_OK;
}

static void
input_close(struct input *in)
{
	size_t i;

	if (in->fd < 0)
		return;
	if (in->echo_off) {
		tcsetattr(in->fd, TCSAFLUSH, &in->saved);
		for (i = 0; i < N_TTY_SIGNALS; i++)
			sigaction(tty_signals[i], &in->old[i], NULL);
		in->echo_off = false;
	}
	close(in->fd);
	in->fd = -1;
	for (i = 0; i < N_TTY_SIGNALS; i++) {
		if (tty_caught[i]) {
			tty_caught[i] = 0;
			kill(getpid(), tty_signals[i]);
		}
	}
}

/*
 * One line into buf (cap bytes with the NUL), without its "\n" or
 * "\r\n".  1 at end of input with nothing read; a negative code on error
 * (a line too long is read to its end and refused).
 */
static int
input_line(struct input *in, const char *prompt, char *buf, size_t cap,
    size_t *len, char *err, size_t errlen)
{
	size_t n = 0;
	bool any = false, toolong = false;
	int c;

	if (in->fd >= 0 && prompt != NULL)
		tty_puts(in, prompt);
	for (;;) {
		if (in->fd >= 0) {
			unsigned char ch;
			ssize_t got = read(in->fd, &ch, 1);

			if (got < 0 && errno == EINTR && !tty_interrupted())
				continue;
			if (got < 0 && errno == EINTR) {
				seterr(err, errlen, "interrupted");
				return ANCHOR_E_CANCELLED;
			}
			if (got < 0) {
				seterr(err, errlen, "cannot read the terminal: "
				    "%s", strerror(errno));
				return ANCHOR_E_IO;
			}
			c = got == 0 ? EOF : ch;
			ch = 0;
		} else {
			c = fgetc(in->fp);
			if (c == EOF && ferror(in->fp)) {
				seterr(err, errlen, "cannot read the input");
				return ANCHOR_E_IO;
			}
		}
		if (c == EOF || c == '\n')
			break;
		any = true;
		if (n + 1 < cap)
			buf[n++] = (char)c;
		else
			toolong = true;
	}
	if (in->fd >= 0)
		tty_puts(in, "\n");	/* the user's Enter was not echoed */
	if (c == EOF && !any)
		return 1;
	if (toolong) {
		seterr(err, errlen, "input line longer than %zu bytes", cap - 1);
		return ANCHOR_E_PIN_SOURCE;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*len = n;
	return ANCHOR_OK;
}

static int
read_prompt(FILE *fp, char **pin, size_t *len, char *err, size_t errlen)
{
	int r = ANCHOR_E_INTERNAL;
	struct input in;
	char buf[PIN_MAX + 1];
	size_t n = 0;

	if ((r = input_open(&in, fp, err, errlen)) != ANCHOR_OK)
		return r;
	r = input_line(&in, "PIN: ", buf, sizeof(buf), &n, err, errlen);
	if (r == 1) {
		seterr(err, errlen, "no PIN given (end of input)");
		r = ANCHOR_E_PIN_SOURCE;
		goto out;
	}
	if (r != ANCHOR_OK)
		goto out;
	if (n == 0 || memchr(buf, '\0', n) != NULL) {
		seterr(err, errlen, n == 0 ? "empty PIN" : "the PIN holds a "
		    "NUL byte");
		r = ANCHOR_E_PIN_SOURCE;
		goto out;
	}
	r = pin_dup(buf, n, pin, len);
 out:
	OPENSSL_cleanse(buf, sizeof(buf));
	input_close(&in);
	return r;
}

/* ---- shares --------------------------------------------------------- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 1 to 3 decimal digits (no sign, no leading zero) and a ':'. */
static bool
parse_field(const char **p, const char *end, unsigned *out)
{
	const char *s = *p;
	unsigned v = 0;
	size_t n = 0;

	while (s + n < end && s[n] >= '0' && s[n] <= '9' && n < 4)
		v = v * 10 + (unsigned)(s[n++] - '0');
	if (n == 0 || n > 3 || (n > 1 && s[0] == '0') || s + n >= end ||
	    s[n] != ':')
		return false;
	*out = v;
	*p = s + n + 1;
	return true;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * "anchor-pin-share:1:<k>:<n>:<index>:<check>:<hex>", surrounding
 * white space ignored.
 */
static bool
parse_share(const char *line, struct share *sh)
{
	const char *p = line, *end;
	size_t i, hexlen;

	memset(sh, 0, sizeof(*sh));
	if (line == NULL)
		return false;
	end = line + strlen(line);
	while (p < end && is_space(*p))
		p++;
	while (end > p && is_space(end[-1]))
		end--;
	if ((size_t)(end - p) < sizeof(SHARE_MAGIC) - 1 ||
	    memcmp(p, SHARE_MAGIC, sizeof(SHARE_MAGIC) - 1) != 0)
		return false;
	p += sizeof(SHARE_MAGIC) - 1;
	if (!parse_field(&p, end, &sh->k) || !parse_field(&p, end, &sh->n) ||
	    !parse_field(&p, end, &sh->index))
		return false;
	if (sh->k < 2 || sh->k > sh->n || sh->n > SHARE_MAX_N ||
	    sh->index < 1 || sh->index > sh->n)
		return false;
	if ((size_t)(end - p) < 2 * SHARE_ID_LEN + 1 ||
	    p[2 * SHARE_ID_LEN] != ':')
		return false;
	for (i = 0; i < 2 * SHARE_ID_LEN; i++) {
		if (hexval(p[i]) < 0)
			return false;
		sh->id[i] = p[i] >= 'A' && p[i] <= 'F' ? (char)(p[i] + 32) : p[i];
	}
	sh->id[i] = '\0';
	p += 2 * SHARE_ID_LEN + 1;
	hexlen = (size_t)(end - p);
	if (hexlen % 2 != 0 || hexlen < 2 * (1 + SHARE_TAG_LEN) ||
	    hexlen > 2 * SHARE_PAYLOAD_MAX)
		return false;
	for (i = 0; i < hexlen / 2; i++) {
		int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		sh->data[i] = (uint8_t)(hi << 4 | lo);
	}
	sh->len = hexlen / 2;
	return true;
}

static bool
same_split(const struct share *a, const struct share *b)
{
	return a->k == b->k && a->n == b->n && a->len == b->len &&
	    strcmp(a->id, b->id) == 0;
}

/*
 * libgfshare draws its polynomial coefficients from gfshare_fill_rand and
 * also scrubs its contexts with it when they are freed; its default is
 * random(), so every caller points it here first.
 */
static int gfshare_rand_failed;

static void
gfshare_rand(unsigned char *buf, unsigned int n)
{
	if (n > 0 && RAND_bytes(buf, (int)n) != 1) {
		OPENSSL_cleanse(buf, n);
		gfshare_rand_failed = 1;
	}
}

static int
sha256_tag(const uint8_t *data, size_t len, uint8_t tag[SHARE_TAG_LEN])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen < SHARE_TAG_LEN)
		return ANCHOR_E_CRYPTO;
	memcpy(tag, md, SHARE_TAG_LEN);
	OPENSSL_cleanse(md, sizeof(md));
	return ANCHOR_OK;
}

int
anchor_pin_split(const char *secret, size_t len, unsigned n, unsigned k,
    char ***shares)
{
	int r = ANCHOR_E_INTERNAL;
	gfshare_ctx *ctx = NULL;
	unsigned char nrs[SHARE_MAX_N];
	uint8_t *payload = NULL, *share = NULL;
	uint8_t id[SHARE_ID_LEN];
	char idhex[2 * SHARE_ID_LEN + 1];
	char **lines = NULL;
	size_t plen = len + SHARE_TAG_LEN, linelen, i;
	int hdr;

	if (shares != NULL)
		*shares = NULL;
	if (secret == NULL || shares == NULL || len == 0 || len > PIN_MAX ||
	    k < 2 || k > n || n > SHARE_MAX_N) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	if ((payload = malloc(plen)) == NULL || (share = malloc(plen)) == NULL ||
	    (lines = calloc(n, sizeof(*lines))) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	memcpy(payload, secret, len);
	if ((r = sha256_tag(payload, len, payload + len)) != ANCHOR_OK)
		goto out;
	if (RAND_bytes(id, sizeof(id)) != 1) {
		r = ANCHOR_E_CRYPTO;
		goto out;
	}
	anchor_hex(id, sizeof(id), idhex);
	for (i = 0; i < n; i++)
		nrs[i] = (unsigned char)(i + 1);
	gfshare_fill_rand = gfshare_rand;
	if ((ctx = gfshare_ctx_init_enc(nrs, n, (unsigned char)k,
	    (unsigned int)plen)) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	gfshare_rand_failed = 0;
	gfshare_ctx_enc_setsecret(ctx, payload);
	if (gfshare_rand_failed) {
		r = ANCHOR_E_CRYPTO;
		goto out;
	}
	linelen = sizeof(SHARE_MAGIC) + 3 * 4 + sizeof(idhex) + 1 + 2 * plen;
	for (i = 0; i < n; i++) {
		gfshare_ctx_enc_getshare(ctx, (unsigned char)i, share);
		if ((lines[i] = malloc(linelen)) == NULL) {
			r = ANCHOR_E_NOMEM;
			goto out;
		}
		hdr = snprintf(lines[i], linelen, "%s%u:%u:%zu:%s:", SHARE_MAGIC,
		    k, n, i + 1, idhex);
		if (hdr < 0 || (size_t)hdr + 2 * plen >= linelen) {
			r = ANCHOR_E_INTERNAL;
			goto out;
		}
		anchor_hex(share, plen, lines[i] + hdr);
	}
	*shares = lines;
	lines = NULL;
	r = ANCHOR_OK;
 out:
	if (ctx != NULL)
		gfshare_ctx_free(ctx);
	if (lines != NULL) {
		for (i = 0; i < n; i++) {
			if (lines[i] != NULL) {
				OPENSSL_cleanse(lines[i], strlen(lines[i]));
				free(lines[i]);
			}
		}
		free(lines);
	}
	if (payload != NULL) {
		OPENSSL_cleanse(payload, plen);
		free(payload);
	}
	if (share != NULL) {
		OPENSSL_cleanse(share, plen);
		free(share);
	}
	return r;
}

int
anchor_pin_join(const char *const *lines, size_t n_lines, char **secret,
    size_t *len)
{
	int r = ANCHOR_E_INTERNAL;
	struct share *sh = NULL;
	gfshare_ctx *ctx = NULL;
	unsigned char nrs[SHARE_MAX_N];
	uint8_t *payload = NULL, tag[SHARE_TAG_LEN];
	size_t plen = 0, i, j;

	if (secret != NULL)
		*secret = NULL;
	if (len != NULL)
		*len = 0;
	/* More than 255 shares cannot all be distinct. */
	if (lines == NULL || secret == NULL || len == NULL || n_lines == 0 ||
	    n_lines > SHARE_MAX_N) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	if ((sh = calloc(n_lines, sizeof(*sh))) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	for (i = 0; i < n_lines; i++) {
		if (!parse_share(lines[i], &sh[i]) ||
		    (i > 0 && !same_split(&sh[0], &sh[i]))) {
			r = ANCHOR_E_INVAL;
			goto out;
		}
		for (j = 0; j < i; j++) {
			if (sh[j].index == sh[i].index) {
				r = ANCHOR_E_INVAL;
				goto out;
			}
		}
		nrs[i] = (unsigned char)sh[i].index;
	}
	if (n_lines < sh[0].k) {
		r = ANCHOR_E_INVAL;
		goto out;
	}
	plen = sh[0].len;
	if ((payload = malloc(plen)) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	gfshare_fill_rand = gfshare_rand;
	/* Every share takes part, so a bad one among more than k shows. */
	if ((ctx = gfshare_ctx_init_dec(nrs, (unsigned int)n_lines,
	    (unsigned int)plen)) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	for (i = 0; i < n_lines; i++)
		gfshare_ctx_dec_giveshare(ctx, (unsigned char)i, sh[i].data);
	gfshare_ctx_dec_extract(ctx, payload);
	if ((r = sha256_tag(payload, plen - SHARE_TAG_LEN, tag)) != ANCHOR_OK)
		goto out;
	if (CRYPTO_memcmp(tag, payload + plen - SHARE_TAG_LEN,
	    SHARE_TAG_LEN) != 0) {
		r = ANCHOR_E_TAMPERED;
		goto out;
	}
	r = pin_dup((const char *)payload, plen - SHARE_TAG_LEN, secret, len);
 out:
	if (ctx != NULL)
		gfshare_ctx_free(ctx);
	if (sh != NULL) {
		OPENSSL_cleanse(sh, n_lines * sizeof(*sh));
		free(sh);
	}
	if (payload != NULL) {
		OPENSSL_cleanse(payload, plen);
		free(payload);
	}
	OPENSSL_cleanse(tag, sizeof(tag));
	return r;
}

static int
read_shares(FILE *fp, char **pin, size_t *len, char *err, size_t errlen)
{
	int r = ANCHOR_E_INTERNAL;
	struct input in;
	struct share *cur = NULL, *first = NULL;
	char *lines[SHARE_MAX_N] = { NULL };
	unsigned seen[SHARE_MAX_N];
	char buf[SHARE_LINE_MAX + 1], prompt[64];
	size_t have = 0, lineno = 0, n = 0, i;
	bool opened = false;

	if ((cur = malloc(sizeof(*cur))) == NULL ||
	    (first = malloc(sizeof(*first))) == NULL) {
		r = ANCHOR_E_NOMEM;
		goto out;
	}
	if ((r = input_open(&in, fp, err, errlen)) != ANCHOR_OK)
		goto out;
	opened = true;
	for (;;) {
		if (have == 0)
			snprintf(prompt, sizeof(prompt), "PIN share 1: ");
		else
			snprintf(prompt, sizeof(prompt), "PIN share %zu of %u: ",
			    have + 1, first->k);
		r = input_line(&in, prompt, buf, sizeof(buf), &n, err, errlen);
		lineno++;
		if (r == 1) {
			if (have == 0)
				seterr(err, errlen, "no PIN share given");
			else
				seterr(err, errlen, "input ended after %zu of "
				    "%u PIN shares", have, first->k);
			r = ANCHOR_E_PIN_SOURCE;
			goto out;
		}
		if (r != ANCHOR_OK)
			goto out;
		for (i = 0; i < n && is_space(buf[i]); i++)
			;
		if (i == n)
			continue;	/* blank lines between shares */
		if (!parse_share(buf, cur)) {
			seterr(err, errlen, "line %zu is not a PIN share", lineno);
			r = ANCHOR_E_PIN_SOURCE;
			goto out;
		}
		if (have == 0)
			memcpy(first, cur, sizeof(*cur));
		else if (!same_split(first, cur)) {
			seterr(err, errlen, "line %zu: share %u is from another "
			    "split (%u of %u, check %s) than the first (%u of "
			    "%u, check %s)", lineno, cur->index, cur->k, cur->n,
			    cur->id, first->k, first->n, first->id);
			r = ANCHOR_E_PIN_SOURCE;
			goto out;
		}
		for (i = 0; i < have; i++) {
			if (seen[i] == cur->index) {
				seterr(err, errlen, "line %zu: share %u was "
				    "already given", lineno, cur->index);
				r = ANCHOR_E_PIN_SOURCE;
				goto out;
			}
		}
		if ((lines[have] = strdup(buf)) == NULL) {
			r = ANCHOR_E_NOMEM;
			goto out;
		}
		seen[have++] = cur->index;
		if (have == first->k)
			break;
	}
	r = anchor_pin_join((const char *const *)lines, have, pin, len);
	if (r == ANCHOR_E_TAMPERED)
		seterr(err, errlen, "the %zu shares do not rebuild the PIN: one "
		    "of them is wrong or damaged", have);
	else if (r != ANCHOR_OK && r != ANCHOR_E_NOMEM)
		seterr(err, errlen, "the shares cannot be combined");
	if (r != ANCHOR_OK && r != ANCHOR_E_NOMEM)
		r = ANCHOR_E_PIN_SOURCE;
 out:
	if (opened)
		input_close(&in);
	for (i = 0; i < have; i++) {
		OPENSSL_cleanse(lines[i], strlen(lines[i]));
		free(lines[i]);
	}
	if (cur != NULL) {
		OPENSSL_cleanse(cur, sizeof(*cur));
		free(cur);
	}
	if (first != NULL) {
		OPENSSL_cleanse(first, sizeof(*first));
		free(first);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

int
anchor_pin_read(const char *source, FILE *in, char **pin, size_t *len,
    char *err, size_t errlen)
{
	if (pin != NULL)
		*pin = NULL;
	if (len != NULL)
		*len = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (source == NULL || pin == NULL || len == NULL) {
		seterr(err, errlen, "no PIN source");
		return ANCHOR_E_INVAL;
	}
	if (strncmp(source, "file:", 5) == 0)
		return read_pin_file(source + 5, pin, len, err, errlen);
	if (strcmp(source, "prompt") == 0)
		return read_prompt(in, pin, len, err, errlen);
	if (strcmp(source, "shares") == 0)
		return read_shares(in, pin, len, err, errlen);
	seterr(err, errlen, "unknown PIN source \"%.60s\": use file:PATH, "
	    "prompt or shares", source);
	return ANCHOR_E_PIN_SOURCE;
}
