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

	f->end = GEN_FAILED;
	f->transient = transient;
	f->code = code;
	f->retry_after_s = 0;
	f->defer_ms = 0;
	f->why = NULL;
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
gen_fail_end(struct gen_fail *f, enum gen_end end)
{
	gen_fail_set(f, false, "INTERNAL_ERROR", "%s", "ended");
	f->end = end;
}

void
gen_fail_defer(struct gen_fail *f, int64_t ms, const char *why)
{
	gen_fail_end(f, GEN_DEFER);
	f->defer_ms = ms;
	f->why = why;
}

struct json_object *
gen_ctx_ckpt(const struct gen_ctx *g, const char *key)
{
	struct json_object *v;

	if (!json_object_is_type(*g->ckpt, json_type_object) ||
	    !json_object_object_get_ex(*g->ckpt, key, &v))
		return NULL;
	return v;
}

bool
gen_ctx_save(const struct gen_ctx *g, const char *key, struct json_object *val,
	     struct gen_fail *f)
{
	if (!json_object_is_type(*g->ckpt, json_type_object)) {
		json_object_put(*g->ckpt);
		if ((*g->ckpt = json_object_new_object()) == NULL) {
			json_object_put(val);
			gen_fail_err(f, SJ_ENOMEM,
				     "Saving a checkpoint failed");
			return false;
		}
	}
	if (val == NULL || json_object_object_add(*g->ckpt, key, val) != 0) {
		json_object_put(val);
		gen_fail_err(f, SJ_ENOMEM, "Saving a checkpoint failed");
		return false;
	}
	if (!g->save(g->arg)) {
		gen_fail_end(f, GEN_ENDED);
		return false;
	}
	return true;
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
