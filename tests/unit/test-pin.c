#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "error.h"
#include "pin.h"

static char tmpdir[256];

static char *
tmp_path(const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", tmpdir, name) > 0);
	return p;
}

static char *
write_pin(const char *name, const void *data, size_t len, mode_t mode)
{
	char *path = tmp_path(name);
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static char *
source_of(const char *path)
{
	char *s;

	assert_true(asprintf(&s, "file:%s", path) > 0);
	return s;
}

static int
group_setup(void **state)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/anchor-pin-XXXXXX",
	    base && *base ? base : "/tmp");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int
group_teardown(void **state)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* Read source; returns the code, the PIN in *pin (or NULL). */
static int
read_source(const char *source, FILE *in, char **pin, size_t *len, char *err,
    size_t errlen)
{
	*pin = NULL;
	*len = 0;
	return anchor_pin_read(source, in, pin, len, err, errlen);
}

static void
expect_file_pin(const char *name, const char *content, size_t clen,
    const char *want)
{
	char *path = write_pin(name, content, clen, 0600);
	char *src = source_of(path), *pin, err[256] = "";
	size_t len;

	assert_int_equal(read_source(src, NULL, &pin, &len, err, sizeof(err)),
	    ANCHOR_OK);
	assert_non_null(pin);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(pin, want, len);
	assert_int_equal(pin[len], '\0');
	anchor_pin_free(pin, len);
	free(src);
	free(path);
}

