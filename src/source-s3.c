/*
 * S3 sources: one poller thread per source.
 *
 * Buckets have no watch API, so a poller lists the bucket (1000 keys a
 * request) every `poll` and compares the listing with the ledger: the live
 * version (ETag) of each key the source has recorded. Keys that are new or
 * whose ETag differs are enqueued; keys the ledger has and the listing
 * lacks get objects.deleted_at. All of one pass's writes commit in one
 * transaction, and the ledger is the progress: a restart compares against
 * what was committed, so unchanged objects are never enqueued again, and an
 * unchanged bucket costs one listing, one SELECT and no writes.
 *
 * Only one process lists a source at a time, across hosts: the poller
 * holds pg_try_advisory_lock(objwatch.poller_lock_key(source)) on its own
 * connection. A process that does not get it tries again every `poll`, and
 * takes over when the holder's session ends (it stopped, crashed or lost
 * the database). A poller that loses its connection has lost the lock too,
 * and asks again after reconnecting.
 *
 * Loop guard: keys under an output prefix of a recipe writing to this
 * bucket are skipped here; at fetch, an object carrying objwatch's output
 * metadata is refused (s3_fetch).
 */
#include "config.h"

#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "banned.h"

struct s3_poller {
	const struct config	*conf;
	const struct source	*src;
	volatile sig_atomic_t	*stop;
	pthread_t		 thread;
	PGconn			*conn;
	int			 locked;
	int			 waiting_logged;
};

struct s3_pollers {
	struct s3_poller	*v;
	size_t			 n;
};

/* Sleep up to secs, waking early when the daemon stops. */
static void
s3_sleep(struct s3_poller *p, double secs)
{
	double	 end = now_monotonic() + secs;

	while (!*p->stop && now_monotonic() < end)
		poll(NULL, 0, 100);
}

/* Connect, name the session, and take the source's lock if free. */
static int
s3_poller_db(struct s3_poller *p)
{
	char	*name, *cause;
	int	 got;

	if (!db_ok(p->conn)) {
		if (p->conn != NULL) {
			log_warnx("source '%s': lost the database connection",
			    p->src->name);
			db_close(p->conn);
		}
		p->locked = 0;
		if ((p->conn = db_connect_retry(p->stop)) == NULL)
			return (-1);
		xasprintf(&name, "objwatch poller %s", p->src->name);
		if (db_set_name(p->conn, name, &cause) != 0) {
			log_debug("source '%s': %s", p->src->name, cause);
			free(cause);
		}
		free(name);
	}
	if (p->locked)
		return (0);
	if (db_lock_poller(p->conn, p->src->name, &got, &cause) != 0) {
		log_warnx("source '%s': cannot ask for the poller lock: %s",
		    p->src->name, cause);
		free(cause);
		return (-1);
	}
	if (got) {
		p->locked = 1;
		p->waiting_logged = 0;
		log_info("source '%s': this process now polls bucket '%s'",
		    p->src->name, p->src->bucket);
	} else if (!p->waiting_logged) {
		/* Standing by is healthy: another process lists it. */
		health_source(p->src->name, HEALTH_STANDBY, NULL);
		p->waiting_logged = 1;
		log_info("source '%s': another process polls bucket '%s'; "
		    "standing by", p->src->name, p->src->bucket);
	}
	return (0);
}

static int
s3_known_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct ledger_entry *)a)->key,
	    ((const struct ledger_entry *)b)->key));
}

static int
s3_object_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct s3_object *)a)->key,
	    ((const struct s3_object *)b)->key));
}

/* Whether the source takes a key: its filters and the loop guard. */
int
s3_source_wants(const struct source *src, const char *key)
{
	size_t	 n = strlen(key);

	if (n == 0 || key[n - 1] == '/')	/* a "folder" marker */
		return (0);
	if (strncmp(key, src->prefix, strlen(src->prefix)) != 0)
		return (0);
	if (s3_is_output(src, key))
		return (0);
	return (glob_match_any(&src->include, key) &&
	    !glob_match_any(&src->exclude, key));
}

static int
s3_begin(struct s3_poller *p, int *in_tx, char **cause)
{
	if (*in_tx)
		return (0);
	if (db_begin(p->conn, cause) != 0)
		return (-1);
	*in_tx = 1;
	return (0);
}

/*
 * One pass: list, compare with the ledger, write the differences in one
 * transaction. Fails with *cause on a listing or database error.
 */
