/*
 * Small helpers shared by several modules: globs, paths, whole-file reads
 * and atomic writes, durations and sizes as people write them in configs,
 * UTF-8 copies for messages, and the keys of file names whatever their
 * bytes (utf8.c reads the sequences).
 */
#include "config.h"

#include <sys/random.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "objwatch.h"
#include "banned.h"

/*
 * Whether a key matches one of the globs. A glob without '/' matches the
 * last component (the file name), one with '/' the whole key; both ignore
 * case, because cameras write IMG_0001.JPG and people write *.jpg.
 */
int
glob_match_any(const struct strv *globs, const char *key)
{
	const char	*name;
	size_t		 i;

	if ((name = strrchr(key, '/')) != NULL)
		name++;
	else
		name = key;
	for (i = 0; i < globs->n; i++) {
		if (strchr(globs->v[i], '/') != NULL) {
			if (fnmatch(globs->v[i], key, FNM_CASEFOLD) == 0)
				return (1);
		} else if (fnmatch(globs->v[i], name, FNM_CASEFOLD) == 0)
			return (1);
	}
	return (0);
}

/* Join a folder and a name with exactly one '/'. */
char *
path_join(const char *dir, const char *name)
{
	char	*out;
	size_t	 len = strlen(dir);

	while (len > 1 && dir[len - 1] == '/')
		len--;
	while (*name == '/')
		name++;
	xasprintf(&out, "%.*s/%s", (int)len, dir, name);
	return (out);
}

/* Resolve path against base_dir unless it is absolute; no symlinks followed. */
char *
path_absolute(const char *base_dir, const char *path)
{
	char	*joined, *out;

	if (path[0] == '/')
		joined = xstrdup(path);
	else
		joined = path_join(base_dir, path);
	if (path_normalise_key(joined, &out, NULL) != 0) {
		/* ".." above the root: keep it as written */
		return (joined);
	}
	free(joined);
	return (out);
}

/*
 * Normalise a path or key: collapse "//" and "/./", resolve "a/../" inside
 * it, and refuse any ".." that would climb above its start. An absolute
 * input stays absolute, a relative one stays relative with no leading '/'.
 */
int
path_normalise_key(const char *in, char **out, char **cause)
{
	struct strv	 parts = { NULL, 0 };
	const char	*p, *start;
	char		*part, *joined, *result;
	int		 absolute = (in[0] == '/');

	for (p = in; *p != '\0';) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p != '\0' && *p != '/')
			p++;
		part = xstrndup(start, p - start);
		if (strcmp(part, ".") == 0) {
			free(part);
			continue;
		}
		if (strcmp(part, "..") == 0) {
			free(part);
			if (parts.n == 0) {
				if (cause != NULL)
					xasprintf(cause, "'%s' climbs above its "
					    "root with '..'", in);
				strv_clear(&parts);
				return (-1);
			}
			free(parts.v[--parts.n]);
			parts.v[parts.n] = NULL;
			continue;
		}
		strv_push(&parts, part);
		free(part);
	}
	if (parts.n == 0 && !absolute) {
		if (cause != NULL)
			xasprintf(cause, "'%s' names no file", in);
		strv_clear(&parts);
		return (-1);
	}
	joined = strv_join(&parts, "/");
	if (absolute) {
		xasprintf(&result, "/%s", joined);
		free(joined);
	} else
		result = joined;
	strv_clear(&parts);
	*out = result;
	return (0);
}

/* Create a folder if missing; an existing non-folder is ENOTDIR. */
static int
mkdir_one(const char *path, mode_t mode)
{
	struct stat	 st;

	if (mkdir(path, mode) == 0)
		return (0);
	if (errno != EEXIST)
		return (-1);
	if (stat(path, &st) == -1)
		return (-1);
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return (-1);
	}
	return (0);
}

/* Create a folder and its missing parents. */
int
mkdir_parents(const char *path, mode_t mode)
{
	char	*copy, *p;

	copy = xstrdup(path);
	for (p = copy + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir_one(copy, mode) == -1) {
			free(copy);
			return (-1);
		}
		*p = '/';
	}
	free(copy);
	return (mkdir_one(path, mode));
}

