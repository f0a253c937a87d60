/*
 * Fuzz the output-template expander with a template and a key (split at
 * the first newline). The property checked: whatever the key holds, an
 * expansion stays inside the template's output root and has no ".."
 * component.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objwatch.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* What the last input came to ("no key", "bad template", "expanded" or "refused"), for the seed replay to check. */
const char	*fuzz_outcome;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct template_vars	 v;
	char			*in, *nl, *tmpl, *out = NULL, *cause = NULL;
	char			*root, *p;

	in = strndup((const char *)data, size);
	if ((nl = strchr(in, '\n')) == NULL) {
		fuzz_outcome = "no key";
		free(in);
		return (0);
	}
	*nl = '\0';
	xasprintf(&tmpl, "/out/%s", in);
	v.source = "src";
	v.key = nl + 1;
	v.recipe = "r";
	v.ext = "jpg";
	v.hash = "0123456789abcdef";
	if (template_check(tmpl, &cause) != 0) {
		fuzz_outcome = "bad template";
		free(cause);
		free(tmpl);
		free(in);
		return (0);
	}
	if (template_expand(tmpl, &v, &out, &cause) == 0) {
		root = template_root(tmpl);
		if (strncmp(out, root, strlen(root)) != 0)
			abort();	/* escaped the output root */
		for (p = out; (p = strstr(p, "..")) != NULL; p += 2) {
			if ((p == out || p[-1] == '/') &&
			    (p[2] == '/' || p[2] == '\0'))
				abort();	/* a ".." component */
		}
		free(root);
		free(out);
		fuzz_outcome = "expanded";
	} else {
		fuzz_outcome = "refused";
		free(cause);
	}
	free(tmpl);
	free(in);
	return (0);
}
