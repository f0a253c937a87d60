/*
 * The embedded PostgreSQL cluster: with no database configured, objwatch
 * keeps a private cluster under state_dir/pg and talks to it over a Unix
 * socket only (listen_addresses = '', socket in state_dir/pg/run).
 *
 * initdb and pg_ctl are run with fork + execv, never a shell. pg_ctl itself
 * builds a shell command from -D and -l, so every child runs in the cluster
 * folder and is given the relative names "data" and "postgres.log": any
 * character in state_dir is then safe. Settings live in data/objwatch.conf,
 * rewritten before each start and included from postgresql.conf, so a moved
 * state_dir still gets the right socket directory.
 *
 * Two flocks arbitrate between processes. An exclusive lock on pg/.lock is
 * held around initdb + start and around stop, so two objwatch processes
 * never both initdb or start. Each process using the cluster holds a shared
 * lock on pg/.users; cluster_close stops the server only if it can turn that
 * into an exclusive lock, i.e. when nobody else uses it. A process killed
 * with SIGKILL leaves the server running for the next one to reuse.
 *
 * Least privilege: initdb makes the superuser objwatch_admin, whose
 * password (random, in root/admin.password, mode 0600) is needed to log
 * in as it; objwatch uses it only to create the role objwatch (no
 * superuser, no CREATEDB, no CREATEROLE) and the database it owns. What
 * objwatch and its users do day to day runs as objwatch, which pg_hba.conf
 * lets in without a password to its database only, over the socket whose
 * folder is 0700 (only the server's user, and root, can reach it). So
 * nothing that reaches the socket can run COPY ... TO PROGRAM. A cluster
 * made before this, where objwatch itself was the superuser, is upgraded
 * in place at start (cluster_upgrade_roles).
 *
 * initdb and postgres refuse to run as root, so as root every child runs as
 * the user "postgres". If that user cannot reach state_dir (say it is under
 * /root), the cluster lives in /var/lib/objwatch/clusters/NAME instead, NAME
 * derived from state_dir alone so that every process agrees on the place.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "objwatch.h"
#include "banned.h"

#define CLUSTER_ROLE		"objwatch"	/* objwatch's own: no superuser */
#define CLUSTER_ADMIN		"objwatch_admin" /* the superuser initdb makes */
#define CLUSTER_UPGRADE		"objwatch_upgrade" /* for one upgrade only */
#define CLUSTER_DATABASE	"objwatch"
#define CLUSTER_PORT		"5432"
#define CLUSTER_SOCKET		".s.PGSQL." CLUSTER_PORT
#define CLUSTER_RUN_AS		"postgres"	/* the server's user as root */
#define CLUSTER_FALLBACK	"/var/lib/objwatch/clusters"
#define CLUSTER_DEBIAN		"/usr/lib/postgresql"
#define CLUSTER_TIMEOUT		60		/* seconds, start and stop */

/* Names relative to the cluster folder, where every child runs. */
#define CLUSTER_DATA		"data"
#define CLUSTER_DATA_NEW	"data.initdb"
#define CLUSTER_LOG		"postgres.log"
#define CLUSTER_RUN		"run"
#define CLUSTER_CONF		"objwatch.conf"
#define CLUSTER_CONF_TMP	"objwatch.conf.tmp"
#define CLUSTER_HBA		"pg_hba.conf"
#define CLUSTER_HBA_TMP		"pg_hba.conf.objwatch-tmp"
#define CLUSTER_ADMIN_PW	"admin.password"	/* in root, 0600 */

/* Exit codes of a child that failed before execv. */
#define CHILD_SETUP_FAILED	125
#define CHILD_EXEC_FAILED	127

struct cluster {
	char	*state_dir;
	char	*root;		/* state_dir/pg, or the fallback as root */
	char	*data;		/* root/data: PGDATA */
	char	*log;		/* root/postgres.log */
	char	*sockdir;	/* root/run */
	char	*url;
	int	 fallback;	/* root is under CLUSTER_FALLBACK */

	char	*initdb;
	char	*pg_ctl;

	int	 drop;		/* run children as CLUSTER_RUN_AS */
	uid_t	 uid;
	gid_t	 gid;
	gid_t	*groups;
	int	 ngroups;

	int	 lock_fd;	/* .lock: exclusive around init, start, stop */
	int	 users_fd;	/* .users: shared while this process uses it */
	int	 started;	/* cluster_start succeeded */
};

static char	*cluster_admin_password(const struct cluster *, int, char **);

static double
cluster_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

/* Describe a wait status the way error messages quote it. */
static void
cluster_status_string(int status, char *buf, size_t len)
{
	if (WIFEXITED(status)) {
		switch (WEXITSTATUS(status)) {
		case CHILD_SETUP_FAILED:
			snprintf(buf, len, "exit %d, could not switch user or "
			    "folder", WEXITSTATUS(status));
			break;
		case CHILD_EXEC_FAILED:
			snprintf(buf, len, "exit %d, could not execute",
			    WEXITSTATUS(status));
			break;
		default:
			snprintf(buf, len, "exit %d", WEXITSTATUS(status));
			break;
		}
	} else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "status %d", status);
}

/* Move an fd to 3 or above so that dup2 onto 0, 1 and 2 cannot clobber it. */
static int
cluster_fd_high(int fd)
{
	int	nfd;

	if (fd == -1 || fd > 2)
		return (fd);
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return (nfd);
}

static void
cluster_child_fail(int code, const char *msg)
{
	ssize_t	n;

	n = write(STDERR_FILENO, msg, strlen(msg));
	(void)n;
	_exit(code);
}

/*
 * In a forked child: leave objwatch's session (a ^C on the terminal must not
 * reach the server), become the server's user and enter the cluster folder.
 * Only async-signal-safe calls from here to execv.
 */
