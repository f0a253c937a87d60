/*
 * objwatch: the command line.
 *
 *	objwatch [-v] [-c FILE] COMMAND [ARGS]
 *
 * One binary, one function per command, picked by name from a table. Each
 * command takes -c FILE and -h itself too, so `objwatch check -c x.conf`
 * and `objwatch -c x.conf check` mean the same.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "objwatch.h"
#include "banned.h"

struct command {
	const char	*name;
	const char	*usage;
	const char	*help;
	int		(*fn)(int, char **);
};

static int	cmd_run(int, char **);
static int	cmd_check(int, char **);
static int	cmd_process(int, char **);
static int	cmd_db(int, char **);
static int	cmd_scan(int, char **);
static int	cmd_status(int, char **);
static int	cmd_retry(int, char **);
static int	cmd_wait(int, char **);
static int	cmd_version(int, char **);
static int	cmd_help(int, char **);

static const struct command commands[] = {
	{ "run", "run [-v] [-c FILE]",
	  "Watch the sources, run the workers and record results, in the\n"
	  "foreground, until SIGTERM or SIGINT. Without a database in the\n"
	  "config, an embedded PostgreSQL cluster is started under state_dir\n"
	  "and stopped on exit.", cmd_run },
	{ "check", "check [-c FILE] [--connect]",
	  "Read and check the config; print what it resolves to and exit 0,\n"
	  "or print every error as file:line: message and exit 1. With\n"
	  "--connect, also send one signed listing to each bucket source and\n"
	  "output bucket, and say what the server answered, in words (a\n"
	  "refused signature, a wrong region, a skewed clock...).",
	  cmd_check },
	{ "process", "process [-c FILE] RECIPE INPUT OUTPUT",
	  "Run one recipe on one local file and write the result to OUTPUT\n"
	  "('-' for standard output). Needs no database; gives the same bytes\n"
	  "as the daemon. For a lines recipe, OUTPUT gets the rows its table\n"
	  "would (line number first, tab-separated) and standard error each\n"
	  "rejected line with its reason.", cmd_process },
	{ "db", "db [-c FILE] migrate | url | psql [PSQL-ARGS...]",
	  "migrate  apply the schema migrations the database lacks\n"
	  "url      print the connection string (for psql and other clients)\n"
	  "psql     open psql on the database, starting the embedded cluster\n"
	  "         if needed; later arguments go to psql", cmd_db },
	{ "scan", "scan [-c FILE] [SOURCE...]",
	  "Backfill: queue whatever the sources (all, or those named) hold\n"
	  "that the ledger lacks, process it with this process's workers\n"
	  "(running daemons help), and show progress (done/total, rate,\n"
	  "ETA) until it drains; a bar on a terminal, a line every 5 s\n"
	  "otherwise.", cmd_scan },
	{ "status", "status [-c FILE] [--json]",
	  "Show jobs by state, finishing rates over the last 1, 5 and 15\n"
	  "minutes and the age of the oldest pending job, per source and\n"
	  "recipe, then failures by error class. --json prints the same as\n"
	  "one JSON object.", cmd_status },
	{ "retry", "retry [-c FILE] [--dead] [--recipe R] [--source S] "
	  "[--class C] [--since T] [--key PATTERN]",
	  "Requeue failed jobs (with --dead, dead ones too), optionally only\n"
	  "those of a recipe, a source, an error class (decode, limit, io,\n"
	  "storage, config), finished within T (such as 30m or 2h), or whose\n"
	  "key matches PATTERN (SQL LIKE: % for any run of characters).\n"
	  "Each starts afresh with its attempts reset.", cmd_retry },
	{ "wait", "wait [-c FILE] [-t SECONDS] [--timeout SECONDS] SOURCE KEY "
	  "[RECIPE...]",
	  "Wait until the newest version of KEY in SOURCE is recorded and its\n"
	  "jobs (of the recipes named, or all, chained ones included) are\n"
	  "final, then print one line per job: recipe, state, and the output\n"
	  "or the error, tab-separated. Exits 0 when all are done, 1 when one\n"
	  "failed or is dead, 3 when -t SECONDS (such as 30 or 5m) ran out\n"
	  "first, 2 on a usage, config or database error. A running daemon\n"
	  "does the work: the embedded database must be up.", cmd_wait },
	{ "version", "version", "Print the versions of objwatch and its "
	  "libraries.", cmd_version },
	{ "help", "help [COMMAND]", "Describe a command.", cmd_help },
};

static const char	*config_path;
static int		 verbose;
static int		 config_fail_status = 1;	/* load_config's exit */
static int		 long_running;	/* run: log at the configured level */

