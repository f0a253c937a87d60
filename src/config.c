/*
 * The configuration file: INI, read with libinih.
 *
 * Every key is described once in a table (its section kind, name, type and
 * where it goes), so parsing, defaults and errors follow from the table.
 * Errors are collected rather than stopping at the first, each as
 * "file:line: message", so `objwatch check` can report them all at once.
 * libinih does not pass line numbers to the handler in Debian's build, so
 * the reader callback counts lines itself.
 *
 * An indented line continues the previous key (libinih's multi-line values):
 * list keys and steps are joined, anything else is a duplicate.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "objwatch.h"
#include "banned.h"

#define DEFAULT_INCLUDE	"*.jpg *.jpeg *.png *.webp *.tif *.tiff *.gif"
/* .* also covers rsync's temporary names, .NAME.XXXXXX */
#define DEFAULT_EXCLUDE	".* *~ *.tmp *.part *.partial .~*"
#define DEFAULT_SETTLE	2.0	/* seconds */
#define DEFAULT_RECONCILE 300.0	/* seconds */

enum section_kind {
	SECTION_MAIN,
	SECTION_SOURCE,
	SECTION_RECIPE,
	SECTION_SCHEDULE
};

enum key_type {
	KEY_STRING,
	KEY_PATH,	/* resolved against the config file's folder */
	KEY_INT,
	KEY_DURATION,
	KEY_LIST,	/* whitespace-separated words, joined over lines */
	KEY_STEPS,	/* joined over lines with a space */
	KEY_ENUM,
	KEY_COUNT,	/* a whole number >= 1, as long long */
	KEY_SIZE,	/* bytes: 1048576, 512k, 16MB, 2GiB; long long */
	KEY_BOOL	/* yes or no, as int */
};

struct config_key {
	enum section_kind	 section;
	const char		*name;
	enum key_type		 type;
	size_t			 offset;
	long			 min, max;		/* KEY_INT */
	const char *const	*choices;		/* KEY_ENUM */
	size_t			 line_offset;		/* or (size_t)-1 */
};

static const char *const source_types[] = { "dir", "s3", NULL };
static const char *const yes_no[] = { "no", "yes", NULL };
static const char *const uri_styles[] = { "path", "virtual", NULL };
static const char *const signatures[] = { "v4", "v2", NULL };
static const char *const log_formats[] = { "text", "json", NULL };
static const char *const on_delete_choices[] = { "keep", "remove", NULL };
static const char *const log_levels[] = { "error", "warning", "info", "debug",
    NULL };

#define NO_LINE ((size_t)-1)
#define MAIN(n, t, f) { SECTION_MAIN, n, t, offsetof(struct config, f), \
    0, 0, NULL, NO_LINE }
#define SRC(n, t, f) { SECTION_SOURCE, n, t, offsetof(struct source, f), \
    0, 0, NULL, NO_LINE }

#define SCHED(n, t, f, l) { SECTION_SCHEDULE, n, t, \
    offsetof(struct schedule, f), 0, 0, NULL, offsetof(struct schedule, l) }

static const struct config_key config_keys[] = {
	MAIN("database", KEY_STRING, database),
	MAIN("state_dir", KEY_PATH, state_dir),
	{ SECTION_MAIN, "workers", KEY_INT, offsetof(struct config, workers),
	  0, 256, NULL, NO_LINE },
	MAIN("listen", KEY_STRING, listen),
	{ SECTION_MAIN, "log", KEY_ENUM, offsetof(struct config, log_json),
	  0, 0, log_formats, NO_LINE },
	MAIN("log_file", KEY_PATH, log_file),
	{ SECTION_MAIN, "log_level", KEY_ENUM,
	  offsetof(struct config, log_level), 0, 0, log_levels, NO_LINE },
	MAIN("lease", KEY_DURATION, lease),
	{ SECTION_MAIN, "max_attempts", KEY_INT,
	  offsetof(struct config, max_attempts), 1, 100, NULL, NO_LINE },
	MAIN("poll", KEY_DURATION, poll),

	{ SECTION_SOURCE, "type", KEY_ENUM, offsetof(struct source, type),
	  0, 0, source_types, NO_LINE },
	{ SECTION_SOURCE, "path", KEY_PATH, offsetof(struct source, path),
	  0, 0, NULL, offsetof(struct source, path_line) },
	SRC("include", KEY_LIST, include),
	SRC("exclude", KEY_LIST, exclude),
	{ SECTION_SOURCE, "recipes", KEY_LIST,
	  offsetof(struct source, recipe_names), 0, 0, NULL,
	  offsetof(struct source, recipes_line) },
	SRC("settle", KEY_DURATION, settle),
	SRC("reconcile", KEY_DURATION, reconcile),
	{ SECTION_SOURCE, "on_delete", KEY_ENUM,
	  offsetof(struct source, on_delete), 0, 0, on_delete_choices,
	  NO_LINE },

	{ SECTION_MAIN, "max_pixels", KEY_COUNT,
	  offsetof(struct config, max_pixels), 0, 0, NULL, NO_LINE },
	{ SECTION_MAIN, "max_input_bytes", KEY_SIZE,
	  offsetof(struct config, max_input_bytes), 0, 0, NULL, NO_LINE },
	{ SECTION_MAIN, "max_pages", KEY_INT,
	  offsetof(struct config, max_pages), 1, 10000, NULL, NO_LINE },

	{ SECTION_RECIPE, "max_pixels", KEY_COUNT,
	  offsetof(struct recipe, max_pixels), 0, 0, NULL, NO_LINE },
	{ SECTION_RECIPE, "max_input_bytes", KEY_SIZE,
	  offsetof(struct recipe, max_input_bytes), 0, 0, NULL, NO_LINE },
	{ SECTION_RECIPE, "max_pages", KEY_INT,
	  offsetof(struct recipe, max_pages), 1, 10000, NULL, NO_LINE },
	{ SECTION_RECIPE, "reprocess", KEY_BOOL,
	  offsetof(struct recipe, reprocess), 0, 0, NULL, NO_LINE },
	SRC("endpoint", KEY_STRING, endpoint),
	SRC("bucket", KEY_STRING, bucket),
	SRC("prefix", KEY_STRING, prefix),
	SRC("access_key", KEY_STRING, access_key),
	SRC("secret_key", KEY_STRING, secret_key),
	{ SECTION_SOURCE, "https", KEY_ENUM, offsetof(struct source, https),
	  0, 0, yes_no, NO_LINE },
	{ SECTION_SOURCE, "uri_style", KEY_ENUM,
	  offsetof(struct source, uri_style), 0, 0, uri_styles, NO_LINE },
	SRC("poll", KEY_DURATION, poll),
	SRC("webhook_token", KEY_STRING, webhook_token),
	SRC("region", KEY_STRING, region),
	{ SECTION_SOURCE, "signature", KEY_ENUM,
	  offsetof(struct source, signature), 0, 0, signatures, NO_LINE },
	SRC("session_token", KEY_STRING, session_token),
	SRC("ca_file", KEY_PATH, ca_file),

	{ SECTION_RECIPE, "steps", KEY_STEPS,
	  offsetof(struct recipe, steps_text), 0, 0, NULL,
	  offsetof(struct recipe, steps_line) },
	{ SECTION_RECIPE, "output", KEY_STRING,
	  offsetof(struct recipe, output), 0, 0, NULL,
	  offsetof(struct recipe, output_line) },

	{ SECTION_RECIPE, "after", KEY_STRING,
	  offsetof(struct recipe, after_name), 0, 0, NULL,
	  offsetof(struct recipe, after_line) },

	{ SECTION_RECIPE, "notify", KEY_STRING,
	  offsetof(struct recipe, notify), 0, 0, NULL,
	  offsetof(struct recipe, notify_line) },
	{ SECTION_RECIPE, "notify_secret", KEY_STRING,
	  offsetof(struct recipe, notify_secret), 0, 0, NULL, NO_LINE },
	{ SECTION_RECIPE, "notify_ca_file", KEY_PATH,
	  offsetof(struct recipe, notify_ca_file), 0, 0, NULL, NO_LINE },
	{ SECTION_RECIPE, "notify_attempts", KEY_INT,
	  offsetof(struct recipe, notify_attempts), 1, 1000, NULL, NO_LINE },
	{ SECTION_RECIPE, "notify_timeout", KEY_DURATION,
	  offsetof(struct recipe, notify_timeout), 0, 0, NULL, NO_LINE },

	SCHED("every", KEY_DURATION, every, every_line),
	SCHED("cron", KEY_STRING, cron, cron_line),
	SCHED("sql", KEY_STEPS, sql, sql_line),
	SCHED("sql_file", KEY_PATH, sql_file, sql_file_line),
	SCHED("into", KEY_STRING, into, into_line),
	SCHED("output", KEY_STRING, output, output_line),
	{ SECTION_SCHEDULE, "timeout", KEY_DURATION,
	  offsetof(struct schedule, timeout), 0, 0, NULL, NO_LINE },
};