static void
cluster_child_setup(const struct cluster *c, int chdir_root)
{
	struct sigaction	sa;
	sigset_t		set;
	int			sig;

	setsid();
	if (c->drop) {
		if (setgroups(c->ngroups, c->groups) != 0 ||
		    setgid(c->gid) != 0 || setuid(c->uid) != 0)
			cluster_child_fail(CHILD_SETUP_FAILED,
			    "objwatch: could not switch to user "
			    CLUSTER_RUN_AS "\n");
	}
	if (chdir_root && chdir(c->root) != 0)
		cluster_child_fail(CHILD_SETUP_FAILED,
		    "objwatch: could not enter the cluster folder\n");

	/* Ignored signals and the mask survive execv: undo objwatch's. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
}

/*
 * Open the server log for appending. The folder belongs to the server's
 * user, so as root trust no file in it: never follow a link, never write a
 * file with other names (hard links), give only a new file away.
 */
static int
cluster_open_log(const struct cluster *c, char **cause)
{
	struct stat	st;
	int		fd, created = 1;

	fd = open(c->log, O_WRONLY|O_APPEND|O_CREAT|O_EXCL|O_NOFOLLOW|
	    O_NONBLOCK|O_CLOEXEC, 0600);
	if (fd == -1 && errno == EEXIST) {
		created = 0;
		fd = open(c->log, O_WRONLY|O_APPEND|O_NOFOLLOW|O_NONBLOCK|
		    O_CLOEXEC);
	}
	if (fd == -1) {
		xasprintf(cause, "could not open '%s': %s", c->log,
		    strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		xasprintf(cause, "could not open '%s': not a plain file with "
		    "one link", c->log);
		close(fd);
		return (-1);
	}
	/* pg_ctl reopens the log as the server's user. */
	if (c->drop && st.st_uid != c->uid && (created || st.st_uid == 0) &&
	    fchown(fd, c->uid, c->gid) != 0) {
		xasprintf(cause, "could not give '%s' to user '%s': %s",
		    c->log, CLUSTER_RUN_AS, strerror(errno));
		close(fd);
		return (-1);
	}
	return (cluster_fd_high(fd));
}

/*
 * Run argv[0] with argv in the cluster folder, as the server's user, stdin
 * from /dev/null and stdout and stderr appended to the server log, and wait
 * for it. Returns -1 only when it could not be run or waited for.
 */
static int
cluster_run(const struct cluster *c, char *const argv[], int *status,
    char **cause)
{
	const char	*name;
	pid_t		 pid;
	int		 logfd, nullfd, wst, saved;

	name = strrchr(argv[0], '/') != NULL ? strrchr(argv[0], '/') + 1 :
	    argv[0];

	if ((logfd = cluster_open_log(c, cause)) == -1)
		return (-1);
	nullfd = cluster_fd_high(open("/dev/null", O_RDONLY|O_CLOEXEC));
	if (nullfd == -1) {
		xasprintf(cause, "could not open '/dev/null': %s",
		    strerror(errno));
		close(logfd);
		return (-1);
	}

	pid = fork();
	if (pid == -1) {
		saved = errno;
		close(logfd);
		close(nullfd);
		xasprintf(cause, "could not run '%s': fork: %s", name,
		    strerror(saved));
		return (-1);
	}
	if (pid == 0) {
		if (dup2(nullfd, STDIN_FILENO) == -1 ||
		    dup2(logfd, STDOUT_FILENO) == -1 ||
		    dup2(logfd, STDERR_FILENO) == -1)
			_exit(CHILD_SETUP_FAILED);
		cluster_child_setup(c, 1);
		/* Others' fds too; on old kernels O_CLOEXEC covers ours. */
		close_range(3, ~0U, 0);
		execv(argv[0], argv);
		cluster_child_fail(CHILD_EXEC_FAILED,
		    "objwatch: could not execute the program\n");
	}
	close(logfd);
	close(nullfd);

	while (waitpid(pid, &wst, 0) == -1) {
		if (errno != EINTR) {
			xasprintf(cause, "could not wait for '%s' (pid %ld): "
			    "%s", name, (long)pid, strerror(errno));
			return (-1);
		}
	}
	*status = wst;
	return (0);
}

/*
 * Whether the server's user can access path with mode, checked in a child
 * that has become that user: root's answer would say nothing.
 */
static int
cluster_user_can(const struct cluster *c, const char *path, int mode)
{
	pid_t	pid;
	int	st;

	if (!c->drop)
		return (access(path, mode) == 0);
	pid = fork();
	if (pid == -1)
		return (0);
	if (pid == 0) {
		cluster_child_setup(c, 0);
		_exit(access(path, mode) == 0 ? 0 : 1);
	}
	while (waitpid(pid, &st, 0) == -1) {
		if (errno != EINTR)
			return (0);
	}
	return (WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Find the user root hands the server to, and its groups. */
static int
cluster_lookup_user(struct cluster *c, char **cause)
{
	struct passwd	*pw;
	int		 n;

	errno = 0;
	pw = getpwnam(CLUSTER_RUN_AS);
	if (pw == NULL) {
		xasprintf(cause, "user '%s' not found%s%s: PostgreSQL refuses "
		    "to run as root; install Debian's postgresql package or "
		    "run objwatch as another user", CLUSTER_RUN_AS,
		    errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
		return (-1);
	}
	c->uid = pw->pw_uid;
	c->gid = pw->pw_gid;

	n = 16;
	c->groups = xreallocarray(NULL, n, sizeof *c->groups);
	if (getgrouplist(CLUSTER_RUN_AS, c->gid, c->groups, &n) == -1) {
		c->groups = xreallocarray(c->groups, n, sizeof *c->groups);
		if (getgrouplist(CLUSTER_RUN_AS, c->gid, c->groups, &n) == -1) {
			xasprintf(cause, "could not list the groups of user "
			    "'%s'", CLUSTER_RUN_AS);
			return (-1);
		}
	}
	c->ngroups = n;
	c->drop = 1;
	return (0);
}

/*
 * The fallback folder for a state_dir the server's user cannot reach: a
 * readable tail of the path plus a hash of all of it, so it is the same in
 * every process and two state_dirs never share it.
 */
static char *
cluster_fallback_root(const char *state_dir)
{
	uint64_t	 hash = 0xcbf29ce484222325ULL;	/* FNV-1a */
	const char	*p, *tail;
	char		*clean, *root;
	size_t		 i, len;

	for (p = state_dir; *p != '\0'; p++) {
		hash ^= (unsigned char)*p;
		hash *= 0x100000001b3ULL;
	}

	len = strlen(state_dir);
	clean = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (isalnum((unsigned char)state_dir[i]) ||
		    state_dir[i] == '.' || state_dir[i] == '_' ||
		    state_dir[i] == '-')
			clean[i] = state_dir[i];
		else
			clean[i] = '-';
	}
	clean[len] = '\0';
	tail = clean;
	while (*tail == '-' || *tail == '.')
		tail++;
	if (strlen(tail) > 32)
		tail += strlen(tail) - 32;
	if (*tail == '\0')
		tail = "state";

	xasprintf(&root, "%s/%s-%016llx", CLUSTER_FALLBACK, tail,
	    (unsigned long long)hash);
	free(clean);
	return (root);
}

/* Percent-encode s for a URI query value; '/' may stay as it is. */
static char *
cluster_encode(const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			*out, *o;
	unsigned char		 ch;

	out = o = xmalloc(strlen(s) * 3 + 1);
	for (; *s != '\0'; s++) {
		ch = (unsigned char)*s;
		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' ||
		    ch == '~' || ch == '/')
			*o++ = ch;
		else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 0xf];
		}
	}
	*o = '\0';
	return (out);
}

/* Point every path at root; fail if the socket path cannot be bound. */
static int
cluster_set_root(struct cluster *c, char *root, int fallback, char **cause)
{
	struct sockaddr_un	 sun;
	char			*socket, *host;

	free(c->root);
	free(c->data);
	free(c->log);
	free(c->sockdir);
	free(c->url);
	c->root = root;
	c->fallback = fallback;
	c->data = path_join(root, CLUSTER_DATA);
	c->log = path_join(root, CLUSTER_LOG);
	c->sockdir = path_join(root, CLUSTER_RUN);

	host = cluster_encode(c->sockdir);
	xasprintf(&c->url, "postgresql://%s@/%s?host=%s&port=%s",
	    CLUSTER_ROLE, CLUSTER_DATABASE, host, CLUSTER_PORT);
	free(host);

	/* libpq splits host on commas and has no way to quote one. */
	if (strchr(c->sockdir, ',') != NULL) {
		xasprintf(cause, "socket folder '%s' contains a comma, which "
		    "libpq cannot connect through: choose another state_dir",
		    c->sockdir);
		return (-1);
	}
	socket = path_join(c->sockdir, CLUSTER_SOCKET);
	if (strlen(socket) >= sizeof sun.sun_path) {
		xasprintf(cause, "socket path '%s' is too long (%zu bytes, at "
		    "most %zu): choose a shorter state_dir", socket,
		    strlen(socket), sizeof sun.sun_path - 1);
		free(socket);
		return (-1);
	}
	free(socket);
	return (0);
}

/*
 * Whether the server's user will be able to use state_dir/pg: it must be
 * able to search state_dir (or, if that does not exist yet, the nearest
 * folder above it), and to write state_dir/pg unless root owns that, since
 * root hands its own folders over.
 */
static int
cluster_primary_usable(const struct cluster *c, const char *pg)
{
	struct stat	 st;
	char		*dir, *slash;
	int		 ok;

	dir = xstrdup(c->state_dir);
	while (stat(dir, &st) != 0 && errno == ENOENT) {
		slash = strrchr(dir, '/');
		if (slash == NULL || slash == dir) {
			dir[1] = '\0';
			break;
		}
		*slash = '\0';
	}
	ok = cluster_user_can(c, dir, X_OK);
	free(dir);
	if (!ok)
		return (0);

	if (stat(pg, &st) != 0)
		return (errno == ENOENT);
	if (st.st_uid == 0)
		return (1);
	return (cluster_user_can(c, pg, R_OK|W_OK|X_OK));
}

/* Create a cluster folder; as root, hand it to the server's user. */
static int
cluster_mkdir(const struct cluster *c, const char *path, char **cause)
{
	struct stat	st;
	int		fd;

	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		xasprintf(cause, "could not create '%s': %s", path,
		    strerror(errno));
		return (-1);
	}
	if (!c->drop)
		return (0);

	fd = open(path, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
	if (fd == -1) {
		xasprintf(cause, "could not open '%s': %s", path,
		    strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == 0 && st.st_uid == 0 &&
	    fchown(fd, c->uid, c->gid) != 0) {
		xasprintf(cause, "could not give '%s' to user '%s': %s", path,
		    CLUSTER_RUN_AS, strerror(errno));
		close(fd);
		return (-1);
	}
	close(fd);
	return (0);
}

/* Create the folders above a fallback cluster, searchable by everyone. */
static int
cluster_mkdir_fallback(char **cause)
{
	static const char *const	 dirs[] = {
		"/var/lib/objwatch", CLUSTER_FALLBACK
	};
	size_t				 i;

	for (i = 0; i < nitems(dirs); i++) {
		if (mkdir(dirs[i], 0755) == 0) {
			if (chmod(dirs[i], 0755) != 0) {
				xasprintf(cause, "could not change mode of "
				    "'%s': %s", dirs[i], strerror(errno));
				return (-1);
			}
		} else if (errno != EEXIST) {
			xasprintf(cause, "could not create '%s': %s", dirs[i],
			    strerror(errno));
			return (-1);
		}
	}
	return (0);
}

/*
 * Create state_dir and the folders above it that are missing. As root they
 * must let the server's user through whatever the umask, or cluster_open
 * in another process would have chosen differently.
 */
static int
cluster_mkdir_state(const struct cluster *c, char **cause)
{
	char	*copy, *p;
	int	 last = 0;

	copy = xstrdup(c->state_dir);
	for (p = copy + 1; !last; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		last = *p == '\0';
		*p = '\0';
		if (mkdir(copy, c->drop ? 0711 : 0700) == 0) {
			if (c->drop && chmod(copy, 0711) != 0) {
				xasprintf(cause, "could not change mode of "
				    "'%s': %s", copy, strerror(errno));
				free(copy);
				return (-1);
			}
		} else if (errno != EEXIST) {
			xasprintf(cause, "could not create '%s': %s", copy,
			    strerror(errno));
			free(copy);
			return (-1);
		}
		if (!last)
			*p = '/';
	}
	free(copy);
	return (0);
}

/*
 * Create the cluster folder and check the server's user can write it. As
 * root, a state_dir/pg that user cannot use (state_dir under /root, or a
 * restrictive umask) sends the cluster to the fallback folder instead.
 */
static int
cluster_prepare_root(struct cluster *c, char **cause)
{
	if (!c->fallback) {
		if (cluster_mkdir_state(c, cause) != 0 ||
		    cluster_mkdir(c, c->root, cause) != 0)
			return (-1);
		if (cluster_user_can(c, c->root, R_OK|W_OK|X_OK))
			return (0);
		if (!c->drop) {
			xasprintf(cause, "could not write '%s': %s", c->root,
			    strerror(errno));
			return (-1);
		}
		if (cluster_set_root(c, cluster_fallback_root(c->state_dir), 1,
		    cause) != 0)
			return (-1);
	}

	log_info("user '%s' cannot use '%s': PostgreSQL cluster in '%s'",
	    CLUSTER_RUN_AS, c->state_dir, c->root);
	if (cluster_mkdir_fallback(cause) != 0 ||
	    cluster_mkdir(c, c->root, cause) != 0)
		return (-1);
	if (!cluster_user_can(c, c->root, R_OK|W_OK|X_OK)) {
		xasprintf(cause, "user '%s' cannot write '%s'", CLUSTER_RUN_AS,
		    c->root);
		return (-1);
	}
	return (0);
}

/* Read the major version a data folder was made by, or NULL. */
static char *
cluster_data_version(const char *data)
{
	char	*path, buf[32];
	ssize_t	 n;
	int	 fd;

	path = path_join(data, "PG_VERSION");
	fd = open(path, O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC);
	free(path);
	if (fd == -1)
		return (NULL);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return (NULL);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0' || strchr(buf, '/') != NULL)
		return (NULL);
	return (xstrdup(buf));
}

static int
cluster_executable(const char *dir, const char *name)
{
	struct stat	 st;
	char		*path;
	int		 ok;

	path = path_join(dir, name);
	ok = stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0;
	free(path);
	return (ok);
}

/* The highest /usr/lib/postgresql/VERSION/bin with an initdb, or NULL. */
static char *
cluster_debian_bindir(void)
{
	DIR		*d;
	struct dirent	*de;
	char		*dir, *best = NULL, *end;
	long		 major, minor, best_major = -1, best_minor = -1;

	if ((d = opendir(CLUSTER_DEBIAN)) == NULL)
		return (NULL);
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		major = strtol(de->d_name, &end, 10);
		minor = *end == '.' ? strtol(end + 1, NULL, 10) : 0;
		if (major < best_major ||
		    (major == best_major && minor <= best_minor))
			continue;
		xasprintf(&dir, "%s/%s/bin", CLUSTER_DEBIAN, de->d_name);
		if (!cluster_executable(dir, "initdb")) {
			free(dir);
			continue;
		}
		free(best);
		best = dir;
		best_major = major;
		best_minor = minor;
	}
	closedir(d);
	return (best);
}

/* The first folder in PATH holding an executable name, or NULL. */
static char *
cluster_path_bindir(const char *name)
{
	const char	*path, *p, *colon;
	char		*dir;

	if ((path = getenv("PATH")) == NULL)
		return (NULL);
	for (p = path; *p != '\0'; p = colon + 1) {
		colon = p + strcspn(p, ":");
		if (colon != p && *p == '/') {
			dir = xstrndup(p, colon - p);
			if (cluster_executable(dir, name))
				return (dir);
			free(dir);
		}
		if (*colon == '\0')
			break;
	}
	return (NULL);
}

/*
 * Find initdb and pg_ctl: OBJWATCH_PG_BINDIR, else Debian's folder for the
 * version the cluster was made by, else Debian's highest, else PATH.
 */
static int
cluster_find_binaries(struct cluster *c, char **cause)
{
	const char	*env;
	char		*bindir = NULL, *version, *dir;

	env = getenv("OBJWATCH_PG_BINDIR");
	if (env != NULL && *env != '\0') {
		if (!cluster_executable(env, "initdb") ||
		    !cluster_executable(env, "pg_ctl")) {
			xasprintf(cause, "initdb or pg_ctl not found in '%s' "
			    "(OBJWATCH_PG_BINDIR)", env);
			return (-1);
		}
		bindir = xstrdup(env);
	}
	if (bindir == NULL &&
	    (version = cluster_data_version(c->data)) != NULL) {
		xasprintf(&dir, "%s/%s/bin", CLUSTER_DEBIAN, version);
		free(version);
		if (cluster_executable(dir, "initdb") &&
		    cluster_executable(dir, "pg_ctl"))
			bindir = dir;
		else
			free(dir);
	}
	if (bindir == NULL)
		bindir = cluster_debian_bindir();
	if (bindir == NULL)
		bindir = cluster_path_bindir("initdb");
	if (bindir == NULL) {
		xasprintf(cause, "initdb not found: install Debian's "
		    "postgresql package, set OBJWATCH_PG_BINDIR or configure "
		    "a database");
		return (-1);
	}

	free(c->initdb);
	free(c->pg_ctl);
	c->initdb = path_join(bindir, "initdb");
	if (cluster_executable(bindir, "pg_ctl"))
		c->pg_ctl = path_join(bindir, "pg_ctl");
	else if ((dir = cluster_path_bindir("pg_ctl")) != NULL) {
		c->pg_ctl = path_join(dir, "pg_ctl");
		free(dir);
	} else {
		xasprintf(cause, "pg_ctl not found next to '%s' or in PATH",
		    c->initdb);
		free(bindir);
		return (-1);
	}
	free(bindir);
	log_debug("PostgreSQL programs: '%s', '%s'", c->initdb, c->pg_ctl);
	return (0);
}

/*
 * Append s to name in the folder dir, both made by initdb as the server's
 * user: as root, follow no link and write no file with other names.
 */
static int
cluster_append(const char *dir, const char *name, const char *s,
    char **cause)
{
	struct stat	 st;
	size_t		 len = strlen(s);
	ssize_t		 n;
	int		 dfd, fd;

	dfd = open(dir, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
	if (dfd == -1) {
		xasprintf(cause, "could not open '%s': %s", dir,
		    strerror(errno));
		return (-1);
	}
	fd = openat(dfd, name, O_WRONLY|O_APPEND|O_NOFOLLOW|O_NONBLOCK|
	    O_CLOEXEC);
	close(dfd);
	if (fd == -1) {
		xasprintf(cause, "could not open '%s/%s': %s", dir, name,
		    strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		xasprintf(cause, "could not open '%s/%s': not a plain file "
		    "with one link", dir, name);
		close(fd);
		return (-1);
	}
	n = write(fd, s, len);
	if (n != (ssize_t)len) {
		xasprintf(cause, "could not write '%s/%s': %s", dir, name,
		    n == -1 ? strerror(errno) : "short write");
		close(fd);
		return (-1);
	}
	if (close(fd) != 0) {
		xasprintf(cause, "could not write '%s/%s': %s", dir, name,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * Make the cluster: initdb into data.initdb, add the include of our
 * settings, then rename it to data, so a data folder is always complete.
 */
static int
cluster_initdb(struct cluster *c, char **cause)
{
	char		*newdata, *pw, msg[64];
	char		*argv[] = {
		c->initdb, "-D", CLUSTER_DATA_NEW, "-U", CLUSTER_ADMIN,
		"--pwfile=" CLUSTER_ADMIN_PW, "--auth-local=scram-sha-256",
		"--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale",
		"--no-instructions", NULL
	};
	char		*rm[] = {
		"/bin/rm", "-rf", "--", CLUSTER_DATA_NEW, NULL
	};
	struct stat	 st;
	double		 t0;
	int		 status;

	newdata = path_join(c->root, CLUSTER_DATA_NEW);
	if (lstat(newdata, &st) == 0) {
		/* Under .lock, so it is a leftover of a killed initdb. */
		log_warnx("removing '%s', left by an interrupted initdb",
		    newdata);
		if (cluster_run(c, rm, &status, cause) != 0) {
			free(newdata);
			return (-1);
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			cluster_status_string(status, msg, sizeof msg);
			xasprintf(cause, "could not remove '%s' (%s): see '%s'",
			    newdata, msg, c->log);
			free(newdata);
			return (-1);
		}
	}

	log_info("creating PostgreSQL cluster in '%s'", c->data);
	t0 = cluster_now();
	if ((pw = cluster_admin_password(c, 1, cause)) == NULL) {
		free(newdata);
		return (-1);
	}
	explicit_bzero(pw, strlen(pw));
	free(pw);
	if (cluster_run(c, argv, &status, cause) != 0) {
		free(newdata);
		return (-1);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		cluster_status_string(status, msg, sizeof msg);
		xasprintf(cause, "initdb failed (%s): see '%s'", msg, c->log);
		free(newdata);
		return (-1);
	}

	if (cluster_append(newdata, "postgresql.conf", "\n# objwatch: socket "
	    "and port, rewritten at each start\ninclude '" CLUSTER_CONF "'\n",
	    cause) != 0) {
		free(newdata);
		return (-1);
	}
	if (rename(newdata, c->data) != 0) {
		xasprintf(cause, "could not rename '%s' to '%s': %s", newdata,
		    c->data, strerror(errno));
		free(newdata);
		return (-1);
	}
	free(newdata);
	log_info("created PostgreSQL cluster in %.1fs", cluster_now() - t0);
	return (0);
}

/*
 * Write text as data/name, through data/tmp and a rename, owned by the
 * server's user. As root, in a folder of the server's user: see
 * cluster_append.
 */
static int
cluster_write_data(const struct cluster *c, const char *name,
    const char *tmp, const char *text, char **cause)
{
	size_t		 len;
	ssize_t		 n;
	int		 dfd, fd;

	dfd = open(c->data, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC);
	if (dfd == -1) {
		xasprintf(cause, "could not open '%s': %s", c->data,
		    strerror(errno));
		return (-1);
	}
	if (unlinkat(dfd, tmp, 0) != 0 && errno != ENOENT) {
		xasprintf(cause, "could not remove '%s/%s': %s", c->data,
		    tmp, strerror(errno));
		goto fail;
	}
	fd = openat(dfd, tmp, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC,
	    0600);
	if (fd == -1) {
		xasprintf(cause, "could not create '%s/%s': %s", c->data,
		    tmp, strerror(errno));
		goto fail;
	}
	len = strlen(text);
	n = write(fd, text, len);
	if (n != (ssize_t)len ||
	    (c->drop && fchown(fd, c->uid, c->gid) != 0)) {
		xasprintf(cause, "could not write '%s/%s': %s", c->data, tmp,
		    n == -1 || n == (ssize_t)len ? strerror(errno) :
		    "short write");
		close(fd);
		goto fail;
	}
	if (close(fd) != 0 || renameat(dfd, tmp, dfd, name) != 0) {
		xasprintf(cause, "could not write '%s/%s': %s", c->data,
		    name, strerror(errno));
		goto fail;
	}
	close(dfd);
	return (0);

fail:
	unlinkat(dfd, tmp, 0);
	close(dfd);
	return (-1);
}

/*
 * Write data/pg_hba.conf: objwatch's role reaches its database over the
 * socket without a password; every other role, the superuser among them,
 * needs its password; nothing comes over TCP (there is no TCP listener
 * either).
 */
static int
cluster_write_hba(const struct cluster *c, char **cause)
{
	return (cluster_write_data(c, CLUSTER_HBA, CLUSTER_HBA_TMP,
	    "# Written by objwatch before each start: changes here are lost.\n"
	    "# objwatch's role (no superuser) may reach its database only,\n"
	    "# over the socket, whose folder only the server's user can\n"
	    "# enter; every other role needs its password.\n"
	    "local\t" CLUSTER_DATABASE "\t" CLUSTER_ROLE "\t\ttrust\n"
	    "local\tall\tall\t\tscram-sha-256\n"
	    "host\tall\tall\t0.0.0.0/0\treject\n"
	    "host\tall\tall\t::/0\t\treject\n", cause));
}

/*
 * The superuser's password, from root/admin.password; made (32 random
 * bytes as hex, mode 0600, owned by the server's user so initdb can read
 * it) when create is set and there is none. NULL with *cause otherwise.
 */
static char *
cluster_admin_password(const struct cluster *c, int create, char **cause)
{
	unsigned char	 raw[16];
	char		*path, buf[128];
	ssize_t		 n;
	size_t		 i;
	int		 fd;

	path = path_join(c->root, CLUSTER_ADMIN_PW);
	fd = open(path, O_RDONLY|O_NOFOLLOW|O_CLOEXEC);
	if (fd != -1) {
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n < 16) {
			xasprintf(cause, "'%s' holds no password", path);
			free(path);
			return (NULL);
		}
		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		free(path);
		return (xstrdup(buf));
	}
	if (errno != ENOENT || !create) {
		xasprintf(cause, "could not read '%s': %s", path,
		    strerror(errno));
		free(path);
		return (NULL);
	}
	if ((fd = open("/dev/urandom", O_RDONLY|O_CLOEXEC)) == -1 ||
	    read(fd, raw, sizeof raw) != (ssize_t)sizeof raw) {
		xasprintf(cause, "could not read /dev/urandom: %s",
		    strerror(errno));
		if (fd != -1)
			close(fd);
		free(path);
		return (NULL);
	}
	close(fd);
	for (i = 0; i < sizeof raw; i++)
		snprintf(buf + 2 * i, 3, "%02x", raw[i]);
	fd = open(path, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0600);
	if (fd == -1 || write(fd, buf, 32) != 32 || write(fd, "\n", 1) != 1 ||
	    (c->drop && fchown(fd, c->uid, c->gid) != 0) || close(fd) != 0) {
		xasprintf(cause, "could not write '%s': %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		unlink(path);
		free(path);
		return (NULL);
	}
	free(path);
	return (xstrdup(buf));
}

/*
 * Write data/objwatch.conf: no TCP, the socket in our run folder. The
 * folder goes in double quotes inside the string, as unix_socket_directories
 * is a list, so spaces and quotes stay part of it.
 */
static int
cluster_write_conf(const struct cluster *c, char **cause)
{
	char		*text, *value, *o;
	const char	*p;
	int		 rc;

	/* Each character becomes at most two, plus the quotes. */
	value = o = xmalloc(strlen(c->sockdir) * 2 + 3);
	*o++ = '"';
	for (p = c->sockdir; *p != '\0'; p++) {
		if (*p == '"') {
			*o++ = '"';
			*o++ = '"';
		} else if (*p == '\'') {
			*o++ = '\'';
			*o++ = '\'';
		} else if (*p == '\\') {
			*o++ = '\\';
			*o++ = '\\';
		} else
			*o++ = *p;
	}
	*o++ = '"';
	*o = '\0';
	xasprintf(&text, "# Written by objwatch before each start: changes "
	    "here are lost.\nlisten_addresses = ''\nport = %s\n"
	    "unix_socket_directories = '%s'\nunix_socket_permissions = 0700\n"
	    "# no JIT: the service runs with MemoryDenyWriteExecute=\n"
	    "jit = off\n",
	    CLUSTER_PORT, value);
	free(value);

	rc = cluster_write_data(c, CLUSTER_CONF, CLUSTER_CONF_TMP, text,
	    cause);
	free(text);
	return (rc);
}

/* Ask pg_ctl whether the server runs: *running is 1 or 0. */
static int
cluster_running(const struct cluster *c, int *running, char **cause)
{
	char	*argv[] = { c->pg_ctl, "status", "-D", CLUSTER_DATA, NULL };
	char	 msg[64];
	int	 status;

	if (cluster_run(c, argv, &status, cause) != 0)
		return (-1);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		*running = 1;
		return (0);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
		*running = 0;
		return (0);
	}
	cluster_status_string(status, msg, sizeof msg);
	xasprintf(cause, "pg_ctl status failed on '%s' (%s): see '%s'",
	    c->data, msg, c->log);
	return (-1);
}

/* Start the server and wait until it accepts connections. */
static int
cluster_pg_ctl_start(const struct cluster *c, char **cause)
{
	char	*argv[] = {
		c->pg_ctl, "start", "-w", "-t", NULL, "-D", CLUSTER_DATA,
		"-l", CLUSTER_LOG, "-s", NULL
	};
	char	 timeout[16], msg[64];
	double	 t0;
	int	 status;

	snprintf(timeout, sizeof timeout, "%d", CLUSTER_TIMEOUT);
	argv[4] = timeout;
	t0 = cluster_now();
	if (cluster_run(c, argv, &status, cause) != 0)
		return (-1);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		cluster_status_string(status, msg, sizeof msg);
		xasprintf(cause, "pg_ctl start failed on '%s' (%s): see '%s'",
		    c->data, msg, c->log);
		return (-1);
	}
	log_info("started PostgreSQL in '%s' in %.1fs", c->data,
	    cluster_now() - t0);
	return (0);
}

/* Have a running server read its configuration files again. */
static int
cluster_pg_ctl_reload(const struct cluster *c, char **cause)
{
	char	*argv[] = { c->pg_ctl, "reload", "-D", CLUSTER_DATA, "-s",
	    NULL };
	char	 msg[64];
	int	 status;

	if (cluster_run(c, argv, &status, cause) != 0)
		return (-1);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		cluster_status_string(status, msg, sizeof msg);
		xasprintf(cause, "pg_ctl reload failed on '%s' (%s): see '%s'",
		    c->data, msg, c->log);
		return (-1);
	}
	return (0);
}

/* Stop the server, fast: sessions are cut, nothing is lost. */
static void
cluster_pg_ctl_stop(const struct cluster *c)
{
	char	*argv[] = {
		c->pg_ctl, "stop", "-m", "fast", "-w", "-t", NULL, "-D",
		CLUSTER_DATA, "-s", NULL
	};
	char	 timeout[16], msg[64], *cause;
	double	 t0;
	int	 status, running;

	if (cluster_running(c, &running, &cause) != 0) {
		log_warnx("%s", cause);
		free(cause);
		return;
	}
	if (!running) {
		log_debug("PostgreSQL in '%s' is not running", c->data);
		return;
	}

	snprintf(timeout, sizeof timeout, "%d", CLUSTER_TIMEOUT);
	argv[6] = timeout;
	t0 = cluster_now();
	if (cluster_run(c, argv, &status, &cause) != 0) {
		log_warnx("%s", cause);
		free(cause);
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		cluster_status_string(status, msg, sizeof msg);
		log_warnx("pg_ctl stop failed on '%s' (%s): see '%s'",
		    c->data, msg, c->log);
		return;
	}
	log_info("stopped PostgreSQL in '%s' in %.1fs", c->data,
	    cluster_now() - t0);
}

static void
cluster_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* A session as user (with password, or NULL for none) on dbname. */
static PGconn *
cluster_connect(const struct cluster *c, const char *user,
    const char *password, const char *dbname, char **cause)
{
	const char *const	 keys[] = {
		"host", "port", "user", "dbname", "connect_timeout",
		"fallback_application_name", "password", NULL
	};
	const char *const	 values[] = {
		c->sockdir, CLUSTER_PORT, user, dbname, "10", "objwatch",
		password, NULL
	};
	PGconn			*conn;
	char			*msg;

	conn = PQconnectdbParams(keys, values, 0);
	if (conn != NULL && PQstatus(conn) == CONNECTION_OK) {
		PQsetNoticeProcessor(conn, cluster_notice, NULL);
		return (conn);
	}
	msg = xstrdup(conn != NULL ? PQerrorMessage(conn) : "out of memory");
	msg[strcspn(msg, "\n")] = '\0';
	xasprintf(cause, "could not connect to database '%s' in '%s' as "
	    "'%s': %s", dbname, c->sockdir, user, msg);
	free(msg);
	PQfinish(conn);
	return (NULL);
}

/* Wait for a server another process started to take connections. */
static int
cluster_wait_ready(const struct cluster *c, char **cause)
{
	const char *const	 keys[] = {
		"host", "port", "user", "dbname", NULL
	};
	const char *const	 values[] = {
		c->sockdir, CLUSTER_PORT, CLUSTER_ROLE, "postgres", NULL
	};
	struct timespec		 ts = { 0, 100 * 1000 * 1000 };
	PGPing			 ping;
	double			 deadline;

	deadline = cluster_now() + CLUSTER_TIMEOUT;
	for (;;) {
		ping = PQpingParams(keys, values, 0);
		if (ping == PQPING_OK)
			return (0);
		if (ping != PQPING_REJECT || cluster_now() > deadline)
			break;
		nanosleep(&ts, NULL);
	}
	xasprintf(cause, "PostgreSQL in '%s' runs but does not answer on "
	    "'%s': see '%s'", c->data, c->sockdir, c->log);
	return (-1);
}

static void
cluster_pq_error(const struct cluster *c, PGconn *conn, PGresult *res,
    const char *what, char **cause)
{
	char	*msg;

	msg = xstrdup(res != NULL && *PQresultErrorMessage(res) != '\0' ?
	    PQresultErrorMessage(res) : PQerrorMessage(conn));
	msg[strcspn(msg, "\n")] = '\0';
	xasprintf(cause, "%s database '%s' in '%s': %s", what,
	    CLUSTER_DATABASE, c->data, msg);
	free(msg);
}

/* Run each statement of sql (a NULL-terminated list); -1 at the first error. */
static int
cluster_exec(const struct cluster *c, PGconn *conn, const char *const *sql,
    const char *what, char **cause)
{
	PGresult	*res;
	ExecStatusType	 st;

	for (; *sql != NULL; sql++) {
		res = PQexec(conn, *sql);
		st = PQresultStatus(res);
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
			cluster_pq_error(c, conn, res, what, cause);
			PQclear(res);
			return (-1);
		}
		PQclear(res);
	}
	return (0);
}

/* Whether the session's own role is a superuser: 1, 0, or -1 on error. */
static int
cluster_is_superuser(const struct cluster *c, PGconn *conn, char **cause)
{
	PGresult	*res;
	int		 super;

	res = PQexec(conn, "SELECT rolsuper FROM pg_roles WHERE rolname = "
	    "current_user");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		cluster_pq_error(c, conn, res, "could not look up roles in",
		    cause);
		PQclear(res);
		return (-1);
	}
	super = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return (super);
}

/*
 * Upgrade a cluster made when objwatch's role was initdb's superuser: that
 * role is renamed objwatch_admin and given the password; a new objwatch
 * role, with no privilege beyond its own, takes over the database, its
 * schema and every object in it, all in one transaction, so a crash leaves
 * either the old cluster or the new one. The rename must come from another
 * session, hence a short-lived second superuser, dropped after.
 */
static int
cluster_upgrade_roles(const struct cluster *c, PGconn *old, const char *pw,
    char **cause)
{
	static const char *const owners[] = {
		"BEGIN",
		"ALTER ROLE " CLUSTER_ROLE " RENAME TO " CLUSTER_ADMIN,
		"CREATE ROLE " CLUSTER_ROLE " LOGIN NOSUPERUSER NOCREATEDB "
		"NOCREATEROLE NOREPLICATION NOBYPASSRLS",
		"ALTER DATABASE " CLUSTER_DATABASE " OWNER TO " CLUSTER_ROLE,
		"DO $$ DECLARE r record; BEGIN "
		"IF to_regnamespace('objwatch') IS NULL THEN RETURN; END IF; "
		"ALTER SCHEMA objwatch OWNER TO " CLUSTER_ROLE "; "
		"FOR r IN SELECT c.oid::regclass AS name, c.relkind FROM "
		"pg_class c WHERE c.relnamespace = 'objwatch'::regnamespace "
		"AND c.relkind IN ('r', 'p', 'v', 'm', 'f') LOOP "
		"EXECUTE format('ALTER %s %s OWNER TO " CLUSTER_ROLE "', "
		"CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN "
		"'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' "
		"END, r.name); END LOOP; "
		"FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p "
		"WHERE p.pronamespace = 'objwatch'::regnamespace LOOP "
		"EXECUTE format('ALTER ROUTINE %s OWNER TO " CLUSTER_ROLE "', "
		"r.name); END LOOP; "
		"FOR r IN SELECT t.oid::regtype AS name FROM pg_type t WHERE "
		"t.typnamespace = 'objwatch'::regnamespace AND t.typtype IN "
		"('e', 'd') LOOP "
		"EXECUTE format('ALTER TYPE %s OWNER TO " CLUSTER_ROLE "', "
		"r.name); END LOOP; END $$",
		NULL, NULL
	};
	const char	*sql[3] = { NULL, NULL, NULL };
	char		*lit, *tmp_pw, *set_pw, *mk;
	PGconn		*up;
	int		 rc = -1;

	log_warnx("PostgreSQL in '%s': objwatch's role is a superuser (a "
	    "cluster made by an older objwatch); making it an ordinary role "
	    "that owns only its database", c->data);
	/* the second superuser's password: the admin's, used once */
	if ((lit = PQescapeLiteral(old, pw, strlen(pw))) == NULL) {
		cluster_pq_error(c, old, NULL, "could not quote for", cause);
		return (-1);
	}
	xasprintf(&mk, "CREATE ROLE " CLUSTER_UPGRADE " SUPERUSER LOGIN "
	    "PASSWORD %s", lit);
	sql[0] = "DROP ROLE IF EXISTS " CLUSTER_UPGRADE;
	sql[1] = mk;
	rc = cluster_exec(c, old, sql, "could not prepare the upgrade of",
	    cause);
	free(mk);
	if (rc != 0) {
		PQfreemem(lit);
		return (-1);
	}
	rc = -1;
	tmp_pw = xstrdup(pw);
	up = cluster_connect(c, CLUSTER_UPGRADE, tmp_pw, CLUSTER_DATABASE,
	    cause);
	free(tmp_pw);
	if (up == NULL) {
		PQfreemem(lit);
		return (-1);
	}
	xasprintf(&set_pw, "ALTER ROLE " CLUSTER_ADMIN " PASSWORD %s", lit);
	PQfreemem(lit);
	if (cluster_exec(c, up, owners, "could not upgrade the roles of",
	    cause) != 0)
		goto out;
	sql[0] = set_pw;
	sql[1] = "COMMIT";
	if (cluster_exec(c, up, sql, "could not upgrade the roles of",
	    cause) != 0)
		goto out;
	log_info("PostgreSQL in '%s': role '%s' now owns database '%s' and "
	    "is no superuser; the superuser is '%s'", c->data, CLUSTER_ROLE,
	    CLUSTER_DATABASE, CLUSTER_ADMIN);
	rc = 0;
out:
	free(set_pw);
	PQfinish(up);
	return (rc);
}

/*
 * Make sure the roles and the database are as they should be: objwatch
 * an ordinary role owning database objwatch, the superuser reached only
 * with its password. Creates what is missing; upgrades an older cluster.
 */
static int
cluster_secure(const struct cluster *c, char **cause)
{
	static const char *const fix[] = {
		"DROP ROLE IF EXISTS " CLUSTER_UPGRADE,
		"DO $$ BEGIN "
		"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '"
		CLUSTER_ROLE "') THEN CREATE ROLE " CLUSTER_ROLE " LOGIN "
		"NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS; "
		"END IF; END $$",
		"ALTER ROLE " CLUSTER_ROLE " NOSUPERUSER NOCREATEDB NOCREATEROLE "
		"NOREPLICATION NOBYPASSRLS",
		NULL
	};
	static const char *const mkdb[] = {
		"CREATE DATABASE " CLUSTER_DATABASE " OWNER " CLUSTER_ROLE,
		NULL
	};
	PGconn		*conn;
	PGresult	*res;
	char		*pw, *ignored;
	int		 super, exists, rc = -1;

	if ((pw = cluster_admin_password(c, 1, cause)) == NULL)
		return (-1);
	/* An older cluster lets objwatch in as the superuser. */
	if ((conn = cluster_connect(c, CLUSTER_ROLE, NULL, CLUSTER_DATABASE,
	    &ignored)) == NULL)
		free(ignored);
	else {
		super = cluster_is_superuser(c, conn, cause);
		if (super == 1 && cluster_upgrade_roles(c, conn, pw,
		    cause) != 0)
			super = -1;
		PQfinish(conn);
		if (super == -1)
			goto out;
	}

	if ((conn = cluster_connect(c, CLUSTER_ADMIN, pw, "postgres",
	    cause)) == NULL)
		goto out;
	if (cluster_exec(c, conn, fix, "could not set up the roles of",
	    cause) != 0)
		goto out_conn;
	res = PQexec(conn, "SELECT 1 FROM pg_database WHERE datname = '"
	    CLUSTER_DATABASE "'");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		cluster_pq_error(c, conn, res, "could not look up", cause);
		PQclear(res);
		goto out_conn;
	}
	exists = PQntuples(res) > 0;
	PQclear(res);
	if (!exists) {
		if (cluster_exec(c, conn, mkdb, "could not create", cause) != 0)
			goto out_conn;
		log_info("created database '%s', owned by role '%s'",
		    CLUSTER_DATABASE, CLUSTER_ROLE);
	}
	rc = 0;
out_conn:
	PQfinish(conn);
out:
	explicit_bzero(pw, strlen(pw));
	free(pw);
	return (rc);
}

