/*
 * Metrics for GET /metrics, in Prometheus' text format.
 *
 * Counters and gauges live in one small table of series (name and labels),
 * found by a linear search under a mutex: there are tens of series (per
 * source, per recipe), and updates happen once per job or event, never
 * per pixel. The table lives for the process, so counters survive a
 * reload. Job durations go into a fixed histogram per recipe.
 *
 * What only the database knows (queue depth, oldest pending job) is read
 * when /metrics is scraped, with queries that use the claim index.
 */
#include "config.h"

#include <sys/resource.h>

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "objwatch.h"
#include "banned.h"

#define METRICS_MAX	512

static const double	 metrics_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800 };
#define NBUCKETS	(sizeof metrics_buckets / sizeof metrics_buckets[0])

enum series_kind {
	SERIES_COUNTER,
	SERIES_GAUGE,
	SERIES_HISTOGRAM
};

struct series {
	char			*name;
	char			*labels;	/* a="x",b="y" or "" */
	enum series_kind	 kind;
	double			 value;		/* or the histogram's sum */
	unsigned long long	 count;		/* histogram */
	unsigned long long	 buckets[NBUCKETS];
};

static pthread_mutex_t	 metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct series	 metrics[METRICS_MAX];
static size_t		 nmetrics;

/* Help text per metric name, printed once before its series. */
static const struct {
	const char	*name;
	const char	*type;
	const char	*help;
} metrics_help[] = {
	{ "objwatch_events_total", "counter",
	  "Objects noticed by a source, by how (event, scan, poll, webhook)." },
	{ "objwatch_jobs_queued_total", "counter",
	  "Jobs queued by this process." },
	{ "objwatch_jobs_finished_total", "counter",
	  "Jobs this process finished, by recipe and outcome." },
	{ "objwatch_job_duration_seconds", "histogram",
	  "Time from claim to recorded outcome, by recipe." },
	{ "objwatch_input_bytes_total", "counter",
	  "Bytes of input read, by recipe." },
	{ "objwatch_output_bytes_total", "counter",
	  "Bytes of output written, by recipe." },
	{ "objwatch_table_rows_total", "counter",
	  "Rows loaded into tables by lines recipes, by recipe." },
	{ "objwatch_table_rejects_total", "counter",
	  "Lines that did not parse into rows, by recipe." },
	{ "objwatch_reconcile_runs_total", "counter",
	  "Scans of a source against the ledger (start, timer, overflow)." },
	{ "objwatch_watch_overflows_total", "counter",
	  "inotify queue overflows." },
	{ "objwatch_db_reconnects_total", "counter",
	  "Database connections made again after one was lost." },
	{ "objwatch_database_restarts_total", "counter",
	  "Times the embedded PostgreSQL was started again after it stopped." },
	{ "objwatch_webhook_requests_total", "counter",
	  "Webhook requests, by source and HTTP status." },
	{ "objwatch_source_up", "gauge",
	  "1 while a source is being watched or polled without error." },
	{ "objwatch_source_ready", "gauge",
	  "1 once a source's first scan or listing is done (or another "
	  "process lists it)." },
	{ "objwatch_queue_depth", "gauge",
	  "Jobs waiting or running (from the database), by recipe." },
	{ "objwatch_oldest_pending_seconds", "gauge",
	  "Age of the oldest job not yet finished (from the database)." },
	{ "objwatch_vips_memory_bytes", "gauge",
	  "Memory libvips tracks now." },
	{ "objwatch_vips_memory_highwater_bytes", "gauge",
	  "The most memory libvips has tracked." },
	{ "objwatch_queue_wait_seconds", "histogram",
	  "Time a job was ready before a worker took it, by recipe." },
	{ "objwatch_end_to_end_seconds", "histogram",
	  "Time from an object being seen to its job done, by recipe." },
	{ "objwatch_build_info", "gauge",
	  "1, labelled with the version of objwatch and of libvips." },
	{ "process_resident_memory_bytes", "gauge",
	  "Resident memory size in bytes." },
	{ "process_virtual_memory_bytes", "gauge",
	  "Virtual memory size in bytes." },
	{ "process_open_fds", "gauge",
	  "Number of open file descriptors." },
	{ "process_max_fds", "gauge",
	  "Maximum number of open file descriptors." },
	{ "process_cpu_seconds_total", "counter",
	  "Total user and system CPU time spent in seconds." },
	{ "process_start_time_seconds", "gauge",
	  "Start time of the process since the epoch, in seconds." },
	{ "process_threads", "gauge",
	  "Number of threads." },
};

