/*
 * Requests to S3-compatible servers.
 *
 * Listings go through libs3. Object requests (GET, HEAD, PUT) go through
 * libcurl with our own signature, because libs3 2.0 writes a space in a key
 * as '+': AWS reads that back as a space, but s3rver and MinIO decode the
 * path as RFC 3986 says and read a literal '+', so "IMG 0001.jpg" cannot be
 * fetched or written through libs3 there. Here a key is percent-encoded the
 * way the SDKs do (every byte but A-Z a-z 0-9 - . _ ~ and '/'), which every
 * server reads back the same. A listing needs no key in its path (the
 * prefix and marker go in the query, where '+' is a space for everyone), so
 * libs3 stays right for it.
 *
 * Signatures: AWS Signature V2 (HMAC-SHA1 over verb, type, date, x-amz-
 * headers and the resource), which MinIO, Ceph RGW and s3rver accept and
 * AWS refuses in regions and for buckets made after 2020. With `region`
 * (offered when libs3 signs V4 too), libcurl signs V4 itself
 * (CURLOPT_AWS_SIGV4).
 *
 * Failures map to job errors: no connection, a timeout or a 5xx is
 * transient; 403 and 404 are permanent, with what to check.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <libs3.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "objwatch.h"
#include "banned.h"

/* Objects larger than this are refused before their body is read. */
#define S3_GET_LIMIT	((uint64_t)512 << 20)
#define S3_META_SOURCE	"x-amz-meta-objwatch-source"

/* One object request's state, filled by curl's callbacks. */
struct s3_request {
	const char	*method;
	uint64_t	 limit;
	char		*body;		/* the response body */
	size_t		 len;
	size_t		 size;
	int		 over_limit;
	uint64_t	 content_length;
	char		*etag;
	char		*meta_source;
	const char	*put_data;
	size_t		 put_len;
	size_t		 put_off;
};

/* Start libcurl and libs3; once, before any thread. */
int
s3_init(char **cause)
{
	S3Status	 st;

	if (curl_global_init(CURL_GLOBAL_ALL) != 0) {
		xasprintf(cause, "cannot start libcurl");
		return (-1);
	}
	if ((st = S3_initialize("objwatch", S3_INIT_ALL, NULL)) != S3StatusOK) {
		xasprintf(cause, "cannot start libs3: %s",
		    S3_get_status_name(st));
		return (-1);
	}
	return (0);
}

/* Stop libs3 and libcurl, after every thread is done. */
void
s3_cleanup(void)
{
	S3_deinitialize();
	curl_global_cleanup();
}

/*
 * Percent-encode a key for a URL path as the SDKs do: unreserved
 * characters and '/' as they are, every other byte as %XX.
 */
char *
s3_key_encode(const char *key)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	char			*out, *o;

	o = out = xmalloc(strlen(key) * 3 + 1);
	for (p = (const unsigned char *)key; *p != '\0'; p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' ||
		    *p == '~' || *p == '/')
			*o++ = *p;
		else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return (out);
}

/* The value of an XML element in an error body, or NULL. */
static char *
s3_xml_value(const char *body, const char *name)
{
	char		*open, *close, *start, *end;

	if (body == NULL)
		return (NULL);
	xasprintf(&open, "<%s>", name);
	xasprintf(&close, "</%s>", name);
	start = strstr(body, open);
	end = start == NULL ? NULL : strstr(start, close);
	start = end == NULL ? NULL : start + strlen(open);
	free(open);
	free(close);
	if (start == NULL)
		return (NULL);
	return (xstrndup(start, end - start));
}

static size_t
s3_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct s3_request	*rq = arg;
	size_t			 n = size * nmemb;

	if (rq->limit != 0 && rq->len + n > rq->limit) {
		rq->over_limit = 1;
		return (0);
	}
	while (rq->len + n + 1 > rq->size) {
		rq->size = rq->size == 0 ? 65536 : rq->size * 2;
		rq->body = xreallocarray(rq->body, rq->size, 1);
	}
	memcpy(rq->body + rq->len, ptr, n);
	rq->len += n;
	rq->body[rq->len] = '\0';
	return (n);
}

static size_t
s3_read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct s3_request	*rq = arg;
	size_t			 n = size * nitems;

	if (n > rq->put_len - rq->put_off)
		n = rq->put_len - rq->put_off;
	memcpy(buf, rq->put_data + rq->put_off, n);
	rq->put_off += n;
	return (n);
}

