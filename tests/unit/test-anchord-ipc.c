/*
 * anchord's socketpair messages: framing, caps, direction, field bounds.
 */
#include "config.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "error.h"
#include "ipc.h"
#include "keyuri.h"

static int sv[2];

static int
setup(void **state)
{
	(void)state;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -1;
	(void)fcntl(sv[1], F_SETFL, O_NONBLOCK);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	close(sv[0]);
	close(sv[1]);
	return 0;
}

static void
raw_header(int fd, uint32_t type, uint32_t len)
{
	uint8_t h[8] = {
		(uint8_t)(type >> 24), (uint8_t)(type >> 16),
		(uint8_t)(type >> 8), (uint8_t)type,
		(uint8_t)(len >> 24), (uint8_t)(len >> 16),
		(uint8_t)(len >> 8), (uint8_t)len
	};

	assert_int_equal(write(fd, h, sizeof(h)), (ssize_t)sizeof(h));
}

static void
test_roundtrip(void **state)
{
	struct anchord_buf b = { 0 };
	struct anchord_ipc_in in;
	struct anchord_reader rd;
	const uint8_t *p, *bytes;
	uint32_t type, u32;
	uint64_t u64;
	size_t len, blen;
	char *s;
	bool eof;

	(void)state;
	anchord_buf_put_u32(&b, 0xdeadbeef);
	anchord_buf_put_u64(&b, 0x0102030405060708ull);
	anchord_buf_put_bytes(&b, "abc", 3);
	anchord_buf_put_str(&b, "hello");
	assert_false(b.bad);
	assert_int_equal(anchord_ipc_send(sv[0], IPC_CONTENT, &b, 1000),
	    ANCHOR_OK);
	anchord_buf_clear(&b);

	anchord_ipc_in_init(&in, IPC_SIDE_NETWORK);
	assert_int_equal(anchord_ipc_read(&in, sv[1], &eof), ANCHOR_OK);
	assert_true(anchord_ipc_next(&in, &type, &p, &len));
	assert_int_equal(type, IPC_CONTENT);
	anchord_reader_init(&rd, p, len);
	assert_true(anchord_get_u32(&rd, &u32));
	assert_int_equal(u32, 0xdeadbeef);
	assert_true(anchord_get_u64(&rd, &u64));
	assert_true(u64 == 0x0102030405060708ull);
	assert_true(anchord_get_bytes(&rd, &bytes, &blen, 16));
	assert_int_equal(blen, 3);
	assert_memory_equal(bytes, "abc", 3);
	assert_false(anchord_reader_done(&rd));
	assert_true(anchord_get_str(&rd, &s, 16));
	assert_string_equal(s, "hello");
	free(s);
	assert_true(anchord_reader_done(&rd));
	anchord_ipc_done(&in);
	/* Nothing more: would block, no message. */
	assert_int_equal(anchord_ipc_read(&in, sv[1], &eof), ANCHOR_OK);
	assert_false(anchord_ipc_next(&in, &type, &p, &len));
	anchord_ipc_in_clear(&in);
}

static void
test_empty_and_two_messages(void **state)
{
	struct anchord_ipc_in in;
	const uint8_t *p;
	uint32_t type;
	size_t len;
	bool eof;

	(void)state;
	assert_int_equal(anchord_ipc_send(sv[0], IPC_RELOAD, NULL, 1000),
	    ANCHOR_OK);
	assert_int_equal(anchord_ipc_send(sv[0], IPC_SHUTDOWN, NULL, 1000),
	    ANCHOR_OK);
	anchord_ipc_in_init(&in, IPC_SIDE_SIGNER);
	assert_int_equal(anchord_ipc_read(&in, sv[1], &eof), ANCHOR_OK);
	assert_true(anchord_ipc_next(&in, &type, &p, &len));
	assert_int_equal(type, IPC_RELOAD);
	assert_int_equal(len, 0);
	anchord_ipc_done(&in);
	assert_int_equal(anchord_ipc_read(&in, sv[1], &eof), ANCHOR_OK);
	assert_true(anchord_ipc_next(&in, &type, &p, &len));
	assert_int_equal(type, IPC_SHUTDOWN);
	anchord_ipc_done(&in);
	anchord_ipc_in_clear(&in);
}

static void
test_wrong_direction(void **state)
{
	struct anchord_ipc_in in;
	bool eof;

	(void)state;
	/* The network process never accepts a request meant for the signer. */
	raw_header(sv[0], IPC_SVID_REQUEST, 0);
	anchord_ipc_in_init(&in, IPC_SIDE_NETWORK);
	assert_int_equal(anchord_ipc_read(&in, sv[1], &eof), ANCHOR_E_INVAL);
	anchord_ipc_in_clear(&in);
	assert_false(anchord_ipc_type_ok(IPC_SIDE_SIGNER, IPC_CONTENT));
	assert_false(anchord_ipc_type_ok(IPC_SIDE_SIGNER, 99));
	assert_true(anchord_ipc_type_ok(IPC_SIDE_SIGNER, IPC_SVID_REQUEST));
}

static void
test_over_cap(void **state)
{
	struct anchord_ipc_in in;
	bool eof;

	(void)state;
	raw_header(sv[0], IPC_CONTENT, ANCHORD_IPC_MAX + 1);
	anchord_ipc_in_init(&in, IPC_SIDE_NETWORK);
	assert_int_equal(anchord_ipc_read(&in, sv[1], &eof), ANCHOR_E_INVAL);
	anchord_ipc_in_clear(&in);
}

