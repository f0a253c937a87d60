/*
 * The HTTP endpoint on `listen` (libmicrohttpd): S3 event webhooks and a
 * health check.
 *
 *	POST /events/SOURCE	an S3 event notification for source SOURCE
 *				(also /events/SOURCE/TOKEN, see below)
 *	GET  /healthz		200 while the database answers a query, every
 *				source works and every worker runs, else 503;
 *				the JSON is the live state (health.c)
 *	GET  /readyz		200 once this process can take work
 *	GET  /metrics		Prometheus text (metrics.c)
 *
 * One thread serves every request (MHD's internal polling thread) and owns
 * one database connection, so requests are handled one at a time: a
 * webhook's work is a few inserts, and senders retry. A webhook answers
 * 2xx only after its jobs are committed (persist before acknowledging);
 * 401 for a missing or wrong webhook token, before the body is read and
 * with nothing written; 413 for a body over HTTP_MAX_BODY; 400 with a JSON
 * error for a body that is not an event notification; 503 while the
 * database is unreachable, so the sender retries later.
 *
 * The token (the source's webhook_token) may come in any of four places,
 * because senders differ in what they can send: MinIO sets a header,
 * Ceph RGW cannot, but keeps the path and query of its push-endpoint and
 * turns the URL's userinfo into Basic auth:
 *
 *	Authorization: Bearer TOKEN
 *	Authorization: Basic base64(ANYUSER:TOKEN)
 *	POST /events/SOURCE/TOKEN
 *	POST /events/SOURCE?token=TOKEN
 *
 * Every token a request gives must be the right one, so two that disagree
 * are refused. Tokens are compared in constant time and never logged: no
 * log line here prints a URL, its path beyond the source or its query.
 *
 * Bodies are never logged or stored: COS puts the uploader's Authorization
 * header in its events.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>

#include "objwatch.h"
#include "banned.h"

#define HTTP_MAX_BODY	(1024 * 1024)
/*
 * A body must arrive within this many seconds of its headers: the idle
 * timeout alone lets a client that sends a byte a second hold a connection
 * for ever (and 64 such clients would lock everyone else out).
 */
#define HTTP_BODY_SECONDS	10

struct http_server {
	pthread_mutex_t		 lock;	/* conf, against a reload */
	const struct config	*conf;
	unsigned int		 port;	/* bound, even when listen asked 0 */
	struct MHD_Daemon	*mhd;
	PGconn			*conn;
};

/* A request's state between libmicrohttpd's calls. */
struct http_request {
	char		*body;
	size_t		 len;
	int		 too_big;
	double		 started;
};

static enum MHD_Result
http_reply(struct MHD_Connection *c, unsigned int status, const char *type,
    const char *body)
{
	struct MHD_Response	*r;
	enum MHD_Result		 ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body,
	    MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", type);
	if (status == 401) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"objwatch\"");
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Basic realm=\"objwatch\", charset=\"UTF-8\"");
	}
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return (ret);
}

/* Reply with {"error": msg}. */
static enum MHD_Result
http_error(struct MHD_Connection *c, unsigned int status, const char *msg)
{
	json_t		*o;
	char		*json, *body;
	enum MHD_Result	 ret;

	/* The message may quote parts of the body: any bytes at all. */
	o = json_object();
	json_object_set_new(o, "error", utf8_json(msg));
	if ((json = json_dumps(o, 0)) == NULL)
		fatalx("out of memory");
	json_decref(o);
	xasprintf(&body, "%s\n", json);
	free(json);
	ret = http_reply(c, status, "application/json", body);
	free(body);
	return (ret);
}

/* Count a webhook answer by source and status. */
static void
http_count(const struct source *src, unsigned int status)
{
	char	 code[8];

	snprintf(code, sizeof code, "%u", status);
	metrics_count("objwatch_webhook_requests_total", 1, "source",
	    src->name, "status", code);
}

/*
 * Compare a token of glen bytes in time that depends only on the
 * expected length: every byte of want is looked at, whatever matched.
 */
static int
http_token_ok(const char *got, size_t glen, const char *want)
{
	size_t		 wlen = strlen(want), i;
	unsigned char	 diff = (glen != wlen);

	for (i = 0; i < wlen; i++)
		diff |= (unsigned char)want[i] ^
		    (unsigned char)(glen == 0 ? 0 : got[i % glen]);
	return (diff == 0);
}

/* The tokens a request gave, and whether each was the source's. */
struct http_auth {
	const char	*want;
	int		 given;
	int		 wrong;
	const char	*where;		/* the first place a wrong one was */
};

