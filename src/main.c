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
#include <sys/wait.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vips/vips.h>

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
static int	cmd_version(int, char **);
static int	cmd_help(int, char **);

static const struct command commands[] = {
	{ "run", "run [-v] [-c FILE]",
	  "Watch the sources, run the workers and record results, in the\n"
	  "foreground, until SIGTERM or SIGINT. Without a database in the\n"
	  "config, an embedded PostgreSQL cluster is started under state_dir\n"
	  "and stopped on exit.", cmd_run },
	{ "check", "check [-c FILE]",
	  "Read and check the config; print what it resolves to and exit 0,\n"
	  "or print every error as file:line: message and exit 1.",
	  cmd_check },
	{ "process", "process [-c FILE] RECIPE INPUT OUTPUT",
	  "Run one recipe on one local file and write the result to OUTPUT\n"
	  "('-' for standard output). Needs no database; gives the same bytes\n"
	  "as the daemon.", cmd_process },
	{ "db", "db [-c FILE] migrate | url | psql [PSQL-ARGS...]",
	  "migrate  apply the schema migrations the database lacks\n"
	  "url      print the connection string (for psql and other clients)\n"
	  "psql     open psql on the database, starting the embedded cluster\n"
	  "         if needed; later arguments go to psql", cmd_db },
	{ "version", "version", "Print the versions of objwatch and its "
	  "libraries.", cmd_version },
	{ "help", "help [COMMAND]", "Describe a command.", cmd_help },
};

static const char	*config_path;
static int		 verbose;
static volatile sig_atomic_t stop_flag;

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
 * Parse a command's own options (-c FILE, -v, -h/--help); returns the index
 * of its first argument. stop_at_args leaves later options alone (psql's).
 */
static int
command_options(const struct command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+c:hv", longopts, NULL)) != -1) {
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
			command_help(cmd, stderr);
			exit(2);
		}
	}
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
	if ((conf = config_load(path, &errors)) == NULL) {
		for (i = 0; i < errors.n; i++)
			fprintf(stderr, "%s\n", errors.v[i]);
		strv_clear(&errors);
		exit(1);
	}
	if (verbose)
		conf->log_level = LOG_LEVEL_DEBUG;
	log_init(conf->log_level, conf->log_json);
	return (conf);
}

static int
cmd_run(int argc, char **argv)
{
	struct config		*conf;
	struct workers		*workers;
	struct dir_watcher	*dirs;
	struct s3_pollers	*pollers;
	struct http_server	*http;
	PGconn			*conn;
	sigset_t		 set;
	char			*cause = NULL;
	size_t			 i;
	int			 sig;

	if (command_options(&commands[0], argc, argv) != argc) {
		command_help(&commands[0], stderr);
		return (2);
	}
	conf = load_config();
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
		PQfinish(conn);
		db_teardown();
		fatalx("cannot migrate the database: %s", cause);
	}
	PQfinish(conn);

	if (s3_init(&cause) != 0) {
		db_teardown();
		fatalx("%s", cause);
	}
	/*
	 * The endpoint is needed when a source takes webhooks; otherwise a
	 * busy port only costs /healthz, and should not stop the daemon.
	 */
	if ((http = http_start(conf, &cause)) == NULL) {
		for (i = 0; i < conf->nsources; i++) {
			if (conf->sources[i]->webhook_token_value != NULL) {
				db_teardown();
				fatalx("%s", cause);
			}
		}
		log_warnx("%s: the HTTP endpoint is off", cause);
		FREE_NULL(cause);
	}
	dirs = dir_watcher_start(conf, &stop_flag, &cause);
	if (dirs == NULL && cause != NULL) {
		db_teardown();
		fatalx("%s", cause);
	}
	pollers = s3_pollers_start(conf, &stop_flag);
	workers = workers_start(conf, &stop_flag);
	log_info("objwatch %s running: %zu sources, %zu recipes, %d workers",
	    PACKAGE_VERSION, conf->nsources, conf->nrecipes, conf->workers);

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("SIGHUP: reloading is not supported yet; "
			    "restart objwatch to apply config changes");
			continue;
		}
		log_info("%s: stopping after the jobs in hand",
		    sig == SIGINT ? "SIGINT" : "SIGTERM");
		break;
	}
	stop_flag = 1;
	http_stop(http);
	workers_join(workers);
	s3_pollers_join(pollers);
	dir_watcher_join(dirs);
	s3_cleanup();
	db_teardown();
	config_free(conf);
	vips_shutdown();
	log_info("stopped");
	return (0);
}