static void
test_partial_then_eof(void **state)
{
	struct anchord_ipc_in in;
	const uint8_t *p;
	uint32_t type;
	size_t len;
	bool eof;

	(void)state;
	raw_header(sv[0], IPC_STATUS, 10);
	assert_int_equal(write(sv[0], "12345", 5), 5);
	anchord_ipc_in_init(&in, IPC_SIDE_NETWORK);
	assert_int_equal(anchord_ipc_read(&in, sv[1], &eof), ANCHOR_OK);
	assert_false(anchord_ipc_next(&in, &type, &p, &len));
	shutdown(sv[0], SHUT_WR);
	assert_int_equal(anchord_ipc_read(&in, sv[1], &eof), ANCHOR_E_IO);
	assert_true(eof);
	anchord_ipc_in_clear(&in);
}

static void
test_reader_bounds(void **state)
{
	static const uint8_t len_too_big[] = { 0, 0, 0, 9, 'a', 'b' };
	static const uint8_t str_nul[] = { 0, 0, 0, 2, 'a', 0 };
	struct anchord_reader rd;
	const uint8_t *p;
	size_t len;
	uint32_t v;
	char *s;

	(void)state;
	anchord_reader_init(&rd, len_too_big, sizeof(len_too_big));
	assert_false(anchord_get_bytes(&rd, &p, &len, 100));
	assert_false(anchord_get_u32(&rd, &v));	/* stays failed */
	assert_false(anchord_reader_done(&rd));

	anchord_reader_init(&rd, len_too_big, sizeof(len_too_big));
	assert_false(anchord_get_bytes(&rd, &p, &len, 1));	/* over max */

	anchord_reader_init(&rd, str_nul, sizeof(str_nul));
	assert_false(anchord_get_str(&rd, &s, 16));
	assert_null(s);

	anchord_reader_init(&rd, str_nul, 3);
	assert_false(anchord_get_u32(&rd, &v));
}

static void
test_buf_cap(void **state)
{
	struct anchord_buf b = { 0 };
	static uint8_t big[4096];

	(void)state;
	while (!b.bad && b.len < ANCHORD_IPC_MAX)
		anchord_buf_put_bytes(&b, big, sizeof(big));
	assert_true(b.bad);
	assert_int_equal(anchord_ipc_send(sv[0], IPC_CONTENT, &b, 100),
	    ANCHOR_E_INVAL);
	anchord_buf_clear(&b);
	anchord_buf_clear(NULL);
	anchord_ipc_in_clear(NULL);
}

/* The TLS signing messages go one way each. */
static void
test_tls_sign_direction(void **state)
{
	(void)state;
	assert_true(anchord_ipc_type_ok(IPC_SIDE_SIGNER, IPC_TLS_SIGN));
	assert_false(anchord_ipc_type_ok(IPC_SIDE_NETWORK, IPC_TLS_SIGN));
	assert_true(anchord_ipc_type_ok(IPC_SIDE_NETWORK, IPC_TLS_SIGNATURE));
	assert_false(anchord_ipc_type_ok(IPC_SIDE_SIGNER, IPC_TLS_SIGNATURE));
	assert_true(anchord_ipc_type_ok(IPC_SIDE_NETWORK, IPC_TLS_TOKEN_CREDS));
	assert_false(anchord_ipc_type_ok(IPC_SIDE_SIGNER, IPC_TLS_TOKEN_CREDS));
	assert_string_equal(anchord_ipc_type_name(IPC_TLS_SIGN), "tls-sign");
}

static void
test_key_uri(void **state)
{
	static const uint8_t id[] = { 0x7f, 0x00, 0x01 };
	struct anchord_key_uri u;
	char err[256];

	(void)state;
	assert_int_equal(anchord_key_uri_parse(
	    "pkcs11:token=my%20token;object=tls;id=%7f%00%01;type=private",
	    &u, err, sizeof(err)), ANCHOR_OK);
	assert_string_equal(u.token, "my token");
	assert_string_equal(u.object, "tls");
	assert_null(u.serial);
	assert_true(u.has_id);
	assert_int_equal(u.id_len, sizeof(id));
	assert_memory_equal(u.id, id, sizeof(id));
	anchord_key_uri_clear(&u);

	assert_int_equal(anchord_key_uri_parse("pkcs11:serial=42;id=%01",
	    &u, err, sizeof(err)), ANCHOR_OK);
	assert_string_equal(u.serial, "42");
	assert_null(u.object);
	anchord_key_uri_clear(&u);

	/* Refused: no key named, a query, unknown or repeated attributes,
	 * bad escapes, another object type, a NUL in a label. */
	static const char *const bad[] = {
		"pkcs11:token=t",
		"pkcs11:object=tls?pin-value=1234",
		"pkcs11:object=tls?module-path=/x.so",
		"pkcs11:object=tls;slot-id=1",
		"pkcs11:object=tls;model=x",
		"pkcs11:object=a;object=b",
		"pkcs11:object=tls;id=%7",
		"pkcs11:object=tls;id=%zz",
		"pkcs11:object=tls;type=cert",
		"pkcs11:object=a%00b",
		"pkcs11:object",
		"file:/etc/key.pem",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(anchord_key_uri_parse(bad[i], &u, err,
		    sizeof(err)), ANCHOR_E_CONFIG);
		assert_true(err[0] != '\0');
		assert_null(strstr(err, "1234"));
		anchord_key_uri_clear(&u);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_two_messages,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_direction, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_over_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_then_eof, setup,
		    teardown),
		cmocka_unit_test(test_reader_bounds),
		cmocka_unit_test(test_tls_sign_direction),
		cmocka_unit_test(test_key_uri),
		cmocka_unit_test_setup_teardown(test_buf_cap, setup, teardown),
	};

	return cmocka_run_group_tests_name("anchord-ipc", tests, NULL, NULL);
}
