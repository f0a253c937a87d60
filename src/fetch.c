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
 * The key in up's output bucket of a chained job's input loc, or NULL
 * with err set when loc is not under up's output root.
 */
static const char *
fetch_output_key(const struct recipe *up, const char *loc,
    struct job_error *err)
{
	size_t	 blen = 3 + strlen(up->output_bucket);

	if (strncmp(loc, up->output_root, strlen(up->output_root)) != 0 ||
	    loc[blen] != '/') {
		job_error_set(err, ERROR_CONFIG, 0, "input '%s' is not under "
		    "the output root '%s' of recipe '%s'", loc,
		    up->output_root, up->name);
		return (NULL);
	}
	return (loc + blen + 1);
}

/* Say in err whose output a chained job's input was. */
static void
fetch_output_blame(const struct recipe *up, const char *loc,
    struct job_error *err)
{
	struct job_error	 e;

	if (err->msg == NULL)
		return;
	e = *err;
	memset(err, 0, sizeof *err);
	job_error_set(err, e.cls, e.transient, "'%s', the output of recipe "
	    "'%s' this recipe follows: %s", loc, up->name, e.msg);
	job_error_clear(&e);
}

/* The recipe a chained job's recipe r follows, or NULL with err set. */
static const struct recipe *
fetch_output_up(const struct recipe *r, const struct claimed_job *job,
    struct job_error *err)
{
	const struct recipe	*up = r->after;

	if (up == NULL) {
		job_error_set(err, ERROR_CONFIG, 0, "recipe '%s' no longer "
		    "follows a recipe (after =), and its input was the output "
		    "'%s' of job %" PRId64, r->name, job->input_location,
		    job->parent_job_id);
		return (NULL);
	}
	if (up->output_kind != OUTPUT_DIR && (up->output_kind != OUTPUT_S3 ||
	    up->output_via == NULL)) {
		job_error_set(err, ERROR_CONFIG, 0, "recipe '%s' writes no "
		    "output that recipe '%s' can read", up->name, r->name);
		return (NULL);
	}
	return (up);
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
	const struct recipe	*up;
	const char		*loc = job->input_location, *key;
	char			*etag = NULL, *loop = NULL;
	int			 rc;

	if ((up = fetch_output_up(r, job, err)) == NULL)
		return (-1);
	if (up->output_kind == OUTPUT_DIR)
		return (fetch_file_output(up, src, loc, data, len, err));
	if ((key = fetch_output_key(up, loc, err)) == NULL)
		return (-1);
	rc = s3_get_from(up->output_via, up->output_bucket, key,
	    r->max_input_bytes > 0 ? (uint64_t)r->max_input_bytes : 0, data,
	    len, &etag, &loop, err);
	if (rc != 0)
		fetch_output_blame(up, loc, err);
	free(etag);
	free(loop);
	return (rc);
}

/*
 * A chained job's input as a file to stream: the upstream's file itself
 * opened (*fd, to close), or its object in a bucket written into spool
 * (an empty temporary file the caller owns, then *fd = spool). *len is
 * its size.
 */
int
fetch_output_fd(const struct recipe *r, const struct source *src,
    const struct claimed_job *job, int spool, int *fd, uint64_t *len,
    struct job_error *err)
{
	const struct recipe	*up;
	const char		*loc = job->input_location, *key;
	char			*etag = NULL, *loop = NULL;
	size_t			 size;
	int			 rc;

	if ((up = fetch_output_up(r, job, err)) == NULL)
		return (-1);
	if (up->output_kind == OUTPUT_DIR) {
		if (fetch_file_output_fd(up, src, loc, fd, &size, err) != 0)
			return (-1);
		*len = size;
		return (0);
	}
	if ((key = fetch_output_key(up, loc, err)) == NULL)
		return (-1);
	rc = s3_get_fd_from(up->output_via, up->output_bucket, key,
	    r->max_input_bytes > 0 ? (uint64_t)r->max_input_bytes : 0, spool,
	    len, &etag, &loop, err);
	if (rc != 0)
		fetch_output_blame(up, loc, err);
	else
		*fd = spool;
	free(etag);
	free(loop);
	return (rc);
}
