/*
 * Completion webhooks: `notify = webhook:URL` on a recipe POSTs a JSON
 * body for every final outcome of its jobs (done, failed for good, dead;
 * not a retry or a wait), delivered at least once.
 *
 * At least once: the delivery is a row of objwatch.deliveries, inserted in
 * the transaction that records the job's outcome (queue_complete and
 * queue_fail open it with deliver_begin and end it with deliver_end), with
 * its body built there from the job, its object and its outputs. So an
 * outcome recorded always has its delivery, and a crash before the commit
 * leaves neither. A sender thread per process claims due rows (FOR UPDATE
 * SKIP LOCKED, then a lock column with a lease, so a POST in flight is
 * never claimed twice), POSTs each, and records the answer: a 2xx is
 * delivered; anything else (another status, a timeout, a refused
 * connection) is tried again after 1 s doubling to 10 min with jitter,
 * until notify_attempts or 24 hours, then the delivery is dead. Nothing is
 * kept in memory between attempts: a restart goes on where it stopped.
 *
 * Signature: with notify_secret, X-Objwatch-Signature is "sha256=" and the
 * hex HMAC-SHA256, under the secret, of X-Objwatch-Timestamp (seconds
 * since the epoch), a '.', and the body, so a receiver can check that the
 * body is ours and recent.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <libpq-fe.h>

#include "objwatch.h"
#include "banned.h"

#define DELIVER_ATTEMPTS	30	/* notify_attempts, when not set */
#define DELIVER_TIMEOUT		10.0	/* seconds for one POST */
#define DELIVER_GIVE_UP		86400.0	/* dead after a day of failures */
#define DELIVER_BATCH		16	/* rows claimed at a time */
#define DELIVER_BATCH_S		"16"
#define DELIVER_ANSWER_MAX	200	/* bytes of an answer kept as error */

/* The config the workers record outcomes under; set before they start. */
static const struct config *deliver_conf;

/*
 * Check a recipe's notify keys and resolve its secret; on error *line is
 * the line to report and *cause says what is wrong.
 */
int
deliver_resolve(struct recipe *r, int *line, char **cause)
{
	const char	*v, *url;

	*line = r->notify_line > 0 ? r->notify_line : r->line;
	if (r->notify == NULL) {
		if (r->notify_secret != NULL || r->notify_ca_file != NULL ||
		    r->notify_attempts != 0 || r->notify_timeout != 0) {
			xasprintf(cause, "the notify_* keys need 'notify' "
			    "(webhook:URL)");
			return (-1);
		}
		return (0);
	}
	if (strncmp(r->notify, "webhook:", 8) != 0) {
		xasprintf(cause, "notify '%s' must be webhook:URL, such as "
		    "webhook:https://hooks.example/objwatch", r->notify);
		return (-1);
	}
	url = r->notify + 8;
	if ((strncmp(url, "http://", 7) != 0 || url[7] == '\0') &&
	    (strncmp(url, "https://", 8) != 0 || url[8] == '\0')) {
		xasprintf(cause, "notify '%s': the URL must start with "
		    "http:// or https://", r->notify);
		return (-1);
	}
	r->notify_url = xstrdup(url);
	if (r->notify_secret != NULL && strncmp(r->notify_secret, "env:",
	    4) == 0) {
		v = getenv(r->notify_secret + 4);
		if (v == NULL || *v == '\0') {
			xasprintf(cause, "'notify_secret' is %s, but the "
			    "environment variable %s is not set",
			    r->notify_secret, r->notify_secret + 4);
			return (-1);
		}
		r->notify_secret_value = xstrdup(v);
	} else if (r->notify_secret != NULL)
		r->notify_secret_value = xstrdup(r->notify_secret);
	if (r->notify_secret_value != NULL &&
	    strlen(r->notify_secret_value) < 16) {
		xasprintf(cause, "'notify_secret' is shorter than 16 "
		    "characters; use a long random one (openssl rand -hex 24)");
		return (-1);
	}
	if (r->notify_ca_file != NULL && access(r->notify_ca_file, R_OK) !=
	    0) {
		xasprintf(cause, "cannot read notify_ca_file '%s': %s",
		    r->notify_ca_file, strerror(errno));
		return (-1);
	}
	if (r->notify_attempts == 0)
		r->notify_attempts = DELIVER_ATTEMPTS;
	if (r->notify_timeout == 0)
		r->notify_timeout = DELIVER_TIMEOUT;
	return (0);
}

