/*
 * Fuzz the lines step over any bytes: the first byte picks a spec (nginx,
 * csv with a header, json, syslog, a regex with filters), the rest is the
 * object. It must load or refuse with a reason, never crash or leak, and
 * every row it makes must be one line of COPY text with exactly one field
 * per column: a value that could split a row or shift a column would load
 * wrong data, or fail a whole COPY.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objwatch.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* What the last input came to ("loaded" or "refused"), for the seed replay to check. */
const char	*fuzz_outcome;

static const char *const specs[] = {
	"lines format=nginx",
	"lines format=csv header=yes comment='#' columns=\"t:timestamptz,"
	    "name,n:bigint,x:numeric,ok:boolean\" default.n=0",
	"lines format=json from.id=a.b columns=\"id:bigint,t:timestamptz,"
	    "ip:inet,j:jsonb,d:double\" time_format.t=epoch_ms",
	"lines format=syslog keep_if=\"pri < 100 or app ~ '^s'\"",
	"lines format=regex pattern='^(?<k>[a-z]+)=(?<v>.*)$' "
	    "drop_if=\"v = '' and k != z\" max_line=64",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct recipe	 r[nitems(specs)];
	static int		 ready;
	struct table_stats	 st;
	struct buf		 out, rejects;
	const char		*p, *nl;
	char			*cause = NULL;
	size_t			 i, k, tabs;

	if (!ready) {
		for (i = 0; i < nitems(specs); i++) {
			r[i].name = (char *)"fuzz";
			r[i].steps_text = (char *)specs[i];
			if (recipe_parse_steps(&r[i], &cause) != 0)
				abort();
		}
		ready = 1;
	}
	if (size == 0)
		return (0);
	k = (uint8_t)(data[0] - '0') % nitems(specs);	/* '0' is the first */
	buf_init(&out);
	buf_init(&rejects);
	if (lines_run_text(r[k].steps[0].data, data + 1, size - 1, &out,
	    &rejects, &st, &cause) == 0) {
		if (cause != NULL)
			abort();
		fuzz_outcome = "loaded";
	} else if (cause == NULL || *cause == '\0')
		abort();	/* every refusal says why */
	else
		fuzz_outcome = "refused";
	/* Each row: the line number and one field per column, one line. */
	for (p = out.s, i = 0; p < out.s + out.len; p = nl + 1, i++) {
		if ((nl = memchr(p, '\n', out.s + out.len - p)) == NULL)
			abort();
		for (tabs = 0; p < nl; p++)
			tabs += *p == '\t';
		if (tabs != lines_ncolumns(r[k].steps[0].data))
			abort();
	}
	if ((int64_t)i != st.rows || st.rows + st.dropped + st.rejected >
	    st.lines)
		abort();
	free(cause);
	buf_clear(&out);
	buf_clear(&rejects);
	return (0);
}
