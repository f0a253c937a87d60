/*
 * Scheduled SQL: [schedule.NAME] runs its SQL once per period, across
 * every objwatch process on the database, and keeps what it returns in a
 * table (into), a file (output), or both.
 *
 * Periods: `every = 12h` cuts time into intervals from the epoch (00:00
 * and 12:00 UTC); `cron = ...` fires at the expression's times (cron.c, in
 * UTC). A period is named by its start, the fire time.
 *
 * Once per period: objwatch.schedule_runs holds a row per schedule and
 * period_start, UNIQUE, so a process claims a period by inserting its row
 * (ON CONFLICT DO NOTHING): whoever inserts runs it, everyone else sees the
 * row and waits for the next one. While it runs, the process holds a
 * session advisory lock on the schedule's name, so no two runs of one
 * schedule overlap. A run whose process died (no finished_at) is taken over
 * once its lease, the timeout and a minute, has passed.
 *
 * Missed periods: a process that finds the latest recorded run older than
 * the current period runs the current one (the latest missed period only,
 * once), as at a start after a stop. A schedule that never ran waits for
 * its first fire time.
 *
 * Each schedule has a thread of its own with its own connection. The SQL
 * runs in a read-write transaction as objwatch's role, with
 * statement_timeout set to the schedule's timeout, and with the settings
 * objwatch.schedule and objwatch.period_start (ISO 8601, UTC) for the SQL
 * to read with current_setting(). With into or output, the SQL is one query
 * whose rows go into a temporary table first; the export is written under a
 * temporary name and renamed before the transaction commits, so a run that
 * fails leaves neither the rows nor the file.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "objwatch.h"
#include "banned.h"

#define SCHEDULE_TIMEOUT	300.0	/* seconds, when none is set */
#define SCHEDULE_LEASE_EXTRA	60.0	/* a run's lease past its timeout */
#define SCHEDULE_LOCK_CLASS	"73011606"	/* advisory lock, first key */
#define SCHEDULE_SQL_LIMIT	(1024 * 1024)

/* A table name: name or schema.name, letters, digits and '_'. */
static int
schedule_table_ok(const char *s)
{
	int	 parts = 0;

	for (;;) {
		if (!isalpha((unsigned char)*s) && *s != '_')
			return (0);
		while (isalnum((unsigned char)*s) || *s == '_')
			s++;
		parts++;
		if (*s == '\0')
			return (1);
		if (*s != '.' || parts == 2)
			return (0);
		s++;
	}
}

/* The output's format, from how its name ends; -1 when unknown. */
static int
schedule_format_of(const char *path)
{
	size_t	 n = strlen(path);

	if (n > 4 && strcmp(path + n - 4, ".csv") == 0)
		return (SCHEDULE_CSV);
	if (n > 5 && strcmp(path + n - 5, ".json") == 0)
		return (SCHEDULE_JSON);
	if ((n > 7 && strcmp(path + n - 7, ".ndjson") == 0) ||
	    (n > 6 && strcmp(path + n - 6, ".jsonl") == 0))
		return (SCHEDULE_NDJSON);
	return (-1);
}

/* Check an output template: fields {schedule}, {start} and {date} only. */
static int
schedule_template_ok(const char *t, char **cause)
{
	const char	*open, *close;

	for (open = strchr(t, '{'); open != NULL; open = strchr(close, '{')) {
		if ((close = strchr(open, '}')) == NULL) {
			xasprintf(cause, "output '%s': '{' without '}'", t);
			return (-1);
		}
		if (strncmp(open, "{schedule}", 10) != 0 &&
		    strncmp(open, "{start}", 7) != 0 &&
		    strncmp(open, "{date}", 6) != 0) {
			xasprintf(cause, "output '%s': unknown field '%.*s' "
			    "(known: {schedule}, {start}, {date})", t,
			    (int)(close - open + 1), open);
			return (-1);
		}
	}
	return (0);
}

/* The SQL that runs: as written, without a trailing ';' or blanks. */
static char *
schedule_sql_trim(const char *sql)
{
	char	*s = xstrdup(sql);
	size_t	 n = strlen(s);

	while (n > 0 && (isspace((unsigned char)s[n - 1]) || s[n - 1] == ';'))
		s[--n] = '\0';
	return (s);
}

