/*
 * The config file: what a valid file resolves to, and the exact message
 * for each mistake, with its file and line.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vips/vips.h>

#include "objwatch.h"
#include "tap.h"

static char	 dir[] = "/tmp/objwatch-t-config-XXXXXX";

/* Write text to c.conf in the test folder and load it. */
static struct config *
load(const char *text, struct strv *errors)
{
	FILE	*f;

	strv_clear(errors);
	if ((f = fopen("c.conf", "w")) == NULL)
		abort();
	fputs(text, f);
	fclose(f);
	return (config_load("c.conf", errors));
}

static char *
errs(struct strv *errors)
{
	return (strv_join(errors, "\n"));
}

#define LONG_TEXT "0123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789"
#define GOOD_MAIN "[objwatch]\ndatabase = postgresql:///x\n"
#define GOOD_SOURCE "[source.photos]\ntype = dir\npath = in\n" \
    "recipes = thumbs\n"
#define GOOD_RECIPE "[recipe.thumbs]\nsteps = thumbnail width=256 " \
    "height=256 | save format=jpeg quality=80\noutput = " \
    "dir:out/{dir}/{stem}.{ext}\n"

static void
expect_error(const char *text, const char *want, const char *what)
{
	struct strv	 errors = { NULL, 0 };
	struct config	*conf;
	char		*got;

	conf = load(text, &errors);
	ok(conf == NULL, "%s: refused", what);
	got = errs(&errors);
	is_str(got, want, "%s: message", what);
	free(got);
	config_free(conf);
	strv_clear(&errors);
}

