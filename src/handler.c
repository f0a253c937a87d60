/*
 * The table of recipe steps, selected by name, and the helpers handlers use
 * to read their parameters. Each handler lives in its own file under
 * handlers/ and exports one const struct handler.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "banned.h"

static const struct handler *const handlers[] = {
	&handler_thumbnail,
	&handler_crop,
	&handler_watermark,
	&handler_save,
	&handler_info,
	&handler_lines,
	&handler_copy,
};

/* The handler called name, or NULL. */
const struct handler *
handler_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < nitems(handlers); i++) {
		if (strcmp(handlers[i]->name, name) == 0)
			return (handlers[i]);
	}
	return (NULL);
}

/* The handler names, comma-separated, for messages. */
const char *
handler_names(void)
{
	static char	 names[256];
	size_t		 i, off = 0;

	if (names[0] != '\0')
		return (names);
	for (i = 0; i < nitems(handlers); i++) {
		off += snprintf(names + off, sizeof names - off, "%s%s",
		    i > 0 ? ", " : "", handlers[i]->name);
		if (off >= sizeof names)
			break;
	}
	return (names);
}

/* The value of a parameter, marking it used, or NULL when absent. */
const char *
step_arg(struct step *st, const char *key)
{
	size_t	 i;

	for (i = 0; i < st->nargs; i++) {
		if (strcmp(st->args[i].key, key) == 0) {
			st->args[i].used = 1;
			return (st->args[i].value);
		}
	}
	return (NULL);
}

/* Read an integer parameter within [min, max], or def when absent. */
int
step_arg_int(struct step *st, const char *key, int min, int max, int def,
    int *out, char **cause)
{
	const char	*v = step_arg(st, key);
	char		*end;
	long		 l;

	if (v == NULL) {
		*out = def;
		return (0);
	}
	errno = 0;
	l = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || l < min || l > max) {
		xasprintf(cause, "parameter '%s' must be a whole number from "
		    "%d to %d, not '%s'", key, min, max, v);
		return (-1);
	}
	*out = (int)l;
	return (0);
}

/* Read a parameter that is one of choices (by index), or def when absent. */
int
step_arg_choice(struct step *st, const char *key, const char *const *choices,
    int def, int *out, char **cause)
{
	const char	*v = step_arg(st, key);
	char		 expected[256] = "";
	size_t		 off = 0;
	int		 i;

	if (v == NULL) {
		*out = def;
		return (0);
	}
	for (i = 0; choices[i] != NULL; i++) {
		if (strcmp(choices[i], v) == 0) {
			*out = i;
			return (0);
		}
		if (off < sizeof expected)
			off += snprintf(expected + off, sizeof expected - off,
			    "%s%s", i > 0 ? ", " : "", choices[i]);
	}
	xasprintf(cause, "parameter '%s' must be one of %s, not '%s'", key,
	    expected, v);
	return (-1);
}

/* Read a yes/no parameter, or def when absent. */
int
step_arg_bool(struct step *st, const char *key, int def, int *out,
    char **cause)
{
	const char	*v = step_arg(st, key);

	if (v == NULL)
		*out = def;
	else if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "1") == 0)
		*out = 1;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
	    strcmp(v, "0") == 0)
		*out = 0;
	else {
		xasprintf(cause, "parameter '%s' must be yes or no, not '%s'",
		    key, v);
		return (-1);
	}
	return (0);
}

/* Whether a handler's usage ("a, b, c") names key. */
static int
handler_knows(const struct handler *h, const char *key)
{
	const char	*p = h->usage;
	size_t		 len = strlen(key);

	while ((p = strstr(p, key)) != NULL) {
		if ((p == h->usage || p[-1] == ' ') &&
		    (p[len] == ',' || p[len] == '\0'))
			return (1);
		p += len;
	}
	return (0);
}

/*
 * Fail on the first parameter the handler did not read, saying which
 * other step takes it when one does (quality=80 given to thumbnail
 * belongs to save).
 */
int
step_check_unused(struct step *st, char **cause)
{
	const struct handler	*other = NULL;
	size_t			 i, j;

	for (i = 0; i < st->nargs; i++) {
		if (st->args[i].used)
			continue;
		for (j = 0; j < nitems(handlers) && other == NULL; j++)
			if (handlers[j] != st->handler &&
			    handler_knows(handlers[j], st->args[i].key))
				other = handlers[j];
		if (other != NULL)
			xasprintf(cause, "unknown parameter '%s' (expected %s; "
			    "'%s' is a parameter of step '%s')",
			    st->args[i].key, st->handler->usage,
			    st->args[i].key, other->name);
		else
			xasprintf(cause, "unknown parameter '%s' (expected %s)",
			    st->args[i].key, st->handler->usage);
		return (-1);
	}
	return (0);
}

