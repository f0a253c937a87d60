/*
 * The lines step's language: how a line of text becomes a row.
 *
 *	steps = lines format=nginx
 *	steps = lines format=csv header=yes columns="day:timestamptz,
 *	    item:text,qty:bigint,price:numeric" drop_if="qty = 0"
 *	steps = lines format=regex pattern='^(?<level>\w+): (?<msg>.*)$'
 *
 * A spec (parsed once, from the step's parameters) says where each
 * declared column takes its value: a field of a JSON object (a dotted
 * path), a CSV field (by header name or position), or a named group of a
 * PCRE2 pattern; presets (nginx, apache, syslog) are patterns with their
 * columns and time formats. A parser (one per job) turns each line into
 * one row in PostgreSQL's COPY text format, or drops it (a filter, a
 * comment, a blank line), or rejects it with a reason a person can act on.
 * Every value is converted and checked here, in C, before it reaches the
 * COPY, so a bad value is a reject of its line and never the failure of a
 * whole file's COPY; and a rejected line leaves nothing in the output.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <jansson.h>

#include "objwatch.h"
#include "banned.h"

enum col_type {
	COL_TEXT,
	COL_BIGINT,
	COL_NUMERIC,
	COL_DOUBLE,
	COL_BOOLEAN,
	COL_TIMESTAMPTZ,
	COL_INET,
	COL_JSONB
};

/* The words of columns=, and the names PostgreSQL's format_type gives. */
static const struct {
	const char	*word;
	const char	*sql;
} col_types[] = {
	[COL_TEXT] = { "text", "text" },
	[COL_BIGINT] = { "bigint", "bigint" },
	[COL_NUMERIC] = { "numeric", "numeric" },
	[COL_DOUBLE] = { "double", "double precision" },
	[COL_BOOLEAN] = { "boolean", "boolean" },
	[COL_TIMESTAMPTZ] = { "timestamptz", "timestamp with time zone" },
	[COL_INET] = { "inet", "inet" },
	[COL_JSONB] = { "jsonb", "jsonb" },
};

enum lines_format {
	FMT_JSON,
	FMT_CSV,
	FMT_REGEX
};

struct lines_column {
	char		*name;
	enum col_type	 type;
	char		*from;		/* the field it reads, as written */
	struct strv	 path;		/* json: from split on '.' */
	int		 pos;		/* csv without header: 0-based */
	char		*time_format;	/* NULL: ISO 8601 */
	int		 time_user;	/* time_format set by the recipe */
	char		*def;		/* the default, checked; or NULL */
};

/* A pattern and, for each column, its group number (0: none). */
struct lines_pattern {
	pcre2_code	*re;
	int		*group;
	const char	*time_format;	/* a preset's, for its time column */
};

enum {
	OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_MATCH, OP_NOMATCH
};

struct lines_cond {
	size_t		 col;
	int		 op;
	char		*value;
	double		 num;
	int		 isnum;
	pcre2_code	*re;
	int		 or_next;	/* joined to the next one by or */
};

struct lines_filter {
	struct lines_cond	*c;
	size_t			 n;
};

struct lines_spec {
	enum lines_format	 format;
	const char		*preset;
	struct lines_column	*cols;
	size_t			 ncols;
	char			 delim, quote, comment;
	int			 header;
	struct lines_pattern	 pats[3];
	int			 npats;
	int			 dash_absent;
	struct lines_filter	 keep, drop;
	size_t			 max_line;
	int			 max_rejects;
	int			 follow;
	locale_t		 c_locale;
};

/* One preset: its patterns, their time formats, and its columns. */
struct lines_preset {
	const char	*name;
	const char	*patterns[3];
	const char	*time_formats[3];
	const char	*columns;
};

#define COMBINED_RE \
	"^(?<remote_addr>\\S+) \\S+ (?<remote_user>\\S+) " \
	"\\[(?<time>[^\\]]+)\\] " \
	"\"(?:(?<method>[A-Z]+) (?<path>[^ \"]*)(?: (?<protocol>[^\"]*))?|" \
	"(?:[^\"\\\\]|\\\\.)*)\" (?<status>\\d{3}) (?<bytes>\\d+|-)" \
	"(?: \"(?<referer>(?:[^\"\\\\]|\\\\.)*)\" " \
	"\"(?<user_agent>(?:[^\"\\\\]|\\\\.)*)\")?"
#define COMBINED_COLUMNS \
	"remote_addr:inet,remote_user:text,time:timestamptz,method:text," \
	"path:text,protocol:text,status:bigint,bytes:bigint,referer:text," \
	"user_agent:text"
#define COMBINED_TIME	"%d/%b/%Y:%H:%M:%S %z"

static const struct lines_preset presets[] = {
	{ "nginx", { COMBINED_RE }, { COMBINED_TIME }, COMBINED_COLUMNS },
	{ "apache", { COMBINED_RE }, { COMBINED_TIME }, COMBINED_COLUMNS },
	{ "syslog", {
	    /* RFC 5424 */
	    "^(?:<(?<pri>\\d{1,3})>)?1 (?<time>\\S+) (?<host>\\S+) "
	    "(?<app>\\S+) (?<procid>\\S+) (?<msgid>\\S+) "
	    "(?<sd>-|(?:\\[(?:[^\\]\\\\]|\\\\.)*\\])+)(?: (?<message>.*))?$",
	    /* RFC 3164, as syslogd writes files */
	    "^(?:<(?<pri>\\d{1,3})>)?(?<time>[A-Z][a-z]{2} [ 0-9]\\d "
	    "\\d\\d:\\d\\d:\\d\\d) (?<host>\\S+) (?<app>[^:\\[ ]+)"
	    "(?:\\[(?<procid>[^\\]]*)\\])?: ?(?<message>.*)$",
	    /* the same with an RFC 3339 time, as rsyslog writes files */
	    "^(?:<(?<pri>\\d{1,3})>)?(?<time>\\d{4}-\\d\\d-\\d\\dT\\S+) "
	    "(?<host>\\S+) (?<app>[^:\\[ ]+)(?:\\[(?<procid>[^\\]]*)\\])?: ?"
	    "(?<message>.*)$" },
	  { NULL, "%b %e %H:%M:%S", NULL },
	  "pri:bigint,time:timestamptz,host:text,app:text,procid:text,"
	  "msgid:text,sd:text,message:text" },
};

/* The longest value quoted in a reject's reason. */
#define SHOW_MAX	60

static void
lines_filter_clear(struct lines_filter *f)
{
	size_t	 i;

	for (i = 0; i < f->n; i++) {
		free(f->c[i].value);
		if (f->c[i].re != NULL)
			pcre2_code_free(f->c[i].re);
	}
	free(f->c);
	f->c = NULL;
	f->n = 0;
}

/* Free a spec and everything it holds. */
void
lines_spec_free(struct lines_spec *spec)
{
	size_t			 i;
	int			 k;

	if (spec == NULL)
		return;
	for (i = 0; i < spec->ncols; i++) {
		free(spec->cols[i].name);
		free(spec->cols[i].from);
		strv_clear(&spec->cols[i].path);
		free(spec->cols[i].time_format);
		free(spec->cols[i].def);
	}
	free(spec->cols);
	for (k = 0; k < spec->npats; k++) {
		pcre2_code_free(spec->pats[k].re);
		free(spec->pats[k].group);
	}
	lines_filter_clear(&spec->keep);
	lines_filter_clear(&spec->drop);
	if (spec->c_locale != (locale_t)0)
		freelocale(spec->c_locale);
	free(spec);
}

