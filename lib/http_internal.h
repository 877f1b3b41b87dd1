/*
 * What http.c (the transfer) and http_policy.c (what a call may reach)
 * share; nothing outside those two includes it.
 */
#ifndef SJ_HTTP_INTERNAL_H
#define SJ_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "http.h"

/* True for 127/8, ::1 and ::ffff:127.0.0.0/104. */
bool http_addr_loopback(const struct sockaddr *sa);
/*
 * Checks the URL in u against req's policy and writes it, as curl will
 * use it, into out.  *plain_http is set for an allowed http URL.
 */
enum sj_err http_url_check(const struct http_req *req, CURLU *u,
			   bool *plain_http, char *out, size_t outsz);
/* True when a and b have the same scheme, host and port. */
bool http_same_origin(CURLU *a, CURLU *b);

#endif
