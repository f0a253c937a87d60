/*
 * Fetching an object's bytes for a job: one function per kind of source,
 * chosen by the source's type, so workers need not know where bytes live.
 */
#include "config.h"

#include "objwatch.h"
#include "banned.h"

/* Read the bytes of the object version a job was queued for. */
int
source_fetch(const struct source *src, const struct claimed_job *job,
    void **data, size_t *len, struct job_error *err)
{
	switch (src->type) {
	case SOURCE_DIR:
		return (dir_fetch(src, job, data, len, err));
	case SOURCE_S3:
		return (s3_fetch(src, job, data, len, err));
	}
	job_error_set(err, ERROR_CONFIG, 0, "source '%s': this build cannot "
	    "fetch from its type", src->name);
	return (-1);
}
