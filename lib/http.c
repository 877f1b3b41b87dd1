/*
 * DESIGN
 *
 * One call, one transfer: http_do() creates a fresh easy handle and a
 * multi handle of its own and frees both before returning.  Nothing is
 * shared between calls, so worker threads need no locks and a dead
 * connection can never be handed to the next job; the price is a new
 * TCP (and TLS) connection per call, which is noise next to the latency
 * of the services we call.
 *
 * The transfer is driven by our own curl_multi_perform/curl_multi_poll
 * loop with a 100 ms poll, and abort_cb is checked on every turn (and
 * from CURLOPT_XFERINFOFUNCTION inside curl), so a cancelled job stops
 * its call within about 100 ms even while the server sends nothing.
 * curl_easy_perform would only look at the abort callback about once a
 * second.
 *
 * Policy is checked in two places:
 *   - on the URL, parsed once with curl's own parser (CURLU) so that the
 *     text we judge is the text curl connects to: scheme, userinfo and,
 *     for plain http under HTTP_API, a loopback host literal (with
 *     private_http any host: its addresses are checked instead);
 *   - on every address, in CURLOPT_OPENSOCKETFUNCTION, which curl calls
 *     before each connect (all resolved addresses, every redirect hop).
 *     Checking addresses, not names, is what stops a name that resolves
 *     inward or an exotic spelling of 127.0.0.1.  The URL and address
 *     rules are http_policy.c's.
 * Redirects are never followed by curl.  Under HTTP_FETCH we follow them
 * by hand: the Location is resolved against the current URL with CURLU,
 * the new URL goes through the same checks, and the caller's headers are
 * dropped once the origin changes.  Under HTTP_API a 3xx is returned to
 * the caller as it is.
 *
 * The response cap is enforced in the write callback (before curl 8.4
 * CURLOPT_MAXFILESIZE_LARGE is not applied to a transfer already running,
 * e.g. a chunked body); MAXFILESIZE is set as well so an honest
 * Content-Length fails early.  The total timeout covers all hops.
 *
 * Signing (aws_sigv4) is libcurl's own CURLOPT_AWS_SIGV4 with the key and
 * secret as CURLOPT_USERNAME/PASSWORD; PUT sends its body from memory
 * (CURLOPT_POSTFIELDS with a custom method), so nothing is streamed.
 *
 * Retry-After: delta-seconds, or an HTTP-date converted to seconds from
 * now (curl_getdate); clamped to [0, RETRY_AFTER_MAX]; anything else is
 * treated as absent (-1).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http.h"
#include "http_internal.h"
#include "log.h"
#include "num.h"

#define DEF_CONNECT_MS	 10000L
#define DEF_TIMEOUT_MS	 60000L
#define DEF_LOW_BPS	 1L
#define DEF_LOW_S	 15L
#define DEF_MAX_RESPONSE (16u * 1024 * 1024)
#define POLL_MS		 100
#define RETRY_AFTER_MAX	 86400L
#define HTTP_HEADERS_MAX 32
#define LOCATION_MAX	 2048
#define USER_AGENT	 "storyjobs/1"

/* State shared with curl's callbacks during one http_do(). */
struct xfer {
	const struct http_req *req;
	struct http_resp *resp;
	bool plain_http_api; /* HTTP_API over http: loopback (or private) */
	bool refused;	     /* an address was refused by the policy */
	bool toobig;
	bool nomem;
	bool aborted;
	bool have_location;
	char location[LOCATION_MAX];
};

bool
http_status_transient(long status)
{
	return status == 408 || status == 425 || status == 429 ||
	       (status >= 500 && status <= 599);
}

enum sj_err
http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? SJ_OK
								 : SJ_ENOMEM;
}

void
http_global_cleanup(void)
{
	curl_global_cleanup();
}

void
http_resp_free(struct http_resp *resp)
{
	if (resp != NULL)
		buf_free(&resp->body);
}

/* ---- callbacks ---- */

static curl_socket_t
open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *ca)
{
	struct xfer *x = arg;
	const struct sockaddr *sa = &ca->addr;
	bool ok;

	(void)purpose;
	if (x->req->policy == HTTP_FETCH)
		ok = http_addr_public(sa) ||
		     (x->req->test_allow_loopback && http_addr_loopback(sa));
	else
		ok = !x->plain_http_api || http_addr_loopback(sa) ||
		     (x->req->private_http && http_addr_private(sa));
	if (!ok) {
		x->refused = true;
		return CURL_SOCKET_BAD;
	}
	return socket(ca->family, ca->socktype | SOCK_CLOEXEC, ca->protocol);
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	enum sj_err e = buf_add(&x->resp->body, p, n);

	(void)size; /* always 1 */
	if (e == SJ_OK)
		return n;
	if (e == SJ_ETOOBIG)
		x->toobig = true;
	else
		x->nomem = true;
	return 0;
}

