/*
 * The job queue, kept in PostgreSQL.
 *
 * Enqueue inserts the object version and one job per recipe with
 * ON CONFLICT DO NOTHING, so the same event seen twice (a scan and an
 * inotify event, a restart, two processes) makes no second job. Claims use
 * FOR UPDATE SKIP LOCKED, so any number of workers in any number of
 * processes take different jobs without waiting on each other, and set a
 * lease: a claimed job's run_after is when the lease ends, after which any
 * worker may claim it again. Completion writes the output row and marks the
 * job done in one statement, and only if this worker still holds the job.
 *
 * Each of these is a single SQL statement, so each is atomic without an
 * explicit transaction and costs one round trip.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "banned.h"

/* Quote a string for a PostgreSQL text[] literal. */
static void
array_append(char **buf, const char *s)
{
	char		*next, *q, *o;
	const char	*p;

	q = o = xmalloc(strlen(s) * 2 + 3);
	*o++ = '"';
	for (p = s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			*o++ = '\\';
		*o++ = *p;
	}
	*o++ = '"';
	*o = '\0';
	if (*buf == NULL)
		xasprintf(&next, "{%s", q);
	else
		xasprintf(&next, "%s,%s", *buf, q);
	free(*buf);
	*buf = next;
	free(q);
}

static const char enqueue_sql[] =
	"WITH ins AS ("
	"  INSERT INTO objwatch.objects (source, key, version, size, mtime,"
	"      etag)"
	"  VALUES ($1, $2, $3, $4::bigint,"
	"          to_timestamp($5::bigint / 1e9), $9)"
	"  ON CONFLICT (source, key, version) DO UPDATE SET deleted_at = NULL"
	"  WHERE objects.deleted_at IS NOT NULL"
	"  RETURNING id"
	"), obj AS ("
	"  SELECT id FROM ins UNION ALL"
	"  SELECT id FROM objwatch.objects"
	"  WHERE source = $1 AND key = $2 AND version = $3"
	"  LIMIT 1"
	"), j AS ("
	"  INSERT INTO objwatch.jobs (object_id, recipe, recipe_hash,"
	"      max_attempts)"
	"  SELECT obj.id, t.r, t.h, $8::integer"
	"  FROM obj, unnest($6::text[], $7::text[]) AS t(r, h)"
	/* A recipe changed since: its reprocess setting decides, at start. */
	"  WHERE NOT EXISTS (SELECT 1 FROM objwatch.jobs x"
	"      WHERE x.object_id = obj.id AND x.recipe = t.r)"
	"  ON CONFLICT (object_id, recipe, recipe_hash) DO NOTHING"
	"  RETURNING id"
	"), n AS ("
	"  SELECT pg_notify('objwatch_jobs', '')"
	"  WHERE EXISTS (SELECT 1 FROM j)"
	")"
	"SELECT (SELECT count(*) FROM obj), (SELECT count(*) FROM j),"
	"    (SELECT count(*) FROM n)";

/*
 * Record an object version and queue a job for each of the source's
 * recipes it has none for; *njobs says how many were new (0: all known
 * already). A recipe whose steps changed does not queue objects it has
 * already processed again: that is what a recipe's reprocess setting is
 * for.
 */
int
queue_enqueue(PGconn *conn, const struct source *src,
    const struct object_version *ov, int max_attempts, int *njobs,
    char **cause)
{
	PGresult	*res;
	char		 size[32], mtime[32], attempts[16];
	char		*recipes = NULL, *hashes = NULL, *rarr, *harr;
	const char	*params[9];
	size_t		 i;
	int		 tries;

	for (i = 0; i < src->nrecipes; i++) {
		array_append(&recipes, src->recipes[i]->name);
		array_append(&hashes, src->recipes[i]->hash);
	}
	if (recipes == NULL) {
		recipes = xstrdup("{");
		hashes = xstrdup("{");
	}
	xasprintf(&rarr, "%s}", recipes);
	xasprintf(&harr, "%s}", hashes);
	free(recipes);
	free(hashes);
	params[5] = rarr;
	params[6] = harr;
	snprintf(size, sizeof size, "%" PRId64, ov->size);
	snprintf(mtime, sizeof mtime, "%" PRId64, ov->mtime_ns);
	snprintf(attempts, sizeof attempts, "%d", max_attempts);
	params[0] = ov->source;
	params[1] = ov->key;
	params[2] = ov->version;
	params[3] = size;
	params[4] = mtime;
	params[7] = attempts;
	params[8] = ov->etag;

	/*
	 * If another session inserted the object between our snapshot and
	 * our insert, neither branch of obj sees it: run again, with a new
	 * snapshot that does.
	 */
	for (tries = 0; tries < 3; tries++) {
		res = db_exec_prepared(conn, "enqueue", enqueue_sql, 9,
		    params);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			*cause = db_error(conn, res);
			PQclear(res);
			free(rarr);
			free(harr);
			return (-1);
		}
		if (atoi(PQgetvalue(res, 0, 0)) == 1)
			break;
		PQclear(res);
		res = NULL;
	}
	free(rarr);
	free(harr);
	if (res == NULL) {
		xasprintf(cause, "cannot record '%s' in source '%s': the "
		    "object row is neither inserted nor visible", ov->key,
		    ov->source);
		return (-1);
	}
	*njobs = atoi(PQgetvalue(res, 0, 1));
	metrics_count("objwatch_events_total", 1, "source", ov->source, NULL,
	    NULL);
	if (*njobs > 0)
		metrics_count("objwatch_jobs_queued_total", *njobs, "source",
		    ov->source, NULL, NULL);
	PQclear(res);
	return (0);
}