/* What the parser carries between handler calls. */
struct config_parse {
	struct config	*conf;
	const char	*path;		/* as given, for messages */
	struct strv	*errors;
	FILE		*f;
	int		 line;
	int		 indented;	/* the current line starts with space */
	int		 section_line;	/* where the last [section] was */
	char		*section;	/* the last section seen */
	enum section_kind kind;
	void		*target;	/* struct config, source or recipe */
	int		 bad_section;	/* keys under it are not reported */
	struct strv	 seen;		/* "section\nkey" already set */
};

static void PRINTFLIKE(3, 4)
config_error(struct config_parse *cp, int line, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg, *full;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if (line > 0)
		xasprintf(&full, "%s:%d: %s", cp->path, line, msg);
	else
		xasprintf(&full, "%s: %s", cp->path, msg);
	strv_push(cp->errors, full);
	free(full);
	free(msg);
}

/* The reader for ini_parse_stream: fgets that counts lines. */
static char *
config_reader(char *buf, int size, void *arg)
{
	struct config_parse	*cp = arg;
	char			*s;

	if ((s = fgets(buf, size, cp->f)) == NULL)
		return (NULL);
	cp->line++;
	cp->indented = (buf[0] == ' ' || buf[0] == '\t');
	for (s = buf; *s == ' ' || *s == '\t'; s++)
		;
	if (*s == '[')
		cp->section_line = cp->line;
	s = buf;
	return (s);
}

/* Names of sources and recipes: letters, digits, '-', '_' and '.'. */
static int
config_name_ok(const char *name)
{
	for (; *name != '\0'; name++) {
		if (!isalnum((unsigned char)*name) && *name != '-' &&
		    *name != '_' && *name != '.')
			return (0);
	}
	return (1);
}

static void *
config_new_schedule(struct config_parse *cp, const char *name)
{
	struct config	*conf = cp->conf;
	struct schedule	*s;
	size_t		 i;

	cp->kind = SECTION_SCHEDULE;
	for (i = 0; i < conf->nschedules; i++) {
		if (strcmp(conf->schedules[i]->name, name) == 0)
			return (conf->schedules[i]);
	}
	s = xcalloc(1, sizeof *s);
	s->name = xstrdup(name);
	s->line = cp->section_line;
	conf->schedules = xreallocarray(conf->schedules,
	    conf->nschedules + 1, sizeof *conf->schedules);
	conf->schedules[conf->nschedules++] = s;
	if (*name == '\0')
		config_error(cp, cp->section_line, "schedule section needs "
		    "a name: [schedule.NAME]");
	else if (!config_name_ok(name))
		config_error(cp, cp->section_line, "schedule name '%s' may "
		    "only have letters, digits, '-', '_' and '.' (it names "
		    "rows and files)", name);
	return (s);
}

static void *
config_new_section(struct config_parse *cp, const char *section)
{
	struct config	*conf = cp->conf;
	struct source	*src;
	struct recipe	*r;
	const char	*name;
	size_t		 i;

	if (strcmp(section, "objwatch") == 0) {
		cp->kind = SECTION_MAIN;
		return (conf);
	}
	if (strncmp(section, "source.", 7) == 0) {
		name = section + 7;
		cp->kind = SECTION_SOURCE;
		for (i = 0; i < conf->nsources; i++) {
			if (strcmp(conf->sources[i]->name, name) == 0)
				return (conf->sources[i]);
		}
		src = xcalloc(1, sizeof *src);
		src->name = xstrdup(name);
		src->line = cp->section_line;
		src->type = -1;
		src->https = -1;
		src->uri_style = -1;
		src->signature = -1;
		conf->sources = xreallocarray(conf->sources,
		    conf->nsources + 1, sizeof *conf->sources);
		conf->sources[conf->nsources++] = src;
		cp->kind = SECTION_SOURCE;
		if (*name == '\0')
			config_error(cp, cp->section_line, "source section needs "
			    "a name: [source.NAME]");
		else if (!config_name_ok(name))
			config_error(cp, cp->section_line, "source name '%s' may "
			    "only have letters, digits, '-', '_' and '.' (it "
			    "names URLs, metrics and rows)", name);
		return (src);
	}
	if (strncmp(section, "recipe.", 7) == 0) {
		name = section + 7;
		cp->kind = SECTION_RECIPE;
		for (i = 0; i < conf->nrecipes; i++) {
			if (strcmp(conf->recipes[i]->name, name) == 0)
				return (conf->recipes[i]);
		}
		r = xcalloc(1, sizeof *r);
		r->name = xstrdup(name);
		r->line = cp->section_line;
		conf->recipes = xreallocarray(conf->recipes,
		    conf->nrecipes + 1, sizeof *conf->recipes);
		conf->recipes[conf->nrecipes++] = r;
		cp->kind = SECTION_RECIPE;
		if (*name == '\0')
			config_error(cp, cp->section_line, "recipe section needs "
			    "a name: [recipe.NAME]");
		else if (!config_name_ok(name))
			config_error(cp, cp->section_line, "recipe name '%s' may "
			    "only have letters, digits, '-', '_' and '.' (it "
			    "names URLs, metrics and rows)", name);
		return (r);
	}
	if (strncmp(section, "schedule.", 9) == 0)
		return (config_new_schedule(cp, section + 9));
	config_error(cp, cp->section_line, "unknown section '%s' (expected objwatch, "
	    "source.NAME, recipe.NAME or schedule.NAME)", section);
	return (NULL);
}

