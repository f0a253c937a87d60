/*
 * thumbnail: load and shrink in one go.
 *
 *	thumbnail width=256 height=256 fit=inside|cover|fill|contain
 *	    crop=centre|attention|entropy enlarge=no autorotate=yes
 *	    background=255,255,255
 *
 * Always vips_thumbnail_buffer, so JPEG and WebP decode at a fraction of
 * their size (shrink-on-load) instead of being decoded whole and resized.
 * fit=inside keeps the whole image inside the box; cover fills the box and
 * crops the overflow (where crop says); fill stretches to the box; contain
 * fits inside and pads to the box with background.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "objwatch.h"
#include "banned.h"

enum thumbnail_fit {
	FIT_INSIDE,
	FIT_COVER,
	FIT_FILL,
	FIT_CONTAIN
};

struct thumbnail {
	int		 width;		/* 0: from height */
	int		 height;	/* 0: from width */
	int		 fit;
	int		 crop;		/* VipsInteresting */
	int		 enlarge;
	int		 autorotate;
	double		 background[4];
	int		 nbackground;
};

static const char *const fits[] = { "inside", "cover", "fill", "contain",
    NULL };
static const char *const crops[] = { "none", "centre", "attention",
    "entropy", "center", NULL };

/* Parse "r,g,b" or "r,g,b,a" with each 0..255. */
static int
parse_colour(const char *v, double *out, int *n)
{
	char	*end;
	long	 l;

	*n = 0;
	for (;;) {
		l = strtol(v, &end, 10);
		if (end == v || l < 0 || l > 255 || *n == 4)
			return (-1);
		out[(*n)++] = l;
		if (*end == '\0')
			break;
		if (*end != ',')
			return (-1);
		v = end + 1;
	}
	return (*n == 3 || *n == 4 || *n == 1) ? 0 : -1;
}

static int
thumbnail_parse(struct step *st, char **cause)
{
	struct thumbnail	*t;
	const char		*bg;
	int			 crop;

	t = xcalloc(1, sizeof *t);
	st->data = t;
	if (step_arg_int(st, "width", 1, VIPS_MAX_COORD, 0, &t->width,
	    cause) != 0 ||
	    step_arg_int(st, "height", 1, VIPS_MAX_COORD, 0, &t->height,
	    cause) != 0 ||
	    step_arg_choice(st, "fit", fits, FIT_INSIDE, &t->fit,
	    cause) != 0 ||
	    step_arg_choice(st, "crop", crops, -1, &crop, cause) != 0 ||
	    step_arg_bool(st, "enlarge", 0, &t->enlarge, cause) != 0 ||
	    step_arg_bool(st, "autorotate", 1, &t->autorotate, cause) != 0)
		return (-1);
	if (t->width == 0 && t->height == 0) {
		xasprintf(cause, "needs width, height or both (in pixels)");
		return (-1);
	}
	switch (crop) {
	case -1:
		t->crop = VIPS_INTERESTING_CENTRE;
		break;
	case 0:
		t->crop = VIPS_INTERESTING_NONE;
		break;
	case 1:
	case 4:
		t->crop = VIPS_INTERESTING_CENTRE;
		break;
	case 2:
		t->crop = VIPS_INTERESTING_ATTENTION;
		break;
	case 3:
		t->crop = VIPS_INTERESTING_ENTROPY;
		break;
	}
	if (crop != -1 && t->fit != FIT_COVER) {
		xasprintf(cause, "parameter 'crop' only applies with "
		    "fit=cover");
		return (-1);
	}
	if (t->fit != FIT_INSIDE && (t->width == 0 || t->height == 0)) {
		xasprintf(cause, "fit=%s needs both width and height",
		    fits[t->fit]);
		return (-1);
	}
	t->background[0] = t->background[1] = t->background[2] = 255;
	t->nbackground = 3;
	if ((bg = step_arg(st, "background")) != NULL) {
		if (t->fit != FIT_CONTAIN) {
			xasprintf(cause, "parameter 'background' only applies "
			    "with fit=contain");
			return (-1);
		}
		if (parse_colour(bg, t->background, &t->nbackground) != 0) {
			xasprintf(cause, "parameter 'background' must be "
			    "R,G,B or R,G,B,A with each from 0 to 255, not "
			    "'%s'", bg);
			return (-1);
		}
	}
	return (0);
}

static int
thumbnail_run(const struct step *st, struct image_job *job)
{
	const struct thumbnail	*t = st->data;
	VipsImage		*out = NULL, *padded;
	VipsSize		 size;
	int			 width, height, rc;

	width = t->width ? t->width : VIPS_MAX_COORD;
	height = t->height ? t->height : VIPS_MAX_COORD;
	size = t->enlarge ? VIPS_SIZE_BOTH : VIPS_SIZE_DOWN;
	if (t->fit == FIT_FILL)
		size = VIPS_SIZE_FORCE;

	if (job->image != NULL) {
		rc = vips_thumbnail_image(job->image, &out, width,
		    "height", height, "size", size,
		    "no_rotate", !t->autorotate,
		    "crop", t->fit == FIT_COVER ? t->crop :
		    VIPS_INTERESTING_NONE, NULL);
	} else {
		rc = vips_thumbnail_buffer((void *)job->in, job->inlen, &out,
		    width, "height", height, "size", size,
		    "no_rotate", !t->autorotate,
		    "crop", t->fit == FIT_COVER ? t->crop :
		    VIPS_INTERESTING_NONE,
		    "option_string", "fail_on=truncated", NULL);
	}
	if (rc != 0) {
		char	*why = image_error();

			job_error_set(&job->error, ERROR_DECODE, 0,
		    "cannot decode '%s': %s", job->in_name, why);
			free(why);
		return (-1);
	}
	if (t->fit == FIT_CONTAIN && (out->Xsize != width ||
	    out->Ysize != height)) {
		VipsArrayDouble	*bg;
		double		 colour[4];
		int		 n = t->nbackground, i;

		/* Match the background to the image's bands. */
		for (i = 0; i < 4; i++)
			colour[i] = t->background[i < n ? i : n - 1];
		if (n == 3 || n == 1)
			colour[3] = 255;
		n = out->Bands > 4 ? 4 : out->Bands;
		if (n == 2) {
			colour[1] = colour[3];
		}
		bg = vips_array_double_new(colour, n);
		rc = vips_gravity(out, &padded, VIPS_COMPASS_DIRECTION_CENTRE,
		    width, height, "extend", VIPS_EXTEND_BACKGROUND,
		    "background", bg, NULL);
		vips_area_unref(VIPS_AREA(bg));
		g_object_unref(out);
		if (rc != 0) {
			char	*why = image_error();

			job_error_set(&job->error, ERROR_DECODE, 0,
			    "cannot pad '%s': %s", job->in_name, why);
			free(why);
			return (-1);
		}
		out = padded;
	}
	if (job->image != NULL)
		g_object_unref(job->image);
	job->image = out;
	return (0);
}

static void
thumbnail_free(void *data)
{
	free(data);
}

const struct handler handler_thumbnail = {
	.name = "thumbnail",
	.usage = "width, height, fit, crop, enlarge, autorotate, background",
	.flags = HANDLER_LOADS,
	.parse = thumbnail_parse,
	.run = thumbnail_run,
	.free = thumbnail_free,
};
