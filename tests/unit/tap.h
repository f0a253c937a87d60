/*
 * A tiny TAP producer for the C unit tests: plan, ok, is_str, is_int.
 * Each test program prints "1..N" first and one line per assertion; the
 * automake TAP driver counts them.
 */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n;
static int tap_failed;

#define plan(n) (printf("1..%d\n", (n)), fflush(stdout))

static int __attribute__((__format__(__printf__, 4, 5)))
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list	 ap;

	printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("# failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return (cond);
}

static inline int
tap_is_str(const char *got, const char *want)
{
	int	 c = (got == NULL && want == NULL) || (got != NULL &&
	    want != NULL && strcmp(got, want) == 0);

	return (c);
}

static inline void
tap_diag_str(int c, const char *got, const char *want)
{
	if (!c)
		printf("#      got: '%s'\n#     want: '%s'\n",
		    got ? got : "(null)", want ? want : "(null)");
}

#define ok(cond, ...) tap_ok((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

#define is_str(got, want, ...) tap_diag_str(				\
	tap_ok(tap_is_str((got), (want)), __FILE__, __LINE__, __VA_ARGS__), \
	(got), (want))

#define is_int(got, want, ...) do {					\
	long long tap_g_ = (got), tap_w_ = (want);			\
	if (!tap_ok(tap_g_ == tap_w_, __FILE__, __LINE__, __VA_ARGS__))	\
		printf("#      got: %lld\n#     want: %lld\n", tap_g_,	\
		    tap_w_);						\
} while (0)

#define done_testing() (tap_failed ? 1 : 0)

#endif /* TAP_H */
