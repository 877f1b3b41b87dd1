/*
 * DESIGN
 * storyjobsctl settings [--conf | --man]: the settings table printed
 * three ways, so the docs cannot drift from the code.  Plain: one line a
 * setting (name, default, meaning; tools/check-docs.sh holds README.md to
 * it).  --conf: a complete storyjobs.conf, every setting commented out
 * with its default, one line of meaning and its bounds, grouped as the
 * table groups them.  --man: storyjobs.conf(5) in man(7) roff, the file
 * syntax (cfg_file.c) and every setting.  The build makes both files from
 * the built program; make install puts them in place.
 */
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "ctl.h"

/* The file syntax, shared by the conf's header and the man page. */
static const char *const syntax[] = {
    "One KEY=VALUE a line: a strict subset of systemd's EnvironmentFile=,",
    "so this file can also be given to a unit.  Blank lines and lines whose",
    "first non-blank character is # or ; are skipped; a # later in a line",
    "is part of the value.  Blanks around = and at either end are dropped.",
    "A value in single quotes is taken verbatim; in double quotes, \\\", \\\\,",
    "\\` and \\$ stand for the second character and any other backslash is",
    "kept.  Nothing but blanks may follow the closing quote, and a quote",
    "must close on its own line.  An unquoted value is taken as written",
    "(quotes inside it are kept) but may not hold a backslash.  \"export\"",
    "lines are refused, and so is what systemd versions read differently:",
    "a comment ending in a backslash (a continuation line before v254), a",
    "carriage return (CRLF files), bytes that are not UTF-8.  An unknown",
    "KEY is an error naming FILE:LINE, and so is every other problem; a",
    "program refuses to start on any of them.  A KEY given twice: the last",
    "wins, and check-config warns, as it does of a secret in a file others",
    "may read.  The environment wins over this file.",
    NULL};

static void
print_doc(const struct cfg_doc *d, void *ctx)
{
	(void)ctx;
	printf("%-36s %-28s %s\n", d->name, *d->def ? d->def : "(unset)",
	       d->doc);
}

/* "1 to 10000", "at least 1000ms" into buf; "" without bounds. */
static void
bounds_text(const struct cfg_doc *d, char *buf, size_t n)
{
	*buf = '\0';
	if (d->has_bounds)
		snprintf(buf, n, "%lld to %lld%s", (long long)d->min,
			 (long long)d->max, d->unit);
}

struct conf_state {
	int group;
	const char *type;
};

/* text after "# ", cut between words to lines of at most 76 columns. */
static void
comment(const char *text)
{
	size_t col = 0, w;

	while (*text != '\0') {
		w = strcspn(text, " ");
		if (col > 0 && col + 1 + w > 74) {
			putchar('\n');
			col = 0;
		}
		printf("%s%.*s", col == 0 ? "# " : " ", (int)w, text);
		col += (col == 0 ? 0 : 1) + w;
		text += w;
		text += strspn(text, " ");
	}
	putchar('\n');
}

static void
conf_row(const struct cfg_doc *d, void *ctx)
{
	struct conf_state *st = ctx;
	char b[64], line[512];

	if ((int)d->group != st->group) {
		st->group = (int)d->group;
		printf("\n# ---- %s ----\n", cfg_group_title(d->group));
	}
	if (d->type != NULL &&
	    (st->type == NULL || strcmp(st->type, d->type))) {
		st->type = d->type;
		printf("\n# -- %s --\n", d->type);
	}
	bounds_text(d, b, sizeof(b));
	snprintf(line, sizeof(line), "%s.%s%s%s%s", d->doc,
		 *b ? " Range: " : "", b, *b ? "." : "",
		 d->reload ? " A reload (SIGHUP) applies it." : "");
	putchar('\n');
	comment(line);
	printf("#%s=%s\n", d->name, d->def);
}

static void
print_conf(void)
{
	struct conf_state st = {-1, NULL};

	printf("# storyjobs.conf: the configuration of every storyjobs "
	       "program,\n# read from %s.\n"
	       "# Made by `storyjobsctl settings --conf` from the settings "
	       "table;\n# storyjobs.conf(5) says the same.  Every setting "
	       "is shown commented\n# out with its default: uncomment a line "
	       "to change it.\n#\n",
	       cfg_default_file());
	for (size_t i = 0; syntax[i] != NULL; i++)
		printf("# %s\n", syntax[i]);
	printf(
	    "#\n# Secrets (WEBHOOK_SECRET, OPENAI_API_KEY, CLOUDINARY_API_*) "
	    "make this file\n# worth keeping at mode 0640, group "
	    "storyjobs.  `storyjobsctl check-config`\n# says where each "
	    "value came from.\n#\n# MEDIA_DIR elsewhere than its default "
	    "also needs a drop-in giving the\n# units ReadWritePaths= for "
	    "it, and the nginx site's /media/ alias\n# pointed at it.\n");
	cfg_each_doc(conf_row, &st);
}

