/*
 * The database: where to find it, connections, and migrations.
 *
 * With `database` configured, that URL is used as it is. Without, the
 * embedded cluster under state_dir is started (cluster.c) and its socket
 * URL used. Each thread that talks to PostgreSQL opens its own connection
 * with db_connect; libpq connections are not shared between threads.
 *
 * Migrations are compiled in from sql/ (build-aux/sql2c.sh) and applied in
 * order, each in its own transaction together with its row in
 * objwatch.schema_migrations. A session advisory lock serialises processes
 * that start at the same moment, so each migration runs exactly once.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "objwatch.h"
#include "banned.h"

struct migration {
	int		 version;
	const char	*name;
	const char	*sql;
};
extern const struct migration migrations[];

/* An arbitrary constant: the advisory lock held while migrating. */
#define MIGRATE_LOCK	"7301160523"

static char		*db_conninfo;
static struct cluster	*db_cluster;

/*
 * The supervisor of the embedded cluster: a thread that pings the server
 * every second and starts it again when it stops answering (a SIGKILL, an
 * OOM kill, a crash, pg_ctl stop by hand). Sessions then reconnect by
 * themselves (db_connect_retry), and dir sources reconcile what arrived in
 * the gap. A server that will not start (orphan backends still holding
 * its shared memory, a full disk) is tried again after 1 s doubling to
 * 30 s. Only for the cluster objwatch started: a configured server is
 * someone else's to run.
 */
#define DB_SUPERVISE_PERIOD	1.0	/* seconds between pings */
#define DB_SUPERVISE_MISSES	2	/* pings missed before a restart */

static struct {
	pthread_t		 thread;
	int			 running;
	volatile sig_atomic_t	 stop;
	pthread_mutex_t		 lock;
	int			 down;		/* not answering now */
	double			 since;		/* wall time of the change */
	unsigned long		 restarts;
	char			*last_error;
} db_sup = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void
db_sup_sleep(double secs)
{
	double	 end = now_monotonic() + secs;

	while (!db_sup.stop && now_monotonic() < end)
		poll(NULL, 0, 100);
}

static void
db_sup_set(int down, const char *error)
{
	pthread_mutex_lock(&db_sup.lock);
	if (down != db_sup.down)
		db_sup.since = now_wall();
	db_sup.down = down;
	if (error != NULL) {
		free(db_sup.last_error);
		db_sup.last_error = xstrdup(error);
	}
	pthread_mutex_unlock(&db_sup.lock);
}

static void *
db_sup_main(void *arg)
{
	char	*cause;
	double	 backoff = 1;
	int	 misses = 0, restarted;

	(void)arg;
	while (!db_sup.stop) {
		db_sup_sleep(DB_SUPERVISE_PERIOD);
		if (db_sup.stop)
			break;
		if (cluster_answers(db_cluster)) {
			if (db_sup.down)
				log_info("embedded PostgreSQL answers again");
			db_sup_set(0, NULL);
			misses = 0;
			backoff = 1;
			continue;
		}
		if (++misses < DB_SUPERVISE_MISSES)
			continue;
		if (!db_sup.down)
			log_warnx("embedded PostgreSQL does not answer on its "
			    "socket; starting it again");
		db_sup_set(1, "the embedded PostgreSQL server stopped");
		if (cluster_revive(db_cluster, &restarted, &cause) != 0) {
			log_warnx("cannot start the embedded PostgreSQL again "
			    "(next try in %.0f s): %s", backoff, cause);
			db_sup_set(1, cause);
			free(cause);
			db_sup_sleep(backoff);
			backoff = backoff * 2 > 30 ? 30 : backoff * 2;
			continue;
		}
		if (restarted) {
			pthread_mutex_lock(&db_sup.lock);
			db_sup.restarts++;
			pthread_mutex_unlock(&db_sup.lock);
			metrics_count("objwatch_database_restarts_total", 1,
			    NULL, NULL, NULL, NULL);
			log_warnx("restarted the embedded PostgreSQL (restart "
			    "%lu); sessions reconnect by themselves",
			    db_sup.restarts);
		}
		db_sup_set(0, NULL);
		misses = 0;
		backoff = 1;
	}
	return (NULL);
}