/* Read a decimal parameter within [min, max], or def when absent. */
int
step_arg_double(struct step *st, const char *key, double min, double max,
    double def, double *out, char **cause)
{
	const char	*v = step_arg(st, key);
	char		*end;
	double		 d;

	if (v == NULL) {
		*out = def;
		return (0);
	}
	errno = 0;
	d = strtod(v, &end);
	if (*v == '\0' || *end != '\0' || errno != 0 || !isfinite(d) ||
	    d < min || d > max) {
		xasprintf(cause, "parameter '%s' must be a number from %g to "
		    "%g, not '%s'", key, min, max, v);
		return (-1);
	}
	*out = d;
	return (0);
}

/*
 * Read a colour, "R,G,B" or "R,G,B,A" with each from 0 to 255 (A is 255
 * when absent), or def (four values) when absent.
 */
int
step_arg_colour(struct step *st, const char *key, const double *def,
    double *rgba, char **cause)
{
	const char	*v = step_arg(st, key), *p;
	char		*end;
	double		 c[4] = { 0, 0, 0, 255 };
	long		 l;
	int		 n = 0;

	if (v == NULL) {
		memcpy(rgba, def, sizeof c);
		return (0);
	}
	for (p = v;; p = end + 1) {
		errno = 0;
		l = strtol(p, &end, 10);
		if (end == p || errno != 0 || l < 0 || l > 255 || n == 4)
			break;
		c[n++] = l;
		if (*end == '\0') {
			if (n < 3)
				break;
			memcpy(rgba, c, sizeof c);
			return (0);
		}
		if (*end != ',')
			break;
	}
	xasprintf(cause, "parameter '%s' must be R,G,B or R,G,B,A with each "
	    "from 0 to 255, not '%s'", key, v);
	return (-1);
}

/*
 * Read a length in pixels ("12") or in percent of the image ("12%"); def
 * (pixels) when absent. Negative lengths are allowed: offsets use them.
 */
int
step_arg_length(struct step *st, const char *key, int def, double *out,
    int *percent, char **cause)
{
	const char	*v = step_arg(st, key);
	char		*end;
	double		 d;

	*percent = 0;
	if (v == NULL) {
		*out = def;
		return (0);
	}
	errno = 0;
	d = strtod(v, &end);
	if (end != v && *end == '%' && end[1] == '\0' && errno == 0 &&
	    d >= -100 && d <= 100) {
		*percent = 1;
		*out = d;
		return (0);
	}
	if (end != v && *end == '\0' && errno == 0 && d == floor(d) &&
	    d >= -10000000 && d <= 10000000) {
		*out = d;
		return (0);
	}
	xasprintf(cause, "parameter '%s' must be whole pixels (such as 20) "
	    "or a percentage of the image (such as 5%%), not '%s'", key, v);
	return (-1);
}

static const char *const gravities[] = { "centre", "north", "north-east",
    "east", "south-east", "south", "south-west", "west", "north-west",
    NULL };

/* The side each gravity holds to: -1 west or north, 1 east or south. */
static const struct {
	int	 h;
	int	 v;
} gravity_sides[] = {
	{ 0, 0 }, { 0, -1 }, { 1, -1 }, { 1, 0 }, { 1, 1 }, { 0, 1 },
	{ -1, 1 }, { -1, 0 }, { -1, -1 }
};

/* Read a gravity (one of the 9 positions, as an index), or def. */
int
step_arg_gravity(struct step *st, const char *key, int def, int *out,
    char **cause)
{
	const char	*v = step_arg(st, key);

	if (v != NULL && strcmp(v, "center") == 0) {
		*out = 0;
		return (0);
	}
	return (step_arg_choice(st, key, gravities, def, out, cause));
}

/* One axis: at the start, the end or the middle, moved by off. */
static int
gravity_axis(int side, int outer, int len, int inset, int off)
{
	if (side < 0)
		return (inset + off);
	if (side > 0)
		return (outer - len - inset - off);
	return ((outer - len) / 2 + off);
}

/*
 * Where a w x h box goes inside an outer_w x outer_h one at a gravity: its
 * top-left corner. The box is inset from the edges the gravity holds to,
 * and dx, dy move it further in from them (right and down when centred).
 */
void
gravity_place(int gravity, int outer_w, int outer_h, int w, int h,
    int inset, int dx, int dy, int *x, int *y)
{
	*x = gravity_axis(gravity_sides[gravity].h, outer_w, w, inset, dx);
	*y = gravity_axis(gravity_sides[gravity].v, outer_h, h, inset, dy);
}
