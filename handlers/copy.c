/*
 * copy: the input as it is, to any output.
 *
 *	steps = copy gzip=yes level=6
 *	output = s3:archive/{key}.{ext}
 *
 * The only step of its recipe, since it decodes nothing: the worker runs
 * it by its kind (src/worker.c), streaming the object through src/copy.c
 * in pieces, so a file of any size costs a piece of memory. With gzip=yes
 * the bytes are deflated on the way into a gzip file (level 1 to 9, 6 by
 * default). This file is what the recipe parser sees: the parameters,
 * checked once when the config loads.
 */
#include "config.h"

#include <stdlib.h>

#include "objwatch.h"
#include "banned.h"

struct copy_spec {
	int	 gzip;
	int	 level;
};

static int
copy_step_parse(struct step *st, char **cause)
{
	struct copy_spec	*cs;

	cs = xcalloc(1, sizeof *cs);
	if (step_arg_bool(st, "gzip", 0, &cs->gzip, cause) != 0 ||
	    step_arg_int(st, "level", 1, 9, 6, &cs->level, cause) != 0) {
		free(cs);
		return (-1);
	}
	if (!cs->gzip && step_arg(st, "level") != NULL) {
		xasprintf(cause, "parameter 'level' is the gzip level: it "
		    "needs gzip=yes");
		free(cs);
		return (-1);
	}
	st->data = cs;
	return (0);
}

static int
copy_step_run(const struct step *st, struct image_job *job)
{
	(void)st;
	job_error_set(&job->error, ERROR_CONFIG, 0, "'%s': the copy step "
	    "streams the input to its output and runs in the worker, not on "
	    "an image", job->in_name);
	return (-1);
}

/* Whether a copy step's output is gzip, and at which level (0: none). */
int
copy_gzip_level(const void *data)
{
	const struct copy_spec	*cs = data;

	return (cs->gzip ? cs->level : 0);
}

const struct handler handler_copy = {
	.name = "copy",
	.usage = "gzip, level",
	.flags = HANDLER_COPY,
	.parse = copy_step_parse,
	.run = copy_step_run,
	.free = free,
};
