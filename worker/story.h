/*
 * The local provider's story text: the offline story writer (story.c)
 * and what it shares with the splitter (story_split.h).
 *
 * Both functions are deterministic: the same input gives the same bytes.
 */
#ifndef SJ_STORY_H
#define SJ_STORY_H

#include <stdbool.h>

#include <json-c/json.h>

#include "buf.h"
#include "err.h"

#define STORY_TEXT_MAX	 (64 * 1024) /* cap on one written story */
#define STORY_DESC_MAX	 1900	     /* bytes of a scene description */
#define STORY_PROMPT_MAX 300	     /* bytes of a scene imagePrompt */

/*
 * Scene and page targets for audience (children 10/4, young_adults 14/6,
 * adults 18/8); an unknown audience gets the children's targets.
 */
void story_targets(const char *audience, int *scenes, int *pages);

/* True when genre is one story_write() knows. */
bool story_genre_known(const char *genre);

/*
 * Writes a story for genre (adventure, siblings, bedtime, fantasy,
 * history) about character: a title line, a blank line, then one short
 * paragraph per scene target of audience, paragraphs separated by blank
 * lines.  out is initialised here (cap STORY_TEXT_MAX); on SJ_OK the
 * caller buf_free()s it, on error it is already freed.  SJ_EINVAL: an
 * unknown genre or a NULL argument.
 */
enum sj_err story_write(const char *genre, const char *character,
			const char *audience, struct buf *out) SJ_WUR;

#endif
