/*
 * Requests to S3-compatible servers.
 *
 * Every request goes through libcurl with a signature made here: AWS
 * Signature V4 by default (sigv4.c), which AWS, Cloudflare R2, Backblaze
 * B2, MinIO, Ceph RGW and the rest take, or with `signature = v2` the
 * older HMAC-SHA1 scheme for servers that know nothing else. Listings are
 * ListObjectsV2 pages (continuation tokens, keys URL-encoded by the server
 * so that any byte survives the XML) read with libxml2; under V2 they go
 * through libs3, the library that speaks V2 listings. Keys are written
 * into paths percent-encoded as the SDKs do (every byte but A-Z a-z 0-9
 * - . _ ~ and '/'), and curl is told to send the path as it is, so a key
 * holding "..", "+", "%" or a space reaches the server unchanged.
 *
 * The host is part of what V4 signs, so the Host header is set here rather
 * than left to curl: what is signed is what is sent.
 *
 * Failures map to how a job goes on: no connection, a timeout, a 5xx,
 * 429 or SlowDown are an outage, waited out without counting an attempt;
 * a refused signature, a missing bucket, a wrong region or a wrong clock
 * fail with the server's code and what to change; a missing object is the
 * object's own failure.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libs3.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "objwatch.h"
#include "banned.h"

/* Objects larger than this are refused before their body is read. */
#define S3_GET_LIMIT	((uint64_t)512 << 20)
/* Listings and error bodies larger than this are not S3's. */
#define S3_XML_LIMIT	((uint64_t)16 << 20)
#define S3_META_SOURCE	"x-amz-meta-objwatch-source"
/* From this size an output goes up in parts, each of S3_PART_SIZE. */
#define S3_MULTIPART_AT	((uint64_t)64 << 20)
#define S3_PART_SIZE	((uint64_t)16 << 20)
#define S3_MAX_PARTS	10000
/* Files are read in pieces of this size to be hashed. */
#define S3_PIECE	((size_t)1 << 20)

/* What to send. */
struct s3_call {
	const char		*method;
	const char		*bucket;
	const char		*key;		/* NULL: the bucket itself */
	const struct sigv4_param *query;
	size_t			 nquery;
	const char		*mime;
	const char		*meta_source;
	const char		*put_data;
	size_t			 put_len;
	int			 put_file;	/* the body is put_len bytes */
	int			 put_fd;	/* of put_fd from put_fd_off */
	off_t			 put_fd_off;
	const char		*content_md5;	/* base64, or NULL */
	const char		*payload_hash;	/* hex SHA-256 of a file body */
	const char		*verb;		/* for messages, or NULL */
};

/* One request's answer, filled by curl's callbacks. */
struct s3_request {
	uint64_t	 limit;
	char		*body;		/* the response body */
	size_t		 len;
	size_t		 size;
	int		 over_limit;
	uint64_t	 content_length;
	char		*etag;
	char		*meta_source;
	char		*bucket_region;	/* x-amz-bucket-region */
	const char	*put_data;
	size_t		 put_len;
	size_t		 put_off;
	int		 put_file;
	int		 put_fd;
	off_t		 put_fd_off;
	int		 io_errno;	/* reading or writing a file failed */
	int		 to_fd;		/* a 200's body goes to body_fd */
	int		 body_fd;
	uint64_t	 fd_len;	/* written to body_fd */
	long		 status;	/* known once the body starts */
	CURL		*curl;
	CURLcode	 curl_code;	/* when no answer came */
};

/* Start libcurl, libxml2 and libs3; once, before any thread. */
int
s3_init(char **cause)
{
	S3Status	 st;

	if (curl_global_init(CURL_GLOBAL_ALL) != 0) {
		xasprintf(cause, "cannot start libcurl");
		return (-1);
	}
	xmlInitParser();
	if ((st = S3_initialize("objwatch", S3_INIT_ALL, NULL)) != S3StatusOK) {
		xasprintf(cause, "cannot start libs3: %s",
		    S3_get_status_name(st));
		return (-1);
	}
	return (0);
}

