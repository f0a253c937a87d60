/*
 * The lines step: the exact row (in COPY's text format) each format and
 * type makes of a line, the reason each bad line is rejected with, the
 * message for each mistake in the step's parameters, and the splitter's
 * lines through CRLF, pieces cut anywhere, lines over max_line and gzip.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "objwatch.h"
#include "tap.h"

static struct recipe *
parse(const char *steps, char **cause)
{
	struct recipe	*r = xcalloc(1, sizeof *r);

	r->name = xstrdup("r");
	r->steps_text = xstrdup(steps);
	*cause = NULL;
	if (recipe_parse_steps(r, cause) != 0) {
		free(r->steps_text);
		free(r->name);
		free(r);
		return (NULL);
	}
	return (r);
}

static void
recipe_free(struct recipe *r)
{
	if (r == NULL)
		return;
	recipe_free_steps(r);
	free(r->steps_text);
	free(r->name);
	free(r);
}

/*
 * What the step makes of each line, one result per line: the row, or
 * "drop", or "reject: WHY", or "stop: WHY" (the object cannot be read).
 */
static char *
rows(const char *steps, const char *const *lines)
{
	struct recipe		*r;
	struct lines_parser	*lp;
	struct buf		 out, row;
	char			*cause, *why;
	int			 i, rc;

	if ((r = parse(steps, &cause)) == NULL)
		return (cause);
	lp = lines_parser_new(r->steps[0].data);
	buf_init(&out);
	buf_init(&row);
	for (i = 0; lines[i] != NULL; i++) {
		why = NULL;
		row.len = 0;
		row.s[0] = '\0';
		rc = lines_parse(lp, lines[i], strlen(lines[i]), i + 1, &row,
		    &why);
		if (rc == 1)
			buf_add(&out, row.s, row.len);
		else if (rc == 0 && row.len == 0)
			buf_printf(&out, "drop\n");
		else if (rc == -1 && row.len == 0)
			buf_printf(&out, "reject: %s\n", why);
		else if (rc == -2 && row.len == 0)
			buf_printf(&out, "stop: %s\n", why);
		else
			buf_printf(&out, "BROKEN rc %d len %zu\n", rc, row.len);
		free(why);
	}
	lines_parser_free(lp);
	recipe_free(r);
	buf_clear(&row);
	return (buf_take(&out));
}

static void
one(const char *steps, const char *line, const char *want)
{
	const char	*lines[2] = { line, NULL };
	char		*got = rows(steps, lines);

	is_str(got, want, "%s: %s", steps, line);
	free(got);
}

static void
bad(const char *steps, const char *want)
{
	struct recipe	*r;
	char		*cause;

	r = parse(steps, &cause);
	ok(r == NULL, "refused: %s", steps);
	is_str(cause, want, "message for: %s", steps);
	free(cause);
	recipe_free(r);
}

/* The splitter's view of data fed in pieces of step bytes. */
struct collect {
	struct buf	 b;
	int		 stop_at;
};

static int
collect_line(void *arg, const char *line, size_t len, int64_t lineno,
    int64_t offset, int truncated)
{
	struct collect	*c = arg;

	buf_printf(&c->b, "%lld@%lld%s[%.*s]", (long long)lineno,
	    (long long)offset, truncated ? "T" : "", (int)len, line);
	return (c->stop_at > 0 && lineno == c->stop_at);
}

static char *
split(const void *data, size_t len, size_t step, size_t max_line,
    int partial)
{
	struct lines_split	*s;
	struct collect		 c;
	size_t			 off, n;
	int			 rc = 0;

	buf_init(&c.b);
	c.stop_at = 0;
	s = lines_split_new(max_line, collect_line, &c);
	for (off = 0; off < len && rc == 0; off += n) {
		n = len - off < step ? len - off : step;
		rc = lines_split_feed(s, (const char *)data + off, n);
	}
	if (rc == 0)
		rc = lines_split_finish(s, partial);
	if (rc < 0)
		buf_printf(&c.b, " error: %s", lines_split_error(s));
	buf_printf(&c.b, " gzip=%d end=%lld", lines_split_gzip(s),
	    (long long)lines_split_offset(s));
	lines_split_free(s);
	return (buf_take(&c.b));
}

