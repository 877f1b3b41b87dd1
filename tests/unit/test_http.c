/*
 * The outbound HTTP client and the media store.
 *
 * First group, no server: the address table of HTTP_FETCH (every refused
 * range and public addresses that pass) and the URL policy, which must
 * refuse before any connection is made.  Second group, against the fake
 * upstream ($FAKE_UPSTREAM, started here on a loopback port): plain GET,
 * redirects followed by hand, the size cap, timeouts, low speed, abort,
 * Retry-After, and store_put to the fake Cloudinary and to a local
 * directory.  Without $FAKE_UPSTREAM the second group fails: it must not
 * pass by skipping.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "http.h"
#include "num.h"
#include "openai.h"
#include "store.h"

extern char **environ;

static pid_t fake_pid = -1;
static char tmpdir[] = "/tmp/sj-test-http-XXXXXX";
static char portfile[sizeof(tmpdir) + 16];
static char base[64]; /* http://127.0.0.1:<port> */

/* ---- addresses ---- */

static bool
v4(const char *s)
{
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, s, &sa.sin_addr), 1);
	return http_addr_public((const struct sockaddr *)&sa);
}

static bool
v6(const char *s)
{
	struct sockaddr_in6 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, s, &sa.sin6_addr), 1);
	return http_addr_public((const struct sockaddr *)&sa);
}

static void
test_addr_v4(void **state)
{
	/* first and last address of every refused range */
	static const char *const bad[] = {
	    "0.0.0.0",	       "0.255.255.255",	  "10.0.0.0",
	    "10.255.255.255",  "100.64.0.0",	  "100.127.255.255",
	    "127.0.0.1",       "127.255.255.255", "169.254.0.0",
	    "169.254.169.254", "169.254.255.255", "172.16.0.0",
	    "172.31.255.255",  "192.0.0.0",	  "192.0.0.255",
	    "192.0.2.0",       "192.0.2.255",	  "192.168.0.0",
	    "192.168.255.255", "198.18.0.0",	  "198.19.255.255",
	    "198.51.100.0",    "198.51.100.255",  "203.0.113.0",
	    "203.0.113.255",   "224.0.0.0",	  "239.255.255.255",
	    "240.0.0.0",       "255.255.255.254", "255.255.255.255",
	};
	/* neighbours of the ranges, and ordinary public addresses */
	static const char *const good[] = {
	    "1.1.1.1",	       "8.8.8.8",	  "9.255.255.255",
	    "11.0.0.0",	       "100.63.255.255",  "100.128.0.0",
	    "126.255.255.255", "128.0.0.0",	  "169.253.255.255",
	    "169.255.0.0",     "172.15.255.255",  "172.32.0.0",
	    "192.0.1.0",       "192.0.3.0",	  "192.167.255.255",
	    "192.169.0.0",     "198.17.255.255",  "198.20.0.0",
	    "198.51.99.255",   "198.51.101.0",	  "203.0.112.255",
	    "203.0.114.0",     "223.255.255.255", "93.184.216.34",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (v4(bad[i]))
			fail_msg("%s passed", bad[i]);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!v4(good[i]))
			fail_msg("%s refused", good[i]);
}

static void
test_addr_v6(void **state)
{
	static const char *const bad[] = {
	    "::",
	    "::1",
	    "fc00::1",
	    "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "fe80::1",
	    "febf:ffff::1",
	    "ff02::1",
	    "ff0e::1",
	    "2001:db8::1",
	    "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
	    /* IPv4-mapped, IPv4-compatible, NAT64, 6to4 of refused v4 */
	    "::ffff:127.0.0.1",
	    "::ffff:10.1.2.3",
	    "::ffff:169.254.169.254",
	    "::ffff:0.0.0.0",
	    "::ffff:255.255.255.255",
	    "::127.0.0.1",
	    "::192.168.1.1",
	    "64:ff9b::127.0.0.1",
	    "64:ff9b::a9fe:a9fe",
	    "64:ff9b::192.168.0.1",
	    "2002:7f00:0001::",
	    "2002:c0a8:0101::1",
	    "2002:a00:1::",
	};
	static const char *const good[] = {
	    "2606:4700:4700::1111",	"2001:4860:4860::8888",
	    "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8",
	    "64:ff9b::8.8.8.8",		"2002:0808:0808::1",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (v6(bad[i]))
			fail_msg("%s passed", bad[i]);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!v6(good[i]))
			fail_msg("%s refused", good[i]);
}

static void
test_addr_other(void **state)
{
	struct sockaddr sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	assert_false(http_addr_public(&sa));
	assert_false(http_addr_public(NULL));
}

