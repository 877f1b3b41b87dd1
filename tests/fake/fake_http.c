/*
 * DESIGN: HTTP/1.1 framing for the fake upstream server.
 *
 * A connection owns one input buffer capped at a head plus a body; each
 * request is parsed out of it in place and its bytes dropped afterwards,
 * so pipelined requests survive.  Only Content-Length bodies exist here:
 * Transfer-Encoding is refused with 501, anything that does not parse is
 * 400, and sizes past the caps are 413/431.  Every wait is bounded by
 * poll timeouts and every send uses MSG_NOSIGNAL, so a vanished client
 * ends a thread instead of the process.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "fake.h"
#include "num.h"

#define IDLE_MS 60000 /* wait for the next byte of a request */
#define CHUNK	65536

void
reply_init(struct reply *rep)
{
	rep->status = 500;
	rep->ctype = NULL;
	rep->extra[0] = '\0';
	buf_init(&rep->body, 64u << 20);
}

void
reply_free(struct reply *rep)
{
	buf_free(&rep->body);
}

void
reply_set(struct reply *rep, int status, const char *ctype, const void *body,
	  size_t n)
{
	buf_reset(&rep->body);
	rep->status = status;
	rep->ctype = ctype;
	if (buf_add(&rep->body, body, n) != SJ_OK) {
		rep->status = 500;
		rep->ctype = NULL;
	}
}

void
reply_error(struct reply *rep, int status, const char *type, const char *msg)
{
	struct json_object *o = json_object_new_object();
	struct json_object *err = json_object_new_object();
	const char *s;

	json_object_object_add(err, "message", json_object_new_string(msg));
	json_object_object_add(err, "type", json_object_new_string(type));
	json_object_object_add(o, "error", err);
	s = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	reply_set(rep, status, "application/json", s, strlen(s));
	json_object_put(o);
}

static struct json_object *
str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

void
reply_api_error(struct reply *rep, int status, const char *type,
		const char *param, const char *code, const char *msg)
{
	struct json_object *o = json_object_new_object();
	struct json_object *err = json_object_new_object();
	const char *s;

	json_object_object_add(err, "message", json_object_new_string(msg));
	json_object_object_add(err, "type", json_object_new_string(type));
	json_object_object_add(err, "param", str_or_null(param));
	json_object_object_add(err, "code", str_or_null(code));
	json_object_object_add(o, "error", err);
	s = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	reply_set(rep, status, "application/json", s, strlen(s));
	json_object_put(o);
}