/* Compile a pattern for matching lines (JIT when the machine has it). */
static pcre2_code *
lines_compile(const char *pattern, const char *what, char **cause)
{
	pcre2_code	*re;
	PCRE2_UCHAR	 msg[256];
	PCRE2_SIZE	 at;
	int		 err;

	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF, &err, &at, NULL);
	if (re == NULL) {
		pcre2_get_error_message(err, msg, sizeof msg);
		xasprintf(cause, "%s: %s at offset %zu", what, (char *)msg,
		    (size_t)at);
		return (NULL);
	}
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	return (re);
}

/* A column name: a plain lowercase SQL identifier of ours to quote. */
static int
lines_name_ok(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > 63 || !(islower((unsigned char)s[0]) ||
	    s[0] == '_'))
		return (0);
	for (i = 1; i < len; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)
		    s[i]) && s[i] != '_')
			return (0);
	return (1);
}

static ssize_t
lines_find_column(const struct lines_spec *spec, const char *name,
    size_t len)
{
	size_t	 i;

	for (i = 0; i < spec->ncols; i++)
		if (strlen(spec->cols[i].name) == len &&
		    memcmp(spec->cols[i].name, name, len) == 0)
			return ((ssize_t)i);
	return (-1);
}

/* Parse "name:type[:time format],...". */
static int
lines_parse_columns(struct lines_spec *spec, const char *text, char **cause)
{
	const char		*p = text, *end, *c1, *c2;
	struct lines_column	*col;
	size_t			 i, namelen, typelen;
	int			 t;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		while (end > p && (end[-1] == ' ' || end[-1] == '\t' ||
		    end[-1] == '\n'))
			end--;
		if (end == p) {
			xasprintf(cause, "parameter 'columns': an empty "
			    "column in '%s'", text);
			return (-1);
		}
		c1 = memchr(p, ':', end - p);
		namelen = (c1 != NULL ? c1 : end) - p;
		if (!lines_name_ok(p, namelen)) {
			xasprintf(cause, "parameter 'columns': '%.*s' is not "
			    "a column name (lowercase letters, digits and _, "
			    "starting with a letter or _)", (int)namelen, p);
			return (-1);
		}
		if ((namelen == 9 && memcmp(p, "object_id", 9) == 0) ||
		    (namelen == 7 && memcmp(p, "line_no", 7) == 0)) {
			xasprintf(cause, "parameter 'columns': '%.*s' is the "
			    "name of a column objwatch adds itself",
			    (int)namelen, p);
			return (-1);
		}
		if (lines_find_column(spec, p, namelen) >= 0) {
			xasprintf(cause, "parameter 'columns': column '%.*s' "
			    "is declared twice", (int)namelen, p);
			return (-1);
		}
		t = COL_TEXT;
		c2 = NULL;
		if (c1 != NULL) {
			c2 = memchr(c1 + 1, ':', end - c1 - 1);
			typelen = (c2 != NULL ? c2 : end) - (c1 + 1);
			for (t = 0; t < (int)nitems(col_types); t++)
				if (strlen(col_types[t].word) == typelen &&
				    memcmp(col_types[t].word, c1 + 1,
				    typelen) == 0)
					break;
			if (t == (int)nitems(col_types)) {
				xasprintf(cause, "parameter 'columns': column "
				    "'%.*s': unknown type '%.*s' (expected "
				    "text, bigint, numeric, double, boolean, "
				    "timestamptz, inet or jsonb)",
				    (int)namelen, p, (int)typelen, c1 + 1);
				return (-1);
			}
			if (c2 != NULL && t != COL_TIMESTAMPTZ) {
				xasprintf(cause, "parameter 'columns': column "
				    "'%.*s': only a timestamptz takes a "
				    "format", (int)namelen, p);
				return (-1);
			}
		}
		spec->cols = xreallocarray(spec->cols, spec->ncols + 1,
		    sizeof *spec->cols);
		col = &spec->cols[spec->ncols++];
		memset(col, 0, sizeof *col);
		col->name = xstrndup(p, namelen);
		col->type = t;
		if (c2 != NULL) {
			col->time_format = xstrndup(c2 + 1, end - c2 - 1);
			col->time_user = 1;
		}
		p = *end == ',' ? end + 1 : end;
	}
	if (spec->ncols == 0) {
		xasprintf(cause, "parameter 'columns' declares no column");
		return (-1);
	}
	for (i = 0; i < spec->ncols; i++)
		spec->cols[i].pos = (int)i;
	return (0);
}

/* Each column's group in each pattern; every column must have one. */
static int
lines_bind_groups(struct lines_spec *spec, char **cause)
{
	struct lines_column	*col;
	size_t			 i;
	int			 k, g, found;

	for (k = 0; k < spec->npats; k++)
		spec->pats[k].group = xcalloc(spec->ncols, sizeof(int));
	for (i = 0; i < spec->ncols; i++) {
		col = &spec->cols[i];
		found = 0;
		for (k = 0; k < spec->npats; k++) {
			g = pcre2_substring_number_from_name(spec->pats[k].re,
			    (PCRE2_SPTR)col->from);
			if (g > 0) {
				spec->pats[k].group[i] = g;
				found = 1;
			}
		}
		if (!found) {
			xasprintf(cause, "column '%s': the pattern has no group "
			    "named '%s' (write it (?<%s>...))", col->name,
			    col->from, col->from);
			return (-1);
		}
	}
	return (0);
}

/* Default columns of a regex: its named groups, as text, in order. */
static void
lines_columns_from_groups(struct lines_spec *spec, pcre2_code *re)
{
	PCRE2_SPTR	 table;
	uint32_t	 count, size, i;
	struct buf	 b;
	const char	*name;

	buf_init(&b);
	pcre2_pattern_info(re, PCRE2_INFO_NAMECOUNT, &count);
	pcre2_pattern_info(re, PCRE2_INFO_NAMEENTRYSIZE, &size);
	pcre2_pattern_info(re, PCRE2_INFO_NAMETABLE, &table);
	for (i = 0; i < count; i++) {
		name = (const char *)table + i * size + 2;
		buf_printf(&b, "%s%s", b.len > 0 ? "," : "", name);
	}
	if (b.len > 0) {
		char	*ignored = NULL;

		(void)lines_parse_columns(spec, b.s, &ignored);
		free(ignored);
	}
	buf_clear(&b);
}

static int
lines_check_value(const struct lines_spec *, const struct lines_column *,
    const char *, size_t, char **);

/*
 * Parse one filter: COLUMN OP VALUE, joined by and / or (and binds
 * tighter). A value with spaces is quoted with single quotes.
 */