/* Print a recipe's notify keys, the secret only as where it comes from. */
void
deliver_print(const struct recipe *r, FILE *f)
{
	if (r->notify == NULL)
		return;
	fprintf(f, "notify = %s\n", r->notify);
	if (r->notify_secret != NULL)
		fprintf(f, "notify_secret = %s\n",
		    strncmp(r->notify_secret, "env:", 4) == 0 ?
		    r->notify_secret : "(set, not shown)");
	fprintf(f, "notify_ca_file = %s\n", r->notify_ca_file != NULL ?
	    r->notify_ca_file : "(the system's CA bundle)");
	fprintf(f, "notify_attempts = %d\n", r->notify_attempts);
	fprintf(f, "notify_timeout = %gs\n", r->notify_timeout);
}

/* The recipe called name, when it notifies. */
static const struct recipe *
deliver_recipe(const char *name)
{
	const struct recipe	*r;

	if (deliver_conf == NULL || name == NULL)
		return (NULL);
	r = config_find_recipe(deliver_conf, name);
	return (r != NULL && r->notify_url != NULL ? r : NULL);
}

/*
 * Before recording a job's outcome: when it is final and its recipe
 * notifies, open a transaction (unless one is open) so the delivery
 * commits with the outcome. Returns 1 when it opened one, 0 when there is
 * nothing to do or a transaction was open, -1 when BEGIN failed.
 */
int
deliver_begin(PGconn *conn, const char *recipe, int final)
{
	PGresult	*res;
	int		 rc;

	if (!final || deliver_recipe(recipe) == NULL ||
	    PQtransactionStatus(conn) != PQTRANS_IDLE)
		return (0);
	res = PQexec(conn, "BEGIN");
	rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 1 : -1;
	PQclear(res);
	return (rc);
}

static const char deliver_insert_sql[] =
	"INSERT INTO objwatch.deliveries (job_id, recipe, url, event, body)"
	" SELECT j.id, j.recipe, $2::text, $3::text, json_build_object("
	"  'event', $3::text, 'job', j.id,"
	"  'object', json_build_object('source', o.source, 'key', o.key,"
	"      'version', o.version),"
	"  'recipe', j.recipe, 'state', j.state,"
	"  'outputs', coalesce((SELECT json_agg(json_build_object("
	"      'location', u.location, 'format', u.format, 'width', u.width,"
	"      'height', u.height, 'bytes', u.bytes) ORDER BY u.id)"
	"      FROM objwatch.outputs u WHERE u.job_id = j.id), '[]'),"
	"  'error', CASE WHEN j.error IS NULL THEN NULL ELSE"
	"      json_build_object('class', j.error_class, 'message', j.error)"
	"      END,"
	"  'finished_at', j.finished_at)::text"
	" FROM objwatch.jobs j JOIN objwatch.objects o ON o.id = j.object_id"
	" WHERE j.id = $1::bigint";

/*
 * After recording a job's outcome (ok says whether that succeeded): with
 * began, insert its delivery of event and commit, or roll back. Without,
 * insert it into the transaction already open, if any is wanted.
 */
