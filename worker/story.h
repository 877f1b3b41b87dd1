/*
 * The local provider's story text: an offline story writer and the
 * splitter that breaks a story into illustrated scenes.
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

/*
 * Splits story into pages [{pageNumber, scenes [{description, emotion,
 * imagePrompt}]}] with audience's targets, at sentence boundaries only
 * (sentence.h; a sentence longer than a description is the only one cut,
 * at a clause): a story with fewer sentences than the scene target gets
 * one scene per sentence; a longer one groups consecutive sentences
 * evenly into the target (whole paragraphs when there are enough), with
 * more scenes only when one would not fit STORY_DESC_MAX.  A first line
 * with no sentence end followed by more text is taken as the title and
 * skipped.  On SJ_OK *pages is a new array the caller puts.  SJ_EINVAL:
 * no text.
 */
enum sj_err story_scenes(const char *story, const char *audience,
			 struct json_object **pages) SJ_WUR;

#endif
