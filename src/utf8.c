/*
 * UTF-8 as RFC 3629 has it: no overlong forms, no surrogates, nothing past
 * U+10FFFF. This is the bottom of the tree: it allocates nothing and calls
 * nothing of ours, so log.c can read UTF-8 without depending on util.c or
 * xmalloc.c, which both log. Copies and keys that allocate stay in util.c.
 */
#include "config.h"

#include "objwatch.h"
#include "banned.h"

/*
 * The length of the well-formed UTF-8 sequence at p (no overlong, no
 * surrogate, at most U+10FFFF) and its code point in *cp; 0 when p does
 * not start one.
 */
int
utf8_sequence(const unsigned char *p, unsigned int *cp)
{
	unsigned int	 c, min;
	int		 n, i;

	if (*p < 0x80) {
		*cp = *p;
		return (1);
	}
	if ((*p & 0xe0) == 0xc0) {
		n = 1;
		c = *p & 0x1f;
		min = 0x80;
	} else if ((*p & 0xf0) == 0xe0) {
		n = 2;
		c = *p & 0x0f;
		min = 0x800;
	} else if ((*p & 0xf8) == 0xf0) {
		n = 3;
		c = *p & 0x07;
		min = 0x10000;
	} else
		return (0);
	for (i = 1; i <= n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return (0);
	*cp = c;
	return (n + 1);
}

/*
 * utf8_sequence for bytes that need not end with a NUL: left of them at p
 * (at least 1). A sequence cut by the end is not one.
 */
int
utf8_sequence_n(const unsigned char *p, size_t left, unsigned int *cp)
{
	unsigned char	 pad[5] = { 0, 0, 0, 0, 0 };
	size_t		 i;

	if (left >= 4)
		return (utf8_sequence(p, cp));
	for (i = 0; i < left; i++)
		pad[i] = p[i];
	return (utf8_sequence(pad, cp));
}

/* Whether s is valid UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
int
utf8_valid(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	unsigned int		 c;
	int			 n;

	while (*p != '\0') {
		if ((n = utf8_sequence(p, &c)) == 0)
			return (0);
		p += n;
	}
	return (1);
}
