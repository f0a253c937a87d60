/*
 * Fetching an object's bytes for a job: one function per kind of source,
 * chosen by the source's type, so workers need not know where bytes live:
 * files are read by fetch-file.c, objects in buckets by s3.c, and neither
 * reaches the threads that watch a source.
 */
#include "config.h"

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