/* text as one gzip member. */
static void *
gz(const char *text, size_t *len)
{
	z_stream	 z;
	size_t		 size = strlen(text) + 128;
	unsigned char	*out = xmalloc(size);

	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	z.next_in = (unsigned char *)(uintptr_t)text;
	z.avail_in = strlen(text);
	z.next_out = out;
	z.avail_out = size;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		abort();
	*len = size - z.avail_out;
	deflateEnd(&z);
	return (out);
}

static void
test_formats(void)
{
	static const char *const trades[] = {
		"# a comment",
		"day,item,qty",
		"2026-12-01,apple,3",
		"2026-12-01,\"pear, green\",0",
		"2026-12-02,\"say \"\"hi\"\"\",4",
		"2026-12-02,\"open,5",
		"2026-12-02,plum",
		"   ",
		NULL
	};
	static const char *const noheader[] = {
		"qty,day",
		NULL
	};
	static const char *const events[] = {
		"{\"t\": \"2026-12-03T08:47:55.5+01:00\", \"u\": {\"id\": 7}, "
		    "\"tags\": {\"a\": [1, 2]}, \"ok\": \"yes\"}",
		"{\"t\": \"2026-12-03\", \"u\": {}, \"ok\": null}",
		"\"just a string\"",
		NULL
	};
	char	 want[256];
	int	 year;

	one("lines format=nginx", "192.0.2.1 - - [03/Dec/2026:08:00:00 +0000] "
	    "\"GET /index.html HTTP/1.1\" 200 512 \"-\" \"curl/7.88.1\"",
	    "192.0.2.1\t\\N\t2026-12-03 08:00:00+00\tGET\t/index.html\t"
	    "HTTP/1.1\t200\t512\t\\N\tcurl/7.88.1\n");
	one("lines format=apache", "::1 - bob [31/Dec/2026:23:59:59 -0130] "
	    "\"GET / HTTP/1.0\" 304 -", "::1\tbob\t2027-01-01 01:29:59+00\t"
	    "GET\t/\tHTTP/1.0\t304\t\\N\t\\N\t\\N\n");
	one("lines format=nginx", "192.0.2.1 - - [03/Dec/2026:08:00:00 +0000] "
	    "\"GET / HTTP/1.1\" 2x0 512", "reject: the line does not match "
	    "the nginx format\n");
	one("lines format=nginx", "300.0.0.1 - - [03/Dec/2026:08:00:00 +0000] "
	    "\"GET / HTTP/1.1\" 200 5", "reject: column 'remote_addr': "
	    "'300.0.0.1' is not an inet\n");
	one("lines format=nginx", "192.0.2.1 - - [33/Dec/2026:08:00:00 +0000] "
	    "\"GET / HTTP/1.1\" 200 5", "reject: column 'time': "
	    "'33/Dec/2026:08:00:00 +0000' is not a time in the format "
	    "%d/%b/%Y:%H:%M:%S %z\n");

	one("lines format=syslog", "<165>1 2026-12-03T08:47:55.123Z host1 app 42 "
	    "ID47 - an event", "165\t2026-12-03 08:47:55.123+00\thost1\tapp\t"
	    "42\tID47\t\\N\tan event\n");
	one("lines format=syslog", "<34>1 2026-12-03T08:47:55+01:00 mymachine "
	    "su - ID47 [exampleSDID@32473 iut=\"3\" eventID=\"1011\"] 'su "
	    "root' failed", "34\t2026-12-03 07:47:55+00\tmymachine\tsu\t\\N\t"
	    "ID47\t[exampleSDID@32473 iut=\"3\" eventID=\"1011\"]\t'su root' "
	    "failed\n");
	/* No year in RFC 3164: this year (1 January is never ahead). */
	year = 1970 + (int)(time(NULL) / 31556952);
	snprintf(want, sizeof want, "34\t%d-01-01 00:00:01+00\tmymachine\tsu\t"
	    "123\t\\N\t\\N\t'su root' failed for lonvick\n", year);
	one("lines format=syslog", "<34>Jan  1 00:00:01 mymachine su[123]: "
	    "'su root' failed for lonvick", want);
	one("lines format=syslog", "2026-12-03T08:47:55.123456+00:00 web sshd[99]: "
	    "Accepted publickey for ann", "\\N\t2026-12-03 08:47:55.123456+00\t"
	    "web\tsshd\t99\t\\N\t\\N\tAccepted publickey for ann\n");
	one("lines format=syslog", "garbage", "reject: the line does not match "
	    "the syslog format\n");

	one("lines format=regex pattern='^(?<level>[A-Z]+) (?<n>\\d+) "
	    "(?<msg>.*)$' columns=\"level,n:bigint,msg\"", "ERROR 42 disk\tfull "
	    "\\ 100%", "ERROR\t42\tdisk\\tfull \\\\ 100%\n");
	one("lines format=regex pattern='^(?<level>[A-Z]+): (?<msg>.*)$'",
	    "WARN: low", "WARN\tlow\n");
	one("lines format=regex pattern='^(?<level>[A-Z]+): (?<msg>.*)$'",
	    "warn: low", "reject: the line does not match the pattern\n");

	{
		char	*got = rows("lines format=csv header=yes comment='#' "
		    "columns=\"day:timestamptz,item,qty:bigint\" "
		    "drop_if=\"qty = 0\"", trades);

		is_str(got, "drop\ndrop\n"
		    "2026-12-01 00:00:00+00\tapple\t3\n"
		    "drop\n"
		    "2026-12-02 00:00:00+00\tsay \"hi\"\t4\n"
		    "reject: field 2: a quote is not closed\n"
		    "reject: 2 fields, and column 'qty' reads field 3\n"
		    "drop\n", "csv with a header, comments, quotes and a filter");
		free(got);
		got = rows("lines format=csv header=yes columns=\"qty:bigint,"
		    "price:numeric\"", noheader);
		is_str(got, "stop: the csv header has no field 'price' (its "
		    "first line names 2 fields)\n", "a header without a "
		    "declared column stops the object");
		free(got);
		got = rows("lines format=json columns=\"t:timestamptz,"
		    "id:bigint,tags:jsonb,ok:boolean\" from.id=u.id "
		    "default.id=-1", events);
		is_str(got, "2026-12-03 07:47:55.5+00\t7\t{\"a\":[1,2]}\tt\n"
		    "2026-12-03 00:00:00+00\t-1\t\\N\t\\N\n"
		    "reject: not a JSON object\n", "json: nested paths, "
		    "defaults, objects as jsonb");
		free(got);
	}
}

