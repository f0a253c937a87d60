/*
 * The recipe steps on synthetic images made here: output dimensions for
 * every step and mode, pixels where position matters (watermark gravity
 * and opacity, contain's padding, attention crop, focus, EXIF rotation),
 * what save keeps (copyright) and its limits, info's JSON, the admission
 * limits, and the exact message for each mistake in each new step.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vips/vips.h>

#include "objwatch.h"
#include "tap.h"

static char	 tmpdir[] = "/tmp/t-handlers.XXXXXX";

static struct recipe *
parse(const char *steps, char **cause)
{
	struct recipe	*r = xcalloc(1, sizeof *r);

	r->name = xstrdup("r");
	r->dir = tmpdir;
	r->steps_text = xstrdup(steps);
	*cause = NULL;
	if (recipe_parse_steps(r, cause) != 0) {
		free(r->steps_text);
		free(r->name);
		free(r);
		return (NULL);
	}
	return (r);
}

static void
recipe_free(struct recipe *r)
{
	if (r == NULL)
		return;
	recipe_free_steps(r);
	free(r->steps_text);
	free(r->name);
	free(r);
}

static void
bad(const char *steps, const char *want)
{
	struct recipe	*r;
	char		*cause;

	r = parse(steps, &cause);
	ok(r == NULL, "refused: %s", steps);
	is_str(cause, want, "message for: %s", steps);
	free(cause);
	recipe_free(r);
}

/* Encode an image as PNG (lossless) or JPEG, and drop it. */
static void *
encode(VipsImage *im, const char *suffix, size_t *len)
{
	void	*buf;

	if (vips_image_write_to_buffer(im, suffix, &buf, len, NULL) != 0)
		abort();
	g_object_unref(im);
	return (buf);
}

/* A w x h image of one colour (bands 3, uchar, sRGB). */
static VipsImage *
solid(int w, int h, double r, double g, double b)
{
	VipsImage	*black, *out;
	double		 c[3] = { r, g, b };

	if (vips_black(&black, w, h, "bands", 3, NULL) != 0)
		abort();
	out = vips_image_new_from_image(black, c, 3);
	g_object_unref(black);
	return (out);
}

/* A photo-like w x h image (smooth noise), 3 bands. */
static VipsImage *
noise(int w, int h)
{
	VipsImage	*p, *u8, *rgb;

	if (vips_perlin(&p, w, h, "cell_size", 32, NULL) != 0 ||
	    vips_linear1(p, &u8, 100, 128, "uchar", TRUE, NULL) != 0 ||
	    vips_bandjoin_const1(u8, &rgb, 0, NULL) != 0)
		abort();
	g_object_unref(p);
	g_object_unref(u8);
	if (vips_bandjoin_const1(rgb, &p, 60, NULL) != 0)
		abort();
	g_object_unref(rgb);
	if (vips_copy(p, &rgb, "interpretation", VIPS_INTERPRETATION_sRGB,
	    NULL) != 0)
		abort();
	g_object_unref(p);
	return (rgb);
}

/* Paste b over a at x,y. */
static VipsImage *
paste(VipsImage *a, VipsImage *b, int x, int y)
{
	VipsImage	*out;

	if (vips_insert(a, b, &out, x, y, NULL) != 0)
		abort();
	g_object_unref(a);
	g_object_unref(b);
	return (out);
}

struct result {
	char		*what;	/* "WxH format" or "class: message" */
	VipsImage	*image;	/* the output decoded, or NULL */
	void		*out;
	size_t		 outlen;
	char		*info;
};

static void
result_clear(struct result *res)
{
	free(res->what);
	if (res->image != NULL)
		g_object_unref(res->image);
	g_free(res->out);
	free(res->info);
	memset(res, 0, sizeof *res);
}

/* Run steps over data; limits (0: default) go on the recipe. */
static void
run_limits(const char *steps, const void *data, size_t len,
    long long max_pixels, int max_pages, struct result *res)
{
	struct recipe		*r;
	struct image_job	 job;
	char			*cause;

	memset(res, 0, sizeof *res);
	if ((r = parse(steps, &cause)) == NULL) {
		xasprintf(&res->what, "parse: %s", cause);
		free(cause);
		return;
	}
	r->max_pixels = max_pixels;
	r->max_pages = max_pages;
	if (recipe_run_bytes(r, data, len, "in", &job) != 0)
		xasprintf(&res->what, "%s: %s", error_class_name(job.error.cls),
		    job.error.msg);
	else {
		xasprintf(&res->what, "%dx%d %s", job.width, job.height,
		    job.format);
		res->out = job.out;
		res->outlen = job.outlen;
		job.out = NULL;
		if (job.info != NULL)
			res->info = xstrdup(job.info);
		else
			res->image = vips_image_new_from_buffer(res->out,
			    res->outlen, "", NULL);
	}
	image_job_clear(&job);
	recipe_free(r);
}

static void
run(const char *steps, const void *data, size_t len, struct result *res)
{
	run_limits(steps, data, len, 0, 0, res);
}

