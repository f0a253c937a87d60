/*
 * Output templates: "/srv/thumbs/{recipe}/{dir}/{stem}.{ext}".
 *
 * Fields: {source} {key} {dir} {name} {stem} {ext} {recipe} {hash}. For key
 * "2024/trip/IMG_1.JPG": dir is "2024/trip", name "IMG_1.JPG", stem
 * "IMG_1"; ext is the output's extension (jpg, png, webp); hash the
 * recipe's. The fixed text before the first field is the output root:
 * whatever a key holds, the expanded name stays inside it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "banned.h"

static const char *const template_fields[] = {
	"source", "key", "dir", "name", "stem", "ext", "recipe", "hash", NULL
};

/* How long the fixed folder part of tmpl is, as written (no final '/'). */
static size_t
template_root_len(const char *tmpl)
{
	const char	*brace = strchr(tmpl, '{'), *slash;
	size_t		 len = brace == NULL ? strlen(tmpl) : (size_t)(brace -
	    tmpl);

	for (slash = tmpl + len; slash > tmpl && slash[-1] != '/'; slash--)
		;
	return (slash == tmpl ? 0 : (size_t)(slash - tmpl - 1));
}

/* Check a template's fields and braces. */
int
template_check(const char *tmpl, char **cause)
{
	const char	*p, *end;
	size_t		 i, len;

	for (p = tmpl; *p != '\0'; p++) {
		if (*p == '}') {
			xasprintf(cause, "output '%s' has a '}' without '{'",
			    tmpl);
			return (-1);
		}
		if (*p != '{')
			continue;
		if ((end = strchr(p, '}')) == NULL) {
			xasprintf(cause, "output '%s' has a '{' without '}'",
			    tmpl);
			return (-1);
		}
		len = end - p - 1;
		for (i = 0; template_fields[i] != NULL; i++) {
			if (strlen(template_fields[i]) == len &&
			    strncmp(template_fields[i], p + 1, len) == 0)
				break;
		}
		if (template_fields[i] == NULL) {
			xasprintf(cause, "output '%s': unknown field '{%.*s}' "
			    "(expected {source}, {key}, {dir}, {name}, "
			    "{stem}, {ext}, {recipe} or {hash})", tmpl,
			    (int)len, p + 1);
			return (-1);
		}
		p = end;
	}
	/* The fixed folder part must name a folder, not climb out of '/'. */
	if ((len = template_root_len(tmpl)) > 0) {
		char	*root = xstrndup(tmpl, len), *norm;

		if (tmpl[0] == '/' && path_normalise_key(root, &norm,
		    NULL) != 0) {
			xasprintf(cause, "output '%s' climbs above '/' with "
			    "'..'", tmpl);
			free(root);
			return (-1);
		}
		if (tmpl[0] == '/')
			free(norm);
		free(root);
	}
	if (strchr(tmpl, '{') == NULL) {
		xasprintf(cause, "output '%s' has no field, so every output "
		    "would overwrite the last: use {key} or {dir}/{stem}",
		    tmpl);
		return (-1);
	}
	if (strstr(tmpl, "{key}") == NULL && strstr(tmpl, "{stem}") == NULL &&
	    strstr(tmpl, "{name}") == NULL) {
		xasprintf(cause, "output '%s' names no input: use {key}, "
		    "{name} or {stem}", tmpl);
		return (-1);
	}
	return (0);
}

/* The folder that holds every expansion of tmpl: up to the last '/'
 * before the first field. */
char *
template_root(const char *tmpl)
{
	const char	*brace = strchr(tmpl, '{');
	const char	*slash;
	size_t		 len = brace == NULL ? strlen(tmpl) : (size_t)(brace -
	    tmpl);

	char		*root, *norm;

	for (slash = tmpl + len; slash > tmpl && slash[-1] != '/'; slash--)
		;
	if (slash == tmpl)
		return (xstrdup(""));
	len = slash - tmpl - 1;
	if (len == 0)
		return (xstrdup("/"));
	/* "/srv//out/" and "/srv/out" are one root: compare them alike. */
	root = xstrndup(tmpl, len);
	if (path_normalise_key(root, &norm, NULL) != 0)
		return (root);
	free(root);
	return (norm);
}

static void
append(char **buf, size_t *len, size_t *size, const char *s, size_t n)
{
	while (*len + n + 1 > *size) {
		*size = *size ? *size * 2 : 256;
		*buf = xreallocarray(*buf, *size, 1);
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
}

/*
 * Expand tmpl with vars. The part after the root is normalised ("//" and
 * "." dropped); a ".." that would leave the root is an error.
 */
int
template_expand(const char *tmpl, const struct template_vars *v, char **out,
    char **cause)
{
	const char	*p, *end, *key = v->key, *name, *dot;
	char		*buf = NULL, *root, *rest, *norm;
	size_t		 len = 0, size = 0, n;

	if ((name = strrchr(key, '/')) != NULL)
		name++;
	else
		name = key;
	dot = strrchr(name, '.');
	if (dot == name)
		dot = NULL;

	append(&buf, &len, &size, "", 0);
	for (p = tmpl; *p != '\0'; p++) {
		if (*p != '{') {
			append(&buf, &len, &size, p, 1);
			continue;
		}
		end = strchr(p, '}');
		n = end - p - 1;
#define FIELD(f) (n == strlen(f) && strncmp(p + 1, f, n) == 0)
		if (FIELD("source"))
			append(&buf, &len, &size, v->source, strlen(v->source));
		else if (FIELD("key"))
			append(&buf, &len, &size, key, strlen(key));
		else if (FIELD("dir"))
			append(&buf, &len, &size, key, name == key ? 0 :
			    (size_t)(name - key - 1));
		else if (FIELD("name"))
			append(&buf, &len, &size, name, strlen(name));
		else if (FIELD("stem"))
			append(&buf, &len, &size, name, dot == NULL ?
			    strlen(name) : (size_t)(dot - name));
		else if (FIELD("ext"))
			append(&buf, &len, &size, v->ext, strlen(v->ext));
		else if (FIELD("recipe"))
			append(&buf, &len, &size, v->recipe, strlen(v->recipe));
		else if (FIELD("hash"))
			append(&buf, &len, &size, v->hash, strlen(v->hash));
#undef FIELD
		p = end;
	}

	root = template_root(tmpl);
	/* The fixed text is copied as it is: skip it as written. */
	rest = buf + template_root_len(tmpl);
	while (*rest == '/')
		rest++;
	if (path_normalise_key(rest, &norm, cause) != 0) {
		free(root);
		free(buf);
		return (-1);
	}
	if (*root == '\0')
		*out = norm;
	else {
		*out = path_join(root, norm);
		free(norm);
	}
	free(root);
	free(buf);
	return (0);
}