static void
test_types(void)
{
	char		 steps[128];
	static const struct {
		const char	*type, *in, *want;
	} cases[] = {
		{ "bigint", "-9223372036854775808", "-9223372036854775808\n" },
		{ "bigint", "9223372036854775808", "reject: column 'v': "
		    "'9223372036854775808' is not a bigint\n" },
		{ "bigint", "4x4", "reject: column 'v': '4x4' is not a bigint\n" },
		{ "numeric", "-1.5e3", "-1.5e3\n" },
		{ "numeric", "1.2.3", "reject: column 'v': '1.2.3' is not a "
		    "numeric\n" },
		{ "double", "nan", "reject: column 'v': 'nan' is not a double\n" },
		{ "boolean", "Off", "f\n" },
		{ "boolean", "maybe", "reject: column 'v': 'maybe' is not a "
		    "boolean\n" },
		{ "inet", "10.0.0.0/8", "10.0.0.0/8\n" },
		{ "inet", "2001:db8::/129", "reject: column 'v': "
		    "'2001:db8::/129' is not an inet\n" },
		{ "timestamptz", "2026-12-03 08:47:55+0530",
		    "2026-12-03 03:17:55+00\n" },
		{ "timestamptz", "2024-02-29T23:59:60Z",
		    "2024-02-29 23:59:59+00\n" },
		{ "timestamptz", "2026-02-29", "reject: column 'v': '2026-02-29' "
		    "is not a time in the format ISO 8601 (2026-12-03T08:47:55Z)\n" },
		{ "timestamptz:%Y/%m/%d %H.%M", "2026/12/03 08.47",
		    "2026-12-03 08:47:00+00\n" },
		{ "jsonb", "{\"a\":1", "reject: column 'v': '{\"a\":1' is not a "
		    "jsonb\n" },
	};
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		snprintf(steps, sizeof steps, "lines format=csv columns=\"v:%s\"",
		    cases[i].type);
		/* csv: a value with a comma would be two fields */
		one(steps, cases[i].in, cases[i].want);
	}
	one("lines format=json columns=\"t:timestamptz\" time_format=epoch_ms",
	    "{\"t\": 1764748800123}", "2025-12-03 08:00:00.123+00\n");
	one("lines format=json columns=v", "{\"v\": \"\"}", "\n");
	one("lines format=json columns=\"v:bigint\"", "{\"v\": \"\"}", "\\N\n");
	one("lines format=json columns=v", "{\"v\": \"caf\xc3\xa9\"}",
	    "caf\xc3\xa9\n");
	one("lines format=json columns=v", "{\"v\": \"caf\xe9\"}",
	    "reject: invalid UTF-8 at byte 11\n");
	one("lines format=json columns=v", "{\"v\": 1}\x01", "reject: not JSON: "
	    "end of file expected near '\x01' at column 9\n");
}

