/*
 * What an S3 error answer tells the user, and whether the job waits, is
 * retried or fails for good: AWS's error bodies as its documentation and
 * servers give them, one per case a user must act on differently.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "objwatch.h"
#include "tap.h"

#define ERR(code, msg, extra) \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" code \
	"</Code><Message>" msg "</Message>" extra \
	"<RequestId>4442587FB7D0A2F9</RequestId></Error>"

static struct source	 src;

static void
check(long code, const char *body, const char *region, int object,
    const char *want, int want_how, const char *what)
{
	char	*got;
	int	 how = -1;

	got = s3_error_explain(&src, "photos", object ? "get 'a.jpg' in "
	    "bucket 'photos'" : "list bucket 'photos' on s3.example", object,
	    code, body, region, &how);
	is_str(got, want, "%s: the message", what);
	is_int(how, want_how, "%s: %s", what, want_how == JOB_WAIT ? "waits" :
	    want_how == JOB_RETRY ? "retried" : "fails for good");
	free(got);
}

int
main(void)
{
	plan(30);
	src.name = "uploads";
	src.endpoint = "s3.example";
	src.region = "us-east-1";
	src.signature = S3_SIGNATURE_V4;

	check(400, ERR("AuthorizationHeaderMalformed", "The authorization "
	    "header is malformed; the region 'us-east-1' is wrong; expecting "
	    "'eu-west-3'", "<Region>eu-west-3</Region>"), NULL, 0,
	    "cannot list bucket 'photos' on s3.example: 400 "
	    "AuthorizationHeaderMalformed: The authorization header is "
	    "malformed; the region 'us-east-1' is wrong; expecting "
	    "'eu-west-3': the region is wrong: set region = eu-west-3 in "
	    "source 'uploads' (it is 'us-east-1')", JOB_PERMANENT,
	    "a wrong region");
	check(400, NULL, "ap-south-1", 0, "cannot list bucket 'photos' on "
	    "s3.example: 400", JOB_PERMANENT,
	    "a 400 with no body");
	check(403, ERR("SignatureDoesNotMatch", "The request signature we "
	    "calculated does not match the signature you provided. Check your "
	    "key and signing method.", "<AWSAccessKeyId>AKIAEXAMPLE"
	    "</AWSAccessKeyId>"), NULL, 1, "cannot get 'a.jpg' in bucket "
	    "'photos': 403 SignatureDoesNotMatch: The request signature we "
	    "calculated does not match the signature you provided. Check your "
	    "key and signing method.: the server computed another signature: "
	    "check secret_key of source 'uploads' (and, for an old server "
	    "that speaks only V2, signature = v2)", JOB_PERMANENT,
	    "a wrong secret");
	check(403, ERR("InvalidAccessKeyId", "The AWS Access Key Id you "
	    "provided does not exist in our records.", ""), NULL, 0,
	    "cannot list bucket 'photos' on s3.example: 403 "
	    "InvalidAccessKeyId: The AWS Access Key Id you provided does not "
	    "exist in our records.: the server knows no such access key: "
	    "check access_key of source 'uploads'", JOB_PERMANENT,
	    "an unknown access key");
	check(403, ERR("RequestTimeTooSkewed", "The difference between the "
	    "request time and the current time is too large.",
	    "<RequestTime>20261202T100000Z</RequestTime><ServerTime>"
	    "2026-12-02T14:20:00Z</ServerTime><MaxAllowedSkewMilliseconds>"
	    "900000</MaxAllowedSkewMilliseconds>"), NULL, 1,
	    "cannot get 'a.jpg' in bucket 'photos': 403 RequestTimeTooSkewed: "
	    "The difference between the request time and the current time is "
	    "too large.: this machine's clock is more than 15 minutes away "
	    "from the server's (server time 2026-12-02T14:20:00Z): set the "
	    "clock (timedatectl set-ntp true, or chrony); waiting for it",
	    JOB_WAIT, "a skewed clock");
	check(400, ERR("ExpiredToken", "The provided token has expired.", ""),
	    NULL, 1, "cannot get 'a.jpg' in bucket 'photos': 400 "
	    "ExpiredToken: The provided token has expired.: the session token "
	    "of source 'uploads' has expired: get new credentials, set "
	    "access_key, secret_key and session_token, and reload (SIGHUP); "
	    "waiting for them", JOB_WAIT, "an expired session token");
	check(404, ERR("NoSuchBucket", "The specified bucket does not exist",
	    "<BucketName>photos</BucketName>"), NULL, 0, "cannot list bucket "
	    "'photos' on s3.example: bucket 'photos' does not exist on "
	    "s3.example", JOB_PERMANENT, "a missing bucket");
	check(404, ERR("NoSuchKey", "The specified key does not exist.", ""),
	    NULL, 1, "cannot get 'a.jpg' in bucket 'photos': 404: it was "
	    "deleted before it was processed", JOB_PERMANENT,
	    "a deleted object");
	check(301, ERR("PermanentRedirect", "The bucket you are attempting "
	    "to access must be addressed using the specified endpoint.",
	    "<Endpoint>photos.s3.eu-west-3.amazonaws.com</Endpoint>"), NULL,
	    0, "cannot list bucket 'photos' on s3.example: 301 "
	    "PermanentRedirect: The bucket you are attempting to access must "
	    "be addressed using the specified endpoint.: bucket 'photos' is "
	    "served by another endpoint (photos.s3.eu-west-3.amazonaws.com): "
	    "set endpoint (and region) of source 'uploads' to match",
	    JOB_PERMANENT, "another endpoint");
	check(503, ERR("SlowDown", "Please reduce your request rate.", ""),
	    NULL, 1, "cannot get 'a.jpg' in bucket 'photos': 503 SlowDown: "
	    "Please reduce your request rate. (the server is down or busy; "
	    "waiting for it)", JOB_WAIT, "SlowDown");
	check(500, ERR("InternalError", "We encountered an internal error. "
	    "Please try again.", ""), NULL, 1, "cannot get 'a.jpg' in bucket "
	    "'photos': 500 InternalError: We encountered an internal error. "
	    "Please try again. (the server is down or busy; waiting for it)",
	    JOB_WAIT, "a 500");
	check(403, NULL, NULL, 1, "cannot get 'a.jpg' in bucket 'photos': "
	    "403 Forbidden (the answer gave no reason; `objwatch check "
	    "--connect` shows the server's): check the keys of source "
	    "'uploads'", JOB_PERMANENT, "a 403 without a body (a HEAD)");
	src.session_token_value = "FQoGZXIvYXdzEXAMPLE";
	check(403, ERR("AccessDenied", "", ""), NULL, 1, "cannot get 'a.jpg' "
	    "in bucket 'photos': 403 AccessDenied: the session token of "
	    "source 'uploads' may have expired (or its keys are not allowed "
	    "to): get new credentials, set access_key, secret_key and "
	    "session_token, and reload (SIGHUP); waiting for them", JOB_WAIT,
	    "AccessDenied with temporary credentials (RGW's expired token)");
	src.session_token_value = NULL;
	check(403, ERR("AccessDenied", "Access Denied", ""), NULL, 0,
	    "cannot list bucket 'photos' on s3.example: 403 AccessDenied: "
	    "Access Denied: the keys of source 'uploads' are not allowed to: "
	    "check the user's or bucket's policy", JOB_PERMANENT,
	    "AccessDenied with long-lived keys");
	src.signature = S3_SIGNATURE_V2;
	check(403, ERR("SignatureDoesNotMatch", "", ""), NULL, 0,
	    "cannot list bucket 'photos' on s3.example: 403 "
	    "SignatureDoesNotMatch: the server computed another signature: "
	    "check secret_key of source 'uploads' (signature = v2: most "
	    "servers want v4)", JOB_PERMANENT,
	    "a refused V2 signature, an empty Message (RGW)");
	return (tap_failed != 0);
}
