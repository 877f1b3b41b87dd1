/*
 * The sentence splitter (worker/sentence.c): abbreviations, initials and
 * decimals, quotes and speech tags, ellipses, a story typed without
 * capitals, UTF-8, paragraphs, over-long sentences and their cuts, and
 * sent_fit()/sent_clip().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sentence.h"

#define MAXS 64

/* The sentences of t as NUL-terminated copies; returns how many. */
static size_t
split(const char *t, char out[][SENT_MAX + 1], struct sent *ss, size_t max,
      size_t cap)
{
	size_t n = sent_split(t, strlen(t), ss, max, cap);

	for (size_t i = 0; i < n; i++) {
		assert_true(ss[i].len <= SENT_MAX);
		memcpy(out[i], t + ss[i].off, ss[i].len);
		out[i][ss[i].len] = '\0';
	}
	return n;
}

/* Asserts t splits into exactly the sentences want[0..n). */
static void
expect(const char *t, const char *const *want, size_t n)
{
	static char got[MAXS][SENT_MAX + 1];
	struct sent ss[MAXS];
	size_t k = split(t, got, ss, MAXS, 0);

	for (size_t i = 0; i < k && i < n; i++)
		if (strcmp(got[i], want[i]) != 0)
			print_message("sentence %zu: got [%s] want [%s]\n", i,
				      got[i], want[i]);
	assert_int_equal(k, n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(got[i], want[i]);
		assert_false(ss[i].cut);
	}
}

#define EXPECT(t, ...)                                                         \
	do {                                                                   \
		static const char *const w_[] = {__VA_ARGS__};                 \
		expect(t, w_, sizeof(w_) / sizeof(w_[0]));                     \
	} while (0)

static void
test_split_abbreviations(void **state)
{
	(void)state;
	EXPECT("Mr. Fox met Mrs. Badger and Dr. Owl on St. Clair Street. "
	       "They had tea.",
	       "Mr. Fox met Mrs. Badger and Dr. Owl on St. Clair Street.",
	       "They had tea.");
	EXPECT("J. R. R. Tolkien wrote it. Then he slept.",
	       "J. R. R. Tolkien wrote it.", "Then he slept.");
	EXPECT("J.R.R. Tolkien wrote it. So did I. The end.",
	       "J.R.R. Tolkien wrote it.", "So did I.", "The end.");
	EXPECT("It cost 3.50 coins, or 2.5 apples. Pip paid.",
	       "It cost 3.50 coins, or 2.5 apples.", "Pip paid.");
	EXPECT("We met at 5 p.m. Then we ate. Bring fruit, e.g. apples.",
	       "We met at 5 p.m.", "Then we ate.", "Bring fruit, e.g. apples.");
	EXPECT("She was 5. She could count to ten.", "She was 5.",
	       "She could count to ten.");
}

static void
test_split_quotes(void **state)
{
	(void)state;
	EXPECT(
	    "\xe2\x80\x9cHave you seen a fallen star?\xe2\x80\x9d Pip "
	    "asked. He shook his head.",
	    "\xe2\x80\x9cHave you seen a fallen star?\xe2\x80\x9d Pip asked.",
	    "He shook his head.");
	EXPECT("\"Help!\" she cried. Nobody came.", "\"Help!\" she cried.",
	       "Nobody came.");
	EXPECT("\"Stop!\", said the owl. \"Run!\" The fox ran.",
	       "\"Stop!\", said the owl.", "\"Run!\"", "The fox ran.");
	EXPECT("(It was late.) Pip yawned. 'Sleep,' said Mum.",
	       "(It was late.)", "Pip yawned.", "'Sleep,' said Mum.");
	EXPECT("She said \xe2\x80\x98yes.\xe2\x80\x99 Then she left!?! Why?",
	       "She said \xe2\x80\x98yes.\xe2\x80\x99", "Then she left!?!",
	       "Why?");
	EXPECT("\xc2\xab"
	       "Bonjour.\xc2\xbb Pip waved.",
	       "\xc2\xab"
	       "Bonjour.\xc2\xbb",
	       "Pip waved.");
}

