/*
 * Cron expressions: five fields (minute, hour, day of month, month, day of
 * week) of lists, ranges, steps and names, as crontab(5) has them, and the
 * fire times they give in UTC.
 *
 * A parsed expression is a bit set per field. The next fire time after t
 * (and the last one at or before t) is found field by field, coarsest
 * first: a month that does not match skips to the next month, a day to the
 * next day, an hour to the next hour, so a search takes a few dozen steps,
 * not one per minute. As in Vixie cron, when both day fields are
 * restricted (neither starts with '*'), a day matches when either does.
 *
 * Times are seconds since the epoch, broken down with gmtime_r and put back
 * together with timegm: no time zone, so no global state and no daylight
 * saving gaps.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "objwatch.h"
#include "banned.h"

/* How far a search goes before it says the expression never fires. */
#define CRON_YEARS	9

struct cron_field {
	const char		*name;
	int			 min, max;
	const char *const	*names;		/* index 0 is value min */
};

static const char *const cron_months[] = { "jan", "feb", "mar", "apr",
    "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const cron_days[] = { "sun", "mon", "tue", "wed", "thu",
    "fri", "sat", NULL };

static const struct cron_field cron_fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day of month", 1, 31, NULL },
	{ "month", 1, 12, cron_months },
	{ "day of week", 0, 7, cron_days },	/* 7 is Sunday too */
};

static const struct {
	const char	*name;
	const char	*expr;
} cron_macros[] = {
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

/* A number or a name of field f at *sp; moves *sp past it. */
static int
cron_value(const struct cron_field *f, const char **sp, int *out)
{
	const char	*s = *sp;
	long		 v;
	char		*end;
	size_t		 i;

	if (isdigit((unsigned char)*s)) {
		v = strtol(s, &end, 10);
		if (end - s > 4)
			return (-1);
		*out = (int)v;
		*sp = end;
		return (0);
	}
	if (f->names == NULL)
		return (-1);
	for (i = 0; f->names[i] != NULL; i++) {
		if (strncasecmp(s, f->names[i], 3) == 0 &&
		    !isalpha((unsigned char)s[3])) {
			*out = f->min + (int)i;
			*sp = s + 3;
			return (0);
		}
	}
	return (-1);
}

/* The error for what at s is neither a number nor a name. */
static int
cron_bad_value(const struct cron_field *f, const char *s, const char **at,
    char **cause)
{
	size_t	 n = 0;

	while (s[n] != '\0' && s[n] != ' ' && s[n] != '\t' && s[n] != ',' &&
	    s[n] != '-' && s[n] != '/')
		n++;
	*at = s;
	if (n == 0)
		xasprintf(cause, "%s: a number%s is missing", f->name,
		    f->names != NULL ? " or a name" : "");
	else
		xasprintf(cause, "%s: '%.*s' is not a number%s", f->name,
		    (int)n, s, f->names != NULL ? " or a name" : "");
	return (-1);
}

/*
 * One field, from s to end, into *bits; *star says it started with '*'.
 * On error *cause names the field and *at is where in the field it is.
 */
static int
cron_field_parse(const struct cron_field *f, const char *s, const char *end,
    uint64_t *bits, int *star, const char **at, char **cause)
{
	const char	*item;
	char		*end_num;
	int		 lo, hi, step, v;
	long		 l;

	*bits = 0;
	*star = (*s == '*');
	for (;;) {
		item = s;
		if (*s == '*') {
			lo = f->min;
			hi = f->max;
			s++;
		} else {
			if (cron_value(f, &s, &lo) != 0)
				return (cron_bad_value(f, item, at, cause));
			hi = lo;
			if (*s == '-') {
				s++;
				if (!isalnum((unsigned char)*s)) {
					*at = s;
					xasprintf(cause, "%s: a range needs an "
					    "end after '-'", f->name);
					return (-1);
				}
				if (cron_value(f, &s, &hi) != 0)
					return (cron_bad_value(f, s, at,
					    cause));
			}
			if (lo < f->min || lo > f->max || hi < f->min ||
			    hi > f->max) {
				*at = item;
				xasprintf(cause, "%s: %d is out of range "
				    "%d-%d", f->name, (lo < f->min ||
				    lo > f->max) ? lo : hi, f->min, f->max);
				return (-1);
			}
			if (hi < lo) {
				*at = item;
				xasprintf(cause, "%s: range %d-%d goes "
				    "backwards", f->name, lo, hi);
				return (-1);
			}
		}
		step = 1;
		if (*s == '/') {
			s++;
			l = isdigit((unsigned char)*s) ? strtol(s, &end_num,
			    10) : 0;
			if (l < 1 || l > f->max) {
				*at = s;
				xasprintf(cause, "%s: a step is a number from "
				    "1 to %d after '/'", f->name, f->max);
				return (-1);
			}
			s = end_num;
			step = (int)l;
			/* "5/15" is 5-max/15 */
			if (hi == lo && item[0] != '*')
				hi = f->max;
		}
		for (v = lo; v <= hi; v += step)
			*bits |= 1ULL << v;
		if (s == end)
			break;
		if (*s != ',') {
			*at = s;
			xasprintf(cause, "%s: unexpected '%c'", f->name, *s);
			return (-1);
		}
		s++;
		if (s == end) {
			*at = s;
			xasprintf(cause, "%s: nothing after ','", f->name);
			return (-1);
		}
	}
	return (0);
}

/*
 * Parse a five-field cron expression (or @daily and its kin). On error
 * *cause says what is wrong and at which character (from 1).
 */
int
cron_parse(const char *expr, struct cron *c, char **cause)
{
	const char	*s, *start, *at = NULL;
	uint64_t	 bits[5];
	int		 star[5], n;
	size_t		 i;
	char		*why;

	for (i = 0; i < nitems(cron_macros); i++) {
		if (strcmp(expr, cron_macros[i].name) == 0)
			return (cron_parse(cron_macros[i].expr, c, cause));
	}
	s = expr;
	for (n = 0; n < 5; n++) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0') {
			xasprintf(cause, "character %d: the %s field is "
			    "missing (5 fields: minute hour day-of-month "
			    "month day-of-week)", (int)(s - expr) + 1,
			    cron_fields[n].name);
			return (-1);
		}
		start = s;
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
		if (cron_field_parse(&cron_fields[n], start, s, &bits[n],
		    &star[n], &at, &why) != 0) {
			xasprintf(cause, "character %d: %s",
			    (int)(at - expr) + 1, why);
			free(why);
			return (-1);
		}
	}
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s != '\0') {
		xasprintf(cause, "character %d: more than 5 fields",
		    (int)(s - expr) + 1);
		return (-1);
	}
	memset(c, 0, sizeof *c);
	c->minutes = bits[0];
	c->hours = (uint32_t)bits[1];
	c->days = (uint32_t)bits[2];
	c->months = (uint16_t)bits[3];
	c->weekdays = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f);
	c->days_star = star[2];
	c->weekdays_star = star[4];
	if (cron_next(c, 0) == -1) {
		xasprintf(cause, "it never fires (no such day: '%s')", expr);
		return (-1);
	}
	return (0);
}

