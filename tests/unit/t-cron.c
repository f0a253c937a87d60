/*
 * Cron expressions and schedule periods: the next and last fire times of a
 * set of expressions, exact to the second, the errors with their position,
 * and the CSV quoting and file names of schedule exports.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "objwatch.h"
#include "tap.h"

/* An epoch time as ISO 8601 UTC, in a static buffer (one per call site). */
static const char *
iso(int64_t t, char *buf, size_t size)
{
	time_t		 tt = (time_t)t;
	struct tm	 tm;

	if (t == -1)
		return ("never");
	gmtime_r(&tt, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return (buf);
}

static int64_t
at(const char *s)
{
	struct tm	 tm;

	memset(&tm, 0, sizeof tm);
	if (strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
		return (-2);
	return ((int64_t)timegm(&tm));
}

static void
next_is(const char *expr, const char *from, const char *want)
{
	struct cron	 c;
	char		*cause = NULL, buf[32];

	if (cron_parse(expr, &c, &cause) != 0) {
		ok(0, "'%s' parses: %s", expr, cause);
		free(cause);
		return;
	}
	is_str(iso(cron_next(&c, at(from)), buf, sizeof buf), want,
	    "'%s' after %s fires at %s", expr, from, want);
}

static void
prev_is(const char *expr, const char *from, const char *want)
{
	struct cron	 c;
	char		*cause = NULL, buf[32];

	if (cron_parse(expr, &c, &cause) != 0) {
		ok(0, "'%s' parses: %s", expr, cause);
		free(cause);
		return;
	}
	is_str(iso(cron_prev(&c, at(from)), buf, sizeof buf), want,
	    "'%s' at or before %s fired at %s", expr, from, want);
}

static void
error_is(const char *expr, const char *want)
{
	struct cron	 c;
	char		*cause = NULL;

	if (cron_parse(expr, &c, &cause) == 0) {
		ok(0, "'%s' is refused", expr);
		return;
	}
	is_str(cause, want, "'%s' is refused: %s", expr, want);
	free(cause);
}

int
main(void)
{
	struct schedule	 s;
	struct buf	 b;
	int64_t		 start, next;
	char		*path, b1[32], b2[32];

	plan(35);

	next_is("0 */12 * * *", "2026-12-02T18:50:00Z", "2026-12-03T00:00:00Z");
	prev_is("0 */12 * * *", "2026-12-02T18:50:00Z", "2026-12-02T12:00:00Z");
	next_is("*/15 9-17 * * mon-fri", "2026-12-05T10:00:00Z",
	    "2026-12-07T09:00:00Z");
	prev_is("*/15 9-17 * * mon-fri", "2026-12-07T08:59:59Z",
	    "2026-12-04T17:45:00Z");
	next_is("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z");
	prev_is("0 0 29 2 *", "2026-03-01T00:00:00Z", "2024-02-29T00:00:00Z");
	/* both day fields restricted: either matches */
	next_is("30 4 1,15 * 5", "2026-12-02T00:00:00Z", "2026-12-04T04:30:00Z");
	next_is("30 4 1,15 * 5", "2026-12-11T05:00:00Z", "2026-12-15T04:30:00Z");
	/* one of them '*': both must */
	next_is("0 0 */10 * mon", "2026-12-01T00:00:00Z", "2026-12-21T00:00:00Z");
	prev_is("0 0 1 jan *", "2026-12-02T18:50:00Z", "2026-01-01T00:00:00Z");
	next_is("5/20 * * * *", "2026-12-02T10:46:00Z", "2026-12-02T11:05:00Z");
	next_is("@daily", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z");
	next_is("0 12 * * 7", "2026-12-02T18:50:00Z", "2026-12-06T12:00:00Z");
	next_is("0 12 * * SUN", "2026-12-06T12:00:00Z", "2026-12-13T12:00:00Z");
	next_is("0 * * * *", "2026-12-02T13:00:00Z", "2026-12-02T14:00:00Z");
	prev_is("0 * * * *", "2026-12-02T13:00:00Z", "2026-12-02T13:00:00Z");
	next_is("59 23 31 dec *", "2026-12-02T18:50:00Z",
	    "2026-12-31T23:59:00Z");
	next_is("0 8-10/2,17 * * *", "2026-12-02T08:00:00Z",
	    "2026-12-02T10:00:00Z");
	next_is("0 8-10/2,17 * * *", "2026-12-02T10:00:00Z",
	    "2026-12-02T17:00:00Z");
	next_is("0 0 31 * *", "2026-12-31T00:00:00Z", "2027-01-31T00:00:00Z");
	next_is("0 0 31 * *", "2027-01-31T00:00:00Z", "2027-03-31T00:00:00Z");

	error_is("60 * * * *", "character 1: minute: 60 is out of range 0-59");
	error_is("0 */12 * *", "character 11: the day of week field is missing "
	    "(5 fields: minute hour day-of-month month day-of-week)");
	error_is("0 0 * foo *", "character 7: month: 'foo' is not a number or "
	    "a name");
	error_is("0 0 30 2 *", "it never fires (no such day: '0 0 30 2 *')");
	error_is("0 1- * * *", "character 5: hour: a range needs an end "
	    "after '-'");
	error_is("*/0 * * * *", "character 3: minute: a step is a number from "
	    "1 to 59 after '/'");
	error_is("0 0 * * 1 2", "character 11: more than 5 fields");
	error_is("0 5-2 * * *", "character 3: hour: range 5-2 goes backwards");

	memset(&s, 0, sizeof s);
	s.name = "top5";
	s.every = 12 * 3600;
	schedule_period(&s, at("2026-12-02T18:50:00Z"), &start, &next);
	is_str(iso(start, b1, sizeof b1), "2026-12-02T12:00:00Z",
	    "every 12h: the period of 18:50 started at 12:00 UTC");
	is_str(iso(next, b2, sizeof b2), "2026-12-03T00:00:00Z",
	    "every 12h: the next one starts at midnight UTC");
	s.output_template = "/srv/reports/{schedule}-{start}.csv";
	path = schedule_output_path(&s, start);
	is_str(path, "/srv/reports/top5-20261202T120000Z.csv",
	    "the export's name has the schedule and the period's start");
	free(path);
	s.output_template = "/srv/{date}/{schedule}.json";
	path = schedule_output_path(&s, start);
	is_str(path, "/srv/2026-12-02/top5.json", "and {date}, the day");
	free(path);

	buf_init(&b);
	schedule_csv_field(&b, "plain");
	buf_add(&b, "|", 1);
	schedule_csv_field(&b, "a,b");
	buf_add(&b, "|", 1);
	schedule_csv_field(&b, "say \"hi\"");
	buf_add(&b, "|", 1);
	schedule_csv_field(&b, "two\nlines");
	is_str(b.s, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"",
	    "CSV fields quoted as RFC 4180 has it");
	buf_clear(&b);
	buf_init(&b);
	schedule_csv_field(&b, " padded");
	buf_add(&b, "|", 1);
	schedule_csv_field(&b, "");
	is_str(b.s, "\" padded\"|", "leading blanks quoted, empty left empty");
	buf_clear(&b);
	return (tap_failed != 0);
}
