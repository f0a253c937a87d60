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
 * job done in one statement, and only if this worker still holds the job;
 * the same statement queues the jobs of the recipes chained after it
 * (after =), so a crash can neither lose them nor queue them twice.
 *
 * Each of these is a single SQL statement, so each is atomic without an
 * explicit transaction and costs one round trip.
 *
 * Two channels tell listeners of outcomes, both sent by the statement that
 * records the outcome, so they are delivered when it commits and never for
 * one that did not. objwatch_done carries the job id, for every outcome
 * the worker records (a retry and a wait included), as it always has.
 * objwatch_events carries a small JSON object for the final outcomes only
 * (done, failed for good, dead, reaped dead too): what a script waiting
 * on an object needs, without a query (EVENT_CTE).
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "objwatch.h"
#include "banned.h"

/*
 * The one statement that records object versions and queues their jobs:
 * $2..$5 and $9 are parallel arrays (key, version, size, mtime in ns,
 * ETag or NULL) of one or many versions of source $1, $6 and $7 the
 * recipes to queue and their hashes.
 */
static const char enqueue_sql[] =
	"WITH v AS ("
	"  SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[],"
	"      $5::bigint[], $9::text[]) AS v(key, version, size, mtime, etag)"
	"), ins AS ("
	"  INSERT INTO objwatch.objects (source, key, version, size, mtime,"
	"      etag)"
	"  SELECT $1, v.key, v.version, v.size, to_timestamp(v.mtime / 1e9),"
	"      v.etag"
	"  FROM v"
	"  ON CONFLICT (source, key, version) DO UPDATE SET deleted_at = NULL"
	"  WHERE objects.deleted_at IS NOT NULL"
	"  RETURNING id"
	"), obj AS ("
	"  SELECT id FROM ins UNION"
	"  SELECT o.id FROM objwatch.objects o JOIN v"
	"    ON o.source = $1 AND o.key = v.key AND o.version = v.version"
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
 * Record n object versions of src and queue a job for each of the
 * source's recipes they have none for, in one statement; *njobs says how
 * many jobs were new (0: all known already). A recipe whose steps changed
 * does not queue objects it has already processed again: that is what a
 * recipe's reprocess setting is for. Fails if any version is neither
 * inserted nor visible (another session inserted it after this one's
 * snapshot was taken): 1 then, and running it again sees it. Enqueuing
 * is idempotent.
 */
