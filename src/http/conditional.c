/* Download conditionals and upload digest headers (see conditional.h). */
#include "conditional.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "digest.h"

/* A decimal number without sign, overflow or leading junk; advances *p. */
static int parse_u64(const char **p, uint64_t *out)
{
	const char *s = *p;
	if (!isdigit((unsigned char)*s))
		return -1;
	uint64_t v = 0;
	while (isdigit((unsigned char)*s)) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		s++;
	}
	*p = s;
	*out = v;
	return 0;
}

enum range_result range_parse(const char *value, uint64_t size, uint64_t *start, uint64_t *len)
{
	const char *p = value;
	while (*p == ' ')
		p++;
	if (strncasecmp(p, "bytes=", 6) != 0)
		return RANGE_NONE;
	p += 6;
	while (*p == ' ')
		p++;
	if (strchr(p, ','))
		return RANGE_NONE; /* several ranges: the whole file is a valid answer */
	uint64_t a = 0, b = 0;
	if (*p == '-') { /* suffix: the last b bytes */
		p++;
		if (parse_u64(&p, &b) != 0)
			return RANGE_NONE;
		while (*p == ' ')
			p++;
		if (*p)
			return RANGE_NONE;
		if (b == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		*len = b < size ? b : size;
		*start = size - *len;
		return RANGE_OK;
	}
	if (parse_u64(&p, &a) != 0 || *p++ != '-')
		return RANGE_NONE;
	bool open_end = !isdigit((unsigned char)*p);
	if (!open_end && parse_u64(&p, &b) != 0)
		return RANGE_NONE;
	while (*p == ' ')
		p++;
	if (*p || (!open_end && b < a))
		return RANGE_NONE;
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	if (open_end || b >= size)
		b = size - 1;
	*start = a;
	*len = b - a + 1;
	return RANGE_OK;
}

bool etag_list_matches(const char *value, const char *etag)
{
	const char *p = value;
	size_t elen = strlen(etag);
	for (;;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			return false;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n == elen && memcmp(p, etag, n) == 0)
			return true;
		if (!end)
			return false;
		p = end + 1;
	}
}

void http_date_format(time_t t, char out[30])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 30, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

int http_date_parse(const char *s, time_t *out)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -1;
	*out = timegm(&tm);
	return 0;
}

/* Base64 of exactly want bytes into lowercase hex; -1 otherwise. */
static int b64_to_hex(const char *b64, size_t n, size_t want, char *hex)
{
	unsigned char buf[96];
	if (n == 0 || n % 4 != 0 || n > sizeof(buf) / 3 * 4)
		return -1;
	int len = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
	if (len < 0)
		return -1;
	if (b64[n - 1] == '=')
		len--;
	if (n >= 2 && b64[n - 2] == '=')
		len--;
	if ((size_t)len != want)
		return -1;
	hex_encode(buf, want, hex);
	return 0;
}

/* Records one algorithm's expected hex; a second, different claim is malformed. */
static int set_expected(char *slot, size_t hexlen, const char **from, const char *hex,
			const char *header)
{
	if (slot[0] && strcmp(slot, hex) != 0)
		return -1;
	memcpy(slot, hex, hexlen);
	slot[hexlen] = '\0';
	*from = header;
	return 0;
}

static int hex_value(const char *value, size_t hexlen, char *out)
{
	size_t n = strlen(value);
	while (n > 0 && value[n - 1] == ' ')
		n--;
	if (n != hexlen)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)value[i]))
			return -1;
		out[i] = (char)tolower((unsigned char)value[i]);
	}
	out[n] = '\0';
	return 0;
}

/* RFC 9530 dictionary: alg=:base64:, ... */
static int digest_fields(struct expected_digests *e, const char *header, const char *value)
{
	static const struct {
		const char *alg;
		size_t bytes;
	} algs[] = {{"sha-256", 32}, {"sha-512", 64}, {"md5", 16}, {"sha", 20}};
	const char *p = value;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *eq = strchr(p, '=');
		if (!eq || eq[1] != ':')
			return -1;
		const char *b64 = eq + 2, *close = strchr(b64, ':');
		if (!close)
			return -1;
		size_t alen = (size_t)(eq - p);
		for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
			if (strlen(algs[i].alg) != alen || strncasecmp(p, algs[i].alg, alen) != 0)
				continue;
			char hex[129];
			if (b64_to_hex(b64, (size_t)(close - b64), algs[i].bytes, hex) != 0)
				return -1;
			int ret = i == 0   ? set_expected(e->sha256, 64, &e->sha256_from, hex, header)
				  : i == 1 ? set_expected(e->sha512, 128, &e->sha512_from, hex, header)
				  : i == 2 ? set_expected(e->md5, 32, &e->md5_from, hex, header)
					   : set_expected(e->sha1, 40, &e->sha1_from, hex, header);
			if (ret != 0)
				return -1;
		}
		p = close + 1;
		while (*p == ' ')
			p++;
		if (*p && *p != ',')
			return -1;
	}
	/* a field of only unknown algorithms asks nothing of us */
	return 0;
}

int expected_add(struct expected_digests *e, const char *header, const char *value)
{
	char hex[129];
	if (strcasecmp(header, "Content-MD5") == 0) {
		size_t n = strlen(value);
		while (n > 0 && value[n - 1] == ' ')
			n--;
		return b64_to_hex(value, n, 16, hex) == 0
			       ? set_expected(e->md5, 32, &e->md5_from, hex, header)
			       : -1;
	}
	if (strcasecmp(header, "Content-Digest") == 0 || strcasecmp(header, "Repr-Digest") == 0)
		return digest_fields(e, header, value);
	if (strcasecmp(header, "X-Checksum-Md5") == 0)
		return hex_value(value, 32, hex) == 0 ? set_expected(e->md5, 32, &e->md5_from, hex, header) : -1;
	if (strcasecmp(header, "X-Checksum-Sha1") == 0)
		return hex_value(value, 40, hex) == 0 ? set_expected(e->sha1, 40, &e->sha1_from, hex, header) : -1;
	if (strcasecmp(header, "X-Checksum-Sha256") == 0)
		return hex_value(value, 64, hex) == 0
			       ? set_expected(e->sha256, 64, &e->sha256_from, hex, header)
			       : -1;
	return 0;
}
