/*
 * test_abuse, accounts and the edge: password guessing from many
 * addresses meets the per-account delay (an unknown email the same, the
 * right password refused while it runs, no session written); the
 * delay grows for the guesser and a success resets it; behind a trusted
 * proxy (PROXIED_URL: the site rendered with 127.0.0.1 listed in
 * storyjobs-real-ip.conf) the forwarded address is the client for the
 * limits, the programs and /metrics, and an untrusted peer's
 * X-Forwarded-For is ignored; a client holding many requests open is
 * refused past its share while another is served; a short WEBHOOK_SECRET
 * stops every program and check-config.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "abuse.h"
#include "itest.h"

#define PW "password-abuse"

/* A user made with storyjobsctl (no login, so no session row). */
static void
make_user(const char *email)
{
	const char *args[] = {"user", "add", email, NULL};

	assert_int_equal(itest_ctl(PW "\n", args), 0);
}

/* A login on BASE_URL (or url's site) from addr, with extra headers. */
static void
login_from(const char *site, const char *addr, const char *xff,
	   const char *email, const char *pw, struct resp *r)
{
	char body[512], url[512], fwd[128];
	const char *h[3] = {"Content-Type: application/json", NULL, NULL};

	snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}",
		 email, pw);
	snprintf(url, sizeof(url), "%s/api/auth/login",
		 site ? site : itest_base);
	if (xff != NULL) {
		snprintf(fwd, sizeof(fwd), "X-Forwarded-For: %s", xff);
		h[1] = fwd;
	}
	itest_source(addr);
	http("POST", url, h, body, -1, r);
	itest_source(NULL);
}

/* Asserts the per-account 429: the contract's body and header. */
static long long
expect_delayed(struct resp *r)
{
	long long after;

	expect_error(r, 429, "RATE_LIMIT_EXCEEDED",
		     "Too many requests; try again later");
	after = jint(r->json, "retryAfter");
	assert_true(after >= 1);
	assert_int_equal(strtoll(r->retry_after, NULL, 10), after);
	return after;
}

static long long
sessions_of(const char *email)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM sessions s JOIN users u ON "
		 "u.id = s.user_id WHERE u.email = '%s'",
		 email);
	return sql_ll(sql);
}

/* Rows of login_backoff of email's account (client "" or addr). */
static long long
backoff_rows(const char *email, const char *client)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM login_backoff WHERE account = "
		 "sha256(convert_to('%s', 'UTF8')) AND client = '%s'",
		 email, client);
	return sql_ll(sql);
}

/* Known rows (sql/014) of email's account for client: no failures. */
static long long
known_rows(const char *email, const char *client)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM login_backoff WHERE account = "
		 "sha256(convert_to('%s', 'UTF8')) AND client = '%s' AND "
		 "failures = 0 AND known_until > now() + interval '29 days'",
		 email, client);
	return sql_ll(sql);
}

/*
 * Five wrong passwords from five addresses (each under nginx's limit),
 * then the right one from a sixth: 429 with retryAfter, and no session.
 * An email no user has gets the same answers.  Once the wait is over the
 * right password signs in and the count is gone, and that address is
 * known to the account: five more wrong passwords from fresh addresses
 * hold a stranger back, not the user from where they signed in.
 */
