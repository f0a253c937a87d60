/*
 * The running daemon: every long-lived part started together and stopped
 * together, so `objwatch run` can stop and start them again around a
 * reload.
 *
 * Stopping sets the stop flag and wakes everyone: workers finish the job in
 * hand and record it (nothing in flight is dropped; nothing queued is lost,
 * it stays in the database), sources stop watching. A reload stops and
 * starts sources and workers with the new config (sources scan again at
 * start, which finds whatever arrived in between) and keeps the HTTP
 * listener, which is handed the new config.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "banned.h"

/* Start everything but the HTTP endpoint: sources, workers, heartbeat. */
static int
daemon_start_parts(struct daemon *d, const struct config *conf,
    char **cause)
{
	d->conf = conf;
	d->stop = 0;
	*cause = NULL;
	health_reset(conf);
	metrics_zero(conf);
	d->dirs = dir_watcher_start(conf, &d->stop, cause);
	if (d->dirs == NULL && *cause != NULL)
		return (-1);
	d->pollers = s3_pollers_start(conf, &d->stop);
	/* before the workers: they record deliveries under conf */
	d->deliverer = deliver_start(conf, &d->stop);
	d->workers = workers_start(conf, &d->stop);
	d->schedules = schedules_start(conf, &d->stop);
	d->beat = health_beat_start(&d->stop);
	log_info("objwatch %s running: %zu sources, %zu recipes, %d workers",
	    PACKAGE_VERSION, conf->nsources, conf->nrecipes, conf->workers);
	return (0);
}

/* Stop everything but the HTTP endpoint, letting workers finish. */
static void
daemon_stop_parts(struct daemon *d)
{
	d->stop = 1;
	if (d->workers != NULL)
		workers_join(d->workers);
	s3_pollers_join(d->pollers);
	dir_watcher_join(d->dirs);
	schedules_join(d->schedules);
	d->schedules = NULL;
	deliver_join(d->deliverer);
	d->deliverer = NULL;
	health_beat_join(d->beat);
	d->beat = NULL;
	d->workers = NULL;
	d->pollers = NULL;
	d->dirs = NULL;
}

/*
 * Start the HTTP endpoint, sources and workers of conf. An address that
 * cannot be bound fails the start: /metrics, /healthz and the webhook
 * would be silently gone otherwise.
 */
int
daemon_start(struct daemon *d, const struct config *conf, char **cause)
{
	memset(d, 0, sizeof *d);
	if ((d->http = http_start(conf, cause)) == NULL)
		return (-1);
	d->listen = xstrdup(conf->listen);
	if (daemon_start_parts(d, conf, cause) != 0) {
		http_stop(d->http);
		d->http = NULL;
		FREE_NULL(d->listen);
		return (-1);
	}
	return (0);
}

/* Start sources and workers without an HTTP endpoint (objwatch scan). */
int
daemon_start_workers(struct daemon *d, const struct config *conf,
    char **cause)
{
	memset(d, 0, sizeof *d);
	return (daemon_start_parts(d, conf, cause));
}

/*
 * Move the endpoint to conf->listen, or keep it where it is. The new
 * address is bound while the old one still serves; only when it wants
 * the very port held now is the old one let go first, and then, should
 * the new one fail, bound again on that port.
 */
static void
daemon_relisten(struct daemon *d, const struct config *conf)
{
	struct http_server	*hs;
	struct config		 old;
	const char		*colon, *want;
	char			*cause, *again;
	unsigned int		 port;

	if (d->http == NULL) {
		/* off since a reload failed to bind: try again */
		if ((d->http = http_start(conf, &cause)) == NULL) {
			log_warnx("SIGHUP: %s: the HTTP endpoint stays off",
			    cause);
			free(cause);
			return;
		}
		free(d->listen);
		d->listen = xstrdup(conf->listen);
		return;
	}
	port = http_port(d->http);
	if ((hs = http_start(conf, &cause)) == NULL) {
		want = strrchr(conf->listen, ':');
		if (want == NULL || (unsigned int)atoi(want + 1) != port) {
			log_warnx("SIGHUP: %s; still listening on '%s'", cause,
			    d->listen);
			free(cause);
			return;
		}
		/* the port we hold: let it go, then take it */
		free(cause);
		http_stop(d->http);
		d->http = NULL;
		if ((hs = http_start(conf, &cause)) == NULL) {
			colon = strrchr(d->listen, ':');
			xasprintf(&again, "%.*s:%u", (int)(colon - d->listen),
			    d->listen, port);
			log_warnx("SIGHUP: %s; listening on '%s' again", cause,
			    again);
			free(cause);
			old = *conf;
			old.listen = again;
			if ((d->http = http_start(&old, &cause)) == NULL) {
				log_warnx("SIGHUP: %s: the HTTP endpoint is "
				    "off until the next reload", cause);
				free(cause);
			}
			free(again);
			return;
		}
	}
	http_stop(d->http);
	d->http = hs;
	free(d->listen);
	d->listen = xstrdup(conf->listen);
}

/*
 * Go over to conf after a SIGHUP: stop the sources and workers (jobs in
 * hand are finished), start them with conf. The listener stays when
 * listen is unchanged, and also when the new address cannot be bound (the
 * old one keeps serving, with a warning), so a reload never loses the
 * endpoint. Fails when conf's sources cannot start; the caller then goes
 * back to the old config.
 */
int
daemon_reload(struct daemon *d, const struct config *conf, char **cause)
{
	daemon_stop_parts(d);
	if (d->http == NULL || strcmp(d->listen, conf->listen) != 0)
		daemon_relisten(d, conf);
	if (d->http != NULL)
		http_set_config(d->http, conf);
	return (daemon_start_parts(d, conf, cause));
}

/* Stop everything started, letting workers finish the jobs in hand. */
void
daemon_stop(struct daemon *d)
{
	d->stop = 1;
	http_stop(d->http);
	d->http = NULL;
	FREE_NULL(d->listen);
	daemon_stop_parts(d);
}