/* Open (creating) a lock file and flock it with op. */
static int
cluster_lock(const struct cluster *c, const char *name, int *fdp, int op,
    char **cause)
{
	char	*path;
	int	 fd = *fdp;

	path = path_join(c->root, name);
	if (fd == -1) {
		/* Read-only: as root, this writes nothing a link may name. */
		fd = open(path, O_RDONLY|O_CREAT|O_NOFOLLOW|O_NONBLOCK|
		    O_CLOEXEC, 0600);
		if (fd == -1) {
			xasprintf(cause, "could not open '%s': %s", path,
			    strerror(errno));
			free(path);
			return (-1);
		}
		*fdp = fd;
	}
	if ((op & LOCK_EX) && flock(fd, op|LOCK_NB) == 0) {
		free(path);
		return (0);
	}
	if (op & LOCK_EX)
		log_info("waiting for another objwatch to finish with '%s'",
		    c->root);
	while (flock(fd, op) != 0) {
		if (errno != EINTR) {
			xasprintf(cause, "could not lock '%s': %s", path,
			    strerror(errno));
			free(path);
			return (-1);
		}
	}
	free(path);
	return (0);
}

/*
 * Stop the server if no other process holds .users; called with .lock
 * held. A failed upgrade gives up our shared lock too, which is fine: we
 * are done with the cluster either way.
 */
