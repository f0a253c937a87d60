/*
 * Recipes: the step language and the runner.
 *
 *	steps = thumbnail width=256 height=256 | save format=webp quality=80
 *
 * Steps are separated by '|' outside quotes; each is a handler name and
 * key=value parameters, where a value may be "double quoted" (with \" and
 * \\ escapes) or 'single quoted'. Each handler parses its own parameters
 * (handlers/); whatever a handler did not consume is an error, so a typo
 * never silently does nothing.
 *
 * The recipe hash is taken over a canonical form (step names and sorted
 * parameters), so reformatting a recipe does not reprocess anything but
 * changing what it does does.
 */
#include "config.h"

#include <ctype.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>
#include <vips/vector.h>

#include "objwatch.h"
#include "banned.h"

static void
step_clear(struct step *st)
{
	size_t	 i;

	if (st->handler != NULL && st->handler->free != NULL &&
	    st->data != NULL)
		st->handler->free(st->data);
	for (i = 0; i < st->nargs; i++) {
		free(st->args[i].key);
		free(st->args[i].value);
	}
	free(st->args);
	memset(st, 0, sizeof *st);
}

/* Free a recipe's parsed steps. */
void
recipe_free_steps(struct recipe *r)
{
	size_t	 i;

	for (i = 0; i < r->nsteps; i++)
		step_clear(&r->steps[i]);
	free(r->steps);
	r->steps = NULL;
	r->nsteps = 0;
}

/* Read one word or quoted value; *pp is left after it. */
static char *
recipe_word(const char **pp, int stop_at_equals, char **cause)
{
	const char	*p = *pp;
	char		*out, *o;
	char		 quote;

	out = o = xmalloc(strlen(p) + 1);
	while (*p != '\0' && !isspace((unsigned char)*p) && *p != '|' &&
	    !(stop_at_equals && *p == '=')) {
		if (*p == '"' || *p == '\'') {
			quote = *p++;
			while (*p != '\0' && *p != quote) {
				if (quote == '"' && *p == '\\' &&
				    p[1] != '\0')
					p++;
				*o++ = *p++;
			}
			if (*p != quote) {
				xasprintf(cause, "unterminated %s quote",
				    quote == '"' ? "double" : "single");
				free(out);
				return (NULL);
			}
			p++;
			continue;
		}
		*o++ = *p++;
	}
	*o = '\0';
	*pp = p;
	return (out);
}

static int
recipe_parse_one(const char **pp, struct step *st, char **cause)
{
	const char	*p = *pp;
	char		*name, *key, *value, *why;

	while (isspace((unsigned char)*p))
		p++;
	if ((name = recipe_word(&p, 0, &why)) == NULL) {
		xasprintf(cause, "%s", why);
		free(why);
		return (-1);
	}
	if (*name == '\0') {
		xasprintf(cause, "empty step (two '|' in a row, or a '|' at "
		    "an end)");
		free(name);
		return (-1);
	}
	if ((st->handler = handler_find(name)) == NULL) {
		xasprintf(cause, "unknown step '%s' (expected one of: %s)",
		    name, handler_names());
		free(name);
		return (-1);
	}
	free(name);

	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == '|')
			break;
		if ((key = recipe_word(&p, 1, &why)) == NULL) {
			xasprintf(cause, "step '%s': %s", st->handler->name,
			    why);
			free(why);
			return (-1);
		}
		if (*p != '=' || *key == '\0') {
			xasprintf(cause, "step '%s': expected key=value, not "
			    "'%s'", st->handler->name, key);
			free(key);
			return (-1);
		}
		p++;
		if ((value = recipe_word(&p, 0, &why)) == NULL) {
			xasprintf(cause, "step '%s': parameter '%s': %s",
			    st->handler->name, key, why);
			free(why);
			free(key);
			return (-1);
		}
		if (step_arg(st, key) != NULL) {
			xasprintf(cause, "step '%s': parameter '%s' is given "
			    "twice", st->handler->name, key);
			free(key);
			free(value);
			return (-1);
		}
		st->args = xreallocarray(st->args, st->nargs + 1,
		    sizeof *st->args);
		st->args[st->nargs].key = key;
		st->args[st->nargs].value = value;
		st->args[st->nargs].used = 0;
		st->nargs++;
	}
	*pp = p;
	return (0);
}