static void
test_status_transient(void **state)
{
	static const long yes[] = {408, 425, 429, 500, 502, 503, 504, 599};
	static const long no[] = {200, 204, 301, 400, 401, 403, 404, 413, 422};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(http_status_transient(yes[i]));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(http_status_transient(no[i]));
}

/* ---- requests ---- */

static enum sj_err
get(enum http_policy pol, bool loop, const char *url, struct http_resp *r)
{
	struct http_req q = {0};

	q.url = url;
	q.policy = pol;
	q.test_allow_loopback = loop;
	q.timeout_ms = 10000;
	return http_do(&q, r);
}

/* Refused with SJ_EPERMANENT, quickly, without a response. */
static void
refused(enum http_policy pol, bool loop, const char *url)
{
	struct http_resp r;
	int64_t t0 = num_mono_ms();
	enum sj_err e = get(pol, loop, url, &r);

	if (e != SJ_EPERMANENT)
		fail_msg("%s: %s, not refused", url, sj_strerror(e));
	assert_int_equal(r.status, 0);
	assert_null(r.body.data);
	assert_true(num_mono_ms() - t0 < 1000);
	http_resp_free(&r);
}

/* No connection reaches a listener when the policy refuses the URL. */
static void
test_policy_before_connect(void **state)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	char url[128];
	int fd;

	/* no DNS is available here: these must fail on the URL alone */
	refused(HTTP_API, false, "http://example.com/");
	refused(HTTP_API, false, "http://10.0.0.1/");
	refused(HTTP_API, false, "ftp://127.0.0.1/");
	refused(HTTP_API, false, "file:///etc/passwd");
	refused(HTTP_API, false, "not a url");
	refused(HTTP_FETCH, false, "http://example.com/a.png");
	refused(HTTP_FETCH, false, "https://user:pw@example.com/a.png");
	refused(HTTP_FETCH, false, "https://user@example.com/a.png");
	refused(HTTP_FETCH, true, "https://user:pw@127.0.0.1/a.png");
	refused(HTTP_FETCH, false, "gopher://example.com/");

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/a.png",
		 ntohs(sa.sin_port));
	refused(HTTP_FETCH, false, url);
	snprintf(url, sizeof(url), "https://localhost:%d/a.png",
		 ntohs(sa.sin_port));
	refused(HTTP_FETCH, false, url);
	/* other spellings of 127.0.0.1 */
	snprintf(url, sizeof(url), "https://0x7f000001:%d/a.png",
		 ntohs(sa.sin_port));
	refused(HTTP_FETCH, false, url);
	snprintf(url, sizeof(url), "https://2130706433:%d/a.png",
		 ntohs(sa.sin_port));
	refused(HTTP_FETCH, false, url);
	snprintf(url, sizeof(url), "https://[::ffff:127.0.0.1]:%d/a.png",
		 ntohs(sa.sin_port));
	refused(HTTP_FETCH, false, url);
	/* nothing connected */
	assert_int_equal(accept(fd, NULL, NULL), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	close(fd);
}

/*
 * A loopback server thread for what the fake does not send: it answers
 * one connection with a canned response, or (answer NULL) with an
 * endless chunked body that has no Content-Length, so only the count in
 * the write callback can stop it.
 */
struct oneshot {
	int lfd;
	int port;
	const char *answer;
	char got[4096]; /* the start of the request received */
	pthread_t th;
};

static void
endless_body(int fd)
{
	static const char head[] = "HTTP/1.1 200 OK\r\n"
				   "Content-Type: application/octet-stream\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n";
	static char chunk[8 + 65536 + 2];

	if (send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL) <= 0)
		return;
	memcpy(chunk, "10000\r\n", 7);
	memset(chunk + 7, 'x', 65536);
	memcpy(chunk + 7 + 65536, "\r\n", 2);
	/* until the client hangs up (or 1 GiB, as a backstop) */
	for (int i = 0; i < 16384; i++)
		if (send(fd, chunk, 7 + 65536 + 2, MSG_NOSIGNAL) <= 0)
			break;
}

static void *
oneshot_run(void *arg)
{
	struct oneshot *o = arg;
	struct pollfd p = {.fd = o->lfd, .events = POLLIN};
	struct timeval tv = {.tv_sec = 5};
	char req[4096];
	ssize_t n;
	int fd;

	/* bounded waits: a client that never comes fails, not hangs */
	if (poll(&p, 1, 5000) != 1 || (fd = accept(o->lfd, NULL, NULL)) < 0)
		return NULL;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if ((n = recv(fd, o->got, sizeof(o->got) - 1, 0)) > 0) {
		o->got[n] = '\0';
		if (o->answer == NULL)
			endless_body(fd);
		else
			(void)send(fd, o->answer, strlen(o->answer),
				   MSG_NOSIGNAL);
	}
	shutdown(fd, SHUT_WR);
	while (recv(fd, req, sizeof(req), 0) > 0)
		;
	close(fd);
	return NULL;
}