/*
 * Check a schedule and fill in what follows from it: its period, the SQL
 * (read from sql_file, relative to dir), the output's format and path.
 * On error *line is the line to report and *cause says what is wrong.
 */
int
schedule_resolve(struct schedule *s, const char *dir, int *line,
    char **cause)
{
	char	*why, *text;
	void	*data;
	size_t	 len;

	*line = s->line;
	if (s->every == 0 && s->cron == NULL) {
		xasprintf(cause, "needs 'every' (such as 12h) or 'cron' (such "
		    "as \"0 */12 * * *\")");
		return (-1);
	}
	if (s->every != 0 && s->cron != NULL) {
		*line = s->cron_line;
		xasprintf(cause, "set 'every' or 'cron', not both");
		return (-1);
	}
	if (s->every != 0 && (s->every < 1 || s->every != floor(s->every) ||
	    s->every > 366 * 86400.0)) {
		*line = s->every_line;
		xasprintf(cause, "'every' must be whole seconds from 1s to "
		    "366d (units s, m, h, d), not %gs", s->every);
		return (-1);
	}
	if (s->cron != NULL) {
		text = xstrdup(s->cron);
		len = strlen(text);
		/* the quotes around a cron expression are optional */
		if (len >= 2 && text[0] == '"' && text[len - 1] == '"') {
			memmove(text, text + 1, len - 2);
			text[len - 2] = '\0';
		}
		if (cron_parse(text, &s->cron_parsed, &why) != 0) {
			*line = s->cron_line;
			xasprintf(cause, "cron \"%s\": %s", text, why);
			free(why);
			free(text);
			return (-1);
		}
		free(s->cron);
		s->cron = text;
	}
	if (s->sql == NULL && s->sql_file == NULL) {
		xasprintf(cause, "needs 'sql' or 'sql_file'");
		return (-1);
	}
	if (s->sql != NULL && s->sql_file != NULL) {
		*line = s->sql_file_line;
		xasprintf(cause, "set 'sql' or 'sql_file', not both");
		return (-1);
	}
	if (s->sql_file != NULL) {
		*line = s->sql_file_line;
		if (read_file(s->sql_file, &data, &len, SCHEDULE_SQL_LIMIT,
		    &why) != 0) {
			xasprintf(cause, "sql_file: %s", why);
			free(why);
			return (-1);
		}
		s->sql_text = schedule_sql_trim(data);
		free(data);
	} else
		s->sql_text = schedule_sql_trim(s->sql);
	if (*s->sql_text == '\0') {
		*line = s->sql_file != NULL ? s->sql_file_line : s->sql_line;
		xasprintf(cause, "the SQL is empty");
		return (-1);
	}
	if (s->into != NULL && !schedule_table_ok(s->into)) {
		*line = s->into_line;
		xasprintf(cause, "'into' must name a table (name or "
		    "schema.name: letters, digits and '_'), not '%s'",
		    s->into);
		return (-1);
	}
	if (s->output != NULL) {
		*line = s->output_line;
		if (strncmp(s->output, "dir:", 4) != 0 ||
		    s->output[4] == '\0') {
			xasprintf(cause, "output '%s' must be dir:PATH, such "
			    "as dir:/srv/reports/{schedule}-{start}.csv",
			    s->output);
			return (-1);
		}
		if ((s->output_format = schedule_format_of(s->output)) ==
		    -1) {
			xasprintf(cause, "output '%s' must end in .csv, "
			    ".json or .ndjson (the format)", s->output);
			return (-1);
		}
		if (schedule_template_ok(s->output + 4, cause) != 0)
			return (-1);
		s->output_template = path_absolute(dir, s->output + 4);
	}
	if (s->timeout == 0)
		s->timeout = SCHEDULE_TIMEOUT;
	return (0);
}

/* Free a schedule and everything in it. */
void
schedule_free(struct schedule *s)
{
	if (s == NULL)
		return;
	free(s->name);
	free(s->cron);
	free(s->sql);
	free(s->sql_file);
	free(s->sql_text);
	free(s->into);
	free(s->output);
	free(s->output_template);
	free(s);
}