/* A header value without surrounding space and quotes. */
static char *
s3_header_value(const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' ||
	    v[n - 1] == ' '))
		n--;
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	}
	return (xstrndup(v, n));
}

static size_t
s3_header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct s3_request	*rq = arg;
	size_t			 n = size * nitems, nl;
	const char		*colon;

	if ((colon = memchr(buf, ':', n)) == NULL)
		return (n);
	nl = colon - buf;
	if (nl == 4 && strncasecmp(buf, "etag", 4) == 0) {
		free(rq->etag);
		rq->etag = s3_header_value(colon + 1, n - nl - 1);
	} else if (nl == strlen(S3_META_SOURCE) &&
	    strncasecmp(buf, S3_META_SOURCE, nl) == 0) {
		free(rq->meta_source);
		rq->meta_source = s3_header_value(colon + 1, n - nl - 1);
	} else if (nl == 14 && strncasecmp(buf, "content-length", 14) == 0)
		rq->content_length = strtoull(colon + 1, NULL, 10);
	return (n);
}

static int
s3_xferinfo_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct s3_request	*rq = arg;

	/* Refuse an object over the limit as soon as its length is known. */
	if (rq->limit != 0 && rq->content_length > rq->limit) {
		rq->over_limit = 1;
		return (1);
	}
	return (0);
}

/* Base64 of HMAC-SHA1(secret, sts): the V2 signature. */
static char *
s3_sign_v2(const char *secret, const char *sts)
{
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen = 0;
	char		*out;

	HMAC(EVP_sha1(), secret, (int)strlen(secret),
	    (const unsigned char *)sts, strlen(sts), mac, &maclen);
	out = xmalloc(4 * ((maclen + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
	return (out);
}

/*
 * Send one object request. Returns the HTTP status, or -1 with *cause
 * when no answer came (no connection, a timeout).
 */
static long
s3_request(const struct source *via, const char *bucket, const char *key,
    const char *mime, const char *meta_source, struct s3_request *rq,
    char **cause)
{
	CURL			*c;
	CURLcode		 cc;
	struct curl_slist	*hdrs = NULL;
	struct tm		 tm;
	time_t			 now;
	char			 date[64], errbuf[CURL_ERROR_SIZE];
	char			*ekey, *url, *sts, *sig, *h, *amz = NULL;
	long			 code = -1;

	ekey = s3_key_encode(key);
	if (via->uri_style == 1)
		xasprintf(&url, "%s://%s.%s/%s", via->https ? "https" : "http",
		    bucket, via->endpoint, ekey);
	else
		xasprintf(&url, "%s://%s/%s/%s", via->https ? "https" : "http",
		    via->endpoint, bucket, ekey);
	if ((c = curl_easy_init()) == NULL)
		fatalx("curl_easy_init");
	errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	/* a stalled transfer: under 1 byte/s for 30 s */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s3_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, rq);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s3_header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, rq);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, s3_xferinfo_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, rq);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);

	if (strcmp(rq->method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(rq->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, s3_read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, rq);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)rq->put_len);
		/* S3 servers answer at once; do not wait for 100 Continue */
		hdrs = curl_slist_append(hdrs, "Expect:");
	}
	if (mime != NULL) {
		xasprintf(&h, "Content-Type: %s", mime);
		hdrs = curl_slist_append(hdrs, h);
		free(h);
	}
	if (meta_source != NULL) {
		xasprintf(&h, "%s: %s", S3_META_SOURCE, meta_source);
		hdrs = curl_slist_append(hdrs, h);
		free(h);
		xasprintf(&amz, "%s:%s\n", S3_META_SOURCE, meta_source);
	}
	if (via->region != NULL) {
		xasprintf(&h, "aws:amz:%s:s3", via->region);
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, h);
		free(h);
		xasprintf(&h, "%s:%s", via->access_key_value,
		    via->secret_key_value);
		curl_easy_setopt(c, CURLOPT_USERPWD, h);
		free(h);
	} else {
		now = time(NULL);
		gmtime_r(&now, &tm);
		strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		xasprintf(&h, "Date: %s", date);
		hdrs = curl_slist_append(hdrs, h);
		free(h);
		xasprintf(&sts, "%s\n\n%s\n%s\n%s/%s/%s", rq->method,
		    mime == NULL ? "" : mime, date, amz == NULL ? "" : amz,
		    bucket, ekey);
		sig = s3_sign_v2(via->secret_key_value, sts);
		xasprintf(&h, "Authorization: AWS %s:%s", via->access_key_value,
		    sig);
		hdrs = curl_slist_append(hdrs, h);
		free(h);
		free(sig);
		free(sts);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

	cc = curl_easy_perform(c);
	if (cc == CURLE_OK || ((cc == CURLE_WRITE_ERROR ||
	    cc == CURLE_ABORTED_BY_CALLBACK) && rq->over_limit))
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	else
		xasprintf(cause, "cannot %s '%s' in bucket '%s' on %s: %s",
		    strcmp(rq->method, "GET") == 0 ? "get" :
		    strcmp(rq->method, "PUT") == 0 ? "put" : "head", key,
		    bucket, via->endpoint, errbuf[0] != '\0' ? errbuf :
		    curl_easy_strerror(cc));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	free(amz);
	free(url);
	free(ekey);
	return (code);
}

