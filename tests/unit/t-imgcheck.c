/*
 * Completeness checks: whole JPEG, PNG and WebP files pass, and every cut
 * of them is caught, because libvips would decode a truncated JPEG with
 * grey filler and call it a success.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "objwatch.h"
#include "tap.h"

static void
cuts(const char *name, const void *buf, size_t len, const char *want)
{
	const char	*what = NULL;
	size_t		 cut, missed = 0, tried = 0;

	ok(imgcheck_complete(buf, len, &what) == 0, "a whole %s passes",
	    name);
	/* Every length from the header on, stepping to keep it quick. */
	for (cut = 16; cut < len; cut += 1 + cut / 64) {
		tried++;
		what = NULL;
		if (imgcheck_complete(buf, cut, &what) == 0 ||
		    what == NULL || strcmp(what, want) != 0)
			missed++;
	}
	ok(missed == 0 && tried > 50, "%s: %zu of %zu cuts missed", name,
	    missed, tried);
	what = NULL;
	imgcheck_complete(buf, len - 1, &what);
	is_str(what, want, "%s: one byte short is caught with its reason",
	    name);
}

int
main(void)
{
	VipsImage	*noise, *u8, *alpha;
	void		*jpeg, *pjpeg, *png, *webp, *padded;
	size_t		 jlen, plen, pnglen, wlen;
	const char	*what = NULL;

	plan(15);
	if (VIPS_INIT("t-imgcheck") != 0)
		return (1);
	if (vips_perlin(&noise, 300, 200, "cell_size", 32, NULL) != 0 ||
	    vips_linear1(noise, &u8, 100, 128, "uchar", TRUE, NULL) != 0 ||
	    vips_bandjoin_const1(u8, &alpha, 200, NULL) != 0 ||
	    vips_jpegsave_buffer(u8, &jpeg, &jlen, NULL) != 0 ||
	    vips_jpegsave_buffer(u8, &pjpeg, &plen, "interlace", TRUE,
	    NULL) != 0 ||
	    vips_pngsave_buffer(alpha, &png, &pnglen, NULL) != 0 ||
	    vips_webpsave_buffer(u8, &webp, &wlen, NULL) != 0)
		return (1);

	cuts("baseline JPEG", jpeg, jlen, "the JPEG data ends before its "
	    "end-of-image marker");
	cuts("progressive JPEG", pjpeg, plen, "the JPEG data ends before its "
	    "end-of-image marker");
	cuts("PNG", png, pnglen, "the PNG data ends before its IEND chunk");
	cuts("WebP", webp, wlen, "the WebP data is shorter than its RIFF "
	    "header says");

	/* Bytes after the end marker (as some cameras append) are fine. */
	padded = g_malloc(jlen + 100);
	memcpy(padded, jpeg, jlen);
	memset((char *)padded + jlen, 0xab, 100);
	ok(imgcheck_complete(padded, jlen + 100, &what) == 0,
	    "data after a JPEG's end marker passes");
	ok(imgcheck_complete("plain text, not an image", 24, &what) == 0,
	    "formats it does not know are left to the decoder");
	ok(imgcheck_complete("\xff\xd8\xff", 3, &what) == -1,
	    "a JPEG that is only its first marker is truncated");

	g_free(padded);
	g_free(jpeg);
	g_free(pjpeg);
	g_free(png);
	g_free(webp);
	g_object_unref(noise);
	g_object_unref(u8);
	g_object_unref(alpha);
	return (done_testing());
}