static void
test_filters(void)
{
	static const char *const lines[] = {
		"500,/x", "200,/api/buy", "404,/y", "200,/z", NULL
	};
	char	*got;

	got = rows("lines format=csv columns=\"status:bigint,path\" "
	    "keep_if=\"status >= 500 or path ~ '^/api' and status != 404\"",
	    lines);
	is_str(got, "500\t/x\n200\t/api/buy\ndrop\ndrop\n", "keep_if: and binds "
	    "tighter than or");
	free(got);
	got = rows("lines format=csv columns=\"status:bigint,path\" "
	    "drop_if=\"path = /z or status < 300 and path !~ api\"", lines);
	is_str(got, "500\t/x\n200\t/api/buy\n404\t/y\ndrop\n", "drop_if");
	free(got);
}

static void
test_mistakes(void)
{
	bad("lines", "recipe 'r': step 'lines': parameter 'format' is required "
	    "(json, csv, regex, nginx, apache or syslog)");
	bad("lines format=xml", "recipe 'r': step 'lines': parameter 'format' "
	    "must be json, csv, regex, nginx, apache or syslog, not 'xml'");
	bad("lines format=csv", "recipe 'r': step 'lines': parameter 'columns' "
	    "is required for format=csv (for example columns=\"time:timestamptz,"
	    "level:text,bytes:bigint\")");
	bad("lines format=regex pattern='(?<a>x'", "recipe 'r': step 'lines': "
	    "parameter 'pattern': missing closing parenthesis at offset 6");
	bad("lines format=regex pattern='x'", "recipe 'r': step 'lines': "
	    "parameter 'pattern' has no named group: name what each column "
	    "takes, as (?<name>...)");
	bad("lines format=regex pattern='(?<a>x)' columns=b", "recipe 'r': step "
	    "'lines': column 'b': the pattern has no group named 'b' (write it "
	    "(?<b>...))");
	bad("lines format=csv columns=\"a:int\"", "recipe 'r': step 'lines': "
	    "parameter 'columns': column 'a': unknown type 'int' (expected text, "
	    "bigint, numeric, double, boolean, timestamptz, inet or jsonb)");
	bad("lines format=csv columns=\"Name\"", "recipe 'r': step 'lines': "
	    "parameter 'columns': 'Name' is not a column name (lowercase "
	    "letters, digits and _, starting with a letter or _)");
	bad("lines format=csv columns=\"line_no\"", "recipe 'r': step 'lines': "
	    "parameter 'columns': 'line_no' is the name of a column objwatch "
	    "adds itself");
	bad("lines format=csv columns=\"a,a\"", "recipe 'r': step 'lines': "
	    "parameter 'columns': column 'a' is declared twice");
	bad("lines format=csv columns=\"a:bigint\" default.a=x", "recipe 'r': "
	    "step 'lines': parameter 'default.a': column 'a': 'x' is not a "
	    "bigint");
	bad("lines format=csv columns=a default.b=x", "recipe 'r': step "
	    "'lines': parameter 'default.b': 'b' is not a declared column");
	bad("lines format=csv columns=a from.a=first", "recipe 'r': step "
	    "'lines': parameter 'from.a': without a header, a csv field is "
	    "named by its position (1 for the first), not 'first'");
	bad("lines format=csv columns=\"a:bigint\" keep_if=\"a >\"", "recipe "
	    "'r': step 'lines': parameter 'keep_if': a value is missing at "
	    "offset 3");
	bad("lines format=csv columns=\"a:bigint\" keep_if=\"b > 1\"", "recipe "
	    "'r': step 'lines': parameter 'keep_if': 'b' at offset 0 is not a "
	    "declared column");
	bad("lines format=csv columns=\"a:bigint\" keep_if=\"a > 1 nor a < 0\"",
	    "recipe 'r': step 'lines': parameter 'keep_if': expected 'and' or "
	    "'or' at offset 6, not 'nor'");
	bad("lines format=csv columns=a max_line=0", "recipe 'r': step 'lines': "
	    "parameter 'max_line' must be a size from 1 to 268435456 (K and M "
	    "suffixes allowed), not '0'");
	bad("lines format=nginx pattern='(?<a>x)'", "recipe 'r': step 'lines': "
	    "parameter 'pattern' is for format=regex; format=nginx has its own");
	bad("lines format=nginx | save format=jpeg", "recipe 'r': step 'lines': "
	    "must be the only step: it does not decode images (make a recipe of "
	    "its own for it)");
	bad("lines format=csv columns=a width=3", "recipe 'r': step 'lines': "
	    "unknown parameter 'width' (expected format, columns, pattern, "
	    "header, delimiter, quote, comment, time_format, time_format.COLUMN, "
	    "default.COLUMN, from.COLUMN, keep_if, drop_if, max_line, "
	    "max_rejects, follow; 'width' is a parameter of step 'thumbnail')");
}

