/*
 * The steps of each job type, as CONTRACT section 1 lists them.  A
 * planned storybook's list is the pages form's with the plan in front:
 * the pages form keeps exactly the contract's steps.
 */
#include <string.h>

#include "job_steps.h"
#include "jsonv.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The planned storybook: its plan, then the book's steps (book + 1). */
static const struct job_step planned_book[] = {
    {JOB_STEP_BOOK_PLAN_PCT, JOB_STEP_BOOK_PLAN},
    {5, "Analyzing character image"},
    {25, "Character analysis complete"},
    {25, "Generated {n}/{total} scene illustrations"},
    {75, "All scenes processed, saving storybook"},
    {100, "Storybook saved successfully"},
};
static const struct job_step *const book = planned_book + 1;
#define BOOK_N (N(planned_book) - 1)

static const struct job_step auto_story[] = {
    {5, "Generating story content"},  {40, "Story content generated"},
    {45, "Creating scene breakdown"}, {80, "Generating illustrations"},
    {90, "Saving storybook"},	      {100, "Auto-story generation complete"},
};

static const struct job_step scenes[] = {
    {10, "Analyzing story structure"},	{30, "Character analysis complete"},
    {40, "Breaking story into scenes"}, {70, "Scene breakdown complete"},
    {90, "Finalizing scene layout"},	{100, "Scene generation complete"},
};

static const struct job_step cartoonize[] = {
    {10, "Preparing image for processing"}, {33, "Image preparation complete"},
    {40, "Generating cartoon image"},	    {66, "Cartoon generation complete"},
    {90, "Finalizing cartoon image"},	    {100, "Cartoonization complete"},
};

static const struct job_step image[] = {
    {10, "Checking for cached images"},
    {50, "Cache check complete, generating new image"},
    {100, "Image generation complete"},
};

const struct job_step *
job_steps(enum job_type t, const struct json_object *input, size_t *n)
{
	switch (t) {
	case JOB_STORYBOOK:
		/* the stored normal form has "pages" unless needs_plan */
		if (json_object_is_type(input, json_type_object) &&
		    !json_object_object_get_ex(input, "pages", NULL))
			return *n = N(planned_book), planned_book;
		return *n = BOOK_N, book;
	case JOB_AUTO_STORY:
		return *n = N(auto_story), auto_story;
	case JOB_SCENES:
		return *n = N(scenes), scenes;
	case JOB_CARTOONIZE:
		return *n = N(cartoonize), cartoonize;
	case JOB_IMAGE_GENERATION:
		return *n = N(image), image;
	default:
		return *n = 0, NULL;
	}
}

enum sj_err
job_steps_json(enum job_type t, const struct json_object *input,
	       struct json_object **out)
{
	struct json_object *a = json_object_new_array(), *o;
	const struct job_step *s;
	size_t n;

	*out = NULL;
	if (a == NULL)
		return SJ_ENOMEM;
	s = job_steps(t, input, &n);
	for (size_t i = 0; i < n; i++) {
		if ((o = json_object_new_object()) == NULL ||
		    json_object_array_add(a, o) != 0) {
			json_object_put(o);
			json_object_put(a);
			return SJ_ENOMEM;
		}
		if (jv_add_i64(o, "progress", s[i].progress) != SJ_OK ||
		    jv_add_str(o, "step", s[i].name) != SJ_OK) {
			json_object_put(a);
			return SJ_ENOMEM;
		}
	}
	*out = a;
	return SJ_OK;
}
