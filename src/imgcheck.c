/*
 * Structural completeness checks, made before decoding.
 *
 * libvips 8.14 decodes a truncated JPEG "successfully", filling the missing
 * rows with grey and leaving the complaint only in its process-wide error
 * buffer, which several worker threads share. So the file's own structure
 * is checked instead: a JPEG must reach its end-of-image marker, a PNG its
 * IEND chunk, a WebP the length its RIFF header promises. The walk reads
 * segment lengths and skips entropy-coded data with memchr, so it costs a
 * small fraction of a decode.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "objwatch.h"
#include "banned.h"

static int
jpeg_complete(const uint8_t *p, size_t len, const char **what)
{
	size_t		 off = 2, seglen;
	const uint8_t	*ff;
	uint8_t		 m;

	for (;;) {
		if (off >= len || p[off] != 0xff)
			goto truncated;
		while (off < len && p[off] == 0xff)
			off++;
		if (off >= len)
			goto truncated;
		m = p[off++];
		if (m == 0xd9)
			return (0);
		if ((m >= 0xd0 && m <= 0xd7) || m == 0x01)
			continue;
		if (off + 2 > len)
			goto truncated;
		seglen = ((size_t)p[off] << 8) | p[off + 1];
		if (seglen < 2 || off + seglen > len)
			goto truncated;
		off += seglen;
		if (m != 0xda)
			continue;
		/* Entropy-coded data: runs to the next real marker. */
		for (;;) {
			ff = memchr(p + off, 0xff, len - off);
			if (ff == NULL || (size_t)(ff - p) + 1 >= len)
				goto truncated;
			off = ff - p;
			m = p[off + 1];
			if (m == 0x00 || (m >= 0xd0 && m <= 0xd7) ||
			    m == 0xff) {
				off += (m == 0xff) ? 1 : 2;
				continue;
			}
			break;
		}
	}

truncated:
	*what = "the JPEG data ends before its end-of-image marker";
	return (-1);
}

static int
png_complete(const uint8_t *p, size_t len, const char **what)
{
	size_t		 off = 8;
	uint32_t	 clen;

	while (off + 12 <= len) {
		clen = ((uint32_t)p[off] << 24) | ((uint32_t)p[off + 1] << 16) |
		    ((uint32_t)p[off + 2] << 8) | p[off + 3];
		if (memcmp(p + off + 4, "IEND", 4) == 0)
			return (0);
		if (clen > len - off - 12)
			break;
		off += 12 + (size_t)clen;
	}
	*what = "the PNG data ends before its IEND chunk";
	return (-1);
}

static int
webp_complete(const uint8_t *p, size_t len, const char **what)
{
	uint32_t	 riff;

	riff = (uint32_t)p[4] | ((uint32_t)p[5] << 8) | ((uint32_t)p[6] << 16) |
	    ((uint32_t)p[7] << 24);
	if ((uint64_t)riff + 8 <= len)
		return (0);
	*what = "the WebP data is shorter than its RIFF header says";
	return (-1);
}

/*
 * Whether an encoded image is complete. Returns 0 for a complete image or a
 * format this does not check, -1 with *what saying what is missing.
 */
int
imgcheck_complete(const void *data, size_t len, const char **what)
{
	const uint8_t	*p = data;

	if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
		return (jpeg_complete(p, len, what));
	if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
		return (png_complete(p, len, what));
	if (len >= 12 && memcmp(p, "RIFF", 4) == 0 &&
	    memcmp(p + 8, "WEBP", 4) == 0)
		return (webp_complete(p, len, what));
	return (0);
}
