/*
 * The fake upstream server's internal interfaces: HTTP framing
 * (fake_http.c), shared state behind one mutex (fake_state.c), and the
 * answers of the fake APIs (fake_api.c).  fake_upstream.c holds main, the
 * listener, the per-connection threads, routing and the fault modes.
 */
#ifndef SJ_FAKE_H
#define SJ_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define FAKE_HEAD_MAX	(64u << 10) /* request line + headers */
#define FAKE_BODY_MAX	(32u << 20) /* request body */
#define FAKE_TARGET_MAX 8192	    /* request target */
#define FAKE_AUTH_MAX	512	    /* Authorization header */
#define FAKE_CONN_MAX	(FAKE_HEAD_MAX + FAKE_BODY_MAX) /* input buffer */

/* Set once in main before the first thread starts; read-only after. */
struct fake_cfg {
	int port;
	const char *api_key;	  /* NULL: no Bearer check */
	const char *cloud_name;	  /* NULL: any cloud name */
	const char *cloud_key;	  /* NULL: any api_key */
	const char *cloud_secret; /* NULL: no signature check */
};
extern struct fake_cfg fake_cfg;

/* ---- fake_http.c ---- */

struct conn {
	int fd;
	struct buf in; /* bytes received and not yet consumed */
};

/* One parsed request; body points into conn.in and may be edited. */
struct req {
	char method[8];
	char target[FAKE_TARGET_MAX];
	char path[FAKE_TARGET_MAX]; /* percent-decoded path */
	const char *query;	    /* into target, after '?', or "" */
	char auth[FAKE_AUTH_MAX];
	bool close; /* the client asked for Connection: close */
	char *body;
	size_t blen;
	size_t consumed; /* bytes of conn.in this request used */
};

/* What a handler answers; the transport decides how to send it. */
struct reply {
	int status;
	const char *ctype;
	char extra[FAKE_TARGET_MAX + 256]; /* header lines, each ending \r\n */
	struct buf body;
};

/*
 * Reads one request.  SJ_OK: *r is filled.  SJ_EIO: the peer closed or
 * went idle; close quietly.  Anything else: *status is the error status
 * to answer before closing (400, 413, 431, 501).
 */
enum sj_err http_read_req(struct conn *c, struct req *r, int *status) SJ_WUR;
/* Drops the bytes of r from c's input. */
void http_consume(struct conn *c, const struct req *r);
/* Sends all of p; false when the peer is gone or stalls. */
bool http_send(int fd, const void *p, size_t n);
/* Sends the status line and headers for a body of n bytes. */
bool http_send_head(int fd, int status, const char *ctype, const char *extra,
		    size_t n, bool close);
/* Sends a whole reply (no body when head). */
bool http_send_reply(int fd, const struct reply *rep, bool head, bool close);
/*
 * Waits up to ms for the peer to close, discarding anything it sends.
 * True when it closed or the socket failed.
 */
bool http_wait_gone(int fd, int ms);
/*
 * Percent-decodes s[0..n) in place ('+' is a space when plus); returns
 * the new length, or (size_t)-1 on a bad escape or an encoded NUL.  s must
 * have room for n + 1 bytes: the result is NUL-terminated.
 */
size_t url_decode(char *s, size_t n, bool plus);

void reply_init(struct reply *rep);
void reply_free(struct reply *rep);
/* Sets an error reply {"error":{"message":msg,"type":type}}. */
void reply_error(struct reply *rep, int status, const char *type,
		 const char *msg);
/* The whole OpenAI envelope {"error":{message,type,param,code}}. */
void reply_api_error(struct reply *rep, int status, const char *type,
		     const char *param, const char *code, const char *msg);
/* Sets a reply with a copy of body; status 500 if memory runs out. */
void reply_set(struct reply *rep, int status, const char *ctype,
	       const void *body, size_t n);

/* ---- fake_state.c ---- */

enum mode_kind {
	MODE_OK = 0,
	MODE_429,
	MODE_500,
	MODE_400,
	MODE_HANG,
	MODE_TRICKLE,
	MODE_BIG,
	MODE_MALFORMED,
	MODE_DELAY,
	MODE_URL,   /* images: answer {"data":[{"url"}]} (state_answer_url) */
	MODE_ERROR, /* the path's scripted error envelope (state_error) */
	MODE_MAX
};

struct mode {
	enum mode_kind kind;
	unsigned arg;  /* 429: Retry-After seconds; delay: milliseconds */
	char name[24]; /* as scripted, for the call log */
};

/* The scripted paths. */
enum slot { SLOT_CHAT = 0, SLOT_IMAGES, SLOT_UPLOAD, SLOT_MAX };

enum sj_err mode_parse(const char *s, struct mode *m) SJ_WUR;
/* The slot a /_script path names, or -1. */
int slot_of_script_path(const char *path);

void state_init(void);
/* Clears log, queues, defaults and uploads. */
void state_reset(void);
/* Appends modes to slot's queue and, when def, sets its default. */
enum sj_err state_script(enum slot s, const struct mode *modes, size_t n,
			 const struct mode *def) SJ_WUR;
/* Pops the next mode of the slot's queue, or returns its default. */
struct mode state_take_mode(enum slot s);

/*
 * Logs the start of a call with the request's model and its top-level
 * fields (sorted, comma-separated); returns its id for calls_end (0: not
 * logged).
 */
uint64_t calls_begin(const char *path, const char *key, const char *mode,
		     const char *model, const char *fields);
