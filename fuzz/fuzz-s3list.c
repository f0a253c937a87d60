/*
 * Fuzz the ListObjectsV2 page parser: any bytes as a listing body, as a
 * server (or whatever answers in its place) may send. It must parse or
 * refuse with a reason; never crash, leak, or give an object without a
 * key, or a truncated page without a token.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objwatch.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* What the last input came to ("objects N", "+ truncated", or "refused"), for the seed replay to check. */
const char	*fuzz_outcome;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char		 outcome[48];
	struct s3_listing	 l;
	char			*token = NULL, *cause = NULL;
	int			 truncated = 0;
	size_t			 i;

	memset(&l, 0, sizeof l);
	if (s3_list_parse((const char *)data, size, &l, &truncated, &token,
	    &cause) == 0) {
		for (i = 0; i < l.n; i++)
			if (l.v[i].key == NULL || *l.v[i].key == '\0' ||
			    l.v[i].etag == NULL)
				abort();
		if (truncated && (token == NULL || *token == '\0'))
			abort();
		snprintf(outcome, sizeof outcome, "objects %zu%s", l.n,
		    truncated ? " truncated" : "");
		fuzz_outcome = outcome;
		free(token);
	} else {
		if (cause == NULL || l.n != 0 || token != NULL)
			abort();
		fuzz_outcome = "refused";
		free(cause);
	}
	s3_listing_clear(&l);
	return (0);
}
