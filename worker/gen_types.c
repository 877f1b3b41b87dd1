/*
 * The failure record and the image and hero helpers providers share.
 */
#include <stdarg.h>
#include <stdio.h>

#include "gen_types.h"

void
gen_fail_set(struct gen_fail *f, bool transient, const char *code,
	     const char *fmt, ...)
{
	va_list ap;

	f->transient = transient;
	f->code = code;
	f->retry_after_s = 0;
	va_start(ap, fmt);
	if (vsnprintf(f->msg, sizeof(f->msg), fmt, ap) < 0)
		f->msg[0] = '\0';
	va_end(ap);
}

void
gen_fail_err(struct gen_fail *f, enum sj_err e, const char *what)
{
	bool transient =
	    e == SJ_EIO || e == SJ_ENOMEM || e == SJ_EDB || e == SJ_ETRANSIENT;

	gen_fail_set(f, transient, "INTERNAL_ERROR", "%s: %s", what,
		     sj_strerror(e));
}

void
gen_image_free(struct gen_image *img)
{
	buf_free(&img->data);
	img->ctype = img->ext = NULL;
}

void
gen_hero_free(struct gen_hero *h)
{
	if (h->made != NULL && h->made_free != NULL)
		h->made_free(h->made);
	h->made = NULL;
}
