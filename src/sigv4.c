/*
 * AWS Signature Version 4 for S3 requests.
 *
 * No Debian 12 library signs V4 correctly for S3: libs3 2.0 signs V2 only,
 * and curl 7.88's CURLOPT_AWS_SIGV4 canonicalises paths and queries in
 * ways S3 rejects (fixed in curl 8). So the canonical request is built
 * here, from the request exactly as it will be sent:
 *
 *	METHOD \n URI \n QUERY \n HEADERS \n SIGNED-HEADERS \n PAYLOAD-HASH
 *
 * URI is the path with each byte outside RFC 3986's unreserved set
 * (A-Z a-z 0-9 - . _ ~) written %XX, '/' kept; S3 wants it encoded once,
 * as sent, with no dot-segment removal. QUERY is every parameter, name and
 * value encoded the same way ('/' too), sorted by encoded name then value,
 * an absent value written as "name=". HEADERS are lower-case names with
 * trimmed values (inner runs of spaces made one), sorted by name.
 *
 * The signing key is HMAC-SHA256 chained over "AWS4" SECRET, the date,
 * the region, the service and "aws4_request"; the signature is the hex
 * HMAC of the string to sign under it. The same code builds the URL that
 * curl sends (sigv4_uri_encode, sigv4_query), so what is signed and what
 * is sent cannot drift apart.
 *
 * Checked against AWS's published examples in tests/unit/t-sigv4.c.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "objwatch.h"
#include "banned.h"

/* The SHA-256 of nothing: the payload hash of a request without a body. */
const char sigv4_empty_hash[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static const char hexdigits[] = "0123456789abcdef";

static void
sigv4_hex(const unsigned char *in, size_t len, char *out)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* Write the lower-case hex SHA-256 of len bytes at data into out[65]. */
void
sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	sigv4_hex(md, mdlen, out);
}

/* Write t as the ISO 8601 basic form V4 signs with (20130524T000000Z). */
void
sigv4_amz_date(time_t t, char out[17])
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/*
 * Percent-encode s as V4 and the SDKs do: unreserved bytes as they are,
 * '/' as it is unless encode_slash, everything else %XX (upper case).
 */
char *
sigv4_uri_encode(const char *s, int encode_slash)
{
	static const char	 upper[] = "0123456789ABCDEF";
	const unsigned char	*p;
	char			*out, *o;

	o = out = xmalloc(strlen(s) * 3 + 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (isascii(*p) && (isalnum(*p) || *p == '-' || *p == '.' ||
		    *p == '_' || *p == '~' || (*p == '/' && !encode_slash)))
			*o++ = (char)*p;
		else {
			*o++ = '%';
			*o++ = upper[*p >> 4];
			*o++ = upper[*p & 15];
		}
	}
	*o = '\0';
	return (out);
}

/* One query parameter, encoded, for sorting. */
struct sigv4_pair {
	char	*name;
	char	*value;
};

static int
sigv4_pair_cmp(const void *a, const void *b)
{
	const struct sigv4_pair	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->name, y->name)) != 0)
		return (c);
	return (strcmp(x->value, y->value));
}

/*
 * The canonical query string of n parameters: encoded, sorted, joined by
 * '&'. It is also the query string to send. A NULL value is sent as
 * "name=", which S3 reads the same as a bare "name".
 */
char *
sigv4_query(const struct sigv4_param *params, size_t n)
{
	struct sigv4_pair	*v;
	struct buf		 b;
	size_t			 i;

	buf_init(&b);
	if (n == 0)
		return (buf_take(&b));
	v = xcalloc(n, sizeof *v);
	for (i = 0; i < n; i++) {
		v[i].name = sigv4_uri_encode(params[i].name, 1);
		v[i].value = sigv4_uri_encode(params[i].value == NULL ? "" :
		    params[i].value, 1);
	}
	qsort(v, n, sizeof *v, sigv4_pair_cmp);
	for (i = 0; i < n; i++) {
		buf_printf(&b, "%s%s=%s", i == 0 ? "" : "&", v[i].name,
		    v[i].value);
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
	return (buf_take(&b));
}

/* A header prepared for signing: lower-case name, trimmed value. */
struct sigv4_hdr {
	char	*name;
	char	*value;
};

static int
sigv4_hdr_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct sigv4_hdr *)a)->name,
	    ((const struct sigv4_hdr *)b)->name));
}

