/*
 * Storing an output: one function per kind of output (dir:, s3:), chosen
 * by the recipe's output template, so workers need not know where outputs
 * go.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "banned.h"

/*
 * Store an output at location, a name its recipe's template made; src is
 * where the input came from (S3 outputs carry its name as metadata, files
 * take back the bytes of a dir source's names).
 */
int
store_put(const struct recipe *r, const char *location, const void *data,
    size_t len, const char *mime, const struct source *src,
    struct job_error *err)
{
	char		*path;
	int		 rc;

	switch (r->output_kind) {
	case OUTPUT_DIR:
		/* files carry no content type */
		path = store_file_path(r, src, location);
		rc = store_file_put(path, data, len, err);
		free(path);
		return (rc);
	case OUTPUT_S3:
		/*
		 * location is s3:BUCKET/KEY: config_s3_output keeps the
		 * bucket free of fields, and template_expand copies the
		 * fixed part as written, then one '/' (path_join).
		 */
		return (s3_put(r->output_via, r->output_bucket, location + 3 +
		    strlen(r->output_bucket) + 1, data, len, mime, src->name,
		    err));
	case OUTPUT_TABLE:
		/* rows are written by the lines runner, not as one output */
		break;
	}
	job_error_set(err, ERROR_CONFIG, 0, "recipe '%s': this build cannot "
	    "store outputs of its kind", r->name);
	return (-1);
}