/* Stop libs3, libxml2 and libcurl, after every thread is done. */
void
s3_cleanup(void)
{
	S3_deinitialize();
	xmlCleanupParser();
	curl_global_cleanup();
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
	size_t			 n = size * nmemb, off;
	ssize_t			 w;

	if (rq->to_fd && rq->status == 0)
		curl_easy_getinfo(rq->curl, CURLINFO_RESPONSE_CODE,
		    &rq->status);
	if (rq->to_fd && rq->status == 200) {
		if (rq->limit != 0 && rq->fd_len + n > rq->limit) {
			rq->over_limit = 1;
			return (0);
		}
		for (off = 0; off < n; off += w) {
			w = write(rq->body_fd, ptr + off, n - off);
			if (w == -1 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w == -1) {
				rq->io_errno = errno;
				return (0);
			}
		}
		rq->fd_len += n;
		return (n);
	}
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

	ssize_t			 got;

	if (n > rq->put_len - rq->put_off)
		n = rq->put_len - rq->put_off;
	if (rq->put_file) {
		do
			got = pread(rq->put_fd, buf, n, rq->put_fd_off +
			    (off_t)rq->put_off);
		while (got == -1 && errno == EINTR);
		if (got <= 0 && n > 0) {
			rq->io_errno = got == 0 ? EIO : errno;
			return (CURL_READFUNC_ABORT);
		}
		rq->put_off += got;
		return (got);
	}
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

static int
s3_header_is(const char *buf, size_t nl, const char *name)
{
	return (nl == strlen(name) && strncasecmp(buf, name, nl) == 0);
}

static size_t
s3_header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct s3_request	*rq = arg;
	size_t			 n = size * nitems, nl;
	const char		*colon;
	char			**to = NULL;

	if ((colon = memchr(buf, ':', n)) == NULL)
		return (n);
	nl = colon - buf;
	if (s3_header_is(buf, nl, "etag"))
		to = &rq->etag;
	else if (s3_header_is(buf, nl, S3_META_SOURCE))
		to = &rq->meta_source;
	else if (s3_header_is(buf, nl, "x-amz-bucket-region"))
		to = &rq->bucket_region;
	else if (s3_header_is(buf, nl, "content-length"))
		rq->content_length = strtoull(colon + 1, NULL, 10);
	if (to != NULL) {
		free(*to);
		*to = s3_header_value(colon + 1, n - nl - 1);
	}
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

static struct curl_slist *
s3_add_header(struct curl_slist *hdrs, const char *name, const char *value)
{
	char	*h;

	xasprintf(&h, "%s: %s", name, value);
	hdrs = curl_slist_append(hdrs, h);
	free(h);
	return (hdrs);
}

/*
 * The V2 sub-resources of a request (uploads, uploadId, partNumber), as
 * the string to sign ends with them: "?partNumber=2&uploadId=ID", sorted,
 * values as they are, a name without a value bare ("?uploads").
 */
static char *
s3_v2_subresources(const struct s3_call *call)
{
	static const char *const names[] = {	/* in sorted order */
		"partNumber", "uploadId", "uploads"
	};
	struct buf	 b;
	size_t		 i, j;

	buf_init(&b);
	for (i = 0; i < nitems(names); i++) {
		for (j = 0; j < call->nquery; j++) {
			if (strcmp(call->query[j].name, names[i]) != 0)
				continue;
			buf_printf(&b, "%s%s%s%s", b.len == 0 ? "?" : "&",
			    names[i], call->query[j].value != NULL &&
			    *call->query[j].value != '\0' ? "=" : "",
			    call->query[j].value != NULL ?
			    call->query[j].value : "");
		}
	}
	return (buf_take(&b));
}

/*
 * The V2 Authorization and Date headers. The resource is /BUCKET/KEY in
 * both URI styles, with the sub-resources of a multipart upload.
 */
static struct curl_slist *
s3_headers_v2(struct curl_slist *hdrs, const struct source *via,
    const struct s3_call *call, const char *epath)
{
	struct tm	 tm;
	time_t		 now;
	char		 date[64], *amz, *sts, *sig, *auth, *sub;

	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	hdrs = s3_add_header(hdrs, "Date", date);
	/* x-amz-* headers, sorted by name */
	xasprintf(&amz, "%s%s%s", call->meta_source != NULL ?
	    S3_META_SOURCE ":" : "", call->meta_source != NULL ?
	    call->meta_source : "", call->meta_source != NULL ? "\n" : "");
	sub = s3_v2_subresources(call);
	xasprintf(&sts, "%s\n%s\n%s\n%s\n%s%s%s", call->method,
	    call->content_md5 == NULL ? "" : call->content_md5,
	    call->mime == NULL ? "" : call->mime, date, amz, epath, sub);
	free(sub);
	sig = s3_sign_v2(via->secret_key_value, sts);
	xasprintf(&auth, "AWS %s:%s", via->access_key_value, sig);
	hdrs = s3_add_header(hdrs, "Authorization", auth);
	free(auth);
	free(sig);
	free(sts);
	free(amz);
	return (hdrs);
}

/* The V4 headers: x-amz-date, the payload hash and the Authorization. */
static struct curl_slist *
s3_headers_v4(struct curl_slist *hdrs, const struct source *via,
    const struct s3_call *call, const char *host, const char *path)
{
	struct sigv4_param	 h[7];
	struct sigv4_request	 rq;
	char			 amz_date[17], hash[65], *auth;
	size_t			 i, n = 0;

	sigv4_amz_date(time(NULL), amz_date);
	if (call->payload_hash != NULL)
		memcpy(hash, call->payload_hash, sizeof hash);
	else if (call->put_data != NULL)
		sha256_hex(call->put_data, call->put_len, hash);
	else
		memcpy(hash, sigv4_empty_hash, sizeof hash);
	h[n++] = (struct sigv4_param){ "host", host };
	if (call->content_md5 != NULL)
		h[n++] = (struct sigv4_param){ "content-md5",
		    call->content_md5 };
	h[n++] = (struct sigv4_param){ "x-amz-date", amz_date };
	h[n++] = (struct sigv4_param){ "x-amz-content-sha256", hash };
	if (via->session_token_value != NULL)
		h[n++] = (struct sigv4_param){ "x-amz-security-token",
		    via->session_token_value };
	if (call->mime != NULL)
		h[n++] = (struct sigv4_param){ "content-type", call->mime };
	if (call->meta_source != NULL)
		h[n++] = (struct sigv4_param){ S3_META_SOURCE,
		    call->meta_source };
	memset(&rq, 0, sizeof rq);
	rq.method = call->method;
	rq.path = path;
	rq.query = call->query;
	rq.nquery = call->nquery;
	rq.headers = h;
	rq.nheaders = n;
	rq.payload_hash = hash;
	rq.region = via->region;
	rq.service = "s3";
	rq.access_key = via->access_key_value;
	rq.secret_key = via->secret_key_value;
	rq.amz_date = amz_date;
	auth = sigv4_authorization(&rq, NULL);
	/* h[0], host, content-type and content-md5 are in hdrs already */
	for (i = 1; i < n; i++)
		if (strcmp(h[i].name, "content-type") != 0 &&
		    strcmp(h[i].name, "content-md5") != 0)
			hdrs = s3_add_header(hdrs, h[i].name, h[i].value);
	hdrs = s3_add_header(hdrs, "Authorization", auth);
	free(auth);
	return (hdrs);
}

static const char *
s3_verb(const char *method)
{
	if (strcmp(method, "GET") == 0)
		return ("get");
	if (strcmp(method, "PUT") == 0)
		return ("put");
	if (strcmp(method, "HEAD") == 0)
		return ("head");
	if (strcmp(method, "DELETE") == 0)
		return ("delete");
	if (strcmp(method, "POST") == 0)
		return ("post");
	return (method);
}

/*
 * Send one request. Returns the HTTP status, or -1 with *cause when no
 * answer came (no connection, a timeout, a TLS failure; rq->curl_code
 * says which).
 */
static long
s3_perform(const struct source *via, const struct s3_call *call,
    struct s3_request *rq, char **cause)
{
	CURL			*c;
	CURLcode		 cc;
	struct curl_slist	*hdrs = NULL;
	char			 errbuf[CURL_ERROR_SIZE];
	char			*host, *path, *epath, *query, *url, *h, *ekey;
	char			*what;
	long			 code = -1;

	/* The path as V4 signs it (raw) and as it is sent (encoded). */
	if (via->uri_style == 1) {
		xasprintf(&host, "%s.%s", call->bucket, via->endpoint);
		xasprintf(&path, "/%s", call->key == NULL ? "" : call->key);
	} else {
		host = xstrdup(via->endpoint);
		if (call->key == NULL)
			xasprintf(&path, "/%s", call->bucket);
		else
			xasprintf(&path, "/%s/%s", call->bucket, call->key);
	}
	epath = sigv4_uri_encode(path, 0);
	query = sigv4_query(call->query, call->nquery);
	xasprintf(&url, "%s://%s%s%s%s", via->https ? "https" : "http", host,
	    epath, *query != '\0' ? "?" : "", query);
	if (call->key == NULL)
		xasprintf(&what, "list bucket '%s' on %s", call->bucket,
		    via->endpoint);
	else
		xasprintf(&what, "%s '%s' in bucket '%s' on %s",
		    call->verb != NULL ? call->verb : s3_verb(call->method),
		    call->key, call->bucket, via->endpoint);

	if ((c = curl_easy_init()) == NULL) {
		xasprintf(cause, "cannot %s: cannot start a curl handle", what);
		goto out;
	}
	errbuf[0] = '\0';
	rq->put_data = call->put_data;
	rq->put_len = call->put_len;
	rq->put_file = call->put_file;
	rq->put_fd = call->put_fd;
	rq->put_fd_off = call->put_fd_off;
	rq->curl = c;
	curl_easy_setopt(c, CURLOPT_URL, url);
	/* a key's "." and ".." are names, not directions */
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
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
	if (via->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, via->ca_file);

	if (strcmp(call->method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(call->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, s3_read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, rq);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)call->put_len);
		/* S3 servers answer at once; do not wait for 100 Continue */
		hdrs = curl_slist_append(hdrs, "Expect:");
		/* a large body goes in larger pieces */
		if (call->put_file)
			curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE,
			    512L * 1024);
	} else if (strcmp(call->method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, call->put_data ==
		    NULL ? "" : call->put_data);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)call->put_len);
		hdrs = curl_slist_append(hdrs, "Expect:");
	} else if (strcmp(call->method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, call->method);
	hdrs = s3_add_header(hdrs, "Host", host);
	if (call->mime != NULL)
		hdrs = s3_add_header(hdrs, "Content-Type", call->mime);
	else if (strcmp(call->method, "PUT") == 0 ||
	    strcmp(call->method, "POST") == 0)
		hdrs = curl_slist_append(hdrs, "Content-Type:");
	if (call->content_md5 != NULL)
		hdrs = s3_add_header(hdrs, "Content-MD5", call->content_md5);
	if (via->signature == S3_SIGNATURE_V2) {
		if (call->meta_source != NULL)
			hdrs = s3_add_header(hdrs, S3_META_SOURCE,
			    call->meta_source);
		/* V2 signs /BUCKET/KEY whatever the URI style */
		ekey = sigv4_uri_encode(call->key == NULL ? "" : call->key, 0);
		xasprintf(&h, "/%s/%s", call->bucket, ekey);
		hdrs = s3_headers_v2(hdrs, via, call, h);
		free(h);
		free(ekey);
	} else
		hdrs = s3_headers_v4(hdrs, via, call, host, path);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

	cc = curl_easy_perform(c);
	rq->curl_code = cc;
	if (cc == CURLE_OK || ((cc == CURLE_WRITE_ERROR ||
	    cc == CURLE_ABORTED_BY_CALLBACK) && rq->over_limit))
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	else if (rq->io_errno != 0)
		xasprintf(cause, "cannot %s: %s the file: %s", what,
		    rq->to_fd ? "cannot write" : "cannot read",
		    strerror(rq->io_errno));
	else if (cc == CURLE_PEER_FAILED_VERIFICATION ||
	    cc == CURLE_SSL_CACERT_BADFILE)
		xasprintf(cause, "cannot %s: the TLS certificate is not "
		    "trusted (%s): set ca_file in source '%s' to the CA that "
		    "signed it, or check endpoint", what, errbuf[0] != '\0' ?
		    errbuf : curl_easy_strerror(cc), via->name);
	else
		xasprintf(cause, "cannot %s: %s", what, errbuf[0] != '\0' ?
		    errbuf : curl_easy_strerror(cc));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	rq->curl = NULL;
out:
	free(what);
	free(url);
	free(query);
	free(epath);
	free(path);
	free(host);
	return (code);
}

