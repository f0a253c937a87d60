/*
 * save: encode the result.
 *
 *	save format=jpeg|png|webp|avif|same quality=1..100 strip=yes
 *	    progressive=no max_bytes=200k
 *
 * The image is converted to sRGB first (through its embedded ICC profile
 * when it has one), so what a browser shows matches what the camera
 * meant. JPEG has no alpha: transparent parts are flattened onto white.
 * Quality defaults follow imgproxy's (JPEG 80, WebP 79, AVIF 63); PNG is
 * lossless and takes no quality. format=same keeps the input's format
 * where it is one of these, and otherwise picks JPEG, or PNG for an image
 * with alpha. avif is offered only when this libvips can encode it (the
 * config check tries), so a recipe never fails on it at run time.
 *
 * strip=yes (the default) drops the metadata (EXIF, XMP, IPTC, the ICC
 * profile) but keeps the EXIF copyright, as photographers expect: the
 * image's fields are all removed but that one, and libvips writes a fresh
 * EXIF block from it. progressive=yes makes a progressive JPEG or an
 * interlaced PNG. max_bytes lowers the quality 10 at a time down to 10
 * until the output fits, and fails the job with class limit if it never
 * does. Several frames (thumbnail pages=) are kept by WebP; the other
 * formats take the first.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "objwatch.h"
#include "banned.h"

enum save_format {
	FORMAT_JPEG,
	FORMAT_PNG,
	FORMAT_WEBP,
	FORMAT_AVIF,
	FORMAT_SAME
};

static const char *const formats[] = { "jpeg", "png", "webp", "avif", "same",
    NULL };
static const char *const exts[] = { "jpg", "png", "webp", "avif" };
static const char *const mimes[] = { "image/jpeg", "image/png",
    "image/webp", "image/avif" };
static const int default_quality[] = { 80, 0, 79, 63 };

#define SAVE_MIN_QUALITY	10
#define SAVE_QUALITY_STEP	10
#define COPYRIGHT_FIELD		"exif-ifd0-Copyright"

struct save {
	int		 format;
	int		 quality;	/* 0: the format's default */
	int		 strip;
	int		 progressive;
	long long	 max_bytes;	/* 0: no limit */
};

static int
save_parse(struct step *st, char **cause)
{
	struct save	*s;
	const char	*v;
	uint64_t	 bytes;

	s = xcalloc(1, sizeof *s);
	st->data = s;
	if (step_arg_choice(st, "format", formats, FORMAT_SAME, &s->format,
	    cause) != 0 ||
	    step_arg_int(st, "quality", 1, 100, 0, &s->quality, cause) != 0 ||
	    step_arg_bool(st, "strip", 1, &s->strip, cause) != 0 ||
	    step_arg_bool(st, "progressive", 0, &s->progressive, cause) != 0)
		return (-1);
	if ((v = step_arg(st, "max_bytes")) != NULL) {
		if (parse_size(v, &bytes) != 0 || bytes == 0 ||
		    bytes > (uint64_t)1 << 40) {
			xasprintf(cause, "parameter 'max_bytes' must be a size "
			    "such as 200000, 200k or 2MB, not '%s'", v);
			return (-1);
		}
		s->max_bytes = (long long)bytes;
	}
	if (s->format == FORMAT_PNG && s->quality != 0) {
		xasprintf(cause, "parameter 'quality' does not apply to "
		    "format=png (it is lossless)");
		return (-1);
	}
	if (s->format == FORMAT_PNG && s->max_bytes != 0) {
		xasprintf(cause, "parameter 'max_bytes' does not apply to "
		    "format=png (it is lossless: there is no quality to "
		    "lower)");
		return (-1);
	}
	if (s->format == FORMAT_AVIF && !image_can_encode("avif")) {
		xasprintf(cause, "parameter 'format': this libvips (%s) "
		    "cannot encode AVIF (no heifsave with an AV1 encoder); "
		    "use jpeg, png or webp", vips_version_string());
		return (-1);
	}
	if (s->progressive && (s->format == FORMAT_WEBP ||
	    s->format == FORMAT_AVIF)) {
		xasprintf(cause, "parameter 'progressive' applies to jpeg and "
		    "png only, not format=%s", formats[s->format]);
		return (-1);
	}
	return (0);
}

