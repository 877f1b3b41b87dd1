/*
 * The palettes of the scene cards, one per style of lib's table, indexed
 * by enum job_style; see local_style.h.  A new style is a row of
 * lib/job_tables.c and one here: the drawing code (local.c,
 * local_figure.c) reads only the palette and the flags.
 */
#include <stddef.h>

#include "local_style.h"

/*
 * The styles.  Colours are listed in struct local_style's order: day skies,
 * night sky; sun, moon, star; hills; ground, trunk; leaves; skin; hair;
 * shirts; irises; pants, ink, outline width; frame, card, card text; font.
 */
/* clang-format off */
static const struct local_style styles[JOB_STYLE_MAX] = {
	[JOB_STYLE_STORYBOOK] = {JOB_STYLE_STORYBOOK, ST_GRADIENT | ST_BLUSH | ST_SHADOW,
	 {{"#FFE3C8", "#FFF6E5"}, {"#CDE7F0", "#FFF3E0"}}, {"#2E3A66", "#6B5B95"},
	 "#FFC971", "#FFF1C1", "#FFF7D6", {"#BFD8B8", "#A7C4A0", "#8DB596"},
	 "#9CC69B", "#8D6E63", {"#7FB77E", "#B1D7B4"},
	 {"#F9D5BB", "#E8B796", "#C68B6B"}, {"#8D5B4C", "#4E342E", "#D9A441"},
	 {"#F4A6A6", "#A0C4FF", "#FFD6A5", "#CDB4DB"},
	 {"#6D4C41", "#5B7DB1", "#4E8F5A"}, "#7D8FB3", "#6D4C41", "3",
	 "#F3E3CF", "#FFF8EE", "#5D4037", "Georgia, 'Times New Roman', serif"},
	[JOB_STYLE_SEMI_REALISTIC] = {JOB_STYLE_SEMI_REALISTIC, ST_GRADIENT | ST_SHADOW,
	 {{"#5B8DB8", "#DCE9F2"}, {"#8FB3CF", "#F4E3D0"}}, {"#0F1B33", "#3A4A6B"},
	 "#FFE8B0", "#E8ECF2", "#F5F7FA", {"#94B49A", "#7A9A7E", "#5F7F63"},
	 "#6B8F5E", "#5D4637", {"#4F7A4A", "#6E9460"},
	 {"#E8C4A8", "#C99A78", "#8A5A3C"}, {"#3B2A20", "#6A4B35", "#B08A5A"},
	 {"#5A6F8C", "#8C5A5A", "#6F8C5A", "#C2A878"},
	 {"#4B3621", "#3E6B8C", "#4F6B3A"}, "#3E4A5C", "#3B2F2A", "1.5",
	 "#E6E0D8", "#F7F4EF", "#2F2A26", "Georgia, 'Times New Roman', serif"},
	[JOB_STYLE_COMIC_BOOK] = {JOB_STYLE_COMIC_BOOK, ST_HALFTONE | ST_BOLD,
	 {{"#29B6F6", "#81D4FA"}, {"#FFCA28", "#FFE082"}}, {"#1A237E", "#3949AB"},
	 "#FFEB3B", "#FFF59D", "#FFFFFF", {"#66BB6A", "#43A047", "#2E7D32"},
	 "#7CB342", "#6D4C41", {"#2E7D32", "#43A047"},
	 {"#FFCC80", "#E0A370", "#A0674B"}, {"#212121", "#D84315", "#FDD835"},
	 {"#E53935", "#1E88E5", "#FDD835", "#8E24AA"},
	 {"#1E88E5", "#2E7D32", "#6D4C41"}, "#1565C0", "#111111", "6",
	 "#FAFAFA", "#FFEB3B", "#111111",
	 "'Comic Sans MS', 'Comic Neue', 'Trebuchet MS', sans-serif"},
	[JOB_STYLE_FLAT_ILLUSTRATION] = {JOB_STYLE_FLAT_ILLUSTRATION, ST_GEOMETRIC,
	 {{"#A8DADC", "#A8DADC"}, {"#F1FAEE", "#F1FAEE"}}, {"#264653", "#264653"},
	 "#E9C46A", "#F1FAEE", "#F1FAEE", {"#8AB17D", "#2A9D8F", "#287271"},
	 "#8AB17D", "#6B4226", {"#2A9D8F", "#E9C46A"},
	 {"#F4C7A1", "#D9A57B", "#8D5524"}, {"#264653", "#E76F51", "#3D405B"},
	 {"#E76F51", "#F4A261", "#457B9D", "#E63946"},
	 {"#264653", "#457B9D", "#6B4226"}, "#1D3557", "#1D3557", "",
	 "#F1FAEE", "#1D3557", "#F1FAEE", "'Helvetica Neue', Arial, sans-serif"},
	[JOB_STYLE_ANIME] = {JOB_STYLE_ANIME, ST_GRADIENT | ST_BIG_EYES | ST_BLUSH,
	 {{"#7EC8FF", "#FFD6F0"}, {"#A0E7FF", "#FFF0C2"}}, {"#2B2D6E", "#8E6FD8"},
	 "#FFF3B0", "#FFF9E0", "#FFFFFF", {"#B8F2D5", "#9BE8C0", "#6FD6A8"},
	 "#7FDCA4", "#A1785C", {"#5CCB8A", "#FFB7D5"},
	 {"#FFE3D3", "#F6CFB6", "#E2AE8E"}, {"#FF6FA5", "#6C5CE7", "#00B8D4"},
	 {"#FFFFFF", "#FF8FB1", "#74B9FF", "#FFD166"},
	 {"#6C5CE7", "#00A8E8", "#E84393"}, "#2D3A6B", "#2D3436", "2.5",
	 "#FFE4F1", "#FFFFFF", "#2D3436",
	 "'Trebuchet MS', 'Helvetica Neue', Arial, sans-serif"},
};
/* clang-format on */

const struct local_style *
local_style_of(enum job_style s)
{
	return (unsigned)s < JOB_STYLE_MAX && styles[s].id == s ? &styles[s]
								: NULL;
}

const struct local_style *
local_style_find(const char *name)
{
	enum job_style s;

	if (name == NULL || job_style_parse(name, &s) != SJ_OK)
		return NULL;
	return local_style_of(s);
}
