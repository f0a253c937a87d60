/*
 * Fuzz the mapping between file names and keys with any bytes as a name.
 * The properties checked: a key is valid UTF-8, gives back the very name
 * it came from, and a key made of a key is the same key (so the ledger
 * never sees one file under two keys).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objwatch.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* What the last input came to ("same" when the key is the name, else "mapped"), for the seed replay to check. */
const char	*fuzz_outcome;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*name, *key, *back, *again;

	/* A name is a C string: it ends at its first NUL. */
	name = strndup((const char *)data, size);
	key = key_from_name(name);
	if (!utf8_valid(key))
		abort();
	back = name_from_key(key);
	if (strcmp(back, name) != 0)
		abort();
	again = key_from_name(back);
	if (strcmp(again, key) != 0)
		abort();
	fuzz_outcome = strcmp(key, name) == 0 ? "same" : "mapped";
	free(again);
	free(back);
	free(key);
	free(name);
	return (0);
}