/* Copies the value of a header line (name already matched) into out. */
static void
header_value(const char *v, size_t n, char *out, size_t outsz)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' ||
			 v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

static long
parse_retry_after(const char *v)
{
	uint64_t s;
	time_t t, now;

	if (num_u64_digits(v, UINT64_MAX, &s) == SJ_OK)
		return s > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : (long)s;
	if ((t = curl_getdate(v, NULL)) == -1)
		return -1;
	now = time(NULL);
	if (t <= now)
		return 0;
	return t - now > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : (long)(t - now);
}

static bool
header_is(const char *p, size_t n, const char *name)
{
	size_t l = strlen(name);

	return n > l && p[l] == ':' && strncasecmp(p, name, l) == 0;
}

/*
 * Called once per header line of every response, interim (1xx) ones
 * included: a status line starts a new header block, so what was kept
 * from the previous block is forgotten.
 */
static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	struct http_resp *r = x->resp;
	char v[256];

	(void)size;
	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		r->content_type[0] = '\0';
		r->retry_after_s = -1;
		x->have_location = false;
	} else if (header_is(p, n, "Content-Type")) {
		header_value(p + 13, n - 13, r->content_type,
			     sizeof(r->content_type));
	} else if (header_is(p, n, "Retry-After")) {
		header_value(p + 12, n - 12, v, sizeof(v));
		r->retry_after_s = parse_retry_after(v);
	} else if (header_is(p, n, "Location")) {
		/* one byte more than we accept, to notice truncation */
		if (n - 9 < sizeof(x->location)) {
			header_value(p + 9, n - 9, x->location,
				     sizeof(x->location));
			x->have_location = x->location[0] != '\0';
		} else {
			x->have_location = false;
		}
	}
	return n;
}

static bool
should_abort(struct xfer *x)
{
	if (!x->aborted && x->req->abort_cb != NULL &&
	    x->req->abort_cb(x->req->abort_arg))
		x->aborted = true;
	return x->aborted;
}

static int
on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
	    curl_off_t un)
{
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return should_abort(arg) ? 1 : 0;
}

/* ---- the transfer ---- */

static enum sj_err
map_curl(struct xfer *x, CURLcode rc, const char *errbuf)
{
	if (x->aborted || rc == CURLE_ABORTED_BY_CALLBACK)
		return SJ_ELOST;
	if (x->toobig || rc == CURLE_FILESIZE_EXCEEDED)
		return SJ_ETOOBIG;
	if (x->nomem || rc == CURLE_OUT_OF_MEMORY)
		return SJ_ENOMEM;
	if (x->refused && rc == CURLE_COULDNT_CONNECT) {
		log_warn("http: refused address by policy");
		return SJ_EPERMANENT;
	}
	log_debug("http: curl error %d: %s", (int)rc,
		  errbuf[0] ? errbuf : curl_easy_strerror(rc));
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_TOO_MANY_REDIRECTS:
		return SJ_EPERMANENT;
	default:
		/* timeouts, low speed, DNS, refused/reset, TLS handshake */
		return SJ_ETRANSIENT;
	}
}