static void
s3_request_clear(struct s3_request *rq)
{
	free(rq->body);
	free(rq->etag);
	free(rq->meta_source);
	free(rq->bucket_region);
	memset(rq, 0, sizeof *rq);
}

/* Whether a failure without an answer is an outage rather than a setting. */
static int
s3_unreachable_waits(CURLcode cc)
{
	return (cc != CURLE_PEER_FAILED_VERIFICATION &&
	    cc != CURLE_SSL_CACERT_BADFILE && cc != CURLE_URL_MALFORMAT);
}

/*
 * What an error answer means, in words a user can act on, and how a job
 * that got it goes on (JOB_PERMANENT, JOB_RETRY or JOB_WAIT in *how).
 * what is "get 'KEY' in bucket 'B'" or "list bucket 'B'"; object says
 * whether the request named an object (a 404 is then that object's);
 * body is the answer's (NULL for a HEAD), bucket_region the
 * x-amz-bucket-region header's value or NULL.
 */
char *
s3_error_explain(const struct source *via, const char *bucket,
    const char *what, int object, long code, const char *body,
    const char *bucket_region, int *how)
{
	char	*scode, *msg, *region, *stime, *endpoint, *out;
	char	*detail;

	scode = s3_xml_value(body, "Code");
	msg = s3_xml_value(body, "Message");
	if (msg != NULL && *msg == '\0')
		FREE_NULL(msg);		/* RGW sends <Message></Message> */
	region = s3_xml_value(body, "Region");
	if (region == NULL && bucket_region != NULL)
		region = xstrdup(bucket_region);
	stime = s3_xml_value(body, "ServerTime");
	endpoint = s3_xml_value(body, "Endpoint");
	xasprintf(&detail, "%ld%s%s%s%s", code, scode != NULL ? " " : "",
	    scode != NULL ? scode : "", msg != NULL ? ": " : "",
	    msg != NULL ? msg : "");
	*how = JOB_PERMANENT;

	if (scode != NULL && strcmp(scode, "SignatureDoesNotMatch") == 0)
		xasprintf(&out, "cannot %s: %s: the server computed another "
		    "signature: check secret_key of source '%s'%s", what,
		    detail, via->name, via->signature == S3_SIGNATURE_V2 ?
		    " (signature = v2: most servers want v4)" : " (and, for an "
		    "old server that speaks only V2, signature = v2)");
	else if (scode != NULL && strcmp(scode, "InvalidAccessKeyId") == 0)
		xasprintf(&out, "cannot %s: %s: the server knows no such "
		    "access key: check access_key of source '%s'", what,
		    detail, via->name);
	else if (scode != NULL &&
	    strcmp(scode, "AuthorizationHeaderMalformed") == 0)
		xasprintf(&out, "cannot %s: %s: the region is wrong: %s%s%s in "
		    "source '%s' (it is '%s')", what, detail, region != NULL ?
		    "set region = " : "set region to the bucket's region",
		    region != NULL ? region : "", "", via->name, via->region);
	else if (scode != NULL && strcmp(scode, "RequestTimeTooSkewed") == 0) {
		/* the job did nothing wrong, and a synced clock heals it */
		*how = JOB_WAIT;
		xasprintf(&out, "cannot %s: %s: this machine's clock is more "
		    "than 15 minutes away from the server's%s%s%s: set the "
		    "clock (timedatectl set-ntp true, or chrony); waiting for "
		    "it", what, detail, stime != NULL ? " (server time " : "",
		    stime != NULL ? stime : "", stime != NULL ? ")" : "");
	} else if (scode != NULL && (strcmp(scode, "ExpiredToken") == 0 ||
	    strcmp(scode, "TokenRefreshRequired") == 0)) {
		/* temporary credentials expire by design; new ones heal it */
		*how = JOB_WAIT;
		xasprintf(&out, "cannot %s: %s: the session token of source "
		    "'%s' has expired: get new credentials, set access_key, "
		    "secret_key and session_token, and reload (SIGHUP); "
		    "waiting for them", what, detail, via->name);
	}
	else if (scode != NULL && strcmp(scode, "InvalidToken") == 0)
		xasprintf(&out, "cannot %s: %s: the server does not take the "
		    "session_token of source '%s'", what, detail, via->name);
	else if (scode != NULL && strcmp(scode, "AccessDenied") == 0 &&
	    via->session_token_value != NULL) {
		/*
		 * Ceph RGW refuses an expired session token so, not with
		 * ExpiredToken; temporary credentials expire by design.
		 */
		*how = JOB_WAIT;
		xasprintf(&out, "cannot %s: %s: the session token of source "
		    "'%s' may have expired (or its keys are not allowed to): "
		    "get new credentials, set access_key, secret_key and "
		    "session_token, and reload (SIGHUP); waiting for them",
		    what, detail, via->name);
	} else if (scode != NULL && strcmp(scode, "AccessDenied") == 0)
		xasprintf(&out, "cannot %s: %s: the keys of source '%s' are "
		    "not allowed to: check the user's or bucket's policy",
		    what, detail, via->name);
	else if (scode != NULL && strcmp(scode, "NoSuchBucket") == 0)
		xasprintf(&out, "cannot %s: bucket '%s' does not exist on %s",
		    what, bucket, via->endpoint);
	else if (code == 301 || (scode != NULL &&
	    strcmp(scode, "PermanentRedirect") == 0))
		xasprintf(&out, "cannot %s: %s: bucket '%s' is served by "
		    "another endpoint%s%s%s: set endpoint (and region) of "
		    "source '%s' to match", what, detail, bucket,
		    endpoint != NULL ? " (" : "", endpoint != NULL ?
		    endpoint : "", endpoint != NULL ? ")" : "", via->name);
	else if (code == 404 && object &&
	    (scode == NULL || strcmp(scode, "NoSuchKey") == 0))
		xasprintf(&out, "cannot %s: 404: it was deleted before it was "
		    "processed", what);
	else if (code == 403 && scode == NULL)
		xasprintf(&out, "cannot %s: 403 Forbidden (the answer gave no "
		    "reason; `objwatch check --connect` shows the server's): "
		    "check the keys of source '%s'", what, via->name);
	else {
		if (code >= 500 || code == 429 || code == 408 ||
		    (scode != NULL && strcmp(scode, "SlowDown") == 0))
			*how = JOB_WAIT;
		xasprintf(&out, "cannot %s: %s%s", what, detail,
		    *how == JOB_WAIT ? " (the server is down or busy; waiting "
		    "for it)" : "");
	}
	free(detail);
	free(scode);
	free(msg);
	free(region);
	free(stime);
	free(endpoint);
	return (out);
}

