/*
 * info: what an image is, as JSON for objects.info, from its header only.
 *
 *	steps = info
 *
 * libvips reads the header lazily and decodes no pixel until asked, so
 * this costs a parse of the file's headers: cheap enough that the worker
 * records it for every object it handles (src/worker.c), whatever the
 * recipe. As a step of its own it makes a recipe with no output, whose job
 * refreshes objects.info. What it reads, and how, is src/image.c's
 * image_info, which the worker calls too.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "objwatch.h"
#include "banned.h"

static int
info_parse(struct step *st, char **cause)
{
	(void)st;
	(void)cause;
	return (0);
}

static int
info_run(const struct step *st, struct image_job *job)
{
	char	*cause;

	(void)st;
	if (image_info(job->in, job->inlen, &job->info, &cause) != 0) {
		job_error_set(&job->error, ERROR_DECODE, 0, "'%s': %s",
		    job->in_name, cause);
		free(cause);
		return (-1);
	}
	/* What `objwatch process` writes; the worker stores job->info. */
	job->outlen = strlen(job->info) + 1;
	job->out = g_malloc(job->outlen + 1);
	memcpy(job->out, job->info, job->outlen - 1);
	((char *)job->out)[job->outlen - 1] = '\n';
	((char *)job->out)[job->outlen] = '\0';
	job->width = job->in_width;
	job->height = job->in_height;
	job->format = "json";
	job->ext = "json";
	job->mime = "application/json";
	return (0);
}

const struct handler handler_info = {
	.name = "info",
	.usage = "no parameters",
	.flags = HANDLER_LOADS | HANDLER_ALONE,
	.parse = info_parse,
	.run = info_run,
	.free = NULL,
};