static int
lines_parse_filter(struct lines_spec *spec, const char *key,
    const char *text, struct lines_filter *f, char **cause)
{
	static const char *const ops[] = {
		[OP_EQ] = "=", [OP_NE] = "!=", [OP_LT] = "<", [OP_LE] = "<=",
		[OP_GT] = ">", [OP_GE] = ">=", [OP_MATCH] = "~",
		[OP_NOMATCH] = "!~"
	};
	const char		*p = text, *w;
	struct lines_cond	*c;
	ssize_t			 col;
	size_t			 len;
	char			*end, *what;
	int			 op;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		w = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' &&
		    strchr("=!<>~", *p) == NULL)
			p++;
		if ((col = lines_find_column(spec, w, p - w)) < 0) {
			xasprintf(cause, "parameter '%s': '%.*s' at offset %zu "
			    "is not a declared column", key, (int)(p - w), w,
			    (size_t)(w - text));
			return (-1);
		}
		while (*p == ' ' || *p == '\t')
			p++;
		w = p;
		while (*p != '\0' && strchr("=!<>~", *p) != NULL)
			p++;
		for (op = 0; op < (int)nitems(ops); op++)
			if (strlen(ops[op]) == (size_t)(p - w) &&
			    memcmp(ops[op], w, p - w) == 0)
				break;
		if (op == (int)nitems(ops)) {
			xasprintf(cause, "parameter '%s': expected an operator "
			    "(= != < <= > >= ~ !~) at offset %zu", key,
			    (size_t)(w - text));
			return (-1);
		}
		while (*p == ' ' || *p == '\t')
			p++;
		f->c = xreallocarray(f->c, f->n + 1, sizeof *f->c);
		c = &f->c[f->n++];
		memset(c, 0, sizeof *c);
		c->col = (size_t)col;
		c->op = op;
		if (*p == '\'') {
			w = ++p;
			while (*p != '\0' && *p != '\'')
				p++;
			if (*p != '\'') {
				xasprintf(cause, "parameter '%s': a quote at "
				    "offset %zu is not closed", key,
				    (size_t)(w - 1 - text));
				return (-1);
			}
			c->value = xstrndup(w, p - w);
			p++;
		} else {
			w = p;
			while (*p != '\0' && *p != ' ' && *p != '\t')
				p++;
			if (p == w) {
				xasprintf(cause, "parameter '%s': a value is "
				    "missing at offset %zu", key,
				    (size_t)(w - text));
				return (-1);
			}
			c->value = xstrndup(w, p - w);
		}
		if (op == OP_MATCH || op == OP_NOMATCH) {
			xasprintf(&what, "parameter '%s': pattern '%s'", key,
			    c->value);
			c->re = lines_compile(c->value, what, cause);
			free(what);
			if (c->re == NULL)
				return (-1);
		} else {
			errno = 0;
			c->num = strtod(c->value, &end);
			c->isnum = errno == 0 && end != c->value && *end == '\0';
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return (0);
		w = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		len = p - w;
		if (len == 3 && strncmp(w, "and", 3) == 0)
			c->or_next = 0;
		else if (len == 2 && strncmp(w, "or", 2) == 0)
			c->or_next = 1;
		else {
			xasprintf(cause, "parameter '%s': expected 'and' or "
			    "'or' at offset %zu, not '%.*s'", key,
			    (size_t)(w - text), (int)len, w);
			return (-1);
		}
	}
}

/* A size with an optional K or M suffix, within [1, max]. */
static int
lines_parse_size(struct step *st, const char *key, long long def,
    long long max, long long *out, char **cause)
{
	const char	*v = step_arg(st, key);
	char		*end;
	long long	 n;

	if (v == NULL) {
		*out = def;
		return (0);
	}
	errno = 0;
	n = strtoll(v, &end, 10);
	if (*end == 'K' || *end == 'k')
		n *= 1024, end++;
	else if (*end == 'M' || *end == 'm')
		n *= 1024 * 1024, end++;
	if (errno != 0 || end == v || *end != '\0' || n < 1 || n > max) {
		xasprintf(cause, "parameter '%s' must be a size from 1 to "
		    "%lld (K and M suffixes allowed), not '%s'", key, max, v);
		return (-1);
	}
	*out = n;
	return (0);
}

/* One character parameter (delimiter, quote, comment), or "tab". */
static int
lines_parse_char(struct step *st, const char *key, char def, char *out,
    char **cause)
{
	const char	*v = step_arg(st, key);

	if (v == NULL)
		*out = def;
	else if (strcmp(v, "tab") == 0 || strcmp(v, "\\t") == 0)
		*out = '\t';
	else if (strlen(v) == 1 && v[0] != '\n' && v[0] != '\r')
		*out = v[0];
	else {
		xasprintf(cause, "parameter '%s' must be one character (or "
		    "tab), not '%s'", key, v);
		return (-1);
	}
	return (0);
}

/* The parameters with a column after the dot: default.X, from.X, .... */
static int
lines_per_column(struct step *st, struct lines_spec *spec, char **cause)
{
	static const char *const prefixes[] = {
		"default.", "from.", "time_format."
	};
	struct lines_column	*col;
	struct step_arg		*a;
	size_t			 i, k, plen;
	ssize_t			 ci;

	for (i = 0; i < st->nargs; i++) {
		a = &st->args[i];
		for (k = 0; k < nitems(prefixes); k++) {
			plen = strlen(prefixes[k]);
			if (strncmp(a->key, prefixes[k], plen) == 0)
				break;
		}
		if (k == nitems(prefixes))
			continue;
		a->used = 1;
		ci = lines_find_column(spec, a->key + plen,
		    strlen(a->key + plen));
		if (ci < 0) {
			xasprintf(cause, "parameter '%s': '%s' is not a "
			    "declared column", a->key, a->key + plen);
			return (-1);
		}
		col = &spec->cols[ci];
		if (k == 0) {
			free(col->def);
			col->def = xstrdup(a->value);
		} else if (k == 1) {
			free(col->from);
			col->from = xstrdup(a->value);
		} else {
			if (col->type != COL_TIMESTAMPTZ) {
				xasprintf(cause, "parameter '%s': column '%s' "
				    "is not a timestamptz", a->key, col->name);
				return (-1);
			}
			free(col->time_format);
			col->time_format = xstrdup(a->value);
			col->time_user = 1;
		}
	}
	return (0);
}

/* Where a csv column without a header reads: from.X is a position. */
static int
lines_csv_positions(struct lines_spec *spec, char **cause)
{
	struct lines_column	*col;
	size_t			 i;
	char			*end;
	long			 n;

	for (i = 0; i < spec->ncols; i++) {
		col = &spec->cols[i];
		if (strcmp(col->from, col->name) == 0)
			continue;
		n = strtol(col->from, &end, 10);
		if (*end != '\0' || n < 1 || n > 100000) {
			xasprintf(cause, "parameter 'from.%s': without a "
			    "header, a csv field is named by its position (1 "
			    "for the first), not '%s'", col->name, col->from);
			return (-1);
		}
		col->pos = (int)n - 1;
	}
	return (0);
}

/* A json column's dotted path, one name per level. */
static void
lines_split_path(struct strv *path, const char *from)
{
	const char	*p = from, *dot;
	char		*name;

	for (;;) {
		dot = strchr(p, '.');
		name = xstrndup(p, dot != NULL ? (size_t)(dot - p) : strlen(p));
		strv_push(path, name);
		free(name);
		if (dot == NULL)
			break;
		p = dot + 1;
	}
}

