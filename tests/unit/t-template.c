/*
 * Output templates: each field, normalisation, and names that would leave
 * the output root.
 */
#include "config.h"

#include <stdlib.h>

#include "objwatch.h"
#include "tap.h"

static char *
expand(const char *tmpl, const char *key)
{
	struct template_vars	 v = { "photos", key, "thumbs", "jpg",
	    "0123456789abcdef" };
	char			*out, *cause;

	if (template_expand(tmpl, &v, &out, &cause) != 0)
		return (cause);
	return (out);
}

static void
check(const char *tmpl, const char *want)
{
	char	*cause = NULL;
	int	 rc = template_check(tmpl, &cause);

	if (want == NULL)
		ok(rc == 0 && cause == NULL, "'%s' is a valid template", tmpl);
	else
		is_str(cause, want, "'%s' is refused", tmpl);
	free(cause);
}

int
main(void)
{
	char	*got;

	plan(20);
#define EXPAND(t, k, want, what) do {					\
	got = expand(t, k);						\
	is_str(got, want, what);					\
	free(got);							\
} while (0)
	EXPAND("/out/{key}.{ext}", "a/b/IMG_1.JPG", "/out/a/b/IMG_1.JPG.jpg",
	    "{key} is the whole key");
	EXPAND("/out/{dir}/{stem}.{ext}", "a/b/IMG_1.JPG", "/out/a/b/IMG_1.jpg",
	    "{dir} and {stem}");
	EXPAND("/out/{dir}/{stem}.{ext}", "IMG_1.JPG", "/out/IMG_1.jpg",
	    "an empty {dir} leaves no double slash");
	EXPAND("/out/{source}/{recipe}/{name}", "x/y.png",
	    "/out/photos/thumbs/y.png", "{source}, {recipe} and {name}");
	EXPAND("/out/{hash}/{stem}", "archive.tar.gz",
	    "/out/0123456789abcdef/archive.tar", "{hash}; {stem} drops the "
	    "last extension only");
	EXPAND("/out/{stem}.{ext}", ".hidden", "/out/.hidden.jpg",
	    "a dot file's stem is its name");
	EXPAND("/out/{key}", "a/./b//c.jpg", "/out/a/b/c.jpg",
	    "'.' and '//' are normalised");
	EXPAND("/out/{key}", "a/../b.jpg", "/out/b.jpg",
	    "'..' inside the key is resolved");
	EXPAND("/out/{key}", "../../etc/passwd",
	    "'../../etc/passwd' climbs above its root with '..'",
	    "'..' that would leave the root is refused");
	EXPAND("/out/x{key}", "../y", "/out/x../y",
	    "a name that merely contains '..' is not a climb");
	EXPAND("/out//tx///{stem}", "a.jpg", "/out/tx/a",
	    "doubled slashes in the fixed part are folded");
	got = template_root("/out//tx///{stem}");
	is_str(got, "/out/tx", "and the root is the folded folder");
	free(got);

	check("/out/{key}.{ext}", NULL);
	check("/out/{dir}/{stem}.{ext}", NULL);
	check("/out/{key", "output '/out/{key' has a '{' without '}'");
	check("/out/key}", "output '/out/key}' has a '}' without '{'");
	check("/out/{size}", "output '/out/{size}': unknown field '{size}' "
	    "(expected {source}, {key}, {dir}, {name}, {stem}, {ext}, "
	    "{recipe} or {hash})");
	check("/out/thumb.jpg", "output '/out/thumb.jpg' has no field, so "
	    "every output would overwrite the last: use {key} or "
	    "{dir}/{stem}");
	check("/out/{recipe}.{ext}", "output '/out/{recipe}.{ext}' names no "
	    "input: use {key}, {name} or {stem}");
	check("/out/../../{key}", "output '/out/../../{key}' climbs above '/' "
	    "with '..'");
	return (done_testing());
}
