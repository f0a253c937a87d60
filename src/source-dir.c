/*
 * Watched folders.
 *
 * libinotifytools keeps its state in globals and is not thread-safe, so one
 * thread serves every dir source: it owns the inotify instance and its own
 * database connection. Each folder is watched before it is read, so a file
 * written while the folder is being read is seen by the read or by an
 * event (or both: enqueuing is idempotent).
 *
 * When a file is complete. It is taken when its writer closes it
 * (IN_CLOSE_WRITE) or when it is renamed into place (IN_MOVED_TO). A file
 * that appears with IN_CREATE alone (a hard link: OpenSSH's sftp server
 * renames with link() and unlink()) goes to a small pending table and is
 * taken once its size, mtime, ctime and inode have not changed for the
 * source's `settle` time. The object version is size, mtime in nanoseconds
 * and inode, so a file rewritten in place is a new version.
 *
 * Writers. Whatever the event, and for every file a reconcile meets, some
 * process may still have the file open for writing. What can tell, best
 * first (dir_writing):
 *
 * - A read lease (F_SETLEASE). The kernel refuses one (EAGAIN) while any
 *   process, of any user, in any namespace, has the file open for writing,
 *   and grants it otherwise: a yes or no without any writer's help. It
 *   needs the file's owner or CAP_LEASE (EACCES otherwise), and a file
 *   system with leases (NFS has none: EINVAL).
 * - The open files of processes (/proc/PID/fd, and fdinfo's flags). A
 *   process's are readable by its own user or with CAP_SYS_PTRACE, so an
 *   unprivileged objwatch sees its own user's writers only: a writer found
 *   is a yes; none found is a no only when every process of the system
 *   was seen (CAP_SYS_PTRACE, the initial PID namespace, no hidepid) on a
 *   file system that takes leases (so no writer on another host), and the
 *   file did not change while we looked.
 * - Otherwise nothing can know, and time decides: a file closed after
 *   writing (IN_CLOSE_WRITE) or renamed into place is taken, any other is
 *   taken once still (size, mtime and ctime the same) for `settle`, by our
 *   own look or by its ctime, which the kernel sets at every write. A
 *   writer of another user pausing longer than `settle` is not seen. Which
 *   of these applies to files of other users is said at start.
 *
 * A file with a writer waits in the pending table.
 *
 * Reconcile. At start, every `reconcile` period and after an inotify queue
 * overflow (one inotify instance serves every source, so an overflow
 * reconciles them all), each folder is compared with the ledger one folder
 * at a time (ledger.c): new and changed files are enqueued, files gone are
 * marked deleted, nothing else is written. Folders the ledger knows but the
 * disk no longer has are marked deleted at the end. Memory is bounded by
 * folders: the folder table below and one folder's listing at a time.
 *
 * Folders. libinotifytools' own wd-to-path table goes stale: a folder
 * renamed inside the tree keeps its old path, and after a folder is deleted
 * and made again its path still maps to the dead wd. So this file keeps its
 * own table of watched folders, sorted by wd, renamed when a folder moves
 * inside a source (IN_MOVED_FROM and IN_MOVED_TO paired by cookie), pruned
 * on IN_IGNORED, and the wd of a new watch is asked of the kernel directly
 * (adding a watch that exists, with the same mask, returns its wd). A
 * folder moved out loses its watches; one moved in or created is read.
 *
 * Keys. A file's key is its path below the source's folder, made valid
 * UTF-8 by key_from_name (util.c): PostgreSQL text is UTF-8 and a file name
 * is any bytes, so each byte of a name that is not UTF-8 is recorded as
 * U+EF00 + byte (U+EF80 to U+EFFF), and fetch_file_path (fetch-file.c)
 * turns a key back into the bytes on disk. Events, the pending table, listings, renames and
 * deletions all make keys with dir_key; include and exclude globs match
 * keys.
 *
 * Outputs that land inside a source are never watched nor read (the loop
 * guard).
 */
#include "config.h"

#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <inotifytools/inotifytools.h>
#include <inotifytools/inotify.h>

#include "objwatch.h"
#include "banned.h"

#define DIR_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | \
    IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR)

/* Capabilities (linux/capability.h), and the initial PID namespace. */
#define DIR_CAP_SYS_PTRACE	19
#define DIR_CAP_LEASE		28
#define DIR_INIT_PID_NS		"pid:[4026531836]"
#define DIR_OPEN_MAX		65536	/* files open for writing listed */

/* Files waiting to be complete; more wait for the next reconcile. */
#define DIR_PENDING_MAX	4096
#define DIR_BATCH_MAX	512	/* files taken, enqueued in one statement */

/* A watched folder. */
struct dir_folder {
	int			 wd;
	char			*path;
	const struct source	*src;
};

/* A file seen but not yet complete. */
struct dir_pending {
	char			*path;
	const struct source	*src;
	int64_t			 size;
	int64_t			 mtime_ns;
	int64_t			 ctime_ns;
	uint64_t		 inode;
	double			 due;		/* look again then */
};

/* A file some process has open for writing, from /proc. */
struct dir_open_file {
	dev_t			 dev;
	ino_t			 ino;
};

/* How a file's writers are told (dir_writing). */
enum dir_writer {
	DIR_WRITER_NONE,	/* no process has it open for writing */
	DIR_WRITER_OPEN,	/* some process has */
	DIR_WRITER_UNKNOWN	/* nothing here can tell */
};

/* A file in a folder being read. */
struct dir_file {
	char			*key;
	struct stat		 st;
	char			*version;
};

struct dir_watcher {
	const struct config	*conf;
	volatile sig_atomic_t	*stop;
	pthread_t		 thread;
	PGconn			*conn;
	int			 ifd;		/* libinotifytools' fd, or -1 */
	int			 rescan;	/* reconcile every source */
	double			*next_reconcile; /* per conf->sources */
	int			*said_nolease;	/* per conf->sources */

	/*
	 * The files open for writing in the processes /proc shows us, as a
	 * sorted list taken at open_at. open_fresh is cleared before each
	 * stat whose file may be judged by the list: a list taken before a
	 * stat cannot prove there was no writer at that stat.
	 */
	int			 proc_sees_all;	/* a whole list can be had */
	struct dir_open_file	*open;
	size_t			 nopen;
	size_t			 open_size;
	double			 open_at;	/* monotonic; 0: never */
	int			 open_fresh;
	int			 open_whole;	/* every process was seen */

	struct dir_folder	*folders;	/* sorted by wd */
	size_t			 nfolders;
	size_t			 folders_size;

	struct dir_pending	*pending;
	size_t			 npending;
	int			 pending_full;	/* logged since the reconcile */

	/*
	 * Files taken from events but not enqueued yet, all of one source:
	 * written in one statement when the kernel has no more events for
	 * us, or before anything else touches the ledger.
	 */
	const struct source	*batch_src;
	struct object_version	 batch[DIR_BATCH_MAX];
	size_t			 nbatch;

	/* An IN_MOVED_FROM of a folder, until its IN_MOVED_TO (if any). */
	uint32_t		 moved_cookie;
	char			*moved_path;
	const struct source	*moved_src;

	/* What the walks since the last report did. */
	uint64_t		 scanned;	/* files seen */
	uint64_t		 queued;	/* jobs queued */
	uint64_t		 deleted;	/* objects marked deleted */
	uint64_t		 unwatched;	/* folders not watched */
	char			*unwatched_first;
	int			 unwatched_errno;
};

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

