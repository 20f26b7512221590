/*
 * anchord's socketpair messages: framing and payload fields.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "ipc.h"

bool
anchord_ipc_type_ok(enum anchord_ipc_side side, uint32_t type)
{
	switch (type) {
	case IPC_CONTENT:
	case IPC_STATUS:
	case IPC_TLS_CREDS:
	case IPC_SVID:
	case IPC_SVID_FAIL:
	case IPC_CONFIG:
	case IPC_TLS_TOKEN_CREDS:
	case IPC_TLS_SIGNATURE:
		return side == IPC_SIDE_NETWORK;
	case IPC_PEER_STATUS:
		return side == IPC_SIDE_NETWORK_FETCHER;
	case IPC_RELOAD:
	case IPC_SHUTDOWN:
		return side == IPC_SIDE_SIGNER || side == IPC_SIDE_FETCHER;
	case IPC_SVID_REQUEST:
	case IPC_TLS_SIGN:
		return side == IPC_SIDE_SIGNER;
	default:
		return false;
	}
}

const char *
anchord_ipc_type_name(uint32_t type)
{
	switch (type) {
	case IPC_CONTENT:
		return "content";
	case IPC_STATUS:
		return "status";
	case IPC_TLS_CREDS:
		return "tls-creds";
	case IPC_SVID:
		return "svid";
	case IPC_SVID_FAIL:
		return "svid-fail";
	case IPC_CONFIG:
		return "config";
	case IPC_RELOAD:
		return "reload";
	case IPC_SVID_REQUEST:
		return "svid-request";
	case IPC_SHUTDOWN:
		return "shutdown";
	case IPC_TLS_TOKEN_CREDS:
		return "tls-token-creds";
	case IPC_TLS_SIGNATURE:
		return "tls-signature";
	case IPC_TLS_SIGN:
		return "tls-sign";
	case IPC_PEER_STATUS:
		return "peer-status";
	default:
		return "unknown";
	}
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
buf_append(struct anchord_buf *b, const void *p, size_t len)
{
	size_t ncap;
	uint8_t *n;

	if (b->bad)
		return;
	if (len > ANCHORD_IPC_MAX || b->len + len > ANCHORD_IPC_MAX) {
		b->bad = true;
		return;
	}
	if (b->len + len > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + len)
			ncap *= 2;
		if ((n = malloc(ncap)) == NULL) {
			b->bad = true;
			return;
		}
		if (b->len > 0)
			memcpy(n, b->data, b->len);
		/* The old copy may hold a TLS key: wipe before freeing. */
		if (b->data != NULL)
			explicit_bzero(b->data, b->cap);
		free(b->data);
		b->data = n;
		b->cap = ncap;
	}
	if (len > 0)
		memcpy(b->data + b->len, p, len);
	b->len += len;
}

void
anchord_buf_put_u32(struct anchord_buf *b, uint32_t v)
{
	uint8_t be[4];

	put_be32(be, v);
	buf_append(b, be, sizeof(be));
}

void
anchord_buf_put_u64(struct anchord_buf *b, uint64_t v)
{
	anchord_buf_put_u32(b, (uint32_t)(v >> 32));
	anchord_buf_put_u32(b, (uint32_t)v);
}

void
anchord_buf_put_bytes(struct anchord_buf *b, const void *p, size_t len)
{
	if (len > UINT32_MAX) {
		b->bad = true;
		return;
	}
	anchord_buf_put_u32(b, (uint32_t)len);
	buf_append(b, p, len);
}

void
anchord_buf_put_str(struct anchord_buf *b, const char *s)
{
	if (s == NULL)
		s = "";
	anchord_buf_put_bytes(b, s, strlen(s));
}

