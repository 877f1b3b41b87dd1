/*
 * The offline scene splitter (story_split.c).
 */
#ifndef SJ_STORY_SPLIT_H
#define SJ_STORY_SPLIT_H

#include <json-c/json.h>

#include "err.h"

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