/*
 * The key of a path in src: what follows the source's folder, as valid
 * UTF-8 whatever its bytes (key_from_name). NULL when path is not in src.
 */
static char *
dir_key(const struct source *src, const char *path)
{
	const char	*rel;
	size_t		 len = strlen(src->path);

	if (strncmp(path, src->path, len) != 0 ||
	    (path[len] != '/' && path[len] != '\0'))
		return (NULL);
	rel = path + len;
	while (*rel == '/')
		rel++;
	return (key_from_name(rel));
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

/*
 * Whether a file at path is one src takes (filters and the loop guard):
 * its key, which the caller frees, or NULL. The globs see the key.
 */
static char *
dir_wanted(const struct source *src, const char *path)
{
	char	*key;

	if (dir_is_output(src, path))
		return (NULL);
	if ((key = dir_key(src, path)) == NULL)
		return (NULL);
	if (*key == '\0' || !glob_match_any(&src->include, key) ||
	    glob_match_any(&src->exclude, key)) {
		free(key);
		return (NULL);
	}
	return (key);
}

/* Whether two stats of a file describe the same version of it. */
static int
dir_same_version(const struct stat *a, const struct stat *b)
{
	return (a->st_size == b->st_size && a->st_ino == b->st_ino &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec);
}

/* The capabilities this process has in effect (CapEff), 0 if unknown. */
static uint64_t
dir_capabilities(void)
{
	FILE			*f;
	char			 line[256];
	unsigned long long	 caps = 0;

	if ((f = fopen("/proc/self/status", "re")) == NULL)
		return (0);
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	}
	fclose(f);
	return (caps);
}

/*
 * Whether /proc can show every process of the system with its open files:
 * CAP_SYS_PTRACE (another user's /proc/PID/fd is closed to us otherwise),
 * the initial PID namespace (a container does not see the host's
 * processes) and no hidepid on /proc (systemd's ProtectProc).
 */
static int
dir_proc_sees_all(uint64_t caps)
{
	FILE	*f;
	char	 link[64], line[1024], *fs;
	ssize_t	 n;
	int	 all = 1;

	if (!(caps & (1ULL << DIR_CAP_SYS_PTRACE)))
		return (0);
	n = readlink("/proc/self/ns/pid", link, sizeof link - 1);
	if (n <= 0)
		return (0);
	link[n] = '\0';
	if (strcmp(link, DIR_INIT_PID_NS) != 0)
		return (0);
	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return (0);
	while (fgets(line, sizeof line, f) != NULL) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... - TYPE SOURCE OPTIONS */
		if (strstr(line, " /proc ") == NULL ||
		    (fs = strstr(line, " - proc ")) == NULL)
			continue;
		if ((fs = strstr(fs, "hidepid=")) != NULL &&
		    strncmp(fs, "hidepid=0", 9) != 0 &&
		    strncmp(fs, "hidepid=off", 11) != 0)
			all = 0;
	}
	fclose(f);
	return (all);
}

static int
dir_open_cmp(const void *a, const void *b)
{
	const struct dir_open_file	*fa = a, *fb = b;

	if (fa->dev != fb->dev)
		return (fa->dev < fb->dev ? -1 : 1);
	if (fa->ino != fb->ino)
		return (fa->ino < fb->ino ? -1 : 1);
	return (0);
}

/* Whether fdinfo says fd (a name in dirfd, a /proc/PID/fdinfo) writes. */
static int
dir_fd_writes(int dirfd, const char *fd)
{
	FILE		*f;
	char		 line[128];
	unsigned int	 flags;
	int		 ffd, writes = 0;

	if ((ffd = openat(dirfd, fd, O_RDONLY | O_CLOEXEC)) == -1)
		return (0);
	if ((f = fdopen(ffd, "r")) == NULL) {
		close(ffd);
		return (0);
	}
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "flags: %o", &flags) == 1) {
			writes = (flags & O_ACCMODE) != O_RDONLY;
			break;
		}
	}
	fclose(f);
	return (writes);
}

/*
 * List the regular files the processes /proc shows us have open for
 * writing (/proc/PID/fd; the links' modes say which fds write, fdinfo's
 * flags confirm), and whether that was every process there is. Threads
 * that unshared their fd table are not looked at.
 */
static void
dir_open_scan(struct dir_watcher *dw)
{
	struct dir_open_file	*of;
	struct dirent		*de, *fe;
	struct stat		 lst, st;
	DIR			*proc, *fds;
	char			 path[NAME_MAX + 32];
	int			 whole = dw->proc_sees_all, infofd;

	dw->nopen = 0;
	dw->open_at = now_monotonic();
	dw->open_fresh = 1;
	if ((proc = opendir("/proc")) == NULL) {
		dw->open_whole = 0;
		return;
	}
	while ((de = readdir(proc)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof path, "/proc/%s/fd", de->d_name);
		if ((fds = opendir(path)) == NULL) {
			if (errno != ENOENT)
				whole = 0;	/* not ours to read */
			continue;
		}
		snprintf(path, sizeof path, "/proc/%s/fdinfo", de->d_name);
		infofd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		while ((fe = readdir(fds)) != NULL) {
			if (fe->d_name[0] == '.')
				continue;
			if (fstatat(dirfd(fds), fe->d_name, &lst,
			    AT_SYMLINK_NOFOLLOW) == -1 ||
			    !(lst.st_mode & S_IWUSR))
				continue;
			if (fstatat(dirfd(fds), fe->d_name, &st, 0) == -1 ||
			    !S_ISREG(st.st_mode))
				continue;
			if (infofd == -1 || !dir_fd_writes(infofd, fe->d_name))
				continue;
			if (dw->nopen == DIR_OPEN_MAX) {
				whole = 0;
				continue;
			}
			if (dw->nopen == dw->open_size) {
				dw->open_size = dw->open_size == 0 ? 64 :
				    dw->open_size * 2;
				dw->open = xreallocarray(dw->open,
				    dw->open_size, sizeof *dw->open);
			}
			of = &dw->open[dw->nopen++];
			of->dev = st.st_dev;
			of->ino = st.st_ino;
		}
		if (infofd != -1)
			close(infofd);
		closedir(fds);
	}
	closedir(proc);
	if (dw->nopen > 1)
		qsort(dw->open, dw->nopen, sizeof *dw->open, dir_open_cmp);
	dw->open_whole = whole;
}

/*
 * Before a stat of a file that dir_writing may judge: a list of open
 * files taken before it cannot say there was no writer at the stat.
 */
static void
dir_open_stale(struct dir_watcher *dw)
{
	dw->open_fresh = 0;
}

/*
 * Whether the processes /proc shows have the file of st open for writing:
 * DIR_WRITER_OPEN when one does, DIR_WRITER_NONE when none does and every
 * process was seen (and conclusive allows it), else DIR_WRITER_UNKNOWN.
 * A no needs a list taken after st; a yes can come from a list a second
 * old, which keeps the cost of a reconcile of many files bounded.
 */
