/*
 * Fetching an object's bytes for a job: one function per kind of source,
 * chosen by the source's type, so workers need not know where bytes live:
 * files are read by fetch-file.c, objects in buckets by s3.c, and neither
 * reaches the threads that watch a source. A job of a recipe chained after
 * another (after =) reads that recipe's output instead, from wherever it
 * was stored: fetch_output.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "banned.h"

/* Read the bytes of the object version a job was queued for. */
int
source_fetch(const struct source *src, const struct claimed_job *job,
    void **data, size_t *len, struct job_error *err)
{
	/* config.c takes no type but dir and s3 (source_types). */
	if (src->type == SOURCE_S3)
		return (s3_fetch(src, job, data, len, err));
	return (fetch_file(src, job, data, len, err));
}

/*
 * Read a chained job's input: the output of the recipe r follows, at the
 * location its job recorded (job->input_location), a file under that
 * recipe's output root or an object of its output bucket.
 */
int
fetch_output(const struct recipe *r, const struct source *src,
    const struct claimed_job *job, void **data, size_t *len,
    struct job_error *err)
{
	const struct recipe	*up = r->after;
	const char		*loc = job->input_location;
	struct job_error	 e;
	char			*etag = NULL, *loop = NULL;
	size_t			 blen;
	int			 rc;

	if (up == NULL) {
		job_error_set(err, ERROR_CONFIG, 0, "recipe '%s' no longer "
		    "follows a recipe (after =), and its input was the output "
		    "'%s' of job %" PRId64, r->name, loc, job->parent_job_id);
		return (-1);
	}
	if (up->output_kind == OUTPUT_DIR)
		return (fetch_file_output(up, src, loc, data, len, err));
	if (up->output_kind != OUTPUT_S3 || up->output_via == NULL) {
		job_error_set(err, ERROR_CONFIG, 0, "recipe '%s' writes no "
		    "output that recipe '%s' can read", up->name, r->name);
		return (-1);
	}
	blen = 3 + strlen(up->output_bucket);
	if (strncmp(loc, up->output_root, strlen(up->output_root)) != 0 ||
	    loc[blen] != '/') {
		job_error_set(err, ERROR_CONFIG, 0, "input '%s' is not under "
		    "the output root '%s' of recipe '%s'", loc,
		    up->output_root, up->name);
		return (-1);
	}
	rc = s3_get_from(up->output_via, up->output_bucket, loc + blen + 1,
	    r->max_input_bytes > 0 ? (uint64_t)r->max_input_bytes : 0, data,
	    len, &etag, &loop, err);
	if (rc != 0 && err->msg != NULL) {
		/* say whose output it was */
		e = *err;
		memset(err, 0, sizeof *err);
		job_error_set(err, e.cls, e.transient, "'%s', the output of "
		    "recipe '%s' this recipe follows: %s", loc, up->name, e.msg);
		job_error_clear(&e);
	}
	free(etag);
	free(loop);
	return (rc);
}