/*
 * Read a whole file into memory, refusing one larger than limit (0: no
 * limit) before reading it. The buffer is NUL-terminated for convenience.
 */
int
read_file(const char *path, void **out, size_t *outlen, size_t limit,
    char **cause)
{
	struct stat	 st;
	char		*buf;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		xasprintf(cause, "cannot open '%s': %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		xasprintf(cause, "'%s' is not a regular file", path);
		close(fd);
		return (-1);
	}
	if (limit != 0 && (uint64_t)st.st_size > limit) {
		xasprintf(cause, "'%s' is %lld bytes, over the limit of %zu",
		    path, (long long)st.st_size, limit);
		close(fd);
		return (-1);
	}
	buf = xmalloc(st.st_size + 1);
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(cause, "cannot read '%s': %s", path,
			    strerror(errno));
			free(buf);
			close(fd);
			return (-1);
		}
		if (n == 0)
			break;
		off += n;
	}
	close(fd);
	buf[off] = '\0';
	*out = buf;
	*outlen = off;
	return (0);
}

/*
 * The temporary name a file is written under before it is renamed to
 * path, in the same folder. One name per path, not a random one: a writer
 * killed half-way leaves a file the retry of its job takes over, rather
 * than a stray that nothing ever removes.
 */
char *
path_temp(const char *path)
{
	const char	*slash, *base;
	uint64_t	 hash;
	char		*tmp;
	int		 dirlen;

	slash = strrchr(path, '/');
	dirlen = slash == NULL ? 1 : (int)(slash - path);
	base = slash == NULL ? path : slash + 1;
	if (strlen(base) + sizeof ".objwatch-tmp" + 1 <= NAME_MAX)
		xasprintf(&tmp, "%.*s/.%s.objwatch-tmp", dirlen,
		    slash == NULL ? "." : path, base);
	else {
		/* A long name: the temporary one must fit in NAME_MAX too. */
		for (hash = 14695981039346656037ULL; *base != '\0'; base++)
			hash = (hash ^ (unsigned char)*base) *
			    1099511628211ULL;
		xasprintf(&tmp, "%.*s/.objwatch-%016llx.tmp", dirlen,
		    slash == NULL ? "." : path, (unsigned long long)hash);
	}
	return (tmp);
}

/*
 * Write a file under a temporary name in the same folder, flush it to disk
 * and rename it into place, so readers see the old file or the whole new
 * one and a crash leaves no half-written output under the final name.
 */
int
write_file_atomic(const char *path, const void *data, size_t len, char **cause)
{
	struct stat	 st;
	char		*tmp, *slash, *dir;
	const char	*p = data;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd, dfd, saved;

	/* Never rename over a device, a fifo or a folder: only files. */
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		xasprintf(cause, "'%s' exists and is not a regular file; not "
		    "replacing it", path);
		errno = EEXIST;
		return (-1);
	}
	slash = strrchr(path, '/');
	dir = slash == NULL ? xstrdup(".") : xstrndup(path, slash - path);
	tmp = path_temp(path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd == -1 && errno == EEXIST && unlink(tmp) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0644);
	if (fd == -1) {
		saved = errno;
		xasprintf(cause, "cannot create '%s': %s", tmp,
		    strerror(errno));
		goto fail;
	}
	while (off < len) {
		n = write(fd, p + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved = errno;
			xasprintf(cause, "cannot write '%s': %s", tmp,
			    strerror(errno));
			close(fd);
			unlink(tmp);
			goto fail;
		}
		off += n;
	}
	if (fchmod(fd, 0644) == -1 || fsync(fd) == -1) {
		saved = errno;
		xasprintf(cause, "cannot flush '%s': %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto fail;
	}
	close(fd);
	if (rename(tmp, path) == -1) {
		saved = errno;
		xasprintf(cause, "cannot rename '%s' to '%s': %s", tmp, path,
		    strerror(errno));
		unlink(tmp);
		goto fail;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	free(tmp);
	free(dir);
	return (0);

fail:
	free(tmp);
	free(dir);
	errno = saved;
	return (-1);
}

/* Parse "250ms", "5s", "2m", "1h", "1d" or plain seconds. */
int
parse_duration(const char *s, double *out)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno != 0 || v < 0)
		return (-1);
	while (*end == ' ')
		end++;
	if (*end == '\0' || strcmp(end, "s") == 0)
		;
	else if (strcmp(end, "ms") == 0)
		v /= 1000;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		v *= 60;
	else if (strcmp(end, "h") == 0)
		v *= 3600;
	else if (strcmp(end, "d") == 0)
		v *= 86400;
	else
		return (-1);
	*out = v;
	return (0);
}