static void
s3_request_clear(struct s3_request *rq)
{
	free(rq->body);
	free(rq->etag);
	free(rq->meta_source);
}

/*
 * Turn a failed answer into a job error that says what to check: 403 is
 * the keys or the signature, 404 a missing object or bucket, 5xx the
 * server (retried).
 */
static void
s3_http_error(struct job_error *err, enum error_class cls, long code,
    const struct source *via, const char *bucket, const char *key,
    const char *what, const struct s3_request *rq)
{
	char	*scode, *msg;

	scode = s3_xml_value(rq->body, "Code");
	msg = s3_xml_value(rq->body, "Message");
	if (code == 403)
		job_error_set(err, cls, 0, "cannot %s '%s' in bucket '%s': "
		    "403 %s: check the access key and secret of source '%s', "
		    "and that the server accepts AWS Signature %s",
		    what, key, bucket, scode != NULL ? scode : "Forbidden",
		    via->name, via->region != NULL ? "V4" : "V2 (AWS refuses "
		    "it in regions and for buckets made after 2020)");
	else if (code == 404 && scode != NULL &&
	    strcmp(scode, "NoSuchBucket") == 0)
		job_error_set(err, cls, 0, "cannot %s '%s': bucket '%s' does "
		    "not exist on %s", what, key, bucket, via->endpoint);
	else if (code == 404)
		job_error_set(err, cls, 0, "cannot %s '%s' in bucket '%s': "
		    "404: it was deleted before it was processed", what, key,
		    bucket);
	else
		job_error_set(err, cls, code >= 500 || code == 408 ||
		    code == 429, "cannot %s '%s' in bucket '%s': HTTP %ld%s%s%s"
		    "%s", what, key, bucket, code, scode != NULL ? " " : "",
		    scode != NULL ? scode : "", msg != NULL ? ": " : "",
		    msg != NULL ? msg : "");
	free(scode);
	free(msg);
}

/*
 * GET an object whole, refusing one over limit (0: the default) before its
 * body is read. *etag and *loop_source (the objwatch-source metadata of an
 * output, or NULL) are the answer's.
 */
int
s3_get(const struct source *src, const char *key, uint64_t limit,
    void **data, size_t *len, char **etag, char **loop_source,
    struct job_error *err)
{
	struct s3_request	 rq;
	char			*cause;
	long			 code;

	memset(&rq, 0, sizeof rq);
	rq.method = "GET";
	rq.limit = limit == 0 ? S3_GET_LIMIT : limit;
	code = s3_request(src, src->bucket, key, NULL, NULL, &rq, &cause);
	if (code == -1) {
		job_error_set(err, ERROR_IO, 1, "%s", cause);
		free(cause);
		s3_request_clear(&rq);
		return (-1);
	}
	if (rq.over_limit) {
		job_error_set(err, ERROR_LIMIT, 0, "'%s' in bucket '%s' is "
		    "%" PRIu64 " bytes, over the limit of %" PRIu64, key,
		    src->bucket, rq.content_length, rq.limit);
		s3_request_clear(&rq);
		return (-1);
	}
	if (code != 200) {
		s3_http_error(err, ERROR_IO, code, src, src->bucket, key, "get",
		    &rq);
		s3_request_clear(&rq);
		return (-1);
	}
	if (rq.body == NULL)
		rq.body = xstrdup("");
	*data = rq.body;
	*len = rq.len;
	*etag = rq.etag != NULL ? rq.etag : xstrdup("");
	*loop_source = rq.meta_source;
	return (0);
}

