/*
 * image: what the recipe runner and the handlers share about libvips and
 * the image in a job: the error buffer as a reason, which encoders work,
 * the header and EXIF fields, and loading or failing the job's image.
 *
 * It sits below both: handlers/ and src/recipe.c call it, and it calls
 * neither, so the metadata save keeps (the copyright), the JSON info and
 * the worker's objects.info read the same fields one way.
 *
 * The EXIF subset comes from libvips' "exif-ifdN-Tag" fields, which read
 * "raw (formatted, type, N components, N bytes)". For ASCII the formatted
 * part starts with the raw one, which tells where the raw part ends
 * whatever it contains; for numbers the raw part ("35/10",
 * "56/1 9359705/1000000 0/1") has no space-parenthesis in it.
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <vips/vips.h>

#include "objwatch.h"
#include "banned.h"

/*
 * The libvips error buffer as one line ("a; b"), cleared. The buffer is
 * shared by every thread, so this is read right after the failing call.
 */
char *
image_error(void)
{
	const char	*p;
	char		*out, *o;

	p = vips_error_buffer();
	out = o = xmalloc(strlen(p) * 2 + 1);
	for (; *p != '\0'; p++) {
		if (*p == '\n') {
			while (p[1] == '\n')
				p++;
			if (p[1] != '\0' && o != out) {
				*o++ = ';';
				*o++ = ' ';
			}
			continue;
		}
		*o++ = *p;
	}
	*o = '\0';
	vips_error_clear();
	if (*out == '\0') {
		free(out);
		out = xstrdup("libvips gave no reason");
	}
	return (out);
}

/*
 * Whether this libvips can write format: it has the saver and, for AVIF,
 * an AV1 encoder that works (libheif may be built without one). Called
 * while the config is read, before any worker thread starts.
 */
int
image_can_encode(const char *format)
{
	static int	 avif = -1;
	VipsImage	*one;
	void		*buf = NULL;
	size_t		 len;

	if (strcmp(format, "avif") != 0)
		return (1);
	if (avif != -1)
		return (avif);
	avif = 0;
	if (vips_type_find("VipsOperation", "heifsave_buffer") == 0)
		return (avif);
	if (vips_black(&one, 16, 16, "bands", 3, NULL) != 0) {
		vips_error_clear();
		return (avif);
	}
	if (vips_heifsave_buffer(one, &buf, &len, "compression",
	    VIPS_FOREIGN_HEIF_COMPRESSION_AV1, NULL) == 0 && len > 0)
		avif = 1;
	vips_error_clear();
	g_free(buf);
	g_object_unref(one);
	return (avif);
}

/*
 * A number as the info JSON writes it: a whole one without a fraction
 * ("iso": 400), any other with up to ten significant digits.
 */
static json_t *
image_json_number(double d)
{
	if (d == floor(d) && fabs(d) < 1e15)
		return (json_integer((json_int_t)d));
	return (json_real(d));
}

/* The raw part of an EXIF field, or NULL when absent. */
static char *
exif_raw(VipsImage *image, const char *field)
{
	const char	*s, *p;
	size_t		 n;

	if (vips_image_get_typeof(image, field) == 0 ||
	    vips_image_get_string(image, field, &s) != 0) {
		vips_error_clear();
		return (NULL);
	}
	if (strstr(s, ", ASCII, ") == NULL) {
		if ((p = strstr(s, " (")) == NULL)
			return (NULL);
		return (xstrndup(s, p - s));
	}
	/*
	 * "X (F, ASCII, ...)" where the formatted F starts with X (it is X,
	 * or for Copyright "X (Photographer) - ..."): the first " (" whose
	 * remainder starts with what precedes it ends X.
	 */
	for (p = s; (p = strstr(p, " (")) != NULL; p++) {
		n = p - s;
		if (strncmp(p + 2, s, n) == 0)
			return (xstrndup(s, n));
	}
	return (NULL);
}