static int
lines_spec_format(struct step *st, struct lines_spec *spec, char **cause)
{
	const char	*format = step_arg(st, "format");
	const char	*columns = step_arg(st, "columns");
	const char	*pattern = step_arg(st, "pattern");
	size_t		 i;
	int		 k;

	if (format == NULL) {
		xasprintf(cause, "parameter 'format' is required (json, csv, "
		    "regex, nginx, apache or syslog)");
		return (-1);
	}
	if (strcmp(format, "json") == 0)
		spec->format = FMT_JSON;
	else if (strcmp(format, "csv") == 0)
		spec->format = FMT_CSV;
	else if (strcmp(format, "regex") == 0)
		spec->format = FMT_REGEX;
	else {
		for (i = 0; i < nitems(presets); i++)
			if (strcmp(format, presets[i].name) == 0)
				break;
		if (i == nitems(presets)) {
			xasprintf(cause, "parameter 'format' must be json, "
			    "csv, regex, nginx, apache or syslog, not '%s'",
			    format);
			return (-1);
		}
		if (pattern != NULL) {
			xasprintf(cause, "parameter 'pattern' is for "
			    "format=regex; format=%s has its own", format);
			return (-1);
		}
		spec->format = FMT_REGEX;
		spec->preset = presets[i].name;
		spec->dash_absent = 1;
		for (k = 0; k < 3 && presets[i].patterns[k] != NULL; k++) {
			spec->pats[k].re = lines_compile(
			    presets[i].patterns[k], "preset", cause);
			if (spec->pats[k].re == NULL)
				return (-1);
			spec->pats[k].time_format = presets[i].time_formats[k];
			spec->npats++;
		}
		if (lines_parse_columns(spec, columns != NULL ? columns :
		    presets[i].columns, cause) != 0)
			return (-1);
		return (0);
	}
	if (spec->format == FMT_REGEX) {
		if (pattern == NULL) {
			xasprintf(cause, "format=regex needs a 'pattern' with "
			    "named groups, for example pattern='^(?<level>\\w+)"
			    ": (?<message>.*)$'");
			return (-1);
		}
		if ((spec->pats[0].re = lines_compile(pattern,
		    "parameter 'pattern'", cause)) == NULL)
			return (-1);
		spec->npats = 1;
		if (columns == NULL) {
			lines_columns_from_groups(spec, spec->pats[0].re);
			if (spec->ncols == 0) {
				xasprintf(cause, "parameter 'pattern' has no "
				    "named group: name what each column takes, "
				    "as (?<name>...)");
				return (-1);
			}
			return (0);
		}
	} else if (pattern != NULL) {
		xasprintf(cause, "parameter 'pattern' is for format=regex");
		return (-1);
	}
	if (columns == NULL) {
		xasprintf(cause, "parameter 'columns' is required for "
		    "format=%s (for example columns=\"time:timestamptz,"
		    "level:text,bytes:bigint\")", format);
		return (-1);
	}
	return (lines_parse_columns(spec, columns, cause));
}

/* Parse the lines step's parameters into st->data. */
int
lines_spec_parse(struct step *st, char **cause)
{
	struct lines_spec	*spec;
	struct lines_column	*col;
	const char		*v;
	long long		 n;
	size_t			 i;

	spec = xcalloc(1, sizeof *spec);
	st->data = spec;
	spec->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (spec->c_locale == (locale_t)0)
		fatal("newlocale");
	if (lines_spec_format(st, spec, cause) != 0)
		goto fail;
	if (spec->format == FMT_CSV) {
		if (lines_parse_char(st, "delimiter", ',', &spec->delim,
		    cause) != 0 || lines_parse_char(st, "quote", '"',
		    &spec->quote, cause) != 0 ||
		    lines_parse_char(st, "comment", '\0', &spec->comment,
		    cause) != 0 ||
		    step_arg_bool(st, "header", 0, &spec->header, cause) != 0)
			goto fail;
		if (spec->delim == spec->quote) {
			xasprintf(cause, "parameters 'delimiter' and 'quote' "
			    "are the same character");
			goto fail;
		}
	}
	if ((v = step_arg(st, "time_format")) != NULL)
		for (i = 0; i < spec->ncols; i++)
			if (spec->cols[i].type == COL_TIMESTAMPTZ &&
			    !spec->cols[i].time_user) {
				free(spec->cols[i].time_format);
				spec->cols[i].time_format = xstrdup(v);
				spec->cols[i].time_user = 1;
			}
	if (lines_per_column(st, spec, cause) != 0)
		goto fail;
	for (i = 0; i < spec->ncols; i++) {
		col = &spec->cols[i];
		if (col->from == NULL)
			col->from = xstrdup(col->name);
		if (spec->format == FMT_JSON)
			lines_split_path(&col->path, col->from);
	}
	if (spec->format == FMT_CSV && !spec->header &&
	    lines_csv_positions(spec, cause) != 0)
		goto fail;
	if (spec->format == FMT_REGEX && lines_bind_groups(spec, cause) != 0)
		goto fail;
	for (i = 0; i < spec->ncols; i++) {
		char	*why;

		col = &spec->cols[i];
		if (col->def == NULL)
			continue;
		if (lines_check_value(spec, col, col->def, strlen(col->def),
		    &why) != 0) {
			xasprintf(cause, "parameter 'default.%s': %s",
			    col->name, why);
			free(why);
			goto fail;
		}
	}
	if ((v = step_arg(st, "keep_if")) != NULL &&
	    lines_parse_filter(spec, "keep_if", v, &spec->keep, cause) != 0)
		goto fail;
	if ((v = step_arg(st, "drop_if")) != NULL &&
	    lines_parse_filter(spec, "drop_if", v, &spec->drop, cause) != 0)
		goto fail;
	if (lines_parse_size(st, "max_line", 1024 * 1024, 256LL << 20, &n,
	    cause) != 0)
		goto fail;
	spec->max_line = (size_t)n;
	if (lines_parse_size(st, "max_rejects", 1000, 1000000, &n,
	    cause) != 0)
		goto fail;
	spec->max_rejects = (int)n;
	if (step_arg_bool(st, "follow", 1, &spec->follow, cause) != 0)
		goto fail;
	return (0);
fail:
	lines_spec_free(spec);
	st->data = NULL;
	return (-1);
}

/* How many columns a spec declares, and each one's name and SQL type. */
size_t
lines_ncolumns(const struct lines_spec *spec)
{
	return (spec->ncols);
}

const char *
lines_column_name(const struct lines_spec *spec, size_t i)
{
	return (spec->cols[i].name);
}

const char *
lines_column_sql_type(const struct lines_spec *spec, size_t i)
{
	return (col_types[spec->cols[i].type].sql);
}

/* The longest line kept whole, and the rejects kept for one object. */
size_t
lines_max_line(const struct lines_spec *spec)
{
	return (spec->max_line);
}

int
lines_max_rejects(const struct lines_spec *spec)
{
	return (spec->max_rejects);
}

/*
 * Whether a file in a folder is followed as it grows (what was loaded
 * stays, the rest is appended) rather than loaded again whole.
 */
int
lines_follow(const struct lines_spec *spec)
{
	return (spec->follow);
}

/* Whether the first line of each object is a header (csv header=yes). */
int
lines_has_header(const struct lines_spec *spec)
{
	return (spec->format == FMT_CSV && spec->header);
}

/*
 * The parser: per job, since a csv header maps names to positions for
 * the object in hand.
 */
struct lines_parser {
	const struct lines_spec	*spec;
	pcre2_match_data	*md;
	struct buf		 scratch;	/* csv fields, numbers */
	const char		**val;		/* NULL: absent */
	size_t			*vlen;
	ssize_t			*soff;		/* >= 0: val is in scratch */
	size_t			*foff, *flen;	/* csv fields of the line */
	size_t			 nfields, fsize;
	int			*hdr;		/* csv header: column's field */
	int			 header_done;
	json_t			*doc;
	int			 pat;		/* the pattern that matched */
};

/* A parser for the lines of one object. */
struct lines_parser *
lines_parser_new(const struct lines_spec *spec)
{
	struct lines_parser	*lp;

	lp = xcalloc(1, sizeof *lp);
	lp->spec = spec;
	buf_init(&lp->scratch);
	lp->val = xcalloc(spec->ncols, sizeof *lp->val);
	lp->vlen = xcalloc(spec->ncols, sizeof *lp->vlen);
	lp->soff = xcalloc(spec->ncols, sizeof *lp->soff);
	if (spec->format == FMT_REGEX) {
		lp->md = pcre2_match_data_create(64, NULL);
		if (lp->md == NULL)
			fatalx("pcre2_match_data_create: out of memory");
	}
	return (lp);
}

