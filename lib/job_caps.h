/*
 * The caps of a start request's text, defined once for the API (which
 * refuses a longer field, lib/job_input.c) and the worker (which reads
 * what the API stored, and nothing longer).  Each cap counts characters
 * (Unicode code points), as a user counts them; a field of n characters
 * takes at most JOB_CAP_BYTES(n) bytes of UTF-8, which is what the worker
 * reads with.  The size of a storybook (pages, scenes) is a setting
 * (STORYBOOK_MAX_PAGES, STORYBOOK_MAX_SCENES) within the bounds here.
 */
#ifndef SJ_JOB_CAPS_H
#define SJ_JOB_CAPS_H

#define JOB_TITLE_MAX  200   /* a storybook's title */
#define JOB_STORY_MAX  50000 /* a story's text */
#define JOB_PROMPT_MAX 4000  /* an image prompt */
#define JOB_TEXT_MAX   2000  /* a description */
#define JOB_URL_MAX    2048  /* an image URL or /media/ path */
#define JOB_WORD_MAX   64    /* a word: emotion, style, audience, genre */

/* The longest of the caps above: any input string the API stored. */
#define JOB_FIELD_MAX JOB_STORY_MAX
/* Bytes a field of n characters may take in UTF-8. */
#define JOB_CAP_BYTES(n) ((size_t)(n)*4)

/* A storybook page's scenes, and the bounds of the storybook settings. */
#define JOB_PAGE_SCENES_MAX 20
#define JOB_BOOK_PAGES_MAX  50
#define JOB_BOOK_SCENES_MAX 1000

/* The text of a number macro, for messages that name a cap. */
#define JOB_CAP_STR_(n) #n
#define JOB_CAP_STR(n)	JOB_CAP_STR_(n)

#endif
