/*
 * Fuzz the config parser: any bytes as a config file. It must load or
 * list errors, each "file:line: message" or "file: message"; never crash
 * or leak.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vips/vips.h>

#include "objwatch.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* What the last input came to ("loaded" or "refused"), for the seed replay to check. */
const char	*fuzz_outcome;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char	 path[64];
	struct strv	 errors = { NULL, 0 };
	struct config	*conf;
	FILE		*f;
	size_t		 i;

	if (path[0] == '\0') {
		if (VIPS_INIT("fuzz-config") != 0)
			abort();
		snprintf(path, sizeof path, "/tmp/fuzz-config-%d.conf",
		    (int)getpid());
	}
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	conf = config_load(path, &errors);
	if (conf == NULL && errors.n == 0)
		abort();	/* a refusal without a reason */
	for (i = 0; i < errors.n; i++) {
		if (strncmp(errors.v[i], path, strlen(path)) != 0)
			abort();	/* every error names the file */
	}
	fuzz_outcome = conf != NULL ? "loaded" : "refused";
	config_free(conf);
	strv_clear(&errors);
	return (0);
}
