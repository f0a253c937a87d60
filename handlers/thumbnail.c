/*
 * thumbnail: load and shrink in one go.
 *
 *	thumbnail width=256 height=256 fit=inside|cover|fill|contain
 *	    crop=centre|attention|entropy focus=0.5,0.3 enlarge=no
 *	    autorotate=yes background=255,255,255 pages=1|N|all
 *
 * Always vips_thumbnail_buffer, so JPEG and WebP decode at a fraction of
 * their size (shrink-on-load) instead of being decoded whole and resized.
 * fit=inside keeps the whole image inside the box; cover fills the box and
 * crops the overflow (where crop says); fill stretches to the box; contain
 * fits inside and pads to the box with background.
 *
 * With fit=cover and enlarge=no, an input smaller than the box gives the
 * largest output of the box's aspect ratio it can (a 640x480 input in a
 * 640x640 box gives 480x480), as imgproxy does, rather than an output of
 * the input's shape. focus=x,y (0..1 of the width and height) places a
 * cover crop around a fixed point instead of where crop says: libvips has
 * no focal point, so the image is shrunk to cover the box and the box cut
 * around the point, clamped to the image.
 *
 * An animated input gives its first frame; pages=N or all decodes that
 * many frames (kept by save format=webp, the first taken otherwise), and
 * more frames than the recipe's max_pages are refused before decoding.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
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
	double		 background[4];	/* R, G, B, A */
	int		 focus;		/* focus_x, focus_y are set */
	double		 focus_x;
	double		 focus_y;
	int		 pages;		/* -1: all */
};

static const char *const fits[] = { "inside", "cover", "fill", "contain",
    NULL };
static const char *const crops[] = { "none", "centre", "attention",
    "entropy", "center", NULL };

static int
thumbnail_parse(struct step *st, char **cause)
{
	static const double	 white[4] = { 255, 255, 255, 255 };
	struct thumbnail	*t;
	const char		*v;
	char			*end;
	long			 l;
	int			 crop, n;

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
	if ((v = step_arg(st, "focus")) != NULL) {
		if (sscanf(v, "%lf,%lf%n", &t->focus_x, &t->focus_y,
		    &n) != 2 || v[n] != '\0' || t->focus_x < 0 ||
		    t->focus_x > 1 || t->focus_y < 0 || t->focus_y > 1) {
			xasprintf(cause, "parameter 'focus' must be x,y with "
			    "each from 0 to 1 (0.5,0.5 is the centre), not "
			    "'%s'", v);
			return (-1);
		}
		if (t->fit != FIT_COVER) {
			xasprintf(cause, "parameter 'focus' only applies "
			    "with fit=cover");
			return (-1);
		}
		if (crop != -1) {
			xasprintf(cause, "parameters 'focus' and 'crop' "
			    "cannot be used together: give one");
			return (-1);
		}
		t->focus = 1;
	}
	t->pages = 1;
	if ((v = step_arg(st, "pages")) != NULL && strcmp(v, "all") == 0)
		t->pages = -1;
	else if (v != NULL) {
		l = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || l < 1 || l > 10000) {
			xasprintf(cause, "parameter 'pages' must be all or a "
			    "whole number from 1 to 10000, not '%s'", v);
			return (-1);
		}
		t->pages = (int)l;
	}
	if (t->focus && t->pages != 1) {
		xasprintf(cause, "parameter 'focus' cuts one frame: it cannot "
		    "be used with 'pages'");
		return (-1);
	}
	if (t->fit != FIT_INSIDE && (t->width == 0 || t->height == 0)) {
		xasprintf(cause, "fit=%s needs both width and height",
		    fits[t->fit]);
		return (-1);
	}
	if (step_arg(st, "background") != NULL && t->fit != FIT_CONTAIN) {
		xasprintf(cause, "parameter 'background' only applies with "
		    "fit=contain");
		return (-1);
	}
	return (step_arg_colour(st, "background", white, t->background,
	    cause));
}

/* How many frames to decode, or -1 with the job failed (class limit). */
static int
thumbnail_frames(const struct thumbnail *t, struct image_job *job)
{
	int	 want;

	if (job->in_pages <= 1 || t->pages == 1)
		return (1);
	want = (t->pages == -1 || t->pages > job->in_pages) ?
	    job->in_pages : t->pages;
	if (want > job->max_pages) {
		job_error_set(&job->error, ERROR_LIMIT, 0, "'%s' has %d "
		    "frames and step 'thumbnail' asks for %d, over the limit "
		    "max_pages = %d of recipe '%s'; raise max_pages in "
		    "[recipe.%s] or [objwatch] to accept it", job->in_name,
		    job->in_pages, want, job->max_pages, job->recipe,
		    job->recipe);
		return (-1);
	}
	return (want);
}

/*
 * Cut a box_w x box_h box out of an image that covers it, around the focal
 * point, clamped so the box stays inside.
 */
static int
thumbnail_focus_cut(const struct thumbnail *t, VipsImage *in, int box_w,
    int box_h, VipsImage **out)
{
	int	 w = VIPS_MIN(box_w, in->Xsize), h = VIPS_MIN(box_h, in->Ysize);
	int	 x, y;

	x = (int)lround(t->focus_x * in->Xsize - w / 2.0);
	y = (int)lround(t->focus_y * in->Ysize - h / 2.0);
	x = VIPS_CLIP(0, x, in->Xsize - w);
	y = VIPS_CLIP(0, y, in->Ysize - h);
	return (vips_extract_area(in, out, x, y, w, h, NULL));
}

