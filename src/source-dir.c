/*
 * Watched folders.
 *
 * libinotifytools keeps its state in globals and is not thread-safe, so one
 * thread serves every dir source: it owns the inotify instance and its own
 * database connection. Each folder is watched before it is read, so a file
 * written while the folder is being scanned is seen by the scan or by an
 * event (or both: enqueuing is idempotent). The same walk runs at start,
 * for a folder created or moved in, and after an inotify queue overflow.
 *
 * A file is taken when its writer closes it (IN_CLOSE_WRITE) or when it is
 * renamed into place (IN_MOVED_TO); the object version is size, mtime in
 * nanoseconds and inode, so a file rewritten in place is a new version.
 * Outputs that land inside a source are never watched (the loop guard).
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <inotifytools/inotifytools.h>
#include <inotifytools/inotify.h>

#include "objwatch.h"
#include "banned.h"

#define DIR_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | \
    IN_MOVED_FROM | IN_DELETE_SELF)

struct dir_watcher {
	const struct config	*conf;
	volatile sig_atomic_t	*stop;
	pthread_t		 thread;
	PGconn			*conn;
	int			 rescan;	/* walk every source again */
	uint64_t		 scanned;	/* files seen by the last walk */
	uint64_t		 queued;	/* jobs the last walk queued */
};

/* The version string of a file: size:mtime_ns:inode. */
static char *
dir_version_of(const struct stat *st)
{
	char	*v;

	xasprintf(&v, "%lld:%lld:%llu", (long long)st->st_size,
	    (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec,
	    (unsigned long long)st->st_ino);
	return (v);
}

static int	dir_fetch_path(const char *, const char *, void **, size_t *,
		    struct job_error *);

/* Stat path and describe its version; fails for anything but a file. */
int
dir_version(const char *path, char **version, struct object_version *ov,
    char **cause)
{
	struct stat	 st;

	if (lstat(path, &st) == -1) {
		xasprintf(cause, "cannot stat '%s': %s", path,
		    strerror(errno));
		return (-1);
	}
	if (!S_ISREG(st.st_mode)) {
		xasprintf(cause, "'%s' is not a regular file", path);
		return (-1);
	}
	*version = dir_version_of(&st);
	ov->size = st.st_size;
	ov->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL +
	    st.st_mtim.tv_nsec;
	ov->inode = st.st_ino;
	ov->version = *version;
	return (0);
}

/*
 * Read a job's file, checking it is still the version that was queued: a
 * file changed since has a job of its own for its new version.
 */
int
dir_fetch(const struct source *src, const struct claimed_job *job,
    void **data, size_t *len, struct job_error *err)
{
	const char	*version = job->version;
	char		*path;
	int		 rc;

	path = path_join(src->path, job->key);
	rc = dir_fetch_path(path, version, data, len, err);
	free(path);
	return (rc);
}

static int
dir_fetch_path(const char *path, const char *version, void **data,
    size_t *len, struct job_error *err)
{
	struct stat	 st;
	char		*now, *cause;
	ssize_t		 n;
	size_t		 off = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno == ENOENT)
			job_error_set(err, ERROR_IO, 0, "'%s' no longer exists "
			    "(deleted or renamed before it was processed)",
			    path);
		else
			job_error_set(err, ERROR_IO, errno != EACCES &&
			    errno != ELOOP, "cannot open '%s': %s", path,
			    strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		job_error_set(err, ERROR_IO, 0, "'%s' is not a regular file",
		    path);
		close(fd);
		return (-1);
	}
	now = dir_version_of(&st);
	if (strcmp(now, version) != 0) {
		job_error_set(err, ERROR_IO, 0, "'%s' changed after it was "
		    "queued (version %s, now %s); the new version has its own "
		    "job", path, version, now);
		free(now);
		close(fd);
		return (-1);
	}
	free(now);
	*data = xmalloc(st.st_size + 1);
	while (off < (size_t)st.st_size) {
		n = read(fd, (char *)*data + off, st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			xasprintf(&cause, "%s", n == 0 ? "file shrank while "
			    "being read" : strerror(errno));
			job_error_set(err, ERROR_IO, 1, "cannot read '%s': %s",
			    path, cause);
			free(cause);
			free(*data);
			*data = NULL;
			close(fd);
			return (-1);
		}
		off += n;
	}
	close(fd);
	*len = off;
	return (0);
}