/* The workers (jobs.locked_by) named prefix... that hold running jobs. */
int
queue_lease_holders(PGconn *conn, const char *prefix, struct strv *holders,
    char **cause)
{
	PGresult	*res;
	const char	*params[1] = { prefix };
	int		 i;

	res = PQexecParams(conn, "SELECT DISTINCT locked_by FROM objwatch.jobs "
	    "WHERE state = 'running' AND starts_with(locked_by, $1)", 1, NULL,
	    params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	for (i = 0; i < PQntuples(res); i++)
		strv_push(holders, PQgetvalue(res, i, 0));
	PQclear(res);
	return (0);
}

/* Make the running jobs one worker holds claimable now; *n says how many. */
int
queue_release_holder(PGconn *conn, const char *holder, int *n, char **cause)
{
	PGresult	*res;
	const char	*params[1] = { holder };

	res = PQexecParams(conn, "UPDATE objwatch.jobs SET run_after = now() "
	    "WHERE state = 'running' AND locked_by = $1", 1, NULL, params,
	    NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	*n = atoi(PQcmdTuples(res));
	PQclear(res);
	return (0);
}

#define QUEUE_REAP_INTERVAL	5.0	/* seconds between reaps, per worker */

static const char claim_sql[] =
	"UPDATE objwatch.jobs j SET state = 'running',"
	"    attempts = j.attempts + 1, locked_by = $1,"
	"    run_after = now() + make_interval(secs => $2::float8),"
	"    started_at = now()"
	"FROM objwatch.objects o, ("
	"  SELECT id, run_after AS ready FROM objwatch.jobs"
	"  WHERE state IN ('queued', 'running', 'failed')"
	"    AND run_after <= now() AND attempts < max_attempts"
	"  ORDER BY run_after, id"
	"  FOR UPDATE SKIP LOCKED LIMIT 1"
	") c "
	"WHERE o.id = j.object_id AND j.id = c.id "
	"RETURNING j.id, j.object_id, o.source, o.key, o.version, j.recipe,"
	"    j.recipe_hash, j.attempts, j.max_attempts, o.info IS NULL,"
	"    coalesce(o.size, -1), j.waits,"
	"    extract(epoch FROM now() - c.ready)::float8,"
	"    extract(epoch FROM now() - o.seen_at)::float8";

/*
 * A running job whose lease ran out after its last attempt: its worker died
 * on it every time, so it is dead rather than claimed again.
 */
static const char reap_sql[] =
	"WITH d AS ("
	"  UPDATE objwatch.jobs SET state = 'dead', run_after = NULL,"
	"      finished_at = now(), locked_by = NULL,"
	"      error_class = coalesce(error_class, 'io'),"
	"      error = 'the worker running it stopped (crashed or was killed) "
	"on each of its ' || attempts || ' attempts'"
	"  WHERE state IN ('running', 'failed') AND run_after <= now()"
	"    AND attempts >= max_attempts"
	"  RETURNING id"
	") SELECT count(*) FROM d";

/*
 * Claim the next job for worker, leasing it for lease seconds. *got is 0
 * when there is nothing to do.
 */
int
queue_claim(PGconn *conn, const char *worker, double lease,
    struct claimed_job *job, int *got, char **cause)
{
	static __thread double	 last_reap;
	PGresult		*res;
	char			 secs[32];
	const char		*params[2] = { worker, secs };

	snprintf(secs, sizeof secs, "%.3f", lease);
	res = db_exec_prepared(conn, "claim", claim_sql, 2, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	*got = PQntuples(res);
	if (*got == 0) {
		PQclear(res);
		/*
		 * Every few seconds is enough to find leases run out, and
		 * spares the database a statement each time a worker wakes
		 * for a job another one took.
		 */
		if (now_monotonic() - last_reap >= QUEUE_REAP_INTERVAL) {
			last_reap = now_monotonic();
			res = PQexec(conn, reap_sql);
			PQclear(res);
		}
		return (0);
	}
	memset(job, 0, sizeof *job);
	job->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	job->object_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	job->source = xstrdup(PQgetvalue(res, 0, 2));
	job->key = xstrdup(PQgetvalue(res, 0, 3));
	job->version = xstrdup(PQgetvalue(res, 0, 4));
	job->recipe = xstrdup(PQgetvalue(res, 0, 5));
	job->recipe_hash = xstrdup(PQgetvalue(res, 0, 6));
	job->attempts = atoi(PQgetvalue(res, 0, 7));
	job->max_attempts = atoi(PQgetvalue(res, 0, 8));
	job->need_info = strcmp(PQgetvalue(res, 0, 9), "t") == 0;
	job->size = strtoll(PQgetvalue(res, 0, 10), NULL, 10);
	job->waits = atoi(PQgetvalue(res, 0, 11));
	job->queued_s = strtod(PQgetvalue(res, 0, 12), NULL);
	job->seen_s = strtod(PQgetvalue(res, 0, 13), NULL);
	PQclear(res);
	return (0);
}

/*
 * What the worker learned of the object (its info JSON) is recorded by the
 * statement that records the outcome, and only if that statement still
 * held the job: one round trip for both. $3 is the JSON or NULL, $4 the
 * object, $5 whether to replace info already there.
 */
#define INFO_CTE							\
	"), i AS ("							\
	"  UPDATE objwatch.objects SET info = $3::jsonb"		\
	"  WHERE id = $4::bigint AND $3::jsonb IS NOT NULL"		\
	"    AND ($5::boolean OR info IS NULL)"				\
	"    AND EXISTS (SELECT 1 FROM j)"				\
	"  RETURNING id"

static const char complete_sql[] =
	"WITH j AS ("
	"  UPDATE objwatch.jobs SET state = 'done', run_after = NULL,"
	"      finished_at = clock_timestamp(), locked_by = NULL,"
	"      error_class = NULL, error = NULL"
	"  WHERE id = $1 AND state = 'running' AND locked_by = $2"
	"  RETURNING id"
	INFO_CTE
	"), o AS ("
	"  INSERT INTO objwatch.outputs (job_id, location, format, mime,"
	"      width, height, bytes, recipe_hash, sha256, input_sha256)"
	"  SELECT j.id, $6, $7, $8, $9::integer, $10::integer, $11::bigint,"
	"      $12, $13, $14"
	"  FROM j"
	"  ON CONFLICT (job_id, location) DO UPDATE SET"
	"      format = excluded.format, mime = excluded.mime,"
	"      width = excluded.width, height = excluded.height,"
	"      bytes = excluded.bytes, recipe_hash = excluded.recipe_hash,"
	"      sha256 = excluded.sha256,"
	"      input_sha256 = excluded.input_sha256,"
	"      created_at = now()"
	"  RETURNING id"
	"), n AS ("
	"  SELECT pg_notify('objwatch_done', $1::text) FROM j"
	")"
	"SELECT (SELECT count(*) FROM j), (SELECT count(*) FROM o),"
	"    (SELECT count(*) FROM n)";

static const char complete_bare_sql[] =
	"WITH j AS ("
	"  UPDATE objwatch.jobs SET state = 'done', run_after = NULL,"
	"      finished_at = clock_timestamp(), locked_by = NULL,"
	"      error_class = NULL, error = NULL"
	"  WHERE id = $1 AND state = 'running' AND locked_by = $2"
	"  RETURNING id"
	INFO_CTE
	"), n AS ("
	"  SELECT pg_notify('objwatch_done', $1::text) FROM j"
	")"
	"SELECT (SELECT count(*) FROM j), (SELECT count(*) FROM n)";

/*
 * Record a job's output and mark it done, atomically; out is NULL for a
 * recipe that writes none (info). Fails if the job is no longer this
 * worker's (its lease ran out and another worker took it).
 */
int
queue_complete(PGconn *conn, const char *worker_name,
    const struct claimed_job *job, const char *recipe_hash,
    const struct job_output *out, char **cause)
{
	static const struct job_output none;
	PGresult	*res;
	char		 id[32], oid[32], w[16], h[16], bytes[32];
	const char	*params[14];
	int		 bare = (out == NULL), began, rc = 0;

	if (bare)
		out = &none;
	snprintf(id, sizeof id, "%" PRId64, job->id);
	snprintf(oid, sizeof oid, "%" PRId64, job->object_id);
	snprintf(w, sizeof w, "%d", out->width);
	snprintf(h, sizeof h, "%d", out->height);
	snprintf(bytes, sizeof bytes, "%" PRId64, out->bytes);
	params[0] = id;
	params[1] = worker_name;
	params[2] = job->info;
	params[3] = oid;
	params[4] = job->info_refresh ? "t" : "f";
	params[5] = out->location;
	params[6] = out->format;
	params[7] = out->mime;
	params[8] = w;
	params[9] = h;
	params[10] = bytes;
	params[11] = recipe_hash;
	params[12] = out->sha256;
	params[13] = out->input_sha256;
	began = deliver_begin(conn, job->recipe, 1);
	if (bare)
		res = db_exec_prepared(conn, "complete_bare", complete_bare_sql,
		    5, params);
	else
		res = db_exec_prepared(conn, "complete", complete_sql, 14,
		    params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		rc = -1;
	} else if (atoi(PQgetvalue(res, 0, 0)) != 1) {
		xasprintf(cause, "job %" PRId64 " is no longer held by this "
		    "worker (its lease of the job ran out)", job->id);
		rc = -1;
	}
	PQclear(res);
	return (deliver_end(conn, began, rc == 0, job->id, job->recipe,
	    "job.done", cause));
}

/* d capped at cap, with up to 25% random jitter either way. */
static double
queue_jitter(double d, double cap)
{
	if (d > cap)
		d = cap;
	return (d * (0.75 + 0.5 * ((double)random() / RAND_MAX)));
}

/*
 * The delay before retry number attempts+1: 2 s doubling each time, capped
 * at an hour, with up to 25% random jitter either way so jobs that failed
 * together do not all retry together.
 */
double
queue_backoff(int attempts)
{
	return (queue_jitter(2.0 * pow(2, attempts > 1 ? attempts - 1 : 0),
	    3600));
}

/*
 * The delay before trying again a job that waits out an outage: 1 s
 * doubling, capped at 30 s so that work resumes within half a minute of
 * the server coming back, with the same jitter.
 */
static double
queue_wait_backoff(int waits)
{
	return (queue_jitter(pow(2, waits > 5 ? 5 : waits), 30));
}

/* $10: 1 when the job waits (its attempt is given back), else 0. */
static const char fail_sql[] =
	"WITH j AS ("
	"  UPDATE objwatch.jobs SET state = $6,"
	"      attempts = attempts - $10::integer,"
	"      waits = waits + $10::integer,"
	"      run_after = CASE WHEN $7::float8 < 0 THEN NULL"
	"          ELSE now() + make_interval(secs => $7::float8) END,"
	"      finished_at = now(), locked_by = NULL,"
	"      error_class = $8, error = $9"
	"  WHERE id = $1 AND state = 'running' AND locked_by = $2"
	"  RETURNING id"
	INFO_CTE
	"), n AS ("
	"  SELECT pg_notify('objwatch_done', $1::text) FROM j"
	")"
	"SELECT (SELECT count(*) FROM j), (SELECT count(*) FROM n)";

/*
 * Record a job's failure. Transient errors are retried after a backoff
 * until max_attempts, then the job is dead; permanent ones stay failed
 * until someone requeues them; an outage (JOB_WAIT) is tried again after
 * a shorter backoff and gives its attempt back, however long it lasts.
 */
int
queue_fail(PGconn *conn, const char *worker_name,
    const struct claimed_job *job, const struct job_error *err, char **cause)
{
	PGresult	*res;
	char		 id[32], oid[32], delay[32];
	const char	*params[10], *state;
	int		 final, began, rc = 0;

	if (err->transient == JOB_WAIT) {
		state = "failed";
		snprintf(delay, sizeof delay, "%.3f",
		    queue_wait_backoff(job->waits));
	} else if (!err->transient) {
		state = "failed";
		snprintf(delay, sizeof delay, "-1");
	} else if (job->attempts >= job->max_attempts) {
		state = "dead";
		snprintf(delay, sizeof delay, "-1");
	} else {
		state = "failed";
		snprintf(delay, sizeof delay, "%.3f",
		    queue_backoff(job->attempts));
	}
	snprintf(id, sizeof id, "%" PRId64, job->id);
	snprintf(oid, sizeof oid, "%" PRId64, job->object_id);
	params[0] = id;
	params[1] = worker_name;
	params[2] = job->info;
	params[3] = oid;
	params[4] = job->info_refresh ? "t" : "f";
	params[5] = state;
	params[6] = delay;
	params[7] = error_class_name(err->cls);
	params[8] = err->msg;
	params[9] = err->transient == JOB_WAIT ? "1" : "0";
	/* a delivery for the final outcomes only, not a retry or a wait */
	final = strcmp(delay, "-1") == 0;
	began = deliver_begin(conn, job->recipe, final);
	res = db_exec_prepared(conn, "fail", fail_sql, 10, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		rc = -1;
	}
	PQclear(res);
	if (!final)
		return (rc);
	return (deliver_end(conn, began, rc == 0, job->id, job->recipe,
	    strcmp(state, "dead") == 0 ? "job.dead" : "job.failed", cause));
}

/* Free what a claim allocated. */
void
claimed_job_clear(struct claimed_job *job)
{
	free(job->source);
	free(job->key);
	free(job->version);
	free(job->recipe);
	free(job->recipe_hash);
	free(job->info);
	memset(job, 0, sizeof *job);
}

/*
 * For each object version of a source using the recipe, whose latest job
 * for it ran at another hash: a new job at the current hash. The old jobs
 * and their outputs rows stay, as history.
 */
static const char reprocess_sql[] =
	"WITH latest AS ("
	"  SELECT DISTINCT ON (j.object_id) j.object_id, j.recipe_hash"
	"  FROM objwatch.jobs j JOIN objwatch.objects o ON o.id = j.object_id"
	"  WHERE j.recipe = $1 AND o.source = ANY ($3::text[])"
	"    AND o.deleted_at IS NULL"
	"  ORDER BY j.object_id, j.id DESC"
	"), j AS ("
	"  INSERT INTO objwatch.jobs (object_id, recipe, recipe_hash,"
	"      max_attempts)"
	"  SELECT object_id, $1, $2, $4::integer FROM latest"
	"  WHERE recipe_hash <> $2"
	"  ON CONFLICT (object_id, recipe, recipe_hash) DO NOTHING"
	"  RETURNING id"
	"), n AS ("
	"  SELECT pg_notify('objwatch_jobs', '') WHERE EXISTS (SELECT 1 FROM j)"
	")"
	"SELECT (SELECT count(*) FROM j), (SELECT count(*) FROM n)";

/*
 * Queue again, at start, what recipes with reprocess = yes made with an
 * older hash; *njobs says how many jobs were queued.
 */
int
queue_reprocess(PGconn *conn, const struct config *conf, int *njobs,
    char **cause)
{
	const struct recipe	*r;
	PGresult		*res;
	char			*sources, *arr, attempts[16];
	const char		*params[4];
	size_t			 i, j, k;

	*njobs = 0;
	snprintf(attempts, sizeof attempts, "%d", conf->max_attempts);
	for (i = 0; i < conf->nrecipes; i++) {
		r = conf->recipes[i];
		if (!r->reprocess)
			continue;
		sources = NULL;
		for (j = 0; j < conf->nsources; j++) {
			for (k = 0; k < conf->sources[j]->nrecipes; k++) {
				if (conf->sources[j]->recipes[k] == r)
					array_append(&sources,
					    conf->sources[j]->name);
			}
		}
		if (sources == NULL)
			continue;
		xasprintf(&arr, "%s}", sources);
		free(sources);
		params[0] = r->name;
		params[1] = r->hash;
		params[2] = arr;
		params[3] = attempts;
		res = PQexecParams(conn, reprocess_sql, 4, NULL, params, NULL,
		    NULL, 0);
		free(arr);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			*cause = db_error(conn, res);
			PQclear(res);
			return (-1);
		}
		if (atoi(PQgetvalue(res, 0, 0)) > 0)
			log_info("recipe '%s': %s objects made with an older "
			    "hash queued again (reprocess = yes)", r->name,
			    PQgetvalue(res, 0, 0));
		*njobs += atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	return (0);
}