/* Set a job error from a failed request; cause is the no-answer cause. */
static void
s3_job_error(struct job_error *err, enum error_class cls,
    const struct source *via, const char *bucket, const char *what,
    long code, const struct s3_request *rq, char *cause)
{
	char	*msg;
	int	 how;

	if (code == -1) {
		job_error_set(err, s3_unreachable_waits(rq->curl_code) ? cls :
		    ERROR_CONFIG, s3_unreachable_waits(rq->curl_code) ?
		    JOB_WAIT : JOB_PERMANENT, "%s", cause);
		free(cause);
		return;
	}
	msg = s3_error_explain(via, bucket, what, 1, code, rq->body,
	    rq->bucket_region, &how);
	job_error_set(err, cls, how, "%s", msg);
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
	return (s3_get_from(src, src->bucket, key, limit, data, len, etag,
	    loop_source, err));
}

/*
 * Whether a GET of key in bucket failed, answered code: then err says how
 * (over the limit, or what the server or the connection said) and rq is
 * cleared.
 */
static int
s3_get_failed(const struct source *src, const char *bucket, const char *key,
    long code, struct s3_request *rq, char *cause, struct job_error *err)
{
	char	*what;

	if (code != -1 && rq->over_limit) {
		job_error_set(err, ERROR_LIMIT, JOB_PERMANENT, "'%s' in bucket "
		    "'%s' is %" PRIu64 " bytes, over the limit of %" PRIu64,
		    key, bucket, rq->content_length, rq->limit);
		free(cause);
		s3_request_clear(rq);
		return (1);
	}
	if (code != 200) {
		xasprintf(&what, "get '%s' in bucket '%s'", key, bucket);
		s3_job_error(err, ERROR_IO, src, bucket, what, code, rq,
		    cause);
		free(what);
		s3_request_clear(rq);
		return (1);
	}
	free(cause);
	return (0);
}

/*
 * GET an object whole from a bucket that need not be via's own (an output
 * bucket, for a recipe chained after the one that wrote it), as s3_get.
 */
int
s3_get_from(const struct source *src, const char *bucket, const char *key,
    uint64_t limit, void **data, size_t *len, char **etag,
    char **loop_source, struct job_error *err)
{
	struct s3_call		 call = { .method = "GET", .key = key };
	struct s3_request	 rq;
	char			*cause = NULL;
	long			 code;

	call.bucket = bucket;
	memset(&rq, 0, sizeof rq);
	rq.limit = limit == 0 ? S3_GET_LIMIT : limit;
	code = s3_perform(src, &call, &rq, &cause);
	if (s3_get_failed(src, bucket, key, code, &rq, cause, err))
		return (-1);
	if (rq.body == NULL)
		rq.body = xstrdup("");
	*data = rq.body;
	*len = rq.len;
	*etag = rq.etag != NULL ? rq.etag : xstrdup("");
	*loop_source = rq.meta_source;
	free(rq.bucket_region);
	return (0);
}

/* PUT an output whole, marked as objwatch's so no source takes it. */
int
s3_put(const struct source *via, const char *bucket, const char *key,
    const void *data, size_t len, const char *mime, const char *from_source,
    struct job_error *err)
{
	struct s3_call		 call = { .method = "PUT" };
	struct s3_request	 rq;
	char			*cause = NULL, *what;
	long			 code;

	call.bucket = bucket;
	call.key = key;
	call.mime = mime;
	call.meta_source = from_source;
	call.put_data = data;
	call.put_len = len;
	memset(&rq, 0, sizeof rq);
	rq.limit = S3_XML_LIMIT;
	code = s3_perform(via, &call, &rq, &cause);
	if (code != 200) {
		xasprintf(&what, "put '%s' in bucket '%s'", key, bucket);
		s3_job_error(err, ERROR_STORAGE, via, bucket, what, code, &rq,
		    cause);
		free(what);
	}
	s3_request_clear(&rq);
	return (code == 200 ? 0 : -1);
}

/*
 * GET an object into fd (from where it stands), refusing one over limit
 * (0: none) before its body is read: a large object costs disk, not
 * memory. *len is how many bytes were written; *etag and *loop_source as
 * for s3_get. src gives the endpoint and keys, bucket the bucket.
 */
int
s3_get_fd_from(const struct source *src, const char *bucket, const char *key,
    uint64_t limit, int fd, uint64_t *len, char **etag, char **loop_source,
    struct job_error *err)
{
	struct s3_call		 call = { .method = "GET", .key = key };
	struct s3_request	 rq;
	char			*cause = NULL;
	long			 code;

	call.bucket = bucket;
	memset(&rq, 0, sizeof rq);
	rq.limit = limit;
	rq.to_fd = 1;
	rq.body_fd = fd;
	code = s3_perform(src, &call, &rq, &cause);
	if (rq.io_errno != 0) {
		job_error_set(err, ERROR_IO, rq.io_errno == ENOSPC ?
		    JOB_WAIT : JOB_RETRY, "%s", cause);
		free(cause);
		s3_request_clear(&rq);
		return (-1);
	}
	if (s3_get_failed(src, bucket, key, code, &rq, cause, err))
		return (-1);
	*len = rq.fd_len;
	*etag = rq.etag != NULL ? rq.etag : xstrdup("");
	*loop_source = rq.meta_source;
	rq.etag = rq.meta_source = NULL;
	s3_request_clear(&rq);
	return (0);
}

/* s3_get_fd_from on a source's own bucket. */
static int
s3_get_fd(const struct source *src, const char *key, uint64_t limit,
    int fd, uint64_t *len, char **etag, char **loop_source,
    struct job_error *err)
{
	return (s3_get_fd_from(src, src->bucket, key, limit, fd, len, etag,
	    loop_source, err));
}

/*
 * Fetch a job's object into fd, a file of the caller's, with the checks
 * of s3_fetch (the version queued, not an output of objwatch). *len is
 * its size.
 */
int
s3_fetch_fd(const struct source *src, const struct claimed_job *job,
    uint64_t limit, int fd, uint64_t *len, struct job_error *err)
{
	char	*etag, *loop;
	int	 rc = -1;

	if (s3_get_fd(src, job->key, limit, fd, len, &etag, &loop, err) != 0)
		return (-1);
	if (loop != NULL)
		job_error_set(err, ERROR_CONFIG, 0, "'%s' in bucket '%s' is an "
		    "output of objwatch (from source '%s'): outputs are never "
		    "processed as inputs", job->key, src->bucket, loop);
	else if (*etag != '\0' && strcmp(etag, job->version) != 0)
		job_error_set(err, ERROR_IO, 0, "'%s' in bucket '%s' changed "
		    "after it was queued (ETag %s, now %s); the new version "
		    "has its own job", job->key, src->bucket, job->version,
		    etag);
	else
		rc = 0;
	free(etag);
	free(loop);
	return (rc);
}