/*
 * The process_* series Prometheus clients export, from /proc/self: CPU
 * time, memory, threads, start time, file descriptors.
 */
static void
metrics_process(void)
{
	struct rlimit	 rl;
	struct dirent	*de;
	DIR		*d;
	FILE		*f;
	char		 buf[1024], *p;
	unsigned long	 utime, stime, vsize;
	unsigned long long start, btime = 0;
	long		 rss, threads, ticks = sysconf(_SC_CLK_TCK);
	int		 fds = 0;

	if ((f = fopen("/proc/self/stat", "re")) != NULL) {
		if (fgets(buf, sizeof buf, f) != NULL &&
		    (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
		    "%lu %lu %*d %*d %*d %*d %ld %*d %llu %lu %ld", &utime,
		    &stime, &threads, &start, &vsize, &rss) == 6) {
			metrics_set("process_cpu_seconds_total",
			    (double)(utime + stime) / ticks, NULL, NULL);
			metrics_set("process_threads", threads, NULL, NULL);
			metrics_set("process_virtual_memory_bytes", vsize, NULL,
			    NULL);
			metrics_set("process_resident_memory_bytes",
			    (double)rss * sysconf(_SC_PAGESIZE), NULL, NULL);
		}
		fclose(f);
	}
	if ((f = fopen("/proc/stat", "re")) != NULL) {
		while (fgets(buf, sizeof buf, f) != NULL)
			if (sscanf(buf, "btime %llu", &btime) == 1)
				break;
		fclose(f);
		if (btime != 0)
			metrics_set("process_start_time_seconds", btime +
			    (double)start / ticks, NULL, NULL);
	}
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL)
			fds += de->d_name[0] != '.';
		closedir(d);
		metrics_set("process_open_fds", fds - 1, NULL, NULL);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		metrics_set("process_max_fds", (double)rl.rlim_cur, NULL, NULL);
}

/*
 * Make every counter of conf's sources and recipes exist at 0 from the
 * start, so a rate() over them works before the first event.
 */
void
metrics_zero(const struct config *conf)
{
	static const char *const outcomes[] = {
		"done", "failed", "retry", "dead", "wait"
	};
	size_t	 i, j;

	for (i = 0; i < conf->nrecipes; i++) {
		for (j = 0; j < nitems(outcomes); j++)
			metrics_count("objwatch_jobs_finished_total", 0,
			    "recipe", conf->recipes[i]->name, "outcome",
			    outcomes[j]);
		metrics_count("objwatch_input_bytes_total", 0, "recipe",
		    conf->recipes[i]->name, NULL, NULL);
		metrics_count("objwatch_output_bytes_total", 0, "recipe",
		    conf->recipes[i]->name, NULL, NULL);
		if (conf->recipes[i]->kind == RECIPE_LINES) {
			metrics_count("objwatch_table_rows_total", 0, "recipe",
			    conf->recipes[i]->name, NULL, NULL);
			metrics_count("objwatch_table_rejects_total", 0,
			    "recipe", conf->recipes[i]->name, NULL, NULL);
		}
	}
	for (i = 0; i < conf->nsources; i++) {
		metrics_count("objwatch_events_total", 0, "source",
		    conf->sources[i]->name, NULL, NULL);
		metrics_count("objwatch_reconcile_runs_total", 0, "source",
		    conf->sources[i]->name, NULL, NULL);
		metrics_count("objwatch_jobs_queued_total", 0, "source",
		    conf->sources[i]->name, NULL, NULL);
	}
	metrics_count("objwatch_watch_overflows_total", 0, NULL, NULL, NULL,
	    NULL);
	metrics_count("objwatch_db_reconnects_total", 0, NULL, NULL, NULL,
	    NULL);
	metrics_set_labels("objwatch_build_info", 1, "version",
	    PACKAGE_VERSION, "libvips", images_version());
}