static int
config_set(struct config_parse *cp, const struct config_key *k,
    const char *value, int continuation)
{
	char		*base = cp->target, **sp, *joined;
	struct strv	*sv;
	long		 l;
	long long	 ll;
	uint64_t	 u64;
	char		*end;
	double		 d;
	size_t		 i;

	if (k->line_offset != NO_LINE && !continuation)
		*(int *)(base + k->line_offset) = cp->line;
	switch (k->type) {
	case KEY_STRING:
		sp = (char **)(base + k->offset);
		free(*sp);
		*sp = xstrdup(value);
		return (0);
	case KEY_PATH:
		sp = (char **)(base + k->offset);
		free(*sp);
		*sp = (*value == '\0') ? NULL :
		    path_absolute(cp->conf->dir, value);
		return (0);
	case KEY_INT:
		errno = 0;
		l = strtol(value, &end, 10);
		if (*value == '\0' || *end != '\0' || errno != 0 ||
		    l < k->min || l > k->max) {
			config_error(cp, cp->line, "'%s' must be a whole "
			    "number from %ld to %ld, not '%s'", k->name,
			    k->min, k->max, value);
			return (-1);
		}
		*(int *)(base + k->offset) = (int)l;
		return (0);
	case KEY_COUNT:
		errno = 0;
		ll = strtoll(value, &end, 10);
		if (*value == '\0' || *end != '\0' || errno != 0 || ll < 1) {
			config_error(cp, cp->line, "'%s' must be a whole "
			    "number of at least 1, not '%s'", k->name, value);
			return (-1);
		}
		*(long long *)(base + k->offset) = ll;
		return (0);
	case KEY_SIZE:
		if (parse_size(value, &u64) != 0 || u64 == 0 ||
		    u64 > LLONG_MAX) {
			config_error(cp, cp->line, "'%s' must be a size such "
			    "as 1048576, 512k, 16MB or 2GiB, not '%s'", k->name,
			    value);
			return (-1);
		}
		*(long long *)(base + k->offset) = (long long)u64;
		return (0);
	case KEY_BOOL:
		if (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0) {
			*(int *)(base + k->offset) = (*value == 'y');
			return (0);
		}
		config_error(cp, cp->line, "'%s' must be yes or no, not '%s'",
		    k->name, value);
		return (-1);
	case KEY_DURATION:
		if (parse_duration(value, &d) != 0 || d <= 0) {
			config_error(cp, cp->line, "'%s' must be a duration "
			    "such as 500ms, 30s, 5m or 1h, not '%s'", k->name,
			    value);
			return (-1);
		}
		*(double *)(base + k->offset) = d;
		return (0);
	case KEY_LIST:
		sv = (struct strv *)(base + k->offset);
		if (!continuation)
			strv_clear(sv);
		strv_split_words(sv, value);
		/* an explicitly empty list clears the default */
		if (sv->n == 0 && *value == '\0' && !continuation)
			strv_push(sv, "");
		return (0);
	case KEY_STEPS:
		sp = (char **)(base + k->offset);
		if (continuation && *sp != NULL) {
			xasprintf(&joined, "%s %s", *sp, value);
			free(*sp);
			*sp = joined;
		} else {
			free(*sp);
			*sp = xstrdup(value);
		}
		return (0);
	case KEY_ENUM:
		for (i = 0; k->choices[i] != NULL; i++) {
			if (strcmp(k->choices[i], value) == 0) {
				*(int *)(base + k->offset) = (int)i;
				return (0);
			}
		}
		joined = NULL;
		for (i = 0; k->choices[i] != NULL; i++) {
			sp = &joined;
			if (joined == NULL)
				joined = xstrdup(k->choices[i]);
			else {
				xasprintf(&end, "%s, %s", joined,
				    k->choices[i]);
				free(joined);
				joined = end;
			}
		}
		config_error(cp, cp->line, "'%s' must be one of %s, not '%s'",
		    k->name, joined, value);
		free(joined);
		return (-1);
	}
	return (-1);
}

static int
config_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct config_parse	*cp = arg;
	const struct config_key	*k = NULL;
	char			*seen_key;
	size_t			 i;
	int			 continuation = 0;

	if (cp->section == NULL || strcmp(cp->section, section) != 0) {
		free(cp->section);
		cp->section = xstrdup(section);
		cp->target = config_new_section(cp, section);
		cp->bad_section = (cp->target == NULL);
	}
	if (cp->bad_section)
		return (1);

	for (i = 0; i < nitems(config_keys); i++) {
		if (config_keys[i].section == cp->kind &&
		    strcmp(config_keys[i].name, name) == 0) {
			k = &config_keys[i];
			break;
		}
	}
	if (k == NULL) {
		config_error(cp, cp->line, "unknown key '%s' in [%s]", name,
		    section);
		return (1);
	}

	xasprintf(&seen_key, "%s\n%s", section, name);
	for (i = 0; i < cp->seen.n; i++) {
		if (strcmp(cp->seen.v[i], seen_key) == 0)
			break;
	}
	if (i < cp->seen.n) {
		if (cp->indented &&
		    (k->type == KEY_LIST || k->type == KEY_STEPS))
			continuation = 1;
		else {
			config_error(cp, cp->line, "'%s' is set twice in [%s]",
			    name, section);
			free(seen_key);
			return (1);
		}
	} else
		strv_push(&cp->seen, seen_key);
	free(seen_key);

	config_set(cp, k, value, continuation);
	return (1);
}

/*
 * A secret as written: "env:NAME" takes it from the environment (so it
 * need not sit in the file), anything else is the secret itself.
 */
static char *
config_secret(struct config_parse *cp, const struct source *src,
    const char *key, const char *value)
{
	const char	*v;

	if (strncmp(value, "env:", 4) != 0)
		return (xstrdup(value));
	if ((v = getenv(value + 4)) == NULL || *v == '\0') {
		config_error(cp, src->line, "source '%s': '%s' is %s, but the "
		    "environment variable %s is not set", src->name, key,
		    value, value + 4);
		return (NULL);
	}
	return (xstrdup(v));
}

/*
 * Whether outputs can be written under root (the fixed part of a dir:
 * template): it is a writable folder, or the nearest part of it that
 * exists is, so objwatch can make the rest. *cause says why not.
 */
