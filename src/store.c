/*
 * Storing an output: one function per kind of output (dir:, s3:), chosen
 * by the recipe's output template, so workers need not know where outputs
 * go.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/*
 * Remove location if it lies under r's output root, or under that of a
 * recipe chained after r: 1 removed, 0 not r's, -1 with *cause.
 */
static int
store_remove_under(const struct recipe *r, const struct source *src,
    const char *location, char **cause)
{
	size_t	 i, rootlen;
	char	*path;
	int	 rc;

	for (i = 0; i < r->nnext; i++) {
		if ((rc = store_remove_under(r->next[i], src, location,
		    cause)) != 0)
			return (rc);
	}
	if (r->output_root == NULL || r->output_kind == OUTPUT_TABLE)
		return (0);
	rootlen = strlen(r->output_root);
	/* strictly inside the root, at a '/' or the root's own end */
	if (strncmp(location, r->output_root, rootlen) != 0 ||
	    location[rootlen] == '\0' ||
	    (r->output_root[rootlen - 1] != '/' && location[rootlen] != '/'))
		return (0);
	if (r->output_kind == OUTPUT_S3)
		return (s3_delete(r->output_via, r->output_bucket,
		    location + 3 + strlen(r->output_bucket) + 1, cause) == 0 ?
		    1 : -1);
	path = store_file_path(r, src, location);
	if (unlink(path) == -1 && errno != ENOENT) {
		xasprintf(cause, "cannot remove '%s': %s", path,
		    strerror(errno));
		free(path);
		return (-1);
	}
	free(path);
	return (1);
}

/*
 * Remove an output of one of src's recipes, or of a recipe chained after
 * one, at location as recorded, when its object was deleted (on_delete =
 * remove): a file under the recipe's output root, or an object of its
 * output bucket. A location that no such recipe writes is left alone.
 * Returns 1 when removed (or gone already), 0 when left alone, -1 with
 * *cause on failure.
 */
int
store_remove(const struct source *src, const char *location, char **cause)
{
	size_t	 i;
	int	 rc;

	for (i = 0; i < src->nrecipes; i++) {
		if ((rc = store_remove_under(src->recipes[i], src, location,
		    cause)) != 0)
			return (rc);
	}
	return (0);
}

/*
 * Remove the outputs of objects just marked deleted, saying in the log
 * what could not be; returns how many were removed.
 */
size_t
store_remove_all(const struct source *src, const struct strv *locations)
{
	size_t	 i, removed = 0;
	char	*cause;
	int	 rc;

	for (i = 0; i < locations->n; i++) {
		if ((rc = store_remove(src, locations->v[i], &cause)) == 1)
			removed++;
		else if (rc == -1) {
			log_warnx("source '%s': cannot remove output '%s': %s",
			    src->name, locations->v[i], cause);
			free(cause);
		}
	}
	return (removed);
}
