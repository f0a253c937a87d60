/*
 * watermark: a text and/or an image laid over the picture.
 *
 *	watermark text="(c) Example" font="DejaVu Sans Bold" size=24
 *	    colour=255,255,255,200 image=logo.png scale=0.2
 *	    gravity=south-east x=0 y=0 margin=16 opacity=0.5 tile=no
 *
 * The text is rendered with vips_text (Pango: markup such as <b>bold</b>
 * is allowed; colour comes from 'colour', the markup only shapes the
 * glyphs), size in points at 'dpi' (72 by default, so points are pixels).
 * The image is a PNG or WebP with alpha, read when the config is loaded so
 * a wrong path is a config error, scaled to 'scale' times the base width
 * when given. Text and image together sit side by side, image first.
 *
 * The mark is placed by gravity, 'margin' pixels in from the edges it
 * touches, then moved by x and y (pixels or % of the base): away from its
 * edge for the edge positions, right and down for the centre. tile=yes
 * repeats it over the whole image instead, 'margin' apart. opacity scales
 * the mark's alpha. vips_composite2 lays it over in sRGB, streaming; an
 * opaque base stays opaque.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "objwatch.h"
#include "banned.h"

#define WATERMARK_IMAGE_LIMIT	(16 * 1024 * 1024)

struct watermark {
	char	*text;
	char	*font;
	int	 size;
	int	 dpi;
	double	 colour[4];
	void	*image;		/* the mark's encoded bytes */
	size_t	 image_len;
	double	 scale;		/* 0: as it is */
	int	 gravity;
	double	 x, y;
	int	 x_pc, y_pc;
	int	 margin;
	double	 opacity;
	int	 tile;
};

static void
watermark_free(void *data)
{
	struct watermark	*m = data;

	free(m->text);
	free(m->font);
	free(m->image);
	free(m);
}

static int
watermark_parse(struct step *st, char **cause)
{
	static const double	 white[4] = { 255, 255, 255, 255 };
	struct watermark	*m;
	VipsImage		*hdr;
	const char		*v;
	char			*path, *why;

	m = xcalloc(1, sizeof *m);
	st->data = m;
	if ((v = step_arg(st, "text")) != NULL) {
		if (*v == '\0') {
			xasprintf(cause, "parameter 'text' is empty");
			return (-1);
		}
		m->text = xstrdup(v);
	}
	v = step_arg(st, "font");
	m->font = xstrdup(v != NULL ? v : "sans");
	if (step_arg_int(st, "size", 1, 1000, 24, &m->size, cause) != 0 ||
	    step_arg_int(st, "dpi", 1, 4800, 72, &m->dpi, cause) != 0 ||
	    step_arg_colour(st, "colour", white, m->colour, cause) != 0 ||
	    step_arg_double(st, "scale", 0.001, 10, 0, &m->scale,
	    cause) != 0 ||
	    step_arg_gravity(st, "gravity", 4, &m->gravity, cause) != 0 ||
	    step_arg_length(st, "x", 0, &m->x, &m->x_pc, cause) != 0 ||
	    step_arg_length(st, "y", 0, &m->y, &m->y_pc, cause) != 0 ||
	    step_arg_int(st, "margin", 0, 100000, 0, &m->margin,
	    cause) != 0 ||
	    step_arg_double(st, "opacity", 0, 1, 1, &m->opacity,
	    cause) != 0 ||
	    step_arg_bool(st, "tile", 0, &m->tile, cause) != 0)
		return (-1);

	if ((v = step_arg(st, "image")) != NULL) {
		path = path_absolute(st->dir != NULL ? st->dir : ".", v);
		if (read_file(path, &m->image, &m->image_len,
		    WATERMARK_IMAGE_LIMIT, &why) != 0) {
			xasprintf(cause, "parameter 'image': %s", why);
			free(why);
			free(path);
			return (-1);
		}
		hdr = vips_image_new_from_buffer(m->image, m->image_len, "",
		    NULL);
		if (hdr == NULL) {
			why = image_error();
			xasprintf(cause, "parameter 'image': '%s' is not an "
			    "image objwatch reads (a PNG or WebP with alpha "
			    "is expected): %s", path, why);
			free(why);
			free(path);
			return (-1);
		}
		g_object_unref(hdr);
		free(path);
	} else if (step_arg(st, "scale") != NULL) {
		xasprintf(cause, "parameter 'scale' only applies with image");
		return (-1);
	}
	if (m->text == NULL && m->image == NULL) {
		xasprintf(cause, "needs text, image or both (for example: "
		    "text=\"(c) Example\")");
		return (-1);
	}
	if (m->tile && (step_arg(st, "x") != NULL ||
	    step_arg(st, "y") != NULL)) {
		xasprintf(cause, "parameters 'x' and 'y' do not apply with "
		    "tile=yes (margin sets the spacing)");
		return (-1);
	}
	return (0);
}

/* The text as an sRGB image whose alpha is the glyphs times colour's. */
static int
watermark_text(const struct watermark *m, VipsObject *scope,
    VipsImage **out)
{
	VipsImage	**t = (VipsImage **)vips_object_local_array(scope, 4);
	char		 font[512];

	snprintf(font, sizeof font, "%s %d", m->font, m->size);
	if (vips_text(&t[0], m->text, "font", font, "dpi", m->dpi, NULL) != 0)
		return (-1);
	if (vips_linear1(t[0], &t[1], m->colour[3] / 255.0, 0, "uchar", TRUE,
	    NULL) != 0)
		return (-1);
	t[2] = vips_image_new_from_image(t[0], m->colour, 3);
	if (t[2] == NULL || vips_bandjoin2(t[2], t[1], &t[3], NULL) != 0)
		return (-1);
	return (vips_copy(t[3], out, "interpretation",
	    VIPS_INTERPRETATION_sRGB, NULL));
}

