/*
 * Fuzz the S3 event parser (AWS, MinIO, Ceph, COS bodies): any bytes as a
 * webhook body. It must parse or refuse with a reason; never crash, leak
 * or accept an event without a bucket and key.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objwatch.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* What the last input came to ("events N" or "refused"), for the seed replay to check. */
const char	*fuzz_outcome;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char		 outcome[32];
	struct s3_events	 evs;
	char			*body, *cause = NULL;
	size_t			 i;

	body = malloc(size + 1);
	memcpy(body, data, size);
	body[size] = '\0';
	if (events_parse(body, size, &evs, &cause) == 0) {
		for (i = 0; i < evs.n; i++) {
			if (evs.v[i].key == NULL || evs.v[i].bucket == NULL)
				abort();
		}
		snprintf(outcome, sizeof outcome, "events %zu", evs.n);
		fuzz_outcome = outcome;
		events_clear(&evs);
	} else {
		if (cause == NULL)
			abort();
		fuzz_outcome = "refused";
		free(cause);
	}
	free(body);
	return (0);
}
