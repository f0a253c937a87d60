/*
 * The worker pool: `workers` threads, each with its own connection.
 *
 * A worker claims one job, reads the object's bytes, runs the recipe,
 * stores the output and records it, then claims the next. When there is
 * nothing to claim it sleeps on its connection's socket: the NOTIFY sent
 * with every new job wakes it at once, and a timeout (`poll`) makes it look
 * again anyway, in case a notification was lost with a connection. The
 * shutdown pipe wakes every worker when the daemon stops; a worker finishes
 * the job in hand before it exits.
 *
 * A job whose object changed or vanished since it was queued fails with
 * class io: the new version has a job of its own. A job of a recipe
 * chained after another (after =) reads that one's output, not the
 * object: its version is not checked again, as its upstream job read it.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objwatch.h"
#include "banned.h"

struct worker {
	struct workers		*pool;
	int			 index;
	pthread_t		 thread;
	char			 name[128];
	PGconn			*conn;
};

struct workers {
	const struct config	*conf;
	volatile sig_atomic_t	*stop;
	int			 wake[2];	/* closed to stop everyone */
	struct worker		*w;
	int			 n;
};

/*
 * After a failed statement: if the connection broke (a database restart),
 * connect again and return 0 so the caller repeats what it was recording;
 * the job is still leased to this worker, so nothing else has taken it.
 * Returns -1 when the failure was not the connection's, or on stop.
 */
/* Seconds a stopping worker keeps trying to record the job in hand. */
#define WORKER_RECORD_GRACE	30.0

static int
worker_reconnect(struct worker *w, const char *cause)
{
	char	*why;

	double	 deadline;

	if (db_ok(w->conn))
		return (-1);
	log_warnx("worker %d: %s; reconnecting", w->index, cause);
	db_close(w->conn);
	w->conn = NULL;
	if (!*w->pool->stop)
		w->conn = db_connect_retry(w->pool->stop);
	/*
	 * Stopping (a SIGTERM, or a SIGHUP's reload): the job in hand is
	 * still this worker's to record, or its lease would hold it for
	 * the whole lease after a reload. Keep trying for a while.
	 */
	deadline = now_monotonic() + WORKER_RECORD_GRACE;
	while (w->conn == NULL && *w->pool->stop &&
	    now_monotonic() < deadline) {
		if ((w->conn = db_connect(&why)) != NULL)
			break;
		free(why);
		poll(NULL, 0, 500);
	}
	if (w->conn == NULL)
		return (-1);
	if (db_listen_jobs(w->conn, &why) != 0) {
		log_warnx("worker %d: %s", w->index, why);
		free(why);
	}
	return (0);
}

/*
 * Learn what the object is, from its header, the first time any of its
 * jobs runs: cheap, and useful whatever the recipe does with it. It is
 * recorded with the job's outcome, by the same statement. An input whose
 * header cannot be read gets no info; its job says why.
 */
static void
worker_learn_info(struct claimed_job *job, const void *data, size_t len)
{
	char	*json, *cause;

	if (job->info != NULL)
		return;
	if (image_info(data, len, &json, &cause) != 0) {
		log_debug("job %" PRId64 ": no info for '%s': %s", job->id,
		    job->key, cause);
		free(cause);
		return;
	}
	job->info = json;
	job->info_refresh = 0;
}

/*
 * Record a job's completion (out is NULL for an info recipe), connecting
 * again while it is the connection that failed. Returns -1, logged, when
 * it cannot be recorded: the lease runs out and the job runs again.
 */