static void
test_guessing_from_many_addresses(void **state)
{
	static const char *const addrs[] = {"127.0.0.21", "127.0.0.22",
					    "127.0.0.23", "127.0.0.24",
					    "127.0.0.25", "127.0.0.26"};
	static const char *const fresh[] = {"127.0.0.31", "127.0.0.32",
					    "127.0.0.33", "127.0.0.34",
					    "127.0.0.35"};
	char known[128], unknown[128], *emails[2] = {known, unknown};
	long long after[2];
	struct resp r;

	(void)state;
	snprintf(known, sizeof(known), "guess-%ld@example.com", (long)getpid());
	snprintf(unknown, sizeof(unknown), "nobody-%ld@example.com",
		 (long)getpid());
	make_user(known);
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < 5; i++) {
			login_from(NULL, addrs[i], NULL, emails[k],
				   "wrong-password", &r);
			expect_error(&r, 401, "UNAUTHORIZED",
				     "Invalid email or password");
			resp_free(&r);
		}
		login_from(NULL, addrs[5], NULL, emails[k], PW, &r);
		after[k] = expect_delayed(&r);
		resp_free(&r);
	}
	assert_int_equal(after[0], after[1]);
	assert_int_equal(sessions_of(known), 0);
	assert_int_equal(backoff_rows(known, ""), 1);
	assert_int_equal(backoff_rows(unknown, ""), 1);
	sleep((unsigned)after[0] + 1);
	login_from(NULL, addrs[5], NULL, known, PW, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	assert_int_equal(sessions_of(known), 1);
	assert_int_equal(backoff_rows(known, ""), 0);
	assert_int_equal(backoff_rows(known, addrs[0]), 1);
	/* addrs[5] is known now: no failures, known for 30 days */
	assert_int_equal(known_rows(known, addrs[5]), 1);
	/*
	 * The guesser again from fresh addresses: the account's delay holds
	 * a stranger back, never the address the user signed in from.
	 */
	for (int i = 0; i < 5; i++) {
		login_from(NULL, fresh[i], NULL, known, "wrong-password", &r);
		expect_error(&r, 401, "UNAUTHORIZED",
			     "Invalid email or password");
		resp_free(&r);
	}
	login_from(NULL, "127.0.0.36", NULL, known, PW, &r);
	(void)expect_delayed(&r);
	resp_free(&r);
	login_from(NULL, addrs[5], NULL, known, PW, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	assert_int_equal(sessions_of(known), 2);
}

/*
 * One address guessing: its wait doubles (1 s, then 2 s), the other
 * addresses wait the account's (no longer than the guesser's), and the
 * user's right password from elsewhere works once that is over.
 */
static void
test_delay_grows_for_the_guesser(void **state)
{
	char email[128];
	long long a, b;
	struct resp r;

	(void)state;
	snprintf(email, sizeof(email), "grow-%ld@example.com", (long)getpid());
	make_user(email);
	for (int i = 0; i < 5; i++) {
		login_from(NULL, "127.0.0.31", NULL, email, "wrong-password",
			   &r);
		expect_error(&r, 401, "UNAUTHORIZED", NULL);
		resp_free(&r);
	}
	login_from(NULL, "127.0.0.31", NULL, email, "wrong-password", &r);
	assert_int_equal(expect_delayed(&r), 1);
	resp_free(&r);
	sleep(2);
	login_from(NULL, "127.0.0.31", NULL, email, "wrong-password", &r);
	expect_error(&r, 401, "UNAUTHORIZED", NULL);
	resp_free(&r);
	login_from(NULL, "127.0.0.31", NULL, email, "wrong-password", &r);
	a = expect_delayed(&r);
	resp_free(&r);
	assert_int_equal(a, 2);
	login_from(NULL, "127.0.0.32", NULL, email, PW, &r);
	b = expect_delayed(&r);
	resp_free(&r);
	assert_true(b <= a);
	assert_int_equal(sessions_of(email), 0);
	sleep((unsigned)b + 1);
	login_from(NULL, "127.0.0.32", NULL, email, PW, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	/* the guesser's own count stays */
	assert_int_equal(backoff_rows(email, "127.0.0.31"), 1);
}

/* A request to the proxied site from addr with X-Forwarded-For xff. */
static long
proxied(const char *addr, const char *xff, const char *method, const char *path,
	const char *body)
{
	const char *base = getenv("PROXIED_URL");
	const char *h[3] = {"Content-Type: application/json", NULL, NULL};
	char url[512], fwd[128];
	struct resp r;
	long st;

	assert_non_null(base);
	assert_true(*base != '\0');
	snprintf(url, sizeof(url), "%s%s", base, path);
	if (xff != NULL) {
		snprintf(fwd, sizeof(fwd), "X-Forwarded-For: %s", xff);
		h[1] = fwd;
	}
	itest_source(addr);
	http(method, url, h, body, body ? -1 : 0, &r);
	itest_source(NULL);
	st = r.status;
	if (st == 429)
		assert_string_equal(jstr(r.json, "code"),
				    "RATE_LIMIT_EXCEEDED");
	resp_free(&r);
	return st;
}

/* Login requests (an empty body: 400, nothing counted) until a 429. */
static int
logins_until_limited(const char *addr, const char *xff, int max)
{
	for (int i = 1; i <= max; i++)
		if (proxied(addr, xff, "POST", "/api/auth/login", "{}") == 429)
			return i;
	return 0;
}

/*
 * nginx's login limit (burst 10) behind a trusted proxy, 127.0.0.1:
 * requests it forwards for 127.0.0.41 are counted as 127.0.0.41 (a
 * direct request from that address is then limited too, another
 * forwarded address is not); a peer not listed (127.0.0.42) is counted
 * as itself whatever X-Forwarded-For it sends.
 */
static void
test_trusted_proxy_limits(void **state)
{
	char xff[32];
	int n;

	(void)state;
	n = logins_until_limited("127.0.0.1", "127.0.0.41", 20);
	assert_true(n >= 10 && n <= 13);
	assert_int_equal(
	    proxied("127.0.0.41", NULL, "POST", "/api/auth/login", "{}"), 429);
	/* a client in front of the proxy claiming another address */
	assert_int_equal(proxied("127.0.0.1", "127.0.0.99, 127.0.0.41", "POST",
				 "/api/auth/login", "{}"),
			 429);
	assert_int_equal(
	    proxied("127.0.0.1", "127.0.0.43", "POST", "/api/auth/login", "{}"),
	    400);
	/* untrusted: each request names another address, all count */
	for (n = 1; n <= 20; n++) {
		snprintf(xff, sizeof(xff), "127.0.1.%d", n);
		if (proxied("127.0.0.42", xff, "POST", "/api/auth/login",
			    "{}") == 429)
			break;
	}
	assert_true(n >= 10 && n <= 13);
	assert_int_equal(proxied("127.0.0.42", "127.0.0.44", "POST",
				 "/api/auth/login", "{}"),
			 429);
	/* and the address it claimed was not charged */
	assert_int_equal(
	    proxied("127.0.0.1", "127.0.1.1", "POST", "/api/auth/login", "{}"),
	    400);
}

/*
 * The programs see the forwarded address as REMOTE_ADDR (the login
 * count is kept per address), and /metrics allows loopback only: the
 * proxy itself, not a client it forwards, nor a peer claiming loopback.
 */
static void
test_trusted_proxy_address(void **state)
{
	char email[128], body[256];

	(void)state;
	snprintf(email, sizeof(email), "proxied-%ld@example.com",
		 (long)getpid());
	snprintf(body, sizeof(body),
		 "{\"email\":\"%s\",\"password\":\"wrong-password\"}", email);
	assert_int_equal(
	    proxied("127.0.0.1", "127.0.0.51", "POST", "/api/auth/login", body),
	    401);
	assert_int_equal(proxied("127.0.0.52", "127.0.0.53", "POST",
				 "/api/auth/login", body),
			 401);
	assert_int_equal(backoff_rows(email, "127.0.0.51"), 1);
	assert_int_equal(backoff_rows(email, "127.0.0.52"), 1);
	assert_int_equal(backoff_rows(email, "127.0.0.53"), 0);
	assert_int_equal(backoff_rows(email, "127.0.0.1"), 0);
	assert_int_equal(proxied("127.0.0.1", NULL, "GET", "/metrics", NULL),
			 200);
	assert_int_equal(
	    proxied("127.0.0.1", "127.0.0.51", "GET", "/metrics", NULL), 404);
	assert_int_equal(
	    proxied("127.0.0.52", "127.0.0.1", "GET", "/metrics", NULL), 404);
}

/* A TCP connection to BASE_URL's port from addr; the socket. */
static int
connect_from(const char *addr)
{
	struct sockaddr_in src = {.sin_family = AF_INET}, dst = src;
	const char *port = strrchr(itest_base, ':');
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0 && port != NULL);
	assert_int_equal(inet_pton(AF_INET, addr, &src.sin_addr), 1);
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr), 1);
	dst.sin_port = htons((unsigned short)strtol(port + 1, NULL, 10));
	assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), 0);
	return fd;
}

