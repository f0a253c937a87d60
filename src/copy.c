/*
 * Copy recipes: an object's bytes, as they are or gzipped, to a folder or
 * a bucket, streamed.
 *
 * Nothing is held whole. A folder's file is read in pieces of COPY_PIECE;
 * an object from a bucket is first written by its GET into a nameless file
 * under the state directory, then read the same way. Bytes go out in the
 * same pieces: to a temporary file beside the output (renamed once it is
 * checked), or to S3 from a file (the input itself, or the gzip made in
 * the state directory), whole with its Content-MD5 below 64 MiB, in parts
 * above (s3_put_file). Memory stays at a few pieces whatever the size.
 *
 * The SHA-256 of the input is taken as it is read, and of the output as
 * it is written; both are recorded. What is written is checked: a file's
 * temporary copy is flushed, dropped from the page cache and read back
 * from the disk, and must hash the same before it is renamed (so what is
 * named is what the disk holds, not what the writer meant); S3 checks
 * Content-MD5 of a PUT and of each part, and a multipart upload's ETag
 * must be the MD5 of its parts' MD5s.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "objwatch.h"
#include "banned.h"

#define COPY_PIECE	((size_t)1 << 20)

/* Content types by extension; the rest are application/octet-stream. */
static const struct {
	const char	*ext;
	const char	*mime;
} copy_mimes[] = {
	{ "avif", "image/avif" },
	{ "bz2", "application/x-bzip2" },
	{ "csv", "text/csv" },
	{ "gif", "image/gif" },
	{ "gz", "application/gzip" },
	{ "heic", "image/heic" },
	{ "htm", "text/html" },
	{ "html", "text/html" },
	{ "jpeg", "image/jpeg" },
	{ "jpg", "image/jpeg" },
	{ "json", "application/json" },
	{ "log", "text/plain" },
	{ "mov", "video/quicktime" },
	{ "mp3", "audio/mpeg" },
	{ "mp4", "video/mp4" },
	{ "pdf", "application/pdf" },
	{ "png", "image/png" },
	{ "svg", "image/svg+xml" },
	{ "tar", "application/x-tar" },
	{ "tif", "image/tiff" },
	{ "tiff", "image/tiff" },
	{ "tsv", "text/tab-separated-values" },
	{ "txt", "text/plain" },
	{ "webp", "image/webp" },
	{ "xml", "application/xml" },
	{ "xz", "application/x-xz" },
	{ "zip", "application/zip" },
	{ "zst", "application/zstd" },
};

/* The extension of a key's name (after its last '.'), or "". */
static const char *
copy_key_ext(const char *key)
{
	const char	*name, *dot;

	name = strrchr(key, '/');
	name = name == NULL ? key : name + 1;
	dot = strrchr(name, '.');
	return (dot == NULL || dot == name ? "" : dot + 1);
}

/*
 * What {ext} is for a copy of key: its own extension, with ".gz" after it
 * for gzip (or "gz" alone when it has none). The caller frees it.
 */
char *
copy_ext(const char *key, int gzip)
{
	const char	*ext = copy_key_ext(key);
	char		*out;

	if (!gzip)
		return (xstrdup(ext));
	xasprintf(&out, "%s%sgz", ext, *ext != '\0' ? "." : "");
	return (out);
}

/* The content type of a copy of key: by its extension, gzip's if gzip. */
const char *
copy_mime(const char *key, int gzip)
{
	const char	*ext = copy_key_ext(key);
	size_t		 i;

	if (gzip)
		return ("application/gzip");
	for (i = 0; i < nitems(copy_mimes); i++)
		if (strcasecmp(copy_mimes[i].ext, ext) == 0)
			return (copy_mimes[i].mime);
	return ("application/octet-stream");
}

/*
 * The format recorded for a copy of key: "gzip", or its extension in
 * lower case, or "data" when it has none. The caller frees it.
 */
char *
copy_format(const char *key, int gzip)
{
	const char	*ext = copy_key_ext(key);
	char		*out;
	size_t		 i;

	if (gzip)
		return (xstrdup("gzip"));
	if (*ext == '\0')
		return (xstrdup("data"));
	out = xstrdup(ext);
	for (i = 0; out[i] != '\0'; i++)
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] += 'a' - 'A';
	return (out);
}

static void
copy_hex(EVP_MD_CTX *ctx, char out[65])
{
	static const char	 digits[] = "0123456789abcdef";
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 n, i;

	EVP_DigestFinal_ex(ctx, md, &n);
	for (i = 0; i < n && i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * i] = '\0';
}

static EVP_MD_CTX *
copy_sha256_new(void)
{
	EVP_MD_CTX	*ctx;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		fatalx("EVP_MD_CTX_new: out of memory");
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	return (ctx);
}

