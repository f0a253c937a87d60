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
	SECTION_RECIPE
};

enum key_type {
	KEY_STRING,
	KEY_PATH,	/* resolved against the config file's folder */
	KEY_INT,
	KEY_DURATION,
	KEY_LIST,	/* whitespace-separated words, joined over lines */
	KEY_STEPS,	/* joined over lines with a space */
	KEY_ENUM
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
static const char *const log_formats[] = { "text", "json", NULL };
static const char *const on_delete_choices[] = { "keep", "remove", NULL };
static const char *const log_levels[] = { "error", "warning", "info", "debug",
    NULL };

#define NO_LINE ((size_t)-1)
#define MAIN(n, t, f) { SECTION_MAIN, n, t, offsetof(struct config, f), \
    0, 0, NULL, NO_LINE }
#define SRC(n, t, f) { SECTION_SOURCE, n, t, offsetof(struct source, f), \
    0, 0, NULL, NO_LINE }

static const struct config_key config_keys[] = {
	MAIN("database", KEY_STRING, database),
	MAIN("state_dir", KEY_PATH, state_dir),
	{ SECTION_MAIN, "workers", KEY_INT, offsetof(struct config, workers),
	  0, 256, NULL, NO_LINE },
	MAIN("listen", KEY_STRING, listen),
	{ SECTION_MAIN, "log", KEY_ENUM, offsetof(struct config, log_json),
	  0, 0, log_formats, NO_LINE },
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

	{ SECTION_RECIPE, "steps", KEY_STEPS,
	  offsetof(struct recipe, steps_text), 0, 0, NULL,
	  offsetof(struct recipe, steps_line) },
	{ SECTION_RECIPE, "output", KEY_STRING,
	  offsetof(struct recipe, output), 0, 0, NULL,
	  offsetof(struct recipe, output_line) },
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
		for (i = 0; i < conf->nsources; i++) {
			if (strcmp(conf->sources[i]->name, name) == 0)
				return (conf->sources[i]);
		}
		src = xcalloc(1, sizeof *src);
		src->name = xstrdup(name);
		src->line = cp->section_line;
		src->type = -1;
		conf->sources = xreallocarray(conf->sources,
		    conf->nsources + 1, sizeof *conf->sources);
		conf->sources[conf->nsources++] = src;
		cp->kind = SECTION_SOURCE;
		if (*name == '\0')
			config_error(cp, cp->line, "source section needs a "
			    "name: [source.NAME]");
		return (src);
	}
	if (strncmp(section, "recipe.", 7) == 0) {
		name = section + 7;
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
			config_error(cp, cp->section_line, "recipe section needs a "
			    "name: [recipe.NAME]");
		return (r);
	}
	config_error(cp, cp->section_line, "unknown section '%s' (expected objwatch, "
	    "source.NAME or recipe.NAME)", section);
	return (NULL);
}

