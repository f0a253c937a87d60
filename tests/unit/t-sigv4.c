/*
 * AWS Signature V4: the signer against the examples AWS publishes in
 * "Signature Calculations for the Authorization Header: Transferring
 * Payload in a Single Chunk" (Amazon S3 API reference): the same keys,
 * time and requests, and the signatures printed there.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "tap.h"

#define EX_ACCESS	"AKIAIOSFODNN7EXAMPLE"
#define EX_SECRET	"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EX_DATE		"20130524T000000Z"
#define EX_HOST		"examplebucket.s3.amazonaws.com"
#define EX_CRED		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/" \
			"20130524/us-east-1/s3/aws4_request,"

static void
example(struct sigv4_request *rq, const char *method, const char *path)
{
	memset(rq, 0, sizeof *rq);
	rq->method = method;
	rq->path = path;
	rq->region = "us-east-1";
	rq->service = "s3";
	rq->access_key = EX_ACCESS;
	rq->secret_key = EX_SECRET;
	rq->amz_date = EX_DATE;
	rq->payload_hash = sigv4_empty_hash;
}

static void
check(const struct sigv4_request *rq, const char *want, const char *what)
{
	char	*auth;

	auth = sigv4_authorization(rq, NULL);
	is_str(auth, want, "%s", what);
	free(auth);
}

int
main(void)
{
	struct sigv4_request	 rq;
	char			 hash[65], date[17], *s, *canon, *auth, *auth2;
	const char		*put_body = "Welcome to Amazon S3.";

	plan(23);

	/* GET Object, with a Range header */
	{
		const struct sigv4_param h[] = {
			{ "Host", EX_HOST },
			{ "Range", "bytes=0-9" },
			{ "x-amz-content-sha256", sigv4_empty_hash },
			{ "x-amz-date", EX_DATE },
		};
		example(&rq, "GET", "/test.txt");
		rq.headers = h;
		rq.nheaders = nitems(h);
		check(&rq, EX_CRED "SignedHeaders=host;range;"
		    "x-amz-content-sha256;x-amz-date,Signature="
		    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c603"
		    "6bdb41", "GET Object example: AWS's signature");
		auth = sigv4_authorization(&rq, &canon);
		is_str(canon, "GET\n/test.txt\n\n"
		    "host:examplebucket.s3.amazonaws.com\n"
		    "range:bytes=0-9\n"
		    "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae"
		    "41e4649b934ca495991b7852b855\n"
		    "x-amz-date:20130524T000000Z\n\n"
		    "host;range;x-amz-content-sha256;x-amz-date\n"
		    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b78"
		    "52b855\n----\n"
		    "AWS4-HMAC-SHA256\n20130524T000000Z\n"
		    "20130524/us-east-1/s3/aws4_request\n"
		    "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964"
		    "946972", "GET Object example: AWS's canonical request and "
		    "string to sign");
		free(canon);
		free(auth);
	}

	/* PUT Object: a payload hash, a '$' in the key, a Date header */
	{
		const struct sigv4_param h[] = {
			{ "date", "Fri, 24 May 2013 00:00:00 GMT" },
			{ "host", EX_HOST },
			{ "x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771d"
			    "fbba87d2b6b4b4e99e42034a8b803f8b072" },
			{ "x-amz-date", EX_DATE },
			{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
		};
		sha256_hex(put_body, strlen(put_body), hash);
		is_str(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e4"
		    "2034a8b803f8b072", "PUT Object example: the payload hash");
		example(&rq, "PUT", "/test$file.text");
		rq.headers = h;
		rq.nheaders = nitems(h);
		rq.payload_hash = hash;
		check(&rq, EX_CRED "SignedHeaders=date;host;"
		    "x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
		    "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1"
		    "b5971af0ece108bd", "PUT Object example: AWS's signature");
		auth = sigv4_authorization(&rq, &canon);
		ok(strncmp(canon, "PUT\n/test%24file.text\n\n",
		    strlen("PUT\n/test%24file.text\n\n")) == 0,
		    "PUT Object example: '$' is %%24 in the canonical URI");
		free(canon);
		free(auth);
	}

	/* GET Bucket Lifecycle: a sub-resource without a value */
	{
		const struct sigv4_param h[] = {
			{ "host", EX_HOST },
			{ "x-amz-content-sha256", sigv4_empty_hash },
			{ "x-amz-date", EX_DATE },
		};
		const struct sigv4_param q[] = { { "lifecycle", NULL } };
		example(&rq, "GET", "/");
		rq.headers = h;
		rq.nheaders = nitems(h);
		rq.query = q;
		rq.nquery = nitems(q);
		check(&rq, EX_CRED "SignedHeaders=host;x-amz-content-sha256;"
		    "x-amz-date,Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d6"
		    "5c699e0f91ac7a200a0136783543",
		    "GET Bucket Lifecycle example: AWS's signature");
	}

	/* Get Bucket (List Objects): two parameters, given unsorted */
	{
		const struct sigv4_param h[] = {
			{ "x-amz-date", EX_DATE },
			{ "host", EX_HOST },
			{ "x-amz-content-sha256", sigv4_empty_hash },
		};
		const struct sigv4_param q[] = {
			{ "prefix", "J" },
			{ "max-keys", "2" },
		};
		example(&rq, "GET", "/");
		rq.headers = h;
		rq.nheaders = nitems(h);
		rq.query = q;
		rq.nquery = nitems(q);
		check(&rq, EX_CRED "SignedHeaders=host;x-amz-content-sha256;"
		    "x-amz-date,Signature=34b48302e7b5fa45bde8084f4b7868a86f0a"
		    "534bc59db6670ed5711ef69dc6f7",
		    "List Objects example: AWS's signature, query sorted here");

		/* a session token is signed: another signature, named */
		{
			const struct sigv4_param ht[] = {
				{ "x-amz-date", EX_DATE },
				{ "host", EX_HOST },
				{ "x-amz-content-sha256", sigv4_empty_hash },
				{ "x-amz-security-token", "FQoGZXIvYXdzE" },
			};
			auth = sigv4_authorization(&rq, NULL);
			rq.headers = ht;
			rq.nheaders = nitems(ht);
			auth2 = sigv4_authorization(&rq, NULL);
			ok(strstr(auth2, "SignedHeaders=host;"
			    "x-amz-content-sha256;x-amz-date;"
			    "x-amz-security-token,") != NULL,
			    "a session token is among the signed headers");
			ok(strcmp(strstr(auth, "Signature="),
			    strstr(auth2, "Signature=")) != 0,
			    "and changes the signature");
			free(auth);
			free(auth2);
		}
	}

	/* Header values are trimmed and inner spaces made one */
	{
		const struct sigv4_param a[] = {
			{ "Host", EX_HOST }, { "X-Amz-Meta-A", "  a   b  c " },
		};
		const struct sigv4_param b[] = {
			{ "host", EX_HOST }, { "x-amz-meta-a", "a b c" },
		};
		example(&rq, "GET", "/k");
		rq.headers = a;
		rq.nheaders = nitems(a);
		auth = sigv4_authorization(&rq, NULL);
		rq.headers = b;
		auth2 = sigv4_authorization(&rq, NULL);
		is_str(auth, auth2, "header names lower-cased, values trimmed");
		free(auth);
		free(auth2);
	}

	/* Encoding: RFC 3986 unreserved bytes only, once */
	s = sigv4_uri_encode("photos/IMG 0001+a%b~c_d-e.f.jpg", 0);
	is_str(s, "photos/IMG%200001%2Ba%25b~c_d-e.f.jpg",
	    "a path: space %%20, '+' %%2B, '%%' %%25, '/' kept");
	free(s);
	s = sigv4_uri_encode("a/b=c&d", 1);
	is_str(s, "a%2Fb%3Dc%26d", "a query value: '/', '=' and '&' encoded");
	free(s);
	s = sigv4_uri_encode("caf\xc3\xa9 \xe6\x97\xa5.jpg", 0);
	is_str(s, "caf%C3%A9%20%E6%97%A5.jpg", "UTF-8 bytes, upper-case hex");
	free(s);
	s = sigv4_uri_encode("!'()*:@,;", 0);
	is_str(s, "%21%27%28%29%2A%3A%40%2C%3B",
	    "sub-delimiters encoded, as S3 wants and JavaScript does not");
	free(s);
	s = sigv4_uri_encode("a/../b/./c", 0);
	is_str(s, "a/../b/./c", "dot segments are names, left as they are");
	free(s);
	{
		const struct sigv4_param q[] = {
			{ "prefix", "a b/" },
			{ "list-type", "2" },
			{ "continuation-token", "1/x+y=" },
			{ "encoding-type", "url" },
		};
		s = sigv4_query(q, nitems(q));
		is_str(s, "continuation-token=1%2Fx%2By%3D&encoding-type=url&"
		    "list-type=2&prefix=a%20b%2F",
		    "a query: sorted by name, names and values encoded");
		free(s);
	}
	{
		const struct sigv4_param q[] = { { "b", "2" }, { "a", "2" },
		    { "a", "1" } };
		s = sigv4_query(q, nitems(q));
		is_str(s, "a=1&a=2&b=2", "a repeated name: sorted by value");
		free(s);
	}
	s = sigv4_query(NULL, 0);
	is_str(s, "", "no parameters: an empty query");
	free(s);

	sigv4_amz_date(1369353600, date);
	is_str(date, "20130524T000000Z", "the V4 date of 2013-05-24 00:00 UTC");
	sigv4_amz_date(951782400 + 86399, date);
	is_str(date, "20000229T235959Z", "and of a leap day's last second");

	sha256_hex("", 0, hash);
	is_str(hash, sigv4_empty_hash, "the empty payload's hash");

	/* the secret and the date change the signature */
	{
		const struct sigv4_param h[] = { { "host", EX_HOST } };
		example(&rq, "GET", "/test.txt");
		rq.headers = h;
		rq.nheaders = 1;
		auth = sigv4_authorization(&rq, NULL);
		rq.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ";
		auth2 = sigv4_authorization(&rq, NULL);
		ok(strcmp(auth, auth2) != 0, "one byte of the secret changes "
		    "the signature");
		free(auth2);
		rq.secret_key = EX_SECRET;
		rq.region = "eu-west-1";
		auth2 = sigv4_authorization(&rq, NULL);
		ok(strstr(auth2, "/20130524/eu-west-1/s3/aws4_request,") !=
		    NULL && strcmp(strstr(auth, "Signature="),
		    strstr(auth2, "Signature=")) != 0,
		    "the region is in the scope and the signature");
		free(auth);
		free(auth2);
	}
	return (tap_failed != 0);
}
