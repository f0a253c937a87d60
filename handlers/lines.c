/*
 * lines: text lines into rows of a PostgreSQL table.
 *
 *	steps = lines format=nginx
 *	output = table:access_log
 *
 * The only step of its recipe, since it decodes no image: the worker runs
 * it by its kind (src/worker.c), splitting the object into lines
 * (src/linesplit.c), parsing each into a row (src/lineparse.c) and
 * loading the rows with COPY in the job's own transaction (src/table.c).
 * This file is what the recipe parser sees: the parameters, checked once
 * when the config loads, so a mistake is reported with its line by
 * `objwatch check` rather than by every job.
 */
#include "config.h"

#include <stdlib.h>

#include "objwatch.h"
#include "banned.h"

static int
lines_run(const struct step *st, struct image_job *job)
{
	(void)st;
	job_error_set(&job->error, ERROR_CONFIG, 0, "'%s': the lines step "
	    "loads a table and runs in the worker, not on an image",
	    job->in_name);
	return (-1);
}

static void
lines_free(void *data)
{
	lines_spec_free(data);
}

const struct handler handler_lines = {
	.name = "lines",
	.usage = "format, columns, pattern, header, delimiter, quote, "
	    "comment, time_format, time_format.COLUMN, default.COLUMN, "
	    "from.COLUMN, keep_if, drop_if, max_line, max_rejects, follow",
	.flags = HANDLER_LINES,
	.parse = lines_spec_parse,
	.run = lines_run,
	.free = lines_free,
};