/*
 * A nameless file under the state directory, for an object on its way
 * (gone when closed, even after a crash). Returns the descriptor or -1
 * with err set.
 */
static int
copy_temp(const char *state_dir, struct job_error *err)
{
	char	*path;
	int	 fd;

	if (mkdir_parents(state_dir, 0700) == -1) {
		job_error_set(err, ERROR_IO, errno == ENOSPC ? JOB_WAIT :
		    JOB_RETRY, "cannot create the state directory '%s': %s",
		    state_dir, strerror(errno));
		return (-1);
	}
	xasprintf(&path, "%s/copy-XXXXXX", state_dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) == -1) {
		job_error_set(err, ERROR_IO, errno == ENOSPC ? JOB_WAIT :
		    JOB_RETRY, "cannot create a file under the state "
		    "directory '%s' for a copy: %s", state_dir,
		    strerror(errno));
		free(path);
		return (-1);
	}
	unlink(path);
	free(path);
	return (fd);
}

/* Write all of n bytes; -1 with errno on failure. */
static int
copy_write(int fd, const void *p, size_t n)
{
	ssize_t	 w;
	size_t	 off = 0;

	while (off < n) {
		w = write(fd, (const char *)p + off, n - off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return (-1);
		off += w;
	}
	return (0);
}

/* What to stream: from where, to where, how. */
struct copy_stream {
	int		 in_fd;
	uint64_t	 in_len;	/* expected: more or less is a change */
	const char	*in_name;	/* for messages */
	int		 out_fd;
	const char	*out_name;
	int		 level;		/* gzip level, 0: as it is */
	int		 out_is_store;	/* errors are the output's storage's */
};

/* Write a piece of output, hashing it; -1 with err set on failure. */
static int
copy_put(const struct copy_stream *cs, const void *p, size_t n,
    EVP_MD_CTX *out_sha, struct copy_result *res, struct job_error *err)
{
	if (copy_write(cs->out_fd, p, n) != 0) {
		if (cs->out_is_store)
			store_file_error(err, cs->out_name, "write", errno);
		else
			job_error_set(err, ERROR_IO, errno == ENOSPC ?
			    JOB_WAIT : JOB_RETRY, "cannot write the gzip of "
			    "'%s' under the state directory: %s", cs->in_name,
			    strerror(errno));
		return (-1);
	}
	EVP_DigestUpdate(out_sha, p, n);
	res->out_bytes += n;
	return (0);
}

/*
 * Stream cs->in_fd to cs->out_fd, through deflate with a gzip header
 * when cs->level is set, hashing both sides into res.
 */
static int
copy_stream_run(const struct copy_stream *cs, struct copy_result *res,
    struct job_error *err)
{
	EVP_MD_CTX	*in_sha, *out_sha;
	z_stream	 z;
	unsigned char	*in, *out;
	ssize_t		 n;
	int		 zr, flush, rc = -1;

	in = xmalloc(COPY_PIECE);
	out = xmalloc(COPY_PIECE);
	in_sha = copy_sha256_new();
	out_sha = copy_sha256_new();
	memset(&z, 0, sizeof z);
	if (cs->level > 0 && deflateInit2(&z, cs->level, Z_DEFLATED, 15 + 16,
	    8, Z_DEFAULT_STRATEGY) != Z_OK)
		fatalx("deflateInit2: out of memory");
	res->in_bytes = res->out_bytes = 0;
	for (;;) {
		n = read(cs->in_fd, in, COPY_PIECE);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			job_error_set(err, ERROR_IO, JOB_RETRY, "cannot read "
			    "'%s': %s", cs->in_name, strerror(errno));
			goto out;
		}
		EVP_DigestUpdate(in_sha, in, n);
		res->in_bytes += n;
		if (cs->level == 0) {
			if (n == 0)
				break;
			if (copy_put(cs, in, n, out_sha, res, err) != 0)
				goto out;
			continue;
		}
		flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
		z.next_in = in;
		z.avail_in = (uInt)n;
		do {
			z.next_out = out;
			z.avail_out = (uInt)COPY_PIECE;
			zr = deflate(&z, flush);
			if (zr == Z_STREAM_ERROR)
				fatalx("deflate: stream error");
			if (copy_put(cs, out, COPY_PIECE - z.avail_out,
			    out_sha, res, err) != 0)
				goto out;
		} while (z.avail_out == 0);
		if (n == 0)
			break;
	}
	if ((uint64_t)res->in_bytes != cs->in_len) {
		job_error_set(err, ERROR_IO, JOB_RETRY, "'%s' changed while it "
		    "was copied (%" PRIu64 " bytes when opened, %" PRId64 " "
		    "read); its new version has its own job", cs->in_name,
		    cs->in_len, res->in_bytes);
		goto out;
	}
	copy_hex(in_sha, res->in_sha256);
	copy_hex(out_sha, res->out_sha256);
	rc = 0;
out:
	if (cs->level > 0)
		deflateEnd(&z);
	EVP_MD_CTX_free(in_sha);
	EVP_MD_CTX_free(out_sha);
	free(in);
	free(out);
	return (rc);
}