/*
 * An EXIF ASCII field of image, trimmed, or NULL when absent or empty;
 * free() it.
 */
char *
image_exif_string(struct _VipsImage *image, const char *field)
{
	char	*s = exif_raw(image, field);
	size_t	 n;

	if (s == NULL)
		return (NULL);
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	if (n == 0 || strspn(s, " \t") == n) {
		free(s);
		return (NULL);
	}
	return (s);
}

/* The rationals of an EXIF field ("a/b c/d ..."), up to max of them. */
static int
exif_rationals(VipsImage *image, const char *field, double *v, int max)
{
	char		*raw = exif_raw(image, field), *p, *end;
	long long	 num, den;
	int		 n = 0;

	if (raw == NULL)
		return (0);
	for (p = raw; n < max && *p != '\0'; p = end) {
		num = strtoll(p, &end, 10);
		if (end == p)
			break;
		den = 1;
		if (*end == '/') {
			p = end + 1;
			den = strtoll(p, &end, 10);
			if (end == p)
				break;
		}
		if (den == 0)
			break;
		v[n++] = (double)num / den;
		while (*end == ' ')
			end++;
	}
	free(raw);
	return (n);
}

/* A GPS coordinate as signed decimal degrees, or 0 when absent. */
static int
exif_gps(VipsImage *image, const char *field, const char *ref_field,
    const char *negative, double *out)
{
	double	 dms[3] = { 0, 0, 0 };
	char	*ref;

	if (exif_rationals(image, field, dms, 3) < 1)
		return (0);
	*out = dms[0] + dms[1] / 60 + dms[2] / 3600;
	if ((ref = image_exif_string(image, ref_field)) != NULL) {
		if (strcmp(ref, negative) == 0)
			*out = -*out;
		free(ref);
	}
	*out = round(*out * 1e6) / 1e6;
	return (1);
}

/* The format's plain name from its loader's nickname. */
static char *
image_format(VipsImage *image)
{
	const char	*loader, *p;

	if (vips_image_get_string(image, VIPS_META_LOADER, &loader) != 0) {
		vips_error_clear();
		return (xstrdup("unknown"));
	}
	if (strncmp(loader, "heifload", 8) == 0) {
		const char	*c;

		if (vips_image_get_typeof(image, "heif-compression") != 0 &&
		    vips_image_get_string(image, "heif-compression",
		    &c) == 0 && strcmp(c, "av1") == 0)
			return (xstrdup("avif"));
		return (xstrdup("heif"));
	}
	if ((p = strstr(loader, "load")) != NULL)
		return (xstrndup(loader, p - loader));
	return (xstrdup(loader));
}