/* Check a dir source can be watched: it exists and is a readable folder. */
int
dir_source_check(const struct source *src, char **cause)
{
	struct stat	 st;

	if (stat(src->path, &st) == -1) {
		xasprintf(cause, "source '%s': path '%s': %s", src->name,
		    src->path, strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(st.st_mode) || access(src->path, R_OK | X_OK) == -1) {
		xasprintf(cause, "source '%s': path '%s' is not a readable "
		    "folder", src->name, src->path);
		return (-1);
	}
	return (0);
}

/* The source a path is in: the one with the longest matching path. */
static const struct source *
dir_source_of(const struct dir_watcher *dw, const char *path)
{
	const struct source	*src, *best = NULL;
	size_t			 i, len, best_len = 0;

	for (i = 0; i < dw->conf->nsources; i++) {
		src = dw->conf->sources[i];
		if (src->type != SOURCE_DIR)
			continue;
		len = strlen(src->path);
		if (strncmp(path, src->path, len) == 0 &&
		    (path[len] == '/' || path[len] == '\0') &&
		    len > best_len) {
			best = src;
			best_len = len;
		}
	}
	return (best);
}

/* Whether a path in src lies under one of its outputs (the loop guard). */
static int
dir_is_output(const struct source *src, const char *path)
{
	size_t	 i, len;

	for (i = 0; i < src->skip_roots.n; i++) {
		len = strlen(src->skip_roots.v[i]);
		if (strncmp(path, src->skip_roots.v[i], len) == 0 &&
		    (path[len] == '/' || path[len] == '\0'))
			return (1);
	}
	return (0);
}

/* Make sure the watcher has a connection, reconnecting after a loss. */
static int
dir_db(struct dir_watcher *dw)
{
	if (db_ok(dw->conn))
		return (0);
	if (dw->conn != NULL) {
		log_warnx("dir sources: lost the database connection");
		PQfinish(dw->conn);
		/* events may have been missed meanwhile: look again */
		dw->rescan = 1;
	}
	dw->conn = db_connect_retry(dw->stop);
	return (dw->conn == NULL ? -1 : 0);
}

/* Enqueue one file if it passes the source's filters. */
static void
dir_consider(struct dir_watcher *dw, const struct source *src,
    const char *path)
{
	struct object_version	 ov;
	const char		*key;
	char			*version, *cause;
	int			 njobs;

	memset(&ov, 0, sizeof ov);
	if (strncmp(path, src->path, strlen(src->path)) != 0)
		return;
	key = path + strlen(src->path);
	while (*key == '/')
		key++;
	if (*key == '\0' || dir_is_output(src, path))
		return;
	if (!glob_match_any(&src->include, key) ||
	    glob_match_any(&src->exclude, key))
		return;
	if (dir_version(path, &version, &ov, &cause) != 0) {
		/* gone again, or not a file: nothing to process */
		log_debug("source '%s': %s", src->name, cause);
		free(cause);
		return;
	}
	ov.source = src->name;
	ov.key = key;
	dw->scanned++;
	while (!*dw->stop) {
		if (dir_db(dw) != 0)
			break;
		if (queue_enqueue(dw->conn, src, &ov, dw->conf->max_attempts,
		    &njobs, &cause) == 0) {
			dw->queued += njobs;
			if (njobs > 0)
				log_debug("source '%s': queued '%s' (%d jobs)",
				    src->name, key, njobs);
			break;
		}
		if (db_ok(dw->conn)) {
			log_warnx("source '%s': cannot queue '%s': %s",
			    src->name, key, cause);
			free(cause);
			break;
		}
		free(cause);	/* the connection broke: retry */
	}
	free(version);
}

/* Watch a folder, then read it: files are considered, folders recursed. */
static void
dir_walk(struct dir_watcher *dw, const struct source *src, const char *path)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		*child;
	const char	*key;
	int		 isdir;

	if (dir_is_output(src, path))
		return;
	key = path + strlen(src->path);
	while (*key == '/')
		key++;
	if (*key != '\0' && glob_match_any(&src->exclude, key))
		return;
	if (!inotifytools_watch_file(path, DIR_EVENTS)) {
		if (inotifytools_error() == ENOSPC)
			log_warnx("source '%s': cannot watch '%s': the limit "
			    "of inotify watches is reached; raise the sysctl "
			    "fs.inotify.max_user_watches (now %d)",
			    src->name, path,
			    inotifytools_get_max_user_watches());
		else
			log_warnx("source '%s': cannot watch '%s': %s",
			    src->name, path, strerror(inotifytools_error()));
	}
	if ((d = opendir(path)) == NULL) {
		log_warn("source '%s': cannot read folder '%s'", src->name,
		    path);
		return;
	}
	while ((de = readdir(d)) != NULL && !*dw->stop) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		child = path_join(path, de->d_name);
		if (de->d_type == DT_UNKNOWN) {
			isdir = (lstat(child, &st) == 0 &&
			    S_ISDIR(st.st_mode));
		} else
			isdir = (de->d_type == DT_DIR);
		if (isdir)
			dir_walk(dw, src, child);
		else if (de->d_type == DT_REG || de->d_type == DT_UNKNOWN)
			dir_consider(dw, src, child);
		free(child);
	}
	closedir(d);
}