/* The series name{labels}, created if new; called with the lock held. */
static struct series *
metrics_find(const char *name, const char *labels, enum series_kind kind)
{
	size_t	 i;

	for (i = 0; i < nmetrics; i++) {
		if (strcmp(metrics[i].name, name) == 0 &&
		    strcmp(metrics[i].labels, labels) == 0)
			return (&metrics[i]);
	}
	if (nmetrics == METRICS_MAX)
		return (NULL);	/* full: drop the update, never fail */
	metrics[nmetrics].name = xstrdup(name);
	metrics[nmetrics].labels = xstrdup(labels);
	metrics[nmetrics].kind = kind;
	return (&metrics[nmetrics++]);
}

/* Escape a label value: backslash, quote and newline. */
static void
metrics_label(char *buf, size_t size, const char *key, const char *value)
{
	size_t	 off;

	off = snprintf(buf, size, "%s=\"", key);
	for (; *value != '\0' && off + 4 < size; value++) {
		if (*value == '\\' || *value == '"')
			buf[off++] = '\\';
		if (*value == '\n') {
			buf[off++] = '\\';
			buf[off++] = 'n';
			continue;
		}
		buf[off++] = *value;
	}
	snprintf(buf + off, size - off, "\"");
}

/* Build "k1=\"v1\",k2=\"v2\"" from up to two label pairs (NULL: none). */
static void
metrics_labels(char *buf, size_t size, const char *k1, const char *v1,
    const char *k2, const char *v2)
{
	char	 a[256], b[256];

	buf[0] = '\0';
	if (k1 == NULL)
		return;
	metrics_label(a, sizeof a, k1, v1);
	if (k2 == NULL) {
		snprintf(buf, size, "%s", a);
		return;
	}
	metrics_label(b, sizeof b, k2, v2);
	snprintf(buf, size, "%s,%s", a, b);
}

/* Add v to a counter with up to two labels (k1, v1, k2, v2 or NULL). */
void
metrics_count(const char *name, double v, const char *k1, const char *v1,
    const char *k2, const char *v2)
{
	struct series	*s;
	char		 labels[600];

	metrics_labels(labels, sizeof labels, k1, v1, k2, v2);
	pthread_mutex_lock(&metrics_lock);
	if ((s = metrics_find(name, labels, SERIES_COUNTER)) != NULL)
		s->value += v;
	pthread_mutex_unlock(&metrics_lock);
}

/* Set a gauge with two labels. */
void
metrics_set_labels(const char *name, double v, const char *k1,
    const char *v1, const char *k2, const char *v2)
{
	struct series	*s;
	char		 labels[600];

	metrics_labels(labels, sizeof labels, k1, v1, k2, v2);
	pthread_mutex_lock(&metrics_lock);
	if ((s = metrics_find(name, labels, SERIES_GAUGE)) != NULL)
		s->value = v;
	pthread_mutex_unlock(&metrics_lock);
}

/* Set a gauge with up to one label. */
void
metrics_set(const char *name, double v, const char *k1, const char *v1)
{
	metrics_set_labels(name, v, k1, v1, NULL, NULL);
}

/* Record one observation in a histogram labelled by recipe. */
void
metrics_observe(const char *name, const char *recipe, double seconds)
{
	struct series	*s;
	char		 labels[300];
	size_t		 i;

	metrics_labels(labels, sizeof labels, "recipe", recipe, NULL, NULL);
	pthread_mutex_lock(&metrics_lock);
	if ((s = metrics_find(name, labels, SERIES_HISTOGRAM)) != NULL) {
		s->value += seconds;
		s->count++;
		for (i = 0; i < NBUCKETS; i++) {
			if (seconds <= metrics_buckets[i])
				s->buckets[i]++;
		}
	}
	pthread_mutex_unlock(&metrics_lock);
}