static void
test_split_ellipsis_utf8(void **state)
{
	(void)state;
	EXPECT("She waited... and waited. Then the moon rose\xe2\x80\xa6 It "
	       "was big. Wait... What?",
	       "She waited... and waited.", "Then the moon rose\xe2\x80\xa6",
	       "It was big.", "Wait...", "What?");
	EXPECT("Zo\xc3\xab fed the caf\xc3\xa9\xe2\x80\x99s cat. \xc3\x89lodie "
	       "smiled! \xe5\xa4\xa7\xe3\x81\x8d\xe3\x81\xaa fox.",
	       "Zo\xc3\xab fed the caf\xc3\xa9\xe2\x80\x99s cat.",
	       "\xc3\x89lodie smiled!",
	       "\xe5\xa4\xa7\xe3\x81\x8d\xe3\x81\xaa fox.");
}

/*
 * A story typed without capitals still has sentences: a plain . ! or ?
 * before a lower-case word ends one; a quotation's ! or ?, an ellipsis
 * and an abbreviation go on.
 */
static void
test_split_lower_case(void **state)
{
	(void)state;
	EXPECT("pip ran to the hill. she saw a star. the star was big.",
	       "pip ran to the hill.", "she saw a star.", "the star was big.");
	EXPECT("Pip ran! she hid? then\xe2\x80\xa6", "Pip ran!", "she hid?",
	       "then\xe2\x80\xa6");
	EXPECT("it rained! (so we stayed in.) then the sun came out.",
	       "it rained!", "(so we stayed in.)", "then the sun came out.");
	/* an ellipsis before a lower-case word is a pause */
	EXPECT("It was late... then Pip slept. The end\xe2\x80\xa6 or not?",
	       "It was late... then Pip slept.", "The end\xe2\x80\xa6 or not?");
	/* a quotation's ! ? and ellipsis go on into a lower-case word */
	EXPECT("\"Help!\" she cried. \"Where?\" he wondered. "
	       "\xe2\x80\x9cWell\xe2\x80\xa6\xe2\x80\x9d she began. We ran.",
	       "\"Help!\" she cried.", "\"Where?\" he wondered.",
	       "\xe2\x80\x9cWell\xe2\x80\xa6\xe2\x80\x9d she began.",
	       "We ran.");
	/* a quotation's full stop ends, unless a speech tag follows */
	EXPECT("\"Go home.\" she said. \"Go.\" then she went.",
	       "\"Go home.\" she said.", "\"Go.\"", "then she went.");
	/* abbreviations: lower-case ones before a lower-case word only */
	EXPECT("bring fruit, i.e. pears, plums etc. and a map. then go.",
	       "bring fruit, i.e. pears, plums etc. and a map.", "then go.");
	EXPECT("We saw plums etc. Then we left. at 5 p.m. we ate.",
	       "We saw plums etc.", "Then we left.", "at 5 p.m. we ate.");
	EXPECT("she met mr. fox and st. bernard. they ate.",
	       "she met mr. fox and st. bernard.", "they ate.");
	EXPECT("she was 5. she could count.", "she was 5.", "she could count.");
}

static void
test_split_paragraphs(void **state)
{
	static char got[MAXS][SENT_MAX + 1];
	struct sent ss[MAXS];
	size_t n;

	(void)state;
	n = split("  One.  Two\n\n \n Three? Four\nstill four.\r\n\r\nFive",
		  got, ss, MAXS, 0);
	assert_int_equal(n, 5);
	assert_string_equal(got[0], "One.");
	assert_string_equal(got[1], "Two");
	assert_string_equal(got[2], "Three?");
	assert_string_equal(got[3], "Four\nstill four.");
	assert_string_equal(got[4], "Five");
	assert_true(ss[0].para);
	assert_false(ss[1].para);
	assert_true(ss[2].para);
	assert_false(ss[3].para);
	assert_true(ss[4].para);
	/* max: the rest is dropped */
	assert_int_equal(sent_split("Go. Run. Hop. Sit.", 18, ss, 2, 0), 2);
	assert_int_equal(sent_split("", 0, ss, MAXS, 0), 0);
	assert_int_equal(sent_split(" \n\n ", 4, ss, MAXS, 0), 0);
}

/* Bytes of a valid UTF-8 run, or 0 when t[0..n) is not one. */
static bool
utf8_whole(const unsigned char *t, size_t n)
{
	return n > 0 && (t[0] & 0xC0) != 0x80 &&
	       (n == 1 || (t[n - 1] & 0xC0) != 0xC0 || t[n - 1] < 0x80);
}