/* PUT an output whole, marked as objwatch's so no source takes it. */
int
s3_put(const struct source *via, const char *bucket, const char *key,
    const void *data, size_t len, const char *mime, const char *from_source,
    struct job_error *err)
{
	struct s3_request	 rq;
	char			*cause;
	long			 code;

	memset(&rq, 0, sizeof rq);
	rq.method = "PUT";
	rq.put_data = data;
	rq.put_len = len;
	code = s3_request(via, bucket, key, mime, from_source, &rq, &cause);
	if (code == -1) {
		job_error_set(err, ERROR_STORAGE, 1, "%s", cause);
		free(cause);
	} else if (code != 200)
		s3_http_error(err, ERROR_STORAGE, code, via, bucket, key, "put",
		    &rq);
	s3_request_clear(&rq);
	return (code == 200 ? 0 : -1);
}

/*
 * HEAD an object for the ETag and size an event did not give. Returns 0,
 * 1 when it does not exist (any more), -1 with *cause on other failures.
 */
int
s3_head(const struct source *src, const char *key, char **etag,
    int64_t *size, char **cause)
{
	struct s3_request	 rq;
	long			 code;

	memset(&rq, 0, sizeof rq);
	rq.method = "HEAD";
	code = s3_request(src, src->bucket, key, NULL, NULL, &rq, cause);
	if (code == 200 && rq.etag != NULL) {
		*etag = rq.etag;
		*size = (int64_t)rq.content_length;
		rq.etag = NULL;
	} else if (code != -1 && code != 404)
		xasprintf(cause, "HEAD '%s' in bucket '%s': HTTP %ld", key,
		    src->bucket, code);
	s3_request_clear(&rq);
	if (code == 404)
		return (1);
	return (code == 200 && *etag != NULL ? 0 : -1);
}

/* Whether a key lies under an output prefix of the source's bucket. */
int
s3_is_output(const struct source *src, const char *key)
{
	size_t	 i, len;

	for (i = 0; i < src->skip_roots.n; i++) {
		len = strlen(src->skip_roots.v[i]);
		if (strncmp(key, src->skip_roots.v[i], len) == 0 &&
		    (key[len] == '/' || key[len] == '\0'))
			return (1);
	}
	return (0);
}

/*
 * Fetch a job's object, checking it is still the version queued and not
 * one of objwatch's own outputs (the loop guard, for outputs written by
 * another config or under a prefix this one does not know).
 */
int
s3_fetch(const struct source *src, const struct claimed_job *job,
    void **data, size_t *len, struct job_error *err)
{
	char	*etag, *loop;

	if (s3_get(src, job->key, 0, data, len, &etag, &loop, err) != 0)
		return (-1);
	if (loop != NULL) {
		job_error_set(err, ERROR_CONFIG, 0, "'%s' in bucket '%s' is an "
		    "output of objwatch (from source '%s'): outputs are never "
		    "processed as inputs", job->key, src->bucket, loop);
		goto fail;
	}
	if (*etag != '\0' && strcmp(etag, job->version) != 0) {
		job_error_set(err, ERROR_IO, 0, "'%s' in bucket '%s' changed "
		    "after it was queued (ETag %s, now %s); the new version "
		    "has its own job", job->key, src->bucket, job->version,
		    etag);
		goto fail;
	}
	free(etag);
	return (0);
fail:
	free(etag);
	free(loop);
	free(*data);
	*data = NULL;
	return (-1);
}

/* What a listing's callbacks fill. */
struct s3_list_state {
	struct s3_listing	*out;
	size_t			 size;
	int			 truncated;
	char			*marker;
	S3Status		 status;
	char			*error;
};

static S3Status
s3_list_props_cb(const S3ResponseProperties *p, void *arg)
{
	return (S3StatusOK);
}

static void
s3_list_done_cb(S3Status status, const S3ErrorDetails *e, void *arg)
{
	struct s3_list_state	*ls = arg;

	ls->status = status;
	free(ls->error);
	ls->error = NULL;
	if (status != S3StatusOK && e != NULL && e->message != NULL)
		ls->error = xstrdup(e->message);
}