int
deliver_end(PGconn *conn, int began, int ok, int64_t job,
    const char *recipe, const char *event, char **cause)
{
	const struct recipe	*r;
	PGresult		*res;
	const char		*p[3];
	char			 id[32];
	int			 rc = 0;

	if (began < 0) {
		if (ok)
			*cause = db_error(conn, NULL);
		return (-1);
	}
	if (!began) {
		/* in a caller's transaction: it commits the delivery too */
		if (!ok || PQtransactionStatus(conn) != PQTRANS_INTRANS ||
		    (r = deliver_recipe(recipe)) == NULL)
			return (ok ? 0 : -1);
	} else
		r = deliver_recipe(recipe);
	if (ok && r != NULL) {
		snprintf(id, sizeof id, "%" PRId64, job);
		p[0] = id;
		p[1] = r->notify_url;
		p[2] = event;
		res = db_exec_prepared(conn, "deliver_insert",
		    deliver_insert_sql, 3, p);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			*cause = db_error(conn, res);
			rc = -1;
		}
		PQclear(res);
	}
	if (!began)
		return (rc);
	res = PQexec(conn, ok && rc == 0 ? "COMMIT" : "ROLLBACK");
	if (ok && rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
		*cause = db_error(conn, res);
		rc = -1;
	}
	PQclear(res);
	return (ok ? rc : -1);
}

/* Hex HMAC-SHA256 under secret of timestamp "." body. */
void
deliver_sign(const char *secret, const char *timestamp, const char *body,
    char out[65])
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen = 0, i;
	char		*msg;

	xasprintf(&msg, "%s.%s", timestamp, body);
	HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (const unsigned char *)msg, strlen(msg), mac, &maclen);
	free(msg);
	for (i = 0; i < maclen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
	out[2 * i] = '\0';
}

/*
 * The delay before attempt attempts+1: 1 s doubling, capped at 10 min,
 * with up to 25% jitter either way.
 */
double
deliver_backoff(int attempts)
{
	double	 d = pow(2, attempts > 1 ? attempts - 1 : 0);

	if (d > 600)
		d = 600;
	return (d * (0.75 + 0.5 * ((double)random() / RAND_MAX)));
}

struct deliverer {
	pthread_t		 thread;
	const struct config	*conf;
	volatile sig_atomic_t	*stop;
	PGconn			*conn;
	char			*name;		/* locked_by */
	char			*recipes;	/* {a,b}: those that notify */
};

struct deliver_answer {
	struct buf	 body;
};

static size_t
deliver_write(char *p, size_t size, size_t n, void *arg)
{
	struct deliver_answer	*a = arg;

	if (a->body.len < DELIVER_ANSWER_MAX)
		buf_add(&a->body, p, size * n < DELIVER_ANSWER_MAX ?
		    size * n : DELIVER_ANSWER_MAX);
	return (size * n);
}

/*
 * POST one delivery. Returns the HTTP status, or 0 when there was none,
 * with *error saying what went wrong unless it was a 2xx.
 */
static long
deliver_post(const struct recipe *r, const char *id, const char *event,
    const char *url, const char *body, char **error)
{
	CURL			*c;
	struct curl_slist	*h = NULL;
	struct deliver_answer	 a;
	CURLcode		 cc;
	char			 errbuf[CURL_ERROR_SIZE], ts[32], sig[65];
	char			*line;
	long			 status = 0;
	size_t			 i;

	*error = NULL;
	if ((c = curl_easy_init()) == NULL) {
		*error = xstrdup("cannot start a libcurl handle");
		return (0);
	}
	buf_init(&a.body);
	errbuf[0] = '\0';
	snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	xasprintf(&line, "User-Agent: objwatch/%s", PACKAGE_VERSION);
	h = curl_slist_append(h, line);
	free(line);
	xasprintf(&line, "X-Objwatch-Event: %s", event);
	h = curl_slist_append(h, line);
	free(line);
	xasprintf(&line, "X-Objwatch-Delivery: %s", id);
	h = curl_slist_append(h, line);
	free(line);
	xasprintf(&line, "X-Objwatch-Timestamp: %s", ts);
	h = curl_slist_append(h, line);
	free(line);
	if (r->notify_secret_value != NULL) {
		deliver_sign(r->notify_secret_value, ts, body, sig);
		xasprintf(&line, "X-Objwatch-Signature: sha256=%s", sig);
		h = curl_slist_append(h, line);
		free(line);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
	    (long)(r->notify_timeout * 1000));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, deliver_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
	if (r->notify_ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, r->notify_ca_file);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK)
		xasprintf(error, "%s", errbuf[0] != '\0' ? errbuf :
		    curl_easy_strerror(cc));
	else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (status < 200 || status > 299) {
			for (i = 0; a.body.s != NULL && i < a.body.len; i++) {
				if (a.body.s[i] == '\n' || a.body.s[i] == '\r')
					a.body.s[i] = ' ';
			}
			xasprintf(error, "HTTP %ld%s%s", status,
			    a.body.len > 0 ? ": " : "",
			    a.body.len > 0 ? a.body.s : "");
		}
	}
	buf_clear(&a.body);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return (status);
}