static int
arg_compare(const void *a, const void *b)
{
	const struct step_arg	*x = a, *y = b;

	return (strcmp(x->key, y->key));
}

/* The canonical text of the steps: names and sorted parameters. */
static char *
recipe_canonical(const struct recipe *r)
{
	struct step_arg	*sorted;
	char		*out = xstrdup(""), *next;
	size_t		 i, j;

	for (i = 0; i < r->nsteps; i++) {
		xasprintf(&next, "%s%s%s", out, i ? " | " : "",
		    r->steps[i].handler->name);
		free(out);
		out = next;
		if (r->steps[i].nargs == 0)
			continue;
		sorted = xcalloc(r->steps[i].nargs, sizeof *sorted);
		memcpy(sorted, r->steps[i].args,
		    r->steps[i].nargs * sizeof *sorted);
		qsort(sorted, r->steps[i].nargs, sizeof *sorted, arg_compare);
		for (j = 0; j < r->steps[i].nargs; j++) {
			xasprintf(&next, "%s %s=\"%s\"", out, sorted[j].key,
			    sorted[j].value);
			free(out);
			out = next;
		}
		free(sorted);
	}
	return (out);
}

/*
 * Fold the hash of the recipe a chained recipe follows into its own, so
 * that a change upstream is a change of every recipe after it: their
 * outputs are made from the upstream's.
 */
void
recipe_chain_hash(struct recipe *r, const char *upstream)
{
	char	*text, *sum;

	xasprintf(&text, "after %s\n%s", upstream, r->hash);
	sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, text, -1);
	memcpy(r->hash, sum, 16);
	r->hash[16] = '\0';
	g_free(sum);
	free(text);
}

/*
 * Parse r->steps_text into r->steps and compute r->hash. On error the
 * message names the recipe, the step and the parameter.
 */
int
recipe_parse_steps(struct recipe *r, char **cause)
{
	const char	*p = r->steps_text;
	struct step	*st;
	char		*why, *canon, *sum;
	size_t		 i;

	recipe_free_steps(r);
	for (;;) {
		r->steps = xreallocarray(r->steps, r->nsteps + 1,
		    sizeof *r->steps);
		st = &r->steps[r->nsteps];
		memset(st, 0, sizeof *st);
		st->dir = r->dir;
		r->nsteps++;
		if (recipe_parse_one(&p, st, &why) != 0)
			goto fail;
		if (*p == '\0')
			break;
		p++;	/* the '|' */
	}

	for (i = 0; i < r->nsteps; i++) {
		st = &r->steps[i];
		if (st->handler->parse(st, &why) != 0) {
			/* A typo explains more than what it left missing. */
			char	*unknown;

			if (step_check_unused(st, &unknown) != 0) {
				free(why);
				why = unknown;
			}
			goto fail_step;
		}
		if (step_check_unused(st, &why) != 0)
			goto fail_step;
		if ((st->handler->flags & (HANDLER_COPY | HANDLER_LINES)) &&
		    r->nsteps != 1) {
			xasprintf(&why, "must be the only step: it does not "
			    "decode images (make a recipe of its own for it)");
			goto fail_step;
		}
		if ((st->handler->flags & HANDLER_ALONE) && r->nsteps != 1) {
			xasprintf(&why, "must be the only step: it records "
			    "what the image is and writes no output (make a "
			    "recipe of its own for it)");
			goto fail_step;
		}
		if ((st->handler->flags & HANDLER_LOADS) && i != 0) {
			xasprintf(&why, "must be the first step: it loads the "
			    "image, shrinking while it decodes");
			goto fail_step;
		}
		if ((st->handler->flags & HANDLER_SAVES) &&
		    i != r->nsteps - 1) {
			xasprintf(&why, "must be the last step");
			goto fail_step;
		}
	}
	r->kind = RECIPE_IMAGE;
	if (r->steps[0].handler->flags & HANDLER_COPY)
		r->kind = RECIPE_COPY;
	else if (r->steps[0].handler->flags & HANDLER_LINES)
		r->kind = RECIPE_LINES;
	r->writes = !(r->steps[0].handler->flags & HANDLER_ALONE);
	if (r->writes && r->kind == RECIPE_IMAGE &&
	    !(r->steps[r->nsteps - 1].handler->flags & HANDLER_SAVES)) {
		xasprintf(cause, "recipe '%s': the last step must be 'save' "
		    "(for example: save format=jpeg quality=80), or the only step "
		    "'info'", r->name);
		recipe_free_steps(r);
		return (-1);
	}

	canon = recipe_canonical(r);
	sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, canon, -1);
	memcpy(r->hash, sum, 16);
	r->hash[16] = '\0';
	g_free(sum);
	free(canon);
	return (0);

