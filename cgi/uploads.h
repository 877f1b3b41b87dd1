/* The uploads route of storyjobs-jobs (cgi/uploads.c). */
#ifndef SJ_CGI_UPLOADS_H
#define SJ_CGI_UPLOADS_H

#include "req.h"

/* POST /api/uploads: a raw PNG, JPEG or WebP body -> 201 {url}. */
void jobs_upload(struct req *r, const char *caps[REQ_MAX_CAPS]);

#endif
