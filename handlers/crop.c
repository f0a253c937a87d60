/*
 * crop: cut a rectangle, or the largest area of an aspect ratio.
 *
 *	crop width=800 height=600 x=10 y=10		a rectangle, in px
 *	crop width=50% height=50% gravity=south-east	placed by gravity
 *	crop ratio=16:9 gravity=north|attention|entropy	an aspect ratio
 *
 * Lengths are pixels or a percentage of the image (x and width of its
 * width, y and height of its height). A rectangle is placed at x,y from the
 * top-left corner, or by gravity when x and y are not given; the part
 * outside the image is cut off, as imgproxy does, and a rectangle wholly
 * outside fails the job. ratio=W:H takes the largest area of that shape
 * the image holds, placed by gravity (centre by default) or where libvips'
 * attention (skin, saturation, edges) or entropy finds the most interest.
 * Those two need the image whole in memory; it is usually a thumbnail by
 * then.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "objwatch.h"
#include "banned.h"

#define GRAVITY_ATTENTION	100
#define GRAVITY_ENTROPY		101

struct crop {
	double	 x, y, width, height;
	int	 x_pc, y_pc, width_pc, height_pc;
	int	 has_xy;
	int	 ratio_w, ratio_h;	/* 0: a rectangle */
	int	 gravity;		/* an index, or GRAVITY_* */
};

static int
crop_parse(struct step *st, char **cause)
{
	struct crop	*c;
	const char	*v, *g;
	int		 n;

	c = xcalloc(1, sizeof *c);
	st->data = c;
	/* Read them all first: a typo among them explains more. */
	v = step_arg(st, "ratio");
	if (step_arg_length(st, "width", 0, &c->width, &c->width_pc,
	    cause) != 0 ||
	    step_arg_length(st, "height", 0, &c->height, &c->height_pc,
	    cause) != 0 ||
	    step_arg_length(st, "x", 0, &c->x, &c->x_pc, cause) != 0 ||
	    step_arg_length(st, "y", 0, &c->y, &c->y_pc, cause) != 0)
		return (-1);
	g = step_arg(st, "gravity");
	if (g != NULL && strcmp(g, "attention") == 0)
		c->gravity = GRAVITY_ATTENTION;
	else if (g != NULL && strcmp(g, "entropy") == 0)
		c->gravity = GRAVITY_ENTROPY;
	else if (step_arg_gravity(st, "gravity", 0, &c->gravity, cause) != 0) {
		free(*cause);
		xasprintf(cause, "parameter 'gravity' must be one of centre, "
		    "north, north-east, east, south-east, south, south-west, "
		    "west, north-west, attention, entropy, not '%s'", g);
		return (-1);
	}

	if (v != NULL) {
		if (sscanf(v, "%d:%d%n", &c->ratio_w, &c->ratio_h, &n) != 2 ||
		    v[n] != '\0' || c->ratio_w < 1 || c->ratio_h < 1 ||
		    c->ratio_w > 10000 || c->ratio_h > 10000) {
			xasprintf(cause, "parameter 'ratio' must be W:H with "
			    "whole numbers from 1 to 10000 (such as 16:9), "
			    "not '%s'", v);
			return (-1);
		}
		if (step_arg(st, "width") != NULL ||
		    step_arg(st, "height") != NULL ||
		    step_arg(st, "x") != NULL || step_arg(st, "y") != NULL) {
			xasprintf(cause, "parameter 'ratio' cannot be used "
			    "with x, y, width or height: give a ratio or a "
			    "rectangle");
			return (-1);
		}
		return (0);
	}

	if (c->width <= 0 || c->height <= 0) {
		xasprintf(cause, "needs ratio=W:H, or width and height above "
		    "0 (in pixels or %%)");
		return (-1);
	}
	if (c->x < 0 || c->y < 0) {
		xasprintf(cause, "parameters 'x' and 'y' must be 0 or more "
		    "(from the top-left corner)");
		return (-1);
	}
	c->has_xy = step_arg(st, "x") != NULL || step_arg(st, "y") != NULL;
	if (c->has_xy && g != NULL) {
		xasprintf(cause, "parameter 'gravity' cannot be used with x "
		    "and y: they place the rectangle already");
		return (-1);
	}
	if (g == NULL && !c->has_xy)
		c->gravity = 0;
	return (0);
}

/* A length in pixels of a side of size full. */
static int
crop_px(double v, int percent, int full)
{
	if (percent)
		return ((int)lround(v * full / 100.0));
	return ((int)v);
}

static int
crop_run(const struct step *st, struct image_job *job)
{
	const struct crop	*c = st->data;
	VipsImage		*in = job->image, *out = NULL, *mem;
	int			 W = in->Xsize, H = in->Ysize;
	int			 x, y, w, h, rc;

	if (c->ratio_w != 0) {
		/* The largest w x h of the ratio inside W x H. */
		if ((double)W * c->ratio_h > (double)H * c->ratio_w) {
			h = H;
			w = (int)lround((double)H * c->ratio_w / c->ratio_h);
		} else {
			w = W;
			h = (int)lround((double)W * c->ratio_h / c->ratio_w);
		}
		w = VIPS_CLIP(1, w, W);
		h = VIPS_CLIP(1, h, H);
	} else {
		w = crop_px(c->width, c->width_pc, W);
		h = crop_px(c->height, c->height_pc, H);
	}

	if (c->gravity == GRAVITY_ATTENTION || c->gravity == GRAVITY_ENTROPY) {
		if ((mem = vips_image_copy_memory(in)) == NULL) {
			image_job_fail(job, ERROR_DECODE, "decode");
			return (-1);
		}
		rc = vips_smartcrop(mem, &out, w, h, "interesting",
		    c->gravity == GRAVITY_ATTENTION ?
		    VIPS_INTERESTING_ATTENTION : VIPS_INTERESTING_ENTROPY,
		    NULL);
		g_object_unref(mem);
		if (rc != 0) {
			image_job_fail(job, ERROR_DECODE, "crop");
			return (-1);
		}
		goto done;
	}

	if (c->has_xy) {
		x = crop_px(c->x, c->x_pc, W);
		y = crop_px(c->y, c->y_pc, H);
	} else
		gravity_place(c->gravity, W, H, VIPS_MIN(w, W), VIPS_MIN(h, H),
		    0, 0, 0, &x, &y);
	if (x >= W || y >= H) {
		job_error_set(&job->error, ERROR_CONFIG, 0, "step 'crop': the "
		    "rectangle at %d,%d lies outside '%s', which is %dx%d at "
		    "that step", x, y, job->in_name, W, H);
		return (-1);
	}
	w = VIPS_MIN(w, W - x);
	h = VIPS_MIN(h, H - y);
	if (vips_extract_area(in, &out, x, y, w, h, NULL) != 0) {
		image_job_fail(job, ERROR_DECODE, "crop");
		return (-1);
	}

done:
	g_object_unref(job->image);
	job->image = out;
	return (0);
}

static void
crop_free(void *data)
{
	free(data);
}

const struct handler handler_crop = {
	.name = "crop",
	.usage = "width, height, x, y, ratio, gravity",
	.flags = 0,
	.parse = crop_parse,
	.run = crop_run,
	.free = crop_free,
};