/* Start supervising the embedded cluster, if that is the database. */
void
db_supervise_start(void)
{
	if (db_cluster == NULL || db_sup.running)
		return;
	db_sup.stop = 0;
	db_sup.since = now_wall();
	metrics_count("objwatch_database_restarts_total", 0, NULL, NULL, NULL,
	    NULL);
	if (pthread_create(&db_sup.thread, NULL, db_sup_main, NULL) != 0) {
		log_warnx("cannot start the embedded PostgreSQL's supervisor: "
		    "a server that stops will not be restarted");
		return;
	}
	db_sup.running = 1;
}

/* Stop the supervisor, before the cluster is stopped. */
void
db_supervise_stop(void)
{
	if (!db_sup.running)
		return;
	db_sup.stop = 1;
	pthread_join(db_sup.thread, NULL);
	db_sup.running = 0;
	FREE_NULL(db_sup.last_error);
}

/*
 * The embedded cluster's state as the supervisor last saw it: 1 when it
 * answers, 0 when not, -1 when the database is not the embedded one.
 * *since is when that began (wall time); *last_error is the caller's.
 */
int
db_embedded_state(double *since, unsigned long *restarts, char **last_error)
{
	int	 up;

	if (db_cluster == NULL || !db_sup.running)
		return (-1);
	pthread_mutex_lock(&db_sup.lock);
	up = !db_sup.down;
	*since = db_sup.since;
	*restarts = db_sup.restarts;
	*last_error = db_sup.last_error != NULL ?
	    xstrdup(db_sup.last_error) : NULL;
	pthread_mutex_unlock(&db_sup.lock);
	return (up);
}

/*
 * Decide where the database is, starting the embedded cluster when none is
 * configured.
 */
int
db_setup(const struct config *conf, char **cause)
{
	if (conf->database != NULL) {
		db_conninfo = xstrdup(conf->database);
		return (0);
	}
	if ((db_cluster = cluster_open(conf->state_dir, cause)) == NULL)
		return (-1);
	if (cluster_start(db_cluster, cause) != 0) {
		cluster_close(db_cluster);
		db_cluster = NULL;
		return (-1);
	}
	db_conninfo = xstrdup(cluster_url(db_cluster));
	return (0);
}

/*
 * Decide where the database is, as db_setup, but leave the embedded
 * cluster as it is: it must be running already (a command that only
 * watches the daemon's work has nothing to wait for without one).
 */
int
db_attach(const struct config *conf, char **cause)
{
	if (conf->database != NULL) {
		db_conninfo = xstrdup(conf->database);
		return (0);
	}
	if ((db_cluster = cluster_open(conf->state_dir, cause)) == NULL)
		return (-1);
	if (cluster_check_running(db_cluster, cause) != 0) {
		cluster_close(db_cluster);
		db_cluster = NULL;
		return (-1);
	}
	db_conninfo = xstrdup(cluster_url(db_cluster));
	return (0);
}

/* The connection string in use (after db_setup). */
const char *
db_url(void)
{
	return (db_conninfo);
}

/* Release the database: stops the embedded cluster if this was its last
 * user. */
void
db_teardown(void)
{
	db_supervise_stop();
	if (db_cluster != NULL)
		cluster_close(db_cluster);
	db_cluster = NULL;
	FREE_NULL(db_conninfo);
}

/* The version of libpq this build runs with, as PQlibVersion gives it. */
int
db_lib_version(void)
{
	return (PQlibVersion());
}

/* A readable message from a failed result, or the connection. */
char *
db_error(PGconn *conn, PGresult *res)
{
	const char	*msg = NULL;
	char		*out;
	size_t		 len;

	if (res != NULL)
		msg = PQresultErrorMessage(res);
	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(conn);
	if (msg == NULL || *msg == '\0')
		msg = "unknown database error";
	if (strncmp(msg, "ERROR:  ", 8) == 0)
		msg += 8;
	out = xstrdup(msg);
	len = strlen(out);
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
		out[--len] = '\0';
	return (out);
}