static void
expect_file_refused(const char *path, const char *what)
{
	char *src = source_of(path), *pin, err[512] = "";
	size_t len;

	assert_int_equal(read_source(src, NULL, &pin, &len, err, sizeof(err)),
	    ANCHOR_E_PIN_SOURCE);
	assert_null(pin);
	assert_int_equal(len, 0);
	if (strstr(err, what) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", what, err);
	/* The message names the file and never holds the PIN. */
	assert_non_null(strstr(err, path));
	assert_null(strstr(err, "s3cret"));
	free(src);
}

/* ---- the file source ------------------------------------------------ */

static void
test_file_ok(void **state)
{
	expect_file_pin("pin-ok", "s3cret-PIN", 10, "s3cret-PIN");
	expect_file_pin("pin-space", " a b ", 5, " a b ");
}

static void
test_file_newline_stripped(void **state)
{
	expect_file_pin("pin-nl", "1234\n", 5, "1234");
	expect_file_pin("pin-crlf", "1234\r\n", 6, "1234");
	/* Only one line end goes; a PIN is taken as written otherwise. */
	expect_file_pin("pin-cr", "1234\r", 5, "1234\r");
}

static void
test_file_world_readable(void **state)
{
	char *path = write_pin("pin-644", "s3cret\n", 7, 0644);

	expect_file_refused(path, "mode 0644");
	free(path);
	path = write_pin("pin-604", "s3cret\n", 7, 0604);
	expect_file_refused(path, "mode 0604");
	free(path);
	path = write_pin("pin-602", "s3cret\n", 7, 0602);
	expect_file_refused(path, "mode 0602");
	free(path);
}

static void
test_file_group_readable(void **state)
{
	char *path = write_pin("pin-640", "s3cret\n", 7, 0640);

	expect_file_refused(path, "mode 0640");
	free(path);
	path = write_pin("pin-620", "s3cret\n", 7, 0620);
	expect_file_refused(path, "mode 0620");
	free(path);
}

static void
test_file_symlink(void **state)
{
	char *target = write_pin("pin-target", "s3cret\n", 7, 0600);
	char *link = tmp_path("pin-link");

	unlink(link);
	assert_int_equal(symlink(target, link), 0);
	expect_file_refused(link, "symbolic link");
	free(link);
	free(target);
}

static void
test_file_missing(void **state)
{
	char *path = tmp_path("no-such-pin");

	expect_file_refused(path, "does not exist");
	free(path);
}

static void
test_file_not_regular(void **state)
{
	char *fifo = tmp_path("pin-fifo"), *dir = tmp_path("pin-dir");

	unlink(fifo);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	expect_file_refused(fifo, "not a regular file");
	assert_int_equal(mkdir(dir, 0700), 0);
	expect_file_refused(dir, "not a regular file");
	free(fifo);
	free(dir);
}

static void
test_file_other_owner(void **state)
{
	char *path;

	if (geteuid() != 0)
		skip();
	path = write_pin("pin-other", "s3cret\n", 7, 0600);
	assert_int_equal(chown(path, 1, (gid_t)-1), 0);
	expect_file_refused(path, "owned by uid 1");
	free(path);
}

static void
test_file_bad_content(void **state)
{
	char big[1100];
	char *path;

	path = write_pin("pin-empty", "", 0, 0600);
	expect_file_refused(path, "empty");
	free(path);
	path = write_pin("pin-only-nl", "\n", 1, 0600);
	expect_file_refused(path, "empty");
	free(path);
	path = write_pin("pin-two-lines", "s3cret\nmore\n", 12, 0600);
	expect_file_refused(path, "more than one line");
	free(path);
	path = write_pin("pin-nul", "s3c\0ret", 7, 0600);
	expect_file_refused(path, "NUL");
	free(path);
	memset(big, 'x', sizeof(big));
	path = write_pin("pin-big", big, sizeof(big), 0600);
	expect_file_refused(path, "longer than");
	free(path);
}

static void
test_unknown_source(void **state)
{
	char *pin, err[256] = "";
	size_t len;

	assert_int_equal(read_source("env:PIN", NULL, &pin, &len, err,
	    sizeof(err)), ANCHOR_E_PIN_SOURCE);
	assert_null(pin);
	assert_non_null(strstr(err, "unknown PIN source"));
	assert_int_equal(read_source(NULL, NULL, &pin, &len, err, sizeof(err)),
	    ANCHOR_E_INVAL);
	anchor_pin_free(NULL, 0);
}

/* ---- prompt and shares without a terminal --------------------------- */

/*
 * Run anchor_pin_read(source) on `input` in a child that has no
 * controlling terminal, so that it falls back to the stream.  Returns the
 * child's exit status: 0 when the result matched (code and PIN).
 */
static int
read_without_tty(const char *source, const char *input, int want_r,
    const char *want_pin)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		FILE *in;
		char *pin = NULL, err[512] = "";
		size_t len = 0;
		int r, ok;

		if (setsid() < 0)
			_exit(10);
		in = fmemopen((void *)input, strlen(input), "r");
		if (in == NULL)
			_exit(11);
		r = anchor_pin_read(source, in, &pin, &len, err, sizeof(err));
		ok = r == want_r;
		if (ok && want_pin != NULL)
			ok = pin != NULL && len == strlen(want_pin) &&
			    memcmp(pin, want_pin, len) == 0;
		if (ok && want_pin == NULL)
			ok = pin == NULL && err[0] != '\0';
		if (!ok)
			fprintf(stderr, "%s: r=%d err=%s\n", source, r, err);
		anchor_pin_free(pin, len);
		fclose(in);
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static void
test_prompt_without_tty(void **state)
{
	assert_int_equal(read_without_tty("prompt", "hunter2\n", ANCHOR_OK,
	    "hunter2"), 0);
	assert_int_equal(read_without_tty("prompt", "hunter2\r\nrest\n",
	    ANCHOR_OK, "hunter2"), 0);
	assert_int_equal(read_without_tty("prompt", "last-line", ANCHOR_OK,
	    "last-line"), 0);
	assert_int_equal(read_without_tty("prompt", "\n", ANCHOR_E_PIN_SOURCE,
	    NULL), 0);
	assert_int_equal(read_without_tty("prompt", "", ANCHOR_E_PIN_SOURCE,
	    NULL), 0);
}

static char *
join_lines(char **shares, const unsigned *pick, size_t n, const char *sep)
{
	size_t cap = 1, i;
	char *out;

	for (i = 0; i < n; i++)
		cap += strlen(shares[pick[i]]) + strlen(sep);
	out = calloc(1, cap);
	assert_non_null(out);
	for (i = 0; i < n; i++) {
		strcat(out, shares[pick[i]]);
		strcat(out, sep);
	}
	return out;
}

static void
free_shares(char **shares, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		free(shares[i]);
	free(shares);
}

static void
test_shares_without_tty(void **state)
{
	static const char pin[] = "correct horse";
	static const unsigned pick[] = { 4, 0, 2 }, two[] = { 1, 3 };
	char **sh, **other, *input, *bad;

	assert_int_equal(anchor_pin_split(pin, strlen(pin), 5, 3, &sh),
	    ANCHOR_OK);
	assert_int_equal(anchor_pin_split(pin, strlen(pin), 5, 3, &other),
	    ANCHOR_OK);

	/* Blank lines and surrounding space are fine; it stops at k. */
	input = join_lines(sh, pick, 3, "\n\n  ");
	assert_int_equal(read_without_tty("shares", input, ANCHOR_OK, pin), 0);
	free(input);

	/* Too few before the end of input. */
	input = join_lines(sh, two, 2, "\n");
	assert_int_equal(read_without_tty("shares", input, ANCHOR_E_PIN_SOURCE,
	    NULL), 0);
	free(input);

	/* The same share twice. */
	input = join_lines(sh, (const unsigned[]){ 1, 1, 2 }, 3, "\n");
	assert_int_equal(read_without_tty("shares", input, ANCHOR_E_PIN_SOURCE,
	    NULL), 0);
	free(input);

	/* A share of another split. */
	assert_true(asprintf(&input, "%s\n%s\n%s\n", other[0], sh[1],
	    sh[2]) > 0);
	assert_int_equal(read_without_tty("shares", input, ANCHOR_E_PIN_SOURCE,
	    NULL), 0);
	free(input);

	/* Not a share at all. */
	assert_int_equal(read_without_tty("shares", "1234\n",
	    ANCHOR_E_PIN_SOURCE, NULL), 0);

	/* A damaged share is found when the PIN is rebuilt. */
	input = join_lines(sh, pick, 3, "\n");
	bad = strrchr(input, ':') + 3;
	*bad = *bad == '0' ? '1' : '0';
	assert_int_equal(read_without_tty("shares", input, ANCHOR_E_PIN_SOURCE,
	    NULL), 0);
	free(input);

	free_shares(sh, 5);
	free_shares(other, 5);
}

/* ---- split and join --------------------------------------------------- */

static void
expect_join(char **shares, const unsigned *pick, size_t n, int want_r,
    const char *want, size_t want_len)
{
	const char *lines[255];
	char *secret = (char *)1;
	size_t len = 99, i;
	int r;

	for (i = 0; i < n; i++)
		lines[i] = shares[pick[i]];
	r = anchor_pin_join(lines, n, &secret, &len);
	assert_int_equal(r, want_r);
	if (want_r != ANCHOR_OK) {
		assert_null(secret);
		assert_int_equal(len, 0);
		return;
	}
	assert_int_equal(len, want_len);
	assert_memory_equal(secret, want, len);
	assert_int_equal(secret[len], '\0');
	anchor_pin_free(secret, len);
}

/* Every k-subset of n shares, in increasing order, rebuilds the secret. */
static void
all_subsets(char **shares, unsigned n, unsigned k, const char *secret,
    size_t len)
{
	unsigned pick[255], i, count = 0;

	for (i = 0; i < k; i++)
		pick[i] = i;
	for (;;) {
		expect_join(shares, pick, k, ANCHOR_OK, secret, len);
		count++;
		/* next combination */
		for (i = k; i-- > 0;)
			if (pick[i] < n - k + i)
				break;
		if (i == (unsigned)-1)
			break;
		pick[i]++;
		for (i++; i < k; i++)
			pick[i] = pick[i - 1] + 1;
	}
	assert_true(count > 0);
}

static void
check_format(char **shares, unsigned n, unsigned k, size_t len)
{
	char prefix[64], *check = NULL;
	unsigned i;
	size_t j, pl;

	for (i = 0; i < n; i++) {
		const char *p;

		pl = (size_t)snprintf(prefix, sizeof(prefix),
		    "anchor-pin-share:1:%u:%u:%u:", k, n, i + 1);
		assert_memory_equal(shares[i], prefix, pl);
		p = shares[i] + pl;
		for (j = 0; j < 8; j++)
			assert_non_null(strchr("0123456789abcdef", p[j]));
		assert_int_equal(p[8], ':');
		if (check == NULL)
			check = strndup(p, 8);
		else
			assert_memory_equal(check, p, 8);
		p += 9;
		/* the share of the secret and of 4 bytes of its SHA-256 */
		assert_int_equal(strlen(p), 2 * (len + 4));
		for (j = 0; p[j]; j++)
			assert_non_null(strchr("0123456789abcdef", p[j]));
	}
	free(check);
}

static void
roundtrip(const char *secret, size_t len, unsigned n, unsigned k,
    bool every_subset)
{
	char **shares = NULL;
	unsigned all[255], i;

	assert_int_equal(anchor_pin_split(secret, len, n, k, &shares),
	    ANCHOR_OK);
	assert_non_null(shares);
	check_format(shares, n, k, len);
	for (i = 0; i < n; i++)
		all[i] = i;
	if (every_subset)
		all_subsets(shares, n, k, secret, len);
	/* the first k, the last k, and all n */
	expect_join(shares, all, k, ANCHOR_OK, secret, len);
	expect_join(shares, all + (n - k), k, ANCHOR_OK, secret, len);
	expect_join(shares, all, n, ANCHOR_OK, secret, len);
	/* k - 1 shares are not enough */
	expect_join(shares, all, k - 1, ANCHOR_E_INVAL, NULL, 0);
	expect_join(shares, all + 1, k - 1, ANCHOR_E_INVAL, NULL, 0);
	free_shares(shares, n);
}

static void
test_split_join_roundtrip(void **state)
{
	static const char pin[] = "1234";
	static const unsigned char bin[] = { 0x00, 0xff, 0x10, 0x80, 0x7f };
	char longpin[1024];

	roundtrip(pin, 4, 2, 2, true);
	roundtrip(pin, 4, 3, 2, true);
	roundtrip(pin, 4, 5, 3, true);
	roundtrip(pin, 4, 5, 5, true);
	roundtrip(pin, 4, 6, 4, true);
	roundtrip("a", 1, 7, 2, true);
	roundtrip((const char *)bin, sizeof(bin), 4, 3, true);
	memset(longpin, 'Z', sizeof(longpin));
	longpin[0] = 'A';
	roundtrip(longpin, sizeof(longpin), 3, 2, true);
	roundtrip(pin, 4, 255, 3, false);
	roundtrip(pin, 4, 255, 255, false);
}

static void
test_split_2_of_3_every_pair(void **state)
{
	static const char pin[] = "87654321";
	static const unsigned pairs[][2] = {
		{ 0, 1 }, { 0, 2 }, { 1, 2 }, { 1, 0 }, { 2, 0 }, { 2, 1 },
	};
	char **shares;
	size_t i;

	assert_int_equal(anchor_pin_split(pin, 8, 3, 2, &shares), ANCHOR_OK);
	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		expect_join(shares, pairs[i], 2, ANCHOR_OK, pin, 8);
	for (i = 0; i < 3; i++)
		expect_join(shares, (const unsigned[]){ (unsigned)i }, 1,
		    ANCHOR_E_INVAL, NULL, 0);
	free_shares(shares, 3);
}

static void
test_split_5_of_5(void **state)
{
	static const char pin[] = "five-of-five";
	static const unsigned order[] = { 3, 1, 4, 0, 2 };
	char **shares;
	unsigned skip, i, four[4];
	size_t n;

	assert_int_equal(anchor_pin_split(pin, strlen(pin), 5, 5, &shares),
	    ANCHOR_OK);
	expect_join(shares, order, 5, ANCHOR_OK, pin, strlen(pin));
	/* each set of four is refused */
	for (skip = 0; skip < 5; skip++) {
		for (i = 0, n = 0; i < 5; i++)
			if (i != skip)
				four[n++] = i;
		expect_join(shares, four, 4, ANCHOR_E_INVAL, NULL, 0);
	}
	free_shares(shares, 5);
}

static void
test_split_is_random(void **state)
{
	char **a, **b;
	unsigned i;

	assert_int_equal(anchor_pin_split("1234", 4, 3, 2, &a), ANCHOR_OK);
	assert_int_equal(anchor_pin_split("1234", 4, 3, 2, &b), ANCHOR_OK);
	for (i = 0; i < 3; i++) {
		assert_string_not_equal(a[i], b[i]);
		/* a share does not carry the PIN in clear */
		assert_null(strstr(a[i], "31323334"));
	}
	free_shares(a, 3);
	free_shares(b, 3);
}

static void
test_split_bad_arguments(void **state)
{
	char **shares = (char **)1;
	char big[1025];

	memset(big, 'x', sizeof(big));
	assert_int_equal(anchor_pin_split("1234", 4, 3, 1, &shares),
	    ANCHOR_E_INVAL);
	assert_null(shares);
	assert_int_equal(anchor_pin_split("1234", 4, 2, 3, &shares),
	    ANCHOR_E_INVAL);
	assert_int_equal(anchor_pin_split("1234", 4, 256, 2, &shares),
	    ANCHOR_E_INVAL);
	assert_int_equal(anchor_pin_split("1234", 0, 3, 2, &shares),
	    ANCHOR_E_INVAL);
	assert_int_equal(anchor_pin_split(NULL, 4, 3, 2, &shares),
	    ANCHOR_E_INVAL);
	assert_int_equal(anchor_pin_split(big, sizeof(big), 3, 2, &shares),
	    ANCHOR_E_INVAL);
	assert_null(shares);
}

static void
test_join_other_split(void **state)
{
	char **a, **b, **c;
	const char *lines[3];
	char *secret;
	size_t len;

	assert_int_equal(anchor_pin_split("1234", 4, 5, 3, &a), ANCHOR_OK);
	assert_int_equal(anchor_pin_split("1234", 4, 5, 3, &b), ANCHOR_OK);
	assert_int_equal(anchor_pin_split("1234", 4, 5, 2, &c), ANCHOR_OK);

	/* same PIN, same k and n, other split */
	lines[0] = a[0];
	lines[1] = a[1];
	lines[2] = b[2];
	assert_int_equal(anchor_pin_join(lines, 3, &secret, &len),
	    ANCHOR_E_INVAL);
	assert_null(secret);
	/* other k */
	lines[2] = c[2];
	assert_int_equal(anchor_pin_join(lines, 3, &secret, &len),
	    ANCHOR_E_INVAL);
	/* a split of another PIN */
	free_shares(b, 5);
	assert_int_equal(anchor_pin_split("9999", 4, 5, 3, &b), ANCHOR_OK);
	lines[2] = b[2];
	assert_int_equal(anchor_pin_join(lines, 3, &secret, &len),
	    ANCHOR_E_INVAL);
	assert_null(secret);
	free_shares(a, 5);
	free_shares(b, 5);
	free_shares(c, 5);
}

/* Change hex digit `pos` (counted from the end) of line. */
static void
flip(char *line, size_t pos)
{
	char *p = line + strlen(line) - 1 - pos;

	*p = *p == 'f' ? '0' : (*p == '9' ? 'a' : (char)(*p + 1));
}

static void
test_join_tampered(void **state)
{
	static const char pin[] = "tamper-proof";
	static const unsigned pick[] = { 0, 2, 4 };
	size_t plen = strlen(pin) + 4, pos;
	char **shares, *copy;
	unsigned i;

	assert_int_equal(anchor_pin_split(pin, strlen(pin), 5, 3, &shares),
	    ANCHOR_OK);
	/* any changed digit of any chosen share, PIN part or check part */
	for (i = 0; i < 3; i++) {
		for (pos = 0; pos < 2 * plen; pos++) {
			copy = strdup(shares[pick[i]]);
			assert_non_null(copy);
			flip(shares[pick[i]], pos);
			expect_join(shares, pick, 3, ANCHOR_E_TAMPERED, NULL, 0);
			/* with every share given, too */
			expect_join(shares, (const unsigned[]){ 0, 1, 2, 3, 4 },
			    5, ANCHOR_E_TAMPERED, NULL, 0);
			free(shares[pick[i]]);
			shares[pick[i]] = copy;
		}
	}
	/* a share presented under another index */
	copy = shares[0];
	assert_true(asprintf(&shares[0], "%.*s2%s", 23, copy, copy + 24) > 0);
	assert_memory_equal(shares[0], "anchor-pin-share:1:3:5:2:", 25);
	expect_join(shares, (const unsigned[]){ 0, 3, 4 }, 3, ANCHOR_E_TAMPERED,
	    NULL, 0);
	free(shares[0]);
	shares[0] = copy;
	expect_join(shares, pick, 3, ANCHOR_OK, pin, strlen(pin));
	free_shares(shares, 5);
}

static void
test_join_duplicates(void **state)
{
	char **shares, *copy;

	assert_int_equal(anchor_pin_split("1234", 4, 5, 3, &shares),
	    ANCHOR_OK);
	/* the same line twice, with and without a third share */
	expect_join(shares, (const unsigned[]){ 0, 0, 1 }, 3, ANCHOR_E_INVAL,
	    NULL, 0);
	expect_join(shares, (const unsigned[]){ 2, 3, 2, 4 }, 4,
	    ANCHOR_E_INVAL, NULL, 0);
	expect_join(shares, (const unsigned[]){ 1, 1, 1 }, 3, ANCHOR_E_INVAL,
	    NULL, 0);
	/* one index with different data */
	copy = strdup(shares[1]);
	assert_non_null(copy);
	flip(shares[1], 0);
	{
		const char *lines[] = { shares[0], copy, shares[1] };
		char *secret;
		size_t len;

		assert_int_equal(anchor_pin_join(lines, 3, &secret, &len),
		    ANCHOR_E_INVAL);
		assert_null(secret);
	}
	free(copy);
	free_shares(shares, 5);
}

static void
test_join_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"1234",
		"anchor-pin-share:2:2:3:1:0011aabb:00112233445566778899",
		"anchor-pin-share:1:1:3:1:0011aabb:00112233445566778899",
		"anchor-pin-share:1:4:3:1:0011aabb:00112233445566778899",
		"anchor-pin-share:1:2:3:0:0011aabb:00112233445566778899",
		"anchor-pin-share:1:2:3:4:0011aabb:00112233445566778899",
		"anchor-pin-share:1:2:256:1:0011aabb:00112233445566778899",
		"anchor-pin-share:1:02:3:1:0011aabb:00112233445566778899",
		"anchor-pin-share:1:+2:3:1:0011aabb:00112233445566778899",
		"anchor-pin-share:1:2:3:1:0011aab:00112233445566778899",
		"anchor-pin-share:1:2:3:1:0011aabbc:00112233445566778899",
		"anchor-pin-share:1:2:3:1:0011aaxb:00112233445566778899",
		"anchor-pin-share:1:2:3:1:0011aabb:0011223344556677889",
		"anchor-pin-share:1:2:3:1:0011aabb:00112233445566778g99",
		"anchor-pin-share:1:2:3:1:0011aabb:00112233",
		"anchor-pin-share:1:2:3:1:0011aabb:",
		"anchor-pin-share:1:2:3:1:0011aabb",
		"anchor-pin-share:1:2:3:0011aabb:00112233445566778899",
		"anchor-pin-share:1:2:3:1:0011aabb:0011223344:5566778899",
		"anchor-pin-share:1:2:3:1:0011aabb:00112233 445566778899",
		"ANCHOR-PIN-SHARE:1:2:3:1:0011aabb:00112233445566778899",
	};
	static const char good2[] =
	    "anchor-pin-share:1:2:3:2:0011aabb:00112233445566778899";
	const char *lines[2];
	char *secret;
	size_t len, i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		lines[0] = bad[i];
		lines[1] = good2;
		secret = (char *)1;
		if (anchor_pin_join(lines, 2, &secret, &len) != ANCHOR_E_INVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_null(secret);
	}
	assert_int_equal(anchor_pin_join(NULL, 0, &secret, &len),
	    ANCHOR_E_INVAL);
	assert_int_equal(anchor_pin_join(lines, 0, &secret, &len),
	    ANCHOR_E_INVAL);
}

