/*
 * Splitting an object into lines, through gzip when it is compressed.
 *
 * The input comes in pieces (lines_split_feed, any size); each complete
 * line goes to the callback with its number (from 1) and the offset of
 * its first byte in the uncompressed stream. A line inside one piece is
 * handed over where it lies, without a copy; only a line cut by the end of
 * a piece is carried in a buffer to the next one. "\r\n" ends a line as
 * "\n" does. A line longer than max_line is handed over once, cut at
 * max_line with truncated set, and the rest of it up to its newline is
 * skipped: a 100 MB line costs max_line bytes of memory, not 100 MB.
 *
 * gzip is recognised by its magic bytes (1f 8b) at the start, whatever the
 * object is called; concatenated members (what `cat a.gz b.gz` makes, and
 * what some log shippers write) are read one after the other. A stream
 * that ends inside a member is an error, not a short file: the caller
 * records nothing of it.
 *
 * Text is checked for NUL bytes in its first 8 KiB: a file that has them
 * is not lines of text (an image, an archive), and one error says so
 * rather than a reject for each of its "lines".
 */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "objwatch.h"
#include "banned.h"

#define SPLIT_SNIFF	8192		/* bytes looked at for NULs */
#define SPLIT_ZCHUNK	(256 * 1024)	/* inflated per call */

struct lines_split {
	size_t		 max_line;
	lines_line_cb	 cb;
	void		*arg;

	int		 started;	/* the first bytes were seen */
	int		 gzip;
	z_stream	 z;
	int		 zinit;
	int		 zend;		/* a member just ended */
	unsigned char	*zout;

	char		*carry;		/* a line cut by a piece's end */
	size_t		 carrylen;
	size_t		 carrysize;
	int		 skipping;	/* past max_line: up to its newline */

	size_t		 sniffed;	/* bytes checked for NULs so far */
	int64_t		 lineno;	/* of the last line handed over */
	int64_t		 offset;	/* uncompressed bytes consumed */
	int64_t		 line_start;	/* offset of the line in carry */
	int		 stopped;
	char		*error;
};

/* A splitter handing each line to cb; lines over max_line are cut. */
struct lines_split *
lines_split_new(size_t max_line, lines_line_cb cb, void *arg)
{
	struct lines_split	*s;

	s = xcalloc(1, sizeof *s);
	s->max_line = max_line;
	s->cb = cb;
	s->arg = arg;
	return (s);
}

/* Free a splitter and what it holds. */
void
lines_split_free(struct lines_split *s)
{
	if (s == NULL)
		return;
	if (s->zinit)
		inflateEnd(&s->z);
	free(s->zout);
	free(s->carry);
	free(s->error);
	free(s);
}

/* Whether the input was gzip-compressed (known after the first feed). */
int
lines_split_gzip(const struct lines_split *s)
{
	return (s->gzip);
}

/* Lines handed over so far. */
int64_t
lines_split_lineno(const struct lines_split *s)
{
	return (s->lineno);
}

/* Uncompressed bytes consumed so far, up to the end of the last line. */
int64_t
lines_split_offset(const struct lines_split *s)
{
	return (s->offset - (int64_t)s->carrylen);
}

/* Hand one line to the callback; 1 when it asks to stop. */
static int
split_emit(struct lines_split *s, const char *line, size_t len,
    int64_t start, int truncated)
{
	if (len > 0 && line[len - 1] == '\r' && !truncated)
		len--;
	s->lineno++;
	if (s->cb(s->arg, line, len, s->lineno, start, truncated) != 0) {
		s->stopped = 1;
		return (1);
	}
	return (0);
}

static void
split_carry(struct lines_split *s, const char *p, size_t n)
{
	if (s->carrylen + n + 1 > s->carrysize) {
		s->carrysize = s->carrylen + n + 1;
		if (s->carrysize < 4096)
			s->carrysize = 4096;
		s->carry = xreallocarray(s->carry, s->carrysize, 1);
	}
	memcpy(s->carry + s->carrylen, p, n);
	s->carrylen += n;
	s->carry[s->carrylen] = '\0';
}

/*
 * Split uncompressed text. Returns 0, 1 when the callback stopped, -1 on
 * binary input (s->error set).
 */
static int
split_text(struct lines_split *s, const char *p, size_t n)
{
	const char	*nl, *end = p + n;
	size_t		 len, room, total;

	if (s->sniffed < SPLIT_SNIFF) {
		len = SPLIT_SNIFF - s->sniffed;
		if (len > n)
			len = n;
		if (memchr(p, '\0', len) != NULL) {
			xasprintf(&s->error, "binary input (NUL bytes): not "
			    "lines of text");
			return (-1);
		}
		s->sniffed += len;
	}
	while (p < end) {
		nl = memchr(p, '\n', end - p);
		len = (nl != NULL ? nl : end) - p;
		if (s->skipping) {
			/* the rest of a line already handed over, cut */
			s->offset += len + (nl != NULL);
			if (nl != NULL)
				s->skipping = 0;
			p += len + (nl != NULL);
			continue;
		}
		if (nl == NULL) {
			/* cut by the piece's end: keep up to max_line */
			if (s->carrylen == 0)
				s->line_start = s->offset;
			room = s->max_line + 1 - s->carrylen;
			if (len < room) {
				split_carry(s, p, len);
				s->offset += len;
				return (0);
			}
			split_carry(s, p, room - 1);
			s->offset += len;
			s->skipping = 1;
			len = s->carrylen;
			s->carrylen = 0;
			return (split_emit(s, s->carry, len, s->line_start, 1));
		}
		if (s->carrylen > 0) {
			/* the end of a carried line; carrylen <= max_line */
			total = s->carrylen + len;
			room = s->max_line - s->carrylen;
			split_carry(s, p, len < room ? len : room);
			s->offset += len + 1;
			p += len + 1;
			len = s->carrylen;
			s->carrylen = 0;
			if (split_emit(s, s->carry, len, s->line_start,
			    total > s->max_line))
				return (1);
			continue;
		}
		s->line_start = s->offset;
		s->offset += len + 1;
		if (len > s->max_line) {
			if (split_emit(s, p, s->max_line, s->line_start, 1))
				return (1);
		} else if (split_emit(s, p, len, s->line_start, 0))
			return (1);
		p += len + 1;
	}
	return (0);
}