/* The image mark as sRGB with alpha, scaled to the base's width. */
static int
watermark_image(const struct watermark *m, int base_width, VipsObject *scope,
    VipsImage **out)
{
	VipsImage	**t = (VipsImage **)vips_object_local_array(scope, 3);
	VipsImage	 *in;

	if ((t[0] = vips_image_new_from_buffer(m->image, m->image_len, "",
	    NULL)) == NULL)
		return (-1);
	if (vips_colourspace(t[0], &t[1], VIPS_INTERPRETATION_sRGB,
	    NULL) != 0)
		return (-1);
	in = t[1];
	if (!vips_image_hasalpha(in)) {
		if (vips_bandjoin_const1(in, &t[2], 255, NULL) != 0)
			return (-1);
		in = t[2];
	}
	if (m->scale > 0)
		return (vips_resize(in, out, m->scale * base_width / in->Xsize,
		    NULL));
	return (vips_copy(in, out, NULL));
}

/* The whole mark: image, text or both side by side, times opacity. */
static int
watermark_mark(const struct watermark *m, int base_width, VipsObject *scope,
    VipsImage **out)
{
	VipsImage	**t = (VipsImage **)vips_object_local_array(scope, 3);
	VipsImage	 *mark;
	double		 transparent[4] = { 0, 0, 0, 0 };
	double		 a[4] = { 1, 1, 1, m->opacity }, b[4] = { 0, 0, 0, 0 };
	VipsArrayDouble	*bg;
	int		 rc;

	if (m->image != NULL &&
	    watermark_image(m, base_width, scope, &t[0]) != 0)
		return (-1);
	if (m->text != NULL && watermark_text(m, scope, &t[1]) != 0)
		return (-1);
	if (t[0] != NULL && t[1] != NULL) {
		bg = vips_array_double_new(transparent, 4);
		rc = vips_join(t[0], t[1], &t[2], VIPS_DIRECTION_HORIZONTAL,
		    "expand", TRUE, "align", VIPS_ALIGN_CENTRE,
		    "shim", t[1]->Ysize / 2, "background", bg, NULL);
		vips_area_unref(VIPS_AREA(bg));
		if (rc != 0)
			return (-1);
		mark = t[2];
	} else
		mark = t[0] != NULL ? t[0] : t[1];
	return (vips_linear(mark, out, a, b, 4, "uchar", TRUE, NULL));
}

/* The mark repeated over a w x h area, margin apart. */
static int
watermark_tile(const struct watermark *m, VipsImage *mark, int w, int h,
    VipsObject *scope, VipsImage **out)
{
	VipsImage	**t = (VipsImage **)vips_object_local_array(scope, 2);
	double		 transparent[4] = { 0, 0, 0, 0 };
	VipsArrayDouble	*bg;
	int		 rc;

	bg = vips_array_double_new(transparent, 4);
	rc = vips_embed(mark, &t[0], 0, 0, mark->Xsize + m->margin,
	    mark->Ysize + m->margin, "extend", VIPS_EXTEND_BACKGROUND,
	    "background", bg, NULL);
	vips_area_unref(VIPS_AREA(bg));
	if (rc != 0 || vips_replicate(t[0], &t[1],
	    w / t[0]->Xsize + 1, h / t[0]->Ysize + 1, NULL) != 0)
		return (-1);
	return (vips_extract_area(t[1], out, 0, 0, w, h, NULL));
}

static int
watermark_run(const struct step *st, struct image_job *job)
{
	const struct watermark	*m = st->data;
	VipsObject		*scope = VIPS_OBJECT(vips_image_new());
	VipsImage		**t = (VipsImage **)
				    vips_object_local_array(scope, 5);
	VipsImage		*base = job->image, *mark, *out;
	int			 W, H, x, y, dx, dy, had_alpha;

	if (base->Type != VIPS_INTERPRETATION_sRGB) {
		if (vips_colourspace(base, &t[0], VIPS_INTERPRETATION_sRGB,
		    NULL) != 0)
			goto fail;
		base = t[0];
	}
	W = base->Xsize;
	H = base->Ysize;
	had_alpha = vips_image_hasalpha(base);
	if (watermark_mark(m, W, scope, &t[1]) != 0)
		goto fail;
	mark = t[1];

	if (m->tile) {
		if (watermark_tile(m, mark, W, H, scope, &t[2]) != 0)
			goto fail;
		mark = t[2];
		x = y = 0;
	} else {
		dx = m->x_pc ? (int)lround(m->x * W / 100.0) : (int)m->x;
		dy = m->y_pc ? (int)lround(m->y * H / 100.0) : (int)m->y;
		gravity_place(m->gravity, W, H, mark->Xsize, mark->Ysize,
		    m->margin, dx, dy, &x, &y);
	}
	if (vips_composite2(base, mark, &t[3], VIPS_BLEND_MODE_OVER,
	    "x", x, "y", y, NULL) != 0)
		goto fail;
	out = t[3];
	if (!had_alpha && out->Bands > base->Bands) {
		if (vips_extract_band(out, &t[4], 0, "n", base->Bands,
		    NULL) != 0)
			goto fail;
		out = t[4];
	}
	g_object_ref(out);
	g_object_unref(job->image);
	job->image = out;
	g_object_unref(scope);
	return (0);

fail:
	image_job_fail(job, ERROR_DECODE, "watermark");
	g_object_unref(scope);
	return (-1);
}

const struct handler handler_watermark = {
	.name = "watermark",
	.usage = "text, font, size, dpi, colour, image, scale, gravity, x, y, "
	    "margin, opacity, tile",
	.flags = 0,
	.parse = watermark_parse,
	.run = watermark_run,
	.free = watermark_free,
};