static int
save_pick_format(const struct save *s, const struct image_job *job)
{
	if (s->format != FORMAT_SAME)
		return (s->format);
	if (job->loader != NULL) {
		if (strncmp(job->loader, "jpegload", 8) == 0)
			return (FORMAT_JPEG);
		if (strncmp(job->loader, "pngload", 7) == 0)
			return (FORMAT_PNG);
		if (strncmp(job->loader, "webpload", 8) == 0)
			return (FORMAT_WEBP);
		if (strncmp(job->loader, "heifload", 8) == 0 &&
		    image_can_encode("avif"))
			return (FORMAT_AVIF);
	}
	return (vips_image_hasalpha(job->image) ? FORMAT_PNG : FORMAT_JPEG);
}

/* Frame and animation fields a saver needs, kept when stripping. */
static int
save_field_kept(const char *name)
{
	return (strcmp(name, COPYRIGHT_FIELD) == 0 ||
	    strcmp(name, "page-height") == 0 || strcmp(name, "delay") == 0 ||
	    strcmp(name, "loop") == 0 || strcmp(name, "gif-delay") == 0 ||
	    strcmp(name, "gif-loop") == 0);
}

/*
 * A copy of in with every metadata field removed but the copyright, so a
 * save with strip off writes an EXIF block holding that alone. *keep is
 * 0 (and nothing is made) when there is no copyright to keep.
 */
static int
save_keep_copyright(VipsImage *in, VipsImage **out, int *keep)
{
	char		*copyright;
	gchar		**fields;
	int		 i;

	*keep = 0;
	if ((copyright = image_exif_string(in, COPYRIGHT_FIELD)) == NULL)
		return (0);
	free(copyright);
	if (vips_copy(in, out, NULL) != 0)
		return (-1);
	fields = vips_image_get_fields(*out);
	for (i = 0; fields[i] != NULL; i++) {
		if (!save_field_kept(fields[i]))
			vips_image_remove(*out, fields[i]);
	}
	g_strfreev(fields);
	*keep = 1;
	return (0);
}

static int
save_encode(const struct save *s, int format, VipsImage *in, int quality,
    int strip, void **buf, size_t *len)
{
	switch (format) {
	case FORMAT_JPEG:
		return (vips_jpegsave_buffer(in, buf, len, "Q", quality,
		    "strip", strip, "interlace", s->progressive,
		    "optimize_coding", TRUE, NULL));
	case FORMAT_PNG:
		return (vips_pngsave_buffer(in, buf, len, "strip", strip,
		    "interlace", s->progressive, NULL));
	case FORMAT_WEBP:
		return (vips_webpsave_buffer(in, buf, len, "Q", quality,
		    "strip", strip, NULL));
	case FORMAT_AVIF:
		return (vips_heifsave_buffer(in, buf, len, "Q", quality,
		    "strip", strip, "compression",
		    VIPS_FOREIGN_HEIF_COMPRESSION_AV1, NULL));
	}
	return (-1);
}

/* Into sRGB, through the embedded profile when there is a usable one. */
static int
save_srgb(VipsImage *in, VipsImage **out)
{
	if (vips_image_get_typeof(in, VIPS_META_ICC_NAME) != 0 &&
	    in->Type != VIPS_INTERPRETATION_B_W) {
		if (vips_icc_transform(in, out, "srgb", "embedded", TRUE,
		    "intent", VIPS_INTENT_PERCEPTUAL, NULL) == 0)
			return (0);
		/* A broken profile: fall back to the plain conversion. */
		vips_error_clear();
	}
	if (in->Type == VIPS_INTERPRETATION_sRGB ||
	    in->Type == VIPS_INTERPRETATION_B_W)
		return (vips_copy(in, out, NULL));
	return (vips_colourspace(in, out, VIPS_INTERPRETATION_sRGB, NULL));
}