static void
oneshot_start(struct oneshot *o, const char *answer)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	o->answer = answer;
	o->got[0] = '\0';
	o->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(o->lfd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(o->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(o->lfd, 8), 0);
	assert_int_equal(getsockname(o->lfd, (struct sockaddr *)&sa, &sl), 0);
	o->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&o->th, NULL, oneshot_run, o), 0);
}

static void
oneshot_stop(struct oneshot *o)
{
	pthread_join(o->th, NULL);
	close(o->lfd);
}

/* One GET under HTTP_FETCH (loopback allowed) to a canned answer. */
static enum sj_err
canned(const char *answer, size_t cap, struct http_resp *r)
{
	struct oneshot o;
	struct http_req q = {0};
	char url[128];
	enum sj_err e;

	oneshot_start(&o, answer);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", o.port);
	q.url = url;
	q.policy = HTTP_FETCH;
	q.test_allow_loopback = true;
	q.timeout_ms = 10000;
	q.max_response = cap;
	e = http_do(&q, r);
	oneshot_stop(&o);
	return e;
}

/* ---- the fake upstream ---- */

static int
fake_start(void **state)
{
	const char *bin = getenv("FAKE_UPSTREAM");
	char *argv[] = {NULL,	"--port-file", portfile, "--cloud-name",
			"demo", "--cloud-key", "key1",	 "--cloud-secret",
			"sec1", NULL};
	char txt[32];
	int64_t port;

	(void)state;
	if (bin == NULL || access(bin, X_OK) != 0) {
		fprintf(stderr, "FAKE_UPSTREAM is not set or not executable "
				"(run through make check)\n");
		return -1;
	}
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(portfile, sizeof(portfile), "%s/port", tmpdir);
	argv[0] = (char *)(uintptr_t)bin;
	if (posix_spawn(&fake_pid, bin, NULL, NULL, argv, environ) != 0) {
		fake_pid = -1;
		return -1;
	}
	for (int i = 0; i < 500; i++) {
		FILE *f = fopen(portfile, "r");
		size_t n = 0;

		if (f != NULL) {
			n = fread(txt, 1, sizeof(txt) - 1, f);
			fclose(f);
		}
		while (n > 0 && (txt[n - 1] == '\n' || txt[n - 1] == ' '))
			n--;
		txt[n] = '\0';
		if (n > 0 && num_i64(txt, 1, 65535, &port) == SJ_OK) {
			snprintf(base, sizeof(base), "http://127.0.0.1:%d",
				 (int)port);
			return 0;
		}
		usleep(20000);
	}
	fprintf(stderr, "fake upstream wrote no port\n");
	return -1;
}

static int
fake_stop(void **state)
{
	int st;

	(void)state;
	if (fake_pid > 0) {
		kill(fake_pid, SIGTERM);
		for (int i = 0; i < 100; i++) {
			if (waitpid(fake_pid, &st, WNOHANG) == fake_pid) {
				fake_pid = -1;
				break;
			}
			usleep(20000);
		}
		if (fake_pid > 0) {
			kill(fake_pid, SIGKILL);
			waitpid(fake_pid, &st, 0);
			fake_pid = -1;
		}
	}
	unlink(portfile);
	rmdir(tmpdir);
	return 0;
}

static void
url_of(char *out, size_t n, const char *path)
{
	assert_true((size_t)snprintf(out, n, "%s%s", base, path) < n);
}

/* POST to the fake's control paths; asserts a 2xx. */
static void
fake_post(const char *path, const char *json)
{
	static const char *const h[] = {"Content-Type: application/json", NULL};
	struct http_req q = {0};
	struct http_resp r;
	char url[256];

	url_of(url, sizeof(url), path);
	q.method = "POST";
	q.url = url;
	q.headers = h;
	q.body = json;
	q.body_len = strlen(json);
	q.timeout_ms = 5000;
	assert_int_equal(http_do(&q, &r), SJ_OK);
	if (r.status < 200 || r.status > 299)
		fail_msg("%s %s: %ld", path, json, r.status);
	http_resp_free(&r);
}

static int
fake_reset(void **state)
{
	(void)state;
	fake_post("/_reset", "{}");
	return 0;
}