/* Print a resolved schedule as its config section. */
void
schedule_print(const struct schedule *s, FILE *f)
{
	fprintf(f, "\n[schedule.%s]\n", s->name);
	if (s->cron != NULL)
		fprintf(f, "cron = \"%s\"\n", s->cron);
	else
		fprintf(f, "every = %gs\n", s->every);
	if (s->sql_file != NULL)
		fprintf(f, "sql_file = %s\n", s->sql_file);
	else
		fprintf(f, "sql = %s\n", s->sql_text);
	if (s->into != NULL)
		fprintf(f, "into = %s\n", s->into);
	if (s->output_template != NULL)
		fprintf(f, "output = dir:%s\n", s->output_template);
	fprintf(f, "timeout = %gs\n", s->timeout);
}

/*
 * The period now is in: *start, its fire time (at or before now), and
 * *next, the next fire time. -1 when a cron expression has none.
 */
int
schedule_period(const struct schedule *s, int64_t now, int64_t *start,
    int64_t *next)
{
	int64_t	 every, st, nx;

	if (s->cron == NULL) {
		every = (int64_t)s->every;
		st = now - (((now % every) + every) % every);
		*start = st;
		*next = st + every;
		return (0);
	}
	st = cron_prev(&s->cron_parsed, now);
	nx = cron_next(&s->cron_parsed, now);
	if (nx == -1)
		return (-1);
	*start = st;
	*next = nx;
	return (0);
}

/* An epoch time as "%Y%m%dT%H%M%SZ", or "%Y-%m-%d" with date. */
static void
schedule_time(int64_t t, int date, char *buf, size_t size)
{
	time_t		 tt = (time_t)t;
	struct tm	 tm;

	gmtime_r(&tt, &tm);
	strftime(buf, size, date ? "%Y-%m-%d" : "%Y%m%dT%H%M%SZ", &tm);
}

/* The export's path for the period that starts at start. */
char *
schedule_output_path(const struct schedule *s, int64_t start)
{
	struct buf	 b;
	const char	*t = s->output_template;
	char		 when[32];

	buf_init(&b);
	while (*t != '\0') {
		if (strncmp(t, "{schedule}", 10) == 0) {
			buf_printf(&b, "%s", s->name);
			t += 10;
		} else if (strncmp(t, "{start}", 7) == 0) {
			schedule_time(start, 0, when, sizeof when);
			buf_printf(&b, "%s", when);
			t += 7;
		} else if (strncmp(t, "{date}", 6) == 0) {
			schedule_time(start, 1, when, sizeof when);
			buf_printf(&b, "%s", when);
			t += 6;
		} else
			buf_add(&b, t++, 1);
	}
	return (buf_take(&b));
}

/*
 * Append one CSV field as RFC 4180 has it: quoted when it holds a comma,
 * a quote, a line break or starts or ends with a blank, quotes doubled.
 */
void
schedule_csv_field(struct buf *b, const char *v)
{
	size_t	 n = strlen(v);

	if (strpbrk(v, ",\"\r\n") == NULL && (n == 0 || (v[0] != ' ' &&
	    v[n - 1] != ' '))) {
		buf_add(b, v, n);
		return;
	}
	buf_add(b, "\"", 1);
	for (; *v != '\0'; v++) {
		if (*v == '"')
			buf_add(b, "\"", 1);
		buf_add(b, v, 1);
	}
	buf_add(b, "\"", 1);
}

/* One schedule's thread. */
struct schedule_runner {
	pthread_t		 thread;
	int			 started;
	const struct schedule	*s;
	volatile sig_atomic_t	*stop;
	PGconn			*conn;
	int64_t			 armed;	/* a never-run schedule's first time */
	int64_t			 shown;	/* the next run last recorded */
};

struct schedules {
	struct schedule_runner	*v;
	size_t			 n;
};

enum schedule_claim {
	CLAIM_RAN,
	CLAIM_ELSEWHERE,	/* another process has it, or had it */
	CLAIM_DB		/* the connection failed */
};

/* Wait until the wall clock reaches t, or until stop. */
static void
schedule_sleep_until(struct schedule_runner *r, double t)
{
	while (!*r->stop && now_wall() < t)
		poll(NULL, 0, 100);
}

/* A result that is not what was expected: its message, for the row. */
static char *
schedule_sql_error(PGconn *conn, PGresult *res)
{
	const char	*msg;

	msg = res == NULL ? NULL : PQresultErrorField(res,
	    PG_DIAG_MESSAGE_PRIMARY);
	if (msg == NULL)
		return (db_error(conn, res));
	return (xstrdup(msg));
}