static void
db_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;	/* NOTICEs such as "schema already exists" */
}

/* Open a connection, or NULL with *cause saying why. */
PGconn *
db_connect(char **cause)
{
	const char	*keys[] = { "dbname", "application_name",
	    "connect_timeout", NULL };
	const char	*values[] = { db_conninfo, "objwatch", "10", NULL };
	PGconn		*conn;
	char		*why;

	conn = PQconnectdbParams(keys, values, 1);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		why = db_error(conn, NULL);
		xasprintf(cause, "cannot connect to the database: %s", why);
		free(why);
		PQfinish(conn);
		return (NULL);
	}
	PQsetNoticeProcessor(conn, db_notice, NULL);
	return (conn);
}

/*
 * Connect, retrying with backoff (0.1 s doubling to 5 s) until it works or
 * *stop is set; NULL only when stopped.
 */
/* How many threads wait in db_connect_retry now. */
static int		 db_waiting;
static pthread_mutex_t	 db_waiting_lock = PTHREAD_MUTEX_INITIALIZER;

static void
db_waiting_add(int n)
{
	pthread_mutex_lock(&db_waiting_lock);
	db_waiting += n;
	pthread_mutex_unlock(&db_waiting_lock);
}

/* The number of threads waiting to reconnect to the database. */
int
db_reconnecting(void)
{
	int	 n;

	pthread_mutex_lock(&db_waiting_lock);
	n = db_waiting;
	pthread_mutex_unlock(&db_waiting_lock);
	return (n);
}

PGconn *
db_connect_retry(volatile sig_atomic_t *stop)
{
	PGconn	*conn;
	char	*cause;
	int	 delay_ms = 100, warned = 0;

	while (!*stop) {
		if ((conn = db_connect(&cause)) != NULL) {
			if (warned) {
				db_waiting_add(-1);
				log_info("database connection is back");
				metrics_count("objwatch_db_reconnects_total", 1,
				    NULL, NULL, NULL, NULL);
			}
			return (conn);
		}
		if (!warned || delay_ms == 5000)
			log_warnx("%s; retrying", cause);
		if (!warned)
			db_waiting_add(1);
		warned = 1;
		free(cause);
		poll(NULL, 0, delay_ms);
		delay_ms = delay_ms * 2 > 5000 ? 5000 : delay_ms * 2;
	}
	if (warned)
		db_waiting_add(-1);
	return (NULL);
}

/* Whether a connection is still usable. */
int
db_ok(PGconn *conn)
{
	return (conn != NULL && PQstatus(conn) == CONNECTION_OK);
}

/* Run SQL with no parameters and no rows wanted. */
int
db_exec(PGconn *conn, const char *sql, char **cause)
{
	PGresult	*res;
	ExecStatusType	 st;

	res = PQexec(conn, sql);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	PQclear(res);
	return (0);
}

/* Run one statement with text parameters and no rows wanted. */
int
db_exec_params(PGconn *conn, const char *sql, int n,
    const char *const *params, char **cause)
{
	PGresult	*res;
	ExecStatusType	 st;

	res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	PQclear(res);
	return (0);
}

/*
 * A PostgreSQL text[] literal holding the n strings of v, every element
 * quoted and a NULL pointer as NULL, for a parameter such as
 * "= ANY($1::text[])" or unnest().
 */
char *
db_text_array(const char *const *v, size_t n)
{
	char		*out, *o;
	const char	*p;
	size_t		 i, len = 3;

	for (i = 0; i < n; i++)
		len += v[i] == NULL ? 5 : strlen(v[i]) * 2 + 3;
	o = out = xmalloc(len);
	*o++ = '{';
	for (i = 0; i < n; i++) {
		if (i > 0)
			*o++ = ',';
		if (v[i] == NULL) {
			memcpy(o, "NULL", 4);
			o += 4;
			continue;
		}
		*o++ = '"';
		for (p = v[i]; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				*o++ = '\\';
			*o++ = *p;
		}
		*o++ = '"';
	}
	*o++ = '}';
	*o = '\0';
	return (out);
}