void calls_end(uint64_t id, int status, bool completed);
/*
 * Records what a call's answer said it used (its usage's tokens, the
 * images it held), shown in the call log as tokens_in, tokens_out and
 * images.
 */
void calls_usage(uint64_t id, int64_t tokens_in, int64_t tokens_out,
		 int64_t images);
enum sj_err calls_json(struct buf *out) SJ_WUR;

/* Stores a copy of data under id, replacing what was there. */
enum sj_err store_put(const char *id, const char *mime, const void *data,
		      size_t n) SJ_WUR;
/* Copies the stored bytes of id into rep (SJ_ENOTFOUND when none). */
enum sj_err store_get(const char *id, struct reply *rep) SJ_WUR;

/*
 * The GET /v1/models script: ids left out of the list (and then refused
 * like unknown models), retired ids served again, shutdown dates
 * replacing the built-in ones, no shutdown_date fields at all (as some
 * compatible servers), a delay and a status to answer instead.
 */
#define MODELS_SCRIPT_MAX 16
struct models_script {
	char omit[MODELS_SCRIPT_MAX][96];
	size_t nomit;
	char sd_id[MODELS_SCRIPT_MAX][96];
	char sd_date[MODELS_SCRIPT_MAX][16];
	size_t nsd;
	char revive[MODELS_SCRIPT_MAX][96]; /* retired models served again */
	size_t nrevive;
	bool no_dates;
	unsigned delay_ms;
	int status; /* 0: answer the list */
};
void state_models_set(const struct models_script *m);
void state_models_get(struct models_script *m);
/* The URL a "url" mode answers with ("" : the fake's own test photo). */
void state_answer_url_set(const char *url);
void state_answer_url(char *out, size_t outsz);

/*
 * The error an "error" mode answers for a path: the whole envelope, its
 * message with "{key}" standing for the key the request came with (as a
 * proxy that echoes it).  status 0: none scripted (a 400).
 */
struct fake_error {
	int status;
	char type[64];
	char code[64];
	char param[64];
	char message[2048];
};
void state_error_set(enum slot s, const struct fake_error *err);
void state_error(enum slot s, struct fake_error *err);

/* Counters of what is not an API call, shown by GET /_calls. */
enum counter {
	COUNT_MODELS = 0, /* GET /v1/models */
	COUNT_IMG,	  /* GET or HEAD /img/... (the test photos) */
	COUNT_BAD,	  /* requests that are not HTTP (e.g. a TLS hello) */
	COUNT_MAX
};
/* Adds one to counter k; returns the count so far. */
uint64_t state_count(enum counter k);

/* ---- fake_limits.c ---- */

/* Sets slot's requests-per-minute limit (0: none). */
enum sj_err limits_set(enum slot s, int64_t rpm) SJ_WUR;
void limits_reset(void);
/*
 * Counts a call of slot s under its limit.  True: admitted, hdr holds
 * the x-ratelimit-* header lines to send with the answer ("" with no
 * limit).  False: rep is the API's 429 for model, headers included.
 */
bool limits_admit(enum slot s, const char *model, struct reply *rep, char *hdr,
		  size_t hsz);

/* ---- fake_models.c ---- */

enum fake_kind {
	KIND_NONE = 0, /* unknown, left out, or retired: 404 */
	KIND_CHAT_REASONING,
	KIND_CHAT_CLASSIC,
	KIND_IMAGE,
};
/*
 * What model is to the fake, for endpoint want: KIND_NONE with rep set to
 * the 404 the API answers (model_not_found; "has been deprecated" for a
 * retired model).
 */
enum fake_kind model_check(const char *model, enum fake_kind want,
			   struct reply *rep);
/*
 * False (rep set to the API's 400) when body has a field kind refuses,
 * or asks for more tokens than model writes or fits in its context with
 * a prompt of est_prompt tokens.
 */
bool chat_params_ok(struct json_object *body, const char *model,
		    enum fake_kind kind, int64_t est_prompt, struct reply *rep);
bool image_params_ok(struct json_object *body, struct reply *rep);
/* GET /v1/models under the current script (its delay is the caller's). */
void api_models(const struct req *r, struct reply *rep);

/* ---- fake_api.c ---- */

/* Renders the test photos; false when libgd fails. */
bool api_init(void);
void api_chat(const struct req *r, struct reply *rep);
void api_images(const struct req *r, struct reply *rep);
/* The "url" mode's answer to an image request. */
void api_images_url(const struct req *r, struct reply *rep);
/*
 * Bearer check shared by the API handlers: a wrong key gets OpenAI's 401
 * (invalid_api_key, the key shown masked), a missing one its own 401.
 */
bool bearer_ok(const struct req *r, struct reply *rep);
/* The "error" mode's answer for slot s (state_error). */
void api_error_scripted(const struct req *r, enum slot s, struct reply *rep);
/* cloud is the <cloud> segment of /v1_1/<cloud>/image/upload. */
void api_upload(const struct req *r, const char *cloud, struct reply *rep);
/* The test photo as PNG or JPEG (borrowed, lives until exit). */
void api_photo(bool jpeg, const void **p, size_t *n);
/*
 * The PNG photo with one row coloured by salt, as the reply: uploads are
 * stored re-encoded, so only pixels make two uploads differ.
 */
bool api_photo_salted(const char *salt, struct reply *rep);
/* Lowercase hex SHA-256 of p into hex[65]. */
void sha256_hex(const void *p, size_t n, char hex[65]);

#endif