static void
usage_all(FILE *f)
{
	size_t	 i;

	fprintf(f, "usage: objwatch [-v] [-c FILE] COMMAND [ARGS]\n\n"
	    "commands:\n");
	for (i = 0; i < nitems(commands); i++)
		fprintf(f, "  objwatch %s\n", commands[i].usage);
	fprintf(f, "\nThe config is -c FILE, else $OBJWATCH_CONFIG, else "
	    "%s/objwatch/objwatch.conf.\n'objwatch help COMMAND' or "
	    "'objwatch COMMAND --help' describes a command.\n", SYSCONFDIR);
}

static const struct command *
command_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < nitems(commands); i++) {
		if (strcmp(commands[i].name, name) == 0)
			return (&commands[i]);
	}
	return (NULL);
}

static void
command_help(const struct command *cmd, FILE *f)
{
	fprintf(f, "usage: objwatch %s\n\n%s\n", cmd->usage, cmd->help);
}

/*
 * Parse a command's own options: -c FILE, -v and -h/--help for every
 * command, plus the command's extra long options, handed to fn with their
 * value (fn returns -1 for a bad value). Returns the index of the first
 * argument; parsing stops there, so later options are left alone (psql's).
 */
static int
command_options(const struct command *cmd, int argc, char **argv,
    const struct option *extra, int (*fn)(int, const char *))
{
	static const struct option common[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
	};
	struct option	*longopts;
	char		 shortopts[64] = "+c:hv";
	size_t		 n = 0, i, len;
	int		 ch;

	while (extra != NULL && extra[n].name != NULL)
		n++;
	longopts = xcalloc(nitems(common) + n + 1, sizeof *longopts);
	memcpy(longopts, common, sizeof common);
	for (i = 0; i < n; i++) {
		longopts[nitems(common) + i] = extra[i];
		/* an extra whose val is a letter is that short option too */
		len = strlen(shortopts);
		if (extra[i].val < 256 && len + 3 <= sizeof shortopts) {
			shortopts[len++] = extra[i].val;
			if (extra[i].has_arg == required_argument)
				shortopts[len++] = ':';
			shortopts[len] = '\0';
		}
	}

	optind = 1;
	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			command_help(cmd, stdout);
			exit(0);
		default:
			if (ch != '?' && ch != ':' && fn != NULL &&
			    fn(ch, optarg) == 0)
				break;
			if (ch == '?' || ch == ':')
				command_help(cmd, stderr);
			exit(2);
		}
	}
	free(longopts);
	return (optind);
}

/* Load the config or exit 1 listing every error. */
static struct config *
load_config(void)
{
	struct config	*conf;
	struct strv	 errors = { NULL, 0 };
	const char	*path = config_path;
	size_t		 i;

	if (path == NULL)
		path = getenv("OBJWATCH_CONFIG");
	if (path == NULL || *path == '\0')
		path = SYSCONFDIR "/objwatch/objwatch.conf";
	/* Steps check what they can against libvips (AVIF, marks). */
	images_init("objwatch");
	if ((conf = config_load(path, &errors)) == NULL) {
		for (i = 0; i < errors.n; i++)
			fprintf(stderr, "%s\n", errors.v[i]);
		strv_clear(&errors);
		exit(config_fail_status);
	}
	if (verbose)
		conf->log_level = LOG_LEVEL_DEBUG;
	else if (!long_running && conf->log_level > LOG_LEVEL_WARN)
		conf->log_level = LOG_LEVEL_WARN;
	log_init(conf->log_level, conf->log_json);
	return (conf);
}