/* A chat call with the given limits; returns the elapsed ms. */
static int64_t
chat(struct http_req *q, struct http_resp *r, enum sj_err want)
{
	static const char body[] = "{\"model\":\"gpt-6-luna\",\"messages\":[]}";
	static const char *const h[] = {"Content-Type: application/json", NULL};
	static char url[256];
	int64_t t0 = num_mono_ms();
	enum sj_err e;

	url_of(url, sizeof(url), "/v1/chat/completions");
	q->method = "POST";
	q->url = url;
	q->headers = h;
	q->body = body;
	q->body_len = sizeof(body) - 1;
	e = http_do(q, r);
	if (e != want)
		fail_msg("chat: %s, wanted %s", sj_strerror(e),
			 sj_strerror(want));
	return num_mono_ms() - t0;
}

static void
test_get(void **state)
{
	struct http_resp r;
	char url[256];

	url_of(url, sizeof(url), "/img/photo.png");
	assert_int_equal(get(HTTP_API, false, url, &r), SJ_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "image/png");
	assert_true(r.body.len > 8);
	assert_memory_equal(r.body.data, "\x89PNG\r\n\x1a\n", 8);
	assert_string_equal(r.final_url, url);
	assert_int_equal(r.retry_after_s, -1);
	http_resp_free(&r);

	/* a 404 is a complete response, not an error */
	url_of(url, sizeof(url), "/cdn/demo/image/upload/v1/none.png");
	assert_int_equal(get(HTTP_API, false, url, &r), SJ_OK);
	assert_int_equal(r.status, 404);
	http_resp_free(&r);

	/* HTTP_FETCH: plain http and loopback only with the test switch */
	url_of(url, sizeof(url), "/img/photo.png");
	refused(HTTP_FETCH, false, url);
	assert_int_equal(get(HTTP_FETCH, true, url, &r), SJ_OK);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);
}

/* "/redirect?to=" n times around path, each Location relative. */
static void
nest(char *out, size_t n, const char *path, int times)
{
	char cur[1024], esc[1024];

	snprintf(cur, sizeof(cur), "%s", path);
	for (int i = 0; i < times; i++) {
		size_t k = 0;

		for (const char *p = cur; *p && k + 4 < sizeof(esc); p++) {
			if ((*p >= 'a' && *p <= 'z') ||
			    (*p >= '0' && *p <= '9') || *p == '.') {
				esc[k++] = *p;
			} else {
				snprintf(esc + k, 4, "%%%02X",
					 (unsigned char)*p);
				k += 3;
			}
		}
		esc[k] = '\0';
		assert_true((size_t)snprintf(cur, sizeof(cur),
					     "/redirect?to=%s",
					     esc) < sizeof(cur));
	}
	url_of(out, n, cur);
}

static void
test_redirects(void **state)
{
	struct http_resp r;
	char url[1024], abs[256];

	/* absolute Location */
	url_of(abs, sizeof(abs), "/img/photo.png");
	nest(url, sizeof(url), abs, 1);
	assert_int_equal(get(HTTP_FETCH, true, url, &r), SJ_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.final_url, abs);
	assert_string_equal(r.content_type, "image/png");
	http_resp_free(&r);

	/* relative, HTTP_REDIRECTS hops: followed */
	nest(url, sizeof(url), "/img/photo.jpg", HTTP_REDIRECTS);
	assert_int_equal(get(HTTP_FETCH, true, url, &r), SJ_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "image/jpeg");
	url_of(abs, sizeof(abs), "/img/photo.jpg");
	assert_string_equal(r.final_url, abs);
	http_resp_free(&r);

	/* one hop too many */
	nest(url, sizeof(url), "/img/photo.jpg", HTTP_REDIRECTS + 1);
	refused(HTTP_FETCH, true, url);

	/* a loop */
	url_of(url, sizeof(url), "/redirect-loop");
	refused(HTTP_FETCH, true, url);

	/* each hop is checked: scheme, userinfo */
	nest(url, sizeof(url), "ftp://127.0.0.1/x", 1);
	refused(HTTP_FETCH, true, url);
	snprintf(abs, sizeof(abs), "http://u:p@%s/img/photo.png", base + 7);
	nest(url, sizeof(url), abs, 1);
	refused(HTTP_FETCH, true, url);

	/* HTTP_API hands the 3xx back */
	nest(url, sizeof(url), "/img/photo.png", 1);
	assert_int_equal(get(HTTP_API, false, url, &r), SJ_OK);
	assert_int_equal(r.status, 302);
	assert_string_equal(r.final_url, url);
	http_resp_free(&r);
}