/* Sends a GET on fd and returns the status nginx answers. */
static int
get_status(int fd)
{
	static const char req[] =
	    "GET /api/jobs/job_0_a HTTP/1.1\r\n"
	    "Host: localhost\r\nConnection: close\r\n\r\n";
	char buf[512];
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	assert_int_equal(write(fd, req, sizeof(req) - 1),
			 (ssize_t)sizeof(req) - 1);
	assert_int_equal(poll(&p, 1, 10000), 1);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n > 12);
	buf[n] = '\0';
	assert_memory_equal(buf, "HTTP/1.1 ", 9);
	return (int)strtol(buf + 9, NULL, 10);
}

/*
 * 64 requests in progress from one address (bodies announced, never
 * sent): the 65th is refused with 429 before any program sees it, while
 * another address is served; once they close, the address is served
 * again.
 */
static void
test_connections_per_client(void **state)
{
	static const char slow[] = "POST /api/jobs/job_0_a/cancel HTTP/1.1\r\n"
				   "Host: localhost\r\n"
				   "Content-Type: application/json\r\n"
				   "Content-Length: 100\r\n\r\n{";
	int fds[64], fd;

	(void)state;
	for (int i = 0; i < 64; i++) {
		fds[i] = connect_from("127.0.0.61");
		assert_int_equal(write(fds[i], slow, sizeof(slow) - 1),
				 (ssize_t)sizeof(slow) - 1);
	}
	usleep(300 * 1000); /* nginx reads every header */
	fd = connect_from("127.0.0.61");
	assert_int_equal(get_status(fd), 429);
	close(fd);
	fd = connect_from("127.0.0.62");
	assert_int_equal(get_status(fd), 404); /* JOB_NOT_FOUND */
	close(fd);
	for (int i = 0; i < 64; i++)
		close(fds[i]);
	usleep(300 * 1000);
	fd = connect_from("127.0.0.61");
	assert_int_equal(get_status(fd), 404);
	close(fd);
}