/* Load the config for a reload: NULL, with the errors logged, if bad. */
static struct config *
reload_config(const struct config *old)
{
	struct config	*conf;
	struct strv	 errors = { NULL, 0 };
	size_t		 i;

	if ((conf = config_load(old->file, &errors)) == NULL) {
		for (i = 0; i < errors.n; i++)
			log_warnx("%s", errors.v[i]);
		log_warnx("SIGHUP: the config has errors; still running the "
		    "previous one");
		strv_clear(&errors);
		return (NULL);
	}
	if ((old->database == NULL) != (conf->database == NULL) ||
	    (old->database != NULL &&
	    strcmp(old->database, conf->database) != 0) ||
	    strcmp(old->state_dir, conf->state_dir) != 0)
		log_warnx("SIGHUP: database and state_dir changes take effect "
		    "at the next start; keeping the current database");
	if (verbose)
		conf->log_level = LOG_LEVEL_DEBUG;
	return (conf);
}

static int
cmd_run(int argc, char **argv)
{
	struct config		*conf, *next;
	struct daemon		 d;
	PGconn			*conn;
	sigset_t		 set;
	char			*cause = NULL;
	int			 sig, njobs;

	if (command_options(command_find("run"), argc, argv, NULL,
	    NULL) != argc) {
		command_help(command_find("run"), stderr);
		return (2);
	}
	long_running = 1;
	notify_init();
	conf = load_config();
	if (conf->log_file != NULL && log_open(conf->log_file) != 0)
		fatal("cannot open log file '%s'", conf->log_file);
	images_init("objwatch");

	/* Signals are taken by sigwait below, in this thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (db_setup(conf, &cause) != 0)
		fatalx("%s", cause);
	if ((conn = db_connect(&cause)) == NULL) {
		db_teardown();
		fatalx("%s", cause);
	}
	if (db_migrate(conn, verbose, &cause) != 0) {
		db_close(conn);
		db_teardown();
		fatalx("cannot migrate the database: %s", cause);
	}
	workers_release_dead(conn);
	if (queue_reprocess(conn, conf, &njobs, &cause) != 0) {
		db_close(conn);
		db_teardown();
		fatalx("cannot queue reprocessing: %s", cause);
	}
	db_close(conn);

	if (s3_init(&cause) != 0) {
		db_teardown();
		fatalx("%s", cause);
	}
	db_supervise_start();
	if (daemon_start(&d, conf, &cause) != 0) {
		db_teardown();
		fatalx("%s", cause);
	}
	notify_started(conf);
	for (;;) {
		if (notify_sigwait(&set, &sig) != 0)
			continue;
		if (sig != SIGHUP) {
			notify_stopping();
			log_info("%s: stopping after the jobs in hand",
			    sig == SIGINT ? "SIGINT" : "SIGTERM");
			break;
		}
		if (conf->log_file != NULL && log_open(conf->log_file) != 0)
			log_warn("SIGHUP: cannot reopen log file '%s'",
			    conf->log_file);
		if ((next = reload_config(conf)) == NULL)
			continue;
		log_info("SIGHUP: reloading '%s'", conf->file);
		notify_reloading(conf);
		log_init(next->log_level, next->log_json);
		if (log_open(next->log_file) != 0)
			log_warn("cannot open log file '%s'", next->log_file);
		if (daemon_reload(&d, next, &cause) != 0) {
			/* a reload never stops the daemon: back to the old */
			log_warnx("SIGHUP: %s; still running the previous "
			    "config", cause);
			FREE_NULL(cause);
			config_free(next);
			log_init(conf->log_level, conf->log_json);
			if (log_open(conf->log_file) != 0)
				log_warn("cannot open log file '%s'",
				    conf->log_file);
			if (daemon_reload(&d, conf, &cause) != 0) {
				db_teardown();
				fatalx("SIGHUP: the previous config does not "
				    "start again either: %s", cause);
			}
		} else {
			config_free(conf);
			conf = next;
		}
		notify_reloaded(conf);
	}
	daemon_stop(&d);
	s3_cleanup();
	db_teardown();
	config_free(conf);
	images_shutdown();
	log_info("stopped");
	return (0);
}

static int	 check_connect;

static int
check_option(int ch, const char *arg)
{
	(void)arg;
	if (ch != 256)
		return (-1);
	check_connect = 1;
	return (0);
}

/*
 * One signed listing of each bucket source, and of each output bucket
 * with the keys it is written with; a line each. Returns how many failed.
 */