static int
save_run(const struct step *st, struct image_job *job)
{
	const struct save	*s = st->data;
	VipsObject		*scope = VIPS_OBJECT(vips_image_new());
	VipsImage		**t = (VipsImage **)
				    vips_object_local_array(scope, 6);
	VipsImage		*in = job->image;
	void			*buf = NULL;
	size_t			 len = 0;
	int			 format, quality, keep, strip, rc = -1;
	int			 page_height;

	format = save_pick_format(s, job);

	/* One frame unless the format keeps animation. */
	page_height = vips_image_get_page_height(in);
	if (page_height < in->Ysize && format != FORMAT_WEBP) {
		if (vips_extract_area(in, &t[0], 0, 0, in->Xsize, page_height,
		    NULL) != 0)
			goto out;
		in = t[0];
	}
	if (save_srgb(in, &t[1]) != 0)
		goto out;
	in = t[1];
	if (format == FORMAT_JPEG && vips_image_hasalpha(in)) {
		double		 white[3] = { 255, 255, 255 };
		VipsArrayDouble	*bg = vips_array_double_new(white,
		    in->Bands > 2 ? 3 : 1);

		rc = vips_flatten(in, &t[2], "background", bg, NULL);
		vips_area_unref(VIPS_AREA(bg));
		if (rc != 0)
			goto out;
		rc = -1;
		in = t[2];
	}
	strip = s->strip;
	if (s->strip) {
		if (save_keep_copyright(in, &t[3], &keep) != 0)
			goto out;
		if (keep) {
			in = t[3];
			strip = 0;
		}
	}
	if (s->max_bytes != 0) {
		/* Encoded more than once: the pixels must stay. */
		if ((t[4] = vips_image_copy_memory(in)) == NULL)
			goto out;
		in = t[4];
	}

	quality = s->quality ? s->quality : default_quality[format];
	for (;;) {
		if (save_encode(s, format, in, quality, strip, &buf,
		    &len) != 0)
			goto out;
		if (s->max_bytes == 0 || (long long)len <= s->max_bytes)
			break;
		if (format == FORMAT_PNG || quality <= SAVE_MIN_QUALITY) {
			job_error_set(&job->error, ERROR_LIMIT, 0, "'%s' "
			    "encodes to %zu bytes as %s%s, over the limit "
			    "max_bytes = %lld of step 'save' in recipe '%s'; "
			    "raise max_bytes or make the image smaller (a "
			    "thumbnail step before save)", job->in_name, len,
			    formats[format], format == FORMAT_PNG ? "" :
			    " even at quality 10", s->max_bytes, job->recipe);
			g_free(buf);
			buf = NULL;
			rc = -1;
			goto out;
		}
		g_free(buf);
		buf = NULL;
		quality -= SAVE_QUALITY_STEP;
		if (quality < SAVE_MIN_QUALITY)
			quality = SAVE_MIN_QUALITY;
	}
	rc = 0;
	job->out = buf;
	job->outlen = len;
	job->format = formats[format];
	job->ext = exts[format];
	job->mime = mimes[format];
	job->width = in->Xsize;
	job->height = vips_image_get_page_height(in);

out:
	if (rc != 0 && job->error.cls == ERROR_NONE) {
		/*
		 * Most decode errors surface here: the loader is lazy, so
		 * a damaged file fails when its pixels are first needed.
		 */
		image_job_fail(job, ERROR_DECODE, "decode or encode");
	}
	g_object_unref(scope);
	return (rc);
}

static void
save_free(void *data)
{
	free(data);
}

const struct handler handler_save = {
	.name = "save",
	.usage = "format, quality, strip, progressive, max_bytes",
	.flags = HANDLER_SAVES,
	.parse = save_parse,
	.run = save_run,
	.free = save_free,
};