static void
cluster_stop_if_last(struct cluster *c)
{
	if (flock(c->users_fd, LOCK_EX|LOCK_NB) == 0)
		cluster_pg_ctl_stop(c);
	else if (errno == EWOULDBLOCK)
		log_debug("PostgreSQL in '%s' is still in use, leaving it "
		    "running", c->data);
	else
		log_warn("could not lock '%s/.users'", c->root);
	close(c->users_fd);
	c->users_fd = -1;
}

/* Work out where the cluster for state_dir lives and its URL; start nothing. */
struct cluster *
cluster_open(const char *state_dir, char **cause)
{
	struct cluster	*c;
	char		*pg;
	size_t		 len;

	if (state_dir[0] != '/') {
		xasprintf(cause, "state directory '%s' is not absolute",
		    state_dir);
		return (NULL);
	}
	if (strpbrk(state_dir, "\r\n") != NULL) {
		xasprintf(cause, "state directory '%s' contains a line break",
		    state_dir);
		return (NULL);
	}

	c = xcalloc(1, sizeof *c);
	c->lock_fd = c->users_fd = -1;
	c->state_dir = xstrdup(state_dir);
	len = strlen(c->state_dir);
	while (len > 1 && c->state_dir[len - 1] == '/')
		c->state_dir[--len] = '\0';
	if (geteuid() == 0 && cluster_lookup_user(c, cause) != 0)
		goto fail;

	pg = path_join(c->state_dir, "pg");
	if (!c->drop || cluster_primary_usable(c, pg)) {
		if (cluster_set_root(c, pg, 0, cause) != 0)
			goto fail;
	} else {
		free(pg);
		if (cluster_set_root(c, cluster_fallback_root(c->state_dir), 1,
		    cause) != 0)
			goto fail;
	}
	log_debug("PostgreSQL cluster in '%s'", c->root);
	return (c);

fail:
	cluster_close(c);
	return (NULL);
}