static enum dir_writer
dir_open_writer(struct dir_watcher *dw, const struct stat *st,
    int conclusive)
{
	struct dir_open_file	 probe;

	conclusive = conclusive && dw->proc_sees_all;
	if (conclusive ? !dw->open_fresh :
	    now_monotonic() - dw->open_at >= 1.0)
		dir_open_scan(dw);
	probe.dev = st->st_dev;
	probe.ino = st->st_ino;
	if (dw->nopen > 0 && bsearch(&probe, dw->open, dw->nopen,
	    sizeof *dw->open, dir_open_cmp) != NULL)
		return (DIR_WRITER_OPEN);
	if (conclusive && dw->open_fresh && dw->open_whole)
		return (DIR_WRITER_NONE);
	return (DIR_WRITER_UNKNOWN);
}

/* Say once per source that its file system takes no leases. */
static void
dir_nolease(struct dir_watcher *dw, const struct source *src, int error)
{
	size_t	 i;

	for (i = 0; i < dw->conf->nsources; i++) {
		if (dw->conf->sources[i] != src)
			continue;
		if (dw->said_nolease[i])
			return;
		dw->said_nolease[i] = 1;
		log_info("source '%s': the file system of '%s' takes no read "
		    "leases (%s): a file there is taken once closed after "
		    "writing (IN_CLOSE_WRITE) or still for %gs", src->name,
		    src->path, strerror(error), src->settle);
		return;
	}
}

/*
 * Whether some process has path open for writing, by the best means this
 * process has (see the top of this file); seen is the caller's stat of
 * path, made after dir_open_stale. *now is the file as it stands: for
 * DIR_WRITER_NONE, while the lease was held or after /proc was read, when
 * no writer can have it open (a stat taken before may have caught a
 * writer's last bytes on their way: a copy seen at 64 kB that was whole
 * 60 us later, and its version must not be queued).
 */
static enum dir_writer
dir_writing(struct dir_watcher *dw, const struct source *src,
    const char *path, const struct stat *seen, struct stat *now)
{
	enum dir_writer	 w;
	int		 fd, error;

	*now = *seen;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return (DIR_WRITER_UNKNOWN);
	if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
		w = DIR_WRITER_NONE;
		if (fstat(fd, now) == -1) {
			*now = *seen;
			w = DIR_WRITER_UNKNOWN;
		}
		fcntl(fd, F_SETLEASE, F_UNLCK);
		close(fd);
		return (w);
	}
	error = errno;
	if (error == EAGAIN)
		w = DIR_WRITER_OPEN;
	else {
		if (error != EACCES && error != EPERM)
			dir_nolease(dw, src, error);
		/*
		 * Without leases on this file system a writer may be on
		 * another host: /proc can then only say yes.
		 */
		w = dir_open_writer(dw, seen, error == EACCES ||
		    error == EPERM);
	}
	if (fstat(fd, now) == -1) {
		*now = *seen;
		if (w == DIR_WRITER_NONE)
			w = DIR_WRITER_UNKNOWN;
	} else if (w == DIR_WRITER_NONE && !dir_same_version(now, seen))
		w = DIR_WRITER_UNKNOWN;
	close(fd);
	return (w);
}

/* Whether a file has not changed for the settle time, by its ctime. */
static int
dir_still(const struct source *src, const struct stat *st)
{
	double	 changed;

	changed = st->st_ctim.tv_sec + st->st_ctim.tv_nsec / 1e9;
	return (now_wall() - changed >= src->settle);
}

/*
 * Whether a file seen as *seen (a stat made after dir_open_stale) is
 * complete: 1, and *now is the version to take, or 0, and *now is the
 * file as it stands. settled says the caller knows it closed after
 * writing, or renamed into place, or still for the settle time: what
 * decides when nothing can tell its writers.
 */
static int
dir_complete(struct dir_watcher *dw, const struct source *src,
    const char *path, const struct stat *seen, struct stat *now, int settled)
{
	/* A followed log is read as far as it goes, writer or not. */
	if (src->follow)
		return (1);
	switch (dir_writing(dw, src, path, seen, now)) {
	case DIR_WRITER_NONE:
		return (1);
	case DIR_WRITER_OPEN:
		return (0);
	case DIR_WRITER_UNKNOWN:
		break;
	}
	if (!dir_same_version(now, seen))
		return (0);	/* it changed as we looked */
	return (settled || dir_still(src, now));
}

/* Say at start how a source tells that a file of another user is whole. */
static void
dir_say_method(const struct dir_watcher *dw, const struct source *src,
    uint64_t caps)
{
	if (caps & (1ULL << DIR_CAP_LEASE))
		log_info("source '%s': files still open for writing are found "
		    "with read leases (CAP_LEASE), whoever writes them",
		    src->name);
	else if (dw->proc_sees_all)
		log_info("source '%s': objwatch cannot take leases on files "
		    "of other users (no CAP_LEASE): their writers are looked "
		    "for in the open files of every process (/proc, "
		    "CAP_SYS_PTRACE)", src->name);
	else
		log_info("source '%s': objwatch cannot take leases on files "
		    "of other users (no CAP_LEASE): files of other users are "
		    "taken once closed after writing (IN_CLOSE_WRITE) or still "
		    "for %gs, or renamed into place; a writer of another user "
		    "that pauses longer is not seen (give objwatch CAP_LEASE, "
		    "or raise settle)", src->name, src->settle);
}

/* Make sure the watcher has a connection, reconnecting after a loss. */
static int
dir_db(struct dir_watcher *dw)
{
	if (db_ok(dw->conn))
		return (0);
	if (dw->conn != NULL) {
		log_warnx("dir sources: lost the database connection");
		db_close(dw->conn);
		/* events may have been missed meanwhile: look again */
		dw->rescan = 1;
	}
	dw->conn = db_connect_retry(dw->stop);
	return (dw->conn == NULL ? -1 : 0);
}

/* After a failed statement: say so, and reconcile if the link broke. */
static void
dir_db_failed(struct dir_watcher *dw, const struct source *src,
    const char *what, char *cause)
{
	char	*error;

	log_warnx("source '%s': %s: %s", src->name, what, cause);
	xasprintf(&error, "%s: %s", what, cause);
	health_source(src->name, HEALTH_FAILING, error);
	free(error);
	free(cause);
	if (!db_ok(dw->conn))
		dw->rescan = 1;
}

/* Record a file's version and queue its jobs, in a statement of its own. */
static void
dir_enqueue_version(struct dir_watcher *dw, const struct source *src,
    const struct object_version *ov)
{
	char	*cause;
	int	 njobs;

	while (!*dw->stop) {
		if (dir_db(dw) != 0)
			break;
		if (queue_enqueue(dw->conn, src, ov, dw->conf->max_attempts,
		    &njobs, &cause) == 0) {
			dw->queued += njobs;
			if (njobs > 0)
				log_debug("source '%s': queued '%s' (%d jobs)",
				    src->name, ov->key, njobs);
			break;
		}
		if (db_ok(dw->conn)) {
			log_warnx("source '%s': cannot queue '%s': %s",
			    src->name, ov->key, cause);
			free(cause);
			break;
		}
		free(cause);	/* the connection broke: retry */
	}
}

static void
dir_enqueue_one(struct dir_watcher *dw, const struct source *src,
    const char *key, const struct stat *st)
{
	struct object_version	 ov;
	char			*version;

	memset(&ov, 0, sizeof ov);
	version = fetch_file_version(st);
	ov.source = src->name;
	ov.key = key;
	ov.version = version;
	ov.size = st->st_size;
	ov.mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL +
	    st->st_mtim.tv_nsec;
	ov.inode = st->st_ino;
	dir_enqueue_version(dw, src, &ov);
	free(version);
}