/* A value with leading and trailing space dropped, inner runs made one. */
static char *
sigv4_trim(const char *v)
{
	char	*out, *o;
	int	 space = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	o = out = xmalloc(strlen(v) + 1);
	for (; *v != '\0'; v++) {
		if (*v == ' ' || *v == '\t') {
			space = 1;
			continue;
		}
		if (space && o != out)
			*o++ = ' ';
		space = 0;
		*o++ = *v;
	}
	*o = '\0';
	return (out);
}

static void
sigv4_hmac(const void *key, size_t keylen, const char *msg,
    unsigned char out[32])
{
	unsigned int	 len = 32;

	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg,
	    strlen(msg), out, &len);
}

/*
 * The value of the Authorization header for rq. When canonical is not
 * NULL it gets the canonical request and the string to sign, for debug
 * logs and tests.
 */
char *
sigv4_authorization(const struct sigv4_request *rq, char **canonical)
{
	struct sigv4_hdr	*h;
	struct buf		 creq, names, sts, auth;
	char			 date[9], hash[65], sig[65], *uri, *query;
	char			*secret;
	unsigned char		 k[32];
	size_t			 i, j;

	h = xcalloc(rq->nheaders + 1, sizeof *h);
	for (i = 0; i < rq->nheaders; i++) {
		h[i].name = xstrdup(rq->headers[i].name);
		for (j = 0; h[i].name[j] != '\0'; j++)
			h[i].name[j] = (char)tolower((unsigned char)
			    h[i].name[j]);
		h[i].value = sigv4_trim(rq->headers[i].value);
	}
	qsort(h, rq->nheaders, sizeof *h, sigv4_hdr_cmp);

	uri = sigv4_uri_encode(rq->path, 0);
	query = sigv4_query(rq->query, rq->nquery);
	buf_init(&creq);
	buf_init(&names);
	buf_printf(&creq, "%s\n%s\n%s\n", rq->method, uri, query);
	for (i = 0; i < rq->nheaders; i++) {
		buf_printf(&creq, "%s:%s\n", h[i].name, h[i].value);
		buf_printf(&names, "%s%s", i == 0 ? "" : ";", h[i].name);
	}
	buf_printf(&creq, "\n%s\n%s", names.s, rq->payload_hash);
	sha256_hex(creq.s, creq.len, hash);

	memcpy(date, rq->amz_date, 8);
	date[8] = '\0';
	buf_init(&sts);
	buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
	    rq->amz_date, date, rq->region, rq->service, hash);

	xasprintf(&secret, "AWS4%s", rq->secret_key);
	sigv4_hmac(secret, strlen(secret), date, k);
	explicit_bzero(secret, strlen(secret));
	free(secret);
	sigv4_hmac(k, sizeof k, rq->region, k);
	sigv4_hmac(k, sizeof k, rq->service, k);
	sigv4_hmac(k, sizeof k, "aws4_request", k);
	sigv4_hmac(k, sizeof k, sts.s, k);
	sigv4_hex(k, sizeof k, sig);
	explicit_bzero(k, sizeof k);

	buf_init(&auth);
	buf_printf(&auth, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/"
	    "aws4_request,SignedHeaders=%s,Signature=%s", rq->access_key,
	    date, rq->region, rq->service, names.s, sig);
	if (canonical != NULL)
		xasprintf(canonical, "%s\n----\n%s", creq.s, sts.s);

	for (i = 0; i < rq->nheaders; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
	free(uri);
	free(query);
	buf_clear(&creq);
	buf_clear(&names);
	buf_clear(&sts);
	return (buf_take(&auth));
}