static int
check_buckets(const struct config *conf)
{
	const struct recipe	*r;
	struct source		 out;
	struct strv		 seen = { NULL, 0 };
	char			*report, *name;
	size_t			 i, j;
	int			 failed = 0, rc;

	for (i = 0; i < conf->nsources; i++) {
		if (conf->sources[i]->type != SOURCE_S3)
			continue;
		rc = s3_check_connect(conf->sources[i], &report);
		printf("; connect: %s\n", report);
		failed += rc != 0;
		free(report);
	}
	for (i = 0; i < conf->nrecipes; i++) {
		r = conf->recipes[i];
		if (r->output_kind != OUTPUT_S3 || r->output_via == NULL)
			continue;
		for (j = 0; j < seen.n; j++)
			if (strcmp(seen.v[j], r->output_bucket) == 0)
				break;
		if (j < seen.n || (strcmp(r->output_bucket,
		    r->output_via->bucket) == 0))
			continue;	/* listed already */
		strv_push(&seen, r->output_bucket);
		out = *r->output_via;
		/* reads "source 'S' for recipe 'R': listed bucket..." */
		xasprintf(&name, "%s' for recipe '%s",
		    r->output_via->name, r->name);
		out.name = name;
		out.bucket = r->output_bucket;
		out.prefix = "";
		rc = s3_check_connect(&out, &report);
		printf("; connect: %s\n", report);
		failed += rc != 0;
		free(report);
		free(name);
	}
	strv_clear(&seen);
	return (failed);
}

static int
cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connect", no_argument, NULL, 256 },
		{ NULL, 0, NULL, 0 }
	};
	struct config	*conf;
	char		*cause;
	int		 rc = 0;

	if (command_options(command_find("check"), argc, argv, longopts,
	    check_option) != argc) {
		command_help(command_find("check"), stderr);
		return (2);
	}
	conf = load_config();
	config_print(conf, stdout);
	if (check_connect) {
		if (s3_init(&cause) != 0)
			fatalx("%s", cause);
		rc = check_buckets(conf) != 0;
		s3_cleanup();
	}
	config_free(conf);
	return (rc);
}

/* Write all of buf to fd. */
static int
write_all(int fd, const void *buf, size_t len)
{
	size_t	 off;
	ssize_t	 n;

	for (off = 0; off < len; off += n) {
		n = write(fd, (const char *)buf + off, len - off);
		if (n == -1 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n == -1)
			return (-1);
	}
	return (0);
}

/*
 * Write process's output: "-" is standard output; a device or fifo (such
 * as /dev/null) is written in place; a file is replaced atomically.
 */
static int
process_write(const char *out, const void *buf, size_t len, char **cause)
{
	struct stat	 st;
	int		 fd;

	if (strcmp(out, "-") == 0) {
		if (write_all(STDOUT_FILENO, buf, len) != 0) {
			xasprintf(cause, "writing to standard output: %s",
			    strerror(errno));
			return (-1);
		}
		return (0);
	}
	if (stat(out, &st) == 0 && (S_ISCHR(st.st_mode) ||
	    S_ISFIFO(st.st_mode))) {
		if ((fd = open(out, O_WRONLY | O_CLOEXEC)) == -1 ||
		    write_all(fd, buf, len) != 0) {
			xasprintf(cause, "writing to '%s': %s", out,
			    strerror(errno));
			if (fd != -1)
				close(fd);
			return (-1);
		}
		close(fd);
		return (0);
	}
	return (write_file_atomic(out, buf, len, cause));
}

/*
 * process for a copy recipe: the file streamed to output as the daemon
 * writes it (gzipped if the step says so), "-" being standard output,
 * and its size and SHA-256 on standard error.
 */
