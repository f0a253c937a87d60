/*
 * objwatch scan: backfill what is already in the sources, and watch it
 * drain.
 *
 * It runs the daemon's own parts (struct daemon): each source's first scan
 * or listing queues whatever the ledger lacks, and this process's workers
 * (with those of any running daemon: claims never collide) process it.
 * Progress is the count of finished jobs of the chosen sources against
 * those still pending, read from the database twice a second: a bar with
 * rate and ETA on a terminal, a plain line every 5 seconds otherwise. The
 * scan ends when every chosen source has finished its first pass and none
 * of their jobs is pending.
 */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objwatch.h"
#include "banned.h"

/* A duration as people read an ETA: 45s, 3m12s, 2h05m. */
static void
scan_eta(double s, char *buf, size_t size)
{
	long	 t = (long)(s + 0.5);

	if (s < 0)
		snprintf(buf, size, "--");
	else if (t < 60)
		snprintf(buf, size, "%lds", t);
	else if (t < 3600)
		snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(buf, size, "%ldh%02ldm", t / 3600, (t / 60) % 60);
}

/* Print one progress report: a bar in place, or a line. */
static void
scan_report(long long done, long long pending, double elapsed, int tty,
    const char *waiting)
{
	char		 bar[31], eta[32];
	long long	 total = done + pending;
	double		 rate = elapsed > 0 ? done / elapsed : 0;
	int		 i, filled;

	scan_eta(rate > 0 ? pending / rate : (pending == 0 ? 0 : -1), eta,
	    sizeof eta);
	if (!tty) {
		fprintf(stderr, "scan: %lld/%lld done, %.1f/s, ETA %s%s%s\n",
		    done, total, rate, eta, waiting != NULL ? "; " : "",
		    waiting != NULL ? waiting : "");
		return;
	}
	filled = total > 0 ? (int)(30 * done / total) : 0;
	for (i = 0; i < 30; i++)
		bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
	bar[30] = '\0';
	fprintf(stderr, "\r[%s] %lld/%lld (%3lld%%) %7.1f/s ETA %-8s %s\033[K",
	    bar, done, total, total > 0 ? 100 * done / total : 0, rate, eta,
	    waiting != NULL ? waiting : "");
	fflush(stderr);
}

/*
 * Backfill conf's sources with this process's workers, reporting progress
 * on standard error until they drain or *stop is set.
 */
int
scan_run(const struct config *conf, volatile sig_atomic_t *stop,
    char **cause)
{
	struct daemon	 d;
	struct queue_progress progress;
	PGconn		*conn;
	const char	*waiting;
	char		 since[32], *why;
	double		 t0 = now_monotonic(), last_line = 0, now, db_t0;
	long long	 done = 0, pending = 0, failed = 0;
	size_t		 i;
	int		 tty = isatty(STDERR_FILENO), ready, rc = -1;

	if ((conn = db_connect(cause)) == NULL)
		return (-1);
	/* The database's clock, which stamps finished_at. */
	if (db_now(conn, &db_t0, cause) != 0) {
		db_close(conn);
		return (-1);
	}
	snprintf(since, sizeof since, "%.6f", db_t0);
	if (daemon_start_workers(&d, conf, cause) != 0) {
		db_close(conn);
		return (-1);
	}
	while (!*stop && !d.stop) {
		poll(NULL, 0, 500);
		waiting = NULL;
		ready = 1;
		for (i = 0; i < conf->nsources; i++) {
			if (!health_source_is_ready(conf->sources[i]->name)) {
				ready = 0;
				waiting = "(first scans still running)";
			}
		}
		if (queue_scan_progress(conn, conf, since, &progress,
		    &why) != 0) {
			if (!db_ok(conn)) {
				db_close(conn);
				if ((conn = db_connect_retry(stop)) == NULL) {
					free(why);
					break;
				}
			}
			log_warnx("scan: %s", why);
			free(why);
			continue;
		}
		done = progress.done;
		pending = progress.pending;
		failed = progress.failed;
		now = now_monotonic();
		if (tty || now - last_line >= 5) {
			scan_report(done, pending, now - t0, tty, waiting);
			last_line = now;
		}
		if (ready && pending == 0) {
			rc = 0;
			break;
		}
	}
	if (tty)
		fprintf(stderr, "\n");
	if (rc == 0) {
		fprintf(stderr, "scan: %lld jobs finished in %.1f s, %lld "
		    "failed%s\n", done, now_monotonic() - t0, failed,
		    failed > 0 ? " (objwatch status shows why)" : "");
		/* a script must be able to tell: no cause, just the status */
		if (failed > 0)
			rc = SCAN_FAILED;
	} else
		xasprintf(cause, "scan stopped with %lld jobs pending",
		    pending);
	daemon_stop(&d);
	db_close(conn);
	return (rc);
}
