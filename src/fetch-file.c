/*
 * Reading a dir source's objects for jobs.
 *
 * A job names a key and the version its file had when it was queued: size,
 * mtime in nanoseconds and inode (fetch_file_version, the one format the
 * folder watcher records too). The worker reads the file here, by the key
 * turned back into the bytes of its name (fetch_file_path), and refuses it
 * when it is no longer that version: the new version has a job of its own.
 * A recipe chained after another reads that one's output file instead
 * (fetch_file_output): no version to check, but it must lie under the
 * upstream recipe's output root.
 * Nothing here touches the watcher (source-dir.c) or its inotify state.
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

/* The version string of a file: size:mtime_ns:inode. */
char *
fetch_file_version(const struct stat *st)
{
	char	*v;

	xasprintf(&v, "%lld:%lld:%llu", (long long)st->st_size,
	    (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec,
	    (unsigned long long)st->st_ino);
	return (v);
}

/* The path of a key in a dir source: the key's bytes back as on disk. */
char *
fetch_file_path(const struct source *src, const char *key)
{
	char	*name, *path;

	name = name_from_key(key);
	path = path_join(src->path, name);
	free(name);
	return (path);
}

/* Read all of an open file of st's size into *data. */
static int
fetch_file_read(int fd, const char *path, const struct stat *st,
    void **data, size_t *len, struct job_error *err)
{
	ssize_t	 n;
	size_t	 off = 0;

	*data = xmalloc(st->st_size + 1);
	while (off < (size_t)st->st_size) {
		n = read(fd, (char *)*data + off, st->st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			job_error_set(err, ERROR_IO, 1, "cannot read '%s': %s",
			    path, n == 0 ? "file shrank while being read" :
			    strerror(errno));
			FREE_NULL(*data);
			return (-1);
		}
		off += n;
	}
	*len = off;
	return (0);
}

/*
 * Whether a followed log is the file of version, grown since: the same
 * inode, no shorter. Its job loads it as it is now, and its next
 * version's job goes on from there.
 */
static int
fetch_file_grew(const char *version, const struct stat *st)
{
	const char	*ino = strrchr(version, ':');
	char		*end;
	long long	 size;

	size = strtoll(version, &end, 10);
	if (ino == NULL || *end != ':')
		return (0);
	return (strtoull(ino + 1, NULL, 10) == (unsigned long long)st->st_ino &&
	    st->st_size >= size);
}

/*
 * Open a job's file, checking it is still the version that was queued: a
 * file changed since has a job of its own for its new version (a followed
 * log that only grew is read as it is now). Returns the descriptor, its
 * stat in *st, or -1 with err set.
 */
static int
fetch_file_open(const struct source *src, const struct claimed_job *job,
    struct stat *st, char **pathp, struct job_error *err)
{
	char	*path, *now;
	int	 fd;

	path = fetch_file_path(src, job->key);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno == ENOENT)
			job_error_set(err, ERROR_IO, 0, "'%s' no longer exists "
			    "(deleted or renamed before it was processed)",
			    path);
		else
			job_error_set(err, ERROR_IO, errno != EACCES &&
			    errno != ELOOP, "cannot open '%s': %s", path,
			    strerror(errno));
		free(path);
		return (-1);
	}
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode)) {
		job_error_set(err, ERROR_IO, 0, "'%s' is not a regular file",
		    path);
		goto fail;
	}
	now = fetch_file_version(st);
	if (strcmp(now, job->version) != 0 &&
	    !(src->follow && fetch_file_grew(job->version, st))) {
		job_error_set(err, ERROR_IO, 0, "'%s' changed after it was "
		    "queued (version %s, now %s); the new version has its own "
		    "job", path, job->version, now);
		free(now);
		goto fail;
	}
	free(now);
	*pathp = path;
	return (fd);
fail:
	close(fd);
	free(path);
	return (-1);
}

