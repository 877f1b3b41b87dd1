/*
 * storyjobs-health: GET /api/jobs/health (the contract's health document,
 * 503 when critical) and GET /metrics (Prometheus text exposition, served
 * by nginx to loopback only).
 *
 * Both documents are built in lib/ (health.c, health_metrics.c); this
 * file only routes and answers.
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "health.h"
#include "log.h"
#include "req.h"
#include "server.h"

#define PROG	    "storyjobs-health"
#define METRICS_MAX (4 * 1024 * 1024)

static void
h_metrics(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	struct buf b;
	enum sj_err e;

	(void)caps;
	buf_init(&b, METRICS_MAX);
	if ((e = health_metrics(r->db, &b)) != SJ_OK) {
		buf_free(&b);
		req_fail(r, e);
		return;
	}
	req_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data,
		 b.len);
	buf_free(&b);
}

static void
h_health(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	struct json_object *doc = NULL;
	int status = 200;
	enum sj_err e;

	(void)caps;
	if ((e = health_build(r->db, r->cfg, &doc, &status)) != SJ_OK) {
		req_fail(r, e);
		return;
	}
	req_json(r, status, doc, "no-store");
	json_object_put(doc);
}

static const struct route routes[] = {
    {"GET", "/api/jobs/health", h_health},
    {"GET", "/metrics", h_metrics},
};

int
main(int argc, char **argv)
{
	return req_main(argc, argv, PROG, routes,
			sizeof(routes) / sizeof(routes[0]));
}