/* Run a command with parameters; 0 when it succeeded. */
static int
schedule_exec(PGconn *conn, const char *sql, int n, const char *const *p,
    char **cause)
{
	PGresult	*res;
	int		 rc = 0;

	res = PQexecParams(conn, sql, n, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = schedule_sql_error(conn, res);
		rc = -1;
	}
	PQclear(res);
	return (rc);
}

/* The table name of into, each part quoted. */
static char *
schedule_quoted_table(PGconn *conn, const char *into)
{
	const char	*dot = strchr(into, '.');
	char		*a, *b, *out, *part;

	if (dot == NULL) {
		a = PQescapeIdentifier(conn, into, strlen(into));
		out = xstrdup(a != NULL ? a : "\"?\"");
		PQfreemem(a);
		return (out);
	}
	part = xstrndup(into, dot - into);
	a = PQescapeIdentifier(conn, part, strlen(part));
	b = PQescapeIdentifier(conn, dot + 1, strlen(dot + 1));
	xasprintf(&out, "%s.%s", a != NULL ? a : "\"?\"",
	    b != NULL ? b : "\"?\"");
	PQfreemem(a);
	PQfreemem(b);
	free(part);
	return (out);
}

/* Write the result's rows to the export file of the period. */
static int
schedule_export(PGconn *conn, const struct schedule *s, int64_t start,
    char **cause)
{
	PGresult	*res;
	struct buf	 b;
	char		*path, *slash, *why;
	int		 i, j, n, rc;

	res = PQexec(conn, s->output_format == SCHEDULE_CSV ?
	    "SELECT * FROM pg_temp.objwatch_result" :
	    "SELECT row_to_json(r)::text FROM pg_temp.objwatch_result r");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = schedule_sql_error(conn, res);
		PQclear(res);
		return (-1);
	}
	buf_init(&b);
	n = PQntuples(res);
	if (s->output_format == SCHEDULE_CSV) {
		for (j = 0; j < PQnfields(res); j++) {
			if (j > 0)
				buf_add(&b, ",", 1);
			schedule_csv_field(&b, PQfname(res, j));
		}
		buf_add(&b, "\r\n", 2);
		for (i = 0; i < n; i++) {
			for (j = 0; j < PQnfields(res); j++) {
				if (j > 0)
					buf_add(&b, ",", 1);
				if (!PQgetisnull(res, i, j))
					schedule_csv_field(&b,
					    PQgetvalue(res, i, j));
			}
			buf_add(&b, "\r\n", 2);
		}
	} else if (s->output_format == SCHEDULE_JSON) {
		buf_add(&b, "[", 1);
		for (i = 0; i < n; i++)
			buf_printf(&b, "%s\n%s", i > 0 ? "," : "",
			    PQgetvalue(res, i, 0));
		buf_add(&b, n > 0 ? "\n]\n" : "]\n", n > 0 ? 3 : 2);
	} else {
		for (i = 0; i < n; i++)
			buf_printf(&b, "%s\n", PQgetvalue(res, i, 0));
	}
	PQclear(res);
	path = schedule_output_path(s, start);
	if ((slash = strrchr(path, '/')) != NULL && slash != path) {
		*slash = '\0';
		if (mkdir_parents(path, 0755) != 0) {
			xasprintf(cause, "cannot make folder '%s': %s", path,
			    strerror(errno));
			free(path);
			buf_clear(&b);
			return (-1);
		}
		*slash = '/';
	}
	rc = write_file_atomic(path, b.s != NULL ? b.s : "", b.len, &why);
	if (rc != 0) {
		*cause = why;
	} else
		log_info("schedule '%s': wrote %d rows to '%s'", s->name, n,
		    path);
	free(path);
	buf_clear(&b);
	return (rc);
}

/*
 * Run the SQL of one period in a transaction; *rows is how many rows it
 * gave (or changed). Returns 0, or -1 with *cause: the run's error.
 */
