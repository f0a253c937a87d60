/*
 * objwatch retry: put failed (and, asked, dead) jobs back in the queue.
 *
 * A requeued job starts afresh: attempts back to 0, its error cleared, run
 * now. Its identity and its history (created_at, the object row) stay, so
 * it is the same job run again, not a new one. Every filter is a
 * parameter; an absent filter is NULL and matches everything.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "objwatch.h"
#include "banned.h"

static const char retry_sql[] =
	"WITH r AS ("
	"  UPDATE objwatch.jobs j SET state = 'queued', run_after = now(),"
	"      attempts = 0, error_class = NULL, error = NULL,"
	"      finished_at = NULL, locked_by = NULL"
	"  FROM objwatch.objects o"
	"  WHERE o.id = j.object_id"
	"    AND (j.state = 'failed' OR ($1::boolean AND j.state = 'dead'))"
	"    AND ($2::text IS NULL OR j.recipe = $2)"
	"    AND ($3::text IS NULL OR o.source = $3)"
	"    AND ($4::text IS NULL OR j.error_class = $4)"
	"    AND ($5::float8 IS NULL OR"
	"      j.finished_at >= now() - make_interval(secs => $5::float8))"
	"    AND ($6::text IS NULL OR o.key LIKE $6)"
	"  RETURNING j.id"
	"), n AS ("
	"  SELECT pg_notify('objwatch_jobs', '') WHERE EXISTS (SELECT 1 FROM r)"
	") "
	"SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM n)";

/* Requeue the jobs the filter selects; *n says how many. */
int
retry_jobs(PGconn *conn, const struct retry_filter *rf, long long *n,
    char **cause)
{
	PGresult	*res;
	const char	*params[6];
	char		 since[32];

	params[0] = rf->dead ? "true" : "false";
	params[1] = rf->recipe;
	params[2] = rf->source;
	params[3] = rf->error_class;
	params[4] = NULL;
	if (rf->since > 0) {
		snprintf(since, sizeof since, "%.3f", rf->since);
		params[4] = since;
	}
	params[5] = rf->key_like;
	res = PQexecParams(conn, retry_sql, 6, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	*n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return (0);
}