/* Free a parser. */
void
lines_parser_free(struct lines_parser *lp)
{
	if (lp == NULL)
		return;
	if (lp->md != NULL)
		pcre2_match_data_free(lp->md);
	if (lp->doc != NULL)
		json_decref(lp->doc);
	buf_clear(&lp->scratch);
	free(lp->val);
	free(lp->vlen);
	free(lp->soff);
	free(lp->foff);
	free(lp->flen);
	free(lp->hdr);
	free(lp);
}

/* Copy a value, cut to SHOW_MAX bytes, for a reason. */
static void
lines_show(char *out, size_t size, const char *v, size_t len)
{
	size_t	 n = len < SHOW_MAX ? len : SHOW_MAX;

	if (n >= size)
		n = size - 1;
	memcpy(out, v, n);
	out[n] = '\0';
	if (n < len && size > n + 4)
		memcpy(out + n, "...", 4);
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t
lines_days(int64_t y, int m, int d)
{
	int64_t	 era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + doe - 719468);
}

static int
lines_mdays(int64_t y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return (29);
	return (days[m - 1]);
}

/* Write seconds since the epoch (and a fraction) as UTC for COPY. */
static void
lines_put_time(struct buf *out, int64_t t, const char *frac, size_t fraclen)
{
	int64_t		 days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t		 secs = t - days * 86400, z, era, doe, yoe, y, doy, mp;
	int		 m, d;

	/* the inverse of lines_days */
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = (int)(doy - (153 * mp + 2) / 5 + 1);
	m = (int)(mp < 10 ? mp + 3 : mp - 9);
	y += m <= 2;
	buf_printf(out, "%04lld-%02d-%02d %02d:%02d:%02d", (long long)y, m, d,
	    (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
	if (fraclen > 0) {
		buf_add(out, ".", 1);
		buf_add(out, frac, fraclen > 6 ? 6 : fraclen);
	}
	buf_add(out, "+00", 3);
}

static int
lines_digits(const char **p, const char *end, int n, int *out)
{
	int	 v = 0, i;

	for (i = 0; i < n; i++) {
		if (*p >= end || !isdigit((unsigned char)**p))
			return (-1);
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return (0);
}

/*
 * ISO 8601 / RFC 3339: YYYY-MM-DD, then optionally [T ]hh:mm[:ss[.f]]
 * and Z or an offset (+hh, +hhmm, +hh:mm). No offset means UTC.
 */
static int
lines_iso_time(const char *v, size_t len, struct buf *out)
{
	const char	*p = v, *end = v + len, *frac = NULL;
	int		 y, mo, d, h = 0, mi = 0, s = 0, oh = 0, om = 0, sign;
	size_t		 fraclen = 0;
	int64_t		 t;

	if (lines_digits(&p, end, 4, &y) || p >= end || *p++ != '-' ||
	    lines_digits(&p, end, 2, &mo) || p >= end || *p++ != '-' ||
	    lines_digits(&p, end, 2, &d))
		return (-1);
	if (mo < 1 || mo > 12 || d < 1 || d > lines_mdays(y, mo))
		return (-1);
	if (p < end && (*p == 'T' || *p == 't' || *p == ' ')) {
		p++;
		if (lines_digits(&p, end, 2, &h) || p >= end || *p++ != ':' ||
		    lines_digits(&p, end, 2, &mi))
			return (-1);
		if (p < end && *p == ':') {
			p++;
			if (lines_digits(&p, end, 2, &s))
				return (-1);
			if (p < end && (*p == '.' || *p == ',')) {
				frac = ++p;
				while (p < end && isdigit((unsigned char)*p))
					p++;
				fraclen = p - frac;
				if (fraclen == 0)
					return (-1);
			}
		}
		if (h > 23 || mi > 59 || s > 60)
			return (-1);
		if (s == 60)
			s = 59;		/* a leap second: PostgreSQL's way */
		if (p < end && (*p == 'Z' || *p == 'z'))
			p++;
		else if (p < end && (*p == '+' || *p == '-')) {
			sign = *p++ == '-' ? -1 : 1;
			if (lines_digits(&p, end, 2, &oh))
				return (-1);
			if (p < end && *p == ':')
				p++;
			if (p < end && lines_digits(&p, end, 2, &om))
				return (-1);
			if (oh > 23 || om > 59)
				return (-1);
			oh *= sign;
			om *= sign;
		}
	}
	if (p != end)
		return (-1);
	t = lines_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + s -
	    (oh * 3600 + om * 60);
	lines_put_time(out, t, frac, fraclen);
	return (0);
}

/* Seconds (or milliseconds) since the epoch, with a fraction. */
static int
lines_epoch_time(const char *v, size_t len, int ms, struct buf *out)
{
	const char	*p = v, *end = v + len, *frac = NULL;
	char		 fb[16];
	int64_t		 t = 0;
	size_t		 fraclen = 0, n;
	int		 neg = 0, digits = 0;

	if (p < end && *p == '-')
		neg = 1, p++;
	while (p < end && isdigit((unsigned char)*p) && digits < 15) {
		t = t * 10 + (*p++ - '0');
		digits++;
	}
	if (digits == 0)
		return (-1);
	if (p < end && *p == '.') {
		frac = ++p;
		while (p < end && isdigit((unsigned char)*p))
			p++;
		fraclen = p - frac;
	}
	if (p != end)
		return (-1);
	if (ms) {
		/* the last three digits become the fraction's first */
		n = snprintf(fb, sizeof fb, "%03lld", (long long)(t % 1000));
		if (fraclen > 0 && n + fraclen < sizeof fb) {
			memcpy(fb + n, frac, fraclen);
			n += fraclen;
		}
		t /= 1000;
		frac = fb;
		fraclen = n;
	}
	if (neg) {
		/* before 1970: whole seconds only, rounded down */
		t = -t - (fraclen > 0);
		fraclen = 0;
	}
	lines_put_time(out, t, frac, fraclen);
	return (0);
}

/* A time by a strftime-style format (strptime), in the C locale. */
static int
lines_format_time(const struct lines_spec *spec, const char *fmt,
    const char *v, size_t len, struct buf *out)
{
	char		 tmp[256];
	struct tm	 tm;
	const char	*end;
	int64_t		 t, now;
	int		 year;

	if (len >= sizeof tmp)
		return (-1);
	memcpy(tmp, v, len);
	tmp[len] = '\0';
	memset(&tm, 0, sizeof tm);
	tm.tm_mday = 1;
	tm.tm_year = INT32_MIN;
	end = strptime_l(tmp, fmt, &tm, spec->c_locale);
	if (end == NULL || *end != '\0')
		return (-1);
	if (tm.tm_year == INT32_MIN) {
		/*
		 * No year (RFC 3164): this year, or last year for a time
		 * more than a day ahead (December's lines read in January).
		 */
		now = time(NULL);
		year = 1970 + (int)(now / 31556952);
		t = lines_days(year, tm.tm_mon + 1, tm.tm_mday) * 86400;
		if (t > now + 86400)
			year--;
		tm.tm_year = year - 1900;
	}
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
	    tm.tm_mday > lines_mdays(tm.tm_year + 1900LL, tm.tm_mon + 1))
		return (-1);
	t = lines_days(tm.tm_year + 1900LL, tm.tm_mon + 1, tm.tm_mday) *
	    86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec -
	    tm.tm_gmtoff;
	lines_put_time(out, t, NULL, 0);
	return (0);
}

/* Append v to out escaped for COPY's text format. */
static void
lines_put_text(struct buf *out, const char *v, size_t len)
{
	const char	*p = v, *end = v + len, *q;
	char		 esc[2] = { '\\', 0 };

	while (p < end) {
		q = p;
		while (q < end && *q != '\\' && *q != '\n' && *q != '\r' &&
		    *q != '\t')
			q++;
		buf_add(out, p, q - p);
		if (q == end)
			break;
		esc[1] = *q == '\\' ? '\\' : *q == '\n' ? 'n' : *q == '\r' ?
		    'r' : 't';
		buf_add(out, esc, 2);
		p = q + 1;
	}
}

static int
lines_is_numeric(const char *v, size_t len, int integer)
{
	const char	*p = v, *end = v + len;
	int		 digits = 0;

	if (p < end && (*p == '+' || *p == '-'))
		p++;
	while (p < end && isdigit((unsigned char)*p))
		p++, digits++;
	if (integer)
		return (digits > 0 && digits <= 19 && p == end);
	if (p < end && *p == '.') {
		p++;
		while (p < end && isdigit((unsigned char)*p))
			p++, digits++;
	}
	if (digits == 0)
		return (0);
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		digits = 0;
		while (p < end && isdigit((unsigned char)*p))
			p++, digits++;
		if (digits == 0 || digits > 4)
			return (0);
	}
	return (p == end);
}

/*
 * Convert one present value of col and append it to out (when out is not
 * NULL). Returns -1 with *why set when it does not convert.
 */
static int
lines_convert(const struct lines_spec *spec, const struct lines_column *col,
    const char *v, size_t len, struct buf *out, char **why)
{
	struct buf	 scratch;
	char		 tmp[64], show[SHOW_MAX + 4], *slash, *end;
	unsigned char	 addr[16];
	json_t		*j;
	long		 bits;
	int		 ok = 1, family;

	buf_init(&scratch);
	switch (col->type) {
	case COL_TEXT:
		if (out != NULL)
			lines_put_text(out, v, len);
		break;
	case COL_BIGINT:
		ok = lines_is_numeric(v, len, 1);
		if (ok) {
			/* 19 digits may still be past 2^63 - 1 */
			memcpy(tmp, v, len);
			tmp[len] = '\0';
			errno = 0;
			(void)strtoll(tmp, &end, 10);
			ok = errno == 0;
		}
		if (ok && out != NULL)
			buf_add(out, v, len);
		break;
	case COL_NUMERIC:
	case COL_DOUBLE:
		ok = lines_is_numeric(v, len, 0);
		if (ok && out != NULL)
			buf_add(out, v, len);
		break;
	case COL_BOOLEAN:
		if (len < sizeof tmp) {
			memcpy(tmp, v, len);
			tmp[len] = '\0';
		} else
			tmp[0] = '\0';
		if (strcasecmp(tmp, "true") == 0 || strcasecmp(tmp, "t") == 0 ||
		    strcasecmp(tmp, "yes") == 0 || strcasecmp(tmp, "on") == 0 ||
		    strcmp(tmp, "1") == 0) {
			if (out != NULL)
				buf_add(out, "t", 1);
		} else if (strcasecmp(tmp, "false") == 0 ||
		    strcasecmp(tmp, "f") == 0 || strcasecmp(tmp, "no") == 0 ||
		    strcasecmp(tmp, "off") == 0 || strcmp(tmp, "0") == 0) {
			if (out != NULL)
				buf_add(out, "f", 1);
		} else
			ok = 0;
		break;
	case COL_TIMESTAMPTZ:
		if (col->time_format == NULL)
			ok = lines_iso_time(v, len, &scratch) == 0;
		else if (strcmp(col->time_format, "epoch") == 0)
			ok = lines_epoch_time(v, len, 0, &scratch) == 0;
		else if (strcmp(col->time_format, "epoch_ms") == 0)
			ok = lines_epoch_time(v, len, 1, &scratch) == 0;
		else
			ok = lines_format_time(spec, col->time_format, v, len,
			    &scratch) == 0;
		if (ok && out != NULL)
			buf_add(out, scratch.s, scratch.len);
		break;
	case COL_INET:
		ok = len < sizeof tmp;
		if (ok) {
			memcpy(tmp, v, len);
			tmp[len] = '\0';
			bits = -1;
			if ((slash = strchr(tmp, '/')) != NULL) {
				*slash = '\0';
				bits = strtol(slash + 1, &end, 10);
				if (*end != '\0' || end == slash + 1)
					ok = 0;
			}
			family = strchr(tmp, ':') != NULL ? AF_INET6 : AF_INET;
			if (ok && inet_pton(family, tmp, addr) != 1)
				ok = 0;
			if (ok && slash != NULL && (bits < 0 ||
			    bits > (family == AF_INET ? 32 : 128)))
				ok = 0;
		}
		if (ok && out != NULL)
			buf_add(out, v, len);
		break;
	case COL_JSONB:
		j = json_loadb(v, len, JSON_DECODE_ANY, NULL);
		ok = j != NULL;
		json_decref(j);
		if (ok && out != NULL)
			lines_put_text(out, v, len);
		break;
	}
	buf_clear(&scratch);
	if (ok)
		return (0);
	lines_show(show, sizeof show, v, len);
	if (col->type == COL_TIMESTAMPTZ)
		xasprintf(why, "column '%s': '%s' is not a time in the format "
		    "%s", col->name, show, col->time_format != NULL ?
		    col->time_format : "ISO 8601 (2026-12-03T08:47:55Z)");
	else
		xasprintf(why, "column '%s': '%s' is not %s %s", col->name,
		    show, col->type == COL_INET ? "an" : "a",
		    col_types[col->type].word);
	return (-1);
}

static int
lines_check_value(const struct lines_spec *spec,
    const struct lines_column *col, const char *v, size_t len, char **why)
{
	return (lines_convert(spec, col, v, len, NULL, why));
}

/* Where the line is not UTF-8, or has a NUL: -1 with the reason. */
static int
lines_check_text(const char *line, size_t len, char **why)
{
	const unsigned char	*p = (const unsigned char *)line;
	unsigned int		 cp;
	size_t			 i = 0;
	int			 n;

	while (i < len) {
		if (p[i] >= 0x20 && p[i] < 0x80) {
			i++;
			continue;
		}
		if (p[i] == 0) {
			xasprintf(why, "binary line (NUL byte at byte %zu)",
			    i + 1);
			return (-1);
		}
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = utf8_sequence_n(p + i, len - i, &cp)) == 0) {
			xasprintf(why, "invalid UTF-8 at byte %zu", i + 1);
			return (-1);
		}
		i += n;
	}
	return (0);
}