/* The mean of one band (or all: band -1) over an area. */
static double
area_mean(VipsImage *im, int x, int y, int w, int h, int band)
{
	VipsImage	*a, *b;
	double		 m;

	if (vips_extract_area(im, &a, x, y, w, h, NULL) != 0)
		abort();
	if (band >= 0) {
		if (vips_extract_band(a, &b, band, NULL) != 0)
			abort();
		g_object_unref(a);
		a = b;
	}
	if (vips_avg(a, &m, NULL) != 0)
		abort();
	g_object_unref(a);
	return (m);
}

/* The largest difference between two images over an area. */
static double
area_diff(VipsImage *x, VipsImage *y, int l, int t, int w, int h)
{
	VipsImage	*d, *a, *e;
	double		 m;

	if (vips_subtract(x, y, &d, NULL) != 0 ||
	    vips_abs(d, &a, NULL) != 0 ||
	    vips_extract_area(a, &e, l, t, w, h, NULL) != 0 ||
	    vips_max(e, &m, NULL) != 0)
		abort();
	g_object_unref(d);
	g_object_unref(a);
	g_object_unref(e);
	return (m);
}

#define RUN(steps, data, len, want, desc) do {				\
	struct result	 res_;						\
	run(steps, data, len, &res_);					\
	is_str(res_.what, want, desc);					\
	result_clear(&res_);						\
} while (0)

static void
test_parse_errors(void)
{
	bad("crop | save", "recipe 'r': step 'crop': needs ratio=W:H, or "
	    "width and height above 0 (in pixels or %)");
	bad("crop ratio=16x9 | save", "recipe 'r': step 'crop': parameter "
	    "'ratio' must be W:H with whole numbers from 1 to 10000 (such as "
	    "16:9), not '16x9'");
	bad("crop ratio=1:1 width=5 | save", "recipe 'r': step 'crop': "
	    "parameter 'ratio' cannot be used with x, y, width or height: "
	    "give a ratio or a rectangle");
	bad("crop width=10 height=ten | save", "recipe 'r': step 'crop': "
	    "parameter 'height' must be whole pixels (such as 20) or a "
	    "percentage of the image (such as 5%), not 'ten'");
	bad("crop width=10 height=10 x=-1 | save", "recipe 'r': step 'crop': "
	    "parameters 'x' and 'y' must be 0 or more (from the top-left "
	    "corner)");
	bad("crop width=10 height=10 x=1 gravity=east | save", "recipe 'r': "
	    "step 'crop': parameter 'gravity' cannot be used with x and y: "
	    "they place the rectangle already");
	bad("crop ratio=1:1 gravity=up | save", "recipe 'r': step 'crop': "
	    "parameter 'gravity' must be one of centre, north, north-east, "
	    "east, south-east, south, south-west, west, north-west, "
	    "attention, entropy, not 'up'");
	bad("crop ratio=1:1 grav=east | save", "recipe 'r': step 'crop': "
	    "unknown parameter 'grav' (expected width, height, x, y, ratio, "
	    "gravity)");

	bad("watermark | save", "recipe 'r': step 'watermark': needs text, "
	    "image or both (for example: text=\"(c) Example\")");
	bad("watermark text=\"\" | save", "recipe 'r': step 'watermark': "
	    "parameter 'text' is empty");
	bad("watermark text=a opacity=1.5 | save", "recipe 'r': step "
	    "'watermark': parameter 'opacity' must be a number from 0 to 1, "
	    "not '1.5'");
	bad("watermark text=a colour=red | save", "recipe 'r': step "
	    "'watermark': parameter 'colour' must be R,G,B or R,G,B,A with "
	    "each from 0 to 255, not 'red'");
	bad("watermark text=a colour=1,2,300 | save", "recipe 'r': step "
	    "'watermark': parameter 'colour' must be R,G,B or R,G,B,A with "
	    "each from 0 to 255, not '1,2,300'");
	bad("thumbnail width=9 height=9 fit=contain background=128 | save",
	    "recipe 'r': step 'thumbnail': parameter 'background' must be "
	    "R,G,B or R,G,B,A with each from 0 to 255, not '128'");
	bad("thumbnail width=9 height=9 background=1,2,3 | save", "recipe "
	    "'r': step 'thumbnail': parameter 'background' only applies with "
	    "fit=contain");
	bad("watermark text=a gravity=middle | save", "recipe 'r': step "
	    "'watermark': parameter 'gravity' must be one of centre, north, "
	    "north-east, east, south-east, south, south-west, west, "
	    "north-west, not 'middle'");
	bad("watermark text=a x=5px | save", "recipe 'r': step 'watermark': "
	    "parameter 'x' must be whole pixels (such as 20) or a percentage "
	    "of the image (such as 5%), not '5px'");
	bad("watermark text=a scale=0.5 | save", "recipe 'r': step "
	    "'watermark': parameter 'scale' only applies with image");
	bad("watermark text=a tile=yes x=3 | save", "recipe 'r': step "
	    "'watermark': parameters 'x' and 'y' do not apply with tile=yes "
	    "(margin sets the spacing)");
	bad("watermark image=/nonexistent/mark.png | save", "recipe 'r': step "
	    "'watermark': parameter 'image': cannot open "
	    "'/nonexistent/mark.png': No such file or directory");
	bad("watermark text=a size=0 | save", "recipe 'r': step 'watermark': "
	    "parameter 'size' must be a whole number from 1 to 1000, not '0'");
	bad("watermark txt=a | save", "recipe 'r': step 'watermark': unknown "
	    "parameter 'txt' (expected text, font, size, dpi, colour, image, "
	    "scale, gravity, x, y, margin, opacity, tile)");

	bad("thumbnail width=9 height=9 fit=cover focus=2,0 | save", "recipe "
	    "'r': step 'thumbnail': parameter 'focus' must be x,y with each "
	    "from 0 to 1 (0.5,0.5 is the centre), not '2,0'");
	bad("thumbnail width=9 height=9 focus=0.5,0.5 | save", "recipe 'r': "
	    "step 'thumbnail': parameter 'focus' only applies with fit=cover");
	bad("thumbnail width=9 height=9 fit=cover focus=0.5,0.5 "
	    "crop=attention | save", "recipe 'r': step 'thumbnail': "
	    "parameters 'focus' and 'crop' cannot be used together: give one");
	bad("thumbnail width=9 height=9 fit=cover focus=0,0 pages=all | save",
	    "recipe 'r': step 'thumbnail': parameter 'focus' cuts one frame: "
	    "it cannot be used with 'pages'");
	bad("thumbnail width=9 pages=some | save", "recipe 'r': step "
	    "'thumbnail': parameter 'pages' must be all or a whole number from "
	    "1 to 10000, not 'some'");

	bad("thumbnail width=9 | save format=gif", "recipe 'r': step 'save': "
	    "parameter 'format' must be one of jpeg, png, webp, avif, same, "
	    "not 'gif'");
	bad("thumbnail width=9 | save max_bytes=lots", "recipe 'r': step "
	    "'save': parameter 'max_bytes' must be a size such as 200000, "
	    "200k or 2MB, not 'lots'");
	bad("thumbnail width=9 | save format=png max_bytes=10k", "recipe 'r': "
	    "step 'save': parameter 'max_bytes' does not apply to format=png "
	    "(it is lossless: there is no quality to lower)");
	bad("thumbnail width=9 | save format=webp progressive=yes", "recipe "
	    "'r': step 'save': parameter 'progressive' applies to jpeg and png "
	    "only, not format=webp");

	bad("info | save", "recipe 'r': step 'info': must be the only step: "
	    "it records what the image is and writes no output (make a recipe "
	    "of its own for it)");
	bad("thumbnail width=9 | info", "recipe 'r': step 'info': must be the "
	    "only step: it records what the image is and writes no output "
	    "(make a recipe of its own for it)");
	bad("info all=yes", "recipe 'r': step 'info': unknown parameter 'all' "
	    "(expected no parameters)");
}