/*
 * Runs prog (args NULL-terminated) with WEBHOOK_SECRET=secret; its exit
 * status, and stdout and stderr together in out.
 */
static int
run_with_secret(const char *secret, const char *const *args, char *out,
		size_t outsz)
{
	size_t n = 0;
	int fds[2], st = 0;
	ssize_t k;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		setenv("WEBHOOK_SECRET", secret, 1);
		execv(args[0], (char *const *)(uintptr_t)args);
		_exit(127);
	}
	close(fds[1]);
	while (n + 1 < outsz && (k = read(fds[0], out + n, outsz - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/*
 * A WEBHOOK_SECRET of 31 bytes: every FastCGI program, the worker and
 * check-config refuse to start, naming the setting, never its value.
 */
static void
test_short_webhook_secret(void **state)
{
	static const char *const progs[] = {"jobs", "auth", "health", "cron",
					    "admin"};
	const char *dir = getenv("FCGI_DIR"), *worker = getenv("WORKER_BIN");
	const char *ctl = getenv("STORYJOBSCTL");
	const char *secret = "0123456789abcdef0123456789abcde";
	char path[512], sock[64], out[16384];
	const char *args[6];

	(void)state;
	assert_non_null(dir);
	assert_non_null(worker);
	assert_non_null(ctl);
	snprintf(sock, sizeof(sock), "/tmp/sj-abuse-%ld.sock", (long)getpid());
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		snprintf(path, sizeof(path), "%s/storyjobs-%s", dir, progs[i]);
		args[0] = path;
		args[1] = "--socket";
		args[2] = sock;
		args[3] = NULL;
		assert_int_equal(
		    run_with_secret(secret, args, out, sizeof(out)), 78);
		assert_non_null(strstr(out, "WEBHOOK_SECRET=(set, 31 bytes): "
					    "must be at least 32 bytes"));
		assert_null(strstr(out, secret));
		assert_int_equal(access(sock, F_OK), -1);
	}
	args[0] = worker;
	args[1] = NULL;
	assert_int_equal(run_with_secret(secret, args, out, sizeof(out)), 78);
	assert_non_null(strstr(out, "WEBHOOK_SECRET=(set, 31 bytes): must be "
				    "at least 32 bytes"));
	args[0] = ctl;
	args[1] = "check-config";
	args[2] = NULL;
	assert_int_equal(run_with_secret(secret, args, out, sizeof(out)), 78);
	assert_non_null(strstr(out, "error: WEBHOOK_SECRET=(set, 31 bytes): "
				    "must be at least 32 bytes, or unset"));
	assert_null(strstr(out, secret));
	/* 32 bytes pass */
	assert_int_equal(run_with_secret("0123456789abcdef0123456789abcdef",
					 args, out, sizeof(out)),
			 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_guessing_from_many_addresses),
    cmocka_unit_test(test_delay_grows_for_the_guesser),
    cmocka_unit_test(test_trusted_proxy_limits),
    cmocka_unit_test(test_trusted_proxy_address),
    cmocka_unit_test(test_connections_per_client),
    cmocka_unit_test(test_short_webhook_secret),
};

const struct abuse_part abuse_auth = {"abuse_auth", tests,
				      sizeof(tests) / sizeof(tests[0])};
