/*
 * What an outbound call may reach (lib/http.h's policies; http.c applies
 * them): the URL, as curl's own parser reads it (scheme, userinfo, a
 * loopback host literal for plain http under HTTP_API), and every address
 * it connects to: public unicast for a fetch, loopback, the private
 * ranges.  An address is judged as a connect would use it: the IPv6
 * forms that carry an IPv4 address (IPv4-compatible, IPv4-mapped, NAT64,
 * 6to4) by that address.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "http.h"
#include "http_internal.h"
#include "log.h"

/* The ::ffff:0:0/96 prefix of IPv4-mapped IPv6 addresses. */
static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* IPv4 (host order) ranges that are not public unicast. */
static bool
v4_public(uint32_t a)
{
	static const struct {
		uint32_t net;
		int bits;
	} bad[] = {
	    {0x00000000, 8},  /* 0/8 "this network" */
	    {0x0a000000, 8},  /* 10/8 private */
	    {0x64400000, 10}, /* 100.64/10 CGNAT */
	    {0x7f000000, 8},  /* 127/8 loopback */
	    {0xa9fe0000, 16}, /* 169.254/16 link-local */
	    {0xac100000, 12}, /* 172.16/12 private */
	    {0xc0000000, 24}, /* 192.0.0/24 IETF protocol assignments */
	    {0xc0000200, 24}, /* 192.0.2/24 TEST-NET-1 */
	    {0xc0586300, 24}, /* 192.88.99/24 6to4 relay anycast */
	    {0xc0a80000, 16}, /* 192.168/16 private */
	    {0xc6120000, 15}, /* 198.18/15 benchmarking */
	    {0xc6336400, 24}, /* 198.51.100/24 TEST-NET-2 */
	    {0xcb007100, 24}, /* 203.0.113/24 TEST-NET-3 */
	    {0xe0000000, 4},  /* 224/4 multicast */
	    {0xf0000000, 4},  /* 240/4 reserved, incl. broadcast */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t mask = 0xffffffffu << (32 - bad[i].bits);

		if ((a & mask) == bad[i].net)
			return false;
	}
	return true;
}

static uint32_t
v4_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static bool
zeros(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/*
 * IPv6: forms that carry an IPv4 address are judged by it; otherwise
 * only global unicast (2000::/3) passes, minus documentation, the IETF
 * protocol block (Teredo, benchmarking, ORCHID) and 3fff::/20.
 */
static bool
v6_public(const uint8_t *a)
{
	static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};

	/* ::/96 (IPv4-compatible, also :: and ::1), ::ffff:0:0/96, NAT64 */
	if (zeros(a, 12) || memcmp(a, mapped, 12) == 0 ||
	    memcmp(a, nat64, 12) == 0)
		return v4_public(v4_at(a + 12));
	if (a[0] == 0x20 && a[1] == 0x02) /* 2002::/16 6to4 */
		return v4_public(v4_at(a + 2));
	if ((a[0] & 0xe0) != 0x20) /* not 2000::/3: ULA, link-local, mcast */
		return false;
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
		return false; /* 2001:db8::/32 documentation */
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] < 0x02)
		return false; /* 2001::/23 IETF protocol assignments */
	if (a[0] == 0x3f && a[1] == 0xff && (a[2] & 0xf0) == 0)
		return false; /* 3fff::/20 documentation */
	return true;
}

bool
http_addr_public(const struct sockaddr *sa)
{
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;

		return v4_public(ntohl(s->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;

		return v6_public(s->sin6_addr.s6_addr);
	}
	return false;
}

bool
http_addr_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;

		return (ntohl(s->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *a =
		    ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if (zeros(a, 15) && a[15] == 1)
			return true;
		return memcmp(a, mapped, 12) == 0 && a[12] == 127;
	}
	return false;
}

bool
http_addr_private(const struct sockaddr *sa)
{
	static const struct {
		uint32_t net;
		int bits;
	} priv[] = {
	    {0x0a000000, 8},  /* 10/8 */
	    {0x64400000, 10}, /* 100.64/10 CGNAT */
	    {0xac100000, 12}, /* 172.16/12 */
	    {0xc0a80000, 16}, /* 192.168/16 */
	};
	uint32_t a;

	if (sa == NULL)
		return false;
	if (http_addr_loopback(sa))
		return true;
	if (sa->sa_family == AF_INET6) {
		const uint8_t *b =
		    ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if ((b[0] & 0xfe) == 0xfc) /* fc00::/7 ULA */
			return true;
		if (memcmp(b, mapped, 12) != 0)
			return false;
		a = v4_at(b + 12);
	} else if (sa->sa_family == AF_INET) {
		a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
	} else {
		return false;
	}
	/* link-local (169.254/16, cloud metadata) is not among them */
	for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++)
		if ((a & (0xffffffffu << (32 - priv[i].bits))) == priv[i].net)
			return true;
	return false;
}

static bool
host_loopback_literal(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char h[64];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n > 2 && n < sizeof(h) && host[0] == '[' && host[n - 1] == ']') {
		memcpy(h, host + 1, n - 2);
		h[n - 2] = '\0';
		return inet_pton(AF_INET6, h, &a6) == 1 &&
		       IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return false;
}

static bool
url_has(CURLU *u, CURLUPart part)
{
	char *s = NULL;
	bool has = curl_url_get(u, part, &s, 0) == CURLUE_OK;

	curl_free(s);
	return has;
}

enum sj_err
http_url_check(const struct http_req *req, CURLU *u, bool *plain_http,
	       char *out, size_t outsz)
{
	char *scheme = NULL, *host = NULL, *full = NULL;
	enum sj_err e = SJ_EPERMANENT;
	const char *why = "malformed";

	*plain_http = false;
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK)
		goto out;
	why = "scheme";
	if (strcmp(scheme, "http") == 0) {
		if (req->policy == HTTP_API
			? !req->private_http && !host_loopback_literal(host)
			: !req->test_allow_loopback)
			goto out;
		*plain_http = true;
	} else if (strcmp(scheme, "https") != 0) {
		goto out;
	}
	why = "userinfo";
	if (req->policy == HTTP_FETCH &&
	    (url_has(u, CURLUPART_USER) || url_has(u, CURLUPART_PASSWORD) ||
	     url_has(u, CURLUPART_OPTIONS)))
		goto out;
	why = "too long";
	if (strlen(full) >= outsz)
		goto out;
	memcpy(out, full, strlen(full) + 1);
	e = SJ_OK;
out:
	if (e != SJ_OK)
		log_warn("http: refused url (%s) host=%s", why,
			 host != NULL ? host : "?");
	curl_free(scheme);
	curl_free(host);
	curl_free(full);
	return e;
}

bool
http_same_origin(CURLU *a, CURLU *b)
{
	static const CURLUPart parts[] = {CURLUPART_SCHEME, CURLUPART_HOST,
					  CURLUPART_PORT};
	bool same = true;

	for (size_t i = 0; same && i < 3; i++) {
		char *x = NULL, *y = NULL;

		if (curl_url_get(a, parts[i], &x, CURLU_DEFAULT_PORT) !=
			CURLUE_OK ||
		    curl_url_get(b, parts[i], &y, CURLU_DEFAULT_PORT) !=
			CURLUE_OK ||
		    strcasecmp(x, y) != 0)
			same = false;
		curl_free(x);
		curl_free(y);
	}
	return same;
}