static void
test_thumbnail(void)
{
	struct result	 res;
	VipsImage	*im, *o6;
	void		*buf, *jpeg;
	size_t		 len, jlen;

	/* fit=cover, enlarge=no, a small input: the box's shape. */
	jpeg = encode(noise(640, 480), ".jpg", &jlen);
	RUN("thumbnail width=640 height=640 fit=cover | save", jpeg, jlen,
	    "480x480 jpeg", "cover of a smaller input keeps the box's shape");
	RUN("thumbnail width=1000 height=500 fit=cover | save", jpeg, jlen,
	    "640x320 jpeg", "the largest of the box's shape the input allows");
	RUN("thumbnail width=320 height=320 fit=cover | save", jpeg, jlen,
	    "320x320 jpeg", "a smaller box is filled as before");
	RUN("thumbnail width=1280 height=1280 fit=cover enlarge=yes | save",
	    jpeg, jlen, "1280x1280 jpeg", "enlarge=yes fills a larger box");
	RUN("thumbnail width=640 height=640 fit=cover focus=0.2,0.8 | save",
	    jpeg, jlen, "480x480 jpeg", "focus with a smaller input");
	RUN("thumbnail width=300 height=200 fit=cover crop=entropy | save",
	    jpeg, jlen, "300x200 jpeg", "cover with an entropy crop");
	RUN("thumbnail width=300 height=100 fit=cover focus=0.5,0.1 | save",
	    jpeg, jlen, "300x100 jpeg", "focus gives the box exactly");
	RUN("thumbnail width=100 height=300 fit=cover focus=0.9,0.5 | save",
	    jpeg, jlen, "100x300 jpeg", "focus on a tall box");
	g_free(jpeg);

	/* focus: left half black, right half white. */
	im = paste(solid(800, 400, 0, 0, 0), solid(400, 400, 255, 255, 255),
	    400, 0);
	buf = encode(im, ".png", &len);
	run("thumbnail width=200 height=200 fit=cover focus=0,0.5 | "
	    "save format=png", buf, len, &res);
	is_str(res.what, "200x200 png", "focus=0,0.5: the box");
	ok(res.image != NULL && area_mean(res.image, 0, 0, 200, 200, -1) < 1,
	    "focus=0,0.5 cuts the left (black) half");
	result_clear(&res);
	run("thumbnail width=200 height=200 fit=cover focus=1,0.5 | "
	    "save format=png", buf, len, &res);
	ok(res.image != NULL &&
	    area_mean(res.image, 0, 0, 200, 200, -1) > 254,
	    "focus=1,0.5 cuts the right (white) half");
	result_clear(&res);
	g_free(buf);

	/* contain pads with the background colour. */
	buf = encode(solid(200, 100, 0, 0, 255), ".png", &len);
	run("thumbnail width=100 height=100 fit=contain background=255,0,0 | "
	    "save format=png", buf, len, &res);
	is_str(res.what, "100x100 png", "contain fills the box");
	ok(res.image != NULL &&
	    area_mean(res.image, 0, 0, 100, 24, 0) == 255 &&
	    area_mean(res.image, 0, 0, 100, 24, 2) == 0 &&
	    area_mean(res.image, 0, 76, 100, 24, 0) == 255,
	    "the bands above and below are the background, red");
	ok(res.image != NULL &&
	    area_mean(res.image, 0, 26, 100, 48, 2) == 255 &&
	    area_mean(res.image, 0, 26, 100, 48, 0) == 0,
	    "the middle is the image, blue");
	result_clear(&res);
	g_free(buf);

	/*
	 * EXIF orientation 6: stored 400x200 with a white block at the
	 * stored top-left; shown rotated 90 degrees clockwise, so upright it
	 * is 200x400 with the block at the top-right.
	 */
	im = paste(solid(400, 200, 0, 0, 0), solid(100, 50, 255, 255, 255),
	    0, 0);
	if (vips_copy(im, &o6, NULL) != 0)
		abort();
	g_object_unref(im);
	vips_image_set_int(o6, "orientation", 6);
	jpeg = encode(o6, ".jpg", &jlen);
	run("thumbnail width=100 | save format=png", jpeg, jlen, &res);
	is_str(res.what, "100x200 png", "orientation 6: sides swapped");
	ok(res.image != NULL && area_mean(res.image, 80, 5, 15, 15, -1) > 240 &&
	    area_mean(res.image, 5, 5, 15, 15, -1) < 15 &&
	    area_mean(res.image, 80, 180, 15, 15, -1) < 15,
	    "orientation 6: upright, the block at the top-right");
	result_clear(&res);
	run("thumbnail width=100 autorotate=no | save format=png", jpeg, jlen,
	    &res);
	is_str(res.what, "100x50 png", "autorotate=no keeps the stored sides");
	result_clear(&res);
	RUN("thumbnail width=120 height=120 fit=cover | save", jpeg, jlen,
	    "120x120 jpeg", "cover after rotation");
	RUN("thumbnail width=300 height=300 fit=cover | save", jpeg, jlen,
	    "200x200 jpeg", "cover of a small rotated input: 200x400 allows "
	    "200x200");
	g_free(jpeg);
}