static int	dir_batch_enqueue(struct dir_watcher *,
		    const struct source *, const struct dir_file *, size_t,
		    const struct object_version *, size_t);

/* Enqueue the files taken since the last flush, in one statement. */
static void
dir_flush(struct dir_watcher *dw)
{
	size_t		 i, n = dw->nbatch;

	if (n == 0)
		return;
	dw->nbatch = 0;
	dir_batch_enqueue(dw, dw->batch_src, NULL, 0, dw->batch, n);
	for (i = 0; i < n; i++) {
		free((char *)dw->batch[i].key);
		free((char *)dw->batch[i].version);
	}
}

/*
 * Take a file: it joins the batch, which is written as soon as no more
 * events wait (see dir_watcher_main), so a burst of files costs a few
 * statements instead of one each, and a lone file waits for nothing.
 */
static void
dir_enqueue(struct dir_watcher *dw, const struct source *src,
    const char *key, const struct stat *st)
{
	struct object_version	*ov;

	if (dw->nbatch > 0 && (dw->batch_src != src ||
	    dw->nbatch == DIR_BATCH_MAX))
		dir_flush(dw);
	dw->batch_src = src;
	ov = &dw->batch[dw->nbatch++];
	memset(ov, 0, sizeof *ov);
	ov->source = src->name;
	ov->key = xstrdup(key);
	ov->version = fetch_file_version(st);
	ov->size = st->st_size;
	ov->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL +
	    st->st_mtim.tv_nsec;
	ov->inode = st->st_ino;
}

/* Whether the kernel holds events not read yet (1), or cannot say (-1). */
static int
dir_events_waiting(const struct dir_watcher *dw)
{
	int	 n;

	if (dw->ifd == -1 || ioctl(dw->ifd, FIONREAD, &n) == -1)
		return (-1);
	return (n > 0);
}

/*
 * The connection, for anything but enqueuing: files taken before must be
 * in the ledger first (a deletion, a rename, a reconcile compares with it).
 */
static int
dir_db_flushed(struct dir_watcher *dw)
{
	dir_flush(dw);
	return (dir_db(dw));
}

static struct dir_pending *
dir_pending_find(struct dir_watcher *dw, const char *path)
{
	size_t	 i;

	for (i = 0; i < dw->npending; i++) {
		if (strcmp(dw->pending[i].path, path) == 0)
			return (&dw->pending[i]);
	}
	return (NULL);
}

static void
dir_pending_remove(struct dir_watcher *dw, struct dir_pending *p)
{
	free(p->path);
	*p = dw->pending[--dw->npending];
}

/* Forget a pending file: its writer closed it, or it went away. */
static void
dir_pending_del(struct dir_watcher *dw, const char *path)
{
	struct dir_pending	*p;

	if ((p = dir_pending_find(dw, path)) != NULL)
		dir_pending_remove(dw, p);
}

/* Whether a pending file is as it was when it was seen. */
static int
dir_pending_same(const struct dir_pending *p, const struct stat *st)
{
	return (p->size == st->st_size && p->inode == st->st_ino &&
	    p->mtime_ns == (int64_t)st->st_mtim.tv_sec * 1000000000LL +
	    st->st_mtim.tv_nsec &&
	    p->ctime_ns == (int64_t)st->st_ctim.tv_sec * 1000000000LL +
	    st->st_ctim.tv_nsec);
}

/*
 * Wait for a file to be complete: look again after the settle time, from
 * when it was last seen to change.
 */
static void
dir_pending_add(struct dir_watcher *dw, const struct source *src,
    const char *path, const struct stat *st)
{
	struct dir_pending	*p;
	char			*shown;

	if ((p = dir_pending_find(dw, path)) != NULL && p->src == src &&
	    (dir_pending_same(p, st) || src->follow))
		return;		/* still since it was seen: keep when */
	if (p == NULL) {
		if (dw->npending == DIR_PENDING_MAX) {
			if (!dw->pending_full) {
				shown = utf8_escape(path);
				log_warnx("source '%s': more than %d files are "
				    "being written at once; '%s' and others "
				    "wait for the next reconcile", src->name,
				    DIR_PENDING_MAX, shown);
				free(shown);
			}
			dw->pending_full = 1;
			return;
		}
		if (dw->pending == NULL)
			dw->pending = xcalloc(DIR_PENDING_MAX,
			    sizeof *dw->pending);
		p = &dw->pending[dw->npending++];
		p->path = xstrdup(path);
	}
	p->src = src;
	p->size = st->st_size;
	p->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL +
	    st->st_mtim.tv_nsec;
	p->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000LL +
	    st->st_ctim.tv_nsec;
	p->inode = st->st_ino;
	p->due = now_monotonic() + src->settle;
}

/* A file not complete yet waits in the pending table. */
static void
dir_wait(struct dir_watcher *dw, const struct source *src, const char *path,
    const char *key, const struct stat *st)
{
	log_debug("source '%s': '%s' is still being written", src->name, key);
	dir_pending_add(dw, src, path, st);
}

/*
 * Take a complete file now, or wait while it may still be written (see
 * dir_complete; closed: its writer closed it or it was renamed into
 * place). An empty file always waits: open(O_CREAT) makes the file before
 * it counts as open for writing, so a new file can look closed for an
 * instant.
 */
static void
dir_take(struct dir_watcher *dw, const struct source *src, const char *path,
    const char *key, const struct stat *st, int closed)
{
	struct stat	 now = *st;

	if (st->st_size == 0 || !dir_complete(dw, src, path, st, &now,
	    closed) || now.st_size == 0) {
		dir_wait(dw, src, path, key, &now);
		return;
	}
	dir_enqueue(dw, src, key, &now);
}

/* Look at the pending files that are due: take the settled ones. */
static void
dir_pending_run(struct dir_watcher *dw)
{
	struct dir_pending	*p;
	struct stat		 st, held;
	int64_t			 mtime_ns, ctime_ns;
	double			 now = now_monotonic();
	size_t			 i = 0;
	char			*key;

	while (i < dw->npending && !*dw->stop) {
		p = &dw->pending[i];
		if (p->due > now) {
			i++;
			continue;
		}
		key = dir_wanted(p->src, p->path);
		dir_open_stale(dw);
		if (key == NULL || lstat(p->path, &st) == -1 ||
		    !S_ISREG(st.st_mode)) {
			free(key);
			dir_pending_remove(dw, p);	/* gone meanwhile */
			continue;
		}
		mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL +
		    st.st_mtim.tv_nsec;
		ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000LL +
		    st.st_ctim.tv_nsec;
		if (p->src->follow) {
			/* a settle of writing to a log: load what is there */
			if (st.st_size > 0)
				dir_enqueue(dw, p->src, key, &st);
			free(key);
			dir_pending_remove(dw, p);
			continue;
		}
		held = st;
		/* Unchanged since it was last seen, settle ago: still. */
		if (st.st_size != p->size || mtime_ns != p->mtime_ns ||
		    ctime_ns != p->ctime_ns || st.st_ino != p->inode ||
		    !dir_complete(dw, p->src, p->path, &st, &held, 1) ||
		    !dir_same_version(&held, &st)) {
			free(key);
			dir_pending_add(dw, p->src, p->path, &held);
			p->due = now + p->src->settle;	/* even if still */
			i++;
			continue;
		}
		dir_enqueue(dw, p->src, key, &st);
		free(key);
		dir_pending_remove(dw, p);
	}
}

