/* Presigned S3 URLs (see s3_sign.h): the canonical request of a GET whose only signed
 * header is Host and whose payload is UNSIGNED-PAYLOAD, the string to sign over its
 * SHA-256, and the signature with the key derived from the secret by HMAC-SHA256 over the
 * date, region, service and "aws4_request" (AWS's "Authenticating Requests: Using Query
 * Parameters"). Values are encoded by curl, which leaves exactly S3's unreserved
 * characters (A-Z a-z 0-9 - . _ ~) as they are. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "digest.h"
#include "s3_sign.h"

struct pair {
	char *name, *value; /* encoded */
};

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

static int hmac(const void *key, size_t key_len, const char *msg, unsigned char out[32])
{
	unsigned int len = 0;
	return HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out,
		    &len) && len == 32
		   ? 0
		   : -EIO;
}

/* The hex signature of string_to_sign, with the key derived for day and region. */
static int sign(const char *secret, const char *day, const char *region,
		const char *string_to_sign, char hex[65])
{
	char k_secret[300];
	unsigned char k[32], sig[32];
	int n = snprintf(k_secret, sizeof(k_secret), "AWS4%s", secret);
	int ret = n < 0 || (size_t)n >= sizeof(k_secret) ? -EINVAL : 0;
	if (ret == 0)
		ret = hmac(k_secret, (size_t)n, day, k);
	if (ret == 0)
		ret = hmac(k, 32, region, k);
	if (ret == 0)
		ret = hmac(k, 32, "s3", k);
	if (ret == 0)
		ret = hmac(k, 32, "aws4_request", k);
	if (ret == 0)
		ret = hmac(k, 32, string_to_sign, sig);
	if (ret == 0)
		hex_encode(sig, 32, hex);
	OPENSSL_cleanse(k_secret, sizeof(k_secret));
	OPENSSL_cleanse(k, sizeof(k));
	return ret;
}

/* The parameters encoded, sorted and joined with '&' into *out (caller frees). */
static int canonical_query(const struct s3_param *params, size_t n, char **out)
{
	struct pair pairs[S3_PRESIGN_PARAMS_MAX + 8] = {{0}};
	size_t len = 0;
	int ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		pairs[i].name = curl_easy_escape(NULL, params[i].name, 0);
		pairs[i].value = curl_easy_escape(NULL, params[i].value, 0);
		if (!pairs[i].name || !pairs[i].value)
			ret = -ENOMEM;
		else
			len += strlen(pairs[i].name) + strlen(pairs[i].value) + 2;
	}
	char *q = ret == 0 ? malloc(len + 1) : NULL;
	if (ret == 0 && !q)
		ret = -ENOMEM;
	if (ret == 0) {
		qsort(pairs, n, sizeof(pairs[0]), pair_cmp);
		size_t off = 0;
		for (size_t i = 0; i < n; i++)
			off += (size_t)snprintf(q + off, len + 1 - off, "%s%s=%s", i ? "&" : "",
						pairs[i].name, pairs[i].value);
		*out = q;
	}
	for (size_t i = 0; i < n; i++) {
		curl_free(pairs[i].name);
		curl_free(pairs[i].value);
	}
	return ret;
}

int s3_presign_query(const struct s3_presign *p, char **out)
{
	if (p->expires_s < 1 || p->expires_s > S3_PRESIGN_EXPIRES_MAX ||
	    p->nparams > S3_PRESIGN_PARAMS_MAX)
		return -EINVAL;
	struct tm tm;
	char date[32], day[9], scope[300], credential[600], expires[24];
	if (!gmtime_r(&p->now, &tm) || strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm) != 16)
		return -EINVAL;
	memcpy(day, date, 8);
	day[8] = '\0';
	snprintf(scope, sizeof(scope), "%s/%s/s3/aws4_request", day, p->region);
	snprintf(credential, sizeof(credential), "%s/%s", p->access_key, scope);
	snprintf(expires, sizeof(expires), "%lld", (long long)p->expires_s);
	struct s3_param all[S3_PRESIGN_PARAMS_MAX + 5] = {
	    {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
	    {"X-Amz-Credential", credential},
	    {"X-Amz-Date", date},
	    {"X-Amz-Expires", expires},
	    {"X-Amz-SignedHeaders", "host"}};
	for (size_t i = 0; i < p->nparams; i++)
		all[5 + i] = p->params[i];
	char *query = NULL, *canonical = NULL, *to_sign = NULL;
	unsigned char md[32];
	char md_hex[65], sig[65];
	int ret = canonical_query(all, 5 + p->nparams, &query);
	if (ret == 0 && asprintf(&canonical, "GET\n%s\n%s\nhost:%s\n\nhost\nUNSIGNED-PAYLOAD",
				 p->path, query, p->host) < 0) {
		canonical = NULL;
		ret = -ENOMEM;
	}
	if (ret == 0) {
		sha256_raw(canonical, strlen(canonical), md);
		hex_encode(md, 32, md_hex);
		if (asprintf(&to_sign, "AWS4-HMAC-SHA256\n%s\n%s\n%s", date, scope, md_hex) < 0) {
			to_sign = NULL;
			ret = -ENOMEM;
		}
	}
	if (ret == 0)
		ret = sign(p->secret_key, day, p->region, to_sign, sig);
	if (ret == 0 && asprintf(out, "%s&X-Amz-Signature=%s", query, sig) < 0)
		ret = -ENOMEM;
	free(query);
	free(canonical);
	free(to_sign);
	return ret;
}
