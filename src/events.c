/*
 * S3 event notification bodies, as the servers send them.
 *
 * All four shapes carry a "Records" array; what differs, and is handled
 * here:
 *
 *	AWS	eventSource "aws:s3"; s3.object.key URL-encoded with '+'
 *		for a space; eventName "ObjectCreated:Put"; ISO time in ms.
 *	MinIO	the same records inside its webhook wrapper ("EventName",
 *		"Key", "Records"); eventSource "minio:s3"; eventName with
 *		an "s3:" prefix.
 *	Ceph	eventSource "ceph:s3"; keys as they are (not encoded); size
 *		a number or a string; ISO time in µs.
 *	COS	Tencent's "cos" and "event" objects: the key as
 *		"/APPID/BUCKET/KEY", the bucket as name and appid (the full
 *		name is NAME-APPID), eventName the configured wildcard
 *		("cos:ObjectCreated:*"), time in epoch seconds. Its
 *		requestParameters hold the uploader's Authorization header:
 *		it is never copied out of the parsed body.
 *
 * The result is a list of created or removed objects with bucket, decoded
 * key, ETag (may be empty: the caller asks the server), size and time.
 * An AWS test event (no Records, "Event": "s3:TestEvent") is valid and
 * empty.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "objwatch.h"
#include "banned.h"

/* A number given as a JSON integer, real or string; -1 when not one. */
static int64_t
events_number(json_t *v)
{
	const char	*s;
	char		*end;
	long long	 n;

	if (json_is_integer(v))
		return ((int64_t)json_integer_value(v));
	if (json_is_real(v))
		return ((int64_t)json_real_value(v));
	if (json_is_string(v)) {
		s = json_string_value(v);
		n = strtoll(s, &end, 10);
		if (end != s && *end == '\0' && n >= 0)
			return (n);
	}
	return (-1);
}

/* Nanoseconds in an int64_t reach 2262: later (or earlier than 1970) is
 * unreadable. */
#define EVENTS_MAX_SECONDS	9223372036LL

/*
 * An event time as nanoseconds since the epoch: ISO 8601 in UTC with any
 * number of fraction digits (ms from AWS, µs from Ceph), or epoch seconds
 * as a number or a string (COS). 0 when absent or unreadable.
 */
static int64_t
events_time(json_t *v)
{
	struct tm	 tm;
	const char	*s, *p;
	int64_t		 n, frac = 0, scale = 1000000000LL;
	time_t		 t;

	if (v == NULL)
		return (0);
	if (!json_is_string(v) || strchr(json_string_value(v), '-') == NULL) {
		n = events_number(v);
		return (n > 0 && n < EVENTS_MAX_SECONDS ? n * 1000000000LL : 0);
	}
	s = json_string_value(v);
	memset(&tm, 0, sizeof tm);
	if ((p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return (0);
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
		}
	}
	if ((t = timegm(&tm)) == (time_t)-1 || t <= 0 ||
	    t >= EVENTS_MAX_SECONDS)
		return (0);
	return ((int64_t)t * 1000000000LL + frac);
}

static void
events_push(struct s3_events *evs, struct s3_event *e)
{
	evs->v = xreallocarray(evs->v, evs->n + 1, sizeof *evs->v);
	evs->v[evs->n++] = *e;
}

/* Whether an eventName is a creation, a removal, or neither (-1). */
static int
events_kind(const char *name)
{
	if (strstr(name, "ObjectRemoved") != NULL)
		return (1);
	if (strstr(name, "ObjectCreated") != NULL)
		return (0);
	return (-1);
}

/* One Tencent COS record. */
static int
events_cos(json_t *rec, int idx, struct s3_events *evs, char **cause)
{
	json_t		*cos, *obj, *bkt, *ev, *meta, *v;
	const char	*name, *appid, *key, *p;
	struct s3_event	 e;
	size_t		 nlen, alen;
	int		 kind, slashes;

	cos = json_object_get(rec, "cos");
	ev = json_object_get(rec, "event");
	obj = json_object_get(cos, "cosObject");
	bkt = json_object_get(cos, "cosBucket");
	v = json_object_get(ev, "eventName");
	if (!json_is_string(v) || !json_is_object(obj) ||
	    !json_is_object(bkt)) {
		xasprintf(cause, "Records[%d]: a COS record needs "
		    "event.eventName, cos.cosObject and cos.cosBucket", idx);
		return (-1);
	}
	if ((kind = events_kind(json_string_value(v))) == -1)
		return (0);
	name = json_string_value(json_object_get(bkt, "name"));
	appid = json_string_value(json_object_get(bkt, "appid"));
	key = json_string_value(json_object_get(obj, "key"));
	if (name == NULL || key == NULL) {
		xasprintf(cause, "Records[%d]: a COS record needs "
		    "cosBucket.name and cosObject.key", idx);
		return (-1);
	}
	memset(&e, 0, sizeof e);
	/* The full bucket name is NAME-APPID. */
	nlen = strlen(name);
	alen = appid == NULL ? 0 : strlen(appid);
	if (appid == NULL || (nlen > alen + 1 &&
	    strcmp(name + nlen - alen, appid) == 0 &&
	    name[nlen - alen - 1] == '-'))
		e.bucket = xstrdup(name);
	else
		xasprintf(&e.bucket, "%s-%s", name, appid);
	/* The key is "/APPID/BUCKET/KEY": drop the first two parts. */
	p = key;
	if (*p == '/') {
		for (slashes = 0, p = key + 1; *p != '\0' && slashes < 2; p++)
			if (*p == '/')
				slashes++;
		if (slashes < 2) {
			xasprintf(cause, "Records[%d]: COS key '%s' is not "
			    "/APPID/BUCKET/KEY", idx, key);
			free(e.bucket);
			return (-1);
		}
	}
	e.key = xstrdup(p);
	v = json_object_get(obj, "eTag");
	meta = json_object_get(obj, "meta");
	if (!json_is_string(v))
		v = json_object_get(meta, "ETag");
	if (!json_is_string(v))
		v = json_object_get(meta, "x-cos-meta-etag");
	e.etag = etag_unquote(json_is_string(v) ? json_string_value(v) : "");
	e.size = events_number(json_object_get(obj, "size"));
	e.mtime_ns = events_time(json_object_get(ev, "eventTime"));
	e.removed = kind;
	events_push(evs, &e);
	return (0);
}