static int
process_copy(const struct recipe *r, const char *in, const char *out)
{
	struct copy_result	 res;
	struct job_error	 err;
	struct stat		 st;
	char			*tmp = NULL;
	int			 in_fd, out_fd, level, rc;

	memset(&err, 0, sizeof err);
	level = copy_gzip_level(r->steps[0].data);
	if ((in_fd = open(in, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(in_fd, &st) == -1) {
		fprintf(stderr, "objwatch: cannot read '%s': %s\n", in,
		    strerror(errno));
		if (in_fd != -1)
			close(in_fd);
		return (1);
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "objwatch: '%s' is not a regular file\n", in);
		close(in_fd);
		return (1);
	}
	if (strcmp(out, "-") == 0)
		out_fd = STDOUT_FILENO;
	else if (store_file_begin(out, &tmp, &out_fd, &err) != 0) {
		fprintf(stderr, "objwatch: %s\n", err.msg);
		job_error_clear(&err);
		close(in_fd);
		return (1);
	}
	rc = copy_fd(in_fd, (uint64_t)st.st_size, in, out_fd, tmp != NULL ?
	    tmp : "standard output", level, &res, &err);
	if (tmp != NULL) {
		if (rc == 0)
			rc = store_file_flush(tmp, out_fd, &err);
		/* commit closes the file, renamed or removed */
		if (rc == 0)
			rc = store_file_commit(tmp, out, out_fd, &err);
		else
			store_file_discard(tmp, out_fd);
	}
	close(in_fd);
	free(tmp);
	if (rc != 0) {
		fprintf(stderr, "objwatch: %s: %s\n",
		    error_class_name(err.cls), err.msg);
		job_error_clear(&err);
		return (1);
	}
	fprintf(stderr, "%s -> %s: %" PRId64 " bytes%s, sha256 %s (input "
	    "%s)\n", in, out, res.out_bytes, level > 0 ? " gzip" : "",
	    res.out_sha256, res.in_sha256);
	return (0);
}

/*
 * process for a lines recipe: the rows the table would get, line number
 * first, tab-separated, to out; each reject on standard error, then what
 * the file gave. The exit status is 1 only when the file cannot be read
 * as lines at all.
 */
static int
process_lines(const struct recipe *r, const char *in, const void *data,
    size_t len, const char *out)
{
	struct table_stats	 st;
	struct buf		 rows, rejects;
	char			*cause;
	int			 rc = 1;

	buf_init(&rows);
	buf_init(&rejects);
	if (lines_run_text(r->steps[0].data, data, len, &rows, &rejects, &st,
	    &cause) != 0) {
		fprintf(stderr, "objwatch: decode: '%s': %s\n", in, cause);
		free(cause);
		goto out;
	}
	fputs(rejects.s, stderr);
	if (process_write(out, rows.s, rows.len, &cause) != 0) {
		fprintf(stderr, "objwatch: %s\n", cause);
		free(cause);
		goto out;
	}
	fprintf(stderr, "%s -> %s: %" PRId64 " lines, %" PRId64 " rows, %"
	    PRId64 " dropped, %" PRId64 " rejected%s\n", in, out, st.lines,
	    st.rows, st.dropped, st.rejected, st.gzip ? " (gzip)" : "");
	rc = 0;
out:
	buf_clear(&rows);
	buf_clear(&rejects);
	return (rc);
}

static int
cmd_process(int argc, char **argv)
{
	struct config		*conf;
	const struct recipe	*r;
	struct image_job	 job;
	void			*data;
	size_t			 len;
	char			*cause;
	int			 i, rc = 1;

	i = command_options(command_find("process"), argc, argv,
	    NULL, NULL);
	if (argc - i != 3) {
		command_help(command_find("process"), stderr);
		return (2);
	}
	conf = load_config();
	images_init("objwatch");
	if ((r = config_find_recipe(conf, argv[i])) == NULL) {
		fprintf(stderr, "objwatch: no recipe '%s' in '%s'\n", argv[i],
		    conf->file);
		goto out;
	}
	if (r->kind == RECIPE_COPY) {
		rc = process_copy(r, argv[i + 1], argv[i + 2]);
		goto out;
	}
	if (read_file(argv[i + 1], &data, &len, 0, &cause) != 0) {
		fprintf(stderr, "objwatch: %s\n", cause);
		free(cause);
		goto out;
	}
	if (r->kind == RECIPE_LINES) {
		rc = process_lines(r, argv[i + 1], data, len, argv[i + 2]);
		free(data);
		goto out;
	}
	if (recipe_run_bytes(r, data, len, argv[i + 1], &job) != 0) {
		fprintf(stderr, "objwatch: %s: %s\n",
		    error_class_name(job.error.cls), job.error.msg);
		image_job_clear(&job);
		free(data);
		goto out;
	}
	free(data);
	if (process_write(argv[i + 2], job.out, job.outlen, &cause) != 0) {
		fprintf(stderr, "objwatch: %s\n", cause);
		free(cause);
		image_job_clear(&job);
		goto out;
	}
	fprintf(stderr, "%s -> %s: %dx%d %s, %zu bytes\n", argv[i + 1],
	    argv[i + 2], job.width, job.height, job.format, job.outlen);
	image_job_clear(&job);
	rc = 0;
out:
	config_free(conf);
	images_shutdown();
	return (rc);
}

static int
db_run_psql(char **args, int nargs)
{
	char	**argv;
	pid_t	  pid;
	int	  status, i;

	argv = xcalloc(nargs + 3, sizeof *argv);
	argv[0] = (char *)"psql";
	argv[1] = (char *)db_url();
	for (i = 0; i < nargs; i++)
		argv[i + 2] = args[i];
	signal(SIGINT, SIG_IGN);	/* Ctrl-C is psql's to handle */
	signal(SIGQUIT, SIG_IGN);
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		execvp(PSQL_PATH, argv);
		execvp("psql", argv);
		fprintf(stderr, "objwatch: cannot run psql: %s (install "
		    "postgresql-client)\n", strerror(errno));
		_exit(127);
	}
	free(argv);
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR)
			fatal("waitpid");
	}
	if (WIFEXITED(status))
		return (WEXITSTATUS(status));
	return (1);
}