/* Parse "1048576", "512k", "16MB", "2GiB" (powers of 1024). */
int
parse_size(const char *s, uint64_t *out)
{
	char			*end;
	unsigned long long	 v;
	uint64_t		 mult = 1;

	if (!isdigit((unsigned char)*s))
		return (-1);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return (-1);
	while (*end == ' ')
		end++;
	switch (tolower((unsigned char)*end)) {
	case '\0':
		break;
	case 'k':
		mult = 1024;
		end++;
		break;
	case 'm':
		mult = 1024 * 1024;
		end++;
		break;
	case 'g':
		mult = 1024ULL * 1024 * 1024;
		end++;
		break;
	default:
		if (strcasecmp(end, "b") == 0)
			end++;
		else
			return (-1);
	}
	if (*end != '\0' && strcasecmp(end, "b") != 0 &&
	    strcasecmp(end, "ib") != 0)
		return (-1);
	if (v > UINT64_MAX / mult)
		return (-1);
	*out = v * mult;
	return (0);
}

/* Seconds on a clock that never jumps. */
double
now_monotonic(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

/* Seconds since the epoch, for times people read. */
double
now_wall(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

/*
 * Seed random() from the kernel, once a process, before any thread that
 * draws from it starts: retry jitter must differ between processes, or
 * the jobs every process failed together would all retry together. Its
 * one state serves every thread of the process (glibc locks it).
 */
void
random_seed(void)
{
	unsigned int	 seed;

	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed)
		seed = (unsigned int)getpid() ^ (unsigned int)(now_wall() *
		    1000000);
	srandom(seed);
}

/* The number of CPUs this process may run on. */
int
ncpus(void)
{
	long	 n = sysconf(_SC_NPROCESSORS_ONLN);

	return (n < 1 ? 1 : (int)n);
}

/* The name of an error class as stored in jobs.error_class. */
const char *
error_class_name(enum error_class cls)
{
	switch (cls) {
	case ERROR_NONE:
		return ("none");
	case ERROR_DECODE:
		return ("decode");
	case ERROR_LIMIT:
		return ("limit");
	case ERROR_IO:
		return ("io");
	case ERROR_STORAGE:
		return ("storage");
	case ERROR_CONFIG:
		return ("config");
	}
	return ("unknown");
}

/*
 * Record a job's failure; the first error set wins. The message goes to a
 * text column, so bytes in it that are not UTF-8 (a file's path) are
 * written as \xNN.
 */
void
job_error_set(struct job_error *e, enum error_class cls, int transient,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (e->cls != ERROR_NONE)
		return;
	e->cls = cls;
	e->transient = transient;
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if (utf8_valid(msg))
		e->msg = msg;
	else {
		e->msg = utf8_escape(msg);
		free(msg);
	}
}

/* Forget a job's failure. */
void
job_error_clear(struct job_error *e)
{
	free(e->msg);
	e->msg = NULL;
	e->cls = ERROR_NONE;
	e->transient = 0;
}

/*
 * Keys of file names. PostgreSQL text is UTF-8 and a file name is any
 * bytes, so a name is recorded as its key: valid UTF-8 is kept as it is,
 * and every other byte b becomes the code point U+EF00 + b (U+EF80 to
 * U+EFFF, in the private use area). The bytes of a U+EF80..U+EFFF that a
 * name really holds are escaped one by one too, so the mapping has no
 * collisions and name_from_key gives back the very bytes on disk.
 */
#define KEY_BYTE_FIRST	0xef80
#define KEY_BYTE_LAST	0xefff

/*
 * A copy of s that is valid UTF-8: its valid sequences as they are, and
 * each other byte as "\xNN" for a message, or as a key's U+EF80..U+EFFF.
 */
static char *
utf8_rewrite(const char *s, int key)
{
	const unsigned char	*p = (const unsigned char *)s;
	unsigned int		 c;
	char			*out, *o;
	int			 n;

	out = o = xmalloc(strlen(s) * 4 + 1);
	while (*p != '\0') {
		n = utf8_sequence(p, &c);
		if (n > 0 && (!key || c < KEY_BYTE_FIRST || c > KEY_BYTE_LAST)) {
			memcpy(o, p, n);
			o += n;
			p += n;
		} else if (key) {
			c = 0xef00 + *p++;
			*o++ = 0xe0 | (c >> 12);
			*o++ = 0x80 | ((c >> 6) & 0x3f);
			*o++ = 0x80 | (c & 0x3f);
		} else
			o += snprintf(o, 5, "\\x%02x", *p++);
	}
	*o = '\0';
	return (out);
}

/* A copy of s for messages: bytes that are not valid UTF-8 as \xNN. */
char *
utf8_escape(const char *s)
{
	return (utf8_rewrite(s, 0));
}

/*
 * A JSON string of s, for json_object_set_new: JSON is UTF-8, so bytes
 * that are not are written as \xNN, as in messages. Dies when out of
 * memory, as xmalloc does.
 */
struct json_t *
utf8_json(const char *s)
{
	json_t	*j;
	char	*shown;

	if (utf8_valid(s))
		j = json_string(s);
	else {
		shown = utf8_escape(s);
		j = json_string(shown);
		free(shown);
	}
	if (j == NULL)
		fatalx("out of memory");
	return (j);
}

/* A file name's key: valid UTF-8, whatever bytes the name holds. */
char *
key_from_name(const char *name)
{
	return (utf8_rewrite(name, 1));
}

/* The file name a key stands for: each U+EF80..U+EFFF back to its byte. */
char *
name_from_key(const char *key)
{
	const unsigned char	*p = (const unsigned char *)key;
	unsigned int		 c;
	char			*out, *o;
	int			 n;

	out = o = xmalloc(strlen(key) + 1);
	while (*p != '\0') {
		n = utf8_sequence(p, &c);
		if (n == 3 && c >= KEY_BYTE_FIRST && c <= KEY_BYTE_LAST) {
			*o++ = c - 0xef00;
			p += n;
		} else
			*o++ = *p++;
	}
	*o = '\0';
	return (out);
}

static int
hexval(unsigned char c)
{
	return (isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
}

/*
 * Decode a string URL-encoded the way S3 writes keys into listings and
 * events: %XX for a byte, '+' for a space. NULL when an escape is broken
 * or would put a NUL in the string.
 */
char *
url_form_decode(const char *s)
{
	char	*out, *o;

	o = out = xmalloc(strlen(s) + 1);
	for (; *s != '\0'; s++) {
		if (*s == '+')
			*o++ = ' ';
		else if (*s != '%')
			*o++ = *s;
		else if (!isxdigit((unsigned char)s[1]) ||
		    !isxdigit((unsigned char)s[2]) ||
		    (s[1] == '0' && s[2] == '0')) {
			free(out);
			return (NULL);
		} else {
			*o++ = (char)(hexval((unsigned char)s[1]) << 4 |
			    hexval((unsigned char)s[2]));
			s += 2;
		}
	}
	*o = '\0';
	return (out);
}

/* An ETag without the double quotes S3 puts around it. */
char *
etag_unquote(const char *e)
{
	size_t	 n = strlen(e);

	if (n >= 2 && e[0] == '"' && e[n - 1] == '"')
		return (xstrndup(e + 1, n - 2));
	return (xstrdup(e));
}