/* Record the answer to one attempt of a delivery. */
static int
deliver_record(struct deliverer *d, const struct recipe *r, const char *id,
    int attempts, double age, long status, const char *error)
{
	PGresult	*res;
	const char	*p[5];
	char		 st[16], delay[32];
	const char	*state;
	int		 rc;

	attempts++;
	if (error == NULL)
		state = "delivered";
	else if (attempts >= r->notify_attempts || age >= DELIVER_GIVE_UP)
		state = "dead";
	else
		state = "pending";
	snprintf(st, sizeof st, "%ld", status);
	snprintf(delay, sizeof delay, "%.3f", deliver_backoff(attempts));
	p[0] = id;
	p[1] = state;
	p[2] = status != 0 ? st : NULL;
	p[3] = error;
	p[4] = delay;
	res = PQexecParams(d->conn, "UPDATE objwatch.deliveries SET "
	    "state = $2, attempts = attempts + 1, last_status = "
	    "$3::integer, last_error = $4, last_attempt_at = now(), "
	    "delivered_at = CASE WHEN $2 = 'delivered' THEN now() END, "
	    "next_attempt_at = CASE WHEN $2 = 'pending' THEN now() + "
	    "make_interval(secs => $5::float8) END, locked_by = NULL, "
	    "locked_until = NULL WHERE id = $1::bigint", 5, NULL, p, NULL,
	    NULL, 0);
	rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
	PQclear(res);
	if (error == NULL)
		log_info("webhook: delivery %s of recipe '%s' to '%s': %ld, "
		    "after %d attempt(s)", id, r->name, r->notify_url, status,
		    attempts);
	else if (strcmp(state, "dead") == 0)
		log_warnx("webhook: delivery %s of recipe '%s' to '%s' is "
		    "dead after %d attempts: %s", id, r->name, r->notify_url,
		    attempts, error);
	else
		log_warnx("webhook: delivery %s of recipe '%s' to '%s': %s; "
		    "trying again in %s s", id, r->name, r->notify_url, error,
		    delay);
	return (rc);
}

/*
 * Claim the due deliveries of recipes this process notifies for and POST
 * each. Returns how many were sent, or -1 when the database failed.
 */
static int
deliver_round(struct deliverer *d)
{
	const struct recipe	*r;
	PGresult		*res;
	const char		*p[2];
	char			*error;
	long			 status;
	int			 i, n;

	p[0] = d->name;
	p[1] = d->recipes;
	res = PQexecParams(d->conn, "UPDATE objwatch.deliveries d SET "
	    "locked_by = $1, locked_until = now() + interval '5 minutes' "
	    "FROM (SELECT id FROM objwatch.deliveries WHERE state = "
	    "'pending' AND next_attempt_at <= now() AND (locked_until IS "
	    "NULL OR locked_until < now()) AND recipe = ANY ($2::text[]) "
	    "ORDER BY next_attempt_at, id LIMIT " DELIVER_BATCH_S " FOR UPDATE "
	    "SKIP "
	    "LOCKED) c WHERE d.id = c.id RETURNING d.id, d.recipe, d.url, "
	    "d.event, d.body, d.attempts, extract(epoch FROM now() - "
	    "d.created_at)::float8", 2, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_warnx("webhook: cannot claim deliveries: %s",
		    PQresultErrorMessage(res));
		PQclear(res);
		return (-1);
	}
	n = PQntuples(res);
	for (i = 0; i < n && !*d->stop; i++) {
		r = config_find_recipe(d->conf, PQgetvalue(res, i, 1));
		if (r == NULL || r->notify_url == NULL)
			continue;
		status = deliver_post(r, PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 3), PQgetvalue(res, i, 2),
		    PQgetvalue(res, i, 4), &error);
		if (deliver_record(d, r, PQgetvalue(res, i, 0),
		    atoi(PQgetvalue(res, i, 5)), atof(PQgetvalue(res, i, 6)),
		    status, error) != 0) {
			free(error);
			PQclear(res);
			return (-1);
		}
		free(error);
	}
	PQclear(res);
	return (n);
}