static int
cmd_db(int argc, char **argv)
{
	struct config	*conf;
	struct cluster	*cl;
	PGconn		*conn;
	char		*cause;
	int		 i, rc;

	i = command_options(command_find("db"), argc, argv, NULL,
	    NULL);
	if (i >= argc) {
		command_help(command_find("db"), stderr);
		return (2);
	}
	if (strcmp(argv[i], "url") == 0) {
		if (argc - i != 1) {
			command_help(command_find("db"), stderr);
			return (2);
		}
		conf = load_config();
		if (conf->database != NULL)
			printf("%s\n", conf->database);
		else {
			if ((cl = cluster_open(conf->state_dir, &cause)) ==
			    NULL)
				fatalx("%s", cause);
			printf("%s\n", cluster_url(cl));
			/* not started, so closing it stops nothing */
			cluster_close(cl);
		}
		config_free(conf);
		return (0);
	}
	if (strcmp(argv[i], "migrate") == 0) {
		if (argc - i != 1) {
			command_help(command_find("db"), stderr);
			return (2);
		}
		long_running = 1;	/* what it applies is its output */
		conf = load_config();
		if (db_setup(conf, &cause) != 0)
			fatalx("%s", cause);
		if ((conn = db_connect(&cause)) == NULL) {
			db_teardown();
			fatalx("%s", cause);
		}
		rc = db_migrate(conn, 1, &cause);
		db_close(conn);
		db_teardown();
		config_free(conf);
		if (rc != 0)
			fatalx("cannot migrate the database: %s", cause);
		return (0);
	}
	if (strcmp(argv[i], "psql") == 0) {
		conf = load_config();
		if (db_setup(conf, &cause) != 0)
			fatalx("%s", cause);
		rc = db_run_psql(argv + i + 1, argc - i - 1);
		db_teardown();
		config_free(conf);
		return (rc);
	}
	fprintf(stderr, "objwatch: unknown db command '%s'\n", argv[i]);
	command_help(command_find("db"), stderr);
	return (2);
}

/* Open the database for a one-shot command, or exit with the reason. */
static PGconn *
command_connect(const struct config *conf)
{
	PGconn	*conn;
	char	*cause;

	if (db_setup(conf, &cause) != 0)
		fatalx("%s", cause);
	if ((conn = db_connect(&cause)) == NULL ||
	    db_migrate(conn, 0, &cause) != 0) {
		db_close(conn);
		db_teardown();
		fatalx("%s", cause);
	}
	return (conn);
}

static volatile sig_atomic_t scan_stop;

static void
scan_signal(int sig)
{
	(void)sig;
	scan_stop = 1;
}