/* Read a job's file whole, as fetch_file_open finds it. */
int
fetch_file(const struct source *src, const struct claimed_job *job,
    void **data, size_t *len, struct job_error *err)
{
	struct stat	 st;
	char		*path;
	int		 fd, rc;

	if ((fd = fetch_file_open(src, job, &st, &path, err)) == -1)
		return (-1);
	rc = fetch_file_read(fd, path, &st, data, len, err);
	close(fd);
	free(path);
	return (rc);
}

/*
 * Open a job's file for a reader that goes through it in pieces (a lines
 * job: a 1 GB log costs a piece of memory, not 1 GB). *len is its size
 * now; the caller closes *fd.
 */
int
fetch_file_fd(const struct source *src, const struct claimed_job *job,
    int *fd, size_t *len, struct job_error *err)
{
	struct stat	 st;
	char		*path;

	if ((*fd = fetch_file_open(src, job, &st, &path, err)) == -1)
		return (-1);
	(void)posix_fadvise(*fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	free(path);
	*len = st.st_size;
	return (0);
}

/* Whether a location names nothing outside root: no ".." component. */
static int
fetch_file_confined(const char *location, const char *root)
{
	size_t		 len = strlen(root);
	const char	*p;

	if (strncmp(location, root, len) != 0)
		return (0);
	for (p = location; (p = strstr(p, "..")) != NULL; p += 2) {
		if ((p == location || p[-1] == '/') &&
		    (p[2] == '/' || p[2] == '\0'))
			return (0);
	}
	return (1);
}

/*
 * Open a chained job's input, the output at location of recipe up in a
 * folder, confined to up's output root and never through a link: *fd and
 * *len on success.
 */
int
fetch_file_output_fd(const struct recipe *up, const struct source *src,
    const char *location, int *fdp, size_t *len, struct job_error *err)
{
	struct stat	 st;
	char		*path;
	int		 fd;

	if (up->output_root == NULL ||
	    !fetch_file_confined(location, up->output_root)) {
		job_error_set(err, ERROR_CONFIG, 0, "input '%s' is not under "
		    "the output root '%s' of recipe '%s'", location,
		    up->output_root == NULL ? "" : up->output_root, up->name);
		return (-1);
	}
	path = store_file_path(up, src, location);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno == ENOENT)
			job_error_set(err, ERROR_IO, 0, "'%s', the output of "
			    "recipe '%s' this recipe follows, no longer exists "
			    "(removed before it was read)", location, up->name);
		else
			job_error_set(err, ERROR_IO, errno != EACCES &&
			    errno != ELOOP, "cannot open '%s', the output of "
			    "recipe '%s': %s", location, up->name,
			    strerror(errno));
		free(path);
		return (-1);
	}
	free(path);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		job_error_set(err, ERROR_IO, 0, "'%s', the output of recipe "
		    "'%s', is not a regular file", location, up->name);
		close(fd);
		return (-1);
	}
	*fdp = fd;
	*len = (size_t)st.st_size;
	return (0);
}

/*
 * Read the file a dir: output of recipe up was written to, at location as
 * recorded, for the job of a recipe chained after it; src is the source
 * of the object both ran for (a dir source's names take their bytes
 * back). An output gone is a failure of class io that names it.
 */
int
fetch_file_output(const struct recipe *up, const struct source *src,
    const char *location, void **data, size_t *len, struct job_error *err)
{
	struct stat	 st;
	size_t		 size;
	int		 fd, rc;

	if (fetch_file_output_fd(up, src, location, &fd, &size, err) != 0)
		return (-1);
	if (fstat(fd, &st) == -1) {
		job_error_set(err, ERROR_IO, 1, "cannot stat '%s': %s",
		    location, strerror(errno));
		close(fd);
		return (-1);
	}
	rc = fetch_file_read(fd, location, &st, data, len, err);
	close(fd);
	return (rc);
}