/* Empty a buffer, keeping its memory for the next line. */
static void
lines_reset(struct buf *b)
{
	b->len = 0;
	if (b->s != NULL)
		b->s[0] = '\0';
}

/* Split a csv line into fields, unquoting into the scratch buffer. */
static int
lines_csv_split(struct lines_parser *lp, const char *line, size_t len,
    char **why)
{
	const struct lines_spec	*spec = lp->spec;
	const char		*p = line, *end = line + len;
	size_t			 start;

	lp->nfields = 0;
	lines_reset(&lp->scratch);
	for (;;) {
		if (lp->nfields == lp->fsize) {
			lp->fsize = lp->fsize ? lp->fsize * 2 : 16;
			lp->foff = xreallocarray(lp->foff, lp->fsize,
			    sizeof *lp->foff);
			lp->flen = xreallocarray(lp->flen, lp->fsize,
			    sizeof *lp->flen);
		}
		start = lp->scratch.len;
		if (p < end && *p == spec->quote) {
			p++;
			for (;;) {
				const char *q = p;

				while (q < end && *q != spec->quote)
					q++;
				buf_add(&lp->scratch, p, q - p);
				if (q == end) {
					xasprintf(why, "field %zu: a quote is "
					    "not closed", lp->nfields + 1);
					return (-1);
				}
				if (q + 1 < end && q[1] == spec->quote) {
					buf_add(&lp->scratch, q, 1);
					p = q + 2;
					continue;
				}
				p = q + 1;
				break;
			}
			if (p < end && *p != spec->delim) {
				xasprintf(why, "field %zu: text after its "
				    "closing quote", lp->nfields + 1);
				return (-1);
			}
		} else {
			const char *q = memchr(p, spec->delim, end - p);

			if (q == NULL)
				q = end;
			buf_add(&lp->scratch, p, q - p);
			p = q;
		}
		lp->foff[lp->nfields] = start;
		lp->flen[lp->nfields] = lp->scratch.len - start;
		lp->nfields++;
		if (p >= end)
			return (0);
		p++;	/* the delimiter */
	}
}