static int
schedule_execute(struct schedule_runner *r, int64_t start, long long *rows,
    char **cause)
{
	const struct schedule	*s = r->s;
	PGconn			*conn = r->conn;
	PGresult		*res;
	const char		*p[3];
	char			 ms[32], iso[64], *sql, *table;
	time_t			 tt = (time_t)start;
	struct tm		 tm;
	int			 rc = -1;

	*rows = 0;
	if (schedule_exec(conn, "BEGIN READ WRITE", 0, NULL, cause) != 0)
		return (-1);
	snprintf(ms, sizeof ms, "%.0f", s->timeout * 1000);
	gmtime_r(&tt, &tm);
	strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
	p[0] = ms;
	p[1] = s->name;
	p[2] = iso;
	if (schedule_exec(conn, "SELECT set_config('statement_timeout', $1, "
	    "true), set_config('objwatch.schedule', $2, true), "
	    "set_config('objwatch.period_start', $3, true)", 3, p,
	    cause) != 0)
		goto out;
	if (s->into == NULL && s->output == NULL) {
		res = PQexec(conn, s->sql_text);
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			*rows = PQntuples(res);
		else if (PQresultStatus(res) == PGRES_COMMAND_OK)
			*rows = strtoll(PQcmdTuples(res), NULL, 10);
		else {
			*cause = schedule_sql_error(conn, res);
			PQclear(res);
			goto out;
		}
		PQclear(res);
	} else {
		xasprintf(&sql, "CREATE TEMP TABLE objwatch_result ON COMMIT "
		    "DROP AS %s", s->sql_text);
		res = PQexec(conn, sql);
		free(sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			*cause = schedule_sql_error(conn, res);
			PQclear(res);
			goto out;
		}
		*rows = strtoll(PQcmdTuples(res), NULL, 10);
		PQclear(res);
		if (s->into != NULL) {
			table = schedule_quoted_table(conn, s->into);
			xasprintf(&sql, "CREATE TABLE IF NOT EXISTS %s (LIKE "
			    "pg_temp.objwatch_result); INSERT INTO %s SELECT "
			    "* FROM pg_temp.objwatch_result", table, table);
			free(table);
			res = PQexec(conn, sql);
			free(sql);
			if (PQresultStatus(res) != PGRES_COMMAND_OK) {
				*cause = schedule_sql_error(conn, res);
				PQclear(res);
				goto out;
			}
			PQclear(res);
		}
		if (s->output != NULL && schedule_export(conn, s, start,
		    cause) != 0)
			goto out;
	}
	if (schedule_exec(conn, "COMMIT", 0, NULL, cause) == 0)
		return (0);
	return (-1);
out:
	res = PQexec(conn, "ROLLBACK");
	PQclear(res);
	return (rc);
}

/*
 * Claim the period that starts at start and run it: insert its row, or
 * take over a row whose run died and whose lease ran out.
 */
static enum schedule_claim
schedule_claim_run(struct schedule_runner *r, int64_t start)
{
	const struct schedule	*s = r->s;
	PGresult		*res;
	const char		*p[5];
	char			 when[32], shown[32], lease[32], nrows[32];
	char			 id[32];
	char			*cause, *error = NULL;
	long long		 rows = 0;
	double			 t0;
	enum schedule_claim	 rc = CLAIM_ELSEWHERE;

	p[0] = s->name;
	res = PQexecParams(r->conn, "SELECT pg_try_advisory_lock("
	    SCHEDULE_LOCK_CLASS ", hashtext($1))", 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		return (CLAIM_DB);
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		PQclear(res);
		return (CLAIM_ELSEWHERE);
	}
	PQclear(res);

	snprintf(when, sizeof when, "%lld", (long long)start);
	schedule_time(start, 0, shown, sizeof shown);
	snprintf(lease, sizeof lease, "%.0f", s->timeout +
	    SCHEDULE_LEASE_EXTRA);
	p[1] = when;
	p[2] = worker_host();
	p[3] = lease;
	res = PQexecParams(r->conn, "INSERT INTO objwatch.schedule_runs "
	    "(schedule, period_start, host, lease_until) VALUES ($1, "
	    "to_timestamp($2::bigint), $3, now() + $4::integer * interval "
	    "'1 second') ON CONFLICT DO NOTHING RETURNING id", 4, NULL, p,
	    NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 0) {
		PQclear(res);
		res = PQexecParams(r->conn, "UPDATE objwatch.schedule_runs "
		    "SET started_at = now(), host = $3, lease_until = now() + "
		    "$4::integer * interval '1 second', takeovers = takeovers "
		    "+ 1 WHERE schedule = $1 AND period_start = "
		    "to_timestamp($2::bigint) AND finished_at IS NULL AND "
		    "lease_until <= now() RETURNING id", 4, NULL, p, NULL,
		    NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK &&
		    PQntuples(res) == 1)
			log_info("schedule '%s': taking over the run of %s "
			    "that a stopped process left unfinished", s->name,
			    shown);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		rc = CLAIM_DB;
		goto unlock;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		goto unlock;
	}
	snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);

	t0 = now_monotonic();
	if (schedule_execute(r, start, &rows, &cause) != 0) {
		if (PQstatus(r->conn) != CONNECTION_OK) {
			free(cause);
			return (CLAIM_DB);
		}
		error = cause;
		log_warnx("schedule '%s': the run of %s failed: %s", s->name,
		    shown, error);
	} else
		log_info("schedule '%s': ran for %s: %lld rows in %.3f s",
		    s->name, shown, rows, now_monotonic() - t0);
	snprintf(nrows, sizeof nrows, "%lld", rows);
	p[0] = id;
	p[1] = error == NULL ? nrows : NULL;
	p[2] = error;
	res = PQexecParams(r->conn, "UPDATE objwatch.schedule_runs SET "
	    "finished_at = now(), rows = $2::bigint, error = $3 WHERE id = "
	    "$1::bigint", 3, NULL, p, NULL, NULL, 0);
	rc = PQresultStatus(res) == PGRES_COMMAND_OK ? CLAIM_RAN : CLAIM_DB;
	PQclear(res);
	free(error);