static void *
deliver_main(void *arg)
{
	struct deliverer	*d = arg;
	double			 next = 0;
	int			 n;

	while (!*d->stop) {
		if (now_monotonic() < next) {
			poll(NULL, 0, 100);
			continue;
		}
		next = now_monotonic() + 1;
		if (d->conn == NULL || !db_ok(d->conn)) {
			PQfinish(d->conn);
			if ((d->conn = db_connect_retry(d->stop)) == NULL)
				break;
		}
		if ((n = deliver_round(d)) == -1) {
			PQfinish(d->conn);
			d->conn = NULL;
		} else if (n == DELIVER_BATCH)
			next = 0;	/* more may be due */
	}
	PQfinish(d->conn);
	return (NULL);
}

/*
 * Start the sender thread when some recipe of conf notifies, and let
 * queue_complete and queue_fail record deliveries under conf.
 */
struct deliverer *
deliver_start(const struct config *conf, volatile sig_atomic_t *stop)
{
	struct deliverer	*d;
	struct strv		 names = { NULL, 0 };
	size_t			 i;

	deliver_conf = conf;
	for (i = 0; i < conf->nrecipes; i++) {
		if (conf->recipes[i]->notify_url != NULL)
			strv_push(&names, conf->recipes[i]->name);
	}
	if (names.n == 0)
		return (NULL);
	d = xcalloc(1, sizeof *d);
	d->conf = conf;
	d->stop = stop;
	d->recipes = db_text_array((const char *const *)names.v, names.n);
	strv_clear(&names);
	xasprintf(&d->name, "%s:deliver", worker_host());
	if (pthread_create(&d->thread, NULL, deliver_main, d) != 0) {
		log_warnx("webhook: cannot start the sender thread: "
		    "deliveries wait in the database");
		free(d->recipes);
		free(d->name);
		free(d);
		return (NULL);
	}
	return (d);
}

/* Wait for the sender thread to finish its POST in hand and end. */
void
deliver_join(struct deliverer *d)
{
	if (d == NULL)
		return;
	pthread_join(d->thread, NULL);
	free(d->recipes);
	free(d->name);
	free(d);
}

/* Print objwatch status's table of deliveries, when there are any. */
int
deliver_status_print(PGconn *conn, FILE *out, char **cause)
{
	PGresult	*res;
	int		 i;

	res = PQexec(conn, "SELECT recipe, pending, failing, dead, delivered, "
	    "coalesce(last_error, '') FROM objwatch.delivery_status "
	    "ORDER BY recipe");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = db_error(conn, res);
		PQclear(res);
		return (-1);
	}
	if (PQntuples(res) > 0)
		fprintf(out, "\n%-16s %8s %8s %8s %10s  %s\n", "WEBHOOK",
		    "PENDING", "FAILING", "DEAD", "DELIVERED", "LAST ERROR");
	for (i = 0; i < PQntuples(res); i++)
		fprintf(out, "%-16s %8s %8s %8s %10s  %s\n",
		    PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
		    PQgetvalue(res, i, 4), PQgetvalue(res, i, 5));
	PQclear(res);
	return (0);
}
