/*
 * ListObjectsV2 pages: keys the server URL-encoded come back byte for
 * byte, a truncated page gives its token, and a page that is not what S3
 * sends fails with a message rather than a partial listing.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "tap.h"

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
	"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"

static const char page1[] = HEAD
	"<Name>photos</Name><Prefix></Prefix><KeyCount>4</KeyCount>"
	"<MaxKeys>4</MaxKeys><IsTruncated>true</IsTruncated>"
	"<Contents><Key>a%20b/IMG%200001.jpg</Key>"
	"<LastModified>2013-05-24T00:00:01.000Z</LastModified>"
	"<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>"
	"<Size>12345</Size><StorageClass>STANDARD</StorageClass></Contents>"
	"<Contents><Key>q%2B1.jpg</Key>"
	"<LastModified>2013-05-24T00:00:02.000Z</LastModified>"
	"<ETag>\"d41d8cd98f00b204e9800998ecf8427e-2\"</ETag>"
	"<Size>0</Size></Contents>"
	"<Contents><Key>100%25+sure.jpg</Key><ETag>\"e1\"</ETag>"
	"<Size>1</Size></Contents>"
	"<Contents><Key>caf%C3%A9/%E6%97%A5.jpg</Key><ETag>\"e2\"</ETag>"
	"<Size>2</Size></Contents>"
	"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
	"</NextContinuationToken>"
	"<EncodingType>url</EncodingType></ListBucketResult>";

int
main(void)
{
	struct s3_listing	 l;
	char			*token, *cause, *xml, *key;
	int			 truncated;
	size_t			 i;

	plan(29);

	memset(&l, 0, sizeof l);
	token = cause = NULL;
	ok(s3_list_parse(page1, strlen(page1), &l, &truncated, &token,
	    &cause) == 0, "a page with four keys parses");
	is_int(l.n, 4, "four objects");
	is_str(l.v[0].key, "a b/IMG 0001.jpg", "%%20 is a space");
	is_str(l.v[0].etag, "9b2cf535f27731c974343645a3985328",
	    "the ETag without its quotes");
	is_int(l.v[0].size, 12345, "the size");
	is_int(l.v[0].mtime, 1369353601, "LastModified in seconds");
	is_str(l.v[1].key, "q+1.jpg", "%%2B is a '+'");
	is_str(l.v[1].etag, "d41d8cd98f00b204e9800998ecf8427e-2",
	    "a multipart ETag kept whole");
	is_str(l.v[2].key, "100% sure.jpg", "%%25 is '%%', '+' a space (AWS)");
	is_str(l.v[3].key, "caf\xc3\xa9/\xe6\x97\xa5.jpg", "UTF-8 decoded");
	ok(truncated == 1, "the page says more follow");
	is_str(token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=",
	    "and gives the token for the next");
	free(token);
	s3_listing_clear(&l);

	/* a key of 1,024 bytes, encoded as 3,072 */
	key = xmalloc(1025);
	memset(key, 'k', 1024);
	key[1024] = '\0';
	memcpy(key + 500, " +%", 3);
	{
		char *enc = sigv4_uri_encode(key, 1);

		xasprintf(&xml, HEAD "<IsTruncated>false</IsTruncated>"
		    "<EncodingType>url</EncodingType><Contents><Key>%s</Key>"
		    "<ETag>\"x\"</ETag><Size>7</Size></Contents>"
		    "</ListBucketResult>", enc);
		free(enc);
	}
	memset(&l, 0, sizeof l);
	token = NULL;
	ok(s3_list_parse(xml, strlen(xml), &l, &truncated, &token,
	    &cause) == 0 && l.n == 1 && strcmp(l.v[0].key, key) == 0,
	    "a 1,024-byte key with ' ', '+' and '%%' comes back whole");
	ok(truncated == 0 && token == NULL, "the last page gives no token");
	s3_listing_clear(&l);
	free(xml);
	free(key);

	/* a server that does not URL-encode: keys as they are */
	xml = HEAD "<IsTruncated>false</IsTruncated><Contents><Key>a+b %41"
	    "</Key><ETag>\"x\"</ETag><Size>7</Size></Contents>"
	    "</ListBucketResult>";
	memset(&l, 0, sizeof l);
	ok(s3_list_parse(xml, strlen(xml), &l, &truncated, &token,
	    &cause) == 0 && l.n == 1 && strcmp(l.v[0].key, "a+b %41") == 0,
	    "without EncodingType, a key is taken as it is");
	s3_listing_clear(&l);

	/* bodies that are not a listing page */
	{
		static const struct {
			const char	*xml;
			const char	*cause;
		} bad[] = {
			{ HEAD "<IsTruncated>false</IsTruncated><Contents><Key>"
			  "a</Key>", "the listing is not well-formed XML: "
			  "Premature end of data in tag Contents line 2 "
			  "(line 2 of 159 bytes)" },
			{ "<Error><Code>AccessDenied</Code></Error>",
			  "the listing is XML but not a ListBucketResult (root "
			  "element 'Error')" },
			{ HEAD "<IsTruncated>true</IsTruncated>"
			  "</ListBucketResult>", "the listing says more keys "
			  "follow but gives no NextContinuationToken" },
			{ HEAD "<EncodingType>url</EncodingType><Contents><Key>"
			  "a%2</Key><Size>1</Size></Contents>"
			  "</ListBucketResult>", "the listing has a key that "
			  "is not URL-encoded as asked: 'a%2'" },
			{ HEAD "<EncodingType>url</EncodingType><Contents><Key>"
			  "a%00b</Key><Size>1</Size></Contents>"
			  "</ListBucketResult>", "the listing has a key that "
			  "is not URL-encoded as asked: 'a%00b'" },
			{ HEAD "<Contents><Key>a</Key><Size>1x</Size>"
			  "</Contents></ListBucketResult>", "the listing gives "
			  "key 'a' a size of '1x'" },
			{ HEAD "<Contents><Size>1</Size></Contents>"
			  "</ListBucketResult>", "the listing has an entry "
			  "without a Key" },
		};
		for (i = 0; i < nitems(bad); i++) {
			memset(&l, 0, sizeof l);
			cause = NULL;
			ok(s3_list_parse(bad[i].xml, strlen(bad[i].xml), &l,
			    &truncated, &token, &cause) == -1,
			    "bad page %zu is refused", i + 1);
			is_str(cause, bad[i].cause, "with what is wrong");
			free(cause);
			s3_listing_clear(&l);
		}
	}
	return (tap_failed != 0);
}