/*
 * Stream len bytes of in_fd to out_fd as a copy step at level does (0: as
 * they are), for `objwatch process`: res gets sizes and SHA-256s.
 */
int
copy_fd(int in_fd, uint64_t len, const char *in_name, int out_fd,
    const char *out_name, int level, struct copy_result *res,
    struct job_error *err)
{
	struct copy_stream	 cs;

	memset(&cs, 0, sizeof cs);
	cs.in_fd = in_fd;
	cs.in_len = len;
	cs.in_name = in_name;
	cs.out_fd = out_fd;
	cs.out_name = out_name;
	cs.level = level;
	cs.out_is_store = 1;
	return (copy_stream_run(&cs, res, err));
}

/*
 * Read a flushed file back from the disk (its pages dropped from the
 * cache first) and check it hashes to want.
 */
static int
copy_verify_file(int fd, const char *tmp, const char *path,
    const char *want, struct job_error *err)
{
	EVP_MD_CTX	*sha;
	unsigned char	*piece;
	char		 got[65];
	off_t		 off = 0;
	ssize_t		 n;
	int		 rc = -1;

	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	piece = xmalloc(COPY_PIECE);
	sha = copy_sha256_new();
	for (;;) {
		n = pread(fd, piece, COPY_PIECE, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			store_file_error(err, tmp, "read back", errno);
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(sha, piece, n);
		off += n;
	}
	copy_hex(sha, got);
	if (strcmp(got, want) != 0) {
		job_error_set(err, ERROR_STORAGE, JOB_RETRY, "'%s' read back "
		    "from the disk has SHA-256 %s, not %s as written: the "
		    "disk or its file system damaged it; '%s' was left as it "
		    "was (check the disk, e.g. dmesg and smartctl)", tmp, got,
		    want, path);
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(sha);
	free(piece);
	return (rc);
}

/* A copy into a folder: temporary file, flushed, read back, renamed. */
static int
copy_to_dir(const struct recipe *r, const struct source *src,
    const char *location, struct copy_stream *cs, struct copy_result *res,
    struct job_error *err)
{
	char	*path, *tmp;
	int	 fd, rc = -1;

	path = store_file_path(r, src, location);
	if (store_file_begin(path, &tmp, &fd, err) != 0) {
		free(path);
		return (-1);
	}
	cs->out_fd = fd;
	cs->out_name = tmp;
	cs->out_is_store = 1;
	if (copy_stream_run(cs, res, err) != 0 ||
	    store_file_flush(tmp, fd, err) != 0 ||
	    copy_verify_file(fd, tmp, path, res->out_sha256, err) != 0) {
		store_file_discard(tmp, fd);
		goto out;
	}
	rc = store_file_commit(tmp, path, fd, err);
out:
	free(tmp);
	free(path);
	return (rc);
}

/*
 * A copy into a bucket: the input file itself as it is, or its gzip made
 * under the state directory first, uploaded by s3_put_file.
 */
static int
copy_to_s3(const struct recipe *r, const struct source *src,
    const char *location, const char *state_dir, struct copy_stream *cs,
    const char *mime, struct copy_result *res, struct job_error *err)
{
	const char	*key;
	char		 sent[65];
	int		 fd, rc = -1;

	key = location + 3 + strlen(r->output_bucket) + 1;
	if (cs->level == 0) {
		/* the input's hash is taken as the upload reads it */
		if (s3_put_file(r->output_via, r->output_bucket, key,
		    cs->in_fd, cs->in_len, mime, src->name, sent, err) != 0)
			return (-1);
		res->in_bytes = res->out_bytes = (int64_t)cs->in_len;
		memcpy(res->in_sha256, sent, sizeof sent);
		memcpy(res->out_sha256, sent, sizeof sent);
		return (0);
	}
	if ((fd = copy_temp(state_dir, err)) == -1)
		return (-1);
	cs->out_fd = fd;
	cs->out_name = "the state directory";
	cs->out_is_store = 0;
	if (copy_stream_run(cs, res, err) != 0)
		goto out;
	if (s3_put_file(r->output_via, r->output_bucket, key, fd,
	    (uint64_t)res->out_bytes, mime, src->name, sent, err) != 0)
		goto out;
	if (strcmp(sent, res->out_sha256) != 0) {
		job_error_set(err, ERROR_IO, JOB_RETRY, "the gzip of '%s' "
		    "under the state directory '%s' read back with SHA-256 %s, "
		    "not %s as written: check that disk", cs->in_name,
		    state_dir, sent, res->out_sha256);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return (rc);
}

/*
 * Whether a folder's file is still the version its job was queued for,
 * after it was read: one that changed meanwhile has a job of its own.
 */
static int
copy_check_unchanged(const struct source *src, const struct claimed_job *job,
    int fd, const char *name, struct job_error *err)
{
	struct stat	 st;
	char		*now;
	int		 rc = 0;

	/* a chained job's input is an output, not the source's file */
	if (src->type != SOURCE_DIR || src->follow ||
	    job->input_location != NULL)
		return (0);
	if (fstat(fd, &st) == -1) {
		job_error_set(err, ERROR_IO, JOB_RETRY, "cannot stat '%s': %s",
		    name, strerror(errno));
		return (-1);
	}
	now = fetch_file_version(&st);
	if (strcmp(now, job->version) != 0) {
		job_error_set(err, ERROR_IO, JOB_PERMANENT, "'%s' changed "
		    "while it was copied (version %s, now %s); the new "
		    "version has its own job", name, job->version, now);
		rc = -1;
	}
	free(now);
	return (rc);
}

/*
 * Run a copy recipe's job: its object streamed to location (a name its
 * template made), gzipped if the step says so; state_dir holds what is on
 * its way. On success res has the sizes and SHA-256s of both sides.
 */
int
copy_run(const struct recipe *r, const struct source *src,
    const struct claimed_job *job, const char *location,
    const char *state_dir, struct copy_result *res, struct job_error *err)
{
	struct copy_stream	 cs;
	const char		*mime;
	size_t			 len;
	uint64_t		 got;
	char			*name;
	int			 spool, rc = -1;

	memset(res, 0, sizeof *res);
	memset(&cs, 0, sizeof cs);
	cs.level = copy_gzip_level(r->steps[0].data);
	mime = copy_mime(job->input_location != NULL ? job->input_location :
	    job->key, cs.level > 0);
	if (job->input_location != NULL) {
		/* after = : the upstream's output, from its folder or bucket */
		if ((spool = copy_temp(state_dir, err)) == -1)
			return (-1);
		rc = fetch_output_fd(r, src, job, spool, &cs.in_fd, &got, err);
		if (rc != 0 || cs.in_fd != spool)
			close(spool);
		if (rc != 0)
			return (-1);
		rc = -1;
		cs.in_len = got;
		name = xstrdup(job->input_location);
		if (lseek(cs.in_fd, 0, SEEK_SET) == -1) {
			job_error_set(err, ERROR_IO, JOB_RETRY, "cannot read "
			    "back '%s': %s", name, strerror(errno));
			goto out;
		}
	} else if (src->type == SOURCE_DIR) {
		if (fetch_file_fd(src, job, &cs.in_fd, &len, err) != 0)
			return (-1);
		cs.in_len = len;
		name = fetch_file_path(src, job->key);
	} else {
		if ((cs.in_fd = copy_temp(state_dir, err)) == -1)
			return (-1);
		if (s3_fetch_fd(src, job, r->max_input_bytes > 0 ?
		    (uint64_t)r->max_input_bytes : 0, cs.in_fd, &got,
		    err) != 0) {
			close(cs.in_fd);
			return (-1);
		}
		cs.in_len = got;
		xasprintf(&name, "s3:%s/%s", src->bucket, job->key);
		if (lseek(cs.in_fd, 0, SEEK_SET) == -1) {
			job_error_set(err, ERROR_IO, JOB_RETRY, "cannot read "
			    "back '%s' under the state directory: %s", name,
			    strerror(errno));
			goto out;
		}
	}
	cs.in_name = name;
	if (r->max_input_bytes > 0 &&
	    recipe_admit_size(r, job->key, (long long)cs.in_len, err) != 0)
		goto out;
	if (r->output_kind == OUTPUT_DIR)
		rc = copy_to_dir(r, src, location, &cs, res, err);
	else if (r->output_kind == OUTPUT_S3)
		rc = copy_to_s3(r, src, location, state_dir, &cs, mime, res,
		    err);
	else
		job_error_set(err, ERROR_CONFIG, JOB_PERMANENT, "recipe '%s': "
		    "a copy writes to dir: or s3:", r->name);
	if (rc == 0 && copy_check_unchanged(src, job, cs.in_fd, name,
	    err) != 0)
		rc = -1;
out:
	close(cs.in_fd);
	free(name);
	return (rc);
}