unlock:
	p[0] = s->name;
	res = PQexecParams(r->conn, "SELECT pg_advisory_unlock("
	    SCHEDULE_LOCK_CLASS ", hashtext($1))", 1, NULL, p, NULL, NULL, 0);
	PQclear(res);
	return (rc);
}

/* Record when this schedule runs next, for objwatch status. */
static void
schedule_show_next(struct schedule_runner *r, int64_t next)
{
	const char	*p[3];
	char		 when[32], spec_when[32], *spec, *cause;

	if (r->shown == next)
		return;
	snprintf(when, sizeof when, "%lld", (long long)next);
	if (r->s->cron != NULL)
		xasprintf(&spec, "cron %s", r->s->cron);
	else
		xasprintf(&spec, "every %gs", r->s->every);
	p[0] = r->s->name;
	p[1] = spec;
	p[2] = when;
	if (r->shown == 0) {
		schedule_time(next, 0, spec_when, sizeof spec_when);
		log_info("schedule '%s': next run at %s", r->s->name,
		    spec_when);
	}
	if (schedule_exec(r->conn, "INSERT INTO objwatch.schedules (name, "
	    "spec, next_run_at) VALUES ($1, $2, to_timestamp($3::bigint)) ON "
	    "CONFLICT (name) DO UPDATE SET spec = excluded.spec, next_run_at "
	    "= excluded.next_run_at, seen_at = now()", 3, p, &cause) == 0)
		r->shown = next;
	else {
		log_debug("schedule '%s': %s", r->s->name, cause);
		free(cause);
	}
	free(spec);
}

/*
 * One step of a schedule's loop: run what is due now, or wait until
 * something may be. Returns -1 when the connection failed.
 */
static int
schedule_step(struct schedule_runner *r)
{
	const struct schedule	*s = r->s;
	PGresult		*res;
	const char		*p[1];
	int64_t			 now, cur, next, last = 0, lease = 0;
	double			 wake;
	char			 w1[32], w2[32];
	int			 have = 0, unfinished = 0;
	enum schedule_claim	 c = CLAIM_ELSEWHERE;

	now = (int64_t)now_wall();
	if (schedule_period(s, now, &cur, &next) != 0) {
		log_warnx("schedule '%s': cron \"%s\" fires no more", s->name,
		    s->cron);
		schedule_sleep_until(r, now_wall() + 3600);
		return (0);
	}
	p[0] = s->name;
	res = PQexecParams(r->conn, "SELECT extract(epoch FROM "
	    "period_start)::bigint, finished_at IS NULL, extract(epoch FROM "
	    "lease_until)::bigint FROM objwatch.schedule_runs WHERE schedule "
	    "= $1 ORDER BY period_start DESC LIMIT 1", 1, NULL, p, NULL, NULL,
	    0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		return (-1);
	}
	if (PQntuples(res) == 1) {
		have = 1;
		last = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		unfinished = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
		lease = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	}
	PQclear(res);

	if (have && unfinished && lease <= now)
		c = schedule_claim_run(r, last);
	else if ((have && last < cur) || (!have && r->armed != 0 &&
	    cur >= r->armed)) {
		if (have && r->shown == 0) {
			schedule_time(cur, 0, w1, sizeof w1);
			schedule_time(last, 0, w2, sizeof w2);
			log_info("schedule '%s': catching up the missed run "
			    "of %s (the last was of %s)", s->name, w1, w2);
		}
		c = schedule_claim_run(r, cur);
	} else {
		if (!have && r->armed == 0)
			r->armed = next;
		schedule_show_next(r, next);
		wake = (double)next;
		if (have && unfinished && lease < next)
			wake = (double)lease + 1;
		schedule_sleep_until(r, wake);
		return (0);
	}
	if (c == CLAIM_DB)
		return (-1);
	schedule_show_next(r, next);
	/* someone else runs it: look again in a moment, not at once */
	if (c == CLAIM_ELSEWHERE)
		schedule_sleep_until(r, now_wall() + 1);
	return (0);
}

