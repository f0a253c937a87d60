/*
 * The live state of the running daemon, as its parts report it.
 *
 * Each source says what it is doing (watching a folder, polling a bucket,
 * standing by while another process polls it, failing), when it last
 * succeeded and what its last error was; workers say how many run and how
 * many hold a job; db.c says how many threads wait to reconnect and what
 * the embedded cluster's supervisor sees. /healthz and /readyz are built
 * from this, and so is the heartbeat row each process keeps in
 * objwatch.processes for `objwatch status`: never from metrics or
 * constants. Metrics are exported copies, not the state itself.
 *
 * One mutex guards it all; every update is a few stores.
 */
#include "config.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "objwatch.h"
#include "banned.h"

struct health_source {
	char			*name;
	const char		*type;
	enum health_state	 state;
	int			 ready;		/* first scan or listing done */
	double			 last_ok;	/* wall time, 0: never */
	double			 last_error_at;
	char			*last_error;
};

static pthread_mutex_t		 health_lock = PTHREAD_MUTEX_INITIALIZER;
static struct health_source	*health_sources;
static size_t			 health_nsources;
static int			 health_workers_conf;
static int			 health_workers_alive;
static int			 health_workers_busy;
static double			 health_started;

static const char *const health_names[] = {
	"starting", "ok", "standby", "failing", "stopped"
};

/* Forget every part and register conf's sources, at each daemon start. */
void
health_reset(const struct config *conf)
{
	size_t	 i;

	pthread_mutex_lock(&health_lock);
	for (i = 0; i < health_nsources; i++) {
		free(health_sources[i].name);
		free(health_sources[i].last_error);
	}
	free(health_sources);
	health_nsources = conf->nsources;
	health_sources = xcalloc(conf->nsources + 1, sizeof *health_sources);
	for (i = 0; i < conf->nsources; i++) {
		health_sources[i].name = xstrdup(conf->sources[i]->name);
		health_sources[i].type =
		    conf->sources[i]->type == SOURCE_S3 ? "s3" : "dir";
	}
	health_workers_conf = conf->workers;
	if (health_started == 0)
		health_started = now_wall();
	pthread_mutex_unlock(&health_lock);
}

static struct health_source *
health_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < health_nsources; i++)
		if (strcmp(health_sources[i].name, name) == 0)
			return (&health_sources[i]);
	return (NULL);
}

/*
 * Say what a source is doing: HEALTH_OK records a success now; an error
 * (NULL for none) is kept, with its time, as the source's last.
 */
void
health_source(const char *name, enum health_state state, const char *error)
{
	struct health_source	*s;

	pthread_mutex_lock(&health_lock);
	if ((s = health_find(name)) != NULL) {
		s->state = state;
		if (state == HEALTH_OK || state == HEALTH_STANDBY)
			s->last_ok = now_wall();
		if (error != NULL) {
			free(s->last_error);
			s->last_error = xstrdup(error);
			s->last_error_at = now_wall();
		}
	}
	pthread_mutex_unlock(&health_lock);
}

/* A source's first scan or listing is done: what was there is queued. */
void
health_source_ready(const char *name)
{
	struct health_source	*s;

	pthread_mutex_lock(&health_lock);
	if ((s = health_find(name)) != NULL)
		s->ready = 1;
	pthread_mutex_unlock(&health_lock);
}

/* Whether a source has done its first scan or listing (or stands by). */
int
health_source_is_ready(const char *name)
{
	struct health_source	*s;
	int			 ready = 0;

	pthread_mutex_lock(&health_lock);
	if ((s = health_find(name)) != NULL)
		ready = s->ready || s->state == HEALTH_STANDBY;
	pthread_mutex_unlock(&health_lock);
	return (ready);
}

/* Whether a source's last word was that it works (or stands by). */
int
health_source_is_ok(const char *name)
{
	struct health_source	*s;
	int			 ok = 0;

	pthread_mutex_lock(&health_lock);
	if ((s = health_find(name)) != NULL)
		ok = s->state == HEALTH_OK || s->state == HEALTH_STANDBY;
	pthread_mutex_unlock(&health_lock);
	return (ok);
}

/* Whether a source's last word was that it fails. */
int
health_source_is_failing(const char *name)
{
	struct health_source	*s;
	int			 failing = 0;

	pthread_mutex_lock(&health_lock);
	if ((s = health_find(name)) != NULL)
		failing = s->state == HEALTH_FAILING;
	pthread_mutex_unlock(&health_lock);
	return (failing);
}

/*
 * Copy each source's state into the gauges objwatch_source_up and
 * objwatch_source_ready, for /metrics: exported, never read back.
 */
void
health_export_metrics(void)
{
	struct health_source	*s;
	size_t			 i;

	pthread_mutex_lock(&health_lock);
	for (i = 0; i < health_nsources; i++) {
		s = &health_sources[i];
		metrics_set("objwatch_source_up", s->state == HEALTH_OK ||
		    s->state == HEALTH_STANDBY, "source", s->name);
		metrics_set("objwatch_source_ready", s->ready ||
		    s->state == HEALTH_STANDBY, "source", s->name);
	}
	pthread_mutex_unlock(&health_lock);
}

/* A worker started (+1) or ended (-1); took (+1) or finished (-1) a job. */
void
health_worker(int alive, int busy)
{
	pthread_mutex_lock(&health_lock);
	health_workers_alive += alive;
	health_workers_busy += busy;
	pthread_mutex_unlock(&health_lock);
}

static json_t *
health_time(double t)
{
	return (t == 0 ? json_null() : json_real(t));
}

