/*
 * Replay a fuzz target's seeds (tests/fuzz/TARGET: samples and every input
 * that once crashed it) through the target: a finding fixed once stays
 * fixed. The target aborts when a property it checks fails, which fails
 * the test; and it says what each input came to (fuzz_outcome), which
 * must be what tests/fuzz/TARGET.expect says for that seed ("NAME
 * OUTCOME" lines). Every seed in the folder needs a line there, and every
 * line a seed, so that a seed added or lost is noticed. Built once per
 * target, with FUZZ_TARGET naming it.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "tap.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
extern const char *fuzz_outcome;

struct expect {
	char	*name;
	char	*outcome;
	int	 seen;
};

static int
name_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* Read PATH's "NAME OUTCOME" lines (blank lines and # comments skipped). */
static struct expect *
expect_read(const char *path, size_t *np)
{
	struct expect	*v = NULL;
	FILE		*f;
	char		 line[1024], *p, *end;
	size_t		 n = 0;

	if ((f = fopen(path, "r")) == NULL)
		return (NULL);
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		p = line + strcspn(line, " \t");
		end = p;
		while (*p == ' ' || *p == '\t')
			p++;
		*end = '\0';
		v = xreallocarray(v, n + 1, sizeof *v);
		v[n].name = xstrdup(line);
		v[n].outcome = xstrdup(p);
		v[n].seen = 0;
		n++;
	}
	fclose(f);
	*np = n;
	return (v != NULL ? v : xcalloc(1, sizeof *v));
}

static struct expect *
expect_find(struct expect *v, size_t n, const char *name)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return (&v[i]);
	return (NULL);
}

int
main(void)
{
	DIR		*d;
	struct dirent	*de;
	struct expect	*want, *e;
	const char	*top = getenv("SRCDIR");
	char		*dir, *expath, *path, **names = NULL;
	static char	 buf[65536];
	size_t		 n = 0, nwant = 0, len, i, unmatched = 0;
	FILE		*f;

	xasprintf(&dir, "%s/tests/fuzz/%s", top != NULL ? top : ".",
	    FUZZ_TARGET);
	xasprintf(&expath, "%s.expect", dir);
	if ((d = opendir(dir)) == NULL) {
		printf("Bail out! cannot open '%s'\n", dir);
		return (1);
	}
	if ((want = expect_read(expath, &nwant)) == NULL) {
		printf("Bail out! cannot open '%s'\n", expath);
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
	plan((int)n + 2);
	ok(n > 0, "%s: '%s' holds seeds (%zu)", FUZZ_TARGET, dir, n);
	for (i = 0; i < n; i++) {
		xasprintf(&path, "%s/%s", dir, names[i]);
		e = expect_find(want, nwant, names[i]);
		if (e != NULL)
			e->seen = 1;
		if (e == NULL)
			ok(0, "%s: '%s' has no line in '%s'", FUZZ_TARGET,
			    names[i], expath);
		else if ((f = fopen(path, "rb")) == NULL)
			ok(0, "%s: cannot open '%s'", FUZZ_TARGET, path);
		else {
			len = fread(buf, 1, sizeof buf, f);
			fclose(f);
			if (len == sizeof buf)
				ok(0, "%s: '%s' is over %zu bytes",
				    FUZZ_TARGET, path, sizeof buf - 1);
			else {
				fuzz_outcome = NULL;
				LLVMFuzzerTestOneInput((const uint8_t *)buf,
				    len);
				is_str(fuzz_outcome, e->outcome,
				    "%s: %s (%zu bytes) holds and is %s",
				    FUZZ_TARGET, names[i], len, e->outcome);
			}
		}
		free(path);
		free(names[i]);
	}
	for (i = 0; i < nwant; i++) {
		if (!want[i].seen) {
			printf("# '%s' names no seed: '%s'\n", expath,
			    want[i].name);
			unmatched++;
		}
	}
	ok(unmatched == 0 && nwant == n,
	    "%s: '%s' has one line per seed (%zu lines, %zu seeds)",
	    FUZZ_TARGET, expath, nwant, n);
	for (i = 0; i < nwant; i++) {
		free(want[i].name);
		free(want[i].outcome);
	}
	free(want);
	free(names);
	free(expath);
	free(dir);
	return (done_testing());
}
