/*
 * Logging in the OpenBSD daemon style: log_warn appends strerror(errno),
 * log_warnx does not; fatal and fatalx exit. Each message is written as one
 * line with one write so lines from several threads never interleave.
 * `log = json` writes one JSON object per line instead of text.
 *
 * This is the bottom of the daemon's own calls: it allocates nothing and
 * uses only utf8.c, so xmalloc.c (which dies through fatal) and util.c
 * can log without a cycle back into them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "objwatch.h"
#include "banned.h"

/* A message's 4096 bytes shown: up to four for each byte not UTF-8. */
#define LOG_SHOWN_MAX	8192

static enum log_level	 log_max = LOG_LEVEL_INFO;
static int		 log_json;
static int		 log_fd = STDERR_FILENO;

/* What the calling thread is working on, for JSON logs. */
static __thread const char	*log_ctx_source;
static __thread const char	*log_ctx_key;
static __thread const char	*log_ctx_recipe;
static __thread const char	*log_ctx_class;
static __thread long long	 log_ctx_job;

/*
 * Say what this thread is working on (NULL source: nothing): JSON log
 * lines then carry source, key, recipe and job fields, so one job's lines
 * can be picked out of a busy log.
 */
void
log_context(const char *source, const char *key, const char *recipe,
    long long job)
{
	log_ctx_source = source;
	log_ctx_key = key;
	log_ctx_recipe = recipe;
	log_ctx_job = job;
	log_ctx_class = NULL;
}

/* The error class the next lines are about (NULL: none), a JSON field. */
void
log_context_class(const char *cls)
{
	log_ctx_class = cls;
}

/*
 * Copy s into out for people, cut short to fit: a key's stand-ins for the
 * bytes of a file name that are not UTF-8 (U+EF80..U+EFFF, key_from_name)
 * and bytes that are not UTF-8 at all are both shown as \xNN, the byte
 * they stand for. Nothing is allocated: logging must work whatever fails.
 */
static void
log_shown(const char *s, char *out, size_t size)
{
	const unsigned char	*p = (const unsigned char *)s;
	unsigned int		 c;
	size_t			 off = 0;
	int			 n;

	while (*p != '\0' && off + 5 <= size) {
		n = utf8_sequence(p, &c);
		if (n == 0) {
			off += snprintf(out + off, size - off, "\\x%02x", *p);
			p++;
		} else if (c >= 0xef80 && c <= 0xefff) {
			off += snprintf(out + off, size - off, "\\x%02x",
			    c - 0xef00);
			p += n;
		} else {
			memcpy(out + off, p, n);
			off += n;
			p += n;
		}
	}
	out[off] = '\0';
}

static const char *const log_names[] = { "error", "warning", "info", "debug" };

/*
 * Log to a file (NULL: standard error). Called again with the same path,
 * it reopens the file, for log rotation: the new file takes the old one's
 * descriptor with dup2, so a thread writing meanwhile writes whole lines to
 * one file or the other.
 */
int
log_open(const char *path)
{
	int	 fd;

	if (path == NULL) {
		if (log_fd != STDERR_FILENO)
			close(log_fd);
		log_fd = STDERR_FILENO;
		return (0);
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return (-1);
	if (log_fd == STDERR_FILENO) {
		log_fd = fd;
		return (0);
	}
	if (dup3(fd, log_fd, O_CLOEXEC) == -1) {
		close(fd);
		return (-1);
	}
	close(fd);
	return (0);
}

/* Set the most verbose level written, and the format. */
void
log_init(enum log_level level, int json)
{
	log_max = level;
	log_json = json;
}

/*
 * Append s to buf as the inside of a JSON string. JSON is UTF-8: bytes
 * that are not (a raw file name in a message) are shown as \xNN. By hand,
 * unlike the info and HTTP JSON (jansson): jansson allocates every value,
 * and logging allocates nothing.
 */
static void
log_json_string(char *buf, size_t size, size_t *off, const char *s)
{
	const unsigned char	*p;
	char			 shown[LOG_SHOWN_MAX];
	size_t			 start = *off;

	log_shown(s, shown, sizeof shown);
	for (p = (const unsigned char *)shown; *p != '\0' && *off + 8 < size; p++) {
		if (*p == '"' || *p == '\\')
			*off += snprintf(buf + *off, size - *off, "\\%c", *p);
		else if (*p < 0x20)
			*off += snprintf(buf + *off, size - *off, "\\u%04x", *p);
		else
			buf[(*off)++] = *p;
	}
	/* Cut short: never in the middle of a character. */
	if (*p != '\0') {
		while (*off > start && ((unsigned char)buf[*off - 1] & 0xc0) ==
		    0x80)
			(*off)--;
		if (*off > start && (unsigned char)buf[*off - 1] >= 0xc0)
			(*off)--;
	}
	buf[*off] = '\0';
}

static void
log_vwrite(enum log_level level, int with_errno, const char *fmt, va_list ap)
{
	char		 msg[4096], line[8192], stamp[64];
	char		 shown[LOG_SHOWN_MAX];
	struct timespec	 ts;
	struct tm	 tm;
	size_t		 off;
	int		 saved = errno, n;

	if (level > log_max)
		return;
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	if (n < 0)
		return;
	if (with_errno && (size_t)n < sizeof msg)
		snprintf(msg + n, sizeof msg - n, ": %s", strerror(saved));

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

	if (log_json) {
		off = snprintf(line, sizeof line,
		    "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"message\":\"",
		    stamp, ts.tv_nsec / 1000000, log_names[level]);
		log_json_string(line, sizeof line - 600, &off, msg);
		if (log_ctx_source != NULL) {
			off += snprintf(line + off, sizeof line - off,
			    "\",\"source\":\"");
			log_json_string(line, sizeof line - 300, &off,
			    log_ctx_source);
			off += snprintf(line + off, sizeof line - off,
			    "\",\"key\":\"");
			log_json_string(line, sizeof line - 40, &off,
			    log_ctx_key);
			if (log_ctx_recipe != NULL) {
				off += snprintf(line + off, sizeof line - off,
				    "\",\"recipe\":\"");
				log_json_string(line, sizeof line - 40, &off,
				    log_ctx_recipe);
			}
			if (log_ctx_class != NULL)
				off += snprintf(line + off, sizeof line - off,
				    "\",\"error_class\":\"%s", log_ctx_class);
			off += snprintf(line + off, sizeof line - off,
			    "\",\"job\":%lld", log_ctx_job);
			off += snprintf(line + off, sizeof line - off, "}\n");
		} else
			off += snprintf(line + off, sizeof line - off,
			    "\"}\n");
	} else {
		log_shown(msg, shown, sizeof shown);
		off = snprintf(line, sizeof line, "%s.%03ldZ %s: %s\n", stamp,
		    ts.tv_nsec / 1000000, log_names[level], shown);
	}
	if (off >= sizeof line) {
		off = sizeof line - 1;
		line[off - 1] = '\n';
	}
	(void)!write(log_fd, line, off);
	errno = saved;
}

/* Log a warning with strerror(errno) appended. */
void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, 1, fmt, ap);
	va_end(ap);
}

/* Log a warning. */
void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, 0, fmt, ap);
	va_end(ap);
}

/* Log an informational message. */
void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_INFO, 0, fmt, ap);
	va_end(ap);
}

/* Log a debugging message (only with -v). */
void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_DEBUG, 0, fmt, ap);
	va_end(ap);
}

/* Log an error with strerror(errno) and exit. */
void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log an error and exit. */
void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