/* The caller's headers go to the first origin only. */
static void
test_redirect_headers(void **state)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
				 "Connection: close\r\n\r\n";
	static const char *const h[] = {"X-Secret: s3", NULL};
	struct http_req q = {0};
	struct http_resp r;
	struct oneshot o;
	char url[512], to[128];

	q.policy = HTTP_FETCH;
	q.test_allow_loopback = true;
	q.headers = h;
	q.url = url;

	oneshot_start(&o, ok);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/direct", o.port);
	assert_int_equal(http_do(&q, &r), SJ_OK);
	oneshot_stop(&o);
	http_resp_free(&r);
	assert_non_null(strstr(o.got, "X-Secret: s3"));

	oneshot_start(&o, ok);
	snprintf(to, sizeof(to), "http://127.0.0.1:%d/moved", o.port);
	nest(url, sizeof(url), to, 1);
	assert_int_equal(http_do(&q, &r), SJ_OK);
	oneshot_stop(&o);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.final_url, to);
	http_resp_free(&r);
	assert_non_null(strstr(o.got, "GET /moved"));
	assert_null(strstr(o.got, "X-Secret"));
}

static void
test_size_cap(void **state)
{
	struct http_req q = {0};
	struct http_resp r;
	char url[256];
	int64_t ms;

	fake_post("/_script",
		  "{\"path\":\"/v1/chat/completions\",\"default\":\"big\"}");
	q.policy = HTTP_FETCH;
	q.test_allow_loopback = true;
	q.max_response = 1 << 20;
	ms = chat(&q, &r, SJ_ETOOBIG);
	assert_int_equal(r.status, 0);
	assert_null(r.body.data);
	assert_true(ms < 5000);
	http_resp_free(&r);

	/* a small cap on a real image */
	url_of(url, sizeof(url), "/img/photo.png");
	memset(&q, 0, sizeof(q));
	q.url = url;
	q.max_response = 100;
	assert_int_equal(http_do(&q, &r), SJ_ETOOBIG);
	http_resp_free(&r);
}

static void
test_size_cap_chunked(void **state)
{
	struct http_resp r;
	int64_t ms = num_mono_ms();

	assert_int_equal(canned(NULL, 1 << 20, &r), SJ_ETOOBIG);
	ms = num_mono_ms() - ms;
	assert_int_equal(r.status, 0);
	assert_null(r.body.data);
	assert_true(ms < 5000);
	http_resp_free(&r);
}

static void
test_headers(void **state)
{
	struct http_resp r;
	char date[64], answer[256];
	time_t t = time(NULL) + 100;
	struct tm tm;

	/* delta-seconds, clamped */
	assert_int_equal(canned("HTTP/1.1 503 Busy\r\nRetry-After: 42\r\n"
				"Content-Length: 0\r\n\r\n",
				0, &r),
			 SJ_OK);
	assert_int_equal(r.status, 503);
	assert_int_equal(r.retry_after_s, 42);
	http_resp_free(&r);
	assert_int_equal(
	    canned("HTTP/1.1 429 Slow\r\nretry-after: 99999999999999\r\n"
		   "Content-Length: 0\r\n\r\n",
		   0, &r),
	    SJ_OK);
	assert_int_equal(r.retry_after_s, 86400);
	http_resp_free(&r);

	/* an HTTP-date, converted; garbage is absent */
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(answer, sizeof(answer),
		 "HTTP/1.1 503 Busy\r\nRetry-After: %s\r\n"
		 "Content-Length: 0\r\n\r\n",
		 date);
	assert_int_equal(canned(answer, 0, &r), SJ_OK);
	assert_true(r.retry_after_s >= 95 && r.retry_after_s <= 100);
	http_resp_free(&r);
	assert_int_equal(canned("HTTP/1.1 503 Busy\r\nRetry-After: soon\r\n"
				"Content-Length: 0\r\n\r\n",
				0, &r),
			 SJ_OK);
	assert_int_equal(r.retry_after_s, -1);
	http_resp_free(&r);

	/* headers of an interim 1xx response are forgotten */
	assert_int_equal(
	    canned("HTTP/1.1 103 Early Hints\r\nContent-Type: text/x-early\r\n"
		   "Retry-After: 5\r\n\r\n"
		   "HTTP/1.1 200 OK\r\nContent-Type:  image/png ; q=1 \r\n"
		   "Content-Length: 2\r\n\r\nok",
		   0, &r),
	    SJ_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "image/png ; q=1");
	assert_int_equal(r.retry_after_s, -1);
	assert_int_equal(r.body.len, 2);
	assert_string_equal(r.body.data, "ok");
	http_resp_free(&r);

	/* a body exactly at the cap passes */
	assert_int_equal(canned("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n"
				"\r\nabcd",
				4, &r),
			 SJ_OK);
	assert_int_equal(r.body.len, 4);
	http_resp_free(&r);

	/* a redirect without Location, or to a loopback name */
	assert_int_equal(canned("HTTP/1.1 302 Found\r\nContent-Length: 0\r\n"
				"\r\n",
				0, &r),
			 SJ_EPERMANENT);
	http_resp_free(&r);
	assert_int_equal(canned("HTTP/1.1 302 Found\r\nLocation: "
				"https://169.254.169.254/latest/meta-data/\r\n"
				"Content-Length: 0\r\n\r\n",
				0, &r),
			 SJ_EPERMANENT);
	http_resp_free(&r);
}

