/*
 * save: encode the result.
 *
 *	save format=jpeg|png|webp|same quality=1..100 strip=yes
 *	    progressive=no
 *
 * The image is converted to sRGB first, so what a browser shows matches
 * what the camera meant. JPEG has no alpha: transparent parts are
 * flattened onto white. Quality defaults follow imgproxy's (JPEG 80,
 * WebP 79); PNG is lossless and takes no quality. format=same keeps the
 * input's format where it is one of these, and otherwise picks JPEG, or
 * PNG for an image with alpha.
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
	FORMAT_SAME
};

static const char *const formats[] = { "jpeg", "png", "webp", "same", NULL };
static const char *const exts[] = { "jpg", "png", "webp" };
static const char *const mimes[] = { "image/jpeg", "image/png",
    "image/webp" };

struct save {
	int	 format;
	int	 quality;	/* 0: the format's default */
	int	 strip;
	int	 progressive;
};

static int
save_parse(struct step *st, char **cause)
{
	struct save	*s;

	s = xcalloc(1, sizeof *s);
	st->data = s;
	if (step_arg_choice(st, "format", formats, FORMAT_SAME, &s->format,
	    cause) != 0 ||
	    step_arg_int(st, "quality", 1, 100, 0, &s->quality, cause) != 0 ||
	    step_arg_bool(st, "strip", 1, &s->strip, cause) != 0 ||
	    step_arg_bool(st, "progressive", 0, &s->progressive, cause) != 0)
		return (-1);
	if (s->format == FORMAT_PNG && s->quality != 0) {
		xasprintf(cause, "parameter 'quality' does not apply to "
		    "format=png (it is lossless)");
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
	}
	return (vips_image_hasalpha(job->image) ? FORMAT_PNG : FORMAT_JPEG);
}

static int
save_run(const struct step *st, struct image_job *job)
{
	const struct save	*s = st->data;
	VipsImage		*in = job->image, *t[2] = { NULL, NULL };
	void			*buf = NULL;
	size_t			 len = 0;
	int			 format, rc = -1;

	format = save_pick_format(s, job);

	if (in->Type != VIPS_INTERPRETATION_sRGB &&
	    in->Type != VIPS_INTERPRETATION_B_W) {
		if (vips_colourspace(in, &t[0], VIPS_INTERPRETATION_sRGB,
		    NULL) != 0)
			goto out;
		in = t[0];
	}
	if (format == FORMAT_JPEG && vips_image_hasalpha(in)) {
		double		 white[3] = { 255, 255, 255 };
		VipsArrayDouble	*bg = vips_array_double_new(white,
		    in->Bands > 2 ? 3 : 1);

		rc = vips_flatten(in, &t[1], "background", bg, NULL);
		vips_area_unref(VIPS_AREA(bg));
		if (rc != 0)
			goto out;
		rc = -1;
		in = t[1];
	}

	switch (format) {
	case FORMAT_JPEG:
		rc = vips_jpegsave_buffer(in, &buf, &len,
		    "Q", s->quality ? s->quality : 80,
		    "strip", s->strip, "interlace", s->progressive,
		    "optimize_coding", TRUE, NULL);
		break;
	case FORMAT_PNG:
		rc = vips_pngsave_buffer(in, &buf, &len,
		    "strip", s->strip, "interlace", s->progressive, NULL);
		break;
	case FORMAT_WEBP:
		rc = vips_webpsave_buffer(in, &buf, &len,
		    "Q", s->quality ? s->quality : 79, "strip", s->strip,
		    NULL);
		break;
	}
	if (rc != 0)
		goto out;
	job->out = buf;
	job->outlen = len;
	job->format = formats[format];
	job->ext = exts[format];
	job->mime = mimes[format];
	job->width = in->Xsize;
	job->height = in->Ysize;

out:
	if (rc != 0) {
		/*
		 * Most decode errors surface here: the loader is lazy, so
		 * a damaged file fails when its pixels are first needed.
		 */
		char	*why = image_error();

			job_error_set(&job->error, ERROR_DECODE, 0,
		    "cannot decode or encode '%s': %s", job->in_name, why);
			free(why);
	}
	if (t[0] != NULL)
		g_object_unref(t[0]);
	if (t[1] != NULL)
		g_object_unref(t[1]);
	return (rc);
}

static void
save_free(void *data)
{
	free(data);
}

const struct handler handler_save = {
	.name = "save",
	.usage = "format, quality, strip, progressive",
	.flags = HANDLER_SAVES,
	.parse = save_parse,
	.run = save_run,
	.free = save_free,
};
