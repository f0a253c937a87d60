/*
 * objwatch wait: block until the newest version of an object has been
 * processed, then say how each of its jobs ended.
 *
 * The session LISTENs on objwatch_events before it looks at the jobs, so
 * an outcome committed between the look and the LISTEN cannot be missed:
 * it is either seen by the look or notified after it. Each notification
 * for the object (its source and key in the payload, or a payload whose
 * key was too long to send) means another look; so does every
 * WAIT_RECHECK seconds without one, in case a notification was lost with
 * the connection of the daemon that sent it. Between looks the process
 * sleeps in poll() on the session's socket.
 *
 * A job is final when it is done, dead, or failed with no retry planned
 * (run_after NULL): the same outcomes objwatch_events is sent for. An
 * object's jobs are its latest job per recipe, so a recipe reprocessed at
 * a new hash counts by its new job. A downstream job of a chained recipe
 * is inserted by the transaction that completes its upstream one, so it
 * exists by the time the upstream job is final, and is waited for too.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <libpq-fe.h>

#include "objwatch.h"
#include "banned.h"

#define WAIT_RECHECK	5.0	/* seconds between looks without a NOTIFY */

/*
 * The latest job per recipe of the newest version of $1/$2, only of the
 * recipes in $3 when it is not NULL. No row: no such object yet; one row
 * with a NULL recipe: the object, with no such jobs.
 */
static const char wait_sql[] =
	"WITH o AS ("
	"  SELECT id FROM objwatch.objects"
	"  WHERE source = $1 AND key = $2"
	"  ORDER BY id DESC LIMIT 1"
	") "
	"SELECT o.id, j.recipe, j.state,"
	"    j.state IN ('done', 'dead') OR"
	"      (j.state = 'failed' AND j.run_after IS NULL),"
	"    (SELECT u.location FROM objwatch.outputs u"
	"      WHERE u.job_id = j.id ORDER BY u.id LIMIT 1),"
	"    j.error_class, j.error "
	"FROM o LEFT JOIN LATERAL ("
	"  SELECT DISTINCT ON (recipe) id, recipe, state, run_after,"
	"      error_class, error"
	"  FROM objwatch.jobs"
	"  WHERE object_id = o.id"
	"    AND ($3::text[] IS NULL OR recipe = ANY ($3::text[]))"
	"  ORDER BY recipe, id DESC"
	") j ON true "
	"ORDER BY j.recipe";

/* A PostgreSQL text[] literal of the recipes, or NULL for none. */
static char *
wait_array(const struct strv *recipes)
{
	struct buf	 b;
	const char	*p;
	size_t		 i;

	if (recipes->n == 0)
		return (NULL);
	buf_init(&b);
	buf_add(&b, "{", 1);
	for (i = 0; i < recipes->n; i++) {
		if (i > 0)
			buf_add(&b, ",", 1);
		buf_add(&b, "\"", 1);
		for (p = recipes->v[i]; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				buf_add(&b, "\\", 1);
			buf_add(&b, p, 1);
		}
		buf_add(&b, "\"", 1);
	}
	buf_add(&b, "}", 1);
	return (buf_take(&b));
}

