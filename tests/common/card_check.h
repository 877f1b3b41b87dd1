/*
 * What the tests read from the local provider's scene cards and scene
 * texts, shared by the unit suite (tests/unit/test_story.c) and the
 * integration suite (tests/integration/test_types.c).  The checks fail
 * the running cmocka test.
 */
#ifndef SJ_CARD_CHECK_H
#define SJ_CARD_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/*
 * True when text ends a sentence: . ! ? or U+2026, then only closing
 * quotes and brackets (" ' ) U+201D U+2019 U+00BB).
 */
bool card_ends_sentence(const char *text);

/*
 * The fill of the first element of class cls in svg into out; false when
 * there is no such element (a fill that is not there fails the test).
 */
bool card_class_fill(const char *svg, const char *cls, char out[16]);

/* The caption's text: its lines joined by spaces, entities decoded. */
void card_caption(const char *svg, char *out, size_t outsz);

/*
 * Fails the test unless svg (len bytes) is a card that is safe to show:
 * at most LOCAL_SVG_MAX bytes, well-formed (balanced tags, quoted
 * attributes, the five entities only), no script, no event attribute,
 * no reference outside the document but the portrait's data: URI.
 */
void card_check_safe(const char *svg, size_t len);

#endif