/* The pending file due first, as a monotonic time; 0 when none. */
static double
dir_pending_next(struct dir_watcher *dw)
{
	double	 next = 0;
	size_t	 i;

	for (i = 0; i < dw->npending; i++) {
		if (next == 0 || dw->pending[i].due < next)
			next = dw->pending[i].due;
	}
	return (next);
}

/* Index of wd in the folder table, or where it would go. */
static size_t
dir_folder_index(struct dir_watcher *dw, int wd, int *found)
{
	size_t	 lo = 0, hi = dw->nfolders, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (dw->folders[mid].wd < wd)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = (lo < dw->nfolders && dw->folders[lo].wd == wd);
	return (lo);
}

static struct dir_folder *
dir_folder_find(struct dir_watcher *dw, int wd)
{
	size_t	 i;
	int	 found;

	i = dir_folder_index(dw, wd, &found);
	return (found ? &dw->folders[i] : NULL);
}

static void
dir_folder_add(struct dir_watcher *dw, int wd, const char *path,
    const struct source *src)
{
	struct dir_folder	*f;
	size_t			 i;
	int			 found;

	i = dir_folder_index(dw, wd, &found);
	if (found) {
		f = &dw->folders[i];
		if (strcmp(f->path, path) != 0) {
			free(f->path);
			f->path = xstrdup(path);
		}
		f->src = src;
		return;
	}
	if (dw->nfolders == dw->folders_size) {
		dw->folders_size = dw->folders_size == 0 ? 64 :
		    dw->folders_size * 2;
		dw->folders = xreallocarray(dw->folders, dw->folders_size,
		    sizeof *dw->folders);
	}
	memmove(&dw->folders[i + 1], &dw->folders[i],
	    (dw->nfolders - i) * sizeof *dw->folders);
	dw->nfolders++;
	f = &dw->folders[i];
	f->wd = wd;
	f->path = xstrdup(path);
	f->src = src;
}

/* Forget a watch the kernel dropped (IN_IGNORED). */
static void
dir_folder_forget(struct dir_watcher *dw, int wd)
{
	size_t	 i;
	int	 found;

	i = dir_folder_index(dw, wd, &found);
	if (!found)
		return;
	free(dw->folders[i].path);
	memmove(&dw->folders[i], &dw->folders[i + 1],
	    (dw->nfolders - i - 1) * sizeof *dw->folders);
	dw->nfolders--;
}

/* Whether path is dir or lies under it. */
static int
dir_under(const char *path, const char *dir)
{
	size_t	 len = strlen(dir);

	return (strncmp(path, dir, len) == 0 &&
	    (path[len] == '\0' || path[len] == '/'));
}

/* A folder moved inside the tree: its watches now carry the new path. */
static void
dir_folder_rename(struct dir_watcher *dw, const char *from, const char *to)
{
	struct dir_folder	*f;
	char			*s, *from_slash, *to_slash;
	size_t			 i, len = strlen(from);

	for (i = 0; i < dw->nfolders; i++) {
		f = &dw->folders[i];
		if (!dir_under(f->path, from))
			continue;
		xasprintf(&s, "%s%s", to, f->path + len);
		free(f->path);
		f->path = s;
	}
	/* Keep libinotifytools' own names right too (it wants the slash). */
	xasprintf(&from_slash, "%s/", from);
	xasprintf(&to_slash, "%s/", to);
	inotifytools_replace_filename(from_slash, to_slash);
	free(from_slash);
	free(to_slash);
}

/*
 * Forget the folders at and under path; with unwatch, remove their watches
 * too (a folder moved out of the tree keeps its watches in the kernel).
 */
static void
dir_folder_drop(struct dir_watcher *dw, const char *path, int unwatch)
{
	size_t	 i = 0, j = 0;

	for (i = 0; i < dw->nfolders; i++) {
		if (dir_under(dw->folders[i].path, path)) {
			if (unwatch)
				inotifytools_remove_watch_by_wd(
				    dw->folders[i].wd);
			free(dw->folders[i].path);
			continue;
		}
		dw->folders[j++] = dw->folders[i];
	}
	dw->nfolders = j;
}

/* Watch a folder, recording it in the table; failures are counted. */
static void
dir_watch(struct dir_watcher *dw, const struct source *src, const char *path)
{
	char	*slash;
	int	 wd, error;

	if (!inotifytools_watch_file(path, DIR_EVENTS |
	    (src->follow ? IN_MODIFY : 0))) {
		error = inotifytools_error();
		if (error == ENOENT || error == ENOTDIR)
			return;		/* gone already */
		if (dw->unwatched++ == 0) {
			dw->unwatched_first = utf8_escape(path);
			dw->unwatched_errno = error;
		}
		return;
	}
	/*
	 * libinotifytools does not say which wd it got, and its lookup by
	 * name can answer a dead one: ask the kernel, which returns the
	 * existing watch for the same folder and mask.
	 */
	if (dw->ifd != -1)
		wd = inotify_add_watch(dw->ifd, path, DIR_EVENTS |
		    (src->follow ? IN_MODIFY : 0));
	else {
		xasprintf(&slash, "%s/", path);
		wd = inotifytools_wd_from_filename(slash);
		free(slash);
	}
	if (wd >= 0)
		dir_folder_add(dw, wd, path, src);
}

/* Say once, after a walk, which folders could not be watched and why. */
static void
dir_watch_report(struct dir_watcher *dw, const struct source *src)
{
	if (dw->unwatched == 0)
		return;
	if (dw->unwatched_errno == ENOSPC)
		log_warnx("source '%s': cannot watch '%s' and %" PRIu64 " "
		    "more folders: the limit of inotify watches is reached; "
		    "raise the sysctl fs.inotify.max_user_watches (now %d); "
		    "until then changes there are found by the reconcile "
		    "every %gs", src->name, dw->unwatched_first,
		    dw->unwatched - 1, inotifytools_get_max_user_watches(),
		    src->reconcile);
	else
		log_warnx("source '%s': cannot watch '%s' and %" PRIu64 " "
		    "more folders: %s; changes there are found by the "
		    "reconcile every %gs", src->name, dw->unwatched_first,
		    dw->unwatched - 1, strerror(dw->unwatched_errno),
		    src->reconcile);
	dw->unwatched = 0;
	FREE_NULL(dw->unwatched_first);
}

/*
 * Mark objects of src deleted (the keys in what, or the folder what->v[0]
 * and everything under it), removing their outputs when the source says
 * on_delete = remove.
 */
static void
dir_forget(struct dir_watcher *dw, const struct source *src,
    enum ledger_scope scope, const struct strv *what)
{
	struct strv		 outputs = { NULL, 0 };
	char			*cause;
	size_t			 removed;
	int			 n, remove;

	if (what->n == 0 || dir_db_flushed(dw) != 0)
		return;
	remove = (src->on_delete == ON_DELETE_REMOVE);
	if (ledger_delete(dw->conn, src, scope, what, remove ? &outputs : NULL,
	    &n, &cause) != 0) {
		dir_db_failed(dw, src, "cannot mark deleted objects", cause);
		return;
	}
	dw->deleted += n;
	/* Only ever a file or object inside one of this source's outputs. */
	removed = store_remove_all(src, &outputs);
	if (n > 0 && remove)
		log_info("source '%s': %d objects deleted (%s%s), %zu outputs "
		    "removed", src->name, n, what->v[0],
		    what->n > 1 ? ", ..." : "", removed);
	else if (n > 0)
		log_info("source '%s': %d objects deleted (%s%s)", src->name,
		    n, what->v[0], what->n > 1 ? ", ..." : "");
	strv_clear(&outputs);
}

