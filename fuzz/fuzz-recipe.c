/*
 * Fuzz the recipe-step parser: any text as `steps`. It must either parse
 * (and then hash) or give an error message; never crash or leak.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "objwatch.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* What the last input came to ("parsed" or "refused"), for the seed replay to check. */
const char	*fuzz_outcome;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 ready;
	struct recipe	 r;
	char		*cause = NULL;

	if (!ready) {
		if (VIPS_INIT("fuzz-recipe") != 0)
			abort();
		ready = 1;
	}
	memset(&r, 0, sizeof r);
	r.name = (char *)"fuzz";
	r.steps_text = strndup((const char *)data, size);
	if (recipe_parse_steps(&r, &cause) == 0) {
		if (strlen(r.hash) != 16 || cause != NULL)
			abort();
		recipe_free_steps(&r);
		fuzz_outcome = "parsed";
	} else if (cause == NULL || *cause == '\0')
		abort();	/* every refusal says why */
	else
		fuzz_outcome = "refused";
	free(cause);
	free(r.steps_text);
	return (0);
}