fail_step:
	xasprintf(cause, "recipe '%s': step '%s': %s", r->name,
	    st->handler->name, why);
	free(why);
	recipe_free_steps(r);
	return (-1);

fail:
	xasprintf(cause, "recipe '%s': %s", r->name, why);
	free(why);
	recipe_free_steps(r);
	return (-1);
}

/* Set up libvips for untrusted input; once, before any thread starts. */
void
images_init(const char *argv0)
{
	/*
	 * glibc gives every thread that allocates its own arena, and libvips
	 * starts threads per pipeline: with large images the arenas keep
	 * their peaks apart. Two are enough (MALLOC_ARENA_MAX overrides).
	 */
	if (getenv("MALLOC_ARENA_MAX") == NULL)
		mallopt(M_ARENA_MAX, 2);
	if (VIPS_INIT(argv0) != 0)
		fatalx("cannot start libvips: %s", vips_error_buffer());
	/*
	 * The operation cache would hand back a stale header for a file
	 * replaced under the same name, and saves nothing for a stream of
	 * different images.
	 */
	vips_cache_set_max(0);
	/*
	 * No run-time generated vector code (Orc). liborc 0.4.33 frees and
	 * splits its code chunks without a lock, so two workers tearing down
	 * pipelines at the same moment corrupt the heap: two threads
	 * thumbnailing a small JPEG crash within seconds with it and never
	 * without. Compiling a program for each pipeline also costs more than
	 * it saves here: 6.9 ms against 4.3 ms per small thumbnail, and no
	 * difference on photographs.
	 */
	vips_vector_set_enabled(FALSE);
	/* PDF, SVG, PPM, ImageMagick and friends: too much attack surface. */
	vips_block_untrusted_set(TRUE);
	/* Answered once here, before threads: it encodes a test image. */
	(void)image_can_encode("avif");
}

/* Stop libvips, after every thread that used it is done. */
void
images_shutdown(void)
{
	vips_shutdown();
}

/* What libvips holds in pixel buffers now, and the most it ever held. */
void
images_memory(double *now, double *highwater)
{
	*now = (double)vips_tracked_get_mem();
	*highwater = (double)vips_tracked_get_mem_highwater();
}

/* The version of libvips this build runs with, "8.14.1". */
const char *
images_version(void)
{
	return (vips_version_string());
}

/*
 * The nickname of a loader class ("VipsForeignLoadJpegBuffer" gives
 * "jpegload_buffer") and whether libvips blocks it as untrusted.
 */
static const char *
image_loader_nickname(const char *class_name, int *blocked)
{
	GType		 type;
	gpointer	 cls;
	const char	*nickname;

	*blocked = 0;
	if ((type = g_type_from_name(class_name)) == 0)
		return (class_name);
	cls = g_type_class_ref(type);
	nickname = VIPS_OBJECT_CLASS(cls)->nickname;
	*blocked = (VIPS_OPERATION_CLASS(cls)->flags &
	    VIPS_OPERATION_BLOCKED) != 0;
	g_type_class_unref(cls);	/* static types live on */
	return (nickname);
}

/*
 * Admission by size alone, before the bytes are read where the size is
 * known (the worker) and again on the bytes themselves (recipe_run).
 */
int
recipe_admit_size(const struct recipe *r, const char *name, long long size,
    struct job_error *err)
{
	long long	 max_bytes;

	max_bytes = r->max_input_bytes > 0 ? r->max_input_bytes :
	    DEFAULT_MAX_INPUT_BYTES;
	if (size <= max_bytes)
		return (0);
	job_error_set(err, ERROR_LIMIT, 0, "'%s' is %lld bytes, over the "
	    "limit max_input_bytes = %lld of recipe '%s'; raise "
	    "max_input_bytes in [recipe.%s] or [objwatch] to accept it", name,
	    size, max_bytes, r->name, r->name);
	return (-1);
}

/*
 * Admission: read the header only (libvips loads lazily, so no pixel is
 * decoded here) and refuse what is over the recipe's limits before a
 * decoder allocates anything for it.
 */