void
anchord_buf_clear(struct anchord_buf *b)
{
	if (b == NULL)
		return;
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void
anchord_reader_init(struct anchord_reader *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->left = len;
	r->bad = false;
}

bool
anchord_get_u32(struct anchord_reader *r, uint32_t *v)
{
	if (r->bad || r->left < 4) {
		r->bad = true;
		return false;
	}
	*v = get_be32(r->p);
	r->p += 4;
	r->left -= 4;
	return true;
}

bool
anchord_get_u64(struct anchord_reader *r, uint64_t *v)
{
	uint32_t hi, lo;

	if (!anchord_get_u32(r, &hi) || !anchord_get_u32(r, &lo))
		return false;
	*v = (uint64_t)hi << 32 | lo;
	return true;
}

bool
anchord_get_i64(struct anchord_reader *r, int64_t *v)
{
	uint64_t u;

	if (!anchord_get_u64(r, &u))
		return false;
	*v = (int64_t)u;
	return true;
}

bool
anchord_get_bytes(struct anchord_reader *r, const uint8_t **p, size_t *len,
    size_t max)
{
	uint32_t n;

	if (!anchord_get_u32(r, &n))
		return false;
	if (n > max || n > r->left) {
		r->bad = true;
		return false;
	}
	*p = r->p;
	*len = n;
	r->p += n;
	r->left -= n;
	return true;
}

bool
anchord_get_str(struct anchord_reader *r, char **s, size_t max)
{
	const uint8_t *p;
	size_t len;
	char *c;

	*s = NULL;
	if (!anchord_get_bytes(r, &p, &len, max))
		return false;
	if (memchr(p, '\0', len) != NULL || (c = malloc(len + 1)) == NULL) {
		r->bad = true;
		return false;
	}
	memcpy(c, p, len);
	c[len] = '\0';
	*s = c;
	return true;
}

bool
anchord_reader_done(const struct anchord_reader *r)
{
	return !r->bad && r->left == 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Write all of p, polling while the socket is full, until deadline. */
static int
write_all(int fd, const uint8_t *p, size_t len, int64_t deadline)
{
	struct pollfd pfd;
	ssize_t n;
	int64_t left;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return ANCHOR_E_IO;
		if ((left = deadline - now_ms()) <= 0)
			return ANCHOR_E_IO;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)(left > 1000 ? 1000 : left)) < 0 &&
		    errno != EINTR)
			return ANCHOR_E_IO;
	}
	return ANCHOR_OK;
}

int
anchord_ipc_send(int fd, uint32_t type, const struct anchord_buf *payload,
    int timeout_ms)
{
	uint8_t hdr[ANCHORD_IPC_HDR];
	size_t len = payload != NULL ? payload->len : 0;
	int64_t deadline = now_ms() + timeout_ms;
	int r;

	if ((payload != NULL && payload->bad) || len > ANCHORD_IPC_MAX)
		return ANCHOR_E_INVAL;
	put_be32(hdr, type);
	put_be32(hdr + 4, (uint32_t)len);
	if ((r = write_all(fd, hdr, sizeof(hdr), deadline)) != ANCHOR_OK)
		return r;
	if (len > 0)
		r = write_all(fd, payload->data, len, deadline);
	return r;
}

void
anchord_ipc_in_init(struct anchord_ipc_in *in, enum anchord_ipc_side side)
{
	memset(in, 0, sizeof(*in));
	in->side = side;
}

void
anchord_ipc_in_clear(struct anchord_ipc_in *in)
{
	if (in == NULL)
		return;
	if (in->payload != NULL)
		explicit_bzero(in->payload, in->len);
	free(in->payload);
	in->payload = NULL;
	in->hdr_have = 0;
	in->have = 0;
	in->type = 0;
	in->len = 0;
	in->complete = false;
}

int
anchord_ipc_read(struct anchord_ipc_in *in, int fd, bool *eof)
{
	ssize_t n;

	*eof = false;
	while (!in->complete) {
		if (in->hdr_have < ANCHORD_IPC_HDR) {
			n = recv(fd, in->hdr + in->hdr_have,
			    ANCHORD_IPC_HDR - in->hdr_have, 0);
		} else {
			n = recv(fd, in->payload + in->have, in->len - in->have,
			    0);
		}
		if (n == 0) {
			*eof = true;
			return ANCHOR_E_IO;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return ANCHOR_OK;
			return ANCHOR_E_IO;
		}
		if (in->hdr_have < ANCHORD_IPC_HDR) {
			in->hdr_have += (size_t)n;
			if (in->hdr_have < ANCHORD_IPC_HDR)
				continue;
			in->type = get_be32(in->hdr);
			in->len = get_be32(in->hdr + 4);
			if (!anchord_ipc_type_ok(in->side, in->type) ||
			    in->len > ANCHORD_IPC_MAX)
				return ANCHOR_E_INVAL;
			in->have = 0;
			if (in->len == 0) {
				in->complete = true;
				break;
			}
			if ((in->payload = malloc(in->len)) == NULL)
				return ANCHOR_E_NOMEM;
			continue;
		}
		in->have += (size_t)n;
		if (in->have == in->len)
			in->complete = true;
	}
	return ANCHOR_OK;
}

bool
anchord_ipc_next(struct anchord_ipc_in *in, uint32_t *type,
    const uint8_t **payload, size_t *len)
{
	if (!in->complete)
		return false;
	*type = in->type;
	*payload = in->payload;
	*len = in->len;
	return true;
}

void
anchord_ipc_done(struct anchord_ipc_in *in)
{
	anchord_ipc_in_clear(in);
}