static void
test_timeout(void **state)
{
	struct http_req q = {0};
	struct http_resp r;
	int64_t ms;

	fake_post("/_script",
		  "{\"path\":\"/v1/chat/completions\",\"default\":\"hang\"}");
	q.timeout_ms = 1000;
	ms = chat(&q, &r, SJ_ETRANSIENT);
	assert_int_equal(r.status, 0);
	print_message("hang with timeout 1000 ms: %lld ms\n", (long long)ms);
	assert_true(ms >= 900 && ms < 1500);
	http_resp_free(&r);
}

static void
test_trickle(void **state)
{
	struct http_req q = {0};
	struct http_resp r;
	int64_t ms;

	fake_post(
	    "/_script",
	    "{\"path\":\"/v1/chat/completions\",\"default\":\"trickle\"}");
	q.timeout_ms = 20000;
	q.low_speed_bps = 100;
	q.low_speed_s = 2;
	ms = chat(&q, &r, SJ_ETRANSIENT);
	print_message("trickle below 100 B/s for 2 s: %lld ms\n",
		      (long long)ms);
	assert_true(ms >= 1500 && ms < 4500);
	http_resp_free(&r);
}

static int64_t abort_at;

static bool
abort_after(void *arg)
{
	(void)arg;
	return num_mono_ms() >= abort_at;
}

static void
test_abort(void **state)
{
	struct http_req q = {0};
	struct http_resp r;
	int64_t ms;

	fake_post("/_script",
		  "{\"path\":\"/v1/chat/completions\",\"default\":\"hang\"}");
	q.timeout_ms = 30000;
	q.abort_cb = abort_after;
	abort_at = num_mono_ms() + 300;
	ms = chat(&q, &r, SJ_ELOST);
	print_message("abort after 300 ms: %lld ms\n", (long long)ms);
	assert_true(ms >= 290 && ms < 1300);
	http_resp_free(&r);

	/* already aborted: no call */
	abort_at = 0;
	ms = chat(&q, &r, SJ_ELOST);
	assert_true(ms < 200);
	http_resp_free(&r);
}

static void
test_status_answers(void **state)
{
	struct http_req q = {0};
	struct http_resp r;

	fake_post("/_script", "{\"path\":\"/v1/chat/completions\","
			      "\"modes\":[\"429:7\",\"500\",\"400\"]}");
	chat(&q, &r, SJ_OK);
	assert_int_equal(r.status, 429);
	assert_int_equal(r.retry_after_s, 7);
	assert_true(http_status_transient(r.status));
	http_resp_free(&r);

	chat(&q, &r, SJ_OK);
	assert_int_equal(r.status, 500);
	assert_int_equal(r.retry_after_s, -1);
	assert_true(http_status_transient(r.status));
	http_resp_free(&r);

	chat(&q, &r, SJ_OK);
	assert_int_equal(r.status, 400);
	assert_false(http_status_transient(r.status));
	http_resp_free(&r);

	/* queue empty: the default answer */
	chat(&q, &r, SJ_OK);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body.data, "chat.completion"));
	assert_non_null(strstr(r.content_type, "application/json"));
	http_resp_free(&r);
}

/* ---- the Models API (lib/openai.c) ---- */