int
main(void)
{
	struct strv	 errors = { NULL, 0 };
	struct config	*conf;
	char		*want, *got;

	plan(95);
	if (VIPS_INIT("t-config") != 0)
		return (1);
	if (mkdtemp(dir) == NULL || chdir(dir) != 0)
		return (1);
	mkdir("in", 0755);

	/* A valid file, and what it resolves to. */
	conf = load(GOOD_MAIN GOOD_SOURCE GOOD_RECIPE, &errors);
	ok(conf != NULL, "a valid config loads");
	got = errs(&errors);
	is_str(got, "", "with no errors");
	free(got);
	if (conf == NULL)
		return (1);
	is_int(conf->workers, ncpus(), "workers defaults to one per CPU");
	xasprintf(&want, "%s/var", dir);
	is_str(conf->state_dir, want, "state_dir defaults to var beside the "
	    "config");
	free(want);
	xasprintf(&want, "%s/in", dir);
	is_str(conf->sources[0]->path, want, "a relative source path "
	    "resolves against the config's folder");
	free(want);
	got = strv_join(&conf->sources[0]->include, " ");
	is_str(got, "*.jpg *.jpeg *.png *.webp *.tif *.tiff *.gif",
	    "include has a default");
	free(got);
	got = strv_join(&conf->sources[0]->exclude, " ");
	is_str(got, ".* *~ *.tmp *.part *.partial .~*",
	    "exclude ignores temporary names by default");
	free(got);
	is_int(conf->sources[0]->nrecipes, 1, "the source has its recipe");
	ok(conf->sources[0]->recipes[0] == conf->recipes[0],
	    "and it is the [recipe.thumbs] section");
	is_int(strlen(conf->recipes[0]->hash), 16, "the recipe has a hash");
	is_int(conf->recipes[0]->nsteps, 2, "two steps parsed");
	xasprintf(&want, "%s/out/{dir}/{stem}.{ext}", dir);
	is_str(conf->recipes[0]->output_template, want,
	    "output template made absolute");
	free(want);
	xasprintf(&want, "%s/out", dir);
	is_str(conf->recipes[0]->output_root, want, "output root");
	free(want);
	is_str(conf->listen, "127.0.0.1:9780", "listen has a default");
	ok(conf->lease == 300 && conf->max_attempts == 5 && conf->poll == 5,
	    "lease, max_attempts and poll have defaults");
	config_free(conf);

	/* Embedded database when database is absent or empty. */
	conf = load("[objwatch]\ndatabase =\nworkers = 3\n" GOOD_SOURCE
	    GOOD_RECIPE, &errors);
	ok(conf != NULL && conf->database == NULL && conf->workers == 3,
	    "an empty database means the embedded cluster");
	config_free(conf);

	/* Inline comments, and steps continued over indented lines. */
	conf = load("[objwatch] ; main\nworkers = 2 ; two\n" GOOD_SOURCE
	    "[recipe.thumbs]\nsteps = thumbnail width=100\n"
	    "    | save format=png\noutput = dir:out/{key}.{ext}\n",
	    &errors);
	ok(conf != NULL, "continued steps load");
	if (conf != NULL) {
		is_int(conf->workers, 2, "an inline comment is not part of "
		    "the value");
		is_int(conf->recipes[0]->nsteps, 2, "the indented line "
		    "continues the steps");
		is_str(conf->recipes[0]->steps_text,
		    "thumbnail width=100 | save format=png",
		    "continued steps are joined with a space");
	} else {
		ok(0, "skipped");
		ok(0, "skipped");
		ok(0, "skipped");
	}
	config_free(conf);

	/* Each mistake, with its exact message. */
	expect_error("[sorce.x]\ntype = dir\n" GOOD_SOURCE GOOD_RECIPE,
	    "c.conf:1: unknown section 'sorce.x' (expected objwatch, "
	    "source.NAME, recipe.NAME or schedule.NAME)", "unknown section");
	expect_error("[objwatch]\nwokers = 2\n" GOOD_SOURCE GOOD_RECIPE,
	    "c.conf:2: unknown key 'wokers' in [objwatch]", "unknown key");
	expect_error("[objwatch]\nworkers = -1\n" GOOD_SOURCE GOOD_RECIPE,
	    "c.conf:2: 'workers' must be a whole number from 0 to 256, not "
	    "'-1'", "workers out of range");
	expect_error("[objwatch]\nlease = soon\n" GOOD_SOURCE GOOD_RECIPE,
	    "c.conf:2: 'lease' must be a duration such as 500ms, 30s, 5m or "
	    "1h, not 'soon'", "bad duration");
	expect_error("[objwatch]\nlog = xml\n" GOOD_SOURCE GOOD_RECIPE,
	    "c.conf:2: 'log' must be one of text, json, not 'xml'",
	    "bad choice");
	expect_error(GOOD_SOURCE "[recipe.thumbs]\nsteps = thumbnail "
	    "widht=256 | save\noutput = dir:out/{key}.{ext}\n",
	    "c.conf:6: recipe 'thumbs': step 'thumbnail': unknown parameter "
	    "'widht' (expected width, height, fit, crop, focus, "
	    "enlarge, autorotate, background, pages)", "unknown step parameter");
	expect_error(GOOD_SOURCE "[recipe.thumbs]\nsteps = thumbnail "
	    "width=256 | save\nsteps = save\noutput = dir:out/{key}.{ext}\n",
	    "c.conf:7: 'steps' is set twice in [recipe.thumbs]",
	    "a key set twice");
	xasprintf(&want, "c.conf:3: source 'photos': path '%s/nope': No such "
	    "file or directory", dir);
	expect_error("[source.photos]\ntype = dir\npath = nope\nrecipes = "
	    "thumbs\n" GOOD_RECIPE, want, "a source folder that does not "
	    "exist");
	free(want);
	expect_error("[source.photos]\ntype = dir\npath = in\nrecipes = "
	    "thumbs small\n" GOOD_RECIPE,
	    "c.conf:4: source 'photos': no recipe 'small' (define "
	    "[recipe.small])", "a recipe that is not defined");
	expect_error(GOOD_SOURCE "[recipe.thumbs]\nsteps = thumbnail "
	    "width=256 | save\noutput = /srv/{key}\n",
	    "c.conf:7: recipe 'thumbs': output '/srv/{key}' must start with "
	    "dir: (a folder) or s3: (a bucket)", "an output without a kind");
	expect_error(GOOD_SOURCE "[recipe.thumbs]\nsteps = thumbnail "
	    "width=256 | save\noutput = dir:out/{basename}\n",
	    "c.conf:7: recipe 'thumbs': output 'out/{basename}': unknown "
	    "field '{basename}' (expected {source}, {key}, {dir}, {name}, "
	    "{stem}, {ext}, {recipe} or {hash})", "an unknown template "
	    "field");
	expect_error("[objwatch]\nworkers = 2\n",
	    "c.conf: no sources: add a [source.NAME] section", "no sources");
	expect_error("[objwatch]\nwokers = 2\nlog = xml\n[foo]\na = b\n"
	    GOOD_SOURCE "[recipe.thumbs]\nsteps = thumb\n"
	    "output = dir:out/{key}.{ext}\n",
	    "c.conf:2: unknown key 'wokers' in [objwatch]\n"
	    "c.conf:3: 'log' must be one of text, json, not 'xml'\n"
	    "c.conf:4: unknown section 'foo' (expected objwatch, source.NAME, "
	    "recipe.NAME or schedule.NAME)\n"
	    "c.conf:11: recipe 'thumbs': unknown step 'thumb' (expected one "
	    "of: thumbnail, crop, watermark, save, info, lines, copy)",
	    "every error is reported, in order");
	expect_error("[objwatch]\nthis line is not ini\n" GOOD_SOURCE
	    GOOD_RECIPE, "c.conf:2: cannot parse this line (expected "
	    "[section], key = value or a ; comment)", "a line that is not "
	    "INI");
	expect_error("[source.photos]\npath = in\nrecipes = thumbs\n"
	    GOOD_RECIPE, "c.conf:1: source 'photos' has no 'type' (dir or "
	    "s3)", "a source without a type");

	/* A section named again continues it, with its own kind of keys. */
	conf = load("[source.photos]\ntype = dir\n" GOOD_RECIPE
	    "[source.photos]\npath = in\nrecipes = thumbs\n[objwatch]\n"
	    "workers = 2\n[recipe.thumbs]\n", &errors);
	ok(conf != NULL && conf->nsources == 1 && conf->workers == 2 &&
	    conf->sources[0]->recipes[0] == conf->recipes[0],
	    "sections named again are merged, each with its own keys");
	config_free(conf);
	expect_error("[source.photos]\ntype = dir\npath = in\nrecipes = "
	    "thumbs\n" GOOD_RECIPE "[source.photos]\nsteps = x\n",
	    "c.conf:9: unknown key 'steps' in [source.photos]",
	    "a recipe key in a source section named again");

	/* Admission limits: [objwatch] defaults, recipes override. */
	conf = load("[objwatch]\nmax_pixels = 1000\nmax_input_bytes = 2M\n"
	    GOOD_SOURCE GOOD_RECIPE "max_pages = 4\nreprocess = yes\n"
	    "[recipe.meta]\nsteps = info\n", &errors);
	ok(conf != NULL, "limits and an info recipe load");
	if (conf != NULL) {
		struct recipe	*r = config_find_recipe(conf, "thumbs");
		struct recipe	*m = config_find_recipe(conf, "meta");

		ok(r->max_pixels == 1000 && r->max_input_bytes == 2097152,
		    "a recipe takes [objwatch]'s limits");
		ok(r->max_pages == 4 && r->reprocess == 1,
		    "and sets its own");
		ok(m->max_pages == 1 && conf->max_pages == 1,
		    "max_pages defaults to 1");
		ok(m->writes == 0 && r->writes == 1,
		    "an info recipe writes nothing and needs no output");
	}
	config_free(conf);
	conf = load(GOOD_MAIN GOOD_SOURCE GOOD_RECIPE, &errors);
	ok(conf != NULL && conf->max_pixels == 50000000 &&
	    conf->max_input_bytes == 104857600 &&
	    conf->recipes[0]->max_pixels == 50000000,
	    "defaults: 50 MP, 100 MB");
	config_free(conf);
	expect_error(GOOD_MAIN "max_pixels = 50MP\n" GOOD_SOURCE GOOD_RECIPE,
	    "c.conf:3: 'max_pixels' must be a whole number of at least 1, "
	    "not '50MP'", "a bad max_pixels");
	expect_error(GOOD_MAIN GOOD_SOURCE GOOD_RECIPE
	    "max_input_bytes = lots\n", "c.conf:10: 'max_input_bytes' must "
	    "be a size such as 1048576, 512k, 16MB or 2GiB, not 'lots'",
	    "a bad max_input_bytes");
	expect_error(GOOD_MAIN GOOD_SOURCE GOOD_RECIPE "reprocess = always\n",
	    "c.conf:10: 'reprocess' must be yes or no, not 'always'",
	    "a bad reprocess");
	expect_error(GOOD_MAIN GOOD_SOURCE GOOD_RECIPE "[recipe.meta]\n"
	    "steps = info\noutput = dir:out/{key}.json\n", "c.conf:12: "
	    "recipe 'meta': 'output' does not apply: its only step, info, "
	    "writes no file", "an info recipe with an output");

	/* A long recipe on one line (libinih reads 200 bytes by default). */
	conf = load(GOOD_MAIN GOOD_SOURCE "[recipe.thumbs]\nsteps = thumbnail "
	    "width=256 | watermark text=\"" LONG_TEXT "\" | save\noutput = "
	    "dir:out/{key}\n", &errors);
	got = errs(&errors);
	is_str(got, "", "a 400-character steps line is read whole");
	free(got);
	config_free(conf);

	expect_error("[source.my photos]\ntype = dir\npath = in\nrecipes = "
	    "thumbs\n" GOOD_RECIPE, "c.conf:1: source name 'my photos' may "
	    "only have letters, digits, '-', '_' and '.' (it names URLs, "
	    "metrics and rows)", "a source name with a space");

	/* Chains: after = RECIPE, a tree of recipes under a source's. */
#define CHAIN_SMALL "[recipe.small]\nsteps = thumbnail width=64 | save " \
    "format=webp\noutput = dir:out/small/{key}.{ext}\nafter = thumbs\n"
#define CHAIN_REST "[recipe.tiny]\nsteps = thumbnail width=16 | save\n" \
    "output = dir:out/tiny/{key}.{ext}\nafter = thumbs\n" \
    "[recipe.square]\nsteps = crop width=8 height=8 | save\n" \
    "output = dir:out/square/{key}.{ext}\nafter = small\n"
	conf = load(GOOD_MAIN GOOD_SOURCE GOOD_RECIPE CHAIN_SMALL CHAIN_REST,
	    &errors);
	got = errs(&errors);
	is_str(got, "", "a chain with a fan-out loads");
	free(got);
	if (conf != NULL) {
		struct recipe	*t = config_find_recipe(conf, "thumbs");
		struct recipe	*sm = config_find_recipe(conf, "small");
		struct recipe	*ti = config_find_recipe(conf, "tiny");
		struct recipe	*sq = config_find_recipe(conf, "square");
		char		 first[17], *text = NULL;
		size_t		 textlen = 0;
		FILE		*f;

		ok(t->after == NULL && sm->after == t && ti->after == t &&
		    sq->after == sm, "each recipe points at the one it "
		    "follows");
		ok(t->nnext == 2 && t->next[0] == sm && t->next[1] == ti,
		    "two recipes follow thumbs, in file order");
		ok(sm->nnext == 1 && sm->next[0] == sq && ti->nnext == 0 &&
		    sq->nnext == 0, "one follows small, none the others");
		is_int(conf->sources[0]->nrecipes, 1, "the source still "
		    "queues only thumbs");
		memcpy(first, sq->hash, sizeof first);
		f = open_memstream(&text, &textlen);
		config_print(conf, f);
		fclose(f);
		ok(strstr(text, "\n[recipe.thumbs]\n") != NULL &&
		    strstr(text, "\n; then = small (then square), tiny\n") !=
		    NULL, "check prints the chain under its first recipe");
		ok(strstr(text, "\n[recipe.square]\n") != NULL &&
		    strstr(text, "\nafter = small\n") != NULL &&
		    strstr(text, "\nafter = thumbs\n") != NULL,
		    "and after = for each chained recipe");
		free(text);
		config_free(conf);
		/* a change upstream is a change of what follows */
		conf = load(GOOD_MAIN GOOD_SOURCE "[recipe.thumbs]\nsteps = "
		    "thumbnail width=255 height=256 | save format=jpeg "
		    "quality=80\noutput = dir:out/{dir}/{stem}.{ext}\n"
		    CHAIN_SMALL CHAIN_REST, &errors);
		ok(conf != NULL && strcmp(config_find_recipe(conf,
		    "square")->hash, first) != 0 && strlen(config_find_recipe(
		    conf, "square")->hash) == 16, "a chained recipe's hash "
		    "covers the recipes before it");
	} else {
		for (int k = 0; k < 7; k++)
			ok(0, "skipped");
	}
	config_free(conf);
	expect_error(GOOD_MAIN GOOD_SOURCE GOOD_RECIPE "[recipe.small]\n"
	    "steps = thumbnail width=64 | save\noutput = dir:out/s/{key}\n"
	    "after = thumb\n", "c.conf:13: recipe 'small' (line 10): after = "
	    "'thumb': no such recipe", "after an unknown recipe, with its "
	    "line");
	expect_error(GOOD_MAIN GOOD_SOURCE GOOD_RECIPE "[recipe.small]\n"
	    "steps = thumbnail width=64 | save\noutput = dir:out/s/{key}\n"
	    "after = small\n", "c.conf:13: recipe 'small': after = 'small': "
	    "a recipe cannot follow itself", "a recipe after itself");
	expect_error(GOOD_MAIN GOOD_SOURCE GOOD_RECIPE "[recipe.a]\n"
	    "steps = thumbnail width=64 | save\noutput = dir:out/a/{key}\n"
	    "after = b\n[recipe.b]\nsteps = thumbnail width=32 | save\n"
	    "output = dir:out/b/{key}\nafter = a\n", "c.conf:13: recipe 'a': "
	    "after: the recipes 'a' (line 13) -> 'b' (line 17) -> 'a' form a "
	    "cycle: each one's input would be the next one's output",
	    "a cycle of two, reported once with its lines");
	expect_error(GOOD_MAIN GOOD_SOURCE GOOD_RECIPE "[recipe.a]\n"
	    "steps = thumbnail width=64 | save\noutput = dir:out/a/{key}\n"
	    "after = c\n[recipe.b]\nsteps = thumbnail width=32 | save\n"
	    "output = dir:out/b/{key}\nafter = a\n[recipe.c]\n"
	    "steps = thumbnail width=16 | save\noutput = dir:out/c/{key}\n"
	    "after = b\n", "c.conf:13: recipe 'a': after: the recipes 'a' "
	    "(line 13) -> 'c' (line 21) -> 'b' (line 17) -> 'a' form a "
	    "cycle: each one's input would be the next one's output",
	    "a cycle of three");
	expect_error(GOOD_MAIN "[source.photos]\ntype = dir\npath = in\n"
	    "recipes = thumbs small\n" GOOD_RECIPE CHAIN_SMALL,
	    "c.conf:6: source 'photos': recipe 'small' follows 'thumbs' "
	    "(after, line 13): its input is that recipe's output, so no "
	    "source may list it", "a chained recipe listed by a source");
	expect_error(GOOD_MAIN GOOD_SOURCE GOOD_RECIPE "[recipe.meta]\n"
	    "steps = info\n[recipe.small]\nsteps = thumbnail width=64 | "
	    "save\noutput = dir:out/s/{key}\nafter = meta\n", "c.conf:15: "
	    "recipe 'small': after = 'meta': 'meta' writes no output to take "
	    "as input (its only step, info, records to the database)",
	    "after an info recipe");
	expect_error(GOOD_MAIN GOOD_SOURCE GOOD_RECIPE "[recipe.rows]\n"
	    "steps = lines format=csv columns=\"a,b\"\noutput = table:t\n"
	    "[recipe.small]\nsteps = thumbnail width=64 | save\n"
	    "output = dir:out/s/{key}\nafter = rows\n", "c.conf:16: "
	    "recipe 'small': after = 'rows': 'rows' writes rows into a "
	    "table, not a file to take as input", "after a lines recipe");
	expect_error(GOOD_MAIN GOOD_SOURCE GOOD_RECIPE "[recipe.meta]\n"
	    "steps = info\nafter = thumbs\n", "c.conf:12: recipe 'meta': "
	    "after = 'thumbs': an info recipe records what its object is, so "
	    "it cannot take another recipe's output", "an info recipe "
	    "after another");

	/* The file itself missing. */
	strv_clear(&errors);
	conf = config_load("missing.conf", &errors);
	got = errs(&errors);
	is_str(got, "missing.conf: cannot open: No such file or directory "
	    "(start from the annotated sample, " PKGDATADIR "/samples/"
	    "objwatch.conf, or give another file with -c FILE or "
	    "OBJWATCH_CONFIG)", "a missing config file, and where to start");
	free(got);
	strv_clear(&errors);
	unlink("c.conf");
	rmdir("in");
	if (chdir("/") == 0)
		rmdir(dir);
	return (done_testing());
}
