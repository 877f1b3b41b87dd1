/*
 * The offline story writer's text: per-genre templates, the journey
 * paragraphs that pad any genre's middle, and heroes' names.  Only
 * story.c reads these.
 */
#ifndef SJ_STORY_TEMPLATES_H
#define SJ_STORY_TEMPLATES_H

#include <stddef.h>

#define BEATS		6
#define STORY_JOURNEY_N 12
#define STORY_NAMES_N	12

struct genre {
	const char *name;
	const char *titles[3];
	const char *places[4];
	const char *friends[4];
	const char *things[4];
	const char *opening;
	const char *beats[BEATS];
	const char *ending;
};

extern const struct genre story_genres[];
extern const size_t story_ngenres;
extern const char *const story_journey[STORY_JOURNEY_N];
extern const char *const story_names[STORY_NAMES_N];

#endif
