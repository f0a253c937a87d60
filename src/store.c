/*
 * Storing an output: one function per kind of output (dir:, s3:), chosen
 * by the recipe's output template, so workers need not know where outputs
 * go.
 */
#include "config.h"

#include "objwatch.h"
#include "banned.h"

/* Store an output at location, a name its recipe's template made. */
int
store_put(const struct recipe *r, const char *location, const void *data,
    size_t len, const char *mime, struct job_error *err)
{
	(void)mime;	/* files carry no content type */
	switch (r->output_kind) {
	case OUTPUT_DIR:
		return (store_file_put(location, data, len, err));
	case OUTPUT_S3:
		break;
	}
	job_error_set(err, ERROR_CONFIG, 0, "recipe '%s': this build cannot "
	    "store outputs of its kind", r->name);
	return (-1);
}