/* Lines as a terminal or a file would give them. */
static void
test_join_line_ends(void **state)
{
	char **shares, *a, *b;
	const char *lines[2];
	char *secret;
	size_t len;

	assert_int_equal(anchor_pin_split("1234", 4, 3, 2, &shares),
	    ANCHOR_OK);
	assert_true(asprintf(&a, "  %s\r\n", shares[0]) > 0);
	assert_true(asprintf(&b, "%s\n", shares[2]) > 0);
	lines[0] = a;
	lines[1] = b;
	assert_int_equal(anchor_pin_join(lines, 2, &secret, &len), ANCHOR_OK);
	assert_int_equal(len, 4);
	assert_string_equal(secret, "1234");
	anchor_pin_free(secret, len);
	free(a);
	free(b);
	free_shares(shares, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_ok),
		cmocka_unit_test(test_file_newline_stripped),
		cmocka_unit_test(test_file_world_readable),
		cmocka_unit_test(test_file_group_readable),
		cmocka_unit_test(test_file_symlink),
		cmocka_unit_test(test_file_missing),
		cmocka_unit_test(test_file_not_regular),
		cmocka_unit_test(test_file_other_owner),
		cmocka_unit_test(test_file_bad_content),
		cmocka_unit_test(test_unknown_source),
		cmocka_unit_test(test_prompt_without_tty),
		cmocka_unit_test(test_shares_without_tty),
		cmocka_unit_test(test_split_join_roundtrip),
		cmocka_unit_test(test_split_2_of_3_every_pair),
		cmocka_unit_test(test_split_5_of_5),
		cmocka_unit_test(test_split_is_random),
		cmocka_unit_test(test_split_bad_arguments),
		cmocka_unit_test(test_join_other_split),
		cmocka_unit_test(test_join_tampered),
		cmocka_unit_test(test_join_duplicates),
		cmocka_unit_test(test_join_malformed),
		cmocka_unit_test(test_join_line_ends),
	};

	return cmocka_run_group_tests_name("pin", tests, group_setup,
	    group_teardown);
}
