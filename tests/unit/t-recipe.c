/*
 * The recipe language and the runner: the exact message for each mistake,
 * a hash that ignores formatting but not meaning, and output dimensions
 * for every thumbnail mode.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>
#include <vips/vector.h>

#include "objwatch.h"
#include "tap.h"

#define SVG "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" " \
    "height=\"10\"><rect width=\"10\" height=\"10\"/></svg>"

static struct recipe *
parse(const char *steps, char **cause)
{
	struct recipe	*r = xcalloc(1, sizeof *r);

	r->name = xstrdup("r");
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

/* A w x h photo-like JPEG in memory. */
static void *
make_jpeg(int w, int h, size_t *len)
{
	VipsImage	*noise, *u8;
	void		*buf;

	if (vips_perlin(&noise, w, h, "cell_size", 64, NULL) != 0 ||
	    vips_linear1(noise, &u8, 100, 128, "uchar", TRUE, NULL) != 0 ||
	    vips_jpegsave_buffer(u8, &buf, len, NULL) != 0)
		abort();
	g_object_unref(noise);
	g_object_unref(u8);
	return (buf);
}

/* Run steps over data and report the output's size as "WxH". */
static char *
run(const char *steps, const void *data, size_t len)
{
	struct recipe		*r;
	struct image_job	 job;
	char			*cause, *out;

	if ((r = parse(steps, &cause)) == NULL) {
		xasprintf(&out, "parse: %s", cause);
		free(cause);
		return (out);
	}
	if (recipe_run_bytes(r, data, len, "in.jpg", &job) != 0)
		xasprintf(&out, "%s: %s", error_class_name(job.error.cls),
		    job.error.msg);
	else
		xasprintf(&out, "%dx%d %s", job.width, job.height, job.format);
	image_job_clear(&job);
	recipe_free(r);
	return (out);
}

/*
 * What one of two workers sees running the same small recipe over and over
 * at the same time as the other: each output's "WxH format", counted.
 */
struct race {
	const void	*data;
	size_t		 len;
	int		 runs, right;
};

static void *
race_run(void *arg)
{
	struct race	*rc = arg;
	char		*got;
	int		 i;

	for (i = 0; i < rc->runs; i++) {
		got = run("thumbnail width=8 height=8 | save format=jpeg",
		    rc->data, rc->len);
		if (strcmp(got, "8x4 jpeg") == 0)
			rc->right++;
		free(got);
	}
	return (NULL);
}