static int
config_dir_writable(const char *root, char **cause)
{
	struct stat	 st;
	char		*dir, *slash;

	dir = xstrdup(root);
	/* the template's fixed part may end inside a name: "out/thumb-" */
	if ((slash = strrchr(dir, '/')) != NULL && slash[1] != '\0' &&
	    (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
		slash[slash == dir ? 1 : 0] = '\0';
	while (stat(dir, &st) != 0) {
		if (errno != ENOENT || (slash = strrchr(dir, '/')) == NULL ||
		    slash == dir) {
			if (errno == ENOENT && slash == dir) {
				dir[1] = '\0';
				continue;
			}
			xasprintf(cause, "'%s': %s", dir, strerror(errno));
			free(dir);
			return (-1);
		}
		*slash = '\0';
	}
	if (!S_ISDIR(st.st_mode)) {
		xasprintf(cause, "'%s' cannot be made: '%s' is not a folder",
		    root, dir);
		free(dir);
		return (-1);
	}
	if (access(dir, W_OK | X_OK) != 0) {
		xasprintf(cause, "'%s' is not writable: '%s': %s", root, dir,
		    strerror(errno));
		free(dir);
		return (-1);
	}
	free(dir);
	return (0);
}

/* Whether dir is the system's config folder, or objwatch's in it. */
static int
config_is_system(const char *dir)
{
	size_t	 n = strlen(SYSCONFDIR);

	return (strncmp(dir, SYSCONFDIR, n) == 0 && (dir[n] == '\0' ||
	    strcmp(dir + n, "/objwatch") == 0));
}

/* The first s3-only key a source sets, or NULL. */
static const char *
config_s3_key_set(const struct source *src)
{
	if (src->endpoint != NULL)
		return ("endpoint");
	if (src->bucket != NULL)
		return ("bucket");
	if (src->prefix != NULL)
		return ("prefix");
	if (src->access_key != NULL)
		return ("access_key");
	if (src->secret_key != NULL)
		return ("secret_key");
	if (src->session_token != NULL)
		return ("session_token");
	if (src->region != NULL)
		return ("region");
	if (src->signature != -1)
		return ("signature");
	if (src->https != -1)
		return ("https");
	if (src->uri_style != -1)
		return ("uri_style");
	if (src->ca_file != NULL)
		return ("ca_file");
	if (src->webhook_token != NULL)
		return ("webhook_token");
	return (NULL);
}

/* Defaults and checks for a type = s3 source. */
static void
config_s3_source(struct config_parse *cp, struct source *src)
{
	const char	*ak, *sk;

	if (src->path != NULL)
		config_error(cp, src->path_line, "source '%s': 'path' is for "
		    "dir sources; an s3 source has 'bucket' and 'prefix'",
		    src->name);
	if (src->endpoint == NULL || *src->endpoint == '\0')
		config_error(cp, src->line, "source '%s' has no 'endpoint' "
		    "(host[:port] of the S3 server, e.g. s3.example.com or "
		    "127.0.0.1:9000)", src->name);
	else if (strstr(src->endpoint, "://") != NULL)
		config_error(cp, src->line, "source '%s': 'endpoint' is "
		    "host[:port] without a scheme, not '%s' (use https = "
		    "yes|no)", src->name, src->endpoint);
	if (src->bucket == NULL || *src->bucket == '\0')
		config_error(cp, src->line, "source '%s' has no 'bucket'",
		    src->name);
	else if (strchr(src->bucket, '/') != NULL)
		config_error(cp, src->line, "source '%s': 'bucket' '%s' "
		    "holds a '/': put the folder in 'prefix'", src->name,
		    src->bucket);
	if (src->prefix == NULL)
		src->prefix = xstrdup("");
	if (src->signature == -1)
		src->signature = S3_SIGNATURE_V4;
	if (src->region == NULL)
		src->region = xstrdup("us-east-1");
	else if (*src->region == '\0' || strpbrk(src->region, "/ \t") != NULL)
		config_error(cp, src->line, "source '%s': 'region' '%s' is not "
		    "a region name (such as us-east-1, eu-west-3 or auto)",
		    src->name, src->region);
	if (src->signature == S3_SIGNATURE_V2 && src->session_token != NULL)
		config_error(cp, src->line, "source '%s': 'session_token' "
		    "needs signature = v4 (V2 listings go through libs3, which "
		    "cannot send one)", src->name);
	if (src->signature == S3_SIGNATURE_V2 && src->ca_file != NULL)
		config_error(cp, src->line, "source '%s': 'ca_file' needs "
		    "signature = v4 (V2 listings go through libs3, which reads "
		    "only the system's CA bundle)", src->name);
	if (src->ca_file != NULL && access(src->ca_file, R_OK) != 0)
		config_error(cp, src->line, "source '%s': cannot read ca_file "
		    "'%s': %s", src->name, src->ca_file, strerror(errno));
	if (src->https == -1)
		src->https = 1;
	if (src->uri_style == -1)
		src->uri_style = 0;
	if (src->poll == 0)
		src->poll = 60;
	ak = src->access_key;
	sk = src->secret_key;
	if (ak == NULL && sk == NULL) {
		/* the names every S3 tool reads */
		ak = "env:AWS_ACCESS_KEY_ID";
		sk = "env:AWS_SECRET_ACCESS_KEY";
	} else if (ak == NULL || sk == NULL) {
		config_error(cp, src->line, "source '%s': set both "
		    "'access_key' and 'secret_key', or neither (then "
		    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are used)",
		    src->name);
		return;
	}
	src->access_key_value = config_secret(cp, src, "access_key", ak);
	src->secret_key_value = config_secret(cp, src, "secret_key", sk);
	if (src->session_token != NULL)
		src->session_token_value = config_secret(cp, src,
		    "session_token", src->session_token);
	if (src->webhook_token != NULL) {
		src->webhook_token_value = config_secret(cp, src,
		    "webhook_token", src->webhook_token);
		if (src->webhook_token_value != NULL &&
		    strlen(src->webhook_token_value) < 16)
			config_error(cp, src->line, "source '%s': "
			    "'webhook_token' is shorter than 16 characters; "
			    "use a long random one (openssl rand -hex 24)",
			    src->name);
	}
}

/* Split an s3:BUCKET/TEMPLATE output; the bucket takes no fields. */
static int
config_s3_output(struct config_parse *cp, struct recipe *r)
{
	const char	*t = r->output + 3, *slash;

	slash = strchr(t, '/');
	if (slash == NULL || slash == t || slash[1] == '\0') {
		config_error(cp, r->output_line, "recipe '%s': output '%s' "
		    "must be s3:BUCKET/NAME, e.g. s3:thumbs/{recipe}/{key}."
		    "{ext}", r->name, r->output);
		return (-1);
	}
	r->output_bucket = xstrndup(t, slash - t);
	if (strpbrk(r->output_bucket, "{}") != NULL) {
		config_error(cp, r->output_line, "recipe '%s': the bucket of "
		    "output '%s' cannot hold a field", r->name, r->output);
		return (-1);
	}
	r->output_template = xstrdup(r->output);
	return (0);
}

/*
 * Which source's endpoint and keys each s3: output writes with: the s3
 * source of the same bucket, else the first s3 source. And the loop guard:
 * an output prefix inside a watched bucket is skipped by its source.
 */
static void
config_s3_outputs(struct config_parse *cp)
{
	struct config	*conf = cp->conf;
	struct recipe	*r;
	struct source	*src, *first;
	const char	*pfx;
	size_t		 i, j, blen;

	for (i = 0; i < conf->nrecipes; i++) {
		r = conf->recipes[i];
		if (r->output_kind != OUTPUT_S3 || r->output_root == NULL)
			continue;
		first = NULL;
		for (j = 0; j < conf->nsources; j++) {
			src = conf->sources[j];
			if (src->type != SOURCE_S3)
				continue;
			if (first == NULL)
				first = src;
			if (src->bucket != NULL &&
			    strcmp(src->bucket, r->output_bucket) == 0 &&
			    r->output_via == NULL)
				r->output_via = src;
		}
		if (r->output_via == NULL)
			r->output_via = first;
		if (r->output_via == NULL) {
			config_error(cp, r->output_line, "recipe '%s': output "
			    "'%s' needs an s3 source to take the endpoint and "
			    "keys from", r->name, r->output);
			continue;
		}
		/* output_root is "s3:BUCKET" or "s3:BUCKET/PREFIX" */
		blen = 3 + strlen(r->output_bucket);
		pfx = r->output_root + blen;
		if (*pfx == '/')
			pfx++;
		for (j = 0; j < conf->nsources; j++) {
			src = conf->sources[j];
			if (src->type != SOURCE_S3 || src->bucket == NULL ||
			    strcmp(src->bucket, r->output_bucket) != 0)
				continue;
			if (*pfx == '\0' || strncmp(src->prefix, pfx,
			    strlen(pfx)) == 0) {
				config_error(cp, r->output_line, "recipe '%s': "
				    "output '%s' writes over all of what source "
				    "'%s' watches: give outputs their own "
				    "prefix outside it", r->name, r->output,
				    src->name);
				continue;
			}
			strv_push(&src->skip_roots, pfx);
		}
	}
}

/* Defaults for the [objwatch] section. */
static void
config_resolve_globals(struct config_parse *cp)
{
	struct config	*conf = cp->conf;

	/*
	 * Beside the config, unless the config is the system's: /etc is
	 * read-only to a hardened service, and state belongs in /var/lib.
	 */
	if (conf->state_dir == NULL && config_is_system(conf->dir))
		conf->state_dir = xstrdup(LOCALSTATEDIR "/lib/objwatch");
	else if (conf->state_dir == NULL)
		conf->state_dir = path_absolute(conf->dir, "var");
	if (conf->database != NULL && *conf->database == '\0')
		FREE_NULL(conf->database);
	if (conf->workers == 0)
		conf->workers = ncpus();
	if (conf->listen == NULL)
		conf->listen = xstrdup("127.0.0.1:9780");

	if (conf->max_pixels == 0)
		conf->max_pixels = DEFAULT_MAX_PIXELS;
	if (conf->max_input_bytes == 0)
		conf->max_input_bytes = DEFAULT_MAX_INPUT_BYTES;
	if (conf->max_pages == 0)
		conf->max_pages = DEFAULT_MAX_PAGES;
}

/*
 * A table: output: NAME or SCHEMA.NAME, plain lowercase identifiers (so
 * that what a user writes in SQL unquoted is the same table), quoted.
 */
static void
config_table_output(struct config_parse *cp, struct recipe *r)
{
	const char	*t = r->output + 6, *p;
	int		 dots = 0, ok = *t != '\0';

	for (p = t; *p != '\0' && ok; p++) {
		if (*p == '.') {
			ok = p != t && p[1] != '\0' && ++dots == 1;
			continue;
		}
		ok = (*p >= 'a' && *p <= 'z') || *p == '_' ||
		    ((*p >= '0' && *p <= '9') && p != t && p[-1] != '.');
	}
	if (!ok || p - t > 127) {
		config_error(cp, r->output_line, "recipe '%s': output '%s': "
		    "name the table as NAME or SCHEMA.NAME, in lowercase "
		    "letters, digits and _ (for example table:access_log)",
		    r->name, r->output);
		return;
	}
	if (strncmp(t, "objwatch.", 9) == 0 || strncmp(t, "pg_", 3) == 0) {
		config_error(cp, r->output_line, "recipe '%s': output '%s': "
		    "that schema is not for user tables", r->name, r->output);
		return;
	}
	if ((p = strchr(t, '.')) != NULL)
		xasprintf(&r->output_table, "\"%.*s\".\"%s\"", (int)(p - t),
		    t, p + 1);
	else
		xasprintf(&r->output_table, "\"%s\"", t);
}

/* A recipe's output: its kind, template and root, checked. */
static void
config_resolve_output(struct config_parse *cp, struct recipe *r)
{
	struct config	*conf = cp->conf;
	char		*cause;

	if (r->output == NULL) {
		config_error(cp, r->line, "recipe '%s' has no "
		    "'output' (for example dir:/srv/out/{key}.{ext})",
		    r->name);
		return;
	}
	if (strncmp(r->output, "table:", 6) == 0 || r->kind == RECIPE_LINES) {
		if (r->kind == RECIPE_COPY) {
			config_error(cp, r->output_line, "recipe '%s': output "
			    "'%s' is for a recipe whose step is lines (text "
			    "into rows); copy writes the input's bytes as they "
			    "are, to a file or an object: dir: or s3:",
			    r->name, r->output);
			return;
		}
		if (r->kind != RECIPE_LINES) {
			if (r->nsteps == 0)
				return;	/* its steps' error says enough */
			config_error(cp, r->output_line, "recipe '%s': output "
			    "'%s' is for a recipe whose step is lines (text "
			    "into rows); an image recipe writes to dir: or "
			    "s3:", r->name, r->output);
			return;
		}
		if (strncmp(r->output, "table:", 6) != 0) {
			config_error(cp, r->output_line, "recipe '%s': its "
			    "step lines makes rows: output must be "
			    "table:NAME, not '%s'", r->name, r->output);
			return;
		}
		r->output_kind = OUTPUT_TABLE;
		config_table_output(cp, r);
		return;
	}
	if (strncmp(r->output, "dir:", 4) == 0) {
		r->output_kind = OUTPUT_DIR;
		if (r->output[4] == '\0') {
			config_error(cp, r->output_line, "recipe '%s': "
			    "output 'dir:' names no folder", r->name);
			return;
		}
		r->output_template = path_absolute(conf->dir,
		    r->output + 4);
	} else if (strncmp(r->output, "s3:", 3) == 0) {
		r->output_kind = OUTPUT_S3;
		if (config_s3_output(cp, r) != 0)
			return;
	} else {
		config_error(cp, r->output_line, "recipe '%s': output "
		    "'%s' must start with dir: (a folder) or s3: (a "
		    "bucket)", r->name, r->output);
		return;
	}
	if (template_check(r->output + (r->output_kind == OUTPUT_S3 ?
	    3 : 4), &cause) != 0) {
		config_error(cp, r->output_line, "recipe '%s': %s",
		    r->name, cause);
		free(cause);
		return;
	}
	r->output_root = template_root(r->output_template);
	if (r->output_kind == OUTPUT_DIR &&
	    config_dir_writable(r->output_root, &cause) != 0) {
		config_error(cp, r->output_line, "recipe '%s': output "
		    "folder %s", r->name, cause);
		free(cause);
	}
}

/* A recipe: limits from the globals, its steps, then its output. */
static void
config_resolve_recipe(struct config_parse *cp, struct recipe *r)
{
	struct config	*conf = cp->conf;
	long long	 own_max_input = r->max_input_bytes;
	char		*cause;
	int		 line;

	if (r->max_pixels == 0)
		r->max_pixels = conf->max_pixels;
	if (r->max_input_bytes == 0)
		r->max_input_bytes = conf->max_input_bytes;
	if (r->max_pages == 0)
		r->max_pages = conf->max_pages;
	r->dir = conf->dir;
	if (deliver_resolve(r, &line, &cause) != 0) {
		config_error(cp, line, "recipe '%s': %s", r->name, cause);
		free(cause);
	}
	if (r->steps_text == NULL)
		config_error(cp, r->line, "recipe '%s' has no 'steps'",
		    r->name);
	else if (recipe_parse_steps(r, &cause) != 0) {
		config_error(cp, r->steps_line, "%s", cause);
		free(cause);
	} else if (r->kind == RECIPE_COPY) {
		/*
		 * A copy streams: [objwatch]'s max_input_bytes (and its
		 * default) bound what images decode in memory, and do not
		 * apply. Its own section's does; 0 is no limit.
		 */
		r->max_input_bytes = own_max_input;
	} else if (!r->writes) {
		/* info alone: what it finds goes to the database */
		if (r->output != NULL)
			config_error(cp, r->output_line, "recipe '%s': "
			    "'output' does not apply: its only step, "
			    "info, writes no file", r->name);
		return;
	}
	config_resolve_output(cp, r);
}

/* The checks of a type = dir source: no s3 keys, a readable folder. */
static void
config_resolve_dir_source(struct config_parse *cp, struct source *src)
{
	struct stat	 st;
	const char	*key;

	if ((key = config_s3_key_set(src)) != NULL)
		config_error(cp, src->line, "source '%s': '%s' is for s3 "
		    "sources, and this one is type = dir", src->name,
		    key);
	else if (src->path == NULL)
		config_error(cp, src->line, "source '%s' has no 'path'",
		    src->name);
	else if (stat(src->path, &st) == -1)
		config_error(cp, src->path_line, "source '%s': path '%s': "
		    "%s", src->name, src->path, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		config_error(cp, src->path_line, "source '%s': path '%s' is "
		    "not a folder", src->name, src->path);
	else if (access(src->path, R_OK | X_OK) == -1)
		config_error(cp, src->path_line, "source '%s': path '%s' is "
		    "not readable: %s", src->name, src->path,
		    strerror(errno));
}

/* Point a source at the recipes it names. */
static int
config_resolve_source_recipes(struct config_parse *cp, struct source *src)
{
	struct recipe	*r;
	size_t		 j;

	if (src->recipe_names.n == 0) {
		config_error(cp, src->line, "source '%s' has no "
		    "'recipes'", src->name);
		return (-1);
	}
	src->recipes = xcalloc(src->recipe_names.n,
	    sizeof *src->recipes);
	for (j = 0; j < src->recipe_names.n; j++) {
		r = config_find_recipe(cp->conf, src->recipe_names.v[j]);
		if (r == NULL) {
			config_error(cp, src->recipes_line, "source '%s': no "
			    "recipe '%s' (define [recipe.%s])",
			    src->name, src->recipe_names.v[j],
			    src->recipe_names.v[j]);
			continue;
		}
		src->recipes[src->nrecipes++] = r;
	}
	return (0);
}

/* Loop guard: dir outputs written inside this source's folder. */
static void
config_resolve_dir_outputs(struct config_parse *cp, struct source *src)
{
	struct config	*conf = cp->conf;
	char		*root;
	size_t		 k;

	for (k = 0; k < conf->nrecipes && src->path != NULL; k++) {
		root = conf->recipes[k]->output_root;
		if (root == NULL || conf->recipes[k]->output_kind !=
		    OUTPUT_DIR)
			continue;
		if (strcmp(root, src->path) == 0) {
			config_error(cp, conf->recipes[k]->output_line,
			    "recipe '%s': output '%s' is the folder of "
			    "source '%s' itself: give outputs their "
			    "own subfolder", conf->recipes[k]->name,
			    root, src->name);
			continue;
		}
		if (strncmp(root, src->path, strlen(src->path)) == 0 &&
		    (root[strlen(src->path)] == '/' ||
		    strcmp(src->path, "/") == 0))
			strv_push(&src->skip_roots, root);
	}
}

/*
 * Whether every recipe a source names reads lines of text: then what it
 * takes by default is every file (logs are *.log, *.1, *.gz, *.csv,
 * *.json, or have no suffix at all), not images.
 */
static int
config_source_reads_text(struct config_parse *cp, const struct source *src)
{
	const struct recipe	*r;
	size_t			 i;

	for (i = 0; i < src->recipe_names.n; i++) {
		r = config_find_recipe(cp->conf, src->recipe_names.v[i]);
		if (r == NULL || r->kind != RECIPE_LINES)
			return (0);
	}
	return (src->recipe_names.n > 0);
}

/*
 * Whether every recipe a source names takes files of any kind: lines of
 * text, or copies (an archive takes what it is given). Then what it takes
 * by default is every file, not images.
 */
static int
config_source_takes_any(struct config_parse *cp, const struct source *src)
{
	const struct recipe	*r;
	size_t			 i;

	for (i = 0; i < src->recipe_names.n; i++) {
		r = config_find_recipe(cp->conf, src->recipe_names.v[i]);
		if (r == NULL || (r->kind != RECIPE_LINES &&
		    r->kind != RECIPE_COPY))
			return (0);
	}
	return (src->recipe_names.n > 0);
}

/*
 * Whether a folder's files are logs that grow while written: every recipe
 * of the source is a lines step that follows them. Then a file is taken
 * while its writer still holds it, after each settle of writing, since a
 * log's writer may never close it.
 */
static int
config_source_follows(struct config_parse *cp, const struct source *src)
{
	const struct recipe	*r;
	size_t			 i;

	if (!config_source_reads_text(cp, src))
		return (0);
	for (i = 0; i < src->recipe_names.n; i++) {
		r = config_find_recipe(cp->conf, src->recipe_names.v[i]);
		if (r->nsteps == 0 || !lines_follow(r->steps[0].data))
			return (0);
	}
	return (1);
}

/* A source: defaults, its type's checks, its recipes, its loop guard. */
static void
config_resolve_source(struct config_parse *cp, struct source *src)
{
	if ((int)src->type == -1) {
		config_error(cp, src->line, "source '%s' has no 'type' "
		    "(dir or s3)", src->name);
		return;
	}
	if (src->settle == 0)
		src->settle = DEFAULT_SETTLE;
	if (src->reconcile == 0)
		src->reconcile = DEFAULT_RECONCILE;
	if (src->include.n == 0)
		strv_split_words(&src->include,
		    config_source_takes_any(cp, src) ? "*" : DEFAULT_INCLUDE);
	src->follow = src->type == SOURCE_DIR &&
	    config_source_follows(cp, src);
	if (src->exclude.n == 0)
		strv_split_words(&src->exclude, DEFAULT_EXCLUDE);
	else if (src->exclude.n == 1 && *src->exclude.v[0] == '\0')
		strv_clear(&src->exclude);
	if (src->include.n == 1 && *src->include.v[0] == '\0')
		config_error(cp, src->line, "source '%s': 'include' "
		    "is empty, so nothing would be processed",
		    src->name);
	if (src->type == SOURCE_S3)
		config_s3_source(cp, src);
	else
		config_resolve_dir_source(cp, src);
	if (config_resolve_source_recipes(cp, src) != 0)
		return;
	config_resolve_dir_outputs(cp, src);
}

/* A schedule: its period, its SQL and where the result goes. */
static void
config_resolve_schedule(struct config_parse *cp, struct schedule *s)
{
	char	*cause;
	int	 line;

	if (schedule_resolve(s, cp->conf->dir, &line, &cause) != 0) {
		config_error(cp, line, "schedule '%s': %s", s->name, cause);
		free(cause);
	}
}

/*
 * Whether a recipe can take another's output as its input, and the other
 * can give one: both checked once their steps are parsed (a recipe whose
 * steps failed has said so already).
 */
static void
config_check_link(struct config_parse *cp, struct recipe *r)
{
	struct recipe	*up = r->after;

	if (r->nsteps > 0 && r->kind == RECIPE_LINES)
		config_error(cp, r->after_line, "recipe '%s': after = '%s': "
		    "a lines recipe reads text from its source, not another "
		    "recipe's output", r->name, up->name);
	else if (r->nsteps > 0 && !r->writes)
		config_error(cp, r->after_line, "recipe '%s': after = '%s': "
		    "an info recipe records what its object is, so it cannot "
		    "take another recipe's output", r->name, up->name);
	if (up->nsteps == 0 || up == r)
		return;
	if (!up->writes)
		config_error(cp, r->after_line, "recipe '%s': after = '%s': "
		    "'%s' writes no output to take as input (its only step, "
		    "info, records to the database)", r->name, up->name,
		    up->name);
	else if (up->output_kind == OUTPUT_TABLE)
		config_error(cp, r->after_line, "recipe '%s': after = '%s': "
		    "'%s' writes rows into a table, not a file to take as "
		    "input", r->name, up->name, up->name);
}

/*
 * Report the cycle through r if r is its first recipe in the file, so
 * each cycle is reported once: "a (line 3) -> b (line 9) -> a".
 */
static void
config_check_cycle(struct config_parse *cp, struct recipe *r)
{
	struct config	*conf = cp->conf;
	struct recipe	*p;
	char		*path, *next;
	size_t		 i, n, first;

	if (r->after == r) {
		config_error(cp, r->after_line, "recipe '%s': after = '%s': "
		    "a recipe cannot follow itself", r->name, r->name);
		return;
	}
	p = r->after;
	for (n = 0; p != NULL && p != r && n < conf->nrecipes; n++)
		p = p->after;
	if (p != r)
		return;
	for (first = 0; conf->recipes[first] != r; first++)
		;
	for (p = r->after; p != r; p = p->after) {
		for (i = 0; conf->recipes[i] != p; i++)
			;
		if (i < first)
			return;
	}
	xasprintf(&path, "'%s' (line %d)", r->name, r->after_line);
	for (p = r->after; p != r; p = p->after) {
		xasprintf(&next, "%s -> '%s' (line %d)", path, p->name,
		    p->after_line);
		free(path);
		path = next;
	}
	config_error(cp, r->after_line, "recipe '%s': after: the recipes %s "
	    "-> '%s' form a cycle: each one's input would be the next one's "
	    "output", r->name, path, r->name);
	free(path);
}

/* Fold upstream hashes in, upstream first, once each. */
static void
config_chain_hash(struct recipe *r, struct strv *done)
{
	size_t	 i;

	if (r->after == NULL)
		return;
	for (i = 0; i < done->n; i++) {
		if (strcmp(done->v[i], r->name) == 0)
			return;
	}
	config_chain_hash(r->after, done);
	recipe_chain_hash(r, r->after->hash);
	strv_push(done, r->name);
}

/*
 * Chains: each after = names a recipe that writes an output; no source
 * lists a recipe that follows another (its input is that one's output);
 * no cycles. Then each upstream learns what follows it, and each chained
 * recipe's hash takes in its upstream's.
 */
static void
config_resolve_chains(struct config_parse *cp)
{
	struct config	*conf = cp->conf;
	struct recipe	*r, *up;
	struct source	*src;
	struct strv	 done = { NULL, 0 };
	size_t		 i, j, before = cp->errors->n;

	for (i = 0; i < conf->nrecipes; i++) {
		r = conf->recipes[i];
		if (r->after_name == NULL)
			continue;
		if ((up = config_find_recipe(conf, r->after_name)) == NULL) {
			config_error(cp, r->after_line, "recipe '%s' (line %d): "
			    "after = '%s': no such recipe", r->name, r->line,
			    r->after_name);
			continue;
		}
		r->after = up;
		config_check_link(cp, r);
	}
	for (i = 0; i < conf->nsources; i++) {
		src = conf->sources[i];
		for (j = 0; j < src->nrecipes; j++) {
			r = src->recipes[j];
			if (r->after_name == NULL)
				continue;
			config_error(cp, src->recipes_line, "source '%s': "
			    "recipe '%s' follows '%s' (after, line %d): its "
			    "input is that recipe's output, so no source may "
			    "list it", src->name, r->name, r->after_name,
			    r->after_line);
		}
	}
	for (i = 0; i < conf->nrecipes; i++) {
		if (conf->recipes[i]->after != NULL)
			config_check_cycle(cp, conf->recipes[i]);
	}
	if (cp->errors->n != before)
		return;
	for (i = 0; i < conf->nrecipes; i++) {
		r = conf->recipes[i];
		if ((up = r->after) == NULL)
			continue;
		up->next = xreallocarray(up->next, up->nnext + 1,
		    sizeof *up->next);
		up->next[up->nnext++] = r;
	}
	for (i = 0; i < conf->nrecipes; i++)
		config_chain_hash(conf->recipes[i], &done);
	strv_clear(&done);
}

/*
 * Defaults, then the checks that need the whole file: recipes first, as
 * the sources' loop guards need their output roots; the s3 outputs last,
 * as they need every source.
 */
static void
config_resolve(struct config_parse *cp)
{
	struct config	*conf = cp->conf;
	size_t		 i;

	config_resolve_globals(cp);
	for (i = 0; i < conf->nrecipes; i++)
		config_resolve_recipe(cp, conf->recipes[i]);
	for (i = 0; i < conf->nsources; i++)
		config_resolve_source(cp, conf->sources[i]);
	config_resolve_chains(cp);
	for (i = 0; i < conf->nschedules; i++)
		config_resolve_schedule(cp, conf->schedules[i]);
	if (conf->nsources == 0 && conf->nschedules == 0)
		config_error(cp, 0, "no sources: add a [source.NAME] section");
	config_s3_outputs(cp);
}

/*
 * Read and check a config file. Returns the config, or NULL with every
 * problem appended to errors as "file:line: message".
 */
struct config *
config_load(const char *path, struct strv *errors)
{
	struct config_parse	 cp;
	struct config		*conf;
	char			*cwd, *slash, *msg;
	size_t			 before = errors->n;
	int			 rc;

	memset(&cp, 0, sizeof cp);
	conf = xcalloc(1, sizeof *conf);
	if (path[0] == '/')
		conf->file = xstrdup(path);
	else {
		if ((cwd = getcwd(NULL, 0)) == NULL)
			fatal("getcwd");
		conf->file = path_absolute(cwd, path);
		free(cwd);
	}
	slash = strrchr(conf->file, '/');
	conf->dir = (slash == conf->file) ? xstrdup("/") :
	    xstrndup(conf->file, slash - conf->file);
	conf->lease = 300;
	conf->max_attempts = 5;
	conf->poll = 5;
	conf->log_level = LOG_LEVEL_INFO;

	cp.conf = conf;
	cp.path = path;
	cp.errors = errors;
	if ((cp.f = fopen(path, "re")) == NULL && errno == ENOENT)
		xasprintf(&msg, "%s: cannot open: %s (start from the annotated "
		    "sample, %s/samples/objwatch.conf, or give another file "
		    "with -c FILE or OBJWATCH_CONFIG)", path, strerror(errno),
		    PKGDATADIR);
	else if (cp.f == NULL)
		xasprintf(&msg, "%s: cannot open: %s", path, strerror(errno));
	if (cp.f == NULL) {
		strv_push(errors, msg);
		free(msg);
		config_free(conf);
		return (NULL);
	}
	/* Recipes can be long: a line of up to 16 KB, read into the heap. */
	ini_use_stack = false;
	ini_max_line = 16384;
	ini_initial_alloc = 16384;
	rc = ini_parse_stream(config_reader, &cp, config_handler, &cp);
	fclose(cp.f);
	if (rc > 0)
		config_error(&cp, rc, "cannot parse this line (expected "
		    "[section], key = value or a ; comment)");
	else if (rc < 0)
		config_error(&cp, 0, "cannot read the file");
	config_resolve(&cp);
	conf->log_level_set = conf->log_level;
	free(cp.section);
	strv_clear(&cp.seen);
	if (errors->n != before) {
		config_free(conf);
		return (NULL);
	}
	return (conf);
}

static void
recipe_free(struct recipe *r)
{
	recipe_free_steps(r);
	free(r->name);
	free(r->steps_text);
	free(r->output);
	free(r->output_template);
	free(r->output_root);
	free(r->output_bucket);
	free(r->output_table);
	free(r->notify);
	free(r->notify_url);
	free(r->notify_secret);
	free(r->notify_secret_value);
	free(r->notify_ca_file);
	free(r->after_name);
	free(r->next);
	free(r);
}

/* Free a config and everything in it. */
void
config_free(struct config *conf)
{
	struct source	*src;
	size_t		 i;

	if (conf == NULL)
		return;
	if (conf->nsources_all > conf->nsources)
		conf->nsources = conf->nsources_all;
	for (i = 0; i < conf->nsources; i++) {
		src = conf->sources[i];
		free(src->name);
		free(src->path);
		strv_clear(&src->include);
		strv_clear(&src->exclude);
		strv_clear(&src->recipe_names);
		strv_clear(&src->skip_roots);
		free(src->endpoint);
		free(src->bucket);
		free(src->prefix);
		free(src->access_key);
		free(src->secret_key);
		free(src->access_key_value);
		free(src->secret_key_value);
		free(src->webhook_token);
		free(src->webhook_token_value);
		free(src->region);
		free(src->session_token);
		free(src->session_token_value);
		free(src->ca_file);
		free(src->recipes);
		free(src);
	}
	for (i = 0; i < conf->nrecipes; i++)
		recipe_free(conf->recipes[i]);
	for (i = 0; i < conf->nschedules; i++)
		schedule_free(conf->schedules[i]);
	free(conf->schedules);
	free(conf->sources);
	free(conf->recipes);
	free(conf->file);
	free(conf->dir);
	free(conf->database);
	free(conf->state_dir);
	free(conf->listen);
	free(conf->log_file);
	free(conf);
}

/* The recipe called name, or NULL. */
struct recipe *
config_find_recipe(const struct config *conf, const char *name)
{
	size_t	 i;

	for (i = 0; i < conf->nrecipes; i++) {
		if (strcmp(conf->recipes[i]->name, name) == 0)
			return (conf->recipes[i]);
	}
	return (NULL);
}

/* The source called name, or NULL (even one a scan left out). */
struct source *
config_find_source(const struct config *conf, const char *name)
{
	size_t	 i, n;

	n = conf->nsources_all > conf->nsources ? conf->nsources_all :
	    conf->nsources;
	for (i = 0; i < n; i++) {
		if (strcmp(conf->sources[i]->name, name) == 0)
			return (conf->sources[i]);
	}
	return (NULL);
}

static void
print_list(FILE *f, const char *key, const struct strv *sv)
{
	char	*s = strv_join(sv, " ");

	fprintf(f, "%s = %s\n", key, s);
	free(s);
}

/* A secret for printing: where it comes from, never its value. */
static const char *
secret_shown(const char *as_written)
{
	if (as_written == NULL)
		return ("(from the environment, not shown)");
	if (strncmp(as_written, "env:", 4) == 0)
		return (as_written);
	return ("(set, not shown)");
}

static void
config_print_s3(const struct source *src, FILE *f)
{
	fprintf(f, "endpoint = %s\n", src->endpoint);
	fprintf(f, "bucket = %s\n", src->bucket);
	fprintf(f, "prefix = %s\n", src->prefix);
	fprintf(f, "access_key = %s\n", src->access_key == NULL ?
	    "env:AWS_ACCESS_KEY_ID" : secret_shown(src->access_key));
	fprintf(f, "secret_key = %s\n", src->secret_key == NULL ?
	    "env:AWS_SECRET_ACCESS_KEY" : secret_shown(src->secret_key));
	fprintf(f, "https = %s\n", yes_no[src->https]);
	fprintf(f, "uri_style = %s\n", uri_styles[src->uri_style]);
	fprintf(f, "poll = %gs\n", src->poll);
	if (src->webhook_token != NULL)
		fprintf(f, "webhook_token = %s\n",
		    secret_shown(src->webhook_token));
	fprintf(f, "signature = %s\n", signatures[src->signature]);
	if (src->signature == S3_SIGNATURE_V4)
		fprintf(f, "region = %s\n", src->region);
	if (src->session_token != NULL)
		fprintf(f, "session_token = %s\n",
		    secret_shown(src->session_token));
	fprintf(f, "ca_file = %s\n", src->ca_file != NULL ? src->ca_file :
	    "(the system's CA bundle)");
}

/* The chain below r: "; then = b (then c d), e". */
static void
config_print_next(const struct recipe *r, FILE *f)
{
	size_t	 i;

	for (i = 0; i < r->nnext; i++) {
		fprintf(f, "%s%s", i == 0 ? "" : ", ", r->next[i]->name);
		if (r->next[i]->nnext > 0) {
			fputs(" (then ", f);
			config_print_next(r->next[i], f);
			fputc(')', f);
		}
	}
}

/* What follows a recipe, as a comment: the chain it starts. */
static void
config_print_chain(const struct recipe *r, FILE *f)
{
	if (r->nnext == 0)
		return;
	fputs("; then = ", f);
	config_print_next(r, f);
	fputc('\n', f);
}

/*
 * Print the resolved configuration as an INI file: every default filled
 * in, every path absolute. The database URL is not printed: it may hold a
 * password.
 */
void
config_print(const struct config *conf, FILE *f)
{
	const struct source	*src;
	const struct recipe	*r;
	size_t			 i;

	fprintf(f, "; %s\n[objwatch]\n", conf->file);
	fprintf(f, "database = %s\n", conf->database == NULL ?
	    "(embedded cluster under state_dir)" : "(configured, not shown)");
	fprintf(f, "state_dir = %s\n", conf->state_dir);
	fprintf(f, "workers = %d\n", conf->workers);
	fprintf(f, "listen = %s\n", conf->listen);
	fprintf(f, "log = %s\n", conf->log_json ? "json" : "text");
	fprintf(f, "log_level = %s\n", log_levels[conf->log_level_set]);
	fprintf(f, "log_file = %s\n", conf->log_file == NULL ?
	    "(standard error)" : conf->log_file);
	fprintf(f, "lease = %gs\n", conf->lease);
	fprintf(f, "max_attempts = %d\n", conf->max_attempts);
	fprintf(f, "poll = %gs\n", conf->poll);
	fprintf(f, "max_pixels = %lld\n", conf->max_pixels);
	fprintf(f, "max_input_bytes = %lld\n", conf->max_input_bytes);
	fprintf(f, "max_pages = %d\n", conf->max_pages);
	for (i = 0; i < conf->nsources; i++) {
		src = conf->sources[i];
		fprintf(f, "\n[source.%s]\n", src->name);
		fprintf(f, "type = %s\n", source_types[src->type]);
		if (src->type == SOURCE_S3)
			config_print_s3(src, f);
		else
			fprintf(f, "path = %s\n", src->path);
		print_list(f, "include", &src->include);
		print_list(f, "exclude", &src->exclude);
		print_list(f, "recipes", &src->recipe_names);
		if (src->type == SOURCE_DIR) {
			fprintf(f, "settle = %gs\n", src->settle);
			fprintf(f, "reconcile = %gs\n", src->reconcile);
		}
		fprintf(f, "on_delete = %s\n",
		    on_delete_choices[src->on_delete]);
	}
	for (i = 0; i < conf->nrecipes; i++) {
		r = conf->recipes[i];
		fprintf(f, "\n[recipe.%s]\n", r->name);
		fprintf(f, "; hash %s\n", r->hash);
		fprintf(f, "steps = %s\n", r->steps_text);
		if (r->after != NULL)
			fprintf(f, "after = %s\n", r->after->name);
		config_print_chain(r, f);
		if (r->output_kind == OUTPUT_TABLE)
			fprintf(f, "output = %s\n", r->output);
		else if (r->writes && r->output_kind == OUTPUT_S3)
			fprintf(f, "output = %s\n", r->output_template);
		else if (r->writes)
			fprintf(f, "output = dir:%s\n", r->output_template);
		fprintf(f, "reprocess = %s\n", r->reprocess ? "yes" : "no");
		fprintf(f, "max_pixels = %lld\n", r->max_pixels);
		fprintf(f, "max_input_bytes = %lld\n", r->max_input_bytes);
		fprintf(f, "max_pages = %d\n", r->max_pages);
		deliver_print(r, f);
	}
	for (i = 0; i < conf->nschedules; i++)
		schedule_print(conf->schedules[i], f);
}