static int
cron_day_ok(const struct cron *c, const struct tm *tm)
{
	int	 d = (c->days >> tm->tm_mday) & 1;
	int	 w = (c->weekdays >> tm->tm_wday) & 1;

	if (c->days_star || c->weekdays_star)
		return (d && w);
	return (d || w);
}

/* Break t down, or put tm back together and break it down again. */
static time_t
cron_norm(struct tm *tm)
{
	time_t	 t = timegm(tm);

	gmtime_r(&t, tm);
	return (t);
}

/* The first fire time after t (strictly), or -1 when there is none. */
int64_t
cron_next(const struct cron *c, int64_t t)
{
	struct tm	 tm;
	time_t		 tt = (time_t)((t - (((t % 60) + 60) % 60)) + 60);
	int		 year;

	gmtime_r(&tt, &tm);
	year = tm.tm_year;
	while (tm.tm_year - year <= CRON_YEARS) {
		if (!((c->months >> (tm.tm_mon + 1)) & 1)) {
			tm.tm_mon++;
			tm.tm_mday = 1;
			tm.tm_hour = tm.tm_min = 0;
		} else if (!cron_day_ok(c, &tm)) {
			tm.tm_mday++;
			tm.tm_hour = tm.tm_min = 0;
		} else if (!((c->hours >> tm.tm_hour) & 1)) {
			tm.tm_hour++;
			tm.tm_min = 0;
		} else if (!((c->minutes >> tm.tm_min) & 1))
			tm.tm_min++;
		else
			return ((int64_t)timegm(&tm));
		tt = cron_norm(&tm);
	}
	return (-1);
}

/* The last fire time at or before t, or -1 when there is none. */
int64_t
cron_prev(const struct cron *c, int64_t t)
{
	struct tm	 tm;
	time_t		 tt = (time_t)(t - (((t % 60) + 60) % 60));
	int		 year;

	gmtime_r(&tt, &tm);
	year = tm.tm_year;
	while (year - tm.tm_year <= CRON_YEARS) {
		if (!((c->months >> (tm.tm_mon + 1)) & 1)) {
			/* the last minute of the month before */
			tm.tm_mday = 1;
			tm.tm_hour = tm.tm_min = 0;
			tt = timegm(&tm) - 60;
		} else if (!cron_day_ok(c, &tm)) {
			tm.tm_hour = tm.tm_min = 0;
			tt = timegm(&tm) - 60;
		} else if (!((c->hours >> tm.tm_hour) & 1)) {
			tm.tm_min = 0;
			tt = timegm(&tm) - 60;
		} else if (!((c->minutes >> tm.tm_min) & 1))
			tt = timegm(&tm) - 60;
		else
			return ((int64_t)timegm(&tm));
		gmtime_r(&tt, &tm);
	}
	return (-1);
}