/* Map the header's names to the columns' fields; -1: a name is missing. */
static int
lines_csv_header(struct lines_parser *lp, char **why)
{
	const struct lines_spec	*spec = lp->spec;
	const char		*name;
	size_t			 i, f, nlen;

	free(lp->hdr);
	lp->hdr = xcalloc(spec->ncols, sizeof *lp->hdr);
	for (i = 0; i < spec->ncols; i++) {
		name = spec->cols[i].from;
		nlen = strlen(name);
		for (f = 0; f < lp->nfields; f++)
			if (lp->flen[f] == nlen && memcmp(lp->scratch.s +
			    lp->foff[f], name, nlen) == 0)
				break;
		if (f == lp->nfields) {
			xasprintf(why, "the csv header has no field '%s' (its "
			    "first line names %zu fields)", name, lp->nfields);
			return (-1);
		}
		lp->hdr[i] = (int)f;
	}
	return (0);
}

/* A JSON value as text: strings as they are, the rest as JSON. */
static void
lines_json_value(struct lines_parser *lp, size_t i, json_t *v)
{
	char	*s;

	if (json_is_string(v)) {
		lp->val[i] = json_string_value(v);
		lp->vlen[i] = json_string_length(v);
		return;
	}
	if (json_is_null(v))
		return;
	lp->soff[i] = (ssize_t)lp->scratch.len;
	if (json_is_integer(v))
		buf_printf(&lp->scratch, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
	else if (json_is_real(v))
		buf_printf(&lp->scratch, "%.17g", json_real_value(v));
	else if (json_is_true(v))
		buf_add(&lp->scratch, "true", 4);
	else if (json_is_false(v))
		buf_add(&lp->scratch, "false", 5);
	else {
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		buf_add(&lp->scratch, s, strlen(s));
		free(s);
	}
	lp->vlen[i] = lp->scratch.len - (size_t)lp->soff[i];
	lp->val[i] = "";	/* resolved once scratch stops moving */
}

/* Fill val/vlen for each column from the line; 0 dropped, -1 rejected. */
static int
lines_extract(struct lines_parser *lp, const char *line, size_t len,
    char **why)
{
	const struct lines_spec	*spec = lp->spec;
	PCRE2_SIZE		*ov;
	PCRE2_SIZE		 glen;
	json_error_t		 jerr;
	json_t			*v;
	size_t			 i, k;
	int			 rc, g, f;

	for (i = 0; i < spec->ncols; i++) {
		lp->val[i] = NULL;
		lp->soff[i] = -1;
	}
	switch (spec->format) {
	case FMT_JSON:
		if (lp->doc != NULL)
			json_decref(lp->doc);
		lines_reset(&lp->scratch);
		lp->doc = json_loadb(line, len, JSON_DECODE_ANY, &jerr);
		if (lp->doc == NULL) {
			xasprintf(why, "not JSON: %s at column %d", jerr.text,
			    jerr.column);
			return (-1);
		}
		if (!json_is_object(lp->doc)) {
			xasprintf(why, "not a JSON object");
			return (-1);
		}
		for (i = 0; i < spec->ncols; i++) {
			v = lp->doc;
			for (k = 0; k < spec->cols[i].path.n && v != NULL; k++)
				v = json_is_object(v) ? json_object_get(v,
				    spec->cols[i].path.v[k]) : NULL;
			if (v != NULL)
				lines_json_value(lp, i, v);
		}
		break;
	case FMT_CSV:
		if (spec->comment != '\0' && len > 0 &&
		    line[0] == spec->comment)
			return (0);
		if (lines_csv_split(lp, line, len, why) != 0)
			return (-1);
		if (spec->header && !lp->header_done) {
			lp->header_done = 1;
			if (lines_csv_header(lp, why) != 0)
				return (-2);
			return (0);
		}
		for (i = 0; i < spec->ncols; i++) {
			f = spec->header ? lp->hdr[i] : spec->cols[i].pos;
			if ((size_t)f >= lp->nfields) {
				xasprintf(why, "%zu fields, and column '%s' "
				    "reads field %d", lp->nfields,
				    spec->cols[i].name, f + 1);
				return (-1);
			}
			lp->soff[i] = (ssize_t)lp->foff[f];
			lp->vlen[i] = lp->flen[f];
			lp->val[i] = "";
		}
		break;
	case FMT_REGEX:
		rc = -1;
		for (lp->pat = 0; lp->pat < spec->npats; lp->pat++) {
			rc = pcre2_match(spec->pats[lp->pat].re,
			    (PCRE2_SPTR)line, len, 0, PCRE2_NO_UTF_CHECK,
			    lp->md, NULL);
			if (rc >= 0)
				break;
		}
		if (rc < 0) {
			if (rc == PCRE2_ERROR_NOMATCH)
				xasprintf(why, "the line does not match the "
				    "%s%s", spec->preset != NULL ? spec->preset :
				    "pattern", spec->preset != NULL ?
				    " format" : "");
			else {
				PCRE2_UCHAR	 msg[256];

				pcre2_get_error_message(rc, msg, sizeof msg);
				xasprintf(why, "pattern: %s", (char *)msg);
			}
			return (-1);
		}
		ov = pcre2_get_ovector_pointer(lp->md);
		for (i = 0; i < spec->ncols; i++) {
			g = spec->pats[lp->pat].group[i];
			if (g <= 0 || g >= rc || ov[2 * g] == PCRE2_UNSET)
				continue;
			glen = ov[2 * g + 1] - ov[2 * g];
			lp->val[i] = line + ov[2 * g];
			lp->vlen[i] = glen;
		}
		break;
	}
	/* scratch no longer moves: point into it */
	for (i = 0; i < spec->ncols; i++)
		if (lp->soff[i] >= 0)
			lp->val[i] = lp->scratch.s + lp->soff[i];
	return (1);
}

/* Whether a present value is "no value": empty for non-text, "-" in presets. */
static int
lines_absent(const struct lines_spec *spec, const struct lines_column *col,
    const char *v, size_t len)
{
	if (v == NULL)
		return (1);
	if (len == 0 && col->type != COL_TEXT)
		return (1);
	return (spec->dash_absent && len == 1 && v[0] == '-');
}

static int
lines_cond_true(const struct lines_parser *lp, const struct lines_cond *c)
{
	const struct lines_column	*col = &lp->spec->cols[c->col];
	const char			*v = lp->val[c->col];
	size_t				 len = lp->vlen[c->col];
	char				 tmp[64], *end;
	double				 d;
	int				 cmp, numeric, rc;

	if (v == NULL)
		return (0);
	if (c->re != NULL) {
		pcre2_match_data	*md;

		md = pcre2_match_data_create_from_pattern(c->re, NULL);
		rc = pcre2_match(c->re, (PCRE2_SPTR)v, len, 0,
		    PCRE2_NO_UTF_CHECK, md, NULL);
		pcre2_match_data_free(md);
		return (c->op == OP_MATCH ? rc >= 0 : rc < 0);
	}
	numeric = c->isnum && (col->type == COL_BIGINT ||
	    col->type == COL_NUMERIC || col->type == COL_DOUBLE);
	if (numeric) {
		if (len >= sizeof tmp)
			return (0);
		memcpy(tmp, v, len);
		tmp[len] = '\0';
		d = strtod(tmp, &end);
		if (*end != '\0' || end == tmp)
			return (0);
		cmp = d < c->num ? -1 : d > c->num;
	} else {
		size_t	 vl = strlen(c->value);

		cmp = memcmp(v, c->value, len < vl ? len : vl);
		if (cmp == 0)
			cmp = len < vl ? -1 : len > vl;
	}
	switch (c->op) {
	case OP_EQ:
		return (cmp == 0);
	case OP_NE:
		return (cmp != 0);
	case OP_LT:
		return (cmp < 0);
	case OP_LE:
		return (cmp <= 0);
	case OP_GT:
		return (cmp > 0);
	default:
		return (cmp >= 0);
	}
}

/* An or of ands, left to right; an empty filter is true. */
static int
lines_filter_true(const struct lines_parser *lp, const struct lines_filter *f)
{
	size_t	 i;
	int	 group = 1;

	for (i = 0; i < f->n; i++) {
		group = group && lines_cond_true(lp, &f->c[i]);
		if (i == f->n - 1 || f->c[i].or_next) {
			if (group)
				return (1);
			group = 1;
		}
	}
	return (f->n == 0);
}

/*
 * Parse one line (len bytes, no newline) and append its row to out: the
 * columns in declared order, tab-separated, ending with a newline, in
 * COPY's text format. Returns 1 with a row appended, 0 when the line is
 * dropped (blank, a comment, a csv header, a filter), -1 when it is
 * rejected (*why says why), -2 when the whole object cannot be read this
 * way (*why says why). Nothing is left in out unless it returns 1.
 */
int
lines_parse(struct lines_parser *lp, const char *line, size_t len,
    int64_t lineno, struct buf *out, char **why)
{
	const struct lines_spec		*spec = lp->spec;
	const struct lines_column	*col;
	size_t				 mark = out->len, i, blank;
	int				 rc;

	for (blank = 0; blank < len && (line[blank] == ' ' ||
	    line[blank] == '\t'); blank++)
		;
	if (blank == len)
		return (0);
	if (lines_check_text(line, len, why) != 0)
		return (-1);
	(void)lineno;	/* for messages to come; rows carry it already */
	if ((rc = lines_extract(lp, line, len, why)) <= 0)
		return (rc);
	for (i = 0; i < spec->ncols; i++) {
		col = &spec->cols[i];
		if (lines_absent(spec, col, lp->val[i], lp->vlen[i])) {
			lp->val[i] = col->def;
			lp->vlen[i] = col->def != NULL ? strlen(col->def) : 0;
		}
	}
	if (spec->keep.n > 0 && !lines_filter_true(lp, &spec->keep))
		return (0);
	if (spec->drop.n > 0 && lines_filter_true(lp, &spec->drop))
		return (0);
	for (i = 0; i < spec->ncols; i++) {
		col = &spec->cols[i];
		if (i > 0)
			buf_add(out, "\t", 1);
		if (lp->val[i] == NULL) {
			buf_add(out, "\\N", 2);
			continue;
		}
		if (col->type == COL_TIMESTAMPTZ && !col->time_user &&
		    spec->preset != NULL &&
		    spec->pats[lp->pat].time_format != NULL) {
			/* the format of the preset's pattern that matched */
			struct lines_column	 as = *col;

			as.time_format = (char *)spec->pats[lp->pat].time_format;
			rc = lines_convert(spec, &as, lp->val[i], lp->vlen[i],
			    out, why);
		} else
			rc = lines_convert(spec, col, lp->val[i], lp->vlen[i],
			    out, why);
		if (rc != 0) {
			out->len = mark;
			out->s[mark] = '\0';
			return (-1);
		}
	}
	buf_add(out, "\n", 1);
	return (1);
}

/* What lines_run_text collects, line by line. */
struct lines_text {
	struct lines_parser	*lp;
	const struct lines_spec	*spec;
	struct buf		*out;
	struct buf		*rejects;
	struct table_stats	*st;
	char			*stop;
};

static int
lines_text_line(void *arg, const char *line, size_t len, int64_t lineno,
    int64_t offset, int truncated)
{
	struct lines_text	*lt = arg;
	size_t			 mark = lt->out->len;
	char			*why = NULL;
	int			 rc;

	(void)offset;
	lt->st->lines++;
	if (truncated) {
		lt->st->rejected++;
		buf_printf(lt->rejects, "line %" PRId64 ": the line is longer "
		    "than max_line (%zu bytes)\n", lineno, lt->spec->max_line);
		return (0);
	}
	buf_printf(lt->out, "%" PRId64 "\t", lineno);
	rc = lines_parse(lt->lp, line, len, lineno, lt->out, &why);
	if (rc == 1) {
		lt->st->rows++;
		return (0);
	}
	lt->out->len = mark;
	lt->out->s[mark] = '\0';
	if (rc == 0)
		lt->st->dropped++;
	else if (rc == -1) {
		lt->st->rejected++;
		buf_printf(lt->rejects, "line %" PRId64 ": %s\n", lineno, why);
	} else {
		lt->stop = why;
		return (1);
	}
	free(why);
	return (0);
}

/*
 * Run a spec over a whole object without a database, as `objwatch
 * process` does: each row, its line number first, to out (tab-separated,
 * as COPY reads it), one line per reject to rejects. Returns 0, or -1
 * with *cause when the object cannot be read as lines.
 */
int
lines_run_text(const struct lines_spec *spec, const void *data, size_t len,
    struct buf *out, struct buf *rejects, struct table_stats *st,
    char **cause)
{
	struct lines_text	 lt;
	struct lines_split	*s;
	int			 rc;

	memset(st, 0, sizeof *st);
	memset(&lt, 0, sizeof lt);
	lt.lp = lines_parser_new(spec);
	lt.spec = spec;
	lt.out = out;
	lt.rejects = rejects;
	lt.st = st;
	s = lines_split_new(spec->max_line, lines_text_line, &lt);
	if ((rc = lines_split_feed(s, data, len)) == 0)
		rc = lines_split_finish(s, 1);
	st->gzip = lines_split_gzip(s);
	st->bytes = (int64_t)len;
	st->text_bytes = lines_split_offset(s);
	if (rc == -1)
		*cause = xstrdup(lines_split_error(s));
	else if (lt.stop != NULL) {
		*cause = lt.stop;
		lt.stop = NULL;
		rc = -1;
	}
	lines_split_free(s);
	lines_parser_free(lt.lp);
	return (rc == -1 ? -1 : 0);
}
