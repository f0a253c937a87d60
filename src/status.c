/*
 * objwatch status: the queue at a glance, per source and recipe.
 *
 * One query computes everything from the jobs table: counts by state,
 * finishing rates over the last 1, 5 and 15 minutes, the age of the oldest
 * pending job, and failures by error class. PostgreSQL builds the JSON
 * form itself (json_build_object), so the table and --json always agree.
 */
#include "config.h"

#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

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
	"), procs AS ("
	"  SELECT process, host, pid, version, started_at, seen_at,"
	"    round(extract(epoch FROM now() - started_at))::bigint AS up_s,"
	"    round(extract(epoch FROM now() - seen_at))::bigint AS seen_s,"
	"    seen_at > now() - interval '30 seconds' AS answering, state"
	"  FROM objwatch.processes WHERE seen_at > now() - interval '1 hour'"
	") "
	"SELECT json_build_object("
	"  'queues', coalesce((SELECT json_agg(per ORDER BY source, recipe)"
	"    FROM per), '[]'),"
	"  'failures', coalesce((SELECT json_agg(fails ORDER BY jobs DESC,"
	"    source, recipe, error_class) FROM fails), '[]'),"
	"  'processes', coalesce((SELECT json_agg(json_build_object("
	"    'process', process, 'host', host, 'pid', pid, 'version', version,"
	"    'started_at', started_at, 'seen_at', seen_at, 'answering',"
	"    answering, 'state', state) ORDER BY host, pid) FROM procs),"
	"    '[]'),"
	"  'schedules', coalesce((SELECT json_agg(s ORDER BY schedule)"
	"    FROM objwatch.schedule_status s), '[]'),"
	"  'deliveries', coalesce((SELECT json_agg(d ORDER BY recipe)"
	"    FROM objwatch.delivery_status d), '[]'))::text,"
	"  (SELECT string_agg(concat_ws('|', source, recipe, queued, running,"
	"    done, failed, dead, rate_1m, rate_5m, rate_15m,"
	"    coalesce(oldest_pending_s::text, '-')), E'\\n'"
	"    ORDER BY source, recipe) FROM per),"
	"  (SELECT string_agg(concat_ws('|', source, recipe, error_class, jobs),"
	"    E'\\n' ORDER BY jobs DESC, source, recipe, error_class) FROM fails),"
	"  (SELECT string_agg(concat_ws('|', host || ':' || pid, up_s, seen_s,"
	"    CASE WHEN answering THEN state->'database'->>'state'"
	"      ELSE 'not answering' END,"
	"    (state->'workers'->>'running') || '/' ||"
	"      (state->'workers'->>'configured') || ' (' ||"
	"      (state->'workers'->>'busy') || ' busy)',"
	"    (SELECT string_agg(key || ' ' || (value->>'state') || CASE WHEN"
	"      value->>'state' IN ('ok', 'standby') THEN '' ELSE"
	"      coalesce(': ' || (value->>'last_error'), '') END, '; '"
	"      ORDER BY key)"
	"      FROM jsonb_each(state->'sources'))), E'\\n' ORDER BY host, pid)"
	"    FROM procs)";

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
	char		*rows, *row, *next, *f[11], age[32], seen[32];

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

	if (!PQgetisnull(res, 0, 3)) {
		fprintf(out, "\n%-24s %6s %6s  %-13s %-14s %s\n", "PROCESS",
		    "UP", "SEEN", "DATABASE", "WORKERS", "SOURCES");
		rows = xstrdup(PQgetvalue(res, 0, 3));
		for (row = rows; row != NULL; row = next) {
			if ((next = strchr(row, '\n')) != NULL)
				*next++ = '\0';
			if (status_fields(row, f, 6) != 6)
				continue;
			status_age(f[1], age, sizeof age);
			status_age(f[2], seen, sizeof seen);
			fprintf(out, "%-24s %6s %6s  %-13s %-14s %s\n", f[0],
			    age, seen, f[3], f[4], f[5]);
		}
		free(rows);
	}
	PQclear(res);
	if (schedule_status_print(conn, out, cause) != 0)
		return (-1);
	if (deliver_status_print(conn, out, cause) != 0)
		return (-1);
	if (table_status_print(conn, out, cause) != 0)
		return (-1);
	return (0);
}

/*
 * Keep this process's row in objwatch.processes: its state as JSON now.
 * host is worker_host(); rows of processes unseen for a day are dropped.
 */
int
status_heartbeat(PGconn *conn, const char *host, const char *json,
    char **cause)
{
	PGresult	*res;
	char		 pid[16], *process;
	const char	*params[5];
	int		 rc = 0;

	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	xasprintf(&process, "%s:%s", host, pid);
	params[0] = process;
	params[1] = host;
	params[2] = pid;
	params[3] = PACKAGE_VERSION;
	params[4] = json;
	res = db_exec_prepared(conn, "heartbeat",
	    "WITH gone AS (DELETE FROM objwatch.processes"
	    "  WHERE seen_at < now() - interval '1 day') "
	    "INSERT INTO objwatch.processes (process, host, pid, version,"
	    "  state) VALUES ($1, split_part($2, ':', 1), $3::integer, $4,"
	    "  $5::jsonb) "
	    "ON CONFLICT (process) DO UPDATE SET seen_at = now(),"
	    "  state = excluded.state", 5, params);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		*cause = db_error(conn, res);
		rc = -1;
	}
	PQclear(res);
	free(process);
	return (rc);
}

/* Remove this process's row, at a clean stop. */
int
status_forget(PGconn *conn, const char *host, char **cause)
{
	PGresult	*res;
	char		*process;
	const char	*params[1];
	int		 rc = 0;

	xasprintf(&process, "%s:%ld", host, (long)getpid());
	params[0] = process;
	res = PQexecParams(conn, "DELETE FROM objwatch.processes WHERE "
	    "process = $1", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		*cause = db_error(conn, res);
		rc = -1;
	}
	PQclear(res);
	free(process);
	return (rc);
}