static int
worker_record_done(struct worker *w, struct claimed_job *job,
    const struct recipe *r, const struct job_output *out)
{
	char	*cause;

	while (queue_complete(w->conn, w->name, job, r, out, &cause) != 0) {
		if (worker_reconnect(w, cause) == 0) {
			free(cause);
			continue;
		}
		log_warnx("job %" PRId64 " ('%s', recipe '%s'): cannot record "
		    "its completion: %s", job->id, job->key, job->recipe,
		    cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/* Record a job's failure, connecting again as worker_record_done does. */
static int
worker_record_failure(struct worker *w, struct claimed_job *job,
    const struct job_error *err)
{
	char	*cause;

	while (queue_fail(w->conn, w->name, job, err, &cause) != 0) {
		if (worker_reconnect(w, cause) == 0) {
			free(cause);
			continue;
		}
		log_warnx("job %" PRId64 ": cannot record its failure: %s",
		    job->id, cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/*
 * The outcome of running one job, for the log and the metrics: what the
 * job read, and the word for how it ended ("done", "wait", ...; NULL when
 * the outcome could not be recorded).
 */
struct worker_run {
	struct job_error	 err;
	const char		*outcome;
	size_t			 inlen;
	double			 t0;
};

/*
 * An image recipe: read the whole object, run the steps over it in memory
 * (one decode), store the encoded output and record it. Returns 0 when the
 * job's completion was recorded (or could not be: run->outcome NULL), -1
 * with run->err set when the job failed.
 */
static int
worker_run_image(struct worker *w, struct claimed_job *job,
    const struct source *src, const struct recipe *r, struct worker_run *run)
{
	struct image_job	 ij;
	struct job_output	 out;
	struct template_vars	 vars;
	void			*data = NULL;
	size_t			 len = 0;
	char			*location = NULL, *cause;
	int			 rc = -1;

	memset(&ij, 0, sizeof ij);
	vars.source = job->source;
	vars.key = job->key;
	vars.recipe = r->name;
	vars.hash = r->hash;
	/*
	 * A key the output template cannot hold (a ".." above its root)
	 * fails whatever its bytes: refused before anything is fetched. The
	 * extension has no '/', so the steps cannot change the answer.
	 */
	vars.ext = "{ext}";
	if (r->writes && template_expand(r->output_template, &vars, &location,
	    &cause) != 0) {
		job_error_set(&run->err, ERROR_CONFIG, 0, "recipe '%s': cannot "
		    "name the output for '%s': %s", r->name, job->key, cause);
		free(cause);
		goto out;
	}
	FREE_NULL(location);
	if (job->input_location != NULL) {
		if (fetch_output(r, src, job, &data, &len, &run->err) != 0)
			goto out;
	} else if (source_fetch(src, job, &data, &len, &run->err) != 0)
		goto out;
	run->inlen = len;
	/* An info recipe learns it anyway, unless it fails. */
	if (job->need_info && r->writes)
		worker_learn_info(job, data, len);
	if (recipe_run_bytes(r, data, len, job->key, &ij) != 0) {
		run->err = ij.error;
		memset(&ij.error, 0, sizeof ij.error);
		if (job->need_info)
			worker_learn_info(job, data, len);
		goto out;
	}
	if (!r->writes) {
		/* An info recipe: the object's row is its output. */
		free(job->info);
		job->info = ij.info;
		job->info_refresh = 1;
		ij.info = NULL;
		rc = 0;
		if (worker_record_done(w, job, r, NULL) != 0)
			goto out;
		log_info("job %" PRId64 " ('%s', recipe '%s') done: info "
		    "recorded (%.0f ms)", job->id, job->key, job->recipe,
		    (now_monotonic() - run->t0) * 1000);
		run->outcome = "done";
		goto out;
	}
	vars.ext = ij.ext;
	if (template_expand(r->output_template, &vars, &location,
	    &cause) != 0) {
		job_error_set(&run->err, ERROR_CONFIG, 0, "recipe '%s': cannot "
		    "name the output for '%s': %s", r->name, job->key, cause);
		free(cause);
		goto out;
	}
	if (store_put(r, location, ij.out, ij.outlen, ij.mime, src,
	    &run->err) != 0)
		goto out;

	memset(&out, 0, sizeof out);
	out.location = location;
	out.format = ij.format;
	out.mime = ij.mime;
	out.width = ij.width;
	out.height = ij.height;
	out.bytes = ij.outlen;
	rc = 0;
	if (worker_record_done(w, job, r, &out) != 0)
		goto out;
	log_info("job %" PRId64 " ('%s', recipe '%s') done: '%s' (%dx%d, %zu "
	    "bytes, %.0f ms)", job->id, job->key, job->recipe, location,
	    ij.width, ij.height, ij.outlen, (now_monotonic() - run->t0) * 1000);
	run->outcome = "done";
	metrics_count("objwatch_output_bytes_total", ij.outlen, "recipe",
	    job->recipe, NULL, NULL);
out:
	image_job_clear(&ij);
	free(data);
	free(location);
	return (rc);
}

/*
 * One try at a lines job: the table ready, then in one transaction its
 * rows, rejects and counts, and the job marked done. Returns 0 when done,
 * -1 with run->err set when the job failed, 1 when it could not be
 * recorded (the database: logged, or in run->err.msg for a reconnect).
 */
static int
worker_load_once(struct worker *w, struct claimed_job *job,
    const struct recipe *r, const struct table_input *in,
    struct table_stats *st, struct worker_run *run)
{
	struct job_output	 out;
	char			*cause;
	int			 config;

	if (table_prepare(w->conn, r, &config, &cause) != 0) {
		job_error_set(&run->err, config ? ERROR_CONFIG : ERROR_STORAGE,
		    config ? JOB_PERMANENT : JOB_RETRY, "%s", cause);
		free(cause);
		return (config || db_ok(w->conn) ? -1 : 1);
	}
	if (db_exec(w->conn, "BEGIN", &cause) != 0) {
		job_error_set(&run->err, ERROR_STORAGE, JOB_RETRY, "%s", cause);
		free(cause);
		return (db_ok(w->conn) ? -1 : 1);
	}
	if (table_load(w->conn, r, job, in, st, &run->err) != 0) {
		db_rollback(w->conn);
		return (db_ok(w->conn) || run->err.cls == ERROR_DECODE ? -1 :
		    1);
	}
	memset(&out, 0, sizeof out);
	xasprintf(&out.location, "%s", r->output);
	out.format = "rows";
	out.mime = "text/plain";
	out.bytes = st->text_bytes;
	if (queue_complete(w->conn, w->name, job, r, &out, &cause) != 0 ||
	    db_exec(w->conn, "COMMIT", &cause) != 0) {
		free(out.location);
		db_rollback(w->conn);
		job_error_set(&run->err, ERROR_STORAGE, JOB_RETRY, "%s", cause);
		free(cause);
		return (1);
	}
	free(out.location);
	return (0);
}

/*
 * A lines recipe: the object's lines into rows of the recipe's table.
 * The load and the job's completion commit together; when the connection
 * breaks on the way, nothing of it stayed, and it is done again on a new
 * connection.
 */
static int
worker_run_lines(struct worker *w, struct claimed_job *job,
    const struct source *src, const struct recipe *r, struct worker_run *run)
{
	struct table_stats	 st;
	struct table_input	 in;
	void			*data = NULL;
	size_t			 len = 0;
	int			 rc, tries;

	memset(&in, 0, sizeof in);
	in.fd = -1;
	/* A file is read in pieces; an object from a bucket whole. */
	if (src->type == SOURCE_DIR) {
		if (fetch_file_fd(src, job, &in.fd, &len, &run->err) != 0)
			return (-1);
		in.follow = lines_follow(r->steps[0].data);
	} else if (source_fetch(src, job, &data, &len, &run->err) != 0) {
		free(data);
		return (-1);
	}
	in.data = data;
	in.len = len;
	run->inlen = len;
	for (tries = 0; ; tries++) {
		job_error_clear(&run->err);
		if ((rc = worker_load_once(w, job, r, &in, &st, run)) != 1)
			break;
		if (tries < 3 && worker_reconnect(w, run->err.msg) == 0)
			continue;
		log_warnx("job %" PRId64 " ('%s', recipe '%s'): cannot record "
		    "its load: %s", job->id, job->key, job->recipe,
		    run->err.msg);
		job_error_clear(&run->err);
		free(data);
		if (in.fd != -1)
			close(in.fd);
		return (0);	/* the lease runs out; it runs again */
	}
	free(data);
	if (in.fd != -1)
		close(in.fd);
	if (rc != 0)
		return (-1);
	log_info("job %" PRId64 " ('%s', recipe '%s') done: %" PRId64 " rows "
	    "into %s (%" PRId64 " lines, %" PRId64 " dropped, %" PRId64
	    " rejected, %zu bytes%s, %.0f ms)", job->id, job->key, job->recipe,
	    st.rows, r->output + 6, st.lines, st.dropped, st.rejected, len,
	    st.gzip ? " gzip" : "", (now_monotonic() - run->t0) * 1000);
	run->outcome = "done";
	metrics_count("objwatch_table_rows_total", st.rows, "recipe",
	    job->recipe, NULL, NULL);
	if (st.rejected > 0)
		metrics_count("objwatch_table_rejects_total", st.rejected,
		    "recipe", job->recipe, NULL, NULL);
	return (0);
}

/*
 * A copy recipe: the object streamed to its output as it is (or gzipped),
 * with the SHA-256 of both sides recorded on its output row.
 */
static int
worker_run_copy(struct worker *w, struct claimed_job *job,
    const struct source *src, const struct recipe *r, struct worker_run *run)
{
	struct copy_result	 res;
	struct job_output	 out;
	struct template_vars	 vars;
	const char		*in;
	char			*location = NULL, *ext, *format, *cause;
	int			 gzip, rc = -1;

	/* after = : named as the output it copies, not the source's key */
	in = job->input_location != NULL ? job->input_location : job->key;
	gzip = copy_gzip_level(r->steps[0].data) > 0;
	ext = copy_ext(in, gzip);
	format = copy_format(in, gzip);
	vars.source = job->source;
	vars.key = job->key;
	vars.recipe = r->name;
	vars.ext = ext;
	vars.hash = r->hash;
	if (template_expand(r->output_template, &vars, &location,
	    &cause) != 0) {
		job_error_set(&run->err, ERROR_CONFIG, 0, "recipe '%s': cannot "
		    "name the output for '%s': %s", r->name, job->key, cause);
		free(cause);
		goto out;
	}
	if (copy_run(r, src, job, location, w->pool->conf->state_dir, &res,
	    &run->err) != 0)
		goto out;
	run->inlen = (size_t)res.in_bytes;

	memset(&out, 0, sizeof out);
	out.location = location;
	out.format = format;
	out.mime = copy_mime(in, gzip);
	out.bytes = res.out_bytes;
	out.sha256 = res.out_sha256;
	out.input_sha256 = res.in_sha256;
	rc = 0;
	if (worker_record_done(w, job, r, &out) != 0)
		goto out;
	log_info("job %" PRId64 " ('%s', recipe '%s') done: '%s' (%" PRId64
	    " bytes%s, sha256 %s, %.0f ms)", job->id, job->key, job->recipe,
	    location, res.out_bytes, gzip ? " gzip" : "", res.out_sha256,
	    (now_monotonic() - run->t0) * 1000);
	run->outcome = "done";
	metrics_count("objwatch_output_bytes_total", res.out_bytes, "recipe",
	    job->recipe, NULL, NULL);
out:
	free(location);
	free(format);
	free(ext);
	return (rc);
}

/* Log a failed job in the words a reader needs, and record it. */
static void
worker_job_failed(struct worker *w, struct claimed_job *job,
    struct worker_run *run)
{
	const struct job_error	*err = &run->err;
	char			 next[96];

	if (err->transient == JOB_WAIT) {
		run->outcome = "wait";
		snprintf(next, sizeof next, "waits (not counted as an "
		    "attempt)");
	} else if (!err->transient) {
		run->outcome = "failed";
		snprintf(next, sizeof next, "failed (not retried: objwatch "
		    "retry requeues it)");
	} else if (job->attempts >= job->max_attempts) {
		run->outcome = "dead";
		snprintf(next, sizeof next, "failed, and is dead after %d "
		    "attempts", job->attempts);
	} else {
		run->outcome = "retry";
		snprintf(next, sizeof next, "failed (attempt %d of %d; "
		    "retried after a backoff)", job->attempts,
		    job->max_attempts);
	}
	log_context_class(error_class_name(err->cls));
	log_warnx("job %" PRId64 " ('%s', recipe '%s') %s: %s: %s", job->id,
	    job->key, job->recipe, next, error_class_name(err->cls), err->msg);
	log_context_class(NULL);
	worker_record_failure(w, job, err);
}

/* Run one claimed job to its recorded outcome, whatever kind its recipe. */
static void
worker_run_job(struct worker *w, struct claimed_job *job)
{
	const struct config	*conf = w->pool->conf;
	const struct source	*src;
	const struct recipe	*r;
	struct worker_run	 run;
	int			 rc = -1;

	memset(&run, 0, sizeof run);
	run.t0 = now_monotonic();
	if ((src = config_find_source(conf, job->source)) == NULL) {
		job_error_set(&run.err, ERROR_CONFIG, 0, "source '%s' is no "
		    "longer configured", job->source);
		goto done;
	}
	if ((r = config_find_recipe(conf, job->recipe)) == NULL) {
		job_error_set(&run.err, ERROR_CONFIG, 0, "recipe '%s' is no "
		    "longer configured", job->recipe);
		goto done;
	}
	/*
	 * Too large to read at all: refused on its listed size. Lines from
	 * a folder are read in pieces, whatever their size; a copy streams
	 * any size, unless its recipe sets max_input_bytes.
	 */
	if (job->size >= 0 && !(r->kind == RECIPE_LINES &&
	    src->type == SOURCE_DIR) && !(r->kind == RECIPE_COPY &&
	    r->max_input_bytes == 0) &&
	    recipe_admit_size(r, job->key, job->size, &run.err) != 0)
		goto done;
	if (job->input_location != NULL && r->kind == RECIPE_LINES) {
		job_error_set(&run.err, ERROR_CONFIG, 0, "recipe '%s' cannot "
		    "take another recipe's output '%s' as input: it is now a "
		    "lines recipe, which reads its source", r->name,
		    job->input_location);
		goto done;
	}
	switch (r->kind) {
	case RECIPE_IMAGE:
		rc = worker_run_image(w, job, src, r, &run);
		break;
	case RECIPE_LINES:
		rc = worker_run_lines(w, job, src, r, &run);
		break;
	case RECIPE_COPY:
		rc = worker_run_copy(w, job, src, r, &run);
		break;
	default:
		job_error_set(&run.err, ERROR_CONFIG, 0, "recipe '%s': this "
		    "build cannot run its kind of step", r->name);
		break;
	}
done:
	if (rc != 0)
		worker_job_failed(w, job, &run);
	if (run.outcome != NULL) {
		metrics_count("objwatch_jobs_finished_total", 1, "recipe",
		    job->recipe, "outcome", run.outcome);
		metrics_observe("objwatch_job_duration_seconds", job->recipe,
		    now_monotonic() - run.t0);
		metrics_observe("objwatch_queue_wait_seconds", job->recipe,
		    job->queued_s);
		if (strcmp(run.outcome, "done") == 0)
			metrics_observe("objwatch_end_to_end_seconds",
			    job->recipe, job->seen_s + now_monotonic() - run.t0);
	}
	if (run.inlen > 0)
		metrics_count("objwatch_input_bytes_total", run.inlen, "recipe",
		    job->recipe, NULL, NULL);
	job_error_clear(&run.err);
}

/* Sleep until a notification, the stop pipe, or the poll interval. */
static void
worker_wait(struct worker *w)
{
	struct pollfd	 pfd[2];

	/* A NOTIFY that came with the last claim's answer: claim at once. */
	if (db_notified(w->conn))
		return;
	pfd[0].fd = db_socket(w->conn);
	pfd[0].events = POLLIN;
	pfd[1].fd = w->pool->wake[0];
	pfd[1].events = POLLIN;
	if (poll(pfd, 2, (int)(w->pool->conf->poll * 1000)) > 0 &&
	    (pfd[0].revents & (POLLIN | POLLERR | POLLHUP)))
		(void)db_notified(w->conn);
}

static void *
worker_main(void *arg)
{
	struct worker		*w = arg;
	struct workers		*pool = w->pool;
	struct claimed_job	 job;
	char			*cause;
	int			 got;

	health_worker(1, 0);
	while (!*pool->stop) {
		if (!db_ok(w->conn)) {
			db_close(w->conn);
			if ((w->conn = db_connect_retry(pool->stop)) == NULL)
				break;
			if (db_listen_jobs(w->conn, &cause) != 0) {
				log_warnx("worker %d: %s", w->index, cause);
				free(cause);
				db_close(w->conn);
				w->conn = NULL;
				continue;
			}
		}
		if (queue_claim(w->conn, w->name, pool->conf->lease, &job,
		    &got, &cause) != 0) {
			log_warnx("worker %d: cannot claim a job: %s", w->index,
			    cause);
			free(cause);
			if (db_ok(w->conn))
				poll(NULL, 0, 1000);
			continue;
		}
		if (got) {
			log_context(job.source, job.key, job.recipe, job.id);
			health_worker(0, 1);
			worker_run_job(w, &job);
			health_worker(0, -1);
			log_context(NULL, NULL, NULL, 0);
			claimed_job_clear(&job);
			continue;
		}
		worker_wait(w);
	}
	health_worker(-1, 0);
	db_close(w->conn);
	w->conn = NULL;
	return (NULL);
}

/*
 * What names this host and process namespace in jobs.locked_by
 * ("host:pidns:pid:worker"), so a process can tell which leases belong to
 * processes of its own machine that are gone.
 */
const char *
worker_host(void)
{
	static char	 name[160];
	char		 host[64], ns[64];
	ssize_t		 n;

	if (name[0] != '\0')
		return (name);
	if (gethostname(host, sizeof host) == -1)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	if ((n = readlink("/proc/self/ns/pid", ns, sizeof ns - 1)) == -1)
		n = 0;
	ns[n] = '\0';
	snprintf(name, sizeof name, "%s:%s", host, ns);
	return (name);
}

/*
 * Release the jobs leased by workers of processes on this host that no
 * longer exist, so a restart after a crash does not wait for their leases
 * to run out. A pid that exists again (reused) keeps its lease.
 */
void
workers_release_dead(PGconn *conn)
{
	struct strv	 holders = { NULL, 0 };
	char		*prefix, *cause;
	long		 pid;
	size_t		 i;
	int		 n;

	xasprintf(&prefix, "%s:", worker_host());
	if (queue_lease_holders(conn, prefix, &holders, &cause) != 0) {
		log_debug("cannot read the leases of this host: %s", cause);
		free(cause);
		free(prefix);
		return;
	}
	for (i = 0; i < holders.n; i++) {
		pid = strtol(holders.v[i] + strlen(prefix), NULL, 10);
		/* Alive, or someone else's (EPERM): leave its lease. */
		if (pid <= 0 || kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		if (queue_release_holder(conn, holders.v[i], &n,
		    &cause) != 0) {
			log_warnx("cannot release the jobs of stopped process "
			    "%ld: %s", pid, cause);
			free(cause);
		} else if (n > 0)
			log_info("released %d jobs of stopped process %ld", n,
			    pid);
	}
	strv_clear(&holders);
	free(prefix);
}

/* Start conf->workers worker threads; they run until *stop is set. */
struct workers *
workers_start(const struct config *conf, volatile sig_atomic_t *stop)
{
	struct workers	*pool;
	int		 i;

	pool = xcalloc(1, sizeof *pool);
	pool->conf = conf;
	pool->stop = stop;
	pool->n = conf->workers;
	if (pipe2(pool->wake, O_CLOEXEC) == -1)
		fatal("pipe2");
	pool->w = xcalloc(pool->n, sizeof *pool->w);
	for (i = 0; i < pool->n; i++) {
		pool->w[i].pool = pool;
		pool->w[i].index = i;
		snprintf(pool->w[i].name, sizeof pool->w[i].name,
		    "%s:%ld:%d", worker_host(), (long)getpid(), i);
		if (pthread_create(&pool->w[i].thread, NULL, worker_main,
		    &pool->w[i]) != 0)
			fatalx("cannot start worker thread %d", i);
	}
	log_info("%d workers started", pool->n);
	return (pool);
}

/* Wake every worker, wait for each to finish its job, and free the pool. */
void
workers_join(struct workers *pool)
{
	int	 i;

	close(pool->wake[1]);
	for (i = 0; i < pool->n; i++)
		pthread_join(pool->w[i].thread, NULL);
	close(pool->wake[0]);
	free(pool->w);
	free(pool);
}