static void *
schedule_main(void *arg)
{
	struct schedule_runner	*r = arg;

	while (!*r->stop) {
		if (r->conn == NULL || !db_ok(r->conn)) {
			PQfinish(r->conn);
			r->shown = 0;
			if ((r->conn = db_connect_retry(r->stop)) == NULL)
				break;
		}
		if (schedule_step(r) != 0) {
			log_warnx("schedule '%s': %s", r->s->name,
			    PQerrorMessage(r->conn));
			PQfinish(r->conn);
			r->conn = NULL;
			schedule_sleep_until(r, now_wall() + 1);
		}
	}
	PQfinish(r->conn);
	r->conn = NULL;
	return (NULL);
}

/* Start a thread for each of conf's schedules; NULL when it has none. */
struct schedules *
schedules_start(const struct config *conf, volatile sig_atomic_t *stop)
{
	struct schedules	*ss;
	struct schedule_runner	*r;
	size_t			 i;

	if (conf->nschedules == 0)
		return (NULL);
	ss = xcalloc(1, sizeof *ss);
	ss->v = xcalloc(conf->nschedules, sizeof *ss->v);
	ss->n = conf->nschedules;
	for (i = 0; i < ss->n; i++) {
		r = &ss->v[i];
		r->s = conf->schedules[i];
		r->stop = stop;
		if (pthread_create(&r->thread, NULL, schedule_main, r) != 0)
			log_warnx("schedule '%s': cannot start its thread",
			    r->s->name);
		else
			r->started = 1;
	}
	return (ss);
}

/* Wait for the schedules' threads to end, after *stop was set. */
void
schedules_join(struct schedules *ss)
{
	size_t	 i;

	if (ss == NULL)
		return;
	for (i = 0; i < ss->n; i++) {
		if (ss->v[i].started)
			pthread_join(ss->v[i].thread, NULL);
	}
	free(ss->v);
	free(ss);
}

/* Print objwatch status's table of schedules, when there are any. */
int
schedule_status_print(PGconn *conn, FILE *out, char **cause)
{
	PGresult	*res;
	const char	*v;
	int		 i;

	res = PQexec(conn, "SELECT schedule, coalesce(to_char(last_started_at "
	    "AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '-'), "
	    "coalesce(last_rows::text, '-'), coalesce(round(last_duration_s::"
	    "numeric, 3)::text || 's', '-'), coalesce(to_char(next_run_at AT "
	    "TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '-'), "
	    "coalesce(last_error, CASE WHEN last_started_at IS NOT NULL AND "
	    "last_finished_at IS NULL THEN '(running)' END, '') "
	    "FROM objwatch.schedule_status ORDER BY schedule");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	if (PQntuples(res) > 0)
		fprintf(out, "\n%-16s %-19s %8s %9s  %-19s  %s\n", "SCHEDULE",
		    "LAST RUN (UTC)", "ROWS", "DURATION", "NEXT RUN (UTC)",
		    "ERROR");
	for (i = 0; i < PQntuples(res); i++) {
		v = PQgetvalue(res, i, 5);
		fprintf(out, "%-16s %-19s %8s %9s  %-19s  %s\n",
		    PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
		    PQgetvalue(res, i, 4), v);
	}
	PQclear(res);
	return (0);
}