/* Runs the transfer h is set up for, checking the abort callback. */
static enum sj_err
run(struct xfer *x, CURLM *m, CURL *h, const char *errbuf)
{
	CURLcode rc = CURLE_FAILED_INIT;
	CURLMsg *msg;
	int running = 1, left;

	if (curl_multi_add_handle(m, h) != CURLM_OK)
		return SJ_ENOMEM;
	while (running) {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		if (!running || should_abort(x))
			break;
		if (curl_multi_poll(m, NULL, 0, POLL_MS, NULL) != CURLM_OK)
			break;
	}
	while ((msg = curl_multi_info_read(m, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == h)
			rc = msg->data.result;
	curl_multi_remove_handle(m, h);
	if (rc == CURLE_OK && !x->aborted)
		return SJ_OK;
	return map_curl(x, rc, errbuf);
}

/* Options that stay the same on every hop. */
static enum sj_err
setup_fixed(CURL *h, struct xfer *x, char *errbuf)
{
	const struct http_req *r = x->req;
	long cto =
	    r->connect_timeout_ms > 0 ? r->connect_timeout_ms : DEF_CONNECT_MS;
	long lbps = r->low_speed_s > 0 ? r->low_speed_bps : DEF_LOW_BPS;
	long ls = r->low_speed_s > 0 ? r->low_speed_s : DEF_LOW_S;
	bool ok = true;

	if (lbps < 1)
		lbps = 1;
#define SET(opt, val) ok = ok && curl_easy_setopt(h, opt, val) == CURLE_OK
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_MAXREDIRS, 0L);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SET(CURLOPT_CONNECTTIMEOUT_MS, cto);
	SET(CURLOPT_LOW_SPEED_LIMIT, lbps);
	SET(CURLOPT_LOW_SPEED_TIME, ls);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->resp->body.max);
	SET(CURLOPT_USERAGENT, USER_AGENT);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
	SET(CURLOPT_OPENSOCKETDATA, x);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, x);
	SET(CURLOPT_NOPROGRESS, 0L);
	if (r->aws_sigv4 != NULL) {
		SET(CURLOPT_AWS_SIGV4, r->aws_sigv4);
		SET(CURLOPT_USERNAME, r->aws_key);
		SET(CURLOPT_PASSWORD, r->aws_secret);
	}
#undef SET
	return ok ? SJ_OK : SJ_ENOMEM;
}

/*
 * Headers: the caller's (when sent to the first origin) and "Expect:"
 * (no 100-continue wait) unless signing.  *out may be NULL: no headers.
 */
static enum sj_err
make_headers(const struct http_req *r, bool callers, struct curl_slist **out)
{
	struct curl_slist *l = NULL, *t;

	*out = NULL;
	for (size_t i = 0; callers && r->headers != NULL && r->headers[i];
	     i++) {
		if (i >= HTTP_HEADERS_MAX ||
		    strpbrk(r->headers[i], "\r\n") != NULL) {
			curl_slist_free_all(l);
			return SJ_EINVAL;
		}
		if ((t = curl_slist_append(l, r->headers[i])) == NULL)
			goto nomem;
		l = t;
	}
	/*
	 * curl 7.88 signs "Expect:" (a removal, never sent) as a header with
	 * an empty value, so a signed request would never match: leave it
	 * out there (curl's own Expect for bodies over 1 MiB is unsigned).
	 */
	if (r->aws_sigv4 == NULL) {
		if ((t = curl_slist_append(l, "Expect:")) == NULL)
			goto nomem;
		l = t;
	}
	*out = l;
	return SJ_OK;
nomem:
	curl_slist_free_all(l);
	return SJ_ENOMEM;
}

/* Method and body for one hop; get: a redirect turned it into a GET. */
static enum sj_err
setup_method(CURL *h, const struct http_req *r, bool get)
{
	const char *m = r->method != NULL ? r->method : "GET";
	bool ok = true;

#define SET(opt, val) ok = ok && curl_easy_setopt(h, opt, val) == CURLE_OK
	if (strcmp(m, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (strcmp(m, "POST") == 0 && !get) {
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		SET(CURLOPT_POSTFIELDS, r->body != NULL ? r->body : "");
	} else if (strcmp(m, "GET") == 0 || strcmp(m, "POST") == 0) {
		SET(CURLOPT_HTTPGET, 1L);
	} else if (strcmp(m, "PUT") == 0 && r->policy == HTTP_API) {
		/* from memory: curl can hash it; no read callback */
		SET(CURLOPT_CUSTOMREQUEST, "PUT");
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		SET(CURLOPT_POSTFIELDS, r->body != NULL ? r->body : "");
	} else if (strcmp(m, "DELETE") == 0 && r->policy == HTTP_API) {
		SET(CURLOPT_HTTPGET, 1L);
		SET(CURLOPT_CUSTOMREQUEST, "DELETE");
	} else {
		return SJ_EINVAL;
	}
#undef SET
	return ok ? SJ_OK : SJ_ENOMEM;
}

static void
resp_init(const struct http_req *req, struct http_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->body,
		 req->max_response > 0 ? req->max_response : DEF_MAX_RESPONSE);
	resp->retry_after_s = -1;
}

static bool
is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 ||
	       status == 307 || status == 308;
}