static void
test_crop(void)
{
	struct result	 res;
	VipsImage	*im;
	void		*buf;
	size_t		 len;

	buf = encode(noise(1000, 500), ".png", &len);
	RUN("crop width=300 height=200 | save format=png", buf, len,
	    "300x200 png", "a rectangle in pixels");
	RUN("crop x=900 y=400 width=300 height=200 | save format=png", buf,
	    len, "100x100 png", "a rectangle is cut off at the image's edge");
	RUN("crop width=50% height=10% gravity=south-east | save format=png",
	    buf, len, "500x50 png", "a rectangle in percent");
	RUN("crop ratio=16:9 | save format=png", buf, len, "889x500 png",
	    "ratio 16:9 of a 2:1 image");
	RUN("crop ratio=1:2 gravity=west | save format=png", buf, len,
	    "250x500 png", "ratio 1:2");
	RUN("crop ratio=1:1 gravity=entropy | save format=png", buf, len,
	    "500x500 png", "ratio with entropy");
	RUN("thumbnail width=500 | crop ratio=1:1 | save format=webp", buf,
	    len, "250x250 webp", "crop after thumbnail");
	RUN("crop x=1000 y=0 width=10 height=10 | save", buf, len,
	    "config: step 'crop': the rectangle at 1000,0 lies outside 'in', "
	    "which is 1000x500 at that step", "a rectangle outside the image");
	g_free(buf);

	/* Each gravity puts the rectangle where it says. */
	im = paste(solid(300, 300, 0, 0, 0), solid(100, 100, 255, 255, 255),
	    200, 200);
	buf = encode(im, ".png", &len);
	run("crop width=100 height=100 gravity=south-east | save format=png",
	    buf, len, &res);
	ok(res.image != NULL && area_mean(res.image, 0, 0, 100, 100, -1) ==
	    255, "gravity=south-east takes the bottom-right corner");
	result_clear(&res);
	run("crop width=100 height=100 gravity=north-west | save format=png",
	    buf, len, &res);
	ok(res.image != NULL && area_mean(res.image, 0, 0, 100, 100, -1) == 0,
	    "gravity=north-west takes the top-left corner");
	result_clear(&res);
	run("crop x=150 y=150 width=100 height=100 | save format=png", buf,
	    len, &res);
	ok(res.image != NULL && area_mean(res.image, 50, 50, 50, 50, -1) ==
	    255 && area_mean(res.image, 0, 0, 50, 50, -1) == 0,
	    "x and y place the rectangle from the top-left");
	result_clear(&res);
	g_free(buf);

	/*
	 * Attention: a flat grey image with one saturated, skin-coloured
	 * disc near its right edge; a square crop keeps the disc.
	 */
	{
		VipsImage	*disc, *mask, *grey, *out;

		grey = solid(900, 300, 128, 128, 128);
		disc = solid(120, 120, 230, 160, 120);
		if (vips_black(&mask, 1, 1, NULL) != 0)
			abort();
		g_object_unref(mask);
		out = paste(grey, disc, 720, 90);
		buf = encode(out, ".png", &len);
	}
	run("crop ratio=1:1 gravity=attention | save format=png", buf, len,
	    &res);
	is_str(res.what, "300x300 png", "attention: the largest square");
	/* All of the disc in the square: 128 + 14400 * 102 / 90000. */
	ok(res.image != NULL && area_mean(res.image, 0, 0, 300, 300, 0) > 144,
	    "attention keeps the salient disc whole (mean red %.1f)",
	    res.image != NULL ? area_mean(res.image, 0, 0, 300, 300, 0) : 0);
	result_clear(&res);
	run("crop ratio=1:1 | save format=png", buf, len, &res);
	ok(res.image != NULL && area_mean(res.image, 0, 0, 300, 300, 0) ==
	    128, "the centre crop, for comparison, misses it");
	result_clear(&res);
	run("thumbnail width=300 height=300 fit=cover crop=attention | "
	    "save format=png", buf, len, &res);
	ok(res.image != NULL && area_mean(res.image, 0, 0, 300, 300, 0) > 144,
	    "thumbnail crop=attention keeps it too");
	result_clear(&res);
	g_free(buf);
}