/* Walk every dir source, queueing what the ledger lacks. */
static void
dir_scan_all(struct dir_watcher *dw, const char *why)
{
	const struct source	*src;
	size_t			 i;
	double			 t0;

	for (i = 0; i < dw->conf->nsources && !*dw->stop; i++) {
		src = dw->conf->sources[i];
		if (src->type != SOURCE_DIR)
			continue;
		t0 = now_monotonic();
		dw->scanned = dw->queued = 0;
		dir_walk(dw, src, src->path);
		log_info("source '%s': %s scan: %" PRIu64 " files, %" PRIu64
		    " new jobs, %.2f s", src->name, why, dw->scanned,
		    dw->queued, now_monotonic() - t0);
	}
}

static void
dir_handle(struct dir_watcher *dw, const char *dir, const char *name,
    uint32_t mask)
{
	const struct source	*src;
	char			*path;

	path = path_join(dir, name);
	if ((src = dir_source_of(dw, path)) == NULL) {
		free(path);
		return;
	}
	if (mask & IN_ISDIR) {
		/* A new folder: watch it, then read what is already in it. */
		if (mask & (IN_CREATE | IN_MOVED_TO))
			dir_walk(dw, src, path);
	} else if (mask & (IN_CLOSE_WRITE | IN_MOVED_TO))
		dir_consider(dw, src, path);
	free(path);
}

static void *
dir_watcher_main(void *arg)
{
	struct dir_watcher	*dw = arg;
	struct inotify_event	*ev;
	const char		*dir;
	char			*dircopy, *name;
	uint32_t		 mask;

	if (dir_db(dw) != 0)
		return (NULL);
	dir_scan_all(dw, "start-up");
	while (!*dw->stop) {
		if (dw->rescan) {
			dw->rescan = 0;
			dir_scan_all(dw, "reconcile");
		}
		ev = inotifytools_next_event(1);
		if (ev == NULL) {
			if (inotifytools_error() != 0 &&
			    inotifytools_error() != EINTR)
				log_warnx("dir sources: reading events: %s",
				    strerror(inotifytools_error()));
			continue;
		}
		/* The event lives in a static buffer: copy what we need. */
		mask = ev->mask;
		if (mask & IN_Q_OVERFLOW) {
			log_warnx("dir sources: the inotify queue overflowed; "
			    "scanning every source again");
			dw->rescan = 1;
			continue;
		}
		if (ev->len == 0)
			continue;
		if ((dir = inotifytools_filename_from_wd(ev->wd)) == NULL)
			continue;
		dircopy = xstrdup(dir);
		name = xstrdup(ev->name);
		dir_handle(dw, dircopy, name, mask);
		free(dircopy);
		free(name);
	}
	PQfinish(dw->conn);
	dw->conn = NULL;
	return (NULL);
}

/*
 * Start watching every dir source in one thread. Returns NULL when there
 * are none; fails if inotify cannot be started.
 */
struct dir_watcher *
dir_watcher_start(const struct config *conf, volatile sig_atomic_t *stop,
    char **cause)
{
	struct dir_watcher	*dw;
	size_t			 i;
	int			 any = 0;

	for (i = 0; i < conf->nsources; i++) {
		if (conf->sources[i]->type != SOURCE_DIR)
			continue;
		if (dir_source_check(conf->sources[i], cause) != 0)
			return (NULL);
		any = 1;
	}
	if (!any)
		return (NULL);
	if (!inotifytools_initialize()) {
		xasprintf(cause, "cannot start inotify: %s",
		    strerror(inotifytools_error()));
		return (NULL);
	}
	dw = xcalloc(1, sizeof *dw);
	dw->conf = conf;
	dw->stop = stop;
	if (pthread_create(&dw->thread, NULL, dir_watcher_main, dw) != 0)
		fatalx("cannot start the folder watcher thread");
	return (dw);
}

/* Wait for the watcher thread to notice the stop flag, and free it. */
void
dir_watcher_join(struct dir_watcher *dw)
{
	if (dw == NULL)
		return;
	pthread_join(dw->thread, NULL);
	inotifytools_cleanup();
	free(dw);
}