/*
 * The daemon's state as JSON, the database's as db_ok (1 when a query
 * answered) says, with *healthy (nothing failing) and *ready (it can take
 * work: the database answers, workers run, every source has done its
 * first scan or stands by). The caller frees the string.
 */
char *
health_json(int db_ok, int *healthy, int *ready)
{
	json_t			*root, *srcs, *s, *db, *w;
	struct health_source	*hs;
	char			*out, *err = NULL;
	double			 since = 0;
	unsigned long		 restarts = 0;
	size_t			 i;
	int			 embedded;

	*healthy = db_ok;
	*ready = db_ok;
	root = json_object();
	db = json_object();
	json_object_set_new(db, "state", json_string(db_ok ? "ok" :
	    "unavailable"));
	json_object_set_new(db, "waiting_to_reconnect",
	    json_integer(db_reconnecting()));
	embedded = db_embedded_state(&since, &restarts, &err);
	if (embedded != -1) {
		json_object_set_new(db, "embedded", json_string(embedded ?
		    "answering" : "restarting"));
		json_object_set_new(db, "since", health_time(since));
		json_object_set_new(db, "restarts", json_integer(restarts));
		json_object_set_new(db, "last_error", err != NULL ?
		    json_string(err) : json_null());
		free(err);
	}
	json_object_set_new(root, "database", db);

	pthread_mutex_lock(&health_lock);
	srcs = json_object();
	for (i = 0; i < health_nsources; i++) {
		hs = &health_sources[i];
		s = json_object();
		json_object_set_new(s, "type", json_string(hs->type));
		json_object_set_new(s, "state",
		    json_string(health_names[hs->state]));
		json_object_set_new(s, "ready", json_boolean(hs->ready ||
		    hs->state == HEALTH_STANDBY));
		json_object_set_new(s, "last_ok", health_time(hs->last_ok));
		json_object_set_new(s, "last_error", hs->last_error != NULL ?
		    json_string(hs->last_error) : json_null());
		json_object_set_new(s, "last_error_at",
		    health_time(hs->last_error_at));
		json_object_set_new(srcs, hs->name, s);
		if (hs->state != HEALTH_OK && hs->state != HEALTH_STANDBY)
			*healthy = 0;
		if (!hs->ready && hs->state != HEALTH_STANDBY)
			*ready = 0;
	}
	w = json_object();
	json_object_set_new(w, "configured", json_integer(health_workers_conf));
	json_object_set_new(w, "running", json_integer(health_workers_alive));
	json_object_set_new(w, "busy", json_integer(health_workers_busy));
	if (health_workers_alive < health_workers_conf)
		*healthy = 0;
	if (health_workers_alive == 0)
		*ready = 0;
	json_object_set_new(root, "started_at", health_time(health_started));
	pthread_mutex_unlock(&health_lock);
	json_object_set_new(root, "sources", srcs);
	json_object_set_new(root, "workers", w);
	json_object_set_new(root, "status", json_string(*healthy ? "ok" :
	    "unhealthy"));
	json_object_set_new(root, "ready", json_boolean(*ready));
	out = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(root);
	if (out == NULL)
		fatalx("cannot format the health JSON");
	return (out);
}

/*
 * The heartbeat: a thread that keeps this process's row in
 * objwatch.processes current (every HEALTH_BEAT seconds) with
 * health_json, so `objwatch status`, run anywhere, shows every process's
 * live state and which ones stopped answering. A clean stop removes it.
 */
#define HEALTH_BEAT	5.0

struct health_beat {
	pthread_t		 thread;
	volatile sig_atomic_t	*stop;
	PGconn			*conn;
};

static void *
health_beat_main(void *arg)
{
	struct health_beat	*hb = arg;
	char			*json, *cause;
	double			 next = 0;
	int			 healthy, ready, ok;

	while (!*hb->stop) {
		if (now_monotonic() < next) {
			poll(NULL, 0, 100);
			continue;
		}
		next = now_monotonic() + HEALTH_BEAT;
		if (!db_ok(hb->conn)) {
			db_close(hb->conn);
			hb->conn = db_connect(&cause);
			if (hb->conn == NULL) {
				free(cause);
				continue;
			}
		}
		ok = db_ping(hb->conn, &cause) == 0;
		if (!ok)
			free(cause);
		json = health_json(ok, &healthy, &ready);
		if (ok && status_heartbeat(hb->conn, worker_host(), json,
		    &cause) != 0) {
			log_debug("heartbeat: %s", cause);
			free(cause);
		}
		free(json);
	}
	/* a connection the server dropped since the last beat: one more */
	if (hb->conn == NULL || status_forget(hb->conn, worker_host(),
	    &cause) != 0) {
		if (hb->conn != NULL)
			free(cause);
		db_close(hb->conn);
		if ((hb->conn = db_connect(&cause)) == NULL ||
		    status_forget(hb->conn, worker_host(), &cause) != 0) {
			log_debug("heartbeat: cannot remove this process's "
			    "row: %s", cause);
			free(cause);
		}
	}
	db_close(hb->conn);
	return (NULL);
}

/* Start the heartbeat thread; it ends when *stop is set. */
struct health_beat *
health_beat_start(volatile sig_atomic_t *stop)
{
	struct health_beat	*hb;

	hb = xcalloc(1, sizeof *hb);
	hb->stop = stop;
	if (pthread_create(&hb->thread, NULL, health_beat_main, hb) != 0) {
		log_warnx("cannot start the heartbeat: objwatch status will "
		    "not show this process");
		free(hb);
		return (NULL);
	}
	return (hb);
}

/* Wait for the heartbeat to remove its row and end. */
void
health_beat_join(struct health_beat *hb)
{
	if (hb == NULL)
		return;
	pthread_join(hb->thread, NULL);
	free(hb);
}