static void
test_watermark(void)
{
	struct result	 plain, res;
	VipsImage	*mark, *alpha, *im;
	void		*buf, *mbuf;
	size_t		 len, mlen;
	char		*path, *steps;
	double		 m;

	/* A 40x30 opaque red mark, as a PNG beside the config. */
	mark = solid(40, 30, 255, 0, 0);
	if (vips_bandjoin_const1(mark, &alpha, 255, NULL) != 0)
		abort();
	g_object_unref(mark);
	mbuf = encode(alpha, ".png", &mlen);
	xasprintf(&path, "%s/mark.png", tmpdir);
	if (write_file_atomic(path, mbuf, mlen, &steps) != 0)
		abort();
	g_free(mbuf);

	buf = encode(solid(400, 300, 0, 0, 200), ".png", &len);
	run("save format=png", buf, len, &plain);
	run("watermark image=mark.png gravity=south-east margin=10 "
	    "opacity=0.5 | save format=png", buf, len, &res);
	is_str(res.what, "400x300 png", "a watermark keeps the size");
	if (res.image == NULL || plain.image == NULL)
		abort();
	/* The mark: x 350..389, y 260..289. */
	ok(area_diff(res.image, plain.image, 350, 260, 40, 30) > 50,
	    "south-east: the mark's area differs");
	ok(area_diff(res.image, plain.image, 0, 0, 400, 260) == 0 &&
	    area_diff(res.image, plain.image, 0, 260, 350, 40) == 0 &&
	    area_diff(res.image, plain.image, 390, 260, 10, 40) == 0 &&
	    area_diff(res.image, plain.image, 350, 290, 40, 10) == 0,
	    "everywhere else is untouched");
	m = area_mean(res.image, 350, 260, 40, 30, 0);
	ok(fabs(m - 127.5) < 3, "opacity 0.5: red is half the mark's (%.1f)",
	    m);
	m = area_mean(res.image, 350, 260, 40, 30, 2);
	ok(fabs(m - 100) < 3, "opacity 0.5: blue is half the base's (%.1f)",
	    m);
	result_clear(&res);

	run("watermark image=mark.png gravity=north-west x=5 y=10% | "
	    "save format=png", buf, len, &res);
	ok(res.image != NULL &&
	    area_mean(res.image, 5, 30, 40, 30, 0) == 255 &&
	    area_diff(res.image, plain.image, 45, 0, 355, 300) == 0 &&
	    area_diff(res.image, plain.image, 0, 0, 400, 30) == 0,
	    "north-west with x=5 y=10%%: opaque at 5,30, nothing else");
	result_clear(&res);

	run("watermark image=mark.png gravity=centre opacity=0.25 | "
	    "save format=png", buf, len, &res);
	m = res.image != NULL ? area_mean(res.image, 180, 135, 40, 30, 0) : 0;
	ok(fabs(m - 63.75) < 3, "centre, opacity 0.25 (%.1f)", m);
	ok(res.image != NULL &&
	    area_diff(res.image, plain.image, 0, 0, 400, 135) == 0,
	    "centre: the top is untouched");
	result_clear(&res);

	run("watermark image=mark.png scale=0.5 gravity=north | "
	    "save format=png", buf, len, &res);
	ok(res.image != NULL &&
	    area_mean(res.image, 110, 10, 180, 120, 0) > 250 &&
	    area_diff(res.image, plain.image, 0, 160, 400, 140) == 0,
	    "scale=0.5: the mark is half the base's width, at the top");
	result_clear(&res);

	run("watermark image=mark.png tile=yes margin=10 | save format=png",
	    buf, len, &res);
	ok(res.image != NULL &&
	    area_mean(res.image, 0, 0, 40, 30, 0) == 255 &&
	    area_mean(res.image, 50, 40, 40, 30, 0) == 255 &&
	    area_mean(res.image, 350, 240, 40, 30, 0) == 255 &&
	    area_mean(res.image, 40, 0, 10, 300, 0) == 0,
	    "tile=yes repeats the mark, margin apart");
	result_clear(&res);

	run("watermark text=\"(c) Example\" size=20 gravity=south-west "
	    "margin=4 colour=255,255,0 | save format=png", buf, len, &res);
	ok(res.image != NULL &&
	    area_diff(res.image, plain.image, 0, 250, 200, 50) > 100 &&
	    area_diff(res.image, plain.image, 0, 0, 400, 200) == 0 &&
	    area_diff(res.image, plain.image, 250, 0, 150, 300) == 0,
	    "text at south-west changes the bottom-left only");
	ok(res.image != NULL && area_mean(res.image, 0, 250, 200, 50, 0) > 5,
	    "in yellow: red rises where the glyphs are");
	result_clear(&res);

	run("watermark text=\"<b>bold</b> and x\" image=mark.png "
	    "gravity=north-east | save format=png", buf, len, &res);
	ok(res.image != NULL &&
	    area_diff(res.image, plain.image, 200, 0, 200, 40) > 100 &&
	    area_diff(res.image, plain.image, 0, 60, 400, 240) == 0,
	    "text with markup and an image together, at the top-right");
	result_clear(&res);
	result_clear(&plain);
	g_free(buf);

	/* A JPEG base stays 3 bands; PNG with alpha keeps its alpha. */
	buf = encode(noise(300, 200), ".jpg", &len);
	RUN("watermark text=x | save format=same", buf, len, "300x200 jpeg",
	    "a watermarked JPEG");
	g_free(buf);
	im = solid(300, 200, 10, 20, 30);
	if (vips_bandjoin_const1(im, &alpha, 128, NULL) != 0)
		abort();
	g_object_unref(im);
	buf = encode(alpha, ".png", &len);
	run("watermark image=mark.png | save format=png", buf, len, &res);
	ok(res.image != NULL && res.image->Bands == 4 &&
	    area_mean(res.image, 0, 0, 100, 100, 3) == 128,
	    "a base with alpha keeps it");
	result_clear(&res);
	g_free(buf);
	unlink(path);
	free(path);
}