/*
 * Make sure the cluster exists and runs, and hold it shared until
 * cluster_close: initdb the first time, reuse a server another objwatch
 * (even a killed one) started, otherwise start it.
 */
int
cluster_start(struct cluster *c, char **cause)
{
	int	running, up = 0;

	if (c->started)
		return (0);

	if (cluster_prepare_root(c, cause) != 0)
		return (-1);
	if (cluster_lock(c, ".lock", &c->lock_fd, LOCK_EX, cause) != 0)
		return (-1);
	if (cluster_lock(c, ".users", &c->users_fd, LOCK_SH, cause) != 0)
		goto fail;
	if (cluster_mkdir(c, c->sockdir, cause) != 0)
		goto fail;
	if (cluster_find_binaries(c, cause) != 0)
		goto fail;

	if (access(c->data, F_OK) != 0) {
		if (errno != ENOENT) {
			xasprintf(cause, "could not access '%s': %s", c->data,
			    strerror(errno));
			goto fail;
		}
		if (cluster_initdb(c, cause) != 0)
			goto fail;
	} else {
		char	*version = cluster_data_version(c->data);

		if (version == NULL) {
			xasprintf(cause, "'%s' is not a PostgreSQL cluster "
			    "(no PG_VERSION): move it away", c->data);
			goto fail;
		}
		free(version);
	}

	if (cluster_running(c, &running, cause) != 0)
		goto fail;
	up = running;
	if (running) {
		log_info("using running PostgreSQL in '%s'", c->data);
		if (cluster_wait_ready(c, cause) != 0 ||
		    cluster_write_hba(c, cause) != 0 ||
		    cluster_pg_ctl_reload(c, cause) != 0)
			goto fail;
	} else {
		if (cluster_write_conf(c, cause) != 0 ||
		    cluster_write_hba(c, cause) != 0 ||
		    cluster_pg_ctl_start(c, cause) != 0)
			goto fail;
		up = 1;
	}
	if (cluster_secure(c, cause) != 0)
		goto fail;

	flock(c->lock_fd, LOCK_UN);
	c->started = 1;
	return (0);

fail:
	/* Leave no server behind that nobody uses. */
	if (up)
		cluster_stop_if_last(c);
	else if (c->users_fd != -1) {
		close(c->users_fd);
		c->users_fd = -1;
	}
	flock(c->lock_fd, LOCK_UN);
	return (-1);
}

