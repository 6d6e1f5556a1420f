/* Unit tests for presigned S3 URLs (s3_sign.c): AWS's published example, and a query with
 * response-* parameters checked against an independent implementation (Python's hmac and
 * urllib.parse.quote with safe="-_.~"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "s3_sign.h"

/* "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)", the example:
 * GET https://examplebucket.s3.amazonaws.com/test.txt, 24 hours from 2013-05-24 00:00:00Z. */
static void aws_example(void)
{
	struct s3_presign p = {.host = "examplebucket.s3.amazonaws.com",
			       .path = "/test.txt",
			       .region = "us-east-1",
			       .access_key = "AKIAIOSFODNN7EXAMPLE",
			       .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
			       .now = 1369353600, /* 20130524T000000Z */
			       .expires_s = 86400};
	char *q = NULL;
	CHECK(s3_presign_query(&p, &q) == 0);
	CHECK(q && strcmp(q, "X-Amz-Algorithm=AWS4-HMAC-SHA256"
			     "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
			     "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
			     "&X-Amz-Signature="
			     "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404") == 0);
	free(q);
}

/* Extra parameters are encoded (space, quote, '*', UTF-8) and sorted after the X-Amz ones
 * (upper case sorts first), whatever order they are given in. */
static void response_params(void)
{
	const struct s3_param params[] = {
	    {"response-content-type", "application/octet-stream"},
	    {"response-content-disposition",
	     "attachment; filename=\"r\xc3\xa9sum\xc3\xa9*.txt\"; "
	     "filename*=UTF-8''r%C3%A9sum%C3%A9%2A.txt"}};
	struct s3_presign p = {.host = "127.0.0.1:7480",
			       .path = "/depot/t-1/blobs/0a1b",
			       .region = "default",
			       .access_key = "AK",
			       .secret_key = "s3cr+t/ key=",
			       .now = 1704164645, /* 20240102T030405Z */
			       .expires_s = 300,
			       .params = params,
			       .nparams = 2};
	char *q = NULL;
	CHECK(s3_presign_query(&p, &q) == 0);
	CHECK(q && strcmp(q, "X-Amz-Algorithm=AWS4-HMAC-SHA256"
			     "&X-Amz-Credential=AK%2F20240102%2Fdefault%2Fs3%2Faws4_request"
			     "&X-Amz-Date=20240102T030405Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
			     "&response-content-disposition=attachment%3B%20filename%3D%22r%C3%A9sum"
			     "%C3%A9%2A.txt%22%3B%20filename%2A%3DUTF-8%27%27r%25C3%25A9sum%25C3%25A9"
			     "%252A.txt"
			     "&response-content-type=application%2Foctet-stream"
			     "&X-Amz-Signature="
			     "89cf0a12d418f11130de302af289a654fb7292aaeb79fea1adc3354c0533d795") == 0);
	free(q);
}

static void limits(void)
{
	struct s3_presign p = {.host = "h", .path = "/b/k", .region = "r", .access_key = "a",
			       .secret_key = "s", .now = 0, .expires_s = 0};
	char *q = NULL;
	CHECK(s3_presign_query(&p, &q) == -EINVAL);
	p.expires_s = S3_PRESIGN_EXPIRES_MAX + 1;
	CHECK(s3_presign_query(&p, &q) == -EINVAL);
	p.expires_s = S3_PRESIGN_EXPIRES_MAX;
	CHECK(s3_presign_query(&p, &q) == 0 && strstr(q, "X-Amz-Expires=604800&"));
	free(q);
	CHECK(q != NULL);
}

int main(void)
{
	aws_example();
	response_params();
	limits();
	return check_done("s3_sign");
}