static void
metrics_header(char **out, const char *name)
{
	char	*next;
	size_t	 i;

	for (i = 0; i < nitems(metrics_help); i++) {
		if (strcmp(metrics_help[i].name, name) != 0)
			continue;
		xasprintf(&next, "%s# HELP %s %s\n# TYPE %s %s\n", *out, name,
		    metrics_help[i].help, name, metrics_help[i].type);
		free(*out);
		*out = next;
		return;
	}
}

static void
metrics_append(char **out, const char *fmt, ...)
{
	va_list	 ap;
	char	*line, *next;

	va_start(ap, fmt);
	xvasprintf(&line, fmt, ap);
	va_end(ap);
	xasprintf(&next, "%s%s", *out, line);
	free(*out);
	free(line);
	*out = next;
}

/* Read what the database knows into gauges; conn may be NULL. */
static void
metrics_from_db(PGconn *conn)
{
	struct queue_depth	*depths;
	double			 oldest;
	char			*cause;
	size_t			 i, n;

	if (conn == NULL)
		return;
	if (queue_depths(conn, &depths, &n, &oldest, &cause) != 0) {
		log_debug("metrics: %s", cause);
		free(cause);
		return;
	}
	/* A recipe whose queue drained reads 0, not its last depth. */
	pthread_mutex_lock(&metrics_lock);
	for (i = 0; i < nmetrics; i++) {
		if (strcmp(metrics[i].name, "objwatch_queue_depth") == 0)
			metrics[i].value = 0;
	}
	pthread_mutex_unlock(&metrics_lock);
	for (i = 0; i < n; i++)
		metrics_set("objwatch_queue_depth", depths[i].jobs, "recipe",
		    depths[i].recipe);
	queue_depths_free(depths, n);
	metrics_set("objwatch_oldest_pending_seconds", oldest, NULL, NULL);
}

/* The whole /metrics page, in Prometheus text format; free it. */
char *
metrics_render(PGconn *conn)
{
	char		*out = xstrdup("");
	const char	*last = "";
	struct series	*s;
	double		 vips_now, vips_high;
	size_t		 i, b;

	metrics_from_db(conn);
	metrics_process();
	health_export_metrics();
	images_memory(&vips_now, &vips_high);
	metrics_set("objwatch_vips_memory_bytes", vips_now, NULL, NULL);
	metrics_set("objwatch_vips_memory_highwater_bytes", vips_high, NULL,
	    NULL);

	pthread_mutex_lock(&metrics_lock);
	/* Group series of one name together, as the format wants. */
	for (i = 0; i < nitems(metrics_help); i++) {
		for (b = 0; b < nmetrics; b++) {
			s = &metrics[b];
			if (strcmp(s->name, metrics_help[i].name) != 0)
				continue;
			if (strcmp(last, s->name) != 0) {
				metrics_header(&out, s->name);
				last = s->name;
			}
			if (s->kind != SERIES_HISTOGRAM) {
				metrics_append(&out, "%s%s%s%s %.17g\n",
				    s->name, *s->labels ? "{" : "", s->labels,
				    *s->labels ? "}" : "", s->value);
				continue;
			}
			{
				size_t	 k;

				for (k = 0; k < NBUCKETS; k++)
					metrics_append(&out, "%s_bucket{%s,"
					    "le=\"%g\"} %llu\n", s->name,
					    s->labels, metrics_buckets[k],
					    s->buckets[k]);
				metrics_append(&out, "%s_bucket{%s,le=\"+Inf\"} "
				    "%llu\n%s_sum{%s} %.17g\n%s_count{%s} "
				    "%llu\n", s->name, s->labels, s->count,
				    s->name, s->labels, s->value, s->name,
				    s->labels, s->count);
			}
		}
	}
	pthread_mutex_unlock(&metrics_lock);
	return (out);
}