/* Whether the server answers on its socket now (a ping, no session). */
int
cluster_answers(const struct cluster *c)
{
	const char *const	 keys[] = {
		"host", "port", "user", "dbname", "connect_timeout", NULL
	};
	const char *const	 values[] = {
		c->sockdir, CLUSTER_PORT, CLUSTER_ROLE, "postgres", "5", NULL
	};

	return (PQpingParams(keys, values, 0) == PQPING_OK);
}

/*
 * Whether the server runs, without starting it: 0, or -1 with *cause
 * saying that it does not and what starts it.
 */
int
cluster_check_running(const struct cluster *c, char **cause)
{
	if (cluster_answers(c))
		return (0);
	xasprintf(cause, "the embedded PostgreSQL in '%s' is not running "
	    "('objwatch run' starts it)", c->data);
	return (-1);
}

/*
 * Start the server again after it stopped under us (killed, crashed, or
 * stopped by hand), unless another objwatch using it has already done so:
 * under .lock, like the first start. *restarted says whether this process
 * started it.
 */
int
cluster_revive(struct cluster *c, int *restarted, char **cause)
{
	int	 running, rc = -1;

	*restarted = 0;
	if (!c->started) {
		xasprintf(cause, "the cluster in '%s' was never started",
		    c->data);
		return (-1);
	}
	if (cluster_lock(c, ".lock", &c->lock_fd, LOCK_EX, cause) != 0)
		return (-1);
	if (cluster_running(c, &running, cause) != 0)
		goto out;
	if (running) {
		/* another process's restart, or it is still starting */
		rc = cluster_wait_ready(c, cause);
		goto out;
	}
	if (cluster_write_conf(c, cause) != 0 ||
	    cluster_write_hba(c, cause) != 0 ||
	    cluster_pg_ctl_start(c, cause) != 0)
		goto out;
	*restarted = 1;
	rc = 0;
out:
	flock(c->lock_fd, LOCK_UN);
	return (rc);
}

/* The libpq URL of the cluster's objwatch database, known from cluster_open. */
const char *
cluster_url(const struct cluster *c)
{
	return (c->url);
}

/* Stop the server if no other process uses it, then free the cluster. */
void
cluster_close(struct cluster *c)
{
	char	*cause;

	if (c == NULL)
		return;
	if (c->started) {
		if (cluster_lock(c, ".lock", &c->lock_fd, LOCK_EX,
		    &cause) != 0) {
			log_warnx("%s", cause);
			free(cause);
		}
		cluster_stop_if_last(c);
	}
	if (c->users_fd != -1)
		close(c->users_fd);
	if (c->lock_fd != -1)
		close(c->lock_fd);

	free(c->state_dir);
	free(c->root);
	free(c->data);
	free(c->log);
	free(c->sockdir);
	free(c->url);
	free(c->initdb);
	free(c->pg_ctl);
	free(c->groups);
	free(c);
}