/* Reads more input into c; SJ_EIO on close, error or idle timeout. */
static enum sj_err
read_more(struct conn *c)
{
	char tmp[CHUNK];
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	size_t room = FAKE_CONN_MAX - c->in.len;
	ssize_t n;
	int rc;

	if (room == 0)
		return SJ_ETOOBIG;
	do
		rc = poll(&p, 1, IDLE_MS);
	while (rc < 0 && errno == EINTR);
	if (rc <= 0)
		return SJ_EIO;
	do
		n = recv(c->fd, tmp, room < sizeof(tmp) ? room : sizeof(tmp),
			 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return SJ_EIO;
	if (buf_add(&c->in, tmp, (size_t)n) != SJ_OK) {
		buf_init(&c->in, FAKE_CONN_MAX);
		return SJ_EIO;
	}
	return SJ_OK;
}

static bool
is_token_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Parses "METHOD SP target SP HTTP/1.x" of length n. */
static bool
parse_request_line(const char *s, size_t n, struct req *r, bool *http10)
{
	const char *sp1 = memchr(s, ' ', n), *sp2, *q;
	size_t mlen, tlen, plen;

	if (sp1 == NULL)
		return false;
	mlen = (size_t)(sp1 - s);
	sp2 = memchr(sp1 + 1, ' ', n - mlen - 1);
	if (mlen == 0 || mlen >= sizeof(r->method) || sp2 == NULL)
		return false;
	tlen = (size_t)(sp2 - sp1 - 1);
	if (tlen == 0 || tlen >= FAKE_TARGET_MAX || sp1[1] != '/')
		return false;
	for (size_t i = 0; i < mlen; i++)
		if (s[i] < 'A' || s[i] > 'Z')
			return false;
	for (size_t i = 0; i < tlen; i++)
		if (sp1[1 + i] <= ' ' || sp1[1 + i] > '~')
			return false;
	if (n - (size_t)(sp2 + 1 - s) != 8 ||
	    (memcmp(sp2 + 1, "HTTP/1.1", 8) && memcmp(sp2 + 1, "HTTP/1.0", 8)))
		return false;
	*http10 = sp2[8] == '0';
	memcpy(r->method, s, mlen);
	r->method[mlen] = '\0';
	memcpy(r->target, sp1 + 1, tlen);
	r->target[tlen] = '\0';
	q = strchr(r->target, '?');
	plen = q ? (size_t)(q - r->target) : tlen;
	r->query = q ? q + 1 : "";
	memcpy(r->path, r->target, plen);
	return url_decode(r->path, plen, false) != (size_t)-1;
}

/* Applies one "Name: value" header line; sets *status on failure. */
static bool
parse_header(const char *s, size_t n, struct req *r, uint64_t *clen,
	     int *status)
{
	const char *colon = memchr(s, ':', n);
	char val[FAKE_AUTH_MAX];
	size_t nlen, vlen;
	const char *v;

	if (colon == NULL || colon == s)
		return false;
	nlen = (size_t)(colon - s);
	for (size_t i = 0; i < nlen; i++)
		if (!is_token_char(s[i]))
			return false;
	v = colon + 1;
	vlen = n - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	for (size_t i = 0; i < vlen; i++)
		if ((unsigned char)v[i] < ' ' && v[i] != '\t')
			return false;
	if (vlen >= sizeof(val)) {
		*status = 431;
		return false;
	}
	memcpy(val, v, vlen);
	val[vlen] = '\0';
	if (nlen == 14 && strncasecmp(s, "Content-Length", 14) == 0) {
		uint64_t cl;

		if (num_u64_digits(val, UINT64_MAX, &cl) != SJ_OK ||
		    (*clen != UINT64_MAX && *clen != cl))
			return false;
		if (cl > FAKE_BODY_MAX)
			*status = 413;
		*clen = cl;
		return cl <= FAKE_BODY_MAX;
	}
	if (nlen == 17 && strncasecmp(s, "Transfer-Encoding", 17) == 0) {
		*status = 501;
		return false;
	}
	if (nlen == 13 && strncasecmp(s, "Authorization", 13) == 0)
		memcpy(r->auth, val, vlen + 1);
	if (nlen == 10 && strncasecmp(s, "Connection", 10) == 0) {
		if (strcasestr(val, "close"))
			r->close = true;
		else if (strcasestr(val, "keep-alive"))
			r->close = false;
	}
	return true;
}

/* Parses the head c->in.data[0..hlen) (hlen ends at the blank line). */
static bool
parse_head(const char *s, size_t hlen, struct req *r, uint64_t *clen,
	   int *status)
{
	const char *end = s + hlen - 2, *eol;
	bool http10 = false;

	if (memchr(s, '\0', hlen))
		return false;
	eol = memmem(s, (size_t)(end - s), "\r\n", 2);
	if (!parse_request_line(s, (size_t)(eol - s), r, &http10))
		return false;
	r->close = http10;
	for (s = eol + 2; s < end; s = eol + 2) {
		eol = memmem(s, (size_t)(end - s), "\r\n", 2);
		if (!parse_header(s, (size_t)(eol - s), r, clen, status))
			return false;
	}
	return true;
}

enum sj_err
http_read_req(struct conn *c, struct req *r, int *status)
{
	const char *hend;
	uint64_t clen = UINT64_MAX;
	size_t hlen;

	memset(r, 0, offsetof(struct req, target));
	r->auth[0] = '\0';
	*status = 400;
	while ((hend = c->in.data == NULL ? NULL
					  : memmem(c->in.data, c->in.len,
						   "\r\n\r\n", 4)) == NULL) {
		if (c->in.len >= FAKE_HEAD_MAX) {
			*status = 431;
			return SJ_EINVAL;
		}
		if (read_more(c) != SJ_OK)
			return SJ_EIO;
	}
	hlen = (size_t)(hend - c->in.data) + 4;
	if (hlen > FAKE_HEAD_MAX) {
		*status = 431;
		return SJ_EINVAL;
	}
	if (!parse_head(c->in.data, hlen, r, &clen, status))
		return SJ_EINVAL;
	if (clen == UINT64_MAX)
		clen = 0;
	while (c->in.len < hlen + clen)
		if (read_more(c) != SJ_OK)
			return SJ_EIO;
	r->body = c->in.data + hlen;
	r->blen = (size_t)clen;
	r->consumed = hlen + (size_t)clen;
	return SJ_OK;
}

void
http_consume(struct conn *c, const struct req *r)
{
	memmove(c->in.data, c->in.data + r->consumed, c->in.len - r->consumed);
	c->in.len -= r->consumed;
	c->in.data[c->in.len] = '\0';
}

bool
http_send(int fd, const void *p, size_t n)
{
	const char *s = p;

	while (n > 0) {
		ssize_t k = send(fd, s, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		s += k;
		n -= (size_t)k;
	}
	return true;
}

static const char *
status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 302:
		return "Found";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	default:
		return "Internal Server Error";
	}
}

bool
http_send_head(int fd, int status, const char *ctype, const char *extra,
	       size_t n, bool close)
{
	struct buf h;
	bool ok;

	buf_init(&h, sizeof(((struct reply *)0)->extra) + 512);
	ok = buf_addf(&h, "HTTP/1.1 %d %s\r\n", status, status_text(status)) ==
		 SJ_OK &&
	     (ctype == NULL ||
	      buf_addf(&h, "Content-Type: %s\r\n", ctype) == SJ_OK) &&
	     buf_addf(&h, "Content-Length: %zu\r\n%sConnection: %s\r\n\r\n", n,
		      extra ? extra : "",
		      close ? "close" : "keep-alive") == SJ_OK;
	ok = ok && http_send(fd, h.data, h.len);
	buf_free(&h);
	return ok;
}

bool
http_send_reply(int fd, const struct reply *rep, bool head, bool close)
{
	if (!http_send_head(fd, rep->status, rep->ctype, rep->extra,
			    rep->body.len, close))
		return false;
	return head || rep->body.len == 0 ||
	       http_send(fd, rep->body.data, rep->body.len);
}

bool
http_wait_gone(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
	char scratch[4096];

	for (;;) {
		int rc = poll(&p, 1, ms);
		ssize_t n;

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			return false;
		if (rc < 0 ||
		    (p.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)))
			return true;
		n = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return true;
		/* Data from the client is dropped; keep waiting (roughly). */
	}
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

size_t
url_decode(char *s, size_t n, bool plus)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (ch == '%') {
			int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
			int lo = i + 2 < n ? hexval(s[i + 2]) : -1;

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return (size_t)-1;
			ch = (char)(hi * 16 + lo);
			i += 2;
		} else if (ch == '+' && plus) {
			ch = ' ';
		} else if (ch == '\0') {
			return (size_t)-1;
		}
		s[o++] = ch;
	}
	s[o] = '\0';
	return o;
}