/* The JSON of an opened image's header. */
static char *
image_info_json(VipsImage *image)
{
	static const struct {
		const char	*key;
		const char	*field;
	} strings[] = {
		{ "make", "exif-ifd0-Make" },
		{ "model", "exif-ifd0-Model" },
		{ "copyright", "exif-ifd0-Copyright" },
	};
	json_t		*o;
	char		*format, *s, *out, taken[32];
	double		 v[3];
	size_t		 i;

	o = json_object();
	json_object_set_new(o, "width", json_integer(image->Xsize));
	json_object_set_new(o, "height",
	    json_integer(vips_image_get_page_height(image)));
	format = image_format(image);
	json_object_set_new(o, "format", utf8_json(format));
	free(format);
	json_object_set_new(o, "pages",
	    json_integer(vips_image_get_n_pages(image)));
	json_object_set_new(o, "colourspace", utf8_json(vips_enum_nick(
	    VIPS_TYPE_INTERPRETATION, image->Type)));
	json_object_set_new(o, "has_alpha",
	    json_boolean(vips_image_hasalpha(image)));
	json_object_set_new(o, "orientation",
	    json_integer(vips_image_get_orientation(image)));

	for (i = 0; i < nitems(strings); i++) {
		if ((s = image_exif_string(image, strings[i].field)) != NULL) {
			json_object_set_new(o, strings[i].key, utf8_json(s));
			free(s);
		}
	}
	s = image_exif_string(image, "exif-ifd2-DateTimeOriginal");
	if (s == NULL)
		s = image_exif_string(image, "exif-ifd0-DateTime");
	if (s != NULL && strlen(s) >= 19 && s[4] == ':' && s[7] == ':') {
		/* "2007:08:06 10:29:13" is ISO 8601 with two changes. */
		snprintf(taken, sizeof taken, "%.19s", s);
		taken[4] = taken[7] = '-';
		taken[10] = 'T';
		json_object_set_new(o, "taken_at", utf8_json(taken));
	}
	free(s);
	if (exif_rationals(image, "exif-ifd2-ExposureTime", v, 1) == 1)
		json_object_set_new(o, "exposure_time",
		    image_json_number(v[0]));
	if (exif_rationals(image, "exif-ifd2-FNumber", v, 1) == 1 && v[0] > 0)
		json_object_set_new(o, "f_number", image_json_number(v[0]));
	if (exif_rationals(image, "exif-ifd2-ISOSpeedRatings", v, 1) == 1)
		json_object_set_new(o, "iso", image_json_number(v[0]));
	if (exif_gps(image, "exif-ifd3-GPSLatitude",
	    "exif-ifd3-GPSLatitudeRef", "S", &v[0]) &&
	    exif_gps(image, "exif-ifd3-GPSLongitude",
	    "exif-ifd3-GPSLongitudeRef", "W", &v[1])) {
		json_object_set_new(o, "latitude", image_json_number(v[0]));
		json_object_set_new(o, "longitude", image_json_number(v[1]));
	}
	/* Not compact: ", " and ": ", as objects.info has always read. */
	out = json_dumps(o, JSON_REAL_PRECISION(10));
	json_decref(o);
	if (out == NULL)
		fatalx("out of memory");
	return (out);
}

/*
 * What the encoded image in data is, as a JSON object, from its header
 * alone: dimensions, format, pages, colourspace, alpha, orientation and
 * the EXIF subset people search by.
 */
int
image_info(const void *data, size_t len, char **json, char **cause)
{
	VipsImage	*image;
	char		*why;

	image = vips_image_new_from_buffer(data, len, "", "access",
	    VIPS_ACCESS_SEQUENTIAL, NULL);
	if (image == NULL) {
		why = image_error();
		xasprintf(cause, "cannot read the header: %s", why);
		free(why);
		return (-1);
	}
	*json = image_info_json(image);
	g_object_unref(image);
	return (0);
}

/*
 * Load the input as it is, for a recipe whose first step is not a loader.
 * Sequential access: every step streams top to bottom.
 */
int
image_job_load(struct image_job *job)
{
	if (job->image != NULL)
		return (0);
	job->image = vips_image_new_from_buffer(job->in, job->inlen,
	    "fail_on=truncated", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
	if (job->image == NULL) {
		char	*why = image_error();

		job_error_set(&job->error, ERROR_DECODE, 0,
		    "cannot decode '%s': %s", job->in_name, why);
		free(why);
		return (-1);
	}
	return (0);
}

/* Fail the job with the libvips error buffer as the reason for what. */
void
image_job_fail(struct image_job *job, enum error_class cls, const char *what)
{
	char	*why = image_error();

	job_error_set(&job->error, cls, 0, "cannot %s '%s': %s", what,
	    job->in_name, why);
	free(why);
}

/* Release what a run left in the job, keeping nothing. */
void
image_job_clear(struct image_job *job)
{
	if (job->image != NULL)
		g_object_unref(job->image);
	job->image = NULL;
	g_free(job->out);
	job->out = NULL;
	job->outlen = 0;
	FREE_NULL(job->info);
	job_error_clear(&job->error);
}