/*
 * Moves u to the Location of the last response.  Returns SJ_EPERMANENT
 * when it cannot be resolved.  *get is set when the method becomes GET
 * (303, or 301/302 after a POST, as browsers do).
 */
static enum sj_err
next_hop(struct xfer *x, CURLU *u, long status, bool *get, bool *cross)
{
	CURLU *prev = curl_url_dup(u);

	if (prev == NULL)
		return SJ_ENOMEM;
	if (!x->have_location ||
	    curl_url_set(u, CURLUPART_URL, x->location, 0) != CURLUE_OK) {
		curl_url_cleanup(prev);
		log_warn("http: unusable redirect location");
		return SJ_EPERMANENT;
	}
	if (!http_same_origin(prev, u))
		*cross = true;
	curl_url_cleanup(prev);
	if (status == 303 || status == 301 || status == 302)
		*get = true;
	return SJ_OK;
}

static enum sj_err
do_hops(struct xfer *x, CURLM *m, CURL *h, CURLU *u, char *errbuf)
{
	const struct http_req *r = x->req;
	struct http_resp *resp = x->resp;
	struct curl_slist *hdrs = NULL;
	int64_t deadline = num_mono_ms() +
			   (r->timeout_ms > 0 ? r->timeout_ms : DEF_TIMEOUT_MS);
	bool get = false, cross = false, plain;
	enum sj_err e;

	for (int hop = 0;; hop++) {
		int64_t left = deadline - num_mono_ms();

		if ((e = http_url_check(r, u, &plain, resp->final_url,
					sizeof(resp->final_url))) != SJ_OK)
			break;
		x->plain_http_api = plain && r->policy == HTTP_API;
		curl_slist_free_all(hdrs);
		if (left <= 0) {
			e = SJ_ETRANSIENT;
			break;
		}
		if ((e = make_headers(r, !cross, &hdrs)) != SJ_OK ||
		    (e = setup_method(h, r, get)) != SJ_OK)
			break;
		if (curl_easy_setopt(h, CURLOPT_URL, resp->final_url) !=
			CURLE_OK ||
		    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
				     plain ? "http" : "https") != CURLE_OK ||
		    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
		    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left) !=
			CURLE_OK) {
			e = SJ_ENOMEM;
			break;
		}
		buf_reset(&resp->body);
		errbuf[0] = '\0';
		if ((e = run(x, m, h, errbuf)) != SJ_OK)
			break;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
		if (r->policy != HTTP_FETCH || !is_redirect(resp->status))
			break;
		if (hop >= HTTP_REDIRECTS) {
			log_warn("http: more than %d redirects",
				 HTTP_REDIRECTS);
			e = SJ_EPERMANENT;
			break;
		}
		if ((e = next_hop(x, u, resp->status, &get, &cross)) != SJ_OK)
			break;
	}
	curl_slist_free_all(hdrs);
	return e;
}

enum sj_err
http_do(const struct http_req *req, struct http_resp *resp)
{
	struct xfer x;
	char errbuf[CURL_ERROR_SIZE];
	CURL *h = NULL;
	CURLM *m = NULL;
	CURLU *u = NULL;
	enum sj_err e = SJ_ENOMEM;

	resp_init(req, resp);
	memset(&x, 0, sizeof(x));
	x.req = req;
	x.resp = resp;
	errbuf[0] = '\0';
	if (req->url == NULL ||
	    (req->aws_sigv4 != NULL &&
	     (req->aws_key == NULL || req->aws_secret == NULL))) {
		e = SJ_EINVAL;
		goto out;
	}
	if ((u = curl_url()) == NULL || (h = curl_easy_init()) == NULL ||
	    (m = curl_multi_init()) == NULL)
		goto out;
	if (curl_url_set(u, CURLUPART_URL, req->url, 0) != CURLUE_OK) {
		log_warn("http: malformed url");
		e = SJ_EPERMANENT;
		goto out;
	}
	if ((e = setup_fixed(h, &x, errbuf)) != SJ_OK)
		goto out;
	if (should_abort(&x)) {
		e = SJ_ELOST;
		goto out;
	}
	e = do_hops(&x, m, h, u, errbuf);
out:
	if (e != SJ_OK) {
		resp->status = 0;
		resp->retry_after_s = -1;
		resp->content_type[0] = '\0';
		buf_free(&resp->body);
	}
	curl_multi_cleanup(m);
	curl_easy_cleanup(h);
	curl_url_cleanup(u);
	return e;
}