static int
config_set(struct config_parse *cp, const struct config_key *k,
    const char *value, int continuation)
{
	char		*base = cp->target, **sp, *joined;
	struct strv	*sv;
	long		 l;
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

/* Defaults, then the checks that need the whole file. */
static void
config_resolve(struct config_parse *cp)
{
	struct config	*conf = cp->conf;
	struct source	*src;
	struct recipe	*r;
	struct stat	 st;
	char		*cause, *root;
	size_t		 i, j, k;

	if (conf->state_dir == NULL)
		conf->state_dir = path_absolute(conf->dir, "var");
	if (conf->database != NULL && *conf->database == '\0')
		FREE_NULL(conf->database);
	if (conf->workers == 0)
		conf->workers = ncpus();
	if (conf->listen == NULL)
		conf->listen = xstrdup("127.0.0.1:9780");

	for (i = 0; i < conf->nrecipes; i++) {
		r = conf->recipes[i];
		if (r->steps_text == NULL)
			config_error(cp, r->line, "recipe '%s' has no 'steps'",
			    r->name);
		else if (recipe_parse_steps(r, &cause) != 0) {
			config_error(cp, r->steps_line, "%s", cause);
			free(cause);
		}
		if (r->output == NULL) {
			config_error(cp, r->line, "recipe '%s' has no "
			    "'output' (for example dir:/srv/out/{key}.{ext})",
			    r->name);
			continue;
		}
		if (strncmp(r->output, "dir:", 4) == 0) {
			r->output_kind = OUTPUT_DIR;
			if (r->output[4] == '\0') {
				config_error(cp, r->output_line, "recipe '%s': "
				    "output 'dir:' names no folder", r->name);
				continue;
			}
			r->output_template = path_absolute(conf->dir,
			    r->output + 4);
		} else if (strncmp(r->output, "s3:", 3) == 0) {
			config_error(cp, r->output_line, "recipe '%s': s3: "
			    "outputs are not supported by this build yet; use "
			    "dir:", r->name);
			continue;
		} else {
			config_error(cp, r->output_line, "recipe '%s': output "
			    "'%s' must start with dir: (a folder) or s3: (a "
			    "bucket)", r->name, r->output);
			continue;
		}
		if (template_check(r->output + 4, &cause) != 0) {
			config_error(cp, r->output_line, "recipe '%s': %s",
			    r->name, cause);
			free(cause);
			continue;
		}
		r->output_root = template_root(r->output_template);
	}

	for (i = 0; i < conf->nsources; i++) {
		src = conf->sources[i];
		if ((int)src->type == -1) {
			config_error(cp, src->line, "source '%s' has no 'type' "
			    "(dir or s3)", src->name);
			continue;
		}
		if (src->type == SOURCE_S3) {
			config_error(cp, src->line, "source '%s': type 's3' is "
			    "not supported by this build yet", src->name);
			continue;
		}
		if (src->settle == 0)
			src->settle = DEFAULT_SETTLE;
		if (src->reconcile == 0)
			src->reconcile = DEFAULT_RECONCILE;
		if (src->include.n == 0)
			strv_split_words(&src->include, DEFAULT_INCLUDE);
		if (src->exclude.n == 0)
			strv_split_words(&src->exclude, DEFAULT_EXCLUDE);
		else if (src->exclude.n == 1 && *src->exclude.v[0] == '\0')
			strv_clear(&src->exclude);
		if (src->include.n == 1 && *src->include.v[0] == '\0')
			config_error(cp, src->line, "source '%s': 'include' "
			    "is empty, so nothing would be processed",
			    src->name);
		if (src->path == NULL)
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
		if (src->recipe_names.n == 0) {
			config_error(cp, src->line, "source '%s' has no "
			    "'recipes'", src->name);
			continue;
		}
		src->recipes = xcalloc(src->recipe_names.n,
		    sizeof *src->recipes);
		for (j = 0; j < src->recipe_names.n; j++) {
			r = config_find_recipe(conf, src->recipe_names.v[j]);
			if (r == NULL) {
				config_error(cp, src->recipes_line, "source '%s': no "
				    "recipe '%s' (define [recipe.%s])",
				    src->name, src->recipe_names.v[j],
				    src->recipe_names.v[j]);
				continue;
			}
			src->recipes[src->nrecipes++] = r;
		}
		/* Loop guard: outputs written inside this source. */
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
	if (conf->nsources == 0)
		config_error(cp, 0, "no sources: add a [source.NAME] section");
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
	if ((cp.f = fopen(path, "re")) == NULL) {
		xasprintf(&msg, "%s: cannot open: %s", path, strerror(errno));
		strv_push(errors, msg);
		free(msg);
		config_free(conf);
		return (NULL);
	}
	ini_use_stack = false;
	ini_max_line = 16384;
	rc = ini_parse_stream(config_reader, &cp, config_handler, &cp);
	fclose(cp.f);
	if (rc > 0)
		config_error(&cp, rc, "cannot parse this line (expected "
		    "[section], key = value or a ; comment)");
	else if (rc < 0)
		config_error(&cp, 0, "cannot read the file");
	config_resolve(&cp);
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
	for (i = 0; i < conf->nsources; i++) {
		src = conf->sources[i];
		free(src->name);
		free(src->path);
		strv_clear(&src->include);
		strv_clear(&src->exclude);
		strv_clear(&src->recipe_names);
		strv_clear(&src->skip_roots);
		free(src->recipes);
		free(src);
	}
	for (i = 0; i < conf->nrecipes; i++)
		recipe_free(conf->recipes[i]);
	free(conf->sources);
	free(conf->recipes);
	free(conf->file);
	free(conf->dir);
	free(conf->database);
	free(conf->state_dir);
	free(conf->listen);
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

/* The source called name, or NULL. */
struct source *
config_find_source(const struct config *conf, const char *name)
{
	size_t	 i;

	for (i = 0; i < conf->nsources; i++) {
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
	fprintf(f, "log_level = %s\n", log_levels[conf->log_level]);
	fprintf(f, "lease = %gs\n", conf->lease);
	fprintf(f, "max_attempts = %d\n", conf->max_attempts);
	fprintf(f, "poll = %gs\n", conf->poll);
	for (i = 0; i < conf->nsources; i++) {
		src = conf->sources[i];
		fprintf(f, "\n[source.%s]\n", src->name);
		fprintf(f, "type = %s\n", source_types[src->type]);
		fprintf(f, "path = %s\n", src->path);
		print_list(f, "include", &src->include);
		print_list(f, "exclude", &src->exclude);
		print_list(f, "recipes", &src->recipe_names);
		if (src->type == SOURCE_DIR) {
			fprintf(f, "settle = %gs\n", src->settle);
			fprintf(f, "reconcile = %gs\n", src->reconcile);
			fprintf(f, "on_delete = %s\n",
			    on_delete_choices[src->on_delete]);
		}
	}
	for (i = 0; i < conf->nrecipes; i++) {
		r = conf->recipes[i];
		fprintf(f, "\n[recipe.%s]\n", r->name);
		fprintf(f, "; hash %s\n", r->hash);
		fprintf(f, "steps = %s\n", r->steps_text);
		fprintf(f, "output = dir:%s\n", r->output_template);
	}
}