/* Close a connection (NULL: nothing to close). */
void
db_close(PGconn *conn)
{
	if (conn != NULL)
		PQfinish(conn);
}

/* Whether the server answers a trivial query on conn. */
int
db_ping(PGconn *conn, char **cause)
{
	return (db_exec(conn, "SELECT 1", cause));
}

/* Start a transaction. */
int
db_begin(PGconn *conn, char **cause)
{
	return (db_exec(conn, "BEGIN", cause));
}

/* Commit the transaction in progress. */
int
db_commit(PGconn *conn, char **cause)
{
	return (db_exec(conn, "COMMIT", cause));
}

/* Roll back the transaction in progress; a failure is only logged. */
void
db_rollback(PGconn *conn)
{
	char	*cause;

	if (db_ok(conn) && db_exec(conn, "ROLLBACK", &cause) != 0) {
		log_debug("cannot roll back: %s", cause);
		free(cause);
	}
}

/* Be told of new jobs on conn (NOTIFY objwatch_jobs): see db_notified. */
int
db_listen_jobs(PGconn *conn, char **cause)
{
	return (db_exec(conn, "LISTEN objwatch_jobs", cause));
}

/* The socket under conn, to poll for notifications; -1 when none. */
int
db_socket(PGconn *conn)
{
	return (PQsocket(conn));
}

/*
 * Read what the server sent on conn and drop the notifications in it:
 * whether there were any. One that came with a query's answer is queued
 * already and does not make the socket readable, so ask before polling.
 */
int
db_notified(PGconn *conn)
{
	PGnotify	*n;
	int		 any = 0;

	PQconsumeInput(conn);
	while ((n = PQnotifies(conn)) != NULL) {
		PQfreemem(n);
		any = 1;
	}
	return (any);
}

/* Name the session in pg_stat_activity (application_name). */
int
db_set_name(PGconn *conn, const char *name, char **cause)
{
	PGresult	*res;
	const char	*params[1] = { name };
	int		 rc = 0;

	res = PQexecParams(conn, "SELECT set_config('application_name', $1, "
	    "false)", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		rc = -1;
	}
	PQclear(res);
	return (rc);
}

/*
 * Take the session lock that makes this the one process polling source
 * (objwatch.poller_lock_key), if it is free: *got says whether it was.
 * The lock lasts as long as the session.
 */
int
db_lock_poller(PGconn *conn, const char *source, int *got, char **cause)
{
	PGresult	*res;
	const char	*params[1] = { source };

	res = PQexecParams(conn, "SELECT pg_try_advisory_lock("
	    "objwatch.poller_lock_key($1))", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	*got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return (0);
}

/* The database server's clock, in seconds since the epoch. */
int
db_now(PGconn *conn, double *now, char **cause)
{
	PGresult	*res;

	res = PQexec(conn, "SELECT extract(epoch FROM now())");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	*now = strtod(PQgetvalue(res, 0, 0), NULL);
	PQclear(res);
	return (0);
}

/* Whether res failed with the given SQLSTATE. */
static int
db_failed_with(const PGresult *res, const char *sqlstate)
{
	const char	*code;

	code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	return (code != NULL && strcmp(code, sqlstate) == 0);
}

/*
 * Run a statement prepared once per connection under name, so the server
 * parses and plans it once rather than at every job. Each thread owns its
 * connection, so the list of what is prepared is the thread's. A new
 * connection is told by its server process, not its address (a reconnect
 * may get the old one's): a statement missing inside a transaction would
 * abort it. Should one be missing all the same, it is prepared again.
 * The caller clears the result, as with PQexecParams.
 */
PGresult *
db_exec_prepared(PGconn *conn, const char *name, const char *sql,
    int nparams, const char *const *params)
{
	static __thread PGconn		*known_conn;
	static __thread int		 known_pid;
	static __thread const char	*known[16];
	static __thread int		 nknown;
	PGresult			*res;
	int				 i, tries;

	if (conn != known_conn || PQbackendPID(conn) != known_pid) {
		known_conn = conn;
		known_pid = PQbackendPID(conn);
		nknown = 0;
	}
	for (tries = 0; tries < 2; tries++) {
		for (i = 0; i < nknown; i++)
			if (strcmp(known[i], name) == 0)
				break;
		if (i == nknown) {
			res = PQprepare(conn, name, sql, nparams, NULL);
			if (PQresultStatus(res) != PGRES_COMMAND_OK &&
			    !db_failed_with(res, "42P05"))	/* exists */
				return (res);
			PQclear(res);
			if (nknown < (int)(sizeof known / sizeof known[0]))
				known[nknown++] = name;
		}
		res = PQexecPrepared(conn, name, nparams, params, NULL, NULL,
		    0);
		if (!db_failed_with(res, "26000"))	/* no such statement */
			return (res);
		PQclear(res);
		for (i = 0; i < nknown; i++)
			if (strcmp(known[i], name) == 0)
				known[i] = known[--nknown];
	}
	return (PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0));
}