/* One AWS, MinIO or Ceph record. */
static int
events_s3(json_t *rec, int idx, struct s3_events *evs, char **cause)
{
	json_t		*s3, *obj, *v;
	const char	*src, *bucket, *key;
	struct s3_event	 e;
	int		 kind;

	v = json_object_get(rec, "eventName");
	s3 = json_object_get(rec, "s3");
	obj = json_object_get(s3, "object");
	if (!json_is_string(v) || !json_is_object(obj)) {
		xasprintf(cause, "Records[%d] has no eventName and s3.object",
		    idx);
		return (-1);
	}
	if ((kind = events_kind(json_string_value(v))) == -1)
		return (0);
	bucket = json_string_value(json_object_get(json_object_get(s3,
	    "bucket"), "name"));
	key = json_string_value(json_object_get(obj, "key"));
	if (bucket == NULL || key == NULL || *key == '\0') {
		xasprintf(cause, "Records[%d] has no s3.bucket.name or "
		    "s3.object.key", idx);
		return (-1);
	}
	memset(&e, 0, sizeof e);
	e.bucket = xstrdup(bucket);
	/* AWS and MinIO encode keys as a URL query does; Ceph does not. */
	src = json_string_value(json_object_get(rec, "eventSource"));
	if (src != NULL && strncmp(src, "ceph:", 5) == 0)
		e.key = xstrdup(key);
	else
		/* a broken escape: the key as sent, not half of it */
		if ((e.key = url_form_decode(key)) == NULL)
			e.key = xstrdup(key);
	v = json_object_get(obj, "eTag");
	if (!json_is_string(v))
		v = json_object_get(obj, "etag");
	e.etag = etag_unquote(json_is_string(v) ? json_string_value(v) : "");
	e.size = events_number(json_object_get(obj, "size"));
	e.mtime_ns = events_time(json_object_get(rec, "eventTime"));
	e.removed = kind;
	events_push(evs, &e);
	return (0);
}

/*
 * Parse a notification body into the objects it creates or removes. Other
 * events (tagging, ACLs, replication) are left out; a malformed body fails
 * with *cause saying where.
 */
int
events_parse(const char *body, size_t len, struct s3_events *evs,
    char **cause)
{
	json_t		*root, *recs, *rec, *v;
	json_error_t	 jerr;
	size_t		 i;
	int		 rc = 0;

	memset(evs, 0, sizeof *evs);
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		xasprintf(cause, "the body is not JSON: %s (line %d, column "
		    "%d)", jerr.text, jerr.line, jerr.column);
		return (-1);
	}
	if (!json_is_object(root)) {
		xasprintf(cause, "the body is not a JSON object");
		json_decref(root);
		return (-1);
	}
	recs = json_object_get(root, "Records");
	if (recs == NULL) {
		v = json_object_get(root, "Event");
		if (json_is_string(v) && strcmp(json_string_value(v),
		    "s3:TestEvent") == 0) {
			json_decref(root);
			return (0);
		}
		xasprintf(cause, "the body has no \"Records\" array");
		json_decref(root);
		return (-1);
	}
	if (!json_is_array(recs)) {
		xasprintf(cause, "\"Records\" is not an array");
		json_decref(root);
		return (-1);
	}
	json_array_foreach(recs, i, rec) {
		if (!json_is_object(rec)) {
			xasprintf(cause, "Records[%zu] is not an object", i);
			rc = -1;
			break;
		}
		if (json_object_get(rec, "cos") != NULL)
			rc = events_cos(rec, (int)i, evs, cause);
		else
			rc = events_s3(rec, (int)i, evs, cause);
		if (rc != 0)
			break;
	}
	json_decref(root);
	if (rc != 0)
		events_clear(evs);
	return (rc);
}

/* Free parsed events. */
void
events_clear(struct s3_events *evs)
{
	size_t	 i;

	for (i = 0; i < evs->n; i++) {
		free(evs->v[i].bucket);
		free(evs->v[i].key);
		free(evs->v[i].etag);
	}
	free(evs->v);
	memset(evs, 0, sizeof *evs);
}