int
queue_enqueue_batch(PGconn *conn, const struct source *src,
    const struct object_version *ov, size_t n, int max_attempts, int *njobs,
    char **cause)
{
	PGresult	*res;
	struct strv	 col[7];
	char		*arr[7], attempts[16], num[32];
	const char	*params[9], **etags;
	size_t		 i, visible;

	memset(col, 0, sizeof col);
	for (i = 0; i < n; i++) {
		strv_push(&col[0], ov[i].key);
		strv_push(&col[1], ov[i].version);
		snprintf(num, sizeof num, "%" PRId64, ov[i].size);
		strv_push(&col[2], num);
		snprintf(num, sizeof num, "%" PRId64, ov[i].mtime_ns);
		strv_push(&col[3], num);
	}
	for (i = 0; i < src->nrecipes; i++) {
		strv_push(&col[4], src->recipes[i]->name);
		strv_push(&col[5], src->recipes[i]->hash);
	}
	for (i = 0; i < 6; i++)
		arr[i] = db_text_array((const char *const *)col[i].v,
		    col[i].n);
	/* ETags may be NULL, which a strv cannot hold. */
	etags = xcalloc(n + 1, sizeof *etags);
	for (i = 0; i < n; i++)
		etags[i] = ov[i].etag;
	arr[6] = db_text_array(etags, n);
	free(etags);
	snprintf(attempts, sizeof attempts, "%d", max_attempts);
	params[0] = src->name;
	for (i = 0; i < 6; i++)
		params[i + 1] = arr[i];
	params[7] = attempts;
	params[8] = arr[6];
	res = db_exec_prepared(conn, "enqueue", enqueue_sql, 9, params);
	for (i = 0; i < 7; i++) {
		free(arr[i]);
		strv_clear(&col[i]);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	visible = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	if (visible != n) {
		xasprintf(cause, "%zu of %zu objects of source '%s' are "
		    "neither inserted nor visible", n - visible, n, src->name);
		PQclear(res);
		return (1);
	}
	*njobs = atoi(PQgetvalue(res, 0, 1));
	PQclear(res);
	return (0);
}

/*
 * Record one object version and queue its jobs, as queue_enqueue_batch
 * does, and count it in the metrics.
 */
int
queue_enqueue(PGconn *conn, const struct source *src,
    const struct object_version *ov, int max_attempts, int *njobs,
    char **cause)
{
	int	 tries, rc = 1;

	/*
	 * If another session inserted the object between our snapshot and
	 * our insert, neither branch of obj sees it: run again, with a new
	 * snapshot that does.
	 */
	for (tries = 0; tries < 3 && rc == 1; tries++) {
		if (tries > 0)
			free(*cause);
		rc = queue_enqueue_batch(conn, src, ov, 1, max_attempts,
		    njobs, cause);
	}
	if (rc != 0)
		return (-1);
	metrics_count("objwatch_events_total", 1, "source", ov->source, NULL,
	    NULL);
	if (*njobs > 0)
		metrics_count("objwatch_jobs_queued_total", *njobs, "source",
		    ov->source, NULL, NULL);
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

/*
 * The objwatch_events payload of each final outcome the CTE named j
 * returns (id, object_id, recipe, state, error_class, final); the
 * statement must count e for the NOTIFY to run. NOTIFY takes payloads
 * shorter than 8000 bytes and a key may be longer (a file name's stray
 * bytes take three each in the key, and a path may have 4095): past that
 * limit the key and the version are null and truncated is true, and a
 * listener looks them up by the object id, so a long key never fails the
 * statement that records the outcome.
 */
#define EVENT_CTE(j)							\
	", ev AS ("							\
	"  SELECT " j ".id, " j ".object_id, " j ".recipe, " j ".state," \
	"      " j ".error_class, o.source, o.key, o.version"		\
	"  FROM " j " JOIN objwatch.objects o ON o.id = " j ".object_id" \
	"  WHERE " j ".final"						\
	"), ep AS ("							\
	"  SELECT ev.*, json_build_object('job', id, 'object', object_id," \
	"      'source', source, 'key', key, 'version', version,"	\
	"      'recipe', recipe, 'state', state,"			\
	"      'error_class', error_class, 'truncated', false)::text AS p" \
	"  FROM ev"							\
	"), e AS ("							\
	"  SELECT pg_notify('objwatch_events', CASE"			\
	"      WHEN octet_length(p) < 8000 THEN p"			\
	"      ELSE json_build_object('job', id, 'object', object_id,"	\
	"          'source', source, 'key', NULL::text,"		\
	"          'version', NULL::text,"				\
	"          'recipe', recipe, 'state', state,"			\
	"          'error_class', error_class, 'truncated', true)::text" \
	"      END)"							\
	"  FROM ep"							\
	")"

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
	"    j.recipe_hash, j.attempts, j.max_attempts,"
	"    o.info IS NULL AND j.input_location IS NULL,"
	"    CASE WHEN j.input_location IS NULL THEN coalesce(o.size, -1)"
	"        ELSE -1 END, j.waits,"
	"    extract(epoch FROM now() - c.ready)::float8,"
	"    extract(epoch FROM now() - o.seen_at)::float8,"
	"    coalesce(j.parent_job_id, 0), j.input_location";

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
	"  RETURNING id, object_id, recipe, state, error_class,"
	"      true AS final"
	"), n AS ("
	"  SELECT pg_notify('objwatch_done', d.id::text) FROM d"
	")"
	EVENT_CTE("d")
	"SELECT d.id, d.recipe, (SELECT count(*) FROM n),"
	"    (SELECT count(*) FROM e) FROM d";

/*
 * Mark dead the jobs whose workers died on every attempt, telling of each
 * as of any other final outcome: objwatch_done, objwatch_events and, for
 * a recipe that notifies, its webhook delivery, all in one transaction.
 */
static void
queue_reap(PGconn *conn)
{
	PGresult	*res;
	char		*cause = NULL;
	int64_t		 id;
	int		 i;

	if (db_begin(conn, &cause) != 0)
		goto fail;
	res = PQexec(conn, reap_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		cause = db_error(conn, res);
		PQclear(res);
		db_rollback(conn);
		goto fail;
	}
	for (i = 0; i < PQntuples(res); i++) {
		id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		if (deliver_end(conn, 0, 1, id, PQgetvalue(res, i, 1),
		    "job.dead", &cause) != 0) {
			PQclear(res);
			db_rollback(conn);
			goto fail;
		}
		log_warnx("job %" PRId64 " (recipe '%s') is dead: the worker "
		    "running it stopped on each of its attempts", id,
		    PQgetvalue(res, i, 1));
	}
	PQclear(res);
	if (db_commit(conn, &cause) != 0)
		goto fail;
	return;
fail:
	/* tried again at the next reap */
	log_debug("reaping jobs whose workers died: %s", cause);
	free(cause);
}

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
			queue_reap(conn);
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
	job->parent_job_id = strtoll(PQgetvalue(res, 0, 14), NULL, 10);
	if (!PQgetisnull(res, 0, 15))
		job->input_location = xstrdup(PQgetvalue(res, 0, 15));
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

/*
 * A recipe's output is the input of the recipes that follow it (after =):
 * their jobs, for the same object, are queued by the statement that marks
 * this one done, naming it as their parent and its output as their input.
 * $13 and $14 are their names and hashes ($15 and $16 the output's
 * checksums, for a copy). The unique key makes it a no-op
 * for one already queued, as when this job is run again by a retry.
 */
static const char complete_sql[] =
	"WITH j AS ("
	"  UPDATE objwatch.jobs SET state = 'done', run_after = NULL,"
	"      finished_at = clock_timestamp(), locked_by = NULL,"
	"      error_class = NULL, error = NULL"
	"  WHERE id = $1 AND state = 'running' AND locked_by = $2"
	"  RETURNING id, object_id, max_attempts, recipe, state,"
	"      error_class, true AS final"
	INFO_CTE
	"), o AS ("
	"  INSERT INTO objwatch.outputs (job_id, location, format, mime,"
	"      width, height, bytes, recipe_hash, sha256, input_sha256)"
	"  SELECT j.id, $6, $7, $8, $9::integer, $10::integer, $11::bigint,"
	"      $12, $15, $16"
	"  FROM j"
	"  ON CONFLICT (job_id, location) DO UPDATE SET"
	"      format = excluded.format, mime = excluded.mime,"
	"      width = excluded.width, height = excluded.height,"
	"      bytes = excluded.bytes, recipe_hash = excluded.recipe_hash,"
	"      sha256 = excluded.sha256,"
	"      input_sha256 = excluded.input_sha256,"
	"      created_at = now()"
	"  RETURNING id"
	"), c AS ("
	"  INSERT INTO objwatch.jobs (object_id, recipe, recipe_hash,"
	"      max_attempts, parent_job_id, input_location)"
	"  SELECT j.object_id, t.r, t.h, j.max_attempts, j.id, $6"
	"  FROM j, unnest($13::text[], $14::text[]) AS t(r, h)"
	"  ON CONFLICT (object_id, recipe, recipe_hash) DO NOTHING"
	"  RETURNING id"
	"), cn AS ("
	"  SELECT pg_notify('objwatch_jobs', '')"
	"  WHERE EXISTS (SELECT 1 FROM c)"
	"), n AS ("
	"  SELECT pg_notify('objwatch_done', $1::text) FROM j"
	")"
	EVENT_CTE("j")
	"SELECT (SELECT count(*) FROM j), (SELECT count(*) FROM o),"
	"    (SELECT count(*) FROM n), (SELECT count(*) FROM c),"
	"    (SELECT count(*) FROM cn), (SELECT count(*) FROM e)";

static const char complete_bare_sql[] =
	"WITH j AS ("
	"  UPDATE objwatch.jobs SET state = 'done', run_after = NULL,"
	"      finished_at = clock_timestamp(), locked_by = NULL,"
	"      error_class = NULL, error = NULL"
	"  WHERE id = $1 AND state = 'running' AND locked_by = $2"
	"  RETURNING id, object_id, recipe, state, error_class,"
	"      true AS final"
	INFO_CTE
	"), n AS ("
	"  SELECT pg_notify('objwatch_done', $1::text) FROM j"
	")"
	EVENT_CTE("j")
	"SELECT (SELECT count(*) FROM j), (SELECT count(*) FROM n),"
	"    (SELECT count(*) FROM e)";

/* The names and hashes of the recipes after r, as text[] literals. */
static void
queue_next_arrays(const struct recipe *r, char **names, char **hashes)
{
	struct strv	 n = { NULL, 0 }, h = { NULL, 0 };
	size_t		 i;

	for (i = 0; i < r->nnext; i++) {
		strv_push(&n, r->next[i]->name);
		strv_push(&h, r->next[i]->hash);
	}
	*names = db_text_array((const char *const *)n.v, n.n);
	*hashes = db_text_array((const char *const *)h.v, h.n);
	strv_clear(&n);
	strv_clear(&h);
}

/*
 * Record a job's output and mark it done, atomically, queueing the jobs
 * of the recipes after r for the same object in the same statement; out
 * is NULL for a recipe that writes none (info). Fails if the job is no
 * longer this worker's (its lease ran out and another worker took it).
 */
int
queue_complete(PGconn *conn, const char *worker_name,
    const struct claimed_job *job, const struct recipe *r,
    const struct job_output *out, char **cause)
{
	static const struct job_output none;
	PGresult	*res;
	char		 id[32], oid[32], w[16], h[16], bytes[32];
	char		*names, *hashes;
	const char	*params[16];
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
	params[11] = r->hash;
	queue_next_arrays(r, &names, &hashes);
	params[12] = names;
	params[13] = hashes;
	params[14] = out->sha256;
	params[15] = out->input_sha256;
	began = deliver_begin(conn, job->recipe, 1);
	if (bare)
		res = db_exec_prepared(conn, "complete_bare", complete_bare_sql,
		    5, params);
	else
		res = db_exec_prepared(conn, "complete", complete_sql, 16,
		    params);
	free(names);
	free(hashes);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		rc = -1;
	} else if (atoi(PQgetvalue(res, 0, 0)) != 1) {
		xasprintf(cause, "job %" PRId64 " is no longer held by this "
		    "worker (its lease of the job ran out)", job->id);
		rc = -1;
	} else if (!bare && atoi(PQgetvalue(res, 0, 3)) > 0)
		metrics_count("objwatch_jobs_queued_total",
		    atoi(PQgetvalue(res, 0, 3)), "source", job->source, NULL,
		    NULL);
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
	"  RETURNING id, object_id, recipe, state, error_class,"
	"      run_after IS NULL AS final"
	INFO_CTE
	"), n AS ("
	"  SELECT pg_notify('objwatch_done', $1::text) FROM j"
	")"
	EVENT_CTE("j")
	"SELECT (SELECT count(*) FROM j), (SELECT count(*) FROM n),"
	"    (SELECT count(*) FROM e)";

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
	free(job->input_location);
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
 * The same for a recipe chained after another ($4, at hash $5): its new
 * job reads the output of the upstream's latest job, which must be done at
 * the upstream's current hash. One not done yet (the upstream is itself
 * being reprocessed) queues the new job when it is.
 */
static const char reprocess_chained_sql[] =
	"WITH latest AS ("
	"  SELECT DISTINCT ON (j.object_id) j.object_id, j.recipe_hash"
	"  FROM objwatch.jobs j JOIN objwatch.objects o ON o.id = j.object_id"
	"  WHERE j.recipe = $1 AND o.deleted_at IS NULL"
	"  ORDER BY j.object_id, j.id DESC"
	"), up AS ("
	"  SELECT DISTINCT ON (p.object_id) p.object_id, p.id, p.state,"
	"      p.recipe_hash, out.location"
	"  FROM objwatch.jobs p JOIN latest l ON l.object_id = p.object_id"
	"  LEFT JOIN objwatch.outputs out ON out.job_id = p.id"
	"  WHERE p.recipe = $4 AND l.recipe_hash <> $2"
	"  ORDER BY p.object_id, p.id DESC, out.id"
	"), j AS ("
	"  INSERT INTO objwatch.jobs (object_id, recipe, recipe_hash,"
	"      max_attempts, parent_job_id, input_location)"
	"  SELECT up.object_id, $1, $2, $3::integer, up.id, up.location"
	"  FROM up WHERE up.state = 'done' AND up.recipe_hash = $5"
	"    AND up.location IS NOT NULL"
	"  ON CONFLICT (object_id, recipe, recipe_hash) DO NOTHING"
	"  RETURNING id"
	"), n AS ("
	"  SELECT pg_notify('objwatch_jobs', '') WHERE EXISTS (SELECT 1 FROM j)"
	")"
	"SELECT (SELECT count(*) FROM j), (SELECT count(*) FROM n)";

/* Run one reprocess statement for r; *n is how many jobs it queued. */
static int
queue_reprocess_one(PGconn *conn, const struct config *conf,
    const struct recipe *r, int *n, char **cause)
{
	PGresult	*res;
	struct strv	 sources;
	char		*arr, attempts[16];
	const char	*params[5];
	size_t		 j, k;

	*n = 0;
	snprintf(attempts, sizeof attempts, "%d", conf->max_attempts);
	memset(&sources, 0, sizeof sources);
	if (r->after != NULL) {
		params[0] = r->name;
		params[1] = r->hash;
		params[2] = attempts;
		params[3] = r->after->name;
		params[4] = r->after->hash;
		res = PQexecParams(conn, reprocess_chained_sql, 5, NULL, params,
		    NULL, NULL, 0);
	} else {
		for (j = 0; j < conf->nsources; j++) {
			for (k = 0; k < conf->sources[j]->nrecipes; k++) {
				if (conf->sources[j]->recipes[k] == r)
					strv_push(&sources,
					    conf->sources[j]->name);
			}
		}
		if (sources.n == 0)
			return (0);
		arr = db_text_array((const char *const *)sources.v, sources.n);
		strv_clear(&sources);
		params[0] = r->name;
		params[1] = r->hash;
		params[2] = arr;
		params[3] = attempts;
		res = PQexecParams(conn, reprocess_sql, 4, NULL, params, NULL,
		    NULL, 0);
		free(arr);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	*n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return (0);
}

/*
 * Queue again, at start, what recipes with reprocess = yes made with an
 * older hash; *njobs says how many jobs were queued.
 */
int
queue_reprocess(PGconn *conn, const struct config *conf, int *njobs,
    char **cause)
{
	const struct recipe	*r;
	size_t			 i;
	int			 n;

	*njobs = 0;
	for (i = 0; i < conf->nrecipes; i++) {
		r = conf->recipes[i];
		if (!r->reprocess)
			continue;
		if (queue_reprocess_one(conn, conf, r, &n, cause) != 0)
			return (-1);
		if (n > 0)
			log_info("recipe '%s': %d objects made with an older "
			    "hash queued again (reprocess = yes)", r->name, n);
		*njobs += n;
	}
	return (0);
}

static const char progress_sql[] =
	"SELECT"
	"  count(*) FILTER (WHERE j.state IN ('done', 'failed', 'dead')"
	"    AND j.finished_at >= to_timestamp($2::float8)"
	"    AND NOT (j.state = 'failed' AND j.run_after IS NOT NULL)),"
	"  count(*) FILTER (WHERE j.state IN ('queued', 'running') OR"
	"    (j.state = 'failed' AND j.run_after IS NOT NULL)),"
	"  count(*) FILTER (WHERE j.state IN ('failed', 'dead')"
	"    AND j.finished_at >= to_timestamp($2::float8)"
	"    AND j.run_after IS NULL) "
	"FROM objwatch.jobs j JOIN objwatch.objects o ON o.id = j.object_id "
	"WHERE o.source = ANY($1::text[])"
	"  AND (j.state <> 'done' OR j.finished_at >= to_timestamp($2::float8))";

/*
 * How the jobs of conf's sources stand for `objwatch scan`: finished since
 * the database time since (epoch seconds), still to
 * run, and failed for good since then.
 */
int
queue_scan_progress(PGconn *conn, const struct config *conf,
    const char *since, struct queue_progress *p, char **cause)
{
	struct strv	 names = { NULL, 0 };
	PGresult	*res;
	const char	*params[2];
	char		*arr;
	size_t		 i;

	for (i = 0; i < conf->nsources; i++)
		strv_push(&names, conf->sources[i]->name);
	arr = db_text_array((const char *const *)names.v, names.n);
	strv_clear(&names);
	params[0] = arr;
	params[1] = since;
	res = PQexecParams(conn, progress_sql, 2, NULL, params, NULL, NULL, 0);
	free(arr);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	p->done = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	p->pending = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	p->failed = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	return (0);
}

/*
 * The unfinished jobs per recipe into *depths (free with
 * queue_depths_free), and the age in seconds of the oldest of them all.
 */
int
queue_depths(PGconn *conn, struct queue_depth **depths, size_t *n,
    double *oldest_s, char **cause)
{
	PGresult	*res;
	double		 age;
	int		 i, rows;

	/* The claim index covers exactly the unfinished jobs. */
	res = PQexec(conn, "SELECT recipe, count(*), coalesce(extract(epoch "
	    "FROM now() - min(created_at)), 0) FROM objwatch.jobs WHERE state "
	    "IN ('queued', 'running', 'failed') AND run_after IS NOT NULL "
	    "GROUP BY recipe");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	rows = PQntuples(res);
	*depths = rows > 0 ? xcalloc(rows, sizeof **depths) : NULL;
	*n = rows;
	*oldest_s = 0;
	for (i = 0; i < rows; i++) {
		(*depths)[i].recipe = xstrdup(PQgetvalue(res, i, 0));
		(*depths)[i].jobs = atof(PQgetvalue(res, i, 1));
		age = atof(PQgetvalue(res, i, 2));
		if (age > *oldest_s)
			*oldest_s = age;
	}
	PQclear(res);
	return (0);
}

/* Free what queue_depths gave. */
void
queue_depths_free(struct queue_depth *depths, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(depths[i].recipe);
	free(depths);
}