static int
dir_file_cmp(const void *a, const void *b)
{
	const struct dir_file	*fa = a, *fb = b;

	return (strcmp(fa->key, fb->key));
}

static int
dir_file_key_cmp(const void *key, const void *b)
{
	const struct dir_file	*fb = b;

	return (strcmp(key, fb->key));
}

/* Read one folder's entries: the files src takes, and the subfolders. */
static int
dir_list(const struct source *src, const char *path, struct dir_file **files,
    size_t *nfiles, struct strv *subdirs)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	struct dir_file	*f;
	char		*child, *key;
	size_t		 size = 0;

	if ((d = opendir(path)) == NULL)
		return (-1);
	*files = NULL;
	*nfiles = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR) {
			strv_push(subdirs, de->d_name);
			continue;
		}
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		child = path_join(path, de->d_name);
		if (lstat(child, &st) == -1) {
			free(child);
			continue;
		}
		if (S_ISDIR(st.st_mode))
			strv_push(subdirs, de->d_name);
		else if (S_ISREG(st.st_mode) &&
		    (key = dir_wanted(src, child)) != NULL) {
			if (*nfiles == size) {
				size = size == 0 ? 64 : size * 2;
				*files = xreallocarray(*files, size,
				    sizeof **files);
			}
			f = &(*files)[(*nfiles)++];
			f->key = key;
			f->st = st;
			f->version = fetch_file_version(&st);
		}
		free(child);
	}
	closedir(d);
	if (*nfiles > 1)
		qsort(*files, *nfiles, sizeof **files, dir_file_cmp);
	return (0);
}

/* Add a complete file of a folder to the batch to enqueue. */
static void
dir_batch_add(struct object_version **batch, size_t *n,
    const struct source *src, const struct dir_file *f)
{
	struct object_version	*ov;

	*batch = xreallocarray(*batch, *n + 1, sizeof **batch);
	ov = &(*batch)[(*n)++];
	memset(ov, 0, sizeof *ov);
	ov->source = src->name;
	ov->key = f->key;
	ov->version = f->version;
	ov->size = f->st.st_size;
	ov->mtime_ns = (int64_t)f->st.st_mtim.tv_sec * 1000000000LL +
	    f->st.st_mtim.tv_nsec;
	ov->inode = f->st.st_ino;
}

/*
 * Enqueue n complete new files in one statement; if that fails, one by
 * one (which also rides out a broken connection). files, sorted by key,
 * are a folder's listing (a reconcile), or NULL for files from events.
 */
static int
dir_batch_enqueue(struct dir_watcher *dw, const struct source *src,
    const struct dir_file *files, size_t nfiles,
    const struct object_version *batch, size_t n)
{
	const struct dir_file	*f;
	char			*cause = NULL;
	size_t			 i;
	int			 njobs;

	if (n == 0)
		return (0);
	if (dir_db(dw) == 0 && queue_enqueue_batch(dw->conn, src, batch, n,
	    dw->conf->max_attempts, &njobs, &cause) == 0) {
		/* One by one (below), queue_enqueue counts them itself. */
		metrics_count("objwatch_events_total", n, "source", src->name,
		    NULL, NULL);
		if (njobs > 0)
			metrics_count("objwatch_jobs_queued_total", njobs,
			    "source", src->name, NULL, NULL);
		dw->queued += njobs;
		if (njobs > 0)
			log_debug("source '%s': queued %zu files (%d jobs)",
			    src->name, n, njobs);
		return (0);
	}
	if (cause != NULL) {
		log_debug("source '%s': batch of %zu: %s; one by one",
		    src->name, n, cause);
		free(cause);
	}
	for (i = 0; i < n && !*dw->stop; i++) {
		if (files == NULL) {
			dir_enqueue_version(dw, src, &batch[i]);
			continue;
		}
		f = bsearch(batch[i].key, files, nfiles, sizeof *files,
		    dir_file_key_cmp);
		if (f != NULL)
			dir_enqueue_one(dw, src, f->key, &f->st);
	}
	return (-1);
}

/*
 * Watch a folder, then read it and compare it with the ledger: files the
 * ledger lacks (or lacks a job for) are taken, keys it has that are gone
 * are marked deleted; then the same for each subfolder.
 */
static void
dir_walk(struct dir_watcher *dw, const struct source *src, const char *path)
{
	struct dir_file		*files = NULL, *f;
	struct object_version	*batch = NULL;
	struct ledger_folder	 lf = { NULL, 0 };
	struct ledger_entry	 probe, *e;
	struct strv		 subdirs = { NULL, 0 }, gone = { NULL, 0 };
	struct stat		 held;
	char			*folder, *cause, *child, *fullpath, *shown;
	size_t			 nfiles = 0, nbatch = 0, i;
	int			 known, error;

	if (*dw->stop || dir_is_output(src, path))
		return;
	if ((folder = dir_key(src, path)) == NULL)
		return;
	if (*folder != '\0' && glob_match_any(&src->exclude, folder)) {
		free(folder);
		return;
	}
	dir_watch(dw, src, path);
	dir_open_stale(dw);
	if (dir_list(src, path, &files, &nfiles, &subdirs) != 0) {
		if (errno != ENOENT && errno != ENOTDIR) {
			error = errno;
			shown = utf8_escape(path);
			log_warnx("source '%s': cannot read folder '%s': %s",
			    src->name, shown, strerror(error));
			free(shown);
		}
		free(folder);
		return;
	}
	dw->scanned += nfiles;

	known = 0;
	if (dir_db_flushed(dw) == 0) {
		if (ledger_folder_read(dw->conn, src, folder, &lf,
		    &cause) != 0)
			dir_db_failed(dw, src, "cannot read the ledger", cause);
		else
			known = 1;
	}
	for (i = 0; i < nfiles && !*dw->stop; i++) {
		f = &files[i];
		probe.key = f->key;
		probe.version = f->version;
		if (known && lf.n > 0) {
			e = bsearch(&probe, lf.v, lf.n, sizeof *lf.v,
			    ledger_entry_cmp);
			if (e != NULL && e->complete)
				continue;
		}
		fullpath = fetch_file_path(src, f->key);
		held = f->st;
		if (f->st.st_size == 0 || !dir_complete(dw, src, fullpath,
		    &f->st, &held, 0) || held.st_size == 0)
			dir_wait(dw, src, fullpath, f->key, &held);
		else if (dir_same_version(&held, &f->st))
			dir_batch_add(&batch, &nbatch, src, f);
		else
			dir_enqueue(dw, src, f->key, &held);	/* as leased */
		free(fullpath);
	}
	dir_batch_enqueue(dw, src, files, nfiles, batch, nbatch);
	free(batch);
	/* Keys the ledger holds for this folder that are no longer here. */
	for (i = 0; known && i < lf.n; i++) {
		if (i > 0 && strcmp(lf.v[i].key, lf.v[i - 1].key) == 0)
			continue;
		if (nfiles == 0 || bsearch(lf.v[i].key, files, nfiles,
		    sizeof *files, dir_file_key_cmp) == NULL)
			strv_push(&gone, lf.v[i].key);
	}
	dir_forget(dw, src, LEDGER_KEYS, &gone);
	strv_clear(&gone);
	ledger_folder_clear(&lf);
	free(folder);
	for (i = 0; i < nfiles; i++) {
		free(files[i].key);
		free(files[i].version);
	}
	free(files);

	for (i = 0; i < subdirs.n && !*dw->stop; i++) {
		child = path_join(path, subdirs.v[i]);
		dir_walk(dw, src, child);
		free(child);
	}
	strv_clear(&subdirs);
}

