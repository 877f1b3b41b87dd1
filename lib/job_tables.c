/*
 * The tables of the words a job input may use (job_input.h): audiences,
 * styles, genres, each one row per enum value with everything a reader
 * needs of it, and their lookups by enum and by name.
 */
#include <string.h>

#include "job_input.h"

static const struct job_audience_info audiences[JOB_AUDIENCE_MAX] = {
    [JOB_AUDIENCE_CHILDREN] = {"children", "Children", 10, 4},
    [JOB_AUDIENCE_YOUNG_ADULTS] = {"young_adults", "Young adults", 14, 6},
    [JOB_AUDIENCE_ADULTS] = {"adults", "Adults", 18, 8},
};

static const struct job_style_info styles[JOB_STYLE_MAX] = {
    [JOB_STYLE_STORYBOOK] = {"storybook", "Storybook",
			     "a warm, painterly children's storybook "
			     "illustration",
			     "storybook"},
    [JOB_STYLE_SEMI_REALISTIC] = {"semi-realistic", "Semi-realistic",
				  "a soft semi-realistic digital painting",
				  "semi-realistic"},
    [JOB_STYLE_COMIC_BOOK] = {"comic-book", "Comic book",
			      "a bold comic-book panel with clean ink lines",
			      "comic-book"},
    [JOB_STYLE_FLAT_ILLUSTRATION] = {"flat-illustration", "Flat illustration",
				     "a flat vector illustration in simple "
				     "shapes",
				     "flat-illustration"},
    [JOB_STYLE_ANIME] = {"anime", "Anime",
			 "an anime-style illustration with clean cel shading",
			 "anime"},
};
static const struct job_genre_info genres[JOB_GENRE_MAX] = {
    [JOB_GENRE_ADVENTURE] = {"adventure", "Adventure"},
    [JOB_GENRE_SIBLINGS] = {"siblings", "Siblings"},
    [JOB_GENRE_BEDTIME] = {"bedtime", "Bedtime"},
    [JOB_GENRE_FANTASY] = {"fantasy", "Fantasy"},
    [JOB_GENRE_HISTORY] = {"history", "History"},
};

/* A table of n rows of size stride, each starting with its name. */
struct table {
	const void *rows;
	size_t stride, n;
};
#define TABLE(t)                                                               \
	{                                                                      \
		(t), sizeof((t)[0]), sizeof(t) / sizeof((t)[0])                \
	}

static const struct table audience_table = TABLE(audiences);
static const struct table style_table = TABLE(styles);
static const struct table genre_table = TABLE(genres);

/* The index of the row named s; SJ_EINVAL when none. */
static enum sj_err
table_find(const struct table *t, const char *s, int *out)
{
	for (size_t i = 0; s != NULL && i < t->n; i++) {
		const char *const *name =
		    (const char *const *)(const void *)((const char *)t->rows +
							i * t->stride);

		if (strcmp(*name, s) == 0) {
			*out = (int)i;
			return SJ_OK;
		}
	}
	return SJ_EINVAL;
}

const struct job_audience_info *
job_audience_info(enum job_audience a)
{
	return (unsigned)a < JOB_AUDIENCE_MAX ? &audiences[a] : NULL;
}

const struct job_style_info *
job_style_info(enum job_style s)
{
	return (unsigned)s < JOB_STYLE_MAX ? &styles[s] : NULL;
}

const struct job_genre_info *
job_genre_info(enum job_genre g)
{
	return (unsigned)g < JOB_GENRE_MAX ? &genres[g] : NULL;
}

const char *
job_audience_name(enum job_audience a)
{
	return (unsigned)a < JOB_AUDIENCE_MAX ? audiences[a].name : "";
}

const char *
job_style_name(enum job_style s)
{
	return (unsigned)s < JOB_STYLE_MAX ? styles[s].name : "";
}

const char *
job_genre_name(enum job_genre g)
{
	return (unsigned)g < JOB_GENRE_MAX ? genres[g].name : "";
}

enum sj_err
job_audience_parse(const char *s, enum job_audience *out)
{
	int i;

	if (table_find(&audience_table, s, &i) != SJ_OK)
		return SJ_EINVAL;
	*out = (enum job_audience)i;
	return SJ_OK;
}

enum sj_err
job_style_parse(const char *s, enum job_style *out)
{
	int i;

	if (table_find(&style_table, s, &i) != SJ_OK)
		return SJ_EINVAL;
	*out = (enum job_style)i;
	return SJ_OK;
}

enum sj_err
job_genre_parse(const char *s, enum job_genre *out)
{
	int i;

	if (table_find(&genre_table, s, &i) != SJ_OK)
		return SJ_EINVAL;
	*out = (enum job_genre)i;
	return SJ_OK;
}