static void
test_split_long(void **state)
{
	static char got[MAXS][SENT_MAX + 1];
	char text[4096], *p = text;
	struct sent ss[MAXS];
	size_t n, total = 0;

	(void)state;
	/* clauses, no full stop: cut after a comma each time */
	for (int i = 0; i < 60; i++)
		p += snprintf(p, 64, "the fox ran on and on, ");
	snprintf(p, 32, "and home");
	n = split(text, got, ss, MAXS, 200);
	assert_true(n > 1);
	for (size_t i = 0; i < n; i++) {
		assert_true(ss[i].len <= 200);
		assert_true(ss[i].cut == (i + 1 < n));
		if (i + 1 < n)
			assert_int_equal(got[i][ss[i].len - 1], ',');
		total += ss[i].len + 1;
	}
	assert_int_equal(total - 1, strlen(text)); /* one space lost a cut */
	/* words, no clause: cut at a space */
	p = text;
	for (int i = 0; i < 200; i++)
		p += snprintf(p, 16, "tiptoe ");
	n = split(text, got, ss, MAXS, 0);
	assert_true(n >= 2);
	for (size_t i = 0; i + 1 < n; i++) {
		assert_true(ss[i].cut);
		assert_true(ss[i].len <= SENT_MAX);
		assert_int_equal(ss[i].len % 7, 6); /* whole words */
	}
	/* a run of 30000 dots: bounded pieces, in linear time */
	{
		char *dots = malloc(30003);
		struct sent big[128];

		assert_non_null(dots);
		memset(dots, '.', 30003);
		dots[0] = 'a';
		dots[30001] = 'b';
		dots[30002] = '\0';
		n = sent_split(dots, 30002, big, 128, 0);
		assert_true(n >= 50);
		for (size_t i = 0; i < n; i++)
			assert_true(big[i].len <= SENT_MAX);
		free(dots);
	}
	/* no space at all: cut between code points */
	p = text;
	for (int i = 0; i < 1000; i++)
		p += snprintf(p, 4, "\xc3\xa9");
	n = split(text, got, ss, MAXS, 101);
	assert_true(n >= 20);
	for (size_t i = 0; i < n; i++) {
		assert_true(ss[i].len <= 101);
		assert_int_equal(ss[i].len % 2, 0);
		assert_true(utf8_whole((unsigned char *)got[i], ss[i].len));
	}
}

static void
test_sent_fit(void **state)
{
	const char *t = "One. Two. Three.";

	(void)state;
	assert_int_equal(sent_fit(t, strlen(t), 9), 9);
	assert_int_equal(sent_fit(t, strlen(t), 15), 9);
	assert_int_equal(sent_fit(t, strlen(t), 16), 16);
	assert_int_equal(sent_fit(t, strlen(t), 3), 0);
	assert_int_equal(sent_fit("Mr. Fox ran. Far.", 17, 12), 12);
	/* a sentence longer than SENT_MAX that fits max is kept whole */
	{
		char big[2048] = "Pip ran";

		for (int k = 1; strlen(big) < 950; k++)
			snprintf(big + strlen(big), sizeof(big) - strlen(big),
				 " over log %d,", k);
		big[strlen(big) - 1] = '.';
		snprintf(big + strlen(big), sizeof(big) - strlen(big), " End.");
		assert_true(strlen(big) > 900);
		assert_int_equal(sent_fit(big, strlen(big), strlen(big) - 1),
				 strlen(big) - 5);
		assert_int_equal(sent_clip(big, strlen(big), strlen(big) - 1),
				 strlen(big) - 5);
	}
	/* clip: all, whole sentences, words, code points */
	assert_int_equal(sent_clip(t, strlen(t), 16), 16);
	assert_int_equal(sent_clip(t, strlen(t), 12), 9);
	assert_int_equal(sent_clip("One two three", 13, 10), 7);
	assert_int_equal(sent_clip("\xc3\xa9\xc3\xa9\xc3\xa9", 6, 5), 4);
	assert_int_equal(sent_clip("\xc3\xa9\xc3\xa9\xc3\xa9", 6, 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split_abbreviations),
	    cmocka_unit_test(test_split_quotes),
	    cmocka_unit_test(test_split_ellipsis_utf8),
	    cmocka_unit_test(test_split_lower_case),
	    cmocka_unit_test(test_split_paragraphs),
	    cmocka_unit_test(test_split_long),
	    cmocka_unit_test(test_sent_fit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