/*
 * Folders the ledger holds objects in that are gone from the disk: mark
 * what they held deleted. A folder still there but no longer read
 * (excluded since) is left alone, and so is everything when the source's
 * own folder is missing (an unmounted disk is not a deletion).
 */
static void
dir_reconcile_folders(struct dir_watcher *dw, const struct source *src)
{
	struct strv	 folders = { NULL, 0 }, one = { NULL, 0 };
	struct stat	 st;
	char		*cause, *path;
	size_t		 i;

	if (stat(src->path, &st) == -1 || !S_ISDIR(st.st_mode))
		return;
	if (dir_db_flushed(dw) != 0)
		return;
	if (ledger_folders(dw->conn, src->name, &folders, &cause) != 0) {
		dir_db_failed(dw, src, "cannot read the ledger's folders",
		    cause);
		return;
	}
	for (i = 0; i < folders.n && !*dw->stop; i++) {
		if (*folders.v[i] == '\0')
			continue;
		path = fetch_file_path(src, folders.v[i]);
		if (lstat(path, &st) == -1 && (errno == ENOENT ||
		    errno == ENOTDIR)) {
			strv_push(&one, folders.v[i]);
			dir_forget(dw, src, LEDGER_TREE, &one);
			strv_clear(&one);
		}
		free(path);
	}
	strv_clear(&folders);
}

/* Reconcile one source with the ledger, and say what it found. */
static void
dir_reconcile(struct dir_watcher *dw, size_t idx, const char *why)
{
	const struct source	*src = dw->conf->sources[idx];
	double			 t0 = now_monotonic();
	char			*error;

	dw->scanned = dw->queued = dw->deleted = 0;
	dw->pending_full = 0;
	dir_walk(dw, src, src->path);
	dir_reconcile_folders(dw, src);
	dir_watch_report(dw, src);
	log_info("source '%s': %s scan: %" PRIu64 " files, %" PRIu64
	    " new jobs, %" PRIu64 " deleted, %.2f s", src->name, why,
	    dw->scanned, dw->queued, dw->deleted, now_monotonic() - t0);
	dw->next_reconcile[idx] = now_monotonic() + src->reconcile;
	metrics_count("objwatch_reconcile_runs_total", 1, "source", src->name,
	    NULL, NULL);
	/* Up while its folder is there to watch and the ledger takes it. */
	if (access(src->path, R_OK | X_OK) != 0) {
		xasprintf(&error, "cannot read folder '%s': %s", src->path,
		    strerror(errno));
		health_source(src->name, HEALTH_FAILING, error);
		free(error);
	} else if (db_ok(dw->conn))
		health_source(src->name, HEALTH_OK, NULL);
	/* Its first full scan is done: what was there is queued. */
	health_source_ready(src->name);
}

/* Reconcile every dir source. */
static void
dir_reconcile_all(struct dir_watcher *dw, const char *why)
{
	size_t	 i;

	for (i = 0; i < dw->conf->nsources && !*dw->stop; i++) {
		if (dw->conf->sources[i]->type == SOURCE_DIR)
			dir_reconcile(dw, i, why);
	}
}

/* A folder left the tree or was deleted: its watches and objects go. */
static void
dir_folder_gone(struct dir_watcher *dw, const struct source *src,
    const char *path, int unwatch)
{
	struct strv	 one = { NULL, 0 };
	char		*key;

	dir_folder_drop(dw, path, unwatch);
	if ((key = dir_key(src, path)) != NULL && *key != '\0') {
		strv_push(&one, key);
		dir_forget(dw, src, LEDGER_TREE, &one);
		strv_clear(&one);
	}
	free(key);
}

/* An IN_MOVED_FROM of a folder with no IN_MOVED_TO: it moved out. */
static void
dir_moved_out(struct dir_watcher *dw)
{
	if (dw->moved_path == NULL)
		return;
	dir_folder_gone(dw, dw->moved_src, dw->moved_path, 1);
	FREE_NULL(dw->moved_path);
	dw->moved_src = NULL;
}

/* A folder was created, moved in or renamed to path: watch and read it. */
static void
dir_folder_new(struct dir_watcher *dw, const struct source *src,
    const char *path)
{
	char	*shown;

	dw->scanned = dw->queued = dw->deleted = 0;
	dir_walk(dw, src, path);
	dir_watch_report(dw, src);
	if (dw->queued > 0) {
		shown = utf8_escape(path);
		log_debug("source '%s': new folder '%s': %" PRIu64 " files, %"
		    PRIu64 " new jobs", src->name, shown, dw->scanned,
		    dw->queued);
		free(shown);
	}
}

static void
dir_handle_folder(struct dir_watcher *dw, const struct source *src,
    const char *path, uint32_t mask, uint32_t cookie)
{
	const struct source	*from_src;
	struct strv		 one = { NULL, 0 };
	char			*from, *from_key;

	if (mask & IN_MOVED_FROM) {
		dw->moved_cookie = cookie;
		dw->moved_path = xstrdup(path);
		dw->moved_src = src;
		return;
	}
	if (mask & IN_DELETE) {
		/* The kernel dropped the watches (IN_IGNORED). */
		dir_folder_gone(dw, src, path, 0);
		return;
	}
	if ((mask & IN_MOVED_TO) && dw->moved_path != NULL &&
	    dw->moved_cookie == cookie) {
		/* Renamed inside the tree: same watches, new names. */
		from = dw->moved_path;
		from_src = dw->moved_src;
		dw->moved_path = NULL;
		dw->moved_src = NULL;
		dir_folder_rename(dw, from, path);
		/* Its files are known under new keys now: the old ones go. */
		from_key = dir_key(from_src, from);
		if (from_key != NULL && *from_key != '\0') {
			strv_push(&one, from_key);
			dir_forget(dw, from_src, LEDGER_TREE, &one);
			strv_clear(&one);
		}
		free(from_key);
		free(from);
	}
	if (mask & (IN_CREATE | IN_MOVED_TO))
		dir_folder_new(dw, src, path);
}

static void
dir_handle_file(struct dir_watcher *dw, const struct source *src,
    const char *path, uint32_t mask)
{
	struct strv	 one = { NULL, 0 };
	struct stat	 st;
	char		*key;

	if ((key = dir_wanted(src, path)) == NULL)
		return;
	dir_open_stale(dw);
	if (mask & (IN_DELETE | IN_MOVED_FROM)) {
		dir_pending_del(dw, path);
		if (lstat(path, &st) == -1 && errno == ENOENT) {
			strv_push(&one, key);
			dir_forget(dw, src, LEDGER_KEYS, &one);
			strv_clear(&one);
		}
	} else if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
		if ((mask & IN_MODIFY) && !(mask & (IN_CLOSE_WRITE |
		    IN_MOVED_TO | IN_CREATE))) {
			/* a followed log grew: load it after a settle */
			if (src->follow && st.st_size > 0)
				dir_pending_add(dw, src, path, &st);
		} else if (mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
			dir_pending_del(dw, path);
			dir_take(dw, src, path, key, &st, 1);
		} else if (mask & IN_CREATE) {
			/*
			 * No close may ever come (a hard link): wait for it
			 * to settle.
			 */
			dir_pending_add(dw, src, path, &st);
		}
	}
	free(key);
}