static int
cmd_scan(int argc, char **argv)
{
	const struct command	*cmd = command_find("scan");
	struct config		*conf;
	PGconn			*conn;
	struct source		*src;
	char			*cause;
	size_t			 i, j, kept;
	int			 first, rc;

	first = command_options(cmd, argc, argv, NULL, NULL);
	long_running = 1;
	conf = load_config();
	/* Only the sources named, if any. */
	for (j = first; j < (size_t)argc; j++) {
		if (config_find_source(conf, argv[j]) == NULL) {
			fprintf(stderr, "objwatch: no source '%s' in '%s'\n",
			    argv[j], conf->file);
			config_free(conf);
			return (1);
		}
	}
	if (first < argc) {
		/*
		 * The named ones first; the others stay allocated past
		 * nsources (a recipe may write through one) and are freed
		 * with the config.
		 */
		conf->nsources_all = conf->nsources;
		for (i = 0, kept = 0; i < conf->nsources; i++) {
			src = conf->sources[i];
			for (j = first; j < (size_t)argc; j++) {
				if (strcmp(argv[j], src->name) == 0)
					break;
			}
			if (j < (size_t)argc) {
				conf->sources[i] = conf->sources[kept];
				conf->sources[kept++] = src;
			}
		}
		conf->nsources = kept;
	}
	images_init("objwatch");
	signal(SIGINT, scan_signal);
	signal(SIGTERM, scan_signal);
	signal(SIGPIPE, SIG_IGN);
	conn = command_connect(conf);
	workers_release_dead(conn);
	db_close(conn);
	if (s3_init(&cause) != 0) {
		db_teardown();
		fatalx("%s", cause);
	}
	rc = scan_run(conf, &scan_stop, &cause);
	if (rc != 0 && rc != SCAN_FAILED) {
		fprintf(stderr, "objwatch: %s\n", cause);
		free(cause);
	}
	s3_cleanup();
	db_teardown();
	config_free(conf);
	images_shutdown();
	return (rc == 0 ? 0 : 1);
}

static int	 status_json;

static int
status_option(int ch, const char *arg)
{
	(void)arg;
	if (ch != 256)
		return (-1);
	status_json = 1;
	return (0);
}

static int
cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 256 },
		{ NULL, 0, NULL, 0 }
	};
	const struct command	*cmd = command_find("status");
	struct config		*conf;
	PGconn			*conn;
	char			*cause;
	int			 rc = 0;

	if (command_options(cmd, argc, argv, longopts, status_option) !=
	    argc) {
		command_help(cmd, stderr);
		return (2);
	}
	conf = load_config();
	conn = command_connect(conf);
	if (status_print(conn, status_json, stdout, &cause) != 0) {
		fprintf(stderr, "objwatch: %s\n", cause);
		free(cause);
		rc = 1;
	}
	db_close(conn);
	db_teardown();
	config_free(conf);
	return (rc);
}

static struct retry_filter retry_filter;

static int
retry_option(int ch, const char *value)
{
	static const char *const classes[] = { "decode", "limit", "io",
	    "storage", "config", NULL };
	int	 j;

	switch (ch) {
	case 256:
		retry_filter.dead = 1;
		return (0);
	case 257:
		retry_filter.recipe = value;
		return (0);
	case 258:
		retry_filter.source = value;
		return (0);
	case 259:
		for (j = 0; classes[j] != NULL; j++) {
			if (strcmp(classes[j], value) == 0) {
				retry_filter.error_class = value;
				return (0);
			}
		}
		fprintf(stderr, "objwatch: unknown error class '%s' (expected "
		    "decode, limit, io, storage or config)\n", value);
		return (-1);
	case 260:
		if (parse_duration(value, &retry_filter.since) != 0 ||
		    retry_filter.since <= 0) {
			fprintf(stderr, "objwatch: --since takes a duration "
			    "such as 30m, 2h or 7d, not '%s'\n", value);
			return (-1);
		}
		return (0);
	case 261:
		retry_filter.key_like = value;
		return (0);
	}
	return (-1);
}

static int
cmd_retry(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dead", no_argument, NULL, 256 },
		{ "recipe", required_argument, NULL, 257 },
		{ "source", required_argument, NULL, 258 },
		{ "class", required_argument, NULL, 259 },
		{ "since", required_argument, NULL, 260 },
		{ "key", required_argument, NULL, 261 },
		{ NULL, 0, NULL, 0 }
	};
	const struct command	*cmd = command_find("retry");
	struct config		*conf;
	PGconn			*conn;
	char			*cause;
	long long		 n;
	int			 rc = 0;

	if (command_options(cmd, argc, argv, longopts, retry_option) !=
	    argc) {
		command_help(cmd, stderr);
		return (2);
	}
	conf = load_config();
	conn = command_connect(conf);
	if (retry_jobs(conn, &retry_filter, &n, &cause) != 0) {
		fprintf(stderr, "objwatch: %s\n", cause);
		free(cause);
		rc = 1;
	} else
		printf("requeued %lld job%s\n", n, n == 1 ? "" : "s");
	db_close(conn);
	db_teardown();
	config_free(conf);
	return (rc);
}