/* Inflate a piece of gzip input and split what comes out. */
static int
split_gzip(struct lines_split *s, const void *data, size_t n)
{
	int	 zr, rc;

	s->z.next_in = (unsigned char *)(uintptr_t)data;
	s->z.avail_in = n;
	while (s->z.avail_in > 0) {
		if (s->zend) {
			/* Another member follows, or padding: a new header. */
			if (inflateReset(&s->z) != Z_OK) {
				xasprintf(&s->error, "gzip: cannot read the "
				    "next member");
				return (-1);
			}
			s->zend = 0;
		}
		s->z.next_out = s->zout;
		s->z.avail_out = SPLIT_ZCHUNK;
		zr = inflate(&s->z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			xasprintf(&s->error, "gzip: %s at compressed byte "
			    "%lu", s->z.msg != NULL ? s->z.msg :
			    "corrupt data", s->z.total_in);
			return (-1);
		}
		if (zr == Z_STREAM_END)
			s->zend = 1;
		rc = split_text(s, (char *)s->zout, SPLIT_ZCHUNK -
		    s->z.avail_out);
		if (rc != 0)
			return (rc);
		if (zr == Z_BUF_ERROR && s->z.avail_out == SPLIT_ZCHUNK)
			break;
	}
	return (0);
}

/*
 * Feed the next piece of the object. Returns 0 to go on, 1 when the
 * callback asked to stop, -1 on an error (lines_split_error says which).
 */
int
lines_split_feed(struct lines_split *s, const void *data, size_t n)
{
	const unsigned char	*u = data;

	if (s->stopped)
		return (1);
	if (s->error != NULL)
		return (-1);
	if (n == 0)
		return (0);
	if (!s->started) {
		s->started = 1;
		/* One byte of magic is too little to tell: wait for two. */
		if (n >= 2 && u[0] == 0x1f && u[1] == 0x8b) {
			s->gzip = 1;
			if (inflateInit2(&s->z, 15 + 16) != Z_OK)
				fatalx("inflateInit2: out of memory");
			s->zinit = 1;
			s->zout = xmalloc(SPLIT_ZCHUNK);
		}
	}
	if (s->gzip)
		return (split_gzip(s, data, n));
	return (split_text(s, data, n));
}

/*
 * The input is complete: check that a compressed stream ended where a
 * member ends and hand over a last line with no newline when partial is
 * set (a whole object), or keep it unread (a file still being written).
 */
int
lines_split_finish(struct lines_split *s, int partial)
{
	size_t	 len;

	if (s->stopped)
		return (1);
	if (s->error != NULL)
		return (-1);
	if (s->gzip && !s->zend) {
		xasprintf(&s->error, "truncated gzip: the compressed stream "
		    "ends early (after %" PRId64 " uncompressed bytes)",
		    s->offset + (int64_t)s->carrylen);
		return (-1);
	}
	if (!partial || s->carrylen == 0)
		return (0);
	len = s->carrylen;
	s->carrylen = 0;
	return (split_emit(s, s->carry, len, s->line_start, 0));
}

/* Why the last feed or finish returned -1. */
const char *
lines_split_error(const struct lines_split *s)
{
	return (s->error != NULL ? s->error : "no error");
}

/*
 * The first bytes of an object's text, through gzip when it is
 * compressed: up to max of them into head, their number in *n. What a
 * lines job compares to know a file it has loaded before, under another
 * name or compressed since. Returns -1 when the gzip is broken so early
 * that nothing comes out.
 */
int
lines_split_head(const void *data, size_t len, unsigned char *head,
    size_t max, size_t *n)
{
	const unsigned char	*u = data;
	z_stream		 z;
	int			 zr;

	if (len < 2 || u[0] != 0x1f || u[1] != 0x8b) {
		*n = len < max ? len : max;
		memcpy(head, data, *n);
		return (0);
	}
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, 15 + 16) != Z_OK)
		fatalx("inflateInit2: out of memory");
	z.next_in = (unsigned char *)(uintptr_t)data;
	z.avail_in = len;
	z.next_out = head;
	z.avail_out = max;
	do
		zr = inflate(&z, Z_NO_FLUSH);
	while (zr == Z_OK && z.avail_out > 0 && z.avail_in > 0);
	*n = max - z.avail_out;
	inflateEnd(&z);
	return (*n == 0 && zr != Z_STREAM_END ? -1 : 0);
}
