/*
 * Outbound HTTP over libcurl: the one place the project talks to other
 * servers (the generation API, the image store, user-supplied image URLs).
 *
 * Every transfer has a connect timeout, a total timeout, a low-speed
 * abort and a response cap counted in the write callback; proxies from
 * the environment are ignored; an abort callback is polled at least every
 * 100 ms so a cancelled job stops its call within a second.
 *
 * Two policies:
 *   HTTP_API    a service we are configured to use: https, or plain http
 *               only when the host is a loopback address (tests), or,
 *               with private_http, when every address it connects to is
 *               loopback or private (an operator's object store on its
 *               own network); no redirects followed.
 *   HTTP_FETCH  a URL a user gave us: https only, no userinfo, every
 *               address the name resolves to is checked before connecting
 *               (loopback, private, link-local, CGNAT, multicast,
 *               unspecified, broadcast, documentation, IPv6 ULA and
 *               link-local, IPv4-mapped and NAT64 forms of all of them are
 *               refused), redirects followed by hand up to HTTP_REDIRECTS
 *               hops with the same checks on each.
 */
#ifndef SJ_HTTP_H
#define SJ_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "buf.h"
#include "err.h"

#define HTTP_REDIRECTS 3

enum http_policy {
	HTTP_API = 0,
	HTTP_FETCH,
};

struct http_req {
	const char *method; /* GET POST HEAD PUT DELETE; NULL: GET */
	const char *url;
	/*
	 * "Name: value" lines, NULL-terminated, or NULL; at most 32, no CR
	 * or LF.  Under HTTP_FETCH they are dropped once a redirect leaves
	 * the first origin (scheme, host, port).
	 */
	const char *const *headers;
	const void *body; /* request body (POST, PUT), or NULL */
	size_t body_len;
	enum http_policy policy;
	/*
	 * HTTP_API only: plain http is also allowed to a host named by any
	 * spelling when every address connected to is loopback or private
	 * (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7); https is
	 * allowed anywhere as always.
	 */
	bool private_http;
	/*
	 * AWS Signature V4 by libcurl (CURLOPT_AWS_SIGV4) with this provider
	 * string ("aws:amz:REGION:s3"), signing with aws_key and aws_secret;
	 * NULL: no signing.  S3 wants an x-amz-content-sha256 header, which
	 * curl 7.88 does not add: the caller sends it, and curl signs it and
	 * uses its value as the payload hash.
	 */
	const char *aws_sigv4;
	const char *aws_key;
	const char *aws_secret;
	long connect_timeout_ms; /* 0: 10 s */
	long timeout_ms;	 /* whole transfer; 0: 60 s */
	long low_speed_bps;	 /* abort below this many bytes/s ... */
	long low_speed_s;	 /* ... for this many seconds; 0: 1 B/s, 15 s */
	size_t max_response;	 /* body cap; 0: 16 MiB */
	/* Polled during the transfer; returning true aborts it. */
	bool (*abort_cb)(void *arg);
	void *abort_arg;
	/*
	 * Tests only: lets HTTP_FETCH reach loopback and plain http so the
	 * redirect, cap and abort paths can be exercised against a loopback
	 * server.  Never set from configuration.
	 */
	bool test_allow_loopback;
};

struct http_resp {
	long status;	 /* 0 when no response arrived */
	struct buf body; /* freed by http_resp_free; NULL data on error */
	/*
	 * Retry-After in seconds, clamped to [0, 86400]: delta-seconds, or
	 * an HTTP-date turned into seconds from now; -1 when absent or
	 * unparseable.
	 */
	long retry_after_s;
	char content_type[128]; /* the whole value as sent; "" when absent */
	char final_url[2048];	/* after redirects; on error the last tried */
};

/*
 * Makes one request.  SJ_OK means a complete response arrived (any
 * status: the caller classifies it with http_status_transient()).  On
 * error resp->status is 0 and:
 *   SJ_ETRANSIENT  timeout, low speed, connection refused or reset, DNS,
 *                  TLS handshake, any other transport failure
 *   SJ_ETOOBIG     the body passed max_response
 *   SJ_EPERMANENT  refused by the policy (scheme, address, userinfo,
 *                  too many redirects, unusable Location, malformed
 *                  URL), or the server's certificate failed verification
 *   SJ_ELOST       abort_cb asked to stop (also when it already says so
 *                  before the call: nothing is sent)
 *   SJ_EINVAL      a caller mistake: NULL url, a method other than GET,
 *                  POST, HEAD, PUT or DELETE (PUT and DELETE only under
 *                  HTTP_API), a header with CR/LF or too many headers,
 *                  aws_sigv4 without both credentials
 *   SJ_ENOMEM
 * Under HTTP_FETCH a 301/302/303 continues as GET (HEAD stays HEAD),
 * 307/308 repeat the method and body.  Under HTTP_API a 3xx is returned.
 * Each call uses its own connections; nothing is kept between calls.
 * resp is always initialised here and must be freed with
 * http_resp_free(), whatever the result.
 */
enum sj_err http_do(const struct http_req *req, struct http_resp *resp) SJ_WUR;
void http_resp_free(struct http_resp *resp);

/* 408, 425, 429 and 5xx: worth a retry.  Other non-2xx: not. */
bool http_status_transient(long status);

/*
 * True when the address may be fetched under HTTP_FETCH (a public
 * unicast address).  Exposed for the unit tests.
 */
bool http_addr_public(const struct sockaddr *sa);
/* True for loopback and private addresses (private_http).  Tests. */
bool http_addr_private(const struct sockaddr *sa);

/* Once per process, before threads: curl_global_init. */
enum sj_err http_global_init(void) SJ_WUR;
void http_global_cleanup(void);

#endif