static int
recipe_admit(const struct recipe *r, struct image_job *job)
{
	VipsImage	*hdr;
	long long	 max_pixels, pixels;

	hdr = vips_image_new_from_buffer(job->in, job->inlen, "",
	    "access", VIPS_ACCESS_SEQUENTIAL, NULL);
	if (hdr == NULL) {
		image_job_fail(job, ERROR_DECODE, "read the header of");
		return (-1);
	}
	job->in_width = hdr->Xsize;
	job->in_height = vips_image_get_page_height(hdr);
	job->in_pages = vips_image_get_n_pages(hdr);
	job->in_orientation = vips_image_get_orientation(hdr);
	g_object_unref(hdr);

	max_pixels = r->max_pixels > 0 ? r->max_pixels : DEFAULT_MAX_PIXELS;
	pixels = (long long)job->in_width * job->in_height;
	if (pixels > max_pixels) {
		job_error_set(&job->error, ERROR_LIMIT, 0, "'%s' is %lld "
		    "pixels (%dx%d), over the limit max_pixels = %lld of "
		    "recipe '%s'; raise max_pixels in [recipe.%s] or "
		    "[objwatch] to accept it", job->in_name, pixels,
		    job->in_width, job->in_height, max_pixels, r->name,
		    r->name);
		return (-1);
	}
	return (0);
}

/*
 * Run a recipe on the bytes in job->in. On success job->out holds the
 * encoded output; on failure job->error says why and 0 is never returned.
 */
int
recipe_run(const struct recipe *r, struct image_job *job)
{
	const char	*loader, *what;
	size_t		 i;
	int		 blocked;

	job->recipe = r->name;
	job->max_pages = r->max_pages > 0 ? r->max_pages : DEFAULT_MAX_PAGES;
	if (recipe_admit_size(r, job->in_name, job->inlen, &job->error) != 0)
		return (-1);
	if (job->inlen == 0) {
		job_error_set(&job->error, ERROR_DECODE, 0, "'%s' is empty "
		    "(0 bytes)", job->in_name);
		return (-1);
	}
	if ((loader = vips_foreign_find_load_buffer(job->in,
	    job->inlen)) == NULL) {
		vips_error_clear();
		job_error_set(&job->error, ERROR_DECODE, 0, "'%s' is not an "
		    "image objwatch reads (JPEG, PNG, WebP, TIFF, GIF, HEIF "
		    "and AVIF are; PDF, SVG and others are blocked as "
		    "untrusted)", job->in_name);
		return (-1);
	}
	job->loader = image_loader_nickname(loader, &blocked);
	if (blocked) {
		job_error_set(&job->error, ERROR_LIMIT, 0, "'%s' needs the "
		    "loader '%s', which is blocked as untrusted (PDF, SVG, "
		    "PPM, ImageMagick and other loaders with a large attack "
		    "surface are)", job->in_name, job->loader);
		return (-1);
	}
	if (imgcheck_complete(job->in, job->inlen, &what) != 0) {
		job_error_set(&job->error, ERROR_DECODE, 0, "'%s' is "
		    "truncated: %s; it was cut short in transfer or is still "
		    "being written", job->in_name, what);
		return (-1);
	}
	if (recipe_admit(r, job) != 0)
		return (-1);
	for (i = 0; i < r->nsteps; i++) {
		if (!(r->steps[i].handler->flags & HANDLER_LOADS) &&
		    image_job_load(job) != 0)
			return (-1);
		if (r->steps[i].handler->run(&r->steps[i], job) != 0) {
			if (job->error.cls == ERROR_NONE)
				job_error_set(&job->error, ERROR_DECODE, 0,
				    "step '%s' failed on '%s'",
				    r->steps[i].handler->name, job->in_name);
			return (-1);
		}
	}
	return (0);
}

/*
 * Run a recipe over bytes already in memory: what a worker does with an
 * object it read and `objwatch process` with a file, so both give the same
 * bytes. The pipeline ends at save: the pixels are let go here, the
 * encoded output stays in job->out.
 */
int
recipe_run_bytes(const struct recipe *r, const void *data, size_t len,
    const char *name, struct image_job *job)
{
	memset(job, 0, sizeof *job);
	job->in = data;
	job->inlen = len;
	job->in_name = name;
	if (recipe_run(r, job) != 0)
		return (-1);
	if (job->image != NULL)
		g_object_unref(job->image);
	job->image = NULL;
	return (0);
}