static void
test_models_get(void **state)
{
	char url[256], key[] = "sk-any", why[600];
	struct cfg c = {.openai_base_url = url,
			.openai_api_key = key,
			.openai_model = (char *)"gpt-6-luna"};
	struct json_object *list = NULL;
	struct oai_model_state st;

	(void)state;
	url_of(url, sizeof(url), "/v1");
	assert_int_equal(oai_models_get(&c, 5000, &list, why, sizeof(why)),
			 SJ_OK);
	assert_int_equal(oai_models_find(list, "gpt-6-luna", &st), SJ_OK);
	assert_true(st.listed);
	assert_int_equal(oai_models_find(list, "dall-e-3", &st), SJ_OK);
	assert_false(st.listed);
	json_object_put(list);
	/* a refusal is an error with the reason */
	fake_post("/_models", "{\"status\":503}");
	assert_int_equal(oai_models_get(&c, 5000, &list, why, sizeof(why)),
			 SJ_EPERMANENT);
	assert_null(list);
	assert_non_null(strstr(why, "HTTP 503"));
	/* a base URL without /v1: the API's 404 names the URL, no model */
	fake_post("/_models", "{}");
	url_of(url, sizeof(url), "");
	assert_int_equal(oai_models_get(&c, 5000, &list, why, sizeof(why)),
			 SJ_EPERMANENT);
	assert_non_null(strstr(why, "/models answered 404 (HTTP 404): check "
				    "OPENAI_BASE_URL"));
	assert_null(strstr(why, "OPENAI_MODEL"));
	/* a refused key: a fixed line naming the setting */
	url_of(url, sizeof(url), "/v1");
	fake_post("/_models", "{\"status\":401}");
	assert_int_equal(oai_models_get(&c, 5000, &list, why, sizeof(why)),
			 SJ_EPERMANENT);
	assert_string_equal(why, "OPENAI_API_KEY was refused (HTTP 401): set "
				 "OPENAI_API_KEY to a valid key");
	/* a list that does not come in time */
	fake_post("/_models", "{\"delay_ms\":3000}");
	assert_int_equal(oai_models_get(&c, 300, &list, why, sizeof(why)),
			 SJ_ETRANSIENT);
	assert_null(list);
}

/* ---- the store ---- */

static char s_cloud[] = "cloudinary", s_local[] = "local", s_name[] = "demo",
	    s_key[] = "key1", s_secret[] = "sec1", s_wrong[] = "nope",
	    s_empty[] = "";

static void
cloud_cfg(struct cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->storage = s_cloud;
	c->cloudinary_cloud_name = s_name;
	c->cloudinary_api_key = s_key;
	c->cloudinary_api_secret = s_secret;
	c->cloudinary_api_base = base;
	c->public_base_url = s_empty;
}

static void
test_store_cloudinary(void **state)
{
	struct cfg c;
	struct http_resp img, back;
	char url[STORE_URL_MAX], want[256];

	url_of(want, sizeof(want), "/img/photo.png");
	assert_int_equal(get(HTTP_API, false, want, &img), SJ_OK);
	assert_int_equal(img.status, 200);

	cloud_cfg(&c);
	assert_int_equal(store_put(&c, "job1-cover.png", img.body.data,
				   img.body.len, "image/png", NULL, NULL, url),
			 SJ_OK);
	url_of(want, sizeof(want), "/cdn/demo/image/upload/v1/job1-cover.");
	assert_memory_equal(url, want, strlen(want));
	assert_int_equal(get(HTTP_API, false, url, &back), SJ_OK);
	assert_int_equal(back.status, 200);
	assert_int_equal(back.body.len, img.body.len);
	assert_memory_equal(back.body.data, img.body.data, img.body.len);
	http_resp_free(&back);

	/* retried step: same name overwrites */
	assert_int_equal(store_put(&c, "job1-cover.png", "abc", 3, "image/png",
				   NULL, NULL, url),
			 SJ_OK);
	assert_int_equal(get(HTTP_API, false, url, &back), SJ_OK);
	assert_int_equal(back.body.len, 3);
	http_resp_free(&back);

	assert_int_equal(store_find(&c, "job1-cover.png", url), SJ_ENOTFOUND);

	c.cloudinary_api_secret = s_wrong;
	assert_int_equal(store_put(&c, "job1-x.png", img.body.data,
				   img.body.len, "image/png", NULL, NULL, url),
			 SJ_EPERMANENT);
	c.cloudinary_api_secret = s_secret;
	c.cloudinary_api_key = s_wrong;
	assert_int_equal(
	    store_put(&c, "job1-x.png", "abc", 3, "image/png", NULL, NULL, url),
	    SJ_EPERMANENT);
	c.cloudinary_api_key = s_key;

	/* bad names never reach the network */
	assert_int_equal(
	    store_put(&c, "../x.png", "a", 1, "image/png", NULL, NULL, url),
	    SJ_EINVAL);
	assert_int_equal(
	    store_put(&c, "x.png", "a", 1, "image/png;x", NULL, NULL, url),
	    SJ_EINVAL);
	http_resp_free(&img);
}