static void
http_auth_check(struct http_auth *a, const char *where, const char *got,
    size_t len)
{
	a->given++;
	if (!http_token_ok(got, len, a->want) && a->wrong++ == 0)
		a->where = where;
}

static int
http_base64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return (ch - 'A');
	if (ch >= 'a' && ch <= 'z')
		return (ch - 'a' + 26);
	if (ch >= '0' && ch <= '9')
		return (ch - '0' + 52);
	if (ch == '+')
		return (62);
	if (ch == '/')
		return (63);
	return (-1);
}

/*
 * Decode base64 (RFC 4648, as in HTTP Basic auth) into a new string of
 * *outlen bytes. The padding may be left out, but where it is there it
 * must make whole groups of four; anything else outside the alphabet is
 * an error (NULL).
 */
static char *
http_base64_decode(const char *in, size_t len, size_t *outlen)
{
	char		*out;
	size_t		 n, pad = 0, i, o = 0;
	unsigned int	 acc = 0;
	int		 v, bits = 0;

	while (pad < 2 && len - pad > 0 && in[len - pad - 1] == '=')
		pad++;
	n = len - pad;
	if (pad > 0 && len % 4 != 0)
		return (NULL);
	if (n % 4 == 1)
		return (NULL);
	out = xmalloc(n / 4 * 3 + 3);
	for (i = 0; i < n; i++) {
		if ((v = http_base64_value(in[i])) == -1) {
			free(out);
			return (NULL);
		}
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	*outlen = o;
	return (out);
}

/*
 * Check the token of an Authorization header: Bearer TOKEN, or Basic
 * credentials whose password is the token (the user name is anything).
 * Other schemes carry no webhook token and are let be.
 */
static void
http_auth_header(struct http_auth *a, const char *value, size_t len)
{
	const char	*p = value, *end = value + len, *colon;
	char		*cred;
	size_t		 clen;

	while (p < end && *p == ' ')
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (end - p >= 7 && strncasecmp(p, "Bearer ", 7) == 0) {
		for (p += 7; p < end && *p == ' '; p++)
			;
		http_auth_check(a, "an Authorization: Bearer header", p,
		    end - p);
		return;
	}
	if (end - p < 6 || strncasecmp(p, "Basic ", 6) != 0)
		return;
	for (p += 6; p < end && *p == ' '; p++)
		;
	cred = http_base64_decode(p, end - p, &clen);
	if (cred != NULL && (colon = memchr(cred, ':', clen)) != NULL)
		http_auth_check(a, "the password of Basic credentials",
		    colon + 1, clen - (colon + 1 - cred));
	else {
		a->given++;
		if (a->wrong++ == 0)
			a->where = "Basic credentials that are not base64 of "
			    "USER:TOKEN";
	}
	if (cred != NULL) {
		explicit_bzero(cred, clen);
		free(cred);
	}
}

static enum MHD_Result
http_auth_value(void *arg, enum MHD_ValueKind kind, const char *key,
    size_t key_size, const char *value, size_t value_size)
{
	struct http_auth	*a = arg;

	if (value == NULL) {
		value = "";
		value_size = 0;
	}
	if (kind == MHD_HEADER_KIND &&
	    strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
		http_auth_header(a, value, value_size);
	else if (kind == MHD_GET_ARGUMENT_KIND && strcmp(key, "token") == 0)
		http_auth_check(a, "the query string", value, value_size);
	return (MHD_YES);
}

/*
 * Whether a request carries the source's token and no other: path is the
 * token segment of /events/SOURCE/TOKEN (NULL: none). When not, it logs
 * why (never the token) and replies 401.
 */
static int
http_auth_ok(struct MHD_Connection *c, const struct source *src,
    const char *path, enum MHD_Result *ret)
{
	struct http_auth	 a;
	char			*msg;

	memset(&a, 0, sizeof a);
	a.want = src->webhook_token_value;
	if (path != NULL)
		http_auth_check(&a, "the path", path, strlen(path));
	MHD_get_connection_values_n(c, MHD_HEADER_KIND, http_auth_value, &a);
	MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, http_auth_value,
	    &a);
	if (a.given > 0 && a.wrong == 0)
		return (1);
	if (a.given == 0)
		log_warnx("webhook '%s': refused a request with no webhook "
		    "token (401)", src->name);
	else
		log_warnx("webhook '%s': refused a wrong webhook token in %s "
		    "(401)", src->name, a.where);
	http_count(src, 401);
	xasprintf(&msg, "a missing or wrong webhook token: give the token "
	    "of source '%s' as \"Authorization: Bearer TOKEN\", as the "
	    "password of HTTP Basic auth (http://USER:TOKEN@HOST/events/%s), "
	    "in the path (/events/%s/TOKEN) or in the query (?token=TOKEN), "
	    "and only the right one wherever it is given", src->name,
	    src->name, src->name);
	*ret = http_error(c, 401, msg);
	free(msg);
	return (0);
}

/* Make sure the server has a working connection; no waiting. */
static int
http_db(struct http_server *hs)
{
	char	*cause;

	if (db_ok(hs->conn))
		return (0);
	db_close(hs->conn);
	if ((hs->conn = db_connect(&cause)) == NULL) {
		log_warnx("webhook: %s", cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/*
 * Record the events of one body in one transaction. Returns the HTTP
 * status; *msg says why when it is not 200.
 */
static unsigned int
http_apply(struct http_server *hs, const struct source *src,
    struct s3_events *evs, uint64_t *queued, uint64_t *deleted,
    uint64_t *ignored, char **msg)
{
	struct s3_event		*e;
	struct object_version	 ov;
	struct strv		 outputs = { NULL, 0 }, one;
	char			*cause, *etag;
	int64_t			 size;
	size_t			 i;
	int			 njobs, rc, n;

	if (http_db(hs) != 0) {
		*msg = xstrdup("the database is unavailable; retry later");
		return (503);
	}
	if (db_begin(hs->conn, &cause) != 0)
		goto db_failed;
	for (i = 0; i < evs->n; i++) {
		e = &evs->v[i];
		if (strcmp(e->bucket, src->bucket) != 0 ||
		    !s3_source_wants(src, e->key)) {
			(*ignored)++;
			continue;
		}
		if (e->removed) {
			one.v = &e->key;
			one.n = 1;
			if (ledger_delete(hs->conn, src, LEDGER_KEYS, &one,
			    src->on_delete == ON_DELETE_REMOVE ? &outputs :
			    NULL, &n, &cause) != 0)
				goto db_failed;
			(*deleted)++;
			continue;
		}
		if (*e->etag == '\0') {
			/* COS and some relays give no ETag: ask the server */
			etag = NULL;
			rc = s3_head(src, e->key, &etag, &size, &cause);
			if (rc == 1) {
				(*ignored)++;
				continue;
			}
			if (rc != 0) {
				log_warnx("webhook '%s': %s", src->name, cause);
				free(cause);
				db_rollback(hs->conn);
				*msg = xstrdup("cannot reach the S3 server to "
				    "read an object's ETag; retry later");
				return (503);
			}
			free(e->etag);
			e->etag = etag;
			if (e->size < 0)
				e->size = size;
		}
		memset(&ov, 0, sizeof ov);
		ov.source = src->name;
		ov.key = e->key;
		ov.version = e->etag;
		ov.etag = e->etag;
		ov.size = e->size;
		ov.mtime_ns = e->mtime_ns;
		if (queue_enqueue(hs->conn, src, &ov, hs->conf->max_attempts,
		    &njobs, &cause) != 0)
			goto db_failed;
		*queued += njobs;
	}
	if (db_commit(hs->conn, &cause) != 0)
		goto db_failed;
	/* Committed: the ledger says removed, now the outputs go. */
	if (outputs.n > 0)
		log_info("webhook '%s': %zu outputs of deleted objects removed",
		    src->name, store_remove_all(src, &outputs));
	strv_clear(&outputs);
	return (200);

db_failed:
	strv_clear(&outputs);
	log_warnx("webhook '%s': cannot record the events: %s", src->name,
	    cause);
	free(cause);
	db_rollback(hs->conn);
	*msg = xstrdup("cannot record the events in the database; retry "
	    "later");
	return (503);
}

static enum MHD_Result
http_events(struct http_server *hs, struct MHD_Connection *c,
    const struct source *src, struct http_request *rq)
{
	struct s3_events	 evs;
	uint64_t		 queued = 0, deleted = 0, ignored = 0;
	unsigned int		 status;
	char			*cause, *msg = NULL, *body;
	enum MHD_Result		 ret;

	if (rq->too_big) {
		xasprintf(&msg, "the body is over the limit of %d bytes",
		    HTTP_MAX_BODY);
		ret = http_error(c, 413, msg);
		http_count(src, 413);
		free(msg);
		return (ret);
	}
	if (events_parse(rq->body == NULL ? "" : rq->body, rq->len, &evs,
	    &cause) != 0) {
		/* not the parser's words: they may quote the body */
		log_warnx("webhook '%s': refused a malformed body of %zu "
		    "bytes (400)", src->name, rq->len);
		ret = http_error(c, 400, cause);
		http_count(src, 400);
		free(cause);
		return (ret);
	}
	status = http_apply(hs, src, &evs, &queued, &deleted, &ignored, &msg);
	events_clear(&evs);
	http_count(src, status);
	if (status != 200) {
		ret = http_error(c, status, msg);
		free(msg);
		return (ret);
	}
	log_info("webhook '%s': %" PRIu64 " new jobs, %" PRIu64 " deleted, "
	    "%" PRIu64 " ignored", src->name, queued, deleted, ignored);
	xasprintf(&body, "{\"queued\": %" PRIu64 ", \"deleted\": %" PRIu64
	    ", \"ignored\": %" PRIu64 "}\n", queued, deleted, ignored);
	ret = http_reply(c, 200, "application/json", body);
	free(body);
	return (ret);
}

/*
 * 200 while the database answers and every source is up (watching,
 * polling, or standing by for another process); 503 otherwise. The body
 * says which part is not.
 */
/*
 * Whether the database answers a query now. A connection's status alone
 * says only that it has not failed yet: a server killed since still looks
 * connected until a statement is sent.
 */
static int
http_db_answers(struct http_server *hs)
{
	char	*cause;

	if (http_db(hs) != 0)
		return (0);
	if (db_ping(hs->conn, &cause) == 0)
		return (1);
	free(cause);
	/* the link broke: one more try on a new connection */
	if (http_db(hs) != 0)
		return (0);
	if (db_ping(hs->conn, &cause) != 0) {
		free(cause);
		return (0);
	}
	return (1);
}

/*
 * GET /healthz: the live state of the database, every source and the
 * workers (health.c); 200 when all work, 503 otherwise. GET /readyz: the
 * same body, 200 once this process can take work (the database answers,
 * workers run, every source has done its first scan or stands by).
 */
static enum MHD_Result
http_health(struct http_server *hs, struct MHD_Connection *c, int readyz)
{
	enum MHD_Result	 ret;
	char		*body, *line;
	int		 healthy, ready;

	body = health_json(http_db_answers(hs), &healthy, &ready);
	xasprintf(&line, "%s\n", body);
	ret = http_reply(c, (readyz ? ready : healthy) ? 200 : 503,
	    "application/json", line);
	free(line);
	free(body);
	return (ret);
}

static enum MHD_Result
http_handle(struct http_server *hs, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **state)
{
	struct http_request	*rq = *state;
	const struct source	*src;
	const char		*clen, *slash, *path = NULL;
	char			*name;
	enum MHD_Result		 ret;

	if (strcmp(url, "/healthz") == 0 && strcmp(method, "GET") == 0)
		return (http_health(hs, c, 0));
	if (strcmp(url, "/readyz") == 0 && strcmp(method, "GET") == 0)
		return (http_health(hs, c, 1));
	if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0) {
		char		*page;

		page = metrics_render(http_db(hs) == 0 ? hs->conn : NULL);
		ret = http_reply(c, 200, "text/plain; version=0.0.4", page);
		free(page);
		return (ret);
	}
	if (strncmp(url, "/events/", 8) != 0)
		return (http_error(c, 404, "no such endpoint (POST "
		    "/events/SOURCE, GET /healthz, GET /readyz, GET "
		    "/metrics)"));
	/* /events/SOURCE or /events/SOURCE/TOKEN */
	if ((slash = strchr(url + 8, '/')) != NULL) {
		name = xstrndup(url + 8, slash - (url + 8));
		path = slash + 1;
		src = config_find_source(hs->conf, name);
		free(name);
	} else
		src = config_find_source(hs->conf, url + 8);
	if (src == NULL || src->type != SOURCE_S3 ||
	    src->webhook_token_value == NULL)
		return (http_error(c, 404, "no S3 source of that name takes "
		    "events (set webhook_token in its section)"));
	if (strcmp(method, "POST") != 0)
		return (http_error(c, 405, "use POST"));

	if (rq == NULL) {
		/* Headers only: check the token before reading the body. */
		if (!http_auth_ok(c, src, path, &ret))
			return (ret);
		clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen != NULL && strtoull(clen, NULL, 10) > HTTP_MAX_BODY) {
			http_count(src, 413);
			return (http_error(c, 413, "the body is over the "
			    "limit of 1048576 bytes"));
		}
		*state = rq = xcalloc(1, sizeof *rq);
		rq->started = now_monotonic();
		return (MHD_YES);
	}
	if (now_monotonic() - rq->started > HTTP_BODY_SECONDS) {
		log_warnx("webhook '%s': a body took over %d s to arrive; "
		    "closing the connection", src->name, HTTP_BODY_SECONDS);
		return (MHD_NO);
	}
	if (*upload_size > 0) {
		if (rq->len + *upload_size > HTTP_MAX_BODY)
			rq->too_big = 1;
		else {
			rq->body = xreallocarray(rq->body,
			    rq->len + *upload_size + 1, 1);
			memcpy(rq->body + rq->len, upload, *upload_size);
			rq->len += *upload_size;
			rq->body[rq->len] = '\0';
		}
		*upload_size = 0;
		return (MHD_YES);
	}
	return (http_events(hs, c, src, rq));
}

static void
http_completed(void *arg, struct MHD_Connection *c, void **state,
    enum MHD_RequestTerminationCode toe)
{
	struct http_request	*rq = *state;

	if (rq == NULL)
		return;
	free(rq->body);
	free(rq);
	*state = NULL;
}

/* Each call sees one config: a reload swaps it between calls only. */
static enum MHD_Result
http_handler(void *arg, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **state)
{
	struct http_server	*hs = arg;
	enum MHD_Result		 ret;

	pthread_mutex_lock(&hs->lock);
	ret = http_handle(hs, c, url, method, version, upload, upload_size,
	    state);
	pthread_mutex_unlock(&hs->lock);
	return (ret);
}

/* The port the endpoint is bound to. */
unsigned int
http_port(const struct http_server *hs)
{
	return (hs->port);
}

/*
 * Serve a new config's sources and tokens on the same listener, after a
 * reload; the old config may be freed once this returns.
 */
void
http_set_config(struct http_server *hs, const struct config *conf)
{
	pthread_mutex_lock(&hs->lock);
	hs->conf = conf;
	pthread_mutex_unlock(&hs->lock);
}

/*
 * Start serving on conf->listen (host:port, [v6]:port). Fails if the
 * address cannot be bound.
 */
struct http_server *
http_start(const struct config *conf, char **cause)
{
	struct http_server	*hs;
	struct addrinfo		 hints, *ai;
	const union MHD_DaemonInfo *info;
	char			*host, *port;
	const char		*colon;
	int			 rc;
	unsigned int		 flags;

	if ((colon = strrchr(conf->listen, ':')) == NULL) {
		xasprintf(cause, "listen '%s' is not host:port", conf->listen);
		return (NULL);
	}
	host = xstrndup(conf->listen, colon - conf->listen);
	port = xstrdup(colon + 1);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(*host == '\0' || strcmp(host, "*") == 0 ? NULL : host,
	    port, &hints, &ai);
	free(host);
	free(port);
	if (rc != 0) {
		xasprintf(cause, "listen '%s': %s", conf->listen,
		    gai_strerror(rc));
		return (NULL);
	}
	hs = xcalloc(1, sizeof *hs);
	pthread_mutex_init(&hs->lock, NULL);
	hs->conf = conf;
	/* Every recipe has a queue depth, 0 until the database says more. */
	for (size_t i = 0; i < conf->nrecipes; i++)
		metrics_set("objwatch_queue_depth", 0, "recipe",
		    conf->recipes[i]->name);
	flags = MHD_USE_INTERNAL_POLLING_THREAD;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	hs->mhd = MHD_start_daemon(flags, 0, NULL, NULL, http_handler, hs,
	    MHD_OPTION_SOCK_ADDR, ai->ai_addr,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed, hs,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
	    MHD_OPTION_END);
	freeaddrinfo(ai);
	if (hs->mhd == NULL) {
		xasprintf(cause, "cannot listen on '%s' (in use, or not an "
		    "address of this host?): set listen to a free host:port "
		    "(port 0: any free one)", conf->listen);
		pthread_mutex_destroy(&hs->lock);
		free(hs);
		return (NULL);
	}
	info = MHD_get_daemon_info(hs->mhd, MHD_DAEMON_INFO_BIND_PORT);
	/* the port the system chose, when listen asked for port 0 */
	hs->port = info == NULL ? 0 : (unsigned int)info->port;
	log_info("listening on %.*s:%u", (int)(colon - conf->listen),
	    conf->listen, hs->port);
	return (hs);
}

/* Stop serving and close the connection. */
void
http_stop(struct http_server *hs)
{
	if (hs == NULL)
		return;
	MHD_stop_daemon(hs->mhd);
	db_close(hs->conn);
	pthread_mutex_destroy(&hs->lock);
	free(hs);
}
