/*
 * Outputs in folders: written under a temporary name in the final folder,
 * flushed, then renamed, so a reader or a crash never sees half a file and
 * a retry replaces rather than duplicates. Output names come from
 * template_expand, which keeps them inside the recipe's output root.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "banned.h"

/*
 * Store bytes at path, creating its folders; on failure fills err. Full
 * disks and I/O errors are transient; permissions and names that cannot
 * work (a file where a folder should be) are not.
 */
int
store_file_put(const char *path, const void *data, size_t len,
    struct job_error *err)
{
	char	*dir, *slash, *cause;
	int	 transient;

	slash = strrchr(path, '/');
	if (slash != NULL && slash != path) {
		dir = xstrndup(path, slash - path);
		if (mkdir_parents(dir, 0755) == -1) {
			transient = !(errno == EACCES || errno == EPERM ||
			    errno == EROFS || errno == ENOTDIR);
			job_error_set(err, ERROR_STORAGE, transient,
			    "cannot create folder '%s': %s", dir,
			    strerror(errno));
			free(dir);
			return (-1);
		}
		free(dir);
	}
	if (write_file_atomic(path, data, len, &cause) != 0) {
		transient = !(errno == EACCES || errno == EPERM ||
		    errno == EROFS || errno == ENAMETOOLONG ||
		    errno == ENOTDIR || errno == EISDIR);
		job_error_set(err, ERROR_STORAGE, transient, "%s", cause);
		free(cause);
		return (-1);
	}
	return (0);
}