static void
test_store_cloudinary_faults(void **state)
{
	struct cfg c;
	char url[STORE_URL_MAX];
	int64_t ms;

	cloud_cfg(&c);
	fake_post("/_script", "{\"path\":\"/v1_1/upload\","
			      "\"modes\":[\"500\",\"429:1\",\"400\","
			      "\"malformed\"]}");
	assert_int_equal(
	    store_put(&c, "a.png", "abc", 3, "image/png", NULL, NULL, url),
	    SJ_ETRANSIENT);
	assert_int_equal(
	    store_put(&c, "a.png", "abc", 3, "image/png", NULL, NULL, url),
	    SJ_ETRANSIENT);
	assert_int_equal(
	    store_put(&c, "a.png", "abc", 3, "image/png", NULL, NULL, url),
	    SJ_EPERMANENT);
	assert_int_equal(
	    store_put(&c, "a.png", "abc", 3, "image/png", NULL, NULL, url),
	    SJ_ETRANSIENT);
	assert_int_equal(
	    store_put(&c, "a.png", "abc", 3, "image/png", NULL, NULL, url),
	    SJ_OK);

	fake_post("/_script",
		  "{\"path\":\"/v1_1/upload\",\"default\":\"hang\"}");
	abort_at = num_mono_ms() + 200;
	ms = num_mono_ms();
	assert_int_equal(store_put(&c, "b.png", "abc", 3, "image/png",
				   abort_after, NULL, url),
			 SJ_ELOST);
	ms = num_mono_ms() - ms;
	assert_true(ms < 1200);
}

static void
test_store_local(void **state)
{
	char dir[] = "/tmp/sj-test-media-XXXXXX", path[128],
	     pub[] = "https://x.test/";
	char url[STORE_URL_MAX], got[16];
	struct cfg c;
	FILE *f;
	size_t n;

	assert_non_null(mkdtemp(dir));
	memset(&c, 0, sizeof(c));
	c.storage = s_local;
	c.media_dir = dir;
	c.public_base_url = pub;
	assert_int_equal(store_find(&c, "p1.png", url), SJ_ENOTFOUND);
	assert_int_equal(
	    store_put(&c, "p1.png", "hello", 5, "image/png", NULL, NULL, url),
	    SJ_OK);
	assert_string_equal(url, "https://x.test/media/p1.png");
	snprintf(path, sizeof(path), "%s/p1.png", dir);
	assert_non_null(f = fopen(path, "rb"));
	n = fread(got, 1, sizeof(got), f);
	fclose(f);
	assert_int_equal(n, 5);
	assert_memory_equal(got, "hello", 5);
	url[0] = 'x';
	assert_int_equal(store_find(&c, "p1.png", url), SJ_OK);
	assert_string_equal(url, "https://x.test/media/p1.png");
	assert_int_equal(
	    store_put(&c, "../p2.png", "x", 1, "image/png", NULL, NULL, url),
	    SJ_EINVAL);
	assert_int_equal(
	    store_put(&c, ".hidden", "x", 1, "image/png", NULL, NULL, url),
	    SJ_EINVAL);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest offline[] = {
	    cmocka_unit_test(test_addr_v4),
	    cmocka_unit_test(test_addr_v6),
	    cmocka_unit_test(test_addr_other),
	    cmocka_unit_test(test_status_transient),
	    cmocka_unit_test(test_policy_before_connect),
	    cmocka_unit_test(test_size_cap_chunked),
	    cmocka_unit_test(test_headers),
	    cmocka_unit_test(test_store_local),
	};
	const struct CMUnitTest fake[] = {
	    cmocka_unit_test_setup(test_get, fake_reset),
	    cmocka_unit_test_setup(test_redirects, fake_reset),
	    cmocka_unit_test_setup(test_redirect_headers, fake_reset),
	    cmocka_unit_test_setup(test_size_cap, fake_reset),
	    cmocka_unit_test_setup(test_timeout, fake_reset),
	    cmocka_unit_test_setup(test_trickle, fake_reset),
	    cmocka_unit_test_setup(test_abort, fake_reset),
	    cmocka_unit_test_setup(test_status_answers, fake_reset),
	    cmocka_unit_test_setup(test_models_get, fake_reset),
	    cmocka_unit_test_setup(test_store_cloudinary, fake_reset),
	    cmocka_unit_test_setup(test_store_cloudinary_faults, fake_reset),
	};
	int failed;

	signal(SIGPIPE, SIG_IGN);
	if (http_global_init() != SJ_OK)
		return 1;
	failed =
	    cmocka_run_group_tests_name("http offline", offline, NULL, NULL);
	failed += cmocka_run_group_tests_name("http fake upstream", fake,
					      fake_start, fake_stop);
	http_global_cleanup();
	return failed != 0;
}
