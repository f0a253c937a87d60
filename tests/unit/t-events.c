/*
 * S3 event bodies: what each server's shape decodes to, and the bodies
 * that must be refused with a message.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "tap.h"

static int
parse(const char *body, struct s3_events *evs, char **cause)
{
	*cause = NULL;
	return (events_parse(body, strlen(body), evs, cause));
}

static void
refused(const char *body, const char *want)
{
	struct s3_events	 evs;
	char			*cause;

	ok(parse(body, &evs, &cause) == -1, "refused: %s", body);
	ok(cause != NULL && strstr(cause, want) != NULL, "saying '%s' (%s)",
	    want, cause == NULL ? "nothing" : cause);
	free(cause);
}

int
main(void)
{
	struct s3_events	 evs;
	char			*cause;

	plan(33);

	/* AWS: '+' is a space, %XX decoded, ms times */
	ok(parse("{\"Records\":[{\"eventSource\":\"aws:s3\",\"eventTime\":"
	    "\"2026-01-02T03:04:05.123Z\",\"eventName\":\"ObjectCreated:Put\","
	    "\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":"
	    "\"a/IMG+1%2B2%C3%A9.jpg\",\"size\":12,\"eTag\":\"\\\"abc\\\"\"}}}]}",
	    &evs, &cause) == 0, "AWS body parses");
	is_int((int)evs.n, 1, "one event");
	is_str(evs.v[0].bucket, "b", "AWS bucket");
	is_str(evs.v[0].key, "a/IMG 1+2\xc3\xa9.jpg", "AWS key decoded");
	is_str(evs.v[0].etag, "abc", "ETag without quotes");
	ok(evs.v[0].size == 12, "size as a number");
	ok(evs.v[0].mtime_ns == 1767323045123000000LL, "time with ms");
	ok(!evs.v[0].removed, "created");
	events_clear(&evs);

	/* Ceph: key as is, size a string, µs, no "s3:" */
	ok(parse("{\"Records\":[{\"eventSource\":\"ceph:s3\",\"eventTime\":"
	    "\"2026-01-02T03:04:05.123456Z\",\"eventName\":\"ObjectRemoved:"
	    "Delete\",\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":"
	    "\"x+y.jpg\",\"size\":\"34\",\"eTag\":\"e\"}}}]}", &evs,
	    &cause) == 0, "Ceph body parses");
	is_str(evs.v[0].key, "x+y.jpg", "Ceph key kept as is");
	ok(evs.v[0].size == 34, "size as a string");
	ok(evs.v[0].mtime_ns == 1767323045123456000LL, "time with µs");
	ok(evs.v[0].removed, "ObjectRemoved");
	events_clear(&evs);

	/* MinIO: "s3:" prefix, wrapper, %2F */
	ok(parse("{\"EventName\":\"s3:ObjectCreated:Put\",\"Key\":\"b/k\","
	    "\"Records\":[{\"eventSource\":\"minio:s3\",\"eventName\":"
	    "\"s3:ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b\"},"
	    "\"object\":{\"key\":\"d%2Fk+1.jpg\",\"size\":1,\"eTag\":\"e\"}}},"
	    "{\"eventSource\":\"minio:s3\",\"eventName\":\"s3:ObjectAccessed:"
	    "Get\",\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":"
	    "\"z\"}}}]}", &evs, &cause) == 0, "MinIO body parses");
	is_int((int)evs.n, 1, "other event kinds are left out");
	is_str(evs.v[0].key, "d/k 1.jpg", "MinIO key decoded");
	ok(evs.v[0].mtime_ns == 0, "no time: 0");
	events_clear(&evs);

	/* COS */
	ok(parse("{\"Records\":[{\"cos\":{\"cosObject\":{\"key\":"
	    "\"/125/pics/a b/c.jpg\",\"size\":7,\"meta\":{}},\"cosBucket\":"
	    "{\"name\":\"pics\",\"appid\":\"125\"}},\"event\":{\"eventName\":"
	    "\"cos:ObjectCreated:*\",\"eventTime\":1767323045,"
	    "\"requestParameters\":{\"requestHeaders\":{\"Authorization\":"
	    "\"q-ak=SECRET\"}}}}]}", &evs, &cause) == 0, "COS body parses");
	is_str(evs.v[0].bucket, "pics-125", "COS bucket is NAME-APPID");
	is_str(evs.v[0].key, "a b/c.jpg", "COS key without /APPID/BUCKET/");
	is_str(evs.v[0].etag, "", "no ETag: the caller asks the server");
	ok(evs.v[0].mtime_ns == 1767323045000000000LL, "epoch seconds");
	events_clear(&evs);

	/* An AWS test event is valid and empty. */
	ok(parse("{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\"}",
	    &evs, &cause) == 0 && evs.n == 0, "s3:TestEvent is empty");

	refused("{\"Records\": [", "the body is not JSON");
	refused("[]", "not a JSON object");
	refused("{\"foo\": 1}", "no \"Records\" array");
	refused("{\"Records\": [{\"eventName\": \"ObjectCreated:Put\"}]}",
	    "Records[0] has no eventName and s3.object");
	refused("{\"Records\": [{\"eventName\": \"ObjectCreated:Put\", \"s3\": "
	    "{\"object\": {\"key\": \"k\"}}}]}", "no s3.bucket.name");
	return (done_testing());
}