static void
test_save(void)
{
	struct result	 a, b;
	VipsImage	*im, *c;
	void		*buf;
	size_t		 len;
	const char	*s;
	char		*kept;

	buf = encode(noise(600, 400), ".png", &len);
#define SAME(x, y, desc) do {						\
	run(x, buf, len, &a);						\
	run(y, buf, len, &b);						\
	ok(a.outlen > 0 && a.outlen == b.outlen &&			\
	    memcmp(a.out, b.out, a.outlen) == 0, desc);			\
	result_clear(&a);						\
	result_clear(&b);						\
} while (0)
	SAME("save format=jpeg", "save format=jpeg quality=80",
	    "JPEG's default quality is 80");
	SAME("save format=webp", "save format=webp quality=79",
	    "WebP's default quality is 79");
	if (image_can_encode("avif")) {
		SAME("save format=avif", "save format=avif quality=63",
		    "AVIF's default quality is 63");
		run("thumbnail width=100 | save format=avif", buf, len, &a);
		is_str(a.what, "100x67 avif", "AVIF is written");
		ok(a.image != NULL && vips_image_get_string(a.image,
		    "vips-loader", &s) == 0 && strcmp(s, "heifload_buffer") ==
		    0 && vips_image_get_string(a.image, "heif-compression",
		    &s) == 0 && strcmp(s, "av1") == 0, "as HEIF with AV1");
		result_clear(&a);
	} else
		bad("save format=avif", "recipe 'r': step 'save': parameter "
		    "'format': this libvips cannot encode AVIF");
	run("save format=jpeg quality=80", buf, len, &a);
	run("save format=jpeg quality=30", buf, len, &b);
	ok(b.outlen < a.outlen, "a lower quality is smaller");
	result_clear(&a);
	result_clear(&b);
	run("save format=jpeg progressive=yes", buf, len, &a);
	ok(a.image != NULL && vips_image_get_typeof(a.image,
	    "interlaced") != 0, "progressive=yes makes a progressive JPEG");
	result_clear(&a);

	/* max_bytes: quality lowered until it fits, or a limit failure. */
	run("save format=jpeg quality=95", buf, len, &a);
	xasprintf(&kept, "save format=jpeg quality=95 max_bytes=%zu",
	    a.outlen / 2);
	run(kept, buf, len, &b);
	ok(b.out != NULL && b.outlen <= a.outlen / 2,
	    "max_bytes: lowered to fit (%zu <= %zu)", b.outlen, a.outlen / 2);
	free(kept);
	result_clear(&a);
	result_clear(&b);
	run("save format=webp max_bytes=100", buf, len, &a);
	ok(strncmp(a.what, "limit: 'in' encodes to ", 23) == 0 &&
	    strstr(a.what, " bytes as webp even at quality 10, over the "
	    "limit max_bytes = 100 of step 'save' in recipe 'r'; raise "
	    "max_bytes or make the image smaller (a thumbnail step before "
	    "save)") != NULL, "max_bytes that cannot be met: %s", a.what);
	result_clear(&a);
	g_free(buf);

	/* Metadata: stripped, but the copyright kept. */
	im = noise(300, 200);
	if (vips_copy(im, &c, NULL) != 0)
		abort();
	g_object_unref(im);
	vips_image_set_string(c, "exif-ifd0-Copyright", "Jane Doe 2024");
	vips_image_set_string(c, "exif-ifd0-Make", "Acme");
	vips_image_set_string(c, "exif-ifd0-Model", "Snap 1");
	buf = encode(c, ".jpg", &len);
	run("info", buf, len, &a);
	ok(a.info != NULL && strstr(a.info, "\"copyright\": \"Jane Doe "
	    "2024\"") != NULL && strstr(a.info, "\"model\": \"Snap 1\"") !=
	    NULL, "the input has its EXIF");
	result_clear(&a);
	run("thumbnail width=100 | save format=jpeg", buf, len, &a);
	kept = a.image != NULL ? image_exif_string(a.image,
	    "exif-ifd0-Copyright") : NULL;
	is_str(kept, "Jane Doe 2024", "the copyright is kept");
	free(kept);
	kept = a.image != NULL ? image_exif_string(a.image,
	    "exif-ifd0-Model") : NULL;
	ok(kept == NULL, "the camera model is not");
	free(kept);
	result_clear(&a);
	run("thumbnail width=100 | save format=webp", buf, len, &a);
	kept = a.image != NULL ? image_exif_string(a.image,
	    "exif-ifd0-Copyright") : NULL;
	is_str(kept, "Jane Doe 2024", "WebP keeps the copyright too");
	free(kept);
	result_clear(&a);
	run("thumbnail width=100 | save format=jpeg strip=no", buf, len, &a);
	kept = a.image != NULL ? image_exif_string(a.image,
	    "exif-ifd0-Model") : NULL;
	is_str(kept, "Snap 1", "strip=no keeps everything");
	free(kept);
	result_clear(&a);
	g_free(buf);
	buf = encode(noise(300, 200), ".jpg", &len);
	run("save format=jpeg", buf, len, &a);
	ok(a.image != NULL && vips_image_get_typeof(a.image,
	    VIPS_META_EXIF_NAME) == 0, "no copyright: no EXIF at all");
	result_clear(&a);
	g_free(buf);

	/* sRGB: a 16-bit and a greyscale input. */
	im = noise(100, 100);
	if (vips_colourspace(im, &c, VIPS_INTERPRETATION_RGB16, NULL) != 0)
		abort();
	g_object_unref(im);
	buf = encode(c, ".png", &len);
	run("save format=png", buf, len, &a);
	ok(a.image != NULL && a.image->Type == VIPS_INTERPRETATION_sRGB &&
	    a.image->BandFmt == VIPS_FORMAT_UCHAR, "16-bit input: 8-bit sRGB");
	result_clear(&a);
	g_free(buf);
}

