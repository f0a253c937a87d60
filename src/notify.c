/*
 * Telling systemd how `objwatch run` is doing, for a Type=notify unit:
 * READY=1 once it is up, RELOADING=1 and STOPPING=1 around a reload and a
 * stop, WATCHDOG=1 every half $WATCHDOG_USEC, and a STATUS= line for
 * `systemctl status`. Outside systemd ($NOTIFY_SOCKET unset) nothing here
 * does anything, and the main loop is a plain sigwait.
 *
 * Ready, at start, means the database is migrated and every source has
 * had its first scan or listing (health_source_is_ready), so that
 * `systemctl start` returns with what was already there queued. A source
 * that failed at it (its health says failing: a bucket that is down) counts
 * as scanned, or one outage would hold the start until its timeout; while
 * the scans run, the start timeout is pushed back. After a reload, ready
 * is at once: the new config is in force, and its scans run meanwhile.
 *
 * This speaks sd_notify(3)'s protocol itself, one datagram to the AF_UNIX
 * socket $NOTIFY_SOCKET names, rather than through libsystemd: sd_notify()
 * reads the variable at each call, so it would have to stay in the
 * environment, where initdb, pg_ctl and postgres inherit it, and Debian's
 * postgres speaks the protocol too: it would announce its own READY=1 and
 * STOPPING=1 to systemd for objwatch (refused under NotifyAccess=main, with
 * a warning in the journal each time). notify_init takes the variables out
 * of the environment before any child or thread starts.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "objwatch.h"
#include "banned.h"

#define NOTIFY_TICK		1.0	/* seconds between looks at the sources */
#define NOTIFY_EXTEND_EVERY	10.0	/* seconds between start extensions */
#define NOTIFY_EXTEND_USEC	30000000ULL

static struct sockaddr_un	 notify_addr;
static socklen_t		 notify_addrlen;	/* 0: not under systemd */
static unsigned long long	 notify_watchdog_usec;	/* systemd's, 0: none */
static int			 notify_watchdog_raised;
static double			 notify_last_ping;
static double			 notify_last_extend;
static const struct config	*notify_conf;	/* whose sources are awaited */
static int			 notify_ready;

/* Send one message (KEY=value lines); failures are only worth a debug line. */
static void
notify_send(const char *msg)
{
	int	fd;

	if (notify_addrlen == 0)
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_debug("systemd notification: socket: %s", strerror(errno));
		return;
	}
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (const struct sockaddr *)&notify_addr, notify_addrlen) == -1)
		log_debug("systemd notification: %s", strerror(errno));
	close(fd);
}

/*
 * Take $NOTIFY_SOCKET and the watchdog's $WATCHDOG_USEC (when
 * $WATCHDOG_PID, if set, is this process) out of the environment, so that
 * no child inherits them. Call before any thread or child starts.
 */