static void
test_split(void)
{
	const char	 text[] = "one\r\ntwo\n\nthree is long\nfour";
	char		*got, *both;
	void		*z1, *z2;
	size_t		 n1, n2;
	size_t		 step;
	int		 same = 1;

	got = split(text, strlen(text), 1 << 20, 8, 1);
	is_str(got, "1@0[one]2@5[two]3@9[]4@10T[three is]5@24[four] gzip=0 "
	    "end=28", "lines, CRLF, a long line cut once, the last without a "
	    "newline");
	for (step = 1; step < 8; step++) {
		char	*g = split(text, strlen(text), step, 8, 1);

		same = same && strcmp(g, got) == 0;
		free(g);
	}
	ok(same, "the same lines whatever size the pieces are fed in");
	free(got);
	got = split(text, strlen(text), 3, 8, 0);
	is_str(got, "1@0[one]2@5[two]3@9[]4@10T[three is] gzip=0 end=24",
	    "a growing file: the last partial line is left for later");
	free(got);

	z1 = gz("alpha\nbeta\n", &n1);
	z2 = gz("gamma\n", &n2);
	both = xmalloc(n1 + n2);
	memcpy(both, z1, n1);
	memcpy(both + n1, z2, n2);
	got = split(both, n1 + n2, 5, 100, 1);
	is_str(got, "1@0[alpha]2@6[beta]3@11[gamma] gzip=1 end=17",
	    "gzip by its magic, concatenated members, fed in small pieces");
	free(got);
	got = split(both, n1 - 4, 1 << 20, 100, 1);
	is_str(got, "1@0[alpha]2@6[beta] error: truncated gzip: the compressed "
	    "stream ends early (after 11 uncompressed bytes) gzip=1 end=11",
	    "a gzip cut short is an error, after what it held");
	free(got);
	memcpy(both, "GIF89a\0\0", 8);
	got = split(both, n1 + n2, 1 << 20, 100, 1);
	is_str(got, " error: binary input (NUL bytes): not lines of text gzip=0 "
	    "end=0", "NUL bytes at the start: not text");
	free(got);
	free(both);
	free(z1);
	free(z2);
}

int
main(void)
{
	plan(85);
	test_formats();
	test_types();
	test_filters();
	test_mistakes();
	test_split();
	return (tap_failed != 0);
}