static void
test_info_and_limits(void)
{
	struct result	 res;
	VipsImage	*im, *c, *frames[3], *strip;
	void		*buf;
	size_t		 len;
	int		 i;

	im = noise(640, 480);
	if (vips_copy(im, &c, NULL) != 0)
		abort();
	g_object_unref(im);
	vips_image_set_string(c, "exif-ifd0-Make", "Acme");
	vips_image_set_string(c, "exif-ifd0-Model", "Snap \"1\"");
	vips_image_set_string(c, "exif-ifd2-DateTimeOriginal",
	    "2024:05:01 12:34:56");
	vips_image_set_string(c, "exif-ifd2-ExposureTime", "1/250");
	vips_image_set_string(c, "exif-ifd2-FNumber", "28/10");
	vips_image_set_string(c, "exif-ifd2-ISOSpeedRatings", "400");
	vips_image_set_string(c, "exif-ifd3-GPSLatitudeRef", "S");
	vips_image_set_string(c, "exif-ifd3-GPSLatitude", "33/1 51/1 54/1");
	vips_image_set_string(c, "exif-ifd3-GPSLongitudeRef", "E");
	vips_image_set_string(c, "exif-ifd3-GPSLongitude",
	    "151/1 12/1 36/1");
	vips_image_set_int(c, "orientation", 6);
	buf = encode(c, ".jpg", &len);
	run("info", buf, len, &res);
	is_str(res.what, "640x480 json", "info writes no image");
	is_str(res.info, "{\"width\": 640, \"height\": 480, \"format\": "
	    "\"jpeg\", \"pages\": 1, \"colourspace\": \"srgb\", "
	    "\"has_alpha\": false, \"orientation\": 6, \"make\": \"Acme\", "
	    "\"model\": \"Snap \\\"1\\\"\", \"taken_at\": "
	    "\"2024-05-01T12:34:56\", \"exposure_time\": 0.004, "
	    "\"f_number\": 2.8, \"iso\": 400, \"latitude\": -33.865, "
	    "\"longitude\": 151.21}", "info's JSON");
	result_clear(&res);
	g_free(buf);

	buf = encode(solid(50, 40, 1, 2, 3), ".png", &len);
	run("info", buf, len, &res);
	is_str(res.info, "{\"width\": 50, \"height\": 40, \"format\": "
	    "\"png\", \"pages\": 1, \"colourspace\": \"srgb\", "
	    "\"has_alpha\": false, \"orientation\": 1}",
	    "a PNG without EXIF");
	result_clear(&res);

	/* max_pixels: refused from the header, before decoding. */
	run_limits("thumbnail width=10 | save", buf, len, 1999, 0, &res);
	is_str(res.what, "limit: 'in' is 2000 pixels (50x40), over the limit "
	    "max_pixels = 1999 of recipe 'r'; raise max_pixels in [recipe.r] "
	    "or [objwatch] to accept it", "max_pixels refuses");
	result_clear(&res);
	run_limits("thumbnail width=10 | save", buf, len, 2000, 0, &res);
	is_str(res.what, "10x8 png", "max_pixels admits up to the limit");
	result_clear(&res);
	g_free(buf);

	/* An animated GIF: the first frame, unless asked and allowed. */
	for (i = 0; i < 3; i++)
		frames[i] = solid(60, 40, i * 100, 0, 0);
	if (vips_arrayjoin(frames, &strip, 3, "across", 1, NULL) != 0)
		abort();
	for (i = 0; i < 3; i++)
		g_object_unref(frames[i]);
	if (vips_copy(strip, &c, NULL) != 0)
		abort();
	g_object_unref(strip);
	vips_image_set_int(c, "page-height", 40);
	buf = encode(c, ".gif", &len);
	run("info", buf, len, &res);
	ok(res.info != NULL && strncmp(res.info, "{\"width\": 60, \"height\": "
	    "40, \"format\": \"gif\", \"pages\": 3,", 55) == 0,
	    "info counts a GIF's frames: %s", res.info);
	result_clear(&res);
	RUN("thumbnail width=30 | save format=png", buf, len, "30x20 png",
	    "an animated input gives its first frame");
	run_limits("thumbnail width=30 pages=all | save format=webp", buf, len,
	    0, 0, &res);
	is_str(res.what, "limit: 'in' has 3 frames and step 'thumbnail' asks "
	    "for 3, over the limit max_pages = 1 of recipe 'r'; raise "
	    "max_pages in [recipe.r] or [objwatch] to accept it",
	    "more frames than max_pages are refused");
	result_clear(&res);
	run_limits("thumbnail width=30 pages=all | save format=webp", buf, len,
	    0, 3, &res);
	is_str(res.what, "30x20 webp", "within max_pages: every frame");
	ok(res.image != NULL && vips_image_get_n_pages(res.image) == 3,
	    "the WebP is animated, 3 frames");
	result_clear(&res);
	run_limits("thumbnail width=30 pages=2 | save format=webp", buf, len,
	    0, 2, &res);
	ok(res.image != NULL && vips_image_get_n_pages(res.image) == 2,
	    "pages=2: two frames");
	result_clear(&res);
	run_limits("thumbnail width=30 pages=all | save format=jpeg", buf, len,
	    0, 3, &res);
	is_str(res.what, "30x20 jpeg", "JPEG takes the first of the frames");
	result_clear(&res);
	g_free(buf);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		abort();
	images_init("t-handlers");
	test_parse_errors();
	test_thumbnail();
	test_crop();
	test_watermark();
	test_save();
	test_info_and_limits();
	rmdir(tmpdir);
	plan(tap_n);
	return (done_testing());
}