static int
s3_poll_once(struct s3_poller *p, char **cause)
{
	const struct source	*src = p->src;
	struct s3_listing	 l;
	struct ledger_folder	 known;
	struct s3_object	*o, probe;
	struct object_version	 ov;
	struct strv		 outputs = { NULL, 0 }, one;
	size_t			 i, j;
	uint64_t		 queued = 0, deleted = 0, listed = 0;
	double			 t0 = now_monotonic();
	int			 in_tx = 0, njobs, n, rc = -1;

	if (s3_list(src, &l, cause) != 0)
		return (-1);
	memset(&known, 0, sizeof known);
	if (ledger_live(p->conn, src->name, &known, cause) != 0)
		goto out;
	/* S3 sorts by UTF-8 bytes, as strcmp does; the database may not. */
	if (known.n > 0)
		qsort(known.v, known.n, sizeof *known.v, s3_known_cmp);
	if (l.n > 0)
		qsort(l.v, l.n, sizeof *l.v, s3_object_cmp);

	for (i = 0, j = 0; i < l.n; i++) {
		o = &l.v[i];
		if (!s3_source_wants(src, o->key))
			continue;
		listed++;
		while (j < known.n && strcmp(known.v[j].key, o->key) < 0)
			j++;
		if (j < known.n && strcmp(known.v[j].key, o->key) == 0 &&
		    strcmp(known.v[j].version, o->etag) == 0)
			continue;
		if (*o->etag == '\0')
			continue;	/* no version to tell it by */
		if (s3_begin(p, &in_tx, cause) != 0)
			goto out;
		memset(&ov, 0, sizeof ov);
		ov.source = src->name;
		ov.key = o->key;
		ov.version = o->etag;
		ov.etag = o->etag;
		ov.size = (int64_t)o->size;
		ov.mtime_ns = o->mtime * 1000000000LL;
		if (queue_enqueue(p->conn, src, &ov, p->conf->max_attempts,
		    &njobs, cause) != 0)
			goto out;
		queued += njobs;
	}
	/* Keys in the ledger and not in the listing were deleted. */
	for (i = 0; i < known.n; i++) {
		probe.key = known.v[i].key;
		if (l.n > 0 && bsearch(&probe, l.v, l.n, sizeof *l.v,
		    s3_object_cmp) != NULL)
			continue;
		if (strncmp(known.v[i].key, src->prefix,
		    strlen(src->prefix)) != 0)
			continue;	/* outside what was listed */
		if (s3_begin(p, &in_tx, cause) != 0)
			goto out;
		one.v = &known.v[i].key;
		one.n = 1;
		if (ledger_delete(p->conn, src, LEDGER_KEYS, &one,
		    src->on_delete == ON_DELETE_REMOVE ? &outputs : NULL, &n,
		    cause) != 0)
			goto out;
		deleted += n;
	}
	if (in_tx && db_commit(p->conn, cause) != 0) {
		in_tx = 0;
		goto out;
	}
	in_tx = 0;
	/* Committed: the ledger says removed, now the outputs go. */
	if (outputs.n > 0)
		log_info("source '%s': %zu outputs of deleted objects removed",
		    src->name, store_remove_all(src, &outputs));
	if (queued > 0 || deleted > 0)
		log_info("source '%s': listed %" PRIu64 " objects in %d "
		    "requests: %" PRIu64 " new jobs, %" PRIu64 " deleted, "
		    "%.2f s", src->name, listed, l.requests, queued, deleted,
		    now_monotonic() - t0);
	else
		log_debug("source '%s': listed %" PRIu64 " objects in %d "
		    "requests, nothing new, %.2f s", src->name, listed,
		    l.requests, now_monotonic() - t0);
	rc = 0;
out:
	if (in_tx)
		db_rollback(p->conn);
	strv_clear(&outputs);
	ledger_folder_clear(&known);
	s3_listing_clear(&l);
	return (rc);
}

static void *
s3_poller_main(void *arg)
{
	struct s3_poller	*p = arg;
	char			*cause;
	int			 failures = 0;
	double			 wait;

	while (!*p->stop) {
		if (s3_poller_db(p) != 0) {
			s3_sleep(p, 1);
			continue;
		}
		if (!p->locked) {
			s3_sleep(p, p->src->poll);
			continue;
		}
		wait = p->src->poll;
		metrics_count("objwatch_reconcile_runs_total", 1, "source",
		    p->src->name, NULL, NULL);
		if (s3_poll_once(p, &cause) != 0) {
			health_source(p->src->name, HEALTH_FAILING, cause);
			failures++;
			log_warnx("source '%s': %s", p->src->name, cause);
			free(cause);
			/* back off while the server is down, up to 5 min */
			if (failures > 1 && wait < 300) {
				wait *= 1 << (failures > 6 ? 5 : failures - 1);
				if (wait > 300)
					wait = 300;
			}
		} else {
			health_source(p->src->name, HEALTH_OK, NULL);
			health_source_ready(p->src->name);
			failures = 0;
		}
		s3_sleep(p, wait);
	}
	health_source(p->src->name, HEALTH_STOPPED, NULL);
	db_close(p->conn);
	p->conn = NULL;
	return (NULL);
}

/* Start a poller thread for each s3 source; NULL when there are none. */
struct s3_pollers *
s3_pollers_start(const struct config *conf, volatile sig_atomic_t *stop)
{
	struct s3_pollers	*ps;
	size_t			 i, n = 0;

	for (i = 0; i < conf->nsources; i++)
		n += (conf->sources[i]->type == SOURCE_S3);
	if (n == 0)
		return (NULL);
	ps = xcalloc(1, sizeof *ps);
	ps->v = xcalloc(n, sizeof *ps->v);
	for (i = 0; i < conf->nsources; i++) {
		if (conf->sources[i]->type != SOURCE_S3)
			continue;
		ps->v[ps->n].conf = conf;
		ps->v[ps->n].src = conf->sources[i];
		ps->v[ps->n].stop = stop;
		if (pthread_create(&ps->v[ps->n].thread, NULL, s3_poller_main,
		    &ps->v[ps->n]) != 0)
			fatalx("cannot start the poller of source '%s'",
			    conf->sources[i]->name);
		ps->n++;
	}
	return (ps);
}

/* Wait for every poller to notice the stop flag, and free them. */
void
s3_pollers_join(struct s3_pollers *ps)
{
	size_t	 i;

	if (ps == NULL)
		return;
	for (i = 0; i < ps->n; i++)
		pthread_join(ps->v[i].thread, NULL);
	free(ps->v);
	free(ps);
}