int
main(void)
{
	struct recipe	*a, *b, *c;
	char		*cause, *got;
	void		*jpeg, *small;
	size_t		 len, small_len;

	plan(61);
	images_init("t-recipe");

	a = parse("thumbnail width=256 height=256 | save format=jpeg "
	    "quality=80", &cause);
	ok(a != NULL, "a two-step recipe parses");
	is_int(a->nsteps, 2, "two steps");
	b = parse("  thumbnail   height=\"256\" width='256'|save quality=80 "
	    "format=jpeg ", &cause);
	ok(b != NULL, "the same recipe formatted differently parses");
	is_str(a->hash, b->hash, "and has the same hash");
	c = parse("thumbnail width=256 height=256 | save format=jpeg "
	    "quality=81", &cause);
	ok(c != NULL && strcmp(a->hash, c->hash) != 0, "a changed value "
	    "changes the hash");
	recipe_free(a);
	recipe_free(b);
	recipe_free(c);
	a = parse("thumbnail width=10 | save format=png", &cause);
	ok(a != NULL, "save with png and no quality parses");
	recipe_free(a);

	bad("thumb width=1 | save", "recipe 'r': unknown step 'thumb' "
	    "(expected one of: thumbnail, crop, watermark, save, info, lines, copy)");
	bad("thumbnail width=256", "recipe 'r': the last step must be 'save' "
	    "(for example: save format=jpeg quality=80), or the only step "
	    "'info'");
	bad("save | thumbnail width=1 | save", "recipe 'r': step 'save': "
	    "must be the last step");
	bad("thumbnail width=abc | save", "recipe 'r': step 'thumbnail': "
	    "parameter 'width' must be a whole number from 1 to 10000000, "
	    "not 'abc'");
	bad("thumbnail width=0 | save", "recipe 'r': step 'thumbnail': "
	    "parameter 'width' must be a whole number from 1 to 10000000, "
	    "not '0'");
	bad("thumbnail | save", "recipe 'r': step 'thumbnail': needs width, "
	    "height or both (in pixels)");
	bad("thumbnail width=9 fit=squeeze | save", "recipe 'r': step "
	    "'thumbnail': parameter 'fit' must be one of inside, cover, fill, "
	    "contain, not 'squeeze'");
	bad("thumbnail width=9 fit=cover | save", "recipe 'r': step "
	    "'thumbnail': fit=cover needs both width and height");
	bad("thumbnail width=9 height=9 crop=attention | save", "recipe 'r': "
	    "step 'thumbnail': parameter 'crop' only applies with fit=cover");
	bad("thumbnail width=9 widht=9 | save", "recipe 'r': step "
	    "'thumbnail': unknown parameter 'widht' (expected width, height, "
	    "fit, crop, focus, enlarge, autorotate, background, pages)");
	bad("thumbnail widht=9 | save", "recipe 'r': step 'thumbnail': "
	    "unknown parameter 'widht' (expected width, height, fit, crop, "
	    "focus, enlarge, autorotate, background, pages)");
	bad("thumbnail width=9 width=10 | save", "recipe 'r': step "
	    "'thumbnail': parameter 'width' is given twice");
	bad("thumbnail width=9 | save format=\"jpeg", "recipe 'r': step "
	    "'save': parameter 'format': unterminated double quote");
	bad("thumbnail width=9 | save jpeg", "recipe 'r': step 'save': "
	    "expected key=value, not 'jpeg'");
	bad("thumbnail width=9 || save", "recipe 'r': empty step (two '|' in "
	    "a row, or a '|' at an end)");
	bad("thumbnail width=9 | save format=png quality=50", "recipe 'r': "
	    "step 'save': parameter 'quality' does not apply to format=png "
	    "(it is lossless)");
	bad("thumbnail width=9 | save strip=maybe", "recipe 'r': step 'save': "
	    "parameter 'strip' must be yes or no, not 'maybe'");
	bad("thumbnail width=9 | thumbnail width=3 | save", "recipe 'r': step "
	    "'thumbnail': must be the first step: it loads the image, "
	    "shrinking while it decodes");

	/* Output dimensions for each mode, from a 1000x500 JPEG. */
	jpeg = make_jpeg(1000, 500, &len);
	small = make_jpeg(100, 50, &small_len);
#define RUN(steps, want, what) do {					\
	got = run(steps, jpeg, len);					\
	is_str(got, want, what);					\
	free(got);							\
} while (0)
	RUN("thumbnail width=256 height=256 | save format=jpeg",
	    "256x128 jpeg", "fit=inside keeps the aspect ratio in the box");
	RUN("thumbnail width=200 | save", "200x100 jpeg", "width alone");
	RUN("thumbnail height=100 | save", "200x100 jpeg", "height alone");
	RUN("thumbnail width=256 height=256 fit=cover | save format=png",
	    "256x256 png", "fit=cover fills the box");
	RUN("thumbnail width=256 height=256 fit=cover crop=attention | save",
	    "256x256 jpeg", "fit=cover with an attention crop");
	RUN("thumbnail width=300 height=100 fit=fill | save format=webp",
	    "300x100 webp", "fit=fill stretches");
	RUN("thumbnail width=256 height=256 fit=contain | save",
	    "256x256 jpeg", "fit=contain pads to the box");
	RUN("thumbnail width=2000 | save", "1000x500 jpeg",
	    "no enlarging by default");
	RUN("thumbnail width=2000 enlarge=yes | save", "2000x1000 jpeg",
	    "enlarge=yes enlarges");
	RUN("save format=png", "1000x500 png", "save alone converts");
	RUN("thumbnail width=10 | save format=same", "10x5 jpeg",
	    "format=same keeps JPEG");
	got = run("thumbnail width=64 | save", small, small_len);
	is_str(got, "64x32 jpeg", "a small input");
	free(got);
	got = run("thumbnail width=64 | save", "hello, world", 12);
	is_str(got, "decode: 'in.jpg' is not an image objwatch reads (JPEG, "
	    "PNG, WebP, TIFF, GIF, HEIF and AVIF are; PDF, SVG and others are "
	    "blocked as untrusted)", "text is refused with a clear message");
	free(got);
	got = run("thumbnail width=64 | save", "", 0);
	is_str(got, "decode: 'in.jpg' is empty (0 bytes)", "an empty file");
	free(got);
	got = run("thumbnail width=64 | save", jpeg, len / 2);
	is_str(got, "decode: 'in.jpg' is truncated: the JPEG data ends before "
	    "its end-of-image marker; it was cut short in transfer or is "
	    "still being written", "a truncated JPEG is refused");
	free(got);
	got = run("thumbnail width=64 | save", SVG, strlen(SVG));
	is_str(got, "limit: 'in.jpg' needs the loader 'svgload_buffer', which "
	    "is blocked as untrusted (PDF, SVG, PPM, ImageMagick and other "
	    "loaders with a large attack surface are)",
	    "SVG is refused: its loader is blocked");
	free(got);

	/*
	 * Two workers at once. With libvips' run-time vector code on, liborc
	 * corrupts the heap when two threads free pipelines together, which
	 * is why images_init turns it off.
	 */
	ok(!vips_vector_isenabled(), "no run-time vector code (liborc is "
	    "not thread-safe)");
	ok(vips_cache_get_max() == 0, "no operation cache (stale headers)");
	{
		struct race	 two[2];
		pthread_t	 t[2];
		int		 i;

		for (i = 0; i < 2; i++) {
			two[i].data = small;
			two[i].len = small_len;
			two[i].runs = 300;
			two[i].right = 0;
			if (pthread_create(&t[i], NULL, race_run, &two[i]) != 0)
				abort();
		}
		for (i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		is_int(two[0].right + two[1].right, 600, "two threads running "
		    "one recipe 300 times each: 600 right outputs");
	}
	g_free(jpeg);
	g_free(small);
	return (done_testing());
}
