/*
 * The running daemon: every long-lived part started together and stopped
 * together, so `objwatch run` can stop and start them again around a
 * reload.
 *
 * Stopping sets the stop flag and wakes everyone: workers finish the job in
 * hand and record it (nothing in flight is dropped; nothing queued is lost,
 * it stays in the database), sources stop watching. A reload is a stop and
 * a start with the new config: sources scan again at start, which finds
 * whatever arrived in between.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "banned.h"

/* Start the sources and workers of conf. */
int
daemon_start(struct daemon *d, const struct config *conf, char **cause)
{
	size_t	 i;

	memset(d, 0, sizeof *d);
	d->conf = conf;
	*cause = NULL;
	health_reset(conf);
	/*
	 * The endpoint is needed when a source takes webhooks; otherwise a
	 * busy port only costs /healthz, and should not stop the daemon.
	 */
	if ((d->http = http_start(conf, cause)) == NULL) {
		for (i = 0; i < conf->nsources; i++) {
			if (conf->sources[i]->webhook_token_value != NULL)
				return (-1);
		}
		log_warnx("%s: the HTTP endpoint is off", *cause);
		FREE_NULL(*cause);
	}
	d->dirs = dir_watcher_start(conf, &d->stop, cause);
	if (d->dirs == NULL && *cause != NULL) {
		http_stop(d->http);
		d->http = NULL;
		return (-1);
	}
	d->pollers = s3_pollers_start(conf, &d->stop);
	d->workers = workers_start(conf, &d->stop);
	d->beat = health_beat_start(&d->stop);
	log_info("objwatch %s running: %zu sources, %zu recipes, %d workers",
	    PACKAGE_VERSION, conf->nsources, conf->nrecipes, conf->workers);
	return (0);
}

/* Stop everything started, letting workers finish the jobs in hand. */
void
daemon_stop(struct daemon *d)
{
	d->stop = 1;
	http_stop(d->http);
	if (d->workers != NULL)
		workers_join(d->workers);
	s3_pollers_join(d->pollers);
	dir_watcher_join(d->dirs);
	health_beat_join(d->beat);
	d->beat = NULL;
	d->http = NULL;
	d->workers = NULL;
	d->pollers = NULL;
	d->dirs = NULL;
}