static double	 wait_timeout = -1;	/* forever */

static int
wait_option(int ch, const char *value)
{
	if (ch != 't')
		return (-1);
	if (parse_duration(value, &wait_timeout) != 0) {
		fprintf(stderr, "objwatch: -t takes seconds or a duration such "
		    "as 30s or 5m, not '%s'\n", value);
		return (-1);
	}
	return (0);
}

static int
cmd_wait(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command	*cmd = command_find("wait");
	struct config		*conf;
	struct strv		 recipes = { NULL, 0 };
	PGconn			*conn;
	char			*cause;
	int			 first, i, rc = WAIT_ERROR;

	first = command_options(cmd, argc, argv, longopts, wait_option);
	if (argc - first < 2) {
		command_help(cmd, stderr);
		return (WAIT_ERROR);
	}
	config_fail_status = WAIT_ERROR;
	conf = load_config();
	if (config_find_source(conf, argv[first]) == NULL) {
		fprintf(stderr, "objwatch: no source '%s' in '%s'\n",
		    argv[first], conf->file);
		goto out;
	}
	for (i = first + 2; i < argc; i++) {
		if (config_find_recipe(conf, argv[i]) == NULL) {
			fprintf(stderr, "objwatch: no recipe '%s' in '%s'\n",
			    argv[i], conf->file);
			goto out;
		}
		strv_push(&recipes, argv[i]);
	}
	if (db_attach(conf, &cause) != 0) {
		fprintf(stderr, "objwatch: %s\n", cause);
		free(cause);
		goto out;
	}
	if ((conn = db_connect(&cause)) == NULL ||
	    db_migrate(conn, 0, &cause) != 0) {
		fprintf(stderr, "objwatch: %s\n", cause);
		free(cause);
		db_close(conn);
		db_teardown();
		goto out;
	}
	rc = wait_object(conn, argv[first], argv[first + 1], &recipes,
	    wait_timeout, stdout, &cause);
	if (rc == WAIT_ERROR) {
		fprintf(stderr, "objwatch: %s\n", cause);
		free(cause);
	} else if (rc == WAIT_TIMEOUT)
		fprintf(stderr, "objwatch: '%s' in source '%s' is not "
		    "processed yet (timed out)\n", argv[first + 1],
		    argv[first]);
	db_close(conn);
	db_teardown();
out:
	strv_clear(&recipes);
	config_free(conf);
	return (rc);
}

static int
cmd_version(int argc, char **argv)
{
	if (argc > 0 && command_options(command_find("version"), argc,
	    argv, NULL, NULL) != argc) {
		command_help(command_find("version"), stderr);
		return (2);
	}
	printf("objwatch %s\nlibvips %s\nlibpq %d\n", PACKAGE_VERSION,
	    images_version(), db_lib_version());
	return (0);
}

static int
cmd_help(int argc, char **argv)
{
	const struct command	*cmd;

	if (argc < 2) {
		usage_all(stdout);
		return (0);
	}
	if ((cmd = command_find(argv[1])) == NULL) {
		fprintf(stderr, "objwatch: unknown command '%s'\n", argv[1]);
		return (2);
	}
	command_help(cmd, stdout);
	return (0);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command	*cmd;
	int			 ch;

	random_seed();
	while ((ch = getopt_long(argc, argv, "+c:hvV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'V':
			return (cmd_version(0, NULL));
		case 'h':
			usage_all(stdout);
			return (0);
		default:
			usage_all(stderr);
			return (2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage_all(stderr);
		return (2);
	}
	/*
	 * Whether a file is still being written is asked with a read lease
	 * (source-dir.c), held for a moment. A writer opening the file in
	 * that moment breaks the lease, and the kernel tells the holder with
	 * SIGIO, whose default action ends the process.
	 */
	signal(SIGIO, SIG_IGN);
	if ((cmd = command_find(argv[0])) == NULL) {
		fprintf(stderr, "objwatch: unknown command '%s'\n", argv[0]);
		usage_all(stderr);
		return (2);
	}
	return (cmd->fn(argc, argv));
}