/* One event, copied out of libinotifytools' buffer. */
static void
dir_handle(struct dir_watcher *dw, int wd, uint32_t mask, uint32_t cookie,
    const char *name)
{
	struct dir_folder	*f;
	const struct source	*src;
	char			*path;

	if (dw->moved_path != NULL &&
	    !((mask & IN_MOVED_TO) && cookie == dw->moved_cookie))
		dir_moved_out(dw);
	if (mask & IN_IGNORED) {
		dir_folder_forget(dw, wd);
		return;
	}
	if (*name == '\0' || (f = dir_folder_find(dw, wd)) == NULL)
		return;
	src = f->src;
	path = path_join(f->path, name);
	if (mask & IN_ISDIR) {
		if (!dir_is_output(src, path))
			dir_handle_folder(dw, src, path, mask, cookie);
	} else
		dir_handle_file(dw, src, path, mask);
	free(path);
}

static void *
dir_watcher_main(void *arg)
{
	struct dir_watcher	*dw = arg;
	struct inotify_event	*ev;
	char			 name[NAME_MAX + 1];
	uint32_t		 mask, cookie;
	double			 now, next;
	size_t			 i;
	int			 wd;

	if (dir_db(dw) != 0)
		return (NULL);
	dir_reconcile_all(dw, "start-up");
	while (!*dw->stop) {
		if (dw->rescan) {
			dw->rescan = 0;
			dir_reconcile_all(dw, "reconcile");
		}
		now = now_monotonic();
		for (i = 0; i < dw->conf->nsources && !*dw->stop; i++) {
			if (dw->conf->sources[i]->type == SOURCE_DIR &&
			    now >= dw->next_reconcile[i])
				dir_reconcile(dw, i, "periodic reconcile");
		}
		next = dir_pending_next(dw);
		if (next != 0 && next <= now_monotonic())
			dir_pending_run(dw);

		/*
		 * The files taken so far go to the ledger once the kernel has
		 * nothing more for us: a burst gathers into few statements
		 * while a lone file is enqueued at once.
		 */
		if (dw->nbatch > 0 && dir_events_waiting(dw) != 1)
			dir_flush(dw);
		/* Whole seconds only: that is libinotifytools' timeout. */
		ev = inotifytools_next_event(1);
		if (ev == NULL) {
			if (inotifytools_error() != 0 &&
			    inotifytools_error() != EINTR)
				log_warnx("dir sources: reading events: %s",
				    strerror(inotifytools_error()));
			dir_moved_out(dw);
			continue;
		}
		/* The event lives in a static buffer: copy what we need. */
		wd = ev->wd;
		mask = ev->mask;
		cookie = ev->cookie;
		name[0] = '\0';
		if (ev->len > 0)
			snprintf(name, sizeof name, "%s", ev->name);
		if (mask & IN_Q_OVERFLOW) {
			metrics_count("objwatch_watch_overflows_total", 1,
			    NULL, NULL, NULL, NULL);
			log_warnx("dir sources: the inotify queue overflowed "
			    "(fs.inotify.max_queued_events is %d); reconciling "
			    "every source", inotifytools_get_max_queued_events());
			dir_moved_out(dw);
			dw->rescan = 1;
			continue;
		}
		dir_handle(dw, wd, mask, cookie, name);
	}
	dir_flush(dw);
	for (i = 0; i < dw->conf->nsources; i++)
		if (dw->conf->sources[i]->type == SOURCE_DIR)
			health_source(dw->conf->sources[i]->name,
			    HEALTH_STOPPED, NULL);
	db_close(dw->conn);
	dw->conn = NULL;
	return (NULL);
}

/* The inotify fds open in this process, from /proc. */
static void
dir_inotify_fds(struct strv *fds)
{
	DIR		*d;
	struct dirent	*de;
	char		 link[64], *p;
	ssize_t		 n;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		xasprintf(&p, "/proc/self/fd/%s", de->d_name);
		n = readlink(p, link, sizeof link - 1);
		free(p);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, "anon_inode:inotify") == 0)
			strv_push(fds, de->d_name);
	}
	closedir(d);
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
	struct strv		 before = { NULL, 0 }, after = { NULL, 0 };
	uint64_t		 caps;
	size_t			 i, j;
	int			 any = 0, ifd = -1;

	for (i = 0; i < conf->nsources; i++) {
		if (conf->sources[i]->type != SOURCE_DIR)
			continue;
		if (dir_source_check(conf->sources[i], cause) != 0)
			return (NULL);
		any = 1;
	}
	if (!any)
		return (NULL);
	/* libinotifytools keeps its fd to itself: find it by difference. */
	dir_inotify_fds(&before);
	if (!inotifytools_initialize()) {
		xasprintf(cause, "cannot start inotify: %s",
		    strerror(inotifytools_error()));
		strv_clear(&before);
		return (NULL);
	}
	dir_inotify_fds(&after);
	for (i = 0; i < after.n; i++) {
		for (j = 0; j < before.n; j++) {
			if (strcmp(after.v[i], before.v[j]) == 0)
				break;
		}
		if (j == before.n) {
			ifd = (ifd == -1) ? atoi(after.v[i]) : -2;
		}
	}
	strv_clear(&before);
	strv_clear(&after);
	if (ifd < 0) {
		log_debug("dir sources: cannot tell libinotifytools' fd; "
		    "watch descriptors come from its table");
		ifd = -1;
	}
	dw = xcalloc(1, sizeof *dw);
	dw->conf = conf;
	dw->stop = stop;
	dw->ifd = ifd;
	dw->next_reconcile = xcalloc(conf->nsources,
	    sizeof *dw->next_reconcile);
	for (i = 0; i < conf->nsources; i++)
		dw->next_reconcile[i] = now_monotonic() +
		    conf->sources[i]->reconcile;
	dw->said_nolease = xcalloc(conf->nsources, sizeof *dw->said_nolease);
	caps = dir_capabilities();
	dw->proc_sees_all = dir_proc_sees_all(caps);
	for (i = 0; i < conf->nsources; i++) {
		if (conf->sources[i]->type == SOURCE_DIR)
			dir_say_method(dw, conf->sources[i], caps);
	}
	if (pthread_create(&dw->thread, NULL, dir_watcher_main, dw) != 0)
		fatalx("cannot start the folder watcher thread");
	return (dw);
}

/* Wait for the watcher thread to notice the stop flag, and free it. */
void
dir_watcher_join(struct dir_watcher *dw)
{
	size_t	 i;

	if (dw == NULL)
		return;
	pthread_join(dw->thread, NULL);
	inotifytools_cleanup();
	for (i = 0; i < dw->nfolders; i++)
		free(dw->folders[i].path);
	free(dw->folders);
	for (i = 0; i < dw->npending; i++)
		free(dw->pending[i].path);
	free(dw->pending);
	free(dw->moved_path);
	free(dw->unwatched_first);
	free(dw->next_reconcile);
	free(dw->said_nolease);
	free(dw->open);
	free(dw);
}