/* Digests of a range of a file, for one request's body. */
struct s3_digest {
	unsigned char	 md5[16];
	char		 md5_b64[32];	/* Content-MD5 */
	char		 md5_hex[33];	/* what the ETag must be */
	char		 sha256_hex[65]; /* x-amz-content-sha256 */
};

static void
s3_hex(const unsigned char *in, size_t len, char *out)
{
	static const char	 digits[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/*
 * Read len bytes of fd at off, in pieces, into the digests of d and into
 * whole (the SHA-256 of everything uploaded) when not NULL. Returns 0, or
 * -1 with errno set.
 */
static int
s3_digest_range(int fd, off_t off, uint64_t len, struct s3_digest *d,
    EVP_MD_CTX *whole, EVP_MD_CTX *whole_md5)
{
	EVP_MD_CTX	*md5, *sha;
	unsigned char	*piece, sum[EVP_MAX_MD_SIZE];
	unsigned int	 n;
	uint64_t	 done = 0;
	ssize_t		 got;
	int		 rc = -1, saved = EIO;

	piece = xmalloc(S3_PIECE);
	md5 = EVP_MD_CTX_new();
	sha = EVP_MD_CTX_new();
	if (md5 == NULL || sha == NULL)
		fatalx("EVP_MD_CTX_new: out of memory");
	EVP_DigestInit_ex(md5, EVP_md5(), NULL);
	EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
	while (done < len) {
		got = pread(fd, piece, len - done > S3_PIECE ? S3_PIECE :
		    len - done, off + (off_t)done);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0) {
			saved = got == 0 ? EIO : errno;
			goto out;
		}
		EVP_DigestUpdate(md5, piece, got);
		EVP_DigestUpdate(sha, piece, got);
		if (whole != NULL)
			EVP_DigestUpdate(whole, piece, got);
		if (whole_md5 != NULL)
			EVP_DigestUpdate(whole_md5, piece, got);
		done += got;
	}
	EVP_DigestFinal_ex(md5, d->md5, &n);
	s3_hex(d->md5, 16, d->md5_hex);
	EVP_EncodeBlock((unsigned char *)d->md5_b64, d->md5, 16);
	EVP_DigestFinal_ex(sha, sum, &n);
	s3_hex(sum, 32, d->sha256_hex);
	rc = 0;
out:
	EVP_MD_CTX_free(md5);
	EVP_MD_CTX_free(sha);
	free(piece);
	errno = saved;
	return (rc);
}

/* An ETag as S3 writes it in XML or a header, without quotes. */
static char *
s3_etag_clean(const char *e)
{
	struct buf	 b;

	buf_init(&b);
	while (*e != '\0') {
		if (strncmp(e, "&quot;", 6) == 0)
			e += 6;
		else if (strncmp(e, "&#34;", 5) == 0)
			e += 5;
		else if (*e == '"' || *e == ' ')
			e++;
		else
			buf_add(&b, e++, 1);
	}
	return (buf_take(&b));
}

/* The parts of a multipart upload, and how large each is. */
static uint64_t
s3_part_size(uint64_t size)
{
	uint64_t	 part = S3_PART_SIZE;

	/* S3 takes at most 10000 parts: larger files get larger parts */
	while (size / part >= S3_MAX_PARTS)
		part *= 2;
	return (part);
}

/* Give up a multipart upload so its parts do not linger (and cost). */
static void
s3_abort_upload(const struct source *via, const char *bucket,
    const char *key, const char *upload_id)
{
	struct sigv4_param	 q[1];
	struct s3_call		 call = { .method = "DELETE" };
	struct s3_request	 rq;
	char			*cause = NULL;
	long			 code;

	q[0] = (struct sigv4_param){ "uploadId", upload_id };
	call.bucket = bucket;
	call.key = key;
	call.query = q;
	call.nquery = 1;
	call.verb = "abort the multipart upload of";
	memset(&rq, 0, sizeof rq);
	rq.limit = S3_XML_LIMIT;
	code = s3_perform(via, &call, &rq, &cause);
	if (code != 204 && code != 200 && code != 404)
		log_warnx("cannot abort the multipart upload %s of '%s' in "
		    "bucket '%s' (code %ld%s%s): its parts stay until a "
		    "lifecycle rule removes them", upload_id, key, bucket,
		    code, cause != NULL ? ": " : "", cause != NULL ? cause :
		    "");
	free(cause);
	s3_request_clear(&rq);
}

/* A job error from a file that could not be read for an upload. */
static void
s3_read_error(struct job_error *err, const char *key, const char *bucket,
    int e)
{
	job_error_set(err, ERROR_IO, JOB_RETRY, "cannot read what goes to "
	    "'%s' in bucket '%s': %s", key, bucket, strerror(e));
}

/*
 * A multipart upload of size bytes of fd: CreateMultipartUpload, parts
 * of S3_PART_SIZE (or more) each sent with its Content-MD5 and checked
 * against the ETag the server answers, then CompleteMultipartUpload,
 * whose ETag must be the MD5 of the parts' MD5s, "-" and their number,
 * as AWS, Ceph and MinIO make it (or the MD5 of the whole object, which
 * some servers answer instead: checked too). On any failure the upload
 * is aborted.
 */
static int
s3_put_multipart(const struct source *via, const char *bucket,
    const char *key, int fd, uint64_t size, const char *mime,
    const char *from_source, EVP_MD_CTX *whole, struct job_error *err)
{
	struct sigv4_param	 q[2];
	struct s3_call		 call;
	struct s3_request	 rq;
	struct s3_digest	 d;
	struct buf		 xml;
	EVP_MD_CTX		*md5s, *all;
	unsigned char		 sum[EVP_MAX_MD_SIZE];
	unsigned int		 n;
	uint64_t		 part, off, len, nparts, i;
	char			 num[24], hex[33], whole_md5[33];
	char			*upload = NULL, *etag = NULL;
	char			*cause = NULL, *what = NULL, *want = NULL;
	long			 code;
	int			 rc = -1;

	part = s3_part_size(size);
	nparts = (size + part - 1) / part;
	buf_init(&xml);
	md5s = EVP_MD_CTX_new();
	all = EVP_MD_CTX_new();
	if (md5s == NULL || all == NULL)
		fatalx("EVP_MD_CTX_new: out of memory");
	EVP_DigestInit_ex(md5s, EVP_md5(), NULL);
	EVP_DigestInit_ex(all, EVP_md5(), NULL);

	/* CreateMultipartUpload: POST ?uploads */
	memset(&call, 0, sizeof call);
	q[0] = (struct sigv4_param){ "uploads", NULL };
	call.method = "POST";
	call.bucket = bucket;
	call.key = key;
	call.query = q;
	call.nquery = 1;
	call.mime = mime;
	call.meta_source = from_source;
	call.verb = "start a multipart upload of";
	memset(&rq, 0, sizeof rq);
	rq.limit = S3_XML_LIMIT;
	code = s3_perform(via, &call, &rq, &cause);
	if (code == 200)
		upload = s3_xml_value(rq.body, "UploadId");
	if (code != 200 || upload == NULL || *upload == '\0') {
		xasprintf(&what, "start a multipart upload of '%s' in bucket "
		    "'%s'", key, bucket);
		if (code == 200)
			job_error_set(err, ERROR_STORAGE, JOB_RETRY, "cannot "
			    "%s: the answer has no UploadId", what);
		else
			s3_job_error(err, ERROR_STORAGE, via, bucket, what,
			    code, &rq, cause);
		s3_request_clear(&rq);
		free(upload);
		upload = NULL;
		goto out;
	}
	s3_request_clear(&rq);

	/* UploadPart: PUT ?partNumber=N&uploadId=ID, each with its MD5 */
	buf_printf(&xml, "<CompleteMultipartUpload>");
	for (i = 0; i < nparts; i++) {
		off = i * part;
		len = size - off < part ? size - off : part;
		if (s3_digest_range(fd, (off_t)off, len, &d, whole,
		    all) != 0) {
			s3_read_error(err, key, bucket, errno);
			goto out;
		}
		EVP_DigestUpdate(md5s, d.md5, sizeof d.md5);
		snprintf(num, sizeof num, "%" PRIu64, i + 1);
		q[0] = (struct sigv4_param){ "partNumber", num };
		q[1] = (struct sigv4_param){ "uploadId", upload };
		memset(&call, 0, sizeof call);
		call.method = "PUT";
		call.bucket = bucket;
		call.key = key;
		call.query = q;
		call.nquery = 2;
		call.put_file = 1;
		call.put_fd = fd;
		call.put_fd_off = (off_t)off;
		call.put_len = len;
		call.content_md5 = d.md5_b64;
		call.payload_hash = d.sha256_hex;
		call.verb = "upload a part of";
		memset(&rq, 0, sizeof rq);
		rq.limit = S3_XML_LIMIT;
		code = s3_perform(via, &call, &rq, &cause);
		free(what);
		xasprintf(&what, "upload part %s of %" PRIu64 " of '%s' to "
		    "bucket '%s'", num, nparts, key, bucket);
		if (rq.io_errno != 0) {
			free(cause);
			s3_read_error(err, key, bucket, rq.io_errno);
			s3_request_clear(&rq);
			goto out;
		}
		if (code != 200) {
			s3_job_error(err, ERROR_STORAGE, via, bucket, what,
			    code, &rq, cause);
			s3_request_clear(&rq);
			goto out;
		}
		free(etag);
		etag = s3_etag_clean(rq.etag != NULL ? rq.etag : "");
		s3_request_clear(&rq);
		if (strcmp(etag, d.md5_hex) != 0) {
			job_error_set(err, ERROR_STORAGE, JOB_RETRY, "cannot "
			    "%s: the server's ETag '%s' is not the MD5 of what "
			    "was sent (%s): the part was damaged on the way or "
			    "the bucket encrypts with KMS", what, etag,
			    d.md5_hex);
			goto out;
		}
		buf_printf(&xml, "<Part><PartNumber>%s</PartNumber>"
		    "<ETag>\"%s\"</ETag></Part>", num, etag);
	}
	buf_printf(&xml, "</CompleteMultipartUpload>");
	EVP_DigestFinal_ex(md5s, sum, &n);
	s3_hex(sum, 16, hex);
	xasprintf(&want, "%s-%" PRIu64, hex, nparts);
	EVP_DigestFinal_ex(all, sum, &n);
	s3_hex(sum, 16, whole_md5);

	/* CompleteMultipartUpload: POST ?uploadId=ID with the parts */
	q[0] = (struct sigv4_param){ "uploadId", upload };
	memset(&call, 0, sizeof call);
	call.method = "POST";
	call.bucket = bucket;
	call.key = key;
	call.query = q;
	call.nquery = 1;
	call.mime = "application/xml";
	call.put_data = xml.s;
	call.put_len = xml.len;
	call.verb = "complete the multipart upload of";
	memset(&rq, 0, sizeof rq);
	rq.limit = S3_XML_LIMIT;
	code = s3_perform(via, &call, &rq, &cause);
	free(what);
	xasprintf(&what, "complete the multipart upload of '%s' in bucket "
	    "'%s'", key, bucket);
	/* an error may come in a 200's body, after the parts were read */
	if (code == 200 && rq.body != NULL && strstr(rq.body, "<Error>") !=
	    NULL)
		code = 500;
	if (code != 200) {
		s3_job_error(err, ERROR_STORAGE, via, bucket, what, code, &rq,
		    cause);
		s3_request_clear(&rq);
		goto out;
	}
	/* the object is made: there is no upload left to abort */
	FREE_NULL(upload);
	free(etag);
	etag = s3_xml_value(rq.body, "ETag");
	if (etag == NULL && rq.etag != NULL)
		etag = xstrdup(rq.etag);
	cause = etag;
	etag = s3_etag_clean(cause == NULL ? "" : cause);
	free(cause);
	cause = NULL;
	s3_request_clear(&rq);
	if (*etag == '\0') {
		/* Ceph RGW answers <ETag></ETag>: ask the object itself */
		memset(&call, 0, sizeof call);
		call.method = "HEAD";
		call.bucket = bucket;
		call.key = key;
		memset(&rq, 0, sizeof rq);
		code = s3_perform(via, &call, &rq, &cause);
		if (code != 200) {
			s3_job_error(err, ERROR_STORAGE, via, bucket, what,
			    code, &rq, cause);
			s3_request_clear(&rq);
			goto out;
		}
		free(etag);
		etag = s3_etag_clean(rq.etag != NULL ? rq.etag : "");
		s3_request_clear(&rq);
	}
	if (strcmp(etag, want) != 0 && strcmp(etag, whole_md5) != 0) {
		job_error_set(err, ERROR_STORAGE, JOB_RETRY, "cannot %s: the "
		    "server's ETag '%s' is neither the MD5 of the parts' MD5s "
		    "(%s) nor that of the file (%s): the object it made is not "
		    "what was sent", what, etag, want, whole_md5);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0 && upload != NULL)
		s3_abort_upload(via, bucket, key, upload);
	EVP_MD_CTX_free(md5s);
	EVP_MD_CTX_free(all);
	buf_clear(&xml);
	free(upload);
	free(etag);
	free(what);
	free(want);
	return (rc);
}

/*
 * PUT size bytes of an open file as an object, marked as objwatch's:
 * whole with its Content-MD5 (the server checks it) below
 * S3_MULTIPART_AT, in checked parts from there. The file is read in
 * pieces, so memory stays flat whatever its size; sha256 is the hex
 * SHA-256 of what was uploaded.
 */
int
s3_put_file(const struct source *via, const char *bucket, const char *key,
    int fd, uint64_t size, const char *mime, const char *from_source,
    char sha256[65], struct job_error *err)
{
	struct s3_call		 call = { .method = "PUT" };
	struct s3_request	 rq;
	struct s3_digest	 d;
	EVP_MD_CTX		*whole;
	unsigned char		 sum[EVP_MAX_MD_SIZE];
	unsigned int		 n;
	char			*cause = NULL, *what;
	long			 code;
	int			 rc = -1;

	if ((whole = EVP_MD_CTX_new()) == NULL)
		fatalx("EVP_MD_CTX_new: out of memory");
	EVP_DigestInit_ex(whole, EVP_sha256(), NULL);
	if (size >= S3_MULTIPART_AT) {
		rc = s3_put_multipart(via, bucket, key, fd, size, mime,
		    from_source, whole, err);
		goto out;
	}
	if (s3_digest_range(fd, 0, size, &d, whole, NULL) != 0) {
		s3_read_error(err, key, bucket, errno);
		goto out;
	}
	call.bucket = bucket;
	call.key = key;
	call.mime = mime;
	call.meta_source = from_source;
	call.put_file = 1;
	call.put_fd = fd;
	call.put_len = size;
	call.content_md5 = d.md5_b64;
	call.payload_hash = d.sha256_hex;
	memset(&rq, 0, sizeof rq);
	rq.limit = S3_XML_LIMIT;
	code = s3_perform(via, &call, &rq, &cause);
	if (rq.io_errno != 0) {
		free(cause);
		s3_read_error(err, key, bucket, rq.io_errno);
	} else if (code != 200) {
		xasprintf(&what, "put '%s' in bucket '%s'", key, bucket);
		s3_job_error(err, ERROR_STORAGE, via, bucket, what, code, &rq,
		    cause);
		free(what);
	} else
		rc = 0;
	s3_request_clear(&rq);
out:
	if (rc == 0) {
		EVP_DigestFinal_ex(whole, sum, &n);
		s3_hex(sum, 32, sha256);
	}
	EVP_MD_CTX_free(whole);
	return (rc);
}

/*
 * DELETE an output whose object was deleted (on_delete = remove). One
 * already gone counts as removed. Returns 0, or -1 with *cause.
 */
int
s3_delete(const struct source *via, const char *bucket, const char *key,
    char **cause)
{
	struct s3_call		 call = { .method = "DELETE" };
	struct s3_request	 rq;
	char			*what;
	long			 code;
	int			 how;

	call.bucket = bucket;
	call.key = key;
	memset(&rq, 0, sizeof rq);
	rq.limit = S3_XML_LIMIT;
	code = s3_perform(via, &call, &rq, cause);
	if (code != -1 && code != 204 && code != 200 && code != 404) {
		xasprintf(&what, "delete '%s' in bucket '%s'", key, bucket);
		*cause = s3_error_explain(via, bucket, what, 1, code, rq.body,
		    rq.bucket_region, &how);
		free(what);
	}
	s3_request_clear(&rq);
	return (code == 204 || code == 200 || code == 404 ? 0 : -1);
}

/*
 * HEAD an object for the ETag and size an event did not give. Returns 0,
 * 1 when it does not exist (any more), -1 with *cause on other failures.
 */
int
s3_head(const struct source *src, const char *key, char **etag,
    int64_t *size, char **cause)
{
	struct s3_call		 call = { .method = "HEAD", .key = key };
	struct s3_request	 rq;
	char			*what;
	long			 code;
	int			 how, rc = -1;

	call.bucket = src->bucket;
	memset(&rq, 0, sizeof rq);
	code = s3_perform(src, &call, &rq, cause);
	if (code == 200 && rq.etag != NULL) {
		*etag = rq.etag;
		*size = (int64_t)rq.content_length;
		rq.etag = NULL;
		rc = 0;
	} else if (code == 404)
		rc = 1;
	else if (code != -1) {
		xasprintf(&what, "head '%s' in bucket '%s'", key, src->bucket);
		*cause = s3_error_explain(src, src->bucket, what, 1, code,
		    rq.body, rq.bucket_region, &how);
		free(what);
	}
	s3_request_clear(&rq);
	return (rc);
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

static void
s3_listing_push(struct s3_listing *l, const char *key, const char *etag,
    uint64_t size, int64_t mtime)
{
	struct s3_object	*o;

	if (l->n == l->size) {
		l->size = l->size == 0 ? 1024 : l->size * 2;
		l->v = xreallocarray(l->v, l->size, sizeof *l->v);
	}
	o = &l->v[l->n++];
	o->key = xstrdup(key);
	o->etag = etag_unquote(etag);	/* libxml2 decoded &quot; */
	o->size = size;
	o->mtime = mtime;
}

/* Seconds since the epoch of an ISO 8601 time, e.g. 2009-10-12T17:50:30.000Z. */
static int64_t
s3_parse_time(const char *s)
{
	struct tm	 tm;

	memset(&tm, 0, sizeof tm);
	if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return (0);
	return ((int64_t)timegm(&tm));
}

static const char *
s3_node_text(xmlNode *n)
{
	return (n->children != NULL && n->children->type == XML_TEXT_NODE ?
	    (const char *)n->children->content : "");
}

static int
s3_node_is(xmlNode *n, const char *name)
{
	return (n->type == XML_ELEMENT_NODE &&
	    strcmp((const char *)n->name, name) == 0);
}

/* libxml2 reports to stderr unless told not to; errors are read back. */
static void
s3_xml_quiet(void *arg, const char *fmt, ...)
{
}

static void
s3_xml_quiet_structured(void *arg, xmlErrorPtr e)
{
}

/*
 * Parse one ListObjectsV2 page (a ListBucketResult) into l, appending
 * all of its objects or, when it fails, none. *truncated and *next_token
 * (NULL when none) say whether more follow.
 */
int
s3_list_parse(const char *xml, size_t len, struct s3_listing *l,
    int *truncated, char **next_token, char **cause)
{
	xmlDoc		*doc;
	xmlNode		*root, *n, *f;
	const xmlError	*e;
	const char	*key, *etag, *mtime, *size;
	char		*decoded = NULL, *token = NULL, *end;
	int		 url = 0, trunc = 0, rc = -1;
	unsigned long long sz;
	size_t		 had = l->n;

	if (len > INT32_MAX) {
		xasprintf(cause, "the listing is %zu bytes, not an S3 page",
		    len);
		return (-1);
	}
	/* per thread in libxml2: this thread's parses only */
	xmlSetGenericErrorFunc(NULL, s3_xml_quiet);
	xmlSetStructuredErrorFunc(NULL, s3_xml_quiet_structured);
	doc = xmlReadMemory(xml, (int)len, "listing.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	    XML_PARSE_NOBLANKS);
	if (doc == NULL) {
		e = xmlGetLastError();
		xasprintf(cause, "the listing is not well-formed XML: %.*s "
		    "(line %d of %zu bytes)", e != NULL && e->message != NULL ?
		    (int)strcspn(e->message, "\n") : 7, e != NULL &&
		    e->message != NULL ? e->message : "no root", e != NULL ?
		    e->line : 0, len);
		return (-1);
	}
	root = xmlDocGetRootElement(doc);
	if (root == NULL || !s3_node_is(root, "ListBucketResult")) {
		xasprintf(cause, "the listing is XML but not a "
		    "ListBucketResult (root element '%s')", root == NULL ?
		    "none" : (const char *)root->name);
		goto out;
	}
	/* EncodingType may come after the keys: find it first */
	for (n = root->children; n != NULL; n = n->next) {
		if (s3_node_is(n, "EncodingType"))
			url = strcasecmp(s3_node_text(n), "url") == 0;
		else if (s3_node_is(n, "IsTruncated"))
			trunc = strcmp(s3_node_text(n), "true") == 0;
		else if (s3_node_is(n, "NextContinuationToken")) {
			free(token);
			token = xstrdup(s3_node_text(n));
		}
	}
	for (n = root->children; n != NULL; n = n->next) {
		if (!s3_node_is(n, "Contents"))
			continue;
		key = etag = mtime = size = NULL;
		for (f = n->children; f != NULL; f = f->next) {
			if (s3_node_is(f, "Key"))
				key = s3_node_text(f);
			else if (s3_node_is(f, "ETag"))
				etag = s3_node_text(f);
			else if (s3_node_is(f, "LastModified"))
				mtime = s3_node_text(f);
			else if (s3_node_is(f, "Size"))
				size = s3_node_text(f);
		}
		if (key == NULL || *key == '\0' || size == NULL) {
			xasprintf(cause, "the listing has an entry without "
			    "%s", key == NULL || *key == '\0' ? "a Key" :
			    "a Size");
			goto out;
		}
		if (url && (decoded = url_form_decode(key)) == NULL) {
			xasprintf(cause, "the listing has a key that is not "
			    "URL-encoded as asked: '%s'", key);
			goto out;
		}
		sz = strtoull(size, &end, 10);
		if (*end != '\0') {
			xasprintf(cause, "the listing gives key '%s' a size "
			    "of '%s'", url ? decoded : key, size);
			goto out;
		}
		s3_listing_push(l, url ? decoded : key, etag == NULL ? "" :
		    etag, sz, s3_parse_time(mtime));
		FREE_NULL(decoded);
	}
	if (trunc && (token == NULL || *token == '\0')) {
		xasprintf(cause, "the listing says more keys follow but gives "
		    "no NextContinuationToken");
		goto out;
	}
	*truncated = trunc;
	*next_token = trunc ? token : NULL;
	if (trunc)
		token = NULL;
	rc = 0;
out:
	while (rc != 0 && l->n > had) {
		l->n--;
		free(l->v[l->n].key);
		free(l->v[l->n].etag);
	}
	free(decoded);
	free(token);
	xmlFreeDoc(doc);
	return (rc);
}

/*
 * Ask for one ListObjectsV2 page of the source's prefix, appending its
 * objects to l; start_after or token (the previous page's) may be NULL.
 * *next_token is the next page's token, NULL after the last page.
 */
int
s3_list_page(const struct source *src, const char *start_after,
    const char *token, int max_keys, struct s3_listing *l,
    char **next_token, char **cause)
{
	struct sigv4_param	 q[6];
	struct s3_call		 call = { .method = "GET" };
	struct s3_request	 rq;
	char			 mk[16], *what, *why;
	long			 code;
	int			 truncated = 0, how, rc = -1;
	size_t			 n = 0;

	snprintf(mk, sizeof mk, "%d", max_keys);
	q[n++] = (struct sigv4_param){ "list-type", "2" };
	q[n++] = (struct sigv4_param){ "encoding-type", "url" };
	q[n++] = (struct sigv4_param){ "max-keys", mk };
	if (*src->prefix != '\0')
		q[n++] = (struct sigv4_param){ "prefix", src->prefix };
	if (token != NULL)
		q[n++] = (struct sigv4_param){ "continuation-token", token };
	else if (start_after != NULL)
		q[n++] = (struct sigv4_param){ "start-after", start_after };
	call.bucket = src->bucket;
	call.query = q;
	call.nquery = n;
	memset(&rq, 0, sizeof rq);
	rq.limit = S3_XML_LIMIT;
	l->requests++;
	code = s3_perform(src, &call, &rq, cause);
	if (code == -1)
		goto out;
	xasprintf(&what, "list bucket '%s' on %s", src->bucket,
	    src->endpoint);
	if (rq.over_limit)
		xasprintf(cause, "cannot %s: the answer is over %" PRIu64
		    " bytes, not an S3 listing page", what, rq.limit);
	else if (code != 200)
		*cause = s3_error_explain(src, src->bucket, what, 0, code,
		    rq.body, rq.bucket_region, &how);
	else if (s3_list_parse(rq.body == NULL ? "" : rq.body, rq.len, l,
	    &truncated, next_token, &why) != 0) {
		xasprintf(cause, "cannot %s: %s", what, why);
		free(why);
	} else
		rc = 0;
	free(what);
out:
	s3_request_clear(&rq);
	return (rc);
}

/* What a libs3 listing's callbacks fill (signature = v2). */
struct s3_list_state {
	struct s3_listing	*out;
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
	int			 i;

	for (i = 0; i < count; i++)
		s3_listing_push(ls->out, contents[i].key,
		    contents[i].eTag != NULL ? contents[i].eTag : "",
		    contents[i].size, contents[i].lastModified);
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
 * List through libs3, signed V2 (ListObjects version 1, markers): every
 * page of max_keys, or only the first when one_page.
 */
static int
s3_list_v2(const struct source *src, int max_keys, int one_page,
    struct s3_listing *l, char **cause)
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
	memset(&h, 0, sizeof h);
	h.responseHandler.propertiesCallback = s3_list_props_cb;
	h.responseHandler.completeCallback = s3_list_done_cb;
	h.listBucketCallback = s3_list_cb;
	memset(&ls, 0, sizeof ls);
	ls.out = l;
	do {
		ls.truncated = 0;
		ls.status = S3StatusInternalError;
		l->requests++;
		S3_list_bucket(&bc, *src->prefix == '\0' ? NULL : src->prefix,
		    ls.marker, NULL, max_keys, NULL, &h, &ls);
		if (ls.status != S3StatusOK) {
			xasprintf(cause, "cannot list bucket '%s' on %s "
			    "(signature = v2): %s%s%s%s", src->bucket,
			    src->endpoint, S3_get_status_name(ls.status),
			    ls.error != NULL ? ": " : "", ls.error != NULL ?
			    ls.error : "", ls.status ==
			    S3StatusErrorSignatureDoesNotMatch || ls.status ==
			    S3StatusErrorInvalidAccessKeyId ? ": check "
			    "access_key and secret_key, and whether the server "
			    "wants signature = v4" : "");
			rc = -1;
			break;
		}
	} while (!one_page && ls.truncated && ls.marker != NULL);
	free(ls.marker);
	free(ls.error);
	return (rc);
}

/*
 * List every object under the source's prefix, 1000 keys a request, into
 * *l (in the server's order: S3 sorts by the keys' UTF-8 bytes).
 */
int
s3_list(const struct source *src, struct s3_listing *l, char **cause)
{
	char	*token = NULL, *next;
	int	 rc = 0;

	memset(l, 0, sizeof *l);
	if (src->signature == S3_SIGNATURE_V2)
		rc = s3_list_v2(src, 1000, 0, l, cause);
	else
		do {
			next = NULL;
			rc = s3_list_page(src, NULL, token, 1000, l, &next,
			    cause);
			free(token);
			token = next;
		} while (rc == 0 && token != NULL);
	if (rc != 0)
		s3_listing_clear(l);
	free(token);
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

/*
 * Try one signed listing of the source's bucket (one key), as `objwatch
 * check --connect` does. Returns 0 with a line saying what answered, or
 * -1 with the explained failure; either way *report is the caller's.
 */
int
s3_check_connect(const struct source *src, char **report)
{
	struct s3_listing	 l;
	char			*next = NULL, *cause = NULL;
	int			 rc;

	memset(&l, 0, sizeof l);
	if (src->signature == S3_SIGNATURE_V2)
		rc = s3_list_v2(src, 1, 1, &l, &cause);
	else
		rc = s3_list_page(src, NULL, NULL, 1, &l, &next, &cause);
	if (rc == 0)
		xasprintf(report, "source '%s': listed bucket '%s'%s%s on "
		    "%s://%s (signature %s%s%s): %s", src->name, src->bucket,
		    *src->prefix != '\0' ? " under " : "", src->prefix,
		    src->https ? "https" : "http", src->endpoint,
		    src->signature == S3_SIGNATURE_V2 ? "V2" : "V4",
		    src->signature == S3_SIGNATURE_V2 ? "" : ", region ",
		    src->signature == S3_SIGNATURE_V2 ? "" : src->region,
		    l.n > 0 ? "ok, it holds objects" : "ok, no objects yet");
	else
		xasprintf(report, "source '%s': %s", src->name, cause);
	free(cause);
	free(next);
	s3_listing_clear(&l);
	return (rc);
}