/*
 * What vips_thumbnail is asked for: the box (width x height, VIPS_MAX_COORD
 * for a side left free), how it may resize, what it crops, and for a focal
 * point the side of the box to cut afterwards.
 */
struct thumbnail_plan {
	int		 width, height;
	VipsSize	 size;
	VipsInteresting	 crop;
	int		 box_w, box_h;	/* focus: the side cut after, or 0 */
	int		 frames;
};

/* Work out the plan for the input as it will stand after rotation. */
static void
thumbnail_plan(const struct thumbnail *t, const struct image_job *job,
    int frames, struct thumbnail_plan *p)
{
	int	 in_w, in_h;
	double	 s;

	memset(p, 0, sizeof *p);
	p->frames = frames;
	p->width = t->width ? t->width : VIPS_MAX_COORD;
	p->height = t->height ? t->height : VIPS_MAX_COORD;
	p->size = t->enlarge ? VIPS_SIZE_BOTH : VIPS_SIZE_DOWN;
	if (t->fit == FIT_FILL)
		p->size = VIPS_SIZE_FORCE;
	p->crop = t->fit == FIT_COVER ? t->crop : VIPS_INTERESTING_NONE;

	/* EXIF orientations 5 to 8 swap the sides. */
	in_w = job->in_width;
	in_h = job->in_height;
	if (t->autorotate && job->in_orientation >= 5 &&
	    job->in_orientation <= 8) {
		in_w = job->in_height;
		in_h = job->in_width;
	}
	if (t->fit != FIT_COVER || in_w <= 0 || in_h <= 0)
		return;
	if (!t->enlarge) {
		/* A box larger than the input shrinks to fit inside it. */
		s = VIPS_MIN(1.0, VIPS_MIN((double)in_w / p->width,
		    (double)in_h / p->height));
		if (s < 1.0) {
			p->width = VIPS_MAX(1, (int)lround(p->width * s));
			p->height = VIPS_MAX(1, (int)lround(p->height * s));
		}
	}
	if (t->focus) {
		/* Shrink so the image covers the box, then cut. */
		p->crop = VIPS_INTERESTING_NONE;
		p->size = VIPS_SIZE_BOTH;
		if ((double)in_w * p->height > (double)in_h * p->width) {
			p->box_w = p->width;
			p->width = VIPS_MAX_COORD;
		} else {
			p->box_h = p->height;
			p->height = VIPS_MAX_COORD;
		}
	}
}

/* Decode (shrinking on load) or resize the pipeline's image into *out. */
static int
thumbnail_shrink(const struct thumbnail *t, const struct thumbnail_plan *p,
    struct image_job *job, VipsImage **out)
{
	char	 options[64];

	if (job->image != NULL)
		return (vips_thumbnail_image(job->image, out, p->width,
		    "height", p->height, "size", p->size,
		    "no_rotate", !t->autorotate, "crop", p->crop, NULL));
	/* Only multi-page loaders take n; the default is the first page. */
	if (p->frames > 1)
		snprintf(options, sizeof options, "fail_on=truncated,n=%d",
		    p->frames);
	else
		snprintf(options, sizeof options, "fail_on=truncated");
	return (vips_thumbnail_buffer((void *)job->in, job->inlen, out,
	    p->width, "height", p->height, "size", p->size,
	    "no_rotate", !t->autorotate, "crop", p->crop,
	    "option_string", options, NULL));
}

/* fit = contain: centre the image on the background, out to the box. */
static int
thumbnail_pad(const struct thumbnail *t, VipsImage *in, int width,
    int height, VipsImage **out)
{
	VipsArrayDouble	*bg;
	double		 colour[4];
	int		 n, rc;

	/* Match the background to the image's bands: grey, alpha. */
	memcpy(colour, t->background, sizeof colour);
	n = in->Bands > 4 ? 4 : in->Bands;
	if (n == 2)
		colour[1] = colour[3];
	bg = vips_array_double_new(colour, n);
	rc = vips_gravity(in, out, VIPS_COMPASS_DIRECTION_CENTRE, width,
	    height, "extend", VIPS_EXTEND_BACKGROUND, "background", bg, NULL);
	vips_area_unref(VIPS_AREA(bg));
	return (rc);
}

static int
thumbnail_run(const struct step *st, struct image_job *job)
{
	const struct thumbnail	*t = st->data;
	struct thumbnail_plan	 p;
	VipsImage		*out = NULL, *next;
	int			 frames, rc;

	if ((frames = thumbnail_frames(t, job)) == -1)
		return (-1);
	thumbnail_plan(t, job, frames, &p);
	if (thumbnail_shrink(t, &p, job, &out) != 0) {
		image_job_fail(job, ERROR_DECODE, "decode");
		return (-1);
	}
	if (p.box_w != 0 || p.box_h != 0) {
		rc = thumbnail_focus_cut(t, out,
		    p.box_w != 0 ? p.box_w : p.width,
		    p.box_h != 0 ? p.box_h : p.height, &next);
		g_object_unref(out);
		if (rc != 0) {
			image_job_fail(job, ERROR_DECODE, "crop");
			return (-1);
		}
		out = next;
	}
	if (t->fit == FIT_CONTAIN && (out->Xsize != p.width ||
	    out->Ysize != p.height)) {
		rc = thumbnail_pad(t, out, p.width, p.height, &next);
		g_object_unref(out);
		if (rc != 0) {
			image_job_fail(job, ERROR_DECODE, "pad");
			return (-1);
		}
		out = next;
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
	.usage = "width, height, fit, crop, focus, enlarge, autorotate, "
	    "background, pages",
	.flags = HANDLER_LOADS,
	.parse = thumbnail_parse,
	.run = thumbnail_run,
	.free = thumbnail_free,
};
