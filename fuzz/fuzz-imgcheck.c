/*
 * Fuzz the completeness checks over any bytes: they read only inside the
 * buffer and always answer.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "objwatch.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* What the last input came to ("complete" or what is missing), for the seed replay to check. */
const char	*fuzz_outcome;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*what = NULL;

	if (imgcheck_complete(data, size, &what) != 0) {
		if (what == NULL)
			abort();
		fuzz_outcome = what;
	} else
		fuzz_outcome = "complete";
	return (0);
}