/* Write s to out with its control characters as '?': one line per job. */
static void
wait_put(FILE *out, const char *s)
{
	for (; *s != '\0'; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

/*
 * Look at the object's jobs once, into *resp (the caller clears it):
 * *final is 1 when the object is there and every job wanted is final, and
 * then *failed says whether any failed or died.
 */
static int
wait_look(PGconn *conn, const char *const *params, const struct strv *recipes,
    PGresult **resp, int *final, int *failed, char **cause)
{
	PGresult	*res;
	const char	*state;
	size_t		 i;
	int		 n, row, seen;

	res = db_exec_prepared(conn, "wait", wait_sql, 3, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	n = PQntuples(res);
	*final = n > 0;
	*failed = 0;
	for (row = 0; row < n; row++) {
		if (PQgetisnull(res, row, 1))
			continue;
		if (strcmp(PQgetvalue(res, row, 3), "t") != 0)
			*final = 0;
		state = PQgetvalue(res, row, 2);
		if (strcmp(state, "failed") == 0 || strcmp(state, "dead") == 0)
			*failed = 1;
	}
	/* each recipe named must have its job */
	for (i = 0; *final && i < recipes->n; i++) {
		seen = 0;
		for (row = 0; row < n && !seen; row++) {
			seen = !PQgetisnull(res, row, 1) &&
			    strcmp(PQgetvalue(res, row, 1), recipes->v[i]) == 0;
		}
		if (!seen)
			*final = 0;
	}
	*resp = res;
	return (0);
}

/*
 * One line per job of a look: recipe, state, and the output's location
 * (- for none) or the error class and message, tab-separated.
 */
static void
wait_print(const PGresult *res, FILE *out)
{
	const char	*detail;
	int		 row;

	for (row = 0; row < PQntuples(res); row++) {
		if (PQgetisnull(res, row, 1))
			continue;
		wait_put(out, PQgetvalue(res, row, 1));
		fputc('\t', out);
		wait_put(out, PQgetvalue(res, row, 2));
		fputc('\t', out);
		if (!PQgetisnull(res, row, 6)) {
			wait_put(out, PQgetvalue(res, row, 5));
			fputs(": ", out);
			wait_put(out, PQgetvalue(res, row, 6));
		} else {
			detail = PQgetvalue(res, row, 4);
			wait_put(out, *detail != '\0' ? detail : "-");
		}
		fputc('\n', out);
	}
}

/*
 * Whether an objwatch_events payload may be about source/key: its source
 * and key match, or its key was left out. A payload that does not parse
 * is taken as a yes: a look too many costs one query.
 */
static int
wait_concerns(const char *payload, const char *source, const char *key)
{
	json_t		*j, *v;
	const char	*s;
	int		 yes = 1;

	if ((j = json_loads(payload, 0, NULL)) == NULL)
		return (1);
	s = json_string_value(json_object_get(j, "source"));
	if (s != NULL && strcmp(s, source) != 0)
		yes = 0;
	v = json_object_get(j, "key");
	if (yes && json_is_string(v) && strcmp(json_string_value(v), key) != 0)
		yes = 0;
	json_decref(j);
	return (yes);
}

/* Read the notifications that came: whether any concerns source/key. */
static int
wait_drain(PGconn *conn, const char *source, const char *key)
{
	PGnotify	*n;
	int		 any = 0;

	while ((n = PQnotifies(conn)) != NULL) {
		if (strcmp(n->relname, "objwatch_events") == 0 &&
		    wait_concerns(n->extra, source, key))
			any = 1;
		PQfreemem(n);
	}
	return (any);
}

/*
 * Wait until the newest version of source/key exists and its latest job
 * of each recipe (of those named, or all) is final, at most timeout
 * seconds (forever when negative; 0 looks once), then print one line per
 * job to out. Returns WAIT_DONE, WAIT_FAILED or WAIT_TIMEOUT, or
 * WAIT_ERROR with *cause saying what went wrong with the database.
 */
int
wait_object(PGconn *conn, const char *source, const char *key,
    const struct strv *recipes, double timeout, FILE *out, char **cause)
{
	struct pollfd	 pfd;
	PGresult	*res = NULL;
	const char	*params[3];
	char		*arr;
	double		 start, looked, left, next;
	int		 final, failed, rc = WAIT_ERROR, ms;

	if (db_exec(conn, "LISTEN objwatch_events", cause) != 0)
		return (WAIT_ERROR);
	arr = wait_array(recipes);
	params[0] = source;
	params[1] = key;
	params[2] = arr;
	start = now_monotonic();
	for (;;) {
		PQclear(res);
		res = NULL;
		if (wait_look(conn, params, recipes, &res, &final, &failed,
		    cause) != 0)
			goto out;
		looked = now_monotonic();
		if (final || (timeout >= 0 && looked - start >= timeout))
			break;
		/* sleep until a notification concerns us, or a look is due */
		while (!wait_drain(conn, source, key)) {
			next = looked + WAIT_RECHECK;
			if (timeout >= 0 && start + timeout < next)
				next = start + timeout;
			if ((left = next - now_monotonic()) <= 0)
				break;
			ms = (int)(left * 1000) + 1;
			pfd.fd = PQsocket(conn);
			pfd.events = POLLIN;
			if (pfd.fd < 0) {
				*cause = xstrdup("lost the database connection");
				goto out;
			}
			if (poll(&pfd, 1, ms) == -1 && errno != EINTR) {
				xasprintf(cause, "poll: %s", strerror(errno));
				goto out;
			}
			if (PQconsumeInput(conn) == 0) {
				*cause = db_error(conn, NULL);
				goto out;
			}
		}
	}
	wait_print(res, out);
	if (!final)
		rc = WAIT_TIMEOUT;
	else
		rc = failed ? WAIT_FAILED : WAIT_DONE;
out:
	PQclear(res);
	free(arr);
	return (rc);
}
