/*
 * Allocation wrappers that die on out-of-memory. A daemon that cannot
 * allocate a few bytes cannot do anything useful either; failing loudly is
 * better than limping on with a NULL nobody checked.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "banned.h"

/* Allocate size bytes or die. */
void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		fatalx("xmalloc: zero size");
	if ((p = malloc(size)) == NULL)
		fatal("xmalloc: allocating %zu bytes", size);
	return (p);
}

/* Allocate a zeroed array or die. */
void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		fatalx("xcalloc: zero size");
	if ((p = calloc(nmemb, size)) == NULL)
		fatal("xcalloc: allocating %zu * %zu bytes", nmemb, size);
	return (p);
}

/* Resize an array, checking the multiplication, or die. */
void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		fatalx("xreallocarray: zero size");
	if (SIZE_MAX / nmemb < size)
		fatalx("xreallocarray: %zu * %zu overflows", nmemb, size);
	if ((p = realloc(ptr, nmemb * size)) == NULL)
		fatal("xreallocarray: allocating %zu * %zu bytes", nmemb, size);
	return (p);
}

/* Duplicate a string or die. */
char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("xstrdup");
	return (p);
}

/* Duplicate at most n bytes of a string or die. */
char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
		fatal("xstrndup");
	return (p);
}

/* Format into a new string or die. */
int
xvasprintf(char **ret, const char *fmt, va_list ap)
{
	int	 n;

	if ((n = vasprintf(ret, fmt, ap)) == -1)
		fatal("xvasprintf");
	return (n);
}

/* Format into a new string or die. */
int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = xvasprintf(ret, fmt, ap);
	va_end(ap);
	return (n);
}

/* Append a copy of s to the list. */
void
strv_push(struct strv *sv, const char *s)
{
	sv->v = xreallocarray(sv->v, sv->n + 2, sizeof *sv->v);
	sv->v[sv->n++] = xstrdup(s);
	sv->v[sv->n] = NULL;
}

/* Free every string and the list itself, leaving it empty. */
void
strv_clear(struct strv *sv)
{
	size_t	 i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

/* Append each whitespace-separated word of s; returns how many. */
int
strv_split_words(struct strv *sv, const char *s)
{
	const char	*p, *start;
	char		*w;
	int		 n = 0;

	for (p = s; *p != '\0';) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != ',')
			p++;
		w = xstrndup(start, p - start);
		strv_push(sv, w);
		free(w);
		n++;
	}
	return (n);
}

/* Join the list with sep into a new string. */
char *
strv_join(const struct strv *sv, const char *sep)
{
	size_t	 len = 1, i, seplen = strlen(sep);
	char	*out, *p;

	for (i = 0; i < sv->n; i++)
		len += strlen(sv->v[i]) + seplen;
	p = out = xmalloc(len);
	for (i = 0; i < sv->n; i++) {
		if (i > 0) {
			memcpy(p, sep, seplen);
			p += seplen;
		}
		memcpy(p, sv->v[i], strlen(sv->v[i]));
		p += strlen(sv->v[i]);
	}
	*p = '\0';
	return (out);
}

/* Make b an empty string. */
void
buf_init(struct buf *b)
{
	b->size = 64;
	b->s = xmalloc(b->size);
	b->s[0] = '\0';
	b->len = 0;
}

/* Append len bytes at data, keeping the string NUL-terminated. */
void
buf_add(struct buf *b, const void *data, size_t len)
{
	if (b->size == 0) {
		/* cleared, or never initialised: start again */
		b->size = 64;
		b->s = xreallocarray(NULL, b->size, 1);
		b->len = 0;
	}
	while (b->len + len + 1 > b->size)
		b->s = xreallocarray(b->s, b->size *= 2, 1);
	memcpy(b->s + b->len, data, len);
	b->len += len;
	b->s[b->len] = '\0';
}

/* Append a formatted string. */
void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = xvasprintf(&s, fmt, ap);
	va_end(ap);
	buf_add(b, s, (size_t)n);
	free(s);
}

/* Hand the string to the caller, who frees it; b is left empty. */
char *
buf_take(struct buf *b)
{
	char	*s = b->s;

	b->s = NULL;
	b->len = b->size = 0;
	return (s);
}

/* Free the string. */
void
buf_clear(struct buf *b)
{
	FREE_NULL(b->s);
	b->len = b->size = 0;
}
