/* Presigned S3 URLs: AWS Signature V4 in the query string (libcurl's CURLOPT_AWS_SIGV4
 * signs headers only). Pure: no I/O, the time is given. */
#ifndef DEPOT_S3_SIGN_H
#define DEPOT_S3_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A query parameter, not yet percent-encoded. */
struct s3_param {
	const char *name, *value;
};

#define S3_PRESIGN_PARAMS_MAX 8
#define S3_PRESIGN_EXPIRES_MAX 604800 /* seven days: SigV4's limit */

struct s3_presign {
	const char *host;	/* what the client will send as Host: host[:port] */
	const char *path;	/* the object's path, percent-encoded as it is in the URL */
	const char *region;
	const char *access_key; /* in the URL (X-Amz-Credential) */
	const char *secret_key; /* signs; never in the output */
	time_t now;
	int64_t expires_s; /* 1 to S3_PRESIGN_EXPIRES_MAX */
	const struct s3_param *params; /* extra parameters (response-content-type, ...) */
	size_t nparams;		       /* at most S3_PRESIGN_PARAMS_MAX */
};

/* The query string of a GET of p->path valid from p->now for p->expires_s seconds: every
 * parameter encoded and sorted as SigV4 signs them, X-Amz-Signature last. *out: caller
 * frees. -EINVAL for an expiry out of range or too many parameters. */
int s3_presign_query(const struct s3_presign *p, char **out);

#endif