static int
cmd_check(int argc, char **argv)
{
	struct config	*conf;

	if (command_options(&commands[1], argc, argv) != argc) {
		command_help(&commands[1], stderr);
		return (2);
	}
	if (VIPS_INIT("objwatch") != 0)
		fatalx("cannot start libvips");
	conf = load_config();
	config_print(conf, stdout);
	config_free(conf);
	return (0);
}

static int
cmd_process(int argc, char **argv)
{
	struct config		*conf;
	const struct recipe	*r;
	struct image_job	 job;
	void			*data;
	size_t			 len, off;
	ssize_t			 n;
	char			*cause;
	int			 i, rc = 1;

	i = command_options(&commands[2], argc, argv);
	if (argc - i != 3) {
		command_help(&commands[2], stderr);
		return (2);
	}
	conf = load_config();
	images_init("objwatch");
	if ((r = config_find_recipe(conf, argv[i])) == NULL) {
		fprintf(stderr, "objwatch: no recipe '%s' in '%s'\n", argv[i],
		    conf->file);
		goto out;
	}
	if (read_file(argv[i + 1], &data, &len, 0, &cause) != 0) {
		fprintf(stderr, "objwatch: %s\n", cause);
		free(cause);
		goto out;
	}
	if (worker_process_bytes(r, data, len, argv[i + 1], &job) != 0) {
		fprintf(stderr, "objwatch: %s: %s\n",
		    error_class_name(job.error.cls), job.error.msg);
		image_job_clear(&job);
		free(data);
		goto out;
	}
	free(data);
	if (strcmp(argv[i + 2], "-") == 0) {
		for (off = 0; off < job.outlen; off += n) {
			n = write(STDOUT_FILENO, (char *)job.out + off,
			    job.outlen - off);
			if (n == -1 && errno == EINTR) {
				n = 0;
				continue;
			}
			if (n == -1) {
				fprintf(stderr, "objwatch: writing to standard "
				    "output: %s\n", strerror(errno));
				image_job_clear(&job);
				goto out;
			}
		}
	} else if (write_file_atomic(argv[i + 2], job.out, job.outlen,
	    &cause) != 0) {
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
	vips_shutdown();
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

	i = command_options(&commands[3], argc, argv);
	if (i >= argc) {
		command_help(&commands[3], stderr);
		return (2);
	}
	if (strcmp(argv[i], "url") == 0) {
		if (argc - i != 1) {
			command_help(&commands[3], stderr);
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
			command_help(&commands[3], stderr);
			return (2);
		}
		conf = load_config();
		if (db_setup(conf, &cause) != 0)
			fatalx("%s", cause);
		if ((conn = db_connect(&cause)) == NULL) {
			db_teardown();
			fatalx("%s", cause);
		}
		rc = db_migrate(conn, 1, &cause);
		PQfinish(conn);
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
	command_help(&commands[3], stderr);
	return (2);
}

static int
cmd_version(int argc, char **argv)
{
	if (argc > 0 && command_options(&commands[4], argc, argv) != argc) {
		command_help(&commands[4], stderr);
		return (2);
	}
	printf("objwatch %s\nlibvips %d.%d.%d\nlibpq %d\n", PACKAGE_VERSION,
	    vips_version(0), vips_version(1), vips_version(2),
	    PQlibVersion());
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
	if ((cmd = command_find(argv[0])) == NULL) {
		fprintf(stderr, "objwatch: unknown command '%s'\n", argv[0]);
		usage_all(stderr);
		return (2);
	}
	return (cmd->fn(argc, argv));
}
