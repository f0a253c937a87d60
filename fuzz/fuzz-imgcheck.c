/*
 * Fuzz the completeness checks over any bytes: they read only inside the
 * buffer and always answer.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "objwatch.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*what = NULL;

	if (imgcheck_complete(data, size, &what) != 0 && what == NULL)
		abort();
	return (0);
}