void
notify_init(void)
{
	const char		*path, *usec, *pid;
	char			*end;
	unsigned long long	 n;
	size_t			 len;

	path = getenv("NOTIFY_SOCKET");
	if (path != NULL && (path[0] == '/' || path[0] == '@') &&
	    (len = strlen(path)) >= 2 && len < sizeof notify_addr.sun_path) {
		memset(&notify_addr, 0, sizeof notify_addr);
		notify_addr.sun_family = AF_UNIX;
		memcpy(notify_addr.sun_path, path, len);
		if (path[0] == '@')	/* abstract: no NUL after the name */
			notify_addr.sun_path[0] = '\0';
		notify_addrlen = offsetof(struct sockaddr_un, sun_path) + len;
	} else if (path != NULL)
		log_warnx("NOTIFY_SOCKET '%s' is not a socket path: systemd "
		    "will not hear from objwatch", path);

	usec = getenv("WATCHDOG_USEC");
	pid = getenv("WATCHDOG_PID");
	if (usec != NULL && notify_addrlen != 0 &&
	    (pid == NULL || strtol(pid, NULL, 10) == (long)getpid())) {
		errno = 0;
		n = strtoull(usec, &end, 10);
		if (errno == 0 && end != usec && *end == '\0' && n > 0)
			notify_watchdog_usec = n;
	}

	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

/* How many of conf's sources have had their first scan, or failed at it. */
static size_t
notify_sources_scanned(const struct config *conf)
{
	const struct source	*src;
	size_t			 i, n = 0;

	for (i = 0; i < conf->nsources; i++) {
		src = conf->sources[i];
		if (health_source_is_ready(src->name) ||
		    health_source_is_failing(src->name))
			n++;
	}
	return (n);
}

/* Send READY=1 once every source is scanned; until then, keep the start. */
static void
notify_check_ready(double now)
{
	const struct config	*conf = notify_conf;
	size_t			 scanned;
	char			*msg;

	scanned = notify_sources_scanned(conf);
	if (scanned == conf->nsources) {
		xasprintf(&msg, "READY=1\nSTATUS=running: %zu sources, %zu "
		    "recipes, %d workers", conf->nsources, conf->nrecipes,
		    conf->workers);
		notify_send(msg);
		free(msg);
		notify_ready = 1;
		log_debug("told systemd objwatch is ready");
		return;
	}
	if (now - notify_last_extend >= NOTIFY_EXTEND_EVERY) {
		xasprintf(&msg, "EXTEND_TIMEOUT_USEC=%llu\nSTATUS=first scan: "
		    "%zu of %zu sources done", NOTIFY_EXTEND_USEC, scanned,
		    conf->nsources);
		notify_send(msg);
		free(msg);
		notify_last_extend = now;
	}
}

/* The daemon runs with conf: READY=1 once its sources are scanned. */
void
notify_started(const struct config *conf)
{
	notify_conf = conf;
	notify_ready = 0;
	notify_last_extend = 0;
	if (notify_addrlen != 0)
		notify_check_ready(now_monotonic());
}

/* The daemon runs again with conf after a reload: READY=1 now. */
void
notify_reloaded(const struct config *conf)
{
	char	*msg;

	notify_conf = conf;
	notify_ready = 1;
	if (notify_addrlen == 0)
		return;
	xasprintf(&msg, "READY=1\nSTATUS=running: %zu sources, %zu recipes, "
	    "%d workers%s", conf->nsources, conf->nrecipes, conf->workers,
	    notify_watchdog_raised ? "\nWATCHDOG=1" : "");
	notify_send(msg);
	free(msg);
	if (notify_watchdog_raised) {
		/* back to the unit's WatchdogSec */
		xasprintf(&msg, "WATCHDOG_USEC=%llu", notify_watchdog_usec);
		notify_send(msg);
		free(msg);
		notify_watchdog_raised = 0;
	}
}

/*
 * Wait for a signal of set, as sigwait does, meanwhile sending READY=1
 * when it is due and watchdog pings. Returns 0 with *sig, or -1.
 */
int
notify_sigwait(const sigset_t *set, int *sig)
{
	struct timespec	 ts;
	double		 now, wait, ping = notify_watchdog_usec / 2e6;
	int		 n;

	if (notify_addrlen == 0)
		return (sigwait(set, sig) == 0 ? 0 : -1);
	for (;;) {
		now = now_monotonic();
		if (!notify_ready && notify_conf != NULL)
			notify_check_ready(now);
		if (ping > 0 && now - notify_last_ping >= ping) {
			notify_send("WATCHDOG=1");
			notify_last_ping = now;
		}
		wait = ping > 0 ? notify_last_ping + ping - now : 3600;
		if (!notify_ready && wait > NOTIFY_TICK)
			wait = NOTIFY_TICK;
		if (wait < 0.001)
			wait = 0.001;
		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = (long)((wait - ts.tv_sec) * 1e9);
		n = sigtimedwait(set, NULL, &ts);
		if (n > 0) {
			*sig = n;
			return (0);
		}
		if (errno != EAGAIN && errno != EINTR)
			return (-1);
	}
}

/*
 * A reload of conf begins: the jobs in hand finish first, which may take
 * longer than the watchdog allows, so it waits a lease for them.
 */
void
notify_reloading(const struct config *conf)
{
	unsigned long long	 usec;
	char			*msg;

	if (notify_addrlen == 0)
		return;
	usec = (unsigned long long)((conf->lease + 60) * 1e6);
	if (notify_watchdog_usec != 0 && usec > notify_watchdog_usec) {
		xasprintf(&msg, "RELOADING=1\nSTATUS=reloading '%s'\n"
		    "WATCHDOG=1\nWATCHDOG_USEC=%llu", conf->file, usec);
		notify_watchdog_raised = 1;
	} else
		xasprintf(&msg, "RELOADING=1\nSTATUS=reloading '%s'",
		    conf->file);
	notify_send(msg);
	free(msg);
	notify_conf = NULL;	/* freed by the reload; notify_reloaded sets it */
	notify_ready = 0;
}

/* A stop begins: systemd waits for the jobs in hand and the exit. */
void
notify_stopping(void)
{
	notify_send("STOPPING=1\nSTATUS=stopping after the jobs in hand");
}