/*
 * Text for a roff line: backslashes escaped, no leading control char, a
 * break allowed after each slash (an install prefix can make a path longer
 * than a line, which groff cannot adjust).
 */
static void
roff(const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", stdout);
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '-')
			fputs("\\-", stdout);
		else if (*s == '/')
			fputs("/\\:",
			      stdout); /* a path may break after a slash */
		else
			putchar(*s);
	}
}

static void
man_row(const struct cfg_doc *d, void *ctx)
{
	int *group = ctx;
	char b[64];

	if ((int)d->group != *group) {
		*group = (int)d->group;
		printf(".SS ");
		roff(cfg_group_title(d->group));
		putchar('\n');
	}
	bounds_text(d, b, sizeof(b));
	printf(".TP\n.B ");
	roff(d->name);
	printf("\n");
	if (d->type != NULL)
		printf("(%s) ", d->type);
	roff(d->doc);
	printf(".\n.br\nDefault: ");
	if (*d->def) {
		printf("\\(lq");
		roff(d->def);
		printf("\\(rq");
	} else
		printf("unset");
	if (*b) {
		printf("; range ");
		roff(b);
	}
	printf(d->reload ? "; a reload (SIGHUP) of the worker applies it.\n"
			 : ".\n");
}

static void
print_man(void)
{
	int group = -1;

	printf(".TH STORYJOBS.CONF 5 \"\" \"storyjobs %s\" \"File Formats\"\n"
	       ".SH NAME\nstoryjobs.conf \\- configuration of the storyjobs "
	       "programs\n.SH SYNOPSIS\n.ad l\n.I ",
	       PACKAGE_VERSION);
	roff(cfg_default_file());
	printf("\n.SH DESCRIPTION\nEvery storyjobs program (the worker, the "
	       "FastCGI programs and\n.BR storyjobsctl )\nreads the same "
	       "settings: from the file named by\n.BR STORYJOBS_CONFIG ,\n"
	       "else from this file when it exists, and from the environment, "
	       "which wins.\n.B storyjobsctl check\\-config\nsays where each "
	       "value came from.\n.SH FILE FORMAT\n");
	for (size_t i = 0; syntax[i] != NULL; i++) {
		roff(syntax[i]);
		putchar('\n');
	}
	printf(".SH SETTINGS\nThe worker applies the settings marked so on "
	       "SIGHUP; every other one\nneeds a restart (its reload log "
	       "names them).  Per job type, the\nfive JOB_<TYPE>_<FIELD> "
	       "settings come for each of storybook,\nauto\\-story, scenes, "
	       "cartoonize and image\\-generation (and noop, for\nbenchmarks "
	       "only).\n");
	cfg_each_doc(man_row, &group);
	printf(".SH NOTES\nA\n.B MEDIA_DIR\nother than its default also "
	       "needs a systemd drop-in giving the\nunits\n.B "
	       "ReadWritePaths=\nfor it (they may write nowhere else), and "
	       "the nginx site's\n.B /media/\nalias pointed at it.\n");
	printf(".SH ENVIRONMENT\n.TP\n.B STORYJOBS_CONFIG\nThe configuration "
	       "file to read instead of the default one; it must\nexist.  "
	       "Set but empty: no file, the environment only.\n"
	       ".SH SEE ALSO\n.BR storyjobs (7),\n.BR storyjobs\\-worker (8),\n"
	       ".BR storyjobs\\-fcgi (8),\n.BR storyjobsctl (8),\n"
	       ".BR systemd.exec (5)\n");
}

int
ctl_settings(int argc, char **argv)
{
	if (argc == 1)
		cfg_each_doc(print_doc, NULL);
	else if (argc == 2 && strcmp(argv[1], "--conf") == 0)
		print_conf();
	else if (argc == 2 && strcmp(argv[1], "--man") == 0)
		print_man();
	else {
		fprintf(stderr, "usage: storyjobsctl settings [--conf | "
				"--man]\n");
		return 64;
	}
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
