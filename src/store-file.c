/*
 * Outputs in folders: written under a temporary name in the final folder,
 * flushed, then renamed, so a reader or a crash never sees half a file and
 * a retry replaces rather than duplicates. Output names come from
 * template_expand, which keeps them inside the recipe's output root.
 *
 * An output's location is text (it is recorded in PostgreSQL), made from
 * the input's key. A dir source's key stands for a file name of any bytes
 * (key_from_name), so the file of such an output is named with those bytes
 * again: the input "caf\xe9.jpg" has the key "caf<U+EFE9>.jpg", and its
 * output, recorded under a location made of that key, is written to disk
 * as "caf\xe9.jpg".
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "banned.h"

/*
 * The file a dir output's location names, for an input from src: the
 * recipe's output root as configured, then the rest with a dir source's
 * stray bytes put back (name_from_key).
 */
char *
store_file_path(const struct recipe *r, const struct source *src,
    const char *location)
{
	const char	*rest = location;
	char		*name, *path;
	size_t		 len;

	if (src->type != SOURCE_DIR)
		return (xstrdup(location));
	len = r->output_root == NULL ? 0 : strlen(r->output_root);
	if (len > 0 && strncmp(location, r->output_root, len) == 0)
		rest = location + len;
	name = name_from_key(rest);
	xasprintf(&path, "%.*s%s", (int)(rest - location), location, name);
	free(name);
	return (path);
}

/*
 * How a job whose output could not be written goes on, by errno: a full
 * disk or quota is the disk's state, not the job's fault, and heals when
 * space is freed, so the job waits (no attempt counted); other I/O errors
 * are retried; permissions and names that cannot work (a file where a
 * folder should be) fail until someone changes them.
 */
static int
store_file_how(int e)
{
	if (e == ENOSPC || e == EDQUOT)
		return (JOB_WAIT);
	if (e == EACCES || e == EPERM || e == EROFS || e == ENAMETOOLONG ||
	    e == ENOTDIR || e == EISDIR || e == EEXIST)
		return (JOB_PERMANENT);
	return (JOB_RETRY);
}

/* Store bytes at path, creating its folders; on failure fills err. */
int
store_file_put(const char *path, const void *data, size_t len,
    struct job_error *err)
{
	char	*dir, *slash, *cause;

	slash = strrchr(path, '/');
	if (slash != NULL && slash != path) {
		dir = xstrndup(path, slash - path);
		if (mkdir_parents(dir, 0755) == -1) {
			job_error_set(err, ERROR_STORAGE, store_file_how(errno),
			    "cannot create folder '%s': %s%s", dir,
			    strerror(errno), store_file_how(errno) == JOB_WAIT ?
			    "; waiting for space" : "");
			free(dir);
			return (-1);
		}
		free(dir);
	}
	if (write_file_atomic(path, data, len, &cause) != 0) {
		job_error_set(err, ERROR_STORAGE, store_file_how(errno),
		    "%s%s", cause, store_file_how(errno) == JOB_WAIT ?
		    "; waiting for space" : "");
		free(cause);
		return (-1);
	}
	return (0);
}