static int
db_applied(PGconn *conn, int version, int *applied, char **cause)
{
	PGresult	*res;
	char		 v[16];
	const char	*params[1] = { v };

	snprintf(v, sizeof v, "%d", version);
	res = PQexecParams(conn, "SELECT 1 FROM objwatch.schema_migrations "
	    "WHERE version = $1", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	*applied = PQntuples(res) > 0;
	PQclear(res);
	return (0);
}

static int
db_apply(PGconn *conn, const struct migration *m, char **cause)
{
	PGresult	*res;
	char		 v[16], *why;
	const char	*params[2] = { v, m->name };

	if (db_exec(conn, "BEGIN", cause) != 0)
		return (-1);
	if (db_exec(conn, m->sql, &why) != 0) {
		xasprintf(cause, "migration '%s' failed: %s", m->name, why);
		free(why);
		goto fail;
	}
	snprintf(v, sizeof v, "%d", m->version);
	res = PQexecParams(conn, "INSERT INTO objwatch.schema_migrations "
	    "(version, name) VALUES ($1, $2)", 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	return (db_exec(conn, "COMMIT", cause));

fail:
	if (db_exec(conn, "ROLLBACK", &why) != 0)
		free(why);
	return (-1);
}

/*
 * Bring the schema up to date: apply each migration not yet recorded, in
 * order, under an advisory lock so concurrent starts do not race.
 */
int
db_migrate(PGconn *conn, int verbose, char **cause)
{
	const struct migration	*m;
	PGresult		*res;
	char			*why;
	int			 applied, newest = 0, known = 0, rc = -1, n = 0;

	if (db_exec(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")",
	    cause) != 0)
		return (-1);
	if (db_exec(conn, "CREATE SCHEMA IF NOT EXISTS objwatch", cause) != 0 ||
	    db_exec(conn, "CREATE TABLE IF NOT EXISTS "
	    "objwatch.schema_migrations (version integer PRIMARY KEY, "
	    "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT "
	    "now())", cause) != 0)
		goto out;

	for (m = migrations; m->sql != NULL; m++)
		known = m->version;
	res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM "
	    "objwatch.schema_migrations");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		goto out;
	}
	newest = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (newest > known) {
		xasprintf(cause, "the database schema is at version %d, newer "
		    "than this objwatch knows (%d): upgrade objwatch", newest,
		    known);
		goto out;
	}

	for (m = migrations; m->sql != NULL; m++) {
		if (db_applied(conn, m->version, &applied, cause) != 0)
			goto out;
		if (applied)
			continue;
		if (db_apply(conn, m, cause) != 0)
			goto out;
		n++;
		if (verbose)
			log_info("applied migration %s", m->name);
	}
	if (verbose && n == 0)
		log_info("database schema is up to date (version %d)", known);
	rc = 0;

out:
	if (db_exec(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")",
	    &why) != 0)
		free(why);
	return (rc);
}
