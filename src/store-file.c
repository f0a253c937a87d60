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
 *
 * A copy writes its file in pieces: store_file_begin, writes of its own,
 * store_file_flush, and store_file_commit once it has checked what it
 * wrote, or store_file_discard.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/*
 * Start writing the file at path in pieces (a copy): its folders made, a
 * temporary file of its own (path_temp) opened for reading back too.
 * Returns 0 with *tmp and *fd, or -1 with err set.
 */
int
store_file_begin(const char *path, char **tmp, int *fd,
    struct job_error *err)
{
	struct stat	 st;
	char		*dir, *slash, *t;
	int		 f;

	/* Never rename over a device, a fifo or a folder: only files. */
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		job_error_set(err, ERROR_STORAGE, JOB_PERMANENT, "'%s' exists "
		    "and is not a regular file; not replacing it", path);
		return (-1);
	}
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
	t = path_temp(path);
	f = open(t, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (f == -1 && errno == EEXIST && unlink(t) == 0)
		f = open(t, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		    0644);
	if (f == -1) {
		job_error_set(err, ERROR_STORAGE, store_file_how(errno),
		    "cannot create '%s': %s%s", t, strerror(errno),
		    store_file_how(errno) == JOB_WAIT ? "; waiting for space" :
		    "");
		free(t);
		return (-1);
	}
	*tmp = t;
	*fd = f;
	return (0);
}

/* Set a job error for a write to a file begun by store_file_begin. */
void
store_file_error(struct job_error *err, const char *tmp, const char *what,
    int e)
{
	job_error_set(err, ERROR_STORAGE, store_file_how(e), "cannot %s '%s': "
	    "%s%s", what, tmp, strerror(e), store_file_how(e) == JOB_WAIT ?
	    "; waiting for space" : "");
}

/* Flush a file begun by store_file_begin to the disk, fd still open. */
int
store_file_flush(const char *tmp, int fd, struct job_error *err)
{
	if (fchmod(fd, 0644) == -1 || fsync(fd) == -1) {
		store_file_error(err, tmp, "flush", errno);
		return (-1);
	}
	return (0);
}

/*
 * Give a flushed file its name: renamed over path, and the folder
 * flushed, so the name survives a crash. Closes fd whatever happens.
 */
int
store_file_commit(const char *tmp, const char *path, int fd,
    struct job_error *err)
{
	char	*dir;
	int	 dfd;

	close(fd);
	if (rename(tmp, path) == -1) {
		job_error_set(err, ERROR_STORAGE, store_file_how(errno),
		    "cannot rename '%s' to '%s': %s", tmp, path,
		    strerror(errno));
		unlink(tmp);
		return (-1);
	}
	dir = strrchr(path, '/') == NULL ? xstrdup(".") : xstrndup(path,
	    strrchr(path, '/') - path);
	if ((dfd = open(*dir == '\0' ? "/" : dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) != -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	free(dir);
	return (0);
}

/* Drop a file begun by store_file_begin that will not be committed. */
void
store_file_discard(const char *tmp, int fd)
{
	close(fd);
	unlink(tmp);
}
