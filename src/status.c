/*
 * objwatch status: the queue at a glance, per source and recipe.
 *
 * One query computes everything from the jobs table: counts by state,
 * finishing rates over the last 1, 5 and 15 minutes, the age of the oldest
 * pending job, and failures by error class. PostgreSQL builds the JSON
 * form itself (json_build_object), so the table and --json always agree.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "banned.h"

static const char status_sql[] =
	"WITH per AS ("
	"  SELECT o.source, j.recipe,"
	"    count(*) FILTER (WHERE j.state = 'queued') AS queued,"
	"    count(*) FILTER (WHERE j.state = 'running') AS running,"
	"    count(*) FILTER (WHERE j.state = 'done') AS done,"
	"    count(*) FILTER (WHERE j.state = 'failed') AS failed,"
	"    count(*) FILTER (WHERE j.state = 'dead') AS dead,"
	"    round(count(*) FILTER (WHERE j.finished_at > now() -"
	"      interval '1 minute')::numeric, 1) AS rate_1m,"
	"    round(count(*) FILTER (WHERE j.finished_at > now() -"
	"      interval '5 minutes')::numeric / 5, 1) AS rate_5m,"
	"    round(count(*) FILTER (WHERE j.finished_at > now() -"
	"      interval '15 minutes')::numeric / 15, 1) AS rate_15m,"
	"    round(extract(epoch FROM now() - min(j.created_at) FILTER ("
	"      WHERE j.state IN ('queued', 'running') OR (j.state = 'failed'"
	"      AND j.run_after IS NOT NULL))))::bigint AS oldest_pending_s"
	"  FROM objwatch.jobs j JOIN objwatch.objects o ON o.id = j.object_id"
	"  GROUP BY o.source, j.recipe"
	"), fails AS ("
	"  SELECT o.source, j.recipe, j.error_class, count(*) AS jobs"
	"  FROM objwatch.jobs j JOIN objwatch.objects o ON o.id = j.object_id"
	"  WHERE j.state IN ('failed', 'dead')"
	"  GROUP BY o.source, j.recipe, j.error_class"
	") "
	"SELECT json_build_object("
	"  'queues', coalesce((SELECT json_agg(per ORDER BY source, recipe)"
	"    FROM per), '[]'),"
	"  'failures', coalesce((SELECT json_agg(fails ORDER BY jobs DESC,"
	"    source, recipe, error_class) FROM fails), '[]'))::text,"
	"  (SELECT string_agg(concat_ws('|', source, recipe, queued, running,"
	"    done, failed, dead, rate_1m, rate_5m, rate_15m,"
	"    coalesce(oldest_pending_s::text, '-')), E'\\n'"
	"    ORDER BY source, recipe) FROM per),"
	"  (SELECT string_agg(concat_ws('|', source, recipe, error_class, jobs),"
	"    E'\\n' ORDER BY jobs DESC, source, recipe, error_class) FROM fails)";

/* Seconds as people read an age: 45s, 12m, 3h, 2d. */
static void
status_age(const char *secs, char *buf, size_t size)
{
	long	 s;

	if (strcmp(secs, "-") == 0) {
		snprintf(buf, size, "-");
		return;
	}
	s = strtol(secs, NULL, 10);
	if (s < 120)
		snprintf(buf, size, "%lds", s);
	else if (s < 7200)
		snprintf(buf, size, "%ldm", s / 60);
	else if (s < 172800)
		snprintf(buf, size, "%ldh", s / 3600);
	else
		snprintf(buf, size, "%ldd", s / 86400);
}

/* Split a '|'-joined row into at most n fields, in place. */
static int
status_fields(char *row, char **f, int n)
{
	int	 i = 0;

	f[i++] = row;
	while (i < n && (row = strchr(row, '|')) != NULL) {
		*row++ = '\0';
		f[i++] = row;
	}
	return (i);
}

/* Print the status table (or JSON) of the queue. */
int
status_print(PGconn *conn, int json, FILE *out, char **cause)
{
	PGresult	*res;
	char		*rows, *row, *next, *f[11], age[32];

	res = PQexec(conn, status_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	if (json) {
		fprintf(out, "%s\n", PQgetvalue(res, 0, 0));
		PQclear(res);
		return (0);
	}

	fprintf(out, "%-12s %-12s %7s %7s %7s %7s %7s  %21s  %s\n", "SOURCE",
	    "RECIPE", "QUEUED", "RUNNING", "DONE", "FAILED", "DEAD",
	    "PER MIN 1m/5m/15m", "OLDEST PENDING");
	if (PQgetisnull(res, 0, 1))
		fprintf(out, "(no jobs yet)\n");
	else {
		rows = xstrdup(PQgetvalue(res, 0, 1));
		for (row = rows; row != NULL; row = next) {
			if ((next = strchr(row, '\n')) != NULL)
				*next++ = '\0';
			if (status_fields(row, f, 11) != 11)
				continue;
			status_age(f[10], age, sizeof age);
			fprintf(out, "%-12s %-12s %7s %7s %7s %7s %7s  "
			    "%6s/%6s/%7s  %s\n", f[0], f[1], f[2], f[3], f[4],
			    f[5], f[6], f[7], f[8], f[9], age);
		}
		free(rows);
	}

	if (!PQgetisnull(res, 0, 2)) {
		fprintf(out, "\n%-12s %-12s %-8s %7s\n", "SOURCE", "RECIPE",
		    "FAILURE", "JOBS");
		rows = xstrdup(PQgetvalue(res, 0, 2));
		for (row = rows; row != NULL; row = next) {
			if ((next = strchr(row, '\n')) != NULL)
				*next++ = '\0';
			if (status_fields(row, f, 4) != 4)
				continue;
			fprintf(out, "%-12s %-12s %-8s %7s\n", f[0], f[1], f[2],
			    f[3]);
		}
		free(rows);
	}
	PQclear(res);
	return (0);
}