static S3Status
s3_list_cb(int truncated, const char *next_marker, int count,
    const S3ListBucketContent *contents, int nprefixes, const char **prefixes,
    void *arg)
{
	struct s3_list_state	*ls = arg;
	struct s3_listing	*l = ls->out;
	struct s3_object	*o;
	const char		*e;
	size_t			 n;
	int			 i;

	for (i = 0; i < count; i++) {
		if (l->n == ls->size) {
			ls->size = ls->size == 0 ? 1024 : ls->size * 2;
			l->v = xreallocarray(l->v, ls->size, sizeof *l->v);
		}
		o = &l->v[l->n++];
		o->key = xstrdup(contents[i].key);
		e = contents[i].eTag != NULL ? contents[i].eTag : "";
		n = strlen(e);
		if (n >= 2 && e[0] == '"' && e[n - 1] == '"')
			o->etag = xstrndup(e + 1, n - 2);
		else
			o->etag = xstrdup(e);
		o->size = contents[i].size;
		o->mtime = contents[i].lastModified;
	}
	ls->truncated = truncated;
	free(ls->marker);
	ls->marker = NULL;
	if (next_marker != NULL && *next_marker != '\0')
		ls->marker = xstrdup(next_marker);
	else if (count > 0)
		ls->marker = xstrdup(contents[count - 1].key);
	return (S3StatusOK);
}

/*
 * List every object under the source's prefix, 1000 keys a request, into
 * *l (sorted by key, as S3 returns them).
 */
int
s3_list(const struct source *src, struct s3_listing *l, char **cause)
{
	S3BucketContext		 bc;
	S3ListBucketHandler	 h;
	struct s3_list_state	 ls;
	int			 rc = 0;

	memset(&bc, 0, sizeof bc);
	bc.hostName = src->endpoint;
	bc.bucketName = src->bucket;
	bc.protocol = src->https ? S3ProtocolHTTPS : S3ProtocolHTTP;
	bc.uriStyle = src->uri_style == 1 ? S3UriStyleVirtualHost :
	    S3UriStylePath;
	bc.accessKeyId = src->access_key_value;
	bc.secretAccessKey = src->secret_key_value;
#ifdef HAVE_STRUCT_S3BUCKETCONTEXT_AUTHREGION
	bc.authRegion = src->region;
#endif
	memset(&h, 0, sizeof h);
	h.responseHandler.propertiesCallback = s3_list_props_cb;
	h.responseHandler.completeCallback = s3_list_done_cb;
	h.listBucketCallback = s3_list_cb;
	memset(&ls, 0, sizeof ls);
	memset(l, 0, sizeof *l);
	ls.out = l;
	do {
		ls.truncated = 0;
		ls.status = S3StatusInternalError;
		l->requests++;
#ifdef HAVE_STRUCT_S3BUCKETCONTEXT_AUTHREGION
		S3_list_bucket(&bc, *src->prefix == '\0' ? NULL : src->prefix,
		    ls.marker, NULL, 1000, NULL, 0, &h, &ls);
#else
		S3_list_bucket(&bc, *src->prefix == '\0' ? NULL : src->prefix,
		    ls.marker, NULL, 1000, NULL, &h, &ls);
#endif
		if (ls.status != S3StatusOK) {
			if (ls.status == S3StatusErrorAccessDenied ||
			    ls.status == S3StatusErrorSignatureDoesNotMatch ||
			    ls.status == S3StatusErrorInvalidAccessKeyId)
				xasprintf(cause, "cannot list bucket '%s' on "
				    "%s: %s%s%s: check the access key and "
				    "secret, and that the server accepts AWS "
				    "Signature %s", src->bucket, src->endpoint,
				    S3_get_status_name(ls.status),
				    ls.error != NULL ? ": " : "",
				    ls.error != NULL ? ls.error : "",
				    src->region != NULL ? "V4" : "V2");
			else
				xasprintf(cause, "cannot list bucket '%s' on "
				    "%s: %s%s%s", src->bucket, src->endpoint,
				    S3_get_status_name(ls.status),
				    ls.error != NULL ? ": " : "",
				    ls.error != NULL ? ls.error : "");
			s3_listing_clear(l);
			rc = -1;
			break;
		}
	} while (ls.truncated && ls.marker != NULL);
	free(ls.marker);
	free(ls.error);
	return (rc);
}

/* Free a listing. */
void
s3_listing_clear(struct s3_listing *l)
{
	size_t	 i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].etag);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
