/*
 * Replay a fuzz target's seeds (tests/fuzz/TARGET: samples and every input
 * that once crashed it) through the target, one TAP result each: a
 * finding fixed once stays fixed. The target aborts when a property it
 * checks fails, which fails the test. Built once per target, with
 * FUZZ_TARGET naming it.
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "tap.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
name_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

int
main(void)
{
	DIR		*d;
	struct dirent	*de;
	const char	*top = getenv("SRCDIR");
	char		*dir, *path, **names = NULL;
	char		 buf[65536];
	size_t		 n = 0, len, i;
	FILE		*f;

	xasprintf(&dir, "%s/tests/fuzz/%s", top != NULL ? top : ".",
	    FUZZ_TARGET);
	if ((d = opendir(dir)) == NULL) {
		printf("Bail out! cannot open '%s'\n", dir);
		return (1);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		names = xreallocarray(names, n + 1, sizeof *names);
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, name_cmp);
	plan((int)n);
	for (i = 0; i < n; i++) {
		xasprintf(&path, "%s/%s", dir, names[i]);
		if ((f = fopen(path, "rb")) == NULL)
			ok(0, "%s: cannot open '%s'", FUZZ_TARGET, path);
		else if ((len = fread(buf, 1, sizeof buf, f)) == sizeof buf)
			ok(0, "%s: '%s' is over %zu bytes", FUZZ_TARGET, path,
			    sizeof buf - 1);
		else {
			LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
			ok(1, "%s: %s (%zu bytes) holds", FUZZ_TARGET,
			    names[i], len);
		}
		if (f != NULL)
			fclose(f);
		free(path);
		free(names[i]);
	}
	free(names);
	free(dir);
	return (done_testing());
}
